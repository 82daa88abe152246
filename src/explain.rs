//! Explanations and label metrics: which rated works a score draws on, how
//! far a query lies from the collection, and how well each backbone's
//! neighbourhoods agree with a label or with each other.
//!
//! The details are in `docs/EXPLANATIONS.md`, section "The explain module".

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::ann::ExactIndex;
use crate::error::{Error, Result};
use crate::head::TrainedHead;
use crate::model::registry::BackboneId;
use crate::model::ImageTokens;
use crate::scan::Metadata;
use crate::store::{Artwork, Store};

/// Above this many vectors, all-pairs statistics search a sample of query rows
/// instead of every row: an exact pass over 50,000 768-d vectors already
/// costs about 2·10¹² multiply-adds.
pub(crate) const EXACT_ALL_PAIRS_MAX: usize = 50_000;

/// How many query rows are sampled above [`EXACT_ALL_PAIRS_MAX`]. Each is
/// still compared with every row, so its nearest neighbours are exact; only
/// the average over rows is estimated (its standard error for a fraction is
/// at most 0.7 percentage points).
pub(crate) const SAMPLED_QUERIES: usize = 5_000;

/// The seed of the query sample, fixed so that two runs (and the two
/// backbones, which share item order) evaluate the same rows.
pub(crate) const SAMPLE_SEED: u64 = 0x0a57_1e45_5eed;

/// The default percentile of nearest-neighbour distances beyond which a query
/// is called out of distribution.
pub const DEFAULT_OOD_PERCENTILE: f64 = 99.0;

/// Queries handed to [`ExactIndex::search_batch`] at once, which bounds the
/// memory held by normalised query copies.
const QUERY_CHUNK: usize = 4_096;

// ----- references ---------------------------------------------------------------------

/// A rated work that helps explain a score: one of the rated works nearest
/// to the query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    /// The artwork's numeric id in the store.
    pub id: u64,
    /// The artwork's content hash.
    pub hash: String,
    /// The first path the artwork was seen at, when known.
    pub path: Option<String>,
    /// Cosine similarity to the query, in [-1, 1].
    pub similarity: f32,
    /// The rating the user gave this work.
    pub rating: f64,
    /// The artwork's metadata (title, artist, style, ...).
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

/// One rated work with its embedding, the input of [`RatedSet::new`].
#[derive(Debug, Clone, PartialEq)]
pub struct RatedWork {
    /// The work's id in the store.
    pub id: u64,
    /// The work's content hash (blake3, hex).
    pub hash: String,
    /// The raw embedding; it is normalised when the set is built.
    pub vector: Vec<f32>,
    /// The rater's rating of the work, on their own scale.
    pub rating: f64,
    /// The first path the work was seen at; `None` when unknown.
    pub path: Option<String>,
    /// The work's metadata (title, artist, style, ...).
    pub metadata: Metadata,
}

impl RatedWork {
    /// A rated work without a path or metadata.
    pub fn new(id: u64, hash: impl Into<String>, vector: Vec<f32>, rating: f64) -> Self {
        RatedWork {
            id,
            hash: hash.into(),
            vector,
            rating,
            path: None,
            metadata: Metadata::new(),
        }
    }

    /// Takes the path (the first one the work was seen at) and the metadata
    /// from its artwork record.
    pub(crate) fn with_artwork(mut self, art: &Artwork) -> Self {
        self.path = art.paths.first().cloned();
        self.metadata = art.metadata.clone();
        self
    }
}

/// What a [`RatedSet`] remembers about each work besides its vector.
#[derive(Debug, Clone)]
struct RatedInfo {
    id: u64,
    hash: String,
    rating: f64,
    path: Option<String>,
    metadata: Metadata,
}

/// The rated works of one backbone, searchable by similarity.
///
/// The set is small (a person rates hundreds or thousands of works), so it is
/// searched exactly: every answer is the true nearest rated works.
#[derive(Debug, Clone)]
pub struct RatedSet {
    works: Vec<RatedInfo>,
    /// Rows are in the order of `works`; a row's id is its position.
    index: ExactIndex,
    skipped: Vec<String>,
}

impl RatedSet {
    /// Builds the set from rated works.
    ///
    /// Fails with [`Error::InvalidArgument`] when two works share an id, a
    /// rating is not finite, or a vector is empty, of another length than the
    /// first, non-finite or of zero norm.
    pub fn new(rows: Vec<RatedWork>) -> Result<RatedSet> {
        let dim = rows.first().map_or(0, |r| r.vector.len());
        let mut seen = HashSet::with_capacity(rows.len());
        for r in &rows {
            if !seen.insert(r.id) {
                return Err(Error::InvalidArgument(format!(
                    "rated work id {} appears twice",
                    r.id
                )));
            }
            if !r.rating.is_finite() {
                return Err(Error::InvalidArgument(format!(
                    "rating of work {} ({}) is not a finite number",
                    r.id, r.hash
                )));
            }
        }
        let items: Vec<(u64, &[f32])> = rows
            .iter()
            .enumerate()
            .map(|(i, r)| (i as u64, r.vector.as_slice()))
            .collect();
        let index = ExactIndex::new(dim, &items)?;
        let works = rows
            .into_iter()
            .map(|r| RatedInfo {
                id: r.id,
                hash: r.hash,
                rating: r.rating,
                path: r.path,
                metadata: r.metadata,
            })
            .collect();
        Ok(RatedSet {
            works,
            index,
            skipped: Vec::new(),
        })
    }

    /// Builds the set from the store: the `model` embeddings of the works
    /// rated in `ratings` (content hash, rating), as
    /// [`crate::ratings::ratings_of`] lists them, with each work's first path and
    /// metadata. A hash listed twice keeps its last rating.
    ///
    /// A rated hash without an artwork or a stored embedding (the work failed
    /// to decode, was removed, or was never indexed with this backbone) is
    /// left out and listed by [`RatedSet::skipped`], so the caller can say so.
    /// Each rated work is looked up by its hash, so the cost follows the
    /// number of ratings, not the size of the collection.
    pub fn from_store(
        store: &Store,
        model: &BackboneId,
        ratings: &[(String, f64)],
    ) -> Result<RatedSet> {
        let latest: HashMap<&str, f64> = ratings.iter().map(|(h, r)| (h.as_str(), *r)).collect();
        let mut rows = Vec::with_capacity(latest.len());
        let mut skipped = Vec::new();
        for (hash, rating) in latest {
            match (store.artwork(hash)?, store.embedding(model, hash)?) {
                (Some(art), Some(vector)) => {
                    rows.push(RatedWork::new(art.id, hash, vector, rating).with_artwork(&art))
                }
                _ => skipped.push(hash.to_string()),
            }
        }
        // Row order breaks similarity ties; sorting by id makes it the same
        // on every run instead of following the hash map's order.
        rows.sort_by_key(|r| r.id);
        skipped.sort();
        let mut set = RatedSet::new(rows)?;
        set.skipped = skipped;
        Ok(set)
    }

    /// How many rated works the set holds.
    pub fn len(&self) -> usize {
        self.works.len()
    }

    /// True when the set holds no rated work.
    pub fn is_empty(&self) -> bool {
        self.works.is_empty()
    }

    /// The embedding length (0 for an empty set).
    pub fn dim(&self) -> usize {
        self.index.dim()
    }

    /// Rated hashes [`RatedSet::from_store`] found no embedding for, sorted.
    pub fn skipped(&self) -> &[String] {
        &self.skipped
    }

    /// The `k` rated works most similar to `query`, most similar first (ties
    /// by id), leaving out the work with id `exclude` — the query itself when
    /// it is a stored, rated work, whose own rating would otherwise explain
    /// its score.
    ///
    /// Fails with [`Error::InvalidArgument`] when `query` has another length
    /// than the set's vectors, a non-finite value or zero norm.
    pub fn references(
        &self,
        query: &[f32],
        k: usize,
        exclude: Option<u64>,
    ) -> Result<Vec<Reference>> {
        let keep = |pos: u64| Some(self.works[pos as usize].id) != exclude;
        let filter: Option<crate::ann::IdFilter<'_>> =
            if exclude.is_some() { Some(&keep) } else { None };
        let found = self.index.search(query, k, filter)?;
        Ok(found
            .into_iter()
            .map(|(pos, similarity)| {
                let w = &self.works[pos as usize];
                Reference {
                    id: w.id,
                    hash: w.hash.clone(),
                    path: w.path.clone(),
                    similarity,
                    rating: w.rating,
                    metadata: w.metadata.clone(),
                }
            })
            .collect())
    }
}

/// The similarity-weighted mean rating of `refs`: a rating estimate that needs
/// no trained head, and the number a head's score can be checked against.
///
/// Each reference weighs `max(similarity, 0)`: a work pointing away from the
/// query says nothing about it, and a negative weight would turn its rating
/// upside down. When every weight is 0 (all references dissimilar) the plain
/// mean is returned, because it is still the best guess the references
/// allow. `None` when there are no references.
pub fn knn_estimate(refs: &[Reference]) -> Option<f64> {
    if refs.is_empty() {
        return None;
    }
    let (mut sum, mut weight) = (0.0f64, 0.0f64);
    for r in refs {
        let w = f64::from(r.similarity.max(0.0));
        sum += w * r.rating;
        weight += w;
    }
    if weight > 0.0 {
        Some(sum / weight)
    } else {
        Some(refs.iter().map(|r| r.rating).sum::<f64>() / refs.len() as f64)
    }
}

/// How many works (by id) appear in both reference lists.
pub fn reference_overlap(a: &[Reference], b: &[Reference]) -> usize {
    let ids: HashSet<u64> = a.iter().map(|r| r.id).collect();
    let mut counted = HashSet::new();
    b.iter()
        .filter(|r| ids.contains(&r.id) && counted.insert(r.id))
        .count()
}

/// How many works (by id) of the first reference list every other list
/// holds too: the overlap `score` reports across N backbones. `None` with
/// fewer than two lists, where there is nothing to share.
pub(crate) fn references_in_all(lists: &[&[Reference]]) -> Option<usize> {
    let (first, others) = lists.split_first()?;
    if others.is_empty() {
        return None;
    }
    Some(
        first
            .iter()
            .filter(|r| others.iter().all(|l| l.iter().any(|q| q.id == r.id)))
            .count(),
    )
}

// ----- contributions -------------------------------------------------------------------

/// One rated work's vote in a ridge score: its weight for this image and
/// how far that moves the score from the mean rating.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contribution {
    /// The artwork's numeric id in the store.
    pub id: u64,
    /// The artwork's content hash (blake3, hex).
    pub hash: String,
    /// The first path the artwork was seen at, when known.
    pub path: Option<String>,
    /// The work's title from its metadata, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The rating the head was trained with.
    pub rating: f64,
    /// Cosine similarity of the raw embeddings (the one references show).
    pub similarity: f32,
    /// `wᵢ(x)`, the head's equivalent-kernel weight of this work for the
    /// image (`crate::head::KernelVote`): positive when the head finds the
    /// image more like this work than like the average rated work, negative
    /// when less.
    pub weight: f64,
    /// `weight · (rating − mean rating)`: how far this work moves the score
    /// from the mean rating. With a positive weight that is toward the
    /// work's own rating; with a negative one, away from it.
    pub contribution: f64,
    /// True for the scored work itself, when it is one of the rated works
    /// the head was trained on: its own rating is part of its score.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub own: bool,
}

/// A ridge score read as a vote of the rated works:
/// `mean + Σ shown contributions + rest = score`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contributions {
    /// The training ratings' mean: where the vote starts, and the score of
    /// an image exactly as like every rated work as the average one is.
    pub mean: f64,
    /// The works that pushed the score up most (largest first), then those
    /// that pushed it down most (most negative first); the scored work's own
    /// rating is always among them when the head was trained on it.
    pub shown: Vec<Contribution>,
    /// The sum of every other work's contribution.
    pub rest: f64,
    /// How many works `rest` sums.
    pub rest_count: usize,
    /// When the scored image is a work the head was trained on: what the
    /// head predicts for it without its own rating
    /// (`crate::head::KernelVote::leave_one_out`).
    pub without_own: Option<f64>,
}

/// A training work of a ridge head, as a vote shows it.
#[derive(Debug, Clone)]
struct SupportWork {
    id: u64,
    hash: String,
    path: Option<String>,
    title: Option<String>,
    rating: f64,
    /// The stored embedding, L2-normalised, for the similarity shown.
    unit: Vec<f32>,
}

/// The works a ridge head was trained on, with the head's
/// `KernelVote`, so that each score can be read
/// as a weighted vote of the ratings: `mean + Σᵢ wᵢ(x)·(ratingᵢ − mean)`.
/// Loaded once per backbone, used for every image.
///
/// The weights of one image sum to 0 (the head's features are centred on
/// the rated works), so negative weights are the rule, not an accident: an
/// image is always less like some rated works than like the average one. On
/// the sample collection (48 ratings, the tiny test checkpoints; each rated
/// work and three outside images scored by both backbones, 102 scores) 61%
/// of the weights are negative (2,988 of 4,896), and in a third of the
/// scores (34 of 102) the largest single pull comes from a negative weight;
/// no vote moved a score by more than 1.34 on a 6.9-point range. See
/// `docs/EXPLANATIONS.md`.
#[derive(Debug, Clone)]
pub struct VoteSupport {
    vote: crate::head::KernelVote,
    works: Vec<SupportWork>,
}

impl VoteSupport {
    /// The head's training works read from the store, or why its scores
    /// cannot be taken apart (an MLP head, a head saved before artlens kept
    /// its training works, a training work whose embedding is gone).
    pub fn from_store(
        store: &Store,
        model: &BackboneId,
        head: &TrainedHead,
    ) -> Result<std::result::Result<VoteSupport, String>> {
        let ridge = match head {
            TrainedHead::Ridge(r) => r,
            TrainedHead::Mlp(_) => {
                return Ok(Err(
                    "contributions are not available for the MLP head: its score is \
                     not a vote of the rated works (train with `--head ridge` for an exact \
                     breakdown)"
                        .to_string(),
                ))
            }
        };
        if !ridge.has_dual() {
            return Ok(Err(format!(
                "the {model} head was saved without its training works (by an older artlens); \
                 run `artlens train` to get contributions"
            )));
        }
        let mut works = Vec::with_capacity(ridge.support.len());
        let mut vectors = Vec::with_capacity(ridge.support.len());
        for (i, hash) in ridge.support.iter().enumerate() {
            let (Some(art), Some(vector)) = (store.artwork(hash)?, store.embedding(model, hash)?)
            else {
                return Ok(Err(format!(
                    "training work {hash} has no stored {model} embedding any more; run \
                     `artlens train` to get contributions"
                )));
            };
            works.push(SupportWork {
                id: art.id,
                hash: hash.clone(),
                path: art.paths.first().cloned(),
                title: art
                    .metadata
                    .get("title")
                    .map(|t| t.trim().to_string())
                    .filter(|t| !t.is_empty()),
                rating: ridge.support_ratings.get(i).copied().unwrap_or(f64::NAN),
                unit: crate::ann::normalised(&vector, vector.len()).unwrap_or_default(),
            });
            vectors.push(vector);
        }
        let rows: Vec<&[f32]> = vectors.iter().map(Vec::as_slice).collect();
        match ridge.kernel_vote(&rows) {
            Ok(vote) => Ok(Ok(VoteSupport { vote, works })),
            Err(e) => Ok(Err(e.to_string())),
        }
    }

    /// Takes apart the score of the embedding `x`: the `top` works that
    /// pushed it up most and the `top` that pushed it down most, the rest
    /// summed. `own` is the scored image's id when it is a stored work: if
    /// the head was trained on it, its own contribution is always shown
    /// (marked [`Contribution::own`]) and [`Contributions::without_own`]
    /// says what the head predicts without it. `None` when `x` does not
    /// have the head's length.
    pub fn explain(&self, x: &[f32], top: usize, own: Option<u64>) -> Option<Contributions> {
        if x.len() != self.vote.dim() {
            return None;
        }
        let weights = self.vote.weights(x);
        let terms: Vec<f64> = weights
            .iter()
            .zip(self.vote.centred_ratings())
            .map(|(w, yc)| w * yc)
            .collect();
        let own_pos = own.and_then(|id| self.works.iter().position(|w| w.id == id));
        let mut order: Vec<usize> = (0..terms.len()).collect();
        order.sort_by(|&a, &b| terms[b].total_cmp(&terms[a]).then(a.cmp(&b)));
        let mut up: Vec<usize> = order
            .iter()
            .copied()
            .filter(|&i| terms[i] > 0.0)
            .take(top)
            .collect();
        let mut down: Vec<usize> = order
            .iter()
            .rev()
            .copied()
            .filter(|&i| terms[i] < 0.0)
            .take(top)
            .collect();
        // A rated work's own rating is part of its score: shown, however
        // small, so that the reader sees it next to the leave-one-out answer.
        if let Some(p) = own_pos.filter(|p| !up.contains(p) && !down.contains(p)) {
            if terms[p] >= 0.0 {
                up.push(p);
                up.sort_by(|&a, &b| terms[b].total_cmp(&terms[a]).then(a.cmp(&b)));
            } else {
                down.push(p);
                down.sort_by(|&a, &b| terms[a].total_cmp(&terms[b]).then(a.cmp(&b)));
            }
        }
        let shown_set: HashSet<usize> = up.iter().chain(&down).copied().collect();
        let rest_idx: Vec<usize> = (0..terms.len())
            .filter(|i| !shown_set.contains(i))
            .collect();
        let unit_x = crate::ann::normalised(x, x.len()).unwrap_or_default();
        let shown = up
            .iter()
            .chain(&down)
            .map(|&i| {
                let w = &self.works[i];
                Contribution {
                    id: w.id,
                    hash: w.hash.clone(),
                    path: w.path.clone(),
                    title: w.title.clone(),
                    rating: w.rating,
                    similarity: crate::ann::dot(&unit_x, &w.unit),
                    weight: weights[i],
                    contribution: terms[i],
                    own: Some(i) == own_pos,
                }
            })
            .collect();
        Some(Contributions {
            mean: self.vote.mean_rating(),
            shown,
            rest: rest_idx.iter().map(|&i| terms[i]).sum(),
            rest_count: rest_idx.len(),
            without_own: own_pos.and_then(|p| self.vote.leave_one_out(p)),
        })
    }

    /// True when the head was trained on the work with id `id`.
    pub(crate) fn trained_on(&self, id: u64) -> bool {
        self.works.iter().any(|w| w.id == id)
    }
}

// ----- patch maps -----------------------------------------------------------------------

/// Heat maps over one image's patch grid, values row-major.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageMaps {
    /// Patch grid (rows, columns).
    pub grid: [usize; 2],
    /// The part of the image the model saw, as fractions of its width and
    /// height: `[left, top, width, height]` (`[0, 0, 1, 1]` for DINO's
    /// squash; the centre crop for DINOv2).
    pub region: [f64; 4],
    /// For each patch, its best cosine similarity among the other image's
    /// patch tokens (after the final norm).
    pub patch_match: Vec<f32>,
    /// For each patch, the index of that best-matching patch in the other
    /// image.
    pub best_match: Vec<u32>,
    /// The CLS token's attention over the patches in the last block, mean
    /// over heads (probabilities: the CLS token's attention to itself is left
    /// out, so a map sums to slightly less than 1).
    pub attention: Vec<f32>,
    /// The same per head.
    pub attention_heads: Vec<Vec<f32>>,
}

/// For each row of `a`, the best cosine similarity among the rows of `b` and
/// the index of that row (the first on ties). Zero-norm rows match nothing
/// (similarity 0, index 0). Empty when `b` is empty.
pub(crate) fn patch_matches(a: &[Vec<f32>], b: &[Vec<f32>]) -> (Vec<f32>, Vec<u32>) {
    if b.is_empty() {
        return (Vec::new(), Vec::new());
    }
    let unit =
        |v: &Vec<f32>| crate::ann::normalised(v, v.len()).unwrap_or_else(|_| vec![0.0; v.len()]);
    let ua: Vec<Vec<f32>> = a.iter().map(unit).collect();
    let ub: Vec<Vec<f32>> = b.iter().map(unit).collect();
    ua.iter()
        .map(|x| {
            let mut best = (f32::NEG_INFINITY, 0u32);
            for (j, y) in ub.iter().enumerate() {
                let s = crate::ann::dot(x, y);
                if s > best.0 {
                    best = (s, j as u32);
                }
            }
            if best.0.is_finite() {
                best
            } else {
                (0.0, 0)
            }
        })
        .unzip()
}

/// The CLS attention over the patches (index 0, the CLS token itself, left
/// out): the mean over heads and each head's row.
pub(crate) fn attention_map(cls_attention: &[Vec<f32>]) -> (Vec<f32>, Vec<Vec<f32>>) {
    let heads: Vec<Vec<f32>> = cls_attention
        .iter()
        .map(|row| row.get(1..).unwrap_or_default().to_vec())
        .collect();
    let p = heads.first().map_or(0, Vec::len);
    let mut mean = vec![0f32; p];
    for h in &heads {
        for (m, v) in mean.iter_mut().zip(h) {
            *m += v;
        }
    }
    for m in &mut mean {
        *m /= heads.len().max(1) as f32;
    }
    (mean, heads)
}

/// The maps of an image pair: each image's patches matched against the
/// other's, and each image's CLS attention. `regions` are the parts of the
/// two images the model saw ([`ImageMaps::region`]).
pub(crate) fn pair_maps(
    query: &ImageTokens,
    reference: &ImageTokens,
    regions: ([f64; 4], [f64; 4]),
) -> (ImageMaps, ImageMaps) {
    let one = |a: &ImageTokens, b: &ImageTokens, region: [f64; 4]| {
        let (patch_match, best_match) = patch_matches(&a.patches, &b.patches);
        let (attention, attention_heads) = attention_map(&a.cls_attention);
        ImageMaps {
            grid: [a.grid.0, a.grid.1],
            region,
            patch_match,
            best_match,
            attention,
            attention_heads,
        }
    };
    (
        one(query, reference, regions.0),
        one(reference, query, regions.1),
    )
}

// ----- out of distribution ------------------------------------------------------------

/// The distribution of nearest-neighbour distances in a collection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NnDistances {
    /// For each examined vector, its cosine distance (1 − similarity) to its
    /// nearest *other* vector, sorted ascending.
    pub distances: Vec<f32>,
    /// How many vectors the collection holds.
    pub collection: usize,
    /// True when `distances` covers a fixed-seed sample of
    /// `SAMPLED_QUERIES` vectors rather than all of them (collections over
    /// `EXACT_ALL_PAIRS_MAX`); each sampled distance is still exact.
    pub sampled: bool,
}

impl NnDistances {
    /// The `p`-th percentile (0–100) of the distances; see [`percentile`].
    pub(crate) fn percentile(&self, p: f64) -> f32 {
        percentile(&self.distances, p)
    }
}

/// For each vector, the cosine distance to its nearest other vector, by
/// exact search (of a sampled set of rows above `EXACT_ALL_PAIRS_MAX`).
///
/// Fails with [`Error::InvalidArgument`] for fewer than two vectors (there is
/// no "other") and for bad vectors.
pub fn nn_distances(vectors: &[&[f32]]) -> Result<NnDistances> {
    if vectors.len() < 2 {
        return Err(Error::InvalidArgument(format!(
            "nearest-neighbour distances need at least 2 stored vectors, the collection has {}",
            vectors.len()
        )));
    }
    let index = matrix(vectors)?;
    let (queries, sampled) = query_rows(vectors.len());
    let neighbours = nearest_others(&index, vectors, &queries, 1, None)?;
    let mut distances: Vec<f32> = neighbours
        .iter()
        .map(|n| (1.0 - n.first().map_or(-1.0, |&(_, s)| s)).max(0.0))
        .collect();
    distances.sort_by(f32::total_cmp);
    Ok(NnDistances {
        distances,
        collection: vectors.len(),
        sampled,
    })
}

/// The `percentile`-th percentile (0–100, typically
/// [`DEFAULT_OOD_PERCENTILE`]) of the collection's nearest-neighbour
/// distances (see [`nn_distances`]): a query farther than this from every
/// stored work lies where the collection has almost nothing.
///
/// Fails with [`Error::InvalidArgument`] for a percentile outside 0–100 and
/// where [`nn_distances`] fails.
pub fn nn_distance_threshold(vectors: &[&[f32]], percentile: f64) -> Result<f32> {
    check_percentile(percentile)?;
    Ok(nn_distances(vectors)?.percentile(percentile))
}

/// True when a query whose most similar stored work has similarity
/// `nearest_similarity` lies farther away than `threshold` (a cosine
/// distance from [`nn_distance_threshold`]): `1 − nearest_similarity >
/// threshold`. A head's score for such a query extrapolates and is a guess.
pub fn is_out_of_distribution(nearest_similarity: f32, threshold: f32) -> bool {
    1.0 - nearest_similarity > threshold
}

/// The `p`-th percentile (0–100) of ascending `sorted` values, interpolated
/// linearly between the two nearest ranks, as numpy's default
/// (`method="linear"`): at rank `h = (n − 1)·p/100` it returns
/// `x[⌊h⌋] + (h − ⌊h⌋)·(x[⌊h⌋+1] − x[⌊h⌋])`. NaN for no values; `p` is
/// clamped to 0–100.
pub(crate) fn percentile(sorted: &[f32], p: f64) -> f32 {
    match sorted.len() {
        0 => f32::NAN,
        1 => sorted[0],
        n => {
            let h = (n - 1) as f64 * p.clamp(0.0, 100.0) / 100.0;
            let lo = h.floor() as usize;
            let hi = (lo + 1).min(n - 1);
            let (a, b) = (f64::from(sorted[lo]), f64::from(sorted[hi]));
            (a + (h - lo as f64) * (b - a)) as f32
        }
    }
}

fn check_percentile(p: f64) -> Result<()> {
    if (0.0..=100.0).contains(&p) {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "percentile {p} is outside 0–100"
        )))
    }
}

// ----- label metrics --------------------------------------------------------------------

/// One label metric of one backbone, with the baseline it must beat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelMetric {
    /// The metric, in [0, 1].
    pub value: f64,
    /// What ignoring the embeddings achieves (see each metric).
    pub chance: f64,
    /// Items with the label; items without it are left out entirely, as
    /// queries and as neighbours.
    pub n: usize,
    /// Items whose neighbours were examined: `n`, or `SAMPLED_QUERIES`
    /// sampled ones above `EXACT_ALL_PAIRS_MAX`.
    pub evaluated: usize,
    /// Neighbours per item: the `k` asked for, or `n − 1` when fewer exist.
    pub k: usize,
    /// Distinct labels among the `n` items.
    pub classes: usize,
}

/// Both label metrics from one neighbour search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelMetrics {
    /// See [`loo_knn_accuracy`].
    pub accuracy: LabelMetric,
    /// See [`precision_at_k`].
    pub precision: LabelMetric,
}

/// Leave-one-out k-NN accuracy: the share of labelled items whose label is
/// the majority label of their `k` nearest other labelled items. A tie
/// between labels goes to the one with the larger summed similarity, then to
/// the alphabetically first.
///
/// Its `chance` is the accuracy of always predicting the most frequent label
/// (its share of the items).
pub fn loo_knn_accuracy<S: AsRef<str> + Sync>(
    vectors: &[&[f32]],
    labels: &[Option<S>],
    k: usize,
) -> Result<LabelMetric> {
    Ok(label_metrics(vectors, labels, k)?.accuracy)
}

/// Precision@k: the mean, over labelled items, of the fraction of their `k`
/// nearest other labelled items that share their label.
///
/// Its `chance` is the expected fraction for neighbours drawn at random:
/// `Σ n_c (n_c − 1) / (n (n − 1))` over labels `c` with `n_c` items.
pub fn precision_at_k<S: AsRef<str> + Sync>(
    vectors: &[&[f32]],
    labels: &[Option<S>],
    k: usize,
) -> Result<LabelMetric> {
    Ok(label_metrics(vectors, labels, k)?.precision)
}

/// [`loo_knn_accuracy`] and [`precision_at_k`] together, from one neighbour
/// search. `labels[i]` belongs to `vectors[i]`.
///
/// Fails with [`Error::InvalidArgument`] when the lengths differ, `k` is 0,
/// fewer than two items have a label, or a labelled item's vector is bad.
pub fn label_metrics<S: AsRef<str> + Sync>(
    vectors: &[&[f32]],
    labels: &[Option<S>],
    k: usize,
) -> Result<LabelMetrics> {
    label_metrics_grouped(vectors, labels, None, k)
}

/// [`label_metrics`] where `groups` labels the items by duplicate group
/// (equal labels for a work and its marked copies): an item's neighbours
/// never include its own copies, which would find its label for free.
pub(crate) fn label_metrics_grouped<S: AsRef<str> + Sync>(
    vectors: &[&[f32]],
    labels: &[Option<S>],
    groups: Option<&[usize]>,
    k: usize,
) -> Result<LabelMetrics> {
    if groups.is_some_and(|g| g.len() != vectors.len()) {
        return Err(Error::InvalidArgument(format!(
            "{} vectors but {} duplicate-group labels",
            vectors.len(),
            groups.map_or(0, |g| g.len())
        )));
    }
    if vectors.len() != labels.len() {
        return Err(Error::InvalidArgument(format!(
            "{} vectors but {} labels",
            vectors.len(),
            labels.len()
        )));
    }
    if k == 0 {
        return Err(Error::InvalidArgument("k must be at least 1".into()));
    }
    let (kept, names): (Vec<&[f32]>, Vec<&str>) = vectors
        .iter()
        .zip(labels)
        .filter_map(|(v, l)| l.as_ref().map(|l| (*v, l.as_ref())))
        .unzip();
    let kept_groups: Option<Vec<usize>> = groups.map(|g| {
        g.iter()
            .zip(labels)
            .filter_map(|(g, l)| l.as_ref().map(|_| *g))
            .collect()
    });
    let n = kept.len();
    if n < 2 {
        return Err(Error::InvalidArgument(format!(
            "label metrics need at least 2 items with the label, {n} have one"
        )));
    }
    let k = k.min(n - 1);
    let counts = label_counts(names.iter().copied());
    let classes = counts.len();

    let index = matrix(&kept)?;
    let (queries, _) = query_rows(n);
    let neighbours = nearest_others(&index, &kept, &queries, k, kept_groups.as_deref())?;

    let (mut correct, mut precision) = (0usize, 0.0f64);
    for (&q, nbrs) in queries.iter().zip(&neighbours) {
        let own = names[q];
        if majority_label(nbrs.iter().map(|&(j, s)| (names[j], s))) == Some(own) {
            correct += 1;
        }
        let same = nbrs.iter().filter(|&&(j, _)| names[j] == own).count();
        precision += same as f64 / k as f64;
    }
    let evaluated = queries.len();
    let majority = *counts.values().max().unwrap_or(&0) as f64 / n as f64;
    let pairs: f64 = counts.values().map(|&c| c as f64 * (c as f64 - 1.0)).sum();
    let metric = |value: f64, chance: f64| LabelMetric {
        value,
        chance,
        n,
        evaluated,
        k,
        classes,
    };
    Ok(LabelMetrics {
        accuracy: metric(correct as f64 / evaluated as f64, majority),
        precision: metric(
            precision / evaluated as f64,
            pairs / (n as f64 * (n as f64 - 1.0)),
        ),
    })
}

/// The mean, over items, of `|kNN_A(i) ∩ kNN_B(i)| / k`: how much two
/// embedding spaces agree on each item's `k` nearest others. `va[i]` and
/// `vb[i]` are the same item in the two spaces.
///
/// 1 means identical neighbourhoods; unrelated spaces score about
/// [`neighbour_agreement_chance`]. `k` is capped at `n − 1`. Fails with
/// [`Error::InvalidArgument`] when the lengths differ, `k` is 0, there are
/// fewer than two items, or a vector is bad.
pub fn neighbour_agreement(va: &[&[f32]], vb: &[&[f32]], k: usize) -> Result<f64> {
    if va.len() != vb.len() {
        return Err(Error::InvalidArgument(format!(
            "{} vectors in one space but {} in the other",
            va.len(),
            vb.len()
        )));
    }
    if k == 0 {
        return Err(Error::InvalidArgument("k must be at least 1".into()));
    }
    let n = va.len();
    if n < 2 {
        return Err(Error::InvalidArgument(format!(
            "neighbour agreement needs at least 2 items, got {n}"
        )));
    }
    let k = k.min(n - 1);
    let (queries, _) = query_rows(n);
    let a = nearest_others(&matrix(va)?, va, &queries, k, None)?;
    let b = nearest_others(&matrix(vb)?, vb, &queries, k, None)?;
    let total: f64 = a
        .iter()
        .zip(&b)
        .map(|(na, nb)| {
            let ids: HashSet<usize> = na.iter().map(|&(j, _)| j).collect();
            nb.iter().filter(|(j, _)| ids.contains(j)).count() as f64 / k as f64
        })
        .sum();
    Ok(total / queries.len() as f64)
}

/// The [`neighbour_agreement`] expected from two unrelated spaces over `n`
/// items: `k / (n − 1)` (with `k` capped at `n − 1`), the chance that a
/// random other item is among `k` neighbours. 0 for fewer than two items.
pub fn neighbour_agreement_chance(n: usize, k: usize) -> f64 {
    if n < 2 {
        return 0.0;
    }
    k.min(n - 1) as f64 / (n - 1) as f64
}

/// The winning label of a vote: most votes, then the larger summed
/// similarity, then the alphabetically first label.
fn majority_label<'a>(votes: impl Iterator<Item = (&'a str, f32)>) -> Option<&'a str> {
    let mut tally: BTreeMap<&str, (usize, f64)> = BTreeMap::new();
    for (label, sim) in votes {
        let t = tally.entry(label).or_insert((0, 0.0));
        t.0 += 1;
        t.1 += f64::from(sim);
    }
    // The map iterates labels alphabetically and `max_by` keeps the last of
    // equal elements, so compare names reversed to let the first one win.
    tally
        .into_iter()
        .max_by(|(la, (ca, sa)), (lb, (cb, sb))| ca.cmp(cb).then(sa.total_cmp(sb)).then(lb.cmp(la)))
        .map(|(label, _)| label)
}

fn label_counts<'a>(labels: impl Iterator<Item = &'a str>) -> BTreeMap<&'a str, usize> {
    let mut counts = BTreeMap::new();
    for l in labels {
        *counts.entry(l).or_insert(0) += 1;
    }
    counts
}

// ----- exact all-pairs search -------------------------------------------------------------

/// The vectors as normalised rows; a row's id is its position.
fn matrix(vectors: &[&[f32]]) -> Result<ExactIndex> {
    let dim = vectors.first().map_or(0, |v| v.len());
    let items: Vec<(u64, &[f32])> = vectors
        .iter()
        .enumerate()
        .map(|(i, v)| (i as u64, *v))
        .collect();
    ExactIndex::new(dim, &items)
}

/// The rows whose neighbours an all-pairs statistic examines: all of them up
/// to [`EXACT_ALL_PAIRS_MAX`], else [`SAMPLED_QUERIES`] drawn without
/// replacement with [`SAMPLE_SEED`] (sorted). The flag says which.
fn query_rows(n: usize) -> (Vec<usize>, bool) {
    if n <= EXACT_ALL_PAIRS_MAX {
        return ((0..n).collect(), false);
    }
    // A partial Fisher–Yates shuffle driven by splitmix64: the first
    // SAMPLED_QUERIES positions become a uniform sample.
    let mut rows: Vec<usize> = (0..n).collect();
    let mut state = SAMPLE_SEED;
    for i in 0..SAMPLED_QUERIES {
        let j = i + (splitmix64(&mut state) % (n - i) as u64) as usize;
        rows.swap(i, j);
    }
    rows.truncate(SAMPLED_QUERIES);
    rows.sort_unstable();
    (rows, true)
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// For each query row, its `k` most similar *other* rows as `(row,
/// similarity)`, best first. Searches `k + 1` and drops the row itself; when
/// exact duplicates push a row out of its own top `k + 1`, the extra one is
/// cut instead, which is equally correct.
fn nearest_others(
    index: &ExactIndex,
    vectors: &[&[f32]],
    queries: &[usize],
    k: usize,
    groups: Option<&[usize]>,
) -> Result<Vec<Vec<(usize, f32)>>> {
    // Room for the copies left out: the largest group's size.
    let mut sizes: std::collections::HashMap<usize, usize> = Default::default();
    for g in groups.unwrap_or(&[]) {
        *sizes.entry(*g).or_default() += 1;
    }
    let extra = sizes.values().copied().max().unwrap_or(1).saturating_sub(1);
    let same_group = |a: usize, b: usize| groups.is_some_and(|g| g[a] == g[b]);
    let mut out = Vec::with_capacity(queries.len());
    for chunk in queries.chunks(QUERY_CHUNK) {
        let qs: Vec<&[f32]> = chunk.iter().map(|&i| vectors[i]).collect();
        let found = index.search_batch(&qs, k + 1 + extra)?;
        for (&q, hits) in chunk.iter().zip(found) {
            let mut others: Vec<(usize, f32)> = hits
                .into_iter()
                .map(|(id, s)| (id as usize, s))
                .filter(|&(j, _)| j != q && !same_group(j, q))
                .collect();
            others.truncate(k);
            out.push(others);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_interpolates_like_numpy() {
        let x = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile(&x, 0.0), 1.0);
        assert_eq!(percentile(&x, 100.0), 4.0);
        // numpy.percentile([1, 2, 3, 4], 50) == 2.5, (…, 99) == 3.97
        assert!((percentile(&x, 50.0) - 2.5).abs() < 1e-6);
        assert!((percentile(&x, 99.0) - 3.97).abs() < 1e-5);
        assert!(percentile(&[], 50.0).is_nan());
        assert_eq!(percentile(&[7.0], 99.0), 7.0);
    }

    #[test]
    fn majority_breaks_ties_by_similarity_then_name() {
        let votes = [("b", 0.9), ("a", 0.5), ("a", 0.3), ("b", 0.1)];
        // Two votes each; b sums 1.0 and a 0.8.
        assert_eq!(majority_label(votes.into_iter()), Some("b"));
        let votes = [("b", 0.5), ("a", 0.5)];
        assert_eq!(majority_label(votes.into_iter()), Some("a"));
        let votes = [("c", 0.1), ("c", 0.1), ("a", 0.9)];
        assert_eq!(majority_label(votes.into_iter()), Some("c"));
        assert_eq!(majority_label(std::iter::empty()), None);
    }

    #[test]
    fn sample_is_fixed_distinct_and_in_range() {
        let n = EXACT_ALL_PAIRS_MAX + 1234;
        let (a, sampled) = query_rows(n);
        let (b, _) = query_rows(n);
        assert!(sampled);
        assert_eq!(a, b);
        assert_eq!(a.len(), SAMPLED_QUERIES);
        assert!(a.windows(2).all(|w| w[0] < w[1]));
        assert!(*a.last().unwrap() < n);
        assert_eq!(query_rows(10), ((0..10).collect(), false));
    }

    #[test]
    fn exact_duplicates_still_find_another_row() {
        let v = [1.0f32, 0.0];
        let w = [0.0f32, 1.0];
        let vectors: Vec<&[f32]> = vec![&v, &v, &v, &w];
        let d = nn_distances(&vectors).unwrap();
        assert_eq!(d.distances.len(), 4);
        assert_eq!(&d.distances[..3], &[0.0, 0.0, 0.0]);
        assert!((d.distances[3] - 1.0).abs() < 1e-6);
    }

    #[test]
    fn patches_match_themselves_and_their_best_other() {
        let a = vec![vec![1.0, 0.0], vec![0.0, 2.0], vec![1.0, 1.0]];
        let (sim, idx) = patch_matches(&a, &a);
        assert_eq!(idx, vec![0, 1, 2]);
        assert!(sim.iter().all(|s| (s - 1.0).abs() < 1e-6), "{sim:?}");
        let b = vec![vec![0.0, -1.0], vec![3.0, 0.1]];
        let (sim, idx) = patch_matches(&a, &b);
        assert_eq!(idx, vec![1, 1, 1]);
        assert!((sim[1] - 0.1 / (9.01f32).sqrt()).abs() < 1e-6);
        assert_eq!(patch_matches(&a, &[]), (vec![], vec![]));
    }

    #[test]
    fn attention_map_drops_the_cls_slot_and_averages_heads() {
        let rows = vec![vec![0.5, 0.25, 0.25], vec![0.1, 0.9, 0.0]];
        let (mean, heads) = attention_map(&rows);
        assert_eq!(heads, vec![vec![0.25, 0.25], vec![0.9, 0.0]]);
        assert!((mean[0] - 0.575).abs() < 1e-6 && (mean[1] - 0.125).abs() < 1e-6);
    }

    #[test]
    fn chance_of_agreement() {
        assert_eq!(neighbour_agreement_chance(11, 5), 0.5);
        assert_eq!(neighbour_agreement_chance(3, 5), 1.0);
        assert_eq!(neighbour_agreement_chance(1, 5), 0.0);
    }
}
