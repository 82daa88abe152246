//! The view of `status`: what the store holds, per backbone and per rater.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{CheckpointFiles, Fingerprint};
use crate::store::{FailureRecord, Root};

/// `status`: what the store holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusView {
    /// The store's folder.
    pub store: String,
    /// The store's on-disk format version.
    pub format_version: u32,
    /// How many works the store holds.
    pub artworks: usize,
    /// Per backbone name.
    pub models: BTreeMap<String, StatusBackbone>,
    /// The collection folders indexed into the store, each with its id.
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
    /// Files that could not be indexed, each with its path, hash when known, reason and time.
    pub failures: Vec<FailureRecord>,
    /// Stored paths that no longer exist on disk.
    pub vanished: Vec<String>,
    /// The store's size on disk in bytes.
    pub size_bytes: u64,
    /// `rater`'s last training run: head kind, backbones, whether ratings
    /// changed since.
    pub training: Option<serde_json::Value>,
    /// Works marked as copies of another (`dups mark`, `dups keep`).
    #[serde(default)]
    pub copies: usize,
}

/// One backbone in `status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusBackbone {
    /// The backbone's id (`dinov2`, `dinov2@224`), the key in `models`.
    pub id: String,
    /// The checkpoint's Hugging Face repository.
    pub hub_id: String,
    /// What pages call it (`DINOv2 ViT-B/14`).
    pub display_name: String,
    /// One line: architecture, pretraining data and its size in images.
    pub description: String,
    /// How many works have an embedding of this backbone.
    pub embeddings: usize,
    /// How the stored embeddings were made; `None` before the first one.
    pub fingerprint: Option<Fingerprint>,
    /// The checkpoint's files on this machine; `None` when they cannot be found without
    /// downloading.
    pub weights: Option<CheckpointFiles>,
    /// True when a trained taste head of the rater asked for is saved for it.
    pub head: bool,
}

/// One rater in `status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RaterStatus {
    /// The rater's name.
    pub name: String,
    /// How many works the rater has rated.
    pub ratings: usize,
    /// How many preferences the rater has stated.
    pub preferences: usize,
    /// Unordered pairs of works this rater preferred both ways (kept: people
    /// change their minds).
    pub contradictions: usize,
    /// Whether a training run is saved for this rater.
    pub trained: bool,
}
