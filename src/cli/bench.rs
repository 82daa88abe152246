//! `artlens bench`: forward-pass throughput on random input, for
//! `scripts/bench_embed.py` to compare with PyTorch on the same weights;
//! with `--decode DIR`, the throughput of the decode pool alone (decode,
//! EXIF orientation and the backbone's preprocessing of every image in DIR,
//! no model), for `scripts/gpu_check.py` to say whether a GPU is fed.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;
use rayon::prelude::*;

use artlens::imaging::{decode_file, DecodeLimits};
use artlens::limits::{MAX_BENCH_ITERS, MAX_THREADS};
use artlens::model::Backbone;

use super::args::count_in;
use super::{out_line, Ctx};

/// The most images `bench --decode` reads: enough for a steady figure on
/// 64 cores, small enough that a mistaken folder does not run for hours.
const MAX_DECODE_BENCH_IMAGES: usize = 20_000;

#[derive(Args, Debug)]
#[command(
    after_help = "Example:\n  artlens bench --model dinov2@224 --batch-size 8 --iters 5 --json"
)]
pub struct BenchArgs {
    #[command(flatten)]
    model: super::embed::OneModelArgs,
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=MAX_BENCH_ITERS as i64),
          help = format!("Timed forward passes (after one warm-up), 1 to {MAX_BENCH_ITERS}"))]
    iters: u32,
    /// Measure the decode pool instead of the model: decode and preprocess
    /// every image in DIR (at most 20,000; no model forward pass), on
    /// --decode-threads threads.
    #[arg(long, value_name = "DIR")]
    decode: Option<PathBuf>,
    #[arg(long, value_name = "N", requires = "decode", value_parser = count_in(1, MAX_THREADS),
          help = format!("With --decode: threads decoding, 1 to {MAX_THREADS} (default: every core)"))]
    decode_threads: Option<usize>,
    /// Print the result as one JSON object: {"model","hub_id","batch_size","iters","image_size","threads","device","precision","seconds","images_per_s"};
    /// with --decode: {"model","mode":"decode","images","failed","threads","seconds","images_per_s","images_per_s_per_thread","megapixels_per_s"}.
    #[arg(long)]
    json: bool,
}

pub fn run(args: BenchArgs, ctx: &Ctx) -> Result<i32> {
    let msg = ctx.msg;
    let (backbone, _) = args.model.load()?;
    for w in backbone.warnings() {
        msg.warn(w);
    }
    if let Some(dir) = &args.decode {
        return decode_bench(&backbone, dir, args.decode_threads, args.json, ctx);
    }
    let model = backbone.id().clone();
    let (h, w) = backbone.preprocess().output_size();
    let b = args.model.batch_size as usize;
    // A fixed pseudo-random input: the speed does not depend on the values.
    let mut state = 0x9E3779B97F4A7C15u64;
    let pixels: Vec<f32> = (0..b * 3 * h * w)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32 * 4.0 - 2.0
        })
        .collect();
    // The input goes to the model's device once: on a GPU the timed loop
    // is the forward pass (and the small copy of the embeddings back, which
    // waits for it), not host-to-device traffic.
    let input = backbone.pixels_tensor(pixels, b)?;
    msg.info(format!("{model}: warm-up ({b}x3x{h}x{w})"));
    backbone.embed_tensor(&input)?;
    let start = Instant::now();
    for i in 0..args.iters {
        backbone.embed_tensor(&input)?;
        msg.info(format!("{model}: iteration {}/{}", i + 1, args.iters));
    }
    let secs = start.elapsed().as_secs_f64();
    let ips = (b as f64 * args.iters as f64) / secs;
    if args.json {
        out_line(
            &serde_json::json!({
                "model": model.name(),
                "hub_id": model.spec().hub_id,
                "batch_size": b,
                "iters": args.iters,
                "image_size": [h, w],
                "threads": candle_core::utils::get_num_threads(),
                "device": device_name(backbone.device()),
                "gemm": artlens::model::blas::current_name(),
                "precision": backbone.precision().to_string(),
                "seconds": secs,
                "images_per_s": ips,
            })
            .to_string(),
        );
    } else {
        out_line(&format!(
            "{model}\t{ips:.3} images/s\t(batch {b}, {} iters, {secs:.2} s, {}, {})",
            args.iters,
            device_name(backbone.device()),
            backbone.precision()
        ));
    }
    Ok(0)
}

/// Decodes and preprocesses every image of `dir` on a pool of `threads`
/// (every core by default), twice: a warm-up pass that also fills the page
/// cache, then the timed one. Failures are counted, not fatal: a collection
/// holds some.
fn decode_bench(
    backbone: &Backbone,
    dir: &std::path::Path,
    threads: Option<usize>,
    json: bool,
    ctx: &Ctx,
) -> Result<i32> {
    let msg = ctx.msg;
    let scan = artlens::scan::scan_collection(dir)
        .with_context(|| format!("cannot read the folder {}", dir.display()))?;
    let mut files: Vec<PathBuf> = scan.files.into_iter().map(|f| f.path).collect();
    if files.is_empty() {
        bail!(
            "{} holds no image files (.jpg, .png, .tif, ...): nothing to decode",
            dir.display()
        );
    }
    if files.len() > MAX_DECODE_BENCH_IMAGES {
        msg.warn(format!(
            "{} holds {} images; timing the first {MAX_DECODE_BENCH_IMAGES}",
            dir.display(),
            files.len()
        ));
        files.truncate(MAX_DECODE_BENCH_IMAGES);
    }
    let threads = threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .context("cannot start the decode threads")?;
    let limits = DecodeLimits::default();
    let pass = || -> (usize, u64) {
        pool.install(|| {
            files
                .par_iter()
                .map(|path| match decode_file(path, &limits) {
                    Ok(img) => {
                        let pixels = backbone.preprocess().apply(&img);
                        // Keep the result observable so the work is not
                        // optimised away.
                        std::hint::black_box(pixels);
                        (0, img.width() as u64 * img.height() as u64)
                    }
                    Err(_) => (1, 0),
                })
                .reduce(|| (0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
        })
    };
    msg.info(format!(
        "{}: decode pool warm-up over {} images on {threads} threads",
        backbone.id(),
        files.len()
    ));
    pass();
    let start = Instant::now();
    let (failed, pixels) = pass();
    let secs = start.elapsed().as_secs_f64().max(1e-9);
    let ips = files.len() as f64 / secs;
    if json {
        out_line(
            &serde_json::json!({
                "model": backbone.id().name(),
                "mode": "decode",
                "images": files.len(),
                "failed": failed,
                "threads": threads,
                "seconds": secs,
                "images_per_s": ips,
                "images_per_s_per_thread": ips / threads as f64,
                "megapixels_per_s": pixels as f64 / 1e6 / secs,
            })
            .to_string(),
        );
    } else {
        out_line(&format!(
            "{}\tdecode pool {ips:.1} images/s\t({:.1} per thread; {} images, {failed} failed, {threads} threads, {secs:.2} s)",
            backbone.id(),
            ips / threads as f64,
            files.len()
        ));
    }
    Ok(0)
}

fn device_name(device: &candle_core::Device) -> String {
    match device.location() {
        candle_core::DeviceLocation::Cpu => "cpu".into(),
        candle_core::DeviceLocation::Cuda { gpu_id } => format!("cuda:{gpu_id}"),
        candle_core::DeviceLocation::Metal { gpu_id } => format!("metal:{gpu_id}"),
    }
}
