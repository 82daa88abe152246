//! Finding and reading checkpoints.
//!
//! A checkpoint is a folder laid out like its hub repository (what
//! `huggingface-cli download REPO --local-dir DIR` produces): `config.json`,
//! `model.safetensors` or `pytorch_model.bin`, and for DINO
//! `preprocessor_config.json`. Without a folder we look in the Hugging Face
//! cache (`HF_HOME`) and, unless offline, download with `hf-hub`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::{DType, Device, Tensor};
use hf_hub::{Repo, RepoType};

use crate::error::{Error, Result};
use crate::model::registry::{BackboneId, BackboneSpec};

/// Where to look for a checkpoint.
#[derive(Debug, Clone)]
pub enum WeightsSource {
    /// A local folder in the hub layout.
    Dir(PathBuf),
    /// The Hugging Face cache, downloading what is missing unless `offline`.
    Hub {
        /// Use only what the cache already holds; a missing file is an
        /// error instead of a download.
        offline: bool,
    },
}

/// The files of one resolved checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CheckpointFiles {
    /// The checkpoint's `config.json` (timm's or transformers').
    pub config: PathBuf,
    /// The tensors: a safetensors file, the index of a sharded set, or a
    /// PyTorch pickle.
    pub weights: PathBuf,
    /// transformers' `preprocessor_config.json` (DINO only).
    pub preprocessor: Option<PathBuf>,
}

impl CheckpointFiles {
    /// The folder holding the weights, which `--weights` accepts back.
    pub(crate) fn dir(&self) -> &Path {
        self.weights.parent().unwrap_or(Path::new("."))
    }
}

/// The weights files a checkpoint folder may hold, in order of preference:
/// one safetensors file, a sharded set behind its index, a PyTorch pickle.
const WEIGHT_FILES: &[&str] = &[
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
];

/// The index of a sharded safetensors checkpoint.
const SHARD_INDEX: &str = "model.safetensors.index.json";

/// Resolves the files of `backbone`'s checkpoint from `source`.
pub fn resolve(backbone: &BackboneId, source: &WeightsSource) -> Result<CheckpointFiles> {
    let spec = backbone.spec();
    match source {
        WeightsSource::Dir(dir) => resolve_dir(spec, dir),
        WeightsSource::Hub { offline } => resolve_hub(spec, *offline),
    }
}

fn resolve_dir(spec: &BackboneSpec, dir: &Path) -> Result<CheckpointFiles> {
    if !dir.is_dir() {
        return Err(Error::Weights {
            path: dir.to_path_buf(),
            reason: format!(
                "not a folder; pass the folder that `huggingface-cli download {} --local-dir DIR` made",
                spec.hub_id
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
    let weights = WEIGHT_FILES
        .iter()
        .map(|f| dir.join(f))
        .find(|p| p.is_file())
        .ok_or_else(|| Error::Weights {
            path: dir.to_path_buf(),
            reason: "no model.safetensors, model.safetensors.index.json (sharded) or pytorch_model.bin in this folder".into(),
        })?;
    // What the folder holds decides, not the name: an unlisted repository
    // may be either kind, and a registered id given a folder of the other
    // format is refused naming both.
    let found = crate::model::config::config_layout(&config)?;
    if spec.is_listed() && spec.layout.is_transformers() != found.is_transformers() {
        let name = |t: bool| if t { "transformers" } else { "timm" };
        return Err(Error::Config {
            path: config,
            reason: format!(
                "`{}` is the {} checkpoint {}, but this folder holds a {} checkpoint (its config.json names {}); pass the id of the folder's format (`artlens models` lists both, e.g. the `-hf` aliases for transformers folders), or the folder's own hub id",
                spec.alias,
                name(spec.layout.is_transformers()),
                spec.hub_id,
                name(found.is_transformers()),
                if found.is_transformers() { "a `model_type`" } else { "an `architecture`" },
            ),
        });
    }
    // A transformers folder's preprocessing is read from
    // preprocessor_config.json; without one the model card's defaults
    // apply (`hf::read` says so, or refuses for DINO).
    let preprocessor = found
        .is_transformers()
        .then(|| dir.join("preprocessor_config.json"))
        .filter(|p| p.is_file());
    Ok(CheckpointFiles {
        config,
        weights,
        preprocessor,
    })
}

/// The files of a plan, in the plan's order: config, then the preprocessor
/// config when the plan has one, then the weights.
fn files_from(_spec: &BackboneSpec, paths: Vec<PathBuf>) -> CheckpointFiles {
    let named = |p: &PathBuf, n: &str| p.file_name().is_some_and(|f| f == n);
    let config = paths.first().cloned().unwrap_or_default();
    let preprocessor = paths
        .iter()
        .find(|p| named(p, "preprocessor_config.json"))
        .cloned();
    CheckpointFiles {
        config,
        weights: paths.last().cloned().unwrap_or_default(),
        preprocessor,
    }
}

/// The checkpoint's files in the local Hugging Face cache, if all are there
/// (never touches the network).
pub fn cached(spec: &BackboneSpec) -> Option<CheckpointFiles> {
    let cache = hf_hub::Cache::from_env();
    for plan in spec.hub_plans {
        let repo = cache.repo(Repo::with_revision(
            spec.hub_id.to_string(),
            RepoType::Model,
            plan.revision.into(),
        ));
        let found: Option<Vec<PathBuf>> = plan.files.iter().map(|f| repo.get(f)).collect();
        if let Some(paths) = found {
            return Some(files_from(spec, paths));
        }
        // A large checkpoint may be sharded: the plan's weights file is then
        // replaced by the index and every shard it names.
        let mut head: Vec<PathBuf> = Vec::new();
        for f in &plan.files[..plan.files.len() - 1] {
            head.extend(repo.get(f));
        }
        if head.len() + 1 == plan.files.len() {
            if let Some(index) = repo.get(SHARD_INDEX) {
                let all_shards = shard_names(&index)
                    .ok()
                    .is_some_and(|names| names.iter().all(|n| repo.get(n).is_some()));
                if all_shards {
                    head.push(index);
                    return Some(files_from(spec, head));
                }
            }
        }
    }
    None
}

fn resolve_hub(spec: &BackboneSpec, offline: bool) -> Result<CheckpointFiles> {
    // The cache first: it never touches the network.
    if let Some(files) = cached(spec) {
        return Ok(files);
    }
    let cache = hf_hub::Cache::from_env();
    if offline {
        return Err(Error::WeightsUnavailable {
            model: spec.alias.to_string(),
            repo: spec.hub_id.to_string(),
            reason: format!(
                "--offline and not in the Hugging Face cache at {}; run without `--offline` to download them",
                cache.path().display()
            ),
        });
    }
    let api = hf_hub::api::sync::ApiBuilder::from_env()
        .with_progress(false)
        .build()
        .map_err(|e| Error::WeightsUnavailable {
            model: spec.alias.to_string(),
            repo: spec.hub_id.to_string(),
            reason: format!("cannot start the hub client: {e}"),
        })?;
    let mut last_error = String::new();
    for plan in spec.hub_plans {
        let repo = api.repo(Repo::with_revision(
            spec.hub_id.to_string(),
            RepoType::Model,
            plan.revision.into(),
        ));
        let got: std::result::Result<Vec<PathBuf>, _> =
            plan.files.iter().map(|f| repo.get(f)).collect();
        match got {
            Ok(paths) => return Ok(files_from(spec, paths)),
            Err(e) => {
                let text = e.to_string();
                if text.contains("401") || text.contains("403") {
                    return Err(Error::WeightsUnavailable {
                        model: spec.alias.to_string(),
                        repo: spec.hub_id.to_string(),
                        reason: format!(
                            "the hub refused the download ({text}). The repository is gated: accept its license at https://huggingface.co/{} while logged in, then give artlens a token with read access, either in the environment (HF_TOKEN=hf_…) or with `huggingface-cli login` (the token file in HF_HOME)",
                            spec.hub_id
                        ),
                    });
                }
                // A sharded checkpoint has an index instead of the one file.
                let weights = plan.files[plan.files.len() - 1];
                if weights == "model.safetensors" {
                    if let Ok(index) = repo.get(SHARD_INDEX) {
                        let head: std::result::Result<Vec<PathBuf>, _> = plan.files
                            [..plan.files.len() - 1]
                            .iter()
                            .map(|f| repo.get(f))
                            .collect();
                        let shards: std::result::Result<Vec<PathBuf>, _> =
                            shard_names(&index)?.iter().map(|n| repo.get(n)).collect();
                        if let (Ok(mut head), Ok(_)) = (head, shards) {
                            head.push(index);
                            return Ok(files_from(spec, head));
                        }
                    }
                }
                last_error = format!("download from revision {} failed: {text}", plan.revision)
            }
        }
    }
    Err(Error::WeightsUnavailable {
        model: spec.alias.to_string(),
        repo: spec.hub_id.to_string(),
        reason: last_error,
    })
}

/// One file of a hub repository (its `main` revision), from the Hugging
/// Face cache, else downloaded unless `offline`; the error says why not in
/// words for a message. For the files only some commands need (a timm CLIP
/// repository's text tower), fetched when first needed rather than by
/// `index`.
pub(crate) fn hub_file(
    repo: &str,
    file: &str,
    offline: bool,
) -> std::result::Result<PathBuf, String> {
    let cache = hf_hub::Cache::from_env();
    if let Some(p) = cache.model(repo.to_string()).get(file) {
        return Ok(p);
    }
    if offline {
        return Err(format!(
            "--offline and not in the Hugging Face cache at {}",
            cache.path().display()
        ));
    }
    let api = hf_hub::api::sync::ApiBuilder::from_env()
        .with_progress(false)
        .build()
        .map_err(|e| format!("cannot start the hub client: {e}"))?;
    api.model(repo.to_string())
        .get(file)
        .map_err(|e| format!("the download failed: {e}"))
}

/// Whether `path` lies in the Hugging Face cache (a hub snapshot, which
/// artlens may complete with more of the repository's files, unlike a
/// person's own `--weights` folder).
pub(crate) fn in_hub_cache(path: &Path) -> bool {
    let cache = hf_hub::Cache::from_env();
    let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    canonical(path).starts_with(canonical(cache.path()))
}

/// An f32 matrix used in place inside a memory-mapped safetensors file:
/// the kernel reads the checkpoint's pages directly, so a 4.5 GB giant
/// costs page cache the kernel can drop, not 4.5 GB of heap on top of it.
#[derive(Clone)]
pub(crate) struct MappedF32 {
    map: Arc<memmap2::Mmap>,
    /// Byte offset of the first element in the file.
    offset: usize,
    shape: Vec<usize>,
}

impl MappedF32 {
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    pub fn as_slice(&self) -> &[f32] {
        let len = self.shape.iter().product::<usize>();
        // Alignment and bounds were checked when the view was made.
        bytemuck::cast_slice(&self.map[self.offset..self.offset + 4 * len])
    }

    /// A heap copy, for uses that need a candle tensor.
    pub(crate) fn to_tensor(&self) -> candle_core::Result<Tensor> {
        Tensor::from_slice(self.as_slice(), self.shape.as_slice(), &Device::Cpu)
    }
}

impl std::fmt::Debug for MappedF32 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MappedF32({:?} at byte {})", self.shape, self.offset)
    }
}

/// A checkpoint's tensors: matrices used in place from the file where that
/// is possible (f32 safetensors, on the CPU), everything else loaded as f32
/// on the device (f16/bf16 are upcast, pickles are read whole).
#[derive(Default)]
pub(crate) struct Checkpoint {
    pub tensors: HashMap<String, Tensor>,
    pub mapped: HashMap<String, MappedF32>,
}

impl Checkpoint {
    /// Bytes used in place from the file, and bytes loaded onto the heap or device.
    pub fn bytes(&self) -> (usize, usize) {
        let mapped = self
            .mapped
            .values()
            .map(|m| 4 * m.shape.iter().product::<usize>())
            .sum();
        let loaded = self.tensors.values().map(|t| 4 * t.elem_count()).sum();
        (mapped, loaded)
    }
}

/// All tensors of a checkpoint (one file, a PyTorch pickle, or the index of
/// a sharded set), as [`Checkpoint`] for `device`.
///
/// A truncated or foreign file becomes an error naming it.
pub(crate) fn read_checkpoint(path: &Path, device: &Device) -> Result<Checkpoint> {
    let fail = |reason: String| Error::Weights {
        path: path.to_path_buf(),
        reason,
    };
    if is_shard_index(path) {
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut all = Checkpoint::default();
        for name in shard_names(path)? {
            let part = read_checkpoint(&dir.join(&name), device)?;
            all.tensors.extend(part.tensors);
            all.mapped.extend(part.mapped);
        }
        for (tensor, file) in shard_map(path)? {
            if !all.tensors.contains_key(&tensor) && !all.mapped.contains_key(&tensor) {
                return Err(fail(format!(
                    "the index says tensor `{tensor}` is in {file}, but that shard does not hold it; re-download the checkpoint"
                )));
            }
        }
        return Ok(all);
    }
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.len() == 0 {
        return Err(fail("the file is empty (an interrupted download?)".into()));
    }
    let is_pickle = path
        .extension()
        .is_some_and(|e| e == "bin" || e == "pth" || e == "pt");
    let mut out = Checkpoint::default();
    let raw: Vec<(String, Tensor)> = if is_pickle {
        candle_core::pickle::read_all(path).map_err(|e| {
            fail(format!(
                "not a readable PyTorch checkpoint ({e}); re-download it"
            ))
        })?
    } else {
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        // SAFETY: the file is mapped read-only; artlens never writes weights
        // files, and a concurrent writer would be a user error we cannot guard.
        let map = Arc::new(unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path, e))?);
        let st = safetensors::SafeTensors::deserialize(&map).map_err(|e| {
            fail(format!(
                "not a readable safetensors file ({e}); re-download it"
            ))
        })?;
        let base = map.as_ptr() as usize;
        let mut loaded = Vec::new();
        for (name, view) in st.tensors() {
            let data = view.data();
            let in_place = device.is_cpu()
                && view.dtype() == safetensors::Dtype::F32
                // Matrices only: norms, biases and tokens are small, and
                // tables such as position embeddings are reshaped or resampled.
                && view.shape().len() == 2
                && bytemuck::try_cast_slice::<u8, f32>(data).is_ok();
            if in_place {
                out.mapped.insert(
                    name,
                    MappedF32 {
                        map: map.clone(),
                        offset: data.as_ptr() as usize - base,
                        shape: view.shape().to_vec(),
                    },
                );
                continue;
            }
            let t = candle_core::safetensors::Load::load(&view, &Device::Cpu)
                .map_err(|e| fail(format!("tensor `{name}` cannot be read: {e}")))?;
            loaded.push((name, t));
        }
        loaded
    };
    for (name, t) in raw {
        let t = t
            .to_dtype(DType::F32)
            .and_then(|t| t.to_device(device))
            .map_err(|e| fail(format!("tensor `{name}`: {e}")))?;
        out.tensors.insert(name, t);
    }
    Ok(out)
}

/// blake3 of a weights file, hex. Part of the model fingerprint, so a store
/// built with other weights is never mixed with this one.
///
/// For a sharded checkpoint, the hash of the index followed by each shard in
/// the index's order.
pub(crate) fn hash_file(path: &Path) -> Result<String> {
    let mut hasher = blake3::Hasher::new();
    hasher
        .update_mmap_rayon(path)
        .map_err(|e| Error::io(path, e))?;
    if is_shard_index(path) {
        let dir = path.parent().unwrap_or(Path::new("."));
        for name in shard_names(path)? {
            let shard = dir.join(name);
            hasher
                .update_mmap_rayon(&shard)
                .map_err(|e| Error::io(&shard, e))?;
        }
    }
    Ok(hasher.finalize().to_hex().to_string())
}

fn is_shard_index(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(".safetensors.index.json"))
}

/// `weight_map` of a sharded checkpoint's index: tensor → shard file.
fn shard_map(index: &Path) -> Result<Vec<(String, String)>> {
    #[derive(serde::Deserialize)]
    struct Index {
        weight_map: std::collections::BTreeMap<String, String>,
    }
    let parsed: Index = crate::model::config::read_json(index, "sharded safetensors index")?;
    for file in parsed.weight_map.values() {
        // Shards live next to the index; a path elsewhere is not a hub layout.
        if file.contains('/') || file.contains('\\') || file.starts_with('.') {
            return Err(Error::Weights {
                path: index.to_path_buf(),
                reason: format!("shard `{file}` is not a file name next to the index"),
            });
        }
    }
    Ok(parsed.weight_map.into_iter().collect())
}

/// The shard files an index names, each once, in first-mention order.
fn shard_names(index: &Path) -> Result<Vec<String>> {
    let mut names: Vec<String> = Vec::new();
    for (_, file) in shard_map(index)? {
        if !names.contains(&file) {
            names.push(file);
        }
    }
    names.sort();
    Ok(names)
}
