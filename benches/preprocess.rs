//! Decoding and preprocessing on one thread: milliseconds per image for each
//! backbone's recipe (read, decode, Pillow-exact resize or crop, normalise),
//! the artlens half of `scripts/bench_embed.py --mode preprocess`, which
//! times Pillow and the reference processors on the same files and prints
//! the ratio.
//!
//! ```text
//! PREPROCESS_WEIGHTS=target/bench-weights cargo bench --bench preprocess -- [--json] FILE...
//! ```
//!
//! `PREPROCESS_WEIGHTS` holds `dino/` and `dinov2/` checkpoint folders (only
//! their configs decide the recipes; the weights are mapped, not read);
//! `PREPROCESS_MODELS` (default `dino,dinov2@224,dinov2`) and
//! `PREPROCESS_ROUNDS` (default 3; the median is reported).

use std::path::PathBuf;
use std::time::Instant;

use artlens::imaging::{decode_file, DecodeLimits};
use artlens::model::{load_backbone, BackboneOptions, WeightsSource};
use artlens::BackboneId;

fn main() {
    // One thread, like Pillow in a plain loop: the figure is per core.
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build_global();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json = args.iter().any(|a| a == "--json");
    let files: Vec<PathBuf> = args
        .iter()
        .filter(|a| !a.starts_with("--"))
        .map(PathBuf::from)
        .collect();
    if files.is_empty() {
        eprintln!("usage: cargo bench --bench preprocess -- [--json] FILE...");
        std::process::exit(2);
    }
    let weights = PathBuf::from(
        std::env::var("PREPROCESS_WEIGHTS").unwrap_or_else(|_| "target/bench-weights".into()),
    );
    let models =
        std::env::var("PREPROCESS_MODELS").unwrap_or_else(|_| "dino,dinov2@224,dinov2".into());
    let rounds: usize = std::env::var("PREPROCESS_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let limits = DecodeLimits::default();
    let mut rows = Vec::new();
    for spec in models.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let id = BackboneId::parse(spec).unwrap_or_else(|e| panic!("{spec}: {e}"));
        let dir = weights.join(spec.split('@').next().unwrap_or(spec));
        let (backbone, _) = load_backbone(
            &id,
            &WeightsSource::Dir(dir.clone()),
            &BackboneOptions::default(),
        )
        .unwrap_or_else(|e| panic!("{spec} from {}: {e}", dir.display()));
        let mut per_round = Vec::new();
        for _ in 0..rounds.max(1) {
            let t = Instant::now();
            for f in &files {
                let img = decode_file(f, &limits).unwrap_or_else(|e| panic!("{e}"));
                std::hint::black_box(backbone.preprocess().apply(&img));
            }
            per_round.push(t.elapsed().as_secs_f64() * 1e3 / files.len() as f64);
        }
        per_round.sort_by(f64::total_cmp);
        let ms = per_round[per_round.len() / 2];
        if !json {
            eprintln!(
                "{spec}: {ms:.2} ms per image (decode + preprocess, one thread, {} files)",
                files.len()
            );
        }
        rows.push(serde_json::json!({"model": spec, "ms_per_image": ms, "rounds": per_round}));
    }
    if json {
        println!(
            "{}",
            serde_json::json!({"files": files.len(), "rows": rows})
        );
    }
}
