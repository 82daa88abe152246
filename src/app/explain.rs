//! Explanations that need the models: `explain` (where a query and one of
//! its references look alike, per backbone, from patch tokens computed on
//! demand), the patch maps `score --html` shows for each backbone's top
//! reference, and the exact contributions `score` lists for a ridge head.
//!
//! The arithmetic lives in [`crate::explain`]; this module finds the images,
//! runs the backbones and fills the views.

use std::collections::HashMap;
use std::path::Path;

use image::RgbImage;

use super::image::LoadedImage;
use super::views::{ExplainImage, ExplainModel, ExplainView, ModelScore, PairMaps, ScoreView};
use super::{Collection, Event, ImageRef};
use crate::error::{Error, Result};
use crate::explain::{self, RatedSet, VoteSupport};
use crate::imaging::{decode_file, DecodeLimits, Geometry, Preprocess};
use crate::model::registry::BackboneId;
use crate::model::Backbone;
use crate::ratings::{self, Rater};
use crate::store::Artwork;

/// What `explain` is asked.
#[derive(Debug, Clone)]
pub struct ExplainRequest {
    /// The image to explain: a file, an upload, or a stored work by name.
    pub query: ImageRef,
    /// The image to compare with. `None`: per backbone, the rated work
    /// nearest to the query (the top reference `score` shows), or the
    /// nearest stored work when nothing is rated.
    pub reference: Option<ImageRef>,
    /// `None`: every backbone the store holds.
    pub backbones: Option<Vec<BackboneId>>,
    /// Whose ratings the images show and the default reference is chosen
    /// from.
    pub rater: Rater,
}

/// An image found and decoded, with the stored work it is (if any).
struct Located {
    view: ExplainImage,
    art: Option<Artwork>,
    image: RgbImage,
}

impl Collection {
    /// For a query and one reference per backbone, which regions of each
    /// image match the other (every patch token's best cosine match among the
    /// other image's patch tokens) and where the CLS token attends in the
    /// last block (mean over heads and per head).
    ///
    /// An image that cannot be read is [`Error::Decode`] (or the I/O error)
    /// naming the file.
    pub fn explain(
        &self,
        req: &ExplainRequest,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<ExplainView> {
        let backbones = self.select_backbones(req.backbones.as_deref())?;
        let rated: HashMap<String, f64> = ratings::ratings_of(&self.store, &req.rater)?
            .into_iter()
            .collect();
        let all_ratings: Vec<(String, f64)> = rated.iter().map(|(h, r)| (h.clone(), *r)).collect();
        let query = self.locate(&req.query, &rated)?;
        let given = match &req.reference {
            Some(r) => Some(self.locate(r, &rated)?),
            None => None,
        };
        let exclude = query.art.as_ref().map(|a| a.id);
        // Decoded references by work id (or path), shared by the backbones.
        let mut found: HashMap<u64, Located> = HashMap::new();
        let mut models = std::collections::BTreeMap::new();
        let mut warnings = Vec::new();
        for id in &backbones {
            let backbone = self.backbone(id)?;
            on_event(Event::Note(format!("{id}: patch tokens of the query")));
            let tq = one(backbone.tokens_images(&[&query.image])?)?;
            let (reference, chosen) = match &given {
                Some(r) => (r, "given"),
                None => {
                    let set = RatedSet::from_store(&self.store, id, &all_ratings)?;
                    let (work, chosen) = match set.references(&tq.embedding, 1, exclude)?.first() {
                        Some(r) => (r.id, "nearest rated work"),
                        None => {
                            if !rated.is_empty() {
                                warnings.push(format!(
                                    "{id}: no other rated work has an embedding of this backbone; compared with the nearest stored work"
                                ));
                            }
                            let ann = self.ann(id, on_event)?;
                            let keep = |i: u64| Some(i) != exclude;
                            let hit = ann.search(&tq.embedding, 1, Some(&keep))?;
                            let Some(&(work, _)) = hit.first() else {
                                return Err(Error::InvalidArgument(format!(
                                    "{id}: the store holds no other work to compare {} with; name one with --reference",
                                    query.view.path
                                )));
                            };
                            (work, "nearest stored work")
                        }
                    };
                    if let std::collections::hash_map::Entry::Vacant(slot) = found.entry(work) {
                        let art = self.store.artwork_by_id(work)?.ok_or_else(|| {
                            Error::InvalidArgument(format!(
                                "work #{work} is listed by the index but not stored"
                            ))
                        })?;
                        slot.insert(self.locate_art(art, &rated)?);
                    }
                    (&found[&work], chosen)
                }
            };
            on_event(Event::Note(format!("{id}: patch tokens of the reference")));
            let tr = one(backbone.tokens_images(&[&reference.image])?)?;
            let maps = maps_of(&backbone, &query.image, &tq, &reference.image, &tr);
            models.insert(
                id.name(),
                ExplainModel {
                    reference: reference.view.clone(),
                    chosen: chosen.to_string(),
                    similarity: cosine(&tq.embedding, &tr.embedding),
                    heads: tq.cls_attention.len(),
                    maps,
                },
            );
        }
        Ok(ExplainView {
            query: query.view,
            models,
            provenance: self.provenance(&backbones, None),
            warnings,
        })
    }

    /// Adds to every scored image the patch maps of it and its first
    /// reference under each backbone (what `score --html` shows). A
    /// reference whose file cannot be read, or a backbone that cannot be
    /// loaded, is skipped with a note.
    ///
    /// `images` are the images the view was scored from, in its order.
    pub fn add_score_maps(
        &self,
        view: &mut ScoreView,
        images: &[ImageRef],
        on_event: &mut dyn FnMut(Event),
    ) -> Result<()> {
        let rated: HashMap<String, f64> = HashMap::new();
        for (img, given) in view.images.iter_mut().zip(images) {
            if img.error.is_some() {
                continue;
            }
            let query = match self.locate(given, &rated) {
                Ok(q) => q,
                Err(e) => {
                    on_event(Event::Note(format!("no patch maps for {}: {e}", img.path)));
                    continue;
                }
            };
            for (name, m) in img.models.iter_mut() {
                let Some(path) = m.references.first().and_then(|r| r.path.clone()) else {
                    continue;
                };
                let reference = match decode_file(Path::new(&path), &DecodeLimits::default()) {
                    Ok(r) => r,
                    Err(e) => {
                        on_event(Event::Note(format!("no patch maps for {name}: {e}")));
                        continue;
                    }
                };
                // Maps are an extra of the page: without the model (weights
                // not at hand) the scores are still worth writing.
                let backbone = match BackboneId::parse(name).and_then(|id| self.backbone(&id)) {
                    Ok(b) => b,
                    Err(e) => {
                        on_event(Event::Note(format!("no patch maps for {name}: {e}")));
                        continue;
                    }
                };
                let mut t = backbone.tokens_images(&[&query.image, &reference])?;
                if t.len() != 2 {
                    continue;
                }
                let tr = t.remove(1);
                let tq = t.remove(0);
                m.maps = Some(maps_of(&backbone, &query.image, &tq, &reference, &tr));
            }
        }
        Ok(())
    }

    /// Finds and decodes `image`, with the view of it `explain` shows.
    fn locate(&self, image: &ImageRef, rated: &HashMap<String, f64>) -> Result<Located> {
        Ok(located(self.load_image(image)?, rated))
    }

    fn locate_art(&self, art: Artwork, rated: &HashMap<String, f64>) -> Result<Located> {
        Ok(located(self.load_work(art)?, rated))
    }
}

/// Fills a score's contributions from its backbone's [`VoteSupport`], or says
/// why there are none: the small piece of `score` that explains a ridge head.
/// `own` is the scored image's id when it is a stored work; when the head was
/// trained on it, its leave-one-out prediction fills `without_your_rating`.
pub(crate) fn add_contributions(
    m: &mut ModelScore,
    support: &std::result::Result<VoteSupport, String>,
    v: &[f32],
    top: usize,
    own: Option<u64>,
) {
    match support.as_ref().map(|s| s.explain(v, top, own)) {
        Ok(Some(c)) => {
            m.intercept = Some(c.mean);
            m.contribution_rest = Some(c.rest);
            m.contribution_rest_count = Some(c.rest_count);
            m.contributions = c.shown;
            m.without_your_rating = c.without_own;
        }
        Ok(None) => {
            m.contributions_note =
                Some("the embedding does not have the head's length: no contributions".into())
        }
        Err(why) => m.contributions_note = Some(why.clone()),
    }
}

fn one(mut v: Vec<crate::model::ImageTokens>) -> Result<crate::model::ImageTokens> {
    v.pop()
        .ok_or_else(|| Error::InvalidArgument("the backbone returned no tokens".into()))
}

fn located(l: LoadedImage, rated: &HashMap<String, f64>) -> Located {
    let mut view = image_view(l.art.as_ref(), rated);
    view.path = l.source;
    Located {
        view,
        art: l.art,
        image: l.image,
    }
}

fn image_view(art: Option<&Artwork>, rated: &HashMap<String, f64>) -> ExplainImage {
    match art {
        Some(a) => ExplainImage {
            path: String::new(),
            id: Some(a.id),
            hash: Some(a.hash.clone()),
            rating: rated.get(&a.hash).copied(),
            metadata: a.metadata.clone(),
        },
        None => ExplainImage::default(),
    }
}

fn maps_of(
    backbone: &Backbone,
    qi: &RgbImage,
    tq: &crate::model::ImageTokens,
    ri: &RgbImage,
    tr: &crate::model::ImageTokens,
) -> PairMaps {
    let pre = backbone.preprocess();
    let (query, reference) = explain::pair_maps(
        tq,
        tr,
        (
            visible_region(pre, qi.width(), qi.height()),
            visible_region(pre, ri.width(), ri.height()),
        ),
    );
    PairMaps { query, reference }
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    match (
        crate::ann::normalised(a, a.len()),
        crate::ann::normalised(b, b.len()),
    ) {
        (Ok(a), Ok(b)) => crate::ann::dot(&a, &b),
        _ => 0.0,
    }
}

/// The part of a `w`×`h` image the model sees after `pre`'s geometry, as
/// `[left, top, width, height]` fractions: all of it for a squash, the
/// centre crop of the shorter-side resize otherwise (to within a pixel of the
/// crop's rounding, which does not show in a heat map).
pub(crate) fn visible_region(pre: &Preprocess, w: u32, h: u32) -> [f64; 4] {
    match pre.geometry {
        Geometry::Squash { .. } => [0.0, 0.0, 1.0, 1.0],
        Geometry::ShortSideCenterCrop { resize_to, crop }
        | Geometry::ShortSideCenterCropFloor { resize_to, crop } => {
            if w == 0 || h == 0 {
                return [0.0, 0.0, 1.0, 1.0];
            }
            let (w, h, r) = (f64::from(w), f64::from(h), f64::from(resize_to));
            let (nw, nh) = if w <= h {
                (r, (r * h / w).floor())
            } else {
                ((r * w / h).floor(), r)
            };
            let fw = (f64::from(crop) / nw).min(1.0);
            let fh = (f64::from(crop) / nh).min(1.0);
            [(1.0 - fw) / 2.0, (1.0 - fh) / 2.0, fw, fh]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imaging::test_support::{short_side_crop, squash};

    #[test]
    fn visible_region_is_the_centre_crop() {
        let squash = squash(224, 224);
        assert_eq!(visible_region(&squash, 300, 100), [0.0, 0.0, 1.0, 1.0]);
        let crop = short_side_crop(518, 518);
        // 200 × 100 → 1036 × 518, the middle half of the width survives.
        assert_eq!(visible_region(&crop, 200, 100), [0.25, 0.0, 0.5, 1.0]);
        assert_eq!(visible_region(&crop, 100, 100), [0.0, 0.0, 1.0, 1.0]);
        let tall = visible_region(&crop, 100, 400);
        assert!((tall[1] - 0.375).abs() < 1e-12 && (tall[3] - 0.25).abs() < 1e-12);
    }
}
