//! The ridge head: standardised features, a centred target and the closed
//! form solution, with λ chosen by inner cross-validation.
//!
//! The details are in `docs/STATISTICS.md`, section "The ridge head".

use serde::{Deserialize, Serialize};

use super::{canonical_groups, grouped_fold_assignment, SplitMix64};
use crate::error::{Error, Result};

/// Inner folds for choosing λ (fewer when there are fewer training works).
pub(crate) const INNER_FOLDS: usize = 5;

/// The λ values inner cross-validation chooses from: 17 values spaced
/// evenly on a log scale from 1e-3 to 1e5 (half a decade apart). The upper
/// end is large against the ≈768 diagonal of a standardised Gram matrix, so
/// that pure-noise ratings can be shrunk to (almost) the mean.
pub(crate) fn lambda_grid() -> Vec<f64> {
    (0..17).map(|k| 10f64.powf(-3.0 + 0.5 * k as f64)).collect()
}

/// A fitted ridge head.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RidgeHead {
    /// Per-dimension mean subtracted before the dot product.
    pub mean: Vec<f64>,
    /// Per-dimension divisor (the training standard deviation, or 1 for
    /// constant dimensions and for unstandardised fits).
    pub scale: Vec<f64>,
    /// Weights on the standardised features.
    pub coef: Vec<f64>,
    /// The training ratings' mean: the prediction at the mean features.
    pub intercept: f64,
    /// The penalty the weights were fitted with.
    pub lambda: f64,
    /// The dual coefficients, one per training work in training order:
    /// `coef = Σᵢ alpha[i]·zᵢ` over the standardised training rows `zᵢ`.
    /// Empty in heads saved before artlens kept them, which therefore do not
    /// name their training works and cannot explain their scores.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alpha: Vec<f64>,
    /// The training works' content hashes, in the order of `alpha`; set by
    /// whoever knows which works the rows were (`RidgeHead::set_support`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub support: Vec<String>,
    /// The training ratings, in the order of `alpha`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub support_ratings: Vec<f64>,
}

impl RidgeHead {
    /// The predicted rating of one embedding, in f64.
    pub(crate) fn predict_f64(&self, x: &[f32]) -> f64 {
        let mut s = self.intercept;
        for (j, &v) in x.iter().enumerate() {
            s += (v as f64 - self.mean[j]) / self.scale[j] * self.coef[j];
        }
        s
    }

    /// Names the works the head was trained on (content hashes, in the
    /// order of the training rows), which makes its contributions
    /// available. Ignored when the count does not match the dual
    /// coefficients, so a mismatch can only make contributions unavailable,
    /// never wrong.
    pub(crate) fn set_support(&mut self, hashes: &[String]) {
        if hashes.len() == self.alpha.len() {
            self.support = hashes.to_vec();
        }
    }

    /// True when [`RidgeHead::kernel_vote`] can explain a prediction: the
    /// training works are known (they are named with the dual coefficients,
    /// which heads saved by older versions of artlens lack).
    pub(crate) fn has_dual(&self) -> bool {
        !self.alpha.is_empty() && self.support.len() == self.alpha.len()
    }

    /// The head's predictions as weighted votes of its training ratings
    /// ([`KernelVote`]), for the training embeddings `rows` in training order
    /// (one per entry of `support_ratings`).
    ///
    /// Fails with [`Error::InvalidArgument`] when `rows` is not one embedding
    /// of the head's length per training rating; retraining the head makes
    /// them match again.
    pub(crate) fn kernel_vote(&self, rows: &[&[f32]]) -> Result<KernelVote> {
        let (n, d) = (rows.len(), self.mean.len());
        if n == 0 || n != self.support_ratings.len() {
            return Err(Error::InvalidArgument(format!(
                "the head was trained on {} ratings but {n} training embeddings were given; \
                 run `artlens train` again",
                self.support_ratings.len()
            )));
        }
        if let Some(r) = rows.iter().find(|r| r.len() != d) {
            return Err(Error::InvalidArgument(format!(
                "a training embedding has {} values, the head expects {d}; run `artlens train` again",
                r.len()
            )));
        }
        let z = standardise(rows, &self.mean, &self.scale);
        let yc: Vec<f64> = self
            .support_ratings
            .iter()
            .map(|y| y - self.intercept)
            .collect();
        // The same choice of system as training: the smaller one.
        let problem = Problem::new(z, n, d, &yc);
        let m = if problem.dual { n } else { d };
        let mut a = problem.gram;
        for i in 0..m {
            a[i * m + i] += self.lambda;
        }
        let factor = cholesky(&a, m).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "ridge: the {m}×{m} system for λ = {:e} is not positive definite (are the embeddings finite?)",
                self.lambda
            ))
        })?;
        Ok(KernelVote {
            mean: self.mean.clone(),
            scale: self.scale.clone(),
            intercept: self.intercept,
            yc,
            z: problem.z,
            n,
            d,
            factor,
            dual: problem.dual,
        })
    }
}

/// A ridge head's prediction written as a weighted vote of the ratings it
/// was trained on: `score(x) = ȳ + Σᵢ wᵢ(x)·(yᵢ − ȳ)`, with the head's
/// equivalent-kernel weights `w(x) = Z (ZᵀZ + λI)⁻¹ z(x)`, `Z` the
/// standardised, centred training rows and `z(x)` the standardised query.
///
/// This is the ridge solution regrouped: the head's weights on the features
/// are `(ZᵀZ + λI)⁻¹ Zᵀ(y − ȳ)`, so `z(x)ᵀ` times them is `w(x)ᵀ(y − ȳ)`.
/// `wᵢ(x)` is a regularised similarity of the query to training work `i`
/// measured against the average training work: because the training rows
/// are centred, the weights of any query sum to 0, so every query has works
/// it is *less* like than average (negative weights) as well as works it is
/// more like. A positive weight moves the score from the mean toward that
/// work's rating; a negative one moves it away. The full smoother, intercept
/// included, gives each rating `1/n + wᵢ(x)`: how far the score moves when
/// that rating moves by one point.
///
/// Built once per head ([`RidgeHead::kernel_vote`]): the Cholesky factor of
/// the smaller of `ZZᵀ + λI` (n × n) and `ZᵀZ + λI` (d × d) is kept, so a
/// query costs one n·d product and one triangular solve pair.
#[derive(Debug, Clone)]
pub(crate) struct KernelVote {
    mean: Vec<f64>,
    scale: Vec<f64>,
    intercept: f64,
    /// The training ratings minus their mean, in training order.
    yc: Vec<f64>,
    /// The standardised training rows, row-major n × d.
    z: Vec<f64>,
    n: usize,
    d: usize,
    /// The lower Cholesky factor of `ZZᵀ + λI` when `dual`, of `ZᵀZ + λI`
    /// otherwise, row-major.
    factor: Vec<f64>,
    dual: bool,
}

impl KernelVote {
    /// The embedding length the head expects.
    pub(crate) fn dim(&self) -> usize {
        self.d
    }

    /// The training ratings' mean, where every vote starts.
    pub(crate) fn mean_rating(&self) -> f64 {
        self.intercept
    }

    /// Each training rating minus the mean, in training order: what a
    /// weight multiplies.
    pub(crate) fn centred_ratings(&self) -> &[f64] {
        &self.yc
    }

    /// The weights `w(x)` of the embedding `x` (of the head's length), one
    /// per training rating in training order; they sum to 0 up to rounding.
    pub(crate) fn weights(&self, x: &[f32]) -> Vec<f64> {
        let zx: Vec<f64> = x
            .iter()
            .zip(&self.mean)
            .zip(&self.scale)
            .map(|((&v, m), s)| (v as f64 - m) / s)
            .collect();
        self.weights_of_standardised(&zx)
    }

    fn weights_of_standardised(&self, zx: &[f64]) -> Vec<f64> {
        let (n, d) = (self.n, self.d);
        let row = |i: usize| &self.z[i * d..(i + 1) * d];
        if self.dual {
            // (ZZᵀ + λI)⁻¹ Z z(x): the same vector by the push-through identity.
            let k: Vec<f64> = (0..n).map(|i| dot(row(i), zx)).collect();
            cholesky_apply(&self.factor, n, &k)
        } else {
            let v = cholesky_apply(&self.factor, d, zx);
            (0..n).map(|i| dot(row(i), &v)).collect()
        }
    }

    /// The vote's result for `weights`: `ȳ + Σᵢ wᵢ·(yᵢ − ȳ)`, the head's
    /// prediction up to rounding.
    pub(crate) fn score(&self, weights: &[f64]) -> f64 {
        self.intercept + dot(weights, &self.yc)
    }

    /// What the head predicts for training work `i` when it is fitted
    /// without that work's rating: closed-form ridge leave-one-out,
    /// `(ŷᵢ − hᵢ·yᵢ)/(1 − hᵢ)` with the hat value `hᵢ = 1/n + wᵢ(xᵢ)`.
    ///
    /// It is exact for a refit that keeps λ and the standardisation (each
    /// dimension's mean and scale, computed on all n works) fixed and
    /// refits the weights and the intercept (the mean rating) on the other
    /// n − 1 works. Training itself would also choose λ again and
    /// standardise with the n − 1 works, which moves the answer a little
    /// more. `None` for an `i` out of range or when the head interpolates
    /// work `i` (`hᵢ` within 1e-9 of 1), so that nothing is left to say
    /// what the others predict.
    pub(crate) fn leave_one_out(&self, i: usize) -> Option<f64> {
        if i >= self.n {
            return None;
        }
        let w = self.weights_of_standardised(&self.z[i * self.d..(i + 1) * self.d]);
        let h = 1.0 / self.n as f64 + w[i];
        if 1.0 - h < 1e-9 {
            return None;
        }
        let fitted = self.score(&w);
        let own = self.intercept + self.yc[i];
        Some((fitted - h * own) / (1.0 - h))
    }
}

/// Per-dimension mean and scale of a set of rows, the way scikit-learn's
/// `StandardScaler` computes them: population standard deviation (ddof 0),
/// and scale 1 for a dimension whose spread is within rounding error of
/// constant, so that it contributes nothing instead of blowing up.
pub(crate) fn standardizer(rows: &[&[f32]], scale: bool) -> (Vec<f64>, Vec<f64>) {
    let n = rows.len();
    let d = rows.first().map_or(0, |r| r.len());
    let mut mean = vec![0.0; d];
    for r in rows {
        for (m, &v) in mean.iter_mut().zip(r.iter()) {
            *m += v as f64;
        }
    }
    for m in &mut mean {
        *m /= n.max(1) as f64;
    }
    if !scale {
        return (mean, vec![1.0; d]);
    }
    let mut var = vec![0.0; d];
    for r in rows {
        for ((s, &v), m) in var.iter_mut().zip(r.iter()).zip(&mean) {
            let dv = v as f64 - m;
            *s += dv * dv;
        }
    }
    let eps = f64::EPSILON;
    let sd = var
        .iter()
        .zip(&mean)
        .map(|(s, m)| {
            let sd = (s / n.max(1) as f64).sqrt();
            // sklearn treats a variance below what summing n copies of the
            // mean could round to as zero (`_is_constant_feature`).
            if sd <= (10.0 * eps).max(n as f64 * m.abs() * eps) {
                1.0
            } else {
                sd
            }
        })
        .collect();
    (mean, sd)
}

/// The rows as a standardised, row-major n × d matrix.
fn standardise(rows: &[&[f32]], mean: &[f64], scale: &[f64]) -> Vec<f64> {
    let d = mean.len();
    let mut z = Vec::with_capacity(rows.len() * d);
    for r in rows {
        z.extend(
            r.iter()
                .zip(mean)
                .zip(scale)
                .map(|((&v, m), s)| (v as f64 - m) / s),
        );
    }
    z
}

/// Dot product with four accumulators, so that the loop vectorises without
/// reassociation (which the compiler may not do for floats on its own).
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f64; 4];
    let chunks = n / 4;
    for c in 0..chunks {
        let k = 4 * c;
        acc[0] += a[k] * b[k];
        acc[1] += a[k + 1] * b[k + 1];
        acc[2] += a[k + 2] * b[k + 2];
        acc[3] += a[k + 3] * b[k + 3];
    }
    let mut s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    for k in 4 * chunks..n {
        s += a[k] * b[k];
    }
    s
}

/// Solves `A x = b` for a symmetric positive definite row-major `A` (m × m)
/// by Cholesky factorisation; `None` when a pivot is not positive.
fn cholesky_solve(a: &[f64], m: usize, b: &[f64]) -> Option<Vec<f64>> {
    cholesky(a, m).map(|l| cholesky_apply(&l, m, b))
}

/// The lower Cholesky factor `L` (row-major, `A = LLᵀ`) of a symmetric
/// positive definite row-major `A` (m × m); `None` when a pivot is not
/// positive. The upper triangle of the result is left as `A`'s and never read.
fn cholesky(a: &[f64], m: usize) -> Option<Vec<f64>> {
    // L overwrites the lower triangle of a copy of A, row by row, so that
    // every inner product below runs over contiguous memory.
    let mut l = a.to_vec();
    for j in 0..m {
        let row_j = j * m;
        let pivot = l[row_j + j] - dot(&l[row_j..row_j + j], &l[row_j..row_j + j]);
        if !(pivot.is_finite() && pivot > 0.0) {
            return None;
        }
        let diag = pivot.sqrt();
        l[row_j + j] = diag;
        for i in j + 1..m {
            let row_i = i * m;
            let s = l[row_i + j] - dot(&l[row_i..row_i + j], &l[row_j..row_j + j]);
            l[row_i + j] = s / diag;
        }
    }
    Some(l)
}

/// Solves `LLᵀ x = b` for the factor of [`cholesky`]: `L u = b`, then
/// `Lᵀ x = u`.
fn cholesky_apply(l: &[f64], m: usize, b: &[f64]) -> Vec<f64> {
    let mut u = vec![0.0; m];
    for i in 0..m {
        u[i] = (b[i] - dot(&l[i * m..i * m + i], &u[..i])) / l[i * m + i];
    }
    let mut x = vec![0.0; m];
    for i in (0..m).rev() {
        let mut s = u[i];
        for k in i + 1..m {
            s -= l[k * m + i] * x[k];
        }
        x[i] = s / l[i * m + i];
    }
    x
}

/// A centred least-squares problem, its Gram matrix computed once so that
/// several λ can be solved for the price of one factorisation each.
struct Problem {
    z: Vec<f64>,
    n: usize,
    d: usize,
    /// ZZᵀ (n × n) when `dual`, ZᵀZ (d × d) otherwise.
    gram: Vec<f64>,
    /// y − ȳ when `dual`, Zᵀ(y − ȳ) otherwise.
    rhs: Vec<f64>,
    /// y − ȳ.
    yc: Vec<f64>,
    dual: bool,
}

impl Problem {
    /// Takes the dual when there are fewer rows than dimensions: its system
    /// is then the smaller one.
    fn new(z: Vec<f64>, n: usize, d: usize, yc: &[f64]) -> Problem {
        Problem::with_path(z, n, d, yc, n < d)
    }

    fn with_path(z: Vec<f64>, n: usize, d: usize, yc: &[f64], dual: bool) -> Problem {
        if dual {
            let mut gram = vec![0.0; n * n];
            for i in 0..n {
                for j in 0..=i {
                    let v = dot(&z[i * d..(i + 1) * d], &z[j * d..(j + 1) * d]);
                    gram[i * n + j] = v;
                    gram[j * n + i] = v;
                }
            }
            Problem {
                z,
                n,
                d,
                gram,
                rhs: yc.to_vec(),
                yc: yc.to_vec(),
                dual,
            }
        } else {
            let mut zt = vec![0.0; d * n];
            for i in 0..n {
                for j in 0..d {
                    zt[j * n + i] = z[i * d + j];
                }
            }
            let mut gram = vec![0.0; d * d];
            for a in 0..d {
                for b in 0..=a {
                    let v = dot(&zt[a * n..(a + 1) * n], &zt[b * n..(b + 1) * n]);
                    gram[a * d + b] = v;
                    gram[b * d + a] = v;
                }
            }
            let rhs = (0..d).map(|j| dot(&zt[j * n..(j + 1) * n], yc)).collect();
            Problem {
                z,
                n,
                d,
                gram,
                rhs,
                yc: yc.to_vec(),
                dual,
            }
        }
    }

    /// The weights on the standardised features for penalty `lambda`.
    fn solve(&self, lambda: f64) -> Result<Vec<f64>> {
        self.solve_with_dual(lambda).map(|(w, _)| w)
    }

    /// The weights and the dual coefficients `α` with `w = Zᵀα`. The dual
    /// path solves for `α` and builds `w` from it, so the identity holds to
    /// rounding. The primal path takes `α = (yc − Zw)/λ`, which follows from
    /// the normal equations `(ZZᵀ + λI)α = yc`: exact in exact arithmetic,
    /// and within the solver's residual divided by λ in floating point.
    fn solve_with_dual(&self, lambda: f64) -> Result<(Vec<f64>, Vec<f64>)> {
        let m = if self.dual { self.n } else { self.d };
        let mut a = self.gram.clone();
        for i in 0..m {
            a[i * m + i] += lambda;
        }
        let sol = cholesky_solve(&a, m, &self.rhs).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "ridge: the {m}×{m} system for λ = {lambda:e} is not positive definite (are the embeddings finite?)"
            ))
        })?;
        if !self.dual {
            // Here `rhs` is Zᵀyc; yc itself is kept for the dual coefficients.
            let alpha = (0..self.n)
                .map(|i| (self.yc[i] - dot(&self.z[i * self.d..(i + 1) * self.d], &sol)) / lambda)
                .collect();
            return Ok((sol, alpha));
        }
        let mut w = vec![0.0; self.d];
        for (i, &alpha) in sol.iter().enumerate() {
            for (wj, zj) in w.iter_mut().zip(&self.z[i * self.d..(i + 1) * self.d]) {
                *wj += alpha * zj;
            }
        }
        Ok((w, sol))
    }
}

/// Fits ridge with a fixed λ. `standardize` divides each centred dimension
/// by its standard deviation (what artlens does); without it only centring
/// happens, which is plain `Ridge(alpha, fit_intercept=True)`.
pub(crate) fn fit_rows(
    rows: &[&[f32]],
    y: &[f64],
    lambda: f64,
    standardize: bool,
) -> Result<RidgeHead> {
    let n = rows.len();
    let d = rows.first().map_or(0, |r| r.len());
    let (mean, scale) = standardizer(rows, standardize);
    let y_mean = y.iter().sum::<f64>() / n as f64;
    let yc: Vec<f64> = y.iter().map(|v| v - y_mean).collect();
    let problem = Problem::new(standardise(rows, &mean, &scale), n, d, &yc);
    let (coef, alpha) = problem.solve_with_dual(lambda)?;
    Ok(RidgeHead {
        mean,
        scale,
        coef,
        intercept: y_mean,
        lambda,
        alpha,
        support: Vec::new(),
        support_ratings: y.to_vec(),
    })
}

/// Chooses λ from [`lambda_grid`] by K-fold cross-validation inside `rows`
/// (K = [`INNER_FOLDS`], or the number of distinct pictures when smaller),
/// minimising the mean squared error of the held-out predictions; each
/// inner fold standardises with its own training part only. `groups` labels
/// the rows by duplicate group (a work and its marked copies share a label)
/// and an inner fold never splits a group: a copy of a held-out work in the
/// training part would reward the λ that memorises best, the smallest.
/// With every label distinct the folds are the plain shuffled ones, seed for
/// seed. Ties go to the larger λ, the more cautious fit.
pub(crate) fn choose_lambda(
    rows: &[&[f32]],
    y: &[f64],
    groups: &[usize],
    seed: u64,
) -> Result<f64> {
    let grid = lambda_grid();
    let n = rows.len();
    if groups.len() != n {
        return Err(Error::InvalidArgument(format!(
            "{} duplicate-group labels for {n} rows",
            groups.len()
        )));
    }
    let distinct = canonical_groups(groups)
        .into_iter()
        .max()
        .map_or(0, |m| m + 1);
    let k = INNER_FOLDS.min(distinct);
    if k < 2 {
        // One picture leaves nothing to validate on; any λ predicts its rating.
        return Ok(grid[grid.len() / 2]);
    }
    let fold_of = grouped_fold_assignment(groups, k, &mut SplitMix64::new(seed));
    let mut sse = vec![0.0; grid.len()];
    for f in 0..k {
        let (train, test): (Vec<usize>, Vec<usize>) = (0..n).partition(|&i| fold_of[i] != f);
        let train_rows: Vec<&[f32]> = train.iter().map(|&i| rows[i]).collect();
        let train_y: Vec<f64> = train.iter().map(|&i| y[i]).collect();
        let (mean, scale) = standardizer(&train_rows, true);
        let y_mean = train_y.iter().sum::<f64>() / train.len() as f64;
        let yc: Vec<f64> = train_y.iter().map(|v| v - y_mean).collect();
        let d = mean.len();
        let problem = Problem::new(standardise(&train_rows, &mean, &scale), train.len(), d, &yc);
        let test_z: Vec<Vec<f64>> = test
            .iter()
            .map(|&i| standardise(&[rows[i]], &mean, &scale))
            .collect();
        for (g, &lambda) in grid.iter().enumerate() {
            let w = problem.solve(lambda)?;
            for (t, &i) in test.iter().enumerate() {
                let e = y_mean + dot(&test_z[t], &w) - y[i];
                sse[g] += e * e;
            }
        }
    }
    let mut best = grid.len() - 1;
    for g in (0..grid.len()).rev() {
        if sse[g] < sse[best] {
            best = g;
        }
    }
    Ok(grid[best])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cholesky_solves_a_known_system() {
        // A = [[4, 2], [2, 3]], b = [2, 1] → x = [0.5, 0].
        let x = cholesky_solve(&[4.0, 2.0, 2.0, 3.0], 2, &[2.0, 1.0]).unwrap();
        assert!((x[0] - 0.5).abs() < 1e-15 && x[1].abs() < 1e-15, "{x:?}");
        assert!(cholesky_solve(&[1.0, 2.0, 2.0, 1.0], 2, &[1.0, 1.0]).is_none());
    }

    #[test]
    fn dual_and_primal_agree() {
        let mut rng = SplitMix64::new(3);
        for (n, d) in [(6, 6), (4, 9), (9, 4)] {
            let z: Vec<f64> = (0..n * d).map(|_| rng.normal()).collect();
            let yc: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
            let primal = Problem::with_path(z.clone(), n, d, &yc, false);
            let dual = Problem::with_path(z, n, d, &yc, true);
            for lambda in [1e-3, 1.0, 1e3] {
                let a = primal.solve(lambda).unwrap();
                let b = dual.solve(lambda).unwrap();
                for (x, y) in a.iter().zip(&b) {
                    assert!(
                        (x - y).abs() < 1e-8 * (1.0 + x.abs()),
                        "n={n} d={d} λ={lambda}: {a:?} vs {b:?}"
                    );
                }
            }
        }
    }

    /// Random training rows (a shifted, scaled cloud) and ratings around 5.
    fn random_problem(rng: &mut SplitMix64, n: usize, d: usize) -> (Vec<Vec<f32>>, Vec<f64>) {
        let rows = (0..n)
            .map(|_| (0..d).map(|_| (rng.normal() * 2.0 + 0.5) as f32).collect())
            .collect();
        let y = (0..n).map(|_| 5.0 + 2.0 * rng.normal()).collect();
        (rows, y)
    }

    /// Ratings that are pure noise, each work present three times (a work
    /// and two exact copies): split apart, a copy in the inner training
    /// part predicts its held-out twin perfectly, so the smallest λ wins;
    /// kept together, nothing can be learnt and λ goes to the top of the
    /// grid. The grouping is what keeps the inner search honest.
    #[test]
    fn the_inner_lambda_search_keeps_copies_in_one_fold() {
        let mut rng = SplitMix64::new(5);
        let (base, base_y) = random_problem(&mut rng, 20, 40);
        let (mut rows, mut y, mut groups) = (Vec::new(), Vec::new(), Vec::new());
        for copy in 0..3 {
            for (i, (r, v)) in base.iter().zip(&base_y).enumerate() {
                // A copy's embedding moves a little, as a recompressed
                // scan's does.
                let r: Vec<f32> = r.iter().map(|x| x + 0.01 * copy as f32).collect();
                rows.push(r);
                y.push(*v);
                groups.push(i);
            }
        }
        let refs: Vec<&[f32]> = rows.iter().map(|r| r.as_slice()).collect();
        let singletons: Vec<usize> = (0..y.len()).collect();
        let grid = lambda_grid();
        for seed in 0..3 {
            let split = choose_lambda(&refs, &y, &singletons, seed).unwrap();
            let grouped = choose_lambda(&refs, &y, &groups, seed).unwrap();
            assert!(split <= grid[4], "copies split apart: λ = {split}");
            assert!(
                grouped >= 1e4 * split,
                "copies kept together: λ = {grouped}, split apart {split}"
            );
        }
        assert!(choose_lambda(&refs, &y, &groups[1..], 0).is_err());
    }

    #[test]
    fn the_kernel_vote_adds_up_to_the_prediction_on_random_heads() {
        let mut rng = SplitMix64::new(11);
        // Dual (n < d) and primal (n ≥ d) paths, over the whole λ grid's range.
        for (n, d) in [(12, 40), (30, 8), (64, 64)] {
            let (rows, y) = random_problem(&mut rng, n, d);
            let refs: Vec<&[f32]> = rows.iter().map(|r| r.as_slice()).collect();
            for lambda in [1e-3, 0.1, 10.0, 1e5] {
                let head = fit_rows(&refs, &y, lambda, true).unwrap();
                let vote = head.kernel_vote(&refs).unwrap();
                for _ in 0..5 {
                    let x: Vec<f32> = (0..d).map(|_| (rng.normal() * 3.0) as f32).collect();
                    let w = vote.weights(&x);
                    assert_eq!(w.len(), n, "one weight per training rating");
                    let want = head.predict_f64(&x);
                    let got = vote.score(&w);
                    assert!(
                        (got - want).abs() < 1e-6,
                        "n={n} d={d} λ={lambda}: {got} vs {want}"
                    );
                    // Centred training rows make the weights sum to 0.
                    let sum: f64 = w.iter().sum();
                    assert!(sum.abs() < 1e-6, "n={n} d={d} λ={lambda}: Σw = {sum}");
                }
            }
        }
        // Rows that do not match the training ratings give no vote.
        let rows = [vec![1.0f32, 2.0], vec![3.0, 1.0], vec![0.0, 0.5]];
        let refs: Vec<&[f32]> = rows.iter().map(|r| r.as_slice()).collect();
        let head = fit_rows(&refs, &[1.0, 2.0, 3.0], 1.0, true).unwrap();
        assert!(head.kernel_vote(&refs[..2]).is_err());
        assert!(head.kernel_vote(&[&[1.0f32][..], &[2.0], &[3.0]]).is_err());
        let mut named = head.clone();
        named.set_support(&["a".into()]);
        assert!(!named.has_dual(), "a wrong number of hashes is ignored");
        named.set_support(&["a".into(), "b".into(), "c".into()]);
        assert!(named.has_dual());
    }

    #[test]
    fn a_weight_is_how_far_the_score_moves_with_that_rating() {
        // Raising rating i by δ (same λ; standardisation does not depend on
        // the ratings) moves every prediction by (1/n + wᵢ(x))·δ: the
        // weight, plus the rating's share of the mean. So a positive weight
        // moves the score toward the work's rating.
        let mut rng = SplitMix64::new(5);
        for (n, d) in [(10, 24), (40, 6)] {
            let (rows, y) = random_problem(&mut rng, n, d);
            let refs: Vec<&[f32]> = rows.iter().map(|r| r.as_slice()).collect();
            let head = fit_rows(&refs, &y, 2.0, true).unwrap();
            let vote = head.kernel_vote(&refs).unwrap();
            let x: Vec<f32> = (0..d).map(|_| rng.normal() as f32).collect();
            let w = vote.weights(&x);
            for i in [0, n / 2, n - 1] {
                let mut raised = y.clone();
                raised[i] += 1.5;
                let moved = fit_rows(&refs, &raised, 2.0, true).unwrap();
                let delta = moved.predict_f64(&x) - head.predict_f64(&x);
                let want = (1.0 / n as f64 + w[i]) * 1.5;
                assert!(
                    (delta - want).abs() < 1e-9,
                    "n={n} i={i}: {delta} vs {want}"
                );
            }
        }
    }

    /// Ridge refitted without row `skip`, keeping λ and the standardisation
    /// `scale` fixed: the others are centred on their own mean (the refitted
    /// intercept absorbs it) and divided by `scale`; plain centred ridge
    /// then fits them. Returns its prediction of row `skip`.
    fn refit_without(rows: &[&[f32]], y: &[f64], skip: usize, scale: &[f64], lambda: f64) -> f64 {
        let kept: Vec<&[f32]> = (0..rows.len())
            .filter(|&j| j != skip)
            .map(|j| rows[j])
            .collect();
        let ky: Vec<f64> = (0..y.len()).filter(|&j| j != skip).map(|j| y[j]).collect();
        let (mean, _) = standardizer(&kept, false);
        let (n, d) = (kept.len(), mean.len());
        let y_mean = ky.iter().sum::<f64>() / n as f64;
        let yc: Vec<f64> = ky.iter().map(|v| v - y_mean).collect();
        let w = Problem::new(standardise(&kept, &mean, scale), n, d, &yc)
            .solve(lambda)
            .unwrap();
        y_mean + dot(&standardise(&[rows[skip]], &mean, scale), &w)
    }

    #[test]
    fn leave_one_out_equals_a_refit_without_the_work() {
        let mut rng = SplitMix64::new(23);
        for (n, d) in [(9, 30), (35, 7), (20, 20)] {
            let (rows, y) = random_problem(&mut rng, n, d);
            let refs: Vec<&[f32]> = rows.iter().map(|r| r.as_slice()).collect();
            for lambda in [1e-2, 1.0, 100.0] {
                let head = fit_rows(&refs, &y, lambda, true).unwrap();
                let vote = head.kernel_vote(&refs).unwrap();
                for i in 0..n {
                    let loo = vote.leave_one_out(i).unwrap();
                    let refit = refit_without(&refs, &y, i, &head.scale, lambda);
                    assert!(
                        (loo - refit).abs() < 1e-6,
                        "n={n} d={d} λ={lambda} i={i}: {loo} vs {refit}"
                    );
                    // The fitted value lies between the rating and the
                    // prediction without it.
                    let fitted = head.predict_f64(refs[i]);
                    let (lo, hi) = if loo < y[i] { (loo, y[i]) } else { (y[i], loo) };
                    assert!(lo - 1e-9 <= fitted && fitted <= hi + 1e-9);
                }
                assert_eq!(vote.leave_one_out(n), None);
            }
        }
    }

    #[test]
    fn constant_dimensions_get_scale_one() {
        let rows: Vec<Vec<f32>> = vec![vec![1.0, 2.5], vec![3.0, 2.5], vec![5.0, 2.5]];
        let refs: Vec<&[f32]> = rows.iter().map(|r| r.as_slice()).collect();
        let (mean, scale) = standardizer(&refs, true);
        assert_eq!(mean, vec![3.0, 2.5]);
        assert!((scale[0] - (8.0f64 / 3.0).sqrt()).abs() < 1e-15);
        assert_eq!(scale[1], 1.0);
    }

    #[test]
    fn lambda_grid_spans_the_documented_range() {
        let g = lambda_grid();
        assert_eq!(g.len(), 17);
        assert!((g[0] - 1e-3).abs() < 1e-18 && (g[16] - 1e5).abs() < 1e-9);
    }
}
