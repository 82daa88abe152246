//! A frozen, cache-friendly copy of an hnsw_rs graph, for searching it.
//!
//! The details are in `docs/PERFORMANCE.md`, section "The frozen ANN graph".

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

use hnsw_rs::prelude::{Hnsw, Point};

use super::{CodeCosine, IdFilter, Ranked};
use crate::vector::{code, dot_bytes};

/// A distance and a node, ordered by distance then node number, so that the
/// heaps are totally ordered and ties break the same way every time.
type Cand = Ranked<u32>;

/// The searchable copy of one hnsw_rs graph.
pub(crate) struct FrozenGraph {
    dim: usize,
    /// The caller's id of each node.
    ids: Vec<u64>,
    /// Where each node's 16-bit codes start, inside the hnsw_rs point kept
    /// alive by `_points`: read only to re-rank the final candidates.
    vectors: Vec<*const i16>,
    /// `1 / ‖x̂‖` of each node's codes ([`code::cosine`]).
    inv_norms: Vec<f32>,
    /// Every node's vector as 8-bit codes, back to back: what the walk
    /// scores (see [`Quantised`]).
    codes: Quantised,
    /// `level0[offsets[i]..offsets[i + 1]]` are node i's layer-0 neighbours.
    offsets: Vec<u32>,
    level0: Vec<u32>,
    /// For nodes above layer 0: their neighbours on layers 1, 2, … .
    upper: HashMap<u32, Vec<Vec<u32>>>,
    entry: u32,
    top_layer: usize,
    /// Owns the vectors that `vectors` points into.
    _points: Vec<Arc<Point<'static, i16>>>,
}

// SAFETY: the raw pointers in `vectors` point into the immutable vector data
// of the hnsw_rs points held in `_points` (hnsw_rs never mutates a point's
// vector after insertion, and the `Arc`s keep them alive for as long as the
// frozen graph exists), so sharing or sending the graph between threads is
// as safe as sharing those `Arc<Point>`s, which hnsw_rs itself does.
unsafe impl Send for FrozenGraph {}
unsafe impl Sync for FrozenGraph {}

impl std::fmt::Debug for FrozenGraph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrozenGraph")
            .field("nodes", &self.ids.len())
            .field("top_layer", &self.top_layer)
            .finish_non_exhaustive()
    }
}

impl FrozenGraph {
    /// Copies the topology of `hnsw`, which must not be inserted into while
    /// this runs (the caller holds it by `&`, and inserting needs `&mut`).
    /// `None` for an empty graph.
    pub(crate) fn freeze(hnsw: &Hnsw<'static, i16, CodeCosine>, dim: usize) -> Option<Self> {
        let points: Vec<Arc<Point<'static, i16>>> =
            hnsw.get_point_indexation().into_iter().collect();
        if points.is_empty() {
            return None;
        }
        // hnsw_rs names a point by (layer, rank in that layer); the iterator
        // yields layer 0 first, then upward, each in rank order, so a
        // point's dense number is its rank plus the sizes of the layers below.
        let mut layer_start: Vec<u32> = Vec::new();
        for (i, p) in points.iter().enumerate() {
            let layer = p.get_point_id().0 as usize;
            while layer_start.len() <= layer {
                layer_start.push(i as u32);
            }
        }
        let node_of = |layer: u8, rank: i32| -> Option<u32> {
            let start = *layer_start.get(layer as usize)?;
            let n = start.checked_add(u32::try_from(rank).ok()?)?;
            ((n as usize) < points.len()).then_some(n)
        };
        let codes = Quantised::new(points.iter().map(|p| p.get_v()), dim);
        let mut ids = Vec::with_capacity(points.len());
        let mut vectors = Vec::with_capacity(points.len());
        let mut inv_norms = Vec::with_capacity(points.len());
        let mut offsets = Vec::with_capacity(points.len() + 1);
        let mut level0 = Vec::new();
        let mut upper = HashMap::new();
        offsets.push(0u32);
        for (i, p) in points.iter().enumerate() {
            let v = p.get_v();
            debug_assert_eq!(v.len(), dim);
            ids.push(p.get_origin_id() as u64);
            vectors.push(v.as_ptr());
            inv_norms.push(code::inverse_norm(v));
            let layers = p.get_neighborhood_id();
            let dense = |list: &Vec<hnsw_rs::prelude::Neighbour>| -> Vec<u32> {
                list.iter()
                    .filter_map(|n| node_of(n.p_id.0, n.p_id.1))
                    .collect()
            };
            if let Some(first) = layers.first() {
                level0.extend(dense(first));
            }
            offsets.push(level0.len() as u32);
            let level = p.get_point_id().0 as usize;
            if level > 0 {
                let lists: Vec<Vec<u32>> = (1..=level)
                    .map(|l| layers.get(l).map(&dense).unwrap_or_default())
                    .collect();
                upper.insert(i as u32, lists);
            }
        }
        // The entry point is a node of the top layer (the first one there is
        // hnsw_rs's own entry point: the first point that reached it).
        let top_layer = layer_start.len() - 1;
        let entry = layer_start[top_layer];
        Some(FrozenGraph {
            dim,
            ids,
            vectors,
            inv_norms,
            codes,
            offsets,
            level0,
            upper,
            entry,
            top_layer,
            _points: points,
        })
    }

    /// Number of nodes.
    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    #[inline]
    fn vector(&self, node: u32) -> &[i16] {
        // SAFETY: see the `Send`/`Sync` note: the pointer is to `dim` codes
        // owned by a point in `_points`.
        unsafe { std::slice::from_raw_parts(self.vectors[node as usize], self.dim) }
    }

    /// The re-ranking distance of a node: the f32 query against its 16-bit
    /// codes.
    #[inline]
    fn exact_distance(&self, q: &[f32], node: u32) -> f32 {
        1.0 - code::cosine(q, self.vector(node), self.inv_norms[node as usize])
    }

    /// Asks the CPU to start loading a node's codes, which the beam search
    /// is about to score: all of them, since one row is only
    /// `dim` bytes (12 cache lines at 768-d).
    #[inline]
    fn prefetch(&self, node: u32) {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            let row = self.codes.row(node);
            let p = row.as_ptr() as *const i8;
            for line in (0..row.len()).step_by(64) {
                // SAFETY: prefetching is a hint and never faults.
                unsafe { _mm_prefetch(p.wrapping_add(line), _MM_HINT_T0) };
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = node;
    }

    /// The `k` nearest nodes to the normalised query `q` that `filter`
    /// keeps, best first, as `(id, cosine similarity)`, searching layer 0
    /// with a candidate list of `ef` (at least `k`). Like hnswlib's filtered
    /// search, nodes the filter rejects are still walked through but never
    /// returned, so a very selective filter can return fewer than `k`; the
    /// caller then widens `ef` or scans.
    pub(crate) fn search(
        &self,
        q: &[f32],
        k: usize,
        ef: usize,
        filter: Option<IdFilter<'_>>,
    ) -> Vec<(u64, f32)> {
        if k == 0 || self.ids.is_empty() {
            return Vec::new();
        }
        let ef = ef.max(k);
        let keep = |node: u32| filter.is_none_or(|f| f(self.ids[node as usize]));
        let query = self.codes.query(q);
        let distance = |node: u32| query.distance(&self.codes, node);

        // Greedy descent: on each upper layer, move to the best neighbour
        // until none is closer (a local minimum), then go down a layer.
        let mut cur = self.entry;
        let mut cur_dist = distance(cur);
        for layer in (1..=self.top_layer).rev() {
            loop {
                let mut moved = false;
                if let Some(lists) = self.upper.get(&cur) {
                    if let Some(list) = lists.get(layer - 1) {
                        for &nb in list {
                            let d = distance(nb);
                            if d < cur_dist {
                                cur_dist = d;
                                cur = nb;
                                moved = true;
                            }
                        }
                    }
                }
                if !moved {
                    break;
                }
            }
        }

        // Beam search on layer 0.
        let mut visited = vec![0u64; self.ids.len().div_ceil(64)];
        let mut mark = |node: u32| -> bool {
            let (w, b) = ((node / 64) as usize, node % 64);
            let seen = visited[w] & (1 << b) != 0;
            visited[w] |= 1 << b;
            !seen
        };
        mark(cur);
        let start = Cand {
            key: cur_dist,
            tie: cur,
        };
        let mut candidates = BinaryHeap::with_capacity(ef * 4);
        candidates.push(Reverse(start));
        // The best `ef` nodes the filter keeps, worst on top.
        let mut found: BinaryHeap<Cand> = BinaryHeap::with_capacity(ef + 1);
        if keep(cur) {
            found.push(start);
        }
        let mut fresh: Vec<u32> = Vec::with_capacity(64);
        while let Some(Reverse(c)) = candidates.pop() {
            if found.len() >= ef && found.peek().is_some_and(|w| c.key > w.key) {
                break;
            }
            let (a, b) = (
                self.offsets[c.tie as usize] as usize,
                self.offsets[c.tie as usize + 1] as usize,
            );
            fresh.clear();
            for &nb in &self.level0[a..b] {
                if mark(nb) {
                    fresh.push(nb);
                }
            }
            // Start loading every new neighbour's vector at once: the
            // loads overlap instead of waiting one after another.
            for &nb in &fresh {
                self.prefetch(nb);
            }
            for &nb in &fresh {
                let d = distance(nb);
                let worst = found.peek().map(|w| w.key);
                if found.len() < ef || worst.is_some_and(|w| d < w) {
                    let cand = Cand { key: d, tie: nb };
                    candidates.push(Reverse(cand));
                    if keep(nb) {
                        found.push(cand);
                        if found.len() > ef {
                            found.pop();
                        }
                    }
                }
            }
        }
        // The walk ranked by 8-bit codes; the answer is ranked by the f32
        // query against the 16-bit codes (the exact cosine to about 1e-5),
        // so the coarse codes can only cost recall at the margin of the
        // `ef` list, never reorder or misreport what is returned beyond that.
        let mut out: Vec<(u64, f32)> = found
            .into_iter()
            .map(|c| {
                let d = self.exact_distance(q, c.tie);
                (self.ids[c.tie as usize], 1.0 - d.max(0.0))
            })
            .collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        out.truncate(k);
        out
    }
}

/// Scalar quantisation of the graph's vectors to one byte per dimension:
/// `x ≈ lo[i] + scale[i]·code`, with `lo` and `scale` per dimension from the
/// vectors' own range. A 768-d vector is 768 bytes instead of 3,072 in f32
/// (1,536 in the graph's 16-bit codes), so a 50,000-point graph's codes
/// (38 MB) mostly stay in the last-level cache, and a walk that touches a
/// few thousand scattered vectors per query waits on memory a quarter as
/// long. Scores are asymmetric (the query stays f32), and the final
/// candidates are re-ranked against the graph's 16-bit codes.
struct Quantised {
    dim: usize,
    /// Row length in bytes: `dim` rounded up to 32 so that the kernel reads
    /// whole 32-byte blocks; the padding's codes are 0 and its query weight 0.
    stride: usize,
    lo: Vec<f32>,
    scale: Vec<f32>,
    codes: Vec<u8>,
}

/// A query prepared for [`Quantised`]: `q·x ≈ base + Σ weights[i]·code[i]`.
struct QuantQuery {
    base: f32,
    weights: Vec<f32>,
}

impl Quantised {
    /// The 8-bit codes of vectors given as 16-bit codes (`crate::vector::code`).
    fn new<'a>(vectors: impl Iterator<Item = &'a [i16]> + Clone, dim: usize) -> Quantised {
        let mut lo = vec![f32::INFINITY; dim];
        let mut hi = vec![f32::NEG_INFINITY; dim];
        for v in vectors.clone() {
            for ((l, h), x) in lo.iter_mut().zip(hi.iter_mut()).zip(code::decode(v)) {
                *l = l.min(x);
                *h = h.max(x);
            }
        }
        let scale: Vec<f32> = lo
            .iter()
            .zip(&hi)
            .map(|(&l, &h)| {
                let s = (h - l) / 255.0;
                // A constant dimension (or no vectors at all) needs no
                // resolution; any positive scale encodes it exactly as 0.
                if s.is_finite() && s > 0.0 {
                    s
                } else {
                    1.0
                }
            })
            .collect();
        for l in lo.iter_mut() {
            if !l.is_finite() {
                *l = 0.0;
            }
        }
        let stride = dim.div_ceil(32) * 32;
        let mut codes = Vec::new();
        for v in vectors {
            let start = codes.len();
            codes.extend(
                code::decode(v)
                    .zip(lo.iter().zip(&scale))
                    .map(|(x, (&l, &s))| ((x - l) / s).round().clamp(0.0, 255.0) as u8),
            );
            codes.resize(start + stride, 0);
        }
        Quantised {
            dim,
            stride,
            lo,
            scale,
            codes,
        }
    }

    #[inline]
    fn row(&self, node: u32) -> &[u8] {
        &self.codes[node as usize * self.stride..][..self.stride]
    }

    fn query(&self, q: &[f32]) -> QuantQuery {
        let mut weights = vec![0f32; self.stride];
        let mut base = 0f32;
        for i in 0..self.dim.min(q.len()) {
            base += q[i] * self.lo[i];
            weights[i] = q[i] * self.scale[i];
        }
        QuantQuery { base, weights }
    }
}

impl QuantQuery {
    /// `1 − q·x̂`, the quantised cosine distance of a node.
    #[inline]
    fn distance(&self, codes: &Quantised, node: u32) -> f32 {
        1.0 - (self.base + dot_bytes(&self.weights, codes.row(node)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(seed: u64, dim: usize) -> Vec<f32> {
        // A small LCG: deterministic vectors without a dependency.
        let mut s = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let v: Vec<f32> = (0..dim)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 33) as f32 / (1u64 << 31) as f32) - 0.5
            })
            .collect();
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.into_iter().map(|x| x / n).collect()
    }

    #[test]
    fn quantised_scores_track_the_exact_product() {
        // 70 dimensions: a padded row, and a remainder the kernel must skip.
        let dim = 70;
        let vs: Vec<Vec<f32>> = (0..50).map(|i| unit(i, dim)).collect();
        let codes: Vec<Vec<i16>> = vs.iter().map(|v| code::encode(v)).collect();
        let q = Quantised::new(codes.iter().map(|v| v.as_slice()), dim);
        assert_eq!(q.stride, 96);
        let query = unit(999, dim);
        let prepared = q.query(&query);
        for (i, v) in vs.iter().enumerate() {
            let exact = 1.0 - crate::vector::dot(&query, v);
            let approx = prepared.distance(&q, i as u32);
            // Half a step per dimension at most: ≤ Σ|q_i|·scale_i/2, plus
            // half a step of the 16-bit codes the 8-bit ones were made from.
            let bound: f32 = query
                .iter()
                .zip(&q.scale)
                .map(|(a, s)| a.abs() * (s + 1.0 / code::CODE_SCALE) / 2.0)
                .sum();
            assert!(
                (exact - approx).abs() <= bound + 1e-5,
                "vector {i}: exact {exact}, quantised {approx}, bound {bound}"
            );
        }
    }

    #[test]
    fn the_simd_kernel_equals_the_scalar_sum() {
        let w: Vec<f32> = (0..96).map(|i| (i as f32 * 0.37).sin()).collect();
        let c: Vec<u8> = (0..96).map(|i| (i * 37 % 256) as u8).collect();
        let scalar: f32 = w.iter().zip(&c).map(|(&w, &c)| w * c as f32).sum();
        let got = dot_bytes(&w, &c);
        assert!(
            (got - scalar).abs() < 1e-3 * scalar.abs().max(1.0),
            "{got} vs {scalar}"
        );
    }

    #[test]
    fn a_constant_dimension_is_encoded_exactly() {
        let vs = [vec![0.5f32, 0.1, -0.2], vec![0.5, 0.3, 0.4]];
        let codes: Vec<Vec<i16>> = vs.iter().map(|v| code::encode(v)).collect();
        let q = Quantised::new(codes.iter().map(|v| v.as_slice()), 3);
        let prepared = q.query(&[1.0, 0.0, 0.0]);
        let half = code::decode(&codes[0]).next().unwrap();
        for node in 0..2 {
            assert!((prepared.distance(&q, node) - (1.0 - half)).abs() < 1e-6);
        }
    }
}
