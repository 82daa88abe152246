//! `artlens embed`: decode images, run one backbone, print raw vectors.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use rayon::prelude::*;

use artlens::imaging::{decode_file, DecodeLimits};
use artlens::model::{load_backbone, ModelKind};

use super::{out_line, Messages, EXIT_PARTIAL};

/// The flags that pick and run one backbone (shared by `embed` and `bench`).
#[derive(Args, Debug)]
pub struct OneModelArgs {
    /// Which backbone: dino (ViT-B/16) or dinov2 (ViT-B/14).
    #[arg(long, value_parser = parse_model)]
    pub model: ModelKind,
    /// A local checkpoint folder in the hub layout (config.json + weights).
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// Never touch the network; use only --weights or the Hugging Face cache.
    #[arg(long)]
    pub offline: bool,
    /// Square input size (a multiple of the patch size: 16 for dino, 14 for dinov2).
    #[arg(long)]
    pub image_size: Option<u32>,
    /// Images per forward pass.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub batch_size: u32,
    /// cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Threads for decoding and the CPU kernels (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
}

impl OneModelArgs {
    /// Applies `--threads`, then resolves and loads the backbone.
    pub fn load(
        &self,
    ) -> anyhow::Result<(artlens::model::Backbone, artlens::model::CheckpointFiles)> {
        super::weights::set_threads(self.threads);
        let opts = super::weights::options(self.image_size, &self.device)?;
        let source = super::weights::source(self.weights.clone(), self.offline);
        Ok(load_backbone(self.model, &source, &opts)?)
    }
}

#[derive(Args, Debug)]
pub struct EmbedArgs {
    #[command(flatten)]
    model: OneModelArgs,
    /// One JSON object per line: {"path", "model", "dim", "embedding"}.
    #[arg(long)]
    json: bool,
    /// Image files.
    #[arg(required = true)]
    images: Vec<PathBuf>,
}

pub fn parse_model(s: &str) -> Result<ModelKind, String> {
    ModelKind::parse(s).map_err(|e| e.to_string())
}

pub fn run(args: EmbedArgs, msg: Messages) -> Result<i32> {
    let (backbone, files) = args.model.load()?;
    let model = args.model.model;
    msg.info(format!(
        "{}: weights {} ({}x{} input)",
        model,
        files.weights.display(),
        backbone.preprocess().output_size().1,
        backbone.preprocess().output_size().0
    ));
    let limits = DecodeLimits::default();
    let mut failed = 0usize;
    for chunk in args.images.chunks(args.model.batch_size as usize) {
        let decoded: Vec<_> = chunk
            .par_iter()
            .map(|p| (p, decode_file(p, &limits)))
            .collect();
        let mut ok_paths = Vec::new();
        let mut images = Vec::new();
        for (path, res) in decoded {
            match res {
                Ok(img) => {
                    ok_paths.push(path);
                    images.push(img);
                }
                Err(e) => {
                    failed += 1;
                    msg.error(e);
                }
            }
        }
        let refs: Vec<_> = images.iter().collect();
        let vectors = backbone.embed_images(&refs)?;
        for (path, v) in ok_paths.into_iter().zip(vectors) {
            if args.json {
                let obj = serde_json::json!({
                    "path": path.display().to_string(),
                    "model": model.name(),
                    "dim": v.len(),
                    "embedding": v,
                });
                out_line(&obj.to_string());
            } else {
                let nums: Vec<String> = v.iter().map(|x| format!("{x}")).collect();
                out_line(&format!("{}\t{}", path.display(), nums.join(" ")));
            }
        }
    }
    if failed > 0 {
        msg.error(format!(
            "{failed} of {} images could not be embedded",
            args.images.len()
        ));
        return Ok(EXIT_PARTIAL);
    }
    Ok(0)
}
