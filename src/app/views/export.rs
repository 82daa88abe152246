//! `export`'s request and view, and the manifest it writes beside the data.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::model::Fingerprint;

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
