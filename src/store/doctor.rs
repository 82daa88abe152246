//! `artlens doctor`: checks a store record by record and salvages every
//! readable record of a damaged one into a fresh store.
//!
//! What can be lost and what not: embeddings (and the ANN indexes, trained
//! heads and caches made from them) can be recomputed from the collection by
//! `artlens index` and `artlens train`; ratings cannot, so a salvage copies
//! them first, into their own flushed batch.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{crc32, decode_embedding, snapshot_is_whole, Store, StoredArtwork, ITEMS};
use crate::error::{Error, Result};

/// The ratings tree (see [`crate::ratings`]).
const RATINGS: &str = "ratings";
/// The preferences tree (`crate::preferences::PREFERENCES_TREE`).
const PREFERENCES: &str = "preferences";

/// What `doctor` found in a store.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DoctorReport {
    /// The store's folder.
    pub store: PathBuf,
    /// True when sled opened the store and every record read back.
    pub healthy: bool,
    /// Whether sled could open the store at all.
    pub opened: bool,
    /// What opening repaired by itself.
    pub recovered: Vec<String>,
    /// Artwork records that parsed.
    pub artworks: usize,
    /// Embeddings whose checksum holds.
    pub embeddings: usize,
    /// Rating records that parsed.
    pub ratings: usize,
    /// Other records (roots, fingerprints, heads, caches): counted, not
    /// checked one by one.
    pub other_records: usize,
    /// One line per problem: which file or record, and what is wrong.
    pub problems: Vec<String>,
    /// What to do next.
    pub advice: Vec<String>,
}

/// What `doctor --into` copied.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SalvageReport {
    /// The damaged store's folder, read from.
    pub from: PathBuf,
    /// The new store's folder, written to.
    pub into: PathBuf,
    /// Ratings copied (they cannot be recomputed).
    pub ratings: usize,
    /// Pairwise preferences copied (they cannot be recomputed either).
    #[serde(default)]
    pub preferences: usize,
    /// Artwork records copied.
    pub artworks: usize,
    /// Embeddings copied (those whose checksum holds).
    pub embeddings: usize,
    /// Other records copied (roots, fingerprints, heads, caches).
    pub other_records: usize,
    /// Changes read from the damaged store's ratings journal and replayed
    /// over the ratings and preferences copied from its database (every
    /// acknowledged one, also those the database lost).
    #[serde(default)]
    pub journal_lines: usize,
    /// Records that could not be read and were left behind.
    pub dropped: Vec<String>,
    /// What to do next.
    pub advice: Vec<String>,
}

/// Which file of the store in `dir` sled most likely choked on: `conf` when
/// its checksum fails, the newest snapshot when it is not whole, else `db`.
pub(crate) fn damaged_file(dir: &Path) -> String {
    match std::fs::read(dir.join("conf")) {
        Ok(b) if b.len() > 4 => {
            let n = b.len();
            let crc = u32::from_le_bytes([b[n - 4], b[n - 3], b[n - 2], b[n - 1]]);
            if crc32(&b[..n - 4]) != crc {
                return "conf".into();
            }
        }
        _ => return "conf".into(),
    }
    let mut snaps: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("snap.") && !n.ends_with(".in___motion"))
        .collect();
    snaps.sort();
    if let Some(newest) = snaps.last() {
        match std::fs::read(dir.join(newest)) {
            Ok(b) if snapshot_is_whole(&b) => {}
            _ => return newest.clone(),
        }
    }
    "db".into()
}

fn cannot_open_advice(dir: &Path) -> Vec<String> {
    vec![
        format!(
            "keep a copy of {} as it is; `artlens doctor --store {} --into NEW_DIR` salvages what is readable",
            dir.display(),
            dir.display()
        ),
        if dir.join(super::JOURNAL_FILE).is_file() {
            format!(
                "if nothing can be salvaged: `artlens index COLLECTION --store NEW_DIR` recomputes the embeddings, and `artlens rate restore {} --store NEW_DIR` brings back every rating and preference from the store's journal",
                dir.join(super::JOURNAL_FILE).display()
            )
        } else {
            "if nothing can be salvaged: `artlens index COLLECTION --store NEW_DIR` recomputes the embeddings, and `artlens rate import RATINGS.csv --store NEW_DIR` brings back ratings from a CSV you exported earlier".into()
        },
    ]
}

/// Checks the store in `dir`: opens it, scans every tree, verifies every
/// embedding checksum, and parses every artwork and rating record.
pub fn check_store(dir: &Path) -> Result<DoctorReport> {
    if !Store::exists(dir) && !Store::lost_db(dir) {
        return Err(Error::NoStore {
            path: dir.to_path_buf(),
        });
    }
    let mut report = DoctorReport {
        store: dir.to_path_buf(),
        ..Default::default()
    };
    let store = match open_for_doctor(dir) {
        Ok(s) => s,
        // Not damage: in use, of a newer format, or not writable; each
        // error says what to do, and salvage advice would mislead.
        Err(
            e @ (Error::StoreInUse { .. }
            | Error::StoreServed { .. }
            | Error::StoreFormat { .. }
            | Error::StoreNotWritable { .. }),
        ) => return Err(e),
        Err(e) => {
            report.problems.push(e.to_string());
            report.advice = cannot_open_advice(dir);
            return Ok(report);
        }
    };
    report.opened = true;
    report.recovered = store.recovered().to_vec();
    scan_store(&store, &mut report);
    compare_with_journal(&store, &mut report);
    report.healthy = report.problems.is_empty();
    if !report.healthy {
        report.advice.push(format!(
            "`artlens doctor --store {} --into NEW_DIR` copies every readable record (ratings first) into a fresh store; then `artlens index COLLECTION --store NEW_DIR` re-embeds what was lost",
            dir.display()
        ));
    }
    Ok(report)
}

/// Ratings and preferences the journal holds that the database does not (or
/// holds otherwise): a database that lost records opens in sled as a
/// healthy store, and only the journal knows. Each kind that differs is a
/// problem, whose salvage (`--into`) replays the journal.
fn compare_with_journal(store: &Store, report: &mut DoctorReport) {
    let path = store.journal_path();
    if !path.is_file() {
        return;
    }
    let state = match super::journal::read_journal(&path) {
        Ok((state, _)) => state,
        Err(e) => {
            report
                .problems
                .push(format!("the ratings journal cannot be read: {e}"));
            return;
        }
    };
    for tree in super::JOURNALED_TREES {
        let mut missing = 0;
        for ((t, key), record) in &state {
            if t != tree {
                continue;
            }
            let held = store
                .tree(tree)
                .ok()
                .and_then(|tr| tr.get(key.as_bytes()).ok().flatten())
                .and_then(|v| serde_json::from_slice::<serde_json::Value>(&v).ok());
            if held.as_ref() != record.as_ref() {
                missing += 1;
            }
        }
        if missing > 0 {
            report.problems.push(format!(
                "{} in the ratings journal {} not in the database as the journal left {}: `doctor --into` restores them from the journal",
                crate::plain::count(missing, &format!("{tree} record"), &format!("{tree} records")),
                if missing == 1 { "is" } else { "are" },
                if missing == 1 { "it" } else { "them" },
            ));
        }
    }
}

/// Opens a store this process may have just closed: sled's background
/// threads release the folder's lock a moment after the `Db` is dropped, so
/// a lock conflict is retried for a short while.
fn open_for_doctor(dir: &Path) -> Result<Store> {
    let mut tries = 0;
    loop {
        match Store::open(dir) {
            Err(Error::StoreInUse { .. }) if tries < 40 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

fn scan_store(store: &Store, report: &mut DoctorReport) {
    for name in store.db.tree_names() {
        let tree_name = String::from_utf8_lossy(&name).into_owned();
        if tree_name.starts_with("__sled") {
            continue;
        }
        let tree = match store.db.open_tree(&name) {
            Ok(t) => t,
            Err(e) => {
                report.problems.push(format!(
                    "tree `{tree_name}` cannot be opened: {}",
                    super::scrub(&e)
                ));
                continue;
            }
        };
        for kv in tree.iter() {
            let (k, v) = match kv {
                Ok(kv) => kv,
                Err(e) => {
                    report.problems.push(format!(
                        "tree `{tree_name}` cannot be read to the end: {}",
                        super::scrub(&e)
                    ));
                    break;
                }
            };
            let key = String::from_utf8_lossy(&k).into_owned();
            match tree_name.as_str() {
                ITEMS => {
                    if let Some(hash) = key.strip_prefix("a/") {
                        match serde_json::from_slice::<StoredArtwork>(&v) {
                            Ok(_) => report.artworks += 1,
                            Err(e) => report
                                .problems
                                .push(format!("artwork record of {hash} does not parse: {e}")),
                        }
                    } else if let Some(emb) = key.strip_prefix("e/") {
                        match decode_embedding(&v) {
                            Some(_) => report.embeddings += 1,
                            None => report
                                .problems
                                .push(format!("embedding {emb} fails its checksum")),
                        }
                    } else {
                        report.other_records += 1;
                    }
                }
                RATINGS => match parse_envelope(&v) {
                    Ok(()) => report.ratings += 1,
                    Err(e) => report
                        .problems
                        .push(format!("rating `{key}` does not parse: {e}")),
                },
                _ => report.other_records += 1,
            }
        }
    }
}

fn parse_envelope(v: &[u8]) -> std::result::Result<(), String> {
    let env: super::Envelope<serde_json::Value> =
        serde_json::from_slice(v).map_err(|e| e.to_string())?;
    if env.format_version != super::RECORD_VERSION {
        return Err(format!("record format {}", env.format_version));
    }
    Ok(())
}

/// Copies every readable record of the store in `from` into a fresh store
/// in `into` (which must not hold a store yet): ratings first (flushed on
/// their own), then artworks with their paths, roots, ids and counters and
/// failure records, fingerprints and weights locations, and the embeddings
/// that pass their checksum. Trained heads, caches and the ANN indexes are
/// not copied: `artlens train` and `artlens index` make them again.
///
/// When sled cannot open `from`, the store files are copied to a scratch
/// folder without their snapshots (sled then rebuilds its state from the
/// log) and the salvage reads that; when even that fails, the error says
/// what to do.
///
/// The new store is built in a staging folder beside `into`
/// (`.NAME.artlens-salvage`) and renamed to `into` only when every record
/// is copied and flushed: that rename is the mark of a finished salvage.
/// A salvage killed part-way leaves no store at `into`, only the staging
/// folder, which the next run discards before starting again.
pub fn salvage_store(from: &Path, into: &Path) -> Result<SalvageReport> {
    if Store::exists(into) {
        return Err(Error::InvalidArgument(format!(
            "{} already holds a store; --into needs a new folder",
            into.display()
        )));
    }
    if let Ok(mut entries) = std::fs::read_dir(into) {
        if entries.next().is_some() {
            return Err(Error::InvalidArgument(format!(
                "{} is a folder with files in it; --into needs a new or empty folder",
                into.display()
            )));
        }
    } else if into.exists() {
        return Err(Error::InvalidArgument(format!(
            "{} exists and is not a folder; --into needs a new or empty folder",
            into.display()
        )));
    }
    let staging = salvage_staging(into)?;
    if staging.exists() {
        // What a killed salvage left: never a store anyone was told about.
        std::fs::remove_dir_all(&staging).map_err(|e| Error::io(&staging, e))?;
    }
    let mut scratch: Option<PathBuf> = None;
    if !Store::exists(from) && !Store::lost_db(from) {
        return Err(Error::NoStore {
            path: from.to_path_buf(),
        });
    }
    let src = match open_for_doctor(from) {
        Ok(s) => s,
        Err(
            e @ (Error::StoreInUse { .. }
            | Error::StoreServed { .. }
            | Error::NoStore { .. }
            | Error::NoSpace { .. }
            | Error::StoreFormat { .. }),
        ) => return Err(e),
        Err(first) => {
            let dir = into.with_extension("salvage-scratch");
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
            // Without `db` its `conf` describes a log that is gone: the
            // scratch store starts empty, and the journal fills it.
            let lost_db = Store::lost_db(from);
            for entry in std::fs::read_dir(from)
                .map_err(|e| Error::io(from, e))?
                .flatten()
            {
                let name = entry.file_name().to_string_lossy().into_owned();
                // The journal is replayed from `from`; in the scratch
                // folder it would make the empty database look damaged.
                if name.starts_with("snap.")
                    || name == super::JOURNAL_FILE
                    || (lost_db && name == "conf")
                    || !entry.path().is_file()
                {
                    continue;
                }
                std::fs::copy(entry.path(), dir.join(&name))
                    .map_err(|e| Error::io(entry.path(), e))?;
            }
            scratch = Some(dir.clone());
            match open_for_doctor(&dir) {
                Ok(s) => s,
                Err(_) => {
                    let _ = std::fs::remove_dir_all(&dir);
                    return Err(Error::InvalidArgument(format!(
                        "{first}\nsled cannot read {} even without its snapshots, so nothing can be salvaged. {}",
                        from.display(),
                        cannot_open_advice(from).join("; ")
                    )));
                }
            }
        }
    };
    let result = copy_records(&src, from, &staging, into);
    drop(src);
    if let Some(dir) = scratch {
        let _ = std::fs::remove_dir_all(dir);
    }
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    // The mark of a finished salvage: the store appears at `into` whole.
    // An empty folder at `into` is replaced by the rename.
    std::fs::rename(&staging, into).map_err(|e| Error::io(into, e))?;
    super::atomic::sync_dir(into.parent().unwrap_or(Path::new(".")));
    Ok(report)
}

/// `.NAME.artlens-salvage` beside `into`: on the same file system, so the
/// finished store is published by a rename.
fn salvage_staging(into: &Path) -> Result<PathBuf> {
    let name = into.file_name().ok_or_else(|| {
        Error::InvalidArgument(format!(
            "{}: --into needs a folder name, not a root or `..`",
            into.display()
        ))
    })?;
    let parent = into
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    Ok(parent.join(format!(".{}.artlens-salvage", name.to_string_lossy())))
}

/// Copies `src`'s readable records into a new store built at `at`; the
/// report and its advice name `into`, where the store will be once
/// published.
fn copy_records(src: &Store, from: &Path, at: &Path, into: &Path) -> Result<SalvageReport> {
    let dst = Store::open(at)?;
    let mut report = SalvageReport {
        from: from.to_path_buf(),
        into: into.to_path_buf(),
        ..Default::default()
    };
    let derr = |e: sled::Error| super::store_error(at, e);

    // 1. Ratings and preferences, the things that cannot be recomputed.
    for name in [RATINGS, PREFERENCES] {
        let Ok(tree) = src.db.open_tree(name) else {
            continue;
        };
        let out = dst.db.open_tree(name).map_err(derr)?;
        let mut batch = sled::Batch::default();
        for kv in tree.iter() {
            match kv {
                Ok((k, v)) => match parse_envelope(&v) {
                    Ok(()) => {
                        batch.insert(k, v);
                        if name == RATINGS {
                            report.ratings += 1;
                        } else {
                            report.preferences += 1;
                        }
                    }
                    Err(e) => report.dropped.push(format!(
                        "{name} record `{}`: {e}",
                        String::from_utf8_lossy(&k)
                    )),
                },
                Err(e) => {
                    report
                        .dropped
                        .push(format!("{name} past a damaged page: {}", super::scrub(&e)));
                    break;
                }
            }
        }
        out.apply_batch(batch).map_err(derr)?;
        dst.flush()?;
    }
    // The journal holds every acknowledged change to them: replayed over
    // what the database still had, it brings back what the damage took.
    let journal = from.join(super::JOURNAL_FILE);
    if journal.is_file() {
        match dst.replay_journal(&journal) {
            Ok(r) => {
                report.journal_lines = r.lines;
                report.ratings = dst.db.open_tree(RATINGS).map_err(derr)?.len();
                report.preferences = dst.db.open_tree(PREFERENCES).map_err(derr)?.len();
            }
            Err(e) => report.dropped.push(format!(
                "the ratings journal could not be replayed ({e}); the ratings above are the database's"
            )),
        }
    }

    // 2. Artworks and what hangs off them.
    let mut records: Vec<(sled::IVec, sled::IVec)> = Vec::new();
    for kv in src.items.iter() {
        match kv {
            Ok(kv) => records.push(kv),
            Err(e) => {
                report
                    .dropped
                    .push(format!("items past a damaged page: {}", super::scrub(&e)));
                break;
            }
        }
    }
    let mut good: BTreeSet<String> = BTreeSet::new();
    for (k, v) in &records {
        if let Some(hash) = k.strip_prefix(b"a/") {
            let hash = String::from_utf8_lossy(hash).into_owned();
            match serde_json::from_slice::<StoredArtwork>(v) {
                Ok(a) if a.hash == hash => {
                    good.insert(hash);
                }
                Ok(_) => report
                    .dropped
                    .push(format!("artwork record of {hash} names another hash")),
                Err(e) => report
                    .dropped
                    .push(format!("artwork record of {hash}: {e}")),
            }
        }
    }
    let mut batch = sled::Batch::default();
    for (k, v) in &records {
        let key = String::from_utf8_lossy(k).into_owned();
        let value_hash = String::from_utf8_lossy(v).into_owned();
        let keep = match key.get(..2) {
            Some("a/") => good.contains(&key[2..]),
            Some("i/") | Some("p/") => good.contains(&value_hash),
            Some("r/") | Some("c/") | Some("f/") | Some("g/") => true,
            Some("e/") => {
                let hash = key.rsplit('/').next().unwrap_or("");
                match decode_embedding(v) {
                    Some(_) if good.contains(hash) => true,
                    Some(_) => false,
                    None => {
                        report
                            .dropped
                            .push(format!("embedding {} fails its checksum", &key[2..]));
                        false
                    }
                }
            }
            _ => false,
        };
        if keep {
            match key.get(..2) {
                Some("a/") => report.artworks += 1,
                Some("e/") => report.embeddings += 1,
                _ => report.other_records += 1,
            }
            batch.insert(k.clone(), v.clone());
        }
    }
    dst.items.apply_batch(batch).map_err(derr)?;

    // 3. Fingerprints and weights locations.
    let mut batch = sled::Batch::default();
    for kv in src.meta.iter() {
        match kv {
            Ok((k, v)) => {
                if k.starts_with(b"fingerprint/") || k.starts_with(b"weights/") || k == b"shard" {
                    batch.insert(k, v);
                }
            }
            Err(e) => {
                report.dropped.push(format!(
                    "fingerprints past a damaged page: {}",
                    super::scrub(&e)
                ));
                break;
            }
        }
    }
    dst.meta.apply_batch(batch).map_err(derr)?;
    dst.flush()?;
    report.advice.push(format!(
        "trained heads and ANN indexes were not copied: run `artlens index COLLECTION --store {}` (re-embeds what was lost) and `artlens train --store {}`",
        into.display(),
        into.display()
    ));
    Ok(report)
}
