//! Pairwise preferences ("I prefer this work to that one"), kept in the
//! store's `preferences` tree, keyed by rater and the two works' content
//! hashes, so that a preference follows both works through renames.
//!
//! The details are in `docs/RATINGS.md`, section "How preferences are stored".

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ratings::{resolve_work, Rater};
use crate::store::{now_secs, Artwork, Store};

/// The tree preferences live in.
pub(crate) const PREFERENCES_TREE: &str = "preferences";

/// One stored preference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preference {
    /// Content hash of the preferred work.
    pub winner: String,
    /// Content hash of the other one.
    pub loser: String,
    /// Where it came from: `prefer` (the command line) or a front end.
    pub source: String,
    /// Seconds since the Unix epoch.
    pub time: u64,
}

/// What `add_preference` did.
#[derive(Debug, Clone, PartialEq)]
pub struct Added {
    /// The work preferred.
    pub winner: Artwork,
    /// The work it was preferred over.
    pub loser: Artwork,
    /// The same preference was stored before (it was replaced).
    pub repeated: bool,
    /// The opposite preference is stored too (both are kept).
    pub contradicts: bool,
}

fn key(rater: &Rater, winner: &str, loser: &str) -> String {
    format!("{rater}/{winner}/{loser}")
}

/// What `remove_preference` did.
#[derive(Debug, Clone, PartialEq)]
pub struct Removed {
    /// The work that had been preferred.
    pub winner: Artwork,
    /// The work it had been preferred over.
    pub loser: Artwork,
    /// The record removed.
    pub preference: Preference,
}

/// Resolves the two works a preference names. Unknown or ambiguous names
/// are an error naming every one of them ([`Error::UnknownWorks`] for both,
/// the work's own error for one); two names of the same work are
/// [`Error::SameWork`].
fn resolve_pair(store: &Store, winner: &str, loser: &str) -> Result<(Artwork, Artwork)> {
    let (w, l) = (resolve_work(store, winner), resolve_work(store, loser));
    let (w, l) = match (w, l) {
        (Ok(w), Ok(l)) => (w, l),
        (Err(e), Ok(_)) | (Ok(_), Err(e)) => return Err(e),
        (Err(a), Err(b)) => {
            return Err(Error::UnknownWorks {
                count: 2,
                reasons: format!("{a}; {b}"),
            })
        }
    };
    if w.hash == l.hash {
        return Err(Error::SameWork {
            winner: winner.trim().to_string(),
            loser: loser.trim().to_string(),
            id: w.id,
            path: w.paths.first().cloned().unwrap_or_default(),
        });
    }
    Ok((w, l))
}

/// Stores that `rater` prefers the work `winner` names to the one `loser`
/// names (the names are resolved as [`resolve_pair`] says).
pub(crate) fn add_preference(
    store: &Store,
    rater: &Rater,
    winner: &str,
    loser: &str,
) -> Result<Added> {
    let (w, l) = resolve_pair(store, winner, loser)?;
    let k = key(rater, &w.hash, &l.hash);
    let repeated = store.has_record(PREFERENCES_TREE, &k)?;
    let contradicts = store.has_record(PREFERENCES_TREE, &key(rater, &l.hash, &w.hash))?;
    let value = Preference {
        winner: w.hash.clone(),
        loser: l.hash.clone(),
        source: "prefer".into(),
        time: now_secs(),
    };
    store.put_record(PREFERENCES_TREE, &k, &value, Vec::new())?;
    Ok(Added {
        winner: w,
        loser: l,
        repeated,
        contradicts,
    })
}

/// Removes `rater`'s preference of the work `winner` names over the one
/// `loser` names, and returns it. A pair holds at most one record per
/// direction (saying a preference again replaces it), so this takes back
/// the latest time `rater` said it; the opposite preference, if any, stays.
/// Without such a preference it is [`Error::NoPreference`], naming both
/// works, and nothing changes.
pub(crate) fn remove_preference(
    store: &Store,
    rater: &Rater,
    winner: &str,
    loser: &str,
) -> Result<Removed> {
    let (w, l) = resolve_pair(store, winner, loser)?;
    let k = key(rater, &w.hash, &l.hash);
    let Some(env) = store.get_record::<Preference>(PREFERENCES_TREE, &k)? else {
        let name = |a: &Artwork| {
            format!(
                "#{} ({})",
                a.id,
                a.paths.first().map(String::as_str).unwrap_or("")
            )
        };
        let next = if store.has_record(PREFERENCES_TREE, &key(rater, &l.hash, &w.hash))? {
            format!(
                "it holds the opposite one, {} over {}: name the works the other way round",
                name(&l),
                name(&w)
            )
        } else {
            "`rate list --preferences` lists the stored ones".to_string()
        };
        return Err(Error::NoPreference {
            rater: rater.name().to_string(),
            winner: name(&w),
            loser: name(&l),
            next,
        });
    };
    let mut batch = store.batch(PREFERENCES_TREE)?;
    batch.remove(&k);
    store.apply(batch)?;
    Ok(Removed {
        winner: w,
        loser: l,
        preference: env.value,
    })
}

/// Every preference of `rater`, in key order (by winner, then loser).
pub(crate) fn preferences_of(store: &Store, rater: &Rater) -> Result<Vec<Preference>> {
    Ok(store
        .scan_records::<Preference>(PREFERENCES_TREE, &format!("{rater}/"))?
        .into_iter()
        .map(|(_, e)| e.value)
        .collect())
}

/// Every rater with preferences and how many, by name.
pub(crate) fn preference_raters(store: &Store) -> Result<BTreeMap<Rater, usize>> {
    let mut out = BTreeMap::new();
    for (k, _) in store.scan_records::<serde_json::Value>(PREFERENCES_TREE, "")? {
        if let Some(r) = k.split('/').next().and_then(|n| Rater::parse(n).ok()) {
            *out.entry(r).or_default() += 1;
        }
    }
    Ok(out)
}

/// Unordered pairs of works that `prefs` prefer both ways.
pub(crate) fn contradictions(prefs: &[Preference]) -> usize {
    let set: HashSet<(&str, &str)> = prefs
        .iter()
        .map(|p| (p.winner.as_str(), p.loser.as_str()))
        .collect();
    set.iter()
        .filter(|(w, l)| w < l && set.contains(&(*l, *w)))
        .count()
}

/// Removes every preference of `rater` in one atomic batch; how many.
pub(crate) fn clear_preferences(store: &Store, rater: &Rater) -> Result<usize> {
    let keys: Vec<String> = store
        .scan_records::<serde_json::Value>(PREFERENCES_TREE, &format!("{rater}/"))?
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    let mut batch = store.batch(PREFERENCES_TREE)?;
    for k in &keys {
        batch.remove(k);
    }
    store.apply(batch)?;
    Ok(keys.len())
}

/// A digest of `rater`'s preferences, saved with a training run so that
/// later commands can say the preferences changed since.
pub(crate) fn preferences_digest(store: &Store, rater: &Rater) -> Result<String> {
    let mut h = blake3::Hasher::new();
    for p in preferences_of(store, rater)? {
        h.update(p.winner.as_bytes());
        h.update(b">");
        h.update(p.loser.as_bytes());
    }
    Ok(h.finalize().to_hex()[..16].to_string())
}

#[cfg(test)]
mod tests {
    /// The store journals the trees a person writes by hand by their names:
    /// a renamed tree must stay journaled.
    #[test]
    fn ratings_and_preferences_are_journaled_trees() {
        let journaled = crate::store::JOURNALED_TREES;
        assert!(journaled.contains(&super::PREFERENCES_TREE));
        assert!(journaled.contains(&crate::ratings::RATINGS_TREE));
    }
}
