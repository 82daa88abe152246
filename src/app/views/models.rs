//! The view of `models`: the backbone zoo, one entry per registered
//! checkpoint.

use serde::Serialize;

/// One registered backbone.
#[derive(Debug, Clone, Serialize)]
pub struct ModelEntry {
    /// The alias people type (`dinov2`), the key in every other view.
    pub id: String,
    /// The checkpoint's Hugging Face repository (`facebook/dinov2-base`).
    pub hub_id: String,
    /// More names accepted for it.
    pub also: Vec<String>,
    /// `dino`, `dinov2`, `dinov3`, `clip`, `siglip`.
    pub family: String,
    /// What pages call it (`DINOv2 ViT-B/14`).
    pub display_name: String,
    /// The network, in words (`ViT-B/14`).
    pub architecture: String,
    /// Parameters of the image model, classifier head excluded.
    pub params: u64,
    /// The side of one image patch in pixels.
    pub patch_size: u32,
    /// The default input side in pixels (`ID@SIZE` chooses another).
    pub resolution: u32,
    /// The length of the embedding it produces.
    pub embedding_dim: usize,
    /// The data set it was pretrained on (`LVD-142M`).
    pub pretraining_data: String,
    /// How many images that data set holds; 0 when unknown.
    pub pretraining_images: u64,
    /// The repository needs its license accepted and a token.
    pub gated: bool,
    /// Every file the checkpoint needs is in the local cache.
    pub cached: bool,
    /// The folder holding the cached files (what `--weights ID=DIR` accepts).
    pub cached_path: Option<String>,
}
