//! The dense layers' GEMM on every path this machine runs — artlens's own
//! packed kernel, the system OpenBLAS when it loads, the `gemm` crate — on
//! ViT-B's layer shapes, one thread per call as the model calls them,
//! in alternating rounds so that a drifting machine moves every path alike.
//!
//! `cargo bench --bench sgemm [-- ROUNDS]` prints GFLOP/s per path, shape
//! and round, then each path's median ratio to the first (the default).
//! `M` is one image's tokens (197 for ViT-B/16 at 224 px, 257 for ViT-B/14)
//! — what each thread multiplies when a batch runs one image per thread —
//! and 788, a batch of 8 split over two threads.

use std::time::Instant;

use artlens::model::blas::bench;

fn main() {
    let rounds: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(3);
    // First, what the model runs by default: artlens's kernel with the
    // weight packed once at load (outside the timing), then every path as a
    // call with an unpacked weight sees it.
    let packed_at_load = bench::pack_f32(&[0.0], 1, 1).is_some();
    let mut paths = Vec::new();
    if packed_at_load {
        paths.push("artlens, weight packed at load".to_string());
    }
    let per_call = paths.len();
    paths.extend(bench::paths());
    // bf16 inputs with f32 sums (`--precision bf16`), where the CPU has
    // AVX512_BF16: the weight packed once, as at load, outside the timing.
    let bf16 = bench::bf16_available();
    if bf16 {
        paths.push("bf16 (AVX512_BF16)".into());
    }
    println!("paths: {}", paths.join(" | "));
    // (M, K, N): qkv, proj, fc1, fc2 for one image's 197 tokens, fc1 for
    // 257, and fc1 and fc2 for four images' rows in one call.
    let shapes = [
        (197, 768, 2304),
        (197, 768, 768),
        (197, 768, 3072),
        (197, 3072, 768),
        (257, 768, 3072),
        (788, 768, 3072),
        (788, 3072, 768),
    ];
    let val = |i: usize| ((i.wrapping_mul(7919) % 1000) as f32 / 500.0) - 1.0;
    let mut ratios: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); shapes.len()]; paths.len()];
    for round in 0..rounds {
        for (si, &(m, k, n)) in shapes.iter().enumerate() {
            let x: Vec<f32> = (0..m * k).map(val).collect();
            let w: Vec<f32> = (0..n * k).map(|i| val(i + 3)).collect();
            let mut dst = vec![0f32; m * n];
            let flops = 2.0 * (m * n * k) as f64;
            let mut line = format!("round {round} {m:>4}×{k:>4}×{n:>4}:");
            let mut rates = Vec::new();
            let packed = bf16.then(|| bench::pack_bf16(&w, n, k));
            let packed_f32 = bench::pack_f32(&w, n, k);
            let call = |p: usize, dst: &mut [f32]| match (&packed, &packed_f32) {
                (Some(packed), _) if p == paths.len() - 1 => {
                    bench::xwt_acc_bf16(&x, packed, dst, m)
                }
                (_, Some(packed)) if p < per_call => bench::xwt_acc_packed(&x, packed, dst, m),
                _ => bench::xwt_acc(p - per_call, &x, &w, dst, (m, k, n)),
            };
            for p in 0..paths.len() {
                // One warm-up call (packing buffers, page faults), then at
                // least 0.4 s of calls.
                call(p, &mut dst);
                let start = Instant::now();
                let mut calls = 0u32;
                while start.elapsed().as_secs_f64() < 0.4 {
                    call(p, &mut dst);
                    calls += 1;
                }
                let gflops = flops * calls as f64 / start.elapsed().as_secs_f64() / 1e9;
                rates.push(gflops);
                line += &format!(" {gflops:7.1}");
            }
            for p in 0..paths.len() {
                ratios[p][si].push(rates[p] / rates[0]);
            }
            println!("{line}  GFLOP/s");
        }
    }
    println!("\nmedian ratio to `{}`, per shape:", paths[0]);
    for (p, name) in paths.iter().enumerate() {
        let meds: Vec<String> = ratios[p]
            .iter()
            .map(|r| {
                let mut r = r.clone();
                r.sort_by(f64::total_cmp);
                format!("{:.2}", r[r.len() / 2])
            })
            .collect();
        println!("  {name}: {}", meds.join(" "));
    }
}
