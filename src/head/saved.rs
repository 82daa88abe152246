//! Heads in the store: the rated works joined with their embeddings, and
//! the heads and report of a training run saved and loaded.
//!
//! The details are in `docs/STORE.md`, section "Saved heads".

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::{HeadKind, PairwiseHead, PairwiseReport, TrainReport, TrainedHead};
use crate::error::{Error, Result};
use crate::model::registry::BackboneId;
use crate::model::Fingerprint;
use crate::ratings::{self, Rater};
use crate::store::Store;

/// The tree heads and the last training report live in.
pub(crate) const TASTE_TREE: &str = "taste";
const TRAINING_KEY: &str = "training";

/// Rated works with an embedding of one backbone.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrainingSet {
    /// Content hashes, sorted, one per row.
    pub hashes: Vec<String>,
    /// One embedding per row.
    pub x: Vec<Vec<f32>>,
    /// The rating of each row, on the rater's scale.
    pub y: Vec<f64>,
    /// Rated works left out because the store has no embedding of this
    /// backbone for them (not embedded yet, or removed from the store).
    pub skipped: usize,
}

/// Rated works with embeddings of every one of several backbones, row for
/// row the same works, so that a comparison scores them on the same works.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlignedSet {
    /// Content hashes, sorted, one per row.
    pub hashes: Vec<String>,
    /// Per backbone (in the order asked for), one embedding per row.
    pub x: Vec<Vec<Vec<f32>>>,
    /// The rating of each row, on the rater's scale.
    pub y: Vec<f64>,
    /// Rated works left out because some backbone lacks their embedding.
    pub skipped: usize,
}

/// What a training run saved besides the heads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedTraining {
    /// The comparison on ratings; `None` when the run learnt from
    /// preferences only.
    #[serde(default)]
    pub report: Option<TrainReport>,
    /// The comparison on held-out preferences, when the rater has enough.
    #[serde(default)]
    pub pairwise: Option<PairwiseReport>,
    /// Whose ratings and preferences these are (absent in runs saved before
    /// raters existed, which are `me`'s).
    #[serde(default)]
    pub rater: Rater,
    /// `ratings::ratings_digest_of` when training: `score` and `compare` warn
    /// when the ratings changed since.
    pub ratings_digest: String,
    /// `crate::preferences::preferences_digest` when training.
    #[serde(default)]
    pub preferences_digest: Option<String>,
    /// The head kind the run fitted.
    pub head_kind: HeadKind,
    /// The backbones trained, in report order (their names).
    pub backbones: Vec<String>,
    /// Identifies the run; every head it saved carries the same.
    pub run: String,
}

/// A saved head with the run that made it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SavedHead {
    run: String,
    head: TrainedHead,
}

/// A saved pairwise head with the run that made it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SavedPairwise {
    run: String,
    head: PairwiseHead,
}

/// The prefix of `rater`'s keys in the `taste` tree (see the module docs).
fn prefix(rater: &Rater) -> String {
    if rater.is_default() {
        String::new()
    } else {
        format!("rater/{rater}/")
    }
}

fn embeddings_by_hash(store: &Store, model: &BackboneId) -> Result<HashMap<String, Vec<f32>>> {
    Ok(store
        .embeddings(model)?
        .into_iter()
        .map(|(_, hash, v)| (hash, v))
        .collect())
}

/// `rater`'s ratings joined with `model`'s embeddings.
pub fn training_set(store: &Store, rater: &Rater, model: &BackboneId) -> Result<TrainingSet> {
    let mut emb = embeddings_by_hash(store, model)?;
    let mut set = TrainingSet::default();
    for (hash, rating) in ratings::ratings_of(store, rater)? {
        match emb.remove(&hash) {
            Some(v) => {
                set.hashes.push(hash);
                set.x.push(v);
                set.y.push(rating);
            }
            None => set.skipped += 1,
        }
    }
    Ok(set)
}

/// `ratings` (hash, rating) joined with every one of `models`' embeddings,
/// keeping only works all of them have.
pub fn aligned_training_set_of(
    store: &Store,
    ratings: &[(String, f64)],
    models: &[BackboneId],
) -> Result<AlignedSet> {
    let mut maps = Vec::with_capacity(models.len());
    for m in models {
        maps.push(embeddings_by_hash(store, m)?);
    }
    let mut set = AlignedSet {
        x: vec![Vec::new(); models.len()],
        ..Default::default()
    };
    for (hash, rating) in ratings {
        if maps.iter().all(|m| m.contains_key(hash)) {
            for (i, m) in maps.iter_mut().enumerate() {
                set.x[i].push(m.remove(hash).unwrap_or_default());
            }
            set.hashes.push(hash.clone());
            set.y.push(*rating);
        } else {
            set.skipped += 1;
        }
    }
    Ok(set)
}

/// Saves a training run for `training.rater`: every head (from scores and
/// from preferences) with the fingerprint of the embeddings it learnt from,
/// and the report, in one atomic batch that also removes that rater's heads
/// (of either kind) this run did not train.
pub fn save_training_with(
    store: &Store,
    heads: &[(BackboneId, TrainedHead, Fingerprint)],
    pairwise: &[(BackboneId, PairwiseHead, Fingerprint)],
    training: &SavedTraining,
) -> Result<()> {
    let rater = &training.rater;
    let pre = prefix(rater);
    let mut batch = store.batch(TASTE_TREE)?;
    let mut keep = Vec::new();
    for (model, head, fp) in heads {
        if &fp.backbone != model {
            return Err(Error::InvalidArgument(format!(
                "a {model} head cannot be saved with a {} fingerprint",
                fp.backbone
            )));
        }
        if fp.dim != head.dim() {
            return Err(Error::InvalidArgument(format!(
                "the head expects {}-value embeddings, the {model} fingerprint says {}",
                head.dim(),
                fp.dim
            )));
        }
        let key = head_key(rater, model);
        batch.put(
            &key,
            &SavedHead {
                run: training.run.clone(),
                head: head.clone(),
            },
            vec![fp.clone()],
        )?;
        keep.push(key);
    }
    for (model, head, fp) in pairwise {
        if &fp.backbone != model || fp.dim != head.coef.len() {
            return Err(Error::InvalidArgument(format!(
                "a {model} pairwise head cannot be saved with this {} fingerprint",
                fp.backbone
            )));
        }
        let key = pairwise_key(rater, model);
        batch.put(
            &key,
            &SavedPairwise {
                run: training.run.clone(),
                head: head.clone(),
            },
            vec![fp.clone()],
        )?;
        keep.push(key);
    }
    for kind in ["head/", "pairwise/"] {
        let p = format!("{pre}{kind}");
        for (key, _) in store.scan_records::<serde_json::Value>(TASTE_TREE, &p)? {
            if !keep.contains(&key) {
                batch.remove(&key);
            }
        }
    }
    let mut fps: Vec<Fingerprint> = heads.iter().map(|(_, _, fp)| fp.clone()).collect();
    for (_, _, fp) in pairwise {
        if !fps.contains(fp) {
            fps.push(fp.clone());
        }
    }
    batch.put(&format!("{pre}{TRAINING_KEY}"), training, fps)?;
    store.apply(batch)
}

/// `rater`'s saved taste head for `model` and the run that made it, refused
/// ([`Error::StaleHead`]) when the store's embeddings of `model` were made
/// with other weights or preprocessing than the head's.
pub fn load_head_of(
    store: &Store,
    rater: &Rater,
    model: &BackboneId,
) -> Result<(TrainedHead, String)> {
    let Some(env) = store.get_record::<SavedHead>(TASTE_TREE, &head_key(rater, model))? else {
        return Err(Error::NoHead {
            backbone: model.name(),
        });
    };
    let diffs = store.fingerprint_differences(&env.fingerprints)?;
    if !diffs.is_empty() {
        return Err(Error::StaleHead {
            what: "the taste head".into(),
            model: model.name(),
            differences: diffs.join("; "),
        });
    }
    Ok((env.value.head, env.value.run))
}

/// `rater`'s last training run's report, refused when any backbone's
/// embeddings changed since. `None` when `rater` trained nothing.
pub fn load_training_of(store: &Store, rater: &Rater) -> Result<Option<SavedTraining>> {
    let key = format!("{}{TRAINING_KEY}", prefix(rater));
    let Some(env) = store.get_record::<SavedTraining>(TASTE_TREE, &key)? else {
        return Ok(None);
    };
    let diffs = store.fingerprint_differences(&env.fingerprints)?;
    if !diffs.is_empty() {
        return Err(Error::StaleHead {
            what: "the saved comparison".into(),
            model: env.value.backbones.join(", "),
            differences: diffs.join("; "),
        });
    }
    Ok(Some(env.value))
}

fn head_key(rater: &Rater, model: &BackboneId) -> String {
    format!("{}head/{}", prefix(rater), model.key())
}

fn pairwise_key(rater: &Rater, model: &BackboneId) -> String {
    format!("{}pairwise/{}", prefix(rater), model.key())
}
