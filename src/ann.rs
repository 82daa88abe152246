//! Nearest neighbours per backbone: an hnsw_rs graph ([`AnnIndex`]) that
//! holds 16-bit codes of the L2-normalised embeddings ([`CodeCosine`]: an
//! integer SIMD dot product) and is searched through a frozen,
//! cache-friendly copy of itself; brute force ([`ExactIndex`],
//! [`exact_search`]) for ground truth and the `--exact` mode; and the
//! persistence that keeps a saved graph honest (`index.json`, renamed into
//! place last, records each file's size and blake3, all checked before
//! hnsw_rs's loader, which exits the process on a truncated file, sees
//! them). Scores are the exact cosine to within `2·√d / 65534`; a parallel
//! build depends on thread timing, and [`AnnParams`] with
//! `parallel_insert: false` is deterministic. The parameters, the
//! benchmark diary that chose them, what was tried and rejected, and the
//! persistence and determinism rules in full are in `docs/PERFORMANCE.md`
//! ("The ANN index: design and the measurements behind it").

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashSet};
use std::fs;
use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use hnsw_rs::prelude::{AnnT, Hnsw, HnswIo};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

mod code;
mod frozen;

pub use code::CodeCosine;
use frozen::FrozenGraph;

/// hnsw_rs's `NB_LAYER_MAX`: the only `max_layer` its dump accepts.
pub const MAX_LAYER: usize = 16;

/// Version of the `index.json` written by [`AnnIndex::save`]. 2: the graph
/// holds 16-bit codes of the vectors ([`code`]) instead of f32 vectors; an
/// index of version 1 is rebuilt.
pub const INDEX_FORMAT_VERSION: u32 = 2;

const META_FILE: &str = "index.json";
const STAGING_PREFIX: &str = ".staging-";
/// Vectors are normalised and inserted in chunks of this many, so a build
/// never holds a second copy of the whole collection.
const INSERT_CHUNK: usize = 8192;

/// A filter on numeric ids: `true` keeps the id. `Sync` because the exact
/// search evaluates it on several threads.
pub type IdFilter<'a> = &'a (dyn Fn(u64) -> bool + Sync);

// ----- the distance -------------------------------------------------------------------

/// `items` reordered so that similar vectors are inserted one after another:
/// each is assigned to the nearest of up to 128 evenly sampled items, and
/// the groups follow each other (stable within a group, so a serial build
/// stays deterministic). Half of an hnsw_rs build is its distance function
/// waiting on memory for vectors scattered over the whole collection;
/// inserting a neighbourhood at a time keeps the vectors each insertion
/// visits in cache. On 50,000 clustered 768-d vectors it cut the build from
/// 32 s to 19–29 s, at a small cost in recall per `ef` (see the module
/// documentation).
fn locality_order<'a>(items: &[(u64, &'a [f32])], dim: usize) -> Vec<(u64, &'a [f32])> {
    // A small collection fits in cache whatever the order.
    if items.len() < 2048 {
        return items.to_vec();
    }
    let groups = (items.len() / 256).clamp(2, 128);
    let step = items.len() / groups;
    let seeds: Vec<Vec<f32>> = (0..groups)
        .filter_map(|g| normalised(items[g * step].1, dim).ok())
        .collect();
    if seeds.len() < 2 {
        return items.to_vec();
    }
    let keys: Vec<usize> = items
        .par_iter()
        .map(|(_, v)| {
            let mut best = (f32::NEG_INFINITY, 0);
            for (i, s) in seeds.iter().enumerate() {
                let d = dot(v, s);
                if d > best.0 {
                    best = (d, i);
                }
            }
            best.1
        })
        .collect();
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by_key(|&i| keys[i]);
    order.into_iter().map(|i| items[i]).collect()
}

/// Dot product of the common prefix of `a` and `b`, with AVX-512 or
/// AVX2+FMA when the CPU has them (checked at run time; the check is a
/// cached atomic load). AVX-512 halves the instructions of a 768-d product
/// and is what hnswlib uses on such CPUs; it made graph search about
/// 1.2× faster here (see `benches/ann.rs`).
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports the feature the function is compiled for.
            return unsafe { dot_avx512(a, b) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports the features the function is compiled for.
            return unsafe { dot_avx2(a, b) };
        }
    }
    dot_portable(a, b)
}

fn dot_portable(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    // Eight independent accumulators: vectorisable, and fast even unoptimised.
    let mut acc = [0f32; 8];
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for j in 0..8 {
            acc[j] += x[j] * y[j];
        }
    }
    let mut sum = (acc[0] + acc[4]) + (acc[1] + acc[5]) + (acc[2] + acc[6]) + (acc[3] + acc[7]);
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        sum += x * y;
    }
    sum
}

/// Eight f32 lanes at any alignment: reading one through a raw pointer is an
/// unaligned load with no debug-mode checks (see [`dot_avx2`]).
#[cfg(target_arch = "x86_64")]
#[repr(C, packed)]
#[derive(Clone, Copy)]
struct Lanes(std::arch::x86_64::__m256);

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    // Our crate is built at opt-level 1 with debug assertions in tests, where
    // `_mm256_loadu_ps` and `ptr::add` carry precondition checks: calls that
    // force the accumulators onto the stack at every step and made this loop
    // several times slower. Packed loads and `wrapping_add` have none.
    // SAFETY (all loads): i + 8 ≤ n on every load, n ≤ both lengths.
    let load = |p: *const f32, i: usize| (p.wrapping_add(i) as *const Lanes).read().0;
    let mut acc0 = _mm256_setzero_ps();
    let mut acc1 = _mm256_setzero_ps();
    let mut acc2 = _mm256_setzero_ps();
    let mut acc3 = _mm256_setzero_ps();
    let mut i = 0;
    while i + 32 <= n {
        acc0 = _mm256_fmadd_ps(load(pa, i), load(pb, i), acc0);
        acc1 = _mm256_fmadd_ps(load(pa, i + 8), load(pb, i + 8), acc1);
        acc2 = _mm256_fmadd_ps(load(pa, i + 16), load(pb, i + 16), acc2);
        acc3 = _mm256_fmadd_ps(load(pa, i + 24), load(pb, i + 24), acc3);
        i += 32;
    }
    while i + 8 <= n {
        acc0 = _mm256_fmadd_ps(load(pa, i), load(pb, i), acc0);
        i += 8;
    }
    let acc = _mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3));
    let hi = _mm256_extractf128_ps(acc, 1);
    let lo = _mm256_castps256_ps128(acc);
    let s = _mm_add_ps(hi, lo);
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    let mut sum = _mm_cvtss_f32(s);
    while i < n {
        sum += a[i] * b[i];
        i += 1;
    }
    sum
}

/// Sixteen f32 lanes at any alignment (see [`Lanes`]).
#[cfg(target_arch = "x86_64")]
#[repr(C, packed)]
#[derive(Clone, Copy)]
struct Lanes16(std::arch::x86_64::__m512);

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn dot_avx512(a: &[f32], b: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    // Packed loads for the reason given in `dot_avx2`.
    // SAFETY (all loads): i + 16 ≤ n on every load, n ≤ both lengths.
    let load = |p: *const f32, i: usize| (p.wrapping_add(i) as *const Lanes16).read().0;
    let mut acc0 = _mm512_setzero_ps();
    let mut acc1 = _mm512_setzero_ps();
    let mut acc2 = _mm512_setzero_ps();
    let mut acc3 = _mm512_setzero_ps();
    let mut i = 0;
    while i + 64 <= n {
        acc0 = _mm512_fmadd_ps(load(pa, i), load(pb, i), acc0);
        acc1 = _mm512_fmadd_ps(load(pa, i + 16), load(pb, i + 16), acc1);
        acc2 = _mm512_fmadd_ps(load(pa, i + 32), load(pb, i + 32), acc2);
        acc3 = _mm512_fmadd_ps(load(pa, i + 48), load(pb, i + 48), acc3);
        i += 64;
    }
    while i + 16 <= n {
        acc0 = _mm512_fmadd_ps(load(pa, i), load(pb, i), acc0);
        i += 16;
    }
    let acc = _mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3));
    let mut sum = _mm512_reduce_add_ps(acc);
    while i < n {
        sum += a[i] * b[i];
        i += 1;
    }
    sum
}

/// An L2-normalised copy of `v`, or why it cannot be one (wrong length,
/// non-finite value, zero norm). The norm is accumulated in f64 so that tiny
/// but non-zero vectors still normalise.
pub fn normalised(v: &[f32], dim: usize) -> std::result::Result<Vec<f32>, String> {
    let mut out = v.to_vec();
    normalise_in_place(&mut out, dim)?;
    Ok(out)
}

fn normalise_in_place(v: &mut [f32], dim: usize) -> std::result::Result<(), String> {
    if v.len() != dim {
        return Err(format!("has {} values, the index holds {dim}", v.len()));
    }
    crate::store::check_vector(v)?;
    let norm = v
        .iter()
        .map(|&x| (x as f64) * (x as f64))
        .sum::<f64>()
        .sqrt();
    let inv = 1.0 / norm;
    for x in v.iter_mut() {
        *x = ((*x as f64) * inv) as f32;
    }
    Ok(())
}

// ----- parameters and metadata -------------------------------------------------------

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

/// What a saved index must match to be reused: the caller's description of
/// the vectors it was built from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexMeta {
    /// The model fingerprint (JSON) the vectors were made with.
    pub fingerprint_json: String,
    /// Number of points.
    pub count: usize,
    /// [`ids_hash`] of the point ids.
    pub ids_hash: String,
    /// [`content_digest`] of what the points are: each id with its work's
    /// content hash and its raw vector, so that an index copied from another
    /// store with the same weights and the same ids is not taken for this
    /// store's. Empty when the caller does not bind the index to contents
    /// (then it is not compared); an index saved before this field existed
    /// reads as empty and is rebuilt by callers that expect one.
    #[serde(default)]
    pub content: String,
}

impl IndexMeta {
    /// The metadata of an index over `ids` built from vectors with this fingerprint.
    pub fn new(fingerprint_json: impl Into<String>, ids: impl IntoIterator<Item = u64>) -> Self {
        let mut ids: Vec<u64> = ids.into_iter().collect();
        ids.sort_unstable();
        ids.dedup();
        IndexMeta {
            fingerprint_json: fingerprint_json.into(),
            count: ids.len(),
            ids_hash: hash_sorted_ids(&ids),
            content: String::new(),
        }
    }

    /// The same metadata bound to a [`content_digest`] of the points.
    pub fn with_content(mut self, content: impl Into<String>) -> Self {
        self.content = content.into();
        self
    }

    /// Why `self` (found on disk) is not `expected`, or `None` when equal.
    fn difference(&self, expected: &IndexMeta) -> Option<String> {
        if self.fingerprint_json != expected.fingerprint_json {
            Some("it was built from embeddings with another model fingerprint".into())
        } else if self.count != expected.count {
            Some(format!(
                "it holds {} vectors, the store {}",
                self.count, expected.count
            ))
        } else if self.ids_hash != expected.ids_hash {
            Some("it holds other artworks than the store".into())
        } else if self.content != expected.content {
            Some(if self.content.is_empty() {
                "it was saved without a digest of the works it indexes".into()
            } else {
                "it was built from other images or vectors than this store's \
                 (copied from another store?)"
                    .into()
            })
        } else {
            None
        }
    }
}

/// blake3 (hex) of the ids sorted and deduplicated, as u64 little-endian.
pub fn ids_hash(ids: impl IntoIterator<Item = u64>) -> String {
    let mut ids: Vec<u64> = ids.into_iter().collect();
    ids.sort_unstable();
    ids.dedup();
    hash_sorted_ids(&ids)
}

/// blake3 (hex) of the points of an index, sorted by id: each id, the
/// content hash of its work and its raw vector (little-endian f32), each
/// length-prefixed. Binds saved index files to the store whose vectors
/// they were built from ([`IndexMeta::content`]).
pub fn content_digest<'a>(items: impl IntoIterator<Item = (u64, &'a str, &'a [f32])>) -> String {
    let mut items: Vec<(u64, &str, &[f32])> = items.into_iter().collect();
    items.sort_unstable_by_key(|(id, _, _)| *id);
    let mut h = blake3::Hasher::new();
    let mut buf = Vec::new();
    for (id, hash, v) in items {
        buf.clear();
        buf.extend_from_slice(&id.to_le_bytes());
        buf.extend_from_slice(&(hash.len() as u64).to_le_bytes());
        buf.extend_from_slice(hash.as_bytes());
        buf.extend_from_slice(&(v.len() as u64).to_le_bytes());
        for x in v {
            buf.extend_from_slice(&x.to_le_bytes());
        }
        h.update(&buf);
    }
    h.finalize().to_hex().to_string()
}

fn hash_sorted_ids(ids: &[u64]) -> String {
    let mut h = blake3::Hasher::new();
    for id in ids {
        h.update(&id.to_le_bytes());
    }
    h.finalize().to_hex().to_string()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct MetaFile {
    format_version: u32,
    index: IndexMeta,
    dim: usize,
    params: AnnParams,
    distance: String,
    /// hnsw_rs dumps native-endian integers and `usize`s.
    little_endian: bool,
    usize_bytes: usize,
    /// `None` for an empty index (hnsw_rs cannot dump one).
    basename: Option<String>,
    files: Vec<FileSum>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct FileSum {
    name: String,
    size: u64,
    blake3: String,
}

// ----- the graph -----------------------------------------------------------------------

/// An hnsw_rs graph over L2-normalised vectors, keyed by the store's numeric
/// artwork ids.
pub struct AnnIndex {
    /// Over the vectors' 16-bit codes ([`code`]).
    hnsw: Hnsw<'static, i16, CodeCosine>,
    dim: usize,
    params: AnnParams,
    ids: HashSet<u64>,
    /// The searchable copy of the graph ([`frozen`]), made on the first
    /// search and dropped by every insert.
    /// Boxed: the copy is large and an index is moved around by value.
    frozen: std::sync::OnceLock<Option<Box<FrozenGraph>>>,
}

impl std::fmt::Debug for AnnIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnnIndex")
            .field("dim", &self.dim)
            .field("len", &self.ids.len())
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl AnnIndex {
    /// An empty index for vectors of `dim` values; `capacity` is a hint.
    pub fn new(dim: usize, capacity: usize, params: AnnParams) -> Result<AnnIndex> {
        if dim == 0 {
            return Err(Error::InvalidArgument(
                "an index needs vectors of at least one value".into(),
            ));
        }
        if params.max_connections == 0 || params.max_connections > 256 {
            // hnsw_rs prints and calls process::exit above 256.
            return Err(Error::InvalidArgument(format!(
                "hnsw M must be between 1 and 256, not {}",
                params.max_connections
            )));
        }
        let hnsw = Hnsw::new(
            params.max_connections,
            capacity.max(1),
            MAX_LAYER,
            params.ef_construction.max(1),
            CodeCosine,
        );
        Ok(AnnIndex {
            hnsw,
            dim,
            params,
            ids: HashSet::with_capacity(capacity),
            frozen: std::sync::OnceLock::new(),
        })
    }

    /// Builds an index over `items` with the default parameters.
    pub fn build(dim: usize, items: &[(u64, &[f32])]) -> Result<AnnIndex> {
        Self::build_with(dim, items, AnnParams::default())
    }

    /// Builds an index over `items` (`(id, raw vector)`; normalised copies
    /// are indexed). Fails on a duplicate id, a vector of another length, a
    /// non-finite value or a zero vector, naming the id.
    pub fn build_with(dim: usize, items: &[(u64, &[f32])], params: AnnParams) -> Result<AnnIndex> {
        let mut index = AnnIndex::new(dim, items.len(), params)?;
        let ordered = locality_order(items, dim);
        for chunk in ordered.chunks(INSERT_CHUNK) {
            index.insert_many(chunk)?;
        }
        Ok(index)
    }

    /// Adds one vector. Ids cannot be updated or reused (hnsw_rs cannot
    /// delete): a known id is an error; filter tombstoned ids at search time
    /// and rebuild when there are many.
    pub fn insert(&mut self, id: u64, v: &[f32]) -> Result<()> {
        self.insert_many(&[(id, v)])
    }

    /// Adds several vectors, in parallel when the parameters say so. All are
    /// checked before any is inserted.
    pub fn insert_many(&mut self, items: &[(u64, &[f32])]) -> Result<()> {
        let mut seen = HashSet::with_capacity(items.len());
        for (id, _) in items {
            if self.ids.contains(id) || !seen.insert(*id) {
                return Err(Error::InvalidArgument(format!(
                    "id {id} is already in the index"
                )));
            }
            usize::try_from(*id)
                .map_err(|_| Error::InvalidArgument(format!("id {id} does not fit a usize")))?;
        }
        let dim = self.dim;
        let normalised: Vec<(usize, Vec<i16>)> = items
            .par_iter()
            .map(|(id, v)| {
                normalised(v, dim)
                    .map(|n| (*id as usize, code::encode(&n)))
                    .map_err(|why| Error::InvalidArgument(format!("vector of id {id} {why}")))
            })
            .collect::<Result<_>>()?;
        let refs: Vec<(&[i16], usize)> = normalised
            .iter()
            .map(|(id, v)| (v.as_slice(), *id))
            .collect();
        if self.params.parallel_insert && refs.len() > 1 {
            self.hnsw.parallel_insert_slice(&refs);
        } else {
            for r in &refs {
                self.hnsw.insert_slice(*r);
            }
        }
        self.ids.extend(items.iter().map(|(id, _)| *id));
        self.frozen = std::sync::OnceLock::new();
        Ok(())
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Length of the vectors.
    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn params(&self) -> AnnParams {
        self.params
    }

    /// Sets the search candidate list size (recall against speed).
    pub fn set_ef_search(&mut self, ef: usize) {
        self.params.ef_search = ef.max(1);
    }

    /// True when `id` is in the index.
    pub fn contains(&self, id: u64) -> bool {
        self.ids.contains(&id)
    }

    /// The ids in the index, sorted.
    pub fn ids(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = self.ids.iter().copied().collect();
        ids.sort_unstable();
        ids
    }

    /// The [`IndexMeta`] of this index for a fingerprint.
    pub fn meta(&self, fingerprint_json: impl Into<String>) -> IndexMeta {
        IndexMeta::new(fingerprint_json, self.ids.iter().copied())
    }

    /// The `k` nearest neighbours of `q` by cosine similarity, best first, as
    /// `(id, similarity)`, among the ids `filter` keeps.
    ///
    /// The search runs on the frozen copy of the graph ([`frozen`]; made on
    /// the first search after a build, load or insert). A filtered walk can
    /// return fewer than `k` when the filter rejects much; the search then
    /// retries with a wider candidate list and finally scans every point, so
    /// a filtered search returns `min(k, points kept)` results.
    pub fn search(
        &self,
        q: &[f32],
        k: usize,
        filter: Option<IdFilter<'_>>,
    ) -> Result<Vec<(u64, f32)>> {
        if k == 0 || self.is_empty() {
            return Ok(Vec::new());
        }
        let q = normalised(q, self.dim)
            .map_err(|why| Error::InvalidArgument(format!("query vector {why}")))?;
        let Some(graph) = self.frozen() else {
            // Only an index whose copy could not be made (it never happens
            // for a non-empty one) gets here: hnsw_rs's own search answers.
            return self.search_hnsw_rs_filtered(&q, k, filter);
        };
        let mut ef = self.params.ef_search.max(k);
        let Some(filter) = filter else {
            return Ok(graph.search(&q, k, ef, None));
        };
        let wanted = k.min(self.len());
        for _ in 0..3 {
            let found = graph.search(&q, k, ef, Some(filter));
            if found.len() >= wanted {
                return Ok(found);
            }
            ef *= 4;
        }
        // The filter keeps few points: scan them all.
        let mut top = TopK::new(k);
        for p in self.hnsw.get_point_indexation() {
            let id = p.get_origin_id() as u64;
            if filter(id) {
                let c = p.get_v();
                top.push(code::cosine(&q, c, code::inverse_norm(c)), id);
            }
        }
        Ok(top.into_sorted())
    }

    /// The same search through hnsw_rs's own `search` (no filter): what
    /// [`AnnIndex::search`] did before the frozen copy, kept for the
    /// benchmark and the tests that compare the two.
    pub fn search_hnsw_rs(&self, q: &[f32], k: usize) -> Result<Vec<(u64, f32)>> {
        if k == 0 || self.is_empty() {
            return Ok(Vec::new());
        }
        let q = normalised(q, self.dim)
            .map_err(|why| Error::InvalidArgument(format!("query vector {why}")))?;
        self.search_hnsw_rs_filtered(&q, k, None)
    }

    /// hnsw_rs's search of a normalised query, with the filter's retries.
    fn search_hnsw_rs_filtered(
        &self,
        q: &[f32],
        k: usize,
        filter: Option<IdFilter<'_>>,
    ) -> Result<Vec<(u64, f32)>> {
        let ef = self.params.ef_search.max(k);
        let codes = code::encode(q);
        let Some(filter) = filter else {
            return Ok(self.rescored(q, self.hnsw.search(&codes, k, ef)));
        };
        let hnsw_filter = |id: &usize| filter(*id as u64);
        let found = self
            .hnsw
            .search_filter(&codes, k, ef * 16, Some(&hnsw_filter));
        if found.len() >= k.min(self.len()) {
            return Ok(self.rescored(q, found));
        }
        let mut top = TopK::new(k);
        for p in self.hnsw.get_point_indexation() {
            let id = p.get_origin_id() as u64;
            if filter(id) {
                let c = p.get_v();
                top.push(code::cosine(q, c, code::inverse_norm(c)), id);
            }
        }
        Ok(top.into_sorted())
    }

    /// hnsw_rs's neighbours of a query, scored like the frozen search scores
    /// them (the f32 query against each point's codes; hnsw_rs's own
    /// distances come from the query's codes) and sorted best first.
    fn rescored(&self, q: &[f32], found: Vec<hnsw_rs::prelude::Neighbour>) -> Vec<(u64, f32)> {
        let points = self.hnsw.get_point_indexation();
        let mut out: Vec<(u64, f32)> = found
            .into_iter()
            .map(|n| {
                let score = points
                    .get_point_data(&n.p_id)
                    .map(|c| code::cosine(q, &c, code::inverse_norm(&c)))
                    .unwrap_or(1.0 - n.distance);
                (n.d_id as u64, score)
            })
            .collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        out
    }

    /// Makes the frozen copy of the graph now rather than on the first
    /// search (a server does this before taking requests); returns whether
    /// there is one (an empty index has none).
    pub fn freeze(&self) -> bool {
        self.frozen().is_some()
    }

    fn frozen(&self) -> Option<&FrozenGraph> {
        self.frozen
            .get_or_init(|| FrozenGraph::freeze(&self.hnsw, self.dim).map(Box::new))
            .as_deref()
            .filter(|g| g.len() == self.ids.len())
    }

    // ----- persistence -----------------------------------------------------------

    /// Saves the index into `dir` (created if needed; the folder belongs to
    /// this index), atomically: see the module documentation. `meta` must
    /// describe this index (`count` and `ids_hash`), or a later `load` could
    /// never succeed.
    pub fn save(&self, dir: &Path, meta: &IndexMeta) -> Result<()> {
        let own = IndexMeta::new(meta.fingerprint_json.clone(), self.ids.iter().copied())
            .with_content(meta.content.clone());
        if own != *meta {
            return Err(Error::InvalidArgument(format!(
                "index metadata does not describe this index: {}",
                own.difference(meta).unwrap_or_default()
            )));
        }
        let index_err = |reason: String| Error::Index {
            path: dir.to_path_buf(),
            reason,
        };
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let stamp = unique_stamp();
        let staging = dir.join(format!("{STAGING_PREFIX}{stamp}"));
        fs::create_dir(&staging).map_err(|e| Error::io(&staging, e))?;
        let result = self.save_staged(dir, &staging, &stamp, meta, &index_err);
        let _ = fs::remove_dir_all(&staging);
        let meta_file = result?;
        remove_unreferenced(dir, &meta_file);
        Ok(())
    }

    fn save_staged(
        &self,
        dir: &Path,
        staging: &Path,
        stamp: &str,
        meta: &IndexMeta,
        index_err: &dyn Fn(String) -> Error,
    ) -> Result<MetaFile> {
        let mut basename = None;
        let mut files = Vec::new();
        if !self.is_empty() {
            let dumped = catch_unwind(AssertUnwindSafe(|| self.hnsw.file_dump(staging, "index")))
                .map_err(|p| {
                    index_err(format!(
                        "hnsw_rs panicked while dumping: {}",
                        panic_message(&p)
                    ))
                })?
                .map_err(|e| index_err(format!("hnsw_rs could not dump the graph: {e:#}")))?;
            let base = format!("index-{stamp}");
            for ext in ["hnsw.graph", "hnsw.data"] {
                let from = staging.join(format!("{dumped}.{ext}"));
                let name = format!("{base}.{ext}");
                sync_file(&from)?;
                let (size, blake3) = hash_file(&from)?;
                let to = dir.join(&name);
                fs::rename(&from, &to).map_err(|e| Error::io(&to, e))?;
                files.push(FileSum { name, size, blake3 });
            }
            basename = Some(base);
        }
        let meta_file = MetaFile {
            format_version: INDEX_FORMAT_VERSION,
            index: meta.clone(),
            dim: self.dim,
            params: self.params,
            distance: distance_name(),
            little_endian: cfg!(target_endian = "little"),
            usize_bytes: std::mem::size_of::<usize>(),
            basename,
            files,
        };
        let json = serde_json::to_vec_pretty(&meta_file).map_err(|e| index_err(e.to_string()))?;
        let tmp = staging.join(META_FILE);
        write_synced(&tmp, &json)?;
        let target = dir.join(META_FILE);
        fs::rename(&tmp, &target).map_err(|e| Error::io(&target, e))?;
        sync_dir(dir);
        Ok(meta_file)
    }

    /// Loads the index saved in `dir` when it matches `expected`; `Ok(None)`
    /// when there is none or it is stale or damaged (the caller rebuilds).
    pub fn load(dir: &Path, expected: &IndexMeta) -> Result<Option<AnnIndex>> {
        Ok(Self::load_or_reason(dir, expected)?.ok())
    }

    /// Like [`AnnIndex::load`], saying why a saved index cannot be used (for
    /// the "rebuilding the index because ..." message). `Err` only for I/O
    /// errors other than a missing index.
    pub fn load_or_reason(
        dir: &Path,
        expected: &IndexMeta,
    ) -> Result<std::result::Result<AnnIndex, String>> {
        Self::load_verified(dir, &|found: &IndexMeta| found.difference(expected))
    }

    /// Loads the index saved in `dir` when it is intact and was built from
    /// embeddings with this fingerprint, whatever ids it holds: for extending
    /// it with [`AnnIndex::insert_many`] instead of rebuilding (compare
    /// [`AnnIndex::ids`] with the store's first; points cannot be removed).
    pub fn load_for_update(
        dir: &Path,
        fingerprint_json: &str,
    ) -> Result<std::result::Result<AnnIndex, String>> {
        Ok(Self::load_for_update_with_meta(dir, fingerprint_json)?.map(|(index, _)| index))
    }

    /// [`AnnIndex::load_for_update`], with the [`IndexMeta`] it was saved
    /// with, so that the caller can check its [`IndexMeta::content`] against
    /// the points it holds before extending it.
    pub fn load_for_update_with_meta(
        dir: &Path,
        fingerprint_json: &str,
    ) -> Result<std::result::Result<(AnnIndex, IndexMeta), String>> {
        Self::load_verified_meta(dir, &|found: &IndexMeta| {
            (found.fingerprint_json != fingerprint_json)
                .then(|| "it was built from embeddings with another model fingerprint".to_string())
        })
    }

    fn load_verified(
        dir: &Path,
        accept: &dyn Fn(&IndexMeta) -> Option<String>,
    ) -> Result<std::result::Result<AnnIndex, String>> {
        Ok(Self::load_verified_meta(dir, accept)?.map(|(index, _)| index))
    }

    /// Reads `index.json`, lets `accept` judge its [`IndexMeta`], checks the
    /// files' sizes and hashes, and only then calls hnsw_rs's loader.
    fn load_verified_meta(
        dir: &Path,
        accept: &dyn Fn(&IndexMeta) -> Option<String>,
    ) -> Result<std::result::Result<(AnnIndex, IndexMeta), String>> {
        let meta_path = dir.join(META_FILE);
        let bytes = match fs::read(&meta_path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Err("no saved index".into()))
            }
            Err(e) => return Err(Error::io(&meta_path, e)),
        };
        let meta: MetaFile = match serde_json::from_slice(&bytes) {
            Ok(m) => m,
            Err(e) => return Ok(Err(format!("{} is unreadable ({e})", meta_path.display()))),
        };
        if let Some(why) = check_meta(&meta).or_else(|| accept(&meta.index)) {
            return Ok(Err(why));
        }
        let params = meta.params;
        let Some(basename) = meta.basename.clone() else {
            return match AnnIndex::new(meta.dim, 0, params) {
                Ok(index) if meta.index.count == 0 => Ok(Ok((index, meta.index))),
                Ok(_) => Ok(Err("index.json lists no files for a non-empty index".into())),
                Err(e) => Ok(Err(e.to_string())),
            };
        };
        if meta.files.len() != 2
            || meta.files.iter().any(|f| {
                f.name != format!("{basename}.hnsw.graph")
                    && f.name != format!("{basename}.hnsw.data")
            })
        {
            return Ok(Err("index.json does not list the two hnsw files".into()));
        }
        for f in &meta.files {
            let path = dir.join(&f.name);
            match hash_file(&path) {
                Ok((size, _)) if size != f.size => {
                    return Ok(Err(format!(
                        "{} has {size} bytes, {} were saved",
                        f.name, f.size
                    )))
                }
                Ok((_, h)) if h != f.blake3 => {
                    return Ok(Err(format!("{} was modified or damaged", f.name)))
                }
                Ok(_) => {}
                Err(e) => return Ok(Err(e.to_string())),
            }
        }
        // The files are the ones we wrote; hnsw_rs's asserts should hold, but
        // a panic must still not take the caller down.
        let loaded = catch_unwind(AssertUnwindSafe(|| {
            let loader: &'static mut HnswIo = Box::leak(Box::new(HnswIo::new(dir, &basename)));
            loader.load_hnsw::<i16, CodeCosine>()
        }));
        let hnsw = match loaded {
            Ok(Ok(h)) => h,
            Ok(Err(e)) => return Ok(Err(format!("hnsw_rs could not load it: {e:#}"))),
            Err(p) => {
                return Ok(Err(format!(
                    "hnsw_rs panicked loading it: {}",
                    panic_message(&p)
                )))
            }
        };
        let ids: HashSet<u64> = hnsw
            .get_point_indexation()
            .into_iter()
            .map(|p| p.get_origin_id() as u64)
            .collect();
        let data_dim = hnsw.get_point_indexation().get_data_dimension();
        if hnsw.get_nb_point() != meta.index.count || ids.len() != meta.index.count {
            return Ok(Err(
                "the loaded graph has another number of points than index.json says".into(),
            ));
        }
        if data_dim != meta.dim {
            return Ok(Err(format!(
                "the loaded graph holds {data_dim}-d vectors, not {}",
                meta.dim
            )));
        }
        if ids_hash(ids.iter().copied()) != meta.index.ids_hash {
            return Ok(Err(
                "the loaded graph holds other ids than index.json says".into()
            ));
        }
        Ok(Ok((
            AnnIndex {
                hnsw,
                dim: meta.dim,
                params,
                ids,
                frozen: std::sync::OnceLock::new(),
            },
            meta.index,
        )))
    }
}

fn check_meta(meta: &MetaFile) -> Option<String> {
    if meta.format_version != INDEX_FORMAT_VERSION {
        return Some(format!(
            "it has format version {}, this artlens writes {INDEX_FORMAT_VERSION}",
            meta.format_version
        ));
    }
    if meta.distance != distance_name() {
        return Some(format!("it uses distance {}", meta.distance));
    }
    if meta.little_endian != cfg!(target_endian = "little")
        || meta.usize_bytes != std::mem::size_of::<usize>()
    {
        return Some("it was written on a machine with another byte order or word size".into());
    }
    None
}

fn distance_name() -> String {
    std::any::type_name::<CodeCosine>()
        .rsplit("::")
        .next()
        .unwrap_or("CodeCosine")
        .to_string()
}

fn panic_message(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown panic".into())
}

fn unique_stamp() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{:x}-{}", nanos, std::process::id())
}

fn hash_file(path: &Path) -> Result<(u64, String)> {
    let mut h = blake3::Hasher::new();
    h.update_mmap_rayon(path).map_err(|e| Error::io(path, e))?;
    let size = fs::metadata(path).map_err(|e| Error::io(path, e))?.len();
    Ok((size, h.finalize().to_hex().to_string()))
}

fn sync_file(path: &Path) -> Result<()> {
    fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io(path, e))
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = fs::File::create(path).map_err(|e| Error::io(path, e))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| Error::io(path, e))
}

/// Makes renames in `dir` durable (best effort: not every platform allows
/// opening a folder).
fn sync_dir(dir: &Path) {
    if let Ok(f) = fs::File::open(dir) {
        let _ = f.sync_all();
    }
}

/// Removes hnsw files and staging folders in `dir` that `meta` does not
/// reference (an older save, or one interrupted by a crash). Best effort.
fn remove_unreferenced(dir: &Path, meta: &MetaFile) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let keep: HashSet<&str> = meta.files.iter().map(|f| f.name.as_str()).collect();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path: PathBuf = entry.path();
        if name.starts_with(STAGING_PREFIX) {
            let _ = fs::remove_dir_all(&path);
        } else if (name.ends_with(".hnsw.graph") || name.ends_with(".hnsw.data"))
            && !keep.contains(name.as_str())
        {
            let _ = fs::remove_file(&path);
        }
    }
}

// ----- exact search ----------------------------------------------------------------

/// A similarity and an id, ordered "better is greater": higher similarity,
/// then lower id (so ties break the same way everywhere).
#[derive(Debug, Clone, Copy)]
struct Scored {
    sim: f32,
    id: u64,
}

impl PartialEq for Scored {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Scored {}
impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scored {
    fn cmp(&self, other: &Self) -> Ordering {
        self.sim.total_cmp(&other.sim).then(other.id.cmp(&self.id))
    }
}

/// The best `k` of a stream of scores.
struct TopK {
    k: usize,
    heap: BinaryHeap<Reverse<Scored>>,
}

impl TopK {
    fn new(k: usize) -> Self {
        TopK {
            k,
            heap: BinaryHeap::with_capacity(k + 1),
        }
    }

    #[inline]
    fn push(&mut self, sim: f32, id: u64) {
        if self.k == 0 {
            return;
        }
        let s = Scored { sim, id };
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
            self.push(s.sim, s.id);
        }
        self
    }

    fn into_sorted(self) -> Vec<(u64, f32)> {
        let mut v: Vec<Scored> = self.heap.into_iter().map(|Reverse(s)| s).collect();
        v.sort_by(|a, b| b.cmp(a));
        v.into_iter().map(|s| (s.id, s.sim)).collect()
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
    /// [`AnnIndex::build`] on bad vectors.
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

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The `k` most similar rows to `q`, best first, as `(id, similarity)`.
    pub fn search(
        &self,
        q: &[f32],
        k: usize,
        filter: Option<IdFilter<'_>>,
    ) -> Result<Vec<(u64, f32)>> {
        if k == 0 || self.is_empty() {
            return Ok(Vec::new());
        }
        let q = normalised(q, self.dim)
            .map_err(|why| Error::InvalidArgument(format!("query vector {why}")))?;
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
) -> Result<Vec<(u64, f32)>> {
    if k == 0 || items.is_empty() {
        return Ok(Vec::new());
    }
    let dim = q.len();
    let q =
        normalised(q, dim).map_err(|why| Error::InvalidArgument(format!("query vector {why}")))?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use hnsw_rs::prelude::Distance;

    fn lcg(seed: &mut u64) -> f32 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((*seed >> 40) as f32 / (1u64 << 24) as f32) - 0.5
    }

    #[test]
    fn simd_dot_matches_scalar() {
        let mut s = 1;
        for n in [0, 1, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 768] {
            let a: Vec<f32> = (0..n).map(|_| lcg(&mut s)).collect();
            let b: Vec<f32> = (0..n).map(|_| lcg(&mut s)).collect();
            let want: f64 = a.iter().zip(&b).map(|(x, y)| *x as f64 * *y as f64).sum();
            assert!((dot(&a, &b) as f64 - want).abs() < 1e-4, "n = {n}");
            assert!((dot_portable(&a, &b) as f64 - want).abs() < 1e-4, "n = {n}");
            // Every kernel this CPU can run, not only the one `dot` picks.
            #[cfg(target_arch = "x86_64")]
            {
                use std::arch::is_x86_feature_detected as has;
                if has!("avx2") && has!("fma") {
                    let got = unsafe { dot_avx2(&a, &b) } as f64;
                    assert!((got - want).abs() < 1e-4, "avx2, n = {n}");
                }
                if has!("avx512f") {
                    let got = unsafe { dot_avx512(&a, &b) } as f64;
                    assert!((got - want).abs() < 1e-4, "avx512, n = {n}");
                }
            }
        }
    }

    #[test]
    fn distance_is_clamped() {
        let v = code::encode(&normalised(&[0.3, 0.4, 0.5, 1e-3], 4).unwrap());
        assert!(CodeCosine.eval(&v, &v) >= 0.0);
        let w: Vec<i16> = v.iter().map(|x| -x).collect();
        assert!((CodeCosine.eval(&v, &w) - 2.0).abs() < 1e-4);
    }

    #[test]
    fn bad_vectors_are_rejected() {
        assert!(AnnIndex::build(2, &[(1, &[0.0, 0.0])]).is_err());
        assert!(AnnIndex::build(2, &[(1, &[f32::NAN, 1.0])]).is_err());
        assert!(AnnIndex::build(2, &[(1, &[1.0])]).is_err());
        assert!(AnnIndex::build(2, &[(1, &[1.0, 0.0]), (1, &[0.0, 1.0])]).is_err());
        assert!(ExactIndex::new(2, &[(1, &[0.0, 0.0])]).is_err());
    }

    #[test]
    fn small_index_finds_itself_and_filters() {
        let mut s = 7;
        let data: Vec<Vec<f32>> = (0..300)
            .map(|_| (0..16).map(|_| lcg(&mut s)).collect())
            .collect();
        let items: Vec<(u64, &[f32])> = data
            .iter()
            .enumerate()
            .map(|(i, v)| (i as u64 * 3, v.as_slice()))
            .collect();
        let params = AnnParams {
            parallel_insert: false,
            ..AnnParams::default()
        };
        let index = AnnIndex::build_with(16, &items, params).unwrap();
        let exact = ExactIndex::new(16, &items).unwrap();
        for (id, v) in items.iter().take(20) {
            let got = index.search(v, 5, None).unwrap();
            assert_eq!(got[0].0, *id);
            assert!((got[0].1 - 1.0).abs() < 1e-5);
            assert_eq!(exact.search(v, 5, None).unwrap()[0].0, *id);
            assert_eq!(exact_search(&items, v, 5, None).unwrap()[0].0, *id);
        }
        // A filter that keeps 3 points out of 300 still yields them all.
        let keep = |id: u64| id.is_multiple_of(100);
        let got = index.search(items[1].1, 10, Some(&keep)).unwrap();
        let mut ids: Vec<u64> = got.iter().map(|r| r.0).collect();
        ids.sort();
        assert_eq!(ids, vec![0, 300, 600]);
        let want = exact.search(items[1].1, 10, Some(&keep)).unwrap();
        assert_eq!(
            got.iter().map(|r| r.0).collect::<Vec<_>>(),
            want.iter().map(|r| r.0).collect::<Vec<_>>()
        );
    }

    #[test]
    fn exact_batch_matches_single() {
        let mut s = 3;
        let data: Vec<Vec<f32>> = (0..500)
            .map(|_| (0..24).map(|_| lcg(&mut s)).collect())
            .collect();
        let items: Vec<(u64, &[f32])> = data
            .iter()
            .enumerate()
            .map(|(i, v)| (i as u64, v.as_slice()))
            .collect();
        let exact = ExactIndex::new(24, &items).unwrap();
        let queries: Vec<&[f32]> = data.iter().take(40).map(|v| v.as_slice()).collect();
        let batch = exact.search_batch(&queries, 7).unwrap();
        for (q, b) in queries.iter().zip(&batch) {
            let single = exact.search(q, 7, None).unwrap();
            assert_eq!(
                single.iter().map(|r| r.0).collect::<Vec<_>>(),
                b.iter().map(|r| r.0).collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn saved_index_can_be_extended() {
        let mut s = 11;
        let data: Vec<Vec<f32>> = (0..120)
            .map(|_| (0..16).map(|_| lcg(&mut s)).collect())
            .collect();
        let items: Vec<(u64, &[f32])> = data
            .iter()
            .enumerate()
            .map(|(i, v)| (i as u64 + 1, v.as_slice()))
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let index = AnnIndex::build(16, &items[..100]).unwrap();
        index.save(dir.path(), &index.meta("fp")).unwrap();

        let all = IndexMeta::new("fp", items.iter().map(|(id, _)| *id));
        assert!(AnnIndex::load(dir.path(), &all).unwrap().is_none());
        assert!(AnnIndex::load_for_update(dir.path(), "other")
            .unwrap()
            .is_err());
        let mut loaded = AnnIndex::load_for_update(dir.path(), "fp")
            .unwrap()
            .unwrap();
        assert_eq!(loaded.len(), 100);
        assert!(
            loaded.insert_many(&items[99..]).is_err(),
            "id 100 is already there"
        );
        loaded.insert_many(&items[100..]).unwrap();
        assert!(
            loaded.save(dir.path(), &index.meta("fp")).is_err(),
            "meta must describe the index"
        );
        loaded.save(dir.path(), &all).unwrap();
        let back = AnnIndex::load(dir.path(), &all).unwrap().unwrap();
        assert_eq!(back.len(), 120);
        assert_eq!(back.search(items[110].1, 1, None).unwrap()[0].0, 111);
    }

    #[test]
    fn empty_index_saves_and_loads() {
        let dir = tempfile::tempdir().unwrap();
        let index = AnnIndex::build(8, &[]).unwrap();
        assert!(index.search(&[1.0; 8], 3, None).unwrap().is_empty());
        let meta = index.meta("fp");
        index.save(dir.path(), &meta).unwrap();
        let back = AnnIndex::load(dir.path(), &meta)
            .unwrap()
            .expect("empty index reloads");
        assert!(back.is_empty());
        assert_eq!(back.dim(), 8);
        let other = IndexMeta::new("fp", [1]);
        assert!(AnnIndex::load(dir.path(), &other).unwrap().is_none());
    }
}
