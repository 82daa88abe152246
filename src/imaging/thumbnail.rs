//! Thumbnails: a user's image decoded for display, scaled down keeping its
//! aspect ratio (never up) and encoded as JPEG. The HTML reports embed them
//! as `data:` URIs (`report/thumbs.rs`) and the web app caches them on disk
//! as thumbnails and renditions (`app/thumbs.rs`); both make them here, so
//! a picture looks the same wherever it is shown.

use std::io::Cursor;
use std::path::Path;

use image::codecs::jpeg::JpegEncoder;

use super::{decode_file_for_display, resize_rgb8, DecodeLimits, ResizeFilter};
use crate::error::{Error, Result};

/// JPEG quality of thumbnails: small files without visible blocking at
/// thumbnail size (80 saves 13% over 85 on the sample collection).
pub(crate) const THUMB_JPEG_QUALITY: u8 = 80;

/// The image at `path` scaled down (keeping its aspect ratio, never up: an
/// image that already fits keeps its own size) so its longer side is at
/// most `max_side` pixels, as JPEG bytes at `quality` (1 to 100).
pub(crate) fn thumbnail_jpeg(path: &Path, max_side: u32, quality: u8) -> Result<Vec<u8>> {
    thumbnail_jpeg_sized(path, max_side, quality).map(|(jpeg, _)| jpeg)
}

/// `thumbnail_jpeg` and the size of the source image, so that a caller
/// can size a smaller box as a smaller thumbnail would have been.
///
/// Decoding goes through `decode_file_for_display` with the default
/// limits, so a thumbnail is as safe against hostile files as indexing:
/// transparency over white and 16-bit scans scaled, not the model's PIL
/// conversion, which would show a 16-bit grey scan as a white sheet.
/// Resizing uses the bicubic filter, whose support widens with the scale
/// and so antialiases large reductions.
pub(crate) fn thumbnail_jpeg_sized(
    path: &Path,
    max_side: u32,
    quality: u8,
) -> Result<(Vec<u8>, (u32, u32))> {
    let img = decode_file_for_display(path, &DecodeLimits::default())?;
    let source = img.dimensions();
    let (w, h) = thumbnail_size(source.0, source.1, max_side);
    let small = if (w, h) == img.dimensions() {
        img
    } else {
        resize_rgb8(&img, w, h, ResizeFilter::Bicubic)
    };
    let mut jpeg = Vec::new();
    JpegEncoder::new_with_quality(Cursor::new(&mut jpeg), quality.clamp(1, 100))
        .encode_image(&small)
        .map_err(|e| Error::Decode {
            path: path.to_path_buf(),
            reason: format!("cannot encode its thumbnail as JPEG: {e}"),
        })?;
    Ok((jpeg, source))
}

/// The size that fits `w`×`h` within `max_side` keeping the aspect ratio
/// (rounded, at least 1 pixel); the size itself when it already fits.
pub(crate) fn thumbnail_size(w: u32, h: u32, max_side: u32) -> (u32, u32) {
    let long = w.max(h);
    if long <= max_side || long == 0 {
        return (w, h);
    }
    scaled_size(w, h, max_side)
}

/// The size that makes `w`×`h`'s longer side exactly `side`, keeping the
/// aspect ratio (at least 1 pixel), growing or shrinking as needed.
pub(crate) fn filled_size(w: u32, h: u32, side: u32) -> (u32, u32) {
    if w.max(h) == 0 {
        return (w, h);
    }
    scaled_size(w, h, side)
}

/// `w`×`h` scaled so the longer side is `side` (rounded, each side at
/// least 1 pixel and at most `side`).
fn scaled_size(w: u32, h: u32, side: u32) -> (u32, u32) {
    let scale = f64::from(side.max(1)) / f64::from(w.max(h));
    let fit = |x: u32| ((f64::from(x) * scale).round() as u32).clamp(1, side.max(1));
    (fit(w), fit(h))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbnails_keep_aspect_and_never_grow() {
        assert_eq!(thumbnail_size(1000, 500, 160), (160, 80));
        assert_eq!(thumbnail_size(500, 1000, 160), (80, 160));
        assert_eq!(thumbnail_size(100, 50, 160), (100, 50));
        assert_eq!(thumbnail_size(10_000, 1, 160), (160, 1));
        assert_eq!(filled_size(64, 56, 320), (320, 280));
        assert_eq!(filled_size(1000, 500, 160), (160, 80));
    }

    #[test]
    fn a_thumbnail_is_a_jpeg_of_the_fitted_size() {
        let path = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/images/tall518.png"
        ));
        let (jpeg, source) = thumbnail_jpeg_sized(path, 160, THUMB_JPEG_QUALITY).unwrap();
        assert_eq!(source, (518, 603));
        let small = image::load_from_memory(&jpeg).unwrap();
        assert_eq!((small.width(), small.height()), (137, 160));
        assert!(thumbnail_jpeg(Path::new("/no/such/file.png"), 160, 80).is_err());
    }
}
