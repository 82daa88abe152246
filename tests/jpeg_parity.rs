//! JPEG decoded as Pillow decodes it, against the fixtures that
//! `tests/fixtures/jpeg/make_jpeg_fixtures.py` wrote with Pillow 13 (libjpeg-turbo
//! 3.x): baseline, progressive, 4:2:0, 4:2:2, 4:4:4, restart markers,
//! untransformed RGB, grey, CMYK and EXIF-rotated files.
//!
//! * `decoded/<stem>`: Pillow's `convert("RGB")` of the file, turned upright
//!   (artlens applies the EXIF orientation on purpose). Ours must match every
//!   byte.
//! * `dino/<stem>`, `dinov2/<stem>`: the tiny reference checkpoints'
//!   embeddings of those pixels. Ours, from the JPEG file, must agree to the
//!   tolerance of the PNG parity tests (`model_parity.rs`).
//!
//! Each test also prints what the `image` crate's own decoder (zune-jpeg,
//! what artlens used before) gives on the same files, the "before" figures.

use crate::common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use artlens::imaging::{decode_bytes, decode_file, DecodeLimits};
use artlens::model::{load_backbone, BackboneOptions, WeightsSource};
use artlens::Error;
use candle_core::{DType, Device, Tensor};
use common::{compare, dino, dinov2, fixtures, to_vec};
use image::{DynamicImage, ImageDecoder, ImageReader, RgbImage};

/// The PNG parity bounds of `model_parity.rs`.
const MIN_COSINE: f64 = 0.99999;
const MAX_REL_L2: f64 = 1e-5;

fn jpeg_dir() -> PathBuf {
    fixtures().join("jpeg")
}

fn references() -> HashMap<String, Tensor> {
    let path = jpeg_dir().join("reference.safetensors");
    assert!(
        path.is_file(),
        "{} is missing: run `python tests/fixtures/jpeg/make_jpeg_fixtures.py`",
        path.display()
    );
    candle_core::safetensors::load(&path, &Device::Cpu).expect("reference.safetensors loads")
}

/// The stems with a `prefix/` reference, sorted.
fn stems(refs: &HashMap<String, Tensor>, prefix: &str) -> Vec<String> {
    let mut stems: Vec<String> = refs
        .keys()
        .filter_map(|k| k.strip_prefix(prefix)?.strip_prefix('/'))
        .map(str::to_string)
        .collect();
    stems.sort();
    stems
}

fn u8_tensor(t: &Tensor) -> Vec<u8> {
    t.to_dtype(DType::U8)
        .and_then(|t| t.flatten_all())
        .and_then(|t| t.to_vec1::<u8>())
        .expect("a u8 tensor")
}

/// What the `image` crate alone decodes (zune-jpeg), oriented: the decoder
/// artlens used before, for the before/after figures.
fn zune_decode(path: &Path) -> RgbImage {
    let mut decoder = ImageReader::open(path)
        .and_then(|r| r.with_guessed_format())
        .expect("opens")
        .into_decoder()
        .expect("decoder");
    let orientation = decoder.orientation().expect("orientation");
    let mut img = DynamicImage::from_decoder(decoder).expect("decodes");
    img.apply_orientation(orientation);
    img.to_rgb8()
}

fn max_abs_diff(a: &[u8], b: &[u8]) -> u8 {
    a.iter()
        .zip(b)
        .map(|(x, y)| x.abs_diff(*y))
        .max()
        .unwrap_or(0)
}

#[test]
fn every_layout_decodes_to_pillows_bytes() {
    let refs = references();
    let stems = stems(&refs, "decoded");
    assert!(
        stems.len() >= 12,
        "expected the JPEG fixtures, found {stems:?}"
    );
    let limits = DecodeLimits::default();
    let mut failures = Vec::new();
    for stem in &stems {
        let path = jpeg_dir().join(format!("{stem}.jpg"));
        let want_t = &refs[&format!("decoded/{stem}")];
        let &[h, w, 3] = want_t.dims() else {
            panic!("decoded/{stem} has shape {:?}", want_t.dims());
        };
        let want = u8_tensor(want_t);
        let ours = decode_file(&path, &limits).unwrap_or_else(|e| panic!("{e}"));
        let before = zune_decode(&path);
        let before_diff = if before.dimensions() == (w as u32, h as u32) {
            max_abs_diff(before.as_raw(), &want).to_string()
        } else {
            format!("size {:?}", before.dimensions())
        };
        eprintln!("{stem}: {w}×{h}, zune-jpeg max |diff| to Pillow {before_diff}");
        if ours.dimensions() != (w as u32, h as u32) {
            failures.push(format!("{stem}: {:?}, want {w}×{h}", ours.dimensions()));
            continue;
        }
        let differing = ours
            .as_raw()
            .iter()
            .zip(&want)
            .filter(|(a, b)| a != b)
            .count();
        if differing > 0 {
            failures.push(format!(
                "{stem}: {differing} of {} bytes differ from Pillow's, max |diff| {}",
                want.len(),
                max_abs_diff(ours.as_raw(), &want)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn embeddings_of_jpeg_files_match_the_pillow_fed_references() {
    let refs = references();
    let limits = DecodeLimits::default();
    let mut report = Vec::new();
    let mut failures = Vec::new();
    for (dir, kind) in [("dino_tiny", dino()), ("dinov2_tiny", dinov2())] {
        let (model, _) = load_backbone(
            &kind,
            &WeightsSource::Dir(fixtures().join(dir)),
            &BackboneOptions::default(),
        )
        .unwrap_or_else(|e| panic!("loading {dir}: {e}"));
        let name = kind.name();
        let stems = stems(&refs, &name);
        assert!(stems.len() >= 12, "no {name} JPEG references");
        for stem in stems {
            let want = to_vec(&refs[&format!("{name}/{stem}")]);
            let path = jpeg_dir().join(format!("{stem}.jpg"));
            let ours = decode_file(&path, &limits).unwrap_or_else(|e| panic!("{e}"));
            let got = model.embed_images(&[&ours]).expect("embeds").remove(0);
            let before = model
                .embed_images(&[&zune_decode(&path)])
                .expect("embeds")
                .remove(0);
            let (max, cos, rel) = compare(&got, &want);
            let (_, before_cos, before_rel) = compare(&before, &want);
            let line = format!(
                "{name} {stem}: max|diff| {max:.2e} cos {cos:.8} relL2 {rel:.2e} \
                 (zune-jpeg: cos {before_cos:.8} relL2 {before_rel:.2e})"
            );
            if cos < MIN_COSINE || rel > MAX_REL_L2 {
                failures.push(line.clone());
            }
            report.push(line);
        }
    }
    eprintln!("{}", report.join("\n"));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The marker segments and scans of a JPEG, as (start, end) byte ranges of
/// each SOS segment together with its entropy-coded data.
fn scans(jpeg: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut at = 2;
    while at + 4 <= jpeg.len() {
        assert_eq!(jpeg[at], 0xff, "a marker at {at}");
        let marker = jpeg[at + 1];
        if marker == 0xd9 {
            break;
        }
        let len = usize::from(u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]));
        let mut end = at + 2 + len;
        if marker == 0xda {
            // The entropy-coded data runs to the next marker that is not a
            // stuffed zero or a restart marker.
            while jpeg[end] != 0xff || matches!(jpeg[end + 1], 0x00 | 0xd0..=0xd7) {
                end += 1;
            }
            out.push((at, end));
        }
        at = end;
    }
    out
}

/// A file with thousands of scans costs a pass over the image each (a
/// crafted file can take minutes); libjpeg only warns about a repeated scan,
/// so the scan limit is what refuses it, quickly.
#[test]
fn a_jpeg_with_too_many_scans_is_refused_quickly() {
    let jpeg = std::fs::read(jpeg_dir().join("progressive_420.jpg")).unwrap();
    let scans = scans(&jpeg);
    assert!(scans.len() > 5, "a progressive file has several scans");
    let (last_start, last_end) = *scans.last().unwrap();
    let mut crafted = jpeg[..last_end].to_vec();
    for _ in 0..2000 {
        crafted.extend_from_slice(&jpeg[last_start..last_end]);
    }
    crafted.extend_from_slice(&[0xff, 0xd9]);
    let started = Instant::now();
    let err = decode_bytes(
        &crafted,
        Path::new("many_scans.jpg"),
        &DecodeLimits::default(),
    )
    .expect_err("refused");
    let msg = err.to_string();
    assert!(matches!(err, Error::Decode { .. }), "{msg}");
    assert!(
        msg.contains("many_scans.jpg") && msg.contains("more than 500 scans"),
        "{msg}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    // A few repeated scans are within the limit: libjpeg warns, Pillow decodes.
    let mut repeated = jpeg[..last_end].to_vec();
    repeated.extend_from_slice(&jpeg[last_start..last_end]);
    repeated.extend_from_slice(&[0xff, 0xd9]);
    decode_bytes(
        &repeated,
        Path::new("repeated.jpg"),
        &DecodeLimits::default(),
    )
    .expect("a repeated scan decodes");
}

/// A JPEG header declaring more pixels than the budget is refused from the
/// header alone, before libjpeg allocates anything, and quickly.
#[test]
fn jpeg_pixel_bombs_are_refused_from_the_header() {
    let jpeg = std::fs::read(jpeg_dir().join("progressive_420.jpg")).unwrap();
    // Rewrite the frame header's height and width (SOF2: FF C2, length,
    // precision, then height and width).
    let sof = jpeg
        .windows(2)
        .position(|w| w == [0xff, 0xc2])
        .expect("SOF2");
    let limits = DecodeLimits {
        max_pixels: 100_000_000,
        ..DecodeLimits::default()
    };
    for (w, h) in [(60_000u16, 60_000u16), (65_535, 65_535), (20_000, 6_000)] {
        let mut bomb = jpeg.clone();
        bomb[sof + 5..sof + 7].copy_from_slice(&h.to_be_bytes());
        bomb[sof + 7..sof + 9].copy_from_slice(&w.to_be_bytes());
        let started = Instant::now();
        match decode_bytes(&bomb, Path::new("bomb.jpg"), &limits) {
            Err(e @ Error::ImageTooLarge { .. }) => {
                let msg = e.to_string();
                assert!(
                    msg.contains("bomb.jpg") && msg.contains(&format!("{w}×{h}")),
                    "{msg}"
                );
            }
            other => panic!("{w}×{h}: expected ImageTooLarge, got {other:?}"),
        }
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "{w}×{h}: {:?}",
            started.elapsed()
        );
    }
}

/// Fatal libjpeg errors (here a quantisation table the scan needs is
/// missing) come back as this file's decode error, through the unwinding
/// `error_exit`, never as an abort or a panic.
#[test]
fn a_fatal_libjpeg_error_is_a_decode_error_naming_the_file() {
    let jpeg = std::fs::read(jpeg_dir().join("baseline_444.jpg")).unwrap();
    // Point the frame's first component at quantisation table 3, which the
    // file never defines.
    let sof = jpeg
        .windows(2)
        .position(|w| w == [0xff, 0xc0])
        .expect("SOF0");
    let mut broken = jpeg.clone();
    broken[sof + 12] = 3; // Tq of component 1 (after FF C0, len, P, Y, X, Nf, C1, H/V)
    let err = decode_bytes(&broken, Path::new("no_table.jpg"), &DecodeLimits::default())
        .expect_err("refused");
    let msg = err.to_string();
    assert!(matches!(err, Error::Decode { .. }), "{msg}");
    assert!(
        msg.contains("no_table.jpg")
            && msg.contains("libjpeg: Quantization table 0x03 was not defined"),
        "{msg}"
    );
}
