//! Flags shared by several commands, parsed once into the library's types:
//! which backbones, where their weights are, which device, how many threads.
//! One spelling per flag across commands.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Args;

use artlens::app::{ImageRef, WeightsConfig};
use artlens::limits::{MAX_RESULTS, MAX_THREADS};
use artlens::model::registry::{parse_backbone_list, BackboneSpec};
use artlens::model::Precision;
use artlens::BackboneId;

/// A comma-separated list of backbones, one clap value (a newtype, so that
/// clap does not take it for a repeated argument).
#[derive(Debug, Clone, PartialEq)]
pub struct BackboneList(pub Vec<BackboneId>);

/// Parses `dino,dinov2@224` for clap.
pub fn parse_backbones(s: &str) -> Result<BackboneList, String> {
    parse_backbone_list(s)
        .map(BackboneList)
        .map_err(|e| e.to_string())
}

/// Parses one backbone id for clap.
pub fn parse_backbone(s: &str) -> Result<BackboneId, String> {
    BackboneId::parse(s).map_err(|e| e.to_string())
}

/// The help line every `--backbones` flag shows: the known ids come from the
/// registry, not from a hard-coded list.
pub fn backbones_help() -> String {
    format!(
        "Backbones, comma-separated: {}; append @SIZE for another resolution (dinov2@224)",
        BackboneSpec::known_list()
    )
}

/// `--backbones` for commands that read what the store holds.
#[derive(Args, Debug, Clone, Default)]
pub struct BackboneArgs {
    #[arg(long, visible_alias = "models", alias = "model", value_name = "ID[,ID...]",
          value_parser = parse_backbones, help = backbones_help() + " [default: every backbone the store holds]")]
    backbones: Option<BackboneList>,
}

impl BackboneArgs {
    /// The backbones named, if any.
    pub fn get(&self) -> Option<Vec<BackboneId>> {
        self.backbones.as_ref().map(|l| l.0.clone())
    }
}

/// What a search for works answers with (`search`, `similar`): how many
/// works per backbone, from which backbones, among which works.
#[derive(Args, Debug, Clone)]
pub struct ResultArgs {
    #[arg(short, long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=MAX_RESULTS as i64),
          help = format!("Results per backbone, 1 to {MAX_RESULTS}"))]
    k: u32,
    #[command(flatten)]
    backbones: BackboneArgs,
    /// Keep only works whose metadata KEY equals VALUE (case-insensitive); repeatable.
    #[arg(long = "where", value_name = "KEY=VALUE")]
    filters: Vec<String>,
}

impl ResultArgs {
    /// Results per backbone.
    pub fn k(&self) -> usize {
        self.k as usize
    }

    /// The backbones named, if any.
    pub fn backbones(&self) -> Option<Vec<BackboneId>> {
        self.backbones.get()
    }

    /// The metadata filters, as `KEY=VALUE`.
    pub fn filters(&self) -> Vec<String> {
        self.filters.clone()
    }
}

/// Where weights come from and where models run.
#[derive(Args, Debug, Clone, Default)]
pub struct WeightsArgs {
    /// A checkpoint folder in the hub layout for one backbone, as ID=DIR
    /// (repeatable); default: where the store found it, else the Hugging Face cache.
    #[arg(long = "weights", value_name = "ID=DIR")]
    pub weights: Vec<String>,
    /// Alias of `--weights dino=DIR`.
    #[arg(long, env = "ARTLENS_DINO_WEIGHTS", value_name = "DIR")]
    pub dino_weights: Option<PathBuf>,
    /// Alias of `--weights dinov2=DIR`.
    #[arg(long, env = "ARTLENS_DINOV2_WEIGHTS", value_name = "DIR")]
    pub dinov2_weights: Option<PathBuf>,
    /// Never touch the network (weights must be local or in the HF cache).
    #[arg(long)]
    pub offline: bool,
    /// cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// The forward pass's arithmetic: f32 (the reference's), or bf16 on CUDA
    /// and on CPUs with AVX512_BF16 (faster; its embeddings are stored apart
    /// from f32 ones).
    #[arg(long, default_value = "f32", value_parser = parse_precision)]
    pub precision: Precision,
    #[arg(long, value_name = "N", value_parser = count_in(1, MAX_THREADS),
          help = format!("Threads for the model's kernels, 1 to {MAX_THREADS} (default: all cores)"))]
    pub threads: Option<usize>,
}

impl WeightsArgs {
    /// Whether the models run on a GPU (`--device cuda[:N]`).
    pub fn on_gpu(&self) -> bool {
        self.device.trim().to_ascii_lowercase().starts_with("cuda")
    }

    /// The library's weights configuration. A bare `--weights DIR` (no
    /// `ID=`) is accepted when the command runs exactly one backbone,
    /// `single`.
    pub fn config(&self, single: Option<&BackboneId>) -> Result<WeightsConfig> {
        set_threads(self.threads);
        let mut cfg = WeightsConfig {
            offline: self.offline,
            device: self.device.clone(),
            precision: self.precision,
            ..Default::default()
        };
        // The aliases first, so that an explicit --weights ID=DIR wins.
        for (alias, dir) in [
            ("dino", &self.dino_weights),
            ("dinov2", &self.dinov2_weights),
        ] {
            if let Some(d) = dir {
                cfg.set_dir(&BackboneId::parse(alias)?, d.clone(), false);
            }
        }
        for w in &self.weights {
            match w.split_once('=') {
                Some((id, dir)) if !id.contains('/') || BackboneId::parse(id).is_ok() => {
                    let id = BackboneId::parse(id)?;
                    cfg.set_dir(&id, PathBuf::from(dir), true);
                }
                _ => match single {
                    Some(id) => cfg.set_dir(id, PathBuf::from(w), true),
                    None => bail!(
                        "--weights {w}: name the backbone, as --weights ID=DIR (e.g. --weights dinov2=./dinov2)"
                    ),
                },
            }
        }
        Ok(cfg)
    }
}

/// A clap parser for a count from `min` to `max` (the library's
/// [`artlens::limits`]): clap's error then names the flag, the value and the
/// range, and exits with status 2.
pub fn count_in(
    min: usize,
    max: usize,
) -> impl Fn(&str) -> std::result::Result<usize, String> + Clone + Send + Sync + 'static {
    move |s: &str| {
        let n: usize = s
            .trim()
            .parse()
            .map_err(|_| format!("not a whole number; it must be from {min} to {max}"))?;
        if (min..=max).contains(&n) {
            Ok(n)
        } else {
            Err(format!("out of range; it must be from {min} to {max}"))
        }
    }
}

/// Parses `--rater NAME` (letters, digits, `-`, `_`).
pub fn parse_list_sort(s: &str) -> Result<artlens::app::ListSort, String> {
    artlens::app::ListSort::parse(s).map_err(|e| e.to_string())
}

pub fn parse_rater(s: &str) -> Result<artlens::ratings::Rater, String> {
    artlens::ratings::Rater::parse(s).map_err(|e| e.to_string())
}

fn parse_precision(s: &str) -> std::result::Result<Precision, String> {
    s.parse().map_err(|e: artlens::Error| e.to_string())
}

/// Applies `--threads`: candle's CPU kernels and our decoding share rayon's
/// global pool, sized from `RAYON_NUM_THREADS`.
pub fn set_threads(threads: Option<usize>) {
    if let Some(n) = threads {
        // Set before any pool exists, so candle's gemm sees the same number.
        std::env::set_var("RAYON_NUM_THREADS", n.to_string());
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global();
    }
}

/// Applies the older `--image-size N` to backbones named without `@SIZE`.
pub fn with_image_size(ids: Vec<BackboneId>, size: Option<u32>) -> Result<Vec<BackboneId>> {
    match size {
        None => Ok(ids),
        Some(n) => ids
            .into_iter()
            .map(|id| {
                if id.resolution_override().is_some() {
                    Ok(id)
                } else {
                    Ok(id.at_resolution(n)?)
                }
            })
            .collect(),
    }
}

/// What a person typed where an image is expected: a file that is here, or
/// else a stored work's name (id, hash prefix, path, ...). The one place
/// that looks at the working directory to tell them apart; the library is
/// told which ([`ImageRef`]).
pub fn image_ref(typed: impl AsRef<std::path::Path>) -> ImageRef {
    let path = typed.as_ref();
    if path.is_file() {
        ImageRef::File(path.to_path_buf())
    } else {
        ImageRef::Work(path.to_string_lossy().into_owned())
    }
}
