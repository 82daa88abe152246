//! Nearest neighbours per backbone, in four parts: the hnsw_rs graph
//! ([`AnnIndex`], `graph.rs`) that holds 16-bit codes of the L2-normalised
//! embeddings (`crate::vector::code`) under the `CodeCosine` distance;
//! the frozen, cache-friendly copy of it that searches run on
//! (`frozen.rs`); brute force ([`ExactIndex`], [`exact_search`];
//! `exact.rs`) for ground truth and the `--exact` mode; and the
//! persistence that keeps a saved graph honest (`persist.rs`: `index.json`,
//! renamed into place last, records each file's size and blake3, all
//! checked before hnsw_rs's loader, which exits the process on a truncated
//! file, sees them). Scores are the exact cosine to within `2·√d / 65534`;
//! a parallel build depends on thread timing, and [`AnnParams`] with
//! `parallel_insert: false` is deterministic. The vector math itself lives
//! in [`crate::vector`]. The parameters, the benchmark diary that chose
//! them, what was tried and rejected, and the persistence and determinism
//! rules in full are in `docs/PERFORMANCE.md` ("The ANN index: design and
//! the measurements behind it").

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

mod exact;
mod frozen;
mod graph;
mod meta;
mod persist;
#[cfg(test)]
mod tests;

/// Re-exported from [`crate::vector`], where they live, for the callers
/// that search an index: a query is normalised and scored the same way.
#[doc(no_inline)]
pub use crate::vector::{dot, normalised};
pub use exact::{exact_search, ExactIndex};
pub use graph::AnnIndex;
pub(crate) use graph::CodeCosine;
pub use meta::IndexMeta;
pub(crate) use meta::{content_digest, ids_hash};

/// A search's answer: `(id, cosine similarity)`, best first.
pub(crate) type Hits = Vec<(u64, f32)>;

/// The normalised copy of a query for a search of `k` hits among `dim`-long
/// vectors; `None` when the search can find nothing whatever the query
/// (`k == 0`, or nothing to search: `empty`), so it is not checked; or the
/// error that says what is wrong with it. Every search starts here.
fn unit_query(
    q: &[f32],
    dim: usize,
    k: usize,
    empty: bool,
) -> crate::error::Result<Option<Vec<f32>>> {
    if k == 0 || empty {
        return Ok(None);
    }
    normalised(q, dim)
        .map(Some)
        .map_err(|why| crate::error::Error::InvalidArgument(format!("query vector {why}")))
}

/// A filter on numeric ids: `true` keeps the id. `Sync` because the exact
/// search evaluates it on several threads.
pub(crate) type IdFilter<'a> = &'a (dyn Fn(u64) -> bool + Sync);

/// How the graph is built and searched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnnParams {
    /// hnsw `M`: links per point on the upper layers (twice as many on layer 0).
    pub max_connections: usize,
    /// Candidate list size while inserting; higher builds slower and better.
    pub ef_construction: usize,
    /// Candidate list size while searching (at least `k` is used).
    pub ef_search: usize,
    /// Build with hnsw_rs's `parallel_insert` (faster, not deterministic).
    pub parallel_insert: bool,
}

impl Default for AnnParams {
    /// `M = 24`, `ef_construction = 100`, `ef_search = 128`, parallel
    /// insert: recall@10 1.0 on 100k clustered 768-d vectors (0.986 at
    /// `ef_search = 32`); see the module documentation for the measurements.
    fn default() -> Self {
        AnnParams {
            max_connections: 24,
            ef_construction: 100,
            ef_search: 128,
            parallel_insert: true,
        }
    }
}

/// A score and a tie-breaker, ordered by the score (`f32::total_cmp`) and
/// then the tie-breaker, so that the heaps of a search are totally ordered
/// and ties break the same way every time: the frozen search's candidates
/// (a distance and a node number, nearer first) and the exact search's
/// results (a similarity and `Reverse(id)`, "better is greater": higher
/// similarity, then lower id).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ranked<T> {
    pub(crate) key: f32,
    pub(crate) tie: T,
}

impl<T: Ord> PartialEq for Ranked<T> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl<T: Ord> Eq for Ranked<T> {}
impl<T: Ord> PartialOrd for Ranked<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<T: Ord> Ord for Ranked<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key
            .total_cmp(&other.key)
            .then(self.tie.cmp(&other.tie))
    }
}
