//! Does reduced precision pay on this CPU? Times candle's matrix product
//! (the kernel behind every dense layer of a ViT) in f32, bf16 and f16 on the
//! shapes of ViT-B's layers at batch 8, 224 px (1,576 tokens), and prints
//! GFLOP/s per type and the ratio to f32.
//!
//! ```text
//! cargo run --release --example cpu_precision [-- ITERS]
//! ```
//!
//! bf16 and f16 only pay on CPUs with matrix units for them (AVX512-BF16,
//! AMX, AVX512-FP16); elsewhere gemm converts to f32 while packing and the
//! product itself costs the same, so the conversions are pure overhead. The
//! CPU flags that matter are printed first, so a figure can be read against
//! the machine that made it. This is what decided that `--precision bf16`
//! is CUDA-only (see `model::Precision`).

use std::time::Instant;

use candle_core::{DType, Device, Tensor};

fn main() -> candle_core::Result<()> {
    let iters: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    #[cfg(target_arch = "x86_64")]
    {
        let flags = [
            ("avx2", std::arch::is_x86_feature_detected!("avx2")),
            ("fma", std::arch::is_x86_feature_detected!("fma")),
            ("f16c", std::arch::is_x86_feature_detected!("f16c")),
            ("avx512f", std::arch::is_x86_feature_detected!("avx512f")),
            (
                "avx512bf16",
                std::arch::is_x86_feature_detected!("avx512bf16"),
            ),
            (
                "avx512fp16",
                std::arch::is_x86_feature_detected!("avx512fp16"),
            ),
        ];
        let shown: Vec<String> = flags.iter().map(|(n, on)| format!("{n}={on}")).collect();
        println!("cpu: {}", shown.join(" "));
    }
    println!("threads: {}", candle_core::utils::get_num_threads());
    let dev = Device::Cpu;
    let tokens = 8 * 197;
    // qkv, proj, fc1, fc2 of ViT-B: [tokens, in] x [in, out].
    let shapes = [(768, 2304), (768, 768), (768, 3072), (3072, 768)];
    println!(
        "{:>12} {:>10} {:>10} {:>10} {:>8} {:>8}",
        "layer", "f32", "bf16", "f16", "bf16/f32", "f16/f32"
    );
    for (k, n) in shapes {
        let x = Tensor::randn(0f32, 1.0, (tokens, k), &dev)?;
        let w = Tensor::randn(0f32, 0.02, (k, n), &dev)?;
        let mut rates = Vec::new();
        for dtype in [DType::F32, DType::BF16, DType::F16] {
            let (x, w) = (x.to_dtype(dtype)?, w.to_dtype(dtype)?);
            x.matmul(&w)?; // warm-up
            let t = Instant::now();
            for _ in 0..iters {
                x.matmul(&w)?;
            }
            let secs = t.elapsed().as_secs_f64() / iters as f64;
            rates.push(2.0 * (tokens * k * n) as f64 / secs / 1e9);
        }
        println!(
            "{:>12} {:>10.1} {:>10.1} {:>10.1} {:>8.2} {:>8.2}",
            format!("{k}x{n}"),
            rates[0],
            rates[1],
            rates[2],
            rates[1] / rates[0],
            rates[2] / rates[0]
        );
    }
    Ok(())
}
