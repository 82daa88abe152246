//! The view of the answer a person reads while rating (`GET /api/answer`,
//! the rate page's counter, the compare page's headline).

use serde::Serialize;

/// One backbone's side of the answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnswerBackbone {
    /// The backbone's id (`dinov2`, `dinov2@224`).
    pub id: String,
    /// What the answer calls it (`DINOv2`).
    pub name: String,
    /// The headline figure ([`crate::head::HEADLINE_DESCRIPTION`]): of the pairs of
    /// rated works, the share a head that saw neither rating put in the
    /// person's order (0 to 1).
    pub headline: f64,
}

/// Where the person stands: `GET /api/answer`, the rate page's counter and
/// the compare page's headline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnswerView {
    /// The rater the answer is for (`me` unless `--rater` says otherwise).
    pub rater: String,
    /// Works the rater has rated.
    pub rated: usize,
    /// [`crate::app::FIRST_ANSWER_AT`].
    pub first_answer_at: usize,
    /// Ratings the shown answer was learnt from; `None` before any.
    pub trained_on: Option<usize>,
    /// True when taste heads were trained for the rater (so scores can be
    /// asked for), whether or not there are enough ratings for an answer.
    pub trained: bool,
    /// True when the answer was learnt from exactly the current ratings.
    pub current: bool,
    /// The verdict in plain words; `None` before the first answer.
    pub verdict: Option<String>,
    /// The same verdict for statisticians (differences, intervals).
    pub detail: Option<String>,
    /// Which procedure produced the verdict.
    pub procedure: Option<String>,
    /// Each backbone's headline figure, in the comparison's order.
    pub backbones: Vec<AnswerBackbone>,
    /// The backbone the verdict names, when it names one.
    pub winner: Option<String>,
    /// One line for the top of the page: "14 rated · your first answer at 20".
    pub progress: String,
    /// The buttons a person rates with.
    pub scale: RatingScale,
    /// Groups of a rated work and its marked copies that the answer's
    /// training kept together (each counted once, so a copy cannot vouch
    /// for its original); 0 when none.
    #[serde(default)]
    pub merged_groups: usize,
}

/// The rating buttons: `low`, `low + step`, … `high`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RatingScale {
    /// The lowest button's rating.
    pub low: f64,
    /// The highest button's rating.
    pub high: f64,
    /// The difference between neighbouring buttons (greater than 0).
    pub step: f64,
}
