//! torchvision's antialiased resize of a float image, the one transformers'
//! DINOv3 processor runs: it rescales the 8-bit image to `f32` first
//! (`image * rescale_factor`) and resizes the float tensor with
//! `torch.nn.functional.interpolate(..., antialias=True)`, so no value is
//! rounded to 8 bits between the passes, where Pillow's resize (and
//! [`super::resize_rgb8`]) rounds after each pass.
//!
//! This follows ATen's `UpSampleKernel.cpp` (`_compute_indices_min_size_weights_aa`
//! and the separable driver) for `scalar_t = float`:
//!
//! * the scale is `in / out` in `f32`; the support `interp_size / 2 * scale`
//!   (at least `interp_size / 2`) is computed in `f64` and kept as `f32`, and
//!   so are each output's centre `scale * (i + 0.5)` and the inverse scale;
//! * the first input index is `trunc((centre − support) + 0.5)` and the run
//!   ends at `trunc((centre + support) + 0.5)`, clamped to the image and to
//!   `2·ceil(support) + 1` taps;
//! * each weight is the filter (Pillow's triangle, or Keys' cubic with
//!   `a = −0.5`, evaluated in `f32`) at `((j + xmin − centre) + 0.5) ·
//!   invscale`, the run normalised to sum 1 in `f32`;
//! * the width is resampled first, then the height; a pass whose size is
//!   unchanged is skipped; each output is `Σ wⱼ·xⱼ` summed in `f32` in input
//!   order, starting from the first product.
//!
//! The weights match ATen's to the bit (checked against PyTorch 2.15 with
//! one-hot inputs). The sums agree to within one `f32` rounding (≈ 6e-8 on
//! values in `[0, 1]`): PyTorch's compiled loop contracts some of its
//! multiply-adds into fused ones depending on how the build vectorised it,
//! so no portable code reproduces every last bit of one particular build.

use image::RgbImage;
use rayon::prelude::*;

use super::resample::{ResizeFilter, Taps, Window};

/// Images with more input pixels than this are resampled with rayon.
const PARALLEL_MIN_PIXELS: u64 = 1 << 20;

/// One row of each of the three output planes of the horizontal pass.
type PlaneRows<'a> = ((&'a mut [f32], &'a mut [f32]), &'a mut [f32]);

impl Taps<f32> {
    /// One pass's weights in ATen's `f32` arithmetic, for output indices
    /// `first..first + count` of a resize from `in_size` to `out_size`.
    fn window(in_size: u32, out_size: u32, first: u32, count: u32, filter: ResizeFilter) -> Self {
        // `interp_size`: 2 taps at scale 1 for bilinear, 4 for bicubic.
        let interp_size = filter_support(filter) * 2.0;
        let scale = in_size as f32 / out_size as f32;
        let support = if scale >= 1.0 {
            (interp_size * 0.5 * f64::from(scale)) as f32
        } else {
            (interp_size * 0.5) as f32
        };
        let ksize = (support.ceil() as usize) * 2 + 1;
        let invscale = if scale >= 1.0 {
            (1.0 / f64::from(scale)) as f32
        } else {
            1.0
        };
        Taps::build(count as usize, ksize, |i, w| {
            let xx = u64::from(first) + i as u64;
            let center = (f64::from(scale) * (xx as f64 + 0.5)) as f32;
            let xmin = ((f64::from(center - support) + 0.5) as i64).max(0);
            let xmax = ((f64::from(center + support) + 0.5) as i64).min(i64::from(in_size));
            let len = (xmax - xmin).clamp(0, ksize as i64) as usize;
            let mut total = 0f32;
            for (j, wj) in w.iter_mut().enumerate().take(len) {
                let d = (j as i64 + xmin) as f32 - center;
                let x = ((f64::from(d) + 0.5) * f64::from(invscale)) as f32;
                *wj = kernel_f32(filter, x);
                total += *wj;
            }
            if total != 0.0 {
                for wj in w.iter_mut().take(len) {
                    *wj /= total;
                }
            }
            (xmin as usize, len)
        })
    }
}

fn filter_support(filter: ResizeFilter) -> f64 {
    match filter {
        ResizeFilter::Bilinear | ResizeFilter::BilinearF32 => 1.0,
        ResizeFilter::Bicubic | ResizeFilter::BicubicF32 => 2.0,
    }
}

/// ATen's `aa_filter` for the two filters, in `f32`. Its triangle is
/// Pillow's; its cubic groups the terms by `a` rather than as Pillow does,
/// which changes the last bit of some weights.
fn kernel_f32(filter: ResizeFilter, x: f32) -> f32 {
    match filter {
        ResizeFilter::Bilinear | ResizeFilter::BilinearF32 => filter.kernel_f32_pillow_order(x),
        ResizeFilter::Bicubic | ResizeFilter::BicubicF32 => {
            const A: f32 = -0.5;
            let x = x.abs();
            if x < 1.0 {
                ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
            } else if x < 2.0 {
                ((A * x - 5.0 * A) * x + 8.0 * A) * x - 4.0 * A
            } else {
                0.0
            }
        }
    }
}

/// The pixels inside `window` of the RGB image `img` rescaled by
/// `value[v]` per byte and resized to
/// `width`×`height` in `f32`, as three planes (`[3, window.height,
/// window.width]`, channel-major). `window` must lie inside the output.
pub(crate) fn resize_window_f32(
    img: &RgbImage,
    width: u32,
    height: u32,
    window: Window,
    filter: ResizeFilter,
    value: &[f32; 256],
) -> Vec<f32> {
    let (in_w, in_h) = img.dimensions();
    let rgb = img.as_raw();
    let (ww, wh) = (window.width as usize, window.height as usize);
    if ww == 0 || wh == 0 || in_w == 0 || in_h == 0 {
        return vec![0f32; 3 * ww * wh];
    }
    let parallel = u64::from(in_w) * u64::from(in_h) >= PARALLEL_MIN_PIXELS;
    let in_wu = in_w as usize;
    // The rows the vertical pass reads (all of the window's when there is no
    // vertical pass).
    let vert =
        (in_h != height).then(|| Taps::window(in_h, height, window.y, window.height, filter));
    let (first_row, end_row) = match &vert {
        Some(v) => v.input_span(),
        None => (window.y as usize, window.y as usize + wh),
    };
    let rows = end_row - first_row;
    // Horizontal pass (or only the rescale, for an unchanged width) into
    // three planes of `rows`×`ww`.
    let horiz = (in_w != width).then(|| Taps::window(in_w, width, window.x, window.width, filter));
    let mut temp = vec![0f32; 3 * rows * ww];
    {
        let (r, rest) = temp.split_at_mut(rows * ww);
        let (g, b) = rest.split_at_mut(rows * ww);
        let do_row = |(y, ((r, g), b)): (usize, PlaneRows)| {
            let start = (first_row + y) * in_wu * 3;
            let in_row = &rgb[start..start + in_wu * 3];
            for x in 0..ww {
                match &horiz {
                    Some(h) => {
                        let (xmin, k) = h.row(x);
                        let input = &in_row[xmin * 3..(xmin + k.len()) * 3];
                        let mut s = [0f32; 3];
                        for (j, (p, &w)) in input.chunks_exact(3).zip(k).enumerate() {
                            for c in 0..3 {
                                let t = value[usize::from(p[c])] * w;
                                s[c] = if j == 0 { t } else { s[c] + t };
                            }
                        }
                        r[x] = s[0];
                        g[x] = s[1];
                        b[x] = s[2];
                    }
                    None => {
                        let p = &in_row[(window.x as usize + x) * 3..];
                        r[x] = value[usize::from(p[0])];
                        g[x] = value[usize::from(p[1])];
                        b[x] = value[usize::from(p[2])];
                    }
                }
            }
        };
        if parallel {
            r.par_chunks_mut(ww)
                .zip(g.par_chunks_mut(ww))
                .zip(b.par_chunks_mut(ww))
                .enumerate()
                .for_each(do_row);
        } else {
            r.chunks_mut(ww)
                .zip(g.chunks_mut(ww))
                .zip(b.chunks_mut(ww))
                .enumerate()
                .for_each(do_row);
        }
    }
    let Some(vert) = vert else {
        return temp;
    };
    // Vertical pass, plane by plane, a whole output row at a time.
    let mut out = vec![0f32; 3 * wh * ww];
    let do_row = |(i, out_row): (usize, &mut [f32])| {
        let (c, yy) = (i / wh, i % wh);
        let plane = &temp[c * rows * ww..(c + 1) * rows * ww];
        let (ymin, k) = vert.row(yy);
        for (j, &w) in k.iter().enumerate() {
            let start = (ymin + j - first_row) * ww;
            let in_row = &plane[start..start + ww];
            if j == 0 {
                for (o, &p) in out_row.iter_mut().zip(in_row) {
                    *o = p * w;
                }
            } else {
                for (o, &p) in out_row.iter_mut().zip(in_row) {
                    *o += p * w;
                }
            }
        }
    };
    if parallel {
        out.par_chunks_mut(ww).enumerate().for_each(do_row);
    } else {
        out.chunks_mut(ww).enumerate().for_each(do_row);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn img(w: u32, h: u32, rgb: Vec<u8>) -> RgbImage {
        RgbImage::from_raw(w, h, rgb).unwrap()
    }

    fn identity() -> [f32; 256] {
        std::array::from_fn(|v| v as f32)
    }

    fn whole(width: u32, height: u32) -> Window {
        Window {
            x: 0,
            y: 0,
            width,
            height,
        }
    }

    #[test]
    fn weights_follow_atens_float_arithmetic() {
        // 7 -> 3, bilinear: scale 7/3, support 7/3, centre 7/6 for output 0:
        // inputs 0..=3 with triangle weights, normalised.
        let t = Taps::window(7, 3, 0, 3, ResizeFilter::BilinearF32);
        let (start, k) = t.row(0);
        assert_eq!(start, 0);
        assert_eq!(k.len(), 4);
        let sum: f32 = k.iter().sum();
        assert!((sum - 1.0).abs() < 1e-6, "{k:?}");
        // An upscale keeps the support at 1: two taps per output inside.
        let t = Taps::window(4, 8, 0, 8, ResizeFilter::BilinearF32);
        assert!(t.bounds.iter().all(|&(_, n)| n <= 3));
    }

    #[test]
    fn a_constant_image_stays_constant_and_the_size_is_right() {
        let rgb = vec![200u8; 37 * 23 * 3];
        for filter in [ResizeFilter::BilinearF32, ResizeFilter::BicubicF32] {
            let out = resize_window_f32(
                &img(37, 23, rgb.clone()),
                16,
                16,
                whole(16, 16),
                filter,
                &identity(),
            );
            assert_eq!(out.len(), 3 * 16 * 16);
            for v in out {
                assert!((v - 200.0).abs() < 1e-3, "{filter:?}: {v}");
            }
        }
    }

    #[test]
    fn a_window_is_the_same_values_as_a_crop_of_the_whole_resize() {
        let (w, h) = (41u32, 29u32);
        let rgb: Vec<u8> = (0..w * h * 3).map(|i| (i * 37 % 251) as u8).collect();
        let (ow, oh) = (20u32, 15u32);
        let all = resize_window_f32(
            &img(w, h, rgb.clone()),
            ow,
            oh,
            whole(ow, oh),
            ResizeFilter::BilinearF32,
            &identity(),
        );
        let win = Window {
            x: 3,
            y: 4,
            width: 10,
            height: 9,
        };
        let part = resize_window_f32(
            &img(w, h, rgb.clone()),
            ow,
            oh,
            win,
            ResizeFilter::BilinearF32,
            &identity(),
        );
        for c in 0..3 {
            for y in 0..9 {
                for x in 0..10 {
                    let a = all[(c * oh as usize + y + 4) * ow as usize + x + 3];
                    let b = part[(c * 9 + y) * 10 + x];
                    assert_eq!(a.to_bits(), b.to_bits(), "c{c} ({x}, {y})");
                }
            }
        }
    }

    #[test]
    fn an_unchanged_size_only_rescales() {
        let rgb: Vec<u8> = (0..6 * 4 * 3).map(|i| i as u8).collect();
        let half: [f32; 256] = std::array::from_fn(|v| v as f32 / 2.0);
        let out = resize_window_f32(
            &img(6, 4, rgb.clone()),
            6,
            4,
            whole(6, 4),
            ResizeFilter::BilinearF32,
            &half,
        );
        // Channel 1 of pixel (2, 1) is byte (1 * 6 + 2) * 3 + 1 = 25.
        assert_eq!(out[4 * 6 + 6 + 2], 12.5);
    }
}
