//! The text towers (`artlens::model::text`) against their references, on
//! the tiny random `CLIPModel` and `SiglipModel` checkpoints and the tiny
//! timm CLIP repository with open_clip's files that
//! `tests/fixtures/text/make_text_fixtures.py` writes with their tokenizer
//! files: token ids identical on hard strings (accents, CJK, emoji,
//! punctuation runs, upper case, empty, longer than the context; for
//! open_clip also its text cleaning and its special tokens),
//! `get_text_features` / `encode_text` to 1e-5 (largest absolute
//! difference of the L2-normalised vectors, and relative L2), and the
//! projected image embedding (`get_image_features` / `encode_image`) to
//! the PNG bound of the image parity tests.

use crate::common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use artlens::imaging::{decode_file, DecodeLimits};
use artlens::model::text::TextTower;
use artlens::model::{load_backbone, resolve, BackboneId, BackboneOptions, WeightsSource};
use candle_core::{Device, Tensor};
use common::*;

/// Text embeddings: the bound the task sets, on normalised vectors.
const TEXT_MAX_ABS: f32 = 1e-5;
const TEXT_MAX_REL_L2: f64 = 1e-5;
/// Projected image embeddings: the PNG bound of `tests/hf_parity.rs`.
const IMAGE_MIN_COSINE: f64 = 0.99999;
const IMAGE_MAX_REL_L2: f64 = 1e-5;

fn dir() -> PathBuf {
    fixtures().join("text")
}

fn references() -> HashMap<String, Tensor> {
    candle_core::safetensors::load(dir().join("reference.safetensors"), &Device::Cpu).expect(
        "tests/fixtures/text/reference.safetensors: run tests/fixtures/text/make_text_fixtures.py",
    )
}

fn manifest() -> serde_json::Value {
    let text = std::fs::read_to_string(dir().join("manifest.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn texts(m: &serde_json::Value) -> Vec<String> {
    m["texts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect()
}

/// The strings of `case`: the shared ones, then the case's own
/// (`extra_texts`: open_clip's cleaning and special tokens).
fn case_texts(m: &serde_json::Value, case: &str) -> Vec<String> {
    let mut all = texts(m);
    if let Some(extra) = m["cases"][case]["extra_texts"].as_array() {
        all.extend(extra.iter().map(|t| t.as_str().unwrap().to_string()));
    }
    all
}

/// Every case of the fixture: transformers' CLIP and SigLIP, a timm CLIP
/// repository's open_clip text tower, and SigLIP 2's fixed-resolution
/// layout (a `SiglipModel` with Gemma's tokenizer).
const CASES: [&str; 4] = ["clip", "siglip", "openclip", "siglip2"];

fn id_of(case: &str) -> BackboneId {
    let m = manifest();
    BackboneId::parse(m["cases"][case]["hub_id"].as_str().unwrap()).unwrap()
}

fn try_tower(folder: &Path, id: &BackboneId) -> artlens::Result<TextTower> {
    let files = resolve(id, &WeightsSource::Dir(folder.to_path_buf()))?;
    TextTower::load(id, &files)
}

fn tower(case: &str) -> TextTower {
    try_tower(&dir().join(case), &id_of(case)).unwrap_or_else(|e| panic!("text/{case}: {e}"))
}

fn ids(t: &Tensor) -> Vec<u32> {
    t.to_vec1::<i64>()
        .unwrap()
        .into_iter()
        .map(|i| i as u32)
        .collect()
}

fn normalised(v: &[f32]) -> Vec<f32> {
    let n = v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    v.iter().map(|x| (f64::from(*x) / n) as f32).collect()
}

/// Token ids equal the reference tokenizer's for every string (CLIP: BOS,
/// text, EOS, cut to 77; SigLIP: canonicalised text and EOS, cut and padded
/// to 64), except SigLIP's strings that hold a special token's literal
/// text, which the slow tokenizer reads as that token (documented).
#[test]
fn token_ids_equal_the_reference_tokenizers() {
    let refs = references();
    let m = manifest();
    for case in CASES {
        let texts = case_texts(&m, case);
        let t = tower(case);
        let context = m["cases"][case]["context"].as_u64().unwrap() as usize;
        assert_eq!(t.context_length(), context, "{case}: context length");
        let specials: Vec<usize> = m["cases"][case]["special_literals"]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_u64().unwrap() as usize).collect())
            .unwrap_or_default();
        let mut equal = 0;
        for (i, text) in texts.iter().enumerate() {
            let want = ids(&refs[&format!("{case}/ids/{i}")]);
            let got = t.token_ids(text).unwrap();
            if specials.contains(&i) {
                assert_ne!(
                    got, want,
                    "{case}: text {i} {text:?} was expected to differ"
                );
                continue;
            }
            assert_eq!(got, want, "{case}: token ids of text {i} {text:?}");
            assert!(got.len() <= context, "{case}: {} ids", got.len());
            equal += 1;
        }
        assert!(equal >= 17, "{case}: {equal} strings compared");
    }
}

/// `get_text_features`, normalised, to 1e-5 (max |diff| and relative L2),
/// batched and one text at a time; the long strings say they were cut.
#[test]
fn text_embeddings_equal_get_text_features() {
    let refs = references();
    let m = manifest();
    let shared = texts(&m).len();
    let mut report = Vec::new();
    for case in CASES {
        let texts = case_texts(&m, case);
        let all: Vec<&str> = texts.iter().map(String::as_str).collect();
        let t = tower(case);
        let specials: Vec<usize> = m["cases"][case]["special_literals"]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_u64().unwrap() as usize).collect())
            .unwrap_or_default();
        let batched = t.embed_texts(&all).unwrap();
        assert_eq!(batched.len(), texts.len());
        let mut worst = (0f32, 0f64);
        for (i, text) in texts.iter().enumerate() {
            let alone = t.embed_texts(&[text]).unwrap().remove(0);
            assert_eq!(alone.truncated, alone.tokens > t.context_length());
            assert_eq!(
                alone,
                batched[i].clone(),
                "{case}: text {i} alone vs batched"
            );
            if specials.contains(&i) {
                continue;
            }
            let want = normalised(&to_vec(&refs[&format!("{case}/text/{i}")]));
            let got = &batched[i].vector;
            let (max, _, rel) = compare(got, &want);
            assert!(
                max <= TEXT_MAX_ABS && rel <= TEXT_MAX_REL_L2,
                "{case}: text {i} {text:?}: max|diff| {max:.2e}, relL2 {rel:.2e}"
            );
            worst = (worst.0.max(max), worst.1.max(rel));
        }
        report.push(format!(
            "{case}: worst max|diff| {:.2e}, relL2 {:.2e} over {} texts",
            worst.0,
            worst.1,
            texts.len()
        ));
        // The two shared strings longer than every context are cut, and say
        // so.
        let long: Vec<usize> = (0..texts.len()).filter(|&i| batched[i].truncated).collect();
        assert_eq!(long, vec![shared - 2, shared - 1], "{case}: truncated");
        assert!(!batched[0].truncated && batched[0].tokens < t.context_length());
    }
    eprintln!("{}", report.join("\n"));
}

/// The stored image embedding (the vision tower's `pooler_output`, as
/// `index` stores it) projected into the joint space equals
/// `get_image_features` normalised: CLIP through `visual_projection`,
/// SigLIP as it is.
#[test]
fn projected_image_embeddings_equal_get_image_features() {
    let refs = references();
    let m = manifest();
    let limits = DecodeLimits::default();
    for case in CASES {
        let id = id_of(case);
        let t = tower(case);
        let (backbone, _) = load_backbone(
            &id,
            &WeightsSource::Dir(dir().join(case)),
            &BackboneOptions::default(),
        )
        .unwrap();
        for stem in m["images"].as_array().unwrap() {
            let stem = stem.as_str().unwrap();
            let img = decode_file(&image_path(stem), &limits).unwrap();
            let stored = backbone.embed_images(&[&img]).unwrap().remove(0);
            assert_eq!(stored.len(), t.image_dim());
            let got = t.project_image(&stored);
            assert_eq!(got.len(), t.joint_dim());
            let want = normalised(&to_vec(&refs[&format!("{case}/image/{stem}")]));
            let (max, cos, rel) = compare(&got, &want);
            assert!(
                cos >= IMAGE_MIN_COSINE && rel <= IMAGE_MAX_REL_L2,
                "{case}/{stem}: max|diff| {max:.2e} cos {cos:.9} relL2 {rel:.2e}"
            );
        }
        // A vector of another length is not this backbone's.
        assert!(t.project_image(&[1.0, 2.0]).is_empty());
    }
}

/// Copies a fixture folder without some of its files.
fn copy_without(case: &str, drop: &[&str], add: &[&str]) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(dir().join(case)).unwrap() {
        let p = entry.unwrap().path();
        let name = p.file_name().unwrap().to_str().unwrap().to_string();
        if !drop.contains(&name.as_str()) {
            std::fs::copy(&p, tmp.path().join(&name)).unwrap();
        }
    }
    for name in add {
        std::fs::write(tmp.path().join(name), "{}").unwrap();
    }
    tmp
}

/// A folder without tokenizer.json is refused naming the file and the fix,
/// whatever it holds instead; a checkpoint without a text tower, and a text
/// too long to be a query, are refused by name.
#[test]
fn missing_tokenizers_and_image_only_checkpoints_are_refused_by_name() {
    let id = id_of("clip");
    let bare = copy_without("clip", &["tokenizer.json"], &[]);
    let e = try_tower(bare.path(), &id).err().unwrap().to_string();
    assert!(
        e.contains("tokenizer.json") && e.contains("huggingface-cli download"),
        "{e}"
    );
    let slow = copy_without("clip", &["tokenizer.json"], &["vocab.json", "merges.txt"]);
    let e = try_tower(slow.path(), &id).err().unwrap().to_string();
    assert!(
        e.contains("vocab.json") && e.contains("merges.txt") && e.contains("save_pretrained"),
        "{e}"
    );
    // spiece.model is converted only for SiglipTokenizer, which
    // tokenizer_config.json names.
    let spm = copy_without("siglip", &["tokenizer.json", "tokenizer_config.json"], &[]);
    let e = try_tower(spm.path(), &id_of("siglip"))
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("spiece.model") && e.contains("tokenizer_config.json"),
        "{e}"
    );

    // Another model's tokenizer, with more tokens than the embedding table
    // (CLIP's 1,514 for SigLIP's 300), is refused naming the file; a
    // corrupt tokenizer.json too.
    let mixed = copy_without("siglip", &["tokenizer.json", "tokenizer_config.json"], &[]);
    let mixed_json = mixed.path().join("tokenizer.json");
    std::fs::copy(dir().join("clip").join("tokenizer.json"), &mixed_json).unwrap();
    let e = try_tower(mixed.path(), &id_of("siglip"))
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("tokenizer.json") && e.contains("vocab_size is 300"),
        "{e}"
    );
    std::fs::write(&mixed_json, "{ not json").unwrap();
    let e = try_tower(mixed.path(), &id_of("siglip"))
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("tokenizer.json") && e.contains("not a readable"),
        "{e}"
    );

    // An image-only transformers checkpoint (DINOv2): no text tower.
    let dinov2 = fixtures().join("hf").join("dinov2");
    let dino_id = BackboneId::parse("facebook/dinov2-small").unwrap();
    let e = try_tower(&dinov2, &dino_id).err().unwrap();
    assert!(matches!(e, artlens::Error::NoTextTower { .. }), "{e}");
    assert!(e.to_string().contains("clip-b32-hf"), "{e}");

    let t = tower("clip");
    let huge = "a".repeat(artlens::limits::MAX_TEXT_BYTES + 1);
    let e = t.embed_texts(&[&huge]).err().unwrap().to_string();
    assert!(e.contains("text 1") && e.contains("bytes"), "{e}");
}

/// A timm CLIP folder without open_clip's files (the image tower alone, as
/// `index` downloads it) has no text tower, and says which files to fetch
/// and how; an open_clip option artlens does not implement, and a
/// vocabulary that is not CLIP's, are refused naming the field and file.
#[test]
fn a_timm_clip_folder_without_open_clip_files_names_them() {
    let id = id_of("openclip");
    let files = [
        "open_clip_config.json",
        "open_clip_model.safetensors",
        "tokenizer.json",
    ];
    let bare = copy_without("openclip", &files, &[]);
    let e = try_tower(bare.path(), &id).err().unwrap();
    assert!(matches!(e, artlens::Error::NoTextTower { .. }), "{e}");
    let text = e.to_string();
    for f in files {
        assert!(text.contains(f), "{f}: {text}");
    }
    assert!(
        text.contains("huggingface-cli download timm/vit_base_patch16_clip_224.openai"),
        "{text}"
    );

    let config: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir().join("openclip").join(files[0])).unwrap(),
    )
    .unwrap();
    let mut odd = config.clone();
    odd["model_cfg"]["text_cfg"]["pool_type"] = "first".into();
    let folder = copy_without("openclip", &[], &[]);
    std::fs::write(folder.path().join(files[0]), odd.to_string()).unwrap();
    let e = try_tower(folder.path(), &id).err().unwrap().to_string();
    assert!(
        e.contains("text_cfg.pool_type") && e.contains("open_clip_config.json"),
        "{e}"
    );

    // SigLIP's tokenizer.json is not CLIP's byte-level BPE.
    std::fs::write(folder.path().join(files[0]), config.to_string()).unwrap();
    std::fs::copy(
        dir().join("siglip").join("tokenizer.json"),
        folder.path().join("tokenizer.json"),
    )
    .unwrap();
    let e = try_tower(folder.path(), &id).err().unwrap().to_string();
    assert!(e.contains("tokenizer.json"), "{e}");
}

/// A SigLIP folder with only `spiece.model` (as `google/siglip-base-patch16-224`
/// ships) is converted in Rust to the tokenizer transformers' converter
/// writes: the same ids on every string, and the same embeddings.
#[test]
fn a_siglip_folder_with_only_spiece_model_tokenizes_as_the_reference() {
    let refs = references();
    let m = manifest();
    let texts = texts(&m);
    let spm = copy_without("siglip", &["tokenizer.json"], &[]);
    let id = id_of("siglip");
    let converted = try_tower(spm.path(), &id).unwrap();
    let from_json = tower("siglip");
    let all: Vec<&str> = texts.iter().map(String::as_str).collect();
    for (i, text) in texts.iter().enumerate() {
        assert_eq!(
            converted.token_ids(text).unwrap(),
            from_json.token_ids(text).unwrap(),
            "text {i} {text:?}"
        );
    }
    let a = converted.embed_texts(&all).unwrap();
    let b = from_json.embed_texts(&all).unwrap();
    assert_eq!(a, b);
    let want = ids(&refs["siglip/ids/0"]);
    assert_eq!(converted.token_ids(&texts[0]).unwrap(), want);
}

/// `Collection::text_tower` on a store indexed with the CLIP fixture: loaded
/// once and kept, refused by name for an image-only backbone, and refused
/// when the weights found are not the ones the store's embeddings came from.
#[test]
fn the_collection_keeps_one_text_tower_and_checks_its_weights() {
    use artlens::app::{Event, IndexRequest, WeightsConfig};
    use artlens::pipeline::IndexOptions;
    use artlens::Collection;

    let tmp = tempfile::tempdir().unwrap();
    let works = tmp.path().join("works");
    std::fs::create_dir(&works).unwrap();
    for stem in ["landscape", "portrait", "small"] {
        std::fs::copy(image_path(stem), works.join(format!("{stem}.png"))).unwrap();
    }
    let id = id_of("clip");
    let mut weights = WeightsConfig::default();
    weights.set_dir(&id, dir().join("clip"), true);
    let store = tmp.path().join("store");
    let c = Collection::create(&store, weights).unwrap();
    let req = IndexRequest {
        dir: works,
        metadata: None,
        skip_bad_metadata: false,
        backbones: vec![id.clone()],
        rebuild: Vec::new(),
        shard: None,
        options: IndexOptions::default(),
    };
    let mut quiet = |_: Event| {};
    let s = c.index(&req, &mut quiet).unwrap();
    assert_eq!(s.embedded, 3);
    let a = c.text_tower(&id).unwrap();
    let b = c.text_tower(&id).unwrap();
    assert!(std::sync::Arc::ptr_eq(&a, &b), "loaded once, then kept");
    assert_eq!(
        a.embed_texts(&["a stormy sea"]).unwrap()[0].vector.len(),
        24
    );

    let dino = BackboneId::parse("dino").unwrap();
    let e = c.text_tower(&dino).err().unwrap();
    assert!(matches!(e, artlens::Error::NoTextTower { .. }), "{e}");
    let text = e.to_string();
    assert!(
        text.contains("dino") && text.contains("clip-b16-hf"),
        "{text}"
    );
    drop(c);

    // Other weights than the store's: refused before anything is projected.
    let other = copy_without("clip", &[], &[]);
    let st = other.path().join("model.safetensors");
    let mut bytes = std::fs::read(&st).unwrap();
    bytes.push(b' ');
    std::fs::write(&st, bytes).unwrap();
    let mut weights = WeightsConfig::default();
    weights.set_dir(&id, other.path().to_path_buf(), true);
    let c = Collection::open(&store, weights).unwrap();
    let e = c.text_tower(&id).err().unwrap();
    assert!(
        matches!(e, artlens::Error::FingerprintMismatch { .. }),
        "{e}"
    );
}

/// By hand, on full-size random text towers (CLIP ViT-B/32's with OpenAI's
/// whole BPE vocabulary, so CLIP's real tokenizer; SigLIP-B's) written by
/// `make_text_fixtures.py --full DIR`:
/// `ARTLENS_TEXT_FULL=DIR cargo test --test tests text_parity -- --ignored --nocapture`.
/// Prints the worst differences and the time per text.
#[test]
#[ignore = "needs ARTLENS_TEXT_FULL: a folder written by make_text_fixtures.py --full"]
fn full_size_text_towers_by_hand() {
    let root = PathBuf::from(std::env::var("ARTLENS_TEXT_FULL").expect("ARTLENS_TEXT_FULL"));
    let refs =
        candle_core::safetensors::load(root.join("reference.safetensors"), &Device::Cpu).unwrap();
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("manifest.json")).unwrap())
            .unwrap();
    let texts = texts(&m);
    let all: Vec<&str> = texts.iter().map(String::as_str).collect();
    for case in ["clip", "siglip"] {
        let id = BackboneId::parse(m["cases"][case]["hub_id"].as_str().unwrap()).unwrap();
        let t = try_tower(&root.join(case), &id).unwrap();
        let specials: Vec<usize> = m["cases"][case]["special_literals"]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_u64().unwrap() as usize).collect())
            .unwrap_or_default();
        let start = std::time::Instant::now();
        let got = t.embed_texts(&all).unwrap();
        let per_text = start.elapsed().as_secs_f64() * 1000.0 / all.len() as f64;
        let (mut worst_abs, mut worst_rel, mut same_ids) = (0f32, 0f64, 0);
        for (i, text) in texts.iter().enumerate() {
            if specials.contains(&i) {
                continue;
            }
            let want_ids = ids(&refs[&format!("{case}/ids/{i}")]);
            assert_eq!(
                t.token_ids(text).unwrap(),
                want_ids,
                "{case}: ids of {text:?}"
            );
            same_ids += 1;
            let want = normalised(&to_vec(&refs[&format!("{case}/text/{i}")]));
            let (max, _, rel) = compare(&got[i].vector, &want);
            worst_abs = worst_abs.max(max);
            worst_rel = worst_rel.max(rel);
        }
        eprintln!(
            "{case} full size: ids equal on {same_ids} strings; worst max|diff| {worst_abs:.2e}, relL2 {worst_rel:.2e}; {per_text:.1} ms per text ({} texts in one call)",
            all.len()
        );
        assert!(worst_abs <= 1e-5 && worst_rel <= 1e-5);
    }
}

/// By hand, the cost of `search`'s exact scan (docs/BACKBONES.md, "Search:
/// exact scan, not the ANN index"): 100,000 random unit vectors of CLIP-B's
/// joint width (512) and SigLIP-B's (768), the index built once (as
/// `search` memoises it per store revision), then single queries timed:
/// `cargo test --test tests text_parity::exact_scan_cost -- --ignored --nocapture`.
#[test]
#[ignore = "a timing, by hand"]
fn exact_scan_cost_at_100k_works() {
    use artlens::ann::ExactIndex;
    let n = 100_000;
    for dim in [512usize, 768] {
        let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ dim as u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        };
        let vectors: Vec<Vec<f32>> = (0..n)
            .map(|_| normalised(&(0..dim).map(|_| next()).collect::<Vec<_>>()))
            .collect();
        let items: Vec<(u64, &[f32])> = vectors
            .iter()
            .enumerate()
            .map(|(i, v)| (i as u64, v.as_slice()))
            .collect();
        let start = std::time::Instant::now();
        let index = ExactIndex::new(dim, &items).unwrap();
        let build = start.elapsed().as_secs_f64() * 1e3;
        let queries = 20;
        let start = std::time::Instant::now();
        for q in 0..queries {
            let hits = index.search(&vectors[q * 997], 10, None).unwrap();
            assert_eq!(hits[0].0, (q * 997) as u64, "a vector finds itself first");
        }
        let per_query = start.elapsed().as_secs_f64() * 1e3 / queries as f64;
        eprintln!(
            "exact scan, {n} x {dim}: build {build:.0} ms once, {per_query:.1} ms per query (top 10)"
        );
    }
}
