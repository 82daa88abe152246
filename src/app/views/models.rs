//! The view of `models`: the backbone zoo, one entry per registered
//! checkpoint.

use serde::Serialize;

/// One registered backbone.
#[derive(Debug, Clone, Serialize)]
pub struct ModelEntry {
    /// The alias people type (`dinov2`), the key in every other view.
    pub id: String,
    pub hub_id: String,
    /// More names accepted for it.
    pub also: Vec<String>,
    /// `dino`, `dinov2`, `dinov3`, `clip`, `siglip`.
    pub family: String,
    pub display_name: String,
    pub architecture: String,
    /// Parameters of the image model, classifier head excluded.
    pub params: u64,
    pub patch_size: u32,
    /// The default input side in pixels (`ID@SIZE` chooses another).
    pub resolution: u32,
    pub embedding_dim: usize,
    pub pretraining_data: String,
    pub pretraining_images: u64,
    /// The repository needs its license accepted and a token.
    pub gated: bool,
    /// Every file the checkpoint needs is in the local cache.
    pub cached: bool,
    /// The folder holding the cached files (what `--weights ID=DIR` accepts).
    pub cached_path: Option<String>,
}
