//! The view of a Parquet export, and the manifest of each file it writes.

use serde::{Deserialize, Serialize};

use crate::model::Fingerprint;

/// The manifest of one Parquet file (also in its key-value metadata).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParquetManifest {
    pub file: String,
    pub backbone: String,
    pub hub_id: String,
    pub fingerprint: Fingerprint,
    pub dim: usize,
    pub rows: usize,
    pub row_groups: usize,
    /// The metadata columns, in file order.
    pub metadata_columns: Vec<String>,
    pub artlens_version: String,
    /// Seconds since the Unix epoch.
    pub exported_at: u64,
    pub store: String,
    /// Whose ratings the `rating` column holds (absent in exports made
    /// before the column existed).
    #[serde(default)]
    pub rater: String,
}

/// What a Parquet export wrote (also `manifest.json` in the folder).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParquetExportView {
    pub out_dir: String,
    pub format: String,
    pub files: Vec<ParquetManifest>,
    /// True when an older export in the folder was replaced.
    pub replaced: bool,
    pub artlens_version: String,
}
