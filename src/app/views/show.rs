//! The views of `show` (one work) and `ls` (one row a work).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::scan::Metadata;

/// `show WORK`: everything known about one work.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkView {
    /// The work's id in the store.
    pub id: u64,
    /// The work's content hash (blake3 of its bytes, hex).
    pub hash: String,
    /// Every stored path of this content (the same image may sit in several places).
    pub paths: Vec<String>,
    /// Each path relative to its collection root, where it has one.
    pub relative_paths: Vec<Option<String>>,
    /// The file's size in bytes.
    pub size: u64,
    /// The image's width in pixels.
    pub width: u32,
    /// The image's height in pixels.
    pub height: u32,
    /// The work's metadata (CSV columns such as `title`, `artist`, `style`, or what the WikiArt
    /// layout gives).
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
    /// The work's id in the store.
    pub id: u64,
    /// The work's content hash (blake3, hex).
    pub hash: String,
    /// The first stored path; `None` only for a work whose paths were all removed.
    pub path: Option<String>,
    /// The work's metadata.
    pub metadata: Metadata,
    /// The rating of the rater asked for; `None` when unrated.
    pub rating: Option<f64>,
    /// The rater's predicted score of the work, when `ls` is sorted by
    /// prediction (`--sort predicted`), on the rating scale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicted: Option<f64>,
    /// The backbone whose head made `predicted`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicted_by: Option<String>,
}
