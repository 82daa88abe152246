//! The live answer: one headline figure per backbone and a verdict that
//! stays honest when a person looks at it after every single rating.
//!
//! Every rated work, taken in the order it was rated, is predicted by a
//! ridge head trained only on the works rated before it; its *agreement* is
//! the share of those earlier works (with a different rating) that the
//! prediction puts on the right side of it. A backbone's headline is the
//! mean agreement over the works scored so far ("its predictions agree with
//! you 71% of the time"), and two backbones are compared on the per-work
//! differences of agreement with a betting e-process and its confidence
//! sequence (Waudby-Smith & Ramdas 2023), which keeps the chance of ever
//! naming a false winner at 5% however often the answer is looked at. Why
//! this figure and this procedure, and what they were measured to do:
//! `docs/STATISTICS.md`.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The family-wise error of the live verdict: the chance, over all the
/// looks a person ever takes, that it names a winner between backbones that
/// are equally good.
pub const LIVE_ALPHA: f64 = 0.05;

/// Works rated before the first one that is scored: the first prediction
/// comes from a head trained on this many ratings.
pub const LIVE_START: usize = 5;

/// Ratings before the first answer: below this, the verdict only says how
/// many more works to rate, and charts say "not enough ratings yet".
pub const FIRST_ANSWER: usize = 20;

/// The penalties the live heads choose from by leave-one-out: one per
/// decade from 1e-3 to 1e5 (every other value of [`super::lambda_grid`]).
const LIVE_LAMBDAS: [f64; 9] = [1e-3, 1e-2, 1e-1, 1.0, 1e1, 1e2, 1e3, 1e4, 1e5];

/// The betting fraction's cap, as a share of the largest bet that keeps
/// the wealth positive (Waudby-Smith & Ramdas's c = ½).
const BET_CAP: f64 = 0.5;

/// The grid a confidence sequence is read from, in steps of 1/`CS_GRID` of
/// the [0, 1] range (a quarter of a percentage point).
const CS_GRID: usize = 400;

/// What the headline figure is called on every page and in every line.
pub const HEADLINE_NAME: &str = "agrees with your ratings";

/// One sentence that says what the headline figure measures.
pub const HEADLINE_DESCRIPTION: &str = "Each time you rated a work, the backbone's head, trained only on your \
earlier ratings, had already predicted it; the figure is how often that prediction put the new work on \
the right side of your earlier works (50% is a coin toss, 100% always right).";

/// The procedure behind the live verdict, named in the CLI's output and
/// the JSON.
pub const PROCEDURE: &str = "live verdict: each work predicted before it was rated by a ridge head \
trained on the earlier ratings; backbones compared on the per-work difference of agreement with a \
betting e-process and its 95% confidence sequence (Waudby-Smith & Ramdas 2023), valid however often \
it is checked; the cross-validated figures are detail";

/// `0.714` → `71%`: the one way every page, line and verdict writes the
/// headline figure (whole percentages; a dash when not finite).
pub fn percent(x: f64) -> String {
    if x.is_finite() {
        format!("{:.0}%", x * 100.0)
    } else {
        "—".to_string()
    }
}

/// A difference of two headline figures in percentage points, signed with
/// a real minus: `+3`, `−11`, `0`.
pub fn points(x: f64) -> String {
    if !x.is_finite() {
        return "—".to_string();
    }
    let r = (x * 100.0).round();
    if r > 0.0 {
        format!("+{r:.0}")
    } else if r < 0.0 {
        format!("\u{2212}{:.0}", -r)
    } else {
        "0".to_string()
    }
}

/// One backbone's live record: the agreement of every scored work.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveTrack {
    /// Per work in rating order: its agreement, or `None` when it was not
    /// scored (among the first [`LIVE_START`], or no earlier work has a
    /// different rating). The same works are scored for every backbone.
    pub agreement: Vec<Option<f64>>,
}

/// The headline figure of one backbone with its 95% confidence sequence.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Headline {
    /// Mean agreement over the scored works, 0–1; ½ when none is scored.
    pub value: f64,
    /// The 95% confidence sequence of that mean at the last work.
    pub low: f64,
    pub high: f64,
    /// How many works were scored.
    pub works: usize,
}

/// The live comparison of one pair of backbones (b − a).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveComparison {
    pub a: String,
    pub b: String,
    /// Works scored for both.
    pub works: usize,
    /// Mean per-work difference of agreement, b − a (in −1…1).
    pub diff: f64,
    /// The confidence sequence of that difference at `level`, intersected
    /// over every look so far.
    pub cs_low: f64,
    pub cs_high: f64,
    /// `1 − LIVE_ALPHA/m` for m pairs.
    pub level: f64,
    /// The largest wealth so far of the bet that b is better, and of the bet
    /// that a is: e-values; a side wins when its one reaches `threshold`.
    pub e_b: f64,
    pub e_a: f64,
    /// `2m / LIVE_ALPHA`.
    pub threshold: f64,
    /// The id of the better backbone once its bet has reached `threshold`.
    pub winner: Option<String>,
}

/// Scores every work of `x` (embeddings in rating order) against `y`: see
/// [`LiveTrack`]. Work t's head is trained on works `0..t` only, with
/// features standardised on those works and λ chosen among
/// [`LIVE_LAMBDAS`] by exact leave-one-out; work t's prediction is compared
/// with the leave-one-out predictions of the earlier works under the same
/// head, so that neither side of a pair has seen its own rating. The score
/// of work t depends on works `0..=t` only, so a longer sequence extends a
/// shorter one's track without changing it.
pub fn live_track(x: &[Vec<f32>], y: &[f64]) -> Result<LiveTrack> {
    if x.len() != y.len() {
        return Err(Error::InvalidArgument(format!(
            "{} embeddings but {} ratings",
            x.len(),
            y.len()
        )));
    }
    let agreement = (0..y.len())
        .into_par_iter()
        .map(|t| {
            if t < LIVE_START || !y[..t].iter().any(|&v| v != y[t]) {
                return Ok(None);
            }
            score_work(&x[..=t], &y[..t], y[t]).map(Some)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(LiveTrack { agreement })
}

/// The agreement of the last row of `x` (the new work, rated `y_new`)
/// with the rows before it, whose ratings are `y`. See [`live_track`].
fn score_work(x: &[Vec<f32>], y_prev: &[f64], y_new: f64) -> Result<f64> {
    let t = y_prev.len();
    let d = x[0].len();
    // Standardise on the training works 0..t only.
    let mut mean = vec![0.0f64; d];
    for row in &x[..t] {
        for (m, &v) in mean.iter_mut().zip(row) {
            *m += v as f64;
        }
    }
    mean.iter_mut().for_each(|m| *m /= t as f64);
    let mut var = vec![0.0f64; d];
    for row in &x[..t] {
        for ((s, &v), m) in var.iter_mut().zip(row).zip(&mean) {
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
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(p, q)| p * q).sum::<f64>();
    let mut gram = vec![0.0; t * t];
    for i in 0..t {
        for j in 0..=i {
            let v = dot(&z[i], &z[j]);
            gram[i * t + j] = v;
            gram[j * t + i] = v;
        }
    }
    let k_new: Vec<f64> = (0..t).map(|i| dot(&z[t], &z[i])).collect();
    let y_mean = y_prev.iter().sum::<f64>() / t as f64;
    let yc: Vec<f64> = y_prev.iter().map(|v| v - y_mean).collect();
    // For each λ: α = (K + λI)⁻¹ yc and the leave-one-out residuals
    // α_j / [(K + λI)⁻¹]_jj; keep the λ with the least squared residuals
    // (ties to the larger λ, the more cautious fit).
    let mut best: Option<(f64, Vec<f64>, Vec<f64>)> = None;
    for &lambda in LIVE_LAMBDAS.iter().rev() {
        let mut a = gram.clone();
        for i in 0..t {
            a[i * t + i] += lambda;
        }
        let Some((alpha, diag)) = solve_with_inverse_diagonal(&a, t, &yc) else {
            return Err(Error::InvalidArgument(format!(
                "live verdict: the {t}×{t} ridge system for λ = {lambda:e} is not positive definite (are the embeddings finite?)"
            )));
        };
        let loo: Vec<f64> = alpha.iter().zip(&diag).map(|(a, c)| a / c).collect();
        let sse = loo.iter().map(|r| r * r).sum::<f64>();
        if best.as_ref().is_none_or(|(b, _, _)| sse < *b) {
            best = Some((sse, alpha, loo));
        }
    }
    let (_, alpha, loo) = best.expect("the λ grid is not empty");
    let pred_new = dot(&k_new, &alpha);
    // The held-out predictions of the earlier works, on the same centred
    // scale (the common mean cancels in every comparison).
    let pred_old: Vec<f64> = yc.iter().zip(&loo).map(|(v, r)| v - r).collect();
    Ok(concordance(pred_new, y_new, &pred_old, y_prev))
}

/// The share of earlier works with a rating different from `y_new` whose
/// order relative to the new work the predictions get right, a tie in
/// prediction counting ½; ½ when every earlier rating equals `y_new`.
pub(crate) fn concordance(pred_new: f64, y_new: f64, pred_old: &[f64], y_old: &[f64]) -> f64 {
    let (mut score, mut pairs) = (0.0, 0usize);
    for (&p, &v) in pred_old.iter().zip(y_old) {
        if v == y_new {
            continue;
        }
        pairs += 1;
        let agree = (pred_new - p) * (y_new - v);
        score += if agree > 0.0 {
            1.0
        } else if agree == 0.0 {
            0.5
        } else {
            0.0
        };
    }
    if pairs == 0 {
        0.5
    } else {
        score / pairs as f64
    }
}

/// Cholesky-solves `a x = b` (a symmetric positive definite, m × m, row
/// major) and returns x with the diagonal of a⁻¹; `None` when a is not
/// positive definite.
fn solve_with_inverse_diagonal(a: &[f64], m: usize, b: &[f64]) -> Option<(Vec<f64>, Vec<f64>)> {
    let mut l = vec![0.0; m * m];
    for i in 0..m {
        for j in 0..=i {
            let mut s = a[i * m + j];
            for k in 0..j {
                s -= l[i * m + k] * l[j * m + k];
            }
            if i == j {
                if !(s > 0.0) {
                    return None;
                }
                l[i * m + i] = s.sqrt();
            } else {
                l[i * m + j] = s / l[j * m + j];
            }
        }
    }
    // L⁻¹ (lower triangular), column by column; (a⁻¹)_jj = Σ_k (L⁻¹)_kj².
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
    let diag = (0..m)
        .map(|j| (j..m).map(|k| inv[k * m + j].powi(2)).sum())
        .collect();
    // x = L⁻ᵀ L⁻¹ b.
    let w: Vec<f64> = (0..m)
        .map(|i| (0..=i).map(|k| inv[i * m + k] * b[k]).sum())
        .collect();
    let x = (0..m)
        .map(|i| (i..m).map(|k| inv[k * m + i] * w[k]).sum())
        .collect();
    Some((x, diag))
}

// ----- betting: e-processes and confidence sequences ---------------------------------

/// Predictable bet sizes for values in [0, 1] (Waudby-Smith & Ramdas's
/// "predictable plug-in"): the i-th bet is sized from the values before it
/// only, √(2 ln(2/α) / (σ̂²ᵢ₋₁ · i · ln(1 + i))), with the running variance
/// σ̂² started at ¼ (the largest a [0, 1] value can have).
fn bet_sizes(x: &[f64], alpha: f64) -> Vec<f64> {
    let log_term = 2.0 * (2.0 / alpha).ln();
    let (mut sum, mut sq) = (0.0, 0.0);
    x.iter()
        .enumerate()
        .map(|(i, &v)| {
            let i1 = (i + 1) as f64;
            let var = (0.25 + sq) / i1;
            let lambda = (log_term / (var * i1 * (1.0 + i1).ln())).sqrt();
            sum += v;
            let mean = (0.5 + sum) / (i1 + 1.0);
            sq += (v - mean).powi(2);
            lambda
        })
        .collect()
}

/// The largest wealth so far of betting that the mean of `x` is above `m`
/// and of betting that it is below: the capital processes of Waudby-Smith
/// & Ramdas, each a nonnegative martingale when the conditional means equal
/// `m`, so by Ville's inequality each reaches `1/a` with probability at
/// most `a` over the whole sequence, however long.
fn wealth(x: &[f64], bets: &[f64], m: f64) -> (f64, f64) {
    let (mut up, mut down) = (1.0f64, 1.0f64);
    let (mut max_up, mut max_down) = (1.0f64, 1.0f64);
    let cap_up = BET_CAP / m.max(1e-12);
    let cap_down = BET_CAP / (1.0 - m).max(1e-12);
    for (&v, &b) in x.iter().zip(bets) {
        up *= 1.0 + b.min(cap_up) * (v - m);
        down *= 1.0 - b.min(cap_down) * (v - m);
        max_up = max_up.max(up);
        max_down = max_down.max(down);
    }
    (max_up, max_down)
}

/// The confidence sequence at level `1 − alpha` of the mean of `x` (values
/// in [0, 1]) after the last value, intersected over all earlier ones: the
/// grid points `m` neither bet has rejected (wealth below `2/alpha`).
fn confidence_sequence(x: &[f64], alpha: f64) -> (f64, f64) {
    let bets = bet_sizes(x, alpha);
    let threshold = 2.0 / alpha;
    let kept: Vec<f64> = (0..=CS_GRID)
        .map(|k| k as f64 / CS_GRID as f64)
        .filter(|&m| {
            let (up, down) = wealth(x, &bets, m);
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
    let (low, high) = confidence_sequence(&x, LIVE_ALPHA);
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
    let n = ids.len();
    let m = (n * n.saturating_sub(1) / 2).max(1);
    let alpha = LIVE_ALPHA / m as f64;
    let threshold = 2.0 / alpha;
    let mut out = Vec::new();
    for i in 0..n {
        for j in i + 1..n {
            // Differences mapped from [−1, 1] to [0, 1]: no difference is ½.
            let x: Vec<f64> = tracks[i]
                .agreement
                .iter()
                .zip(&tracks[j].agreement)
                .filter_map(|(a, b)| Some((b.as_ref()? - a.as_ref()? + 1.0) / 2.0))
                .collect();
            let bets = bet_sizes(&x, alpha);
            let (e_b, e_a) = wealth(&x, &bets, 0.5);
            let (lo, hi) = if x.is_empty() {
                (0.0, 1.0)
            } else {
                confidence_sequence(&x, alpha)
            };
            let mean = x.iter().sum::<f64>() / x.len().max(1) as f64;
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
                works: x.len(),
                diff: if x.is_empty() { 0.0 } else { 2.0 * mean - 1.0 },
                cs_low: 2.0 * lo - 1.0,
                cs_high: 2.0 * hi - 1.0,
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
/// resolve within 10 000 ratings.
pub fn live_ratings_needed(
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
        if n > 10_000.0 {
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
            "Not enough ratings yet: rate {} more for a first answer (it needs {FIRST_ANSWER}, you have {n_ratings}).",
            works(more)
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
        Some(need) if need > n_ratings && need - n_ratings <= 500 => {
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
    fn percentages_and_points_round_one_way() {
        assert_eq!(percent(0.714), "71%");
        assert_eq!(percent(0.715), "72%");
        assert_eq!(percent(f64::NAN), "—");
        assert_eq!(points(0.031), "+3");
        assert_eq!(points(-0.114), "\u{2212}11");
        assert_eq!(points(0.004), "0");
    }

    #[test]
    fn concordance_counts_pairs_by_hand() {
        // New work rated 3, predicted 0.5. Earlier: rated 1 (pred 0: right),
        // 5 (pred 1: right), 3 (tied rating: left out), 2 (pred 0.5: tie, ½),
        // 4 (pred 0: wrong): 2.5 of 4.
        let c = concordance(
            0.5,
            3.0,
            &[0.0, 1.0, 9.0, 0.5, 0.0],
            &[1.0, 5.0, 3.0, 2.0, 4.0],
        );
        assert!((c - 2.5 / 4.0).abs() < 1e-12, "{c}");
        assert_eq!(concordance(1.0, 2.0, &[0.0], &[2.0]), 0.5);
    }

    #[test]
    fn inverse_diagonal_matches_a_known_inverse() {
        // [[4, 2], [2, 3]]⁻¹ = [[3, −2], [−2, 4]] / 8.
        let (x, diag) = solve_with_inverse_diagonal(&[4.0, 2.0, 2.0, 3.0], 2, &[1.0, 1.0]).unwrap();
        assert!((diag[0] - 3.0 / 8.0).abs() < 1e-12 && (diag[1] - 0.5).abs() < 1e-12);
        assert!((x[0] - 1.0 / 8.0).abs() < 1e-12 && (x[1] - 2.0 / 8.0).abs() < 1e-12);
        assert!(solve_with_inverse_diagonal(&[1.0, 2.0, 2.0, 1.0], 2, &[1.0, 1.0]).is_none());
    }

    /// Guards Ville's bound in the simplest case: fair coin flips in {0, 1}
    /// rarely make either bet reach 2/α over 200 looks, and a biased coin
    /// makes the upward one reach it.
    #[test]
    fn bets_on_a_fair_coin_rarely_win() {
        let mut rng = super::super::SplitMix64::new(3);
        let mut wins = 0;
        for _ in 0..200 {
            let x: Vec<f64> = (0..200).map(|_| (rng.uniform() < 0.5) as u8 as f64).collect();
            let (up, down) = wealth(&x, &bet_sizes(&x, LIVE_ALPHA), 0.5);
            wins += (up >= 40.0 || down >= 40.0) as usize;
        }
        assert!(wins <= 20, "{wins} of 200 fair sequences named a winner");
        let x: Vec<f64> = (0..200).map(|_| (rng.uniform() < 0.8) as u8 as f64).collect();
        let (up, down) = wealth(&x, &bet_sizes(&x, LIVE_ALPHA), 0.5);
        assert!(up >= 40.0 && down < 40.0, "{up} {down}");
        let (lo, hi) = confidence_sequence(&x, LIVE_ALPHA);
        assert!(lo > 0.5 && hi < 1.0 && lo < 0.8 && hi > 0.7, "{lo} {hi}");
    }
}
