//! `artlens embed` driven as a user would: output format, exit codes, and a
//! clear message for every kind of bad input (weights, configs, images,
//! options) — never a panic or a backtrace.

use crate::common;

use std::fs;
use std::path::{Path, PathBuf};

use common::*;

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

fn assert_clean_failure(o: &std::process::Output, code: i32, needles: &[&str]) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(code), "exit status; stderr: {err}");
    for n in needles {
        assert!(err.contains(n), "stderr lacks `{n}`: {err}");
    }
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "panic: {err}"
    );
}

#[test]
fn json_lines_with_raw_vectors_and_partial_failure() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("notes.png");
    fs::write(&bad, b"this is not an image").unwrap();
    let empty = tmp.path().join("empty.jpg");
    fs::write(&empty, b"").unwrap();
    let good = [image_path("landscape"), image_path("gray")];
    let o = run(artlens()
        .args(["embed", "--model", "dino", "--json", "--weights"])
        .arg(fixtures().join("dino_tiny"))
        .arg(&good[0])
        .arg(&bad)
        .arg(&empty)
        .arg(&good[1]));
    assert_clean_failure(&o, 1, &["notes.png", "empty.jpg"]);
    let lines: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "the good images are still embedded");
    let reference = reference();
    for (line, path) in lines.iter().zip(&good) {
        assert_eq!(line["path"], path.display().to_string());
        assert_eq!(line["model"], "dino");
        assert_eq!(line["dim"], 32);
        let v: Vec<f32> = line["embedding"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect();
        // Raw, not normalised: it matches the reference vector itself.
        let stem = path.file_stem().unwrap().to_str().unwrap();
        let want = to_vec(&reference[&format!("dino/{stem}")]);
        let (max, cos, _) = compare(&v, &want);
        assert!(max < 1e-3 && cos > 0.99999, "{stem}: max {max} cos {cos}");
    }
}

#[test]
fn dinov2_at_a_non_native_size_and_bad_sizes() {
    let o = run(artlens()
        .args([
            "embed",
            "--model",
            "dinov2",
            "--json",
            "--image-size",
            "224",
            "--weights",
        ])
        .arg(fixtures().join("dinov2_tiny"))
        .arg(image_path("portrait")));
    assert!(o.status.success(), "{}", stderr(&o));
    let line: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    let v: Vec<f32> = line["embedding"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect();
    let want = to_vec(&reference()["dinov2@224/portrait"]);
    let (_, cos, rel) = compare(&v, &want);
    assert!(cos > 0.99999 && rel < 1e-3, "cos {cos} rel {rel}");

    let o = run(artlens()
        .args([
            "embed",
            "--model",
            "dinov2",
            "--image-size",
            "225",
            "--weights",
        ])
        .arg(fixtures().join("dinov2_tiny"))
        .arg(image_path("portrait")));
    assert_clean_failure(&o, 2, &["225", "multiple of the patch size 14"]);
    assert!(stdout(&o).is_empty());
}

fn embed_with(weights: &Path, model: &str) -> std::process::Output {
    run(artlens()
        .args(["embed", "--model", model, "--weights"])
        .arg(weights)
        .arg(image_path("landscape")))
}

#[test]
fn weights_problems_name_the_file_and_tensor() {
    let tmp = tempfile::tempdir().unwrap();

    // A folder that does not exist.
    let o = embed_with(&tmp.path().join("nowhere"), "dino");
    assert_clean_failure(
        &o,
        2,
        &["nowhere", "huggingface-cli download facebook/dino-vitb16"],
    );

    // A truncated safetensors file.
    let trunc = tmp.path().join("trunc");
    copy_dir(&fixtures().join("dino_tiny"), &trunc);
    let st = trunc.join("model.safetensors");
    let len = fs::metadata(&st).unwrap().len();
    let f = fs::OpenOptions::new().write(true).open(&st).unwrap();
    f.set_len(len / 2).unwrap();
    let o = embed_with(&trunc, "dino");
    assert_clean_failure(&o, 2, &["model.safetensors", "re-download"]);

    // A zero-byte weights file.
    let zero = tmp.path().join("zero");
    copy_dir(&fixtures().join("dino_tiny"), &zero);
    fs::write(zero.join("model.safetensors"), b"").unwrap();
    assert_clean_failure(
        &embed_with(&zero, "dino"),
        2,
        &["model.safetensors", "empty"],
    );

    // A tensor with the wrong shape, and one missing.
    let tensors = candle_core::safetensors::load(
        fixtures().join("dinov2_tiny/model.safetensors"),
        &candle_core::Device::Cpu,
    )
    .unwrap();
    let shaped = tmp.path().join("shaped");
    copy_dir(&fixtures().join("dinov2_tiny"), &shaped);
    let mut t2 = tensors.clone();
    t2.insert(
        "blocks.1.mlp.fc1.weight".into(),
        candle_core::Tensor::zeros((64, 16), candle_core::DType::F32, &candle_core::Device::Cpu)
            .unwrap(),
    );
    candle_core::safetensors::save(&t2, shaped.join("model.safetensors")).unwrap();
    assert_clean_failure(
        &embed_with(&shaped, "dinov2"),
        2,
        &["blocks.1.mlp.fc1.weight", "[64, 16]", "[128, 32]"],
    );

    let missing = tmp.path().join("missing");
    copy_dir(&fixtures().join("dinov2_tiny"), &missing);
    let mut t3 = tensors;
    t3.remove("blocks.0.ls1.gamma");
    candle_core::safetensors::save(&t3, missing.join("model.safetensors")).unwrap();
    assert_clean_failure(
        &embed_with(&missing, "dinov2"),
        2,
        &["blocks.0.ls1.gamma", "missing"],
    );
}

#[test]
fn configs_of_other_models_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let arch = tmp.path().join("resnet");
    copy_dir(&fixtures().join("dinov2_tiny"), &arch);
    let mut cfg: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(arch.join("config.json")).unwrap()).unwrap();
    cfg["architecture"] = "resnet50".into();
    fs::write(arch.join("config.json"), cfg.to_string()).unwrap();
    assert_clean_failure(
        &embed_with(&arch, "dinov2"),
        2,
        &["config.json", "resnet50"],
    );

    let bert = tmp.path().join("bert");
    copy_dir(&fixtures().join("dino_tiny"), &bert);
    let mut cfg: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(bert.join("config.json")).unwrap()).unwrap();
    cfg["model_type"] = "bert".into();
    fs::write(bert.join("config.json"), cfg.to_string()).unwrap();
    assert_clean_failure(&embed_with(&bert, "dino"), 2, &["config.json", "bert"]);

    // A DINOv2 (timm) folder handed to --model dino (transformers): the
    // error names both formats.
    assert_clean_failure(
        &embed_with(&fixtures().join("dinov2_tiny"), "dino"),
        2,
        &[
            "config.json",
            "transformers checkpoint",
            "holds a timm checkpoint",
        ],
    );

    let garbled = tmp.path().join("garbled");
    copy_dir(&fixtures().join("dino_tiny"), &garbled);
    fs::write(garbled.join("config.json"), b"{ not json").unwrap();
    assert_clean_failure(
        &embed_with(&garbled, "dino"),
        2,
        &["config.json", "not a valid"],
    );
}

#[test]
fn offline_without_weights_says_how_to_get_them() {
    let home = tempfile::tempdir().unwrap();
    let o = run(artlens()
        .env("HF_HOME", home.path())
        .args(["embed", "--model", "dinov2", "--offline"])
        .arg(image_path("landscape")));
    assert_clean_failure(
        &o,
        2,
        &[
            "timm/vit_base_patch14_dinov2.lvd142m",
            "--offline",
            "huggingface-cli download",
            "--weights DIR",
        ],
    );
}

#[test]
fn hub_cache_layout_is_found_offline() {
    // A Hugging Face cache laid out as hf-hub writes it: refs/main → snapshot.
    let home = tempfile::tempdir().unwrap();
    let repo = home
        .path()
        .join("hub/models--timm--vit_base_patch14_dinov2.lvd142m");
    let snap = repo.join("snapshots/0123456789abcdef");
    copy_dir(&fixtures().join("dinov2_tiny"), &snap);
    fs::create_dir_all(repo.join("refs")).unwrap();
    fs::write(repo.join("refs/main"), "0123456789abcdef").unwrap();
    let o = run(artlens()
        .env("HF_HOME", home.path())
        .args(["embed", "--model", "dinov2", "--offline", "--json"])
        .arg(image_path("landscape")));
    assert!(o.status.success(), "{}", stderr(&o));
    let line: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(line["dim"], 32);
}

#[test]
fn cuda_without_the_feature_is_a_clear_error() {
    if cfg!(feature = "cuda") {
        return;
    }
    let o = run(artlens()
        .args([
            "embed",
            "--model",
            "dino",
            "--device",
            "cuda:0",
            "--weights",
        ])
        .arg(fixtures().join("dino_tiny"))
        .arg(image_path("landscape")));
    assert_clean_failure(&o, 2, &["--features cuda"]);
}

/// bf16 is for CUDA: on CPU it is refused with the reason and what to do,
/// before anything is embedded; a misspelt precision is a usage error; and
/// `bench --json` says which precision and device it measured.
#[test]
fn precision_is_checked_and_reported() {
    let embed = |precision: &str| {
        run(artlens()
            .args(["embed", "--model", "dino", "--precision", precision])
            .arg("--weights")
            .arg(fixtures().join("dino_tiny"))
            .arg(image_path("landscape")))
    };
    let o = embed("bf16");
    // bf16 on CPU runs where the CPU has AVX512_BF16 and is refused, with
    // that reason, elsewhere.
    #[cfg(target_arch = "x86_64")]
    let has_bf16 = std::arch::is_x86_feature_detected!("avx512bf16");
    #[cfg(not(target_arch = "x86_64"))]
    let has_bf16 = false;
    if has_bf16 {
        assert_eq!(o.status.code(), Some(0), "bf16 on this CPU: {}", stderr(&o));
        assert!(!stdout(&o).is_empty(), "bf16 embedded nothing");
    } else {
        assert_clean_failure(
            &o,
            2,
            &["needs the AVX512_BF16 instructions", "--device cuda"],
        );
        assert!(stdout(&o).is_empty(), "nothing embedded: {}", stdout(&o));
    }

    let o = embed("fp8");
    assert_clean_failure(&o, 2, &["fp8", "f32 or bf16"]);

    let o = run(artlens()
        .args([
            "bench",
            "--model",
            "dino",
            "--batch-size",
            "2",
            "--iters",
            "1",
            "--json",
        ])
        .args(["--precision", "f32", "--weights"])
        .arg(fixtures().join("dino_tiny")));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["precision"], "f32");
    assert_eq!(v["device"], "cpu");
    assert!(v["images_per_s"].as_f64().unwrap() > 0.0);
}

#[test]
fn unreadable_image_paths_are_named() {
    let missing: PathBuf = std::env::temp_dir().join("artlens-no-such-image.png");
    let o = run(artlens()
        .args(["embed", "--model", "dino", "--weights"])
        .arg(fixtures().join("dino_tiny"))
        .arg(&missing));
    assert_clean_failure(&o, 1, &["artlens-no-such-image.png"]);
}

/// `bench --decode DIR` times the decode pool alone over every image of a
/// folder: it counts each image, counts a broken one as failed instead of
/// stopping, and refuses a folder with no images by name.
#[test]
fn bench_decode_times_the_decode_pool_alone() {
    let dir = tempfile::tempdir().unwrap();
    let images = ["photo.jpg", "photo_exif6.jpg", "landscape.png", "gray.png"];
    for name in images {
        fs::copy(fixtures().join("images").join(name), dir.path().join(name)).unwrap();
    }
    fs::write(
        dir.path().join("broken.jpg"),
        b"\xff\xd8\xff\xe0 not a jpeg",
    )
    .unwrap();
    let bench = |folder: &Path| {
        run(artlens()
            .args([
                "bench",
                "--model",
                "dino",
                "--decode-threads",
                "2",
                "--json",
                "--decode",
            ])
            .arg(folder)
            .arg("--weights")
            .arg(fixtures().join("dino_tiny")))
    };
    let o = bench(dir.path());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["mode"], "decode");
    assert_eq!(v["images"], images.len() + 1);
    assert_eq!(v["failed"], 1);
    assert_eq!(v["threads"], 2);
    assert!(v["images_per_s"].as_f64().unwrap() > 0.0);
    assert!(v["megapixels_per_s"].as_f64().unwrap() > 0.0);

    let empty = tempfile::tempdir().unwrap();
    let o = bench(empty.path());
    assert_clean_failure(&o, 2, &["holds no image files"]);
}
