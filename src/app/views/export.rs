//! `export`'s request and views (NumPy and CSV, Parquet), and the manifests
//! they write beside the data.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::model::registry::BackboneId;
use crate::model::Fingerprint;
use crate::ratings::Rater;
use crate::store::Store;

/// What `export` writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    /// `embeddings.npy` (a `[rows, dim]` float32 array) and `items.csv` (id, hash, path, metadata
    /// and rating per row, in the array's order).
    Npy,
    /// `embeddings.csv` (one row of `dim` numbers per work) and `items.csv`, as for `npy`.
    Csv,
    /// One Parquet file per backbone, with the embeddings, paths, metadata and ratings.
    Parquet,
}

/// `export`'s request.
#[derive(Debug, Clone)]
pub struct ExportRequest {
    /// The backbone whose embeddings are exported.
    pub backbone: BackboneId,
    /// The file format.
    pub format: ExportFormat,
    /// The folder written; made if missing, and refused when it holds files no earlier export
    /// wrote.
    pub out_dir: PathBuf,
    /// Whose ratings fill `items.csv`'s `rating` column.
    pub rater: Rater,
}

/// `manifest.json`, written beside exported data: what the numbers are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportManifest {
    /// Which embeddings the files hold; these fields open the JSON object.
    #[serde(flatten)]
    pub embeddings: ExportedEmbeddings,
    /// `npy` or `csv`.
    pub format: ExportFormat,
    /// The files written, relative to the export folder.
    pub files: Vec<String>,
    /// Who exported them, when, from where; `items.csv`'s `rating` column's
    /// rater.
    #[serde(flatten)]
    pub stamp: ExportStamp,
}

/// Which embeddings an export holds: one backbone's, `rows` of `dim`
/// numbers, made as `fingerprint` says. Every manifest (NumPy, CSV,
/// Parquet) starts with these fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportedEmbeddings {
    /// The backbone's id with its resolution (`dinov2@224`).
    pub backbone: String,
    /// The checkpoint's Hugging Face id (`facebook/dinov2-base`).
    pub hub_id: String,
    /// How the embeddings were made: weights, preprocessing and dimension; the store checks it the
    /// same way.
    pub fingerprint: Fingerprint,
    /// The length of each embedding (768 for the ViT-B backbones).
    pub dim: usize,
    /// How many works (embeddings) the export holds.
    pub rows: usize,
}

impl ExportedEmbeddings {
    /// The fields of `backbone`'s embeddings: `rows` of `dim` numbers.
    pub fn of(backbone: &BackboneId, fingerprint: Fingerprint, dim: usize, rows: usize) -> Self {
        ExportedEmbeddings {
            backbone: backbone.name(),
            hub_id: backbone.spec().hub_id.to_string(),
            fingerprint,
            dim,
            rows,
        }
    }
}

/// Who made an export, when and from which store, and whose ratings its
/// `rating` column holds: every manifest ends with these fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportStamp {
    /// The version of artlens that wrote the export.
    pub artlens_version: String,
    /// Seconds since the Unix epoch.
    pub exported_at: u64,
    /// The store's folder, as a path.
    pub store: String,
    /// Whose ratings the `rating` column holds (absent in exports made
    /// before the column existed).
    #[serde(default)]
    pub rater: String,
}

impl ExportStamp {
    /// An export made now, by this build, from `store`, with `rater`'s ratings.
    pub fn now(store: &Store, rater: &Rater) -> Self {
        ExportStamp {
            artlens_version: env!("CARGO_PKG_VERSION").to_string(),
            exported_at: crate::store::now_secs(),
            store: store.path().display().to_string(),
            rater: rater.name().to_string(),
        }
    }
}

/// What `export` did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportView {
    /// The folder the export was written to.
    pub out_dir: String,
    /// What `manifest.json` in that folder holds.
    pub manifest: ExportManifest,
}

/// The manifest of one Parquet file (also in its key-value metadata).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParquetManifest {
    /// The Parquet file's name, relative to the export folder.
    pub file: String,
    /// Which embeddings the files hold; these fields open the JSON object.
    #[serde(flatten)]
    pub embeddings: ExportedEmbeddings,
    /// How many row groups the file holds.
    pub row_groups: usize,
    /// The metadata columns, in file order.
    pub metadata_columns: Vec<String>,
    /// Who exported them, when, from where; the `rating` column's rater.
    #[serde(flatten)]
    pub stamp: ExportStamp,
}

/// What a Parquet export wrote (also `manifest.json` in the folder).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParquetExportView {
    /// The folder the export was written to.
    pub out_dir: String,
    /// Always `"parquet"`.
    pub format: String,
    /// One manifest per file written, one file per backbone.
    pub files: Vec<ParquetManifest>,
    /// True when an older export in the folder was replaced.
    pub replaced: bool,
    /// The version of artlens that wrote the export.
    pub artlens_version: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A manifest as exports wrote it before the shared field groups, and
    /// before the `rater` field: the keys in their order on disk.
    const OLD_MANIFEST: &str = r#"{"backbone":"dino","hub_id":"facebook/dino-vitb16",
        "fingerprint":{"backbone":"dino","weights_blake3":"ab","preprocess":{"geometry":
        {"kind":"squash","width":224,"height":224},"filter":"bicubic","rescale":0.5,
        "mean":[0.0,0.0,0.0],"std":[1.0,1.0,1.0]},"dim":768},"dim":768,"rows":24,
        "format":"npy","files":["embeddings.npy","items.csv"],"artlens_version":"0.1.0",
        "exported_at":7,"store":"/s"}"#;

    #[test]
    fn manifests_keep_their_keys_in_order_and_read_old_files() {
        let m: ExportManifest = serde_json::from_str(OLD_MANIFEST).unwrap();
        assert_eq!(m.embeddings.rows, 24);
        assert_eq!(m.stamp.rater, "", "a manifest without a rater still reads");
        let json = serde_json::to_string(&m).unwrap();
        let keys: Vec<&str> = [
            "backbone",
            "hub_id",
            "fingerprint",
            "dim",
            "rows",
            "format",
            "files",
            "artlens_version",
            "exported_at",
            "store",
            "rater",
        ]
        .to_vec();
        let at: Vec<usize> = keys
            .iter()
            .map(|k| json.find(&format!("\"{k}\":")).unwrap())
            .collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "{json}");
        // Nothing but those keys at the top level.
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value.as_object().unwrap().len(), keys.len());
    }
}
