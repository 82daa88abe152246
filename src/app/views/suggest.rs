//! The view of `suggest`: the works whose ratings would help most, and why.

use serde::{Deserialize, Serialize};

/// What the suggestions are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Goal {
    /// Works whose ratings would tell the backbones apart.
    Verdict,
    /// Works whose ratings would teach the head most.
    Taste,
}

/// One suggested work.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Suggestion {
    /// The work's id in the store.
    pub id: u64,
    /// The work's content hash.
    pub hash: String,
    /// The work's first stored path.
    pub path: Option<String>,
    /// How useful the rating would be, in the goal's units: the spread of
    /// the standardised predictions (verdict, after the spread discount) or
    /// the posterior variance relative to the prior (taste, coverage).
    pub usefulness: f64,
    /// Each backbone's head prediction (verdict only).
    pub predictions: std::collections::BTreeMap<String, f64>,
}

/// `suggest`'s answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SuggestView {
    /// The goal asked for.
    pub goal: Goal,
    /// How the list was made: `verdict`, `taste` or `coverage` (the fallback).
    pub method: String,
    /// The rater the suggestions are for.
    pub rater: String,
    /// Why the method differs from the goal, when it does.
    pub message: Option<String>,
    /// The suggested works, most useful first.
    pub works: Vec<Suggestion>,
}
