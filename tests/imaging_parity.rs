//! Parity of the imaging stage with the Python references, against the
//! tensors `tests/fixtures/make_fixtures.py` wrote with Pillow, transformers
//! and timm into `tests/fixtures/reference.safetensors`:
//!
//! * `resize/<stem>/<filter>/<W>x<H>`: `u8 [H, W, 3]`, Pillow's
//!   `Image.open(p).convert("RGB").resize((W, H), filter)`. Our decoder plus
//!   our port of `Resample.c` must match every byte.
//! * `pixels/<model>/<stem>`: `f32 [3, H, W]`, the reference pipeline's input
//!   tensor. [`Preprocess::apply`] must match within 1e-5.
//! * `decoded/photo`: the JPEG as Pillow's libjpeg-turbo decodes it; ours
//!   must match every byte (`tests/jpeg_parity.rs` covers more layouts).
//!
//! A missing fixture file fails the tests rather than skipping them: a parity
//! suite that silently passes proves nothing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use artlens::imaging::{
    decode_file, resize_rgb8, DecodeLimits, Geometry, Preprocess, ResizeFilter,
};
use candle_core::{DType, Device, Tensor};
use image::RgbImage;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn references() -> HashMap<String, Tensor> {
    let path = fixtures().join("reference.safetensors");
    assert!(
        path.is_file(),
        "{} is missing: generate it with `python tests/fixtures/make_fixtures.py` \
         (needs Pillow, torch, transformers and timm)",
        path.display()
    );
    candle_core::safetensors::load(&path, &Device::Cpu)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The reference keys under `prefix`, sorted so failures list in a stable order.
fn keys_with_prefix<'a>(refs: &'a HashMap<String, Tensor>, prefix: &str) -> Vec<&'a String> {
    let mut keys: Vec<&String> = refs.keys().filter(|k| k.starts_with(prefix)).collect();
    keys.sort();
    keys
}

fn decode_fixture(file_name: &str) -> RgbImage {
    let path = fixtures().join("images").join(file_name);
    decode_file(&path, &DecodeLimits::default())
        .unwrap_or_else(|e| panic!("cannot decode fixture image: {e}"))
}

fn tensor_u8(t: &Tensor) -> Vec<u8> {
    t.to_dtype(DType::U8)
        .and_then(|t| t.flatten_all())
        .and_then(|t| t.to_vec1::<u8>())
        .expect("a u8 tensor")
}

fn tensor_f32(t: &Tensor) -> Vec<f32> {
    t.to_dtype(DType::F32)
        .and_then(|t| t.flatten_all())
        .and_then(|t| t.to_vec1::<f32>())
        .expect("an f32 tensor")
}

fn parse_size(s: &str) -> Option<(u32, u32)> {
    let (w, h) = s.split_once('x')?;
    Some((w.parse().ok()?, h.parse().ok()?))
}

#[test]
fn pillow_resize_is_reproduced_exactly() {
    let refs = references();
    let keys = keys_with_prefix(&refs, "resize/");
    assert!(
        !keys.is_empty(),
        "reference.safetensors has no resize/ tensors"
    );

    let mut decoded: HashMap<String, RgbImage> = HashMap::new();
    let mut failures = Vec::new();
    for key in &keys {
        let parts: Vec<&str> = key.split('/').collect();
        let [_, stem, filter, size] = parts[..] else {
            panic!("unexpected key layout `{key}`, want resize/<stem>/<filter>/<W>x<H>");
        };
        let filter = ResizeFilter::from_name(filter)
            .unwrap_or_else(|| panic!("`{key}`: unknown filter `{filter}`"));
        let (w, h) = parse_size(size).unwrap_or_else(|| panic!("`{key}`: bad size `{size}`"));
        let expected = &refs[*key];
        assert_eq!(
            expected.dims(),
            &[h as usize, w as usize, 3],
            "`{key}` shape"
        );

        let img = decoded
            .entry(stem.to_string())
            .or_insert_with(|| decode_fixture(&format!("{stem}.png")));
        let ours = resize_rgb8(img, w, h, filter);
        let want = tensor_u8(expected);
        let got = ours.as_raw();
        let differing = got.iter().zip(&want).filter(|(a, b)| a != b).count();
        if differing > 0 {
            let max_diff = got
                .iter()
                .zip(&want)
                .map(|(&a, &b)| a.abs_diff(b))
                .max()
                .unwrap_or(0);
            failures.push(format!(
                "{key}: {differing} of {} bytes differ, max diff {max_diff}",
                want.len()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} resize cases differ from Pillow:\n{}",
        failures.len(),
        keys.len(),
        failures.join("\n")
    );
}

/// The ImageNet statistics timm's DINOv2 config names (`IMAGENET_DEFAULT_*`).
const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// transformers' `ViTImageProcessor` recipe, read from the fixture
/// checkpoint's `preprocessor_config.json` the way the library reads it.
fn dino_recipe() -> Preprocess {
    let path = fixtures().join("dino_tiny/preprocessor_config.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let cfg: serde_json::Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("cannot parse {}: {e}", path.display()));
    let triple = |name: &str| -> [f32; 3] {
        let v: Vec<f32> = cfg[name]
            .as_array()
            .unwrap_or_else(|| panic!("{name} missing"))
            .iter()
            .map(|x| x.as_f64().expect("a number") as f32)
            .collect();
        v.try_into().expect("three values")
    };
    // `size` is either an int or {"height", "width"}.
    let (width, height) = match &cfg["size"] {
        serde_json::Value::Number(n) => {
            let s = n.as_u64().expect("an integer size") as u32;
            (s, s)
        }
        obj => (
            obj["width"].as_u64().expect("size.width") as u32,
            obj["height"].as_u64().expect("size.height") as u32,
        ),
    };
    let resample = cfg["resample"].as_i64().expect("resample");
    Preprocess {
        geometry: Geometry::Squash { width, height },
        filter: ResizeFilter::from_pil(resample).expect("a supported resample"),
        rescale: cfg["rescale_factor"].as_f64().unwrap_or(1.0 / 255.0) as f32,
        mean: triple("image_mean"),
        std: triple("image_std"),
    }
}

/// timm's eval transform for DINOv2 at input size `size` (crop_pct 1.0).
fn dinov2_recipe(size: u32) -> Preprocess {
    Preprocess {
        geometry: Geometry::ShortSideCenterCrop {
            resize_to: size,
            crop: size,
        },
        filter: ResizeFilter::Bicubic,
        rescale: 1.0 / 255.0,
        mean: IMAGENET_MEAN,
        std: IMAGENET_STD,
    }
}

fn recipe_for(model: &str) -> Preprocess {
    match model {
        "dino" => dino_recipe(),
        "dinov2" => dinov2_recipe(518),
        other => match other.strip_prefix("dinov2@").and_then(|s| s.parse().ok()) {
            Some(size) => dinov2_recipe(size),
            None => panic!("no recipe for reference model `{other}`"),
        },
    }
}

#[test]
fn reference_preprocessing_is_reproduced() {
    let refs = references();
    let keys = keys_with_prefix(&refs, "pixels/");
    assert!(
        !keys.is_empty(),
        "reference.safetensors has no pixels/ tensors"
    );

    let mut failures = Vec::new();
    for key in &keys {
        let parts: Vec<&str> = key.split('/').collect();
        let [_, model, stem] = parts[..] else {
            panic!("unexpected key layout `{key}`, want pixels/<model>/<stem>");
        };
        let recipe = recipe_for(model);
        let (h, w) = recipe.output_size();
        let expected = &refs[*key];
        assert_eq!(expected.dims(), &[3, h, w], "`{key}` shape");

        let ours = recipe.apply(&decode_fixture(&format!("{stem}.png")));
        let want = tensor_f32(expected);
        let max_abs = ours
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        if max_abs > 1e-5 {
            let differing = ours.iter().zip(&want).filter(|(a, b)| a != b).count();
            failures.push(format!(
                "{key}: max abs diff {max_abs:e}, {differing} of {} values differ",
                want.len()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} preprocessing cases differ from the reference:\n{}",
        failures.len(),
        keys.len(),
        failures.join("\n")
    );
}

#[test]
fn jpeg_decode_is_libjpeg_turbos() {
    let refs = references();
    let Some(expected) = refs.get("decoded/photo") else {
        panic!("reference.safetensors has no decoded/photo tensor");
    };
    let ours = decode_fixture("photo.jpg");
    assert_eq!(
        expected.dims(),
        &[ours.height() as usize, ours.width() as usize, 3]
    );
    let want = tensor_u8(expected);
    let max = ours
        .as_raw()
        .iter()
        .zip(&want)
        .map(|(&a, &b)| a.abs_diff(b))
        .max()
        .unwrap_or(0);
    // JPEG is decoded by libjpeg-turbo with Pillow's settings
    // (src/imaging/jpeg.rs): every byte is Pillow's. tests/jpeg_parity.rs
    // covers the other layouts.
    assert!(
        ours.as_raw() == want.as_slice(),
        "photo.jpg decodes up to {max} levels away from Pillow's libjpeg-turbo"
    );
}

#[test]
fn exif_orientation_of_a_pillow_written_jpeg_is_applied() {
    // photo_exif6.jpg holds photo.jpg's pixels with EXIF Orientation 6
    // ("rotate 90° clockwise to display"). The references ignore the tag; we
    // apply it, so ours must be photo.jpg turned clockwise.
    let plain = decode_fixture("photo.jpg");
    let tagged = decode_fixture("photo_exif6.jpg");
    let rotated = image::imageops::rotate90(&plain);
    assert_eq!(tagged.dimensions(), rotated.dimensions());
    assert!(
        tagged.as_raw() == rotated.as_raw(),
        "photo_exif6.jpg is not photo.jpg rotated 90° clockwise"
    );
}
