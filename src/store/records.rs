//! Versioned records for the concerns that live beside the artworks
//! (ratings, trained heads and their report, caches): every value is wrapped
//! in an [`Envelope`] carrying a record format version, the fingerprints of
//! the embeddings it was computed from, and when it was written; several
//! records that belong together go into one atomic [`RecordBatch`].

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::journal::{Change, JOURNALED_TREES};
use super::{now_secs, to_json, Store};
use crate::error::{Error, Result};
use crate::model::Fingerprint;

/// The envelope format this version reads and writes.
pub(crate) const RECORD_VERSION: u32 = 1;

/// A stored value with what it depends on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<T> {
    /// The envelope format the record was written in (`RECORD_VERSION`
    /// for records this version writes).
    pub format_version: u32,
    /// The fingerprints of the embeddings the value was computed from
    /// (empty for values that depend on none, such as ratings).
    #[serde(default)]
    pub fingerprints: Vec<Fingerprint>,
    /// Seconds since the Unix epoch.
    pub time: u64,
    /// The stored value itself (a rating, a head, a cache entry).
    pub value: T,
}

impl<T> Envelope<T> {
    /// Wraps `value`, computed from embeddings with `fingerprints`, in an
    /// envelope of the current format stamped with the current time.
    pub(crate) fn new(value: T, fingerprints: Vec<Fingerprint>) -> Self {
        Envelope {
            format_version: RECORD_VERSION,
            fingerprints,
            time: now_secs(),
            value,
        }
    }
}

/// Writes to one tree that become visible together or not at all (sled
/// applies a batch on one tree atomically, also across a crash).
pub struct RecordBatch {
    tree: String,
    batch: sled::Batch,
    /// The batch's changes, kept for the journal when the tree is one a
    /// person makes by hand ([`super::journal::JOURNALED_TREES`]).
    journal: Option<Vec<Change>>,
}

impl RecordBatch {
    /// Adds `value` under `key`, in an envelope with `fingerprints`.
    pub fn put<T: Serialize>(
        &mut self,
        key: &str,
        value: &T,
        fingerprints: Vec<Fingerprint>,
    ) -> Result<()> {
        self.put_raw(key, to_json(&Envelope::new(value, fingerprints))?);
        Ok(())
    }

    /// Adds a record already in its envelope (a journal's replay).
    pub(crate) fn put_raw(&mut self, key: &str, envelope: Vec<u8>) {
        if let Some(j) = &mut self.journal {
            j.push(Change::Put(key.to_string(), envelope.clone()));
        }
        self.batch.insert(key.as_bytes(), envelope);
    }

    /// Adds the removal of `key`.
    pub fn remove(&mut self, key: &str) {
        if let Some(j) = &mut self.journal {
            j.push(Change::Remove(key.to_string()));
        }
        self.batch.remove(key.as_bytes());
    }
}

impl Store {
    /// A batch of record writes to `tree`; nothing is written until
    /// [`Store::apply`].
    pub fn batch(&self, tree: &str) -> Result<RecordBatch> {
        self.tree(tree)?;
        Ok(RecordBatch {
            tree: tree.to_string(),
            batch: sled::Batch::default(),
            journal: JOURNALED_TREES.contains(&tree).then(Vec::new),
        })
    }

    /// Applies a batch atomically and flushes it to disk; a batch of
    /// ratings or preferences is then appended to the journal (fsync'd)
    /// before this returns, so that what is acknowledged is in both.
    pub fn apply(&self, batch: RecordBatch) -> Result<()> {
        let RecordBatch {
            tree,
            batch,
            journal,
        } = batch;
        let write = || {
            self.tree(&tree)?
                .apply_batch(batch)
                .map_err(|e| self.err(e))?;
            self.flush()
        };
        match journal {
            Some(changes) => self.journaled(&tree, &changes, write),
            None => write(),
        }
    }

    /// Writes one record (atomically, flushed).
    pub fn put_record<T: Serialize>(
        &self,
        tree: &str,
        key: &str,
        value: &T,
        fingerprints: Vec<Fingerprint>,
    ) -> Result<()> {
        let mut b = self.batch(tree)?;
        b.put(key, value, fingerprints)?;
        self.apply(b)
    }

    /// Reads one record. A record of another envelope version, or one that
    /// does not parse, is [`Error::Store`] naming the tree and key.
    pub(crate) fn get_record<T: DeserializeOwned>(
        &self,
        tree: &str,
        key: &str,
    ) -> Result<Option<Envelope<T>>> {
        match self
            .tree(tree)?
            .get(key.as_bytes())
            .map_err(|e| self.err(e))?
        {
            None => Ok(None),
            Some(v) => self.parse_record(tree, key, &v).map(Some),
        }
    }

    /// Every record under `prefix` in `tree`, in key order.
    pub(crate) fn scan_records<T: DeserializeOwned>(
        &self,
        tree: &str,
        prefix: &str,
    ) -> Result<Vec<(String, Envelope<T>)>> {
        let mut out = Vec::new();
        for kv in self.tree(tree)?.scan_prefix(prefix.as_bytes()) {
            let (k, v) = kv.map_err(|e| self.err(e))?;
            let key = String::from_utf8_lossy(&k).into_owned();
            let rec = self.parse_record(tree, &key, &v)?;
            out.push((key, rec));
        }
        Ok(out)
    }

    /// True when `key` holds a record in `tree`.
    pub fn has_record(&self, tree: &str, key: &str) -> Result<bool> {
        self.tree(tree)?
            .contains_key(key.as_bytes())
            .map_err(|e| self.err(e))
    }

    fn parse_record<T: DeserializeOwned>(
        &self,
        tree: &str,
        key: &str,
        bytes: &[u8],
    ) -> Result<Envelope<T>> {
        #[derive(Deserialize)]
        struct Version {
            format_version: u32,
        }
        let version: Version = serde_json::from_slice(bytes)
            .map_err(|e| self.corrupt(format!("{tree}/{key}: not a record ({e})")))?;
        if version.format_version != RECORD_VERSION {
            return Err(Error::StoreFormat {
                path: self.path.join(format!("{tree}/{key}")),
                found: version.format_version,
                expected: RECORD_VERSION,
            });
        }
        serde_json::from_slice(bytes).map_err(|e| self.corrupt(format!("{tree}/{key}: {e}")))
    }

    /// How `saved` fingerprints differ from the store's current ones (empty
    /// when all still hold): for refusing heads and caches made from other
    /// embeddings.
    pub(crate) fn fingerprint_differences(&self, saved: &[Fingerprint]) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for fp in saved {
            match self.fingerprint(&fp.backbone)? {
                Some(current) if &current == fp => {}
                Some(current) => out.push(format!(
                    "{}: {}",
                    fp.backbone,
                    fp.differences(&current).join(", ")
                )),
                None => out.push(format!(
                    "{}: the store holds no embeddings of it any more",
                    fp.backbone
                )),
            }
        }
        Ok(out)
    }
}
