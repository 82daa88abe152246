//! `search`: the works nearest to a text query (with works to move
//! towards or away from), per text-capable backbone, in each backbone's
//! joint image–text space. Reads only.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::query::{check_filters_on, matches, parse_filters};
use super::views::{SearchHit, SearchTerm, SearchView};
use super::Collection;
use crate::ann::ExactIndex;
use crate::error::{Error, Result};
use crate::eval::words::{combine, parse_query, TermTarget};
use crate::model::registry::BackboneId;
use crate::ratings::{self, Rater};

/// What `search` is asked.
#[derive(Debug, Clone)]
pub struct SearchRequest {
    /// The query: phrases, `work:NAME` terms, signs and weights
    /// ([`crate::eval::words::parse_query`]).
    pub query: String,
    /// Results per backbone, 1 to [`crate::limits::MAX_RESULTS`].
    pub k: usize,
    /// `None`: every backbone the store holds (those without a text tower
    /// are named and skipped).
    pub backbones: Option<Vec<BackboneId>>,
    /// `KEY=VALUE` metadata filters (case-insensitive), all must hold.
    pub filters: Vec<String>,
    /// Whose ratings the hits show.
    pub rater: Rater,
}

impl SearchRequest {
    /// Checks `k` against its bound and reads the query (the query's own
    /// bounds are checked as it is read).
    pub fn validate(&self) -> Result<()> {
        crate::limits::check_count("k", self.k, 1, crate::limits::MAX_RESULTS)?;
        parse_query(&self.query).map(|_| ())
    }
}

impl Collection {
    /// The works nearest to `req.query`, per text-capable backbone.
    pub fn search(&self, req: &SearchRequest) -> Result<SearchView> {
        req.validate()?;
        let terms = parse_query(&req.query)?;
        let filters = parse_filters(&req.filters)?;
        let (usable, skipped) = self.text_backbones(req.backbones.as_deref())?;
        let all = self.all_artworks()?;
        check_filters_on(&all, &filters)?;
        let by_id = self.artwork_positions()?;
        // The works the query names, looked up once; they are left out of
        // the results, as `similar` leaves out its examples.
        let mut named = Vec::with_capacity(terms.len());
        for t in &terms {
            named.push(match &t.target {
                TermTarget::Work(w) => Some(self.resolve(w)?),
                TermTarget::Text(_) => None,
            });
        }
        let asked: HashSet<u64> = named.iter().flatten().map(|a| a.id).collect();
        let allowed = |id: u64| {
            !asked.contains(&id)
                && by_id
                    .get(&id)
                    .is_some_and(|&i| matches(&all[i].metadata, &filters))
        };
        let rated: HashMap<String, f64> = ratings::ratings_of(&self.store, &req.rater)?
            .into_iter()
            .collect();
        let mut truncated_by: Vec<Vec<String>> = vec![Vec::new(); terms.len()];
        let mut results = BTreeMap::new();
        for (id, space) in &usable {
            let texts: Vec<&str> = terms
                .iter()
                .filter_map(|t| match &t.target {
                    TermTarget::Text(s) => Some(s.as_str()),
                    TermTarget::Work(_) => None,
                })
                .collect();
            let mut embedded = if texts.is_empty() {
                Vec::new()
            } else {
                space.embed_texts(&texts)?
            }
            .into_iter();
            let mut parts: Vec<(Vec<f32>, f32)> = Vec::with_capacity(terms.len());
            for (i, (t, work)) in terms.iter().zip(&named).enumerate() {
                let v = match work {
                    Some(a) => {
                        let stored = self.store.embedding(id, &a.hash)?.ok_or_else(|| {
                            Error::MissingEmbedding {
                                work: format!("#{}", a.id),
                                backbone: id.name(),
                            }
                        })?;
                        space.project_image(&stored)
                    }
                    None => {
                        let e = embedded.next().ok_or_else(|| {
                            Error::InvalidArgument(format!(
                                "{id}: the text tower returned fewer vectors than phrases"
                            ))
                        })?;
                        if e.truncated {
                            truncated_by[i].push(id.name());
                        }
                        e.vector
                    }
                };
                parts.push((v, t.weight));
            }
            let refs: Vec<(&[f32], f32)> = parts.iter().map(|(v, w)| (v.as_slice(), *w)).collect();
            let q = combine(&refs)?;
            let images = self.joint_images(id, space)?;
            let index = self.memo(&format!("joint_index:{}", id.name()), || {
                let items: Vec<(u64, &[f32])> =
                    images.iter().map(|(i, _, v)| (*i, v.as_slice())).collect();
                ExactIndex::new(q.len(), &items)
            })?;
            let hits = index.search(&q, req.k, Some(&allowed))?;
            let list: Vec<SearchHit> = hits
                .into_iter()
                .filter_map(|(work, sim)| {
                    let a = &all[*by_id.get(&work)?];
                    Some(SearchHit {
                        id: work,
                        hash: a.hash.clone(),
                        path: a.paths.first().cloned(),
                        similarity: sim,
                        rating: rated.get(&a.hash).copied(),
                        metadata: a.metadata.clone(),
                    })
                })
                .collect();
            results.insert(id.name(), list);
        }
        let mut notes = Vec::new();
        for (t, by) in terms.iter().zip(&truncated_by) {
            if !by.is_empty() {
                notes.push(format!(
                    "the phrase {} is longer than the text tower reads and was cut to its first tokens ({})",
                    t.shown(),
                    by.join(", ")
                ));
            }
        }
        for s in &skipped {
            notes.push(format!("{} skipped: {}", s.backbone, s.reason));
        }
        let view_terms = terms
            .iter()
            .zip(&named)
            .zip(truncated_by)
            .map(|((t, work), by)| SearchTerm {
                term: t.shown(),
                kind: match t.target {
                    TermTarget::Text(_) => "text".into(),
                    TermTarget::Work(_) => "work".into(),
                },
                value: match &t.target {
                    TermTarget::Text(s) | TermTarget::Work(s) => s.clone(),
                },
                weight: t.weight,
                work_id: work.as_ref().map(|a| a.id),
                truncated_by: by,
            })
            .collect();
        Ok(SearchView {
            query: req.query.clone(),
            terms: view_terms,
            rater: req.rater.name().to_string(),
            backbones: usable.iter().map(|(id, _)| id.name()).collect(),
            skipped,
            results,
            filters: req.filters.clone(),
            notes,
        })
    }
}
