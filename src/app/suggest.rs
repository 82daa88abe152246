//! What to rate next: the unrated works whose rating would help most,
//! for settling the verdict between backbones or for learning the taste.
//!
//! The details are in `docs/STATISTICS.md`, section "How suggest picks works".

use std::collections::{HashMap, HashSet};

use super::views::{Goal, SuggestView, Suggestion};
use super::Collection;
use crate::error::{Error, Result};
use crate::head::{self, TrainedHead};
use crate::model::registry::BackboneId;
use crate::ratings::{self, Rater};

/// What `suggest` is asked.
#[derive(Debug, Clone)]
pub struct SuggestRequest {
    /// Works to suggest, 1 to [`crate::limits::MAX_RESULTS`].
    pub n: usize,
    /// What the suggested ratings should help with: the verdict between
    /// backbones, or the taste head.
    pub goal: Goal,
    /// Whose ratings count as already given, and whose heads rank the works.
    pub rater: Rater,
    /// `None`: every backbone the store holds.
    pub backbones: Option<Vec<BackboneId>>,
}

impl SuggestRequest {
    /// Checks `n` against [`crate::limits::MAX_RESULTS`].
    pub fn validate(&self) -> Result<()> {
        crate::limits::check_count("n", self.n, 1, crate::limits::MAX_RESULTS)?;
        Ok(())
    }
}

/// Rows standardised per dimension (mean 0, sd 1 over the rows given).
fn standardised(x: &[&[f32]]) -> Vec<Vec<f64>> {
    let n = x.len().max(1) as f64;
    let d = x.first().map_or(0, |r| r.len());
    let mut mean = vec![0.0; d];
    for r in x {
        for (m, &v) in mean.iter_mut().zip(r.iter()) {
            *m += v as f64 / n;
        }
    }
    let mut sd = vec![0.0; d];
    for r in x {
        for j in 0..d {
            sd[j] += (r[j] as f64 - mean[j]).powi(2) / n;
        }
    }
    let sd: Vec<f64> = sd
        .iter()
        .map(|v| if v.sqrt() > 1e-12 { v.sqrt() } else { 1.0 })
        .collect();
    x.iter()
        .map(|r| (0..d).map(|j| (r[j] as f64 - mean[j]) / sd[j]).collect())
        .collect()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The greedy posterior-variance order: the `n` works of `x` (all works,
/// standardised over themselves) not in `rated` that the ridge head with
/// penalty `lambda` would be least sure about, each picked as if the ones
/// before it had been rated. With a Gaussian prior on the weights, the
/// prediction at z has variance k(z, z) − k_zᵀ(K + I)⁻¹k_z for the kernel
/// k(z, z') = z·z'/λ (in units of the rating noise); it is updated one
/// rated work at a time by a pivoted Cholesky step. Returns (index,
/// variance relative to the prior variance) in pick order.
pub(crate) fn taste_order(
    x: &[&[f32]],
    rated: &[usize],
    lambda: f64,
    n: usize,
) -> Vec<(usize, f64)> {
    let z = standardised(x);
    let m = z.len();
    let lambda = lambda.max(1e-9);
    let prior: Vec<f64> = z.iter().map(|r| dot(r, r) / lambda).collect();
    let mut var = prior.clone();
    // One residual column per conditioned work.
    let mut cols: Vec<Vec<f64>> = Vec::new();
    let condition = |p: usize, var: &mut Vec<f64>, cols: &mut Vec<Vec<f64>>| {
        let denom = (var[p] + 1.0).sqrt();
        let col: Vec<f64> = (0..m)
            .map(|i| {
                let mut c = dot(&z[i], &z[p]) / lambda;
                for u in cols.iter() {
                    c -= u[i] * u[p];
                }
                c / denom
            })
            .collect();
        for i in 0..m {
            var[i] = (var[i] - col[i] * col[i]).max(0.0);
        }
        cols.push(col);
    };
    for &r in rated {
        if r < m {
            condition(r, &mut var, &mut cols);
        }
    }
    let mut taken: HashSet<usize> = rated.iter().copied().collect();
    let mut out = Vec::new();
    while out.len() < n && taken.len() < m {
        let best = (0..m).filter(|i| !taken.contains(i)).max_by(|&a, &b| {
            let ra = var[a] / prior[a].max(1e-12);
            let rb = var[b] / prior[b].max(1e-12);
            // Relative variance first; the absolute one breaks ties
            // (before anything is conditioned every ratio is 1).
            ra.total_cmp(&rb).then(var[a].total_cmp(&var[b]))
        });
        let Some(p) = best else { break };
        out.push((p, var[p] / prior[p].max(1e-12)));
        taken.insert(p);
        condition(p, &mut var, &mut cols);
    }
    out
}

/// The verdict order: the `n` candidates (indices into `preds[b]`, one
/// prediction per work per backbone, and into `x`, the works' embeddings
/// of one backbone) on which the backbones' standardised predictions
/// spread most, each discounted by (1 − its highest cosine similarity to a
/// work already picked), so that the list spreads across the collection.
/// Returns (index, discounted spread) in pick order.
pub fn verdict_order(
    preds: &[Vec<f64>],
    x: &[&[f32]],
    candidates: &[usize],
    n: usize,
) -> Vec<(usize, f64)> {
    if candidates.is_empty() || preds.len() < 2 {
        return Vec::new();
    }
    // z-scores of each backbone's predictions over the candidates.
    let zs: Vec<HashMap<usize, f64>> = preds
        .iter()
        .map(|p| {
            let v: Vec<f64> = candidates.iter().map(|&i| p[i]).collect();
            let mean = v.iter().sum::<f64>() / v.len() as f64;
            let sd = (v.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / v.len() as f64)
                .sqrt()
                .max(1e-12);
            candidates
                .iter()
                .map(|&i| (i, (p[i] - mean) / sd))
                .collect()
        })
        .collect();
    let spread: HashMap<usize, f64> = candidates
        .iter()
        .map(|&i| {
            let v: Vec<f64> = zs.iter().map(|z| z[&i]).collect();
            let hi = v.iter().copied().fold(f64::MIN, f64::max);
            let lo = v.iter().copied().fold(f64::MAX, f64::min);
            (i, hi - lo)
        })
        .collect();
    let unit: HashMap<usize, Vec<f64>> = candidates
        .iter()
        .map(|&i| {
            let norm = x[i]
                .iter()
                .map(|&v| (v as f64).powi(2))
                .sum::<f64>()
                .sqrt()
                .max(1e-12);
            (i, x[i].iter().map(|&v| v as f64 / norm).collect())
        })
        .collect();
    let mut closest: HashMap<usize, f64> = candidates.iter().map(|&i| (i, -1.0)).collect();
    let mut out = Vec::new();
    let mut left: Vec<usize> = candidates.to_vec();
    while out.len() < n && !left.is_empty() {
        let value = |i: &usize| spread[i] * (1.0 - closest[i].max(0.0));
        let (pos, _) = left
            .iter()
            .enumerate()
            .max_by(|a, b| value(a.1).total_cmp(&value(b.1)))
            .expect("left is not empty");
        let p = left.swap_remove(pos);
        out.push((p, value(&p)));
        for &i in &left {
            let c = dot(&unit[&i], &unit[&p]);
            let e = closest.get_mut(&i).expect("every candidate has an entry");
            if c > *e {
                *e = c;
            }
        }
    }
    out
}

/// The λ that stands for "the taste head" in the posterior variance: the
/// saved ridge head's, else a moderate default (the embedding dimension,
/// the Gram diagonal of standardised features, which shrinks half-way).
fn ridge_lambda(head: Option<&TrainedHead>, d: usize) -> f64 {
    match head {
        Some(TrainedHead::Ridge(h)) => h.lambda,
        _ => d.max(1) as f64,
    }
}

impl Collection {
    /// The unrated works whose rating would help most with `req.goal`.
    pub fn suggest(&self, req: &SuggestRequest) -> Result<SuggestView> {
        req.validate()?;
        let backbones = self.select_backbones(req.backbones.as_deref())?;
        let spaces = self.spaces(&backbones)?;
        let works: Vec<crate::store::Artwork> = self
            .store
            .artworks()?
            .into_iter()
            .filter(|a| spaces.iter().all(|s| s.contains_key(&a.hash)))
            .collect();
        if works.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "no work has an embedding of every backbone ({}); run `artlens index`",
                super::index::names(&backbones)
            )));
        }
        // The works the heads learnt from: the scored ones; a rater with
        // preferences only has the works those name.
        let mut rated_hashes: HashSet<String> = ratings::ratings_of(&self.store, &req.rater)?
            .into_iter()
            .map(|(h, _)| h)
            .collect();
        if rated_hashes.is_empty() {
            rated_hashes = crate::preferences::preferences_of(&self.store, &req.rater)?
                .into_iter()
                .flat_map(|p| [p.winner, p.loser])
                .collect();
        }
        // A marked copy is never suggested: its group's rating is asked of
        // the representative (a rated copy still counts as rated).
        let copies = self.store.copies()?;
        let works: Vec<crate::store::Artwork> = works
            .into_iter()
            .filter(|a| rated_hashes.contains(&a.hash) || !copies.contains_key(&a.hash))
            .collect();
        let rated: Vec<usize> = (0..works.len())
            .filter(|&i| rated_hashes.contains(&works[i].hash))
            .collect();
        let candidates: Vec<usize> = (0..works.len())
            .filter(|&i| !rated_hashes.contains(&works[i].hash))
            .collect();
        let first: Vec<&[f32]> = works
            .iter()
            .map(|a| spaces[0][&a.hash].as_slice())
            .collect();
        let d = first.first().map_or(1, |r| r.len());
        let heads: Vec<Option<TrainedHead>> = backbones
            .iter()
            .map(|id| {
                head::load_head_of(&self.store, &req.rater, id)
                    .ok()
                    .map(|(h, _)| h)
            })
            .collect();
        let mut message = None;
        let mut method = match req.goal {
            Goal::Verdict => "verdict",
            Goal::Taste => "taste",
        };
        let who = if req.rater.is_default() {
            String::new()
        } else {
            format!(" by `{}`", req.rater)
        };
        let flag = if req.rater.is_default() {
            String::new()
        } else {
            format!(" --rater {}", req.rater)
        };
        if rated.is_empty() {
            method = "coverage";
            message = Some(format!(
                "nothing is rated{who} yet: these works cover the collection (each far from the ones before it); rate them, then `artlens train{flag}`"
            ));
        } else if req.goal == Goal::Verdict
            && (backbones.len() < 2 || heads.iter().any(Option::is_none))
        {
            method = "taste";
            message = Some(if backbones.len() < 2 {
                "a verdict needs two backbones; suggesting what the taste head is least sure about instead".to_string()
            } else {
                format!(
                    "no trained heads{who} for every backbone: suggesting what a head would be least sure about instead (`artlens train{flag}` enables --goal verdict)"
                )
            });
        }
        let mut predictions: Vec<Vec<f64>> = Vec::new();
        let picked: Vec<(usize, f64)> = if method == "verdict" {
            for (b, h) in spaces.iter().zip(&heads) {
                let h = h.as_ref().expect("checked above");
                predictions.push(works.iter().map(|a| h.predict_f64(&b[&a.hash])).collect());
            }
            verdict_order(&predictions, &first, &candidates, req.n)
        } else {
            let lambda = ridge_lambda(heads[0].as_ref(), d);
            taste_order(&first, &rated, lambda, req.n)
        };
        let works = picked
            .into_iter()
            .map(|(i, usefulness)| Suggestion {
                id: works[i].id,
                hash: works[i].hash.clone(),
                path: works[i].paths.first().cloned(),
                usefulness,
                predictions: backbones
                    .iter()
                    .zip(&predictions)
                    .map(|(id, p)| (id.name(), p[i]))
                    .collect(),
            })
            .collect();
        Ok(SuggestView {
            goal: req.goal,
            method: method.to_string(),
            rater: req.rater.name().to_string(),
            message,
            works,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two tight clusters: after a pick in one, the next pick is in the other.
    #[test]
    fn taste_order_covers_clusters() {
        let mut x: Vec<Vec<f32>> = Vec::new();
        for i in 0..10 {
            let e = i as f32 * 0.01;
            x.push(vec![5.0 + e, 0.0, e]);
            x.push(vec![-5.0 - e, 0.1, -e]);
        }
        let rows: Vec<&[f32]> = x.iter().map(|r| r.as_slice()).collect();
        let order = taste_order(&rows, &[], 1.0, 2);
        assert_eq!(order.len(), 2);
        let side = |i: usize| x[i][0] > 0.0;
        assert_ne!(side(order[0].0), side(order[1].0), "{order:?}");
        // A rated work in the first cluster sends the first pick to the other.
        let order = taste_order(&rows, &[0], 1.0, 1);
        assert!(!side(order[0].0), "{order:?}");
    }

    /// The work the heads disagree on comes first, and rated works are never
    /// suggested.
    #[test]
    fn verdict_order_puts_disagreement_first() {
        let x: Vec<Vec<f32>> = (0..6).map(|i| vec![1.0, i as f32]).collect();
        let rows: Vec<&[f32]> = x.iter().map(|r| r.as_slice()).collect();
        let a = vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0];
        let mut b = a.clone();
        b[4] = -5.0;
        let order = verdict_order(&[a, b], &rows, &[1, 2, 3, 4, 5], 3);
        assert_eq!(order[0].0, 4, "{order:?}");
        assert!(order.iter().all(|(i, _)| *i != 0));
    }
}
