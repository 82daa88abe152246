//! Checkpoints and the Vision Transformer: configs mirroring each
//! checkpoint's files ([`config`]), finding and reading weights
//! ([`weights`]), the one ViT (`Vit`) with its position-embedding
//! resampling ([`pos_embed`]) and kernels ([`ops`], whose dense layers run
//! on artlens's own packed GEMM, `sgemm`, or OpenBLAS or the `gemm` crate,
//! see [`blas`]), the [`registry`] of
//! known checkpoints and the [`BackboneId`] naming one at one resolution,
//! and the [`Backbone`] that pairs a ViT with its preprocessing and
//! fingerprint.

mod backbone;
pub mod blas;
pub mod config;
pub(crate) mod hf;
pub mod ops;
pub mod pos_embed;
pub mod registry;
mod sgemm;
mod simd;
pub mod text;
mod vit;
pub mod weights;

pub(crate) use backbone::parse_device;
pub use backbone::{Backbone, BackboneOptions, Fingerprint, ImageTokens, Precision};
pub use config::VitConfig;
pub use registry::{BackboneId, BackboneSpec};
pub use weights::{cached, resolve, CheckpointFiles, WeightsSource};

/// Loads `id` from `source`: resolve the files, then build the backbone.
pub fn load_backbone(
    id: &BackboneId,
    source: &WeightsSource,
    opts: &BackboneOptions,
) -> crate::Result<(Backbone, CheckpointFiles)> {
    let files = resolve(id, source)?;
    let backbone = Backbone::load(id, &files, opts)?;
    Ok((backbone, files))
}
