//! The views of `show` (one work) and `ls` (one row a work).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::scan::Metadata;

/// `show WORK`: everything known about one work.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkView {
    pub id: u64,
    pub hash: String,
    pub paths: Vec<String>,
    /// Each path relative to its collection root, where it has one.
    pub relative_paths: Vec<Option<String>>,
    pub size: u64,
    pub width: u32,
    pub height: u32,
    pub metadata: Metadata,
    /// The rating of the rater asked for.
    pub rating: Option<f64>,
    /// The backbones holding an embedding of it.
    pub backbones: Vec<String>,
    /// Per backbone, the ids of its nearest works (nearest first).
    pub neighbours: BTreeMap<String, Vec<u64>>,
}

/// One row of `ls`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkSummary {
    pub id: u64,
    pub hash: String,
    pub path: Option<String>,
    pub metadata: Metadata,
    pub rating: Option<f64>,
    /// The rater's predicted score of the work, when `ls` is sorted by
    /// prediction (`--sort predicted`), on the rating scale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicted: Option<f64>,
    /// The backbone whose head made `predicted`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicted_by: Option<String>,
}
