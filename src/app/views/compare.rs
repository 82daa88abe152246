//! The view of `compare`: label metrics, the taste heads' cross-validated
//! figures along the data ladder, paired comparisons and the verdict.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Provenance;
// The comparison's measurements are the domain's own plain data
// (`crate::eval`), held here as they are.
pub use crate::eval::{CompareModel, CurvePoint, LadderPoint, PairAgreement, PairComparison};

/// Everything the compare report shows; also the `--json` output of `compare`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CompareView {
    /// The metadata key the label metrics were computed for (`"style"`);
    /// empty when none was.
    pub label: String,
    /// Per backbone, keyed by the backbone's id ([`super::BackboneLabel::id`]).
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
    /// The number of ratings the first answer needs ([`crate::app::FIRST_ANSWER_AT`]).
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
