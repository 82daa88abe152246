//! `Collection::text_tower`: a backbone's text tower, loaded once from the
//! same checkpoint folder as its image tower and kept.

use std::sync::Arc;

use super::Collection;
use crate::error::{Error, Result};
use crate::model::text::{has_text_tower, text_capable_aliases, TextTower};
use crate::model::weights::hash_file;
use crate::model::{BackboneId, CheckpointFiles, WeightsSource};

impl Collection {
    /// `id`'s text tower (with its tokenizer and the image side's
    /// projection), loaded on first use and kept. Refused with
    /// [`Error::NoTextTower`] naming the backbone (and the ones that have a
    /// text tower) when `id` has none, or when its folder lacks the text
    /// files; when the store holds `id`'s embeddings, the weights must be
    /// the ones they were made with ([`Error::FingerprintMismatch`]), since
    /// the projection is applied to them.
    pub fn text_tower(&self, id: &BackboneId) -> Result<Arc<TextTower>> {
        if let Some(t) = self.lock_text_towers().get(id) {
            return Ok(t.clone());
        }
        // A listed image-only checkpoint is refused by name; an unlisted
        // repository's folder decides (`TextTower::load` reads its config).
        if id.spec().is_listed() && !has_text_tower(id.spec()) {
            return Err(Error::NoTextTower {
                backbone: id.name(),
                reason: "it is an image-only checkpoint (artlens reads the text towers of the transformers CLIP and SigLIP repositories)".into(),
                capable: text_capable_aliases().join(", "),
            });
        }
        let files = self.text_files(id)?;
        if let Some(stored) = self.store.fingerprint(id)? {
            let hash = hash_file(&files.weights)?;
            if hash != stored.weights_blake3 {
                return Err(Error::FingerprintMismatch {
                    path: self.store.path().to_path_buf(),
                    model: id.name(),
                    differences: format!(
                        "weights hash {}… vs {}…; the text tower found at {} is not from the checkpoint the store's image embeddings were made with",
                        &stored.weights_blake3[..12.min(stored.weights_blake3.len())],
                        &hash[..12.min(hash.len())],
                        files.dir().display()
                    ),
                });
            }
        }
        // A hub snapshot of a timm CLIP repository holds the image tower
        // only: its open_clip files come from the same repository, and the
        // vocabulary (in no timm repository) from the CLIP one, through
        // the cache or a download. A person's own folder is never
        // completed with the hub's files, which might not match it; the
        // shared vocabulary is looked up for it too.
        let offline = self.weights.offline;
        let own = id.spec().hub_id.to_string();
        let from_hub = crate::model::weights::in_hub_cache(files.dir());
        let companion = move |repo: &str, file: &str| {
            if repo == own && !from_hub {
                return Err(String::new());
            }
            crate::model::weights::hub_file(repo, file, offline)
        };
        let tower = Arc::new(TextTower::load_with(id, &files, &companion)?);
        self.lock_text_towers().insert(id.clone(), tower.clone());
        Ok(tower)
    }

    /// Where `id`'s checkpoint is, found as [`Collection::backbone`] finds
    /// it: `--weights`, then where the store found it last, then the hub.
    fn text_files(&self, id: &BackboneId) -> Result<CheckpointFiles> {
        if let Some(dir) = self.weights.dir(id) {
            return crate::model::resolve(id, &WeightsSource::Dir(dir.to_path_buf()));
        }
        if let Some(files) = self.store.weights_location(id)? {
            if files.weights.is_file() && files.config.is_file() {
                return Ok(files);
            }
        }
        crate::model::resolve(
            id,
            &WeightsSource::Hub {
                offline: self.weights.offline,
            },
        )
    }

    fn lock_text_towers(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<BackboneId, Arc<TextTower>>> {
        self.text_towers.lock().unwrap_or_else(|p| p.into_inner())
    }
}
