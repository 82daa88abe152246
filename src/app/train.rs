//! `train`: learning a rater's taste. The method reads the rater's ratings
//! and preferences and the backbones' embeddings, calls the learning in
//! [`crate::head`] (`head/train.rs`), and saves every head and both reports
//! in one atomic batch; it also holds the two checks every reader of a
//! saved training shares (no ratings, ratings changed since).

use super::index::names;
use super::views::TrainOutcome;
use super::{Collection, Event};
use crate::error::{Error, Result};
use crate::head::{self, HeadKind, SavedTraining, TrainOptions, TrainReport};
use crate::model::registry::BackboneId;
use crate::model::Fingerprint;
use crate::preferences;
use crate::ratings::{self, Rater};

/// What `train` is asked.
#[derive(Debug, Clone)]
pub struct TrainRequest {
    /// The kind of head fitted on each backbone's embeddings.
    pub head: HeadKind,
    /// K of the K-fold cross-validation, [`crate::limits::MIN_FOLDS`] to
    /// [`crate::limits::MAX_FOLDS`].
    pub folds: usize,
    /// The seed of the splits, the fits and the bootstrap; the same seed
    /// gives the same report.
    pub seed: u64,
    /// Bootstrap resamples behind each confidence interval,
    /// [`crate::limits::MIN_BOOTSTRAP`] to [`crate::limits::MAX_BOOTSTRAP`].
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

impl TrainRequest {
    /// Checks every count against [`crate::limits`], naming the field.
    pub fn validate(&self) -> Result<()> {
        use crate::limits::*;
        check_count("folds", self.folds, MIN_FOLDS, MAX_FOLDS)?;
        check_count("repeats", self.repeats, 1, MAX_REPEATS)?;
        check_count("bootstrap", self.bootstrap, MIN_BOOTSTRAP, MAX_BOOTSTRAP)?;
        Ok(())
    }

    fn options(&self) -> TrainOptions {
        TrainOptions {
            head: self.head,
            folds: self.folds,
            repeats: self.repeats.max(1),
            seed: self.seed,
            bootstrap: self.bootstrap,
        }
    }
}

impl Collection {
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
    /// ratings, the ridge/MLP comparison of `head::learn_from_ratings`;
    /// on the preferences (at least `head::MIN_PREFERENCES`), the
    /// Bradley–Terry comparison of `head::learn_from_preferences`. Every
    /// head and both reports are saved in one atomic batch.
    pub fn train_taste(
        &self,
        req: &TrainRequest,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<TrainOutcome> {
        req.validate()?;
        self.wrote(|| self.train_taste_inner(req, on_event))
    }

    fn train_taste_inner(
        &self,
        req: &TrainRequest,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<TrainOutcome> {
        let rater = &req.rater;
        let opts = req.options();
        let backbones = self.select_backbones(req.backbones.as_deref())?;
        let fingerprints = self.fingerprints(&backbones)?;
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
        head::check_spread(&all, prefs.len())?;
        let labels: Vec<(String, String)> = backbones
            .iter()
            .map(|id| (id.name(), id.short_label()))
            .collect();
        let mut report = None;
        let mut heads = Vec::new();
        if head::has_spread(&all) {
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
                opts.repeats,
                req.folds,
                req.bootstrap
            )));
            // A work and its marked copies are one picture: they share a
            // fold, and the live heads leave them out together.
            let groups = self.store.copy_groups(&set.hashes)?;
            let merged = head::merged_groups(&groups);
            if merged > 0 {
                on_event(Event::Note(format!(
                    "{} of rated works and their marked copies each kept in one fold",
                    crate::plain::count(merged, "group", "groups")
                )));
            }
            let total = backbones.len();
            let (r, fitted) = head::learn_from_ratings(
                &head_inputs(&labels, &set.x),
                &set.y,
                &set.hashes,
                &groups,
                &opts,
                &mut |done| {
                    on_event(Event::Progress {
                        done,
                        total,
                        failed: 0,
                    })
                },
            )?;
            report = Some(r);
            heads = with_ids(&backbones, fitted, &fingerprints);
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
            let spaces = self.spaces(&backbones)?;
            let named: Vec<(&str, &str)> = prefs
                .iter()
                .map(|p| (p.winner.as_str(), p.loser.as_str()))
                .collect();
            let (x, idx) = head::preference_rows(&spaces, &named);
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
            let (p, fitted) = head::learn_from_preferences(&head_inputs(&labels, &x), &idx, &opts)?;
            pairwise = Some(p);
            pair_heads = with_ids(&backbones, fitted, &fingerprints);
        } else if !prefs.is_empty() {
            on_event(Event::Note(format!(
                "{} preferences by `{rater}`: the pairwise head needs at least {} (`artlens rate prefer WINNER LOSER`)",
                prefs.len(),
                head::MIN_PREFERENCES
            )));
        }
        if report.is_none() && pairwise.is_none() {
            return Err(head::nothing_to_learn(rater, prefs.len()));
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

    /// Each backbone's fingerprint; [`Error::NotIndexed`] for one the store
    /// holds no embeddings of.
    fn fingerprints(&self, backbones: &[BackboneId]) -> Result<Vec<Fingerprint>> {
        backbones
            .iter()
            .map(|id| {
                self.store
                    .fingerprint(id)?
                    .ok_or_else(|| Error::NotIndexed {
                        store: self.store.path().to_path_buf(),
                        backbone: id.name(),
                    })
            })
            .collect()
    }

    /// The error for a rater without ratings, naming the rater unless it is
    /// the default one.
    pub(super) fn no_ratings(&self, rater: &Rater) -> Error {
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
    pub(super) fn training_warnings(&self, training: &SavedTraining) -> Result<Vec<String>> {
        let mut w = Vec::new();
        let rater = &training.rater;
        if training.ratings_digest != ratings::ratings_digest_of(&self.store, rater)? {
            w.push("the ratings changed after the heads were trained, so the scores and the verdict are from before the change; training again brings them up to date".to_string());
        }
        if let Some(d) = &training.preferences_digest {
            if *d != preferences::preferences_digest(&self.store, rater)? {
                w.push("the preferences changed after the heads were trained, so the scores and the verdict are from before the change; training again brings them up to date".to_string());
            }
        }
        Ok(w)
    }
}

/// The backbones as the head's comparisons take them: id, the name
/// verdicts use, and one embedding per row.
fn head_inputs<'a>(
    labels: &'a [(String, String)],
    x: &'a [Vec<Vec<f32>>],
) -> Vec<head::Backbone<'a>> {
    labels
        .iter()
        .zip(x)
        .map(|((name, label), x)| head::Backbone::new(name, label, x))
        .collect()
}

/// Fitted heads paired with their backbone and its fingerprint, as saved.
fn with_ids<H>(
    backbones: &[BackboneId],
    heads: Vec<H>,
    fingerprints: &[Fingerprint],
) -> Vec<(BackboneId, H, Fingerprint)> {
    backbones
        .iter()
        .zip(heads)
        .zip(fingerprints)
        .map(|((id, h), f)| (id.clone(), h, f.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The library checks the counts the CLI's parsers check, with the same
    /// bounds (`limits.rs`), so the server and any other caller meet them too.
    #[test]
    fn a_request_outside_its_bounds_is_refused_by_name() {
        assert!(TrainRequest::default().validate().is_ok());
        for (req, says) in [
            (
                TrainRequest {
                    folds: 1,
                    ..TrainRequest::default()
                },
                "folds 1",
            ),
            (
                TrainRequest {
                    repeats: 0,
                    ..TrainRequest::default()
                },
                "repeats 0",
            ),
            (
                TrainRequest {
                    bootstrap: 50,
                    ..TrainRequest::default()
                },
                "bootstrap 50",
            ),
            (
                TrainRequest {
                    bootstrap: 1_000_000_000,
                    ..TrainRequest::default()
                },
                "bootstrap 1000000000",
            ),
        ] {
            let e = req.validate().unwrap_err().to_string();
            assert!(e.contains(says) && e.contains("out of range"), "{e}");
        }
    }
}
