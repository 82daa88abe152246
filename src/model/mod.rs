//! Checkpoints and the Vision Transformer: configs mirroring each
//! checkpoint's files ([`config`]), finding and reading weights
//! ([`weights`]), the one ViT ([`Vit`]) with its position-embedding
//! resampling ([`pos_embed`]) and kernels ([`ops`]), and the [`Backbone`]
//! that pairs a ViT with its preprocessing and fingerprint.

mod backbone;
pub mod config;
pub mod ops;
pub mod pos_embed;
mod simd;
mod vit;
pub mod weights;

pub use backbone::{parse_device, Backbone, BackboneOptions, Fingerprint};
pub use config::VitConfig;
pub use vit::Vit;
pub use weights::{resolve, CheckpointFiles, ModelKind, WeightsSource};

/// Loads `kind` from `source`: resolve the files, then build the backbone.
pub fn load_backbone(
    kind: ModelKind,
    source: &WeightsSource,
    opts: &BackboneOptions,
) -> crate::Result<(Backbone, CheckpointFiles)> {
    let files = resolve(kind, source)?;
    let backbone = Backbone::load(kind, &files, opts)?;
    Ok((backbone, files))
}
