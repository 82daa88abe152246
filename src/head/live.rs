//! The live answer: one headline figure per backbone and a verdict that
//! stays honest when a person looks at it after every single rating.
//!
//! The details are in `docs/STATISTICS.md`, section "The live head".

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The family-wise error of the live verdict: the chance, over all the
/// looks a person ever takes, that it names a winner between backbones that
/// are equally good.
pub(crate) const LIVE_ALPHA: f64 = 0.05;

/// Works rated before the first one that is scored: the first prediction
/// comes from a head trained on this many ratings.
pub const LIVE_START: usize = 5;

/// The most further ratings the verdict will estimate as needed: beyond
/// that it says more ratings may not separate the backbones.
pub(crate) const MAX_MORE_RATINGS: usize = 500;

/// Ratings before the first answer: below this, the verdict only says how
/// many more works to rate, and charts say "not enough ratings yet".
pub const FIRST_ANSWER: usize = 20;

/// The penalties the live heads choose from by leave-one-out: one per
/// decade from 0.1 to 1e5 (every other value of [`super::lambda_grid`]
/// from 0.1 up): seven Cholesky factorisations per work keep a look fast.
const LIVE_LAMBDAS: [f64; 7] = [1e-1, 1.0, 1e1, 1e2, 1e3, 1e4, 1e5];

/// The weight of the constant feature that carries the live heads'
/// intercept: large against a standardised Gram matrix's entries (about
/// the dimension, ≤ a few thousand), so the intercept's penalty λ/weight
/// is negligible, and small enough that the systems stay well conditioned.
const INTERCEPT_WEIGHT: f64 = 1e6;

/// The betting fraction's cap, as a share of the largest bet that keeps
/// the wealth positive (Waudby-Smith & Ramdas's c = ½).
const BET_CAP: f64 = 0.5;

/// The grid a confidence sequence is read from, in steps of 1/`CS_GRID` of
/// the [0, 1] range (a quarter of a percentage point).
const CS_GRID: usize = 400;

/// What the headline figure is called on every page and in every line.
pub(crate) const HEADLINE_NAME: &str = "agrees with your ratings";

/// One sentence that says what the headline figure measures.
pub const HEADLINE_DESCRIPTION: &str = "Each time you rated a work, the backbone's head compared it with \
each of your earlier works, having learnt from your other earlier ratings but neither of those two; the \
figure is how often it put the pair in your order (50% is a coin toss, 100% always right).";

/// The procedure behind the live verdict, named in the CLI's output and
/// the JSON.
pub const PROCEDURE: &str = "live verdict: every rated work, in the order rated, compared with each \
earlier one by a ridge head trained on the other earlier ratings; backbones compared on the per-work \
difference of agreement with a betting e-process (aGRAPA bets, Waudby-Smith & Ramdas 2023) and its \
confidence sequence, a winner named once a bet's wealth reaches 4 × 2m/0.05 for m pairs (measured to \
name a false winner in at most 5% of trials however often it is checked); the cross-validated \
figures are detail";

/// `0.714` → `71%`: the one way every page, line and verdict writes the
/// headline figure (whole percentages; a dash when not finite).
pub fn percent(x: f64) -> String {
    if x.is_finite() {
        format!("{:.0}%", x * 100.0)
    } else {
        "—".to_string()
    }
}

/// One backbone's live record: the agreement of every scored work.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveTrack {
    /// Per work in rating order: its agreement, or `None` when it was not
    /// scored (among the first [`LIVE_START`], or no earlier work has a
    /// different rating). The same works are scored for every backbone.
    pub agreement: Vec<Option<f64>>,
    /// Per work: the agreement the same predictions would score on average
    /// had the work been given one of the earlier ratings at random, a
    /// chance level that depends on the predictions only. Under "the
    /// backbone does not see the taste" the agreement's expectation, given
    /// everything before the work, is this (the earlier ratings standing
    /// for the rating's distribution); the verdict bets on the agreement
    /// beyond it.
    #[serde(default)]
    pub chance: Vec<Option<f64>>,
}

/// The headline figure of one backbone with its 95% confidence sequence.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Headline {
    /// Mean agreement over the scored works, 0–1; ½ when none is scored.
    pub value: f64,
    /// The 95% confidence sequence of that mean at the last work.
    pub low: f64,
    /// The upper end of that confidence sequence.
    pub high: f64,
    /// How many works were scored.
    pub works: usize,
}

/// The live comparison of one pair of backbones (b − a).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveComparison {
    /// The first backbone's id (it came first in the input).
    pub a: String,
    /// The second backbone's id.
    pub b: String,
    /// Works scored for both.
    pub works: usize,
    /// Mean per-work difference of agreement, b − a (in −1…1): the
    /// difference of the two headlines.
    pub diff: f64,
    /// The confidence sequence at `level`, intersected over every look so
    /// far, of the mean difference the bets are on (beyond chance, see
    /// [`LiveTrack::chance`]).
    pub cs_low: f64,
    /// The upper end of that confidence sequence.
    pub cs_high: f64,
    /// `1 − LIVE_ALPHA/m` for m pairs.
    pub level: f64,
    /// The largest wealth so far of the bet that b is better, and of the bet
    /// that a is: e-values; a side wins when its one reaches `threshold`.
    pub e_b: f64,
    /// The largest wealth so far of the bet that `a` is better.
    pub e_a: f64,
    /// [`LIVE_THRESHOLD_FACTOR`] · `2m / LIVE_ALPHA`.
    pub threshold: f64,
    /// The id of the better backbone once its bet has reached `threshold`.
    pub winner: Option<String>,
}

/// Scores every work of `x` (embeddings in rating order) against `y`: see
/// [`LiveTrack`]. Work t is scored from works `0..t` only: features are
/// standardised on them, λ is chosen among `LIVE_LAMBDAS` by exact
/// leave-one-out, and each earlier work j is compared with work t by the
/// head trained on works `0..t` without j (`pair_gaps`), so that neither
/// side of a pair has seen its own rating. The score of work t depends on
/// works `0..=t` only, so a longer sequence extends a shorter one's track
/// without changing it.
pub fn live_track(x: &[Vec<f32>], y: &[f64]) -> Result<LiveTrack> {
    let labels: Vec<usize> = (0..y.len()).collect();
    live_track_grouped(x, y, &labels)
}

/// [`live_track`] with the works labelled by duplicate group (equal labels
/// for a work and its marked copies): work t is scored from the earlier
/// works outside its own group, and each earlier work j is compared with it
/// by the head trained without j's whole group (a block leave-group-out,
/// `pair_gaps`), so that no copy of either side of a pair was learnt from.
/// With every label distinct this is exactly [`live_track`].
pub(crate) fn live_track_grouped(x: &[Vec<f32>], y: &[f64], groups: &[usize]) -> Result<LiveTrack> {
    if x.len() != y.len() || groups.len() != y.len() {
        return Err(Error::InvalidArgument(format!(
            "{} embeddings, {} ratings and {} group labels",
            x.len(),
            y.len(),
            groups.len()
        )));
    }
    let scores = (0..y.len())
        .into_par_iter()
        .map(|t| {
            let keep: Vec<usize> = (0..t).filter(|&j| groups[j] != groups[t]).collect();
            if keep.len() < LIVE_START || !keep.iter().any(|&j| y[j] != y[t]) {
                return Ok(None);
            }
            let mut rows: Vec<&[f32]> = keep.iter().map(|&j| x[j].as_slice()).collect();
            rows.push(&x[t]);
            let y_prev: Vec<f64> = keep.iter().map(|&j| y[j]).collect();
            let g_prev: Vec<usize> = keep.iter().map(|&j| groups[j]).collect();
            score_work(&rows, &y_prev, y[t], &g_prev).map(Some)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(LiveTrack {
        agreement: scores.iter().map(|s| s.map(|(a, _)| a)).collect(),
        chance: scores.iter().map(|s| s.map(|(_, c)| c)).collect(),
    })
}

/// The agreement of the last row of `x` (the new work, rated `y_new`)
/// with the rows before it, whose ratings are `y`, and its chance level
/// (see [`LiveTrack::chance`]). See [`live_track`].
fn score_work(x: &[&[f32]], y_prev: &[f64], y_new: f64, groups: &[usize]) -> Result<(f64, f64)> {
    let t = y_prev.len();
    let d = x[0].len();
    // Standardise on the training works 0..t only.
    let mut mean = vec![0.0f64; d];
    for row in &x[..t] {
        for (m, &v) in mean.iter_mut().zip(row.iter()) {
            *m += v as f64;
        }
    }
    mean.iter_mut().for_each(|m| *m /= t as f64);
    let mut var = vec![0.0f64; d];
    for row in &x[..t] {
        for ((s, &v), m) in var.iter_mut().zip(row.iter()).zip(&mean) {
            *s += (v as f64 - m).powi(2);
        }
    }
    let scale: Vec<f64> = var
        .iter()
        .map(|s| {
            let sd = (s / t as f64).sqrt();
            if sd > 1e-12 {
                sd
            } else {
                1.0
            }
        })
        .collect();
    let z: Vec<Vec<f64>> = x
        .iter()
        .map(|row| {
            row.iter()
                .zip(&mean)
                .zip(&scale)
                .map(|((&v, m), s)| (v as f64 - m) / s)
                .collect()
        })
        .collect();
    let mut gram = vec![0.0; t * t];
    for i in 0..t {
        for j in 0..=i {
            let v = dot(&z[i], &z[j]);
            gram[i * t + j] = v;
            gram[j * t + i] = v;
        }
    }
    // The intercept is a constant feature of weight `INTERCEPT_WEIGHT`, so
    // that it is all but unpenalised and every leave-one-out fit below
    // refits it without the work left out (a fixed, shared intercept would
    // let the left-out rating leak back through the others' centring).
    for v in gram.iter_mut() {
        *v += INTERCEPT_WEIGHT;
    }
    let k_new: Vec<f64> = (0..t)
        .map(|i| dot(&z[t], &z[i]) + INTERCEPT_WEIGHT)
        .collect();
    let y_mean = y_prev.iter().sum::<f64>() / t as f64;
    let yc: Vec<f64> = y_prev.iter().map(|v| v - y_mean).collect();
    let lambda = loo_lambda(&gram, t, &yc, groups)?;
    let gaps = pair_gaps_grouped(&gram, &k_new, &yc, lambda, groups)?;
    let chance = y_prev
        .iter()
        .map(|&v| concordance(v, &gaps, y_prev))
        .sum::<f64>()
        / t as f64;
    Ok((concordance(y_new, &gaps, y_prev), chance))
}

/// The λ of [`LIVE_LAMBDAS`] whose held-out residuals (each earlier work
/// predicted by the head trained without it and its copies, equal
/// `groups` labels: [`held_out_residuals`]) have the least sum of squares;
/// ties go to the larger λ, the more cautious fit. Leaving a work out with
/// its copies matters here as in the scores: a copy left in would predict
/// its twin almost exactly and so favour the least penalised fit.
fn loo_lambda(gram: &[f64], t: usize, yc: &[f64], groups: &[usize]) -> Result<f64> {
    let members = group_members(groups);
    let mut best: Option<(f64, f64)> = None;
    for &lambda in LIVE_LAMBDAS.iter().rev() {
        let inv = factor(gram, t, lambda)?;
        let alpha = apply_inverse(&inv, t, yc);
        let sse = held_out_residuals(&inv, t, &alpha, &members)?
            .iter()
            .map(|r| r.powi(2))
            .sum::<f64>();
        if best.is_none_or(|(b, _)| sse < b) {
            best = Some((sse, lambda));
        }
    }
    Ok(best.expect("the λ grid is not empty").1)
}

/// The earlier works by group label: each group's members, in order.
fn group_members(groups: &[usize]) -> Vec<Vec<usize>> {
    let mut by_label: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
    for (j, g) in groups.iter().enumerate() {
        by_label.entry(*g).or_default().push(j);
    }
    by_label.into_values().collect()
}

/// Each earlier work's residual yc_j − f₋G(x_j) under the head trained
/// without j's whole group G: r_G = (C_GG)⁻¹ α_G, and for a work without
/// copies α_j / C_jj (C = (K + λI)⁻¹ from `inv`, α = C yc).
fn held_out_residuals(
    inv: &[f64],
    t: usize,
    alpha: &[f64],
    members: &[Vec<usize>],
) -> Result<Vec<f64>> {
    let diag = inverse_diagonal(inv, t);
    let mut r: Vec<f64> = alpha.iter().zip(&diag).map(|(a, c)| a / c).collect();
    // (C)_ab = Σ_k L⁻¹_ka L⁻¹_kb over k ≥ max(a, b).
    let c = |a: usize, b: usize| -> f64 {
        (a.max(b)..t).map(|k| inv[k * t + a] * inv[k * t + b]).sum()
    };
    for group in members.iter().filter(|m| m.len() > 1) {
        let m = group.len();
        let cgg: Vec<f64> = (0..m * m).map(|i| c(group[i / m], group[i % m])).collect();
        let inv_g = inverse_factor(&cgg, m).ok_or_else(|| {
            Error::InvalidArgument(
                "live verdict: a duplicate group's system is not positive definite".into(),
            )
        })?;
        let rg = apply_inverse(
            &inv_g,
            m,
            &group.iter().map(|&j| alpha[j]).collect::<Vec<_>>(),
        );
        for (p, &j) in group.iter().enumerate() {
            r[j] = rg[p];
        }
    }
    Ok(r)
}

/// For each earlier work j, the new work's predicted rating minus work j's,
/// both predicted by the head trained on the earlier works *but j*: a head
/// that has seen neither rating. Leaving j out changes any prediction
/// f(x) by −(C k(x))_j · α_j / C_jj (Sherman–Morrison; C = (K + λI)⁻¹,
/// α = C yc), so one factorisation gives every pair.
fn pair_gaps(gram: &[f64], k_new: &[f64], yc: &[f64], lambda: f64) -> Result<Vec<f64>> {
    let t = yc.len();
    let inv = factor(gram, t, lambda)?;
    let alpha = apply_inverse(&inv, t, yc);
    let diag = inverse_diagonal(&inv, t);
    let v = apply_inverse(&inv, t, k_new);
    let f_new = k_new.iter().zip(&alpha).map(|(k, a)| k * a).sum::<f64>();
    // f₋ⱼ(x_new) = f_new − v_j·α_j/C_jj and f₋ⱼ(x_j) = yc_j − α_j/C_jj.
    Ok((0..t)
        .map(|j| f_new - yc[j] + (1.0 - v[j]) * alpha[j] / diag[j])
        .collect())
}

/// [`pair_gaps`] where an earlier work with copies among the earlier works
/// (equal `groups` labels) is left out with its whole group G: the head
/// without G predicts f₋G(x) = f(x) − v_Gᵀ r and f₋G(x_j) = yc_j − r_j for
/// r = (C_GG)⁻¹ α_G, the block form of the one-work shortcut.
fn pair_gaps_grouped(
    gram: &[f64],
    k_new: &[f64],
    yc: &[f64],
    lambda: f64,
    groups: &[usize],
) -> Result<Vec<f64>> {
    let t = yc.len();
    let members = group_members(groups);
    let mut gaps = pair_gaps(gram, k_new, yc, lambda)?;
    if members.iter().all(|m| m.len() == 1) {
        return Ok(gaps);
    }
    let inv = factor(gram, t, lambda)?;
    let alpha = apply_inverse(&inv, t, yc);
    let v = apply_inverse(&inv, t, k_new);
    let f_new = k_new.iter().zip(&alpha).map(|(k, a)| k * a).sum::<f64>();
    let r = held_out_residuals(&inv, t, &alpha, &members)?;
    for group in members.iter().filter(|m| m.len() > 1) {
        let f_new_g = f_new - group.iter().map(|&j| v[j] * r[j]).sum::<f64>();
        for &j in group {
            gaps[j] = f_new_g - (yc[j] - r[j]);
        }
    }
    Ok(gaps)
}

/// [`inverse_factor`] of `gram + λI`, or an error saying what to check.
fn factor(gram: &[f64], t: usize, lambda: f64) -> Result<Vec<f64>> {
    let mut a = gram.to_vec();
    for i in 0..t {
        a[i * t + i] += lambda;
    }
    inverse_factor(&a, t).ok_or_else(|| {
        Error::InvalidArgument(format!(
            "live verdict: the {t}×{t} ridge system for λ = {lambda:e} is not positive definite (are the embeddings finite?)"
        ))
    })
}

/// The dot product with four running sums, which the compiler can keep in
/// vector registers (one sum must be added in order and cannot): the Gram
/// matrices of every look are most of a look's cost.
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0f64; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let tail: f64 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(p, q)| p * q)
        .sum();
    for (p, q) in ca.zip(cb) {
        for k in 0..4 {
            acc[k] += p[k] * q[k];
        }
    }
    acc.iter().sum::<f64>() + tail
}

/// The share of earlier works with a rating different from `y_new` whose
/// order relative to the new work the predictions get right: `gaps[j]` is
/// the predicted rating of the new work minus that of work j, a zero gap
/// counting ½; ½ when every earlier rating equals `y_new`.
pub(crate) fn concordance(y_new: f64, gaps: &[f64], y_old: &[f64]) -> f64 {
    let (score, pairs) = concordance_sum(y_new, gaps, y_old);
    if pairs == 0 {
        0.5
    } else {
        score / pairs as f64
    }
}

/// The sum behind [`concordance`]: the credit of each earlier work with a
/// different rating (1 ordered right, ½ tied, 0 wrong) and how many there
/// are, so that pairwise accuracy can be summed over works pair by pair.
pub(crate) fn concordance_sum(y_new: f64, gaps: &[f64], y_old: &[f64]) -> (f64, usize) {
    let (mut score, mut pairs) = (0.0, 0usize);
    for (&gap, &v) in gaps.iter().zip(y_old) {
        if v == y_new {
            continue;
        }
        pairs += 1;
        let agree = gap * (y_new - v);
        score += if agree > 0.0 {
            1.0
        } else if agree == 0.0 {
            0.5
        } else {
            0.0
        };
    }
    (score, pairs)
}

/// The inverse of the Cholesky factor L of `a` (symmetric positive
/// definite, m × m, row major; L⁻¹ lower triangular, row major), or `None`
/// when `a` is not positive definite.
fn inverse_factor(a: &[f64], m: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; m * m];
    for i in 0..m {
        for j in 0..=i {
            let mut s = a[i * m + j];
            for k in 0..j {
                s -= l[i * m + k] * l[j * m + k];
            }
            if i == j {
                if s <= 0.0 || !s.is_finite() {
                    return None;
                }
                l[i * m + i] = s.sqrt();
            } else {
                l[i * m + j] = s / l[j * m + j];
            }
        }
    }
    let mut inv = vec![0.0; m * m];
    for c in 0..m {
        inv[c * m + c] = 1.0 / l[c * m + c];
        for i in c + 1..m {
            let mut s = 0.0;
            for k in c..i {
                s -= l[i * m + k] * inv[k * m + c];
            }
            inv[i * m + c] = s / l[i * m + i];
        }
    }
    Some(inv)
}

/// a⁻¹ b = L⁻ᵀ L⁻¹ b from [`inverse_factor`]'s L⁻¹.
fn apply_inverse(inv: &[f64], m: usize, b: &[f64]) -> Vec<f64> {
    let w: Vec<f64> = (0..m)
        .map(|i| (0..=i).map(|k| inv[i * m + k] * b[k]).sum())
        .collect();
    (0..m)
        .map(|i| (i..m).map(|k| inv[k * m + i] * w[k]).sum())
        .collect()
}

/// The diagonal of a⁻¹ = L⁻ᵀ L⁻¹: (a⁻¹)_jj = Σ_k (L⁻¹)_kj².
fn inverse_diagonal(inv: &[f64], m: usize) -> Vec<f64> {
    (0..m)
        .map(|j| (j..m).map(|k| inv[k * m + j].powi(2)).sum())
        .collect()
}

// ----- betting: e-processes and confidence sequences ---------------------------------

/// How the bets of an e-process are sized. Every rule sizes the i-th bet
/// from the values before it only (it is *predictable*), which is all
/// Ville's inequality needs; the rules differ in power.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Betting {
    /// How each bet is sized.
    pub rule: BetRule,
    /// Bet on each work's difference of agreement beyond its chance level
    /// ([`LiveTrack::chance`]) rather than on the raw difference.
    pub centred: bool,
    /// The cap on a bet, as a share of the largest bet that keeps the
    /// wealth positive (Waudby-Smith & Ramdas's c).
    pub cap: f64,
}

/// See [`Betting`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BetRule {
    /// Waudby-Smith & Ramdas's predictable plug-in,
    /// √(2 ln(2/α) / (σ̂² · i · ln(1 + i))): sized for the variance only.
    PlugIn,
    /// Approximate growth-rate adaptive (aGRAPA): (μ̂ − m) / (σ̂² + (μ̂ − m)²)
    /// on the side of the bet, the Kelly bet for the mean and variance seen
    /// so far.
    Agrapa,
}

/// The betting the live verdict uses, chosen by measurement
/// (`benches/verdict_monitor.rs`, `docs/STATISTICS.md`).
pub const LIVE_BETTING: Betting = Betting {
    rule: BetRule::Agrapa,
    centred: false,
    cap: BET_CAP,
};

/// How much higher than Ville's 2m/α a bet's wealth must climb to name a
/// winner. The per-work differences are not exactly fair bets when
/// neither backbone sees the taste: each earlier work is compared again
/// with every later one, so a chance agreement on it recurs, and at the
/// bare 2m/α the measured share of pure-noise trials that ever named a
/// winner was 9.5%, not 5% (`docs/STATISTICS.md`). This factor, chosen by
/// that measurement, brings it back under 5%.
pub const LIVE_THRESHOLD_FACTOR: f64 = 4.0;

/// The largest wealth so far of betting that the mean of `x` (values in
/// [0, 1]) is above `m` and of betting that it is below: the capital
/// processes of Waudby-Smith & Ramdas, each a nonnegative martingale when
/// the conditional means equal `m`, so by Ville's inequality each reaches
/// `1/a` with probability at most `a` over the whole sequence, however long.
/// The running mean and variance that size the bets start at ½ and ¼ (the
/// largest variance a [0, 1] value can have).
fn wealth(x: &[f64], m: f64, betting: Betting, alpha: f64) -> (f64, f64) {
    let log_term = 2.0 * (2.0 / alpha).ln();
    let cap_up = betting.cap / m.max(1e-12);
    let cap_down = betting.cap / (1.0 - m).max(1e-12);
    let (mut up, mut down) = (1.0f64, 1.0f64);
    let (mut max_up, mut max_down) = (1.0f64, 1.0f64);
    let (mut sum, mut sq) = (0.0, 0.0);
    let (mut mean, mut var) = (0.5, 0.25);
    for (i, &v) in x.iter().enumerate() {
        let i1 = (i + 1) as f64;
        let (b_up, b_down) = match betting.rule {
            BetRule::PlugIn => {
                let b = (log_term / (var * i1 * (1.0 + i1).ln())).sqrt();
                (b, b)
            }
            BetRule::Agrapa => {
                let g = mean - m;
                let b = g / (var + g * g);
                (b.max(0.0), (-b).max(0.0))
            }
        };
        up *= 1.0 + b_up.min(cap_up) * (v - m);
        down *= 1.0 - b_down.min(cap_down) * (v - m);
        max_up = max_up.max(up);
        max_down = max_down.max(down);
        sum += v;
        mean = (0.5 + sum) / (i1 + 1.0);
        sq += (v - mean).powi(2);
        var = (0.25 + sq) / (i1 + 1.0);
    }
    (max_up, max_down)
}

/// The confidence sequence at level `1 − alpha` of the mean of `x` (values
/// in [0, 1]) after the last value, intersected over all earlier ones: the
/// grid points `m` neither bet has rejected (wealth below
/// [`LIVE_THRESHOLD_FACTOR`] · `2/alpha`).
fn confidence_sequence(x: &[f64], betting: Betting, alpha: f64) -> (f64, f64) {
    let threshold = LIVE_THRESHOLD_FACTOR * 2.0 / alpha;
    let kept: Vec<f64> = (0..=CS_GRID)
        .map(|k| k as f64 / CS_GRID as f64)
        .filter(|&m| {
            let (up, down) = wealth(x, m, betting, alpha);
            up < threshold && down < threshold
        })
        .collect();
    match (kept.first(), kept.last()) {
        (Some(&lo), Some(&hi)) => (lo, hi),
        _ => {
            let mean = x.iter().sum::<f64>() / x.len().max(1) as f64;
            (mean, mean)
        }
    }
}

/// The headline figure of one backbone's track: the mean agreement and its
/// 95% confidence sequence.
pub fn headline(track: &LiveTrack) -> Headline {
    let x: Vec<f64> = track.agreement.iter().flatten().copied().collect();
    if x.is_empty() {
        return Headline {
            value: 0.5,
            low: 0.0,
            high: 1.0,
            works: 0,
        };
    }
    let (low, high) = confidence_sequence(&x, LIVE_BETTING, LIVE_ALPHA);
    Headline {
        value: x.iter().sum::<f64>() / x.len() as f64,
        low,
        high,
        works: x.len(),
    }
}

/// Every pair (a, b) of `ids` (a before b), compared on the per-work
/// differences of their tracks: the mean difference b − a, its confidence
/// sequence at `1 − LIVE_ALPHA/m` for m pairs, and the winner once one
/// side's bet has reached `2m / LIVE_ALPHA` (Bonferroni over pairs and
/// sides, so that all pairs together name a false winner with probability
/// at most `LIVE_ALPHA`, at any look).
pub fn compare_live(ids: &[&str], tracks: &[LiveTrack]) -> Vec<LiveComparison> {
    compare_live_betting(ids, tracks, LIVE_BETTING)
}

/// [`compare_live`] with another way of sizing the bets, for measuring the
/// choice of [`LIVE_BETTING`] (every rule keeps the same guarantee).
pub fn compare_live_betting(
    ids: &[&str],
    tracks: &[LiveTrack],
    betting: Betting,
) -> Vec<LiveComparison> {
    let n = ids.len();
    let m = (n * n.saturating_sub(1) / 2).max(1);
    let alpha = LIVE_ALPHA / m as f64;
    let threshold = LIVE_THRESHOLD_FACTOR * 2.0 / alpha;
    let mut out = Vec::new();
    for i in 0..n {
        for j in i + 1..n {
            let (ta, tb) = (&tracks[i], &tracks[j]);
            let raw: Vec<f64> = (0..ta.agreement.len().min(tb.agreement.len()))
                .filter_map(|w| Some(tb.agreement[w]? - ta.agreement[w]?))
                .collect();
            // What is bet on, mapped to [0, 1] with no difference at ½: the
            // differences of agreement beyond chance (in [−2, 2]), or the
            // raw differences (in [−1, 1]).
            let (x, scale): (Vec<f64>, f64) = if betting.centred {
                let beyond = |t: &LiveTrack, w: usize| -> Option<f64> {
                    Some(t.agreement[w]? - t.chance.get(w).copied().flatten()?)
                };
                let x = (0..ta.agreement.len().min(tb.agreement.len()))
                    .filter_map(|w| Some((beyond(tb, w)? - beyond(ta, w)? + 2.0) / 4.0))
                    .collect();
                (x, 4.0)
            } else {
                (raw.iter().map(|d| (d + 1.0) / 2.0).collect(), 2.0)
            };
            let (e_b, e_a) = wealth(&x, 0.5, betting, alpha);
            let (lo, hi) = if x.is_empty() {
                (0.0, 1.0)
            } else {
                confidence_sequence(&x, betting, alpha)
            };
            let winner = if e_b >= threshold {
                Some(ids[j].to_string())
            } else if e_a >= threshold {
                Some(ids[i].to_string())
            } else {
                None
            };
            out.push(LiveComparison {
                a: ids[i].to_string(),
                b: ids[j].to_string(),
                works: raw.len(),
                diff: raw.iter().sum::<f64>() / raw.len().max(1) as f64,
                cs_low: scale * (lo - 0.5),
                cs_high: scale * (hi - 0.5),
                level: 1.0 - alpha,
                e_b,
                e_a,
                threshold,
                winner,
            });
        }
    }
    out
}

/// The index of the backbone that has won every one of its live
/// comparisons, if any (never with fewer than two).
pub fn live_best(ids: &[&str], comparisons: &[LiveComparison]) -> Option<usize> {
    if ids.len() < 2 {
        return None;
    }
    (0..ids.len()).find(|&i| {
        comparisons
            .iter()
            .filter(|c| c.a == ids[i] || c.b == ids[i])
            .all(|c| c.winner.as_deref() == Some(ids[i]))
    })
}

/// Roughly how many ratings in all the closest undecided comparison that
/// matters would need to be settled, assuming its difference so far is the
/// true one: the confidence sequence's half-width shrinks about as
/// √(ln(1 + n) / n) in the n works scored. `None` when a best backbone is
/// already named, nothing was compared, or the difference is too small to
/// resolve within [`MAX_MORE_RATINGS`] more ratings.
pub(crate) fn live_ratings_needed(
    comparisons: &[LiveComparison],
    best: Option<usize>,
    n_ratings: usize,
) -> Option<usize> {
    if best.is_some() {
        return None;
    }
    // The pair with the largest difference that is still undecided: the
    // one that would name a best backbone first.
    let c = comparisons
        .iter()
        .filter(|c| c.winner.is_none() && c.works > 0)
        .max_by(|p, q| p.diff.abs().total_cmp(&q.diff.abs()))?;
    let half = (c.cs_high - c.cs_low) / 2.0;
    let gap = c.diff.abs();
    if gap < 1e-9 || !half.is_finite() {
        return None;
    }
    let n0 = c.works as f64;
    let width = |n: f64| half * ((n0 / n) * ((1.0 + n).ln() / (1.0 + n0).ln())).sqrt();
    let mut n = n0;
    while width(n) > gap {
        n += 1.0;
        if n - n0 > MAX_MORE_RATINGS as f64 {
            return None;
        }
    }
    Some(n_ratings + (n - n0) as usize)
}

// ----- the verdict in words ------------------------------------------------------------

/// `1 work`, `3 works`.
fn works(n: usize) -> String {
    if n == 1 {
        "1 work".to_string()
    } else {
        format!("{n} works")
    }
}

/// `1 rating`, `3 ratings`.
fn ratings(n: usize) -> String {
    if n == 1 {
        "1 rating".to_string()
    } else {
        format!("{n} ratings")
    }
}

/// A confidence level in words: `95%`, `98.3%`.
fn level_words(level: f64) -> String {
    let p = format!("{:.1}", level * 100.0);
    format!("{}%", p.strip_suffix(".0").unwrap_or(&p))
}

/// `A`, `A and B`, `A, B and C`.
fn and_list(names: &[String]) -> String {
    match names {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// The verdict a person reads: which backbone understands their taste
/// better, in plain words and whole percentages, or how many more ratings
/// the answer needs. `names` and `headlines` follow `ids`; `comparisons`
/// come from [`compare_live`] on the same ids.
pub(crate) fn plain_verdict(
    ids: &[&str],
    names: &[&str],
    headlines: &[Headline],
    comparisons: &[LiveComparison],
    best: Option<usize>,
    n_ratings: usize,
    ratings_needed: Option<usize>,
) -> String {
    if n_ratings < FIRST_ANSWER {
        let more = FIRST_ANSWER - n_ratings;
        return format!(
            "Not enough ratings yet: rate {more} more {} for a first answer (it needs {FIRST_ANSWER}, you have {n_ratings}).",
            if more == 1 { "work" } else { "works" }
        );
    }
    let agree = |i: usize| percent(headlines[i].value);
    if let [name] = names {
        return format!(
            "Ranking pairs of your works, {name}'s predictions agree with you {} of the time (50% would be a coin toss). There is no other backbone to compare it with.",
            agree(0)
        );
    }
    // Everyone, best figure first.
    let mut order: Vec<usize> = (0..names.len()).collect();
    order.sort_by(|&p, &q| headlines[q].value.total_cmp(&headlines[p].value));
    let others_list = |skip: usize| -> String {
        let parts: Vec<String> = order
            .iter()
            .filter(|&&i| i != skip)
            .map(|&i| format!("{}'s {}", names[i], agree(i)))
            .collect();
        and_list(&parts)
    };
    if let Some(w) = best {
        // The closest rival's comparison, oriented winner − rival.
        let closest = comparisons
            .iter()
            .filter(|c| c.a == ids[w] || c.b == ids[w])
            .map(|c| {
                if c.b == ids[w] {
                    (c.a.as_str(), c.diff, c.cs_low, c.cs_high, c.level)
                } else {
                    (c.b.as_str(), -c.diff, -c.cs_high, -c.cs_low, c.level)
                }
            })
            .min_by(|p, q| p.1.total_cmp(&q.1))
            .expect("a best backbone has comparisons");
        let rival = ids
            .iter()
            .position(|id| *id == closest.0)
            .map_or(closest.0, |i| names[i]);
        let (lo, hi) = (closest.2.max(0.0), closest.3);
        let sure = format!(
            "{} sure it is between {} and {} points",
            level_words(closest.4),
            (lo * 100.0).round(),
            (hi * 100.0).round()
        );
        return if names.len() == 2 {
            format!(
                "{} understands your taste better: ranking pairs of your works, its predictions agree with you {} of the time, {}. This difference is unlikely to be luck ({sure}).",
                names[w],
                agree(w),
                others_list(w)
            )
        } else {
            format!(
                "{} understands your taste best: ranking pairs of your works, its predictions agree with you {} of the time, {}. Its lead over the closest, {rival}, is unlikely to be luck ({sure}).",
                names[w],
                agree(w),
                others_list(w)
            )
        };
    }
    let figures: Vec<String> = order
        .iter()
        .map(|&i| format!("{} {}", names[i], agree(i)))
        .collect();
    let decided: Vec<String> = comparisons
        .iter()
        .filter_map(|c| {
            let w = c.winner.as_deref()?;
            let l = if w == c.a { &c.b } else { &c.a };
            let name = |id: &str| {
                ids.iter()
                    .position(|x| *x == id)
                    .map_or(id.to_string(), |i| names[i].to_string())
            };
            Some(format!("{} does better than {}", name(w), name(l)))
        })
        .collect();
    let mut text = format!(
        "Too close to call after {}: {}.",
        ratings(n_ratings),
        figures.join(", ")
    );
    if !decided.is_empty() {
        text.push_str(&format!(
            " So far {}, but no backbone beats every other.",
            and_list(&decided)
        ));
    }
    match ratings_needed {
        Some(need) if need > n_ratings => {
            let more = need - n_ratings;
            text.push_str(&format!(
                " About {more} more {} of the suggested works would probably settle it.",
                if more == 1 { "rating" } else { "ratings" }
            ))
        }
        _ => text.push_str(
            " So far they look about equally good for your taste: more ratings may not separate them.",
        ),
    }
    text
}

/// The statistician's line for the live comparisons: each pair's mean
/// difference of agreement with its confidence sequence and e-values.
pub(crate) fn live_detail(comparisons: &[LiveComparison]) -> String {
    let parts: Vec<String> = comparisons
        .iter()
        .map(|c| {
            format!(
                "agreement {} − {} {:+.3} ({} confidence sequence {:+.3} … {:+.3}; e-values {:.1} for {}, {:.1} for {}, threshold {:.0}; {} scored)",
                c.b,
                c.a,
                c.diff,
                level_words(c.level),
                c.cs_low,
                c.cs_high,
                c.e_b,
                c.b,
                c.e_a,
                c.a,
                c.threshold,
                works(c.works)
            )
        })
        .collect();
    format!("Live: {}", parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_round_one_way() {
        assert_eq!(percent(0.714), "71%");
        assert_eq!(percent(0.715), "72%");
        assert_eq!(percent(f64::NAN), "—");
    }

    #[test]
    fn concordance_counts_pairs_by_hand() {
        // New work rated 3. Earlier: rated 1 (predicted below: right), 5
        // (predicted above: right), 3 (tied rating: left out), 2 (no gap:
        // ½), 4 (predicted below: wrong): 2.5 of 4.
        let c = concordance(3.0, &[0.5, -0.5, 9.0, 0.0, 0.5], &[1.0, 5.0, 3.0, 2.0, 4.0]);
        assert!((c - 2.5 / 4.0).abs() < 1e-12, "{c}");
        assert_eq!(concordance(2.0, &[1.0], &[2.0]), 0.5);
    }

    #[test]
    fn inverse_factor_gives_a_known_inverse() {
        // [[4, 2], [2, 3]]⁻¹ = [[3, −2], [−2, 4]] / 8.
        let inv = inverse_factor(&[4.0, 2.0, 2.0, 3.0], 2).unwrap();
        let diag = inverse_diagonal(&inv, 2);
        let x = apply_inverse(&inv, 2, &[1.0, 1.0]);
        assert!((diag[0] - 3.0 / 8.0).abs() < 1e-12 && (diag[1] - 0.5).abs() < 1e-12);
        assert!((x[0] - 1.0 / 8.0).abs() < 1e-12 && (x[1] - 2.0 / 8.0).abs() < 1e-12);
        assert!(inverse_factor(&[1.0, 2.0, 2.0, 1.0], 2).is_none());
    }

    /// Guards the leave-one-out shortcut against refitting: every pair's
    /// gap equals the two predictions of a head solved again without work j.
    #[test]
    fn pair_gaps_match_a_head_refit_without_the_pair() {
        let mut rng = super::super::SplitMix64::new(11);
        let (t, d) = (9, 4);
        let z: Vec<Vec<f64>> = (0..=t)
            .map(|_| (0..d).map(|_| rng.normal()).collect())
            .collect();
        let k = |a: usize, b: usize| -> f64 {
            z[a].iter().zip(&z[b]).map(|(p, q)| p * q).sum::<f64>() + INTERCEPT_WEIGHT
        };
        let gram: Vec<f64> = (0..t * t).map(|i| k(i / t, i % t)).collect();
        let k_new: Vec<f64> = (0..t).map(|i| k(t, i)).collect();
        let yc: Vec<f64> = (0..t).map(|_| rng.normal()).collect();
        let lambda = 0.7;
        let gaps = pair_gaps(&gram, &k_new, &yc, lambda).unwrap();
        for (j, &gap) in gaps.iter().enumerate() {
            let keep: Vec<usize> = (0..t).filter(|&i| i != j).collect();
            let m = keep.len();
            let sub: Vec<f64> = (0..m * m).map(|i| k(keep[i / m], keep[i % m])).collect();
            let inv = factor(&sub, m, lambda).unwrap();
            let alpha = apply_inverse(&inv, m, &keep.iter().map(|&i| yc[i]).collect::<Vec<_>>());
            let predict = |x: usize| {
                keep.iter()
                    .zip(&alpha)
                    .map(|(&i, a)| k(x, i) * a)
                    .sum::<f64>()
            };
            let slow = predict(t) - predict(j);
            assert!(
                (gap - slow).abs() < 1e-6 * (1.0 + slow.abs()),
                "{j}: {gap} vs {slow}"
            );
        }
    }

    /// Guards the leave-group-out shortcut against refitting: each pair's
    /// gap equals the two predictions of a head solved again without the
    /// earlier work's whole group.
    #[test]
    fn grouped_pair_gaps_match_a_head_refit_without_the_group() {
        let mut rng = super::super::SplitMix64::new(12);
        let (t, d) = (10, 4);
        let z: Vec<Vec<f64>> = (0..=t)
            .map(|_| (0..d).map(|_| rng.normal()).collect())
            .collect();
        let k = |a: usize, b: usize| -> f64 {
            z[a].iter().zip(&z[b]).map(|(p, q)| p * q).sum::<f64>() + INTERCEPT_WEIGHT
        };
        let gram: Vec<f64> = (0..t * t).map(|i| k(i / t, i % t)).collect();
        let k_new: Vec<f64> = (0..t).map(|i| k(t, i)).collect();
        let yc: Vec<f64> = (0..t).map(|_| rng.normal()).collect();
        let groups = [0, 1, 0, 3, 4, 1, 6, 0, 8, 9];
        let lambda = 0.7;
        let gaps = pair_gaps_grouped(&gram, &k_new, &yc, lambda, &groups).unwrap();
        for (j, &gap) in gaps.iter().enumerate() {
            let keep: Vec<usize> = (0..t).filter(|&i| groups[i] != groups[j]).collect();
            let m = keep.len();
            let sub: Vec<f64> = (0..m * m).map(|i| k(keep[i / m], keep[i % m])).collect();
            let inv = factor(&sub, m, lambda).unwrap();
            let alpha = apply_inverse(&inv, m, &keep.iter().map(|&i| yc[i]).collect::<Vec<_>>());
            let predict = |x: usize| {
                keep.iter()
                    .zip(&alpha)
                    .map(|(&i, a)| k(x, i) * a)
                    .sum::<f64>()
            };
            let slow = predict(t) - predict(j);
            assert!(
                (gap - slow).abs() < 1e-6 * (1.0 + slow.abs()),
                "{j}: {gap} vs {slow}"
            );
        }
    }

    /// The penalty is chosen on residuals that leave each work out with its
    /// copies: they equal a head refitted without the group, for every λ,
    /// and the chosen λ is the refits' best. Copies of a work pull the
    /// choice towards the least penalised fit when left in.
    #[test]
    fn the_lambda_choice_leaves_copies_out_with_their_group() {
        let mut rng = super::super::SplitMix64::new(5);
        let (t, d) = (12, 6);
        let mut z: Vec<Vec<f64>> = (0..t)
            .map(|_| (0..d).map(|_| rng.normal()).collect())
            .collect();
        let mut yc: Vec<f64> = (0..t).map(|_| rng.normal()).collect();
        // Works 6.. are near-copies of works 0.., rated alike.
        let mut groups: Vec<usize> = (0..t).collect();
        for j in 6..t {
            z[j] = z[j - 6].iter().map(|v| v + 1e-3 * rng.normal()).collect();
            yc[j] = yc[j - 6];
            groups[j] = j - 6;
        }
        let k = |a: usize, b: usize| -> f64 {
            z[a].iter().zip(&z[b]).map(|(p, q)| p * q).sum::<f64>() + INTERCEPT_WEIGHT
        };
        let gram: Vec<f64> = (0..t * t).map(|i| k(i / t, i % t)).collect();
        let members = group_members(&groups);
        let mut slow_best: Option<(f64, f64)> = None;
        for &lambda in LIVE_LAMBDAS.iter().rev() {
            let inv = factor(&gram, t, lambda).unwrap();
            let alpha = apply_inverse(&inv, t, &yc);
            let fast = held_out_residuals(&inv, t, &alpha, &members).unwrap();
            let mut sse = 0.0;
            for j in 0..t {
                let keep: Vec<usize> = (0..t).filter(|&i| groups[i] != groups[j]).collect();
                let m = keep.len();
                let sub: Vec<f64> = (0..m * m).map(|i| k(keep[i / m], keep[i % m])).collect();
                let inv = factor(&sub, m, lambda).unwrap();
                let a = apply_inverse(&inv, m, &keep.iter().map(|&i| yc[i]).collect::<Vec<_>>());
                let slow = yc[j] - keep.iter().zip(&a).map(|(&i, a)| k(j, i) * a).sum::<f64>();
                assert!(
                    (fast[j] - slow).abs() < 1e-6 * (1.0 + slow.abs()),
                    "λ {lambda}, work {j}: {} vs {slow}",
                    fast[j]
                );
                sse += slow * slow;
            }
            if slow_best.is_none_or(|(b, _)| sse < b) {
                slow_best = Some((sse, lambda));
            }
        }
        let chosen = loo_lambda(&gram, t, &yc, &groups).unwrap();
        assert_eq!(chosen, slow_best.unwrap().1);
        // Ignoring the copies, each work's twin predicts it: a smaller λ.
        let alone: Vec<usize> = (0..t).collect();
        assert!(loo_lambda(&gram, t, &yc, &alone).unwrap() < chosen);
    }

    /// Guards Ville's bound in the simplest case: fair coin flips in {0, 1}
    /// rarely make either bet reach 2/α over 200 looks, and a biased coin
    /// makes the upward one reach it.
    #[test]
    fn bets_on_a_fair_coin_rarely_win() {
        let mut rng = super::super::SplitMix64::new(3);
        let mut wins = 0;
        for _ in 0..200 {
            let x: Vec<f64> = (0..200)
                .map(|_| (rng.uniform() < 0.5) as u8 as f64)
                .collect();
            for rule in [BetRule::PlugIn, BetRule::Agrapa] {
                let betting = Betting {
                    rule,
                    centred: false,
                    cap: BET_CAP,
                };
                let (up, down) = wealth(&x, 0.5, betting, LIVE_ALPHA);
                wins += (up >= 40.0 || down >= 40.0) as usize;
            }
        }
        assert!(
            wins <= 40,
            "{wins} of 2 × 200 fair sequences named a winner"
        );
        let x: Vec<f64> = (0..200)
            .map(|_| (rng.uniform() < 0.8) as u8 as f64)
            .collect();
        let (up, down) = wealth(&x, 0.5, LIVE_BETTING, LIVE_ALPHA);
        assert!(up >= 40.0 && down < 40.0, "{up} {down}");
        let (lo, hi) = confidence_sequence(&x, LIVE_BETTING, LIVE_ALPHA);
        assert!(lo > 0.5 && hi < 1.0 && lo < 0.8 && hi > 0.7, "{lo} {hi}");
    }
}
