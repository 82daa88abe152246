//! Reading the collection: similar works, one work, a listing, the store's
//! status, ratings and preferences (as views and as CSV), and exports.
//! Nothing here writes the store. Everything that shows a rating or a head
//! is asked for one rater's.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use super::export_files::{listed_export_files, MANIFEST_FILE};
use super::views::*;
use super::{Collection, Event, ImageRef};
use crate::ann::ExactIndex;
use crate::error::{Error, Result};
use crate::model::registry::{human_count, BackboneId};
use crate::model::Fingerprint;
use crate::ratings::{self, Rater, Rating};
use crate::scan::Metadata;
use crate::store::atomic::{write_synced, FolderUpdate};
use crate::store::{Artwork, FORMAT_VERSION};

/// What `similar` is asked.
#[derive(Debug, Clone)]
pub struct SimilarRequest {
    /// The examples ("more like these"), at least one and at most
    /// [`crate::limits::MAX_EXAMPLES`]: stored works by name, or image files
    /// or uploads (a stored one is looked up by its bytes, a new one
    /// embedded, not stored). The first is the view's `query`.
    pub examples: Vec<ImageRef>,
    /// Works to move away from ("but not like these"), at most
    /// [`crate::limits::MAX_EXAMPLES`].
    pub not: Vec<ImageRef>,
    /// Keep only results at least this similar (cosine, -1 to 1) to the
    /// query.
    pub threshold: Option<f32>,
    /// Results per backbone.
    pub k: usize,
    /// `None`: every backbone the store holds.
    pub backbones: Option<Vec<BackboneId>>,
    /// `KEY=VALUE` metadata filters (case-insensitive), all must hold.
    pub filters: Vec<String>,
    /// Brute-force search instead of the ANN index.
    pub exact: bool,
}

impl SimilarRequest {
    /// Checks `k`, the number of examples and the threshold against their
    /// bounds ([`crate::limits`]), naming them.
    pub fn validate(&self) -> Result<()> {
        use crate::limits::{check_count, MAX_EXAMPLES, MAX_RESULTS};
        check_count("k", self.k, 1, MAX_RESULTS)?;
        if self.examples.is_empty() {
            return Err(Error::InvalidArgument(
                "name a stored work or an image file to find similar works for".into(),
            ));
        }
        check_count("examples", self.examples.len(), 1, MAX_EXAMPLES)?;
        check_count("works to move away from", self.not.len(), 0, MAX_EXAMPLES)?;
        if let Some(t) = self.threshold {
            if !(-1.0..=1.0).contains(&t) {
                return Err(Error::InvalidArgument(format!(
                    "threshold {t}: a similarity is between -1 and 1 (0.8 keeps close matches only)"
                )));
            }
        }
        for (i, a) in self.examples.iter().enumerate() {
            if self.not.contains(a) {
                return Err(Error::InvalidArgument(format!(
                    "`{}` is both an example and a work to move away from",
                    a.shown()
                )));
            }
            if self.examples[..i].contains(a) {
                return Err(Error::InvalidArgument(format!(
                    "`{}` is given twice as an example",
                    a.shown()
                )));
            }
        }
        Ok(())
    }
}

/// What `ls` is asked.
#[derive(Debug, Clone, Default)]
pub struct ListRequest {
    /// `KEY=VALUE` metadata filters (case-insensitive), all must hold.
    pub filters: Vec<String>,
    /// `Some(true)`: works `rater` rated only; `Some(false)`: unrated only.
    pub rated: Option<bool>,
    /// Whose ratings are listed and filtered on.
    pub rater: Rater,
    /// The order of the list.
    pub sort: ListSort,
}

/// The order of `ls`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ListSort {
    /// By id: the order works were first indexed in.
    #[default]
    Id,
    /// By the rater's predicted score, highest first (works the backbone
    /// cannot score last): of the backbone given, or of
    /// `Collection::taste_backbone`. With `rated: Some(false)` this is
    /// "what in my collection would I like most?".
    Predicted(Option<BackboneId>),
}

impl ListSort {
    /// `id`, `predicted` or `predicted:BACKBONE`.
    pub fn parse(s: &str) -> Result<ListSort> {
        match s.trim() {
            "" | "id" => Ok(ListSort::Id),
            "predicted" => Ok(ListSort::Predicted(None)),
            other => match other.strip_prefix("predicted:") {
                Some(b) => Ok(ListSort::Predicted(Some(BackboneId::parse(b)?))),
                None => Err(Error::InvalidArgument(format!(
                    "sort `{other}`: expected `id`, `predicted` or `predicted:BACKBONE` (e.g. predicted:dinov2)"
                ))),
            },
        }
    }

    /// The spelling [`ListSort::parse`] reads.
    pub fn name(&self) -> String {
        match self {
            ListSort::Id => "id".into(),
            ListSort::Predicted(None) => "predicted".into(),
            ListSort::Predicted(Some(b)) => format!("predicted:{}", b.name()),
        }
    }
}

/// The header of [`Collection::ratings_csv`]: the work's first stored path,
/// the rating and the rater, which [`ratings::import_csv_as`] reads back,
/// then the work's id (which the import checks against the path), content
/// hash and title (which it ignores), for people and other tools.
pub(crate) const RATING_COLUMNS: [&str; 6] = ["path", "rating", "rater", "id", "hash", "title"];

/// The header of [`Collection::preferences_csv`]: the preferred work's
/// first stored path, the other's, the rater, when (seconds since the Unix
/// epoch), then both works' ids and content hashes and where it came from.
pub(crate) const PREFERENCE_COLUMNS: [&str; 9] = [
    "winner",
    "loser",
    "rater",
    "time",
    "winner_id",
    "loser_id",
    "winner_hash",
    "loser_hash",
    "source",
];

/// Parses `KEY=VALUE` filters into lower-cased pairs.
pub(crate) fn parse_filters(filters: &[String]) -> Result<Vec<(String, String)>> {
    filters
        .iter()
        .map(|f| {
            let (k, v) = f.split_once('=').ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "--where {f}: expected KEY=VALUE, e.g. style=Impressionism"
                ))
            })?;
            Ok((k.trim().to_ascii_lowercase(), v.trim().to_lowercase()))
        })
        .collect()
}

pub(crate) fn matches(meta: &Metadata, filters: &[(String, String)]) -> bool {
    filters
        .iter()
        .all(|(k, v)| meta.get(k).is_some_and(|x| x.trim().to_lowercase() == *v))
}

/// Metadata keys with at least one non-empty value, sorted, joined by ", "
/// (`"none"` when there are none).
pub(crate) fn known_labels<'a>(metas: impl Iterator<Item = &'a Metadata>) -> String {
    let keys: BTreeSet<&str> = metas
        .flat_map(|m| {
            m.iter()
                .filter(|(_, v)| !v.trim().is_empty())
                .map(|(k, _)| k.as_str())
        })
        .collect();
    if keys.is_empty() {
        "none".into()
    } else {
        keys.into_iter().collect::<Vec<_>>().join(", ")
    }
}

/// How a query image is shown: the stored work it is, or the new image by
/// the name it was given.
fn query_view(image: &ImageRef, work: Option<&Artwork>) -> QueryView {
    match work {
        Some(a) => QueryView {
            id: Some(a.id),
            hash: Some(a.hash.clone()),
            path: a.paths.first().cloned(),
            metadata: a.metadata.clone(),
            stored: true,
        },
        None => QueryView {
            id: None,
            hash: None,
            path: Some(image.shown()),
            metadata: Metadata::new(),
            stored: false,
        },
    }
}

/// How far the works to move away from pull the query (Rocchio's
/// relevance feedback weighs negatives below positives for the same
/// reason: a work is unlike many things, so "not this" says less than
/// "like this").
pub(crate) const NEGATIVE_WEIGHT: f32 = 0.5;

/// The one vector `similar` searches with: a single example's own
/// embedding, or else the mean direction of the examples minus
/// [`NEGATIVE_WEIGHT`] times the mean direction of the works to move away
/// from (`positive[i]` says which), each embedding normalised first so
/// that no example outweighs another by its length.
fn combined_query(vectors: &[Vec<f32>], positive: &[bool]) -> Result<Vec<f32>> {
    if let [only] = vectors {
        return Ok(only.clone());
    }
    let dim = vectors.first().map_or(0, Vec::len);
    let count = |want: bool| positive.iter().filter(|p| **p == want).count().max(1) as f32;
    let (n_pos, n_neg) = (count(true), count(false));
    let mut q = vec![0f32; dim];
    for (v, &pos) in vectors.iter().zip(positive) {
        let unit = crate::vector::normalised(v, dim)
            .map_err(|e| Error::InvalidArgument(format!("an example's embedding: {e}")))?;
        let w = if pos {
            1.0 / n_pos
        } else {
            -NEGATIVE_WEIGHT / n_neg
        };
        for (q, u) in q.iter_mut().zip(unit) {
            *q += w * u;
        }
    }
    crate::vector::normalised(&q, dim).map_err(|_| {
        Error::InvalidArgument(
            "the examples and the works to move away from cancel out: there is nothing left to search for; drop one of the --not works".into(),
        )
    })
}

/// How many values of a key a [`Error::FilterMatchesNothing`] lists.
const LISTED_VALUES: usize = 10;

/// [`check_filters`] over a listing; nothing to check without filters (a
/// page out of 10,000 works should not gather 10,000 references for none).
pub(crate) fn check_filters_on(arts: &[Artwork], filters: &[(String, String)]) -> Result<()> {
    if filters.is_empty() {
        return Ok(());
    }
    check_filters(
        &arts.iter().map(|a| &a.metadata).collect::<Vec<_>>(),
        filters,
    )
}

/// Fails on the first filter that matches no work, naming the values its key
/// has (the first [`LISTED_VALUES`]) or, for a key no work has, the keys
/// that exist: a filter that names nothing is a mistake, not an empty answer.
pub(crate) fn check_filters(metas: &[&Metadata], filters: &[(String, String)]) -> Result<()> {
    for (raw, (k, v)) in filters.iter().map(|f| (format!("{}={}", f.0, f.1), f)) {
        if metas
            .iter()
            .any(|m| m.get(k).is_some_and(|x| x.trim().to_lowercase() == *v))
        {
            continue;
        }
        let values: BTreeSet<&str> = metas
            .iter()
            .filter_map(|m| m.get(k).map(|x| x.trim()))
            .filter(|x| !x.is_empty())
            .collect();
        let known = if values.is_empty() {
            format!(
                "no work has a `{k}`; keys in this collection: {}",
                known_labels(metas.iter().copied())
            )
        } else {
            let mut list: Vec<&str> = values.iter().copied().take(LISTED_VALUES).collect();
            if values.len() > LISTED_VALUES {
                list.push("…");
            }
            format!("`{k}` has {} values: {}", values.len(), list.join(", "))
        };
        return Err(Error::FilterMatchesNothing { filter: raw, known });
    }
    Ok(())
}

impl Collection {
    /// The nearest works per backbone, side by side, and which works the
    /// lists share.
    pub fn similar(
        &self,
        req: &SimilarRequest,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<SimilarView> {
        req.validate()?;
        let filters = parse_filters(&req.filters)?;
        let backbones = self.select_backbones(req.backbones.as_deref())?;
        // Every example, the works to move away from after the others. An
        // image stored under another name is still a stored work.
        let given: Vec<(&ImageRef, bool)> = req
            .examples
            .iter()
            .map(|e| (e, true))
            .chain(req.not.iter().map(|e| (e, false)))
            .collect();
        let mut stored = Vec::with_capacity(given.len());
        for (image, _) in &given {
            stored.push(self.stored_work_of(image)?);
        }
        if stored.iter().any(Option::is_none) {
            self.weights.check_used(&backbones)?;
        }
        // The listing is memoised per revision: a long-running front end
        // answers `similar` without reading every artwork from sled.
        let all = self.all_artworks()?;
        let by_id = self.artwork_positions()?;
        let art = |id: &u64| by_id.get(id).map(|&i| &all[i]);
        check_filters_on(&all, &filters)?;
        let asked: HashSet<u64> = stored.iter().flatten().map(|a| a.id).collect();
        let allowed = |id: u64| {
            !asked.contains(&id) && art(&id).is_some_and(|a| matches(&a.metadata, &filters))
        };
        let mut decoded = Vec::with_capacity(given.len());
        for ((image, _), work) in given.iter().zip(&stored) {
            decoded.push(match work {
                Some(_) => None,
                None => Some(self.load_image(image)?.image),
            });
        }
        let mut columns: Vec<(String, Vec<(u64, f32)>)> = Vec::new();
        for id in &backbones {
            let mut vectors = Vec::with_capacity(given.len());
            for (work, pixels) in stored.iter().zip(&decoded) {
                vectors.push(match (work, pixels) {
                    (Some(a), _) => self.store.embedding(id, &a.hash)?.ok_or_else(|| {
                        Error::MissingEmbedding {
                            work: format!("#{}", a.id),
                            backbone: id.name(),
                        }
                    })?,
                    (None, Some(img)) => {
                        let backbone = self.backbone(id)?;
                        on_event(Event::Note(format!("{id}: embedding the query image")));
                        backbone.embed_images(&[img])?.remove(0)
                    }
                    (None, None) => unreachable!("an example is stored or decoded"),
                });
            }
            let signs: Vec<bool> = given.iter().map(|(_, positive)| *positive).collect();
            let vector = combined_query(&vectors, &signs)?;
            let mut hits = if req.exact {
                let items = self.store.embeddings(id)?;
                let refs: Vec<(u64, &[f32])> =
                    items.iter().map(|(i, _, v)| (*i, v.as_slice())).collect();
                ExactIndex::new(vector.len(), &refs)?.search(&vector, req.k, Some(&allowed))?
            } else {
                self.ann(id, on_event)?
                    .search(&vector, req.k, Some(&allowed))?
            };
            if let Some(t) = req.threshold {
                hits.retain(|(_, sim)| *sim >= t);
            }
            columns.push((id.name(), hits));
        }
        let mut in_lists: HashMap<u64, Vec<String>> = HashMap::new();
        for (name, hits) in &columns {
            for (i, _) in hits {
                in_lists.entry(*i).or_default().push(name.clone());
            }
        }
        let overlap = (columns.len() >= 2).then(|| {
            in_lists
                .values()
                .filter(|names| names.len() == columns.len())
                .count()
        });
        let mut results = BTreeMap::new();
        for (name, hits) in &columns {
            let list = hits
                .iter()
                .map(|(i, sim)| {
                    let a = art(i).expect("the index only returns stored works");
                    Hit {
                        id: *i,
                        hash: a.hash.clone(),
                        path: a.paths.first().cloned(),
                        similarity: *sim,
                        metadata: a.metadata.clone(),
                        shared_with: in_lists[i].iter().filter(|n| *n != name).cloned().collect(),
                    }
                })
                .collect();
            results.insert(name.clone(), list);
        }
        let mut views = given
            .iter()
            .zip(&stored)
            .map(|((image, positive), work)| (query_view(image, work.as_ref()), *positive));
        let query = views
            .next()
            .map(|(v, _)| v)
            .expect("validate() asks for an example");
        let (examples, not): (Vec<_>, Vec<_>) = views.partition(|(_, positive)| *positive);
        Ok(SimilarView {
            query,
            examples: examples.into_iter().map(|(v, _)| v).collect(),
            not: not.into_iter().map(|(v, _)| v).collect(),
            threshold: req.threshold,
            backbones: backbones.iter().map(BackboneId::name).collect(),
            results,
            overlap,
            filters: req.filters.clone(),
        })
    }

    /// Everything known about one work, with `rater`'s rating of it and its
    /// `k` nearest works per backbone.
    pub fn show(
        &self,
        rater: &Rater,
        name: &str,
        k: usize,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<WorkView> {
        crate::limits::check_count("k", k, 0, crate::limits::MAX_NEIGHBOURS)?;
        let art = self.resolve(name)?;
        let mut backbones = Vec::new();
        let mut neighbours = BTreeMap::new();
        for id in self.store.backbones()? {
            let Some(v) = self.store.embedding(&id, &art.hash)? else {
                continue;
            };
            let me = art.id;
            let hits = self.ann(&id, on_event)?.search(&v, k, Some(&|i| i != me))?;
            neighbours.insert(id.name(), hits.into_iter().map(|(i, _)| i).collect());
            backbones.push(id.name());
        }
        Ok(WorkView {
            id: art.id,
            hash: art.hash.clone(),
            relative_paths: art
                .paths
                .iter()
                .map(|p| self.store.relative_path(p))
                .collect(),
            paths: art.paths.clone(),
            size: art.size,
            width: art.width,
            height: art.height,
            metadata: art.metadata.clone(),
            rating: ratings::rating_of(&self.store, rater, &art.hash)?.map(|r| r.rating),
            backbones,
            neighbours,
        })
    }

    /// The works, by id, filtered, with `req.rater`'s ratings.
    pub fn list(&self, req: &ListRequest) -> Result<Vec<WorkSummary>> {
        Ok(self.list_page(req, 0, usize::MAX)?.1)
    }

    /// [`Collection::list`]'s works from `offset`, at most `limit` of them,
    /// and how many match in all: only the page is built.
    pub fn list_page(
        &self,
        req: &ListRequest,
        offset: usize,
        limit: usize,
    ) -> Result<(usize, Vec<WorkSummary>)> {
        let filters = parse_filters(&req.filters)?;
        let rated = self.rating_map(&req.rater)?;
        let arts = self.all_artworks()?;
        check_filters_on(&arts, &filters)?;
        let mut listed: Vec<&Artwork> = arts
            .iter()
            .filter(|a| {
                matches(&a.metadata, &filters)
                    && req
                        .rated
                        .is_none_or(|want| rated.contains_key(&a.hash) == want)
            })
            .collect();
        let predicted = match &req.sort {
            ListSort::Id => None,
            ListSort::Predicted(given) => {
                let by = match given {
                    Some(b) => b.clone(),
                    None => self.taste_backbone(&req.rater)?,
                };
                let p = self.predictions(&by, &req.rater)?;
                // Highest first; a work the backbone has no embedding of
                // comes last, and ties keep the id order.
                listed.sort_by(|x, y| match (p.get(&x.id), p.get(&y.id)) {
                    (Some(a), Some(b)) => b.total_cmp(a).then(x.id.cmp(&y.id)),
                    (Some(_), None) => std::cmp::Ordering::Less,
                    (None, Some(_)) => std::cmp::Ordering::Greater,
                    (None, None) => x.id.cmp(&y.id),
                });
                Some((by.name(), p))
            }
        };
        let page = listed
            .iter()
            .skip(offset)
            .take(limit)
            .map(|a| {
                let score = predicted.as_ref().and_then(|(_, p)| p.get(&a.id).copied());
                WorkSummary {
                    id: a.id,
                    rating: rated.get(&a.hash).copied(),
                    hash: a.hash.clone(),
                    path: a.paths.first().cloned(),
                    metadata: a.metadata.clone(),
                    predicted: score,
                    predicted_by: score.and(predicted.as_ref().map(|(b, _)| b.clone())),
                }
            })
            .collect();
        Ok((listed.len(), page))
    }

    /// Every rater with ratings or preferences: counts, contradictions and
    /// whether they have a saved training run.
    pub fn rater_statuses(&self) -> Result<Vec<RaterStatus>> {
        let mut names: BTreeMap<Rater, (usize, usize)> = BTreeMap::new();
        for (r, n) in ratings::raters(&self.store)? {
            names.entry(r).or_default().0 = n;
        }
        for (r, n) in crate::preferences::preference_raters(&self.store)? {
            names.entry(r).or_default().1 = n;
        }
        let mut out = Vec::new();
        for (r, (n_ratings, n_prefs)) in names {
            let prefs = crate::preferences::preferences_of(&self.store, &r)?;
            out.push(RaterStatus {
                name: r.name().to_string(),
                ratings: n_ratings,
                preferences: n_prefs,
                contradictions: crate::preferences::contradictions(&prefs),
                trained: matches!(crate::head::load_training_of(&self.store, &r), Ok(Some(_))),
            });
        }
        out.sort_by_key(|s| s.name != ratings::DEFAULT_RATER);
        Ok(out)
    }

    /// Every rating of `rater` with its work (`None` for a work no longer
    /// in the store), sorted by content hash.
    fn rated_works(&self, rater: &Rater) -> Result<Vec<(String, Rating, Option<Artwork>)>> {
        let mut rows = Vec::new();
        for (hash, r) in ratings::rating_records_of(&self.store, rater)? {
            let art = self.store.artwork(&hash)?;
            rows.push((hash, r, art));
        }
        Ok(rows)
    }

    /// Every rating of `rater` with its work.
    pub fn ratings_of(&self, rater: &Rater) -> Result<Vec<RatingView>> {
        Ok(self
            .rated_works(rater)?
            .into_iter()
            .map(|(hash, r, art)| RatingView {
                id: art.as_ref().map(|a| a.id),
                path: art.as_ref().and_then(|a| a.paths.first().cloned()),
                hash,
                rating: r.rating,
                source: r.source,
            })
            .collect())
    }

    /// Every rating of `rater` as CSV with the header `RATING_COLUMNS`,
    /// sorted by content hash: `rate import` reads it back unchanged, so
    /// that listing, clearing, importing and listing again gives the same
    /// bytes. Each row is one line whatever the paths hold (see
    /// `listed_name`). A rating whose work is no longer in the store has
    /// an empty path and id (its hash still says which work it was); the
    /// import refuses such a row, as it refuses any row naming no stored
    /// work.
    pub fn ratings_csv(&self, rater: &Rater) -> Result<String> {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(RATING_COLUMNS).map_err(csv_error)?;
        for (hash, r, art) in self.rated_works(rater)? {
            let art = art.as_ref();
            w.write_record([
                art.map(listed_name).unwrap_or_default(),
                r.rating.to_string(),
                rater.name().to_string(),
                art.map(|a| a.id.to_string()).unwrap_or_default(),
                hash,
                // The import ignores the title, so an unprintable one can
                // be escaped like any text output.
                art.and_then(|a| a.metadata.get("title"))
                    .map(|t| printable(t))
                    .unwrap_or_default(),
            ])
            .map_err(csv_error)?;
        }
        csv_text(w)
    }

    /// Every preference of `rater` with its two works, in key order (by
    /// the preferred work's hash, then the other's).
    pub fn preferences_of(&self, rater: &Rater) -> Result<Vec<PreferenceView>> {
        let mut rows = Vec::new();
        for p in crate::preferences::preferences_of(&self.store, rater)? {
            let winner = self.store.artwork(&p.winner)?;
            let loser = self.store.artwork(&p.loser)?;
            rows.push(PreferenceView {
                rater: rater.name().to_string(),
                winner_id: winner.as_ref().map(|a| a.id),
                winner_path: winner.and_then(|a| a.paths.first().cloned()),
                winner_hash: p.winner,
                loser_id: loser.as_ref().map(|a| a.id),
                loser_path: loser.and_then(|a| a.paths.first().cloned()),
                loser_hash: p.loser,
                source: p.source,
                time: p.time,
            });
        }
        Ok(rows)
    }

    /// [`Collection::preferences_of`] as CSV with the header
    /// `PREFERENCE_COLUMNS` (empty cells for what is `None`; a path with
    /// control characters is given as the work's hash, see `listed_name`).
    pub fn preferences_csv(&self, rater: &Rater) -> Result<String> {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(PREFERENCE_COLUMNS).map_err(csv_error)?;
        let id = |i: Option<u64>| i.map(|i| i.to_string()).unwrap_or_default();
        let name = |path: Option<String>, hash: &str| match path {
            Some(p) if !p.chars().any(char::is_control) => p,
            Some(_) => hash.to_string(),
            None => String::new(),
        };
        for p in self.preferences_of(rater)? {
            w.write_record([
                name(p.winner_path, &p.winner_hash),
                name(p.loser_path, &p.loser_hash),
                p.rater,
                p.time.to_string(),
                id(p.winner_id),
                id(p.loser_id),
                p.winner_hash,
                p.loser_hash,
                p.source,
            ])
            .map_err(csv_error)?;
        }
        csv_text(w)
    }

    /// What the store holds, with `rater`'s ratings, heads and training.
    pub fn status(&self, rater: &Rater) -> Result<StatusView> {
        let counts = self.store.counts()?;
        let (vanished, _) = crate::pipeline::vanished_paths(&self.store, false)?;
        let mut models = BTreeMap::new();
        for id in self.store.backbones()? {
            let head = crate::head::load_head_of(&self.store, rater, &id).is_ok();
            let fingerprint = self.store.fingerprint(&id)?;
            models.insert(
                id.name(),
                StatusBackbone {
                    id: id.name(),
                    hub_id: id.spec().hub_id.to_string(),
                    display_name: id.display_name(),
                    description: loaded_description(&id, fingerprint.as_ref()),
                    embeddings: counts.embeddings.get(&id.name()).copied().unwrap_or(0),
                    fingerprint,
                    weights: self.store.weights_location(&id)?,
                    head,
                },
            );
        }
        let training = match crate::head::load_training_of(&self.store, rater) {
            Ok(Some(t)) => Some(serde_json::json!({
                "head": t.head_kind.name(),
                "backbones": t.backbones,
                "run": t.run,
                "ratings_changed_since": t.ratings_digest != ratings::ratings_digest_of(&self.store, rater)?,
                "verdict": t.report.as_ref().map(|r| r.verdict.clone()),
                "preferences_verdict": t.pairwise.as_ref().map(|p| p.verdict.clone()),
                "merged_groups": t.report.as_ref().map_or(0, |r| r.merged_groups),
            })),
            Ok(None) => None,
            Err(e) => Some(serde_json::json!({ "error": e.to_string() })),
        };
        Ok(StatusView {
            store: self.store.path().display().to_string(),
            format_version: FORMAT_VERSION,
            artworks: counts.artworks,
            models,
            roots: self.store.roots(),
            shard: self.store.shard()?,
            rater: rater.name().to_string(),
            ratings: ratings::rating_records_of(&self.store, rater)?.len(),
            raters: self.rater_statuses()?,
            failures: self.store.failures()?,
            vanished,
            size_bytes: self.store.size_on_disk()?,
            training,
            copies: self.store.copies()?.len(),
        })
    }

    /// Writes one backbone's embeddings, `items.csv` in the same row order
    /// (id, hash, path, `req.rater`'s rating, empty when unrated, then the
    /// metadata) and `manifest.json`, published together: a reader sees the
    /// earlier export or this one, never a mixture, and the folder's other
    /// files are kept (see [`crate::store::atomic::FolderUpdate`]).
    pub fn export(&self, req: &ExportRequest) -> Result<ExportView> {
        let id = &req.backbone;
        let items = self.store.embeddings(id)?;
        let Some(fingerprint) = self.store.fingerprint(id)? else {
            return Err(Error::NotIndexed {
                store: self.store.path().to_path_buf(),
                backbone: id.name(),
            });
        };
        if items.is_empty() {
            return Err(Error::NotIndexed {
                store: self.store.path().to_path_buf(),
                backbone: id.name(),
            });
        }
        if req.format == ExportFormat::Parquet {
            return Err(Error::InvalidArgument(
                "Parquet exports are written by `Collection::export_parquet`".into(),
            ));
        }
        let dim = items[0].2.len();
        let data_file = match req.format {
            ExportFormat::Csv => "embeddings.csv",
            _ => "embeddings.npy",
        };
        // Checked before the work: a person's file named like one of ours
        // stops the export, naming it, before anything is written.
        let update = FolderUpdate::begin(
            &req.out_dir,
            &[
                data_file.to_string(),
                "items.csv".to_string(),
                MANIFEST_FILE.to_string(),
            ],
            listed_export_files,
        )?;
        let staging = update.staging().to_path_buf();
        let mut arts = Vec::with_capacity(items.len());
        for (_, hash, _) in &items {
            arts.push(self.store.artwork(hash)?.ok_or_else(|| Error::Store {
                path: self.store.path().to_path_buf(),
                reason: format!("embedding {hash} has no artwork record"),
            })?);
        }
        let keys: BTreeSet<String> = arts
            .iter()
            .flat_map(|a| a.metadata.keys().cloned())
            .collect();
        let rated = self.rating_map(&req.rater)?;
        let csv_err = |e: csv::Error| Error::InvalidArgument(format!("writing items.csv: {e}"));
        let mut w = csv::Writer::from_writer(Vec::new());
        let mut header: Vec<String> = ITEMS_COLUMNS.iter().map(|c| c.to_string()).collect();
        // A metadata key spelled like a fixed column is written as
        // `metadata.<key>`, as in the Parquet export, so no header repeats.
        header.extend(keys.iter().map(|k| {
            if ITEMS_COLUMNS.contains(&k.as_str()) {
                format!("metadata.{k}")
            } else {
                k.clone()
            }
        }));
        w.write_record(&header).map_err(csv_err)?;
        for a in &arts {
            let mut row = vec![
                a.id.to_string(),
                a.hash.clone(),
                a.paths.first().cloned().unwrap_or_default(),
                rated
                    .get(&a.hash)
                    .map(|r| r.to_string())
                    .unwrap_or_default(),
            ];
            row.extend(
                keys.iter()
                    .map(|k| a.metadata.get(k).cloned().unwrap_or_default()),
            );
            w.write_record(&row).map_err(csv_err)?;
        }
        let items_csv = w
            .into_inner()
            .map_err(|e| Error::InvalidArgument(format!("writing items.csv: {e}")))?;
        match req.format {
            ExportFormat::Npy => {
                let bytes = npy_bytes(
                    items.len(),
                    dim,
                    items.iter().flat_map(|(_, _, v)| v.iter().copied()),
                );
                write_synced(&staging.join(data_file), &bytes)?;
            }
            ExportFormat::Csv => {
                let mut w = csv::Writer::from_writer(Vec::new());
                for (_, _, v) in &items {
                    w.write_record(v.iter().map(|x| x.to_string()))
                        .map_err(csv_err)?;
                }
                let bytes = w
                    .into_inner()
                    .map_err(|e| Error::InvalidArgument(format!("writing embeddings.csv: {e}")))?;
                write_synced(&staging.join(data_file), &bytes)?;
            }
            ExportFormat::Parquet => {
                return Err(Error::InvalidArgument(
                    "Parquet exports are written by `Collection::export_parquet`".into(),
                ))
            }
        };
        write_synced(&staging.join("items.csv"), &items_csv)?;
        let manifest = ExportManifest {
            embeddings: ExportedEmbeddings::of(id, fingerprint, dim, items.len()),
            format: req.format.clone(),
            files: vec![data_file.to_string(), "items.csv".into()],
            stamp: ExportStamp::now(&self.store, &req.rater),
        };
        let json = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| Error::InvalidArgument(format!("manifest.json: {e}")))?;
        write_synced(&staging.join(MANIFEST_FILE), &json)?;
        update.commit()?;
        Ok(ExportView {
            out_dir: req.out_dir.display().to_string(),
            manifest,
        })
    }
}

/// How a listing names a work for `rate import` to read back: its first
/// stored path, or, when that path holds a control character (a newline in
/// a file name), its content hash, which names the work as well and keeps
/// each row on one line and a terminal showing it safe.
/// `id`'s description as `status` gives it, true to the checkpoint that made
/// the stored embeddings: the registry's parameter count describes the
/// registered checkpoint, so when the embeddings have another length (a
/// smaller or custom checkpoint under the same id) the count is not claimed
/// and the loaded length is said instead.
fn loaded_description(id: &BackboneId, fingerprint: Option<&Fingerprint>) -> String {
    let spec = id.spec();
    let description = id.description();
    match fingerprint {
        Some(fp) if spec.embedding_dim > 0 && fp.dim != spec.embedding_dim => {
            let claimed = format!(", {} parameters", human_count(spec.params));
            let loaded = format!(
                ", dim {} as loaded (the registered checkpoint has dim {}{})",
                fp.dim,
                spec.embedding_dim,
                if spec.params > 0 {
                    format!(" and {} parameters", human_count(spec.params))
                } else {
                    String::new()
                }
            );
            if spec.params > 0 && description.contains(&claimed) {
                description.replacen(&claimed, &loaded, 1)
            } else {
                format!("{description}{loaded}")
            }
        }
        _ => description,
    }
}

fn listed_name(art: &Artwork) -> String {
    match art.paths.first() {
        Some(p) if !p.chars().any(char::is_control) => p.clone(),
        _ => art.hash.clone(),
    }
}

/// `s` with control characters escaped (`\n`), as text output shows them.
fn printable(s: &str) -> String {
    if s.chars().any(char::is_control) {
        s.escape_debug().to_string()
    } else {
        s.to_string()
    }
}

/// The fixed columns of an export's `items.csv`, before the metadata.
const ITEMS_COLUMNS: [&str; 4] = ["id", "hash", "path", "rating"];

fn csv_error(e: csv::Error) -> Error {
    Error::InvalidArgument(format!("writing CSV: {e}"))
}

/// The text a CSV writer over memory wrote (always UTF-8: every cell is a
/// `String`).
fn csv_text(w: csv::Writer<Vec<u8>>) -> Result<String> {
    let bytes = w
        .into_inner()
        .map_err(|e| Error::InvalidArgument(format!("writing CSV: {e}")))?;
    String::from_utf8(bytes).map_err(|e| Error::InvalidArgument(format!("writing CSV: {e}")))
}

/// A NumPy `.npy` (version 1.0) of `rows × cols` little-endian float32.
pub(crate) fn npy_bytes(rows: usize, cols: usize, data: impl Iterator<Item = f32>) -> Vec<u8> {
    let mut header =
        format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + rows * cols * 4);
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in data {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}
