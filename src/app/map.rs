//! `map`: each backbone's 2D layout of the collection ([`crate::map`]),
//! read from the store when it still fits the works and the embeddings,
//! else computed and stored; the later panels turned to match the first;
//! each point with the rater's rating and the backbone's predicted score.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::{backbone_label, work_title, Collection, Event, MapPanel, MapPoint, MapView, MapWork};
use crate::error::{Error, Result};
use crate::limits::MIN_MAP_WORKS;
use crate::map::{align, layout, trustworthiness, LayoutParams, Stage};
use crate::model::registry::BackboneId;
use crate::ratings::Rater;
use crate::store::MapRecord;

/// The neighbourhood size the maps' trustworthiness is measured at.
pub const MAP_TRUST_K: usize = 10;

/// Works asked about when measuring trustworthiness: the count is n² over
/// all works, so larger collections are measured on the first works by id
/// (their ranks still over every work).
const TRUST_SAMPLE: usize = 1000;

/// A metadata key offered for colouring has at most this many distinct
/// values: one colour each must stay tellable apart.
pub const MAX_COLOUR_VALUES: usize = 24;

/// What `map` is asked.
#[derive(Debug, Clone)]
pub struct MapRequest {
    /// The backbones to map, in panel order; `None` or empty: every
    /// backbone the store holds.
    pub backbones: Option<Vec<BackboneId>>,
    /// Whose ratings and predictions the points carry.
    pub rater: Rater,
}

/// One backbone's layout as the view needs it.
struct Layout {
    ids: Vec<u64>,
    hashes: Vec<String>,
    xy: Vec<[f32; 2]>,
    trust: Option<f64>,
    revision: u64,
    computed: bool,
}

impl Collection {
    /// The maps of `req.backbones`, side by side. A backbone with fewer
    /// than [`MIN_MAP_WORKS`] embedded works is [`Error::TooFewToMap`].
    /// A map is computed once per backbone and set of works and kept in
    /// the store; a store that cannot be written (read-only) still gets
    /// its maps, computed each time.
    pub fn map(&self, req: &MapRequest, on_event: &mut dyn FnMut(Event)) -> Result<MapView> {
        let backbones = self.select_backbones(req.backbones.as_deref())?;
        let mut layouts = Vec::with_capacity(backbones.len());
        for id in &backbones {
            layouts.push(self.layout_of(id, on_event)?);
        }
        // Turn every later panel onto the first, on the works they share.
        if let Some((first, rest)) = layouts.split_first_mut() {
            let at: HashMap<u64, usize> =
                first.ids.iter().enumerate().map(|(i, &w)| (w, i)).collect();
            for l in rest {
                let pairs: Vec<(usize, usize)> = l
                    .ids
                    .iter()
                    .enumerate()
                    .filter_map(|(i, w)| at.get(w).map(|&j| (i, j)))
                    .collect();
                align(&mut l.xy, &first.xy, &pairs);
            }
        }
        let ratings = self.rating_map(&req.rater)?;
        let mut panels = Vec::with_capacity(layouts.len());
        let mut shown = BTreeSet::new();
        for (id, l) in backbones.iter().zip(layouts) {
            let predicted = self.predictions(id, &req.rater).ok();
            let points = l
                .ids
                .iter()
                .zip(&l.hashes)
                .zip(&l.xy)
                .map(|((&w, hash), p)| {
                    shown.insert(w);
                    MapPoint {
                        id: w,
                        x: p[0],
                        y: p[1],
                        rating: ratings.get(hash).copied(),
                        predicted: predicted.as_ref().and_then(|m| m.get(&w).copied()),
                    }
                })
                .collect();
            panels.push(MapPanel {
                backbone: backbone_label(id),
                points,
                trustworthiness: l.trust,
                revision: l.revision,
                computed: l.computed,
            });
        }
        let mut works = Vec::with_capacity(shown.len());
        let mut values: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for art in self
            .all_artworks()?
            .iter()
            .filter(|a| shown.contains(&a.id))
        {
            for (k, v) in &art.metadata {
                values.entry(k.clone()).or_default().insert(v.clone());
            }
            works.push(MapWork {
                id: art.id,
                title: work_title(art),
                metadata: art.metadata.clone(),
            });
        }
        let keys = values
            .into_iter()
            .filter(|(k, v)| k != "title" && (2..=MAX_COLOUR_VALUES).contains(&v.len()))
            .map(|(k, _)| k)
            .collect();
        Ok(MapView {
            provenance: self.provenance(&backbones, None),
            rater: req.rater.name().to_string(),
            panels,
            works,
            keys,
        })
    }

    /// `id`'s layout: the stored one when it was made from the same
    /// embeddings (fingerprint), the same works and the same settings,
    /// else computed now and stored with its revision one higher.
    fn layout_of(&self, id: &BackboneId, on_event: &mut dyn FnMut(Event)) -> Result<Layout> {
        let mut rows = self.store().embeddings(id)?;
        rows.sort_by_key(|r| r.0);
        if rows.len() < MIN_MAP_WORKS {
            return Err(Error::TooFewToMap {
                what: format!("backbone {}", id.name()),
                works: rows.len(),
                min: MIN_MAP_WORKS,
            });
        }
        let ids: Vec<u64> = rows.iter().map(|r| r.0).collect();
        let ids_hash = crate::ann::ids_hash(ids.iter().copied());
        let params = LayoutParams::default();
        let settings = format!(
            "umap k={} seed={} epochs={:?} v1",
            params.neighbours, params.seed, params.epochs
        );
        let fingerprint = self.store().fingerprint(id)?;
        let stored = self.store().map_record(id)?;
        if let Some(rec) = &stored {
            let same_embeddings = fingerprint.is_some()
                && rec.fingerprints.len() == 1
                && rec.fingerprints.first() == fingerprint.as_ref();
            let v = &rec.value;
            if same_embeddings
                && v.ids_hash == ids_hash
                && v.settings == settings
                && v.ids == ids
                && v.xy.len() == ids.len()
            {
                return Ok(Layout {
                    hashes: rows.into_iter().map(|r| r.1).collect(),
                    ids,
                    xy: v.xy.clone(),
                    trust: v.trustworthiness,
                    revision: v.revision,
                    computed: false,
                });
            }
        }
        on_event(Event::Note(format!(
            "laying out {} works for the {} map",
            rows.len(),
            id.name()
        )));
        let vectors: Vec<&[f32]> = rows.iter().map(|r| r.2.as_slice()).collect();
        let xy = layout(&vectors, &params, &mut |stage| {
            if let Stage::Descent { epoch, epochs } = stage {
                if epoch == epochs {
                    on_event(Event::Note(format!("{}: layout done", id.name())));
                }
            }
        })?;
        let trust = if rows.len() > 2 * MAP_TRUST_K {
            Some(trustworthiness(
                &vectors,
                &xy,
                MAP_TRUST_K,
                Some(TRUST_SAMPLE),
            )?)
        } else {
            None
        };
        let revision = stored.map_or(0, |r| r.value.revision) + 1;
        if let Some(fp) = fingerprint {
            let record = MapRecord {
                ids_hash,
                settings,
                revision,
                trustworthiness: trust,
                ids: ids.clone(),
                xy: xy.clone(),
            };
            if let Err(e) = self.store().put_map_record(id, &record, fp) {
                on_event(Event::Note(format!(
                    "the {} map could not be kept in the store ({e}); it will be computed again next time",
                    id.name()
                )));
            }
        }
        Ok(Layout {
            hashes: rows.into_iter().map(|r| r.1).collect(),
            ids,
            xy,
            trust,
            revision,
            computed: true,
        })
    }
}
