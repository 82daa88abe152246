//! `index --decode fast`: large JPEGs decoded at a reduced size in the DCT
//! domain (libjpeg's scaled decoding) before the exact resampling, and the
//! names that keep embeddings made by different decoders apart.
//!
//! A 12-megapixel scan is resized to a few hundred pixels a side anyway;
//! decoding all its pixels costs most of the time (see docs/PERFORMANCE.md).
//! libjpeg can instead run a 4×4, 2×2 or 1×1 inverse DCT per 8×8 block,
//! giving the image at 1/2, 1/4 or 1/8 of its size for a fraction of the
//! work (the entropy decoding stays). The reduced image is then resampled
//! by the backbone's own exact recipe, so the only change is the source the
//! resize reads.
//!
//! # How far to reduce
//!
//! The largest power-of-two reduction that leaves the decoded image at
//! least [`FAST_MARGIN`] (2) times the size the recipe resizes to: the
//! shorter side at least twice `resize_to` for a shortest-edge resize,
//! both sides at least twice the target for a squash. Why 2: the
//! antialiased resize that follows still averages at least two decoded
//! pixels per output pixel along each axis, so its own low-pass filter, not
//! the DCT's, decides the frequencies near the output's Nyquist limit; the
//! reduced IDCT (which keeps each block's low frequencies exactly) only
//! changes content the resize removes anyway, and the 8×8 block edges it
//! can soften sit at least four output pixels apart. A margin of 1 would let
//! the DCT's block-wise filter shape the output directly. Only powers of
//! two are used because libjpeg-turbo has SIMD kernels for the 1/2 and 1/4
//! IDCTs (1/8 is the DC term alone); 3/8, 5/8 … run in plain C.
//!
//! Images smaller than twice the target are decoded whole, exactly as in
//! the exact mode: the fast mode changes nothing for them.

use std::path::Path;

use image::metadata::Orientation;
use image::RgbImage;
use serde::{Deserialize, Serialize};

use super::decode::{decode_bytes_reduced, jpeg_header, read_image_file};
use super::{DecodeLimits, Geometry, Preprocess};
use crate::error::{Error, Result};

/// How many times the size the recipe resizes to a reduced decode must
/// keep (see the module documentation for why 2).
pub const FAST_MARGIN: u32 = 2;

/// How an index run decodes JPEGs (`index --decode`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DecodeMode {
    /// Every pixel, as Pillow decodes it: embeddings equal to the Python
    /// reference's.
    #[default]
    Exact,
    /// Large JPEGs at a reduced size in the DCT domain, then the exact
    /// resampling: several times faster on multi-megapixel scans, with
    /// slightly different embeddings (docs/PERFORMANCE.md measures how
    /// much).
    Fast,
}

impl DecodeMode {
    /// The decoder this mode records in a fingerprint.
    pub fn decoder(self) -> Decoder {
        match self {
            DecodeMode::Exact => Decoder::Exact,
            DecodeMode::Fast => Decoder::Fast,
        }
    }
}

impl std::fmt::Display for DecodeMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DecodeMode::Exact => "exact",
            DecodeMode::Fast => "fast",
        })
    }
}

impl std::str::FromStr for DecodeMode {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "exact" => Ok(DecodeMode::Exact),
            "fast" => Ok(DecodeMode::Fast),
            other => Err(Error::InvalidArgument(format!(
                "bad decode mode `{other}` (expected exact or fast)"
            ))),
        }
    }
}

/// Which decoder made a store's embeddings: part of the fingerprint, so
/// that embeddings of one decoder are never mixed with another's in a
/// store (JPEG pixels differ between them, and so do the embeddings).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decoder {
    /// The `image` crate's own decoders (zune-jpeg for JPEG), which artlens
    /// used before it decoded JPEG with libjpeg-turbo. A fingerprint written
    /// before the decoder was recorded reads as this: that is what such a
    /// store was built with.
    #[default]
    ImageCrate,
    /// libjpeg-turbo set up as Pillow sets it up (`index --decode exact`).
    Exact,
    /// libjpeg-turbo's scaled decoding for large JPEGs (`index --decode
    /// fast`).
    Fast,
}

impl std::fmt::Display for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Decoder::ImageCrate => "image-crate (the decoder before libjpeg-turbo)",
            Decoder::Exact => "exact (libjpeg-turbo, as Pillow)",
            Decoder::Fast => "fast (libjpeg-turbo at reduced size)",
        })
    }
}

impl Preprocess {
    /// The smallest decoded size (width, height) fast decoding may reduce
    /// an image of `width`×`height` to, for this recipe: [`FAST_MARGIN`]
    /// times what the resize makes of it.
    fn fast_floor(&self, width: u32, height: u32) -> (u32, u32) {
        match self.geometry {
            Geometry::Squash {
                width: w,
                height: h,
            } => (w.saturating_mul(FAST_MARGIN), h.saturating_mul(FAST_MARGIN)),
            Geometry::ShortSideCenterCrop { resize_to, .. }
            | Geometry::ShortSideCenterCropFloor { resize_to, .. } => {
                let short = resize_to.saturating_mul(FAST_MARGIN);
                // Only the shorter side is bound; the longer follows it.
                if width <= height {
                    (short, 0)
                } else {
                    (0, short)
                }
            }
        }
    }

    /// The DCT-domain reduction (1, 2, 4 or 8) fast decoding uses for an
    /// image of `width`×`height` (as displayed, after EXIF orientation):
    /// the largest that keeps the decoded image at or above
    /// [`Preprocess::fast_floor`].
    pub(crate) fn fast_reduction(&self, width: u32, height: u32) -> u32 {
        let (fw, fh) = self.fast_floor(width, height);
        [8u32, 4, 2]
            .into_iter()
            .find(|&r| width.div_ceil(r) >= fw && height.div_ceil(r) >= fh)
            .unwrap_or(1)
    }
}

/// A file decoded for fast indexing: its full size (as displayed) and one
/// image per reduction the recipes asked for.
pub struct FastDecoded {
    /// The image's full width and height, after EXIF orientation: what the
    /// store records whatever the reduction.
    pub full_size: (u32, u32),
    /// The decoded images, one per distinct reduction.
    pub images: Vec<RgbImage>,
    /// For each recipe passed in, the index of its image in `images`.
    pub which: Vec<usize>,
}

/// Reads `path` once and decodes it for each of `recipes` at its fast
/// reduction ([`Preprocess::fast_reduction`]), once per distinct reduction;
/// a file that is not a JPEG is decoded whole, once. Errors as
/// [`super::decode_file`]'s, naming `path`.
pub fn decode_file_fast(
    path: &Path,
    limits: &DecodeLimits,
    recipes: &[&Preprocess],
) -> Result<FastDecoded> {
    let bytes = read_image_file(path, limits)?;
    let full = jpeg_header(&bytes).map(|h| {
        let swap = matches!(
            h.orientation,
            Orientation::Rotate90
                | Orientation::Rotate270
                | Orientation::Rotate90FlipH
                | Orientation::Rotate270FlipH
        );
        if swap {
            (h.height, h.width)
        } else {
            (h.width, h.height)
        }
    });
    let reductions: Vec<u32> = match full {
        Some((w, h)) => recipes.iter().map(|p| p.fast_reduction(w, h)).collect(),
        None => vec![1; recipes.len()],
    };
    let mut distinct: Vec<u32> = reductions.clone();
    distinct.sort_unstable();
    distinct.dedup();
    let mut images = Vec::with_capacity(distinct.len());
    for &r in &distinct {
        images.push(decode_bytes_reduced(&bytes, path, limits, r)?);
    }
    let which = reductions
        .iter()
        .map(|r| distinct.iter().position(|d| d == r).unwrap_or(0))
        .collect();
    let full_size = match (full, images.first()) {
        (Some(size), _) => size,
        (None, Some(img)) => img.dimensions(),
        (None, None) => (0, 0),
    };
    Ok(FastDecoded {
        full_size,
        images,
        which,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imaging::test_support::{recipe, short_side_crop, squash};

    #[test]
    fn the_reduction_keeps_twice_the_resize_target() {
        let timm = short_side_crop(256, 224);
        // 12 MP, 4000×3000: 3000 / 4 = 750 ≥ 512, 3000 / 8 = 375 < 512.
        assert_eq!(timm.fast_reduction(4000, 3000), 4);
        assert_eq!(timm.fast_reduction(3000, 4000), 4);
        // 1024×768: 768 / 2 = 384 < 512, so whole.
        assert_eq!(timm.fast_reduction(1024, 768), 1);
        // 24 MP, 6000×4000: 4000 / 4 = 1000, / 8 = 500 < 512.
        assert_eq!(timm.fast_reduction(6000, 4000), 4);
        let squash = squash(224, 224);
        // Both sides bound: a 6000×900 strip keeps 900 / 2 = 450 ≥ 448.
        assert_eq!(squash.fast_reduction(6000, 900), 2);
        assert_eq!(squash.fast_reduction(4000, 3000), 4);
        // At 518, the short side needs ≥ 1184 (resize_to 592).
        let big = recipe(Geometry::ShortSideCenterCropFloor {
            resize_to: 592,
            crop: 518,
        });
        assert_eq!(big.fast_reduction(4000, 3000), 2);
    }

    #[test]
    fn decode_modes_and_decoders_have_stable_names() {
        assert_eq!("FAST".parse::<DecodeMode>().unwrap(), DecodeMode::Fast);
        assert_eq!("exact".parse::<DecodeMode>().unwrap(), DecodeMode::Exact);
        assert!("quick".parse::<DecodeMode>().is_err());
        for (d, name) in [
            (Decoder::ImageCrate, "\"image-crate\""),
            (Decoder::Exact, "\"exact\""),
            (Decoder::Fast, "\"fast\""),
        ] {
            assert_eq!(serde_json::to_string(&d).unwrap(), name);
        }
        assert_eq!(Decoder::default(), Decoder::ImageCrate);
    }
}
