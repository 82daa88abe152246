//! Merging stores (`artlens merge`): the shards of an `index --shard I/N`
//! run, or any stores with the same backbones, united into one, whose ANN
//! indexes are then built once.

use std::path::PathBuf;

use super::Event;
use crate::error::{Error, Result};
use crate::pipeline;
use crate::preferences::PREFERENCES_TREE;
use crate::ratings::RATINGS_TREE;
use crate::store::{self, MergeReport, Store, COPIES_TREE};

/// What `merge` is asked.
#[derive(Debug, Clone)]
pub struct MergeRequest {
    /// The stores to merge, in order: where two disagree on a metadata
    /// field, the later one's value is kept.
    pub sources: Vec<PathBuf>,
    /// The merged store: created when missing, else merged into.
    pub into: PathBuf,
}

/// The trees whose records are united key by key. Heads (`taste`) and
/// caches are left out: they are learned from one store's ratings. The
/// copies a person marked are keyed by content hash like the ratings, so
/// they carry over as they are (then made stars again, see
/// [`Store::restore_copy_stars`]).
const RECORD_TREES: &[&str] = &[RATINGS_TREE, PREFERENCES_TREE, COPIES_TREE];

/// Merges `req.sources` into `req.into` ([`crate::store::merge_stores`]) and
/// brings the merged store's ANN indexes up to date. Refused, with nothing
/// written, when a source is the target, is named twice, is not a store or
/// is in use, when the stores have no backbone in common, or when one
/// backbone was embedded with different fingerprints.
pub fn merge(req: &MergeRequest, on_event: &mut dyn FnMut(Event)) -> Result<MergeReport> {
    let refuse = |reason: String| Error::MergeRefused {
        into: req.into.clone(),
        reason,
    };
    for (i, s) in req.sources.iter().enumerate() {
        if store::same_folder(s, &req.into) {
            return Err(refuse(format!(
                "{} is the store being merged into; a store cannot be merged into itself",
                s.display()
            )));
        }
        if let Some(t) = req.sources[..i].iter().find(|t| store::same_folder(s, t)) {
            return Err(refuse(format!(
                "{} is named twice ({} and {})",
                s.display(),
                t.display(),
                s.display()
            )));
        }
    }
    // A folder of other files is never turned into a store.
    if req.into.exists() && !Store::exists(&req.into) {
        let empty = std::fs::read_dir(&req.into)
            .map_err(|e| Error::io(&req.into, e))?
            .next()
            .is_none();
        if !empty {
            return Err(refuse(format!(
                "{} holds files but no artlens store; merge into a new or empty folder, or an existing store",
                req.into.display()
            )));
        }
    }
    let mut sources = Vec::with_capacity(req.sources.len());
    for s in &req.sources {
        sources.push(Store::open_existing(s)?);
    }
    let refs: Vec<&Store> = sources.iter().collect();
    // Checked before the target is created, so a refused merge leaves no
    // empty store behind.
    let into = if Store::exists(&req.into) {
        Store::open(&req.into)?
    } else {
        store::check_mergeable(&refs, None, &req.into)?;
        Store::open(&req.into)?
    };
    let mut report = store::merge_stores(&refs, &into, RECORD_TREES, &mut |done, total| {
        on_event(Event::Progress {
            done,
            total,
            failed: 0,
        })
    })?;
    drop(sources);
    into.restore_copy_stars()?;
    for id in into.backbones()? {
        // Built once, from every merged vector (a note says so while it runs).
        pipeline::sync_ann_index(&into, &id, on_event)?;
    }
    into.flush()?;
    report.works = into.counts()?.artworks;
    Ok(report)
}
