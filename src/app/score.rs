//! `score`: each image scored by each backbone's head, with the rated
//! works nearest to it (the references), the kNN estimate, an
//! out-of-distribution flag and the score taken apart into the rated works'
//! contributions. The method decodes and embeds what it must and calls
//! [`crate::explain`] for each piece; the out-of-distribution threshold is
//! cached in the store per set of vectors.

use super::views::{ModelScore, ScoreView, ScoredImage};
use super::{Collection, Event, ImageRef};
use crate::error::{Error, Result};
use crate::explain::{self, RatedSet};
use crate::head;
use crate::model::registry::BackboneId;
use crate::ratings::{self, Rater};
use std::collections::HashMap;

/// What `score` is asked.
#[derive(Debug, Clone)]
pub struct ScoreRequest {
    /// The images to score: files, uploads, or stored works by name.
    pub images: Vec<ImageRef>,
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

impl ScoreRequest {
    /// Checks `k` and the percentile against their bounds, naming them.
    pub fn validate(&self) -> Result<()> {
        crate::limits::check_count("k", self.k, 1, crate::limits::MAX_NEIGHBOURS)?;
        if !(0.0..=100.0).contains(&self.ood_percentile) {
            return Err(Error::InvalidArgument(
                "--ood-percentile must be between 0 and 100".into(),
            ));
        }
        Ok(())
    }
}

/// The tree and key prefix of cached out-of-distribution thresholds.
const CACHE_TREE: &str = "cache";

/// A decoded query image, and the stored work it is (id, hash), if any.
type Decoded = Option<(image::RgbImage, Option<(u64, String)>)>;

impl Collection {
    /// Scores images with each backbone's head, with the rated works nearest
    /// to each ("historical references"), the kNN estimate and an
    /// out-of-distribution flag. Images that cannot be read are reported in
    /// their row; the others are scored.
    pub fn score(&self, req: &ScoreRequest, on_event: &mut dyn FnMut(Event)) -> Result<ScoreView> {
        req.validate()?;
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
        let mut images: Vec<ScoredImage> = req
            .images
            .iter()
            .map(|p| ScoredImage {
                path: p.shown(),
                ..Default::default()
            })
            .collect();
        let decoded = self.decode_queries(&req.images, &mut images, on_event);
        let n_steps = backbones.len() * req.images.len().max(1);
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
                let stored = decoded[i].as_ref().and_then(|d| d.1.as_ref());
                let exclude = stored.map(|s| s.0);
                let references = rated.references(&v, req.k, exclude)?;
                // Flagged when even the nearest rated work is farther than
                // the collection's usual nearest-neighbour distance.
                let nearest_ref = references.first().map(|r| r.similarity).unwrap_or(-1.0);
                let mut m = ModelScore::new(trained.predict_f64(&v), references);
                m.out_of_distribution = explain::is_out_of_distribution(nearest_ref, threshold);
                m.nearest_similarity = nearest_ref;
                m.threshold_similarity = 1.0 - threshold;
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
            let lists: Vec<&[explain::Reference]> = img
                .models
                .values()
                .map(|m| m.references.as_slice())
                .collect();
            img.reference_overlap = explain::references_in_all(&lists);
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

    /// Each query image decoded, with the stored work it is; a failure is
    /// reported (an event, and the error in the image's row) and leaves
    /// `None` in its place.
    fn decode_queries(
        &self,
        given: &[ImageRef],
        rows: &mut [ScoredImage],
        on_event: &mut dyn FnMut(Event),
    ) -> Vec<Decoded> {
        let total = given.len();
        let mut decoded: Vec<Decoded> = Vec::with_capacity(total);
        for (i, (given, out)) in given.iter().zip(rows.iter_mut()).enumerate() {
            match self.load_image(given) {
                Ok(l) => decoded.push(Some((l.image, l.art.map(|a| (a.id, a.hash))))),
                Err(e) => {
                    // The row is labelled with the name already; a name that
                    // is neither a file nor a work says so without repeating it.
                    let reason = match (&e, given) {
                        (Error::WorkNotFound { tried, .. }, ImageRef::Work(_)) => format!(
                            "no such image file, and no stored work by that name (tried: {tried})"
                        ),
                        _ => e.to_string(),
                    };
                    on_event(Event::Failed {
                        path: given.shown().into(),
                        reason: reason.clone(),
                    });
                    out.error = Some(reason);
                    decoded.push(None);
                }
            }
            if i % 8 == 7 {
                on_event(Event::Note(format!("decoded {}/{total} images", i + 1)));
            }
        }
        decoded
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
}
