//! The view of `search`: works found by text (and works), per text-capable
//! backbone, side by side.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::scan::Metadata;

/// One term of the query as it was read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchTerm {
    /// The term as it would be typed back (`"stormy sea"`, `-work:12`).
    pub term: String,
    /// `text` or `work`.
    pub kind: String,
    /// The phrase, or the work's name as given.
    pub value: String,
    /// Positive to move towards, negative to move away from.
    pub weight: f32,
    /// The stored work a `work:` term named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work_id: Option<u64>,
    /// Backbones whose tokenizer cut this phrase to their context length.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub truncated_by: Vec<String>,
}

/// One work found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchHit {
    /// The work's id in the store.
    pub id: u64,
    /// Its content hash.
    pub hash: String,
    /// Its first stored path.
    pub path: Option<String>,
    /// Cosine similarity of the query and the work in the backbone's
    /// joint image–text space, from −1 to 1 (higher is closer). Text and
    /// images sit apart in these spaces, so 0.3 is already a close match
    /// for CLIP; compare the numbers within a column.
    pub similarity: f32,
    /// The rater's rating of the work, if they rated it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating: Option<f64>,
    /// The work's metadata.
    #[serde(default)]
    pub metadata: Metadata,
}

/// A backbone of the store that was left out, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SkippedBackbone {
    /// The backbone.
    pub backbone: String,
    /// Why, in words ("no text tower: DINOv2 learned from images alone").
    pub reason: String,
}

/// `search`: the works nearest to a text query, per text-capable backbone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchView {
    /// The query as given.
    pub query: String,
    /// The query's terms as read.
    pub terms: Vec<SearchTerm>,
    /// Whose ratings the hits show.
    pub rater: String,
    /// The backbones searched, in column order.
    pub backbones: Vec<String>,
    /// Backbones of the store (or asked for) without a text tower.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<SkippedBackbone>,
    /// Per backbone, the nearest works first.
    pub results: BTreeMap<String, Vec<SearchHit>>,
    /// The filters applied, as given.
    #[serde(default)]
    pub filters: Vec<String>,
    /// What a person should know about the answer (a phrase cut to the
    /// tower's context, a backbone skipped).
    #[serde(default)]
    pub notes: Vec<String>,
}
