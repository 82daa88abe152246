//! `dups`: near-duplicate groups (candidates from a backbone's nearest
//! neighbours, verified by [`crate::dups::agreement`] on the works'
//! thumbnails), and the marks a person records (`mark`, `unmark`, `keep`),
//! which [`crate::store`] keeps in the `copies` tree.

use std::collections::{BTreeMap, HashMap};

use rayon::prelude::*;

use super::views::{CopyChange, DupGroup, DupMember, DupsView};
use super::{Collection, Event};
use crate::dups::{self, Pair, Signature};
use crate::error::{Error, Result};
use crate::model::registry::BackboneId;
use crate::store::Artwork;

/// The thumbnail size the pixel check reads: the cached 256-pixel
/// thumbnail the gallery shows, far above the signature's 48 pixels, so
/// the check costs one small JPEG decode per work.
const CHECK_THUMB: u32 = 256;

/// What `dups` is asked.
#[derive(Debug, Clone, Default)]
pub struct DupsRequest {
    /// The backbone whose neighbours are the candidates; `None`: the first
    /// the store holds.
    pub backbone: Option<BackboneId>,
    /// The cosine similarity a neighbour needs to be a candidate, 0–1;
    /// `None`: the backbone's [`dups::default_threshold`].
    pub threshold: Option<f64>,
    /// The aligned-pixel agreement a candidate needs, 0–1; `None`:
    /// [`dups::DEFAULT_AGREEMENT`].
    pub agreement: Option<f64>,
}

impl DupsRequest {
    /// Checks that both thresholds lie in [0, 1], naming the flag.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [("threshold", self.threshold), ("agreement", self.agreement)] {
            if let Some(v) = v {
                if !(0.0..=1.0).contains(&v) {
                    return Err(Error::InvalidArgument(format!(
                        "--{name} {v} is out of range: it is a similarity, from 0 to 1"
                    )));
                }
            }
        }
        Ok(())
    }
}

impl Collection {
    /// The collection's near-duplicate groups: candidates from `req`'s
    /// backbone, verified on the pixels, joined with the copies a person
    /// marked. Reads only (the thumbnail cache aside).
    pub fn dups(&self, req: &DupsRequest, on_event: &mut dyn FnMut(Event)) -> Result<DupsView> {
        req.validate()?;
        let backbone = match &req.backbone {
            Some(b) => self.select_backbones(Some(std::slice::from_ref(b)))?[0].clone(),
            None => self.select_backbones(None)?[0].clone(),
        };
        let threshold = req
            .threshold
            .unwrap_or(dups::default_threshold(&backbone) as f64);
        let min_agreement = req.agreement.unwrap_or(dups::DEFAULT_AGREEMENT);
        let arts = self.all_artworks()?;
        let pos_of_id: HashMap<u64, usize> =
            arts.iter().enumerate().map(|(i, a)| (a.id, i)).collect();
        let pos_of_hash: HashMap<&str, usize> = arts
            .iter()
            .enumerate()
            .map(|(i, a)| (a.hash.as_str(), i))
            .collect();
        let vectors: HashMap<usize, Vec<f32>> = self
            .store
            .embeddings(&backbone)?
            .into_iter()
            .filter_map(|(id, _, v)| pos_of_id.get(&id).map(|&p| (p, v)))
            .collect();

        // 1. Candidates: nearest neighbours above the threshold by the
        // embedding, and nearest by the pictures' layouts (a second source
        // that a weak embedding cannot blind).
        let ann = self.ann(&backbone, on_event)?;
        let mut candidates: BTreeMap<(usize, usize), f32> = BTreeMap::new();
        for (&p, v) in &vectors {
            let me = arts[p].id;
            let hits = ann.search(v, dups::CANDIDATE_NEIGHBOURS, Some(&|i| i != me))?;
            for (id, cos) in hits {
                let Some(&q) = pos_of_id.get(&id) else {
                    continue;
                };
                if (cos as f64) >= threshold {
                    candidates.insert((p.min(q), p.max(q)), cos);
                }
            }
        }
        on_event(Event::Note(format!(
            "reading the pictures of {} works",
            vectors.len()
        )));
        let mut with_vectors: Vec<usize> = vectors.keys().copied().collect();
        with_vectors.sort_unstable();
        let sigs: HashMap<usize, Signature> = with_vectors
            .par_iter()
            .filter_map(|&p| self.signature(&arts[p]).ok().map(|s| (p, s)))
            .collect();
        let unreadable = with_vectors.len() - sigs.len();
        let keyed: Vec<usize> = with_vectors
            .iter()
            .copied()
            .filter(|p| sigs.contains_key(p))
            .collect();
        let keys: Vec<Vec<f32>> = keyed.iter().map(|p| sigs[p].layout_key()).collect();
        for (i, j) in dups::layout_neighbours(&keys, dups::LAYOUT_NEIGHBOURS) {
            let (a, b) = (keyed[i], keyed[j]);
            candidates
                .entry((a, b))
                .or_insert_with(|| cosine(&vectors[&a], &vectors[&b]) as f32);
        }

        // 2. Verification on the pixels; the marked copies' agreement is
        // shown too.
        let copies = self.store.copies()?;
        let marked: Vec<(usize, usize)> = copies
            .iter()
            .filter_map(|(c, r)| {
                Some((*pos_of_hash.get(c.as_str())?, *pos_of_hash.get(r.as_str())?))
            })
            .collect();
        if !candidates.is_empty() {
            on_event(Event::Note(format!(
                "checking the pixels of {} candidate pairs",
                candidates.len()
            )));
        }
        let pairs: Vec<Pair> = candidates
            .par_iter()
            .filter_map(|(&(a, b), &cos)| {
                let agreement = dups::agreement(sigs.get(&a)?, sigs.get(&b)?);
                (agreement >= min_agreement).then_some(Pair {
                    a,
                    b,
                    cosine: cos,
                    agreement,
                })
            })
            .collect();
        let verified = pairs.len();
        let mut edges = pairs;
        edges.extend(marked.iter().map(|&(a, b)| Pair {
            a,
            b,
            cosine: 0.0,
            agreement: 0.0,
        }));

        // 3. Groups, each with its representative.
        let reps_marked: std::collections::HashSet<usize> =
            marked.iter().map(|&(_, r)| r).collect();
        let copy_of: HashMap<usize, usize> = marked.iter().copied().collect();
        let mut groups = Vec::new();
        let mut components = dups::groups(arts.len(), &edges);
        while let Some(component) = components.pop() {
            let chosen = component.iter().copied().find(|m| reps_marked.contains(m));
            let rep = chosen.unwrap_or_else(|| {
                *component
                    .iter()
                    .max_by_key(|&&m| {
                        let a = &arts[m];
                        // The most pixels, then the biggest file (the least
                        // compressed of two copies of one size).
                        (
                            a.width as u64 * a.height as u64,
                            a.size,
                            std::cmp::Reverse(a.id),
                        )
                    })
                    .expect("a group has members")
            });
            // A chain of confirmed pairs (A like B, B like C) does not make
            // A and C one picture: a group keeps the works confirmed against
            // its representative itself (or marked its copies); the others
            // are looked at again as a group of their own.
            let (members, rest): (Vec<usize>, Vec<usize>) =
                component.iter().copied().partition(|&m| {
                    m == rep
                        || copy_of.get(&m) == Some(&rep)
                        || match (sigs.get(&rep), sigs.get(&m)) {
                            (Some(a), Some(b)) => dups::agreement(a, b) >= min_agreement,
                            _ => false,
                        }
                });
            if rest.len() > 1 {
                components.push(rest);
            }
            if members.len() < 2 {
                continue;
            }
            let mut ordered: Vec<usize> = members.iter().copied().filter(|&m| m != rep).collect();
            ordered.sort_by_key(|&m| arts[m].id);
            ordered.insert(0, rep);
            let view = ordered
                .iter()
                .map(|&m| {
                    let a = &arts[m];
                    let is_rep = m == rep;
                    let similarity = (!is_rep)
                        .then(|| Some(cosine(vectors.get(&rep)?, vectors.get(&m)?)))
                        .flatten();
                    let agreement = (!is_rep)
                        .then(|| Some(dups::agreement(sigs.get(&rep)?, sigs.get(&m)?)))
                        .flatten();
                    DupMember {
                        id: a.id,
                        hash: a.hash.clone(),
                        path: a.paths.first().cloned().unwrap_or_default(),
                        width: a.width,
                        height: a.height,
                        similarity,
                        agreement,
                        representative: is_rep,
                        marked: copy_of.get(&m) == Some(&rep),
                    }
                })
                .collect();
            groups.push(DupGroup {
                representative: arts[rep].id,
                chosen: chosen.is_some(),
                members: view,
            });
        }
        groups.sort_by_key(|g| g.representative);
        Ok(DupsView {
            backbone: backbone.name(),
            threshold,
            agreement: min_agreement,
            works: vectors.len(),
            candidates: candidates.len(),
            verified,
            unreadable,
            groups,
            method: format!(
                "Candidates are each work's {} nearest neighbours by {} with a similarity of at least {}, \
                 and its nearest by the layout of its pixels; a candidate is a copy when its pixels, aligned \
                 by searching crops down to {}% of the other picture, keep their colours and agree in their \
                 shapes and edges to at least {}. Marking a work a copy deletes nothing: its ratings stay, and \
                 training keeps a work and its copies in one fold.",
                dups::CANDIDATE_NEIGHBOURS,
                backbone.display_name(),
                crate::plain::similarity(threshold as f32),
                (dups::MIN_CROP * 100.0).round(),
                crate::plain::similarity(min_agreement as f32),
            ),
        })
    }

    /// Records work `copy` as a copy of work `of` (both named as anywhere
    /// else); a work named a copy of itself is [`Error::CopyOfItself`].
    pub fn mark_copy(&self, copy: &str, of: &str) -> Result<CopyChange> {
        let c = self.resolve(copy)?;
        let o = self.resolve(of)?;
        if c.id == o.id {
            return Err(Error::CopyOfItself { id: c.id });
        }
        let rep = self.wrote(|| self.store.mark_copy(&c.hash, &o.hash))?;
        self.copy_change("mark", c.id, Some(rep), true)
    }

    /// Takes back the mark of work `name` (nothing changes when it was no
    /// copy, which the answer says).
    pub fn unmark_copy(&self, name: &str) -> Result<CopyChange> {
        let c = self.resolve(name)?;
        let changed = self.wrote(|| self.store.unmark_copy(&c.hash))?;
        self.copy_change("unmark", c.id, None, changed)
    }

    /// Keeps work `name` as the representative of its group (the group
    /// `dups` finds with `req`, and the works marked with it): every other
    /// member is recorded as its copy, in one atomic batch.
    pub fn keep_representative(
        &self,
        name: &str,
        req: &DupsRequest,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<CopyChange> {
        let art = self.resolve(name)?;
        let view = self.dups(req, on_event)?;
        let Some(group) = view
            .groups
            .iter()
            .find(|g| g.members.iter().any(|m| m.id == art.id))
        else {
            return Err(Error::InvalidArgument(format!(
                "work {} is in no duplicate group by {} at similarity {}: mark its copies with `artlens dups mark COPY --of {}`",
                art.id, view.backbone, crate::plain::similarity(view.threshold as f32), art.id
            )));
        };
        let members: Vec<String> = group.members.iter().map(|m| m.hash.clone()).collect();
        self.wrote(|| self.store.keep_representative(&art.hash, &members))?;
        self.copy_change("keep", art.id, Some(art.hash.clone()), true)
    }

    /// The view of a change: the representative and its copies as now
    /// recorded.
    fn copy_change(
        &self,
        action: &str,
        id: u64,
        rep: Option<String>,
        changed: bool,
    ) -> Result<CopyChange> {
        let copies = self.store.copies()?;
        let id_of =
            |h: &str| -> Result<u64> { Ok(self.store.artwork(h)?.map_or(0, |a: Artwork| a.id)) };
        let (representative, copy_ids) = match &rep {
            Some(r) => {
                let mut ids = copies
                    .iter()
                    .filter(|(_, of)| *of == r)
                    .map(|(c, _)| id_of(c))
                    .collect::<Result<Vec<_>>>()?;
                ids.sort_unstable();
                (Some(id_of(r)?), ids)
            }
            None => (None, Vec::new()),
        };
        let message = match (action, representative) {
            ("unmark", _) if changed => format!("work {id} is no longer marked a copy"),
            ("unmark", _) => format!("work {id} was not marked a copy; nothing changed"),
            ("keep", Some(r)) => format!(
                "work {r} is kept as the representative; {} marked as its copies (nothing deleted)",
                plural_works(&copy_ids)
            ),
            (_, Some(r)) => format!(
                "work {id} is marked a copy of work {r} (nothing deleted; its ratings stay and train in one fold with the group)"
            ),
            _ => String::new(),
        };
        Ok(CopyChange {
            action: action.to_string(),
            id,
            representative,
            copies: copy_ids,
            changed,
            message,
        })
    }

    /// A work's [`Signature`], from its cached thumbnail.
    fn signature(&self, art: &Artwork) -> Result<Signature> {
        let thumb = self.thumbnail(art.id, CHECK_THUMB)?;
        let bytes = std::fs::read(&thumb.path).map_err(|e| Error::Io {
            path: thumb.path.clone(),
            source: e,
        })?;
        let img = image::load_from_memory(&bytes).map_err(|e| Error::Decode {
            path: thumb.path.clone(),
            reason: e.to_string(),
        })?;
        Ok(Signature::of(&img.to_rgb8()))
    }
}

/// `works 3, 5 and 9` / `no works`.
fn plural_works(ids: &[u64]) -> String {
    match ids {
        [] => "no works".to_string(),
        [one] => format!("work {one}"),
        _ => {
            let list: Vec<String> = ids.iter().map(u64::to_string).collect();
            format!("works {}", list.join(", "))
        }
    }
}

/// Cosine similarity of two embeddings.
fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let (mut dot, mut na, mut nb) = (0f64, 0f64, 0f64);
    for (x, y) in a.iter().zip(b) {
        dot += *x as f64 * *y as f64;
        na += (*x as f64).powi(2);
        nb += (*y as f64).powi(2);
    }
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na.sqrt() * nb.sqrt())
    }
}
