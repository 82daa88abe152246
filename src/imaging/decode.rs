//! Safe decoding of untrusted image files into the RGB image the reference
//! pipelines see after PIL's `Image.open(path).convert("RGB")`.
//!
//! An art collection is untrusted input: files lie about their extension, are
//! truncated, empty, enormous, or crafted to crash a decoder, and a folder can
//! hold things that are not files at all. Every file goes through the same
//! gate: only a regular file is opened, its size is capped, its format is
//! detected from the content, it must be structurally complete, dimension and
//! pixel-count limits are checked *before* the pixel buffer is allocated, and
//! a `catch_unwind` turns a decoder panic into an ordinary [`Error::Decode`]
//! for that one file instead of taking down a whole batch.
//!
//! # Special files
//!
//! [`decode_file`] opens a path only if, after following symlinks, it is a
//! regular file (see [`crate::scan::open_regular_file`]): a FIFO named
//! `x.png` would block the `open` forever, a symlink to `/dev/zero` or
//! `/dev/urandom` would be read until the size cap, and a directory or socket
//! is not an image. They are [`Error::Io`] naming the path and saying "not a
//! regular file (a FIFO)", "(a character device)", and so on; a symlink loop
//! is the system's "too many levels of symbolic links". The read itself stops
//! one byte past [`DecodeLimits::max_file_bytes`], so a file that grows while
//! it is read cannot make us buffer more than the cap.
//!
//! # Truncated and corrupt files
//!
//! PIL refuses a file whose data runs out before the image is complete ("image
//! file is truncated"; `ImageFile.LOAD_TRUNCATED_IMAGES` is `False` by
//! default and the references never set it), but not one with bytes to spare
//! after it. Some of our decoders are more forgiving than that (zune-jpeg
//! fills the rows a cut JPEG lacks with grey; image-webp stops reading once it
//! has the pixels, whatever the container says), so before decoding, the
//! container structure is walked and a file that ends too early is an
//! [`Error::Decode`] whose reason starts "the file is truncated" (or "the
//! file is corrupt" where a length contradicts the file itself). Per format,
//! each rule checked against Pillow 13 on the corpus of
//! `tests/hostile_images.rs`:
//!
//! * **JPEG**: the marker segments are walked from the start (skipping each
//!   segment by its length, so an `FF D9` inside an EXIF thumbnail or a
//!   comment is not mistaken for the end, and through the entropy-coded data
//!   of every scan) up to the end-of-image marker `FF D9`. A file that ends
//!   before it is truncated, even when only the marker itself is missing:
//!   libjpeg then asks for more data and Pillow raises. Anything after the
//!   marker is ignored, as Pillow ignores it. A marker libjpeg does not know
//!   (`FF 02`–`FF BF`, `FF C8`, `FF DE`, `FF DF`, `FF F0`–`FF FD`, which is
//!   what damage inside a scan usually looks like) is refused as corrupt:
//!   libjpeg stops there and Pillow raises "broken data stream". Otherwise
//!   damaged entropy-coded data in a complete file is *not* refused: libjpeg
//!   only warns about it and Pillow decodes it, as zune-jpeg does.
//! * **PNG**: every chunk up to `IEND` must be complete. One cut anywhere,
//!   in the image data or in a text chunk after it, is refused, as Pillow
//!   refuses it. A file that ends cleanly after its last complete chunk
//!   without `IEND` (or with fewer stray bytes than a chunk header) is
//!   decoded as if `IEND` were there, because Pillow stops reading once the
//!   pixels are complete; if they are not, it is truncated. A chunk whose CRC
//!   does not match is refused, by the png crate, which checks every chunk it
//!   reads (the `image` crate leaves that on). This is the one place we are
//!   stricter than Pillow: Pillow does not check the CRC of `IDAT` chunks, so
//!   it decodes an image whose damaged data happens to still inflate (and
//!   refuses the usual case, "broken data stream", as we do).
//! * **GIF**: the blocks are walked up to the end of the first image's data
//!   sub-blocks, the only frame either Pillow or we decode; a file that ends
//!   before is truncated. A missing trailer (`;`) after it, or a later frame
//!   cut off, is accepted, as Pillow accepts it. LZW data that stops before
//!   the image is complete inside well-formed sub-blocks is refused by the
//!   gif crate ("image truncated"), as Pillow refuses it.
//! * **WebP**: the RIFF header's size must fit in the file (trailing bytes
//!   after it are ignored), and every chunk, with its padding byte, must fit
//!   in the RIFF payload. libwebp's demuxer, which Pillow uses, refuses a file
//!   that breaks either rule ("could not create decoder object").
//! * **BMP** and **TIFF**: the decoders read exactly the bytes the headers
//!   point at and fail at the end of the data, so no extra walk is needed;
//!   their end-of-file errors are reported as truncation.
//!
//! Decoder errors that are not about limits are likewise worded "the file is
//! truncated (...)" for an unexpected end of data and "the image data is
//! corrupt (...)" otherwise.
//!
//! # EXIF orientation
//!
//! The one intended deviation from the references: EXIF orientation is
//! applied (PIL's `Image.open` ignores it, so the references embed a sideways
//! photo sideways). Search results that show an upright image but were
//! computed on a rotated one would be confusing, and art is rarely rotated
//! by accident, so we prefer the orientation the camera recorded.

use std::borrow::Cow;
use std::io::{Cursor, Read};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use image::error::{ImageError, ImageFormatHint, UnsupportedErrorKind};
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, RgbImage};

use super::jpeg;
use crate::error::{Error, Result};

/// Limits that bound the memory and time one untrusted file can cost.
///
/// Dimensions are checked from the file's header before any pixel buffer is
/// allocated, so an image that would exceed them costs almost nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest accepted width in pixels.
    pub max_width: u32,
    /// Largest accepted height in pixels.
    pub max_height: u32,
    /// Largest accepted `width * height`.
    pub max_pixels: u64,
    /// Largest accepted file size in bytes; the whole file is read into memory.
    pub max_file_bytes: u64,
}

impl Default for DecodeLimits {
    /// The defaults accept everything the reference pipelines would open:
    ///
    /// * `max_width`, `max_height`: 65,535, the largest side a JPEG header can
    ///   declare. The pixel budget below is the real guard; this one only
    ///   rejects absurd headers early.
    /// * `max_pixels`: 178,956,970, twice PIL's `MAX_IMAGE_PIXELS`, the point
    ///   at which PIL raises `DecompressionBombError` instead of warning. An
    ///   image at this size needs about 540 MB as RGB (and up to 1.4 GB while
    ///   decoding a 16-bit RGBA file), so a handful decoding in parallel still
    ///   fits a desktop's memory.
    /// * `max_file_bytes`: 512 MiB, far above any real photograph or scan at
    ///   the pixel limit, and a bound on what a JPEG decoder (which reads the
    ///   whole file first) can be made to buffer.
    fn default() -> Self {
        DecodeLimits {
            max_width: 65_535,
            max_height: 65_535,
            max_pixels: 178_956_970,
            max_file_bytes: 512 * 1024 * 1024,
        }
    }
}

impl DecodeLimits {
    /// The largest pixel buffer a decoder may allocate: the pixel budget at 8
    /// bytes per pixel (16-bit RGBA, the widest integer layout) plus room for
    /// the decoders' own working buffers.
    fn alloc_budget(&self) -> u64 {
        self.max_pixels.saturating_mul(8).saturating_add(64 << 20)
    }
}

/// Reads and decodes the image file at `path` into RGB.
///
/// The format is detected from the content, never the extension. Errors name
/// `path`: [`Error::Io`] when the file cannot be read or is not a regular file
/// (a FIFO, device, socket or directory, also behind a symlink),
/// [`Error::ImageTooLarge`] when it exceeds `limits`, [`Error::Decode`] for
/// anything else (empty, unrecognised, unsupported, corrupt or truncated, or a
/// decoder panic). The module documentation of `src/imaging/decode.rs` says
/// what counts as truncated.
pub fn decode_file(path: &Path, limits: &DecodeLimits) -> Result<RgbImage> {
    decode_bytes(&read_limited(path, limits)?, path, limits)
}

/// Reads and decodes the image file at `path` into RGB for *showing* it to a
/// person, through the same gate and limits as [`decode_file`] (and with the
/// same errors), but converted the way a viewer would show it rather than
/// the way PIL's `convert("RGB")` feeds a model:
///
/// * transparency is flattened onto white (dropping alpha, as PIL does,
///   shows whatever colour the transparent pixels happen to hold, often
///   black);
/// * 16-bit and floating-point samples are scaled to 8 bits with rounding
///   (PIL saturates 16-bit grey at 255, which turns an ordinary 16-bit grey
///   scan almost entirely white);
/// * CMYK (JPEG and TIFF) and palette images arrive as RGB from the
///   decoders, and EXIF orientation is applied, exactly as in [`decode_file`].
///
/// Pixels a model sees must never come from here: embeddings follow the
/// reference pipelines, pictures follow the eye.
pub(crate) fn decode_file_for_display(path: &Path, limits: &DecodeLimits) -> Result<RgbImage> {
    let bytes = read_limited(path, limits)?;
    check_file_size(bytes.len() as u64, path, limits)?;
    catch_decoder_panic(path, || {
        decode_unguarded(&bytes, path, limits, 1).map(to_display_rgb)
    })
}

/// The bytes of the regular file at `path`, refused past
/// [`DecodeLimits::max_file_bytes`].
fn read_limited(path: &Path, limits: &DecodeLimits) -> Result<Vec<u8>> {
    let (file, len) = crate::scan::open_regular_file(path).map_err(|e| Error::io(path, e))?;
    check_file_size(len, path, limits)?;
    // Read at most one byte past the limit, so a file that grows while we read
    // it (a download in progress) cannot make us buffer more than the cap.
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(limits.max_file_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    Ok(bytes)
}

/// Decodes an image held in memory into RGB; `path_for_errors` only labels
/// errors. See [`decode_file`] for the checks and the errors.
pub fn decode_bytes(
    bytes: &[u8],
    path_for_errors: &Path,
    limits: &DecodeLimits,
) -> Result<RgbImage> {
    decode_bytes_reduced(bytes, path_for_errors, limits, 1)
}

/// [`decode_bytes`] with a JPEG decoded at `1 / reduction` of its size in
/// the DCT domain (`reduction` 1, 2, 4 or 8; see `jpeg::decode`); other
/// formats are decoded whole whatever `reduction` says. The limits apply to
/// the full size, so a file is accepted or refused the same at every
/// reduction.
pub(super) fn decode_bytes_reduced(
    bytes: &[u8],
    path: &Path,
    limits: &DecodeLimits,
    reduction: u32,
) -> Result<RgbImage> {
    check_file_size(bytes.len() as u64, path, limits)?;
    catch_decoder_panic(path, || {
        decode_unguarded(bytes, path, limits, reduction).map(to_rgb_like_pil)
    })
}

/// The frame header of `bytes` when they hold a JPEG whose markers
/// [`check_jpeg`] accepts; `None` for any other file (its errors come from
/// the decode itself).
pub(super) fn jpeg_header(bytes: &[u8]) -> Option<jpeg::JpegHeader> {
    if bytes.len() < 3 || bytes[..3] != [0xff, 0xd8, 0xff] || check_jpeg(bytes).is_err() {
        return None;
    }
    jpeg::read_header(bytes).ok()
}

/// Reads the file at `path` for decoding: the same checks and errors as
/// [`decode_file`]'s read.
pub(super) fn read_image_file(path: &Path, limits: &DecodeLimits) -> Result<Vec<u8>> {
    read_limited(path, limits)
}

/// Runs `decode`, turning a panic inside it into an [`Error::Decode`] naming
/// `path`.
///
/// Decoders are third-party code fed hostile input; a panic in one must stay
/// this file's error rather than take down a whole rayon batch. The closure
/// only reads its inputs, so nothing observable is left half-updated when it
/// unwinds. (The process's panic hook still runs; a binary that wants silence
/// installs its own hook.)
fn catch_decoder_panic<T>(path: &Path, decode: impl FnOnce() -> Result<T>) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(decode)) {
        Ok(result) => result,
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            Err(Error::Decode {
                path: path.to_path_buf(),
                reason: format!("the decoder crashed on this file ({message})"),
            })
        }
    }
}

fn check_file_size(len: u64, path: &Path, limits: &DecodeLimits) -> Result<()> {
    if len == 0 {
        return Err(Error::Decode {
            path: path.to_path_buf(),
            reason: "the file is empty (0 bytes)".to_string(),
        });
    }
    if len > limits.max_file_bytes {
        return Err(Error::ImageTooLarge {
            path: path.to_path_buf(),
            reason: format!(
                "the file is {len} bytes, above the limit of {} bytes",
                limits.max_file_bytes
            ),
        });
    }
    Ok(())
}

/// The two ways a decode fails, each naming the file.
struct Failures<'a> {
    path: &'a Path,
}

impl Failures<'_> {
    /// The file is not an image artlens can read.
    fn decode(&self, reason: String) -> Error {
        Error::Decode {
            path: self.path.to_path_buf(),
            reason,
        }
    }

    /// The image is larger than the limits allow.
    fn too_large(&self, reason: String) -> Error {
        Error::ImageTooLarge {
            path: self.path.to_path_buf(),
            reason,
        }
    }

    /// The pixel count of a `width`×`height` image, or the error when its
    /// header asks for more than `limits` allow.
    fn check_dimensions(&self, width: u32, height: u32, limits: &DecodeLimits) -> Result<u64> {
        let pixels = u64::from(width) * u64::from(height);
        if width > limits.max_width || height > limits.max_height || pixels > limits.max_pixels {
            return Err(self.too_large(dimensions_reason(width, height, limits)));
        }
        Ok(pixels)
    }
}

/// The checked, oriented image in the decoder's own colour layout; the
/// callers choose how it becomes RGB.
fn decode_unguarded(
    bytes: &[u8],
    path: &Path,
    limits: &DecodeLimits,
    reduction: u32,
) -> Result<DynamicImage> {
    let fail = Failures { path };

    let format = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| fail.decode(format!("cannot read the file header: {e}")))?
        .format();
    let Some(format) = format else {
        return Err(fail.decode(unrecognised_format_reason(bytes)));
    };
    let data = check_complete(format, bytes).map_err(|reason| fail.decode(reason))?;
    if format == ImageFormat::Jpeg {
        return decode_jpeg(&data, limits, reduction, &fail);
    }
    // A PNG that ended without IEND got one; if its image data is incomplete
    // after all, the decoder's error means the file is truncated.
    let iend_added = matches!(data, Cow::Owned(_));
    let image_error = |e: ImageError| match map_image_error(e, path, limits) {
        Error::Decode { path, reason } if iend_added => Error::Decode {
            path,
            reason: format!(
                "the file is truncated: it ends without an IEND chunk and its image \
                 data is incomplete ({reason})"
            ),
        },
        other => other,
    };
    let mut reader = ImageReader::with_format(Cursor::new(data.as_ref()), format);
    let mut image_limits = image::Limits::default();
    image_limits.max_image_width = Some(limits.max_width);
    image_limits.max_image_height = Some(limits.max_height);
    image_limits.max_alloc = Some(limits.alloc_budget());
    reader.limits(image_limits);

    let mut decoder = match reader.into_decoder() {
        Ok(decoder) => decoder,
        // Some decoders enforce the dimension limits while reading the header
        // and say only "Image size exceeds limit"; probe the header again
        // without them so the message can name the dimensions.
        Err(ImageError::Limits(e)) => {
            return Err(match probe_dimensions(bytes) {
                Some((width, height)) => fail.too_large(dimensions_reason(width, height, limits)),
                None => image_error(ImageError::Limits(e)),
            });
        }
        Err(e) => return Err(image_error(e)),
    };

    // `into_decoder` does not enforce the limits on the output buffer, so
    // check the header's dimensions ourselves before anything is allocated.
    let (width, height) = decoder.dimensions();
    fail.check_dimensions(width, height, limits)?;
    let total_bytes = decoder.total_bytes();
    if total_bytes > limits.alloc_budget() {
        return Err(fail.too_large(format!(
            "{width}×{height} pixels of {:?} need {total_bytes} bytes, above the budget of {} bytes",
            decoder.color_type(),
            limits.alloc_budget()
        )));
    }

    // The orientation must be read before `from_decoder` consumes the decoder.
    // A malformed EXIF block is not worth rejecting an image PIL would open
    // (PIL never looks at it), so it falls back to no transform.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(image_error)?;
    image.apply_orientation(orientation);
    Ok(image)
}

/// Decodes a complete JPEG with libjpeg-turbo as Pillow does (see
/// [`super::jpeg`]), its dimensions and libjpeg's working memory checked
/// against `limits` from the frame header before anything is allocated.
fn decode_jpeg(
    bytes: &[u8],
    limits: &DecodeLimits,
    reduction: u32,
    fail: &Failures,
) -> Result<DynamicImage> {
    let header = jpeg::read_header(bytes).map_err(|reason| fail.decode(reason))?;
    let (width, height) = (header.width, header.height);
    let pixels = fail.check_dimensions(width, height, limits)?;
    // The decoded image (RGB, or grey) and libjpeg's own buffers (a
    // progressive file keeps all its coefficients) are each held to the
    // budget a decoder may allocate.
    let budget = limits.alloc_budget();
    let working = jpeg::working_memory(&header);
    if pixels * 3 > budget || working > budget {
        return Err(fail.too_large(format!(
            "{width}×{height} pixels of {} JPEG need {} bytes to decode, above the budget \
             of {budget} bytes",
            if header.progressive {
                "progressive"
            } else {
                "baseline"
            },
            pixels * 3 + working,
        )));
    }
    let mut image =
        jpeg::decode(bytes, &header, budget, reduction).map_err(|failure| match failure {
            jpeg::JpegFailure::Truncated(why) => {
                fail.decode(format!("the file is truncated ({why})"))
            }
            jpeg::JpegFailure::Corrupt(why) => {
                fail.decode(format!("the image data is corrupt ({why})"))
            }
            jpeg::JpegFailure::TooLarge(why) => fail.too_large(why),
        })?;
    image.apply_orientation(header.orientation);
    Ok(image)
}

fn dimensions_reason(width: u32, height: u32, limits: &DecodeLimits) -> String {
    format!(
        "{width}×{height} pixels exceeds the limits ({}×{} and {} pixels in all)",
        limits.max_width, limits.max_height, limits.max_pixels
    )
}

/// Reads only the header's dimensions, with no dimension limits but the
/// default allocation cap, for error messages.
fn probe_dimensions(bytes: &[u8]) -> Option<(u32, u32)> {
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .ok()?;
    reader.limits(image::Limits::default());
    reader.into_dimensions().ok()
}

/// Converts to 8-bit RGB with the arithmetic of PIL's `convert("RGB")` on the
/// mode PIL would have opened the file in.
///
/// * Grey is replicated into the three channels; alpha is dropped, never
///   composited over a background (`convert("RGB")` discards it).
/// * Palette images arrive already expanded to RGB(A) by the PNG and GIF
///   decoders, which matches PIL converting `P` through its palette.
/// * 16-bit grey: PIL opens it as mode `I;16` and its `I;16 → RGB` conversion
///   saturates (`min(v, 255)`), it does not scale. We do the same.
/// * 16-bit grey+alpha, RGB and RGBA: PIL's PNG plugin unpacks them to 8 bits
///   by keeping the high byte (`LA;16B`, `RGB;16B`, `RGBA;16B`), so we take
///   `v >> 8`. PIL's TIFF plugin does the same for the layouts it supports.
/// * Float images (TIFF only) use `image`'s clamped rounding; PIL opens those
///   in other modes, a possible deviation for a format no art scan uses.
fn to_rgb_like_pil(image: DynamicImage) -> RgbImage {
    let (width, height) = (image.width(), image.height());
    let from_fn = |data: Vec<u8>| {
        // The mapped buffers hold exactly width*height*3 bytes, so this
        // fallback is unreachable; it keeps the conversion panic-free.
        RgbImage::from_raw(width, height, data).unwrap_or_else(|| RgbImage::new(0, 0))
    };
    match image {
        DynamicImage::ImageRgb8(rgb) => rgb,
        DynamicImage::ImageRgba8(rgba) => from_fn(
            rgba.as_raw()
                .chunks_exact(4)
                .flat_map(|p| [p[0], p[1], p[2]])
                .collect(),
        ),
        DynamicImage::ImageLuma8(luma) => {
            from_fn(luma.as_raw().iter().flat_map(|&v| [v, v, v]).collect())
        }
        DynamicImage::ImageLumaA8(la) => from_fn(
            la.as_raw()
                .chunks_exact(2)
                .flat_map(|p| [p[0], p[0], p[0]])
                .collect(),
        ),
        DynamicImage::ImageLuma16(luma) => from_fn(
            luma.as_raw()
                .iter()
                .flat_map(|&v| {
                    let v = v.min(255) as u8;
                    [v, v, v]
                })
                .collect(),
        ),
        DynamicImage::ImageLumaA16(la) => from_fn(
            la.as_raw()
                .chunks_exact(2)
                .flat_map(|p| {
                    let v = (p[0] >> 8) as u8;
                    [v, v, v]
                })
                .collect(),
        ),
        DynamicImage::ImageRgb16(rgb) => {
            from_fn(rgb.as_raw().iter().map(|&v| (v >> 8) as u8).collect())
        }
        DynamicImage::ImageRgba16(rgba) => from_fn(
            rgba.as_raw()
                .chunks_exact(4)
                .flat_map(|p| [(p[0] >> 8) as u8, (p[1] >> 8) as u8, (p[2] >> 8) as u8])
                .collect(),
        ),
        other => other.to_rgb8(),
    }
}

/// Converts to 8-bit RGB the way an image viewer shows the picture (see
/// [`decode_file_for_display`]): alpha composited over white, deeper samples
/// scaled with rounding.
fn to_display_rgb(image: DynamicImage) -> RgbImage {
    match image {
        DynamicImage::ImageRgb8(rgb) => rgb,
        DynamicImage::ImageLuma8(_) => image.to_rgb8(),
        DynamicImage::ImageRgba8(_) | DynamicImage::ImageLumaA8(_) => {
            let rgba = image.to_rgba8();
            let (width, height) = rgba.dimensions();
            RgbImage::from_fn(width, height, |x, y| {
                let [r, g, b, a] = rgba.get_pixel(x, y).0;
                let a = u32::from(a);
                // c·a + white·(1 − a), in 0..=255², rounded back to 0..=255.
                let over = |c: u8| ((u32::from(c) * a + 255 * (255 - a) + 127) / 255) as u8;
                image::Rgb([over(r), over(g), over(b)])
            })
        }
        other => {
            // 16-bit and float images, with or without alpha: one 16-bit
            // path is exact enough for 8-bit output and covers every layout.
            let rgba = other.to_rgba16();
            let (width, height) = rgba.dimensions();
            const MAX: u64 = 65_535;
            RgbImage::from_fn(width, height, |x, y| {
                let [r, g, b, a] = rgba.get_pixel(x, y).0;
                let a = u64::from(a);
                let over = |c: u16| {
                    let v = u64::from(c) * a + MAX * (MAX - a);
                    ((v * 255 + MAX * MAX / 2) / (MAX * MAX)) as u8
                };
                image::Rgb([over(r), over(g), over(b)])
            })
        }
    }
}

/// Says why a file's first bytes matched no enabled decoder, naming the
/// HEIF family (AVIF, HEIC) explicitly because users meet those most.
fn unrecognised_format_reason(bytes: &[u8]) -> String {
    // ISO-BMFF files (AVIF, HEIC) start with a box size and `ftyp`, then the
    // major brand.
    if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" {
        let brand = &bytes[8..12];
        if brand == b"avif" || brand == b"avis" {
            return unsupported_format_reason("AVIF");
        }
        if [
            b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1",
        ]
        .iter()
        .any(|b| brand == *b)
        {
            return unsupported_format_reason("HEIC/HEIF");
        }
    }
    "not a recognised image format (supported: PNG, JPEG, WebP, GIF, BMP, TIFF)".to_string()
}

fn unsupported_format_reason(name: &str) -> String {
    format!(
        "{name} images are not supported; convert the file to PNG or JPEG \
         (supported: PNG, JPEG, WebP, GIF, BMP, TIFF)"
    )
}

/// Turns an `image` error into ours: limit violations become
/// [`Error::ImageTooLarge`], everything else [`Error::Decode`].
fn map_image_error(err: ImageError, path: &Path, limits: &DecodeLimits) -> Error {
    let path = path.to_path_buf();
    match err {
        ImageError::Limits(e) => Error::ImageTooLarge {
            path,
            reason: format!(
                "{e} (limits: {}×{}, {} pixels)",
                limits.max_width, limits.max_height, limits.max_pixels
            ),
        },
        ImageError::Unsupported(e) => {
            let reason = match e.kind() {
                UnsupportedErrorKind::Format(ImageFormatHint::Exact(ImageFormat::Avif)) => {
                    unsupported_format_reason("AVIF")
                }
                UnsupportedErrorKind::Format(ImageFormatHint::Exact(format)) => {
                    unsupported_format_reason(&format!("{format:?}"))
                }
                _ => format!(
                    "uses a feature the decoder does not support: {}",
                    plain_words(&e.to_string())
                ),
            };
            Error::Decode { path, reason }
        }
        ImageError::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Error::Decode {
            path,
            reason: format!("the file is truncated ({})", plain_words(&e.to_string())),
        },
        // The decoders read from memory, so any other I/O error is one they
        // made up about the data.
        other @ (ImageError::Decoding(_) | ImageError::IoError(_)) => Error::Decode {
            path,
            reason: format!(
                "the image data is corrupt ({})",
                plain_words(&other.to_string())
            ),
        },
        other => Error::Decode {
            path,
            reason: plain_words(&other.to_string()),
        },
    }
}

/// A decoder's message in the words a person reads: the png crate names a
/// chunk by its Rust `Debug` form (`ChunkType { type: IDAT, critical: true,
/// private: false, reserved: false, safecopy: false }`), which becomes the
/// chunk's name (`IDAT`).
fn plain_words(text: &str) -> String {
    const CHUNK: &str = "ChunkType {";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(CHUNK) {
        out.push_str(&rest[..at]);
        let inside = &rest[at + CHUNK.len()..];
        let Some(end) = inside.find('}') else {
            rest = &rest[at..];
            break;
        };
        let name = inside[..end]
            .split(',')
            .next()
            .and_then(|field| field.trim().strip_prefix("type:"))
            .map(str::trim)
            .unwrap_or("unknown");
        out.push_str(name);
        rest = &inside[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Checks that `bytes`, detected as `format`, are structurally complete, the
/// way Pillow finds out that a file is truncated (see the module
/// documentation for the rules and why). Returns the bytes to decode: `bytes`
/// itself, or for a PNG that ends cleanly without `IEND`, a copy with one
/// added. The error is the reason for an [`Error::Decode`].
fn check_complete(format: ImageFormat, bytes: &[u8]) -> std::result::Result<Cow<'_, [u8]>, String> {
    match format {
        ImageFormat::Jpeg => check_jpeg(bytes).map(|()| Cow::Borrowed(bytes)),
        ImageFormat::Png => check_png(bytes),
        ImageFormat::Gif => check_gif(bytes).map(|()| Cow::Borrowed(bytes)),
        ImageFormat::WebP => check_webp(bytes).map(|()| Cow::Borrowed(bytes)),
        // BMP and TIFF decoders fail at the end of the data by themselves.
        _ => Ok(Cow::Borrowed(bytes)),
    }
}

fn truncated(what: impl std::fmt::Display) -> String {
    format!("the file is truncated: {what}")
}

fn corrupt(what: impl std::fmt::Display) -> String {
    format!("the file is corrupt: {what}")
}

/// Walks a JPEG's markers from the start to its end-of-image marker.
///
/// Marker segments are skipped by their length. Between markers, and inside
/// the entropy-coded data after a start-of-scan segment, bytes are skipped up
/// to the next `FF` that is neither a stuffed `FF 00` nor a restart marker,
/// which is how libjpeg finds the next marker too (it only warns about stray
/// bytes). A marker libjpeg does not know is corrupt, as it is for libjpeg.
/// Format detection has seen `FF D8 FF`.
fn check_jpeg(b: &[u8]) -> std::result::Result<(), String> {
    let missing_eoi = || {
        truncated(
            "it ends before the JPEG end-of-image marker (FF D9), so the image \
             data is incomplete",
        )
    };
    let mut at = 2; // past SOI
    loop {
        let Some(ff) = b[at.min(b.len())..].iter().position(|&x| x == 0xff) else {
            return Err(missing_eoi());
        };
        at += ff;
        while b.get(at) == Some(&0xff) {
            at += 1; // a marker may be preceded by fill bytes
        }
        let Some(&marker) = b.get(at) else {
            return Err(missing_eoi());
        };
        at += 1;
        match marker {
            0xd9 => return Ok(()),
            // Stuffed zero in entropy-coded data, restart markers, TEM and a
            // (bogus) second SOI carry no length.
            0x00 | 0x01 | 0xd0..=0xd8 => continue,
            // Markers libjpeg does not know: it stops with "Unsupported
            // marker type" and Pillow raises.
            0x02..=0xbf | 0xc8 | 0xde | 0xdf | 0xf0..=0xfd => {
                return Err(corrupt(format!(
                    "it holds an unknown JPEG marker FF{marker:02X} at byte {}",
                    at - 2
                )));
            }
            _ => {
                let Some(&[hi, lo]) = b.get(at..at + 2) else {
                    return Err(truncated(format!(
                        "it ends inside the JPEG {} segment",
                        jpeg_marker_name(marker)
                    )));
                };
                let len = usize::from(u16::from_be_bytes([hi, lo]));
                if len < 2 {
                    return Err(corrupt(format!(
                        "the JPEG {} segment declares a length of {len} bytes",
                        jpeg_marker_name(marker)
                    )));
                }
                if at + len > b.len() {
                    return Err(truncated(format!(
                        "it ends inside the JPEG {} segment ({len} bytes declared, {} left)",
                        jpeg_marker_name(marker),
                        b.len() - at
                    )));
                }
                at += len;
            }
        }
    }
}

fn jpeg_marker_name(marker: u8) -> String {
    match marker {
        0xc4 => "DHT (Huffman table)".to_string(),
        0xcc => "DAC (arithmetic coding)".to_string(),
        0xc0..=0xcf => format!("SOF{} (frame header)", marker - 0xc0),
        0xda => "SOS (start of scan)".to_string(),
        0xdb => "DQT (quantisation table)".to_string(),
        0xdd => "DRI (restart interval)".to_string(),
        0xe0..=0xef => format!("APP{}", marker - 0xe0),
        0xfe => "COM (comment)".to_string(),
        _ => format!("FF{marker:02X}"),
    }
}

/// The 12 bytes of a PNG `IEND` chunk (no data, then its CRC).
const PNG_IEND: [u8; 12] = [0, 0, 0, 0, b'I', b'E', b'N', b'D', 0xae, 0x42, 0x60, 0x82];

/// Walks a PNG's chunks (after the 8-byte signature) up to `IEND`.
fn check_png(b: &[u8]) -> std::result::Result<Cow<'_, [u8]>, String> {
    let mut at = 8;
    let mut seen_idat = false;
    loop {
        if b.len() - at < 8 {
            // No room for another chunk header: the file ends without IEND.
            if !seen_idat {
                return Err(truncated("it ends before the PNG image data (IDAT)"));
            }
            // Pillow reads no further than the complete image data, so it
            // opens such a file; the png crate wants IEND, so add one. Stray
            // bytes too short for a chunk are dropped, as Pillow ignores them.
            let mut with_iend = Vec::with_capacity(at + PNG_IEND.len());
            with_iend.extend_from_slice(&b[..at]);
            with_iend.extend_from_slice(&PNG_IEND);
            return Ok(Cow::Owned(with_iend));
        }
        let len = u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as usize;
        let kind = &b[at + 4..at + 8];
        let end = (at + 12).saturating_add(len);
        if end > b.len() {
            return Err(truncated(format!(
                "it ends inside the PNG {} chunk ({len} bytes of data declared, {} left)",
                String::from_utf8_lossy(kind),
                b.len() - at - 8
            )));
        }
        match kind {
            b"IEND" => return Ok(Cow::Borrowed(b)),
            b"IDAT" => seen_idat = true,
            _ => {}
        }
        at = end;
    }
}

/// Walks a GIF's blocks to the end of the first image's data sub-blocks.
fn check_gif(b: &[u8]) -> std::result::Result<(), String> {
    let table = |flags: u8| {
        if flags & 0x80 != 0 {
            3usize << ((flags & 7) + 1)
        } else {
            0
        }
    };
    let need = |end: usize, what: &str| {
        if end > b.len() {
            Err(truncated(format!("it ends inside the GIF {what}")))
        } else {
            Ok(())
        }
    };
    // Skips data sub-blocks (a length byte, then that many bytes) up to and
    // including the zero-length terminator.
    let sub_blocks = |mut at: usize, what: &str| loop {
        match b.get(at) {
            None => return Err(truncated(format!("it ends inside the GIF {what}"))),
            Some(0) => return Ok(at + 1),
            Some(&n) => at += 1 + usize::from(n),
        }
    };
    need(13, "header")?;
    let mut at = 13 + table(b[10]);
    need(at, "global colour table")?;
    loop {
        match b.get(at) {
            None => return Err(truncated("it ends before the GIF's first image")),
            Some(0x21) => {
                need(at + 2, "extension block")?;
                at = sub_blocks(at + 2, "extension block")?;
            }
            Some(0x2c) => {
                need(at + 10, "image descriptor")?;
                at += 10 + table(b[at + 9]);
                need(at + 1, "local colour table")?;
                sub_blocks(at + 1, "image data")?;
                return Ok(());
            }
            // The trailer before any image, or an unknown block: the
            // decoder reports those.
            Some(_) => return Ok(()),
        }
    }
}

/// Checks a WebP's RIFF container: its declared size fits the file, and every
/// chunk (with its padding byte) fits the RIFF payload.
fn check_webp(b: &[u8]) -> std::result::Result<(), String> {
    let le32 = |at: usize| u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as usize;
    if b.len() < 12 {
        return Err(truncated("it ends inside the WebP RIFF header"));
    }
    let end = 8usize.saturating_add(le32(4));
    if end > b.len() {
        return Err(truncated(format!(
            "the WebP RIFF header declares {end} bytes, the file has {}",
            b.len()
        )));
    }
    let mut at = 12;
    while at < end {
        if end - at < 8 {
            return Err(corrupt(
                "a WebP chunk header runs past the end of the RIFF data",
            ));
        }
        let fourcc = String::from_utf8_lossy(&b[at..at + 4]);
        let size = le32(at + 4);
        let padded = size.saturating_add(size & 1);
        let data = at + 8;
        if data.saturating_add(size) > b.len() {
            return Err(truncated(format!(
                "it ends inside the WebP {fourcc} chunk ({size} bytes declared, {} left)",
                b.len() - data
            )));
        }
        if data.saturating_add(padded) > end {
            return Err(corrupt(format!(
                "the WebP {fourcc} chunk ({size} bytes) runs past the end of the RIFF data"
            )));
        }
        at = data + padded;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    use image::codecs::png::PngEncoder;
    use image::{ExtendedColorType, ImageEncoder};
    use std::path::PathBuf;

    #[test]
    fn png_chunk_names_are_plain_words() {
        let png = "CRC error: expected 0x1 have 0x2 while decoding ChunkType { type: IDAT, \
                   critical: true, private: false, reserved: false, safecopy: false } chunk.";
        assert_eq!(
            plain_words(png),
            "CRC error: expected 0x1 have 0x2 while decoding IDAT chunk."
        );
        assert_eq!(plain_words("no chunk here"), "no chunk here");
        assert_eq!(
            plain_words("cut ChunkType { type: IDAT"),
            "cut ChunkType { type: IDAT"
        );
    }

    fn png_bytes(data: &[u8], width: u32, height: u32, color: ExtendedColorType) -> Vec<u8> {
        let mut out = Vec::new();
        PngEncoder::new(&mut out)
            .write_image(data, width, height, color)
            .expect("encoding a test PNG");
        out
    }

    fn label() -> PathBuf {
        PathBuf::from("collection/odd file.png")
    }

    fn decode(bytes: &[u8]) -> Result<RgbImage> {
        decode_bytes(bytes, &label(), &DecodeLimits::default())
    }

    fn assert_decode_error(result: Result<RgbImage>, needle: &str) {
        match result {
            Err(err @ Error::Decode { .. }) => {
                let msg = err.to_string();
                assert!(msg.contains("collection/odd file.png"), "{msg}");
                assert!(msg.contains(needle), "`{msg}` should mention `{needle}`");
            }
            other => panic!("expected a decode error, got {other:?}"),
        }
    }

    #[test]
    fn empty_file_is_a_decode_error_naming_the_path() {
        assert_decode_error(decode(&[]), "empty");
    }

    #[test]
    fn empty_file_on_disk_is_a_decode_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("empty.jpg");
        std::fs::write(&path, b"").expect("write");
        let err = decode_file(&path, &DecodeLimits::default()).expect_err("must fail");
        assert!(matches!(err, Error::Decode { .. }));
        assert!(err.to_string().contains("empty.jpg"));
    }

    #[test]
    fn missing_file_is_an_io_error_naming_the_path() {
        let err = decode_file(
            Path::new("/nonexistent/dir/x.png"),
            &DecodeLimits::default(),
        )
        .expect_err("must fail");
        assert!(matches!(err, Error::Io { .. }));
        assert!(err.to_string().contains("/nonexistent/dir/x.png"));
    }

    #[test]
    fn text_file_is_not_an_image() {
        assert_decode_error(
            decode(b"hello, this is not an image at all"),
            "not a recognised",
        );
    }

    #[test]
    fn heic_and_avif_are_reported_as_unsupported() {
        let mut heic = vec![0, 0, 0, 24];
        heic.extend_from_slice(b"ftypheic\0\0\0\0mif1heic");
        assert_decode_error(decode(&heic), "HEIC/HEIF images are not supported");
        let mut avif = vec![0, 0, 0, 28];
        avif.extend_from_slice(b"ftypavif\0\0\0\0avifmif1miaf");
        assert_decode_error(decode(&avif), "AVIF images are not supported");
    }

    #[test]
    fn truncated_png_is_a_decode_error() {
        let data: Vec<u8> = (0..64 * 64 * 3).map(|i| (i * 7 % 256) as u8).collect();
        let png = png_bytes(&data, 64, 64, ExtendedColorType::Rgb8);
        let truncated = &png[..png.len() / 2];
        match decode(truncated) {
            Err(err @ Error::Decode { .. }) => {
                assert!(err.to_string().contains("collection/odd file.png"));
            }
            other => panic!("expected a decode error, got {other:?}"),
        }
    }

    fn assert_truncated(result: std::result::Result<(), String>, what: &str) {
        match result {
            Err(reason) => assert!(
                reason.starts_with("the file is truncated"),
                "{what}: {reason}"
            ),
            Ok(()) => panic!("{what}: accepted"),
        }
    }

    #[test]
    fn jpeg_walk_finds_the_real_end_of_image_marker() {
        // SOI; an APP1 segment whose payload is two EOI markers; a scan header;
        // entropy-coded data with a stuffed FF 00, a restart marker and fill
        // bytes before the EOI.
        let mut jpeg = vec![0xff, 0xd8, 0xff, 0xe1, 0x00, 0x06, 0xff, 0xd9, 0xff, 0xd9];
        jpeg.extend_from_slice(&[0xff, 0xda, 0x00, 0x03, 0x01]);
        jpeg.extend_from_slice(&[
            0x12, 0xff, 0x00, 0x34, 0xff, 0xd0, 0x56, 0xff, 0xff, 0xff, 0xd9,
        ]);
        assert_eq!(check_jpeg(&jpeg), Ok(()));
        // Anything after EOI is ignored, as Pillow ignores it.
        let mut trailing = jpeg.clone();
        trailing.extend_from_slice(b"trailing bytes \xff\xda\x00");
        assert_eq!(check_jpeg(&trailing), Ok(()));
        for cut in 3..jpeg.len() {
            assert_truncated(check_jpeg(&jpeg[..cut]), &format!("JPEG cut at {cut}"));
        }
        let bogus = [0xff, 0xd8, 0xff, 0xe1, 0x00, 0x01, 0xff, 0xd9];
        assert!(check_jpeg(&bogus)
            .unwrap_err()
            .starts_with("the file is corrupt"));
        let mut unknown = jpeg.clone();
        unknown[17] = 0x42; // FF 00 becomes the unknown marker FF 42
        assert_eq!(
            check_jpeg(&unknown),
            Err("the file is corrupt: it holds an unknown JPEG marker FF42 at byte 16".into())
        );
    }

    #[test]
    fn png_walk_wants_complete_chunks_and_adds_a_missing_iend() {
        let png = png_bytes(&[1, 2, 3, 4, 5, 6], 2, 1, ExtendedColorType::Rgb8);
        assert_eq!(&png[png.len() - 12..], &PNG_IEND);
        assert!(matches!(check_png(&png), Ok(Cow::Borrowed(_))));
        let body = &png[..png.len() - 12];
        for stray in [&[][..], &[0, 0, 0], &[0; 7]] {
            let mut cut = body.to_vec();
            cut.extend_from_slice(stray);
            match check_png(&cut) {
                Ok(Cow::Owned(fixed)) => assert_eq!(fixed, png),
                other => panic!("{} stray bytes: {other:?}", stray.len()),
            }
        }
        // A missing IEND is forgiven; so the decoded pixels are all there.
        let img = decode(body).expect("a PNG without IEND decodes");
        assert_eq!(img.as_raw(), &[1, 2, 3, 4, 5, 6]);
        for cut in 8..body.len() {
            // Inside a chunk, or before any image data: truncated.
            let at_boundary = png_chunk_ends(&png).contains(&cut);
            if !at_boundary || cut < 33 {
                match check_png(&png[..cut]) {
                    Err(reason) => assert!(reason.starts_with("the file is truncated"), "{reason}"),
                    Ok(_) => panic!("PNG cut at {cut} accepted"),
                }
            }
        }
    }

    /// The offsets just past each chunk of a PNG.
    fn png_chunk_ends(png: &[u8]) -> Vec<usize> {
        let mut ends = Vec::new();
        let mut at = 8;
        while at + 8 <= png.len() {
            let len = u32::from_be_bytes(png[at..at + 4].try_into().unwrap()) as usize;
            at += 12 + len;
            ends.push(at);
        }
        ends
    }

    #[test]
    fn gif_walk_needs_the_first_image_complete_but_no_trailer() {
        let mut gif = b"GIF89a".to_vec();
        gif.extend_from_slice(&[2, 0, 1, 0, 0x80, 0, 0]); // 2x1, two-colour table
        gif.extend_from_slice(&[0, 0, 0, 255, 255, 255]);
        gif.extend_from_slice(&[0x21, 0xf9, 4, 0, 0, 0, 0, 0]); // graphic control
        gif.extend_from_slice(&[0x2c, 0, 0, 0, 0, 2, 0, 1, 0, 0]);
        gif.extend_from_slice(&[2, 2, 0x44, 0x0a, 0]); // LZW: clear, 0, 1, end
        assert_eq!(check_gif(&gif), Ok(()));
        let mut with_trailer = gif.clone();
        with_trailer.push(0x3b);
        assert_eq!(check_gif(&with_trailer), Ok(()));
        let img = decode(&gif).expect("a GIF without its trailer decodes");
        assert_eq!(img.dimensions(), (2, 1));
        for cut in 13..gif.len() {
            assert_truncated(check_gif(&gif[..cut]), &format!("GIF cut at {cut}"));
        }
    }

    #[test]
    fn webp_walk_checks_the_riff_and_chunk_sizes() {
        let webp = |riff: u32, chunk: u32, payload: &[u8]| {
            let mut out = b"RIFF".to_vec();
            out.extend_from_slice(&riff.to_le_bytes());
            out.extend_from_slice(b"WEBPVP8L");
            out.extend_from_slice(&chunk.to_le_bytes());
            out.extend_from_slice(payload);
            out
        };
        assert_eq!(check_webp(&webp(16, 3, &[1, 2, 3, 0])), Ok(()));
        // Bytes after the RIFF data are ignored.
        assert_eq!(check_webp(&webp(16, 3, &[1, 2, 3, 0, 9, 9])), Ok(()));
        // The RIFF data, or a chunk, longer than the file.
        assert_truncated(check_webp(&webp(20, 3, &[1, 2, 3, 0])), "RIFF too long");
        assert_truncated(check_webp(&webp(16, 9, &[1, 2, 3, 0])), "chunk too long");
        // A chunk that fits the file but not the RIFF data, or lacks its
        // padding byte.
        assert!(check_webp(&webp(16, 5, &[1, 2, 3, 0, 9, 9]))
            .unwrap_err()
            .starts_with("the file is corrupt"));
        assert!(check_webp(&webp(15, 3, &[1, 2, 3]))
            .unwrap_err()
            .starts_with("the file is corrupt"));
    }

    #[test]
    fn special_files_are_refused_before_they_are_opened() {
        let dir = tempfile::tempdir().expect("temp dir");
        let link = dir.path().join("zero.png");
        std::os::unix::fs::symlink("/dev/zero", &link).expect("symlink");
        let err = decode_file(&link, &DecodeLimits::default()).expect_err("must fail");
        assert!(matches!(err, Error::Io { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains("zero.png"), "{msg}");
        assert!(
            msg.contains("not a regular file (a character device)"),
            "{msg}"
        );
        let err = decode_file(dir.path(), &DecodeLimits::default()).expect_err("must fail");
        assert!(
            err.to_string().contains("not a regular file (a directory)"),
            "{err}"
        );
    }

    #[test]
    fn the_extension_does_not_decide_the_format() {
        let png = png_bytes(&[1, 2, 3, 4, 5, 6], 2, 1, ExtendedColorType::Rgb8);
        let img = decode_bytes(&png, Path::new("photo.jpg"), &DecodeLimits::default())
            .expect("a PNG named .jpg decodes");
        assert_eq!(img.as_raw(), &[1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn images_over_the_limits_are_rejected_before_decoding() {
        let png = png_bytes(&vec![0; 40 * 30 * 3], 40, 30, ExtendedColorType::Rgb8);
        let cases = [
            DecodeLimits {
                max_width: 39,
                ..DecodeLimits::default()
            },
            DecodeLimits {
                max_height: 29,
                ..DecodeLimits::default()
            },
            DecodeLimits {
                max_pixels: 40 * 30 - 1,
                ..DecodeLimits::default()
            },
        ];
        for limits in cases {
            match decode_bytes(&png, &label(), &limits) {
                Err(err @ Error::ImageTooLarge { .. }) => {
                    let msg = err.to_string();
                    assert!(msg.contains("collection/odd file.png"), "{msg}");
                    assert!(msg.contains("40×30"), "{msg}");
                }
                other => panic!("expected ImageTooLarge for {limits:?}, got {other:?}"),
            }
        }
        let small_file = DecodeLimits {
            max_file_bytes: 10,
            ..DecodeLimits::default()
        };
        assert!(matches!(
            decode_bytes(&png, &label(), &small_file),
            Err(Error::ImageTooLarge { .. })
        ));
    }

    #[test]
    fn a_decoder_panic_becomes_a_decode_error() {
        let result: Result<RgbImage> =
            catch_decoder_panic(&label(), || panic!("index out of bounds in a codec"));
        assert_decode_error(
            result,
            "crashed on this file (index out of bounds in a codec)",
        );
    }

    #[test]
    fn gif_decodes_its_first_frame() {
        use image::codecs::gif::GifEncoder;
        use image::{Frame, RgbaImage};
        let mut out = Vec::new();
        {
            let mut encoder = GifEncoder::new(&mut out);
            let first = RgbaImage::from_pixel(3, 2, image::Rgba([255, 0, 0, 255]));
            let second = RgbaImage::from_pixel(3, 2, image::Rgba([0, 0, 255, 255]));
            encoder
                .encode_frames([Frame::new(first), Frame::new(second)])
                .expect("encodes");
        }
        let img = decode(&out).expect("decodes");
        assert_eq!(img.dimensions(), (3, 2));
        assert!(
            img.pixels().all(|p| p.0 == [255, 0, 0]),
            "{:?}",
            img.as_raw()
        );
    }

    #[test]
    fn grey_is_replicated() {
        let png = png_bytes(&[0, 128, 255], 3, 1, ExtendedColorType::L8);
        let img = decode(&png).expect("decodes");
        assert_eq!(img.as_raw(), &[0, 0, 0, 128, 128, 128, 255, 255, 255]);
    }

    #[test]
    fn alpha_is_dropped_not_composited() {
        let png = png_bytes(&[10, 0, 200, 0, 255, 255], 3, 1, ExtendedColorType::La8);
        let img = decode(&png).expect("decodes");
        assert_eq!(img.as_raw(), &[10, 10, 10, 200, 200, 200, 255, 255, 255]);

        let png = png_bytes(
            &[10, 20, 30, 0, 40, 50, 60, 128],
            2,
            1,
            ExtendedColorType::Rgba8,
        );
        let img = decode(&png).expect("decodes");
        assert_eq!(img.as_raw(), &[10, 20, 30, 40, 50, 60]);
    }

    #[test]
    fn sixteen_bit_conversions_follow_pil() {
        // `ImageEncoder` takes 16-bit samples in native byte order and writes
        // them big-endian as PNG requires.
        fn ne(values: &[u16]) -> Vec<u8> {
            values.iter().flat_map(|v| v.to_ne_bytes()).collect()
        }
        // Grey: PIL's I;16 -> RGB saturates at 255.
        let png = png_bytes(
            &ne(&[0, 100, 255, 256, 65535]),
            5,
            1,
            ExtendedColorType::L16,
        );
        let img = decode(&png).expect("decodes");
        let red: Vec<u8> = img.pixels().map(|p| p.0[0]).collect();
        assert_eq!(red, [0, 100, 255, 255, 255]);
        // RGB: PIL keeps the high byte.
        let png = png_bytes(
            &ne(&[0x12ff, 0x3400, 0xffff]),
            1,
            1,
            ExtendedColorType::Rgb16,
        );
        assert_eq!(decode(&png).expect("decodes").as_raw(), &[0x12, 0x34, 0xff]);
        let png = png_bytes(
            &ne(&[0x12ff, 0x3400, 0xffff, 0x0101]),
            1,
            1,
            ExtendedColorType::Rgba16,
        );
        assert_eq!(decode(&png).expect("decodes").as_raw(), &[0x12, 0x34, 0xff]);
        let png = png_bytes(&ne(&[0xab12, 0x0001]), 1, 1, ExtendedColorType::La16);
        assert_eq!(decode(&png).expect("decodes").as_raw(), &[0xab, 0xab, 0xab]);
    }

    /// What a person is shown differs from what a model is fed exactly where
    /// PIL's conversion is wrong for the eye: transparency and 16 bits.
    #[test]
    fn display_decoding_flattens_alpha_on_white_and_scales_sixteen_bits() {
        fn ne(values: &[u16]) -> Vec<u8> {
            values.iter().flat_map(|v| v.to_ne_bytes()).collect()
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let shown = |png: Vec<u8>| {
            let path = dir.path().join("x.png");
            std::fs::write(&path, png).expect("write");
            decode_file_for_display(&path, &DecodeLimits::default())
                .expect("decodes")
                .into_raw()
        };
        // Transparent black, half-transparent red, opaque blue.
        let rgba = [0, 0, 0, 0, 255, 0, 0, 128, 0, 0, 255, 255];
        assert_eq!(
            shown(png_bytes(&rgba, 3, 1, ExtendedColorType::Rgba8)),
            [255, 255, 255, 255, 127, 127, 0, 0, 255]
        );
        assert_eq!(
            shown(png_bytes(&[40, 0, 40, 255], 2, 1, ExtendedColorType::La8)),
            [255, 255, 255, 40, 40, 40]
        );
        // 16-bit grey is scaled, not saturated: mid-grey stays mid-grey.
        assert_eq!(
            shown(png_bytes(
                &ne(&[0, 0x8000, 65535]),
                3,
                1,
                ExtendedColorType::L16
            )),
            [0, 0, 0, 128, 128, 128, 255, 255, 255]
        );
        // 16-bit RGBA: half-transparent black over white is mid-grey.
        assert_eq!(
            shown(png_bytes(
                &ne(&[0, 0, 0, 0x8000]),
                1,
                1,
                ExtendedColorType::Rgba16
            )),
            [127, 127, 127]
        );
    }

    /// A minimal little-endian EXIF/TIFF block holding one Orientation entry.
    fn exif_with_orientation(orientation: u16) -> Vec<u8> {
        let mut exif = b"II*\0".to_vec();
        exif.extend_from_slice(&8u32.to_le_bytes()); // first IFD offset
        exif.extend_from_slice(&1u16.to_le_bytes()); // one entry
        exif.extend_from_slice(&0x0112u16.to_le_bytes()); // Orientation
        exif.extend_from_slice(&3u16.to_le_bytes()); // SHORT
        exif.extend_from_slice(&1u32.to_le_bytes()); // count
        exif.extend_from_slice(&orientation.to_le_bytes());
        exif.extend_from_slice(&[0, 0]); // value padding
        exif.extend_from_slice(&0u32.to_le_bytes()); // no next IFD
        exif
    }

    #[test]
    fn exif_orientation_is_applied() {
        // A 2x1 image: red, then blue. Orientation 6 means "rotate 90° clockwise
        // to display", giving a 1x2 image with red on top.
        let mut out = Vec::new();
        let mut encoder = PngEncoder::new(&mut out);
        encoder
            .set_exif_metadata(exif_with_orientation(6))
            .expect("PNG supports EXIF");
        encoder
            .write_image(&[255, 0, 0, 0, 0, 255], 2, 1, ExtendedColorType::Rgb8)
            .expect("encodes");
        let img = decode(&out).expect("decodes");
        assert_eq!(img.dimensions(), (1, 2));
        assert_eq!(img.as_raw(), &[255, 0, 0, 0, 0, 255]);

        // Orientation 3 (rotate 180°) keeps the size and swaps the pixels.
        let mut out = Vec::new();
        let mut encoder = PngEncoder::new(&mut out);
        encoder
            .set_exif_metadata(exif_with_orientation(3))
            .expect("PNG supports EXIF");
        encoder
            .write_image(&[255, 0, 0, 0, 0, 255], 2, 1, ExtendedColorType::Rgb8)
            .expect("encodes");
        let img = decode(&out).expect("decodes");
        assert_eq!(img.as_raw(), &[0, 0, 255, 255, 0, 0]);
    }

    #[test]
    fn exif_orientation_is_applied_to_jpeg() {
        use image::codecs::jpeg::JpegEncoder;
        // A 16x8 JPEG, left half black and right half white, tagged "rotate
        // 90° clockwise": upright it is 8x16 with black on top.
        let mut data = Vec::new();
        for _y in 0..8 {
            for x in 0..16 {
                let v = if x < 8 { 0 } else { 255 };
                data.extend_from_slice(&[v, v, v]);
            }
        }
        let mut out = Vec::new();
        let mut encoder = JpegEncoder::new_with_quality(&mut out, 95);
        encoder
            .set_exif_metadata(exif_with_orientation(6))
            .expect("JPEG supports EXIF");
        encoder
            .write_image(&data, 16, 8, ExtendedColorType::Rgb8)
            .expect("encodes");
        let img = decode(&out).expect("decodes");
        assert_eq!(img.dimensions(), (8, 16));
        assert!(img.get_pixel(4, 2).0[0] < 40, "top should be dark");
        assert!(img.get_pixel(4, 13).0[0] > 215, "bottom should be light");
    }
}
