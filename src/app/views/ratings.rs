//! The views of `rate list`: one rating, one preference.

use serde::{Deserialize, Serialize};

/// A rating as listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RatingView {
    /// The work's id; `None` when the rated work is no longer in the store.
    pub id: Option<u64>,
    /// The work's content hash (blake3, hex), which the rating is keyed by.
    pub hash: String,
    /// The work's first path; `None` when it is no longer in the store.
    pub path: Option<String>,
    /// The rating, on the rater's own scale.
    pub rating: f64,
    /// Where it came from: `csv:<file>:<row>` for an import, `set` for one set by hand.
    pub source: String,
}

/// A preference as listed: the preferred work, the other one, who said it
/// and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreferenceView {
    /// Who stated the preference.
    pub rater: String,
    /// The preferred work's id, content hash and first path (id and path
    /// are `None` when the work is no longer in the store).
    pub winner_id: Option<u64>,
    /// The preferred work's content hash.
    pub winner_hash: String,
    /// The preferred work's first path.
    pub winner_path: Option<String>,
    /// The other work's id, content hash and first path (id and path are `None` when the work is no
    /// longer in the store).
    pub loser_id: Option<u64>,
    /// The other work's content hash.
    pub loser_hash: String,
    /// The other work's first path.
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
    /// The work's content hash (blake3, hex).
    pub hash: String,
    /// The work's id in the store.
    pub id: u64,
    /// The rating before the change, if there was one.
    pub previous: Option<f64>,
    /// Whose rating changed.
    pub rater: String,
    /// The new rating (when one was set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating: Option<f64>,
    /// Whether a rating was taken back (when one was removed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed: Option<bool>,
}
