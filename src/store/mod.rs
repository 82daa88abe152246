//! The store: everything artlens knows about a collection, in one sled
//! database in one folder.
//!
//! The details are in `docs/STORE.md`, section "The store's layout and invariants".

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::registry::BackboneId;
use crate::model::weights::CheckpointFiles;
use crate::model::Fingerprint;
use crate::scan::Metadata;
use crate::shard::Shard;

pub mod atomic;
mod copies;
mod doctor;
mod journal;
mod layouts;
mod merge;
mod migrate;
mod records;
pub use copies::CopyRecord;
pub(crate) use copies::COPIES_TREE;

pub use doctor::{check_store, salvage_store, DoctorReport, SalvageReport};
pub use journal::ReplayReport;
pub(crate) use journal::{JOURNALED_TREES, JOURNAL_FILE};
pub use layouts::MapRecord;
pub(crate) use merge::{check_mergeable, same_folder};
pub use merge::{merge_stores, MergeReport, MergeSource, MetadataConflict, RecordConflict};
pub use migrate::Migration;
pub(crate) use records::RECORD_VERSION;
pub use records::{Envelope, RecordBatch};

/// Seconds since the Unix epoch.
pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The on-disk format this version reads and writes.
pub const FORMAT_VERSION: u32 = 2;

pub(crate) const ITEMS: &str = "items";
pub(crate) const META: &str = "meta";
const FORMAT_KEY: &[u8] = b"format_version";
const NEXT_ID_KEY: &[u8] = b"c/next_id";
const NEXT_ROOT_KEY: &[u8] = b"c/next_root";
/// `meta` key of the [`Shard`] a store holds, JSON.
const SHARD_KEY: &str = "shard";
const FIRST_ID: u64 = 1;
/// The pseudo-root of paths stored as given (absolute).
const NO_ROOT: u64 = 0;
/// dim (u32) + id (u64) + blake3 (32 bytes).
const EMBEDDING_HEADER: usize = 4 + 8 + 32;

/// One artwork: a distinct content (by blake3 of the file bytes), wherever it
/// was seen. `P` is how a path is written: absolute in [`Artwork`], the
/// form every caller sees, and (root, relative path) on disk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArtworkRecord<P> {
    /// Stable numeric id, never reused; the ANN index's point id.
    pub id: u64,
    /// blake3 of the file bytes, 64 lower-case hex digits.
    pub hash: String,
    /// Every path this content was seen at, first seen first.
    pub paths: Vec<P>,
    /// File size in bytes.
    pub size: u64,
    /// Decoded width in pixels (after EXIF orientation).
    pub width: u32,
    /// Decoded height in pixels (after EXIF orientation).
    pub height: u32,
    /// The work's metadata (title, artist, ...) from the collection's CSV.
    pub metadata: Metadata,
}

/// An artwork with absolute paths.
pub type Artwork = ArtworkRecord<String>;

/// An artwork as stored: its paths relative to their roots.
pub(crate) type StoredArtwork = ArtworkRecord<(u64, String)>;

/// A collection root: a folder `index` was run on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Root {
    /// Stable numeric id, never reused; stored paths name their root by it.
    pub id: u64,
    /// The folder's absolute path.
    pub path: String,
}

/// What [`Store::record_image`] writes about an image; the store assigns the id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewArtwork {
    /// blake3 of the file bytes, 64 lower-case hex digits.
    pub hash: String,
    /// Paths this content was seen at in this run; merged with the stored ones.
    pub paths: Vec<String>,
    /// File size in bytes.
    pub size: u64,
    /// Decoded width in pixels (after EXIF orientation).
    pub width: u32,
    /// Decoded height in pixels (after EXIF orientation).
    pub height: u32,
    /// Merged into the stored metadata; these values win.
    pub metadata: Metadata,
}

/// A file that could not be indexed, kept so the next run can report or retry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureRecord {
    /// The file's path, as the scan found it.
    pub path: String,
    /// The content hash, when the file could be read.
    pub hash: Option<String>,
    /// Why it failed, as a sentence for the user.
    pub reason: String,
    /// Seconds since the Unix epoch.
    pub time: u64,
}

/// How [`Store::ensure_fingerprint`] found the stored fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FingerprintCheck {
    /// None was stored: this one is now.
    Recorded,
    /// The same one is stored: the stored embeddings are usable.
    Unchanged,
    /// Another one was stored and `rebuild` was asked: the model's embeddings
    /// were deleted and the new fingerprint stored. Its ANN index is stale.
    Replaced {
        /// How many of the model's embeddings were deleted.
        removed_embeddings: usize,
    },
}

impl FingerprintCheck {
    /// True when the model's embeddings (and so its ANN index) changed.
    pub fn changed(&self) -> bool {
        matches!(self, FingerprintCheck::Replaced { .. })
    }
}

/// How much the store holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StoreCounts {
    /// Distinct works (contents).
    pub artworks: usize,
    /// Per backbone name ([`BackboneId::name`]).
    pub embeddings: BTreeMap<String, usize>,
    /// Files recorded as failed to index.
    pub failures: usize,
}

/// An open store. Cheap to share between threads (`&Store` is enough); writes
/// that read before they write are serialised inside.
pub struct Store {
    db: sled::Db,
    items: sled::Tree,
    meta: sled::Tree,
    path: PathBuf,
    /// Serialises read-modify-write sequences (id assignment, path moves), so
    /// that two threads recording images cannot take the same id.
    write_lock: Mutex<()>,
    /// The collection roots, by id (a copy of the `r/` records).
    roots: std::sync::RwLock<BTreeMap<u64, String>>,
    /// What opening did to a store of an older format.
    migration: Option<Migration>,
    /// What opening repaired by itself (an interrupted snapshot removed).
    recovered: Vec<String>,
    /// The open lock ([`take_open_lock`]), held for as long as the store is
    /// open; `None` where the folder cannot hold a lock file (read-only
    /// media, where sled's own lock decides).
    _open_lock: Option<std::fs::File>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// A store folder as it was before [`Store::open`] may create a store in
/// it, so that a command that fails before storing anything (`index` of a
/// folder that does not exist, or offline without weights) leaves the
/// folder as it found it instead of an empty store that later commands
/// would describe as "0 artworks".
#[derive(Debug)]
pub struct NewStore {
    dir: PathBuf,
    /// Whether a store was there already: one is never removed.
    was_store: bool,
    /// The names the folder held, or `None` when there was no folder.
    entries: Option<std::collections::HashSet<std::ffi::OsString>>,
}

impl NewStore {
    /// Notes what `dir` holds now, before a store may be created in it.
    pub fn before_open(dir: &Path) -> NewStore {
        let entries = std::fs::read_dir(dir)
            .ok()
            .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.file_name()).collect());
        NewStore {
            dir: dir.to_path_buf(),
            was_store: Store::exists(dir),
            entries,
        }
    }

    /// Once the store is closed: when it was made since [`NewStore::before_open`]
    /// and holds nothing (no artwork, failure, rating or other record; the
    /// collection roots and counters an index run notes first do not
    /// count), removes what creating it added, and the folder itself if it
    /// made that too. Returns whether it removed the store.
    pub fn discard_if_empty(&self) -> Result<bool> {
        if self.was_store || !Store::exists(&self.dir) {
            return Ok(false);
        }
        // sled's flusher thread lets go of the lock a moment after the last
        // handle of the store just closed is dropped.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let store = loop {
            match Store::open(&self.dir) {
                Err(Error::StoreInUse { .. }) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                opened => break opened?,
            }
        };
        if !store.holds_nothing()? {
            return Ok(false);
        }
        drop(store);
        // The store is closed here (sled releases its lock on drop).
        match &self.entries {
            None => std::fs::remove_dir_all(&self.dir).map_err(|e| Error::io(&self.dir, e))?,
            Some(before) => {
                let added = std::fs::read_dir(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
                for entry in added {
                    let entry = entry.map_err(|e| Error::io(&self.dir, e))?;
                    if before.contains(&entry.file_name()) {
                        continue;
                    }
                    let path = entry.path();
                    let removed = if entry.file_type().is_ok_and(|t| t.is_dir()) {
                        std::fs::remove_dir_all(&path)
                    } else {
                        std::fs::remove_file(&path)
                    };
                    removed.map_err(|e| Error::io(&path, e))?;
                }
            }
        }
        Ok(true)
    }
}

impl Store {
    /// Opens the store in `dir`, creating the folder and an empty store when
    /// needed. Commands that only read use [`Store::open_existing`].
    ///
    /// Fails at once with [`Error::StoreInUse`] when another opener holds the
    /// folder (sled 0.34.7 reports its `flock` failure as an `io::Error` of
    /// kind `Other` with "could not acquire lock" in the message), and with
    /// [`Error::StoreFormat`] when the store was written by an incompatible
    /// version.
    pub fn open(dir: &Path) -> Result<Store> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        // The cleanup below deletes snapshot files: only the one process
        // that holds the store may do that, or a second opener deletes the
        // snapshot the first is writing.
        let open_lock = take_open_lock(dir)?;
        if Store::lost_db(dir) {
            // sled would start an empty log beside the old snapshot (and
            // fail on it) or, without one, silently hand out an empty
            // store whose ratings only the journal still knows.
            return Err(Error::StoreDamaged {
                path: dir.to_path_buf(),
                file: "db".into(),
                reason: "missing: the file that holds every record is gone".into(),
            });
        }
        let recovered = recover_interrupted_snapshots(dir)?;
        // sled 0.34 panics on some damage it meets while recovering (its
        // own assertions on the log and snapshot); that is a damaged
        // store, not a crash of the command that opened it.
        catch_sled_panic(dir, move || {
            let db = open_sled(dir)?;
            let err = |e: sled::Error| store_error(dir, e);
            let items = db.open_tree(ITEMS).map_err(err)?;
            let meta = db.open_tree(META).map_err(err)?;
            let mut store = Store {
                db,
                items,
                meta,
                path: dir.to_path_buf(),
                write_lock: Mutex::new(()),
                roots: Default::default(),
                migration: None,
                recovered,
                _open_lock: open_lock,
            };
            store.migration = store.check_format()?;
            store.load_roots()?;
            Ok(store)
        })
    }

    /// True when `dir` held a store whose `db` file is gone: sled's `conf`
    /// is there, and so is a snapshot or a ratings journal with something
    /// in it (a store killed while being created has neither, and is
    /// simply created again).
    pub(crate) fn lost_db(dir: &Path) -> bool {
        if !dir.join("conf").is_file() || dir.join("db").exists() {
            return false;
        }
        let journal = std::fs::metadata(dir.join(JOURNAL_FILE)).is_ok_and(|m| m.len() > 0);
        let snapshot = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("snap."));
        journal || snapshot
    }

    /// Opens the store in `dir`, which must already be one:
    /// [`Error::NoStore`] otherwise, and nothing is created.
    pub fn open_existing(dir: &Path) -> Result<Store> {
        if !Store::exists(dir) && !Store::lost_db(dir) {
            return Err(Error::NoStore {
                path: dir.to_path_buf(),
            });
        }
        Store::open(dir)
    }

    /// Whether nothing was stored: the items tree holds only collection
    /// roots (`r/`) and counters (`c/`), and no tree of another concern
    /// (ratings, heads, preferences, ...) holds a record. Settings in `meta`
    /// (the format, fingerprints, a shard) are not data.
    fn holds_nothing(&self) -> Result<bool> {
        for kv in self.items.iter() {
            let (k, _) = kv.map_err(|e| self.err(e))?;
            if !(k.starts_with(b"r/") || k.starts_with(b"c/")) {
                return Ok(false);
            }
        }
        for name in self.db.tree_names() {
            if name == ITEMS.as_bytes() || name == META.as_bytes() || name.starts_with(b"__sled") {
                continue;
            }
            let tree = self.db.open_tree(&name).map_err(|e| self.err(e))?;
            if !tree.is_empty() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// True when `dir` looks like a sled store (it has sled's `conf` and `db`).
    pub fn exists(dir: &Path) -> bool {
        dir.join("conf").is_file() && dir.join("db").is_file()
    }

    /// What opening did to a store written in an older format, if anything.
    pub fn migration(&self) -> Option<&Migration> {
        self.migration.as_ref()
    }

    /// What opening repaired by itself, one line each (a leftover
    /// `snap.*.generating` file of a snapshot that was interrupted, by a
    /// full disk for example, is removed before sled reads the store).
    pub fn recovered(&self) -> &[String] {
        &self.recovered
    }

    /// The folder the store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn check_format(&self) -> Result<Option<Migration>> {
        match self.meta.get(FORMAT_KEY).map_err(|e| self.err(e))? {
            Some(v) => {
                let found = <[u8; 4]>::try_from(v.as_ref())
                    .map(u32::from_be_bytes)
                    .unwrap_or(0);
                if found == 1 {
                    return migrate::from_v1(self).map(Some);
                }
                if found != FORMAT_VERSION {
                    return Err(Error::StoreFormat {
                        path: self.path.clone(),
                        found,
                        expected: FORMAT_VERSION,
                    });
                }
                Ok(None)
            }
            None if self.items.is_empty() && self.meta.is_empty() => {
                // A journal is written only after the format version: an
                // empty database beside one lost what it held (a `db`
                // truncated with no snapshot to read past), and starting
                // afresh would hide that its ratings are in the journal alone.
                if std::fs::metadata(self.journal_path()).is_ok_and(|m| m.len() > 0) {
                    return Err(Error::StoreDamaged {
                        path: self.path.clone(),
                        file: "db".into(),
                        reason: format!(
                            "it holds nothing, though the ratings journal beside it ({JOURNAL_FILE}) records changes"
                        ),
                    });
                }
                self.meta
                    .insert(FORMAT_KEY, &FORMAT_VERSION.to_be_bytes())
                    .map_err(|e| self.err(e))?;
                self.flush()?;
                Ok(None)
            }
            None => Err(Error::StoreFormat {
                path: self.path.clone(),
                found: 0,
                expected: FORMAT_VERSION,
            }),
        }
    }

    /// Writes everything to disk now.
    pub fn flush(&self) -> Result<()> {
        self.db.flush().map(|_| ()).map_err(|e| self.err(e))
    }

    /// Bytes the store takes on disk.
    pub fn size_on_disk(&self) -> Result<u64> {
        self.db.size_on_disk().map_err(|e| self.err(e))
    }

    // ----- fingerprints and weights -------------------------------------------------

    /// The fingerprint stored for `backbone`, if any.
    pub fn fingerprint(&self, backbone: &BackboneId) -> Result<Option<Fingerprint>> {
        self.get_meta_json(&format!("fingerprint/{}", backbone.key()))
    }

    /// Every backbone the store has a fingerprint for, in registry order.
    /// A key this artlens does not know (written by a newer version) is an
    /// error naming it rather than a silently hidden backbone.
    pub fn backbones(&self) -> Result<Vec<BackboneId>> {
        let mut out = Vec::new();
        for kv in self.meta.scan_prefix(b"fingerprint/") {
            let (k, _) = kv.map_err(|e| self.err(e))?;
            let key = String::from_utf8_lossy(&k["fingerprint/".len()..]).into_owned();
            out.push(BackboneId::parse(&key).map_err(|e| {
                self.corrupt(format!(
                    "the store holds embeddings of `{key}`, which this artlens does not know ({e}); use the artlens version that wrote it"
                ))
            })?);
        }
        out.sort();
        Ok(out)
    }

    /// Checks `fp` against the fingerprint stored for its model.
    ///
    /// Records it when none is stored. When another one is stored: with
    /// `rebuild`, deletes the model's embeddings, then stores `fp` (in that
    /// order, so a crash in between leaves no embedding under a fingerprint
    /// it was not made with) and returns [`FingerprintCheck::Replaced`];
    /// without, fails with [`Error::FingerprintMismatch`] listing the
    /// differences.
    pub fn ensure_fingerprint(&self, fp: &Fingerprint, rebuild: bool) -> Result<FingerprintCheck> {
        let _guard = self.lock();
        let key = format!("fingerprint/{}", fp.backbone.key());
        let stored: std::result::Result<Option<Fingerprint>, String> =
            match self.meta.get(key.as_bytes()) {
                Err(e) => return Err(self.err(e)),
                Ok(None) => Ok(None),
                Ok(Some(v)) => serde_json::from_slice(&v)
                    .map(Some)
                    .map_err(|e| e.to_string()),
            };
        match stored {
            Ok(Some(old)) if &old == fp => Ok(FingerprintCheck::Unchanged),
            Ok(None) => {
                self.put_meta_json(&key, fp)?;
                self.flush()?;
                Ok(FingerprintCheck::Recorded)
            }
            other => {
                let differences = match &other {
                    Ok(Some(old)) => old.differences(fp).join(", "),
                    Err(why) => format!("stored fingerprint unreadable: {why}"),
                    Ok(None) => unreachable!(),
                };
                if !rebuild {
                    return Err(Error::FingerprintMismatch {
                        path: self.path.clone(),
                        model: fp.backbone.to_string(),
                        differences,
                    });
                }
                let removed_embeddings = self.clear_embeddings_locked(&fp.backbone)?;
                self.put_meta_json(&key, fp)?;
                self.flush()?;
                Ok(FingerprintCheck::Replaced { removed_embeddings })
            }
        }
    }

    /// Deletes every embedding of `model` (one atomic batch) and returns how
    /// many there were; the fingerprint stays. For a forced re-embed.
    pub fn clear_embeddings(&self, model: &BackboneId) -> Result<usize> {
        let _guard = self.lock();
        self.clear_embeddings_locked(model)
    }

    fn clear_embeddings_locked(&self, model: &BackboneId) -> Result<usize> {
        let mut batch = sled::Batch::default();
        let mut n = 0;
        for kv in self.items.scan_prefix(embedding_prefix(model)) {
            let (k, _) = kv.map_err(|e| self.err(e))?;
            batch.remove(k);
            n += 1;
        }
        self.items.apply_batch(batch).map_err(|e| self.err(e))?;
        self.flush()?;
        Ok(n)
    }

    /// Remembers where `model`'s weights were found.
    pub fn set_weights_location(&self, model: &BackboneId, files: &CheckpointFiles) -> Result<()> {
        self.put_meta_json(&format!("weights/{}", model.key()), files)?;
        self.flush()
    }

    /// Where `model`'s weights were last found.
    pub fn weights_location(&self, model: &BackboneId) -> Result<Option<CheckpointFiles>> {
        self.get_meta_json(&format!("weights/{}", model.key()))
    }

    /// The shard of the collection this store holds (`index --shard I/N`),
    /// or `None` for a whole collection.
    pub fn shard(&self) -> Result<Option<Shard>> {
        self.get_meta_json(SHARD_KEY)
    }

    /// Records which shard of its collection the store holds (`None`: all of it).
    pub(crate) fn set_shard(&self, shard: Option<Shard>) -> Result<()> {
        match shard {
            Some(s) => self.put_meta_json(SHARD_KEY, &s)?,
            None => {
                self.meta
                    .remove(SHARD_KEY.as_bytes())
                    .map_err(|e| self.err(e))?;
            }
        }
        self.flush()
    }

    // ----- collection roots ---------------------------------------------------------

    fn load_roots(&self) -> Result<()> {
        let mut roots = BTreeMap::new();
        for kv in self.items.scan_prefix(b"r/") {
            let (k, v) = kv.map_err(|e| self.err(e))?;
            let id = <[u8; 8]>::try_from(&k[2..])
                .map(u64::from_be_bytes)
                .map_err(|_| self.corrupt("a root record has a malformed key".into()))?;
            roots.insert(id, String::from_utf8_lossy(&v).into_owned());
        }
        *self.roots.write().unwrap_or_else(|p| p.into_inner()) = roots;
        Ok(())
    }

    /// The collection roots, by id.
    pub fn roots(&self) -> Vec<Root> {
        self.roots
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(&id, path)| Root {
                id,
                path: path.clone(),
            })
            .collect()
    }

    /// Records `dir` (absolute) as a collection root and returns its id; an
    /// already recorded root keeps its id. Paths stored without a root that
    /// lie under `dir` (from a migrated store) are rewritten relative to it
    /// in the same batch.
    pub fn add_root(&self, dir: &str) -> Result<u64> {
        let _guard = self.lock();
        if let Some(r) = self.roots().into_iter().find(|r| r.path == dir) {
            return Ok(r.id);
        }
        let id = match self.items.get(NEXT_ROOT_KEY).map_err(|e| self.err(e))? {
            None => 1,
            Some(v) => <[u8; 8]>::try_from(v.as_ref())
                .map(u64::from_be_bytes)
                .map_err(|_| self.corrupt("the root counter is not 8 bytes".into()))?,
        };
        let mut batch = sled::Batch::default();
        batch.insert(root_key(id), dir.as_bytes());
        batch.insert(NEXT_ROOT_KEY, &(id + 1).to_be_bytes());
        // Adopt rootless paths under the new root.
        let prefix = format!("{}/", dir.trim_end_matches('/'));
        for kv in self.items.scan_prefix(b"a/") {
            let (k, v) = kv.map_err(|e| self.err(e))?;
            let hash = String::from_utf8_lossy(&k[2..]).into_owned();
            let mut stored = self.parse_stored(&hash, &v)?;
            let mut changed = false;
            for (root, rel) in stored.paths.iter_mut() {
                if *root == NO_ROOT {
                    if let Some(r) = rel.strip_prefix(&prefix) {
                        batch.remove(path_key_raw(NO_ROOT, rel));
                        *rel = r.to_string();
                        *root = id;
                        batch.insert(path_key_raw(id, rel), hash.as_bytes());
                        changed = true;
                    }
                }
            }
            if changed {
                batch.insert(k, to_json(&stored)?);
            }
        }
        self.items.apply_batch(batch).map_err(|e| self.err(e))?;
        self.flush()?;
        self.roots
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, dir.to_string());
        Ok(id)
    }

    /// Points root `id` at folder `dir`: every work indexed under the root
    /// now resolves under `dir` (the collection was moved). One record.
    pub(crate) fn move_root(&self, id: u64, dir: &str) -> Result<()> {
        let _guard = self.lock();
        if !self
            .roots
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(&id)
        {
            return Err(self.corrupt(format!("no collection root {id}")));
        }
        self.items
            .insert(root_key(id), dir.as_bytes())
            .map_err(|e| self.err(e))?;
        self.flush()?;
        self.roots
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, dir.to_string());
        Ok(())
    }

    /// The stored relative paths under root `id`, with their hashes.
    pub(crate) fn paths_under_root(&self, id: u64) -> Result<Vec<(String, String)>> {
        let prefix = format!("p/{id}/");
        let mut out = Vec::new();
        for kv in self.items.scan_prefix(prefix.as_bytes()) {
            let (k, v) = kv.map_err(|e| self.err(e))?;
            out.push((
                String::from_utf8_lossy(&k[prefix.len()..]).into_owned(),
                String::from_utf8_lossy(&v).into_owned(),
            ));
        }
        Ok(out)
    }

    /// `path` (absolute) as (root, relative path): under the deepest
    /// recorded root that contains it, else as given under no root.
    fn encode_path(&self, path: &str) -> (u64, String) {
        let roots = self.roots.read().unwrap_or_else(|p| p.into_inner());
        let mut best: Option<(u64, &str)> = None;
        for (id, root) in roots.iter() {
            let prefix = format!("{}/", root.trim_end_matches('/'));
            if let Some(rel) = path.strip_prefix(&prefix) {
                if best.is_none_or(|(_, r)| r.len() < root.len()) && !rel.is_empty() {
                    best = Some((*id, root.as_str()));
                }
            }
        }
        match best {
            Some((id, root)) => {
                let prefix = format!("{}/", root.trim_end_matches('/'));
                (id, path[prefix.len()..].to_string())
            }
            None => (NO_ROOT, path.to_string()),
        }
    }

    /// The absolute form of a stored (root, relative path).
    fn decode_path(&self, root: u64, rel: &str) -> String {
        if root == NO_ROOT {
            return rel.to_string();
        }
        let roots = self.roots.read().unwrap_or_else(|p| p.into_inner());
        match roots.get(&root) {
            Some(r) => format!("{}/{rel}", r.trim_end_matches('/')),
            None => rel.to_string(),
        }
    }

    /// The path of `abs` relative to its collection root, if it has one.
    pub(crate) fn relative_path(&self, abs: &str) -> Option<String> {
        match self.encode_path(abs) {
            (NO_ROOT, _) => None,
            (_, rel) => Some(rel),
        }
    }

    fn path_key(&self, path: &str) -> Vec<u8> {
        let (root, rel) = self.encode_path(path);
        path_key_raw(root, &rel)
    }

    fn encode_artwork(&self, a: &Artwork) -> Result<Vec<u8>> {
        to_json(&StoredArtwork {
            id: a.id,
            hash: a.hash.clone(),
            paths: a.paths.iter().map(|p| self.encode_path(p)).collect(),
            size: a.size,
            width: a.width,
            height: a.height,
            metadata: a.metadata.clone(),
        })
    }

    fn parse_stored(&self, hash: &str, bytes: &[u8]) -> Result<StoredArtwork> {
        serde_json::from_slice(bytes)
            .map_err(|e| self.corrupt(format!("artwork record of {hash}: {e}")))
    }

    // ----- writing artworks -------------------------------------------------------

    /// Records an image and its embeddings in one atomic batch, and returns
    /// its numeric id.
    ///
    /// A new hash gets the next id (the counter moves in the same batch); a
    /// known one keeps its id, gains the new paths, takes `size`, `width`,
    /// `height` from `art` and merges `art.metadata` over the stored one.
    /// Embeddings replace stored ones for the same model. Paths given here are
    /// taken away from any other content recorded at them, and failure records
    /// for these paths and for this hash are removed.
    ///
    /// Rejected with [`Error::InvalidArgument`], before anything is written:
    /// a hash that is not 64 lower-case hex digits, an embedding with a NaN,
    /// an infinity or zero norm, an embedding for a model without a stored
    /// fingerprint or of another length than it says.
    pub fn record_image(
        &self,
        art: &NewArtwork,
        embeddings: &[(&BackboneId, &[f32])],
    ) -> Result<u64> {
        check_hash(&art.hash)?;
        // Checked under the lock, so a concurrent `ensure_fingerprint` cannot
        // swap the fingerprint between the check and the write.
        let _guard = self.lock();
        for (model, v) in embeddings {
            self.check_embedding(model, &art.hash, v)?;
        }
        let mut batch = sled::Batch::default();
        let existing = self.artwork(&art.hash)?;
        let mut artwork = match existing {
            Some(mut old) => {
                old.size = art.size;
                old.width = art.width;
                old.height = art.height;
                old.metadata
                    .extend(art.metadata.iter().map(|(k, v)| (k.clone(), v.clone())));
                old
            }
            None => {
                let id = self.next_id()?;
                batch.insert(id_key(id), art.hash.as_bytes());
                batch.insert(NEXT_ID_KEY, &(id + 1).to_be_bytes());
                Artwork {
                    id,
                    hash: art.hash.clone(),
                    paths: Vec::new(),
                    size: art.size,
                    width: art.width,
                    height: art.height,
                    metadata: art.metadata.clone(),
                }
            }
        };
        for p in &art.paths {
            if !artwork.paths.contains(p) {
                artwork.paths.push(p.clone());
            }
        }
        let mut others = HashMap::new();
        self.claim_paths(&mut batch, &art.hash, &art.paths, &mut others)?;
        self.write_others(&mut batch, others)?;
        self.clear_failures_into(&mut batch, Some(&art.hash), &artwork.paths)?;
        for (model, v) in embeddings {
            batch.insert(
                embedding_key(model, &art.hash),
                encode_embedding(artwork.id, v),
            );
        }
        batch.insert(artwork_key(&art.hash), self.encode_artwork(&artwork)?);
        self.items.apply_batch(batch).map_err(|e| self.err(e))?;
        Ok(artwork.id)
    }

    /// Adds a path (a renamed or duplicated file) to a stored artwork, without
    /// re-embedding. Takes the path away from other content and removes a
    /// failure record for it. [`Error::WorkNotFound`] when the hash is not stored.
    pub fn add_path(&self, hash: &str, path: &str) -> Result<()> {
        let _guard = self.lock();
        let mut art = self.require_artwork(hash)?;
        let mut batch = sled::Batch::default();
        let paths = vec![path.to_string()];
        if !art.paths.iter().any(|p| p == path) {
            art.paths.push(path.to_string());
        }
        let mut others = HashMap::new();
        self.claim_paths(&mut batch, hash, &paths, &mut others)?;
        self.write_others(&mut batch, others)?;
        self.clear_failures_into(&mut batch, None, &paths)?;
        batch.insert(artwork_key(hash), self.encode_artwork(&art)?);
        self.items.apply_batch(batch).map_err(|e| self.err(e))?;
        self.flush()
    }

    /// Replaces the paths of a stored artwork (for example after `--prune`
    /// found some gone). Paths dropped here no longer find this artwork.
    pub fn set_paths(&self, hash: &str, paths: Vec<String>) -> Result<()> {
        let _guard = self.lock();
        let mut art = self.require_artwork(hash)?;
        let mut batch = sled::Batch::default();
        for old in &art.paths {
            if !paths.contains(old) && self.path_hash(old)?.as_deref() == Some(hash) {
                batch.remove(self.path_key(old));
            }
        }
        let mut unique: Vec<String> = Vec::with_capacity(paths.len());
        for p in paths {
            if !unique.contains(&p) {
                unique.push(p);
            }
        }
        let mut others = HashMap::new();
        self.claim_paths(&mut batch, hash, &unique, &mut others)?;
        self.write_others(&mut batch, others)?;
        art.paths = unique;
        batch.insert(artwork_key(hash), self.encode_artwork(&art)?);
        self.items.apply_batch(batch).map_err(|e| self.err(e))?;
        self.flush()
    }

    /// Merges metadata into stored artworks, all in one batch (a CSV import is
    /// all or nothing). Hashes not in the store are skipped; returns how many
    /// artworks were updated.
    pub fn merge_metadata(&self, updates: &HashMap<String, Metadata>) -> Result<usize> {
        let _guard = self.lock();
        let mut batch = sled::Batch::default();
        let mut n = 0;
        for (hash, meta) in updates {
            let Some(mut art) = self.artwork(hash)? else {
                continue;
            };
            art.metadata
                .extend(meta.iter().map(|(k, v)| (k.clone(), v.clone())));
            batch.insert(artwork_key(hash), self.encode_artwork(&art)?);
            n += 1;
        }
        self.items.apply_batch(batch).map_err(|e| self.err(e))?;
        self.flush()?;
        Ok(n)
    }

    /// Removes an artwork and all its embeddings atomically (for `--prune`)
    /// and returns the id it had. The id is never given out again. Failure
    /// records are kept (they are keyed by path; see [`Store::clear_failure`]).
    pub fn remove_artwork(&self, hash: &str) -> Result<Option<u64>> {
        let _guard = self.lock();
        let Some(art) = self.artwork(hash)? else {
            return Ok(None);
        };
        let mut batch = sled::Batch::default();
        batch.remove(artwork_key(hash));
        batch.remove(id_key(art.id));
        for model in self.backbones()? {
            batch.remove(embedding_key(&model, hash));
        }
        for p in &art.paths {
            if self.path_hash(p)?.as_deref() == Some(hash) {
                batch.remove(self.path_key(p));
            }
        }
        self.items.apply_batch(batch).map_err(|e| self.err(e))?;
        self.flush()?;
        Ok(Some(art.id))
    }

    /// Points `paths` at `hash` in `batch`, taking each away from the content
    /// it pointed to before (collected in `others`, written by `write_others`).
    fn claim_paths(
        &self,
        batch: &mut sled::Batch,
        hash: &str,
        paths: &[String],
        others: &mut HashMap<String, Artwork>,
    ) -> Result<()> {
        for p in paths {
            if let Some(prev) = self.path_hash(p)? {
                if prev != hash {
                    if !others.contains_key(&prev) {
                        if let Some(a) = self.artwork(&prev)? {
                            others.insert(prev.clone(), a);
                        }
                    }
                    if let Some(a) = others.get_mut(&prev) {
                        a.paths.retain(|q| q != p);
                    }
                }
            }
            batch.insert(self.path_key(p), hash.as_bytes());
        }
        Ok(())
    }

    fn write_others(
        &self,
        batch: &mut sled::Batch,
        others: HashMap<String, Artwork>,
    ) -> Result<()> {
        for (h, a) in others {
            batch.insert(artwork_key(&h), self.encode_artwork(&a)?);
        }
        Ok(())
    }

    /// Adds to `batch` the removal of failure records at `paths` and, with a
    /// hash, of every failure recorded for that hash.
    fn clear_failures_into(
        &self,
        batch: &mut sled::Batch,
        hash: Option<&str>,
        paths: &[String],
    ) -> Result<()> {
        for p in paths {
            if let Some(rec) = self.failure(p)? {
                batch.remove(failure_key(p));
                if let Some(h) = &rec.hash {
                    batch.remove(failure_hash_key(h, p));
                }
            }
        }
        if let Some(h) = hash {
            let prefix = format!("g/{h}/");
            for kv in self.items.scan_prefix(prefix.as_bytes()) {
                let (k, _) = kv.map_err(|e| self.err(e))?;
                let path = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
                batch.remove(failure_key(&path));
                batch.remove(k);
            }
        }
        Ok(())
    }

    fn next_id(&self) -> Result<u64> {
        match self.items.get(NEXT_ID_KEY).map_err(|e| self.err(e))? {
            None => Ok(FIRST_ID),
            Some(v) => <[u8; 8]>::try_from(v.as_ref())
                .map(u64::from_be_bytes)
                .map_err(|_| self.corrupt("the id counter is not 8 bytes".into())),
        }
    }

    fn check_embedding(&self, model: &BackboneId, hash: &str, v: &[f32]) -> Result<()> {
        let Some(fp) = self.fingerprint(model)? else {
            return Err(Error::InvalidArgument(format!(
                "{hash}: no fingerprint is stored for {model}; record one (ensure_fingerprint) before its embeddings"
            )));
        };
        if v.len() != fp.dim {
            return Err(Error::InvalidArgument(format!(
                "{hash}: {model} embedding has {} values, the fingerprint says {}",
                v.len(),
                fp.dim
            )));
        }
        crate::vector::check(v)
            .map_err(|why| Error::InvalidArgument(format!("{hash}: {model} embedding {why}")))
    }

    // ----- reading ------------------------------------------------------------------

    /// True when an embedding of `model` is stored for `hash`.
    pub fn has_embedding(&self, model: &BackboneId, hash: &str) -> Result<bool> {
        self.items
            .contains_key(embedding_key(model, hash))
            .map_err(|e| self.err(e))
    }

    /// The embedding of `model` for `hash`, checksum verified ([`Error::Store`]
    /// naming the hash when it does not match).
    pub fn embedding(&self, model: &BackboneId, hash: &str) -> Result<Option<Vec<f32>>> {
        match self
            .items
            .get(embedding_key(model, hash))
            .map_err(|e| self.err(e))?
        {
            None => Ok(None),
            Some(v) => decode_embedding(&v)
                .map(|(_, floats)| Some(floats))
                .ok_or_else(|| {
                    self.corrupt(format!(
                        "{model} embedding of {hash} fails its checksum; re-index it"
                    ))
                }),
        }
    }

    /// Every embedding of `model` as `(id, hash, vector)`, sorted by id,
    /// checksums verified.
    pub fn embeddings(&self, model: &BackboneId) -> Result<Vec<(u64, String, Vec<f32>)>> {
        let prefix = embedding_prefix(model);
        let mut out = Vec::new();
        for kv in self.items.scan_prefix(&prefix) {
            let (k, v) = kv.map_err(|e| self.err(e))?;
            let hash = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
            let (id, floats) = decode_embedding(&v).ok_or_else(|| {
                self.corrupt(format!(
                    "{model} embedding of {hash} fails its checksum; re-index it"
                ))
            })?;
            out.push((id, hash, floats));
        }
        out.sort_by_key(|e| e.0);
        Ok(out)
    }

    /// The artwork with this content hash.
    pub fn artwork(&self, hash: &str) -> Result<Option<Artwork>> {
        match self.items.get(artwork_key(hash)).map_err(|e| self.err(e))? {
            None => Ok(None),
            Some(v) => self.parse_artwork(hash, &v).map(Some),
        }
    }

    /// The artwork with this numeric id.
    pub fn artwork_by_id(&self, id: u64) -> Result<Option<Artwork>> {
        match self.items.get(id_key(id)).map_err(|e| self.err(e))? {
            None => Ok(None),
            Some(h) => self.artwork(&String::from_utf8_lossy(&h)),
        }
    }

    /// Every artwork, sorted by id.
    pub fn artworks(&self) -> Result<Vec<Artwork>> {
        let mut out = Vec::new();
        for kv in self.items.scan_prefix(b"a/") {
            let (k, v) = kv.map_err(|e| self.err(e))?;
            out.push(self.parse_artwork(&String::from_utf8_lossy(&k[2..]), &v)?);
        }
        out.sort_by_key(|a| a.id);
        Ok(out)
    }

    /// The hash last recorded at `path`, if any.
    pub fn path_hash(&self, path: &str) -> Result<Option<String>> {
        Ok(self
            .items
            .get(self.path_key(path))
            .map_err(|e| self.err(e))?
            .map(|h| String::from_utf8_lossy(&h).into_owned()))
    }

    /// Finds an artwork from what a user typed: a numeric id, a content hash
    /// or a unique prefix of one (at least 4 hex digits), a stored path (as
    /// stored, or as the query resolves on disk), or a path relative to a
    /// collection root. An id wins over a hash prefix made of the same
    /// digits. [`Error::WorkNotFound`] says what was tried,
    /// [`Error::AmbiguousWork`] lists the candidates of an ambiguous prefix.
    /// [`crate::works`] adds file names and path endings on top.
    pub fn find(&self, query: &str) -> Result<Artwork> {
        let q = query.trim();
        let mut tried = Vec::new();
        if let Ok(id) = q.parse::<u64>() {
            tried.push("numeric id");
            if let Some(a) = self.artwork_by_id(id)? {
                return Ok(a);
            }
        }
        let lower = q.to_ascii_lowercase();
        if lower.len() >= 4 && lower.len() <= 64 && lower.bytes().all(|b| b.is_ascii_hexdigit()) {
            tried.push("content hash prefix");
            let mut matches = Vec::new();
            for kv in self.items.scan_prefix(artwork_key(&lower)) {
                let (k, v) = kv.map_err(|e| self.err(e))?;
                matches.push(self.parse_artwork(&String::from_utf8_lossy(&k[2..]), &v)?);
                if matches.len() > 5 {
                    break;
                }
            }
            match matches.len() {
                0 => {}
                1 => return Ok(matches.remove(0)),
                n => {
                    return Err(Error::AmbiguousWork {
                        query: q.to_string(),
                        count: n,
                        candidates: describe_candidates(&matches),
                    })
                }
            }
        }
        tried.push("stored path");
        let mut candidates = vec![q.to_string()];
        if let Ok(canonical) = std::fs::canonicalize(q) {
            candidates.push(canonical.to_string_lossy().into_owned());
        }
        if !q.starts_with('/') {
            tried.push("path relative to a collection root");
            for root in self.roots() {
                candidates.push(format!(
                    "{}/{}",
                    root.path.trim_end_matches('/'),
                    q.trim_start_matches("./")
                ));
            }
        }
        for c in candidates {
            if let Some(h) = self.path_hash(&c)? {
                if let Some(a) = self.artwork(&h)? {
                    return Ok(a);
                }
            }
        }
        Err(Error::WorkNotFound {
            query: q.to_string(),
            store: self.path.clone(),
            tried: tried.join(", "),
        })
    }

    // ----- failures -----------------------------------------------------------------

    /// Records that the file at `path` could not be indexed (replacing an
    /// earlier record for that path).
    pub fn record_failure(&self, path: &str, hash: Option<&str>, reason: &str) -> Result<()> {
        let _guard = self.lock();
        let mut batch = sled::Batch::default();
        if let Some(old) = self.failure(path)? {
            if let Some(h) = old.hash {
                batch.remove(failure_hash_key(&h, path));
            }
        }
        let rec = FailureRecord {
            path: path.to_string(),
            hash: hash.map(str::to_string),
            reason: reason.to_string(),
            time: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        };
        if let Some(h) = hash {
            batch.insert(failure_hash_key(h, path), &[] as &[u8]);
        }
        batch.insert(failure_key(path), to_json(&rec)?);
        self.items.apply_batch(batch).map_err(|e| self.err(e))
    }

    /// The failure recorded for `path`, if any.
    pub fn failure(&self, path: &str) -> Result<Option<FailureRecord>> {
        match self.items.get(failure_key(path)).map_err(|e| self.err(e))? {
            None => Ok(None),
            Some(v) => serde_json::from_slice(&v)
                .map(Some)
                .map_err(|e| self.corrupt(format!("failure record of {path}: {e}"))),
        }
    }

    /// A failure recorded for content `hash` in an earlier run, if any (the
    /// first by path): `index` skips such content unless asked to retry it,
    /// so that one bad file does not fail every later run.
    pub(crate) fn failure_of_hash(&self, hash: &str) -> Result<Option<FailureRecord>> {
        let prefix = format!("g/{hash}/");
        for kv in self.items.scan_prefix(prefix.as_bytes()) {
            let (k, _) = kv.map_err(|e| self.err(e))?;
            let path = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
            if let Some(rec) = self.failure(&path)? {
                return Ok(Some(rec));
            }
        }
        Ok(None)
    }

    /// Every failure record, sorted by path.
    pub fn failures(&self) -> Result<Vec<FailureRecord>> {
        let mut out = Vec::new();
        for kv in self.items.scan_prefix(b"f/") {
            let (k, v) = kv.map_err(|e| self.err(e))?;
            let rec: FailureRecord = serde_json::from_slice(&v).map_err(|e| {
                self.corrupt(format!(
                    "failure record of {}: {e}",
                    String::from_utf8_lossy(&k[2..])
                ))
            })?;
            out.push(rec);
        }
        Ok(out)
    }

    /// Removes the failure record for `path`; true when there was one.
    pub fn clear_failure(&self, path: &str) -> Result<bool> {
        let _guard = self.lock();
        let mut batch = sled::Batch::default();
        let found = self.failure(path)?.is_some();
        self.clear_failures_into(&mut batch, None, &[path.to_string()])?;
        self.items.apply_batch(batch).map_err(|e| self.err(e))?;
        if found {
            self.flush()?;
        }
        Ok(found)
    }

    /// How many artworks, embeddings per model and failures the store holds.
    pub fn counts(&self) -> Result<StoreCounts> {
        let count = |prefix: &[u8]| -> Result<usize> {
            let mut n = 0;
            for kv in self.items.scan_prefix(prefix) {
                kv.map_err(|e| self.err(e))?;
                n += 1;
            }
            Ok(n)
        };
        let mut embeddings = BTreeMap::new();
        for model in self.backbones()? {
            embeddings.insert(model.name(), count(&embedding_prefix(&model))?);
        }
        Ok(StoreCounts {
            artworks: count(b"a/")?,
            embeddings,
            failures: count(b"f/")?,
        })
    }

    // ----- key-value escape hatch ---------------------------------------------------

    /// A sled tree for another concern (ratings, trained heads, ANN
    /// metadata). `items` and `meta` belong to the store and are refused.
    /// One `Batch` on one tree is atomic.
    pub fn tree(&self, name: &str) -> Result<sled::Tree> {
        if name == ITEMS || name == META || name.starts_with("__sled") {
            return Err(Error::InvalidArgument(format!(
                "tree `{name}` is reserved by the store"
            )));
        }
        self.db.open_tree(name).map_err(|e| self.err(e))
    }

    /// Stores `value` as JSON under `key` in tree `tree`.
    pub fn put_json<T: Serialize + ?Sized>(&self, tree: &str, key: &str, value: &T) -> Result<()> {
        self.tree(tree)?
            .insert(key.as_bytes(), to_json(value)?)
            .map_err(|e| self.err(e))?;
        self.flush()
    }

    /// Reads the JSON value under `key` in tree `tree`.
    pub fn get_json<T: DeserializeOwned>(&self, tree: &str, key: &str) -> Result<Option<T>> {
        match self
            .tree(tree)?
            .get(key.as_bytes())
            .map_err(|e| self.err(e))?
        {
            None => Ok(None),
            Some(v) => serde_json::from_slice(&v)
                .map(Some)
                .map_err(|e| self.corrupt(format!("{tree}/{key}: {e}"))),
        }
    }

    /// Removes `key` from tree `tree`; true when it was there.
    pub fn remove_key(&self, tree: &str, key: &str) -> Result<bool> {
        let removed = self
            .tree(tree)?
            .remove(key.as_bytes())
            .map_err(|e| self.err(e))?
            .is_some();
        if removed {
            self.flush()?;
        }
        Ok(removed)
    }

    /// Every `(key, value)` under `prefix` in tree `tree`, in key order.
    pub fn scan_json<T: DeserializeOwned>(
        &self,
        tree: &str,
        prefix: &str,
    ) -> Result<Vec<(String, T)>> {
        let mut out = Vec::new();
        for kv in self.tree(tree)?.scan_prefix(prefix.as_bytes()) {
            let (k, v) = kv.map_err(|e| self.err(e))?;
            let key = String::from_utf8_lossy(&k).into_owned();
            let value = serde_json::from_slice(&v)
                .map_err(|e| self.corrupt(format!("{tree}/{key}: {e}")))?;
            out.push((key, value));
        }
        Ok(out)
    }

    // ----- helpers ------------------------------------------------------------------

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        // A panic while holding the lock cannot leave a half-written batch
        // (batches are applied whole), so a poisoned lock is safe to reuse.
        self.write_lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn require_artwork(&self, hash: &str) -> Result<Artwork> {
        self.artwork(hash)?.ok_or_else(|| Error::WorkNotFound {
            query: hash.to_string(),
            store: self.path.clone(),
            tried: "content hash".into(),
        })
    }

    fn parse_artwork(&self, hash: &str, bytes: &[u8]) -> Result<Artwork> {
        let s = self.parse_stored(hash, bytes)?;
        Ok(Artwork {
            id: s.id,
            hash: s.hash,
            paths: s
                .paths
                .iter()
                .map(|(root, rel)| self.decode_path(*root, rel))
                .collect(),
            size: s.size,
            width: s.width,
            height: s.height,
            metadata: s.metadata,
        })
    }

    fn get_meta_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        match self.meta.get(key.as_bytes()).map_err(|e| self.err(e))? {
            None => Ok(None),
            Some(v) => serde_json::from_slice(&v)
                .map(Some)
                .map_err(|e| self.corrupt(format!("meta/{key}: {e}"))),
        }
    }

    fn put_meta_json<T: Serialize + ?Sized>(&self, key: &str, value: &T) -> Result<()> {
        self.meta
            .insert(key.as_bytes(), to_json(value)?)
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    fn err(&self, e: sled::Error) -> Error {
        store_error(&self.path, e)
    }

    fn corrupt(&self, reason: String) -> Error {
        Error::Store {
            path: self.path.clone(),
            reason,
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        // Best effort: an error here has nowhere to go, and sled's own
        // background flush has been running all along.
        let _ = self.db.flush();
        closed_here(&self.path);
    }
}

/// How long after this process closed a store its reopening waits for
/// sled to let go of the folder's lock.
const REOPEN_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// The stores this process closed, and when: sled releases a folder's
/// `flock` only when its background flusher thread has let go of the
/// database, a moment *after* the last handle was dropped, so a reopen in
/// the same process right after a close (a test, a server reloading) could
/// see its own old lock as "in use".
fn recently_closed() -> &'static Mutex<ClosedStores> {
    static CLOSED: std::sync::OnceLock<Mutex<ClosedStores>> = std::sync::OnceLock::new();
    CLOSED.get_or_init(Default::default)
}

/// Store folders (canonical) and when this process closed them.
type ClosedStores = HashMap<PathBuf, std::time::Instant>;

/// The store folders (canonical) open in this process right now: a second
/// opener of one of these fails at once, whatever `recently_closed` says.
fn open_here() -> &'static Mutex<HashMap<PathBuf, usize>> {
    static OPEN: std::sync::OnceLock<Mutex<HashMap<PathBuf, usize>>> = std::sync::OnceLock::new();
    OPEN.get_or_init(Default::default)
}

fn store_key(dir: &Path) -> PathBuf {
    std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf())
}

fn closed_here(dir: &Path) {
    let key = store_key(dir);
    if let Ok(mut open) = open_here().lock() {
        if let Some(n) = open.get_mut(&key) {
            *n -= 1;
            if *n == 0 {
                open.remove(&key);
            }
        }
    }
    if let Ok(mut m) = recently_closed().lock() {
        m.retain(|_, t| t.elapsed() < REOPEN_GRACE);
        m.insert(key, std::time::Instant::now());
    }
}

/// Opens sled in `dir`. A lock held by another process fails at once
/// ([`Error::StoreInUse`]); a lock this process itself held until a moment
/// ago (see [`recently_closed`]) is waited for, up to [`REOPEN_GRACE`].
fn open_sled(dir: &Path) -> Result<sled::Db> {
    let key = store_key(dir);
    loop {
        match sled::Config::new().path(dir).open() {
            Ok(db) => {
                if let Ok(mut open) = open_here().lock() {
                    *open.entry(key).or_default() += 1;
                }
                return Ok(db);
            }
            Err(e) => {
                let err = open_error(dir, e);
                let still_open = open_here().lock().is_ok_and(|m| m.contains_key(&key));
                let closed_at = recently_closed()
                    .lock()
                    .ok()
                    .and_then(|m| m.get(&key).copied())
                    .filter(|_| !still_open);
                match (&err, closed_at) {
                    (Error::StoreInUse { .. }, Some(t)) if t.elapsed() < REOPEN_GRACE => {
                        std::thread::sleep(std::time::Duration::from_millis(10));
                    }
                    _ => return Err(err),
                }
            }
        }
    }
}

/// Maps a sled error to the store's typed errors, never letting sled's
/// `Debug` formatting (`Os { code: 28, … }`, ` backtrace ()`) through: a full
/// disk is [`Error::NoSpace`], corruption is [`Error::StoreDamaged`] naming
/// `db` (sled found it while reading the log), an io error is shown through
/// its `Display`.
fn store_error(path: &Path, e: sled::Error) -> Error {
    match &e {
        sled::Error::Io(io) if is_no_space(io) => Error::NoSpace {
            path: path.to_path_buf(),
        },
        sled::Error::Corruption { .. } => Error::StoreDamaged {
            path: path.to_path_buf(),
            file: "db".into(),
            reason: scrub(&e),
        },
        _ => Error::Store {
            path: path.to_path_buf(),
            reason: scrub(&e),
        },
    }
}

/// Read-only media (`EROFS`) or a folder or file the user may not write
/// (`EACCES`, `EPERM`): sled opens its files for writing, so these fail
/// every open, reads included, on a store that is perfectly intact.
fn is_not_writable(io: &std::io::Error) -> bool {
    matches!(
        io.raw_os_error(),
        Some(libc::EROFS) | Some(libc::EACCES) | Some(libc::EPERM)
    ) || matches!(
        io.kind(),
        std::io::ErrorKind::ReadOnlyFilesystem | std::io::ErrorKind::PermissionDenied
    )
}

fn not_writable_reason(io: &std::io::Error) -> String {
    if io.raw_os_error() == Some(libc::EROFS) || io.kind() == std::io::ErrorKind::ReadOnlyFilesystem
    {
        "it is on read-only media".into()
    } else {
        "you may not write its folder or files".into()
    }
}

fn is_no_space(io: &std::io::Error) -> bool {
    io.raw_os_error() == Some(28) || io.kind() == std::io::ErrorKind::StorageFull
}

/// sled's message without its debug noise.
pub(crate) fn scrub(e: &sled::Error) -> String {
    let text = match e {
        sled::Error::Io(io) => io.to_string(),
        sled::Error::Corruption { at: None, .. } => "corrupted data".to_string(),
        sled::Error::Corruption { at: Some(at), .. } => {
            // `Inline(1245)` / `Blob(…)`: only the numbers mean anything here.
            let debug = format!("{at:?}");
            let offset: String = debug.chars().filter(char::is_ascii_digit).collect();
            if debug.starts_with("Inline") && !offset.is_empty() {
                format!("corrupted data at byte {offset}")
            } else {
                "corrupted data in a blob".to_string()
            }
        }
        other => other.to_string(),
    };
    scrub_debug(&text)
}

fn scrub_debug(s: &str) -> String {
    let s = s.replace(" backtrace ()", "");
    let s = s.strip_prefix("IO error: ").unwrap_or(&s).to_string();
    s.trim().to_string()
}

thread_local! {
    /// Set while this thread runs sled code under [`catch_sled_panic`].
    static CATCHING_SLED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// True while this thread runs sled code whose panic the store catches and
/// reports as [`Error::StoreDamaged`]: the binary's panic hook stays quiet
/// then, since the error says everything.
pub fn catching_sled_panic() -> bool {
    CATCHING_SLED.with(|c| c.get())
}

/// Runs `f` (which calls into sled on the store in `dir`), turning a panic
/// inside it into [`Error::StoreDamaged`] naming the file sled most likely
/// choked on.
fn catch_sled_panic<T>(dir: &Path, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let was = CATCHING_SLED.with(|c| c.replace(true));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    CATCHING_SLED.with(|c| c.set(was));
    result.unwrap_or_else(|payload| {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(Error::StoreDamaged {
            path: dir.to_path_buf(),
            file: doctor::damaged_file(dir),
            reason: sled_panic_reason(&what),
        })
    })
}

/// sled's panic message, in one short line without debug noise.
fn sled_panic_reason(what: &str) -> String {
    let first: String = what
        .lines()
        .next()
        .unwrap_or("")
        .chars()
        .take(160)
        .collect();
    let first = scrub_debug(&first);
    if first.is_empty() {
        "sled stopped while reading it".into()
    } else {
        format!("sled stopped while reading it: {first}")
    }
}

/// The file whose exclusive lock says "this process has the store open".
pub const OPEN_LOCK_FILE: &str = "open.lock";

/// Takes the store's open lock: an exclusive `flock` on `open.lock` in the
/// folder, held by the returned file. Another process holding it is
/// [`Error::StoreInUse`]; a process of this one that closed the store a
/// moment ago has released it already (unlike sled's lock, which lingers).
/// A folder where the file cannot be made (read-only media) gets no lock:
/// nothing can be written there, and sled's own lock still applies.
fn take_open_lock(dir: &Path) -> Result<Option<std::fs::File>> {
    use std::os::unix::io::AsRawFd;
    let path = dir.join(OPEN_LOCK_FILE);
    let file = match std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
    {
        Ok(f) => f,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
            ) =>
        {
            return Ok(None)
        }
        Err(e) => return Err(Error::io(&path, e)),
    };
    let key = store_key(dir);
    loop {
        // SAFETY: flock on a file descriptor this function owns.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc == 0 {
            return Ok(Some(file));
        }
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EWOULDBLOCK) {
            return Err(Error::io(&path, e));
        }
        // As in `open_sled`: a store this process is closing right now
        // lets go in a moment.
        let closing = recently_closed()
            .lock()
            .ok()
            .and_then(|m| m.get(&key).copied())
            .is_some_and(|t| t.elapsed() < REOPEN_GRACE);
        if !closing {
            return Err(Error::StoreInUse {
                path: dir.to_path_buf(),
            });
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Removes leftover `snap.*.generating` files that are empty or fail their
/// checksum: a snapshot sled was writing when it was interrupted (a full
/// disk, a kill). sled would otherwise read the newest one and refuse the
/// whole store with "corrupted data", although the log it summarises is
/// intact. A complete `.generating` file (only its rename was missed) is
/// kept. Returns one line per file removed.
fn recover_interrupted_snapshots(dir: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(out);
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !(name.starts_with("snap.") && name.ends_with(".generating")) {
            continue;
        }
        let path = entry.path();
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        if snapshot_is_whole(&bytes) {
            continue;
        }
        std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
        out.push(format!(
            "removed {name} ({} bytes), a snapshot that was interrupted (by a full disk?); the store's log is intact",
            bytes.len()
        ));
    }
    Ok(out)
}

/// True when a sled snapshot file ends with its length and a matching CRC-32
/// (sled 0.34.7's layout: bytes ‖ u64 length ‖ u32 crc32 of the bytes).
pub(crate) fn snapshot_is_whole(bytes: &[u8]) -> bool {
    let len = bytes.len();
    if len <= 12 {
        return false;
    }
    let crc = u32::from_le_bytes([
        bytes[len - 4],
        bytes[len - 3],
        bytes[len - 2],
        bytes[len - 1],
    ]);
    crc32(&bytes[..len - 12]) == crc
}

/// CRC-32 (IEEE), as sled computes it with crc32fast.
pub(crate) fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= b as u32;
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

/// Maps sled's lock failure to [`Error::StoreInUse`]. sled 0.34.7 wraps the
/// `flock` error (`WouldBlock`) into an `io::Error` of kind `Other` whose
/// message says "could not acquire lock"; both forms are recognised.
fn open_error(path: &Path, e: sled::Error) -> Error {
    if let sled::Error::Io(io) = &e {
        if io.kind() == std::io::ErrorKind::WouldBlock
            || io.to_string().contains("could not acquire lock")
        {
            // A server says where it is, so that the user can go there
            // instead of waiting for a lock that is not released.
            if let Some(by) = served_by(path) {
                return Error::StoreServed {
                    path: path.to_path_buf(),
                    url: by.url,
                    pid: by.pid,
                };
            }
            return Error::StoreInUse {
                path: path.to_path_buf(),
            };
        }
    }
    match &e {
        sled::Error::Io(io) if is_no_space(io) => store_error(path, e),
        sled::Error::Io(io) if is_not_writable(io) => Error::StoreNotWritable {
            path: path.to_path_buf(),
            reason: not_writable_reason(io),
        },
        sled::Error::Io(_)
        | sled::Error::Unsupported(_)
        | sled::Error::Corruption { .. }
        | sled::Error::ReportableBug(_) => Error::StoreDamaged {
            path: path.to_path_buf(),
            file: doctor::damaged_file(path),
            reason: scrub(&e),
        },
        _ => store_error(path, e),
    }
}

/// "#3 a1b2c3d4e5f6 /data/x.png, #9 a1b2… /data/y.png": what an ambiguous
/// name could mean.
pub(crate) fn describe_candidates(arts: &[Artwork]) -> String {
    let mut out: Vec<String> = arts
        .iter()
        .take(5)
        .map(|a| {
            format!(
                "#{} {} {}",
                a.id,
                &a.hash[..12.min(a.hash.len())],
                a.paths.first().map(String::as_str).unwrap_or("(no path)")
            )
        })
        .collect();
    if arts.len() > 5 {
        out.push("…".into());
    }
    out.join(", ")
}

fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value)
        .map_err(|e| Error::InvalidArgument(format!("cannot serialise record: {e}")))
}

fn check_hash(hash: &str) -> Result<()> {
    if hash.len() == 64 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "`{hash}` is not a content hash (64 lower-case hex digits)"
        )))
    }
}

fn artwork_key(hash: &str) -> Vec<u8> {
    format!("a/{hash}").into_bytes()
}

fn embedding_prefix(model: &BackboneId) -> Vec<u8> {
    format!("e/{}/", model.key()).into_bytes()
}

fn embedding_key(model: &BackboneId, hash: &str) -> Vec<u8> {
    format!("e/{}/{hash}", model.key()).into_bytes()
}

fn id_key(id: u64) -> Vec<u8> {
    let mut k = b"i/".to_vec();
    k.extend_from_slice(&id.to_be_bytes());
    k
}

fn path_key_raw(root: u64, rel: &str) -> Vec<u8> {
    format!("p/{root}/{rel}").into_bytes()
}

fn root_key(id: u64) -> Vec<u8> {
    let mut k = b"r/".to_vec();
    k.extend_from_slice(&id.to_be_bytes());
    k
}

fn failure_key(path: &str) -> Vec<u8> {
    format!("f/{path}").into_bytes()
}

fn failure_hash_key(hash: &str, path: &str) -> Vec<u8> {
    format!("g/{hash}/{path}").into_bytes()
}

fn embedding_checksum(dim: u32, id: u64, floats: &[u8]) -> blake3::Hash {
    let mut h = blake3::Hasher::new();
    h.update(&dim.to_le_bytes());
    h.update(&id.to_le_bytes());
    h.update(floats);
    h.finalize()
}

/// `dim ‖ id ‖ checksum ‖ floats`, all little-endian.
fn encode_embedding(id: u64, v: &[f32]) -> Vec<u8> {
    let dim = v.len() as u32;
    let mut floats = Vec::with_capacity(v.len() * 4);
    for x in v {
        floats.extend_from_slice(&x.to_le_bytes());
    }
    let mut out = Vec::with_capacity(EMBEDDING_HEADER + floats.len());
    out.extend_from_slice(&dim.to_le_bytes());
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(embedding_checksum(dim, id, &floats).as_bytes());
    out.extend_from_slice(&floats);
    out
}

/// The id and floats of an embedding record; `None` when it is truncated or
/// fails its checksum. Copies the floats out: sled's buffers are not aligned.
pub(crate) fn decode_embedding(bytes: &[u8]) -> Option<(u64, Vec<f32>)> {
    if bytes.len() < EMBEDDING_HEADER {
        return None;
    }
    let dim = u32::from_le_bytes(bytes[0..4].try_into().ok()?);
    let id = u64::from_le_bytes(bytes[4..12].try_into().ok()?);
    let floats = &bytes[EMBEDDING_HEADER..];
    if floats.len() != dim as usize * 4 {
        return None;
    }
    if embedding_checksum(dim, id, floats).as_bytes() != &bytes[12..44] {
        return None;
    }
    let v = floats
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Some((id, v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedding_record_round_trips_bit_exactly() {
        let v = vec![1.0f32, -0.0, f32::MIN_POSITIVE, 3.4e38, 1e-42];
        let bytes = encode_embedding(42, &v);
        let (id, back) = decode_embedding(&bytes).unwrap();
        assert_eq!(id, 42);
        let bits: Vec<u32> = v.iter().map(|x| x.to_bits()).collect();
        let back_bits: Vec<u32> = back.iter().map(|x| x.to_bits()).collect();
        assert_eq!(bits, back_bits);
    }

    #[test]
    fn embedding_record_detects_damage() {
        let bytes = encode_embedding(7, &[0.5, 0.25, 0.125]);
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x10;
            assert!(
                decode_embedding(&bad).is_none(),
                "flip at byte {i} went unnoticed"
            );
        }
        assert!(decode_embedding(&bytes[..bytes.len() - 1]).is_none());
    }

    #[test]
    fn hashes_are_checked() {
        assert!(check_hash(&"a".repeat(64)).is_ok());
        assert!(check_hash(&"A".repeat(64)).is_err());
        assert!(check_hash("abc").is_err());
        assert!(check_hash(&format!("{}/", "a".repeat(63))).is_err());
    }

    /// Issue 26, item 15: read-only media and folders the user may not
    /// write are "not writable", never "damaged" with salvage advice.
    #[test]
    fn a_store_that_cannot_be_written_is_not_called_damaged() {
        let dir = Path::new("/media/ro/store");
        for (code, says) in [
            (libc::EROFS, "read-only"),
            (libc::EACCES, "may not write"),
            (libc::EPERM, "may not write"),
        ] {
            let e = open_error(
                dir,
                sled::Error::Io(std::io::Error::from_raw_os_error(code)),
            );
            assert!(matches!(e, Error::StoreNotWritable { .. }), "{e:?}");
            let msg = e.to_string();
            assert!(msg.contains(says) && msg.contains("not writable"), "{msg}");
            assert!(msg.contains("/media/ro/store"), "{msg}");
            assert!(
                !msg.contains("store is damaged") && !msg.contains("doctor"),
                "{msg}"
            );
        }
        // Other I/O errors of an open still mean a damaged store.
        let e = open_error(
            dir,
            sled::Error::Io(std::io::Error::from_raw_os_error(libc::EIO)),
        );
        assert!(matches!(e, Error::StoreDamaged { .. }), "{e:?}");
    }

    /// Issue 26, item 5: a panic inside sled while it recovers a damaged
    /// store is an ordinary [`Error::StoreDamaged`], and the binary's panic
    /// hook is told to stay quiet while it is caught.
    #[test]
    fn a_panic_inside_sled_is_a_damaged_store() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!catching_sled_panic());
        let e = catch_sled_panic(dir.path(), || -> Result<()> {
            assert!(catching_sled_panic());
            panic!("assertion failed: lsn >= iter.max_lsn backtrace ()\nsecond line");
        })
        .unwrap_err();
        assert!(!catching_sled_panic());
        match &e {
            Error::StoreDamaged { file, reason, .. } => {
                assert_eq!(file, "conf", "no conf: sled's config is what is missing");
                assert!(reason.contains("assertion failed: lsn"), "{reason}");
                assert!(!reason.contains("backtrace") && !reason.contains("second line"));
            }
            other => panic!("{other:?}"),
        }
        assert!(e.to_string().contains("doctor --store"), "{e}");
        // No panic: the closure's own result comes through.
        assert_eq!(catch_sled_panic(dir.path(), || Ok(7)).unwrap(), 7);
    }

    #[test]
    fn id_keys_sort_numerically() {
        assert!(id_key(255) < id_key(256));
        assert!(id_key(1) < id_key(1 << 40));
    }
}

/// The file `artlens serve` writes into the store folder while it holds the
/// store, so that another command finding the lock taken can say where the
/// server is instead of a generic "in use".
pub(crate) const SERVED_BY_FILE: &str = "served-by.json";

/// Who serves a store: the server's URL (without its access token) and pid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServedBy {
    /// The server's URL, without its access token.
    pub url: String,
    /// The server's process id.
    pub pid: u32,
    /// When the process started (Linux: clock ticks since boot, from
    /// `/proc/PID/stat`), so that a record whose pid now names another
    /// process counts as stale; absent in records of older versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<u64>,
}

/// Records that this process serves the store in `dir` at `url`; written
/// atomically (a temporary file renamed over it), so a reader never sees
/// half of it.
pub fn write_served_by(dir: &Path, url: &str) -> Result<()> {
    let pid = std::process::id();
    let by = ServedBy {
        url: url.to_string(),
        pid,
        started: process_state(pid).map(|(_, started)| started),
    };
    let path = dir.join(SERVED_BY_FILE);
    let body = serde_json::to_vec(&by).map_err(|e| Error::io(&path, std::io::Error::other(e)))?;
    atomic::write_file(&path, &body)
}

/// Removes the record of [`write_served_by`] (on a clean stop).
pub(crate) fn remove_served_by(dir: &Path) {
    let _ = std::fs::remove_file(dir.join(SERVED_BY_FILE));
}

/// The server holding the store in `dir`, if its record is there and its
/// process still runs: a record left by a server that was killed names a
/// pid that is gone (or a zombie, or a newer process that reused the pid),
/// and counts as absent, so it never blocks the store.
pub fn served_by(dir: &Path) -> Option<ServedBy> {
    let body = std::fs::read(dir.join(SERVED_BY_FILE)).ok()?;
    let by: ServedBy = serde_json::from_slice(&body).ok()?;
    if !process_alive(by.pid) {
        return None;
    }
    match process_state(by.pid) {
        // A zombie has exited; only its parent has not collected it yet.
        Some(('Z' | 'X', _)) => None,
        Some((_, started)) if by.started.is_some_and(|s| s != started) => None,
        _ => Some(by),
    }
}

/// A process's state letter and start time from `/proc/PID/stat` (Linux;
/// `None` elsewhere or when it cannot be read). The command name in
/// parentheses may hold spaces, so the fields are counted after its last
/// `)`: the state is the first, the start time the twentieth.
fn process_state(pid: u32) -> Option<(char, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let started = fields.nth(18)?.parse().ok()?;
    Some((state, started))
}

/// Whether a process with this pid exists (signal 0 checks without
/// sending anything; EPERM means it exists but belongs to someone else).
fn process_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: kill with signal 0 only checks for the process; it has no
    // effect on it and touches no memory of ours.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}
