//! Opening a store of format 1 (artlens with two hard-wired models) and
//! bringing it to format 2: backbones named by id, paths stored relative to
//! collection roots, ratings and heads in versioned envelopes.
//!
//! Each step is one atomic batch and can be redone: records already in the
//! new form are recognised and left alone. The format version is written
//! last, so a migration interrupted anywhere is completed by the next open.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::records::{Envelope, RECORD_VERSION};
use super::{to_json, Artwork, Store, StoredArtwork, FORMAT_KEY, FORMAT_VERSION, NO_ROOT};
use crate::error::Result;
use crate::imaging::Preprocess;
use crate::model::registry::BackboneId;
use crate::model::Fingerprint;

/// The trees format 1 kept ratings, heads and caches in; format 2 keeps
/// ratings in the same tree (enveloped) and heads in `taste`.
const V1_RATINGS: &str = "ratings";
const V1_HEADS: &str = "heads";
const V1_CACHE: &str = "explain";
const V2_TASTE: &str = "taste";
const V1_MODELS: [&str; 2] = ["dino", "dinov2"];

/// What a migration did, for the front end to tell the user.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Migration {
    /// The store's format before ([`super::FORMAT_VERSION`] numbering).
    pub from_version: u32,
    /// The store's format after: the current [`super::FORMAT_VERSION`].
    pub to_version: u32,
    /// (format-1 model name, backbone id it became).
    pub backbones: Vec<(String, String)>,
    /// Artwork records carried over.
    pub artworks: usize,
    /// Embeddings carried over, all backbones together.
    pub embeddings: usize,
    /// Ratings carried over (re-written in envelopes).
    pub ratings: usize,
    /// Taste heads carried over.
    pub heads: usize,
    /// What could not be carried over and must be made again.
    pub dropped: Vec<String>,
}

impl Migration {
    /// One paragraph for stderr.
    pub fn message(&self) -> String {
        let names: Vec<String> = self
            .backbones
            .iter()
            .map(|(a, b)| format!("{a} → {b}"))
            .collect();
        let mut msg = format!(
            "migrated the store from format {} to {}: {} works, {} embeddings ({}), {} ratings, {} taste heads",
            self.from_version,
            self.to_version,
            self.artworks,
            self.embeddings,
            names.join(", "),
            self.ratings,
            self.heads
        );
        if !self.dropped.is_empty() {
            msg.push_str(&format!("; not carried over: {}", self.dropped.join("; ")));
        }
        msg
    }
}

#[derive(Deserialize)]
struct V1Fingerprint {
    model: String,
    weights_blake3: String,
    preprocess: Preprocess,
    dim: usize,
}

#[derive(Deserialize)]
struct V1SavedHead {
    fingerprint: V1Fingerprint,
    head: serde_json::Value,
}

pub(super) fn from_v1(store: &Store) -> Result<Migration> {
    let err = |e: sled::Error| store.err(e);
    let mut m = Migration {
        from_version: 1,
        to_version: FORMAT_VERSION,
        backbones: Vec::new(),
        artworks: 0,
        embeddings: 0,
        ratings: 0,
        heads: 0,
        dropped: Vec::new(),
    };

    // The backbones: a format-1 DINOv2 indexed with --image-size becomes
    // `dinov2@SIZE`, which is what its embeddings are.
    let mut renamed: HashMap<String, Fingerprint> = HashMap::new();
    for old in V1_MODELS {
        let key = format!("fingerprint/{old}");
        let Some(v) = store.meta.get(key.as_bytes()).map_err(err)? else {
            continue;
        };
        let fp: V1Fingerprint = serde_json::from_slice(&v)
            .map_err(|e| store.corrupt(format!("meta/{key} (format 1): {e}")))?;
        let (h, _) = fp.preprocess.output_size();
        let base = BackboneId::parse(&fp.model)?;
        let id = if h as u32 == base.resolution() {
            base
        } else {
            base.at_resolution(h as u32)?
        };
        m.backbones.push((old.to_string(), id.name()));
        renamed.insert(
            old.to_string(),
            Fingerprint {
                backbone: id,
                weights_blake3: fp.weights_blake3,
                preprocess: fp.preprocess,
                dim: fp.dim,
                precision: Default::default(),
                // Format 1 stores were decoded by the `image` crate.
                decode: crate::imaging::Decoder::ImageCrate,
            },
        );
    }

    // Artworks, embeddings and paths: one batch on `items`.
    let mut batch = sled::Batch::default();
    for (old, fp) in &renamed {
        let prefix = format!("e/{old}/");
        for kv in store.items.scan_prefix(prefix.as_bytes()) {
            let (k, v) = kv.map_err(err)?;
            let hash = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
            batch.insert(format!("e/{}/{hash}", fp.backbone.key()).into_bytes(), v);
            batch.remove(k);
            m.embeddings += 1;
        }
    }
    for kv in store.items.scan_prefix(b"a/") {
        let (k, v) = kv.map_err(err)?;
        m.artworks += 1;
        if serde_json::from_slice::<StoredArtwork>(&v).is_ok() {
            continue;
        }
        // Format 1 wrote the absolute-path form.
        let a: Artwork = serde_json::from_slice(&v).map_err(|e| {
            store.corrupt(format!(
                "artwork record {} (format 1): {e}",
                String::from_utf8_lossy(&k)
            ))
        })?;
        let stored = StoredArtwork {
            id: a.id,
            hash: a.hash,
            paths: a.paths.into_iter().map(|p| (NO_ROOT, p)).collect(),
            size: a.size,
            width: a.width,
            height: a.height,
            metadata: a.metadata,
        };
        batch.insert(k, to_json(&stored)?);
    }
    // Format-1 path keys hold absolute paths (`p//data/x.png`); format-2
    // keys start with a root number.
    for kv in store.items.scan_prefix(b"p/") {
        let (k, v) = kv.map_err(err)?;
        if k.get(2).is_some_and(|b| b.is_ascii_digit()) {
            continue;
        }
        let path = String::from_utf8_lossy(&k[2..]).into_owned();
        batch.insert(super::path_key_raw(NO_ROOT, &path), v);
        batch.remove(k);
    }
    store.items.apply_batch(batch).map_err(err)?;

    // Ratings: the same tree, each value enveloped.
    let ratings = store.db.open_tree(V1_RATINGS).map_err(err)?;
    let mut batch = sled::Batch::default();
    for kv in ratings.iter() {
        let (k, v) = kv.map_err(err)?;
        m.ratings += 1;
        let value: serde_json::Value = serde_json::from_slice(&v).map_err(|e| {
            store.corrupt(format!(
                "rating of {} (format 1): {e}",
                String::from_utf8_lossy(&k)
            ))
        })?;
        if value.get("format_version").is_some() {
            continue;
        }
        let time = value.get("time").and_then(|t| t.as_u64()).unwrap_or(0);
        let env = Envelope {
            format_version: RECORD_VERSION,
            fingerprints: Vec::new(),
            time,
            value,
        };
        batch.insert(k, to_json(&env)?);
    }
    ratings.apply_batch(batch).map_err(err)?;

    // Heads: carried over when they were trained on the embeddings the store
    // holds; the saved two-model report is not (its shape is gone).
    let names = store.db.tree_names();
    if names.iter().any(|n| n.as_ref() == V1_HEADS.as_bytes()) {
        let heads = store.db.open_tree(V1_HEADS).map_err(err)?;
        let taste = store.db.open_tree(V2_TASTE).map_err(err)?;
        let mut batch = sled::Batch::default();
        for old in V1_MODELS {
            let Some(v) = heads.get(old.as_bytes()).map_err(err)? else {
                continue;
            };
            let Ok(saved) = serde_json::from_slice::<V1SavedHead>(&v) else {
                m.dropped.push(format!("the {old} taste head (unreadable)"));
                continue;
            };
            match renamed.get(old) {
                Some(fp)
                    if fp.weights_blake3 == saved.fingerprint.weights_blake3
                        && fp.preprocess == saved.fingerprint.preprocess
                        && fp.dim == saved.fingerprint.dim
                        && saved.fingerprint.model == old =>
                {
                    // The shape `head::saved` reads: the run that made it, and the head.
                    let value =
                        serde_json::json!({"run": "migrated from format 1", "head": saved.head});
                    let env = Envelope::new(value, vec![fp.clone()]);
                    batch.insert(
                        format!("head/{}", fp.backbone.key()).into_bytes(),
                        to_json(&env)?,
                    );
                    m.heads += 1;
                }
                _ => m.dropped.push(format!(
                    "the {old} taste head (trained on other embeddings)"
                )),
            }
        }
        if heads.contains_key(b"report").map_err(err)? {
            m.dropped
                .push("the saved train report (run `artlens train` again)".into());
        }
        taste.apply_batch(batch).map_err(err)?;
        store.db.drop_tree(V1_HEADS).map_err(err)?;
    }
    if names.iter().any(|n| n.as_ref() == V1_CACHE.as_bytes()) {
        store.db.drop_tree(V1_CACHE).map_err(err)?;
    }

    // Last: the fingerprints under their new keys and the version.
    let mut batch = sled::Batch::default();
    for (old, fp) in &renamed {
        batch.remove(format!("fingerprint/{old}").into_bytes());
        batch.insert(
            format!("fingerprint/{}", fp.backbone.key()).into_bytes(),
            to_json(fp)?,
        );
        let wkey = format!("weights/{old}");
        if let Some(w) = store.meta.get(wkey.as_bytes()).map_err(err)? {
            batch.insert(format!("weights/{}", fp.backbone.key()).into_bytes(), w);
            batch.remove(wkey.into_bytes());
        }
    }
    batch.insert(FORMAT_KEY, &FORMAT_VERSION.to_be_bytes());
    store.meta.apply_batch(batch).map_err(err)?;
    store.flush()?;

    // The format-1 ANN folders are named after the old models; the new ones
    // are rebuilt from the stored vectors on first use.
    for old in V1_MODELS {
        let _ = std::fs::remove_dir_all(store.path.join("ann").join(old));
    }
    Ok(m)
}
