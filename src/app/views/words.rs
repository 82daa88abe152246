//! The view of `taste`: a rater's taste described in words, per
//! text-capable backbone.

use serde::{Deserialize, Serialize};

pub use crate::eval::words::{PhraseFinding, TasteWords, VocabularyReport};

use super::search::SkippedBackbone;

/// One backbone's description of the taste.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TasteWordsColumn {
    /// The backbone.
    pub backbone: String,
    /// Its name for people.
    pub display_name: String,
    /// The figures: phrases up and down, held-out Spearman, the chance
    /// level and the permutation p-value.
    pub words: TasteWords,
    /// The finding in one sentence.
    pub sentence: String,
    /// Vocabulary phrases this backbone's tokenizer cut to its context.
    #[serde(default)]
    pub truncated_phrases: usize,
}

/// `taste`: what in the vocabulary explains a rater's ratings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TasteWordsView {
    /// Whose ratings.
    pub rater: String,
    /// Ratings the rater gave.
    pub ratings: usize,
    /// The vocabulary: its size, where it came from, what was dropped.
    pub vocabulary: VocabularyReport,
    /// The backbones described, in column order.
    pub backbones: Vec<String>,
    /// Per backbone, in the order of `backbones`.
    pub columns: Vec<TasteWordsColumn>,
    /// Backbones without a text tower.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<SkippedBackbone>,
    /// The method in one line, for the page's footnote.
    pub method: String,
}
