//! The view of `train`: what was learnt from a rater's ratings and
//! preferences.

use serde::{Deserialize, Serialize};

use crate::head::{PairwiseReport, TrainReport};

/// What `train` learnt: the comparison on ratings and the one on
/// preferences, whichever the rater has enough of.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainOutcome {
    /// The rater whose ratings and preferences were learnt from.
    pub rater: String,
    /// From the rater's scores (`None` without ratings). Serialised inline,
    /// so that `train --json` keeps the shape it had before preferences.
    #[serde(flatten)]
    pub ratings: Option<TrainReport>,
    /// From the rater's preferences (`None` with fewer than
    /// `crate::head::MIN_PREFERENCES` of them).
    pub preferences: Option<PairwiseReport>,
}
