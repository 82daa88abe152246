//! `artlens bench`: forward-pass throughput on random input, for
//! `scripts/bench_embed.py` to compare with PyTorch on the same weights.

use std::time::Instant;

use anyhow::Result;
use clap::Args;

use artlens::limits::MAX_BENCH_ITERS;

use super::{out_line, Ctx};

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
    /// Print the result as one JSON object: {"model","hub_id","batch_size","iters","image_size","threads","device","precision","seconds","images_per_s"}.
    #[arg(long)]
    json: bool,
}

pub fn run(args: BenchArgs, ctx: &Ctx) -> Result<i32> {
    let msg = ctx.msg;
    let (backbone, _) = args.model.load()?;
    for w in backbone.warnings() {
        msg.warn(w);
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

fn device_name(device: &candle_core::Device) -> String {
    match device.location() {
        candle_core::DeviceLocation::Cpu => "cpu".into(),
        candle_core::DeviceLocation::Cuda { gpu_id } => format!("cuda:{gpu_id}"),
        candle_core::DeviceLocation::Metal { gpu_id } => format!("metal:{gpu_id}"),
    }
}
