//! The view of `score`: each image, each backbone's score of it, and what
//! explains the score.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Provenance;
use crate::explain::{Contribution, ImageMaps, Reference};

/// Everything the score report shows; also the `--json` output of `score`
/// (one [`ScoredImage`] per line or array element).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScoreView {
    /// The images scored, in the order asked for.
    pub images: Vec<ScoredImage>,
    /// Who made the view, from which store, with which backbones.
    #[serde(default)]
    pub provenance: Provenance,
    /// Things the reader must know before trusting the scores ("ratings
    /// changed after the heads were trained"), shown prominently.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// One query image and what each backbone made of it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScoredImage {
    /// The image's path as given.
    pub path: String,
    /// Why the image could not be scored (decode failure, ...); `models` is
    /// then usually empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Per backbone, keyed by the backbone's id ([`super::BackboneLabel::id`]).
    #[serde(default)]
    pub models: BTreeMap<String, ModelScore>,
    /// How many references the backbones share (by id); `None` with fewer
    /// than two backbones.
    pub reference_overlap: Option<usize>,
}

/// One backbone's score of one image, and what explains it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelScore {
    /// The trained taste head's prediction, on the ratings' scale.
    pub score: f64,
    /// The similarity-weighted mean rating of `references`
    /// ([`crate::explain::knn_estimate`]).
    pub knn_estimate: Option<f64>,
    /// The rated works nearest to the image, most similar first.
    pub references: Vec<Reference>,
    /// True when the image lies farther from every stored work than the
    /// collection's threshold: the score extrapolates.
    pub out_of_distribution: bool,
    /// Similarity of the image to its most similar stored work.
    pub nearest_similarity: f32,
    /// The similarity below which an image counts as out of distribution
    /// (1 − the distance threshold).
    pub threshold_similarity: f32,
    /// The mean of the ratings the ridge head was trained on, where its
    /// weighted vote starts; with `contributions` and `contribution_rest` it
    /// adds up to `score`. `None` when the head cannot be taken apart (see
    /// `contributions_note`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intercept: Option<f64>,
    /// The score as a weighted vote of the rated works
    /// ([`crate::explain::VoteSupport`]): the works that pulled it up most
    /// (largest first), then those that pulled it down most, each with its
    /// weight; the scored work's own rating among them when it is one.
    #[serde(default)]
    pub contributions: Vec<Contribution>,
    /// The summed contributions of every other rated work:
    /// `intercept + Σ contributions + contribution_rest = score`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contribution_rest: Option<f64>,
    /// How many rated works `contribution_rest` sums.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contribution_rest_count: Option<usize>,
    /// Why there are no contributions (an MLP head, an old head), when so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contributions_note: Option<String>,
    /// The person's rating of the scored image, when it is a work they
    /// rated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub your_rating: Option<f64>,
    /// With `your_rating`: what the head predicts for the work without its
    /// own rating (ridge leave-one-out, λ and the standardisation held
    /// fixed; `crate::head::KernelVote::leave_one_out`). The score itself
    /// when the head was trained before the work was rated; `None` for a
    /// head that cannot say (the MLP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub without_your_rating: Option<f64>,
    /// Where the image and its first reference look alike (only when asked
    /// for: `score --html`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maps: Option<PairMaps>,
}

impl ModelScore {
    /// A score with nothing explained yet: no contributions, no maps.
    pub fn new(score: f64, references: Vec<Reference>) -> Self {
        ModelScore {
            score,
            knn_estimate: crate::explain::knn_estimate(&references),
            references,
            out_of_distribution: false,
            nearest_similarity: f32::NAN,
            threshold_similarity: f32::NAN,
            intercept: None,
            contributions: Vec::new(),
            contribution_rest: None,
            contribution_rest_count: None,
            contributions_note: None,
            your_rating: None,
            without_your_rating: None,
            maps: None,
        }
    }
}

/// The patch maps of one image pair under one backbone: where each image
/// matches the other, and where each one's CLS token looks.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PairMaps {
    /// The query image's maps.
    pub query: ImageMaps,
    /// The reference work's maps.
    pub reference: ImageMaps,
}
