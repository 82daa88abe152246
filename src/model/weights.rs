//! Finding and reading checkpoints.
//!
//! A checkpoint is a folder laid out like its hub repository (what
//! `huggingface-cli download REPO --local-dir DIR` produces): `config.json`,
//! `model.safetensors` or `pytorch_model.bin`, and for DINO
//! `preprocessor_config.json`. Without a folder we look in the Hugging Face
//! cache (`HF_HOME`) and, unless offline, download with `hf-hub`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use hf_hub::{Repo, RepoType};

use crate::error::{Error, Result};

/// The two backbones artlens compares.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// DINO ViT-B/16, ImageNet-1k, transformers layout.
    Dino,
    /// DINOv2 ViT-B/14, LVD-142M, timm layout.
    Dinov2,
}

impl ModelKind {
    pub const ALL: [ModelKind; 2] = [ModelKind::Dino, ModelKind::Dinov2];

    /// The short name used on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Dino => "dino",
            ModelKind::Dinov2 => "dinov2",
        }
    }

    /// The hub repository the weights come from.
    pub fn repo_id(self) -> &'static str {
        match self {
            ModelKind::Dino => "facebook/dino-vitb16",
            ModelKind::Dinov2 => "timm/vit_base_patch14_dinov2.lvd142m",
        }
    }

    /// Parses `dino` / `dinov2`.
    pub fn parse(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "dino" => Ok(ModelKind::Dino),
            "dinov2" => Ok(ModelKind::Dinov2),
            other => Err(Error::InvalidArgument(format!(
                "unknown model `{other}` (expected dino or dinov2)"
            ))),
        }
    }
}

impl std::fmt::Display for ModelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Where to look for a checkpoint.
#[derive(Debug, Clone)]
pub enum WeightsSource {
    /// A local folder in the hub layout.
    Dir(PathBuf),
    /// The Hugging Face cache, downloading what is missing unless `offline`.
    Hub { offline: bool },
}

/// The files of one resolved checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CheckpointFiles {
    pub config: PathBuf,
    pub weights: PathBuf,
    /// transformers' `preprocessor_config.json` (DINO only).
    pub preprocessor: Option<PathBuf>,
}

impl CheckpointFiles {
    /// The folder holding the weights, which `--weights` accepts back.
    pub fn dir(&self) -> &Path {
        self.weights.parent().unwrap_or(Path::new("."))
    }
}

/// Resolves the files of `kind`'s checkpoint from `source`.
pub fn resolve(kind: ModelKind, source: &WeightsSource) -> Result<CheckpointFiles> {
    match source {
        WeightsSource::Dir(dir) => resolve_dir(kind, dir),
        WeightsSource::Hub { offline } => resolve_hub(kind, *offline),
    }
}

fn resolve_dir(kind: ModelKind, dir: &Path) -> Result<CheckpointFiles> {
    if !dir.is_dir() {
        return Err(Error::Weights {
            path: dir.to_path_buf(),
            reason: format!(
                "not a folder; pass the folder that `huggingface-cli download {} --local-dir DIR` made",
                kind.repo_id()
            ),
        });
    }
    let config = dir.join("config.json");
    if !config.is_file() {
        return Err(Error::Config {
            path: config,
            reason: "missing; a checkpoint folder needs config.json next to its weights".into(),
        });
    }
    let weights = ["model.safetensors", "pytorch_model.bin"]
        .iter()
        .map(|f| dir.join(f))
        .find(|p| p.is_file())
        .ok_or_else(|| Error::Weights {
            path: dir.to_path_buf(),
            reason: "no model.safetensors or pytorch_model.bin in this folder".into(),
        })?;
    let preprocessor = match kind {
        ModelKind::Dino => {
            let p = dir.join("preprocessor_config.json");
            if !p.is_file() {
                return Err(Error::Config {
                    path: p,
                    reason: "missing; DINO's preprocessing is read from preprocessor_config.json"
                        .into(),
                });
            }
            Some(p)
        }
        ModelKind::Dinov2 => None,
    };
    Ok(CheckpointFiles {
        config,
        weights,
        preprocessor,
    })
}

/// The (revision, files) alternatives to try for a model, in order of preference.
/// DINO's `main` has only the pickle; a safetensors copy lives on `refs/pr/7`.
fn hub_plans(kind: ModelKind) -> Vec<(&'static str, Vec<&'static str>)> {
    match kind {
        ModelKind::Dino => vec![
            (
                "refs/pr/7",
                vec![
                    "config.json",
                    "preprocessor_config.json",
                    "model.safetensors",
                ],
            ),
            (
                "main",
                vec![
                    "config.json",
                    "preprocessor_config.json",
                    "pytorch_model.bin",
                ],
            ),
        ],
        ModelKind::Dinov2 => vec![("main", vec!["config.json", "model.safetensors"])],
    }
}

fn files_from(kind: ModelKind, paths: Vec<PathBuf>) -> CheckpointFiles {
    let mut it = paths.into_iter();
    let config = it.next().unwrap_or_default();
    match kind {
        ModelKind::Dino => {
            let preprocessor = it.next();
            let weights = it.next().unwrap_or_default();
            CheckpointFiles {
                config,
                weights,
                preprocessor,
            }
        }
        ModelKind::Dinov2 => CheckpointFiles {
            config,
            weights: it.next().unwrap_or_default(),
            preprocessor: None,
        },
    }
}

fn resolve_hub(kind: ModelKind, offline: bool) -> Result<CheckpointFiles> {
    let cache = hf_hub::Cache::from_env();
    // The cache first: it never touches the network.
    for (revision, files) in hub_plans(kind) {
        let repo = cache.repo(Repo::with_revision(
            kind.repo_id().into(),
            RepoType::Model,
            revision.into(),
        ));
        let found: Option<Vec<PathBuf>> = files.iter().map(|f| repo.get(f)).collect();
        if let Some(paths) = found {
            return Ok(files_from(kind, paths));
        }
    }
    if offline {
        return Err(Error::WeightsUnavailable {
            model: kind.name().into(),
            repo: kind.repo_id().into(),
            reason: format!(
                "--offline and not in the Hugging Face cache at {}",
                cache.path().display()
            ),
        });
    }
    let api = hf_hub::api::sync::ApiBuilder::from_env()
        .with_progress(false)
        .build()
        .map_err(|e| Error::WeightsUnavailable {
            model: kind.name().into(),
            repo: kind.repo_id().into(),
            reason: format!("cannot start the hub client: {e}"),
        })?;
    let mut last_error = String::new();
    for (revision, files) in hub_plans(kind) {
        let repo = api.repo(Repo::with_revision(
            kind.repo_id().into(),
            RepoType::Model,
            revision.into(),
        ));
        let got: std::result::Result<Vec<PathBuf>, _> = files.iter().map(|f| repo.get(f)).collect();
        match got {
            Ok(paths) => return Ok(files_from(kind, paths)),
            Err(e) => last_error = format!("download from revision {revision} failed: {e}"),
        }
    }
    Err(Error::WeightsUnavailable {
        model: kind.name().into(),
        repo: kind.repo_id().into(),
        reason: last_error,
    })
}

/// All tensors of a checkpoint file, as f32 on `device`.
///
/// safetensors files are memory-mapped; `.bin` files are PyTorch pickles read
/// by candle. A truncated or foreign file becomes an error naming it.
pub fn read_tensors(path: &Path, device: &Device) -> Result<HashMap<String, Tensor>> {
    let fail = |reason: String| Error::Weights {
        path: path.to_path_buf(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.len() == 0 {
        return Err(fail("the file is empty (an interrupted download?)".into()));
    }
    let is_pickle = path
        .extension()
        .is_some_and(|e| e == "bin" || e == "pth" || e == "pt");
    let raw: Vec<(String, Tensor)> = if is_pickle {
        candle_core::pickle::read_all(path).map_err(|e| {
            fail(format!(
                "not a readable PyTorch checkpoint ({e}); re-download it"
            ))
        })?
    } else {
        // SAFETY: the file is mapped read-only; artlens never writes weights
        // files, and a concurrent writer would be a user error we cannot guard.
        let st =
            unsafe { candle_core::safetensors::MmapedSafetensors::new(path) }.map_err(|e| {
                fail(format!(
                    "not a readable safetensors file ({e}); re-download it"
                ))
            })?;
        st.tensors()
            .into_iter()
            .map(|(name, view)| {
                let t = candle_core::safetensors::Load::load(&view, &Device::Cpu)
                    .map_err(|e| fail(format!("tensor `{name}` cannot be read: {e}")))?;
                Ok((name, t))
            })
            .collect::<Result<_>>()?
    };
    raw.into_iter()
        .map(|(name, t)| {
            let t = t
                .to_dtype(DType::F32)
                .and_then(|t| t.to_device(device))
                .map_err(|e| fail(format!("tensor `{name}`: {e}")))?;
            Ok((name, t))
        })
        .collect()
}

/// blake3 of a weights file, hex. Part of the model fingerprint, so a store
/// built with other weights is never mixed with this one.
pub fn hash_file(path: &Path) -> Result<String> {
    let mut hasher = blake3::Hasher::new();
    hasher
        .update_mmap_rayon(path)
        .map_err(|e| Error::io(path, e))?;
    Ok(hasher.finalize().to_hex().to_string())
}
