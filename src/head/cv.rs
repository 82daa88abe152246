//! Cross-validation and the paired comparison of N backbones, the
//! statistician's detail behind the live answer ([`super::live`]). Works are
//! split into K shuffled folds from a seed (R times over, averaged); each
//! fold's ratings are predicted by a head trained on the other folds, rank
//! metrics are scored on fold-centred out-of-fold predictions, and every
//! pair of backbones is compared on the same folds with a paired bootstrap
//! widened by Nadeau & Bengio's correction, at Bonferroni/Holm levels over
//! the pairs. [`compare_backbones_repeated`] also computes the live
//! headline figures and verdict, which are what `TrainReport::verdict` and
//! `TrainReport::best` say. Why each correction, and the measurements
//! behind them: `docs/STATISTICS.md`.

use std::collections::{BTreeMap, HashSet};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::live::{
    compare_live, headline, live_best, live_detail, live_ratings_needed, live_track_grouped,
    plain_verdict, LiveComparison, FIRST_ANSWER, HEADLINE_DESCRIPTION, HEADLINE_NAME, PROCEDURE,
};
use super::metrics::{holm_adjust, quantile_sorted};
use super::{
    canonical_groups, check_data, fit_rows, grouped_fold_assignment, merged_groups, mix, HeadKind,
    MetricKind, Metrics, SplitMix64,
};
use crate::error::{Error, Result};

/// The fewest ratings cross-validation accepts, whatever the folds: below
/// ten, a rank correlation over the pooled predictions means little.
pub(crate) const MIN_RATINGS: usize = 10;
/// Folds when the caller has no preference.
pub(crate) const DEFAULT_FOLDS: usize = 5;
/// Bootstrap resamples when the caller has no preference.
pub(crate) const DEFAULT_BOOTSTRAP: usize = 2000;
/// Fractions of each training fold the learning curve trains on.
pub(crate) const CURVE_FRACTIONS: [f64; 3] = [0.25, 0.5, 1.0];
/// The family-wise error rate of the comparison: the intervals of one
/// metric hold simultaneously with probability `1 − ALPHA`, and a pair is
/// significant when its Holm-adjusted p is below it (see `docs/STATISTICS.md`).
pub(crate) const ALPHA: f64 = 0.05;

/// The metrics every pair is compared on, in report order.
const COMPARED: [MetricKind; 3] = [
    MetricKind::Spearman,
    MetricKind::Mae,
    MetricKind::PairwiseAccuracy,
];

const TAG_FOLDS: u64 = 1;
const TAG_FIT: u64 = 2;
const TAG_CURVE: u64 = 3;
const TAG_BOOT: u64 = 4;
const TAG_REPEAT: u64 = 5;

/// Repetitions of the K-fold split `artlens train` uses when the caller has
/// no preference (see "Why the K-fold is repeated" in `docs/STATISTICS.md`).
pub const DEFAULT_REPEATS: usize = 10;

/// The fewest ratings K-fold cross-validation accepts: `max(2K, 10)`, so
/// that every test fold holds at least two works (a within-fold ranking
/// exists) and the pooled metrics rest on at least ten.
pub(crate) fn min_ratings(folds: usize) -> usize {
    (2 * folds).max(MIN_RATINGS)
}

/// One head kind on one backbone, cross-validated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CvResult {
    /// The head kind that was fitted in every fold.
    pub kind: HeadKind,
    /// K, the number of folds.
    pub folds: usize,
    /// The seed the folds were shuffled and the heads fitted with; the same seed gives the same
    /// result.
    pub seed: u64,
    /// Metrics of all out-of-fold predictions together (rank metrics on
    /// fold-centred predictions, MAE on raw ones; see `docs/STATISTICS.md`).
    pub pooled: Metrics,
    /// Metrics of each test fold's predictions.
    pub per_fold: Vec<Metrics>,
    /// The raw out-of-fold prediction of every work, in input order.
    pub predictions: Vec<f64>,
    /// The test fold of every work, in input order.
    pub fold_of: Vec<usize>,
    /// Ridge: the λ inner cross-validation chose in each fold; empty for MLP.
    pub lambdas: Vec<f64>,
}

/// One point of a learning curve: cross-validated metrics when each fold's
/// head sees only a fraction of its training works (the test folds stay
/// the same).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    /// The share of each fold's training works the heads saw, in (0, 1].
    pub fraction: f64,
    /// Training works per fold, averaged over folds and rounded.
    pub n_train: usize,
    /// The metrics of the pooled out-of-fold predictions at that share.
    pub metrics: Metrics,
}

/// One backbone to compare: its id (the key of its report, e.g. `dinov2`
/// or `dinov2@224`), the name verdicts call it by (e.g. `DINOv2`), and its
/// embeddings, one row per rated work, in the same order for every
/// backbone.
#[derive(Debug, Clone, Copy)]
pub struct Backbone<'a> {
    /// The backbone's id, the key of its report.
    pub id: &'a str,
    /// The name verdicts call it by.
    pub display_name: &'a str,
    /// Its embeddings, one row per rated work, in the same order for every backbone.
    pub x: &'a [Vec<f32>],
}

impl<'a> Backbone<'a> {
    /// A backbone to compare, from its id, its name in verdicts and its embeddings.
    pub fn new(id: &'a str, display_name: &'a str, x: &'a [Vec<f32>]) -> Self {
        Backbone {
            id,
            display_name,
            x,
        }
    }
}

/// One backbone's side of a comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackboneReport {
    /// The backbone's id, also its key in [`TrainReport::backbones`].
    pub id: String,
    /// The name verdicts use.
    pub display_name: String,
    /// Metrics of the pooled out-of-fold predictions (full training folds).
    pub pooled: Metrics,
    /// Metrics of each test fold's predictions (full training folds).
    pub per_fold: Vec<Metrics>,
    /// One point per `CURVE_FRACTIONS` entry, the last being `pooled`.
    pub learning_curve: Vec<CurvePoint>,
    /// Ridge: λ chosen in each fold (full training folds); empty for MLP.
    pub lambdas: Vec<f64>,
    /// The headline figure, 0–1: how often, ranking pairs of the person's
    /// works, the predictions agree with their ratings (each work predicted
    /// before it was rated; see `super::live`). What every page, line and
    /// verdict shows for this backbone, written by [`super::percent`]. ½
    /// with `headline_works` 0 in reports saved before it existed.
    #[serde(default = "half")]
    pub headline: f64,
    /// The 95% confidence sequence of `headline` (valid at every look).
    #[serde(default)]
    pub headline_low: f64,
    /// The upper end of that confidence sequence.
    #[serde(default = "whole")]
    pub headline_high: f64,
    /// How many works the headline averages (the rated works after the
    /// first [`super::LIVE_START`] whose rating differs from an earlier one).
    #[serde(default)]
    pub headline_works: usize,
}

fn half() -> f64 {
    0.5
}

fn whole() -> f64 {
    1.0
}

/// The paired difference b − a of one metric between two backbones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// The ids of the two backbones; `a` came first in the input.
    pub a: String,
    /// The second backbone's id.
    pub b: String,
    /// The metric compared.
    pub metric: MetricKind,
    /// The metric for each backbone on all out-of-fold predictions.
    pub value_a: f64,
    /// The metric for `b`.
    pub value_b: f64,
    /// `value_b − value_a` on all works.
    pub diff: f64,
    /// The mean of the bootstrap differences.
    pub mean_diff: f64,
    /// The interval at `ci_level`: the `(1 − ci_level)/2` and
    /// `(1 + ci_level)/2` quantiles of the bootstrap differences after
    /// widening them about their mean by `ci_scale`.
    pub ci_low: f64,
    /// The upper end of the interval.
    pub ci_high: f64,
    /// `1 − ALPHA/m` for the m pairs of this metric (Bonferroni), so that
    /// the intervals of all pairs hold simultaneously; 0.95 with two
    /// backbones.
    pub ci_level: f64,
    /// √(1 + K/(K − 1)), the cross-validation correction (see `docs/STATISTICS.md`).
    pub ci_scale: f64,
    /// How many bootstrap resamples of the works the interval rests on.
    pub n_boot: usize,
    /// Two-sided bootstrap p-value of "no difference", from the same
    /// widened distribution: below α exactly when the `1 − α` interval
    /// excludes zero.
    pub p_value: f64,
    /// `p_value` adjusted by Holm's method over the pairs of this metric.
    pub p_holm: f64,
    /// `p_holm < ALPHA` and the interval excludes zero (see `docs/STATISTICS.md`).
    pub significant: bool,
    /// False for MAE: there a negative difference favours `b`.
    pub higher_is_better: bool,
}

impl Comparison {
    /// The id of the backbone that is significantly better, if either is.
    pub fn winner(&self) -> Option<&str> {
        match self.favours_b() {
            Some(true) => Some(&self.b),
            Some(false) => Some(&self.a),
            None => None,
        }
    }

    /// `Some(true)` when `b` is significantly better, `Some(false)` when `a`
    /// is, `None` when the pair is not significant.
    fn favours_b(&self) -> Option<bool> {
        if !self.significant {
            return None;
        }
        let (b_better, a_better) = if self.higher_is_better {
            (self.ci_low > 0.0, self.ci_high < 0.0)
        } else {
            (self.ci_high < 0.0, self.ci_low > 0.0)
        };
        if b_better {
            Some(true)
        } else if a_better {
            Some(false)
        } else {
            None
        }
    }

    /// The same comparison seen the other way round: `a` and `b` swapped,
    /// the difference and its interval negated.
    pub(crate) fn flipped(&self) -> Comparison {
        Comparison {
            a: self.b.clone(),
            b: self.a.clone(),
            value_a: self.value_b,
            value_b: self.value_a,
            diff: -self.diff,
            mean_diff: -self.mean_diff,
            ci_low: -self.ci_high,
            ci_high: -self.ci_low,
            ..self.clone()
        }
    }
}

/// Everything `artlens train` learns about how the backbones predict a
/// taste: each backbone's cross-validation, the paired comparisons of
/// every pair (per pair Spearman, MAE and pairwise accuracy, in that
/// order), the backbone that is best on Spearman if one is, and a one-line
/// verdict on Spearman.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    /// The head kind every backbone was cross-validated with.
    pub kind: HeadKind,
    /// K, the number of folds of each split.
    pub folds: usize,
    /// Independent K-fold splits the metrics are averaged over (1: the
    /// single K-fold of former reports, which lack the field).
    #[serde(default = "one")]
    pub repeats: usize,
    /// The seed of the splits, the fits and the bootstrap; the same seed gives the same report.
    pub seed: u64,
    /// Rated works every backbone was scored on.
    pub n_ratings: usize,
    /// How many bootstrap resamples each comparison's interval rests on.
    pub n_boot: usize,
    /// The backbone ids in the order they were given (`backbones` is
    /// sorted by id).
    pub ids: Vec<String>,
    /// Each backbone's cross-validation, by id.
    pub backbones: BTreeMap<String, BackboneReport>,
    /// For each pair (a, b) with a before b in `ids`, in that order:
    /// Spearman, MAE and pairwise accuracy.
    pub comparisons: Vec<Comparison>,
    /// The id of the backbone significantly better on Spearman than every
    /// other one; `None` when there is none or only one backbone.
    pub best: Option<String>,
    /// When no backbone is best: roughly how many ratings the largest
    /// Spearman difference would need to be resolved (an estimate, see
    /// `ratings_needed`).
    #[serde(default)]
    pub ratings_needed: Option<usize>,
    /// The answer in plain words: which backbone understands the taste
    /// better, with the headline figures, or why there is no answer yet.
    /// No metric names, no commands.
    pub verdict: String,
    /// The statistician's line: the live comparisons' differences,
    /// confidence sequences and e-values, then the cross-validated
    /// comparison on Spearman with its bootstrap interval.
    #[serde(default)]
    pub verdict_detail: String,
    /// Which procedure produced `verdict` and `best` ([`super::PROCEDURE`]).
    #[serde(default)]
    pub procedure: String,
    /// What the headline figure is called (`super::HEADLINE_NAME`).
    #[serde(default)]
    pub headline_name: String,
    /// One sentence saying what the headline figure measures.
    #[serde(default)]
    pub headline_description: String,
    /// Ratings needed before there is an answer ([`super::FIRST_ANSWER`]).
    #[serde(default = "first_answer")]
    pub first_answer: usize,
    /// The live comparison of every pair (a before b in `ids`) on the
    /// per-work differences of the headline figure: what `best` and the
    /// verdict are read from.
    #[serde(default)]
    pub live: Vec<LiveComparison>,
    /// Duplicate groups (a work and its marked copies) with more than one
    /// rated work, each kept in one fold and left out together from the
    /// live heads (0 in reports written before copies were recorded).
    #[serde(default)]
    pub merged_groups: usize,
}

fn first_answer() -> usize {
    FIRST_ANSWER
}

fn one() -> usize {
    1
}

impl TrainReport {
    /// True when the report holds an answer: enough ratings, and headline
    /// figures (reports saved before they existed have none).
    pub fn answer_ready(&self) -> bool {
        self.n_ratings >= self.first_answer
            && !self.backbones.is_empty()
            && self.backbones.values().all(|b| b.headline_works > 0)
    }

    /// The comparison of one metric when exactly two backbones were
    /// compared (the only pair); `None` otherwise: use
    /// [`TrainReport::comparison_of`].
    pub fn comparison(&self, metric: MetricKind) -> Option<&Comparison> {
        let mut of_metric = self.comparisons.iter().filter(|c| c.metric == metric);
        match (of_metric.next(), of_metric.next()) {
            (Some(c), None) => Some(c),
            _ => None,
        }
    }

    /// The comparison of backbones `a` and `b` (ids) on one metric,
    /// oriented as asked: its `diff` is b − a even when `b` came first in
    /// the input (then it is the stored comparison `flipped`).
    pub fn comparison_of(&self, a: &str, b: &str, metric: MetricKind) -> Option<Comparison> {
        self.comparisons
            .iter()
            .filter(|c| c.metric == metric)
            .find_map(|c| {
                if c.a == a && c.b == b {
                    Some(c.clone())
                } else if c.a == b && c.b == a {
                    Some(c.flipped())
                } else {
                    None
                }
            })
    }
}

fn check_folds(n: usize, folds: usize) -> Result<()> {
    if folds < 2 {
        return Err(Error::InvalidArgument(format!(
            "cross-validation needs at least 2 folds, got {folds}"
        )));
    }
    let need = min_ratings(folds);
    if n < need {
        return Err(Error::InvalidArgument(format!(
            "need at least {need} ratings for {folds} folds, have {n}; rate more works (or use fewer folds, never under {MIN_RATINGS} ratings)"
        )));
    }
    Ok(())
}

/// The out-of-fold predictions of one run.
struct FoldRun {
    predictions: Vec<f64>,
    lambdas: Vec<f64>,
    n_train: Vec<usize>,
}

/// A K-fold split of the rated works and the duplicate groups it keeps
/// together: `fold_of[i]` is work `i`'s test fold, `groups[i]` its group.
#[derive(Debug, Clone, Copy)]
struct Split<'a> {
    fold_of: &'a [usize],
    groups: &'a [usize],
    k: usize,
}

/// One fold's (work, prediction) pairs, chosen λ and training size.
type FoldOutput = (Vec<(usize, f64)>, Option<f64>, usize);

/// Trains one head per fold on `fraction` of its training works (a seeded
/// subset, nested across fractions) and predicts the fold's test works.
/// Folds run in parallel; each draws from its own sub-seed, so the result
/// does not depend on scheduling.
fn run_folds(
    x: &[Vec<f32>],
    y: &[f64],
    kind: HeadKind,
    split: Split<'_>,
    fraction: f64,
    seed: u64,
) -> Result<FoldRun> {
    let (fold_of, k) = (split.fold_of, split.k);
    let per_fold: Vec<FoldOutput> = (0..k)
        .into_par_iter()
        .map(|f| {
            let mut train: Vec<usize> = (0..y.len()).filter(|&i| fold_of[i] != f).collect();
            if fraction < 1.0 {
                // The same shuffle for every fraction makes the subsets
                // nested: 25% ⊂ 50% ⊂ 100%.
                SplitMix64::new(mix(seed, TAG_CURVE, f as u64)).shuffle(&mut train);
                let m = ((fraction * train.len() as f64).ceil() as usize)
                    .clamp(2.min(train.len()), train.len());
                train.truncate(m);
            }
            let rows: Vec<&[f32]> = train.iter().map(|&i| x[i].as_slice()).collect();
            let ys: Vec<f64> = train.iter().map(|&i| y[i]).collect();
            // The inner λ search keeps the training part's groups together.
            let gs: Vec<usize> = train.iter().map(|&i| split.groups[i]).collect();
            let (head, lambda) = fit_rows(&rows, &ys, &gs, kind, mix(seed, TAG_FIT, f as u64))?;
            let preds = (0..y.len())
                .filter(|&i| fold_of[i] == f)
                .map(|i| (i, head.predict_f64(&x[i])))
                .collect();
            Ok((preds, lambda, train.len()))
        })
        .collect::<Result<_>>()?;
    let mut predictions = vec![f64::NAN; y.len()];
    let mut lambdas = Vec::new();
    let mut n_train = Vec::new();
    for (preds, lambda, m) in per_fold {
        for (i, p) in preds {
            predictions[i] = p;
        }
        lambdas.extend(lambda);
        n_train.push(m);
    }
    if let Some(i) = predictions.iter().position(|p| !p.is_finite()) {
        return Err(Error::InvalidArgument(format!(
            "the {kind} head predicted a non-finite rating for work {i}; are the ratings on a sane scale?"
        )));
    }
    Ok(FoldRun {
        predictions,
        lambdas,
        n_train,
    })
}

/// Predictions minus the mean prediction of their fold (see
/// `docs/STATISTICS.md` for why).
fn centre_by_fold(pred: &[f64], fold_of: &[usize], k: usize) -> Vec<f64> {
    let mut sum = vec![0.0; k];
    let mut count = vec![0usize; k];
    for (p, &f) in pred.iter().zip(fold_of) {
        sum[f] += p;
        count[f] += 1;
    }
    pred.iter()
        .zip(fold_of)
        .map(|(p, &f)| p - sum[f] / count[f].max(1) as f64)
        .collect()
}

/// A metric of cross-validated predictions: MAE on the raw predictions,
/// rank and correlation metrics on the fold-centred ones.
fn eval_cv(metric: MetricKind, y: &[f64], raw: &[f64], centred: &[f64]) -> f64 {
    match metric {
        MetricKind::Mae => metric.eval(y, raw),
        _ => metric.eval(y, centred),
    }
}

/// All metrics of pooled out-of-fold predictions, as [`eval_cv`] scores them.
fn pooled_metrics(y: &[f64], pred: &[f64], fold_of: &[usize], k: usize) -> Metrics {
    let centred = centre_by_fold(pred, fold_of, k);
    let mut m = Metrics::compute(y, &centred);
    m.mae = super::metrics::mae(y, pred);
    m
}

fn per_fold_metrics(y: &[f64], pred: &[f64], fold_of: &[usize], k: usize) -> Vec<Metrics> {
    (0..k)
        .map(|f| {
            let idx: Vec<usize> = (0..y.len()).filter(|&i| fold_of[i] == f).collect();
            let t: Vec<f64> = idx.iter().map(|&i| y[i]).collect();
            let p: Vec<f64> = idx.iter().map(|&i| pred[i]).collect();
            Metrics::compute(&t, &p)
        })
        .collect()
}

/// The folds of the works labelled `groups` (one label per work; works of
/// one duplicate group share it), a group never split across folds.
fn folds_for(groups: &[usize], folds: usize, seed: u64) -> Vec<usize> {
    grouped_fold_assignment(groups, folds, &mut SplitMix64::new(mix(seed, TAG_FOLDS, 0)))
}

/// Every work its own group: the labels of a collection without copies.
fn singletons(n: usize) -> Vec<usize> {
    (0..n).collect()
}

/// The labels to group by: `groups` when given (one per rating, else
/// [`Error::InvalidArgument`]), else every work its own group; and at
/// least as many groups as folds.
fn group_labels(groups: Option<&[usize]>, n: usize, folds: usize) -> Result<Vec<usize>> {
    let labels = match groups {
        Some(g) if g.len() != n => {
            return Err(Error::InvalidArgument(format!(
                "{} duplicate-group labels for {n} ratings",
                g.len()
            )))
        }
        Some(g) => g.to_vec(),
        None => singletons(n),
    };
    let distinct = labels
        .iter()
        .collect::<std::collections::HashSet<_>>()
        .len();
    if distinct < folds {
        return Err(Error::InvalidArgument(format!(
            "the {n} rated works are {distinct} distinct pictures once copies are grouped, fewer than the {folds} folds; rate more works or use fewer folds"
        )));
    }
    Ok(labels)
}

/// Shuffled, seeded K-fold cross-validation of a `kind` head on embeddings
/// `x` and ratings `y`. Needs at least `min_ratings(folds)` ratings.
///
/// Ridge chooses λ inside each training fold (inner cross-validation), so
/// the test fold never influences its own predictions.
pub fn cross_validate(
    x: &[Vec<f32>],
    y: &[f64],
    kind: HeadKind,
    folds: usize,
    seed: u64,
) -> Result<CvResult> {
    check_data(x, y)?;
    check_folds(y.len(), folds)?;
    let groups = singletons(y.len());
    let fold_of = folds_for(&groups, folds, seed);
    let split = Split {
        fold_of: &fold_of,
        groups: &groups,
        k: folds,
    };
    let run = run_folds(x, y, kind, split, 1.0, seed)?;
    Ok(CvResult {
        kind,
        folds,
        seed,
        pooled: pooled_metrics(y, &run.predictions, &fold_of, folds),
        per_fold: per_fold_metrics(y, &run.predictions, &fold_of, folds),
        predictions: run.predictions,
        fold_of,
        lambdas: run.lambdas,
    })
}

/// Cross-validates one backbone at every learning-curve fraction and
/// returns its report with the full-data out-of-fold predictions. Every
/// backbone gets the same `seed`, hence the same learning-curve subsets and
/// per-fold fitting streams.
fn backbone_report(
    backbone: &Backbone<'_>,
    y: &[f64],
    kind: HeadKind,
    split: Split<'_>,
    seed: u64,
) -> Result<(BackboneReport, Vec<f64>)> {
    let x = backbone.x;
    let (fold_of, folds) = (split.fold_of, split.k);
    let mut learning_curve = Vec::new();
    let mut full = None;
    for &fraction in &CURVE_FRACTIONS {
        let run = run_folds(x, y, kind, split, fraction, seed)?;
        let mean_train = run.n_train.iter().sum::<usize>() as f64 / folds as f64;
        learning_curve.push(CurvePoint {
            fraction,
            n_train: mean_train.round() as usize,
            metrics: pooled_metrics(y, &run.predictions, fold_of, folds),
        });
        if fraction >= 1.0 {
            full = Some(run);
        }
    }
    let full = full.expect("CURVE_FRACTIONS ends with 1.0");
    let report = BackboneReport {
        id: backbone.id.to_string(),
        display_name: backbone.display_name.to_string(),
        pooled: pooled_metrics(y, &full.predictions, fold_of, folds),
        per_fold: per_fold_metrics(y, &full.predictions, fold_of, folds),
        learning_curve,
        lambdas: full.lambdas,
        headline: 0.5,
        headline_low: 0.0,
        headline_high: 1.0,
        headline_works: 0,
    };
    Ok((report, full.predictions))
}

fn check_backbones(backbones: &[Backbone<'_>], y: &[f64]) -> Result<()> {
    if backbones.is_empty() {
        return Err(Error::InvalidArgument(
            "the comparison needs at least one backbone".into(),
        ));
    }
    let mut seen = HashSet::new();
    for b in backbones {
        if b.id.is_empty() {
            return Err(Error::InvalidArgument("a backbone has an empty id".into()));
        }
        if !seen.insert(b.id) {
            return Err(Error::InvalidArgument(format!(
                "backbone `{}` is given twice",
                b.id
            )));
        }
        check_data(b.x, y).map_err(|e| match e {
            Error::InvalidArgument(m) => {
                Error::InvalidArgument(format!("backbone `{}`: {m}", b.id))
            }
            other => other,
        })?;
    }
    Ok(())
}

/// Compares `backbones` (embeddings of the same works, row for row) at
/// predicting ratings `y` with a `kind` head, every pair on the same folds.
///
/// Every backbone uses the same fold assignment (and the same
/// learning-curve subsets). For each pair (a, b), a before b in
/// `backbones`, the difference b − a of Spearman, MAE and pairwise accuracy
/// is bootstrapped `n_boot` times by resampling works with replacement
/// (seeded, the same resamples for every pair) and recomputing the metrics
/// on the same resample of the out-of-fold predictions. The interval is the
/// Bonferroni percentile interval at `1 − 0.05/m` for the m pairs (95% with
/// two backbones) after widening by [`cv_interval_scale`] (the resampling
/// alone cannot see that cross-validated predictions depend on each other);
/// p-values come from the same distribution and are Holm-adjusted over the
/// m pairs; this cross-validated comparison names a winner when the
/// Spearman interval excludes zero (see `docs/STATISTICS.md` for the
/// decision rule). The report's `verdict` and `best` come from the live
/// comparison instead (`super::live`), computed on the same `y`, which
/// must be in the order the works were rated.
///
/// One backbone is accepted: the report then has its cross-validation and
/// no comparisons.
pub fn compare_backbones(
    backbones: &[Backbone<'_>],
    y: &[f64],
    kind: HeadKind,
    folds: usize,
    seed: u64,
    n_boot: usize,
) -> Result<TrainReport> {
    compare_backbones_repeated(backbones, y, kind, folds, 1, seed, n_boot)
}

/// [`compare_backbones`] on `repeats` independent K-fold splits: every
/// metric is the mean over the splits of its value on one split's pooled
/// out-of-fold predictions, every bootstrap resample recomputes that mean
/// on the same resampled works, and the interval is widened by
/// `repeated_interval_scale` instead of [`cv_interval_scale`]. The first
/// split is the one of `repeats = 1`, which is exactly [`compare_backbones`].
/// The learning curve and the per-fold metrics come from the first split.
pub fn compare_backbones_repeated(
    backbones: &[Backbone<'_>],
    y: &[f64],
    kind: HeadKind,
    folds: usize,
    repeats: usize,
    seed: u64,
    n_boot: usize,
) -> Result<TrainReport> {
    compare_backbones_grouped(backbones, y, None, kind, folds, repeats, seed, n_boot)
}

/// [`compare_backbones_repeated`] with the rated works labelled by
/// duplicate group (`groups[i]` for rating `i`; equal labels for a work and
/// its copies): every split keeps a group in one fold, and the live heads
/// leave a work's whole group out, so that no held-out figure is measured
/// on a copy of a work the head learnt from. `None`, or every label
/// distinct, is exactly [`compare_backbones_repeated`].
#[allow(clippy::too_many_arguments)]
pub(crate) fn compare_backbones_grouped(
    backbones: &[Backbone<'_>],
    y: &[f64],
    groups: Option<&[usize]>,
    kind: HeadKind,
    folds: usize,
    repeats: usize,
    seed: u64,
    n_boot: usize,
) -> Result<TrainReport> {
    check_backbones(backbones, y)?;
    check_folds(y.len(), folds)?;
    let labels = group_labels(groups, y.len(), folds)?;
    if n_boot == 0 {
        return Err(Error::InvalidArgument(
            "the bootstrap needs at least one resample".into(),
        ));
    }
    if repeats == 0 {
        return Err(Error::InvalidArgument(
            "cross-validation needs at least one repetition".into(),
        ));
    }
    let fold_of = folds_for(&labels, folds, seed);
    let splits: Vec<Vec<usize>> = (1..repeats)
        .map(|r| folds_for(&labels, folds, mix(seed, TAG_REPEAT, r as u64)))
        .collect();
    let mut reports = Vec::with_capacity(backbones.len());
    let mut scored = Vec::with_capacity(backbones.len());
    for b in backbones {
        let split = Split {
            fold_of: &fold_of,
            groups: &labels,
            k: folds,
        };
        let (mut report, pred) = backbone_report(b, y, kind, split, seed)?;
        let mut runs = vec![Scored::new(&pred, &fold_of, folds)];
        let mut pooled = vec![report.pooled];
        for (r, split) in splits.iter().enumerate() {
            let split_seed = mix(seed, TAG_REPEAT, r as u64 + 1);
            let repeat = Split {
                fold_of: split,
                groups: &labels,
                k: folds,
            };
            let run = run_folds(b.x, y, kind, repeat, 1.0, split_seed)?;
            pooled.push(pooled_metrics(y, &run.predictions, split, folds));
            runs.push(Scored::new(&run.predictions, split, folds));
        }
        if repeats > 1 {
            report.pooled = mean_metrics(&pooled);
        }
        reports.push(report);
        scored.push(runs);
    }
    let comparisons = compare_all(backbones, y, &labels, &scored, folds, n_boot, seed);
    let cv_best = best_on_spearman(backbones, &comparisons);
    let mut cv_verdict = verdict(backbones, &reports, &comparisons, cv_best);
    if cv_best.is_none() && backbones.len() >= 2 {
        if let Some(n) = ratings_needed(&comparisons, y.len()) {
            cv_verdict.push_str(&format!(
                "; roughly {n} ratings would be needed to resolve a difference of this size (an estimate)"
            ));
        }
    }

    // The live answer: the headline figures and the verdict (see `live`).
    let ids: Vec<&str> = backbones.iter().map(|b| b.id).collect();
    let names: Vec<&str> = backbones.iter().map(|b| b.display_name).collect();
    let tracks = backbones
        .iter()
        .map(|b| live_track_grouped(b.x, y, &labels))
        .collect::<Result<Vec<_>>>()?;
    let headlines: Vec<_> = tracks.iter().map(headline).collect();
    for (report, h) in reports.iter_mut().zip(&headlines) {
        report.headline = h.value;
        report.headline_low = h.low;
        report.headline_high = h.high;
        report.headline_works = h.works;
    }
    let live = compare_live(&ids, &tracks);
    let best = if y.len() >= FIRST_ANSWER {
        live_best(&ids, &live)
    } else {
        None
    };
    let ratings_needed = if backbones.len() >= 2 {
        live_ratings_needed(&live, best, y.len())
    } else {
        None
    };
    let verdict = plain_verdict(
        &ids,
        &names,
        &headlines,
        &live,
        best,
        y.len(),
        ratings_needed,
    );
    let verdict_detail = if live.is_empty() {
        format!("Cross-validated ({repeats}×{folds}-fold): {cv_verdict}")
    } else {
        format!(
            "{}. Cross-validated ({repeats}×{folds}-fold): {cv_verdict}",
            live_detail(&live)
        )
    };
    Ok(TrainReport {
        kind,
        folds,
        repeats,
        seed,
        n_ratings: y.len(),
        n_boot,
        ids: backbones.iter().map(|b| b.id.to_string()).collect(),
        backbones: reports.into_iter().map(|r| (r.id.clone(), r)).collect(),
        comparisons,
        best: best.map(|i| backbones[i].id.to_string()),
        ratings_needed,
        verdict,
        verdict_detail,
        procedure: PROCEDURE.to_string(),
        headline_name: HEADLINE_NAME.to_string(),
        headline_description: HEADLINE_DESCRIPTION.to_string(),
        first_answer: FIRST_ANSWER,
        live,
        merged_groups: merged_groups(&labels),
    })
}

/// The mean of each metric over several splits.
fn mean_metrics(ms: &[Metrics]) -> Metrics {
    let n = ms.len().max(1) as f64;
    let mean = |f: fn(&Metrics) -> f64| ms.iter().map(f).sum::<f64>() / n;
    Metrics {
        spearman: mean(|m| m.spearman),
        pearson: mean(|m| m.pearson),
        mae: mean(|m| m.mae),
        pairwise_accuracy: mean(|m| m.pairwise_accuracy),
        ..ms[0]
    }
}

/// Roughly how many ratings the largest Spearman difference that is not
/// significant would need for its interval to exclude zero: an interval's
/// half-width shrinks about as 1/√n, so n · (half-width / |difference|)².
/// `None` when some pair is already significant or the difference is zero.
/// An estimate: it assumes the observed difference is the true one.
pub(crate) fn ratings_needed(comparisons: &[Comparison], n: usize) -> Option<usize> {
    let spearman: Vec<&Comparison> = comparisons
        .iter()
        .filter(|c| c.metric == MetricKind::Spearman)
        .collect();
    if spearman.is_empty() || spearman.iter().any(|c| c.significant) {
        return None;
    }
    let c = spearman
        .iter()
        .max_by(|a, b| a.diff.abs().total_cmp(&b.diff.abs()))?;
    let half = (c.ci_high - c.ci_low) / 2.0;
    if !(c.diff.abs() > 1e-9 && half.is_finite()) {
        return None;
    }
    let need = n as f64 * (half / c.diff.abs()).powi(2);
    (need.is_finite() && need < 1e7).then(|| (need.ceil() as usize).max(n + 1))
}

/// How much the bootstrap's spread is widened for K-fold out-of-fold
/// predictions: √(1 + K/(K − 1)) (Nadeau & Bengio; see `docs/STATISTICS.md`).
pub fn cv_interval_scale(folds: usize) -> f64 {
    let k = folds as f64;
    (1.0 + k / (k - 1.0)).sqrt()
}

/// How much the bootstrap's spread is widened when the metrics are means
/// over `repeats` K-fold splits: the same √(1 + K/(K − 1)) as for one split
/// ([`cv_interval_scale`]). Averaging over splits removes the noise of the
/// split from the difference but not the dependence between out-of-fold
/// predictions, and the bootstrap of the averaged predictions is narrower
/// than that of one split's, so the correction still applies in full (see
/// "Why the K-fold is repeated" in `docs/STATISTICS.md` for the measurement).
pub(crate) fn repeated_interval_scale(folds: usize, _repeats: usize) -> f64 {
    cv_interval_scale(folds)
}

/// The pairs (i, j), i < j, in input order.
fn pairs(n: usize) -> Vec<(usize, usize)> {
    (0..n)
        .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
        .collect()
}

/// Every pair's comparisons (pair by pair, [`COMPARED`] within a pair),
/// with intervals at the Bonferroni level and Holm-adjusted p-values.
fn compare_all(
    backbones: &[Backbone<'_>],
    y: &[f64],
    groups: &[usize],
    scored: &[Vec<Scored>],
    folds: usize,
    n_boot: usize,
    seed: u64,
) -> Vec<Comparison> {
    let pairs = pairs(backbones.len());
    if pairs.is_empty() {
        return Vec::new();
    }
    let nm = COMPARED.len();
    let repeats = scored.first().map_or(1, Vec::len);
    let ci_scale = if repeats == 1 {
        cv_interval_scale(folds)
    } else {
        repeated_interval_scale(folds, repeats)
    };
    let alpha = ALPHA / pairs.len() as f64;
    let (q_low, q_high) = (alpha / 2.0, 1.0 - alpha / 2.0);
    let ci_level = 1.0 - alpha;
    let values: Vec<f64> = scored
        .iter()
        .flat_map(|runs| {
            COMPARED.map(|m| {
                runs.iter()
                    .map(|s| eval_cv(m, y, &s.raw, &s.centred))
                    .sum::<f64>()
                    / runs.len() as f64
            })
        })
        .collect();
    let boot = bootstrap_values(y, groups, scored, &COMPARED, n_boot, mix(seed, TAG_BOOT, 0));
    let mut comparisons = Vec::with_capacity(pairs.len() * nm);
    for &(i, j) in &pairs {
        for (k, &metric) in COMPARED.iter().enumerate() {
            let mut d: Vec<f64> = boot.iter().map(|r| r[j * nm + k] - r[i * nm + k]).collect();
            d.sort_by(f64::total_cmp);
            let (a, b) = (values[i * nm + k], values[j * nm + k]);
            let mean_diff = d.iter().sum::<f64>() / d.len() as f64;
            let widen = |v: f64| mean_diff + ci_scale * (v - mean_diff);
            let widened: Vec<f64> = d.iter().map(|&v| widen(v)).collect();
            comparisons.push(Comparison {
                a: backbones[i].id.to_string(),
                b: backbones[j].id.to_string(),
                metric,
                value_a: a,
                value_b: b,
                diff: b - a,
                mean_diff,
                ci_low: widen(quantile_sorted(&d, q_low)),
                ci_high: widen(quantile_sorted(&d, q_high)),
                ci_level,
                ci_scale,
                n_boot,
                p_value: percentile_p_value(&widened),
                p_holm: f64::NAN,
                significant: false,
                higher_is_better: metric.higher_is_better(),
            });
        }
    }
    // Holm over the m pairs of each metric, then the decision rule.
    for k in 0..nm {
        let of_metric: Vec<usize> = (0..pairs.len()).map(|p| p * nm + k).collect();
        let p: Vec<f64> = of_metric.iter().map(|&c| comparisons[c].p_value).collect();
        for (&c, adjusted) in of_metric.iter().zip(holm_adjust(&p)) {
            let cmp = &mut comparisons[c];
            cmp.p_holm = adjusted;
            cmp.significant = adjusted < ALPHA && (cmp.ci_low > 0.0 || cmp.ci_high < 0.0);
        }
    }
    comparisons
}

/// The two-sided p-value of "no difference" that inverts the percentile
/// interval of `sorted` (ascending, as [`quantile_sorted`] interpolates
/// it): the smallest α for which the `[α/2, 1 − α/2]` quantile interval
/// reaches zero. With Q the interpolated quantile function, L the largest q
/// with Q(q) ≤ 0 and U the smallest q with Q(q) ≥ 0, the interval excludes
/// zero from above when α/2 > L and from below when 1 − α/2 < U, so
/// p = min(1, 2 · min(L, 1 − U)) and `p < α` exactly when it excludes zero.
pub(crate) fn percentile_p_value(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return 1.0;
    }
    let step = if n > 1 { 1.0 / (n - 1) as f64 } else { 0.0 };
    // L: sup{q : Q(q) ≤ 0}.
    let low = if sorted[0] > 0.0 {
        0.0
    } else if sorted[n - 1] <= 0.0 {
        1.0
    } else {
        // The last value ≤ 0 and the first above it.
        let i = sorted.partition_point(|&v| v <= 0.0) - 1;
        let (v0, v1) = (sorted[i], sorted[i + 1]);
        (i as f64 + (-v0) / (v1 - v0)) * step
    };
    // U: inf{q : Q(q) ≥ 0}.
    let high = if sorted[n - 1] < 0.0 {
        1.0
    } else if sorted[0] >= 0.0 {
        0.0
    } else {
        // The last value below 0 and the first ≥ 0.
        let j = sorted.partition_point(|&v| v < 0.0);
        let (v0, v1) = (sorted[j - 1], sorted[j]);
        ((j - 1) as f64 + (-v0) / (v1 - v0)) * step
    };
    (2.0 * low.min(1.0 - high)).clamp(0.0, 1.0)
}

/// The index of the backbone significantly better on Spearman than every
/// other one, if any (never with a single backbone).
fn best_on_spearman(backbones: &[Backbone<'_>], comparisons: &[Comparison]) -> Option<usize> {
    if backbones.len() < 2 {
        return None;
    }
    (0..backbones.len()).find(|&i| {
        let id = backbones[i].id;
        comparisons
            .iter()
            .filter(|c| c.metric == MetricKind::Spearman && (c.a == id || c.b == id))
            .all(|c| c.winner() == Some(id))
    })
}

/// One backbone's out-of-fold predictions, raw and fold-centred.
struct Scored {
    raw: Vec<f64>,
    centred: Vec<f64>,
}

impl Scored {
    fn new(pred: &[f64], fold_of: &[usize], k: usize) -> Scored {
        Scored {
            raw: pred.to_vec(),
            centred: centre_by_fold(pred, fold_of, k),
        }
    }

    /// The same works, picked by `idx` (with repeats).
    fn pick(&self, idx: &[usize]) -> Scored {
        Scored {
            raw: idx.iter().map(|&i| self.raw[i]).collect(),
            centred: idx.iter().map(|&i| self.centred[i]).collect(),
        }
    }
}

/// For each of `n_boot` resamples of the works, every backbone's value of
/// every metric on it: `result[r][backbone · metrics.len() + metric]`.
/// All backbones are scored on the same resample, so any two make a paired
/// difference. Resample `r` draws from its own sub-seed, so the parallel
/// result is the sequential one. The resampled units are the duplicate
/// `groups` ([`resample_groups`]).
fn bootstrap_values(
    y: &[f64],
    groups: &[usize],
    scored: &[Vec<Scored>],
    metrics: &[MetricKind],
    n_boot: usize,
    seed: u64,
) -> Vec<Vec<f64>> {
    let members = group_members(groups);
    (0..n_boot)
        .into_par_iter()
        .map(|r| {
            let mut rng = SplitMix64::new(mix(seed, TAG_BOOT, r as u64));
            let idx = resample_groups(&members, &mut rng);
            let t: Vec<f64> = idx.iter().map(|&i| y[i]).collect();
            scored
                .iter()
                .flat_map(|runs| {
                    let picked: Vec<Scored> = runs.iter().map(|s| s.pick(&idx)).collect();
                    metrics
                        .iter()
                        .map(|&m| {
                            picked
                                .iter()
                                .map(|p| eval_cv(m, &t, &p.raw, &p.centred))
                                .sum::<f64>()
                                / picked.len() as f64
                        })
                        .collect::<Vec<_>>()
                })
                .collect()
        })
        .collect()
}

/// The works of each duplicate group, groups in order of first
/// appearance (the labels of [`canonical_groups`]).
fn group_members(groups: &[usize]) -> Vec<Vec<usize>> {
    let labels = canonical_groups(groups);
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); labels.iter().max().map_or(0, |m| m + 1)];
    for (i, &l) in labels.iter().enumerate() {
        members[l].push(i);
    }
    members
}

/// One bootstrap resample of the works: as many groups as there are,
/// drawn with replacement, each bringing all its works. A copy is not an
/// independent observation: drawing it apart from its original would make
/// the interval narrower than the number of distinct pictures allows. With
/// every work its own group this is the plain resample of works, draw for
/// draw.
fn resample_groups(members: &[Vec<usize>], rng: &mut SplitMix64) -> Vec<usize> {
    let g = members.len();
    let mut idx = Vec::with_capacity(members.iter().map(Vec::len).sum());
    for _ in 0..g {
        idx.extend_from_slice(&members[rng.below(g)]);
    }
    idx
}

// ----- verdicts -----------------------------------------------------------------------

/// `+0.21`, `−0.05` (with a real minus sign), two decimals.
fn signed(v: f64) -> String {
    // Round first so that −0.001 prints as +0.00 rather than −0.00.
    let r = (v * 100.0).round() / 100.0;
    if r < 0.0 {
        format!("\u{2212}{:.2}", -r)
    } else {
        format!("+{:.2}", r.abs())
    }
}

/// A confidence level as a percentage with as few decimals as say it to
/// within 0.05 points without rounding up to 100: `95%`, `98.3%`.
fn percent(level: f64) -> String {
    let pct = level * 100.0;
    for decimals in 0..=6 {
        let s = format!("{pct:.decimals$}");
        let v: f64 = s.parse().unwrap_or(pct);
        if v < 100.0 && (v - pct).abs() <= 0.05 {
            return format!("{s}%");
        }
    }
    format!("{pct}%")
}

/// `A`, `A and B`, `A, B and C`.
fn and_list(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// The one-line verdict on Spearman for the whole report.
fn verdict(
    backbones: &[Backbone<'_>],
    reports: &[BackboneReport],
    comparisons: &[Comparison],
    best: Option<usize>,
) -> String {
    let spearman: Vec<&Comparison> = comparisons
        .iter()
        .filter(|c| c.metric == MetricKind::Spearman)
        .collect();
    match (backbones, spearman.as_slice()) {
        ([only], _) => format!(
            "Only {} was evaluated: Spearman {:.2}; there is no other backbone to compare it with",
            only.display_name, reports[0].pooled.spearman
        ),
        ([a, b], [c]) => pair_verdict(c, a.display_name, b.display_name),
        _ => many_verdict(backbones, &spearman, best),
    }
}

/// The verdict on one pair: a winner when the pair is significant (its
/// advantage given winner − loser), else that the data cannot tell the two
/// apart (the difference given b − a).
fn pair_verdict(c: &Comparison, name_a: &str, name_b: &str) -> String {
    let label = c.metric.label();
    let level = percent(c.ci_level);
    match c.favours_b() {
        Some(true) => format!(
            "{name_b} predicts this taste better: {label} {} ({level} CI {} … {})",
            signed(c.diff),
            signed(c.ci_low),
            signed(c.ci_high)
        ),
        Some(false) => format!(
            "{name_a} predicts this taste better: {label} {} ({level} CI {} … {})",
            signed(-c.diff),
            signed(-c.ci_high),
            signed(-c.ci_low)
        ),
        None => format!(
            "The data cannot tell {name_a} and {name_b} apart: {label} difference ({name_b} \u{2212} {name_a}) {} ({level} CI {} … {})",
            signed(c.diff),
            signed(c.ci_low),
            signed(c.ci_high)
        ),
    }
}

/// The verdict on three or more backbones, from their Spearman comparisons.
fn many_verdict(
    backbones: &[Backbone<'_>],
    spearman: &[&Comparison],
    best: Option<usize>,
) -> String {
    let name_of = |id: &str| -> String {
        backbones
            .iter()
            .find(|b| b.id == id)
            .map_or(id, |b| b.display_name)
            .to_string()
    };
    let Some(first) = spearman.first() else {
        return "No pair of backbones was compared".to_string();
    };
    let label = first.metric.label();
    let level = percent(first.ci_level);
    // Each comparison oriented winner − loser (significant ones) or with a
    // non-negative difference (the others).
    let oriented = |c: &Comparison| match c.favours_b() {
        Some(false) => c.flipped(),
        Some(true) => c.clone(),
        None if c.diff < 0.0 => c.flipped(),
        None => c.clone(),
    };
    if let Some(i) = best {
        let id = backbones[i].id;
        let closest = spearman
            .iter()
            .filter(|c| c.a == id || c.b == id)
            .map(|c| oriented(c))
            .min_by(|x, y| x.diff.total_cmp(&y.diff))
            .expect("the best backbone has comparisons");
        return format!(
            "{} predicts this taste best: {label} {} over {}, the closest of the other {} ({level} simultaneous CI {} … {})",
            name_of(id),
            signed(closest.diff),
            name_of(&closest.a),
            backbones.len() - 1,
            signed(closest.ci_low),
            signed(closest.ci_high)
        );
    }
    let significant: Vec<Comparison> = spearman
        .iter()
        .filter(|c| c.significant)
        .map(|c| oriented(c))
        .collect();
    if !significant.is_empty() {
        let parts: Vec<String> = significant
            .iter()
            .map(|c| {
                format!(
                    "{} over {} {} ({} … {})",
                    name_of(&c.b),
                    name_of(&c.a),
                    signed(c.diff),
                    signed(c.ci_low),
                    signed(c.ci_high)
                )
            })
            .collect();
        return format!(
            "No backbone predicts this taste best; {label} differences that are significant ({level} simultaneous CI): {}; the data cannot tell the other pairs apart",
            parts.join(", ")
        );
    }
    let names: Vec<&str> = backbones.iter().map(|b| b.display_name).collect();
    let largest = spearman
        .iter()
        .map(|c| oriented(c))
        .max_by(|x, y| x.diff.total_cmp(&y.diff))
        .expect("at least one comparison");
    format!(
        "The data cannot tell {} apart: the largest {label} difference ({} \u{2212} {}) is {} ({level} simultaneous CI {} … {})",
        and_list(&names),
        name_of(&largest.b),
        name_of(&largest.a),
        signed(largest.diff),
        signed(largest.ci_low),
        signed(largest.ci_high)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comparison(diff: f64, lo: f64, hi: f64) -> Comparison {
        let significant = lo > 0.0 || hi < 0.0;
        let p = if significant { 0.01 } else { 0.5 };
        Comparison {
            a: "dino".into(),
            b: "dinov2".into(),
            metric: MetricKind::Spearman,
            value_a: 0.5,
            value_b: 0.5 + diff,
            diff,
            mean_diff: diff,
            ci_low: lo,
            ci_high: hi,
            ci_level: 0.95,
            ci_scale: 1.5,
            n_boot: 2000,
            p_value: p,
            p_holm: p,
            significant,
            higher_is_better: true,
        }
    }

    fn verdict(c: &Comparison) -> String {
        pair_verdict(c, "DINO", "DINOv2")
    }

    /// A work and its copies are one observation: every bootstrap resample
    /// holds them equally often, and without copies the resample is the
    /// plain one of works, draw for draw.
    #[test]
    fn bootstrap_resamples_draw_a_group_whole() {
        let mut groups: Vec<usize> = (0..30).collect();
        groups[11] = 2;
        groups[25] = 2;
        groups[7] = 4;
        let members = group_members(&groups);
        assert_eq!(members.len(), 27);
        let mut drawn = 0;
        for seed in 0..200 {
            let idx = resample_groups(&members, &mut SplitMix64::new(seed));
            let count = |w: usize| idx.iter().filter(|&&i| i == w).count();
            assert_eq!(count(2), count(11), "seed {seed}");
            assert_eq!(count(2), count(25), "seed {seed}");
            assert_eq!(count(4), count(7), "seed {seed}");
            drawn += count(2);
        }
        assert!(drawn > 0, "the group was never drawn");
        let plain = group_members(&(0..30).collect::<Vec<_>>());
        let mut a = SplitMix64::new(3);
        let mut b = SplitMix64::new(3);
        let by_work: Vec<usize> = (0..30).map(|_| b.below(30)).collect();
        assert_eq!(resample_groups(&plain, &mut a), by_work);
    }

    #[test]
    fn verdicts_name_the_winner_only_when_the_interval_excludes_zero() {
        assert_eq!(
            verdict(&comparison(0.21, 0.12, 0.30)),
            "DINOv2 predicts this taste better: Spearman +0.21 (95% CI +0.12 … +0.30)"
        );
        assert_eq!(
            verdict(&comparison(-0.21, -0.30, -0.12)),
            "DINO predicts this taste better: Spearman +0.21 (95% CI +0.12 … +0.30)"
        );
        assert_eq!(
            verdict(&comparison(0.02, -0.05, 0.09)),
            "The data cannot tell DINO and DINOv2 apart: Spearman difference (DINOv2 − DINO) +0.02 (95% CI −0.05 … +0.09)"
        );
    }

    #[test]
    fn mae_verdicts_favour_the_lower_error() {
        let mut c = comparison(-0.3, -0.4, -0.2);
        c.metric = MetricKind::Mae;
        c.higher_is_better = false;
        assert!(
            verdict(&c).starts_with("DINOv2 predicts this taste better: MAE"),
            "{}",
            verdict(&c)
        );
    }

    #[test]
    fn minimum_ratings_rule() {
        assert_eq!(min_ratings(2), 10);
        assert_eq!(min_ratings(5), 10);
        assert_eq!(min_ratings(10), 20);
        let err = check_folds(9, 5).unwrap_err().to_string();
        assert!(
            err.starts_with("need at least 10 ratings for 5 folds, have 9"),
            "{err}"
        );
        assert!(check_folds(10, 5).is_ok());
        assert!(check_folds(100, 1).is_err());
    }

    #[test]
    fn signs_print_with_a_real_minus() {
        assert_eq!(signed(0.214), "+0.21");
        assert_eq!(signed(-0.05), "−0.05");
        assert_eq!(signed(-0.001), "+0.00");
    }

    #[test]
    fn levels_print_with_the_decimals_they_need() {
        assert_eq!(percent(1.0 - ALPHA), "95%");
        assert_eq!(percent(1.0 - ALPHA / 3.0), "98.3%");
        assert_eq!(percent(1.0 - ALPHA / 6.0), "99.2%");
        // Never rounded up to 100%.
        assert_eq!(percent(1.0 - ALPHA / 4950.0), "99.999%");
        assert_eq!(and_list(&["A"]), "A");
        assert_eq!(and_list(&["A", "B"]), "A and B");
        assert_eq!(and_list(&["A", "B", "C"]), "A, B and C");
    }

    /// The p-value by hand on small distributions, including ties at zero.
    #[test]
    fn percentile_p_values_by_hand() {
        // Q crosses zero halfway between the first two of five values:
        // q = 0.5 · 1/4 = 0.125, so p = 0.25.
        let p = percentile_p_value(&[-1.0, 1.0, 2.0, 3.0, 4.0]);
        assert!((p - 0.25).abs() < 1e-12, "{p}");
        // All on one side: no interval reaches zero.
        assert_eq!(percentile_p_value(&[0.1, 0.2, 0.3]), 0.0);
        assert_eq!(percentile_p_value(&[-0.3, -0.2]), 0.0);
        // A median of zero: every interval contains it.
        assert_eq!(percentile_p_value(&[-1.0, 0.0, 0.0, 0.0, 1.0]), 1.0);
        assert_eq!(percentile_p_value(&[0.0; 4]), 1.0);
        // A zero at the very edge: every interval narrower than the full
        // range (α > 0) excludes it.
        assert_eq!(percentile_p_value(&[0.0, 1.0, 2.0]), 0.0);
    }

    /// The p-value and the interval agree at every level: p < α exactly
    /// when the [α/2, 1 − α/2] quantile interval excludes zero.
    #[test]
    fn p_values_invert_the_interval() {
        let mut rng = SplitMix64::new(5);
        for shift in [-0.4, -0.1, 0.0, 0.05, 0.2, 0.6] {
            let mut v: Vec<f64> = (0..501).map(|_| rng.normal() * 0.2 + shift).collect();
            v.sort_by(f64::total_cmp);
            let p = percentile_p_value(&v);
            for alpha in [0.001, 0.01, 0.0167, 0.05, 0.1, 0.3, 0.7, 0.99] {
                if (alpha - p).abs() < 1e-9 {
                    continue;
                }
                let excludes = quantile_sorted(&v, alpha / 2.0) > 0.0
                    || quantile_sorted(&v, 1.0 - alpha / 2.0) < 0.0;
                assert_eq!(excludes, p < alpha, "shift {shift}, α {alpha}, p {p}");
            }
        }
    }

    fn spearman_pair(a: &str, b: &str, diff: f64, lo: f64, hi: f64, level: f64) -> Comparison {
        Comparison {
            a: a.into(),
            b: b.into(),
            ci_level: level,
            ..comparison(diff, lo, hi)
        }
    }

    #[test]
    fn verdicts_on_three_backbones() {
        let x: Vec<Vec<f32>> = Vec::new();
        let bb = [
            Backbone::new("a", "A", &x),
            Backbone::new("b", "B", &x),
            Backbone::new("c", "C", &x),
        ];
        let level = 1.0 - ALPHA / 3.0;
        // C beats A and B; B and A cannot be told apart.
        let cs = [
            spearman_pair("a", "b", 0.01, -0.05, 0.07, level),
            spearman_pair("a", "c", 0.30, 0.20, 0.40, level),
            spearman_pair("b", "c", 0.25, 0.10, 0.38, level),
        ];
        let refs: Vec<&Comparison> = cs.iter().collect();
        let best = best_on_spearman(&bb, &cs);
        assert_eq!(best, Some(2));
        assert_eq!(
            many_verdict(&bb, &refs, best),
            "C predicts this taste best: Spearman +0.25 over B, the closest of the other 2 (98.3% simultaneous CI +0.10 … +0.38)"
        );

        // A beats C, nothing else is significant: no best.
        let cs = [
            spearman_pair("a", "b", 0.01, -0.05, 0.07, level),
            spearman_pair("a", "c", -0.30, -0.40, -0.20, level),
            spearman_pair("b", "c", -0.05, -0.12, 0.02, level),
        ];
        let refs: Vec<&Comparison> = cs.iter().collect();
        assert_eq!(best_on_spearman(&bb, &cs), None);
        assert_eq!(
            many_verdict(&bb, &refs, None),
            "No backbone predicts this taste best; Spearman differences that are significant (98.3% simultaneous CI): A over C +0.30 (+0.20 … +0.40); the data cannot tell the other pairs apart"
        );

        // Nothing significant: the largest difference, shown positive.
        let cs = [
            spearman_pair("a", "b", 0.01, -0.05, 0.07, level),
            spearman_pair("a", "c", -0.08, -0.20, 0.03, level),
            spearman_pair("b", "c", -0.05, -0.12, 0.02, level),
        ];
        let refs: Vec<&Comparison> = cs.iter().collect();
        assert_eq!(best_on_spearman(&bb, &cs), None);
        assert_eq!(
            many_verdict(&bb, &refs, None),
            "The data cannot tell A, B and C apart: the largest Spearman difference (A − C) is +0.08 (98.3% simultaneous CI −0.03 … +0.20)"
        );
    }

    #[test]
    fn flipped_comparisons_mirror() {
        let c = spearman_pair("a", "b", 0.2, 0.1, 0.3, 0.95);
        let f = c.flipped();
        assert_eq!((f.a.as_str(), f.b.as_str()), ("b", "a"));
        assert_eq!((f.value_a, f.value_b), (c.value_b, c.value_a));
        assert_eq!((f.diff, f.ci_low, f.ci_high), (-0.2, -0.3, -0.1));
        assert_eq!(f.winner(), Some("b"));
        assert_eq!(c.winner(), Some("b"));
        assert_eq!(f.flipped(), c);
    }
}
