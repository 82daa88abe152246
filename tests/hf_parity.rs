//! The transformers layouts (`Dinov2Model`, `Dinov2WithRegistersModel`,
//! `CLIPModel`, `CLIPVisionModel`, `SiglipModel`) and a checkpoint written by
//! timm 1.0.31's own `save_for_hf`, against their reference libraries, on
//! tiny random checkpoints written by `tests/fixtures/hf/make_hf_fixtures.py`
//! into `tests/fixtures/hf/`. `hf/manifest.json` names each case's hub id;
//! `hf/reference.safetensors` holds `pooler_output` (`CASE[@SIZE][_batch]/STEM`)
//! and the PIL processors' pixels (`CASE/pixels/STEM`).

use crate::common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use artlens::imaging::{decode_file, DecodeLimits};
use artlens::model::{load_backbone, Backbone, BackboneId, BackboneOptions, WeightsSource};
use candle_core::{Device, Tensor};
use common::*;

/// The zoo's bounds (`tests/zoo_parity.rs`): tight enough that a tanh GELU
/// for an exact one, the other position-table kernel, or a crop offset
/// rounded the other way fails.
const MIN_COSINE: f64 = 0.99999;
const MAX_REL_L2: f64 = 1e-5;

fn hf() -> PathBuf {
    fixtures().join("hf")
}

fn references() -> HashMap<String, Tensor> {
    candle_core::safetensors::load(hf().join("reference.safetensors"), &Device::Cpu).expect(
        "tests/fixtures/hf/reference.safetensors: run tests/fixtures/hf/make_hf_fixtures.py",
    )
}

fn manifest_cases() -> serde_json::Map<String, serde_json::Value> {
    let text = std::fs::read_to_string(hf().join("manifest.json")).unwrap();
    let m: serde_json::Value = serde_json::from_str(&text).unwrap();
    m["cases"].as_object().unwrap().clone()
}

/// (case, hub id, other size) of every case whose processor has a PIL
/// path (all but DINOv3's, see `dinov3_matches_on_the_reference_pixels`).
fn cases() -> Vec<(String, String, Option<u32>)> {
    manifest_cases()
        .iter()
        .filter(|(_, c)| c["pil_processor"].as_bool().unwrap_or(true))
        .map(|(name, c)| {
            (
                name.clone(),
                c["hub_id"].as_str().unwrap().to_string(),
                c["other_size"].as_u64().map(|s| s as u32),
            )
        })
        .collect()
}

fn try_load(dir: &Path, hub_id: &str, size: Option<u32>) -> artlens::Result<Backbone> {
    let mut id = BackboneId::parse(hub_id)?;
    if let Some(s) = size {
        id = id.at_resolution(s)?;
    }
    Ok(load_backbone(
        &id,
        &WeightsSource::Dir(dir.to_path_buf()),
        &BackboneOptions::default(),
    )?
    .0)
}

fn load(case: &str, hub_id: &str, size: Option<u32>) -> Backbone {
    try_load(&hf().join(case), hub_id, size)
        .unwrap_or_else(|e| panic!("loading hf/{case} as {hub_id}: {e}"))
}

/// One case at one size: each image alone, then all in one batch.
fn check(
    case: &str,
    hub_id: &str,
    size: Option<u32>,
    refs: &HashMap<String, Tensor>,
) -> Vec<String> {
    let head = match size {
        Some(s) => format!("{case}@{s}"),
        None => case.to_string(),
    };
    let model = load(case, hub_id, size);
    let mut stems: Vec<&str> = refs
        .keys()
        .filter_map(|k| k.strip_prefix(&format!("{head}/")))
        .filter(|s| !s.starts_with("pixels/"))
        .collect();
    stems.sort();
    assert!(stems.len() >= 5, "{head}: {} reference images", stems.len());
    let limits = DecodeLimits::default();
    let images: Vec<_> = stems
        .iter()
        .map(|s| decode_file(&image_path(s), &limits).unwrap())
        .collect();
    let mut lines = Vec::new();
    let mut check_one = |label: &str, got: &[f32], want: &Tensor| {
        let want = to_vec(want);
        assert_eq!(got.len(), want.len(), "{label}: embedding length");
        let (max, cos, rel) = compare(got, &want);
        let line = format!("{label}: max|diff|={max:.2e} cos={cos:.9} relL2={rel:.2e}");
        assert!(cos >= MIN_COSINE && rel <= MAX_REL_L2, "{line}");
        lines.push(line);
    };
    for (stem, img) in stems.iter().zip(&images) {
        let got = model.embed_images(&[img]).unwrap().remove(0);
        check_one(
            &format!("{head}/{stem}"),
            &got,
            &refs[&format!("{head}/{stem}")],
        );
    }
    let all: Vec<_> = images.iter().collect();
    let got = model.embed_images(&all).unwrap();
    for (stem, g) in stems.iter().zip(&got) {
        let key = format!("{head}_batch/{stem}");
        check_one(&key, g, &refs[&key]);
    }
    lines
}

/// Every layout matches `AutoModel.from_pretrained(dir)`'s `pooler_output`
/// (timm's `num_classes=0` output for the `save_for_hf` case), alone and
/// batched, at the processor's size and at one other (position tables
/// resampled as each reference does: no antialiasing for DINOv2, CLIP and
/// SigLIP, antialiased for DINOv2 with registers and for timm).
#[test]
fn every_transformers_layout_matches_its_reference() {
    let refs = references();
    let cases = cases();
    assert!(cases.len() >= 7, "{} cases", cases.len());
    let mut report = Vec::new();
    for (case, hub_id, other) in &cases {
        report.extend(check(case, hub_id, None, &refs));
        if let Some(s) = other {
            report.extend(check(case, hub_id, Some(*s), &refs));
        }
    }
    eprintln!("{}", report.join("\n"));
}

/// The model input is the PIL processor's exactly: BiT's shortest edge and
/// floor-offset centre crop, CLIP's, SigLIP's squash, timm's transform.
#[test]
fn preprocessing_matches_each_pil_processor() {
    let refs = references();
    let img = decode_file(&image_path("landscape"), &DecodeLimits::default()).unwrap();
    let mut checked = 0;
    for (case, hub_id, _) in cases() {
        // Cases sharing a processor config share one pixel reference.
        let Some(want) = refs.get(&format!("{case}/pixels/landscape")) else {
            continue;
        };
        checked += 1;
        let want = to_vec(want);
        let got = load(&case, &hub_id, None).preprocess().apply(&img);
        assert_eq!(got.len(), want.len(), "{case}: input size");
        let (max, _, _) = compare(&got, &want);
        assert!(max <= 1e-5, "{case}: pixels differ by {max}");
    }
    assert!(checked >= 4, "{checked} pixel references");
}

/// `DINOv3ViTModel`: the model on exactly the reference's input matches
/// `pooler_output` (the class token, not timm's patch mean) to the zoo's
/// bound, alone and batched, plain and gated (S+); and end to end, with
/// artlens's own preprocessing (the processor is torchvision-only: it
/// rescales to floats and resizes the float image, which artlens's `f32`
/// resize reproduces to within one float rounding), to the same bound.
#[test]
fn dinov3_matches_on_the_reference_pixels() {
    let refs = references();
    let stems = ["gray", "landscape", "portrait", "rgba", "small"];
    let limits = DecodeLimits::default();
    let mut report = Vec::new();
    for (case, id) in [
        ("dinov3", "facebook/dinov3-vits16-pretrain-lvd1689m"),
        ("dinov3", "dinov3-s-hf"),
        ("dinov3_gated", "dinov3-splus-hf"),
        ("dinov3", "someone/my-dinov3"),
    ] {
        let model = load(case, id, None);
        let pixels: Vec<Vec<f32>> = stems
            .iter()
            .map(|s| to_vec(&refs[&format!("dinov3/pixels/{s}")]))
            .collect();
        let all = model.embed_pixels(pixels.concat(), stems.len()).unwrap();
        for (i, stem) in stems.iter().enumerate() {
            let one = model.embed_pixels(pixels[i].clone(), 1).unwrap().remove(0);
            for (label, got, key) in [
                ("alone", &one, format!("{case}/{stem}")),
                ("batch", &all[i], format!("{case}_batch/{stem}")),
            ] {
                let (_, cos, rel) = compare(got, &to_vec(&refs[&key]));
                report.push(format!(
                    "{id} {key} on the reference pixels: cos {cos:.9} relL2 {rel:.2e}"
                ));
                assert!(
                    cos >= MIN_COSINE && rel <= MAX_REL_L2,
                    "{id} {key} {label}: cos {cos} rel {rel}"
                );
            }
            // End to end: artlens's preprocessing on the decoded PNG.
            let img = decode_file(&image_path(stem), &limits).unwrap();
            let mine = model.preprocess().apply(&img);
            let (pmax, _, _) = compare(&mine, &pixels[i]);
            let got = model.embed_images(&[&img]).unwrap().remove(0);
            let (_, cos, rel) = compare(&got, &to_vec(&refs[&format!("{case}/{stem}")]));
            report.push(format!(
                "{id} {stem}: pixels max|diff| {pmax:.2e}, embedding cos {cos:.7} relL2 {rel:.2e}"
            ));
            // The float resize: within a few f32 roundings of the reference
            // (the PIL processors' pixel bound), and the embedding to the
            // zoo's bound.
            assert!(pmax <= 1e-5, "{id} {stem}: pixels differ by {pmax}");
            assert!(
                cos >= MIN_COSINE && rel <= MAX_REL_L2,
                "{id} {stem}: cos {cos} rel {rel}"
            );
        }
    }
    // Another size: the rotary tables are computed for the new grid.
    let model = load("dinov3", "dinov3-s-hf", Some(64));
    for stem in stems {
        let img = decode_file(&image_path(stem), &limits).unwrap();
        let got = model.embed_images(&[&img]).unwrap().remove(0);
        let (_, cos, rel) = compare(&got, &to_vec(&refs[&format!("dinov3@64/{stem}")]));
        report.push(format!(
            "dinov3@64 {stem}: embedding cos {cos:.7} relL2 {rel:.2e}"
        ));
        assert!(
            cos >= MIN_COSINE && rel <= MAX_REL_L2,
            "dinov3@64 {stem}: cos {cos} rel {rel}"
        );
    }
    eprintln!("{}", report.join("\n"));
}

/// The registered transformers ids load their layout (the tiny folders
/// stand in for the hub repositories), and an unlisted hub id works when its
/// config names a supported `model_type`.
#[test]
fn registered_and_unlisted_ids_read_transformers_folders() {
    let refs = references();
    let img = decode_file(&image_path("landscape"), &DecodeLimits::default()).unwrap();
    for (case, id) in [
        ("dinov2", "dinov2-s-hf"),
        ("dinov2_reg", "dinov2-s-reg4-hf"),
        ("dinov2_giant", "dinov2-g-hf"),
        ("clip", "clip-b16-hf"),
        ("clip_vision_gelu", "clip-b32-laion-hf"),
        ("siglip", "siglip-b16-hf"),
        ("siglip", "google/siglip2-base-patch16-224"),
        ("dinov2", "someone/my-dinov2-finetune"),
        ("clip", "someone/clip-finetune"),
    ] {
        let got = load(case, id, None)
            .embed_images(&[&img])
            .unwrap()
            .remove(0);
        let (_, cos, rel) = compare(&got, &to_vec(&refs[&format!("{case}/landscape")]));
        assert!(
            cos >= MIN_COSINE && rel <= MAX_REL_L2,
            "{id}: cos {cos} rel {rel}"
        );
    }
}

fn copy_case(case: &str, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(hf().join(case)).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// A registered id of one format given a folder of the other is refused,
/// naming both formats and the id to use.
#[test]
fn a_folder_of_the_other_format_names_both() {
    let err = try_load(&hf().join("dinov2"), "dinov2-s", None)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("`dinov2-s` is the timm checkpoint")
            && err.contains("holds a transformers checkpoint")
            && err.contains("-hf"),
        "{err}"
    );
    let err = try_load(&hf().join("timm_save_for_hf"), "dinov2-s-hf", None)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("transformers checkpoint facebook/dinov2-small")
            && err.contains("holds a timm checkpoint"),
        "{err}"
    );
}

/// Without `preprocessor_config.json` the model card's processor is used and
/// a warning says so; a malformed one is an error naming the file.
#[test]
fn preprocessor_config_missing_or_malformed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("dinov2");
    copy_case("dinov2", &dir);
    std::fs::remove_file(dir.join("preprocessor_config.json")).unwrap();
    let b = try_load(&dir, "facebook/dinov2-small", None).unwrap();
    let w = b.warnings().join("\n");
    assert!(
        w.contains("no preprocessor_config.json")
            && w.contains("BitImageProcessor")
            && w.contains("256"),
        "{w}"
    );
    // The card's processor: shorter side 256, centre crop 224.
    assert_eq!(b.preprocess().output_size(), (224, 224));
    // `index` says it too, where a person watches the run.
    let images = tmp.path().join("images");
    std::fs::create_dir_all(&images).unwrap();
    std::fs::copy(image_path("landscape"), images.join("landscape.png")).unwrap();
    let o = run(artlens()
        .env("ARTLENS_STORE", tmp.path().join("store"))
        .args(["index", "--backbones", "facebook/dinov2-small", "--weights"])
        .arg(format!("facebook/dinov2-small={}", dir.display()))
        .arg(&images));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("no preprocessor_config.json"),
        "{}",
        stderr(&o)
    );

    std::fs::write(dir.join("preprocessor_config.json"), "{\"size\": ").unwrap();
    let err = try_load(&dir, "facebook/dinov2-small", None)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("preprocessor_config.json") && err.contains("not a valid"),
        "{err}"
    );
}

fn edit_config(case: &str, dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    copy_case(case, dir);
    let p = dir.join("config.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    edit(&mut v);
    std::fs::write(&p, v.to_string()).unwrap();
}

/// An unsupported `model_type` lists what artlens reads in both formats; a
/// field that changes the numerics in a way artlens does not implement is
/// refused by name.
#[test]
fn unsupported_configs_are_refused_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("beit");
    edit_config("dinov2", &dir, |v| v["model_type"] = "beit".into());
    let err = try_load(&dir, "someone/beit", None)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("`model_type` is `beit`")
            && err.contains("dinov2_with_registers")
            && err.contains("siglip_vision_model")
            && err.contains("vit_base_patch16_siglip_224"),
        "{err}"
    );
    for (case, field, value) in [
        ("dinov2", "hidden_act", serde_json::json!("relu")),
        ("dinov2", "num_channels", serde_json::json!(4)),
        ("dinov2", "image_size", serde_json::json!([70, 56])),
        ("clip", "hidden_act", serde_json::json!("silu")),
        ("siglip", "vision_use_head", serde_json::json!(false)),
    ] {
        let dir = tmp.path().join(format!("{case}-{field}"));
        edit_config(case, &dir, |v| match v.get_mut("vision_config") {
            Some(vc) => vc[field] = value.clone(),
            None => v[field] = value.clone(),
        });
        let err = try_load(&dir, &format!("someone/{case}"), None)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains(field), "{case}.{field}: {err}");
    }
    // A save_for_hf config with a non-square img_size.
    let dir = tmp.path().join("timm-nonsquare");
    edit_config("timm_save_for_hf", &dir, |v| {
        v["model_args"]["img_size"] = serde_json::json!([56, 42])
    });
    let err = try_load(&dir, "someone/timm-nonsquare", None)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("model_args.img_size is [56, 42]") && err.contains("not square"),
        "{err}"
    );
}

/// The Hugging Face cache layout (`models--org--name/snapshots/REV/`) is
/// found offline through the CLI, for a registered transformers id and an
/// unlisted one, and the missing-processor warning reaches stderr.
#[test]
fn the_hugging_face_cache_layout_loads_through_the_cli() {
    let home = tempfile::tempdir().unwrap();
    let sha = "0123456789abcdef0123456789abcdef01234567";
    let put = |repo: &str, case: &str, skip: &[&str]| {
        let r = home.path().join("hub").join(repo);
        std::fs::create_dir_all(r.join("refs")).unwrap();
        std::fs::write(r.join("refs/main"), sha).unwrap();
        let snap = r.join("snapshots").join(sha);
        std::fs::create_dir_all(&snap).unwrap();
        for e in std::fs::read_dir(hf().join(case)).unwrap() {
            let e = e.unwrap();
            if !skip.iter().any(|s| e.file_name() == *s) {
                std::fs::copy(e.path(), snap.join(e.file_name())).unwrap();
            }
        }
    };
    put("models--facebook--dinov2-small", "dinov2", &[]);
    put(
        "models--someone--my-siglip",
        "siglip",
        &["preprocessor_config.json"],
    );
    let refs = references();
    for (id, case, warns) in [
        ("dinov2-s-hf", "dinov2", false),
        ("someone/my-siglip", "siglip", true),
    ] {
        let out = run(artlens()
            .env("HF_HOME", home.path())
            .args(["embed", "--offline", "--model", id, "--json"])
            .arg(image_path("landscape")));
        assert!(out.status.success(), "{id}: {}", stderr(&out));
        assert_eq!(
            stderr(&out).contains("no preprocessor_config.json"),
            warns,
            "{id}: {}",
            stderr(&out)
        );
        if !warns {
            let v: serde_json::Value =
                serde_json::from_str(stdout(&out).lines().next().unwrap()).unwrap();
            let got: Vec<f32> = v["embedding"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect();
            let (_, cos, rel) = compare(&got, &to_vec(&refs[&format!("{case}/landscape")]));
            assert!(
                cos >= MIN_COSINE && rel <= 1e-4,
                "{id}: cos {cos} rel {rel}"
            );
        }
    }
}

/// By hand, on full-size random checkpoints (not in `cargo test`):
/// `make_hf_fixtures.py --full DIR --cases dinov3,dinov3_gated`, then
/// `ARTLENS_HF_FULL_DIR=DIR cargo test --test tests hf_parity::dinov3_full -- --ignored --nocapture`.
/// The model on the reference processor's own pixels (its end-to-end gap is
/// the preprocessing's, which `scripts/check_zoo_parity.py DIR` shows).
#[test]
#[ignore = "needs full-size checkpoints: ARTLENS_HF_FULL_DIR"]
fn dinov3_full_size_on_reference_pixels() {
    let dir = PathBuf::from(std::env::var("ARTLENS_HF_FULL_DIR").expect("ARTLENS_HF_FULL_DIR"));
    let refs =
        candle_core::safetensors::load(dir.join("reference.safetensors"), &Device::Cpu).unwrap();
    for (case, id) in [
        ("dinov3", "dinov3-b-hf"),
        ("dinov3_gated", "dinov3-splus-hf"),
    ] {
        let model = try_load(&dir.join(case), id, None).unwrap();
        let mut worst: f64 = 0.0;
        for stem in ["landscape", "portrait", "rgba"] {
            let pixels = to_vec(&refs[&format!("dinov3/pixels/{stem}")]);
            let got = model.embed_pixels(pixels, 1).unwrap().remove(0);
            let (_, cos, rel) = compare(&got, &to_vec(&refs[&format!("{case}/{stem}")]));
            eprintln!("{case} ({id}) {stem}: cos {cos:.9} relL2 {rel:.2e}");
            assert!(cos >= MIN_COSINE && rel <= 1e-4, "{case} {stem}");
            worst = worst.max(rel);
        }
        eprintln!("{case}: worst relL2 {worst:.2e}");
    }
}
