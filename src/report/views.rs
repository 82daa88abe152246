//! The view types: what the pages show, and what `--json` prints. Plain data
//! with serde derives, numbers and strings only, so that a view does not
//! depend on how the head or the index computed it, and the page and the
//! JSON cannot disagree.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::explain::{Contribution, ImageMaps, LabelMetrics, Reference};

/// Everything the score report shows; also the `--json` output of `score`
/// (one [`ScoredImage`] per line or array element).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScoreView {
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
    /// Per backbone, keyed by the backbone's id ([`BackboneLabel::id`]).
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
    /// fixed; [`crate::head::KernelVote::leave_one_out`]). The score itself
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
    pub query: ImageMaps,
    pub reference: ImageMaps,
}

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

/// Everything the compare report shows; also the `--json` output of `compare`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CompareView {
    /// The metadata key the label metrics were computed for (`"style"`);
    /// empty when none was.
    pub label: String,
    /// Per backbone, keyed by the backbone's id ([`BackboneLabel::id`]).
    pub models: BTreeMap<String, CompareModel>,
    /// With two backbones: the mean share of each item's k nearest
    /// neighbours they agree on ([`crate::explain::neighbour_agreement`]).
    /// With more, see `agreements`.
    pub neighbour_agreement: f64,
    /// What two unrelated spaces would score
    /// ([`crate::explain::neighbour_agreement_chance`]).
    #[serde(default)]
    pub neighbour_agreement_chance: f64,
    /// The neighbourhood size of the label metrics and the agreement.
    pub k: usize,
    /// Per backbone, the taste head's held-out Spearman correlation when
    /// trained on growing shares of the ratings.
    #[serde(default)]
    pub learning_curve: BTreeMap<String, Vec<CurvePoint>>,
    /// One sentence saying which backbone did better, and how sure that is.
    pub verdict: String,
    /// The statistician's version of the verdict ([`crate::head::TrainReport::verdict_detail`]).
    #[serde(default)]
    pub verdict_detail: String,
    /// Which procedure produced the verdict ([`crate::head::TrainReport::procedure`]).
    #[serde(default)]
    pub procedure: String,
    /// What the headline figure is called; empty without a training.
    #[serde(default)]
    pub headline_name: String,
    /// Ratings the training saw, and how many an answer needs.
    #[serde(default)]
    pub n_ratings: usize,
    #[serde(default)]
    pub first_answer: usize,
    /// The head's training report as it was saved, shown verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_report_json: Option<serde_json::Value>,
    /// Who made the view, from which store, with which backbones.
    #[serde(default)]
    pub provenance: Provenance,
    /// Paired differences between backbones on one metric, with their
    /// confidence intervals.
    #[serde(default)]
    pub comparisons: Vec<PairComparison>,
    /// Neighbour agreement of each pair of backbones (shown when there are
    /// more than two).
    #[serde(default)]
    pub agreements: Vec<PairAgreement>,
    /// Things the reader must know before trusting the comparison, shown
    /// prominently.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// The backbones along the data ladder, smallest pretraining set first
    /// (the order of every column): the seed's question as one list.
    #[serde(default)]
    pub ladder: Vec<LadderPoint>,
}

/// One backbone on the data ladder: its pretraining data and the taste
/// head's cross-validated Spearman with an interval.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LadderPoint {
    pub id: String,
    pub display_name: String,
    /// `dino`, `dinov2`, ...; empty for an unlisted checkpoint.
    pub family: String,
    pub pretraining_data: String,
    /// 0 when unknown (an unlisted checkpoint without a known tag).
    pub pretraining_images: u64,
    pub params: u64,
    /// Mean held-out Spearman over the R×K folds of the last training.
    pub spearman: Option<f64>,
    /// The 95% interval of that mean with Nadeau & Bengio's corrected
    /// variance for repeated K-fold, `(1/J + 1/(K − 1)) · s²` over the J
    /// fold values (Bouckaert & Frank 2004), and Student's t with J − 1
    /// degrees of freedom.
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    /// Fold values the interval is made of (R·K).
    pub folds: usize,
    /// The headline figure ([`crate::head::BackboneReport::headline`]), 0–1,
    /// with its 95% confidence sequence: what the chart plots. `None` until
    /// the training has an answer (enough ratings).
    #[serde(default)]
    pub headline: Option<f64>,
    #[serde(default)]
    pub headline_low: Option<f64>,
    #[serde(default)]
    pub headline_high: Option<f64>,
}

/// One backbone's numbers in the compare report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CompareModel {
    /// Leave-one-out k-NN accuracy on the label ([`crate::explain::loo_knn_accuracy`]).
    pub loo_accuracy: Option<f64>,
    /// Mean share of the k nearest neighbours with the same label.
    pub precision_at_k: Option<f64>,
    /// Accuracy of always predicting the most frequent label.
    pub chance: Option<f64>,
    /// Precision@k of random neighbours.
    #[serde(default)]
    pub precision_chance: Option<f64>,
    /// Items with the label.
    pub n: usize,
    /// The taste head's cross-validated metrics by name (`"spearman"`,
    /// `"mae"`, ...), shown as given; empty when no head was evaluated.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub cv: BTreeMap<String, f64>,
}

impl CompareModel {
    /// The label columns filled from [`crate::explain::label_metrics`]; `cv`
    /// is left empty.
    pub fn from_label_metrics(m: &LabelMetrics) -> Self {
        CompareModel {
            loo_accuracy: Some(m.accuracy.value),
            precision_at_k: Some(m.precision.value),
            chance: Some(m.accuracy.chance),
            precision_chance: Some(m.precision.chance),
            n: m.accuracy.n,
            cv: BTreeMap::new(),
        }
    }
}

/// One point of a learning curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    /// Share of the ratings the head was trained on, in (0, 1].
    pub fraction: f64,
    /// How many ratings that is.
    pub n_train: usize,
    /// Spearman correlation of the head's predictions with held-out ratings.
    pub spearman: f64,
}

/// Who and what made a view: shown in HTML reports and included in --json.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    pub artlens_version: String,
    /// Seconds since the Unix epoch when the view was made.
    pub generated_at: u64,
    /// The store folder the view was computed from.
    pub store: String,
    /// "ridge" or "mlp" when a taste head was used.
    pub head_kind: Option<String>,
    /// The backbones shown, in column order.
    pub backbones: Vec<BackboneLabel>,
}

impl Provenance {
    /// A provenance made now by this build of artlens.
    pub fn now(
        store: impl Into<String>,
        head_kind: Option<String>,
        backbones: Vec<BackboneLabel>,
    ) -> Self {
        let generated_at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Provenance {
            artlens_version: env!("CARGO_PKG_VERSION").to_string(),
            generated_at,
            store: store.into(),
            head_kind,
            backbones,
        }
    }

    /// The label of the backbone with id `id`, if recorded.
    pub fn backbone(&self, id: &str) -> Option<&BackboneLabel> {
        self.backbones.iter().find(|b| b.id == id)
    }
}

/// How a backbone is named and described on a page.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BackboneLabel {
    /// The short id used as key in `models` (e.g. "dino", "dinov2@224").
    pub id: String,
    /// The hub repository (e.g. "facebook/dino-vitb16").
    pub hub_id: String,
    /// e.g. "DINOv2 ViT-B/14".
    pub display_name: String,
    /// One line: architecture, pretraining data and its size in images.
    pub description: String,
    /// Input resolution in pixels.
    pub resolution: u32,
}

/// A paired difference `b − a` on one metric, with its confidence interval.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PairComparison {
    /// Backbone id of the baseline.
    pub a: String,
    /// Backbone id compared with it.
    pub b: String,
    /// The metric's name (`"spearman"`, ...).
    pub metric: String,
    /// `b − a` on the metric.
    pub diff: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    /// The interval's confidence level, in (0, 1) (0.95).
    pub ci_level: f64,
    /// True when the interval excludes 0.
    pub significant: bool,
}

/// The neighbour agreement of one pair of backbones.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PairAgreement {
    pub a: String,
    pub b: String,
    /// Mean share of each item's k nearest neighbours both agree on.
    pub agreement: f64,
    /// What two unrelated spaces would score.
    pub chance: f64,
}
