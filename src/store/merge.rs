//! Merging stores: the shards `index --shard I/N` made on several machines,
//! or any stores built with the same backbones and fingerprints, united into
//! one.
//!
//! The details are in `docs/STORE.md`, section "Merging stores".

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Serialize;

use super::{NewArtwork, Store};
use crate::error::{Error, Result};
use crate::model::registry::BackboneId;
use crate::model::Fingerprint;
use crate::shard::Shard;

/// One source store as the merge saw it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MergeSource {
    /// The source store's folder.
    pub store: String,
    /// Distinct works it holds.
    pub works: usize,
    /// Backbone names ([`BackboneId::name`]).
    pub backbones: Vec<String>,
    /// The shard it was indexed as (`index --shard I/N`); `None` for a
    /// store of the whole collection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
}

/// One metadata field two stores disagree on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetadataConflict {
    /// The work's content hash.
    pub hash: String,
    /// The metadata field (lower case, `title`, `artist`, ...).
    pub key: String,
    /// The value kept: the later store's on the command line.
    pub kept: String,
    /// The value given up: the earlier store's.
    pub dropped: String,
    /// The store whose value was kept.
    pub from: String,
}

/// One record key (a rating of one work by one rater, say) with different
/// values in two stores.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordConflict {
    /// The record's tree (`ratings`, `preferences`).
    pub tree: String,
    /// The record's key within its tree.
    pub key: String,
    /// The newer record's value, which was kept.
    pub kept: serde_json::Value,
    /// The older record's value, which was given up.
    pub dropped: serde_json::Value,
    /// Seconds since the Unix epoch of the kept and the dropped record.
    pub kept_time: u64,
    /// See `kept_time`.
    pub dropped_time: u64,
    /// How the kept one was chosen: `"newer"`, or, for two records made in
    /// the same second, `"same second: the larger value"` (compared as
    /// JSON text), a rule that does not depend on the order the stores
    /// were named in.
    pub decided_by: String,
}

/// What a merge did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MergeReport {
    /// The merged store's folder.
    pub into: String,
    /// The source stores, in the order they were named.
    pub sources: Vec<MergeSource>,
    /// Distinct works in the merged store afterwards.
    pub works: usize,
    /// Works the merged store did not hold before.
    pub added: usize,
    /// Works it held, that gained paths, metadata or embeddings.
    pub updated: usize,
    /// Works it already held completely (a re-run finds every work here).
    pub unchanged: usize,
    /// Embeddings written, per backbone name.
    pub embeddings_added: BTreeMap<String, usize>,
    /// Metadata fields the stores disagreed on, and which value was kept.
    pub metadata_conflicts: Vec<MetadataConflict>,
    /// (hash, backbone) pairs stored with different vectors under the same
    /// fingerprint (non-deterministic kernels on different machines); the
    /// vector already in the merged store is kept.
    pub differing_vectors: Vec<String>,
    /// Records (ratings, preferences) written, per tree.
    pub records_added: BTreeMap<String, usize>,
    /// Records (ratings, preferences) with different values in two
    /// stores, and which was kept.
    pub record_conflicts: Vec<RecordConflict>,
    /// Failure records carried over (files no store could index).
    pub failures: usize,
    /// Things worth telling: missing shards, backbones only some stores hold.
    pub notes: Vec<String>,
}

/// Refuses what cannot be merged, before anything is written, and returns
/// the fingerprints the merged store will hold, one per backbone.
/// `into` is `None` when the merged store does not exist yet (it is
/// created only once the merge is known to be possible).
pub(crate) fn check_mergeable(
    sources: &[&Store],
    into: Option<&Store>,
    into_path: &Path,
) -> Result<Vec<Fingerprint>> {
    let refuse = |reason: String| Error::MergeRefused {
        into: into_path.to_path_buf(),
        reason,
    };
    if sources.is_empty() {
        return Err(refuse("name at least one store to merge".into()));
    }
    let mut sets: Vec<(String, BTreeSet<BackboneId>)> = Vec::new();
    for &s in sources {
        sets.push((
            s.path().display().to_string(),
            s.backbones()?.into_iter().collect(),
        ));
    }
    if let Some(into) = into {
        if into.shard()?.is_some() {
            return Err(refuse(format!(
                "{} holds one shard of a collection (made by `index --shard`); merge into a new \
                 folder or a whole store",
                into_path.display()
            )));
        }
        let into_set: BTreeSet<BackboneId> = into.backbones()?.into_iter().collect();
        if !into_set.is_empty() {
            sets.push((into_path.display().to_string(), into_set));
        }
    }
    let common = sets
        .iter()
        .skip(1)
        .fold(sets[0].1.clone(), |acc, (_, s)| &acc & s);
    if common.is_empty() && sets.len() > 1 {
        let listed: Vec<String> = sets
            .iter()
            .map(|(p, s)| {
                let names: Vec<String> = s.iter().map(BackboneId::name).collect();
                format!(
                    "{p}: {}",
                    if names.is_empty() {
                        "none".to_string()
                    } else {
                        names.join(", ")
                    }
                )
            })
            .collect();
        return Err(refuse(format!(
            "the stores have no backbone in common ({}); index them with a shared backbone first",
            listed.join("; ")
        )));
    }
    let mut chosen: BTreeMap<BackboneId, (String, Fingerprint)> = BTreeMap::new();
    let all = sources.iter().copied().chain(into);
    for s in all {
        for id in s.backbones()? {
            let Some(fp) = s.fingerprint(&id)? else {
                continue;
            };
            let here = s.path().display().to_string();
            match chosen.get(&id) {
                None => {
                    chosen.insert(id, (here, fp));
                }
                Some((there, first)) if first != &fp => {
                    return Err(refuse(format!(
                        "{id} was embedded with other settings in {here} than in {there} ({}); \
                         re-index one of them with the other's weights, or merge them without it",
                        first.differences(&fp).join(", ")
                    )));
                }
                Some(_) => {}
            }
        }
    }
    Ok(chosen.into_values().map(|(_, fp)| fp).collect())
}

/// Merges `sources` into `into` (see the module documentation), calling
/// `progress(done, total)` after each work. `record_trees` are the trees
/// united key by key (ratings, preferences); each value must be an
/// [`super::Envelope`], whose `value.time` (or its own `time`) says which of
/// two conflicting records is newer.
pub fn merge_stores(
    sources: &[&Store],
    into: &Store,
    record_trees: &[&str],
    progress: &mut dyn FnMut(usize, usize),
) -> Result<MergeReport> {
    let fingerprints = check_mergeable(sources, Some(into), into.path())?;
    let mut report = MergeReport {
        into: into.path().display().to_string(),
        ..Default::default()
    };
    for fp in &fingerprints {
        into.ensure_fingerprint(fp, false)?;
    }
    for &s in sources {
        for id in s.backbones()? {
            if into.weights_location(&id)?.is_none() {
                if let Some(files) = s.weights_location(&id)? {
                    into.set_weights_location(&id, &files)?;
                }
            }
        }
        for root in s.roots() {
            into.add_root(&root.path)?;
        }
    }
    notes_on_coverage(sources, &mut report)?;

    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut touched: BTreeSet<String> = BTreeSet::new();
    let mut existed: BTreeSet<String> = BTreeSet::new();
    let total: usize = report.sources.iter().map(|s| s.works).sum();
    let mut done = 0;
    for &s in sources {
        let from = s.path().display().to_string();
        let backbones = s.backbones()?;
        for art in s.artworks()? {
            let first_sight = seen.insert(art.hash.clone());
            let stored = into.artwork(&art.hash)?;
            if first_sight && stored.is_some() {
                existed.insert(art.hash.clone());
            }
            let mut metadata = stored
                .as_ref()
                .map(|a| a.metadata.clone())
                .unwrap_or_default();
            for (k, v) in &art.metadata {
                match metadata.get(k) {
                    Some(old) if old == v => {}
                    Some(old) => {
                        report.metadata_conflicts.push(MetadataConflict {
                            hash: art.hash.clone(),
                            key: k.clone(),
                            kept: v.clone(),
                            dropped: old.clone(),
                            from: from.clone(),
                        });
                        metadata.insert(k.clone(), v.clone());
                    }
                    None => {
                        metadata.insert(k.clone(), v.clone());
                    }
                }
            }
            let mut vectors: Vec<(&BackboneId, Vec<f32>)> = Vec::new();
            for id in &backbones {
                let Some(v) = s.embedding(id, &art.hash)? else {
                    continue;
                };
                match into.embedding(id, &art.hash)? {
                    None => vectors.push((id, v)),
                    Some(old) if bits(&old) != bits(&v) => {
                        report
                            .differing_vectors
                            .push(format!("{} {}", art.hash, id.name()))
                    }
                    Some(_) => {}
                }
            }
            let new_paths = match &stored {
                Some(a) => art.paths.iter().any(|p| !a.paths.contains(p)),
                None => true,
            };
            let new_metadata = stored.as_ref().map(|a| a.metadata != metadata);
            if vectors.is_empty() && !new_paths && new_metadata == Some(false) {
                done += 1;
                progress(done, total);
                continue;
            }
            for (id, _) in &vectors {
                *report.embeddings_added.entry(id.name()).or_default() += 1;
            }
            let refs: Vec<(&BackboneId, &[f32])> =
                vectors.iter().map(|(id, v)| (*id, v.as_slice())).collect();
            into.record_image(
                &NewArtwork {
                    hash: art.hash.clone(),
                    paths: art.paths.clone(),
                    size: art.size,
                    width: art.width,
                    height: art.height,
                    metadata,
                },
                &refs,
            )?;
            touched.insert(art.hash.clone());
            done += 1;
            progress(done, total);
        }
        // A checkpoint per source: what was merged so far survives a kill.
        into.flush()?;
    }
    report.added = touched.iter().filter(|h| !existed.contains(*h)).count();
    report.updated = touched.iter().filter(|h| existed.contains(*h)).count();
    report.unchanged = seen.len() - touched.len();

    for &s in sources {
        for f in s.failures()? {
            let indexed = into.path_hash(&f.path)?.is_some();
            if !indexed && into.failure(&f.path)?.is_none() {
                into.record_failure(&f.path, f.hash.as_deref(), &f.reason)?;
                report.failures += 1;
            }
        }
    }
    for tree in record_trees {
        merge_records(sources, into, tree, &mut report)?;
    }
    report.works = into.counts()?.artworks;
    into.flush()?;
    Ok(report)
}

/// Notes on what the merged store will lack: shards of an N-way split that
/// were not given, backbones only some stores hold.
fn notes_on_coverage(sources: &[&Store], report: &mut MergeReport) -> Result<()> {
    let mut by_backbone: BTreeMap<String, usize> = BTreeMap::new();
    let mut shards: BTreeMap<u32, BTreeSet<u32>> = BTreeMap::new();
    for &s in sources {
        let backbones: Vec<String> = s.backbones()?.iter().map(BackboneId::name).collect();
        for b in &backbones {
            *by_backbone.entry(b.clone()).or_default() += 1;
        }
        let shard = s.shard()?;
        if let Some(sh) = shard {
            shards.entry(sh.count).or_default().insert(sh.index);
        }
        report.sources.push(MergeSource {
            store: s.path().display().to_string(),
            works: s.counts()?.artworks,
            backbones,
            shard,
        });
    }
    for (b, n) in by_backbone {
        if n < sources.len() {
            report.notes.push(format!(
                "{b} is in {n} of {} stores: works from the others lack it until `artlens index DIR --backbones {b}` fills them in",
                sources.len()
            ));
        }
    }
    for (count, have) in shards {
        let missing: Vec<String> = (0..count)
            .filter(|i| !have.contains(i))
            .map(|i| format!("{i}/{count}"))
            .collect();
        if !missing.is_empty() {
            report.notes.push(format!(
                "shard{} {} of {count} not given: their works are missing until they are merged in too (merging again adds them)",
                if missing.len() == 1 { "" } else { "s" },
                missing.join(", ")
            ));
        }
    }
    Ok(())
}

/// Unites the records of `tree` key by key; see [`merge_stores`].
fn merge_records(
    sources: &[&Store],
    into: &Store,
    tree: &str,
    report: &mut MergeReport,
) -> Result<()> {
    let dst = into.tree(tree)?;
    // A record batch: ratings and preferences reach the ratings journal.
    let mut batch = into.batch(tree)?;
    let mut pending: BTreeMap<Vec<u8>, serde_json::Value> = BTreeMap::new();
    let mut added = 0;
    for &s in sources {
        let src = s.tree(tree)?;
        for kv in src.iter() {
            let (k, v) = kv.map_err(|e| s.err(e))?;
            let incoming: serde_json::Value = serde_json::from_slice(&v).map_err(|e| {
                s.corrupt(format!(
                    "{tree} record {}: {e}",
                    String::from_utf8_lossy(&k)
                ))
            })?;
            let current = match pending.get(k.as_ref()) {
                Some(p) => Some(p.clone()),
                None => match dst.get(&k).map_err(|e| into.err(e))? {
                    Some(bytes) => Some(serde_json::from_slice(&bytes).map_err(|e| {
                        into.corrupt(format!(
                            "{tree} record {}: {e}",
                            String::from_utf8_lossy(&k)
                        ))
                    })?),
                    None => None,
                },
            };
            let keep_incoming = match &current {
                None => {
                    added += 1;
                    true
                }
                Some(cur) if same_record(cur, &incoming) => false,
                Some(cur) => {
                    let (t_cur, t_in) = (record_time(cur), record_time(&incoming));
                    // Same second: the larger value, so that `merge A B`
                    // and `merge B A` keep the same record.
                    let value_text =
                        |r: &serde_json::Value| r.get("value").unwrap_or(r).to_string();
                    let newer = match t_in.cmp(&t_cur) {
                        std::cmp::Ordering::Equal => value_text(&incoming) > value_text(cur),
                        o => o.is_gt(),
                    };
                    let decided_by = if t_in == t_cur {
                        "same second: the larger value"
                    } else {
                        "newer"
                    };
                    let (kept, dropped) = if newer {
                        (&incoming, cur)
                    } else {
                        (cur, &incoming)
                    };
                    report.record_conflicts.push(RecordConflict {
                        tree: tree.to_string(),
                        key: String::from_utf8_lossy(&k).into_owned(),
                        kept: kept.get("value").cloned().unwrap_or(kept.clone()),
                        dropped: dropped.get("value").cloned().unwrap_or(dropped.clone()),
                        kept_time: t_cur.max(t_in),
                        dropped_time: t_cur.min(t_in),
                        decided_by: decided_by.to_string(),
                    });
                    newer
                }
            };
            if keep_incoming {
                batch.put_raw(&String::from_utf8_lossy(&k), v.to_vec());
                pending.insert(k.to_vec(), incoming);
            }
        }
    }
    // One batch per tree: all of a tree's records arrive together or not at all.
    into.apply(batch)?;
    if added > 0 {
        report.records_added.insert(tree.to_string(), added);
    }
    Ok(())
}

/// True when two envelopes say the same thing, whenever and from wherever
/// it was recorded (two shards that imported the same ratings CSV agree).
fn same_record(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    let strip = |v: &serde_json::Value| {
        let mut v = v.get("value").cloned().unwrap_or_else(|| v.clone());
        if let Some(o) = v.as_object_mut() {
            o.remove("time");
            o.remove("source");
        }
        v
    };
    strip(a) == strip(b)
}

/// When a record was made: its value's `time`, else its envelope's.
fn record_time(v: &serde_json::Value) -> u64 {
    v.get("value")
        .and_then(|x| x.get("time"))
        .and_then(serde_json::Value::as_u64)
        .or_else(|| v.get("time").and_then(serde_json::Value::as_u64))
        .unwrap_or(0)
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// True when `a` and `b` name the same folder (also through links, and for
/// a folder that does not exist yet).
pub(crate) fn same_folder(a: &Path, b: &Path) -> bool {
    let canon = |p: &Path| -> std::path::PathBuf {
        if let Ok(c) = std::fs::canonicalize(p) {
            return c;
        }
        match (p.parent(), p.file_name()) {
            (Some(parent), Some(name)) => {
                let parent = if parent.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    parent
                };
                std::fs::canonicalize(parent)
                    .map(|c| c.join(name))
                    .unwrap_or_else(|_| p.to_path_buf())
            }
            _ => p.to_path_buf(),
        }
    };
    canon(a) == canon(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two ratings of one work made in the same second: whichever order the
    /// stores are named in, the merge keeps the same one and says why.
    #[test]
    fn a_same_second_conflict_does_not_depend_on_argument_order() {
        let dir = tempfile::tempdir().unwrap();
        let rated = |name: &str, rating: f64| {
            let s = Store::open(&dir.path().join(name)).unwrap();
            let v =
                serde_json::json!({"rating": rating, "source": "set", "time": 1_700_000_000u64});
            s.put_record("ratings", "abc", &v, Vec::new()).unwrap();
            s
        };
        let (a, b) = (rated("a", 3.0), rated("b", 8.0));
        let mut kept = Vec::new();
        for (i, order) in [[&a, &b], [&b, &a]].into_iter().enumerate() {
            let into = Store::open(&dir.path().join(format!("m{i}"))).unwrap();
            // The record step of `merge_stores` (which first needs a
            // backbone the stores share).
            let mut report = MergeReport::default();
            merge_records(&order, &into, "ratings", &mut report).unwrap();
            assert_eq!(report.record_conflicts.len(), 1);
            assert_eq!(
                report.record_conflicts[0].decided_by,
                "same second: the larger value"
            );
            let r = into
                .get_record::<serde_json::Value>("ratings", "abc")
                .unwrap()
                .unwrap();
            kept.push(r.value["rating"].as_f64().unwrap());
            // The merged rating is in the merged store's journal.
            let journal = std::fs::read_to_string(into.journal_path()).unwrap();
            assert!(journal.contains("\"key\":\"abc\""), "{journal}");
        }
        assert_eq!(
            kept[0], kept[1],
            "merge A B and merge B A keep the same rating"
        );
    }
}
