//! The pairwise head: a Bradley–Terry model of a person's preferences
//! between two works, learnt as a logistic regression on the difference of
//! their (standardised) embeddings, and its cross-validation on held-out
//! preferences.
//!
//! The details are in `docs/STATISTICS.md`, section "The pairwise head".

use serde::{Deserialize, Serialize};

use super::cv::percentile_p_value;
use super::metrics::{holm_adjust, quantile_sorted};
use super::ridge::standardizer;
use super::{
    cv_interval_scale, fold_assignment, mix, Backbone, Comparison, MetricKind, SplitMix64, ALPHA,
};
use crate::error::{Error, Result};

/// Fewest preferences the pairwise head trains on.
pub(crate) const MIN_PREFERENCES: usize = 10;

/// Inner folds for choosing λ.
const INNER_FOLDS: usize = 4;

/// Newton iterations at most; the loss is convex and smooth, so a handful
/// usually suffices.
const MAX_NEWTON: usize = 50;

/// The λ values inner cross-validation chooses from: one per half decade
/// from 1e-2 to 1e4.
pub(crate) fn pairwise_lambda_grid() -> Vec<f64> {
    (0..13).map(|k| 10f64.powf(-2.0 + 0.5 * k as f64)).collect()
}

/// A fitted Bradley–Terry head.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairwiseHead {
    /// Per-dimension mean subtracted before the dot product.
    pub mean: Vec<f64>,
    /// Per-dimension divisor.
    pub scale: Vec<f64>,
    /// Utility weights on the standardised features.
    pub coef: Vec<f64>,
    /// The penalty the weights were fitted with.
    pub lambda: f64,
}

impl PairwiseHead {
    /// The utility of one embedding: only differences of utilities mean
    /// anything (σ of the difference is the chance of being preferred).
    pub fn utility(&self, x: &[f32]) -> f64 {
        x.iter()
            .enumerate()
            .map(|(j, &v)| (v as f64 - self.mean[j]) / self.scale[j] * self.coef[j])
            .sum()
    }
}

fn sigmoid(t: f64) -> f64 {
    if t >= 0.0 {
        1.0 / (1.0 + (-t).exp())
    } else {
        let e = t.exp();
        e / (1.0 + e)
    }
}

/// log(1 + e^(−t)), stable for large |t|.
fn log_loss(t: f64) -> f64 {
    if t > 0.0 {
        (-t).exp().ln_1p()
    } else {
        -t + t.exp().ln_1p()
    }
}

/// Checks works and (winner, loser) index pairs.
fn check(x: &[Vec<f32>], prefs: &[(usize, usize)]) -> Result<usize> {
    let d = x.first().map_or(0, |r| r.len());
    if d == 0 {
        return Err(Error::InvalidArgument("no embeddings to train on".into()));
    }
    if x.iter()
        .any(|r| r.len() != d || r.iter().any(|v| !v.is_finite()))
    {
        return Err(Error::InvalidArgument(
            "the embeddings differ in length or hold non-finite values".into(),
        ));
    }
    if let Some(&(w, l)) = prefs.iter().find(|&&(w, l)| w >= x.len() || l >= x.len()) {
        return Err(Error::InvalidArgument(format!(
            "a preference refers to training row {} but only {} rows were given (rows count from 0)",
            w.max(l),
            x.len()
        )));
    }
    Ok(d)
}

/// The standardised differences z(winner) − z(loser), row-major m × d.
fn differences(x: &[Vec<f32>], prefs: &[(usize, usize)], mean: &[f64], scale: &[f64]) -> Vec<f64> {
    let d = mean.len();
    let mut out = Vec::with_capacity(prefs.len() * d);
    for &(w, l) in prefs {
        for j in 0..d {
            out.push((x[w][j] as f64 - x[l][j] as f64) / scale[j]);
        }
    }
    out
}

/// Mean and scale over the works `prefs` name (each work once).
fn standardise_over(x: &[Vec<f32>], prefs: &[(usize, usize)]) -> (Vec<f64>, Vec<f64>) {
    let mut seen = vec![false; x.len()];
    let mut rows: Vec<&[f32]> = Vec::new();
    for &(w, l) in prefs {
        for i in [w, l] {
            if !seen[i] {
                seen[i] = true;
                rows.push(&x[i]);
            }
        }
    }
    standardizer(&rows, true)
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Solves `A x = b` for symmetric positive definite row-major `A` (m × m).
fn cholesky_solve(a: &mut [f64], m: usize, b: &[f64]) -> Option<Vec<f64>> {
    for j in 0..m {
        let mut pivot = a[j * m + j];
        for k in 0..j {
            pivot -= a[j * m + k] * a[j * m + k];
        }
        if !(pivot.is_finite() && pivot > 0.0) {
            return None;
        }
        let diag = pivot.sqrt();
        a[j * m + j] = diag;
        for i in j + 1..m {
            let mut s = a[i * m + j];
            for k in 0..j {
                s -= a[i * m + k] * a[j * m + k];
            }
            a[i * m + j] = s / diag;
        }
    }
    let mut u = vec![0.0; m];
    for i in 0..m {
        let mut s = b[i];
        for k in 0..i {
            s -= a[i * m + k] * u[k];
        }
        u[i] = s / a[i * m + i];
    }
    let mut x = vec![0.0; m];
    for i in (0..m).rev() {
        let mut s = u[i];
        for k in i + 1..m {
            s -= a[k * m + i] * x[k];
        }
        x[i] = s / a[i * m + i];
    }
    Some(x)
}

/// Newton's method on the penalised logistic loss of the rows of `z`
/// (m × d, every label "the first is preferred"), with the Gram matrix `k`
/// (m × m) precomputed.
fn newton(z: &[f64], k: &[f64], m: usize, d: usize, lambda: f64) -> Result<Vec<f64>> {
    let mut w = vec![0.0; d];
    if m == 0 {
        return Ok(w);
    }
    let objective = |w: &[f64]| -> f64 {
        let loss: f64 = (0..m)
            .map(|p| log_loss(dot(&z[p * d..(p + 1) * d], w)))
            .sum();
        loss + 0.5 * lambda * dot(w, w)
    };
    let mut current = objective(&w);
    for _ in 0..MAX_NEWTON {
        let f: Vec<f64> = (0..m).map(|p| dot(&z[p * d..(p + 1) * d], &w)).collect();
        let s: Vec<f64> = f.iter().map(|&t| sigmoid(t)).collect();
        // Gradient g = −Zᵀ(1 − s) + λ w.
        let mut g: Vec<f64> = w.iter().map(|v| lambda * v).collect();
        for p in 0..m {
            let c = 1.0 - s[p];
            for (gj, zj) in g.iter_mut().zip(&z[p * d..(p + 1) * d]) {
                *gj -= c * zj;
            }
        }
        // H⁻¹g with H = ZᵀWZ + λI, by Woodbury:
        // H⁻¹g = (g − Zᵀ W½ (λI + W½ K W½)⁻¹ W½ Z g) / λ.
        let sq: Vec<f64> = s.iter().map(|&v| (v * (1.0 - v)).max(0.0).sqrt()).collect();
        let zg: Vec<f64> = (0..m)
            .map(|p| sq[p] * dot(&z[p * d..(p + 1) * d], &g))
            .collect();
        let mut a = vec![0.0; m * m];
        for i in 0..m {
            for j in 0..m {
                a[i * m + j] = sq[i] * k[i * m + j] * sq[j];
            }
            a[i * m + i] += lambda;
        }
        let v = cholesky_solve(&mut a, m, &zg).ok_or_else(|| {
            Error::InvalidArgument(
                "the pairwise head's Newton system is not positive definite".into(),
            )
        })?;
        let mut step = g.clone();
        for p in 0..m {
            let c = sq[p] * v[p];
            for (sj, zj) in step.iter_mut().zip(&z[p * d..(p + 1) * d]) {
                *sj -= c * zj;
            }
        }
        for sj in &mut step {
            *sj /= lambda;
        }
        // Halve the step until the objective does not grow (Newton on a
        // logistic loss can overshoot when the data are nearly separable).
        let mut t = 1.0;
        let mut next = w.clone();
        let mut value = f64::INFINITY;
        for _ in 0..30 {
            for j in 0..d {
                next[j] = w[j] - t * step[j];
            }
            value = objective(&next);
            if value <= current + 1e-12 {
                break;
            }
            t *= 0.5;
        }
        let moved = step.iter().map(|v| (t * v).abs()).fold(0.0, f64::max);
        if value.is_nan() || value > current + 1e-12 {
            break;
        }
        w.clone_from(&next);
        let gained = current - value;
        current = value;
        if moved < 1e-9 || gained < 1e-12 * (1.0 + current.abs()) {
            break;
        }
    }
    if w.iter().any(|v| !v.is_finite()) {
        return Err(Error::InvalidArgument(
            "the pairwise head did not converge to finite weights".into(),
        ));
    }
    Ok(w)
}

fn gram(z: &[f64], m: usize, d: usize) -> Vec<f64> {
    let mut k = vec![0.0; m * m];
    for i in 0..m {
        for j in 0..=i {
            let v = dot(&z[i * d..(i + 1) * d], &z[j * d..(j + 1) * d]);
            k[i * m + j] = v;
            k[j * m + i] = v;
        }
    }
    k
}

/// Fits the Bradley–Terry head with a fixed λ on the works `x` and the
/// preferences `prefs` (indices into `x`: (winner, loser)).
pub(crate) fn fit_pairwise_lambda(
    x: &[Vec<f32>],
    prefs: &[(usize, usize)],
    lambda: f64,
) -> Result<PairwiseHead> {
    let d = check(x, prefs)?;
    let (mean, scale) = standardise_over(x, prefs);
    let z = differences(x, prefs, &mean, &scale);
    let k = gram(&z, prefs.len(), d);
    let coef = newton(&z, &k, prefs.len(), d, lambda)?;
    Ok(PairwiseHead {
        mean,
        scale,
        coef,
        lambda,
    })
}

/// Chooses λ by inner cross-validation on `prefs` (held-out log-loss; ties
/// to the larger λ) and fits on all of them. Needs `MIN_PREFERENCES`.
pub fn fit_pairwise(x: &[Vec<f32>], prefs: &[(usize, usize)], seed: u64) -> Result<PairwiseHead> {
    if prefs.len() < MIN_PREFERENCES {
        return Err(Error::InvalidArgument(format!(
            "need at least {MIN_PREFERENCES} preferences to train a pairwise head, have {}; \
             add some with `artlens rate prefer WINNER LOSER`",
            prefs.len()
        )));
    }
    let lambda = choose_lambda(x, prefs, seed)?;
    fit_pairwise_lambda(x, prefs, lambda)
}

fn choose_lambda(x: &[Vec<f32>], prefs: &[(usize, usize)], seed: u64) -> Result<f64> {
    let grid = pairwise_lambda_grid();
    let m = prefs.len();
    let k = INNER_FOLDS.min(m);
    if k < 2 {
        return Ok(grid[grid.len() / 2]);
    }
    let d = check(x, prefs)?;
    let fold_of = fold_assignment(m, k, &mut SplitMix64::new(seed));
    let mut loss = vec![0.0; grid.len()];
    for f in 0..k {
        let (train, test): (Vec<usize>, Vec<usize>) = (0..m).partition(|&i| fold_of[i] != f);
        let tp: Vec<(usize, usize)> = train.iter().map(|&i| prefs[i]).collect();
        let (mean, scale) = standardise_over(x, &tp);
        let z = differences(x, &tp, &mean, &scale);
        let kk = gram(&z, tp.len(), d);
        let zt = differences(
            x,
            &test.iter().map(|&i| prefs[i]).collect::<Vec<_>>(),
            &mean,
            &scale,
        );
        for (g, &lambda) in grid.iter().enumerate() {
            let w = newton(&z, &kk, tp.len(), d, lambda)?;
            for t in 0..test.len() {
                loss[g] += log_loss(dot(&zt[t * d..(t + 1) * d], &w));
            }
        }
    }
    let mut best = grid.len() - 1;
    for g in (0..grid.len()).rev() {
        if loss[g] < loss[best] {
            best = g;
        }
    }
    Ok(grid[best])
}

/// The pairwise head cross-validated on held-out preferences.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairwiseCv {
    /// K, the number of folds the preferences were split into.
    pub folds: usize,
    /// The seed of the split and the fits.
    pub seed: u64,
    /// The share of held-out preferences whose winner the head gave the
    /// higher utility (a tie counts half).
    pub accuracy: f64,
    /// Per preference, in input order: 1 when its fold's head ordered it
    /// right, 0 when wrong, 0.5 on a tie.
    pub correct: Vec<f64>,
    /// The test fold of every preference.
    pub fold_of: Vec<usize>,
    /// λ chosen in each fold.
    pub lambdas: Vec<f64>,
}

const TAG_PAIR_FOLDS: u64 = 11;
const TAG_PAIR_FIT: u64 = 12;

/// The fold of each of `m` preferences for `seed` (the same for every
/// backbone, so their held-out results are paired preference by preference).
pub(crate) fn preference_folds(m: usize, folds: usize, seed: u64) -> Vec<usize> {
    fold_assignment(m, folds, &mut SplitMix64::new(mix(seed, TAG_PAIR_FOLDS, 0)))
}

/// K-fold cross-validation of the pairwise head over preferences: each
/// fold's preferences are predicted by a head trained on the others.
pub fn cross_validate_pairwise(
    x: &[Vec<f32>],
    prefs: &[(usize, usize)],
    folds: usize,
    seed: u64,
) -> Result<PairwiseCv> {
    check(x, prefs)?;
    if folds < 2 {
        return Err(Error::InvalidArgument(format!(
            "cross-validation needs at least 2 folds, got {folds}"
        )));
    }
    let need = (2 * folds).max(MIN_PREFERENCES);
    if prefs.len() < need {
        return Err(Error::InvalidArgument(format!(
            "need at least {need} preferences for {folds} folds, have {}; add some with \
             `artlens rate prefer WINNER LOSER` (`artlens suggest` picks useful works)",
            prefs.len()
        )));
    }
    let fold_of = preference_folds(prefs.len(), folds, seed);
    use rayon::prelude::*;
    let per_fold: Vec<(Vec<(usize, f64)>, f64)> = (0..folds)
        .into_par_iter()
        .map(|f| {
            let train: Vec<(usize, usize)> = (0..prefs.len())
                .filter(|&i| fold_of[i] != f)
                .map(|i| prefs[i])
                .collect();
            let head = fit_pairwise(x, &train, mix(seed, TAG_PAIR_FIT, f as u64))?;
            let out = (0..prefs.len())
                .filter(|&i| fold_of[i] == f)
                .map(|i| {
                    let (w, l) = prefs[i];
                    let diff = head.utility(&x[w]) - head.utility(&x[l]);
                    let c = if diff > 0.0 {
                        1.0
                    } else if diff < 0.0 {
                        0.0
                    } else {
                        0.5
                    };
                    (i, c)
                })
                .collect();
            Ok((out, head.lambda))
        })
        .collect::<Result<_>>()?;
    let mut correct = vec![0.0; prefs.len()];
    let mut lambdas = Vec::new();
    for (out, lambda) in per_fold {
        for (i, c) in out {
            correct[i] = c;
        }
        lambdas.push(lambda);
    }
    let accuracy = correct.iter().sum::<f64>() / correct.len() as f64;
    Ok(PairwiseCv {
        folds,
        seed,
        accuracy,
        correct,
        fold_of,
        lambdas,
    })
}

/// One backbone's side of a comparison on preferences.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairwiseBackbone {
    /// The backbone's id, its key in [`PairwiseReport::backbones`].
    pub id: String,
    /// The name verdicts use.
    pub display_name: String,
    /// Held-out pairwise accuracy (see [`PairwiseCv::accuracy`]).
    pub accuracy: f64,
    /// λ chosen in each fold.
    pub lambdas: Vec<f64>,
}

/// The backbones compared on held-out preferences: each one's accuracy,
/// the paired difference of every pair with its interval, and a verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairwiseReport {
    /// K, the number of folds the preferences were split into.
    pub folds: usize,
    /// The seed of the split, the fits and the bootstrap.
    pub seed: u64,
    /// Preferences every backbone was scored on.
    pub n_preferences: usize,
    /// Of those, unordered pairs of works preferred both ways.
    pub contradictions: usize,
    /// How many bootstrap resamples each comparison's interval rests on.
    pub n_boot: usize,
    /// The backbone ids in the order they were given (`backbones` is sorted by id).
    pub ids: Vec<String>,
    /// Each backbone's held-out accuracy, by id.
    pub backbones: std::collections::BTreeMap<String, PairwiseBackbone>,
    /// Per pair (a before b in `ids`), the difference b − a of held-out
    /// pairwise accuracy (metric `pairwise_accuracy`).
    pub comparisons: Vec<Comparison>,
    /// The id of the backbone significantly better than every other one; `None` when there is none
    /// or only one backbone.
    pub best: Option<String>,
    /// One sentence saying which backbone predicts the preferences best, and how sure that is.
    pub verdict: String,
}

const TAG_PAIR_BOOT: u64 = 13;

/// Compares backbones at predicting held-out preferences, every backbone on
/// the same preference folds, so that their right and wrong calls are
/// paired preference by preference. For every pair (a, b) the difference
/// b − a of held-out accuracy is bootstrapped by resampling preferences
/// (one shared set of resamples), widened by [`cv_interval_scale`] for the
/// dependence cross-validation adds, exactly as the comparison on ratings
/// does, with Bonferroni intervals at `1 − 0.05/m` and Holm-adjusted
/// p-values over the m pairs.
pub fn compare_pairwise(
    backbones: &[Backbone<'_>],
    prefs: &[(usize, usize)],
    folds: usize,
    seed: u64,
    n_boot: usize,
) -> Result<PairwiseReport> {
    if backbones.is_empty() {
        return Err(Error::InvalidArgument(
            "the comparison needs at least one backbone".into(),
        ));
    }
    if n_boot == 0 {
        return Err(Error::InvalidArgument(
            "the bootstrap needs at least one resample".into(),
        ));
    }
    let mut cvs = Vec::new();
    for b in backbones {
        cvs.push(
            cross_validate_pairwise(b.x, prefs, folds, seed).map_err(|e| match e {
                Error::InvalidArgument(m) => {
                    Error::InvalidArgument(format!("backbone `{}`: {m}", b.id))
                }
                other => other,
            })?,
        );
    }
    let m = prefs.len();
    let boot: Vec<Vec<f64>> = (0..n_boot)
        .map(|r| {
            let mut rng = SplitMix64::new(mix(seed, TAG_PAIR_BOOT, r as u64));
            let idx: Vec<usize> = (0..m).map(|_| rng.below(m)).collect();
            cvs.iter()
                .map(|cv| idx.iter().map(|&i| cv.correct[i]).sum::<f64>() / m as f64)
                .collect()
        })
        .collect();
    let pairs: Vec<(usize, usize)> = (0..backbones.len())
        .flat_map(|i| (i + 1..backbones.len()).map(move |j| (i, j)))
        .collect();
    let alpha = ALPHA / pairs.len().max(1) as f64;
    let ci_scale = cv_interval_scale(folds);
    let mut comparisons = Vec::new();
    for &(i, j) in &pairs {
        let mut d: Vec<f64> = boot.iter().map(|r| r[j] - r[i]).collect();
        d.sort_by(f64::total_cmp);
        let mean_diff = d.iter().sum::<f64>() / d.len() as f64;
        let widen = |v: f64| mean_diff + ci_scale * (v - mean_diff);
        let widened: Vec<f64> = d.iter().map(|&v| widen(v)).collect();
        let (a, b) = (cvs[i].accuracy, cvs[j].accuracy);
        comparisons.push(Comparison {
            a: backbones[i].id.to_string(),
            b: backbones[j].id.to_string(),
            metric: MetricKind::PairwiseAccuracy,
            value_a: a,
            value_b: b,
            diff: b - a,
            mean_diff,
            ci_low: widen(quantile_sorted(&d, alpha / 2.0)),
            ci_high: widen(quantile_sorted(&d, 1.0 - alpha / 2.0)),
            ci_level: 1.0 - alpha,
            ci_scale,
            n_boot,
            p_value: percentile_p_value(&widened),
            p_holm: f64::NAN,
            significant: false,
            higher_is_better: true,
        });
    }
    let p: Vec<f64> = comparisons.iter().map(|c| c.p_value).collect();
    for (c, adjusted) in comparisons.iter_mut().zip(holm_adjust(&p)) {
        c.p_holm = adjusted;
        c.significant = adjusted < ALPHA && (c.ci_low > 0.0 || c.ci_high < 0.0);
    }
    let best = (0..backbones.len()).find(|&i| {
        backbones.len() >= 2
            && comparisons
                .iter()
                .filter(|c| c.a == backbones[i].id || c.b == backbones[i].id)
                .all(|c| c.winner() == Some(backbones[i].id))
    });
    let name = |id: &str| {
        backbones
            .iter()
            .find(|b| b.id == id)
            .map_or(id.to_string(), |b| b.display_name.to_string())
    };
    let verdict = match (best, comparisons.as_slice()) {
        (_, []) => format!(
            "Only {} was evaluated on preferences: held-out pairwise accuracy {:.2}",
            backbones[0].display_name, cvs[0].accuracy
        ),
        (Some(i), _) => format!(
            "{} predicts these preferences best: held-out pairwise accuracy {:.2} ({}% CI of every difference excludes zero)",
            backbones[i].display_name,
            cvs[i].accuracy,
            ((1.0 - alpha) * 1000.0).round() / 10.0
        ),
        (None, cs) => {
            let c = cs
                .iter()
                .max_by(|x, y| x.diff.abs().total_cmp(&y.diff.abs()))
                .expect("at least one comparison");
            format!(
                "The preferences cannot tell the backbones apart: held-out pairwise accuracy difference ({} \u{2212} {}) {:+.2} ({}% CI {:+.2} … {:+.2})",
                name(&c.b),
                name(&c.a),
                c.diff,
                ((1.0 - alpha) * 1000.0).round() / 10.0,
                c.ci_low,
                c.ci_high
            )
        }
    };
    Ok(PairwiseReport {
        folds,
        seed,
        n_preferences: m,
        contradictions: count_contradictions(prefs),
        n_boot,
        ids: backbones.iter().map(|b| b.id.to_string()).collect(),
        backbones: backbones
            .iter()
            .zip(&cvs)
            .map(|(b, cv)| {
                (
                    b.id.to_string(),
                    PairwiseBackbone {
                        id: b.id.to_string(),
                        display_name: b.display_name.to_string(),
                        accuracy: cv.accuracy,
                        lambdas: cv.lambdas.clone(),
                    },
                )
            })
            .collect(),
        comparisons,
        best: best.map(|i| backbones[i].id.to_string()),
        verdict,
    })
}

/// Unordered pairs of works preferred both ways at least once.
pub fn count_contradictions(prefs: &[(usize, usize)]) -> usize {
    let set: std::collections::HashSet<(usize, usize)> = prefs.iter().copied().collect();
    set.iter()
        .filter(|&&(w, l)| w < l && set.contains(&(l, w)))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The chance the model gives that `a` is preferred to `b`.
    fn prefer_probability(head: &PairwiseHead, a: &[f32], b: &[f32]) -> f64 {
        sigmoid(head.utility(a) - head.utility(b))
    }

    fn works(n: usize, d: usize, seed: u64) -> Vec<Vec<f32>> {
        let mut r = SplitMix64::new(seed);
        (0..n)
            .map(|_| (0..d).map(|_| r.normal() as f32).collect())
            .collect()
    }

    /// A Newton solution has a zero gradient: Zᵀ(1 − σ(Zw)) = λw.
    #[test]
    fn newton_reaches_the_stationary_point() {
        let x = works(30, 6, 1);
        let mut r = SplitMix64::new(2);
        let prefs: Vec<(usize, usize)> = (0..40)
            .map(|_| (r.below(30), r.below(30)))
            .filter(|(a, b)| a != b)
            .collect();
        let lambda = 0.7;
        let head = fit_pairwise_lambda(&x, &prefs, lambda).unwrap();
        let d = 6;
        let z = differences(&x, &prefs, &head.mean, &head.scale);
        let mut g: Vec<f64> = head.coef.iter().map(|v| lambda * v).collect();
        for p in 0..prefs.len() {
            let c = 1.0 - sigmoid(dot(&z[p * d..(p + 1) * d], &head.coef));
            for j in 0..d {
                g[j] -= c * z[p * d + j];
            }
        }
        assert!(g.iter().all(|v| v.abs() < 1e-6), "{g:?}");
        // The utility difference is what the model was fitted on.
        let (w, l) = prefs[0];
        let p = prefer_probability(&head, &x[w], &x[l]);
        let q = prefer_probability(&head, &x[l], &x[w]);
        assert!((p + q - 1.0).abs() < 1e-12);
    }

    /// Contradictions are data, not an error: a pair in both directions
    /// leaves the model undecided about it.
    #[test]
    fn contradictory_pairs_are_a_coin_toss() {
        let x = works(2, 3, 5);
        let head = fit_pairwise_lambda(&x, &[(0, 1), (1, 0)], 1.0).unwrap();
        assert!(head.coef.iter().all(|v| v.abs() < 1e-9), "{:?}", head.coef);
        assert!((prefer_probability(&head, &x[0], &x[1]) - 0.5).abs() < 1e-9);
    }
}
