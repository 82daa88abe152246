//! JPEG decoding that gives the pixels Pillow gives: libjpeg-turbo's decoder
//! (the copy `mozjpeg-sys` bundles and builds with the C compiler), set up as
//! Pillow's `JpegDecode.c` sets it up, with every failure of the C library
//! turned into an error for that one file.
//!
//! Pillow's wheels decode JPEG with libjpeg-turbo 3.x: the accurate integer
//! IDCT (`JDCT_ISLOW`) and fancy (triangle) chroma upsampling, its defaults.
//! MozJPEG's decoder is libjpeg-turbo's, so the same settings give the same
//! bytes; `tests/jpeg_parity.rs` checks that against Pillow on baseline,
//! progressive, 4:2:0, 4:4:4, grey, CMYK and EXIF-rotated files. The SIMD
//! kernels (built when `nasm` is installed) are exact replicas of the C ones,
//! so both builds give those bytes too.
//!
//! # The mode Pillow chooses
//!
//! Pillow reads the frame header itself and refuses what it cannot hold:
//! samples of other than 8 bits ("cannot handle 12-bit layers") and other
//! than 1, 3 or 4 components. One component is `L`, three are `RGB` (libjpeg
//! converts from YCbCr, or not, by the JFIF and Adobe markers), four are
//! `CMYK` read with Adobe's inverted polarity whatever the file's markers say
//! (libjpeg turns YCCK into CMYK first), and `convert("RGB")` then computes
//! `(255 − k) − (255 − k)·c / 255` per channel with its own rounding
//! ([`cmyk_to_rgb`]). ICC profiles are ignored, as `convert` ignores them.
//!
//! # Errors without `setjmp`
//!
//! libjpeg reports a fatal error by calling `error_exit`, which must not
//! return; its default prints and calls `exit()`. Ours unwinds instead:
//! `mozjpeg-sys`'s `unwinding` feature compiles the C with `-fexceptions` and
//! declares every entry point `extern "C-unwind"`, so a Rust unwind may cross
//! the C frames (they hold no destructors, and libjpeg's memory lives in
//! pools that `jpeg_destroy_decompress` frees afterwards). The unwind starts
//! with [`resume_unwind`], which skips the panic hook, so nothing is printed,
//! and is caught right around the calls into C.
//!
//! Warnings do not stop libjpeg: damaged entropy-coded data is decoded as
//! well as it can be, which Pillow accepts, so we accept it too. The one
//! warning that matters is "Premature end of JPEG file": libjpeg then invents
//! an end-of-image marker and greys out what is missing, where Pillow, which
//! feeds libjpeg itself, raises "image file is truncated". That warning stops
//! the decode as a truncated file. (`decode.rs` walks the markers first and
//! refuses most truncated files before libjpeg sees them; this is the
//! backstop.)
//!
//! # Bounded cost
//!
//! The frame header is read in Rust before libjpeg is called, so the caller
//! checks the dimensions against its limits before anything is allocated;
//! libjpeg's own memory is capped by `max_memory_to_use` (a progressive file
//! buffers its whole coefficient image, about 2 bytes per sample), and a file
//! with more than [`MAX_SCANS`] scans, which only a crafted file has and
//! which can cost minutes, is refused.

use std::ffi::CStr;
use std::os::raw::{c_int, c_long, c_ulong};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

use image::metadata::Orientation;
use image::{DynamicImage, GrayImage, RgbImage};
use mozjpeg_sys as ffi;

/// The most scans a file may hold. Encoders write at most a few dozen (10
/// for libjpeg's default progression, 64×3 for a successive-approximation
/// extreme); libjpeg-turbo's own tools suggest refusing more than 500, since
/// each scan of a progressive file costs a pass over the whole image.
pub(super) const MAX_SCANS: c_int = 500;

/// What the markers before the first scan say: the frame header's geometry
/// and the EXIF orientation.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct JpegHeader {
    pub width: u32,
    pub height: u32,
    /// 1 (grey), 3 (YCbCr or RGB) or 4 (CMYK or YCCK).
    pub components: u8,
    pub progressive: bool,
    /// From the last `Exif` APP1 segment, as the `image` crate read it; no
    /// transform when there is none or it cannot be read.
    pub orientation: Orientation,
}

/// Why a JPEG was not decoded.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum JpegFailure {
    /// The data ends before the image does.
    Truncated(String),
    /// The data is damaged or uses something neither Pillow nor we decode.
    Corrupt(String),
    /// libjpeg wanted more memory than the budget it was given.
    TooLarge(String),
}

/// Reads the frame header (and the EXIF orientation) by walking the marker
/// segments up to the first scan. `bytes` must have passed `check_jpeg`, so
/// every segment before the first scan is complete; the bounds are checked
/// again anyway. The error is the reason for a decode error.
pub(super) fn read_header(bytes: &[u8]) -> Result<JpegHeader, String> {
    let mut at = 2; // past SOI
    let mut frame: Option<(u32, u32, u8, bool)> = None;
    let mut orientation = Orientation::NoTransforms;
    loop {
        // Between segments libjpeg skips stray bytes up to the next FF.
        let Some(ff) = bytes
            .get(at..)
            .and_then(|b| b.iter().position(|&x| x == 0xff))
        else {
            return Err("the file is corrupt: it has no JPEG scan".to_string());
        };
        at += ff;
        while bytes.get(at) == Some(&0xff) {
            at += 1;
        }
        let Some(&marker) = bytes.get(at) else {
            return Err("the file is corrupt: it has no JPEG scan".to_string());
        };
        at += 1;
        if matches!(marker, 0x00 | 0x01 | 0xd0..=0xd8) {
            continue; // no length
        }
        let Some(&[hi, lo]) = bytes.get(at..at + 2) else {
            return Err("the file is truncated: it ends inside a JPEG marker segment".to_string());
        };
        let len = usize::from(u16::from_be_bytes([hi, lo]));
        let Some(segment) = bytes.get(at + 2..at + len.max(2)) else {
            return Err("the file is truncated: it ends inside a JPEG marker segment".to_string());
        };
        match marker {
            0xda => break,
            0xd9 => return Err("the file is corrupt: it ends before its first JPEG scan".into()),
            // Start of frame: every SOFn except DHT (C4), JPG (C8) and DAC (CC).
            0xc0..=0xcf if !matches!(marker, 0xc4 | 0xc8 | 0xcc) => {
                let &[precision, h1, h0, w1, w0, components, ..] = segment else {
                    return Err("the file is corrupt: its JPEG frame header is too short".into());
                };
                if precision != 8 {
                    // Pillow: "cannot handle 12-bit layers".
                    return Err(format!(
                        "the JPEG holds {precision}-bit samples; only 8-bit JPEGs are \
                         supported (as in Pillow): convert it to an 8-bit JPEG or to PNG"
                    ));
                }
                if !matches!(components, 1 | 3 | 4) {
                    return Err(format!(
                        "the JPEG has {components} colour components; only 1 (grey), 3 (colour) \
                         and 4 (CMYK) are supported, as in Pillow"
                    ));
                }
                let progressive = matches!(marker, 0xc2 | 0xc6 | 0xca | 0xce);
                frame = Some((
                    u32::from(u16::from_be_bytes([w1, w0])),
                    u32::from(u16::from_be_bytes([h1, h0])),
                    components,
                    progressive,
                ));
            }
            // The `image` crate (zune-jpeg) keeps the last Exif segment; so do we.
            0xe1 if segment.len() > 6 && segment.starts_with(b"Exif\0\0") => {
                orientation = Orientation::from_exif_chunk(&segment[6..])
                    .unwrap_or(Orientation::NoTransforms);
            }
            _ => {}
        }
        at += len.max(2);
    }
    let Some((width, height, components, progressive)) = frame else {
        return Err(
            "the file is corrupt: its first JPEG scan comes before any frame header".into(),
        );
    };
    if width == 0 || height == 0 {
        // A zero height means "given later in a DNL marker", which libjpeg
        // (and so Pillow) does not support.
        return Err(format!(
            "the file is corrupt: its JPEG frame header declares {width}×{height} pixels"
        ));
    }
    Ok(JpegHeader {
        width,
        height,
        components,
        progressive,
        orientation,
    })
}

/// The bytes libjpeg needs beyond its output for a file with this header,
/// at most: a progressive (or otherwise multi-scan) file keeps every DCT
/// coefficient of the image (2 bytes per sample, in blocks padded to 16
/// pixels, times the components at full resolution in the worst case of no
/// subsampling), plus working rows.
pub(super) fn working_memory(header: &JpegHeader) -> u64 {
    let padded = |v: u32| u64::from(v).div_ceil(16) * 16;
    let coefficients = if header.progressive {
        padded(header.width) * padded(header.height) * 2 * u64::from(header.components)
    } else {
        0
    };
    coefficients + 16 * padded(header.width) * 4 * 8 + (4 << 20)
}

/// Decodes `bytes` (whose header is `header`) into grey or RGB pixels the
/// way Pillow decodes them, without applying the orientation. libjpeg may
/// use `max_memory` bytes besides the returned image.
///
/// `reduction` 1 is Pillow's decode. 2, 4 or 8 is libjpeg's scaled
/// decoding (`scale_denom`): each 8×8 block goes through a 4×4, 2×2 or 1×1
/// inverse DCT of its lowest frequencies, so the image comes out
/// `ceil(size / reduction)` pixels a side for a fraction of the IDCT,
/// upsampling and colour-conversion work (the entropy decoding is the
/// same). That is `index --decode fast`; Pillow's `draft()` does the same.
pub(super) fn decode(
    bytes: &[u8],
    header: &JpegHeader,
    max_memory: u64,
    reduction: u32,
) -> Result<DynamicImage, JpegFailure> {
    let mut session = Box::new(Session::new());
    // Every call into libjpeg happens inside this closure, so an unwind from
    // `error_exit` ends here; the session is destroyed on both paths.
    let result = catch_unwind(AssertUnwindSafe(|| unsafe {
        session.decode(bytes, header, max_memory, reduction)
    }));
    // SAFETY: `jpeg_destroy_decompress` frees libjpeg's pools whatever state
    // an error left the object in (that is what libjpeg's own error recovery
    // does after `longjmp`), and is a no-op before `jpeg_create_decompress`
    // has allocated them, the struct having been zeroed.
    unsafe { ffi::jpeg_destroy_decompress(&mut session.cinfo) };
    match result {
        Ok(result) => result,
        Err(payload) => match payload.downcast::<JpegFailure>() {
            Ok(failure) => Err(*failure),
            // A genuine panic in our own code: let the caller's panic guard
            // report it, as for any other decoder.
            Err(payload) => resume_unwind(payload),
        },
    }
}

/// libjpeg's decompression object with the error and progress managers it
/// points at, boxed so those pointers stay valid.
struct Session {
    cinfo: ffi::jpeg_decompress_struct,
    err: ffi::jpeg_error_mgr,
    progress: ffi::jpeg_progress_mgr,
}

impl Session {
    fn new() -> Self {
        // SAFETY: all three are C structs of integers, pointers and
        // nullable function pointers, for which zero is a valid value (and
        // the state libjpeg's examples start from).
        unsafe { std::mem::zeroed() }
    }

    /// The whole decode. Must run inside `catch_unwind`: libjpeg's errors
    /// unwind out of it with a [`JpegFailure`] payload.
    unsafe fn decode(
        &mut self,
        bytes: &[u8],
        header: &JpegHeader,
        max_memory: u64,
        reduction: u32,
    ) -> Result<DynamicImage, JpegFailure> {
        ffi::jpeg_std_error(&mut self.err);
        self.err.error_exit = Some(error_exit);
        self.err.emit_message = Some(emit_message);
        self.err.output_message = Some(output_message);
        self.cinfo.common.err = &mut self.err;
        ffi::jpeg_create_decompress(&mut self.cinfo);
        (*self.cinfo.common.mem).max_memory_to_use =
            c_long::try_from(max_memory).unwrap_or(c_long::MAX);
        self.progress.progress_monitor = Some(progress_monitor);
        self.cinfo.common.progress = &mut self.progress;

        let cinfo = &mut self.cinfo;
        ffi::jpeg_mem_src(cinfo, bytes.as_ptr(), bytes.len() as c_ulong);
        ffi::jpeg_read_header(cinfo, 1);
        if (cinfo.image_width, cinfo.image_height) != (header.width, header.height)
            || cinfo.num_components != c_int::from(header.components)
        {
            return Err(JpegFailure::Corrupt(format!(
                "libjpeg reads a {}×{} image of {} components from a frame header that \
                 declares {}×{} and {}",
                cinfo.image_width,
                cinfo.image_height,
                cinfo.num_components,
                header.width,
                header.height,
                header.components
            )));
        }
        // Pillow's settings: the output colour space by mode, and libjpeg's
        // defaults for the rest (accurate integer IDCT, fancy upsampling,
        // block smoothing), set here so that no other default can creep in.
        cinfo.out_color_space = match header.components {
            1 => ffi::J_COLOR_SPACE::JCS_GRAYSCALE,
            3 => ffi::J_COLOR_SPACE::JCS_RGB,
            _ => ffi::J_COLOR_SPACE::JCS_CMYK,
        };
        cinfo.dct_method = ffi::J_DCT_METHOD::JDCT_ISLOW;
        cinfo.do_fancy_upsampling = 1;
        cinfo.do_block_smoothing = 1;
        cinfo.scale_num = 1;
        cinfo.scale_denom = match reduction {
            2 | 4 | 8 => reduction,
            _ => 1,
        };
        ffi::jpeg_start_decompress(cinfo);

        let (width, height) = (cinfo.output_width as usize, cinfo.output_height as usize);
        let channels = cinfo.output_components as usize;
        let out_channels = if channels == 1 { 1 } else { 3 };
        let mut out = Vec::new();
        let out_len = width * height * out_channels;
        if out.try_reserve_exact(out_len).is_err() {
            return Err(JpegFailure::TooLarge(format!(
                "cannot allocate {out_len} bytes for the decoded image"
            )));
        }
        out.resize(out_len, 0u8);
        // CMYK arrives in a small buffer of rows and is converted from there;
        // grey and RGB are written straight into the image.
        const ROWS: usize = 16;
        let mut cmyk = if channels == 4 {
            vec![0u8; width * 4 * ROWS]
        } else {
            Vec::new()
        };
        while (cinfo.output_scanline as usize) < height {
            let first = cinfo.output_scanline as usize;
            let count = ROWS.min(height - first);
            let mut rows = [std::ptr::null_mut::<u8>(); ROWS];
            for (i, row) in rows.iter_mut().enumerate().take(count) {
                *row = if channels == 4 {
                    cmyk.as_mut_ptr().add(i * width * 4)
                } else {
                    out.as_mut_ptr().add((first + i) * width * channels)
                };
            }
            let read = ffi::jpeg_read_scanlines(cinfo, rows.as_mut_ptr(), count as u32) as usize;
            if read == 0 {
                // Only a suspending data source returns no rows, and ours
                // holds the whole file; never loop on it.
                return Err(JpegFailure::Truncated(
                    "libjpeg returned no rows before the image was complete".into(),
                ));
            }
            if channels == 4 {
                let dst = &mut out[first * width * 3..(first + read) * width * 3];
                cmyk_to_rgb(&cmyk[..read * width * 4], dst);
            }
        }
        ffi::jpeg_finish_decompress(cinfo);

        let (w, h) = (width as u32, height as u32);
        let image = if out_channels == 1 {
            GrayImage::from_raw(w, h, out).map(DynamicImage::ImageLuma8)
        } else {
            RgbImage::from_raw(w, h, out).map(DynamicImage::ImageRgb8)
        };
        // The buffer was sized from these dimensions, so this cannot fail.
        image.ok_or_else(|| JpegFailure::Corrupt("the decoded buffer has the wrong size".into()))
    }
}

/// Converts CMYK as libjpeg outputs it (Adobe's inverted polarity, which
/// Pillow assumes for every JPEG, rawmode `CMYK;I`) to RGB with the
/// arithmetic of Pillow's `cmyk2rgb`: with `c`, `m`, `y`, `k` the inverted
/// samples, each channel is `nk − nk·c/255` for `nk = 255 − k`, the product
/// rounded by Pillow's `MULDIV255`.
pub(super) fn cmyk_to_rgb(cmyk: &[u8], rgb: &mut [u8]) {
    #[inline]
    fn muldiv255(a: u32, b: u32) -> u32 {
        let t = a * b + 128;
        ((t >> 8) + t) >> 8
    }
    for (src, dst) in cmyk.chunks_exact(4).zip(rgb.chunks_exact_mut(3)) {
        let nk = u32::from(src[3]); // 255 − (255 − k): the inverted k.
        for (d, &s) in dst.iter_mut().zip(&src[..3]) {
            let c = 255 - u32::from(s);
            *d = (nk - muldiv255(c, nk)) as u8;
        }
    }
}

/// libjpeg's message for the error or warning it is reporting.
unsafe fn message(cinfo: &mut ffi::jpeg_common_struct) -> String {
    let mut buffer = [0u8; 80]; // JMSG_LENGTH_MAX
    if let Some(format) = (*cinfo.err).format_message {
        // The binding declares the buffer `&[u8; 80]`, but libjpeg writes
        // into it: call it through the C signature, a mutable pointer.
        type Declared = unsafe extern "C-unwind" fn(&mut ffi::jpeg_common_struct, &[u8; 80]);
        type Format = unsafe extern "C-unwind" fn(&mut ffi::jpeg_common_struct, *mut u8);
        let format = std::mem::transmute::<Declared, Format>(format);
        format(cinfo, buffer.as_mut_ptr());
    }
    CStr::from_bytes_until_nul(&buffer)
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|_| format!("libjpeg error {}", (*cinfo.err).msg_code))
}

/// libjpeg's fatal errors: unwind to [`decode`] with the message.
unsafe extern "C-unwind" fn error_exit(cinfo: &mut ffi::jpeg_common_struct) {
    let code = (*cinfo.err).msg_code;
    let text = message(cinfo);
    let failure = if code == ffi::JERR_NO_BACKING_STORE || code == ffi::JERR_OUT_OF_MEMORY {
        JpegFailure::TooLarge(format!("libjpeg: {text}"))
    } else {
        JpegFailure::Corrupt(format!("libjpeg: {text}"))
    };
    resume_unwind(Box::new(failure));
}

/// libjpeg's warnings (level −1) and trace messages (0 and up). Warnings are
/// counted, as libjpeg's default does, except running out of data, which
/// Pillow treats as a truncated file.
unsafe extern "C-unwind" fn emit_message(cinfo: &mut ffi::jpeg_common_struct, level: c_int) {
    if level >= 0 {
        return;
    }
    if (*cinfo.err).msg_code == ffi::JWRN_JPEG_EOF {
        let text = message(cinfo);
        resume_unwind(Box::new(JpegFailure::Truncated(format!("libjpeg: {text}"))));
    }
    (*cinfo.err).num_warnings += 1;
}

/// The library never prints.
unsafe extern "C-unwind" fn output_message(_cinfo: &mut ffi::jpeg_common_struct) {}

/// Called as libjpeg reads the data: refuses a file with too many scans.
unsafe extern "C-unwind" fn progress_monitor(cinfo: &mut ffi::jpeg_common_struct) {
    if cinfo.is_decompressor == 0 {
        return;
    }
    // SAFETY: a decompressor's common fields are the first member of its
    // `jpeg_decompress_struct`, and libjpeg passes the whole object.
    let scans = (*(cinfo as *mut ffi::jpeg_common_struct).cast::<ffi::jpeg_decompress_struct>())
        .input_scan_number;
    if scans > MAX_SCANS {
        resume_unwind(Box::new(JpegFailure::Corrupt(format!(
            "the JPEG has more than {MAX_SCANS} scans, which no encoder writes"
        ))));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use image::codecs::jpeg::JpegEncoder;
    use image::{ExtendedColorType, ImageEncoder};

    /// A 48×40 photo-like JPEG from the `image` crate's encoder, with EXIF
    /// orientation `orientation` when given.
    fn jpeg(orientation: Option<u16>) -> Vec<u8> {
        let (w, h) = (48u32, 40u32);
        let pixels: Vec<u8> = (0..w * h)
            .flat_map(|i| {
                let (x, y) = (i % w, i / w);
                [(x * 5) as u8, (y * 6) as u8, ((x * y) % 251) as u8]
            })
            .collect();
        let mut out = Vec::new();
        let mut encoder = JpegEncoder::new_with_quality(&mut out, 90);
        if let Some(o) = orientation {
            // A little-endian TIFF block with one Orientation entry.
            let mut exif = b"II*\0\x08\0\0\0\x01\0\x12\x01\x03\0\x01\0\0\0".to_vec();
            exif.extend_from_slice(&o.to_le_bytes());
            exif.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
            encoder.set_exif_metadata(exif).expect("EXIF");
        }
        encoder
            .write_image(&pixels, w, h, ExtendedColorType::Rgb8)
            .expect("encodes");
        out
    }

    #[test]
    fn the_header_gives_the_frame_and_the_exif_orientation() {
        let header = read_header(&jpeg(Some(6))).expect("header");
        assert_eq!(
            header,
            JpegHeader {
                width: 48,
                height: 40,
                components: 3,
                progressive: false,
                orientation: Orientation::Rotate90,
            }
        );
        let header = read_header(&jpeg(None)).expect("header");
        assert_eq!(header.orientation, Orientation::NoTransforms);
    }

    #[test]
    fn what_pillow_refuses_is_refused_from_the_header() {
        let bytes = jpeg(None);
        let sof = bytes.windows(2).position(|w| w == [0xff, 0xc0]).unwrap();
        let mut twelve = bytes.clone();
        twelve[sof + 4] = 12;
        assert!(read_header(&twelve).unwrap_err().contains("12-bit samples"));
        let mut two = bytes.clone();
        two[sof + 9] = 2;
        assert!(read_header(&two)
            .unwrap_err()
            .contains("2 colour components"));
        let mut empty = bytes;
        empty[sof + 5..sof + 7].copy_from_slice(&[0, 0]);
        assert!(read_header(&empty).unwrap_err().contains("48×0"));
    }

    /// libjpeg only warns when the data runs out (and invents the rest);
    /// Pillow calls such a file truncated, and so do we, even when the
    /// marker walk in `decode.rs` is not there to catch it first.
    #[test]
    fn running_out_of_data_is_truncation_not_a_grey_image() {
        let bytes = jpeg(None);
        let header = read_header(&bytes).unwrap();
        let whole = decode(&bytes, &header, 1 << 30, 1).expect("decodes");
        assert_eq!((whole.width(), whole.height()), (48, 40));
        for cut in [bytes.len() - 2, bytes.len() / 2, bytes.len() - 40] {
            match decode(&bytes[..cut], &header, 1 << 30, 1) {
                Err(JpegFailure::Truncated(why)) => {
                    assert!(why.contains("Premature end of JPEG file"), "{why}")
                }
                other => panic!("cut at {cut}: {other:?}"),
            }
        }
    }

    #[test]
    fn cmyk_becomes_rgb_with_pillows_arithmetic() {
        // Stored (inverted) samples: 255 is no ink. White, full cyan, full
        // black, and a mixture whose value Pillow 13 gives as (102, 31, 125).
        let cmyk = [
            255, 255, 255, 255, 0, 255, 255, 255, 255, 255, 255, 0, 130, 40, 160, 200,
        ];
        let mut rgb = [0u8; 12];
        cmyk_to_rgb(&cmyk, &mut rgb);
        assert_eq!(rgb, [255, 255, 255, 0, 255, 255, 0, 0, 0, 102, 31, 125]);
    }
}
