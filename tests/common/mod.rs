//! Shared helpers for the integration tests: fixture paths, running the
//! real binary, comparing vectors.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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
