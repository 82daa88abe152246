//! The view of `explain`: a query and one reference per backbone, with the
//! patch maps of where they look alike.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{PairMaps, Provenance};

/// `explain`: for a query and one reference per backbone, the patch maps.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExplainView {
    pub query: ExplainImage,
    /// Per backbone id.
    pub models: BTreeMap<String, ExplainModel>,
    #[serde(default)]
    pub provenance: Provenance,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// An image `explain` looked at.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExplainImage {
    /// The file read.
    pub path: String,
    /// Set when the image is a stored work.
    pub id: Option<u64>,
    pub hash: Option<String>,
    pub rating: Option<f64>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

/// One backbone's explanation of a query against one reference.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExplainModel {
    pub reference: ExplainImage,
    /// How the reference was chosen: `"given"`, `"nearest rated work"` or
    /// `"nearest stored work"` (when nothing is rated).
    pub chosen: String,
    /// Cosine similarity of the two embeddings.
    pub similarity: f32,
    /// Attention heads of the last block.
    pub heads: usize,
    pub maps: PairMaps,
}
