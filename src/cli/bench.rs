//! `artlens bench`: forward-pass throughput on random input, for
//! `scripts/bench_embed.py` to compare with PyTorch on the same weights.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use clap::Args;

use artlens::model::{load_backbone, ModelKind};

use super::{out_line, Messages};

#[derive(Args, Debug)]
pub struct BenchArgs {
    #[arg(long, value_parser = super::embed::parse_model)]
    model: ModelKind,
    #[arg(long)]
    weights: Option<PathBuf>,
    #[arg(long)]
    offline: bool,
    #[arg(long)]
    image_size: Option<u32>,
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=4096))]
    batch_size: u32,
    /// Timed forward passes (after one warm-up).
    #[arg(long, default_value_t = 3)]
    iters: u32,
    #[arg(long, default_value = "cpu")]
    device: String,
    #[arg(long)]
    threads: Option<usize>,
    #[arg(long)]
    json: bool,
}

pub fn run(args: BenchArgs, msg: Messages) -> Result<i32> {
    super::weights::set_threads(args.threads);
    let opts = super::weights::options(args.image_size, &args.device)?;
    let source = super::weights::source(args.weights.clone(), args.offline);
    let (backbone, _) = load_backbone(args.model, &source, &opts)?;
    let (h, w) = backbone.preprocess().output_size();
    let b = args.batch_size as usize;
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
    msg.info(format!("{}: warm-up ({b}x3x{h}x{w})", args.model));
    backbone.embed_pixels(pixels.clone(), b)?;
    let start = Instant::now();
    for i in 0..args.iters {
        backbone.embed_pixels(pixels.clone(), b)?;
        msg.info(format!("{}: iteration {}/{}", args.model, i + 1, args.iters));
    }
    let secs = start.elapsed().as_secs_f64();
    let ips = (b as f64 * args.iters as f64) / secs;
    if args.json {
        out_line(
            &serde_json::json!({
                "model": args.model.name(),
                "batch_size": b,
                "iters": args.iters,
                "image_size": [h, w],
                "threads": candle_core::utils::get_num_threads(),
                "seconds": secs,
                "images_per_s": ips,
            })
            .to_string(),
        );
    } else {
        out_line(&format!("{}\t{ips:.3} images/s\t(batch {b}, {} iters, {secs:.2} s)", args.model, args.iters));
    }
    Ok(0)
}
