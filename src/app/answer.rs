//! The answer a person reads while rating: how many works they rated, when
//! the first answer comes, and the saved comparison's verdict with each
//! backbone's headline figure — or why there is none yet. The web app's
//! rate page and compare page show this one view; see docs/STATISTICS.md
//! for what the figure and the verdict mean.

use crate::error::{Error, Result};
use crate::head::{self, HeadKind};
use crate::ratings::{self, Rater};

use super::views::{AnswerBackbone, AnswerView, RatingScale};
use super::{Collection, TrainRequest};

/// Ratings before the first answer: the domain's [`head::FIRST_ANSWER`]
/// (docs/STATISTICS.md says why 20).
pub const FIRST_ANSWER_AT: usize = head::FIRST_ANSWER;

impl RatingScale {
    /// The scale of the ratings a person already gave: 1–10 before any
    /// rating and whenever they fit it (0–10 when a 0 was given), 1–5 for a
    /// person who rates in whole stars from 1 to 5, and otherwise ten even
    /// steps over their own range, so the buttons never force a new scale
    /// on a person who imported theirs.
    pub(crate) fn of(ratings: &[f64]) -> RatingScale {
        let lo = ratings.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = ratings.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let whole = ratings.iter().all(|r| r.fract() == 0.0);
        let scale = |low: f64, high: f64, step: f64| RatingScale { low, high, step };
        if ratings.is_empty() {
            scale(1.0, 10.0, 1.0)
        } else if whole && ratings.len() >= 5 && lo >= 1.0 && hi <= 5.0 {
            scale(1.0, 5.0, 1.0)
        } else if lo >= 0.0 && hi <= 10.0 {
            scale(if lo < 1.0 { 0.0 } else { 1.0 }, 10.0, 1.0)
        } else {
            let (low, high) = (lo.floor(), hi.ceil().max(lo.floor() + 1.0));
            scale(low, high, (high - low) / 9.0)
        }
    }

    /// The button values, low to high (at most 11).
    pub fn values(&self) -> Vec<f64> {
        let n = (((self.high - self.low) / self.step).round() as usize).min(10);
        (0..=n).map(|i| self.low + i as f64 * self.step).collect()
    }
}

impl Collection {
    /// The rater's answer as saved by the last training, and how far they
    /// are from the first one. Never trains (see [`Collection::refresh_answer`]).
    pub fn answer(&self, rater: &Rater) -> Result<AnswerView> {
        let current = ratings::ratings_of(&self.store, rater)?;
        let rated = current.len();
        let saved = match head::load_training_of(&self.store, rater) {
            Ok(s) => s,
            // Heads trained on embeddings that have since changed answer
            // nothing; the next refresh retrains them.
            Err(Error::StaleHead { .. }) => None,
            Err(e) => return Err(e),
        };
        let report = saved.as_ref().and_then(|s| s.report.as_ref());
        let up_to_date = match &saved {
            Some(s) => s.ratings_digest == ratings::ratings_digest_of(&self.store, rater)?,
            None => false,
        };
        let shown = report.filter(|_| rated >= FIRST_ANSWER_AT);
        let backbones = shown
            .map(|r| {
                r.ids
                    .iter()
                    .filter_map(|id| r.backbones.get(id))
                    .map(|b| AnswerBackbone {
                        id: b.id.clone(),
                        name: b.display_name.clone(),
                        headline: b.headline,
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(AnswerView {
            rater: rater.name().to_string(),
            rated,
            first_answer_at: FIRST_ANSWER_AT,
            trained_on: shown.map(|r| r.n_ratings),
            trained: report.is_some(),
            current: up_to_date,
            verdict: shown.map(|r| r.verdict.clone()),
            detail: shown.map(|r| r.verdict_detail.clone()),
            procedure: shown.map(|r| r.procedure.clone()),
            winner: shown.and_then(|r| r.best.clone()),
            backbones,
            progress: progress_line(rated),
            scale: RatingScale::of(&current.iter().map(|(_, r)| *r).collect::<Vec<_>>()),
            merged_groups: shown.map_or(0, |r| r.merged_groups),
        })
    }

    /// Retrains the rater's heads when their ratings changed since the last
    /// training and there are enough for an answer, then returns the answer.
    /// Training at these sizes takes well under a second, so the web app
    /// calls this after every change and a person never needs a button to
    /// see the current answer.
    pub fn refresh_answer(&self, rater: &Rater) -> Result<AnswerView> {
        let before = self.answer(rater)?;
        if before.rated >= FIRST_ANSWER_AT && !before.current && !self.store.backbones()?.is_empty()
        {
            let req = TrainRequest {
                head: HeadKind::Ridge,
                rater: rater.clone(),
                ..TrainRequest::default()
            };
            match self.train_taste(&req, &mut |_| {}) {
                Ok(_) => {}
                // Ratings that are all the same teach nothing: the answer
                // stays "not yet", which its progress line explains.
                Err(Error::InvalidArgument(_)) => return Ok(before),
                Err(e) => return Err(e),
            }
            return self.answer(rater);
        }
        Ok(before)
    }
}

/// "No works rated yet · your first answer at 20", "1 work rated · …",
/// "24 works rated".
pub(crate) fn progress_line(rated: usize) -> String {
    let works = crate::plain::count(rated, "work", "works");
    if rated == 0 {
        format!("No works rated yet · your first answer after {FIRST_ANSWER_AT}")
    } else if rated < FIRST_ANSWER_AT {
        format!("{works} rated · your first answer at {FIRST_ANSWER_AT}")
    } else {
        format!("{works} rated")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_progress_line_counts_towards_the_first_answer() {
        assert_eq!(
            progress_line(0),
            format!("No works rated yet · your first answer after {FIRST_ANSWER_AT}")
        );
        assert_eq!(
            progress_line(1),
            format!("1 work rated · your first answer at {FIRST_ANSWER_AT}")
        );
        assert_eq!(
            progress_line(14),
            format!("14 works rated · your first answer at {FIRST_ANSWER_AT}")
        );
        assert_eq!(progress_line(FIRST_ANSWER_AT + 4), "24 works rated");
    }

    #[test]
    fn the_buttons_follow_the_persons_own_scale() {
        assert_eq!(RatingScale::of(&[]).values().len(), 10);
        assert_eq!(RatingScale::of(&[2.5, 7.3, 9.0]).values()[0], 1.0);
        assert_eq!(RatingScale::of(&[0.0, 7.0]).values().len(), 11);
        let stars = RatingScale::of(&[1.0, 2.0, 5.0, 4.0, 3.0]);
        assert_eq!(stars.values(), vec![1.0, 2.0, 3.0, 4.0, 5.0]);
        let hundred = RatingScale::of(&[12.0, 95.5]);
        let v = hundred.values();
        assert_eq!((v.len(), v[0], *v.last().unwrap()), (10, 12.0, 96.0));
    }
}
