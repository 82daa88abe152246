//! `artlens models`: the zoo's registry and the local Hugging Face cache,
//! through the real binary.

use crate::common;

use common::*;

#[test]
fn models_lists_the_zoo_and_what_is_cached() {
    // A Hugging Face cache holding one checkpoint, in hf-hub's layout.
    let home = tempfile::tempdir().unwrap();
    let repo = home
        .path()
        .join("hub/models--timm--vit_base_patch16_clip_224.openai");
    let sha = "0123456789abcdef0123456789abcdef01234567";
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs/main"), sha).unwrap();
    let snap = repo.join("snapshots").join(sha);
    std::fs::create_dir_all(&snap).unwrap();
    for f in ["config.json", "model.safetensors"] {
        std::fs::copy(fixtures().join("zoo/clip_b16").join(f), snap.join(f)).unwrap();
    }

    let out = run(artlens()
        .env("HF_HOME", home.path())
        .args(["models", "--json"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let models: Vec<serde_json::Value> = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(models.len(), 44);
    let get = |id: &str| models.iter().find(|m| m["id"] == id).unwrap().clone();
    let v2 = get("dinov2");
    assert_eq!(v2["hub_id"], "timm/vit_base_patch14_dinov2.lvd142m");
    assert_eq!(
        (
            v2["patch_size"].as_u64(),
            v2["resolution"].as_u64(),
            v2["embedding_dim"].as_u64()
        ),
        (Some(14), Some(518), Some(768))
    );
    assert_eq!(v2["pretraining_images"], 142_000_000);
    assert_eq!(v2["params"], 86_579_712);
    assert_eq!(get("siglip-b16")["family"], "siglip");
    // The transformers twins: the same weights and facts, their own
    // processor's resolution.
    let hf = get("dinov2-b-hf");
    assert_eq!(hf["hub_id"], "facebook/dinov2-base");
    assert_eq!(
        (hf["params"].clone(), hf["resolution"].as_u64()),
        (v2["params"].clone(), Some(224))
    );
    assert_eq!(hf["pretraining_images"], 142_000_000);
    assert_eq!(get("clip-b32-hf")["hub_id"], "openai/clip-vit-base-patch32");
    assert_eq!(
        get("siglip2-b16-hf")["hub_id"],
        "google/siglip2-base-patch16-224"
    );
    assert_eq!(get("dinov3-b-hf")["gated"], true);
    assert_eq!(get("dinov3")["gated"], true);
    assert_eq!(get("dino-vits8")["pretraining_data"], "ImageNet-1k");
    // The ladder's order: pretraining data, smallest first.
    let images: Vec<u64> = models
        .iter()
        .map(|m| m["pretraining_images"].as_u64().unwrap())
        .collect();
    assert!(images.windows(2).all(|w| w[0] <= w[1]), "{images:?}");
    // Exactly the one cached checkpoint is reported as cached, with its folder.
    let cached: Vec<&str> = models
        .iter()
        .filter(|m| m["cached"] == true)
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(cached, ["clip-b16"]);
    assert_eq!(
        get("clip-b16")["cached_path"].as_str().unwrap(),
        snap.to_str().unwrap()
    );

    // The table: a header and one line per model.
    let out = run(artlens().env("HF_HOME", home.path()).arg("models"));
    assert!(out.status.success());
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 45, "{text}");
    assert!(lines[0].starts_with("id") && lines[0].contains("pretraining data"));
    let clip = lines.iter().find(|l| l.starts_with("clip-b16 ")).unwrap();
    assert!(
        clip.contains(snap.to_str().unwrap()) && clip.contains("400M"),
        "{clip}"
    );
    let giant = lines.iter().find(|l| l.starts_with("dinov2-g ")).unwrap();
    assert!(giant.contains("1.14B") && giant.ends_with("no"), "{giant}");
}
