//! `index --decode fast` and the decoder in the fingerprint: a store keeps
//! the embeddings of one decoder (exact, fast, or the `image` crate's of
//! stores built before libjpeg-turbo) and refuses the others with a message
//! saying what to do; the fast decode gives embeddings close to the exact
//! ones, and not equal to them (the flag is real).

use crate::common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use artlens::imaging::{decode_file, decode_file_fast, DecodeLimits};
use artlens::model::{load_backbone, BackboneOptions, WeightsSource};
use artlens::BackboneId;
use common::*;
use image::codecs::jpeg::JpegEncoder;
use image::{ExtendedColorType, ImageEncoder};

/// A photograph-like JPEG (smooth gradients, blobs, a hard edge, fine
/// texture), quality 90, `w`×`h`.
fn photo_jpeg(path: &Path, w: u32, h: u32, seed: u32) {
    let mut pixels = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            let (fx, fy) = (x as f32 / w as f32, y as f32 / h as f32);
            let blob =
                (-((fx - 0.3 - seed as f32 * 0.1).powi(2) + (fy - 0.6).powi(2)) * 20.0).exp();
            let edge = if (x as i64 - (y as i64) * 2 / 3 - (w as i64) / 3).abs() < 3 {
                90.0
            } else {
                0.0
            };
            let texture = if x > w * 3 / 4 && y > h * 2 / 3 && (x / 2 + y / 2) % 2 == 0 {
                60.0
            } else {
                0.0
            };
            let noise =
                ((x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503) ^ seed) % 17) as f32;
            let r = 200.0 * fx + 120.0 * blob + edge + noise;
            let g = 160.0 * fy + 40.0 * (fx * 9.0 + seed as f32).sin() + texture + noise;
            let b = 90.0 + 60.0 * (fx * 7.0 + fy * 3.0).sin() - 80.0 * blob + texture;
            pixels.extend([r, g, b].map(|v| v.clamp(0.0, 255.0) as u8));
        }
    }
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 90)
        .write_image(&pixels, w, h, ExtendedColorType::Rgb8)
        .unwrap();
    fs::write(path, out).unwrap();
}

struct Env {
    _tmp: tempfile::TempDir,
    collection: PathBuf,
    store: PathBuf,
}

/// Three 1000×900 JPEGs: DINO's 224×224 squash needs 448×448, so fast
/// decoding reads them at half size.
fn env() -> Env {
    let tmp = tempfile::tempdir().unwrap();
    let collection = tmp.path().join("collection");
    fs::create_dir_all(&collection).unwrap();
    for i in 0..3 {
        photo_jpeg(&collection.join(format!("scan-{i}.jpg")), 1000, 900, i);
    }
    let store = tmp.path().join("store");
    Env {
        collection,
        store,
        _tmp: tmp,
    }
}

fn cmd(e: &Env, args: &[&str]) -> Command {
    let mut c = artlens();
    c.arg(args[0])
        .arg("--store")
        .arg(&e.store)
        .args(&args[1..])
        .env("ARTLENS_DINO_WEIGHTS", fixtures().join("dino_tiny"));
    c
}

fn index(e: &Env, extra: &[&str]) -> Output {
    let mut c = cmd(e, &["index", "--json", "--models", "dino"]);
    c.args(extra).arg(&e.collection);
    run(&mut c)
}

fn embedded(o: &Output) -> u64 {
    let v: serde_json::Value = serde_json::from_str(stdout(o).trim())
        .unwrap_or_else(|_| panic!("no JSON summary: {} / {}", stdout(o), stderr(o)));
    v["embedded"].as_u64().unwrap()
}

fn add_file(e: &Env, name: &str, seed: u32) {
    photo_jpeg(&e.collection.join(name), 1000, 900, seed);
}

#[test]
fn a_fast_store_refuses_exact_additions_and_an_exact_store_fast_ones() {
    for (built, other) in [("fast", "exact"), ("exact", "fast")] {
        let e = env();
        let o = index(&e, &["--decode", built]);
        assert!(o.status.success(), "{built}: {}", stderr(&o));
        assert_eq!(embedded(&o), 3);
        // The same mode again: nothing to do, no refusal.
        let o = index(&e, &["--decode", built]);
        assert!(o.status.success(), "{built} again: {}", stderr(&o));
        assert_eq!(embedded(&o), 0);

        add_file(&e, "new.jpg", 7);
        let o = index(&e, &["--decode", other]);
        assert_eq!(
            o.status.code(),
            Some(2),
            "{built} then {other}: {}",
            stderr(&o)
        );
        let err = stderr(&o);
        assert!(
            err.contains("decoder")
                && err.contains(&format!("--decode {built}"))
                && err.contains("--rebuild dino"),
            "{built} then {other}: {err}"
        );
        // Nothing was added by the refused run: the right mode adds the file.
        let o = index(&e, &["--decode", built]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(embedded(&o), 1);
        // --rebuild switches the store to the other mode.
        let o = index(&e, &["--decode", other, "--rebuild", "dino"]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(embedded(&o), 4);
    }
    let e = env();
    let o = index(&e, &["--decode", "quick"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("exact or fast"), "{}", stderr(&o));
}

/// A store whose fingerprint predates the decoder field was built by the
/// `image` crate's JPEG decoder: libjpeg-turbo embeddings are not added to
/// it (a run with nothing new to embed goes through), and `--rebuild`
/// re-embeds it; querying it still works.
#[test]
fn a_store_from_before_the_decoder_was_recorded_needs_a_rebuild() {
    let e = env();
    assert!(index(&e, &[]).status.success());
    {
        let db = open_raw(&e.store);
        let meta = db.open_tree("meta").unwrap();
        let key = meta
            .iter()
            .keys()
            .map(|k| k.unwrap())
            .find(|k| k.starts_with(b"fingerprint/"))
            .expect("a fingerprint");
        let mut fp: serde_json::Value =
            serde_json::from_slice(&meta.get(&key).unwrap().unwrap()).unwrap();
        assert_eq!(fp["decode"], "exact");
        fp.as_object_mut().unwrap().remove("decode");
        meta.insert(&key, serde_json::to_vec(&fp).unwrap()).unwrap();
        db.flush().unwrap();
    }
    // Queries do not depend on the decoder.
    let o = run(cmd(&e, &["similar", "--json", "-k", "2"]).arg(e.collection.join("scan-0.jpg")));
    assert!(o.status.success(), "{}", stderr(&o));

    // Nothing new to embed: nothing is mixed, so the run goes through and
    // the store keeps its fingerprint.
    let o = index(&e, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(embedded(&o), 0);
    assert!(stderr(&o).contains("another decoder"), "{}", stderr(&o));

    add_file(&e, "new.jpg", 9);
    let o = index(&e, &[]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("decoder image-crate") && err.contains("--rebuild dino"),
        "{err}"
    );
    let o = index(&e, &["--rebuild", "dino"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(embedded(&o), 4);
}

/// The fast decode reads the file at a reduced size and gives embeddings
/// within a bounded angle of the exact ones, but not the same ones; an
/// image too small to reduce gives exactly the exact embedding; the size
/// recorded is the full one, EXIF orientation included.
#[test]
fn fast_embeddings_are_close_to_exact_and_differ() {
    let tmp = tempfile::tempdir().unwrap();
    let id = BackboneId::parse("dino").unwrap();
    let (model, _) = load_backbone(
        &id,
        &WeightsSource::Dir(fixtures().join("dino_tiny")),
        &BackboneOptions::default(),
    )
    .unwrap();
    let limits = DecodeLimits::default();
    let recipe = model.preprocess();
    let mut worst: f64 = 1.0;
    for seed in 0..4 {
        let path = tmp.path().join(format!("{seed}.jpg"));
        photo_jpeg(&path, 1000 + seed * 40, 900, seed);
        let exact = decode_file(&path, &limits).unwrap();
        let fast = decode_file_fast(&path, &limits, &[recipe]).unwrap();
        assert_eq!(fast.full_size, exact.dimensions());
        let reduced = &fast.images[fast.which[0]];
        assert_eq!(
            reduced.dimensions(),
            (exact.width().div_ceil(2), exact.height().div_ceil(2)),
            "read at half size"
        );
        let a = model.embed_images(&[&exact]).unwrap().remove(0);
        let b = model.embed_images(&[reduced]).unwrap().remove(0);
        assert_ne!(a, b, "the fast path gave the exact embedding");
        let (_, cos, _) = compare(&b, &a);
        worst = worst.min(cos);
    }
    eprintln!("tiny DINO, 1000x900 JPEGs: worst cosine fast vs exact {worst:.6}");
    assert!(worst >= 0.9999, "fast vs exact cosine {worst}");

    // Too small to reduce (below 2 × 448 on a side): the exact pixels.
    let small = tmp.path().join("small.jpg");
    photo_jpeg(&small, 600, 500, 3);
    let fast = decode_file_fast(&small, &limits, &[recipe]).unwrap();
    assert_eq!(fast.images.len(), 1);
    assert_eq!(fast.images[0], decode_file(&small, &limits).unwrap());

    // A PNG is decoded whole; an EXIF-rotated JPEG reports its upright size.
    let png = tmp.path().join("p.png");
    image::RgbImage::from_pixel(1200, 1000, image::Rgb([9, 99, 199]))
        .save(&png)
        .unwrap();
    let fast = decode_file_fast(&png, &limits, &[recipe]).unwrap();
    assert_eq!(fast.full_size, (1200, 1000));
    assert_eq!(fast.images[0].dimensions(), (1200, 1000));
    let rotated = fixtures().join("jpeg/exif6_420.jpg");
    let exact = decode_file(&rotated, &limits).unwrap();
    let fast = decode_file_fast(&rotated, &limits, &[recipe]).unwrap();
    assert_eq!(fast.full_size, exact.dimensions());
    // A truncated JPEG is refused in fast mode as in exact mode.
    let cut = tmp.path().join("cut.jpg");
    let bytes = fs::read(tmp.path().join("0.jpg")).unwrap();
    fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let err = decode_file_fast(&cut, &limits, &[recipe])
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("truncated"), "{err}");
}
