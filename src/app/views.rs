//! The views the application layer returns: plain data with serde derives,
//! printed by the CLI as text or `--json` and served by the web front end as
//! the same JSON. The score and compare views live in [`crate::report`],
//! beside the HTML pages drawn from them.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::model::{CheckpointFiles, Fingerprint};
use crate::scan::Metadata;
use crate::store::{FailureRecord, Root};

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

/// A rating as listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RatingView {
    pub id: Option<u64>,
    pub hash: String,
    pub path: Option<String>,
    pub rating: f64,
    pub source: String,
}

/// A preference as listed: the preferred work, the other one, who said it
/// and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreferenceView {
    pub rater: String,
    /// The preferred work's id, content hash and first path (id and path
    /// are `None` when the work is no longer in the store).
    pub winner_id: Option<u64>,
    pub winner_hash: String,
    pub winner_path: Option<String>,
    pub loser_id: Option<u64>,
    pub loser_hash: String,
    pub loser_path: Option<String>,
    /// Where it came from: `prefer` (the command line) or a front end.
    pub source: String,
    /// Seconds since the Unix epoch.
    pub time: u64,
}

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
}

/// What `export` writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    Npy,
    Csv,
    /// One Parquet file per backbone, with the embeddings, paths, metadata and ratings.
    Parquet,
}

/// `export`'s request.
#[derive(Debug, Clone)]
pub struct ExportRequest {
    pub backbone: crate::model::BackboneId,
    pub format: ExportFormat,
    pub out_dir: PathBuf,
    /// Whose ratings fill `items.csv`'s `rating` column.
    pub rater: crate::ratings::Rater,
}

/// `manifest.json`, written beside exported data: what the numbers are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportManifest {
    pub backbone: String,
    pub hub_id: String,
    pub fingerprint: Fingerprint,
    pub dim: usize,
    pub rows: usize,
    pub format: ExportFormat,
    pub files: Vec<String>,
    pub artlens_version: String,
    /// Seconds since the Unix epoch.
    pub exported_at: u64,
    pub store: String,
    /// Whose ratings `items.csv`'s `rating` column holds (absent in exports
    /// made before the column existed).
    #[serde(default)]
    pub rater: String,
}

/// What `export` did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportView {
    pub out_dir: String,
    pub manifest: ExportManifest,
}
