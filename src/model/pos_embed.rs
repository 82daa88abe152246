//! Resampling a checkpoint's position embeddings to another patch grid, the
//! way each reference library does it, so that `--image-size N` gives the
//! embedding the reference gives at N.
//!
//! * timm (`resample_abs_pos_embed` at model creation): PyTorch
//!   `F.interpolate(mode="bicubic", antialias=True)`. With antialiasing,
//!   PyTorch uses Pillow's separable cubic (a = −0.5) whose support widens by
//!   the downscale factor and whose weights are renormalised at the borders.
//! * transformers (`interpolate_pos_encoding`): PyTorch
//!   `F.interpolate(mode="bicubic", align_corners=False)` without
//!   antialiasing: Keys' cubic with a = −0.75 over a fixed 4×4 neighbourhood,
//!   indices clamped at the borders.
//!
//! Both are separable, so a grid is resampled along its width, then its
//! height, by per-output-position tap lists.

use crate::imaging::ResizeFilter;
use crate::model::config::PosResample;

/// The input taps (index, weight) of one output position.
type Taps = Vec<(usize, f32)>;

/// Pillow / PyTorch antialias kernel, a = −0.5, in PyTorch's `f32`.
fn cubic_aa(x: f32) -> f32 {
    ResizeFilter::Bicubic.kernel_f32_pillow_order(x)
}

/// Taps of PyTorch's `_upsample_bicubic2d_aa` along one axis
/// (`_compute_indices_min_size_weights_aa`).
fn taps_antialias(input: usize, output: usize) -> Vec<Taps> {
    let scale = input as f32 / output as f32;
    let (support, invscale) = if scale >= 1.0 {
        (2.0 * scale, 1.0 / scale)
    } else {
        (2.0, 1.0)
    };
    (0..output)
        .map(|i| {
            let center = scale * (i as f32 + 0.5);
            let xmin = ((center - support + 0.5) as i64).max(0) as usize;
            let xmax = ((center + support + 0.5) as i64).min(input as i64) as usize;
            let mut taps: Taps = (xmin..xmax)
                .map(|j| (j, cubic_aa((j as f32 - center + 0.5) * invscale)))
                .collect();
            let total: f32 = taps.iter().map(|t| t.1).sum();
            if total != 0.0 {
                for t in &mut taps {
                    t.1 /= total;
                }
            }
            taps
        })
        .collect()
}

/// Taps of PyTorch's `upsample_bicubic2d` (align_corners=False) along one axis.
fn taps_bicubic(input: usize, output: usize) -> Vec<Taps> {
    const A: f32 = -0.75;
    let cubic1 = |x: f32| ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0;
    let cubic2 = |x: f32| ((A * x - 5.0 * A) * x + 8.0 * A) * x - 4.0 * A;
    let scale = input as f32 / output as f32;
    (0..output)
        .map(|i| {
            // area_pixel_compute_source_index with cubic=true: no clamp at 0.
            let real = scale * (i as f32 + 0.5) - 0.5;
            let idx = real.floor();
            let t = real - idx;
            let w = [cubic2(t + 1.0), cubic1(t), cubic1(1.0 - t), cubic2(2.0 - t)];
            let base = idx as i64 - 1;
            (0..4)
                .map(|k| {
                    let j = (base + k as i64).clamp(0, input as i64 - 1) as usize;
                    (j, w[k])
                })
                .collect()
        })
        .collect()
}

fn taps(method: PosResample, input: usize, output: usize) -> Vec<Taps> {
    match method {
        PosResample::Bicubic => taps_bicubic(input, output),
        PosResample::BicubicAntialias => taps_antialias(input, output),
    }
}

/// Resamples a row-major `[in_h, in_w, channels]` grid to `[out_h, out_w, channels]`.
pub fn resample_grid(
    grid: &[f32],
    (in_h, in_w): (usize, usize),
    (out_h, out_w): (usize, usize),
    channels: usize,
    method: PosResample,
) -> Vec<f32> {
    assert_eq!(grid.len(), in_h * in_w * channels, "grid size mismatch");
    // Width first, into an [in_h, out_w, c] intermediate, then height.
    let wt = taps(method, in_w, out_w);
    let mut mid = vec![0f32; in_h * out_w * channels];
    for y in 0..in_h {
        for (x, tx) in wt.iter().enumerate() {
            let dst = &mut mid[(y * out_w + x) * channels..][..channels];
            for &(j, w) in tx {
                let src = &grid[(y * in_w + j) * channels..][..channels];
                for c in 0..channels {
                    dst[c] += w * src[c];
                }
            }
        }
    }
    let ht = taps(method, in_h, out_h);
    let mut out = vec![0f32; out_h * out_w * channels];
    for (y, ty) in ht.iter().enumerate() {
        for &(j, w) in ty {
            let src = &mid[j * out_w * channels..][..out_w * channels];
            let dst = &mut out[y * out_w * channels..][..out_w * channels];
            for (d, s) in dst.iter_mut().zip(src) {
                *d += w * s;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_size_antialias_is_identity() {
        let grid: Vec<f32> = (0..5 * 5 * 2).map(|v| v as f32 * 0.37).collect();
        let out = resample_grid(&grid, (5, 5), (5, 5), 2, PosResample::BicubicAntialias);
        for (a, b) in grid.iter().zip(&out) {
            assert!((a - b).abs() < 1e-5);
        }
    }

    #[test]
    fn same_size_bicubic_is_identity() {
        let grid: Vec<f32> = (0..4 * 6).map(|v| (v as f32).sin()).collect();
        let out = resample_grid(&grid, (4, 6), (4, 6), 1, PosResample::Bicubic);
        for (a, b) in grid.iter().zip(&out) {
            assert!((a - b).abs() < 1e-6);
        }
    }

    #[test]
    fn constant_grid_stays_constant() {
        // Both kernels' weights sum to one, so a constant field is preserved
        // when up- and downscaling.
        for method in [PosResample::Bicubic, PosResample::BicubicAntialias] {
            for (n, m) in [(37, 16), (37, 48), (14, 10)] {
                let grid = vec![2.5f32; n * n];
                let out = resample_grid(&grid, (n, n), (m, m), 1, method);
                assert!(
                    out.iter().all(|v| (v - 2.5).abs() < 1e-4),
                    "{method:?} {n}->{m}"
                );
            }
        }
    }

    #[test]
    fn antialias_downscale_widens_support() {
        // 37 → 16 is a 2.3× downscale: each output reads about 2·2·2.3 inputs.
        let t = taps_antialias(37, 16);
        assert!(t[8].len() >= 9, "{}", t[8].len());
        assert_eq!(taps_bicubic(37, 16)[8].len(), 4);
    }
}
