//! The view of `similar`: the nearest works per backbone, side by side.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::scan::Metadata;

/// The work a `similar` query was about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryView {
    /// Set when the query is a stored work.
    pub id: Option<u64>,
    pub hash: Option<String>,
    pub path: Option<String>,
    #[serde(default)]
    pub metadata: Metadata,
    /// False for a new image, embedded for the query and not stored.
    pub stored: bool,
}

/// One neighbour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    pub id: u64,
    pub hash: String,
    pub path: Option<String>,
    pub similarity: f32,
    #[serde(default)]
    pub metadata: Metadata,
    /// The other backbones whose lists hold this work too.
    #[serde(default)]
    pub shared_with: Vec<String>,
}

/// `similar`: the nearest works per backbone, side by side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimilarView {
    /// The (first) example.
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
