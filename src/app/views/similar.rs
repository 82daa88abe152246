//! The view of `similar`: the nearest works per backbone, side by side.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::scan::Metadata;

/// The work a `similar` query was about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryView {
    /// Set when the query is a stored work.
    pub id: Option<u64>,
    /// The stored work's content hash; `None` for a new image.
    pub hash: Option<String>,
    /// The query's path: the stored work's first path, or the file given.
    pub path: Option<String>,
    /// The stored work's metadata; empty for a new image.
    #[serde(default)]
    pub metadata: Metadata,
    /// False for a new image, embedded for the query and not stored.
    pub stored: bool,
}

/// One neighbour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    /// The neighbour's id in the store.
    pub id: u64,
    /// The neighbour's content hash.
    pub hash: String,
    /// The neighbour's first stored path.
    pub path: Option<String>,
    /// Cosine similarity of the two embeddings, from −1 to 1 (higher is more alike).
    pub similarity: f32,
    /// The neighbour's metadata.
    #[serde(default)]
    pub metadata: Metadata,
    /// The other backbones whose lists hold this work too.
    #[serde(default)]
    pub shared_with: Vec<String>,
}

/// `similar`: the nearest works per backbone, side by side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimilarView {
    /// The (first) example: the work or image the neighbours are of.
    pub query: QueryView,
    /// The other examples of a "more like these" search.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<QueryView>,
    /// The works the search moved away from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not: Vec<QueryView>,
    /// The least similarity a result was allowed, when one was set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f32>,
    /// The backbones in column order.
    pub backbones: Vec<String>,
    /// Per backbone name, nearest first.
    pub results: BTreeMap<String, Vec<Hit>>,
    /// How many works are in every backbone's list (`None` with one backbone).
    pub overlap: Option<usize>,
    /// The filters applied, as given.
    #[serde(default)]
    pub filters: Vec<String>,
}
