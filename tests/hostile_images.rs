//! Hostile inputs for the two functions that open collection files,
//! `imaging::decode_file` and `scan::hash_file_bytes`.
//!
//! The corpus is made at test time: the fixture PNG and JPEG from
//! `tests/fixtures/images`, plus WebP (lossless), GIF, BMP and TIFF encodings
//! of the same picture made with the `image` crate, each cut to 2/3 and 1/3 of
//! its bytes, to its first 32 bytes and to nothing; the same cuts of three
//! small encodings only Pillow writes (a progressive JPEG, a lossy WebP, an
//! LZW TIFF: `tests/fixtures/hostile/make_hostile.py`, the only binary files
//! committed); format-specific damage (a flipped byte inside a PNG `IDAT`, a
//! wrong `IDAT` CRC, a PNG without `IEND`, a chunk cut after the image data, a
//! JPEG without its end-of-image marker or with garbage after it, a JPEG
//! whose comment holds `FF D9`, damaged scan data, an unknown marker, a GIF
//! without its trailer or with short LZW data, WebP chunks longer than the
//! file or the RIFF data, a TIFF whose pixels are cut); pixel bombs; and the
//! special files a collection folder can hold by accident or malice (a FIFO,
//! a socket, a directory, symlinks to `/dev/zero` and `/dev/urandom`, a
//! symlink loop, a dangling symlink), all with image names.
//!
//! Every case runs on its own thread under a deadline, so a decoder that
//! hangs (or a FIFO that blocks `open`) fails the test instead of blocking
//! CI; a panic is caught and reported too. The broken-file expectations
//! follow Pillow 13 (`Image.open(p).convert("RGB")` with the default
//! `LOAD_TRUNCATED_IMAGES = False`); see `src/imaging/decode.rs` for what is
//! refused and the one place we are stricter. To check them against Pillow,
//! run the tests with `ARTLENS_HOSTILE_DUMP=DIR` (the byte cases are written
//! there) and then `python tests/fixtures/hostile/check_with_pillow.py DIR`.

use crate::common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Cursor;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use artlens::imaging::{decode_file, DecodeLimits};
use artlens::scan::hash_file_bytes;
use artlens::Error;
use image::{DynamicImage, ExtendedColorType, ImageDecoder, ImageEncoder, ImageReader, RgbImage};

// ---------------------------------------------------------------------------
// The largest single allocation made on the current thread, so the pixel
// bomb tests can show that nothing the size of the declared image was ever
// requested. Const-initialised thread-locals of a `Cell` need no allocation
// and no destructor, so the allocator can use one safely.

struct LargestAllocation;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
    /// Allocations larger than this fail on this thread (the process then
    /// aborts with "memory allocation of N bytes failed", as it would on a
    /// machine without the memory), so that a test of a memory bound never
    /// actually takes gigabytes from the machine running it.
    static CAP: Cell<usize> = const { Cell::new(usize::MAX) };
}

fn over_cap(size: usize) -> bool {
    CAP.try_with(|cap| size > cap.get()).unwrap_or(false)
}

fn note_allocation(size: usize) {
    let _ = LARGEST.try_with(|largest| {
        if size > largest.get() {
            largest.set(size);
        }
    });
}

// SAFETY: every call is forwarded unchanged to the system allocator, or
// refused with a null pointer (which `GlobalAlloc` allows) when it is over a
// cap a test set; the wrapper only records sizes in thread-local `Cell`s.
unsafe impl GlobalAlloc for LargestAllocation {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation(layout.size());
        if over_cap(layout.size()) {
            return std::ptr::null_mut();
        }
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation(layout.size());
        if over_cap(layout.size()) {
            return std::ptr::null_mut();
        }
        System.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation(new_size);
        if over_cap(new_size) {
            return std::ptr::null_mut();
        }
        System.realloc(ptr, layout, new_size)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static ALLOCATOR: LargestAllocation = LargestAllocation;

// ---------------------------------------------------------------------------
// Running one case under a deadline.

/// How long one case may take. Generous for a loaded two-core CI machine;
/// the real costs are milliseconds.
const DEADLINE: Duration = Duration::from_secs(10);

/// What a call did.
#[derive(Debug)]
enum Outcome<T> {
    Returned(T),
    Panicked(String),
    /// Still running at the deadline; the thread is abandoned.
    Hung,
}

/// What ran, how long it took and the largest allocation it made.
struct Timed<T> {
    outcome: Outcome<T>,
    elapsed: Duration,
    largest_alloc: usize,
}

/// Runs `f` on a fresh thread and waits at most [`DEADLINE`] for it.
fn under_deadline<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Timed<T> {
    let (tx, rx) = mpsc::channel();
    let start = Instant::now();
    std::thread::spawn(move || {
        LARGEST.with(|l| l.set(0));
        let result = catch_unwind(AssertUnwindSafe(f));
        let largest = LARGEST.with(|l| l.get());
        let _ = tx.send((result, largest));
    });
    match rx.recv_timeout(DEADLINE) {
        Ok((Ok(value), largest_alloc)) => Timed {
            outcome: Outcome::Returned(value),
            elapsed: start.elapsed(),
            largest_alloc,
        },
        Ok((Err(payload), largest_alloc)) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            Timed {
                outcome: Outcome::Panicked(message),
                elapsed: start.elapsed(),
                largest_alloc,
            }
        }
        Err(_) => Timed {
            outcome: Outcome::Hung,
            elapsed: start.elapsed(),
            largest_alloc: 0,
        },
    }
}

/// `decode_file` with the default limits under the deadline; `Ok` carries
/// the decoded size.
fn try_decode(path: &Path) -> Timed<Result<(u32, u32), Error>> {
    let path = path.to_path_buf();
    under_deadline(move || decode_file(&path, &DecodeLimits::default()).map(|img| img.dimensions()))
}

fn try_hash(path: &Path) -> Timed<std::io::Result<(String, u64)>> {
    let path = path.to_path_buf();
    under_deadline(move || hash_file_bytes(&path))
}

/// One line describing a decode outcome, for the failure tables.
fn describe_decode(timed: &Timed<Result<(u32, u32), Error>>) -> String {
    match &timed.outcome {
        Outcome::Returned(Ok((w, h))) => format!("decoded {w}×{h}"),
        Outcome::Returned(Err(e)) => format!("{}: {e}", variant(e)),
        Outcome::Panicked(m) => format!("PANICKED: {m}"),
        Outcome::Hung => format!("HUNG (still running after {DEADLINE:?})"),
    }
}

fn variant(e: &Error) -> &'static str {
    match e {
        Error::Decode { .. } => "Decode",
        Error::ImageTooLarge { .. } => "ImageTooLarge",
        Error::Io { .. } => "Io",
        _ => "other",
    }
}

// ---------------------------------------------------------------------------
// Building the corpus.

fn fixture_bytes(name: &str) -> Vec<u8> {
    let path = common::fixtures().join("images").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The picture the encoded formats share: the landscape fixture as RGB.
fn landscape_rgb() -> RgbImage {
    let path = common::fixtures().join("images/landscape.png");
    image::open(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .to_rgb8()
}

fn encode_webp_lossless(img: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::webp::WebPEncoder::new_lossless(&mut out)
        .write_image(
            img.as_raw(),
            img.width(),
            img.height(),
            ExtendedColorType::Rgb8,
        )
        .expect("encodes WebP");
    out
}

fn encode_gif(img: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    {
        // The trailer is written when the encoder is dropped.
        let mut encoder = image::codecs::gif::GifEncoder::new_with_speed(&mut out, 30);
        encoder
            .encode(
                img.as_raw(),
                img.width(),
                img.height(),
                ExtendedColorType::Rgb8,
            )
            .expect("encodes GIF");
    }
    out
}

fn encode_bmp(img: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::bmp::BmpEncoder::new(&mut out)
        .write_image(
            img.as_raw(),
            img.width(),
            img.height(),
            ExtendedColorType::Rgb8,
        )
        .expect("encodes BMP");
    out
}

fn encode_tiff(img: &RgbImage) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    image::codecs::tiff::TiffEncoder::new(&mut out)
        .write_image(
            img.as_raw(),
            img.width(),
            img.height(),
            ExtendedColorType::Rgb8,
        )
        .expect("encodes TIFF");
    out.into_inner()
}

/// The intact file of each format, with the extension it is saved under.
fn intact_files() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let rgb = landscape_rgb();
    vec![
        ("png", "png", fixture_bytes("landscape.png")),
        ("jpeg", "jpg", fixture_bytes("photo.jpg")),
        ("webp", "webp", encode_webp_lossless(&rgb)),
        ("gif", "gif", encode_gif(&rgb)),
        ("bmp", "bmp", encode_bmp(&rgb)),
        ("tiff", "tif", encode_tiff(&rgb)),
    ]
}

/// The byte ranges of a PNG's chunks: (type, start of the length field,
/// start of the data, data length).
fn png_chunks(png: &[u8]) -> Vec<([u8; 4], usize, usize, usize)> {
    let mut chunks = Vec::new();
    let mut at = 8;
    while at + 8 <= png.len() {
        let len = u32::from_be_bytes(png[at..at + 4].try_into().unwrap()) as usize;
        let kind: [u8; 4] = png[at + 4..at + 8].try_into().unwrap();
        chunks.push((kind, at, at + 8, len));
        at += 12 + len;
    }
    chunks
}

/// A PNG chunk with its CRC.
fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut out = (data.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[4..]);
    out.extend_from_slice(&crc.to_be_bytes());
    out
}

/// CRC-32 (ISO-HDLC, as PNG uses), bit by bit: the inputs are tiny.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Deterministic filler bytes (xorshift), so failures reproduce.
fn pseudo_random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// What a byte case must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Decode to an image (Pillow opens it).
    Decodes,
    /// `Error::Decode` whose reason says the file is truncated or corrupt
    /// (Pillow raises).
    Broken,
    /// `Error::Decode` saying the file is empty.
    Empty,
    /// Like `Broken`, but Pillow opens the file: the one deliberate
    /// deviation (see `src/imaging/decode.rs`).
    BrokenThoughPillowOpens,
}

struct ByteCase {
    file_name: String,
    bytes: Vec<u8>,
    expect: Expect,
}

#[derive(Default)]
struct Corpus(Vec<ByteCase>);

impl Corpus {
    fn add(&mut self, file_name: impl Into<String>, bytes: Vec<u8>, expect: Expect) {
        self.0.push(ByteCase {
            file_name: file_name.into(),
            bytes,
            expect,
        });
    }

    /// The intact file, cut to 2/3 and 1/3 of its bytes.
    fn add_cuts(&mut self, stem: &str, ext: &str, bytes: &[u8]) {
        let n = bytes.len();
        self.add(
            format!("{stem}_intact.{ext}"),
            bytes.to_vec(),
            Expect::Decodes,
        );
        self.add(
            format!("{stem}_cut_at_two_thirds.{ext}"),
            bytes[..n * 2 / 3].to_vec(),
            Expect::Broken,
        );
        self.add(
            format!("{stem}_cut_at_one_third.{ext}"),
            bytes[..n / 3].to_vec(),
            Expect::Broken,
        );
    }
}

/// A seed file written by `tests/fixtures/hostile/make_hostile.py`.
fn hostile_seed(name: &str) -> Vec<u8> {
    let path = common::fixtures().join("hostile").join(name);
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run `python tests/fixtures/hostile/make_hostile.py`)",
            path.display()
        )
    })
}

/// The blocks of a GIF up to its trailer: for each image, (offset of its
/// descriptor, offset of its first LZW data sub-block, just past the LZW
/// minimum code size, and offset just past the sub-blocks' terminator).
fn gif_images(gif: &[u8]) -> Vec<(usize, usize, usize)> {
    let table = |flags: u8| {
        if flags & 0x80 != 0 {
            3 << ((flags & 7) + 1)
        } else {
            0
        }
    };
    let sub_blocks_end = |mut at: usize| {
        while gif[at] != 0 {
            at += 1 + gif[at] as usize;
        }
        at + 1
    };
    let mut images = Vec::new();
    let mut at = 13 + table(gif[10]);
    loop {
        match gif[at] {
            0x21 => at = sub_blocks_end(at + 2),
            0x2c => {
                let data = at + 10 + table(gif[at + 9]) + 1;
                let end = sub_blocks_end(data);
                images.push((at, data, end));
                at = end;
            }
            0x3b => return images,
            other => panic!("unexpected GIF block {other:#x} at {at}"),
        }
    }
}

/// An 8-bit grey baseline TIFF laid out header, IFD, pixels (the `image`
/// crate and libtiff put the IFD last, so cutting their files loses the IFD,
/// not pixels).
fn tiff_ifd_first(width: u16, height: u16) -> Vec<u8> {
    let entries: [(u16, u16, u32); 9] = [
        (256, 3, u32::from(width)),                     // ImageWidth
        (257, 3, u32::from(height)),                    // ImageLength
        (258, 3, 8),                                    // BitsPerSample
        (259, 3, 1),                                    // Compression: none
        (262, 3, 1),                                    // PhotometricInterpretation: BlackIsZero
        (273, 4, 0),                                    // StripOffsets, patched below
        (277, 3, 1),                                    // SamplesPerPixel
        (278, 3, u32::from(height)),                    // RowsPerStrip
        (279, 4, u32::from(width) * u32::from(height)), // StripByteCounts
    ];
    let data_offset = 8 + 2 + entries.len() as u32 * 12 + 4;
    let mut tiff = b"II*\0".to_vec();
    tiff.extend_from_slice(&8u32.to_le_bytes());
    tiff.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    for (tag, kind, value) in entries {
        let value = if tag == 273 { data_offset } else { value };
        tiff.extend_from_slice(&tag.to_le_bytes());
        tiff.extend_from_slice(&kind.to_le_bytes());
        tiff.extend_from_slice(&1u32.to_le_bytes());
        if kind == 3 {
            tiff.extend_from_slice(&(value as u16).to_le_bytes());
            tiff.extend_from_slice(&[0, 0]);
        } else {
            tiff.extend_from_slice(&value.to_le_bytes());
        }
    }
    tiff.extend_from_slice(&0u32.to_le_bytes()); // no next IFD
    let pixels = usize::from(width) * usize::from(height);
    tiff.extend((0..pixels).map(|i| (i * 7 % 251) as u8));
    tiff
}

fn byte_cases() -> Vec<ByteCase> {
    let mut corpus = Corpus::default();
    for (format, ext, bytes) in intact_files() {
        corpus.add_cuts(format, ext, &bytes);
        corpus.add(
            format!("{format}_header_only.{ext}"),
            bytes[..32].to_vec(),
            Expect::Broken,
        );
        corpus.add(
            format!("{format}_zero_bytes.{ext}"),
            Vec::new(),
            Expect::Empty,
        );
    }
    // Encodings only Pillow writes.
    corpus.add_cuts("jpeg_progressive", "jpg", &hostile_seed("progressive.jpg"));
    corpus.add_cuts("webp_lossy", "webp", &hostile_seed("lossy.webp"));
    corpus.add_cuts("tiff_lzw", "tif", &hostile_seed("lzw.tif"));

    // PNG. The fixture holds IHDR, three IDATs and IEND.
    let png = fixture_bytes("landscape.png");
    let chunks = png_chunks(&png);
    let idats: Vec<_> = chunks.iter().filter(|c| &c.0 == b"IDAT").collect();
    assert!(idats.len() >= 2, "the fixture has several IDAT chunks");
    let iend = chunks.iter().find(|c| &c.0 == b"IEND").expect("an IEND").1;
    // One flipped byte in the middle of the first IDAT's data: the chunk's
    // CRC no longer matches, and the zlib stream is damaged.
    let mut flipped = png.clone();
    flipped[idats[0].2 + idats[0].3 / 2] ^= 0xff;
    corpus.add("png_idat_byte_flipped.png", flipped, Expect::Broken);
    // Only the CRC of the first IDAT wrong, the data intact. Pillow never
    // checks IDAT CRCs and decodes it; we refuse it with the png crate.
    let mut crc = png.clone();
    crc[idats[0].2 + idats[0].3] ^= 0x01;
    corpus.add(
        "png_idat_crc_wrong.png",
        crc,
        Expect::BrokenThoughPillowOpens,
    );
    // Cut cleanly after the first IDAT chunk: every chunk present is
    // complete, but the image data is not.
    corpus.add(
        "png_cut_after_first_idat.png",
        png[..idats[1].1].to_vec(),
        Expect::Broken,
    );
    // The image data complete, only the IEND chunk missing: Pillow opens it
    // (it stops reading once the pixels are complete), with or without a
    // few bytes too short for another chunk header.
    corpus.add(
        "png_without_iend.png",
        png[..iend].to_vec(),
        Expect::Decodes,
    );
    let mut stub = png[..iend].to_vec();
    stub.extend_from_slice(&[0, 0, 0]);
    corpus.add("png_without_iend_3_stray_bytes.png", stub, Expect::Decodes);
    // A text chunk after the image data, then cut inside that chunk: Pillow
    // reads the chunks after IDAT and refuses the cut one.
    let mut text = png[..iend].to_vec();
    text.extend(png_chunk(b"tEXt", b"Comment\0a comment after the pixels"));
    text.extend_from_slice(&png[iend..]);
    corpus.add("png_text_after_idat.png", text.clone(), Expect::Decodes);
    corpus.add(
        "png_text_after_idat_cut.png",
        text[..iend + 20].to_vec(),
        Expect::Broken,
    );

    // JPEG: garbage after the end-of-image marker is ignored by Pillow.
    let jpeg = fixture_bytes("photo.jpg");
    assert_eq!(
        &jpeg[jpeg.len() - 2..],
        &[0xff, 0xd9],
        "photo.jpg ends in EOI"
    );
    let mut trailing = jpeg.clone();
    trailing.extend(pseudo_random_bytes(4096, 7));
    corpus.add("jpeg_garbage_after_eoi.jpg", trailing, Expect::Decodes);
    // Damaged entropy-coded data in a complete file: libjpeg only warns and
    // Pillow decodes it (into wrong pixels), so must we. No byte after an
    // 0xFF is touched and no 0xFF is written, so no marker appears.
    let sos = jpeg
        .windows(2)
        .rposition(|w| w == [0xff, 0xda])
        .expect("a scan");
    let middle = (sos + jpeg.len()) / 2;
    let mut damaged = jpeg.clone();
    for (i, b) in pseudo_random_bytes(64, 5).into_iter().enumerate() {
        if damaged[middle + i - 1] != 0xff {
            damaged[middle + i] = b.min(0xfe);
        }
    }
    corpus.add("jpeg_scan_data_damaged.jpg", damaged, Expect::Decodes);
    // A marker libjpeg does not know inside the scan: it stops with
    // "Unsupported marker type" and Pillow raises "broken data stream".
    let mut unknown = jpeg.clone();
    let at = (middle..).find(|&i| unknown[i - 1] != 0xff).unwrap();
    unknown[at..at + 6].copy_from_slice(&[0xff, 0x42, 0x00, 0x04, 0x00, 0x00]);
    corpus.add("jpeg_unknown_marker_in_scan.jpg", unknown, Expect::Broken);
    // Every scan complete, only the EOI marker missing: Pillow refuses it
    // ("image file is truncated"), for a progressive file too.
    corpus.add(
        "jpeg_without_eoi.jpg",
        jpeg[..jpeg.len() - 2].to_vec(),
        Expect::Broken,
    );
    let progressive = hostile_seed("progressive.jpg");
    corpus.add(
        "jpeg_progressive_without_eoi.jpg",
        progressive[..progressive.len() - 2].to_vec(),
        Expect::Broken,
    );
    // A comment holding the bytes of an EOI marker, then a cut scan: a check
    // that looked for `FF D9` anywhere would accept it.
    let mut commented = jpeg[..2].to_vec();
    commented.extend_from_slice(&[0xff, 0xfe, 0x00, 0x06, 0xff, 0xd9, 0xff, 0xd9]);
    commented.extend_from_slice(&jpeg[2..]);
    corpus.add(
        "jpeg_eoi_bytes_in_a_comment.jpg",
        commented.clone(),
        Expect::Decodes,
    );
    corpus.add(
        "jpeg_eoi_bytes_in_a_comment_cut.jpg",
        commented[..commented.len() * 2 / 3].to_vec(),
        Expect::Broken,
    );

    // GIF.
    let rgb = landscape_rgb();
    let gif = encode_gif(&rgb);
    assert_eq!(gif.last(), Some(&0x3b), "a GIF ends in its trailer");
    // The frame complete, only the trailer byte missing: Pillow opens it.
    corpus.add(
        "gif_without_trailer.gif",
        gif[..gif.len() - 1].to_vec(),
        Expect::Decodes,
    );
    // The first frame's LZW data cut short but properly terminated: the
    // sub-block structure is intact, the pixels are not all there.
    let (_, data, _) = gif_images(&gif)[0];
    let mut short = gif[..data].to_vec();
    let mut at = data;
    for _ in 0..8 {
        let n = gif[at] as usize;
        short.extend_from_slice(&gif[at..at + 1 + n]);
        at += 1 + n;
    }
    short.extend_from_slice(&[0x00, 0x3b]);
    corpus.add("gif_lzw_data_cut_short.gif", short, Expect::Broken);
    // Two frames, the second cut: only the first is decoded, by Pillow and by
    // us, so the file opens.
    let mut two = Vec::new();
    {
        let mut encoder = image::codecs::gif::GifEncoder::new_with_speed(&mut two, 30);
        let rgba = DynamicImage::ImageRgb8(rgb.clone()).to_rgba8();
        let inverted = image::RgbaImage::from_fn(rgba.width(), rgba.height(), |x, y| {
            let p = rgba.get_pixel(x, y).0;
            image::Rgba([255 - p[0], 255 - p[1], 255 - p[2], 255])
        });
        encoder
            .encode_frames([image::Frame::new(rgba), image::Frame::new(inverted)])
            .expect("encodes GIF frames");
    }
    let images = gif_images(&two);
    assert_eq!(images.len(), 2);
    let cut = (images[1].1 + images[1].2) / 2;
    corpus.add(
        "gif_second_frame_cut.gif",
        two[..cut].to_vec(),
        Expect::Decodes,
    );

    // WebP: the image chunk claims more bytes than the file holds (the RIFF
    // header is adjusted to match, so only the chunk lies).
    let mut webp = encode_webp_lossless(&rgb);
    assert_eq!(&webp[12..16], b"VP8L", "a lossless WebP's first chunk");
    let chunk_len = u32::from_le_bytes(webp[16..20].try_into().unwrap());
    webp[16..20].copy_from_slice(&(chunk_len + 4096).to_le_bytes());
    let riff_len = u32::from_le_bytes(webp[4..8].try_into().unwrap());
    webp[4..8].copy_from_slice(&(riff_len + 4096).to_le_bytes());
    corpus.add("webp_chunk_longer_than_file.webp", webp, Expect::Broken);
    // The same lie inside an honest RIFF size: the chunk runs past the RIFF
    // payload.
    let mut webp = encode_webp_lossless(&rgb);
    webp[16..20].copy_from_slice(&(chunk_len + 4096).to_le_bytes());
    corpus.add("webp_chunk_longer_than_riff.webp", webp, Expect::Broken);

    // TIFF with its pixels after the IFD, so a cut loses pixels.
    let tiff = tiff_ifd_first(64, 48);
    corpus.add("tiff_ifd_first_intact.tif", tiff.clone(), Expect::Decodes);
    corpus.add(
        "tiff_ifd_first_pixels_cut.tif",
        tiff[..tiff.len() * 2 / 3].to_vec(),
        Expect::Broken,
    );

    corpus.0
}

/// With `ARTLENS_HOSTILE_DUMP=DIR`, writes the byte cases there (with
/// `expected.tsv`) for `tests/fixtures/hostile/check_with_pillow.py`.
fn dump_for_pillow(cases: &[ByteCase]) {
    let Some(dir) = std::env::var_os("ARTLENS_HOSTILE_DUMP") else {
        return;
    };
    let dir = PathBuf::from(dir);
    std::fs::create_dir_all(&dir).expect("dump dir");
    let mut expected = String::new();
    for case in cases {
        std::fs::write(dir.join(&case.file_name), &case.bytes).expect("dump");
        expected.push_str(&format!("{}\t{:?}\n", case.file_name, case.expect));
    }
    std::fs::write(dir.join("expected.tsv"), expected).expect("dump");
}

fn meets(expect: Expect, timed: &Timed<Result<(u32, u32), Error>>, file_name: &str) -> bool {
    let Outcome::Returned(result) = &timed.outcome else {
        return false;
    };
    match (expect, result) {
        (Expect::Decodes, Ok(_)) => true,
        (
            Expect::Broken | Expect::BrokenThoughPillowOpens,
            Err(e @ Error::Decode { reason, .. }),
        ) => {
            let reason = reason.to_lowercase();
            e.to_string().contains(file_name)
                && (reason.contains("truncated") || reason.contains("corrupt"))
        }
        (Expect::Empty, Err(e @ Error::Decode { reason, .. })) => {
            e.to_string().contains(file_name) && reason.contains("empty")
        }
        _ => false,
    }
}

#[test]
fn broken_files_in_every_format_are_refused_and_intact_ones_decode() {
    let cases = byte_cases();
    dump_for_pillow(&cases);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut table = Vec::new();
    let mut failures = Vec::new();
    for case in &cases {
        let path = dir.path().join(&case.file_name);
        std::fs::write(&path, &case.bytes).expect("write case");
        let timed = try_decode(&path);
        let line = format!(
            "{:<36} {:>7} B  expect {:<8} {:>6.0?}  {}",
            case.file_name,
            case.bytes.len(),
            format!("{:?}", case.expect),
            timed.elapsed,
            describe_decode(&timed)
        );
        if !meets(case.expect, &timed, &case.file_name) {
            failures.push(line.clone());
        }
        table.push(line);
    }
    eprintln!("{}", table.join("\n"));
    assert!(
        failures.is_empty(),
        "{} of {} cases did not behave as Pillow does:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn jpeg_with_garbage_after_eoi_decodes_to_the_same_pixels() {
    let dir = tempfile::tempdir().expect("temp dir");
    let jpeg = fixture_bytes("photo.jpg");
    let mut trailing = jpeg.clone();
    trailing.extend(pseudo_random_bytes(4096, 11));
    // Trailing bytes that look like more JPEG must not matter either.
    trailing.extend_from_slice(&[0xff, 0xd8, 0xff, 0xda, 0x00, 0x02, 0xff, 0xd9, 0x00]);
    let clean = dir.path().join("clean.jpg");
    let dirty = dir.path().join("trailing.jpg");
    std::fs::write(&clean, &jpeg).unwrap();
    std::fs::write(&dirty, &trailing).unwrap();
    let limits = DecodeLimits::default();
    let a = decode_file(&clean, &limits).expect("the fixture decodes");
    let b = decode_file(&dirty, &limits).expect("trailing garbage after EOI is accepted");
    assert_eq!(a.dimensions(), b.dimensions());
    assert!(a.as_raw() == b.as_raw(), "the pixels differ");
}

/// A PNG whose header declares `width`×`height`, with one tiny IDAT.
fn png_bomb(width: u32, height: u32) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB, no interlace
    png.extend(png_chunk(b"IHDR", &ihdr));
    // A zlib stream of one empty stored block: far too little data.
    png.extend(png_chunk(
        b"IDAT",
        &[0x78, 0x01, 0x01, 0x00, 0x00, 0xff, 0xff],
    ));
    png.extend(png_chunk(b"IEND", &[]));
    png
}

/// A GIF whose screen and one frame declare `width`×`height`.
fn gif_bomb(width: u16, height: u16) -> Vec<u8> {
    let mut gif = b"GIF89a".to_vec();
    gif.extend_from_slice(&width.to_le_bytes());
    gif.extend_from_slice(&height.to_le_bytes());
    gif.extend_from_slice(&[0x80, 0, 0]); // global colour table of 2 entries
    gif.extend_from_slice(&[0, 0, 0, 255, 255, 255]);
    gif.push(0x2c); // image descriptor
    gif.extend_from_slice(&[0, 0, 0, 0]);
    gif.extend_from_slice(&width.to_le_bytes());
    gif.extend_from_slice(&height.to_le_bytes());
    gif.push(0);
    gif.extend_from_slice(&[2, 2, 0x4c, 0x01, 0]); // LZW: clear, 0, end
    gif.push(0x3b);
    gif
}

#[test]
fn pixel_bombs_are_refused_fast_without_allocating_their_size() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bombs = [
        ("bomb_100000x100000.png", png_bomb(100_000, 100_000)),
        ("bomb_65535x65535.gif", gif_bomb(65_535, 65_535)),
        // Within the side limits but far over the pixel budget.
        ("bomb_60000x60000.png", png_bomb(60_000, 60_000)),
    ];
    let mut failures = Vec::new();
    for (name, bytes) in bombs {
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        let timed = try_decode(&path);
        let refused = matches!(
            &timed.outcome,
            Outcome::Returned(Err(e @ (Error::ImageTooLarge { .. } | Error::Decode { .. })))
                if e.to_string().contains(name)
        );
        let line = format!(
            "{name}: {} in {:?}, largest allocation {} bytes",
            describe_decode(&timed),
            timed.elapsed,
            timed.largest_alloc
        );
        eprintln!("{line}");
        // 64 MiB: a few working buffers, nowhere near the gigabytes declared.
        if !refused || timed.elapsed > Duration::from_secs(5) || timed.largest_alloc > 64 << 20 {
            failures.push(line);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The special files, each named like an image.
fn special_files(dir: &Path) -> Vec<(PathBuf, &'static str)> {
    use std::os::unix::fs::symlink;
    let mut files = Vec::new();

    let fifo = dir.join("fifo.png");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(status.success(), "mkfifo failed");
    files.push((fifo, "not a regular file (a FIFO"));

    let socket = dir.join("socket.png");
    // Kept bound for the whole test by leaking the listener.
    std::mem::forget(std::os::unix::net::UnixListener::bind(&socket).expect("bind a socket"));
    files.push((socket, "not a regular file (a socket"));

    let directory = dir.join("folder.png");
    std::fs::create_dir(&directory).unwrap();
    files.push((directory, "not a regular file (a directory"));

    for (name, target) in [("zero.png", "/dev/zero"), ("urandom.jpg", "/dev/urandom")] {
        let link = dir.join(name);
        symlink(target, &link).unwrap();
        files.push((link, "not a regular file (a character device"));
    }

    let (a, b) = (dir.join("loop_a.png"), dir.join("loop_b.png"));
    symlink(&b, &a).unwrap();
    symlink(&a, &b).unwrap();
    files.push((a, "symbolic links"));

    let dangling = dir.join("dangling.png");
    symlink(dir.join("no such file.png"), &dangling).unwrap();
    files.push((dangling, "No such file"));

    files
}

#[test]
fn special_files_are_refused_by_decode_and_hash_without_hanging() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut failures = Vec::new();
    for (path, needle) in special_files(dir.path()) {
        let name = path.display().to_string();

        let timed = try_decode(&path);
        let line = format!(
            "decode_file({name}): {} in {:?}",
            describe_decode(&timed),
            timed.elapsed
        );
        eprintln!("{line}");
        let ok = matches!(
            &timed.outcome,
            Outcome::Returned(Err(e)) if e.to_string().contains(&name) && e.to_string().contains(needle)
        );
        if !ok {
            failures.push(format!(
                "{line}\n    (wanted an error naming the path and saying `{needle}`)"
            ));
        }

        let timed = try_hash(&path);
        let described = match &timed.outcome {
            Outcome::Returned(Ok((hash, size))) => format!("hashed {size} bytes: {hash}"),
            Outcome::Returned(Err(e)) => format!("error: {e}"),
            Outcome::Panicked(m) => format!("PANICKED: {m}"),
            Outcome::Hung => format!("HUNG (still running after {DEADLINE:?})"),
        };
        let line = format!(
            "hash_file_bytes({name}): {described} in {:?}",
            timed.elapsed
        );
        eprintln!("{line}");
        let ok = matches!(
            &timed.outcome,
            Outcome::Returned(Err(e)) if e.to_string().contains(needle)
        );
        if !ok {
            failures.push(format!("{line}\n    (wanted an error saying `{needle}`)"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn hash_file_bytes_of_a_regular_file_is_the_blake3_of_its_bytes() {
    let dir = tempfile::tempdir().expect("temp dir");
    for size in [0usize, 1, 256 * 1024, 256 * 1024 + 1, 1_000_003] {
        let bytes = pseudo_random_bytes(size, size as u64 + 3);
        let path = dir.path().join(format!("{size}.png"));
        std::fs::write(&path, &bytes).unwrap();
        let (hash, n) = hash_file_bytes(&path).expect("hashes");
        assert_eq!(n, size as u64);
        assert_eq!(hash, blake3::hash(&bytes).to_hex().to_string());
        // Through a symlink too: the link is followed to a regular file.
        let link = dir.path().join(format!("link to {size}.png"));
        std::os::unix::fs::symlink(&path, &link).unwrap();
        assert_eq!(hash_file_bytes(&link).expect("hashes").0, hash);
    }
}

/// The plain `image` crate's decode with the EXIF orientation applied, as
/// RGB: what `decode_file` has always returned for 8-bit files.
fn plain_image_decode(path: &Path) -> RgbImage {
    let reader = ImageReader::open(path)
        .and_then(|r| r.with_guessed_format())
        .expect("opens");
    let mut decoder = reader.into_decoder().expect("decoder");
    let orientation = decoder.orientation().expect("orientation");
    let mut img = DynamicImage::from_decoder(decoder).expect("decodes");
    img.apply_orientation(orientation);
    img.to_rgb8()
}

#[test]
fn every_intact_fixture_decodes_to_the_same_pixels_as_before() {
    let dir = common::fixtures().join("images");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("fixture images")
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    assert!(
        names.len() >= 10,
        "expected the fixture images in {}",
        dir.display()
    );
    let limits = DecodeLimits::default();
    for path in names {
        let ours = decode_file(&path, &limits)
            .unwrap_or_else(|e| panic!("an intact fixture is refused: {e}"));
        if path.extension().is_some_and(|e| e == "jpg") {
            // JPEG is decoded by libjpeg-turbo as Pillow decodes it, not by
            // the `image` crate: tests/jpeg_parity.rs and imaging_parity.rs
            // compare those bytes with Pillow's.
            continue;
        }
        let plain = plain_image_decode(&path);
        assert_eq!(ours.dimensions(), plain.dimensions(), "{}", path.display());
        assert_eq!(
            blake3::hash(ours.as_raw()),
            blake3::hash(plain.as_raw()),
            "{}: the decoded pixels changed",
            path.display()
        );
    }
}

// ---------------------------------------------------------------------------
// Hostile aspect ratios: a 143-byte 65535×1 PNG asked DINOv2's short-side
// resize for a 33,947,130×518 image (52,753,840,020 bytes) before its
// 518×518 center crop, and the process aborted; a 1×5000 PNG cost 4 GB.

/// An 8-bit RGB PNG of `width`×`height` pixels in stripes: a few hundred
/// bytes.
fn strip_png(width: u32, height: u32) -> Vec<u8> {
    let img = RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 7 * 30) as u8, (y % 5 * 50) as u8, 128])
    });
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(img.as_raw(), width, height, ExtendedColorType::Rgb8)
        .expect("encode a strip");
    out
}

const STRIPS: [(u32, u32); 3] = [(65_535, 1), (1, 65_535), (1, 5_000)];

/// What preprocessing one image may allocate at once: the largest model
/// input (518×518 RGB as f32 is 3.2 MB) with room for the resampler's
/// buffers, nowhere near the gigabytes a whole short-side resize needs.
const PREPROCESS_MEMORY_BOUND: usize = 64 << 20;

/// One tiny random checkpoint of each family (`tests/fixtures/zoo`), and
/// the hub id it stands for: DINO squashes to a square; DINOv2, DINOv3,
/// CLIP and SigLIP resize the shorter side and crop the centre.
const FAMILIES: [(&str, &str); 5] = [
    ("dino_s8", "facebook/dino-vits8"),
    ("dinov2_reg4", "timm/vit_small_patch14_reg4_dinov2.lvd142m"),
    ("dinov3_b", "timm/vit_base_patch16_dinov3.lvd1689m"),
    ("clip_b16", "timm/vit_base_patch16_clip_224.openai"),
    ("siglip_b16", "timm/vit_base_patch16_siglip_224.webli"),
];

#[test]
fn extreme_aspect_ratios_are_embedded_by_every_family_within_a_memory_bound() {
    use artlens::model::{load_backbone, BackboneId, BackboneOptions, WeightsSource};
    use std::sync::Arc;

    let dir = tempfile::tempdir().expect("temp dir");
    for (w, h) in STRIPS {
        std::fs::write(
            dir.path().join(format!("strip_{w}x{h}.png")),
            strip_png(w, h),
        )
        .unwrap();
    }
    let mut failures = Vec::new();
    for (case, hub_id) in FAMILIES {
        let id = BackboneId::parse(hub_id).unwrap();
        let source = WeightsSource::Dir(common::fixtures().join("zoo").join(case));
        let backbone = Arc::new(
            load_backbone(&id, &source, &BackboneOptions::default())
                .unwrap_or_else(|e| panic!("loading zoo/{case}: {e}"))
                .0,
        );
        let (out_h, out_w) = backbone.preprocess().output_size();
        for (w, h) in STRIPS {
            let path = dir.path().join(format!("strip_{w}x{h}.png"));
            let model = backbone.clone();
            let timed = under_deadline(move || {
                let img = decode_file(&path, &DecodeLimits::default()).expect("a valid PNG");
                // Only preprocessing is held to the bound: the model's own
                // buffers are another matter.
                LARGEST.with(|l| l.set(0));
                CAP.with(|c| c.set(PREPROCESS_MEMORY_BOUND));
                let pixels = model.preprocess().apply(&img);
                CAP.with(|c| c.set(usize::MAX));
                let largest = LARGEST.with(|l| l.get());
                let embedded = model.embed_images(&[&img]).map(|mut v| v.remove(0));
                (pixels.len(), largest, embedded)
            });
            let line = match &timed.outcome {
                Outcome::Returned((len, largest, Ok(v)))
                    if *len == 3 * out_h * out_w
                        && *largest <= PREPROCESS_MEMORY_BOUND
                        && !v.is_empty()
                        && v.iter().all(|x| x.is_finite())
                        && timed.elapsed < DEADLINE =>
                {
                    eprintln!(
                        "{case} {w}x{h}: embedded in {:?}, largest preprocessing allocation {largest} bytes",
                        timed.elapsed
                    );
                    continue;
                }
                Outcome::Returned((len, largest, embedded)) => format!(
                    "{case} {w}x{h}: {len} input values (want {}), largest allocation {largest} bytes, {:?}",
                    3 * out_h * out_w,
                    embedded.as_ref().map(Vec::len)
                ),
                Outcome::Panicked(m) => format!("{case} {w}x{h}: PANICKED: {m}"),
                Outcome::Hung => format!("{case} {w}x{h}: HUNG after {DEADLINE:?}"),
            };
            failures.push(line);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn index_of_a_folder_with_extreme_aspect_ratios_stores_every_image() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let collection = tmp.path().join("collection");
    std::fs::create_dir_all(&collection).unwrap();
    for (w, h) in STRIPS {
        std::fs::write(
            collection.join(format!("strip_{w}x{h}.png")),
            strip_png(w, h),
        )
        .unwrap();
    }
    std::fs::write(
        collection.join("normal.png"),
        fixture_bytes("landscape.png"),
    )
    .unwrap();
    let store = tmp.path().join("store");
    let cmd = |args: &[&str]| {
        let mut c = common::artlens();
        c.args(args)
            .arg("--store")
            .arg(&store)
            .env("ARTLENS_DINO_WEIGHTS", common::fixtures().join("dino_tiny"))
            .env(
                "ARTLENS_DINOV2_WEIGHTS",
                common::fixtures().join("dinov2_tiny"),
            );
        c
    };
    let o = common::run(cmd(&["index", "--json"]).arg(&collection));
    assert_eq!(o.status.code(), Some(0), "{}", common::stderr(&o));
    let o = common::run(cmd(&["status", "--json"]));
    assert!(o.status.success(), "{}", common::stderr(&o));
    let status: serde_json::Value = serde_json::from_str(common::stdout(&o).trim()).unwrap();
    assert_eq!(status["artworks"], 4, "{status}");
    for model in ["dino", "dinov2"] {
        assert_eq!(
            status["models"][model]["embeddings"], 4,
            "{model}: {status}"
        );
    }
    let o = common::run(cmd(&["show", "normal.png", "--json"]));
    assert!(o.status.success(), "{}", common::stderr(&o));
}
