//! The view of `explain`: a query and one reference per backbone, with the
//! patch maps of where they look alike.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{PairMaps, Provenance};

/// `explain`: for a query and one reference per backbone, the patch maps.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExplainView {
    /// The image being explained.
    pub query: ExplainImage,
    /// Per backbone id.
    pub models: BTreeMap<String, ExplainModel>,
    /// Who made the view, from which store, with which backbones.
    #[serde(default)]
    pub provenance: Provenance,
    /// Things the reader must know before trusting the maps (an out-of-distribution query, a
    /// missing embedding); empty and absent from the JSON when there are none.
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
    /// The work's content hash (blake3, hex) when it is a stored work.
    pub hash: Option<String>,
    /// The rater's rating of the work; `None` when it is not rated or not stored.
    pub rating: Option<f64>,
    /// The work's metadata (CSV columns such as `title`, `artist`, `style`); empty for an image
    /// that is not stored.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

/// One backbone's explanation of a query against one reference.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExplainModel {
    /// The work the query is compared with.
    pub reference: ExplainImage,
    /// How the reference was chosen: `"given"`, `"nearest rated work"` or
    /// `"nearest stored work"` (when nothing is rated).
    pub chosen: String,
    /// Cosine similarity of the two embeddings.
    pub similarity: f32,
    /// Attention heads of the last block.
    pub heads: usize,
    /// Where the two images look alike, patch by patch, and where the backbone looks.
    pub maps: PairMaps,
}
