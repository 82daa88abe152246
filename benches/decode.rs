//! Decode → EXIF orientation → DINOv2-style preprocessing at 224 px
//! (shorter side to 224 with Pillow's bicubic, centre crop, normalise), per
//! image on one thread: the artlens half of `scripts/bench_decode.py`, which
//! times Pillow + torchvision on the same files in alternating rounds and
//! prints the ratios.
//!
//! ```text
//! cargo bench --bench decode -- [--json] [--reps N] [--threads T] FILE...
//! ```
//!
//! For each file, the median of `--reps` runs (default 3) of:
//!
//! * `pipeline`: [`decode_file`] (the JPEG decoder that gives Pillow's bytes)
//!   and the preprocessing, what `artlens index` does per image;
//! * `decode`: [`decode_file`] alone;
//! * `image_crate`: the `image` crate's own decoder (zune-jpeg for JPEG, what
//!   artlens used before) with the orientation applied, then the same
//!   preprocessing: the "before" figure;
//! * `fast`: [`decode_file_fast`] (`index --decode fast`: a large JPEG
//!   decoded at 1/2, 1/4 or 1/8 size in the DCT domain) and the same
//!   preprocessing.
//!
//! `--threads T` (default 1) also times the whole file list decoded and
//! preprocessed by a pool of `T` threads, one image per task, as the index
//! pipeline does: `pool_images_per_s`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use artlens::imaging::{
    decode_file, decode_file_fast, DecodeLimits, Geometry, Preprocess, ResizeFilter,
};
use image::{DynamicImage, ImageDecoder, ImageReader};
use rayon::prelude::*;

/// timm's DINOv2 eval transform at 224 px (`crop_pct` 1.0, bicubic, ImageNet
/// mean and std), the recipe `dinov2@224` reads from its checkpoint.
fn dinov2_224() -> Preprocess {
    Preprocess {
        geometry: Geometry::ShortSideCenterCrop {
            resize_to: 224,
            crop: 224,
        },
        filter: ResizeFilter::Bicubic,
        rescale: 1.0 / 255.0,
        mean: [0.485, 0.456, 0.406],
        std: [0.229, 0.224, 0.225],
    }
}

/// The `image` crate's decode, oriented, as RGB: what `decode_file` returned
/// for JPEG before it used libjpeg-turbo.
fn image_crate_decode(path: &Path) -> image::RgbImage {
    let mut decoder = ImageReader::open(path)
        .and_then(|r| r.with_guessed_format())
        .expect("opens")
        .into_decoder()
        .expect("decoder");
    let orientation = decoder.orientation().expect("orientation");
    let mut img = DynamicImage::from_decoder(decoder).expect("decodes");
    img.apply_orientation(orientation);
    img.to_rgb8()
}

/// The median of `reps` timings of `f`, in milliseconds.
fn median_ms(reps: usize, mut f: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..reps.max(1))
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json = args.iter().any(|a| a == "--json");
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse::<usize>().ok())
    };
    let reps = value("--reps").unwrap_or(3);
    let threads = value("--threads").unwrap_or(1);
    let mut files = Vec::new();
    let mut skip = false;
    for a in &args {
        if skip {
            skip = false;
        } else if a == "--reps" || a == "--threads" {
            skip = true;
        } else if !a.starts_with("--") {
            files.push(PathBuf::from(a));
        }
    }
    if files.is_empty() {
        eprintln!("usage: cargo bench --bench decode -- [--json] [--reps N] [--threads T] FILE...");
        std::process::exit(2);
    }
    // One thread for the per-image figures, like Pillow in a plain loop: the
    // resampler would otherwise split a large image over rayon's threads.
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a thread pool");
    let limits = DecodeLimits::default();
    let recipe = dinov2_224();
    let mut rows = Vec::new();
    for f in &files {
        let row = one.install(|| {
            let pipeline = median_ms(reps, || {
                let img = decode_file(f, &limits).unwrap_or_else(|e| panic!("{e}"));
                std::hint::black_box(recipe.apply(&img));
            });
            let decode = median_ms(reps, || {
                std::hint::black_box(decode_file(f, &limits).unwrap_or_else(|e| panic!("{e}")));
            });
            let before = median_ms(reps, || {
                std::hint::black_box(recipe.apply(&image_crate_decode(f)));
            });
            let fast = median_ms(reps, || {
                let d = decode_file_fast(f, &limits, &[&recipe]).unwrap_or_else(|e| panic!("{e}"));
                std::hint::black_box(recipe.apply(&d.images[d.which[0]]));
            });
            serde_json::json!({
                "file": f, "pipeline_ms": pipeline, "decode_ms": decode, "image_crate_ms": before,
                "fast_ms": fast,
            })
        });
        if !json {
            eprintln!(
                "{}: {:.1} ms (decode {:.1} ms; image crate {:.1} ms; fast {:.1} ms)",
                f.display(),
                row["pipeline_ms"],
                row["decode_ms"],
                row["image_crate_ms"],
                row["fast_ms"]
            );
        }
        rows.push(row);
    }
    let mut out = serde_json::json!({"reps": reps, "rows": rows});
    if threads > 1 {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("a thread pool");
        let t = Instant::now();
        pool.install(|| {
            files.par_iter().with_max_len(1).for_each(|f| {
                // Inside a task the resampler runs on this pool too, as in
                // the index pipeline.
                let img = decode_file(f, &limits).unwrap_or_else(|e| panic!("{e}"));
                std::hint::black_box(recipe.apply(&img));
            })
        });
        let per_s = files.len() as f64 / t.elapsed().as_secs_f64();
        if !json {
            eprintln!("pool of {threads} threads: {per_s:.2} images/s");
        }
        out["threads"] = threads.into();
        out["pool_images_per_s"] = per_s.into();
    }
    if json {
        println!("{out}");
    }
}
