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
    pub query: QueryView,
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
