//! Shared helpers for the integration tests: fixture paths, running the
//! real binary, comparing vectors.
#![allow(dead_code)]

pub mod cdp;
pub mod rng;
pub mod server;

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use candle_core::{DType, Device, Tensor};

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The reference tensors written by `tests/fixtures/make_fixtures.py`.
pub fn reference() -> HashMap<String, Tensor> {
    let path = fixtures().join("reference.safetensors");
    assert!(
        path.is_file(),
        "{} is missing: run `python tests/fixtures/make_fixtures.py` (needs torch, timm, transformers)",
        path.display()
    );
    candle_core::safetensors::load(&path, &Device::Cpu).expect("reference.safetensors loads")
}

pub fn to_vec(t: &Tensor) -> Vec<f32> {
    t.to_dtype(DType::F32)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

/// The fixture image named `stem` (PNG or JPEG).
pub fn image_path(stem: &str) -> PathBuf {
    let dir = fixtures().join("images");
    for ext in ["png", "jpg", "jpeg"] {
        let p = dir.join(format!("{stem}.{ext}"));
        if p.is_file() {
            return p;
        }
    }
    panic!("no fixture image for `{stem}` in {}", dir.display());
}

/// (max |a−b|, cosine, ‖a−b‖/‖b‖).
pub fn compare(a: &[f32], b: &[f32]) -> (f32, f64, f64) {
    assert_eq!(a.len(), b.len(), "length mismatch");
    let mut max = 0f32;
    let (mut dot, mut na, mut nb, mut nd) = (0f64, 0f64, 0f64, 0f64);
    for (&x, &y) in a.iter().zip(b) {
        max = max.max((x - y).abs());
        dot += x as f64 * y as f64;
        na += (x as f64).powi(2);
        nb += (y as f64).powi(2);
        nd += ((x - y) as f64).powi(2);
    }
    (max, dot / (na.sqrt() * nb.sqrt()), nd.sqrt() / nb.sqrt())
}

pub fn artlens() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_artlens"));
    // Tests never reach the network or a user's cache.
    c.env("HF_HUB_OFFLINE", "1");
    c.env(
        "HF_HOME",
        std::env::temp_dir().join("artlens-test-no-hf-home"),
    );
    c.env_remove("ARTLENS_STORE");
    c.env_remove("ARTLENS_DINO_WEIGHTS");
    c.env_remove("ARTLENS_DINOV2_WEIGHTS");
    c
}

pub fn run(mut cmd: impl std::borrow::BorrowMut<Command>) -> Output {
    cmd.borrow_mut().output().expect("artlens runs")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// How long one Chromium run may take before it is killed and the test fails.
pub const CHROMIUM_TIMEOUT: Duration = Duration::from_secs(60);

/// The Chromium binary, or a failure that says how to install it.
pub fn chromium() -> PathBuf {
    let candidates = [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ];
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in candidates {
            let p = dir.join(name);
            if p.is_file() {
                return p;
            }
        }
    }
    panic!(
        "headless Chromium is required to test the HTML reports and none of {candidates:?} is on PATH; \
         install it with `apt-get update && apt-get install -y chromium` (CI's .ci/run does this)"
    );
}

/// The flags of every headless Chromium the tests start: no sandbox (CI
/// runs as root), no GPU, nothing fetched behind the test's back.
pub const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
];

/// Runs Chromium headless on `page` with `extra` arguments and a fresh
/// profile, killing it after [`CHROMIUM_TIMEOUT`]; returns its stdout.
pub fn run_chromium(page: &Path, extra: &[String]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(chromium());
    cmd.args(CHROMIUM_FLAGS)
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("chromium starts");
    // Drain both pipes on threads: a full pipe would block Chromium and look
    // like a hang.
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out_thread = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err_thread = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > CHROMIUM_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "chromium did not finish within {CHROMIUM_TIMEOUT:?} on {}; stderr:\n{}",
                page.display(),
                err_thread.join().unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = out_thread.join().unwrap();
    let err = err_thread.join().unwrap();
    assert!(
        status.success(),
        "chromium failed ({status}) on {}; stderr:\n{err}",
        page.display()
    );
    out
}

/// The DOM of `page` after Chromium rendered it.
pub fn rendered_dom(page: &Path) -> String {
    run_chromium(page, &["--dump-dom".to_string()])
}

/// A model fingerprint for tests that write stores by hand: `weights` names
/// the (pretend) weights, hashed as artlens hashes real ones.
pub fn test_fingerprint(
    model: artlens::BackboneId,
    weights: &str,
    dim: usize,
) -> artlens::model::Fingerprint {
    use artlens::imaging::{Geometry, Preprocess, ResizeFilter};
    artlens::model::Fingerprint {
        backbone: model,
        weights_blake3: blake3::hash(weights.as_bytes()).to_hex().to_string(),
        preprocess: Preprocess {
            geometry: Geometry::Squash {
                width: 224,
                height: 224,
            },
            filter: ResizeFilter::Bicubic,
            rescale: 1.0 / 255.0,
            mean: [0.485, 0.456, 0.406],
            std: [0.229, 0.224, 0.225],
        },
        dim,
        precision: Default::default(),
        decode: Default::default(),
    }
}

/// The backbone `dino`.
#[allow(dead_code)]
pub fn dino() -> artlens::BackboneId {
    artlens::BackboneId::parse("dino").unwrap()
}

/// The backbone `dinov2`.
#[allow(dead_code)]
pub fn dinov2() -> artlens::BackboneId {
    artlens::BackboneId::parse("dinov2").unwrap()
}

/// 24 small works in three styles, each with the rating a person of that
/// taste would give it (rel path, rating): Color_Field high, Minimalism low.
#[allow(dead_code)]
pub fn rated_collection(dir: &Path) -> Vec<(String, f64)> {
    let mut ratings = Vec::new();
    for i in 0..24u32 {
        let (style, base) = match i % 3 {
            0 => ("Color_Field", 8.0),
            1 => ("Pointillism", 5.0),
            _ => ("Minimalism", 2.0),
        };
        std::fs::create_dir_all(dir.join(style)).unwrap();
        let img = image::RgbImage::from_fn(64 + i % 4 * 8, 56, |x, y| match i % 3 {
            0 => image::Rgb([200, (x * 2 + i * 5) as u8, 40]),
            1 => {
                let dot = ((x / 3 + y / 3 + i) % 4) as u8;
                image::Rgb([dot * 60, 255 - dot * 50, (y * 3 + i) as u8])
            }
            _ => {
                if y == 20 + i % 10 {
                    image::Rgb([20, 20, 120])
                } else {
                    image::Rgb([230, 225, (200 + i) as u8])
                }
            }
        });
        let rel = format!("{style}/ada-quill_work-{i:02}.png");
        img.save(dir.join(&rel)).unwrap();
        ratings.push((rel, base + (i % 5) as f64 * 0.3));
    }
    ratings
}

/// Opens the store's sled database directly, waiting while the store just
/// dropped still holds its file lock: sled's flusher thread lets go of the
/// file a moment after the last handle is dropped.
#[allow(dead_code)]
pub fn open_raw(path: &std::path::Path) -> sled::Db {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match sled::open(path) {
            Ok(db) => return db,
            Err(e) if e.to_string().contains("lock") && std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => panic!("opening {}: {e}", path.display()),
        }
    }
}
