//! The description a saved index must match to be reused ([`IndexMeta`]),
//! and the digests that bind it to the vectors it was built from: data
//! shared by the graph (which states its own) and persistence (which checks
//! it), so that neither needs the other for it.

use serde::{Deserialize, Serialize};

/// What a saved index must match to be reused: the caller's description of
/// the vectors it was built from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexMeta {
    /// The model fingerprint (JSON) the vectors were made with.
    pub fingerprint_json: String,
    /// Number of points.
    pub count: usize,
    /// `ids_hash` of the point ids.
    pub ids_hash: String,
    /// `content_digest` of what the points are: each id with its work's
    /// content hash and its raw vector, so that an index copied from another
    /// store with the same weights and the same ids is not taken for this
    /// store's. Empty when the caller does not bind the index to contents
    /// (then it is not compared); an index saved before this field existed
    /// reads as empty and is rebuilt by callers that expect one.
    #[serde(default)]
    pub content: String,
}

impl IndexMeta {
    /// The metadata of an index over `ids` built from vectors with this fingerprint.
    pub fn new(fingerprint_json: impl Into<String>, ids: impl IntoIterator<Item = u64>) -> Self {
        let mut ids: Vec<u64> = ids.into_iter().collect();
        ids.sort_unstable();
        ids.dedup();
        IndexMeta {
            fingerprint_json: fingerprint_json.into(),
            count: ids.len(),
            ids_hash: hash_sorted_ids(&ids),
            content: String::new(),
        }
    }

    /// The same metadata bound to a [`content_digest`] of the points.
    pub(crate) fn with_content(mut self, content: impl Into<String>) -> Self {
        self.content = content.into();
        self
    }

    /// Why `self` (found on disk) is not `expected`, or `None` when equal.
    pub(super) fn difference(&self, expected: &IndexMeta) -> Option<String> {
        if self.fingerprint_json != expected.fingerprint_json {
            Some("it was built from embeddings with another model fingerprint".into())
        } else if self.count != expected.count {
            Some(format!(
                "it holds {} vectors, the store {}",
                self.count, expected.count
            ))
        } else if self.ids_hash != expected.ids_hash {
            Some("it holds other artworks than the store".into())
        } else if self.content != expected.content {
            Some(if self.content.is_empty() {
                "it was saved without a digest of the works it indexes".into()
            } else {
                "it was built from other images or vectors than this store's \
                 (copied from another store?)"
                    .into()
            })
        } else {
            None
        }
    }
}

/// blake3 (hex) of the ids sorted and deduplicated, as u64 little-endian.
pub(crate) fn ids_hash(ids: impl IntoIterator<Item = u64>) -> String {
    let mut ids: Vec<u64> = ids.into_iter().collect();
    ids.sort_unstable();
    ids.dedup();
    hash_sorted_ids(&ids)
}

/// blake3 (hex) of the points of an index, sorted by id: each id, the
/// content hash of its work and its raw vector (little-endian f32), each
/// length-prefixed. Binds saved index files to the store whose vectors
/// they were built from ([`IndexMeta::content`]).
pub(crate) fn content_digest<'a>(
    items: impl IntoIterator<Item = (u64, &'a str, &'a [f32])>,
) -> String {
    let mut items: Vec<(u64, &str, &[f32])> = items.into_iter().collect();
    items.sort_unstable_by_key(|(id, _, _)| *id);
    let mut h = blake3::Hasher::new();
    let mut buf = Vec::new();
    for (id, hash, v) in items {
        buf.clear();
        buf.extend_from_slice(&id.to_le_bytes());
        buf.extend_from_slice(&(hash.len() as u64).to_le_bytes());
        buf.extend_from_slice(hash.as_bytes());
        buf.extend_from_slice(&(v.len() as u64).to_le_bytes());
        for x in v {
            buf.extend_from_slice(&x.to_le_bytes());
        }
        h.update(&buf);
    }
    h.finalize().to_hex().to_string()
}

fn hash_sorted_ids(ids: &[u64]) -> String {
    let mut h = blake3::Hasher::new();
    for id in ids {
        h.update(&id.to_le_bytes());
    }
    h.finalize().to_hex().to_string()
}
