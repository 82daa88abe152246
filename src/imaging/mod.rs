//! Image input: safe decoding of untrusted files (limits, EXIF orientation,
//! conversion to RGB the way PIL's `convert("RGB")` does), a bit-exact port of
//! Pillow's resampling filters, and the per-checkpoint transforms (resize,
//! crop, rescale, normalise) that turn an image into a model's input tensor.
//!
//! The transforms are described by data ([`Preprocess`]) read from the
//! checkpoint's own files, never hard-coded, because preprocessing is part of
//! an embedding's identity: it goes into the model fingerprint.

mod decode;
mod fast;
mod jpeg;
mod resample;
mod resample_f32;
#[cfg(test)]
pub(crate) mod test_support;
mod thumbnail;
mod transform;

pub(crate) use decode::decode_file_for_display;
pub use decode::{decode_bytes, decode_file, DecodeLimits};
pub use fast::{decode_file_fast, DecodeMode, Decoder, FastDecoded, FAST_MARGIN};
pub use resample::{resize_rgb8, ResizeFilter};
pub(crate) use thumbnail::{filled_size, thumbnail_jpeg, thumbnail_size};
pub(crate) use thumbnail::{thumbnail_jpeg_sized, THUMB_JPEG_QUALITY};

use serde::{Deserialize, Serialize};

/// How an image is resized and cropped before normalisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Geometry {
    /// transformers' `ViTImageProcessor`: resize to exactly `width`×`height`,
    /// ignoring the aspect ratio. No crop.
    Squash {
        /// Output width in pixels.
        width: u32,
        /// Output height in pixels.
        height: u32,
    },
    /// timm's eval transform: resize the shorter side to `resize_to`
    /// (`floor(crop / crop_pct)`), the longer side `int(resize_to * long / short)`,
    /// then center-crop `crop`×`crop` (offsets rounded half-to-even).
    ShortSideCenterCrop {
        /// The shorter side's length after the resize, in pixels.
        resize_to: u32,
        /// The side of the square crop, in pixels.
        crop: u32,
    },
    /// transformers' `shortest_edge` resize and `center_crop` (CLIP, BiT /
    /// DINOv2 processors): the same resize, but the crop starts at
    /// `(size - crop) // 2`, rounded down where timm rounds half to even.
    ShortSideCenterCropFloor {
        /// The shorter side's length after the resize, in pixels.
        resize_to: u32,
        /// The side of the square crop, in pixels.
        crop: u32,
    },
}

/// A complete, serialisable preprocessing recipe: geometry, resampling
/// filter, rescale factor and per-channel mean/std.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preprocess {
    /// How the image is resized and cropped.
    pub geometry: Geometry,
    /// The resampling filter of the resize.
    pub filter: ResizeFilter,
    /// Multiplies the u8 values (1/255 for both references).
    pub rescale: f32,
    /// Per-channel (R, G, B) mean subtracted after the rescale, in rescaled
    /// units.
    pub mean: [f32; 3],
    /// Per-channel (R, G, B) standard deviation the values are divided by,
    /// after the mean is subtracted.
    pub std: [f32; 3],
}

impl Preprocess {
    /// The (height, width) of the tensor this recipe produces.
    pub fn output_size(&self) -> (usize, usize) {
        match self.geometry {
            Geometry::Squash { width, height } => (height as usize, width as usize),
            Geometry::ShortSideCenterCrop { crop, .. }
            | Geometry::ShortSideCenterCropFloor { crop, .. } => (crop as usize, crop as usize),
        }
    }
}
