//! Brute-force cosine search: [`ExactIndex`] (a contiguous matrix of
//! normalised rows, searched one query at a time or in blocks of queries
//! through a matrix product) and [`exact_search`] (over raw vectors, for one
//! query), the recall ground truth and the `--exact` mode; and [`TopK`], the
//! best `k` of a stream of scores, which the graph's filtered scan shares.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rayon::prelude::*;

use super::{unit_query, Hits, IdFilter, Ranked};
use crate::error::{Error, Result};
use crate::vector::{dot, normalise_in_place, normalised};

/// A similarity and an id, ordered "better is greater": higher similarity,
/// then lower id (so ties break the same way everywhere).
type Scored = Ranked<Reverse<u64>>;

/// The best `k` of a stream of scores.
pub(super) struct TopK {
    k: usize,
    heap: BinaryHeap<Reverse<Scored>>,
}

impl TopK {
    pub(super) fn new(k: usize) -> Self {
        TopK {
            k,
            heap: BinaryHeap::with_capacity(k + 1),
        }
    }

    #[inline]
    pub(super) fn push(&mut self, sim: f32, id: u64) {
        if self.k == 0 {
            return;
        }
        let s = Scored {
            key: sim,
            tie: Reverse(id),
        };
        if self.heap.len() < self.k {
            self.heap.push(Reverse(s));
        } else if let Some(Reverse(worst)) = self.heap.peek() {
            if s > *worst {
                self.heap.pop();
                self.heap.push(Reverse(s));
            }
        }
    }

    fn merge(mut self, other: TopK) -> TopK {
        for Reverse(s) in other.heap {
            self.push(s.key, s.tie.0);
        }
        self
    }

    pub(super) fn into_sorted(self) -> Vec<(u64, f32)> {
        let mut v: Vec<Scored> = self.heap.into_iter().map(|Reverse(s)| s).collect();
        v.sort_by(|a, b| b.cmp(a));
        v.into_iter().map(|s| (s.tie.0, s.key)).collect()
    }
}

/// Rows per rayon task in exact search.
const EXACT_CHUNK: usize = 2048;
/// Below this many multiply-adds a search stays on the calling thread.
const EXACT_PARALLEL_MIN: usize = 1 << 21;
/// Queries processed together in [`ExactIndex::search_batch`], so each row
/// is read from memory once per block instead of once per query.
const QUERY_BLOCK: usize = 64;
/// Rows per tile in [`ExactIndex::search_batch`] (≈ 400 KB of 768-d rows,
/// which stay in L2 while the block of queries is multiplied by them).
const ROW_TILE: usize = 128;

/// Brute-force cosine search over a contiguous matrix of normalised rows:
/// the recall ground truth and the `--exact` mode.
#[derive(Debug, Clone)]
pub struct ExactIndex {
    dim: usize,
    ids: Vec<u64>,
    rows: Vec<f32>,
}

impl ExactIndex {
    /// Normalised copies of `items` in one matrix. Fails like
    /// [`AnnIndex::build`](super::AnnIndex::build) on bad vectors.
    pub fn new(dim: usize, items: &[(u64, &[f32])]) -> Result<ExactIndex> {
        let mut rows = vec![0f32; items.len() * dim];
        if dim > 0 {
            rows.par_chunks_mut(dim)
                .zip(items.par_iter())
                .try_for_each(|(row, (id, v))| {
                    if v.len() != dim {
                        return Err(Error::InvalidArgument(format!(
                            "vector of id {id} has {} values, the index holds {dim}",
                            v.len()
                        )));
                    }
                    row.copy_from_slice(v);
                    normalise_in_place(row, dim)
                        .map_err(|why| Error::InvalidArgument(format!("vector of id {id} {why}")))
                })?;
        }
        Ok(ExactIndex {
            dim,
            ids: items.iter().map(|(id, _)| *id).collect(),
            rows,
        })
    }

    /// True when the index holds no vector.
    pub(crate) fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The length of the vectors.
    pub(crate) fn dim(&self) -> usize {
        self.dim
    }

    /// The `k` most similar rows to `q`, best first, as `(id, similarity)`.
    pub fn search(&self, q: &[f32], k: usize, filter: Option<IdFilter<'_>>) -> Result<Hits> {
        let Some(q) = unit_query(q, self.dim, k, self.is_empty())? else {
            return Ok(Vec::new());
        };
        let scan = |start: usize, rows: &[f32]| {
            let mut top = TopK::new(k);
            for (i, row) in rows.chunks_exact(self.dim).enumerate() {
                let id = self.ids[start + i];
                if filter.is_none_or(|f| f(id)) {
                    top.push(dot(&q, row), id);
                }
            }
            top
        };
        let top = if self.rows.len() < EXACT_PARALLEL_MIN {
            scan(0, &self.rows)
        } else {
            self.rows
                .par_chunks(EXACT_CHUNK * self.dim)
                .enumerate()
                .map(|(c, rows)| scan(c * EXACT_CHUNK, rows))
                .reduce(|| TopK::new(k), TopK::merge)
        };
        Ok(top.into_sorted())
    }

    /// [`ExactIndex::search`] for many queries at once, blocked so that each
    /// row is read once per block of queries; parallel over query blocks.
    pub fn search_batch(&self, queries: &[&[f32]], k: usize) -> Result<Vec<Vec<(u64, f32)>>> {
        let qs: Vec<Vec<f32>> = queries
            .iter()
            .enumerate()
            .map(|(i, q)| {
                normalised(q, self.dim)
                    .map_err(|why| Error::InvalidArgument(format!("query {i} {why}")))
            })
            .collect::<Result<_>>()?;
        if k == 0 || self.is_empty() {
            return Ok(vec![Vec::new(); qs.len()]);
        }
        let dim = self.dim;
        // Each block of queries against each tile of rows is one matrix
        // product (the same GEMM kernels as the model's), then a top-k pass
        // over its scores: the all-pairs work runs at the speed of the
        // multiply-adds, not of one dot product at a time.
        let blocks: Vec<Vec<Vec<(u64, f32)>>> = qs
            .par_chunks(QUERY_BLOCK)
            .map(|block| {
                let packed: Vec<f32> = block.concat();
                let mut tops: Vec<TopK> = block.iter().map(|_| TopK::new(k)).collect();
                let mut scores = vec![0f32; block.len() * ROW_TILE];
                for (t, tile) in self.rows.chunks(ROW_TILE * dim).enumerate() {
                    let base = t * ROW_TILE;
                    let rows = tile.len() / dim;
                    // SAFETY: scores is block.len()×ROW_TILE (rows ≤ ROW_TILE
                    // columns used, row stride ROW_TILE), packed is
                    // block.len()×dim and tile is rows×dim, all row-major
                    // and addressed with those strides.
                    unsafe {
                        gemm::gemm(
                            block.len(),
                            rows,
                            dim,
                            scores.as_mut_ptr(),
                            1,
                            ROW_TILE as isize,
                            false,
                            packed.as_ptr(),
                            1,
                            dim as isize,
                            tile.as_ptr(),
                            dim as isize,
                            1,
                            0.0,
                            1.0,
                            false,
                            false,
                            false,
                            gemm::Parallelism::None,
                        );
                    }
                    for (qi, top) in tops.iter_mut().enumerate() {
                        let row = &scores[qi * ROW_TILE..][..rows];
                        for (i, &sim) in row.iter().enumerate() {
                            top.push(sim, self.ids[base + i]);
                        }
                    }
                }
                tops.into_iter().map(TopK::into_sorted).collect()
            })
            .collect();
        Ok(blocks.into_iter().flatten().collect())
    }
}

/// Brute-force search over raw `items` (normalised on the fly, nothing
/// copied): for one-off queries. Build an [`ExactIndex`] to search repeatedly.
pub fn exact_search(
    items: &[(u64, &[f32])],
    q: &[f32],
    k: usize,
    filter: Option<IdFilter<'_>>,
) -> Result<Hits> {
    let dim = q.len();
    let Some(q) = unit_query(q, dim, k, items.is_empty())? else {
        return Ok(Vec::new());
    };
    let scan = |chunk: &[(u64, &[f32])]| -> Result<TopK> {
        let mut top = TopK::new(k);
        for (id, v) in chunk {
            if filter.is_some_and(|f| !f(*id)) {
                continue;
            }
            if v.len() != dim {
                return Err(Error::InvalidArgument(format!(
                    "vector of id {id} has {} values, the query {dim}",
                    v.len()
                )));
            }
            let norm2 = dot(v, v);
            // NaN fails `is_finite`, so this also rejects NaN norms.
            if norm2 <= 0.0 || !norm2.is_finite() {
                return Err(Error::InvalidArgument(format!(
                    "vector of id {id} has zero norm or a non-finite value"
                )));
            }
            top.push(dot(&q, v) / norm2.sqrt(), *id);
        }
        Ok(top)
    };
    let top = if items.len() * dim < EXACT_PARALLEL_MIN {
        scan(items)?
    } else {
        items
            .par_chunks(EXACT_CHUNK)
            .map(scan)
            .try_reduce(|| TopK::new(k), |a, b| Ok(a.merge(b)))?
    };
    Ok(top.into_sorted())
}
