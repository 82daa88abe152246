//! Maps of a collection: a 2D layout of every work per backbone, so that
//! works a backbone sees as alike sit together, and the layouts of several
//! backbones drawn side by side can be compared work by work.
//!
//! The layout is UMAP's (McInnes, Healy and Melville, 2018) in its plainest
//! form: the k-nearest-neighbour graph of the cosine distances ([`knn`]),
//! fuzzy memberships from each work's nearest distance and a bandwidth
//! found by bisection, symmetrised; then points placed by stochastic
//! gradient descent with negative sampling, starting from the first two
//! principal components. Everything draws from one seeded generator and the
//! descent runs on one thread, so a seed always gives the same map.
//! [`trustworthiness`] measures how well a layout keeps neighbourhoods
//! (Venna and Kaski, 2001), and [`align`] turns one layout onto another
//! (an orthogonal Procrustes fit: rotation and, if it fits better, a
//! reflection), so that a work sits in a similar place in every panel.
//! The measurements are in `docs/PERFORMANCE.md` (Maps).

mod knn;

use crate::error::{Error, Result};
use crate::limits::{MAX_MAP_WORKS, MIN_MAP_WORKS};

/// How a layout is made.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LayoutParams {
    /// Neighbours per work in the graph (UMAP's `n_neighbors`): fewer keep
    /// finer local structure, more keep the global arrangement.
    pub neighbours: usize,
    /// Passes of the gradient descent; `None` chooses 500 up to 10,000
    /// works and 200 above, as UMAP does.
    pub epochs: Option<usize>,
    /// The seed of every random draw: equal seeds give equal maps.
    pub seed: u64,
}

impl Default for LayoutParams {
    fn default() -> Self {
        LayoutParams {
            neighbours: 15,
            epochs: None,
            seed: 42,
        }
    }
}

/// A stage of a layout, told to the progress callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// A round of the neighbour search done (`round` of at most `rounds`).
    Neighbours {
        /// Rounds done.
        round: usize,
        /// The most rounds it will take.
        rounds: usize,
    },
    /// `epoch` of `epochs` passes of the descent done.
    Descent {
        /// Passes done.
        epoch: usize,
        /// Passes in all.
        epochs: usize,
    },
}

/// UMAP's curve parameters for `min_dist` 0.1 and `spread` 1 (its
/// defaults, fitted by its `find_ab_params`): how tightly neighbours pack.
const CURVE_A: f32 = 1.576_943_5;
const CURVE_B: f32 = 0.895_060_6;
/// Negative samples per positive one.
const NEGATIVE_RATE: usize = 5;
/// The largest step of one coordinate in one update.
const CLIP: f32 = 4.0;

/// The 2D position of every vector, in the order given. The vectors are
/// compared by cosine: each is L2-normalised first. Fewer than
/// [`MIN_MAP_WORKS`] vectors is [`Error::TooFewToMap`]; more than
/// [`MAX_MAP_WORKS`], or vectors of different lengths, zero or not finite,
/// are [`Error::InvalidArgument`].
pub fn layout(
    vectors: &[&[f32]],
    params: &LayoutParams,
    progress: &mut dyn FnMut(Stage),
) -> Result<Vec<[f32; 2]>> {
    let n = vectors.len();
    if n < MIN_MAP_WORKS {
        return Err(Error::TooFewToMap {
            what: "the collection".into(),
            works: n,
            min: MIN_MAP_WORKS,
        });
    }
    if n > MAX_MAP_WORKS {
        return Err(Error::InvalidArgument(format!(
            "a map holds at most {MAX_MAP_WORKS} works, and {n} were given"
        )));
    }
    crate::limits::check_count("neighbours", params.neighbours, 2, 200)?;
    if let Some(e) = params.epochs {
        crate::limits::check_count("epochs", e, 1, 10_000)?;
    }
    let points = unit_vectors(vectors)?;
    let k = params.neighbours.min(n - 1);
    let graph = knn::knn_graph(&points, k, params.seed, &mut |round, rounds| {
        progress(Stage::Neighbours { round, rounds })
    });
    let edges = fuzzy_edges(&graph);
    let mut y = pca_start(&points, params.seed);
    let epochs = params.epochs.unwrap_or(if n <= 10_000 { 500 } else { 200 });
    descend(&mut y, &edges, epochs, params.seed, progress);
    normalise(&mut y);
    Ok(y)
}

/// Each vector divided by its length; the error names the first bad one.
fn unit_vectors(vectors: &[&[f32]]) -> Result<Vec<Vec<f32>>> {
    let dim = vectors[0].len();
    vectors
        .iter()
        .enumerate()
        .map(|(i, v)| {
            crate::vector::normalised(v, dim)
                .map_err(|e| Error::InvalidArgument(format!("vector {i} cannot be mapped: {e}")))
        })
        .collect()
}

/// One symmetric edge of the fuzzy graph.
#[derive(Debug, Clone, Copy)]
struct Edge {
    a: u32,
    b: u32,
    weight: f32,
}

/// UMAP's fuzzy simplicial set: each work's membership of its neighbours,
/// `exp(-(d - ρ) / σ)` with ρ its nearest distance and σ chosen so that the
/// memberships add up to log₂ k, then the union `w + wᵀ − w∘wᵀ`.
fn fuzzy_edges(graph: &[knn::Neighbours]) -> Vec<Edge> {
    let mut directed: Vec<(u32, u32, f32)> = Vec::new();
    for (i, list) in graph.iter().enumerate() {
        if list.is_empty() {
            continue;
        }
        let target = (list.len() as f32).log2().max(1.0);
        let rho = list.iter().map(|e| e.0).find(|&d| d > 0.0).unwrap_or(0.0);
        let total = |sigma: f32| -> f32 {
            list.iter()
                .map(|&(d, _)| (-((d - rho).max(0.0)) / sigma).exp())
                .sum()
        };
        let (mut lo, mut hi, mut sigma) = (0.0f32, f32::INFINITY, 1.0f32);
        for _ in 0..64 {
            let t = total(sigma);
            if (t - target).abs() < 1e-5 {
                break;
            }
            if t > target {
                hi = sigma;
                sigma = (lo + hi) / 2.0;
            } else {
                lo = sigma;
                sigma = if hi.is_finite() {
                    (lo + hi) / 2.0
                } else {
                    sigma * 2.0
                };
            }
        }
        // UMAP's floor: a bandwidth far below the mean distance makes every
        // membership but the nearest vanish.
        let mean = list.iter().map(|e| e.0).sum::<f32>() / list.len() as f32;
        let sigma = sigma.max(1e-3 * mean).max(1e-12);
        for &(d, j) in list {
            let w = (-((d - rho).max(0.0)) / sigma).exp();
            let (a, b) = if (i as u32) < j {
                (i as u32, j)
            } else {
                (j, i as u32)
            };
            directed.push((a, b, w));
        }
    }
    directed.sort_by_key(|x| (x.0, x.1));
    let mut edges: Vec<Edge> = Vec::with_capacity(directed.len());
    for (a, b, w) in directed {
        match edges.last_mut() {
            // The same pair from both ends: the fuzzy union.
            Some(e) if e.a == a && e.b == b => e.weight = e.weight + w - e.weight * w,
            _ => edges.push(Edge { a, b, weight: w }),
        }
    }
    edges
}

/// The first two principal components of the points, by power iteration
/// on `Xᵀ X` without forming it (two products with X per step), scaled to
/// a spread of 10 as UMAP's start is.
fn pca_start(points: &[Vec<f32>], seed: u64) -> Vec<[f32; 2]> {
    let n = points.len();
    let dim = points[0].len();
    let mut mean = vec![0f64; dim];
    for p in points {
        for (m, &x) in mean.iter_mut().zip(p) {
            *m += x as f64;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    // (x − mean)·v without a centred copy of the points: x·v − mean·v.
    let centred_dot = |p: &[f32], v: &[f64], mean_v: f64| -> f64 {
        p.iter().zip(v).map(|(&x, &c)| x as f64 * c).sum::<f64>() - mean_v
    };
    let mut rng = Rng::new(seed ^ 0x05EE_D0F5_CA1E);
    let mut components: Vec<Vec<f64>> = Vec::new();
    for _ in 0..2 {
        let mut v: Vec<f64> = (0..dim).map(|_| rng.uniform() - 0.5).collect();
        // A start, not a result: 30 steps place the clusters well enough
        // for the descent, and cost 2 passes over the vectors each.
        for _ in 0..30 {
            // w = Xcᵀ (Xc v), less the components already found.
            let mean_v: f64 = mean.iter().zip(&v).map(|(a, b)| a * b).sum();
            let xv: Vec<f64> = points.iter().map(|p| centred_dot(p, &v, mean_v)).collect();
            let total: f64 = xv.iter().sum();
            let mut w = vec![0f64; dim];
            for (p, &s) in points.iter().zip(&xv) {
                for (wi, &x) in w.iter_mut().zip(p) {
                    *wi += x as f64 * s;
                }
            }
            for (wi, m) in w.iter_mut().zip(&mean) {
                *wi -= m * total;
            }
            for c in &components {
                let proj: f64 = w.iter().zip(c).map(|(a, b)| a * b).sum();
                w.iter_mut().zip(c).for_each(|(a, b)| *a -= proj * b);
            }
            let norm = w.iter().map(|a| a * a).sum::<f64>().sqrt();
            if norm == 0.0 {
                break;
            }
            let next: Vec<f64> = w.iter().map(|a| a / norm).collect();
            let moved: f64 = next.iter().zip(&v).map(|(a, b)| (a - b).abs()).sum();
            v = next;
            if moved < 1e-7 {
                break;
            }
        }
        components.push(v);
    }
    let means: Vec<f64> = components
        .iter()
        .map(|c| mean.iter().zip(c).map(|(a, b)| a * b).sum())
        .collect();
    let mut y: Vec<[f32; 2]> = points
        .iter()
        .map(|p| {
            [
                centred_dot(p, &components[0], means[0]) as f32,
                centred_dot(p, &components[1], means[1]) as f32,
            ]
        })
        .collect();
    let spread = y
        .iter()
        .flat_map(|p| p.iter().map(|c| c.abs()))
        .fold(0f32, f32::max);
    let scale = if spread > 0.0 { 10.0 / spread } else { 1.0 };
    // A tiny seeded jitter separates points that start on the same spot
    // (identical vectors), which the gradient cannot pull apart.
    for p in &mut y {
        p[0] = p[0] * scale + (rng.uniform() as f32 - 0.5) * 1e-3;
        p[1] = p[1] * scale + (rng.uniform() as f32 - 0.5) * 1e-3;
    }
    y
}

fn clip(g: f32) -> f32 {
    g.clamp(-CLIP, CLIP)
}

/// UMAP's `optimize_layout_euclidean`: each edge pulled together as often
/// as its weight asks, each pull followed by pushes away from randomly
/// drawn works, with a learning rate falling linearly to zero.
fn descend(
    y: &mut [[f32; 2]],
    edges: &[Edge],
    epochs: usize,
    seed: u64,
    progress: &mut dyn FnMut(Stage),
) {
    let n = y.len();
    let max_w = edges.iter().map(|e| e.weight).fold(0f32, f32::max);
    if max_w <= 0.0 {
        return;
    }
    // Edges too weak to be sampled once in all epochs are dropped, as UMAP does.
    let edges: Vec<Edge> = edges
        .iter()
        .copied()
        .filter(|e| e.weight >= max_w / epochs as f32)
        .collect();
    let per_sample: Vec<f32> = edges.iter().map(|e| max_w / e.weight).collect();
    let per_negative: Vec<f32> = per_sample
        .iter()
        .map(|p| p / NEGATIVE_RATE as f32)
        .collect();
    let mut next_sample = per_sample.clone();
    let mut next_negative = per_negative.clone();
    let mut rng = Rng::new(seed ^ 0xDE5C_E17D);
    let (a, b) = (CURVE_A, CURVE_B);
    for epoch in 0..epochs {
        let alpha = 1.0 - epoch as f32 / epochs as f32;
        let now = epoch as f32;
        for (e, edge) in edges.iter().enumerate() {
            if next_sample[e] > now {
                continue;
            }
            let (i, j) = (edge.a as usize, edge.b as usize);
            let dx = y[i][0] - y[j][0];
            let dy = y[i][1] - y[j][1];
            let d2 = dx * dx + dy * dy;
            if d2 > 0.0 {
                let coef = -2.0 * a * b * d2.powf(b - 1.0) / (a * d2.powf(b) + 1.0);
                let (gx, gy) = (clip(coef * dx) * alpha, clip(coef * dy) * alpha);
                y[i][0] += gx;
                y[i][1] += gy;
                y[j][0] -= gx;
                y[j][1] -= gy;
            }
            next_sample[e] += per_sample[e];
            let negatives = ((now - next_negative[e]) / per_negative[e]).max(0.0) as usize;
            for _ in 0..negatives {
                let k = rng.below(n);
                if k == i {
                    continue;
                }
                let dx = y[i][0] - y[k][0];
                let dy = y[i][1] - y[k][1];
                let d2 = dx * dx + dy * dy;
                let (gx, gy) = if d2 > 0.0 {
                    let coef = 2.0 * b / ((0.001 + d2) * (a * d2.powf(b) + 1.0));
                    (clip(coef * dx), clip(coef * dy))
                } else {
                    (CLIP, CLIP)
                };
                y[i][0] += gx * alpha;
                y[i][1] += gy * alpha;
            }
            next_negative[e] += negatives as f32 * per_negative[e];
        }
        if (epoch + 1) % 50 == 0 || epoch + 1 == epochs {
            progress(Stage::Descent {
                epoch: epoch + 1,
                epochs,
            });
        }
    }
}

/// Centres a layout and scales it so that its points lie in [-1, 1]² with
/// the farther axis touching the edge; aspect kept.
fn normalise(y: &mut [[f32; 2]]) {
    let n = y.len().max(1) as f32;
    let cx = y.iter().map(|p| p[0]).sum::<f32>() / n;
    let cy = y.iter().map(|p| p[1]).sum::<f32>() / n;
    let mut r = 0f32;
    for p in y.iter_mut() {
        p[0] -= cx;
        p[1] -= cy;
        r = r.max(p[0].abs()).max(p[1].abs());
    }
    if r > 0.0 {
        for p in y.iter_mut() {
            p[0] /= r;
            p[1] /= r;
        }
    }
}

/// Turns `moving` onto `reference` where they hold the same works: `pairs`
/// lists (index in `moving`, index in `reference`) of each shared work.
/// The best rotation, or rotation with a reflection when that fits better
/// (orthogonal Procrustes, closed form in two dimensions), about the
/// centre; then the layout is centred and scaled into [-1, 1]² again.
/// Fewer than three shared works leave it as it is.
pub(crate) fn align(moving: &mut [[f32; 2]], reference: &[[f32; 2]], pairs: &[(usize, usize)]) {
    if pairs.len() < 3 {
        return;
    }
    let centre = |pts: &dyn Fn(usize) -> [f32; 2]| {
        let (mut x, mut y) = (0f64, 0f64);
        for k in 0..pairs.len() {
            let p = pts(k);
            x += p[0] as f64;
            y += p[1] as f64;
        }
        [x / pairs.len() as f64, y / pairs.len() as f64]
    };
    let cm = centre(&|k| moving[pairs[k].0]);
    let cr = centre(&|k| reference[pairs[k].1]);
    // The rotation angle maximising Σ r·R(m), and its fit, with `flip`
    // mirroring m's second axis first.
    let fit = |flip: f64| {
        let (mut s_cos, mut s_sin) = (0f64, 0f64);
        for &(i, j) in pairs {
            let mx = moving[i][0] as f64 - cm[0];
            let my = (moving[i][1] as f64 - cm[1]) * flip;
            let rx = reference[j][0] as f64 - cr[0];
            let ry = reference[j][1] as f64 - cr[1];
            s_cos += mx * rx + my * ry;
            s_sin += mx * ry - my * rx;
        }
        (s_sin.atan2(s_cos), s_cos.hypot(s_sin))
    };
    let (plain, plain_fit) = fit(1.0);
    let (mirrored, mirrored_fit) = fit(-1.0);
    let (angle, flip) = if mirrored_fit > plain_fit {
        (mirrored, -1.0)
    } else {
        (plain, 1.0)
    };
    let (s, c) = angle.sin_cos();
    for p in moving.iter_mut() {
        let x = p[0] as f64 - cm[0];
        let y = (p[1] as f64 - cm[1]) * flip;
        *p = [(c * x - s * y) as f32, (s * x + c * y) as f32];
    }
    normalise(moving);
}

/// Trustworthiness at `k` (Venna and Kaski): 1 when every work's `k`
/// nearest on the map are among its `k` nearest in the vectors (cosine),
/// lower the farther the intruders rank there. With `sample`, only the
/// first `sample` works are asked about (ranks still over all works), for
/// collections too large for the n² count. Needs `k < n / 2`.
pub fn trustworthiness(
    vectors: &[&[f32]],
    map: &[[f32; 2]],
    k: usize,
    sample: Option<usize>,
) -> Result<f64> {
    use rayon::prelude::*;
    let n = vectors.len();
    if map.len() != n || k == 0 || 2 * k >= n {
        return Err(Error::InvalidArgument(format!(
            "trustworthiness at k = {k} needs more than {} works and a position for each ({n} vectors, {} positions)",
            2 * k,
            map.len()
        )));
    }
    let points = unit_vectors(vectors)?;
    let queries = sample.unwrap_or(n).min(n);
    let penalty: f64 = (0..queries)
        .into_par_iter()
        .map(|i| {
            // Each work's rank in i's order by vector distance (1 = nearest).
            let mut by_vector: Vec<(f32, usize)> = (0..n)
                .filter(|&j| j != i)
                .map(|j| (1.0 - crate::vector::dot(&points[i], &points[j]), j))
                .collect();
            by_vector.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let mut rank = vec![0usize; n];
            for (r, &(_, j)) in by_vector.iter().enumerate() {
                rank[j] = r + 1;
            }
            let mut by_map: Vec<(f32, usize)> = (0..n)
                .filter(|&j| j != i)
                .map(|j| {
                    let dx = map[i][0] - map[j][0];
                    let dy = map[i][1] - map[j][1];
                    (dx * dx + dy * dy, j)
                })
                .collect();
            by_map.select_nth_unstable_by(k - 1, |a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            by_map[..k]
                .iter()
                .map(|&(_, j)| rank[j].saturating_sub(k) as f64)
                .sum::<f64>()
        })
        .sum();
    let (q, n, k) = (queries as f64, n as f64, k as f64);
    Ok(1.0 - 2.0 / (q * k * (2.0 * n - 3.0 * k - 1.0)) * penalty)
}

/// A small seeded generator (SplitMix64): the map's draws must be the same
/// on every machine and in every version of every crate.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub(crate) fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in 0..n (n > 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 32) * n as u64) >> 32) as usize
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// `n` vectors of `dim` floats around `clusters` random centres, with
    /// noise a third of the centres' spread: the shape of a collection of
    /// a few styles.
    pub(crate) fn clustered(n: usize, dim: usize, clusters: usize, seed: u64) -> Vec<Vec<f32>> {
        let mut rng = Rng::new(seed);
        let mut normal = move || {
            let (u, v) = (rng.uniform().max(1e-12), rng.uniform());
            ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
        };
        let centres: Vec<Vec<f32>> = (0..clusters)
            .map(|_| (0..dim).map(|_| normal()).collect())
            .collect();
        (0..n)
            .map(|i| {
                centres[i % clusters]
                    .iter()
                    .map(|c| c + normal() * 0.35)
                    .collect()
            })
            .collect()
    }

    fn refs(v: &[Vec<f32>]) -> Vec<&[f32]> {
        v.iter().map(Vec::as_slice).collect()
    }

    #[test]
    fn clustered_vectors_map_with_trustworthiness_above_0_9() {
        let v = clustered(600, 64, 8, 3);
        let map = layout(&refs(&v), &LayoutParams::default(), &mut |_| {}).unwrap();
        let t = trustworthiness(&refs(&v), &map, 10, None).unwrap();
        assert!(t >= 0.9, "trustworthiness {t}");
        assert!(map.iter().all(|p| p[0].abs() <= 1.0 && p[1].abs() <= 1.0));
    }

    #[test]
    fn the_same_seed_gives_the_same_map_and_another_seed_another() {
        let v = clustered(200, 32, 4, 5);
        let p = LayoutParams::default();
        let a = layout(&refs(&v), &p, &mut |_| {}).unwrap();
        let b = layout(&refs(&v), &p, &mut |_| {}).unwrap();
        assert_eq!(a, b);
        let c = layout(&refs(&v), &LayoutParams { seed: 7, ..p }, &mut |_| {}).unwrap();
        assert_ne!(a, c);
    }

    #[test]
    fn fewer_than_a_handful_of_works_is_refused_saying_why() {
        let v = clustered(MIN_MAP_WORKS - 1, 8, 2, 1);
        let e = layout(&refs(&v), &LayoutParams::default(), &mut |_| {}).unwrap_err();
        assert!(
            matches!(e, Error::TooFewToMap { works, min, .. } if works == MIN_MAP_WORKS - 1 && min == MIN_MAP_WORKS)
        );
        assert!(e.to_string().contains("nothing to draw"), "{e}");
        // A handful is enough.
        let v = clustered(MIN_MAP_WORKS, 8, 2, 1);
        assert_eq!(
            layout(&refs(&v), &LayoutParams::default(), &mut |_| {})
                .unwrap()
                .len(),
            MIN_MAP_WORKS
        );
    }

    #[test]
    fn a_zero_or_non_finite_vector_is_refused_by_position() {
        let mut v = clustered(20, 8, 2, 1);
        v[4] = vec![0.0; 8];
        let e = layout(&refs(&v), &LayoutParams::default(), &mut |_| {}).unwrap_err();
        assert!(e.to_string().contains("vector 4"), "{e}");
    }

    #[test]
    fn trustworthiness_of_a_known_case() {
        // Points on a line, in 2D as vectors (angles on a quarter circle, so
        // that cosine order is angle order): the map that keeps the order
        // scores 1; swapping the two ends of the map puts intruders at
        // known ranks.
        let n = 10;
        let vectors: Vec<Vec<f32>> = (0..n)
            .map(|i| {
                let a = i as f32 * 0.15;
                vec![a.cos(), a.sin()]
            })
            .collect();
        let line: Vec<[f32; 2]> = (0..n).map(|i| [i as f32, 0.0]).collect();
        assert_eq!(
            trustworthiness(&refs(&vectors), &line, 2, None).unwrap(),
            1.0
        );
        // Swap points 0 and 9 on the map. With k = 2 the intruders are:
        // for 0 (now at 9): map neighbours 8 (rank 8) and 7 (rank 7), penalty
        // 6 + 5; for 9 (now at 0): 1 (rank 8) and 2 (rank 7), 6 + 5; for 1:
        // neighbour 9 (at 0, rank 9 of 9), penalty 7; for 8: neighbour 0
        // (rank 9), penalty 7; for the others the swapped points are not
        // nearer than their true neighbours. Total 36;
        // T = 1 - 2/(10·2·(20-6-1))·36 = 0.7231, as scikit-learn's
        // `trustworthiness(X, Y, n_neighbors=2, metric="cosine")` gives.
        let mut swapped = line.clone();
        swapped.swap(0, 9);
        let t = trustworthiness(&refs(&vectors), &swapped, 2, None).unwrap();
        let expected = 1.0 - 2.0 / (10.0 * 2.0 * 13.0) * 36.0;
        assert!((t - expected).abs() < 1e-12, "{t} vs {expected}");
    }

    #[test]
    fn align_undoes_a_rotation_and_a_reflection() {
        let v = clustered(120, 16, 3, 9);
        let reference = layout(&refs(&v), &LayoutParams::default(), &mut |_| {}).unwrap();
        let pairs: Vec<(usize, usize)> = (0..reference.len()).map(|i| (i, i)).collect();
        for flip in [1.0f32, -1.0] {
            let (s, c) = 1.1f32.sin_cos();
            let mut moved: Vec<[f32; 2]> = reference
                .iter()
                .map(|p| [c * p[0] - s * p[1] * flip, s * p[0] + c * p[1] * flip])
                .collect();
            align(&mut moved, &reference, &pairs);
            let worst = moved
                .iter()
                .zip(&reference)
                .map(|(a, b)| (a[0] - b[0]).abs().max((a[1] - b[1]).abs()))
                .fold(0f32, f32::max);
            assert!(worst < 1e-3, "flip {flip}: off by {worst}");
        }
    }
}
