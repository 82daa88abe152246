//! The backbone zoo as a view: every registered checkpoint with what a
//! person choosing one wants to know, and whether its weights are already
//! on this machine. Reads the registry and the local Hugging Face cache only;
//! it never opens a store or touches the network.

use super::views::ModelEntry;
use crate::model::registry::{human_count, REGISTRY};

/// Every registered backbone, in registry order: by pretraining-data size,
/// then by size — the order of the data ladder.
pub fn models() -> Vec<ModelEntry> {
    REGISTRY
        .iter()
        .map(|spec| {
            let cached = crate::model::cached(spec);
            ModelEntry {
                id: spec.alias.to_string(),
                hub_id: spec.hub_id.to_string(),
                also: spec.also.iter().map(|s| s.to_string()).collect(),
                family: spec
                    .family
                    .map(|f| format!("{f:?}").to_ascii_lowercase())
                    .unwrap_or_default(),
                display_name: spec.display_name.to_string(),
                architecture: spec.architecture.to_string(),
                params: spec.params,
                patch_size: spec.patch_size,
                resolution: spec.default_resolution,
                embedding_dim: spec.embedding_dim,
                pretraining_data: spec
                    .pretraining
                    .map(|p| p.name.to_string())
                    .unwrap_or_default(),
                pretraining_images: spec.pretraining_images(),
                gated: spec.gated,
                cached: cached.is_some(),
                cached_path: cached.map(|f| f.dir().display().to_string()),
            }
        })
        .collect()
}

impl ModelEntry {
    /// "86.6M".
    pub fn params_human(&self) -> String {
        human_count(self.params)
    }

    /// "142M".
    pub fn images_human(&self) -> String {
        human_count(self.pretraining_images)
    }
}
