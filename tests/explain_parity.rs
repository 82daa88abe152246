//! Patch tokens and the last block's CLS attention against the reference
//! libraries on the tiny fixture checkpoints: transformers
//! (`output_attentions=True`, eager attention) for DINO, timm (the last
//! block's softmax(q·kᵀ·scale), recomputed from its own modules) for DINOv2.
//! The references are `tests/fixtures/explain_reference.safetensors`, written
//! by `tests/fixtures/make_explain_fixtures.py`.

use crate::common;

use std::collections::HashMap;

use artlens::imaging::{decode_file, DecodeLimits};
use artlens::model::{load_backbone, BackboneOptions, WeightsSource};
use candle_core::{Device, Tensor};
use common::*;

/// The embedding parity tests demand relative L2 ≤ 1e-5 (the references'
/// own noise is ≈ 4e-7); the same bound holds for every token.
const MAX_REL_L2: f64 = 1e-5;
/// Attention probabilities are in [0, 1]; float32 softmax noise is ≈ 1e-7 (measured ≤ 8e-8).
const MAX_ATTENTION_DIFF: f32 = 1e-6;

fn references() -> HashMap<String, Tensor> {
    let path = fixtures().join("explain_reference.safetensors");
    candle_core::safetensors::load(&path, &Device::Cpu).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run tests/fixtures/make_explain_fixtures.py)",
            path.display()
        )
    })
}

fn check(model: &str, dir: &str) {
    let refs = references();
    let id = artlens::BackboneId::parse(model).unwrap();
    let (backbone, _) = load_backbone(
        &id,
        &WeightsSource::Dir(fixtures().join(dir)),
        &BackboneOptions::default(),
    )
    .unwrap();
    let heads = backbone.config().num_heads;
    let mut stems: Vec<&str> = refs
        .keys()
        .filter_map(|k| {
            k.strip_prefix(&format!("{model}/"))?
                .strip_suffix("/tokens")
        })
        .collect();
    stems.sort();
    assert!(
        stems.len() >= 3,
        "{model}: too few reference images: {stems:?}"
    );
    let images: Vec<_> = stems
        .iter()
        .map(|s| decode_file(&image_path(s), &DecodeLimits::default()).unwrap())
        .collect();
    let imgs: Vec<&image::RgbImage> = images.iter().collect();
    // One batch: each image's tokens must not depend on its batch mates.
    let got = backbone.tokens_images(&imgs).unwrap();
    let embedded = backbone.embed_images(&imgs).unwrap();
    let mut report = Vec::new();
    for ((stem, t), emb) in stems.iter().zip(&got).zip(&embedded) {
        let want_tokens = &refs[&format!("{model}/{stem}/tokens")];
        let (n, d) = want_tokens.dims2().unwrap();
        assert_eq!(t.patches.len() + 1, n, "{model} {stem}: token count");
        assert_eq!(
            t.grid.0 * t.grid.1,
            n - 1,
            "{model} {stem}: grid {:?}",
            t.grid
        );
        let want = to_vec(want_tokens);
        let mut mine = t.embedding.clone();
        for p in &t.patches {
            assert_eq!(p.len(), d);
            mine.extend_from_slice(p);
        }
        let (max, cos, rel) = compare(&mine, &want);
        // Token by token too: a wrong patch order could hide in the total.
        let worst_token = (0..n)
            .map(|i| compare(&mine[i * d..(i + 1) * d], &want[i * d..(i + 1) * d]).2)
            .fold(0f64, f64::max);
        assert!(
            rel <= MAX_REL_L2 && worst_token <= 1e-5,
            "{model} {stem}: tokens rel L2 {rel:.2e}, worst token {worst_token:.2e}, max {max:.2e}"
        );
        // The CLS row is the embedding the normal path computes.
        let (emax, _, _) = compare(&t.embedding, emb);
        assert!(
            emax <= 1e-6,
            "{model} {stem}: CLS token vs embedding {emax:.2e}"
        );

        let want_attn = refs[&format!("{model}/{stem}/cls_attention")]
            .to_vec2::<f32>()
            .unwrap();
        assert_eq!(t.cls_attention.len(), heads, "{model} {stem}: heads");
        let mut amax = 0f32;
        for (h, (row, want_row)) in t.cls_attention.iter().zip(&want_attn).enumerate() {
            assert_eq!(row.len(), n, "{model} {stem} head {h}: row length");
            let sum: f32 = row.iter().sum();
            assert!(
                (sum - 1.0).abs() < 1e-4,
                "{model} {stem} head {h}: sums to {sum}"
            );
            for (a, b) in row.iter().zip(want_row) {
                amax = amax.max((a - b).abs());
            }
        }
        assert!(
            amax <= MAX_ATTENTION_DIFF,
            "{model} {stem}: attention max |diff| {amax:.2e}"
        );
        report.push(format!(
            "{model} {stem}: tokens cos {cos:.8} relL2 {rel:.2e} worst token {worst_token:.2e}; attention max|diff| {amax:.2e}"
        ));
    }
    eprintln!("{}", report.join("\n"));
}

#[test]
fn dino_tokens_and_attention_match_transformers() {
    check("dino", "dino_tiny");
}

#[test]
fn dinov2_tokens_and_attention_match_timm() {
    check("dinov2", "dinov2_tiny");
}
