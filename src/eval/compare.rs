//! The comparison's measurements: label metrics and neighbour agreement on
//! the works every backbone holds, and the figures a saved training run
//! holds for each backbone, with the verdict in words.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::explain::{self, LabelMetrics};
use crate::head::{Comparison, SavedTraining};
use crate::model::registry::BackboneId;

/// The label `compare` measures when none is given.
pub(crate) const DEFAULT_COMPARE_LABEL: &str = "style";

/// The verdict `compare` gives before any training.
// Written for every front end: the command line adds its next step
// (NO_TRAINING_NOTE, on stderr), the web app trains by itself.
const NO_VERDICT: &str = "No verdict on taste yet: no taste head has been trained on your ratings.";

/// What `compare` tells the user when there is no saved training.
pub(crate) const NO_TRAINING_NOTE: &str = "no trained heads yet: `artlens rate import CSV` and `artlens train` add the taste metrics and the verdict";

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
    pub(crate) fn from_label_metrics(m: &LabelMetrics) -> Self {
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
    /// The lower end of the confidence interval of `diff`.
    pub ci_low: f64,
    /// The upper end of the confidence interval of `diff`.
    pub ci_high: f64,
    /// The interval's confidence level, in (0, 1) (0.95).
    pub ci_level: f64,
    /// True when the interval excludes 0.
    pub significant: bool,
}

impl From<&Comparison> for PairComparison {
    /// The comparison as reports show it: the metric by its label.
    fn from(c: &Comparison) -> Self {
        PairComparison {
            a: c.a.clone(),
            b: c.b.clone(),
            metric: c.metric.label().to_string(),
            diff: c.diff,
            ci_low: c.ci_low,
            ci_high: c.ci_high,
            ci_level: c.ci_level,
            significant: c.significant,
        }
    }
}

/// The neighbour agreement of one pair of backbones.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PairAgreement {
    /// The first backbone's id.
    pub a: String,
    /// The second backbone's id.
    pub b: String,
    /// Mean share of each item's k nearest neighbours both agree on.
    pub agreement: f64,
    /// What two unrelated spaces would score.
    pub chance: f64,
}

/// Each backbone's label columns, its vectors (`vectors[b]`, one per work)
/// against the works' `labels` (`None`: the work has none) with `k`
/// neighbours. With fewer than two labelled works there is nothing to
/// measure: each column only counts them.
/// `groups` labels the works by duplicate group: a work's copies are never
/// its neighbours.
pub(crate) fn label_columns(
    vectors: &[Vec<&[f32]>],
    labels: &[Option<String>],
    groups: Option<&[usize]>,
    k: usize,
) -> Result<Vec<CompareModel>> {
    let labelled = labels.iter().filter(|l| l.is_some()).count();
    vectors
        .iter()
        .map(|v| {
            if labelled >= 2 {
                Ok(CompareModel::from_label_metrics(
                    &explain::label_metrics_grouped(v, labels, groups, k)?,
                ))
            } else {
                Ok(CompareModel {
                    n: labelled,
                    ..Default::default()
                })
            }
        })
        .collect()
}

/// The neighbour agreement of every pair of backbones (`ids[i]` before
/// `ids[j]`), each backbone's vectors of the same works in one order.
pub fn agreements(ids: &[String], vectors: &[Vec<&[f32]>], k: usize) -> Result<Vec<PairAgreement>> {
    let works = vectors.first().map_or(0, Vec::len);
    let mut out = Vec::new();
    for i in 0..ids.len() {
        for j in i + 1..ids.len() {
            out.push(PairAgreement {
                a: ids[i].clone(),
                b: ids[j].clone(),
                agreement: explain::neighbour_agreement(&vectors[i], &vectors[j], k)?,
                chance: explain::neighbour_agreement_chance(works, k),
            });
        }
    }
    Ok(out)
}

/// What a saved training run says about the backbones `compare` shows.
#[derive(Debug, Clone, Default)]
pub struct TrainingFigures {
    /// False when there is no saved training (or one without a report).
    pub trained: bool,
    /// One sentence saying which backbone did better, and how sure that is;
    /// the preferences' verdict appended when both were learnt.
    pub verdict: String,
    /// The ratings report's statistician's line, procedure and headline
    /// name; empty without one.
    pub verdict_detail: String,
    /// Which procedure produced the verdict; empty without a ratings report.
    pub procedure: String,
    /// What the headline figure is called; empty without a ratings report.
    pub headline_name: String,
    /// Ratings the training saw, and how many an answer needs.
    pub n_ratings: usize,
    /// How many ratings the first answer needs.
    pub first_answer: usize,
    /// The head kind of a training on ratings.
    pub head_kind: Option<String>,
    /// Per backbone id: the pooled cross-validated metrics by name.
    pub cv: BTreeMap<String, BTreeMap<String, f64>>,
    /// Per backbone id: Spearman on growing shares of the ratings.
    pub learning_curve: BTreeMap<String, Vec<CurvePoint>>,
    /// The paired comparisons, as the report lists them.
    pub comparisons: Vec<PairComparison>,
    /// Per backbone id: each fold's Spearman and the fold count K.
    pub fold_spearman: HashMap<String, (Vec<f64>, usize)>,
    /// Per backbone id, once the training has an answer: the headline
    /// figure and its 95% confidence sequence.
    pub headlines: HashMap<String, (f64, f64, f64)>,
    /// What the reader must know (the training did not cover every
    /// backbone shown).
    pub warnings: Vec<String>,
    /// The saved report, verbatim.
    pub train_report_json: Option<serde_json::Value>,
}

/// The figures of `training` (the rater's saved run, if any) for the
/// backbones `shown`.
pub(crate) fn training_figures(
    training: Option<&SavedTraining>,
    shown: &[BackboneId],
) -> Result<TrainingFigures> {
    let mut f = TrainingFigures::default();
    let Some(t) = training else {
        f.verdict = NO_VERDICT.to_string();
        return Ok(f);
    };
    let Some(r) = &t.report else {
        let Some(p) = &t.pairwise else {
            f.verdict = NO_VERDICT.to_string();
            return Ok(f);
        };
        f.trained = true;
        f.train_report_json = Some(to_json(p, "pairwise report")?);
        f.verdict = p.verdict.clone();
        return Ok(f);
    };
    f.trained = true;
    f.head_kind = Some(t.head_kind.name().to_string());
    f.verdict_detail = r.verdict_detail.clone();
    f.procedure = r.procedure.clone();
    f.headline_name = r.headline_name.clone();
    f.n_ratings = r.n_ratings;
    f.first_answer = r.first_answer;
    for (name, b) in &r.backbones {
        if r.answer_ready() {
            f.headlines
                .insert(name.clone(), (b.headline, b.headline_low, b.headline_high));
        }
        let per_fold: Vec<f64> = b.per_fold.iter().map(|m| m.spearman).collect();
        f.fold_spearman.insert(name.clone(), (per_fold, r.folds));
        f.cv.insert(
            name.clone(),
            BTreeMap::from([
                ("spearman".to_string(), b.pooled.spearman),
                ("pearson".to_string(), b.pooled.pearson),
                ("mae".to_string(), b.pooled.mae),
                ("pairwise_accuracy".to_string(), b.pooled.pairwise_accuracy),
            ]),
        );
        f.learning_curve.insert(
            name.clone(),
            b.learning_curve
                .iter()
                .map(|p| CurvePoint {
                    fraction: p.fraction,
                    n_train: p.n_train,
                    spearman: p.metrics.spearman,
                })
                .collect(),
        );
    }
    f.comparisons = r.comparisons.iter().map(PairComparison::from).collect();
    if shown.iter().any(|b| !r.backbones.contains_key(&b.name())) {
        let asked: Vec<String> = shown.iter().map(BackboneId::name).collect();
        f.warnings.push(format!(
            "the last training run covered {}, not every backbone shown; run `artlens train --backbones {}`",
            t.backbones.join(", "),
            asked.join(",")
        ));
    }
    f.train_report_json = Some(to_json(r, "train report")?);
    f.verdict = match &t.pairwise {
        Some(p) => format!("{}. On preferences: {}", r.verdict, p.verdict),
        None => r.verdict.clone(),
    };
    Ok(f)
}

/// A saved report as JSON, for showing it verbatim.
fn to_json<T: Serialize>(report: &T, what: &str) -> Result<serde_json::Value> {
    serde_json::to_value(report)
        .map_err(|e| Error::InvalidArgument(format!("cannot serialise the {what}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_two_labelled_works_the_columns_only_count() {
        let a = [1.0f32, 0.0];
        let b = [0.0f32, 1.0];
        let vectors = vec![vec![&a[..], &b[..]]];
        let cols = label_columns(&vectors, &[Some("x".into()), None], None, 1).unwrap();
        assert_eq!(cols.len(), 1);
        assert_eq!(cols[0].n, 1);
        assert_eq!(cols[0].loo_accuracy, None);
    }

    #[test]
    fn every_pair_is_compared_once_in_order() {
        let (a, b, c) = ([1.0f32, 0.0], [0.0f32, 1.0], [0.7f32, 0.7]);
        let space = vec![&a[..], &b[..], &c[..]];
        let vectors = vec![space.clone(), space.clone(), space];
        let ids: Vec<String> = ["x", "y", "z"].map(String::from).to_vec();
        let pairs = agreements(&ids, &vectors, 1).unwrap();
        let names: Vec<(&str, &str)> = pairs.iter().map(|p| (&*p.a, &*p.b)).collect();
        assert_eq!(names, [("x", "y"), ("x", "z"), ("y", "z")]);
        // Identical spaces agree on every neighbour.
        assert!(pairs.iter().all(|p| p.agreement == 1.0));
    }

    #[test]
    fn no_training_gives_the_no_verdict_sentence() {
        let f = training_figures(None, &[]).unwrap();
        assert!(!f.trained);
        assert_eq!(f.verdict, NO_VERDICT);
        assert!(f.train_report_json.is_none());
    }
}
