//! The views of `dups`: the near-duplicate groups of a collection, and what
//! marking, unmarking or keeping a work changed.

use serde::{Deserialize, Serialize};

/// One work of a duplicate group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DupMember {
    /// The work's id.
    pub id: u64,
    /// Its content hash.
    pub hash: String,
    /// Its first file.
    pub path: String,
    /// Its size in pixels.
    pub width: u32,
    /// Its height in pixels.
    pub height: u32,
    /// Cosine similarity of its embedding with the representative's, 0–1
    /// (`None` for the representative itself, or when either lacks an
    /// embedding of the backbone).
    pub similarity: Option<f64>,
    /// How well its pixels agree with the representative's once aligned
    /// (normalised correlation, 1 = the same picture; `None` for the
    /// representative, or when either picture could not be read).
    pub agreement: Option<f64>,
    /// True for the group's representative.
    pub representative: bool,
    /// True when the work is recorded as a copy of the representative
    /// (`dups mark`, `dups keep`); false for one only found, not marked.
    pub marked: bool,
}

/// A group of works that are one picture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DupGroup {
    /// The representative's id: the work a person kept, else the largest
    /// in pixels (then in bytes: the least compressed).
    pub representative: u64,
    /// True when a person chose the representative (the group has marked
    /// copies).
    pub chosen: bool,
    /// The works, the representative first, then by id.
    pub members: Vec<DupMember>,
}

/// The answer of `dups`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DupsView {
    /// The backbone whose embeddings proposed the candidates.
    pub backbone: String,
    /// The cosine similarity a neighbour needed to be a candidate.
    pub threshold: f64,
    /// The aligned-pixel agreement a candidate needed to be a copy.
    pub agreement: f64,
    /// Works looked at.
    pub works: usize,
    /// Candidate pairs the embeddings proposed.
    pub candidates: usize,
    /// Candidate pairs the pixels confirmed.
    pub verified: usize,
    /// Works whose picture could not be read for the check (left out).
    pub unreadable: usize,
    /// The groups, found or marked, by representative id.
    pub groups: Vec<DupGroup>,
    /// One sentence on how the groups were found and what marking does.
    pub method: String,
}

/// What `dups mark`, `unmark` or `keep` changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CopyChange {
    /// What was done: `mark`, `unmark` or `keep`.
    pub action: String,
    /// The work acted on (the copy, or the representative kept).
    pub id: u64,
    /// The group's representative afterwards (`None` after an unmark).
    pub representative: Option<u64>,
    /// The works recorded as copies of that representative afterwards.
    pub copies: Vec<u64>,
    /// False when nothing changed (unmarking a work that was no copy).
    pub changed: bool,
    /// The change in plain words.
    pub message: String,
}
