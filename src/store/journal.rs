//! The ratings journal: every change to a person's ratings and preferences,
//! appended to a plain JSON-lines file in the store folder and fsync'd
//! before the change is acknowledged. Ratings and preferences are the only
//! data a person cannot recompute; sled keeps them, and this file keeps
//! them again in a form any text tool reads, so that `artlens rate restore`
//! and `artlens doctor --into` can rebuild them when the database itself is
//! lost. Why and how: docs/RATINGS.md#the-journal.

use std::collections::BTreeMap;
use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::Store;
use crate::error::{Error, Result};

/// The journal's file name inside the store folder.
pub(crate) const JOURNAL_FILE: &str = "ratings-journal.jsonl";

/// The journal line format this version writes and reads.
pub(crate) const JOURNAL_VERSION: u32 = 1;

/// The trees whose every change is journaled: the ones a person made by
/// hand (`ratings::RATINGS_TREE`, `preferences::PREFERENCES_TREE`; their
/// unit tests check that the names agree).
pub(crate) const JOURNALED_TREES: [&str; 2] = ["ratings", "preferences"];

/// The longest journal line read back: a rating or preference record is a
/// few hundred bytes, so a longer line is not one.
const MAX_LINE_BYTES: usize = 64 * 1024;

/// Held from a journaled batch's write to the store until its lines are in
/// the journal, so that the journal lists changes in the order the store
/// applied them (two writes of one key replay to the one that won).
static ORDER: Mutex<()> = Mutex::new(());

/// One journal line. `tree`, `op`, `key` and `record` are what a replay
/// writes back; the other fields say in plain words what changed, for a
/// person reading the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct JournalLine {
    pub journal: u32,
    /// Seconds since the Unix epoch.
    pub time: u64,
    pub tree: String,
    /// `"put"` or `"remove"`.
    pub op: String,
    pub key: String,
    /// The stored record (its envelope) for a `put`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rater: Option<String>,
    /// The rated work's content hash (ratings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work: Option<String>,
    /// A path of the rated work, when the store knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating: Option<f64>,
    /// The preferred work's content hash (preferences).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub winner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loser: Option<String>,
}

/// One change of a batch, as the batch collects it.
pub(crate) enum Change {
    Put(String, Vec<u8>),
    Remove(String),
}

/// What a replay did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReplayReport {
    /// The journal read.
    pub journal: PathBuf,
    /// Lines read (each one change).
    pub lines: usize,
    /// Ratings and preferences present after the replay, per tree.
    pub restored: BTreeMap<String, usize>,
    /// Records the replay removed (taken back in the journal).
    pub removed: usize,
    /// A last line cut short (a crash while it was written, before its
    /// change was acknowledged), skipped.
    pub torn_last_line: bool,
}

impl Store {
    /// The journal of this store.
    pub(crate) fn journal_path(&self) -> PathBuf {
        self.path.join(JOURNAL_FILE)
    }

    /// Appends `changes` of `tree` to the journal (fsync'd) and then runs
    /// `apply`, the batch's write to the store, holding [`ORDER`] across
    /// both. The journal goes first so that a full disk or a damaged folder
    /// refuses the change before the store has it; when the store's write
    /// fails, the journal is cut back to where it was, so that either both
    /// hold the change or neither does (a crash between the two leaves the
    /// change in the journal only: asked for, never acknowledged, and
    /// restored by a replay).
    pub(crate) fn journaled(
        &self,
        tree: &str,
        changes: &[Change],
        apply: impl FnOnce() -> Result<()>,
    ) -> Result<()> {
        let _order = ORDER.lock().unwrap_or_else(|e| e.into_inner());
        if changes.is_empty() {
            return apply();
        }
        let time = super::now_secs();
        let mut text = Vec::new();
        for c in changes {
            let line = self.describe(tree, c, time);
            serde_json::to_writer(&mut text, &line).map_err(|e| Error::Store {
                path: self.journal_path(),
                reason: format!("a journal line could not be written: {e}"),
            })?;
            text.push(b'\n');
        }
        let path = self.journal_path();
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)
            .map_err(|e| self.journal_error(e))?;
        drop_torn_tail(&mut file).map_err(|e| self.journal_error(e))?;
        let before = file.metadata().map_err(|e| self.journal_error(e))?.len();
        let written = file.write_all(&text).and_then(|()| file.sync_data());
        let applied = written
            .map_err(|e| self.journal_error(e))
            .and_then(|()| apply());
        if applied.is_err() {
            // Cutting a file back frees space, so this works on a full disk.
            let _ = file.set_len(before).and_then(|()| file.sync_data());
        }
        applied
    }

    /// An I/O error of the journal: a full disk is [`Error::NoSpace`] (the
    /// change was refused before the store had it).
    fn journal_error(&self, e: std::io::Error) -> Error {
        if e.raw_os_error() == Some(28) || e.kind() == std::io::ErrorKind::StorageFull {
            return Error::NoSpace {
                path: self.path.clone(),
            };
        }
        Error::Store {
            path: self.journal_path(),
            reason: format!(
                "the ratings journal cannot be written ({e}), so nothing was changed; fix the folder's permissions and run the command again"
            ),
        }
    }

    /// A change as a journal line, with the plain-words fields filled in
    /// from its key and record.
    fn describe(&self, tree: &str, change: &Change, time: u64) -> JournalLine {
        let (op, key, record) = match change {
            Change::Put(k, v) => ("put", k, serde_json::from_slice(v).ok()),
            Change::Remove(k) => ("remove", k, None),
        };
        let mut line = JournalLine {
            journal: JOURNAL_VERSION,
            time,
            tree: tree.to_string(),
            op: op.to_string(),
            key: key.clone(),
            record,
            rater: None,
            work: None,
            path: None,
            rating: None,
            winner: None,
            loser: None,
        };
        let parts: Vec<&str> = key.split('/').collect();
        if tree == JOURNALED_TREES[0] {
            // `HASH` for the default rater, `RATER/HASH` for another.
            let (rater, hash) = match parts.as_slice() {
                [h] => ("me", *h),
                [r, h] => (*r, *h),
                _ => return line,
            };
            line.rater = Some(rater.to_string());
            line.work = Some(hash.to_string());
            line.path = self
                .artwork(hash)
                .ok()
                .flatten()
                .and_then(|a| a.paths.first().cloned());
            line.rating = line
                .record
                .as_ref()
                .and_then(|r| r["value"]["rating"].as_f64());
        } else if let [r, w, l] = parts.as_slice() {
            line.rater = Some(r.to_string());
            line.winner = Some(w.to_string());
            line.loser = Some(l.to_string());
        }
        line
    }

    /// Replays a journal into this store: every change in order, folded to
    /// the state the journal ends in, written in one atomic batch per tree
    /// (and journaled here in turn). A journal of a store that lost its
    /// database brings back every acknowledged rating and preference.
    /// Unreadable lines are an error naming the line, except a last line cut
    /// short by a crash, which was never acknowledged and is skipped.
    pub(crate) fn replay_journal(&self, journal: &Path) -> Result<ReplayReport> {
        let (state, mut report) = read_journal(journal)?;
        for tree in JOURNALED_TREES {
            let mut batch = self.batch(tree)?;
            let mut present = 0;
            for ((t, key), record) in &state {
                if t != tree {
                    continue;
                }
                match record {
                    Some(r) => {
                        batch.put_raw(key, serde_json::to_vec(r).unwrap_or_default());
                        present += 1;
                    }
                    None => {
                        batch.remove(key);
                        report.removed += 1;
                    }
                }
            }
            self.apply(batch)?;
            report.restored.insert(tree.to_string(), present);
        }
        Ok(report)
    }
}

/// Cuts a last line that lacks its line break (a write a crash cut short,
/// never acknowledged), so that the next line starts on a line of its own.
fn drop_torn_tail(f: &mut std::fs::File) -> std::io::Result<()> {
    use std::io::{Seek, SeekFrom};
    let len = f.metadata()?.len();
    if len == 0 {
        return Ok(());
    }
    let tail = len.min(MAX_LINE_BYTES as u64 + 1);
    f.seek(SeekFrom::Start(len - tail))?;
    let mut buf = vec![0u8; tail as usize];
    f.read_exact(&mut buf)?;
    if buf.last() == Some(&b'\n') {
        return Ok(());
    }
    let keep = match buf.iter().rposition(|&b| b == b'\n') {
        Some(i) => len - tail + i as u64 + 1,
        None if tail == len => 0,
        // A torn line longer than any line: leave the file to the replay,
        // which names it.
        None => return Ok(()),
    };
    f.set_len(keep)
}

/// The state a journal ends in: per (tree, key), the last record put, or
/// `None` when its last change removed it. See [`Store::replay_journal`]
/// for what is read and what is refused.
pub(crate) type JournalState = BTreeMap<(String, String), Option<serde_json::Value>>;

pub(crate) fn read_journal(journal: &Path) -> Result<(JournalState, ReplayReport)> {
    let file = std::fs::File::open(journal).map_err(|e| Error::io(journal, e))?;
    let mut reader = std::io::BufReader::new(file);
    let mut state = JournalState::new();
    let mut report = ReplayReport {
        journal: journal.to_path_buf(),
        ..Default::default()
    };
    let mut buf = Vec::new();
    let mut row = 0usize;
    loop {
        buf.clear();
        let n = (&mut reader)
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut buf)
            .map_err(|e| Error::io(journal, e))?;
        if n == 0 {
            break;
        }
        row += 1;
        let complete = buf.last() == Some(&b'\n');
        if buf.len() > MAX_LINE_BYTES {
            return Err(bad_line(journal, row, "longer than any journal line"));
        }
        let text = String::from_utf8_lossy(&buf);
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        match parse_line(text) {
            Ok(line) => {
                report.lines += 1;
                state.insert((line.tree, line.key), line.record);
            }
            // Only the last line can lack its line break: a write a crash
            // cut short, whose change was never acknowledged.
            Err(_) if !complete => report.torn_last_line = true,
            Err(reason) => return Err(bad_line(journal, row, &reason)),
        }
    }
    Ok((state, report))
}

/// Reads one journal line, checking what a replay relies on.
fn parse_line(text: &str) -> std::result::Result<JournalLine, String> {
    let line: JournalLine =
        serde_json::from_str(text).map_err(|e| format!("not a journal line ({e})"))?;
    if line.journal != JOURNAL_VERSION {
        return Err(format!(
            "journal format {} (this artlens reads {JOURNAL_VERSION})",
            line.journal
        ));
    }
    if !JOURNALED_TREES.contains(&line.tree.as_str()) {
        return Err(format!("`{}` is not a journaled tree", line.tree));
    }
    if line.key.is_empty() || line.key.len() > 512 {
        return Err("a key must be 1 to 512 bytes".into());
    }
    match (line.op.as_str(), &line.record) {
        ("put", Some(r)) if r.get("format_version").is_some() => Ok(line),
        ("put", _) => Err("a `put` without its record".into()),
        ("remove", _) => Ok(JournalLine {
            record: None,
            ..line
        }),
        (op, _) => Err(format!("unknown op `{op}` (put or remove)")),
    }
}

fn bad_line(journal: &Path, row: usize, reason: &str) -> Error {
    Error::JournalLine {
        path: journal.to_path_buf(),
        line: row,
        reason: format!("{reason}; the lines before it are intact: fix or delete this line and run the command again"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rating(v: f64) -> serde_json::Value {
        serde_json::json!({"rating": v, "source": "set", "time": 1})
    }

    fn put(store: &Store, tree: &str, key: &str, v: f64) {
        store.put_record(tree, key, &rating(v), Vec::new()).unwrap();
    }

    fn lines(store: &Store) -> Vec<JournalLine> {
        std::fs::read_to_string(store.journal_path())
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn ratings_and_preferences_are_journaled_other_trees_not() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        put(&store, "ratings", "aa", 7.0);
        put(&store, "ratings", "anna/bb", 3.5);
        put(&store, "preferences", "me/aa/bb", 1.0);
        put(&store, "heads", "ridge", 1.0);
        let mut b = store.batch("ratings").unwrap();
        b.remove("aa");
        store.apply(b).unwrap();
        let got = lines(&store);
        assert_eq!(got.len(), 4, "{got:?}");
        assert_eq!(
            (got[0].rater.as_deref(), got[0].rating),
            (Some("me"), Some(7.0))
        );
        assert_eq!(got[1].rater.as_deref(), Some("anna"));
        assert_eq!(got[1].work.as_deref(), Some("bb"));
        assert_eq!(got[2].winner.as_deref(), Some("aa"));
        assert_eq!((got[3].op.as_str(), &got[3].record), ("remove", &None));
    }

    #[test]
    fn a_replay_rebuilds_the_final_state_in_a_fresh_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("a")).unwrap();
        for i in 0..50 {
            put(&store, "ratings", &format!("w{}", i % 7), i as f64);
        }
        put(&store, "preferences", "me/w1/w2", 1.0);
        let mut b = store.batch("ratings").unwrap();
        b.remove("w3");
        store.apply(b).unwrap();
        let want: Vec<_> = store
            .scan_records::<serde_json::Value>("ratings", "")
            .unwrap()
            .into_iter()
            .map(|(k, e)| (k, e.value))
            .collect();
        let journal = store.journal_path();
        drop(store);

        let fresh = Store::open(&dir.path().join("b")).unwrap();
        let report = fresh.replay_journal(&journal).unwrap();
        assert_eq!(report.lines, 52);
        assert_eq!(report.restored["ratings"], 6);
        assert_eq!(report.restored["preferences"], 1);
        let got: Vec<_> = fresh
            .scan_records::<serde_json::Value>("ratings", "")
            .unwrap()
            .into_iter()
            .map(|(k, e)| (k, e.value))
            .collect();
        assert_eq!(got, want);
        // The replay is journaled in the fresh store in turn: six ratings,
        // the removal it replayed, and the preference.
        assert_eq!(lines(&fresh).len(), 8);
    }

    #[test]
    fn a_torn_last_line_is_skipped_and_cut_before_the_next_append() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        put(&store, "ratings", "aa", 1.0);
        let path = store.journal_path();
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(br#"{"journal":1,"time":1,"tree":"rat"#)
            .unwrap();
        drop(f);
        let r = store.replay_journal(&path).unwrap();
        assert!(r.torn_last_line);
        assert_eq!(r.lines, 1);
        // The replay appended its own lines after cutting the torn one:
        // every line reads.
        put(&store, "ratings", "bb", 2.0);
        assert!(lines(&store).iter().all(|l| l.journal == JOURNAL_VERSION));
        assert!(!store.replay_journal(&path).unwrap().torn_last_line);
    }

    #[test]
    fn a_damaged_line_is_named_and_nothing_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("a")).unwrap();
        put(&store, "ratings", "aa", 1.0);
        let path = store.journal_path();
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("{\"journal\":1,\"time\":1,\"tree\":\"heads\",\"op\":\"put\",\"key\":\"x\",\"record\":{\"format_version\":1}}\n");
        std::fs::write(&path, text).unwrap();
        let fresh = Store::open(&dir.path().join("b")).unwrap();
        let e = fresh.replay_journal(&path).unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("`heads`"), "{e}");
        assert!(fresh
            .scan_records::<serde_json::Value>("ratings", "")
            .unwrap()
            .is_empty());
    }
}
