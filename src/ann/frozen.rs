//! A frozen, cache-friendly copy of an hnsw_rs graph, for searching it.
//!
//! hnsw_rs 0.3.5 searches its graph through `Arc<Point>` lists behind read
//! locks, keeps the visited points in a hash set, allocates per step, and
//! descends each upper layer by a *single* pass over the entry point's
//! neighbours (`search_filter`), so that it enters layer 0 wherever that one
//! hop happened to land. [`FrozenGraph`] copies the graph's topology once,
//! after a build or a load, into flat arrays: dense `u32` node numbers, the
//! layer-0 neighbour lists back to back (CSR), a small map for the few nodes
//! on upper layers, and one pointer per node to the normalised vector that
//! hnsw_rs already holds (the vectors are not copied, so searching costs no
//! second copy of the collection's vectors). Its search is the textbook HNSW
//! one (Malkov & Yashunin, Algorithm 5): a greedy descent to a local minimum
//! on every upper layer, then the `ef`-wide beam search on layer 0 with a
//! bitset of visited nodes and the next vectors prefetched while the current
//! one is scored. The persisted index stays hnsw_rs's; this copy lives only
//! in memory and is rebuilt whenever the graph changes.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

use hnsw_rs::prelude::{Hnsw, Point};

use super::{dot, CosineDistance, IdFilter};

/// A distance and a node, ordered by distance then node number, so that the
/// heaps are totally ordered and ties break the same way every time.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Cand {
    dist: f32,
    node: u32,
}

impl Eq for Cand {}
impl PartialOrd for Cand {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Cand {
    fn cmp(&self, other: &Self) -> Ordering {
        self.dist
            .total_cmp(&other.dist)
            .then(self.node.cmp(&other.node))
    }
}

/// The searchable copy of one hnsw_rs graph.
pub(crate) struct FrozenGraph {
    dim: usize,
    /// The caller's id of each node.
    ids: Vec<u64>,
    /// Where each node's normalised vector starts, inside the hnsw_rs point
    /// kept alive by `_points`.
    vectors: Vec<*const f32>,
    /// `level0[offsets[i]..offsets[i + 1]]` are node i's layer-0 neighbours.
    offsets: Vec<u32>,
    level0: Vec<u32>,
    /// For nodes above layer 0: their neighbours on layers 1, 2, … .
    upper: HashMap<u32, Vec<Vec<u32>>>,
    entry: u32,
    top_layer: usize,
    /// Owns the vectors that `vectors` points into.
    _points: Vec<Arc<Point<'static, f32>>>,
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
    pub(crate) fn freeze(hnsw: &Hnsw<'static, f32, CosineDistance>, dim: usize) -> Option<Self> {
        let points: Vec<Arc<Point<'static, f32>>> =
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
        let mut ids = Vec::with_capacity(points.len());
        let mut vectors = Vec::with_capacity(points.len());
        let mut offsets = Vec::with_capacity(points.len() + 1);
        let mut level0 = Vec::new();
        let mut upper = HashMap::new();
        offsets.push(0u32);
        for (i, p) in points.iter().enumerate() {
            let v = p.get_v();
            debug_assert_eq!(v.len(), dim);
            ids.push(p.get_origin_id() as u64);
            vectors.push(v.as_ptr());
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
    fn vector(&self, node: u32) -> &[f32] {
        // SAFETY: see the `Send`/`Sync` note: the pointer is to `dim` floats
        // owned by a point in `_points`.
        unsafe { std::slice::from_raw_parts(self.vectors[node as usize], self.dim) }
    }

    #[inline]
    fn distance(&self, q: &[f32], node: u32) -> f32 {
        1.0 - dot(q, self.vector(node))
    }

    /// Asks the CPU to start loading the first cache lines of a node's
    /// vector, which the beam search is about to score.
    #[inline]
    fn prefetch(&self, node: u32) {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            let p = self.vectors[node as usize] as *const i8;
            // Two 64-byte lines (32 floats); the hardware prefetcher follows
            // the rest of a sequential row once it sees the first lines read.
            for line in 0..2 {
                // SAFETY: prefetching is a hint and never faults, even past
                // the end of an allocation.
                unsafe { _mm_prefetch(p.wrapping_add(64 * line), _MM_HINT_T0) };
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

        // Greedy descent: on each upper layer, move to the best neighbour
        // until none is closer (a local minimum), then go down a layer.
        let mut cur = self.entry;
        let mut cur_dist = self.distance(q, cur);
        for layer in (1..=self.top_layer).rev() {
            loop {
                let mut moved = false;
                if let Some(lists) = self.upper.get(&cur) {
                    if let Some(list) = lists.get(layer - 1) {
                        for &nb in list {
                            let d = self.distance(q, nb);
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
            dist: cur_dist,
            node: cur,
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
            if found.len() >= ef && found.peek().is_some_and(|w| c.dist > w.dist) {
                break;
            }
            let (a, b) = (
                self.offsets[c.node as usize] as usize,
                self.offsets[c.node as usize + 1] as usize,
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
                let d = self.distance(q, nb);
                let worst = found.peek().map(|w| w.dist);
                if found.len() < ef || worst.is_some_and(|w| d < w) {
                    let cand = Cand { dist: d, node: nb };
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
        let mut out: Vec<(u64, f32)> = found
            .into_sorted_vec()
            .into_iter()
            .map(|c| (self.ids[c.node as usize], 1.0 - c.dist.max(0.0)))
            .collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        out.truncate(k);
        out
    }
}
