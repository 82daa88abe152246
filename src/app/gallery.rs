//! The gallery: one page of the collection's works, filtered by metadata
//! and by whether they are rated, in id order, by a backbone's predicted
//! taste score, or by how much a rating would help next — what the web
//! app's grid shows, and `GET /api/gallery` returns. The whole-collection
//! parts (the listing, the predictions, the suggestion order) are memoised
//! per revision ([`Collection::memo`]), so a page of 60 out of 10,000 works
//! costs a filter and a slice, not a pass over sled.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;

use super::query::{check_filters_on, matches, parse_filters};
use super::suggest::{Goal, SuggestRequest};
use super::views::WorkSummary;
use super::Collection;
use crate::error::{Error, Result};
use crate::model::registry::BackboneId;
use crate::ratings::{self, Rater};
use crate::store::Artwork;

/// The most works one page may hold.
pub const MAX_PAGE: usize = 500;

/// The order of the gallery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GallerySort {
    /// By id: the order works were first indexed in.
    Id,
    /// By this backbone's predicted score, highest first (its saved head
    /// for the rater; works it cannot score come last).
    Score(BackboneId),
    /// Unrated works whose rating would tell the backbones apart first
    /// (`suggest --goal verdict`), then the rest by id.
    Suggested,
}

impl GallerySort {
    /// `id`, `suggested` or `score:BACKBONE` (e.g. `score:dinov2`).
    pub fn parse(s: &str) -> Result<GallerySort> {
        let s = s.trim();
        match s {
            "" | "id" => Ok(GallerySort::Id),
            "suggested" => Ok(GallerySort::Suggested),
            _ => match s.strip_prefix("score:") {
                Some(b) => Ok(GallerySort::Score(BackboneId::parse(b)?)),
                None => Err(Error::InvalidArgument(format!(
                    "sort `{s}`: expected `id`, `suggested` or `score:BACKBONE` (e.g. score:dinov2)"
                ))),
            },
        }
    }

    /// The spelling [`GallerySort::parse`] reads.
    pub fn name(&self) -> String {
        match self {
            GallerySort::Id => "id".into(),
            GallerySort::Suggested => "suggested".into(),
            GallerySort::Score(b) => format!("score:{}", b.name()),
        }
    }
}

/// What a gallery page is asked.
#[derive(Debug, Clone)]
pub struct GalleryRequest {
    /// `KEY=VALUE` metadata filters, all must hold.
    pub filters: Vec<String>,
    /// `Some(true)`: rated works only; `Some(false)`: unrated only.
    pub rated: Option<bool>,
    pub sort: GallerySort,
    pub offset: usize,
    /// Works on the page, 1 to [`MAX_PAGE`].
    pub limit: usize,
    /// Whose ratings and heads.
    pub rater: Rater,
}

/// One work on a gallery page.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GalleryItem {
    #[serde(flatten)]
    pub work: WorkSummary,
    /// What to call it: its `title`, else its file name, else `#id`.
    pub title: String,
    /// The sort backbone's predicted score, when sorting by one.
    pub predicted: Option<f64>,
}

/// One gallery page.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GalleryView {
    /// Works matching the filters (all pages).
    pub total: usize,
    pub offset: usize,
    pub limit: usize,
    pub sort: String,
    pub works: Vec<GalleryItem>,
    /// Backbones the rater has a usable head for (the `score:` sorts offered).
    pub heads: Vec<String>,
    /// Why the order is not the one asked for, when it is not.
    pub message: Option<String>,
}

/// What to call a work in a list: its `title`, else its file name.
pub fn work_title(art: &Artwork) -> String {
    if let Some(t) = art.metadata.get("title").filter(|t| !t.trim().is_empty()) {
        return t.trim().to_string();
    }
    art.paths
        .first()
        .and_then(|p| std::path::Path::new(p).file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| format!("#{}", art.id))
}

impl Collection {
    /// Every artwork, by id, memoised per revision.
    pub(crate) fn all_artworks(&self) -> Result<Arc<Vec<Artwork>>> {
        self.memo("artworks", || self.store().artworks())
    }

    /// Each artwork's position in [`Collection::all_artworks`], by id.
    pub(crate) fn artwork_positions(&self) -> Result<Arc<HashMap<u64, usize>>> {
        self.memo("artwork_positions", || {
            Ok(self
                .all_artworks()?
                .iter()
                .enumerate()
                .map(|(i, a)| (a.id, i))
                .collect())
        })
    }

    /// `rater`'s ratings by content hash, memoised per revision.
    pub(crate) fn rating_map(&self, rater: &Rater) -> Result<Arc<HashMap<String, f64>>> {
        self.memo(&format!("ratings:{}", rater.name()), || {
            Ok(ratings::ratings_of(self.store(), rater)?
                .into_iter()
                .collect())
        })
    }

    /// Backbone `id`'s predicted score of every work it embedded, by work
    /// id, from `rater`'s saved head ([`Error::NoHead`] without one).
    pub fn predictions(&self, id: &BackboneId, rater: &Rater) -> Result<Arc<HashMap<u64, f64>>> {
        self.memo(
            &format!("predictions:{}:{}", id.name(), rater.name()),
            || {
                let (head, _) = crate::head::load_head_of(self.store(), rater, id)?;
                Ok(self
                    .store()
                    .embeddings(id)?
                    .into_iter()
                    .map(|(work, _, v)| (work, head.predict_f64(&v)))
                    .collect())
            },
        )
    }

    /// One page of the gallery.
    pub fn gallery(&self, req: &GalleryRequest) -> Result<GalleryView> {
        if req.limit == 0 || req.limit > MAX_PAGE {
            return Err(Error::InvalidArgument(format!(
                "limit {}: a page holds 1 to {MAX_PAGE} works",
                req.limit
            )));
        }
        let filters = parse_filters(&req.filters)?;
        let arts = self.all_artworks()?;
        check_filters_on(&arts, &filters)?;
        let rated = self.rating_map(&req.rater)?;
        let mut chosen: Vec<&Artwork> = arts
            .iter()
            .filter(|a| matches(&a.metadata, &filters))
            .filter(|a| {
                req.rated
                    .is_none_or(|want| rated.contains_key(&a.hash) == want)
            })
            .collect();
        let heads = self.memo(&format!("heads:{}", req.rater.name()), || {
            Ok(self
                .store()
                .backbones()?
                .into_iter()
                .filter(|b| crate::head::load_head_of(self.store(), &req.rater, b).is_ok())
                .map(|b| b.name())
                .collect::<Vec<String>>())
        })?;
        let mut message = None;
        let mut predicted: Option<Arc<HashMap<u64, f64>>> = None;
        match &req.sort {
            GallerySort::Id => {}
            GallerySort::Score(b) => match self.predictions(b, &req.rater) {
                Ok(p) => {
                    // Highest first; works the head cannot score last, by id.
                    chosen.sort_by(|x, y| {
                        let (px, py) = (p.get(&x.id), p.get(&y.id));
                        match (px, py) {
                            (Some(a), Some(b)) => b.total_cmp(a).then(x.id.cmp(&y.id)),
                            (Some(_), None) => std::cmp::Ordering::Less,
                            (None, Some(_)) => std::cmp::Ordering::Greater,
                            (None, None) => x.id.cmp(&y.id),
                        }
                    });
                    predicted = Some(p);
                }
                Err(e) => message = Some(format!("not sorted by {}: {e}", b.name())),
            },
            GallerySort::Suggested => match self.suggestion_rank(&req.rater) {
                Ok(rank) => {
                    chosen.sort_by_key(|a| (rank.get(&a.id).copied().unwrap_or(usize::MAX), a.id))
                }
                Err(e) => message = Some(format!("not sorted by suggestion: {e}")),
            },
        }
        let total = chosen.len();
        let works = chosen
            .into_iter()
            .skip(req.offset)
            .take(req.limit)
            .map(|a| GalleryItem {
                title: work_title(a),
                predicted: predicted.as_ref().and_then(|p| p.get(&a.id).copied()),
                work: WorkSummary {
                    id: a.id,
                    hash: a.hash.clone(),
                    path: a.paths.first().cloned(),
                    metadata: a.metadata.clone(),
                    rating: rated.get(&a.hash).copied(),
                },
            })
            .collect();
        Ok(GalleryView {
            total,
            offset: req.offset,
            limit: req.limit,
            sort: req.sort.name(),
            works,
            heads: heads.as_ref().clone(),
            message,
        })
    }

    /// Each unrated work's place in `suggest --goal verdict`'s order.
    fn suggestion_rank(&self, rater: &Rater) -> Result<Arc<HashMap<u64, usize>>> {
        self.memo(&format!("suggested:{}", rater.name()), || {
            let n = self.all_artworks()?.len().max(1);
            let view = self.suggest(&SuggestRequest {
                n,
                goal: Goal::Verdict,
                rater: rater.clone(),
                backbones: None,
            })?;
            Ok(view
                .works
                .iter()
                .enumerate()
                .map(|(i, s)| (s.id, i))
                .collect())
        })
    }
}
