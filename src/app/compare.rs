//! `compare`: the backbones side by side. The method reads each
//! backbone's embeddings of the works every backbone holds, their labels
//! and the rater's saved training, and calls [`crate::eval`] for the label
//! metrics, the neighbour agreement, the training's figures and the data
//! ladder.

use std::collections::BTreeMap;

use super::views::CompareView;
use super::{Collection, Event};
use crate::error::{Error, Result};
use crate::eval::{self, DEFAULT_COMPARE_LABEL};
use crate::head;
use crate::model::registry::BackboneId;
use crate::ratings::Rater;
use crate::store::Artwork;

/// What `compare` is asked.
#[derive(Debug, Clone, Default)]
pub struct CompareRequest {
    /// The metadata key whose agreement among neighbours is measured;
    /// `None`: `DEFAULT_COMPARE_LABEL`. A label given here that no work
    /// has is an error ([`Error::UnknownLabel`]); the default label is
    /// optional (a collection without styles gets no label metrics).
    pub label: Option<String>,
    /// Neighbours of each work the agreement is measured over, 1 to
    /// [`crate::limits::MAX_NEIGHBOURS`].
    pub k: usize,
    /// `None`: every backbone the store holds.
    pub backbones: Option<Vec<BackboneId>>,
    /// Whose training the verdict reports.
    pub rater: Rater,
}

impl CompareRequest {
    /// Checks `k` against [`crate::limits::MAX_NEIGHBOURS`].
    pub fn validate(&self) -> Result<()> {
        crate::limits::check_count("k", self.k, 1, crate::limits::MAX_NEIGHBOURS)?;
        Ok(())
    }
}

impl Collection {
    /// The side-by-side report: label metrics per backbone (on the works all
    /// of them hold), neighbour agreement per pair, the saved training's
    /// cross-validated metrics, comparisons and verdict.
    pub fn compare(
        &self,
        req: &CompareRequest,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<CompareView> {
        req.validate()?;
        // Along the data ladder: smallest pretraining set first, in every
        // column, list and chart (ties keep the order given).
        let mut backbones = self.select_backbones(req.backbones.as_deref())?;
        backbones.sort_by_key(BackboneId::ladder_key);
        let ids: Vec<String> = backbones.iter().map(BackboneId::name).collect();
        let label = req
            .label
            .as_deref()
            .unwrap_or(DEFAULT_COMPARE_LABEL)
            .trim()
            .to_ascii_lowercase();
        let spaces = self.spaces(&backbones)?;
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
        let hashes: Vec<String> = common.iter().map(|a| a.hash.clone()).collect();
        let groups = self.store.copy_groups(&hashes)?;
        let columns = eval::label_columns(&vectors, &labels, Some(&groups), req.k)?;
        let agreements = eval::agreements(&ids, &vectors, req.k)?;
        let (neighbour_agreement, neighbour_agreement_chance) = agreements
            .first()
            .map(|p| (p.agreement, p.chance))
            .unwrap_or((1.0, 1.0));

        let training = head::load_training_of(&self.store, &req.rater)?;
        let mut figures = eval::training_figures(training.as_ref(), &backbones)?;
        if !figures.trained {
            on_event(Event::Note(eval::NO_TRAINING_NOTE.into()));
        }
        // The ratings or preferences changed since the training, then what
        // the training did not cover.
        let mut warnings = match &training {
            Some(t) if t.report.is_some() => self.training_warnings(t)?,
            _ => Vec::new(),
        };
        warnings.append(&mut figures.warnings);
        let models: BTreeMap<String, eval::CompareModel> = ids
            .iter()
            .zip(columns)
            .map(|(id, mut m)| {
                m.cv = figures.cv.remove(id).unwrap_or_default();
                (id.clone(), m)
            })
            .collect();
        Ok(CompareView {
            ladder: eval::ladder(&backbones, &figures),
            label: if labelled >= 2 { label } else { String::new() },
            models,
            neighbour_agreement,
            neighbour_agreement_chance,
            k: req.k,
            learning_curve: figures.learning_curve,
            verdict: figures.verdict,
            verdict_detail: figures.verdict_detail,
            procedure: figures.procedure,
            headline_name: figures.headline_name,
            n_ratings: figures.n_ratings,
            first_answer: figures.first_answer,
            train_report_json: figures.train_report_json,
            provenance: self.provenance(&backbones, figures.head_kind),
            comparisons: figures.comparisons,
            agreements,
            warnings,
        })
    }
}
