//! The view of `status`: what the store holds, per backbone and per rater.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{CheckpointFiles, Fingerprint};
use crate::store::{FailureRecord, Root};

/// `status`: what the store holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusView {
    pub store: String,
    pub format_version: u32,
    pub artworks: usize,
    /// Per backbone name.
    pub models: BTreeMap<String, StatusBackbone>,
    pub roots: Vec<Root>,
    /// The shard of its collection this store holds (`index --shard`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<crate::shard::Shard>,
    /// The rater the status was asked for: `ratings`, `training` and each
    /// backbone's `head` are this rater's.
    pub rater: String,
    /// Ratings by `rater`.
    pub ratings: usize,
    /// Every rater with ratings or preferences, the default rater first.
    pub raters: Vec<RaterStatus>,
    pub failures: Vec<FailureRecord>,
    pub vanished: Vec<String>,
    pub size_bytes: u64,
    /// `rater`'s last training run: head kind, backbones, whether ratings
    /// changed since.
    pub training: Option<serde_json::Value>,
}

/// One backbone in `status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusBackbone {
    pub id: String,
    pub hub_id: String,
    pub display_name: String,
    pub description: String,
    pub embeddings: usize,
    pub fingerprint: Option<Fingerprint>,
    pub weights: Option<CheckpointFiles>,
    /// True when a trained taste head of the rater asked for is saved for it.
    pub head: bool,
}

/// One rater in `status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RaterStatus {
    pub name: String,
    pub ratings: usize,
    pub preferences: usize,
    /// Unordered pairs of works this rater preferred both ways (kept: people
    /// change their minds).
    pub contradictions: usize,
    /// Whether a training run is saved for this rater.
    pub trained: bool,
}
