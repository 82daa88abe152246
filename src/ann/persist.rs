//! Saving and loading an [`AnnIndex`] so that a saved index is verified
//! before hnsw_rs's loader sees it: `index.json` (written atomically, last)
//! records the format version, the [`IndexMeta`] binding the index to the
//! vectors it was built from, and each hnsw file's size and blake3; the
//! files are staged in a folder of their own and renamed into place before
//! it. The rules in full are in `docs/PERFORMANCE.md`.

use std::collections::HashSet;
use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use hnsw_rs::prelude::{AnnT, HnswIo};
use serde::{Deserialize, Serialize};

use super::meta::{ids_hash, IndexMeta};
use super::{AnnIndex, AnnParams, CodeCosine};
use crate::error::{Error, Result};
use crate::store::atomic;

/// Version of the `index.json` written by [`AnnIndex::save`]. 2: the graph
/// holds 16-bit codes of the vectors (`crate::vector::code`) instead of f32
/// vectors; an index of version 1 is rebuilt.
pub(crate) const INDEX_FORMAT_VERSION: u32 = 2;

const META_FILE: &str = "index.json";
const STAGING_PREFIX: &str = ".staging-";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct MetaFile {
    format_version: u32,
    index: IndexMeta,
    dim: usize,
    params: AnnParams,
    distance: String,
    /// hnsw_rs dumps native-endian integers and `usize`s.
    little_endian: bool,
    usize_bytes: usize,
    /// `None` for an empty index (hnsw_rs cannot dump one).
    basename: Option<String>,
    files: Vec<FileSum>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct FileSum {
    name: String,
    size: u64,
    blake3: String,
}

impl AnnIndex {
    /// Saves the index into `dir` (created if needed; the folder belongs to
    /// this index), atomically: see the module documentation. `meta` must
    /// describe this index (`count` and `ids_hash`), or a later `load` could
    /// never succeed.
    pub fn save(&self, dir: &Path, meta: &IndexMeta) -> Result<()> {
        let own = IndexMeta::new(meta.fingerprint_json.clone(), self.ids.iter().copied())
            .with_content(meta.content.clone());
        if own != *meta {
            return Err(Error::InvalidArgument(format!(
                "index metadata does not describe this index: {}",
                own.difference(meta).unwrap_or_default()
            )));
        }
        let index_err = |reason: String| Error::Index {
            path: dir.to_path_buf(),
            reason,
        };
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let stamp = unique_stamp();
        let staging = dir.join(format!("{STAGING_PREFIX}{stamp}"));
        fs::create_dir(&staging).map_err(|e| Error::io(&staging, e))?;
        let result = self.save_staged(dir, &staging, &stamp, meta, &index_err);
        let _ = fs::remove_dir_all(&staging);
        let meta_file = result?;
        remove_unreferenced(dir, &meta_file);
        Ok(())
    }

    fn save_staged(
        &self,
        dir: &Path,
        staging: &Path,
        stamp: &str,
        meta: &IndexMeta,
        index_err: &dyn Fn(String) -> Error,
    ) -> Result<MetaFile> {
        let mut basename = None;
        let mut files = Vec::new();
        if !self.is_empty() {
            let dumped = catch_unwind(AssertUnwindSafe(|| self.hnsw.file_dump(staging, "index")))
                .map_err(|p| {
                    index_err(format!(
                        "hnsw_rs panicked while dumping: {}",
                        panic_message(&p)
                    ))
                })?
                .map_err(|e| index_err(format!("hnsw_rs could not dump the graph: {e:#}")))?;
            let base = format!("index-{stamp}");
            for ext in ["hnsw.graph", "hnsw.data"] {
                let from = staging.join(format!("{dumped}.{ext}"));
                let name = format!("{base}.{ext}");
                sync_file(&from)?;
                let (size, blake3) = hash_file(&from)?;
                let to = dir.join(&name);
                fs::rename(&from, &to).map_err(|e| Error::io(&to, e))?;
                files.push(FileSum { name, size, blake3 });
            }
            basename = Some(base);
        }
        let meta_file = MetaFile {
            format_version: INDEX_FORMAT_VERSION,
            index: meta.clone(),
            dim: self.dim,
            params: self.params,
            distance: distance_name(),
            little_endian: cfg!(target_endian = "little"),
            usize_bytes: std::mem::size_of::<usize>(),
            basename,
            files,
        };
        let json = serde_json::to_vec_pretty(&meta_file).map_err(|e| index_err(e.to_string()))?;
        // Renamed into place last, with the folder synced, which also makes
        // the renames of the hnsw files above durable.
        atomic::write_file(&dir.join(META_FILE), &json)?;
        Ok(meta_file)
    }

    /// Loads the index saved in `dir` when it matches `expected`; `Ok(None)`
    /// when there is none or it is stale or damaged (the caller rebuilds).
    pub fn load(dir: &Path, expected: &IndexMeta) -> Result<Option<AnnIndex>> {
        Ok(Self::load_or_reason(dir, expected)?.ok())
    }

    /// Like [`AnnIndex::load`], saying why a saved index cannot be used (for
    /// the "rebuilding the index because ..." message). `Err` only for I/O
    /// errors other than a missing index.
    pub fn load_or_reason(
        dir: &Path,
        expected: &IndexMeta,
    ) -> Result<std::result::Result<AnnIndex, String>> {
        Self::load_verified(dir, &|found: &IndexMeta| found.difference(expected))
    }

    /// Loads the index saved in `dir` when it is intact and was built from
    /// embeddings with this fingerprint, whatever ids it holds, with the
    /// [`IndexMeta`] it was saved with: for extending it with
    /// [`AnnIndex::insert_many`] instead of rebuilding, once the caller has
    /// checked [`IndexMeta::content`] and [`AnnIndex::ids`] against the
    /// store's (points cannot be removed).
    pub(crate) fn load_for_update_with_meta(
        dir: &Path,
        fingerprint_json: &str,
    ) -> Result<std::result::Result<(AnnIndex, IndexMeta), String>> {
        Self::load_verified_meta(dir, &|found: &IndexMeta| {
            (found.fingerprint_json != fingerprint_json)
                .then(|| "it was built from embeddings with another model fingerprint".to_string())
        })
    }

    fn load_verified(
        dir: &Path,
        accept: &dyn Fn(&IndexMeta) -> Option<String>,
    ) -> Result<std::result::Result<AnnIndex, String>> {
        Ok(Self::load_verified_meta(dir, accept)?.map(|(index, _)| index))
    }

    /// Reads `index.json`, lets `accept` judge its [`IndexMeta`], checks the
    /// files' sizes and hashes, and only then calls hnsw_rs's loader.
    fn load_verified_meta(
        dir: &Path,
        accept: &dyn Fn(&IndexMeta) -> Option<String>,
    ) -> Result<std::result::Result<(AnnIndex, IndexMeta), String>> {
        let meta_path = dir.join(META_FILE);
        let bytes = match fs::read(&meta_path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Err("no saved index".into()))
            }
            Err(e) => return Err(Error::io(&meta_path, e)),
        };
        let meta: MetaFile = match serde_json::from_slice(&bytes) {
            Ok(m) => m,
            Err(e) => return Ok(Err(format!("{} is unreadable ({e})", meta_path.display()))),
        };
        if let Some(why) = check_meta(&meta).or_else(|| accept(&meta.index)) {
            return Ok(Err(why));
        }
        let params = meta.params;
        let Some(basename) = meta.basename.clone() else {
            return match AnnIndex::new(meta.dim, 0, params) {
                Ok(index) if meta.index.count == 0 => Ok(Ok((index, meta.index))),
                Ok(_) => Ok(Err("index.json lists no files for a non-empty index".into())),
                Err(e) => Ok(Err(e.to_string())),
            };
        };
        if meta.files.len() != 2
            || meta.files.iter().any(|f| {
                f.name != format!("{basename}.hnsw.graph")
                    && f.name != format!("{basename}.hnsw.data")
            })
        {
            return Ok(Err("index.json does not list the two hnsw files".into()));
        }
        for f in &meta.files {
            let path = dir.join(&f.name);
            match hash_file(&path) {
                Ok((size, _)) if size != f.size => {
                    return Ok(Err(format!(
                        "{} has {size} bytes, {} were saved",
                        f.name, f.size
                    )))
                }
                Ok((_, h)) if h != f.blake3 => {
                    return Ok(Err(format!("{} was modified or damaged", f.name)))
                }
                Ok(_) => {}
                Err(e) => return Ok(Err(e.to_string())),
            }
        }
        // The files are the ones we wrote; hnsw_rs's asserts should hold, but
        // a panic must still not take the caller down.
        let loaded = catch_unwind(AssertUnwindSafe(|| {
            let loader: &'static mut HnswIo = Box::leak(Box::new(HnswIo::new(dir, &basename)));
            loader.load_hnsw::<i16, CodeCosine>()
        }));
        let hnsw = match loaded {
            Ok(Ok(h)) => h,
            Ok(Err(e)) => return Ok(Err(format!("hnsw_rs could not load it: {e:#}"))),
            Err(p) => {
                return Ok(Err(format!(
                    "hnsw_rs panicked loading it: {}",
                    panic_message(&p)
                )))
            }
        };
        let ids: HashSet<u64> = hnsw
            .get_point_indexation()
            .into_iter()
            .map(|p| p.get_origin_id() as u64)
            .collect();
        let data_dim = hnsw.get_point_indexation().get_data_dimension();
        if hnsw.get_nb_point() != meta.index.count || ids.len() != meta.index.count {
            return Ok(Err(
                "the loaded graph has another number of points than index.json says".into(),
            ));
        }
        if data_dim != meta.dim {
            return Ok(Err(format!(
                "the loaded graph holds {data_dim}-d vectors, not {}",
                meta.dim
            )));
        }
        if ids_hash(ids.iter().copied()) != meta.index.ids_hash {
            return Ok(Err(
                "the loaded graph holds other ids than index.json says".into()
            ));
        }
        Ok(Ok((
            AnnIndex {
                hnsw,
                dim: meta.dim,
                params,
                ids,
                frozen: std::sync::OnceLock::new(),
            },
            meta.index,
        )))
    }
}

fn check_meta(meta: &MetaFile) -> Option<String> {
    if meta.format_version != INDEX_FORMAT_VERSION {
        return Some(format!(
            "it has format version {}, this artlens writes {INDEX_FORMAT_VERSION}",
            meta.format_version
        ));
    }
    if meta.distance != distance_name() {
        return Some(format!("it uses distance {}", meta.distance));
    }
    if meta.little_endian != cfg!(target_endian = "little")
        || meta.usize_bytes != std::mem::size_of::<usize>()
    {
        return Some("it was written on a machine with another byte order or word size".into());
    }
    None
}

fn distance_name() -> String {
    std::any::type_name::<CodeCosine>()
        .rsplit("::")
        .next()
        .unwrap_or("CodeCosine")
        .to_string()
}

fn panic_message(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown panic".into())
}

fn unique_stamp() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{:x}-{}", nanos, std::process::id())
}

fn hash_file(path: &Path) -> Result<(u64, String)> {
    let mut h = blake3::Hasher::new();
    h.update_mmap_rayon(path).map_err(|e| Error::io(path, e))?;
    let size = fs::metadata(path).map_err(|e| Error::io(path, e))?.len();
    Ok((size, h.finalize().to_hex().to_string()))
}

fn sync_file(path: &Path) -> Result<()> {
    fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io(path, e))
}

/// Removes hnsw files, staging folders and temporary `index.json` copies in
/// `dir` that `meta` does not reference (an older save, or one interrupted
/// by a crash). Best effort.
fn remove_unreferenced(dir: &Path, meta: &MetaFile) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let keep: HashSet<&str> = meta.files.iter().map(|f| f.name.as_str()).collect();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path: PathBuf = entry.path();
        if name.starts_with(STAGING_PREFIX) {
            let _ = fs::remove_dir_all(&path);
        } else if name.starts_with(&format!(".{META_FILE}.")) && name.ends_with(".tmp") {
            // `atomic::write_file`'s temporary, left by a crash mid-write.
            let _ = fs::remove_file(&path);
        } else if (name.ends_with(".hnsw.graph") || name.ends_with(".hnsw.data"))
            && !keep.contains(name.as_str())
        {
            let _ = fs::remove_file(&path);
        }
    }
}
