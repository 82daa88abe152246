//! The taste: ratings and preferences in (per rater), heads trained and
//! compared, images scored with the rated works that explain each score,
//! and the side-by-side report.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use super::index::names;
use super::{Collection, Event};
use crate::error::{Error, Result};
use crate::explain::{self, RatedSet};
use crate::head::{self, HeadKind, PairwiseReport, SavedTraining, TrainReport};
use crate::imaging::{decode_file, DecodeLimits};
use crate::model::registry::BackboneId;
use crate::preferences::{self, Added, Removed};
use crate::ratings::{self, ImportReport, Rater, RemoveReport};
use crate::report::{
    CompareModel, CompareView, CurvePoint, LadderPoint, ModelScore, PairAgreement, PairComparison,
    ScoreView, ScoredImage,
};
use crate::store::Artwork;

/// What `score` is asked.
#[derive(Debug, Clone)]
pub struct ScoreRequest {
    /// Image files, or names of stored works ([`crate::works`]).
    pub images: Vec<PathBuf>,
    /// Rated references per backbone.
    pub k: usize,
    /// `None`: every backbone with a trained head.
    pub backbones: Option<Vec<BackboneId>>,
    /// Percentile of the collection's nearest-neighbour distances beyond
    /// which an image is out of distribution.
    pub ood_percentile: f64,
    /// Whose heads score, and whose ratings are the references.
    pub rater: Rater,
}

/// What `train` is asked.
#[derive(Debug, Clone)]
pub struct TrainRequest {
    pub head: HeadKind,
    pub folds: usize,
    pub seed: u64,
    pub bootstrap: usize,
    /// `None`: every backbone the store holds.
    pub backbones: Option<Vec<BackboneId>>,
    /// Independent K-fold splits the comparison on ratings averages over
    /// ([`head::DEFAULT_REPEATS`]; 1 is the single K-fold).
    pub repeats: usize,
    /// Whose ratings and preferences to learn.
    pub rater: Rater,
}

impl Default for TrainRequest {
    fn default() -> Self {
        TrainRequest {
            head: HeadKind::Ridge,
            folds: head::DEFAULT_FOLDS,
            seed: 0,
            bootstrap: head::DEFAULT_BOOTSTRAP,
            backbones: None,
            repeats: head::DEFAULT_REPEATS,
            rater: Rater::default(),
        }
    }
}

/// What `train` learnt: the comparison on ratings and the one on
/// preferences, whichever the rater has enough of.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TrainOutcome {
    pub rater: String,
    /// From the rater's scores (`None` without ratings). Serialised inline,
    /// so that `train --json` keeps the shape it had before preferences.
    #[serde(flatten)]
    pub ratings: Option<TrainReport>,
    /// From the rater's preferences (`None` with fewer than
    /// [`head::MIN_PREFERENCES`] of them).
    pub preferences: Option<PairwiseReport>,
}

/// Per backbone, one embedding per work the preferences name, and the
/// preferences as (winner, loser) row pairs.
type PreferenceSet = (Vec<Vec<Vec<f32>>>, Vec<(usize, usize)>);

/// What `compare` is asked.
#[derive(Debug, Clone, Default)]
pub struct CompareRequest {
    /// The metadata key whose agreement among neighbours is measured;
    /// `None`: [`DEFAULT_COMPARE_LABEL`]. A label given here that no work
    /// has is an error ([`Error::UnknownLabel`]); the default label is
    /// optional (a collection without styles gets no label metrics).
    pub label: Option<String>,
    pub k: usize,
    /// `None`: every backbone the store holds.
    pub backbones: Option<Vec<BackboneId>>,
    /// Whose training the verdict reports.
    pub rater: Rater,
}

/// The label `compare` measures when none is given.
pub const DEFAULT_COMPARE_LABEL: &str = "style";

/// The tree and key prefix of cached out-of-distribution thresholds.
const CACHE_TREE: &str = "cache";

impl Collection {
    /// Imports ratings from a CSV (all or nothing unless `skip_bad`) as
    /// `rater`'s, or as the raters its `rater` column names.
    pub fn rate_import_as(
        &self,
        csv: &Path,
        skip_bad: bool,
        rater: &Rater,
    ) -> Result<ImportReport> {
        self.wrote(|| ratings::import_csv_as(&self.store, csv, skip_bad, rater))
    }

    /// Rates one work as `rater`, replacing an earlier rating.
    pub fn rate_set_as(&self, rater: &Rater, work: &str, score: f64) -> Result<Artwork> {
        self.wrote(|| ratings::set_rating_as(&self.store, rater, work, score))
    }

    /// Removes `rater`'s ratings of several works at once (nothing when
    /// any name is unknown; see [`ratings::remove_ratings`]).
    pub fn rate_remove_many(&self, rater: &Rater, works: &[String]) -> Result<RemoveReport> {
        self.wrote(|| ratings::remove_ratings(&self.store, rater, works))
    }

    /// Removes every rating and preference of `rater`: (ratings, preferences).
    pub fn rate_clear(&self, rater: &Rater) -> Result<(usize, usize)> {
        self.wrote(|| {
            let r = ratings::clear_ratings(&self.store, rater)?;
            let p = preferences::clear_preferences(&self.store, rater)?;
            Ok((r, p))
        })
    }

    /// Stores that `rater` prefers `winner` to `loser`.
    pub fn rate_prefer(&self, rater: &Rater, winner: &str, loser: &str) -> Result<Added> {
        self.wrote(|| preferences::add_preference(&self.store, rater, winner, loser))
    }

    /// Takes back `rater`'s preference of `winner` over `loser` (the undo
    /// of [`Collection::rate_prefer`]); [`Error::NoPreference`] naming both
    /// works when there is none (see [`preferences::remove_preference`]).
    pub fn rate_unprefer(&self, rater: &Rater, winner: &str, loser: &str) -> Result<Removed> {
        self.wrote(|| preferences::remove_preference(&self.store, rater, winner, loser))
    }

    /// Cross-validates a head per backbone on the default rater's ratings,
    /// compares every pair, fits heads on all ratings and saves them with
    /// the report in one atomic batch ([`Collection::train_taste`] with the
    /// default rater, ratings required).
    pub fn train(
        &self,
        req: &TrainRequest,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<TrainReport> {
        let outcome = self.train_taste(req, on_event)?;
        outcome.ratings.ok_or_else(|| Error::NoRatings {
            store: self.store.path().to_path_buf(),
        })
    }

    /// Learns `req.rater`'s taste from scores, preferences or both: on the
    /// ratings, the ridge/MLP comparison of [`head::compare_backbones_repeated`];
    /// on the preferences (at least [`head::MIN_PREFERENCES`]), the
    /// Bradley–Terry comparison of [`head::compare_pairwise`]. Every head
    /// and both reports are saved in one atomic batch.
    pub fn train_taste(
        &self,
        req: &TrainRequest,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<TrainOutcome> {
        self.wrote(|| self.train_taste_inner(req, on_event))
    }

    fn train_taste_inner(
        &self,
        req: &TrainRequest,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<TrainOutcome> {
        let rater = &req.rater;
        let backbones = self.select_backbones(req.backbones.as_deref())?;
        let mut fingerprints = Vec::new();
        for id in &backbones {
            fingerprints.push(
                self.store
                    .fingerprint(id)?
                    .ok_or_else(|| Error::NotIndexed {
                        store: self.store.path().to_path_buf(),
                        backbone: id.name(),
                    })?,
            );
        }
        // In the order they were given (by time, then hash within a
        // second): the live verdict predicts each work from those rated
        // before it.
        let mut records = ratings::rating_records_of(&self.store, rater)?;
        records.sort_by(|(ha, a), (hb, b)| a.time.cmp(&b.time).then_with(|| ha.cmp(hb)));
        let all: Vec<(String, f64)> = records.into_iter().map(|(h, r)| (h, r.rating)).collect();
        let prefs = preferences::preferences_of(&self.store, rater)?;
        if all.is_empty() && prefs.is_empty() {
            return Err(self.no_ratings(rater));
        }
        if !all.is_empty() && all.iter().all(|(_, r)| *r == all[0].1) && prefs.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "the ratings have no spread: all {} are {}, so there is nothing to learn or \
                 rank (Spearman is undefined); rate works differently, then train",
                all.len(),
                all[0].1
            )));
        }
        let labels: Vec<(String, String)> = backbones
            .iter()
            .map(|id| (id.name(), id.short_label()))
            .collect();
        let mut report = None;
        let mut heads = Vec::new();
        let spread = all.iter().any(|(_, r)| *r != all[0].1);
        if spread {
            let set = head::aligned_training_set_of(&self.store, &all, &backbones)?;
            if set.skipped > 0 {
                on_event(Event::Note(format!(
                    "{} rated works lack an embedding of some backbone ({}) and are left out (run `artlens index`)",
                    set.skipped,
                    names(&backbones)
                )));
            }
            on_event(Event::Note(format!(
                "training {} heads on {} ratings by `{rater}` for {} ({}×{}-fold, {} bootstrap resamples)",
                req.head.name(),
                set.y.len(),
                names(&backbones),
                req.repeats.max(1),
                req.folds,
                req.bootstrap
            )));
            let inputs: Vec<head::Backbone<'_>> = labels
                .iter()
                .zip(&set.x)
                .map(|((name, label), x)| head::Backbone::new(name, label, x))
                .collect();
            report = Some(head::compare_backbones_repeated(
                &inputs,
                &set.y,
                req.head,
                req.folds,
                req.repeats.max(1),
                req.seed,
                req.bootstrap,
            )?);
            for (i, (id, x)) in backbones.iter().zip(&set.x).enumerate() {
                on_event(Event::Progress {
                    done: i,
                    total: backbones.len(),
                    failed: 0,
                });
                let mut fitted = head::fit(x, &set.y, req.head, req.seed)?;
                fitted.set_support(&set.hashes);
                heads.push((id.clone(), fitted, fingerprints[i].clone()));
            }
        } else if !all.is_empty() {
            on_event(Event::Note(format!(
                "the {} ratings by `{rater}` are all {}: only the preferences are learnt",
                all.len(),
                all[0].1
            )));
        }
        let mut pairwise = None;
        let mut pair_heads = Vec::new();
        if prefs.len() >= head::MIN_PREFERENCES {
            let (x, idx) = self.preference_set(&backbones, &prefs)?;
            if idx.len() < prefs.len() {
                on_event(Event::Note(format!(
                    "{} preferences name a work without an embedding of some backbone and are left out",
                    prefs.len() - idx.len()
                )));
            }
            on_event(Event::Note(format!(
                "training pairwise heads on {} preferences by `{rater}` for {}",
                idx.len(),
                names(&backbones)
            )));
            let inputs: Vec<head::Backbone<'_>> = labels
                .iter()
                .zip(&x)
                .map(|((name, label), x)| head::Backbone::new(name, label, x))
                .collect();
            pairwise = Some(head::compare_pairwise(
                &inputs,
                &idx,
                req.folds,
                req.seed,
                req.bootstrap,
            )?);
            for (i, (id, x)) in backbones.iter().zip(&x).enumerate() {
                let fitted = head::fit_pairwise(x, &idx, req.seed)?;
                pair_heads.push((id.clone(), fitted, fingerprints[i].clone()));
            }
        } else if !prefs.is_empty() {
            on_event(Event::Note(format!(
                "{} preferences by `{rater}`: the pairwise head needs at least {} (`artlens rate prefer WINNER LOSER`)",
                prefs.len(),
                head::MIN_PREFERENCES
            )));
        }
        if report.is_none() && pairwise.is_none() {
            return Err(Error::InvalidArgument(format!(
                "nothing to learn for rater `{rater}`: the ratings have no spread and there are \
                 {} preferences (at least {} are needed); rate works differently or add preferences",
                prefs.len(),
                head::MIN_PREFERENCES
            )));
        }
        let training = SavedTraining {
            report: report.clone(),
            pairwise: pairwise.clone(),
            rater: rater.clone(),
            ratings_digest: ratings::ratings_digest_of(&self.store, rater)?,
            preferences_digest: Some(preferences::preferences_digest(&self.store, rater)?),
            head_kind: req.head,
            backbones: backbones.iter().map(BackboneId::name).collect(),
            run: format!("{}-{}", crate::store::now_secs(), std::process::id()),
        };
        head::save_training_with(&self.store, &heads, &pair_heads, &training)?;
        Ok(TrainOutcome {
            rater: rater.name().to_string(),
            ratings: report,
            preferences: pairwise,
        })
    }

    /// The works `prefs` name with an embedding of every backbone (per
    /// backbone, one row per work) and the preferences as index pairs into
    /// those rows; preferences naming a work some backbone lacks are left out.
    fn preference_set(
        &self,
        backbones: &[BackboneId],
        prefs: &[preferences::Preference],
    ) -> Result<PreferenceSet> {
        let mut maps = Vec::new();
        for id in backbones {
            let m: HashMap<String, Vec<f32>> = self
                .store
                .embeddings(id)?
                .into_iter()
                .map(|(_, h, v)| (h, v))
                .collect();
            maps.push(m);
        }
        let mut row_of: HashMap<String, usize> = HashMap::new();
        let mut x: Vec<Vec<Vec<f32>>> = vec![Vec::new(); backbones.len()];
        let mut idx = Vec::new();
        for p in prefs {
            if !maps
                .iter()
                .all(|m| m.contains_key(&p.winner) && m.contains_key(&p.loser))
            {
                continue;
            }
            let mut row = |h: &str| -> usize {
                if let Some(&r) = row_of.get(h) {
                    return r;
                }
                for (b, m) in maps.iter().enumerate() {
                    x[b].push(m[h].clone());
                }
                row_of.insert(h.to_string(), row_of.len());
                row_of.len() - 1
            };
            let w = row(&p.winner);
            let l = row(&p.loser);
            idx.push((w, l));
        }
        Ok((x, idx))
    }

    fn no_ratings(&self, rater: &Rater) -> Error {
        if rater.is_default() {
            Error::NoRatings {
                store: self.store.path().to_path_buf(),
            }
        } else {
            Error::NoRatingsBy {
                rater: rater.name().to_string(),
                store: self.store.path().to_path_buf(),
            }
        }
    }

    /// Warnings about the saved training: ratings or preferences changed since.
    fn training_warnings(&self, training: &SavedTraining) -> Result<Vec<String>> {
        let mut w = Vec::new();
        let rater = &training.rater;
        let flag = if rater.is_default() {
            String::new()
        } else {
            format!(" --rater {rater}")
        };
        if training.ratings_digest != ratings::ratings_digest_of(&self.store, rater)? {
            w.push(format!(
                "the ratings changed after the heads were trained; run `artlens train{flag}` to bring the heads and the verdict up to date"
            ));
        }
        if let Some(d) = &training.preferences_digest {
            if *d != preferences::preferences_digest(&self.store, rater)? {
                w.push(format!(
                    "the preferences changed after the heads were trained; run `artlens train{flag}` to bring the heads and the verdict up to date"
                ));
            }
        }
        Ok(w)
    }

    /// Scores images with each backbone's head, with the rated works nearest
    /// to each ("historical references"), the kNN estimate and an
    /// out-of-distribution flag. Images that cannot be read are reported in
    /// their row; the others are scored.
    pub fn score(&self, req: &ScoreRequest, on_event: &mut dyn FnMut(Event)) -> Result<ScoreView> {
        if !(0.0..=100.0).contains(&req.ood_percentile) {
            return Err(Error::InvalidArgument(
                "--ood-percentile must be between 0 and 100".into(),
            ));
        }
        let all_ratings = ratings::ratings_of(&self.store, &req.rater)?;
        if all_ratings.is_empty() {
            return Err(self.no_ratings(&req.rater));
        }
        // The last rating of each work, as the rest of artlens reads them.
        let your_ratings: HashMap<&str, f64> =
            all_ratings.iter().map(|(h, r)| (h.as_str(), *r)).collect();
        let training = head::load_training_of(&self.store, &req.rater)?;
        let backbones = match (&req.backbones, &training) {
            (Some(b), _) => self.select_backbones(Some(b))?,
            (None, Some(t)) => t
                .backbones
                .iter()
                .map(|n| BackboneId::parse(n))
                .collect::<Result<_>>()?,
            (None, None) => self.select_backbones(None)?,
        };
        let limits = DecodeLimits::default();
        let mut images: Vec<ScoredImage> = req
            .images
            .iter()
            .map(|p| ScoredImage {
                path: p.display().to_string(),
                ..Default::default()
            })
            .collect();
        type Decoded = Option<(image::RgbImage, Option<(u64, String)>)>;
        let total = req.images.len();
        let mut decoded: Vec<Decoded> = Vec::with_capacity(total);
        for (i, (given, out)) in req.images.iter().zip(images.iter_mut()).enumerate() {
            // A name that is not a file may name a stored work (id, hash
            // prefix, relative path, ...): it is scored from its stored file.
            let named = if given.exists() {
                None
            } else {
                self.resolve(&given.to_string_lossy()).ok()
            };
            let p = match named.as_ref().and_then(|a| a.paths.first()) {
                Some(path) => PathBuf::from(path),
                None => given.clone(),
            };
            let p = &p;
            let stored = match named {
                Some(a) => Some((a.id, a.hash)),
                None => crate::scan::hash_file_bytes(p)
                    .ok()
                    .and_then(|(h, _)| self.store.artwork(&h).ok().flatten())
                    .map(|a| (a.id, a.hash)),
            };
            match decode_file(p, &limits) {
                Ok(img) => decoded.push(Some((img, stored))),
                Err(e) => {
                    on_event(Event::Failed {
                        path: p.clone(),
                        reason: e.to_string(),
                    });
                    out.error = Some(e.to_string());
                    decoded.push(None);
                }
            }
            if i % 8 == 7 {
                on_event(Event::Note(format!("decoded {}/{total} images", i + 1)));
            }
        }
        let n_steps = backbones.len() * total.max(1);
        let mut step = 0;
        let mut head_kind = None;
        for id in &backbones {
            let (trained, _) = head::load_head_of(&self.store, &req.rater, id)?;
            head_kind = Some(trained.kind().name().to_string());
            if self.store.fingerprint(id)?.is_none() {
                return Err(Error::NotIndexed {
                    store: self.store.path().to_path_buf(),
                    backbone: id.name(),
                });
            }
            let rated = RatedSet::from_store(&self.store, id, &all_ratings)?;
            if rated.is_empty() {
                return Err(Error::InvalidArgument(format!(
                    "no rated work has a {id} embedding; run `artlens index` on the rated works"
                )));
            }
            let threshold = self.ood_threshold(id, req.ood_percentile)?;
            let support = explain::VoteSupport::from_store(&self.store, id, &trained)?;
            let mut vectors: Vec<Option<Vec<f32>>> = vec![None; decoded.len()];
            let mut to_embed = Vec::new();
            for (i, d) in decoded.iter().enumerate() {
                if let Some((img, stored)) = d {
                    if let Some((_, hash)) = stored {
                        vectors[i] = self.store.embedding(id, hash)?;
                    }
                    if vectors[i].is_none() {
                        to_embed.push((i, img));
                    }
                }
            }
            if !to_embed.is_empty() {
                let backbone = self.backbone(id)?;
                on_event(Event::Note(format!(
                    "{id}: embedding {} images",
                    to_embed.len()
                )));
                for chunk in to_embed.chunks(8) {
                    let imgs: Vec<&image::RgbImage> = chunk.iter().map(|(_, img)| *img).collect();
                    let out = backbone.embed_images(&imgs)?;
                    for ((i, _), v) in chunk.iter().zip(out) {
                        vectors[*i] = Some(v);
                    }
                    step += chunk.len();
                    on_event(Event::Progress {
                        done: step,
                        total: n_steps,
                        failed: 0,
                    });
                }
            }
            for (i, v) in vectors.into_iter().enumerate() {
                let Some(v) = v else { continue };
                let exclude = decoded[i].as_ref().and_then(|d| d.1.as_ref().map(|s| s.0));
                let references = rated.references(&v, req.k, exclude)?;
                // Flagged when even the nearest rated work is farther than
                // the collection's usual nearest-neighbour distance.
                let nearest_ref = references.first().map(|r| r.similarity).unwrap_or(-1.0);
                let mut m = ModelScore::new(trained.predict_f64(&v), references);
                m.out_of_distribution = explain::is_out_of_distribution(nearest_ref, threshold);
                m.nearest_similarity = nearest_ref;
                m.threshold_similarity = 1.0 - threshold;
                let stored = decoded[i].as_ref().and_then(|d| d.1.as_ref());
                m.your_rating =
                    stored.and_then(|(_, hash)| your_ratings.get(hash.as_str()).copied());
                super::explain::add_contributions(&mut m, &support, &v, req.k, exclude);
                // A work rated after the head was trained is not in its
                // vote: the score already is the prediction without it.
                if m.your_rating.is_some() && m.without_your_rating.is_none() {
                    if let (Ok(s), Some(own)) = (&support, exclude) {
                        if !s.trained_on(own) {
                            m.without_your_rating = Some(m.score);
                        }
                    }
                }
                images[i].models.insert(id.name(), m);
            }
        }
        for img in &mut images {
            let lists: Vec<&Vec<explain::Reference>> =
                img.models.values().map(|m| &m.references).collect();
            img.reference_overlap = (lists.len() >= 2).then(|| {
                lists[0]
                    .iter()
                    .filter(|r| lists[1..].iter().all(|l| l.iter().any(|q| q.id == r.id)))
                    .count()
            });
        }
        let warnings = match &training {
            Some(t) => self.training_warnings(t)?,
            None => Vec::new(),
        };
        Ok(ScoreView {
            images,
            provenance: self.provenance(&backbones, head_kind),
            warnings,
        })
    }

    /// The collection's nearest-neighbour distance at `percentile`, cached
    /// in the store for this exact set of vectors: computing it is an
    /// all-pairs search (seconds at tens of thousands of works), the same
    /// for every `score` until the collection changes. A cache that cannot
    /// be written (a read-only store) is not an error.
    fn ood_threshold(&self, id: &BackboneId, percentile: f64) -> Result<f32> {
        #[derive(serde::Serialize, serde::Deserialize, PartialEq)]
        struct Cached {
            ids_hash: String,
            percentile: f64,
            threshold: f32,
        }
        let collection = self.store.embeddings(id)?;
        let ids_hash = crate::ann::ids_hash(collection.iter().map(|(i, _, _)| *i));
        let key = format!("ood/{}", id.key());
        if let Ok(Some(c)) = self.store.get_record::<Cached>(CACHE_TREE, &key) {
            let fresh = self
                .store
                .fingerprint_differences(&c.fingerprints)?
                .is_empty();
            if fresh && c.value.ids_hash == ids_hash && c.value.percentile == percentile {
                return Ok(c.value.threshold);
            }
        }
        let refs: Vec<&[f32]> = collection.iter().map(|(_, _, v)| v.as_slice()).collect();
        let threshold = explain::nn_distance_threshold(&refs, percentile)?;
        let fps = self.store.fingerprint(id)?.into_iter().collect();
        let _ = self.store.put_record(
            CACHE_TREE,
            &key,
            &Cached {
                ids_hash,
                percentile,
                threshold,
            },
            fps,
        );
        Ok(threshold)
    }

    /// The side-by-side report: label metrics per backbone (on the works all
    /// of them hold), neighbour agreement per pair, the saved training's
    /// cross-validated metrics, comparisons and verdict.
    pub fn compare(
        &self,
        req: &CompareRequest,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<CompareView> {
        // Along the data ladder: smallest pretraining set first, in every
        // column, list and chart (ties keep the order given).
        let mut backbones = self.select_backbones(req.backbones.as_deref())?;
        backbones.sort_by_key(BackboneId::ladder_key);
        let label = req
            .label
            .as_deref()
            .unwrap_or(DEFAULT_COMPARE_LABEL)
            .trim()
            .to_ascii_lowercase();
        let mut spaces: Vec<HashMap<String, Vec<f32>>> = Vec::new();
        for id in &backbones {
            spaces.push(
                self.store
                    .embeddings(id)?
                    .into_iter()
                    .map(|(_, h, v)| (h, v))
                    .collect(),
            );
        }
        // The same works in every space, in one order (by id).
        let mut common: Vec<Artwork> = Vec::new();
        for a in self.store.artworks()? {
            if spaces.iter().all(|s| s.contains_key(&a.hash)) {
                common.push(a);
            }
        }
        let vectors: Vec<Vec<&[f32]>> = spaces
            .iter()
            .map(|s| common.iter().map(|a| s[&a.hash].as_slice()).collect())
            .collect();
        let labels: Vec<Option<String>> = common
            .iter()
            .map(|a| {
                a.metadata
                    .get(&label)
                    .cloned()
                    .filter(|s| !s.trim().is_empty())
            })
            .collect();
        let k = req.k;
        let labelled = labels.iter().filter(|l| l.is_some()).count();
        if labelled == 0 && req.label.is_some() {
            return Err(Error::UnknownLabel {
                label,
                known: super::query::known_labels(common.iter().map(|a| &a.metadata)),
            });
        }
        if labelled < 2 {
            on_event(Event::Note(format!(
                "fewer than two works have a `{label}` in their metadata: no label metrics (index with --metadata, or the WikiArt folder layout)"
            )));
        }
        let mut models = BTreeMap::new();
        for (id, v) in backbones.iter().zip(&vectors) {
            let m = if labelled >= 2 {
                CompareModel::from_label_metrics(&explain::label_metrics(v, &labels, k)?)
            } else {
                CompareModel {
                    n: labelled,
                    ..Default::default()
                }
            };
            models.insert(id.name(), m);
        }
        let mut agreements = Vec::new();
        for i in 0..backbones.len() {
            for j in i + 1..backbones.len() {
                agreements.push(PairAgreement {
                    a: backbones[i].name(),
                    b: backbones[j].name(),
                    agreement: explain::neighbour_agreement(&vectors[i], &vectors[j], k)?,
                    chance: explain::neighbour_agreement_chance(common.len(), k),
                });
            }
        }
        let (neighbour_agreement, neighbour_agreement_chance) = agreements
            .first()
            .map(|p| (p.agreement, p.chance))
            .unwrap_or((1.0, 1.0));

        let mut learning_curve = BTreeMap::new();
        let mut fold_spearman: HashMap<String, (Vec<f64>, usize)> = HashMap::new();
        let mut headlines: HashMap<String, (f64, f64, f64)> = HashMap::new();
        let mut answer = (String::new(), String::new(), String::new(), 0, 0);
        let mut comparisons = Vec::new();
        let mut warnings = Vec::new();
        let mut head_kind = None;
        let mut train_json = None;
        let verdict = match head::load_training_of(&self.store, &req.rater)? {
            Some(SavedTraining {
                report: None,
                pairwise: Some(p),
                ..
            }) => {
                train_json = Some(serde_json::to_value(&p).map_err(|e| {
                    Error::InvalidArgument(format!("cannot serialise the pairwise report: {e}"))
                })?);
                p.verdict.clone()
            }
            Some(t) if t.report.is_some() => {
                warnings.extend(self.training_warnings(&t)?);
                head_kind = Some(t.head_kind.name().to_string());
                let r = t.report.as_ref().expect("checked by the guard");
                answer = (
                    r.verdict_detail.clone(),
                    r.procedure.clone(),
                    r.headline_name.clone(),
                    r.n_ratings,
                    r.first_answer,
                );
                for (name, b) in &r.backbones {
                    if r.answer_ready() {
                        headlines
                            .insert(name.clone(), (b.headline, b.headline_low, b.headline_high));
                    }
                    let per_fold: Vec<f64> = b.per_fold.iter().map(|m| m.spearman).collect();
                    fold_spearman.insert(name.clone(), (per_fold, r.folds));
                    if let Some(m) = models.get_mut(name) {
                        m.cv = BTreeMap::from([
                            ("spearman".to_string(), b.pooled.spearman),
                            ("pearson".to_string(), b.pooled.pearson),
                            ("mae".to_string(), b.pooled.mae),
                            ("pairwise_accuracy".to_string(), b.pooled.pairwise_accuracy),
                        ]);
                    }
                    learning_curve.insert(
                        name.clone(),
                        b.learning_curve
                            .iter()
                            .map(|p| CurvePoint {
                                fraction: p.fraction,
                                n_train: p.n_train,
                                spearman: p.metrics.spearman,
                            })
                            .collect(),
                    );
                }
                for c in &r.comparisons {
                    comparisons.push(PairComparison {
                        a: c.a.clone(),
                        b: c.b.clone(),
                        metric: c.metric.label().to_string(),
                        diff: c.diff,
                        ci_low: c.ci_low,
                        ci_high: c.ci_high,
                        ci_level: c.ci_level,
                        significant: c.significant,
                    });
                }
                if backbones
                    .iter()
                    .any(|b| !r.backbones.contains_key(&b.name()))
                {
                    warnings.push(format!(
                        "the last training run covered {}, not every backbone shown; run `artlens train --backbones {}`",
                        t.backbones.join(", "),
                        names(&backbones).replace(' ', "")
                    ));
                }
                train_json = Some(serde_json::to_value(r).map_err(|e| {
                    Error::InvalidArgument(format!("cannot serialise the train report: {e}"))
                })?);
                match &t.pairwise {
                    Some(p) => format!("{}. On preferences: {}", r.verdict, p.verdict),
                    None => r.verdict.clone(),
                }
            }
            _ => {
                on_event(Event::Note("no trained heads yet: `artlens rate import CSV` and `artlens train` add the taste metrics and the verdict".into()));
                "No verdict on taste yet: rate some works and run `artlens train`.".to_string()
            }
        };
        let ladder = backbones
            .iter()
            .map(|id| {
                let spec = id.spec();
                let (spearman, ci_low, ci_high, folds) = match fold_spearman.get(&id.name()) {
                    Some((values, k)) => corrected_fold_interval(values, *k),
                    None => (None, None, None, 0),
                };
                LadderPoint {
                    id: id.name(),
                    display_name: id.display_name(),
                    family: spec
                        .family
                        .map(|f| format!("{f:?}").to_ascii_lowercase())
                        .unwrap_or_default(),
                    pretraining_data: spec
                        .pretraining
                        .map(|p| p.name.to_string())
                        .unwrap_or_default(),
                    pretraining_images: spec.pretraining_images(),
                    params: spec.params,
                    spearman,
                    ci_low,
                    ci_high,
                    folds,
                    headline: headlines.get(&id.name()).map(|h| h.0),
                    headline_low: headlines.get(&id.name()).map(|h| h.1),
                    headline_high: headlines.get(&id.name()).map(|h| h.2),
                }
            })
            .collect();
        Ok(CompareView {
            ladder,
            label: if labelled >= 2 { label } else { String::new() },
            models,
            neighbour_agreement,
            neighbour_agreement_chance,
            k,
            learning_curve,
            verdict,
            verdict_detail: answer.0,
            procedure: answer.1,
            headline_name: answer.2,
            n_ratings: answer.3,
            first_answer: answer.4,
            train_report_json: train_json,
            provenance: self.provenance(&backbones, head_kind),
            comparisons,
            agreements,
            warnings,
        })
    }
}

/// The mean of R×K cross-validation fold values with a 95% interval from
/// Nadeau & Bengio's corrected variance, `(1/J + n_test/n_train) · s²` with
/// `n_test/n_train = 1/(K − 1)` (Bouckaert & Frank's corrected repeated
/// k-fold t), and Student's t with J − 1 degrees of freedom. The plain
/// `s²/J` would pretend the folds were independent; they share training
/// works. Non-finite fold values (a constant prediction) are left out; the
/// interval is clamped to a correlation's [−1, 1].
fn corrected_fold_interval(
    values: &[f64],
    folds: usize,
) -> (Option<f64>, Option<f64>, Option<f64>, usize) {
    let v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    let j = v.len();
    if j == 0 {
        return (None, None, None, 0);
    }
    let mean = v.iter().sum::<f64>() / j as f64;
    if j < 2 || folds < 2 {
        return (Some(mean), None, None, j);
    }
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (j - 1) as f64;
    let se = ((1.0 / j as f64 + 1.0 / (folds - 1) as f64) * var).sqrt();
    let half = student_t_975(j - 1) * se;
    // A correlation's interval ends at ±1.
    let clamp = |x: f64| x.clamp(-1.0, 1.0);
    (
        Some(mean),
        Some(clamp(mean - half)),
        Some(clamp(mean + half)),
        j,
    )
}

/// Student's t 97.5% quantile for `df` degrees of freedom: tabled up to 10
/// (where the expansion is least accurate), then the Cornish–Fisher
/// expansion about the normal quantile (within 0.02% from 11 up).
fn student_t_975(df: usize) -> f64 {
    const TABLE: [f64; 10] = [
        12.706_205, 4.302_653, 3.182_446, 2.776_445, 2.570_582, 2.446_912, 2.364_624, 2.306_004,
        2.262_157, 2.228_139,
    ];
    match df {
        0 => f64::NAN,
        1..=10 => TABLE[df - 1],
        _ => {
            let z: f64 = 1.959_963_985;
            let n = df as f64;
            z + (z.powi(3) + z) / (4.0 * n)
                + (5.0 * z.powi(5) + 16.0 * z.powi(3) + 3.0 * z) / (96.0 * n * n)
                + (3.0 * z.powi(7) + 19.0 * z.powi(5) + 17.0 * z.powi(3) - 15.0 * z)
                    / (384.0 * n.powi(3))
        }
    }
}

#[cfg(test)]
mod ladder_tests {
    use super::*;

    #[test]
    fn student_t_quantiles_match_tables() {
        // scipy.stats.t.ppf(0.975, df)
        // The expansion's range (the table below 11 is scipy's own values).
        for (df, want) in [
            (11, 2.200985),
            (14, 2.144787),
            (49, 2.009575),
            (1000, 1.962339),
        ] {
            let got = student_t_975(df);
            assert!((got - want).abs() / want < 2e-4, "df {df}: {got} vs {want}");
        }
    }

    #[test]
    fn fold_intervals_are_corrected_for_shared_training_works() {
        let values = [0.1, 0.3, 0.2, 0.4, 0.0];
        let (mean, lo, hi, j) = corrected_fold_interval(&values, 5);
        assert_eq!(j, 5);
        assert!((mean.unwrap() - 0.2).abs() < 1e-12);
        // s² = 0.025; (1/5 + 1/4)·s² → se 0.10607; t(4) = 2.776.
        let half = hi.unwrap() - mean.unwrap();
        assert!((half - 2.776445 * 0.106066).abs() < 2e-3, "{half}");
        assert!((mean.unwrap() - lo.unwrap() - half).abs() < 1e-12);
        assert_eq!(
            corrected_fold_interval(&[f64::NAN], 5),
            (None, None, None, 0)
        );
    }
}
