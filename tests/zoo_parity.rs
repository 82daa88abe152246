//! Every family of the backbone zoo against its reference library (timm for
//! DINOv2 with registers and giant, DINOv3, CLIP and SigLIP; transformers for
//! DINO ViT-S/8), on tiny random checkpoints of the real hub layouts written
//! by `tests/fixtures/make_zoo_fixtures.py` into `tests/fixtures/zoo/`
//! (f32, bf16, and f16 sharded). `zoo/manifest.json` names each case's hub
//! repository; `zoo/reference.safetensors` holds the references
//! (`CASE[@SIZE][_batch]/STEM`, and `CASE[@SIZE]/pixels/STEM` model inputs).

use crate::common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use artlens::imaging::{decode_file, DecodeLimits};
use artlens::model::{load_backbone, Backbone, BackboneId, BackboneOptions, WeightsSource};
use candle_core::{Device, Tensor};
use common::*;

/// The bounds are cosine ≥ 0.99999 and relative L2 ≤ 1e-3; these
/// tiny models are held to 1e-5, tight enough that a tanh-GELU, a dropped
/// bias or a LayerScale would fail (each is ≥ 1e-4 here).
const MIN_COSINE: f64 = 0.99999;
const MAX_REL_L2: f64 = 1e-5;

fn zoo() -> PathBuf {
    fixtures().join("zoo")
}

fn manifest() -> serde_json::Value {
    let text = std::fs::read_to_string(zoo().join("manifest.json"))
        .expect("tests/fixtures/zoo/manifest.json: run tests/fixtures/make_zoo_fixtures.py");
    serde_json::from_str(&text).unwrap()
}

fn references() -> HashMap<String, Tensor> {
    candle_core::safetensors::load(zoo().join("reference.safetensors"), &Device::Cpu).unwrap()
}

/// (case, hub repository id) of every case in the manifest.
fn cases() -> Vec<(String, String)> {
    let m = manifest();
    let cases = m["cases"].as_object().expect("manifest has cases");
    cases
        .iter()
        .map(|(name, c)| (name.clone(), c["hub_id"].as_str().unwrap().to_string()))
        .collect()
}

fn load(case: &str, hub_id: &str, size: Option<u32>) -> Backbone {
    let mut id = BackboneId::parse(hub_id).unwrap();
    if let Some(s) = size {
        id = id.at_resolution(s).unwrap();
    }
    load_backbone(
        &id,
        &WeightsSource::Dir(zoo().join(case)),
        &BackboneOptions::default(),
    )
    .unwrap_or_else(|e| panic!("loading zoo/{case}: {e}"))
    .0
}

/// Checks one case at one size: every image alone, and all in one batch
/// when the reference has a batch.
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
    assert!(
        stems.len() >= 5,
        "{head}: only {} reference images",
        stems.len()
    );
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
    let batch_key = |s: &str| format!("{head}_batch/{s}");
    if refs.contains_key(&batch_key(stems[0])) {
        let all: Vec<_> = images.iter().collect();
        let got = model.embed_images(&all).unwrap();
        for (stem, g) in stems.iter().zip(&got) {
            check_one(&batch_key(stem), g, &refs[&batch_key(stem)]);
        }
    }
    lines
}

#[test]
fn every_family_matches_its_reference_library() {
    let refs = references();
    let cases = cases();
    assert!(cases.len() >= 12, "the zoo has {} cases", cases.len());
    let mut report = Vec::new();
    for (case, hub_id) in &cases {
        report.extend(check(case, hub_id, None, &refs));
        if refs.keys().any(|k| k.starts_with(&format!("{case}@224/"))) {
            report.extend(check(case, hub_id, Some(224), &refs));
        }
    }
    eprintln!("{}", report.join("\n"));
}

/// The model input is the reference's exactly (each family's transform read
/// from its config: CLIP's crop_pct 0.9, SigLIP's 0.5 mean/std, DINOv3's 256).
#[test]
fn preprocessing_follows_each_checkpoint_config() {
    let refs = references();
    let limits = DecodeLimits::default();
    let img = decode_file(&image_path("landscape"), &limits).unwrap();
    let mut checked = 0;
    for (case, hub_id) in cases() {
        for size in [None, Some(224)] {
            let head = match size {
                Some(s) => format!("{case}@{s}"),
                None => case.clone(),
            };
            let Some(want) = refs.get(&format!("{head}/pixels/landscape")) else {
                continue;
            };
            let model = load(&case, &hub_id, size);
            let got = model.preprocess().apply(&img);
            let want = to_vec(want);
            assert_eq!(got.len(), want.len(), "{head}: input size");
            let (max, _, _) = compare(&got, &want);
            assert!(max <= 1e-5, "{head}: pixels differ by {max}");
            checked += 1;
        }
    }
    assert!(checked >= 5, "only {checked} pixel references");
}

/// f32 safetensors weights are read in place from the mapped file; bf16 and
/// f16 ones are upcast (and still match, see above).
#[test]
fn f32_weights_are_memory_mapped_not_copied() {
    // Every matrix of the file (rank 2, f32) is used in place.
    let file = zoo().join("clip_b16/model.safetensors");
    let matrices: usize = candle_core::safetensors::load(&file, &Device::Cpu)
        .unwrap()
        .values()
        .filter(|t| t.rank() == 2)
        .map(|t| 4 * t.elem_count())
        .sum();
    let clip = load("clip_b16", "timm/vit_base_patch16_clip_224.openai", None);
    assert_eq!(clip.weights_in_place(), matrices);
    let bf16 = load(
        "siglip2_b16_bf16",
        "timm/vit_base_patch16_siglip_224.v2_webli",
        None,
    );
    assert_eq!(bf16.weights_in_place(), 0, "bf16 must be upcast");
}

fn copy_case(case: &str, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(zoo().join(case)).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn broken_checkpoints_name_what_is_wrong() {
    let tmp = tempfile::tempdir().unwrap();
    // A DINOv3 checkpoint without one LayerScale tensor.
    let dir = tmp.path().join("dinov3");
    copy_case("dinov3_b", &dir);
    let path = dir.join("model.safetensors");
    let mut tensors = candle_core::safetensors::load(&path, &Device::Cpu).unwrap();
    tensors.remove("blocks.1.gamma_2").unwrap();
    candle_core::safetensors::save(&tensors, &path).unwrap();
    let id = BackboneId::parse("timm/vit_base_patch16_dinov3.lvd1689m").unwrap();
    let err = load_backbone(
        &id,
        &WeightsSource::Dir(dir.clone()),
        &BackboneOptions::default(),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("blocks.1.gamma_2"), "{err}");

    // A config naming an architecture artlens does not have.
    let dir = tmp.path().join("resnet");
    copy_case("clip_b16", &dir);
    let cfg_path = dir.join("config.json");
    let mut cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cfg_path).unwrap()).unwrap();
    cfg["architecture"] = "resnet50".into();
    std::fs::write(&cfg_path, cfg.to_string()).unwrap();
    let id = BackboneId::parse("someone/resnet50.a1_in1k").unwrap();
    let err = load_backbone(&id, &WeightsSource::Dir(dir), &BackboneOptions::default())
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("`architecture`")
            && err.contains("resnet50")
            && err.contains("vit_base_patch16_siglip_224"),
        "{err}"
    );

    // A shard the index names but that is gone.
    let dir = tmp.path().join("sharded");
    copy_case("clip_b16_f16_sharded", &dir);
    std::fs::remove_file(dir.join("model-00002-of-00002.safetensors")).unwrap();
    let id = BackboneId::parse("timm/vit_base_patch16_clip_224.openai").unwrap();
    let err = load_backbone(&id, &WeightsSource::Dir(dir), &BackboneOptions::default())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("model-00002-of-00002.safetensors"), "{err}");
}

/// `embed` and `bench` take any family by hub id, as users name them, and
/// an unlisted repository of a supported architecture works too.
#[test]
fn the_cli_embeds_and_benches_every_family() {
    let image = image_path("landscape");
    for (case, hub_id) in [
        ("dino_s8", "facebook/dino-vits8"),
        ("dinov2_giant", "dinov2-g"),
        ("dinov3_splus", "dinov3-splus"),
        ("clip_b32_laion", "clip-b32-laion"),
        ("siglip_b16", "siglip-b16"),
        ("dinov3_b", "someone/my-dinov3-finetune"),
    ] {
        let weights = format!("{hub_id}={}", zoo().join(case).display());
        let out = run(artlens().args([
            "--quiet",
            "bench",
            "--model",
            hub_id,
            "--weights",
            &weights,
            "--batch-size",
            "2",
            "--iters",
            "1",
            "--json",
        ]));
        assert!(out.status.success(), "bench {hub_id}: {}", stderr(&out));
        let v: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
        assert!(v["images_per_s"].as_f64().unwrap() > 0.0, "{v}");

        let out = run(artlens()
            .args([
                "--quiet",
                "embed",
                "--model",
                hub_id,
                "--weights",
                &weights,
                "--json",
            ])
            .arg(&image));
        assert!(out.status.success(), "embed {hub_id}: {}", stderr(&out));
        let v: serde_json::Value =
            serde_json::from_str(stdout(&out).lines().next().unwrap()).unwrap();
        let got: Vec<f32> = v["embedding"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect();
        let want = to_vec(&references()[&format!("{case}/landscape")]);
        let (_, cos, rel) = compare(&got, &want);
        assert!(
            cos >= MIN_COSINE && rel <= 1e-4,
            "embed {hub_id}: cos {cos} rel {rel}"
        );
    }
}

/// A gated repository (DINOv3) that the hub refuses says what to do: accept
/// the license, pass a token. The hub is a local server answering 401.
#[test]
fn gated_repositories_explain_the_license_and_the_token() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { break };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let body = "{\"error\":\"Access to model timm/vit_base_patch16_dinov3.lvd1689m is restricted.\"}";
            let _ = write!(
                s,
                "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let home = tempfile::tempdir().unwrap();
    let out = run(artlens()
        .env("HF_HOME", home.path())
        .env("HF_ENDPOINT", format!("http://127.0.0.1:{port}"))
        .env_remove("HF_TOKEN")
        .args(["--quiet", "embed", "--model", "dinov3", "--json"])
        .arg(image_path("landscape")));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("gated")
            && err.contains("https://huggingface.co/timm/vit_base_patch16_dinov3.lvd1689m")
            && err.contains("HF_TOKEN"),
        "{err}"
    );
}

/// `explain` works for every family: the token pass gives the embedding
/// exactly, one token per patch, and the pooling query's attention (the
/// class token's, or SigLIP's latent query's) over the patches.
#[test]
fn every_family_explains_with_patch_tokens() {
    let img = decode_file(&image_path("landscape"), &DecodeLimits::default()).unwrap();
    for (case, hub_id) in cases() {
        let model = load(&case, &hub_id, None);
        let embedding = model.embed_images(&[&img]).unwrap().remove(0);
        let t = model.tokens_images(&[&img]).unwrap().remove(0);
        assert_eq!(
            t.embedding, embedding,
            "{case}: the token pass is the embedding pass"
        );
        assert_eq!(
            t.patches.len(),
            t.grid.0 * t.grid.1,
            "{case}: one token per patch"
        );
        assert_eq!(
            t.cls_attention.len(),
            model.config().num_heads,
            "{case}: heads"
        );
        for row in &t.cls_attention {
            assert_eq!(row.len(), 1 + t.patches.len(), "{case}: attention row");
            let sum: f32 = row.iter().sum();
            assert!(
                sum > 0.0 && sum <= 1.0 + 1e-4,
                "{case}: attention sums to {sum}"
            );
        }
    }
}
