//! Flags shared by the commands that work on a store: where it is, which
//! weights to use, which device; and loading backbones consistently with
//! what the store remembers.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;

use artlens::model::{Backbone, CheckpointFiles, ModelKind, WeightsSource};
use artlens::store::Store;

#[derive(Args, Debug, Clone)]
pub struct StoreArgs {
    /// The store folder.
    #[arg(long, env = "ARTLENS_STORE", default_value = "index", global = true)]
    pub store: PathBuf,
}

impl StoreArgs {
    /// Opens (or creates) the store.
    pub fn open(&self) -> Result<Store> {
        Ok(Store::open(&self.store)?)
    }

    /// Opens an existing store; a missing one is an error saying how to make it.
    pub fn open_existing(&self) -> Result<Store> {
        if !self.store.is_dir() {
            bail!(
                "no store at {}; run `artlens index DIR` first (or pass --store / ARTLENS_STORE)",
                self.store.display()
            );
        }
        self.open()
    }
}

#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// DINO checkpoint folder (hub layout); default: where the store found it, else the HF cache.
    #[arg(long, env = "ARTLENS_DINO_WEIGHTS")]
    pub dino_weights: Option<PathBuf>,
    /// DINOv2 checkpoint folder (hub layout); default: where the store found it, else the HF cache.
    #[arg(long, env = "ARTLENS_DINOV2_WEIGHTS")]
    pub dinov2_weights: Option<PathBuf>,
    /// Never touch the network.
    #[arg(long)]
    pub offline: bool,
    /// cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Square input size for both models (multiple of 16 for dino, 14 for dinov2).
    #[arg(long)]
    pub image_size: Option<u32>,
}

impl ModelArgs {
    fn flag(&self, kind: ModelKind) -> Option<&PathBuf> {
        match kind {
            ModelKind::Dino => self.dino_weights.as_ref(),
            ModelKind::Dinov2 => self.dinov2_weights.as_ref(),
        }
    }

    /// Loads `kind`: the flag (or env) first, then the files the store
    /// remembers, then the hub cache / download.
    pub fn load(
        &self,
        kind: ModelKind,
        store: Option<&Store>,
    ) -> Result<(Backbone, CheckpointFiles)> {
        let opts = super::weights::options(self.image_size, &self.device)?;
        if let Some(dir) = self.flag(kind) {
            let files = artlens::model::resolve(kind, &WeightsSource::Dir(dir.clone()))?;
            let b = Backbone::load(kind, &files, &opts)?;
            return Ok((b, files));
        }
        if let Some(store) = store {
            if let Some(files) = store.weights_location(kind)? {
                if files.weights.is_file() && files.config.is_file() {
                    let b = Backbone::load(kind, &files, &opts).with_context(|| {
                        format!("loading the {kind} weights the store was built with")
                    })?;
                    return Ok((b, files));
                }
            }
        }
        let files = artlens::model::resolve(
            kind,
            &WeightsSource::Hub {
                offline: self.offline,
            },
        )?;
        let b = Backbone::load(kind, &files, &opts)?;
        Ok((b, files))
    }
}

/// A set of backbones named on the command line.
#[derive(Debug, Clone)]
pub struct Models(pub Vec<ModelKind>);

/// Parses `dino,dinov2` / `both`.
pub fn parse_models(s: &str) -> Result<Models, String> {
    if s.trim().eq_ignore_ascii_case("both") || s.trim().eq_ignore_ascii_case("all") {
        return Ok(Models(ModelKind::ALL.to_vec()));
    }
    let mut out = Vec::new();
    for part in s.split(',').filter(|p| !p.trim().is_empty()) {
        let m = ModelKind::parse(part).map_err(|e| e.to_string())?;
        if !out.contains(&m) {
            out.push(m);
        }
    }
    if out.is_empty() {
        return Err("no model named (use dino, dinov2 or both)".into());
    }
    out.sort();
    Ok(Models(out))
}
