//! Taste heads: small models that learn a person's ratings from a
//! backbone's raw CLS embeddings, the cross-validation that measures how well
//! they do, and the paired comparison that says which backbone predicts the
//! taste better.
//!
//! The details are in `docs/STATISTICS.md`, section "The head module".

mod cv;
mod live;
mod metrics;
mod mlp;
mod pairwise;
mod ridge;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

pub use cv::BackboneReport;
pub use cv::CurvePoint;
pub use cv::{
    compare_backbones, compare_backbones_repeated, cross_validate, cv_interval_scale, Backbone,
    Comparison, CvResult, TrainReport, DEFAULT_REPEATS,
};
pub(crate) use cv::{
    compare_backbones_grouped, ALPHA, DEFAULT_BOOTSTRAP, DEFAULT_FOLDS, MIN_RATINGS,
};
pub(crate) use live::HEADLINE_NAME;
pub use live::{
    compare_live, compare_live_betting, headline, live_best, live_track, percent, BetRule, Betting,
    Headline, LiveComparison, LiveTrack, FIRST_ANSWER, HEADLINE_DESCRIPTION, LIVE_BETTING,
    LIVE_START, LIVE_THRESHOLD_FACTOR, PROCEDURE,
};
pub(crate) use metrics::{average_ranks, corrected_fold_interval};
pub use metrics::{holm_adjust, spearman, MetricKind, Metrics};
pub(crate) use mlp::MlpConfig;
pub use mlp::MlpHead;
pub(crate) use pairwise::MIN_PREFERENCES;
pub use pairwise::{
    compare_pairwise, count_contradictions, cross_validate_pairwise, fit_pairwise,
    PairwiseBackbone, PairwiseCv, PairwiseHead, PairwiseReport,
};
pub(crate) use ridge::KernelVote;
pub use ridge::RidgeHead;

use crate::error::{Error, Result};

mod saved;
mod train;
pub use saved::{
    aligned_training_set_of, load_head_of, load_training_of, save_training_with, training_set,
    AlignedSet, SavedTraining, TrainingSet,
};
pub(crate) use train::{
    check_spread, has_spread, learn_from_preferences, learn_from_ratings, nothing_to_learn,
    preference_rows, TrainOptions,
};

/// Which model learns the taste.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum HeadKind {
    /// Linear ridge regression on standardised embeddings: the default, and
    /// the right one for a few hundred ratings.
    Ridge,
    /// A one-hidden-layer perceptron; may win with many ratings.
    Mlp,
}

impl HeadKind {
    /// The name the command line, the JSON and the saved heads use: `ridge` or `mlp`.
    pub fn name(self) -> &'static str {
        match self {
            HeadKind::Ridge => "ridge",
            HeadKind::Mlp => "mlp",
        }
    }
}

impl std::fmt::Display for HeadKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A fitted head, ready to score embeddings of the backbone it was trained on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum TrainedHead {
    /// A ridge regression head.
    Ridge(RidgeHead),
    /// A one-hidden-layer perceptron head.
    Mlp(MlpHead),
}

impl TrainedHead {
    /// Which kind of model this head is.
    pub fn kind(&self) -> HeadKind {
        match self {
            TrainedHead::Ridge(_) => HeadKind::Ridge,
            TrainedHead::Mlp(_) => HeadKind::Mlp,
        }
    }

    /// The embedding length the head expects.
    pub(crate) fn dim(&self) -> usize {
        match self {
            TrainedHead::Ridge(h) => h.coef.len(),
            TrainedHead::Mlp(h) => h.dim,
        }
    }

    /// The predicted rating of one embedding, in f64 (what cross-validation
    /// scores). Panics when `x` is not `TrainedHead::dim` long: a head only
    /// meets embeddings checked against its fingerprint.
    pub fn predict_f64(&self, x: &[f32]) -> f64 {
        assert_eq!(
            x.len(),
            self.dim(),
            "embedding length differs from the head's"
        );
        match self {
            TrainedHead::Ridge(h) => h.predict_f64(x),
            TrainedHead::Mlp(h) => h.predict_f64(x),
        }
    }

    /// The predicted rating of one embedding. Panics like [`TrainedHead::predict_f64`].
    pub fn predict(&self, x: &[f32]) -> f32 {
        self.predict_f64(x) as f32
    }

    /// Names the training works (content hashes in the order of the training
    /// rows) so a ridge head can explain its scores work by work; a no-op for
    /// the MLP, whose prediction has no such decomposition.
    pub fn set_support(&mut self, hashes: &[String]) {
        if let TrainedHead::Ridge(h) = self {
            h.set_support(hashes);
        }
    }

    /// The predicted ratings of several embeddings.
    pub fn predict_many(&self, xs: &[Vec<f32>]) -> Vec<f32> {
        xs.iter().map(|x| self.predict(x)).collect()
    }
}

/// Fits a head of `kind` on all of `x` and `y` (ridge: λ by inner
/// cross-validation; MLP: initialised from `seed`). Needs at least
/// `MIN_RATINGS` ratings.
pub fn fit(x: &[Vec<f32>], y: &[f64], kind: HeadKind, seed: u64) -> Result<TrainedHead> {
    let singletons: Vec<usize> = (0..y.len()).collect();
    fit_grouped(x, y, &singletons, kind, seed)
}

/// [`fit`] on works labelled by duplicate group (`groups[i]` for rating
/// `i`; a work and its marked copies share a label): ridge's inner
/// cross-validation keeps each group in one fold.
pub(crate) fn fit_grouped(
    x: &[Vec<f32>],
    y: &[f64],
    groups: &[usize],
    kind: HeadKind,
    seed: u64,
) -> Result<TrainedHead> {
    check_data(x, y)?;
    if y.len() < MIN_RATINGS {
        return Err(Error::InvalidArgument(format!(
            "need at least {MIN_RATINGS} ratings to train a head, have {}",
            y.len()
        )));
    }
    let rows: Vec<&[f32]> = x.iter().map(|r| r.as_slice()).collect();
    fit_rows(&rows, y, groups, kind, seed).map(|(head, _)| head)
}

/// Fits ridge with a fixed λ on all of `x` and `y`, standardising features
/// when `standardize` (what [`fit`] does) or only centring them (plain
/// scikit-learn `Ridge(alpha=lambda, fit_intercept=True)`). For tests and
/// for users who want to pin λ.
pub fn fit_ridge(x: &[Vec<f32>], y: &[f64], lambda: f64, standardize: bool) -> Result<TrainedHead> {
    check_data(x, y)?;
    if !(lambda.is_finite() && lambda > 0.0) {
        return Err(Error::InvalidArgument(format!(
            "ridge λ must be positive and finite, got {lambda}"
        )));
    }
    let rows: Vec<&[f32]> = x.iter().map(|r| r.as_slice()).collect();
    ridge::fit_rows(&rows, y, lambda, standardize).map(TrainedHead::Ridge)
}

/// Fits on already validated rows; returns the head and, for ridge, the λ
/// inner cross-validation chose.
pub(crate) fn fit_rows(
    rows: &[&[f32]],
    y: &[f64],
    groups: &[usize],
    kind: HeadKind,
    seed: u64,
) -> Result<(TrainedHead, Option<f64>)> {
    match kind {
        HeadKind::Ridge => {
            let lambda = ridge::choose_lambda(rows, y, groups, mix(seed, 0x1a3b, 0))?;
            let head = ridge::fit_rows(rows, y, lambda, true)?;
            Ok((TrainedHead::Ridge(head), Some(lambda)))
        }
        HeadKind::Mlp => {
            let head = mlp::train(rows, y, &MlpConfig::default(), mix(seed, 0x317, 0))?;
            Ok((TrainedHead::Mlp(head), None))
        }
    }
}

/// Checks that `x` is a non-empty set of equally long, finite rows matching
/// `y`, and that `y` is finite.
pub(crate) fn check_data(x: &[Vec<f32>], y: &[f64]) -> Result<()> {
    if x.len() != y.len() {
        return Err(Error::InvalidArgument(format!(
            "{} embeddings but {} ratings",
            x.len(),
            y.len()
        )));
    }
    let d = x.first().map_or(0, |r| r.len());
    if x.is_empty() || d == 0 {
        return Err(Error::InvalidArgument("no embeddings to train on".into()));
    }
    for (i, r) in x.iter().enumerate() {
        if r.len() != d {
            return Err(Error::InvalidArgument(format!(
                "embedding {i} has {} values, the first has {d}",
                r.len()
            )));
        }
        if r.iter().any(|v| !v.is_finite()) {
            return Err(Error::InvalidArgument(format!(
                "embedding {i} has a non-finite value"
            )));
        }
    }
    if let Some(i) = y.iter().position(|v| !v.is_finite()) {
        return Err(Error::InvalidArgument(format!(
            "rating {i} is not finite ({})",
            y[i]
        )));
    }
    Ok(())
}

// ----- seeded randomness -----------------------------------------------------------

/// SplitMix64 (Steele, Lea & Flood 2014): tiny, seedable and good enough
/// for shuffles, bootstrap resamples and weight initialisation, without a
/// dependency whose stream could change between versions and silently
/// change every report.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, n), by Lemire's multiply-shift (its bias, below
    /// n / 2⁶⁴, does not matter here).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }

    /// Uniform in [0, 1) with 53 random bits.
    pub(crate) fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal, by Box–Muller.
    #[allow(dead_code)]
    pub(crate) fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform();
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Fisher–Yates.
    pub(crate) fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }
}

/// A sub-seed for one purpose (`tag`) and one item (`index`), so that folds,
/// resamples and initialisations draw independent streams from one seed.
pub(crate) fn mix(seed: u64, tag: u64, index: u64) -> u64 {
    let mut r = SplitMix64::new(
        seed ^ tag.wrapping_mul(0xd6e8_feb8_6659_fd93) ^ index.wrapping_mul(0xa076_1d64_78bd_642f),
    );
    r.next_u64()
}

/// Shuffled K-fold: fold of each of `n` items, sizes differing by at most one.
pub(crate) fn fold_assignment(n: usize, k: usize, rng: &mut SplitMix64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    rng.shuffle(&mut order);
    let mut fold_of = vec![0; n];
    for (pos, &i) in order.iter().enumerate() {
        fold_of[i] = pos % k;
    }
    fold_of
}

/// Grouped shuffled K-fold: the fold of each of `groups.len()` items,
/// every item of one group (equal `groups` labels: a work and its marked
/// copies) in the same fold, so that no head is tested on a copy of a work
/// it was trained on. The groups are shuffled and each goes to the fold
/// holding the fewest items so far (the lowest such fold on a tie), so with
/// every item its own group this is exactly [`fold_assignment`] on the
/// same draws: stores without copies keep their folds, seed for seed.
pub(crate) fn grouped_fold_assignment(
    groups: &[usize],
    k: usize,
    rng: &mut SplitMix64,
) -> Vec<usize> {
    let labels = canonical_groups(groups);
    let g = labels.iter().copied().max().map_or(0, |m| m + 1);
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); g];
    for (i, &l) in labels.iter().enumerate() {
        members[l].push(i);
    }
    let mut order: Vec<usize> = (0..g).collect();
    rng.shuffle(&mut order);
    let mut sizes = vec![0usize; k.max(1)];
    let mut fold_of = vec![0; groups.len()];
    for gi in order {
        let f = (0..sizes.len())
            .min_by_key(|&f| (sizes[f], f))
            .expect("at least one fold");
        for &i in &members[gi] {
            fold_of[i] = f;
        }
        sizes[f] += members[gi].len();
    }
    fold_of
}

/// `groups` relabelled 0, 1, 2, ... in order of first appearance, so that
/// singleton groups numbered by row are the identity.
pub(crate) fn canonical_groups(groups: &[usize]) -> Vec<usize> {
    let mut seen = HashMap::new();
    groups
        .iter()
        .map(|g| {
            let next = seen.len();
            *seen.entry(*g).or_insert(next)
        })
        .collect()
}

/// How many groups hold more than one item: the number of duplicate
/// groups whose works were kept together.
pub fn merged_groups(groups: &[usize]) -> usize {
    let mut count: HashMap<usize, usize> = HashMap::new();
    for g in groups {
        *count.entry(*g).or_default() += 1;
    }
    count.values().filter(|&&c| c > 1).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grouped_folds_keep_groups_together_and_match_plain_folds_without_groups() {
        let singletons: Vec<usize> = (0..23).collect();
        assert_eq!(
            grouped_fold_assignment(&singletons, 5, &mut SplitMix64::new(9)),
            fold_assignment(23, 5, &mut SplitMix64::new(9))
        );
        // Works 0, 7 and 12 are one picture; 3 and 4 another.
        let mut groups: Vec<usize> = (0..23).collect();
        groups[7] = 0;
        groups[12] = 0;
        groups[4] = 3;
        for seed in 0..20 {
            let f = grouped_fold_assignment(&groups, 5, &mut SplitMix64::new(seed));
            assert_eq!(f[0], f[7]);
            assert_eq!(f[0], f[12]);
            assert_eq!(f[3], f[4]);
            let mut sizes = [0; 5];
            for x in &f {
                sizes[*x] += 1;
            }
            assert!(
                sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 3,
                "{sizes:?}"
            );
        }
        assert_eq!(merged_groups(&groups), 2);
        assert_eq!(merged_groups(&singletons), 0);
    }

    #[test]
    fn folds_are_balanced_and_seeded() {
        let a = fold_assignment(23, 5, &mut SplitMix64::new(9));
        let b = fold_assignment(23, 5, &mut SplitMix64::new(9));
        let c = fold_assignment(23, 5, &mut SplitMix64::new(10));
        assert_eq!(a, b);
        assert_ne!(a, c);
        let mut sizes = [0; 5];
        for f in a {
            sizes[f] += 1;
        }
        assert_eq!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap(), 1);
        assert_eq!(sizes.iter().sum::<usize>(), 23);
    }

    #[test]
    fn rng_draws_are_in_range_and_spread() {
        let mut r = SplitMix64::new(1);
        let mut counts = [0; 4];
        for _ in 0..4000 {
            counts[r.below(4)] += 1;
        }
        assert!(
            counts.iter().all(|&c| (900..1100).contains(&c)),
            "{counts:?}"
        );
        let m: f64 = (0..20000).map(|_| r.normal()).sum::<f64>() / 20000.0;
        assert!(m.abs() < 0.03, "{m}");
    }

    #[test]
    fn head_json_is_tagged_by_kind() {
        let head = TrainedHead::Ridge(RidgeHead {
            mean: vec![0.0],
            scale: vec![1.0],
            coef: vec![2.0],
            intercept: 1.0,
            lambda: 0.5,
            alpha: Vec::new(),
            support: Vec::new(),
            support_ratings: Vec::new(),
        });
        let json = serde_json::to_value(&head).unwrap();
        assert_eq!(json["kind"], "ridge");
        assert_eq!(serde_json::from_value::<TrainedHead>(json).unwrap(), head);
        assert_eq!(head.predict(&[3.0]), 7.0);
    }
}
