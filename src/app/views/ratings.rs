//! The views of `rate list`: one rating, one preference.

use serde::{Deserialize, Serialize};

/// A rating as listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RatingView {
    pub id: Option<u64>,
    pub hash: String,
    pub path: Option<String>,
    pub rating: f64,
    pub source: String,
}

/// A preference as listed: the preferred work, the other one, who said it
/// and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreferenceView {
    pub rater: String,
    /// The preferred work's id, content hash and first path (id and path
    /// are `None` when the work is no longer in the store).
    pub winner_id: Option<u64>,
    pub winner_hash: String,
    pub winner_path: Option<String>,
    pub loser_id: Option<u64>,
    pub loser_hash: String,
    pub loser_path: Option<String>,
    /// Where it came from: `prefer` (the command line) or a front end.
    pub source: String,
    /// Seconds since the Unix epoch.
    pub time: u64,
}

/// One work's rating set or taken back by its id (the web app's rating
/// routes): the work, whose rating, and the rating it replaced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RatingChange {
    pub hash: String,
    pub id: u64,
    /// The rating before the change, if there was one.
    pub previous: Option<f64>,
    pub rater: String,
    /// The new rating (when one was set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating: Option<f64>,
    /// Whether a rating was taken back (when one was removed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed: Option<bool>,
}
