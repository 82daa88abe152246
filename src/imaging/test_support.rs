//! The preprocessing recipes the tests of the imaging code, and of the code
//! that reads a recipe (`app::explain`), build their cases from: one place,
//! so that each test names only the geometry it is about.

use super::{Geometry, Preprocess, ResizeFilter};

/// The ImageNet statistics most checkpoints normalise with.
pub(crate) const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
pub(crate) const STD: [f32; 3] = [0.229, 0.224, 0.225];

/// A bicubic, ImageNet-normalised recipe with `geometry`.
pub(crate) fn recipe(geometry: Geometry) -> Preprocess {
    Preprocess {
        geometry,
        filter: ResizeFilter::Bicubic,
        rescale: 1.0 / 255.0,
        mean: MEAN,
        std: STD,
    }
}

/// [`recipe`] squashing the image to `width`×`height`.
pub(crate) fn squash(width: u32, height: u32) -> Preprocess {
    recipe(Geometry::Squash { width, height })
}

/// [`recipe`] resizing the shorter side to `resize_to`, then cropping the
/// centre `crop`×`crop`.
pub(crate) fn short_side_crop(resize_to: u32, crop: u32) -> Preprocess {
    recipe(Geometry::ShortSideCenterCrop { resize_to, crop })
}
