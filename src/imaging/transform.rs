//! Applies a [`Preprocess`] recipe: resize (and for timm, center-crop) an RGB
//! image, then rescale and normalise it into the `[3, H, W]` `f32` tensor a
//! backbone takes, reproducing the reference pipelines to the bit.
//!
//! The references differ only in geometry:
//!
//! * transformers' `ViTImageProcessor` (DINO) squashes the image to exactly
//!   224×224 ([`Geometry::Squash`]);
//! * timm's eval transform (DINOv2) resizes the shorter side with
//!   torchvision's `Resize(int)` and then applies torchvision's `CenterCrop`
//!   ([`Geometry::ShortSideCenterCrop`]).
//!
//! Both resize with PIL, which [`super::resize_rgb8`] ports exactly, and both then
//! compute, per value, `((v * rescale) - mean[c]) / std[c]`:
//!
//! * transformers rescales in `f64` (`image.astype(float64) * scale`), casts
//!   to `f32`, then normalises in `f32` with mean and std cast to `f32`;
//! * torchvision's `ToTensor` divides by 255 in `f32`, then `Normalize`
//!   subtracts and divides in `f32`.
//!
//! For a scale of 1/255 the two rescales agree on every one of the 256 input
//! values (a unit test checks it), so one formula serves both: rescale in
//! `f64`, cast, normalise in `f32`. Because the input is `u8`, each channel's
//! whole arithmetic is a 256-entry table computed once per call.

use image::RgbImage;

#[cfg(test)]
use super::resample::resize_rgb8;
use super::resample::{resize_window_rgb8, ResizeFilter, Window};
use super::resample_f32::resize_window_f32;
use super::{Geometry, Preprocess};

/// Where [`Preprocess::plan`] puts an image: resized to `width`×`height`,
/// of which `window` is kept and placed at `(pad_x, pad_y)` of the output.
struct Plan {
    width: u32,
    height: u32,
    window: Window,
    pad_x: i64,
    pad_y: i64,
}

impl Plan {
    /// The planned window of the float resize of `img`, each 8-bit value
    /// `v` read as `value[v]` (see [`resize_window_f32`]).
    fn resize_f32(&self, img: &RgbImage, filter: ResizeFilter, value: &[f32; 256]) -> Vec<f32> {
        resize_window_f32(img, self.width, self.height, self.window, filter, value)
    }
}

impl Preprocess {
    /// Turns an RGB image into this recipe's input tensor, `[3, H, W]` in
    /// channel-major order, `H`×`W` = [`Preprocess::output_size`].
    pub fn apply(&self, img: &RgbImage) -> Vec<f32> {
        let (h, w) = self.output_size();
        let mut out = vec![0f32; 3 * h * w];
        self.apply_into(img, &mut out);
        out
    }

    /// Like [`Preprocess::apply`], writing into `out` (one image's slot of a
    /// batch buffer).
    ///
    /// # Panics
    ///
    /// If `out.len()` is not `3 * H * W`: that is a bug in the caller's batch
    /// layout, not a property of the input image.
    pub(crate) fn apply_into(&self, img: &RgbImage, out: &mut [f32]) {
        let (h, w) = self.output_size();
        assert_eq!(
            out.len(),
            3 * h * w,
            "output buffer must hold 3×{h}×{w} values"
        );
        if self.filter.is_f32() {
            return self.apply_f32_into(img, out);
        }
        let pixels = self.geometry_rgb8(img);
        let lut = self.normalisation_table();
        let plane = h * w;
        let (r, rest) = out.split_at_mut(plane);
        let (g, b) = rest.split_at_mut(plane);
        for (i, p) in pixels.as_raw().chunks_exact(3).enumerate() {
            r[i] = lut[0][usize::from(p[0])];
            g[i] = lut[1][usize::from(p[1])];
            b[i] = lut[2][usize::from(p[2])];
        }
    }

    /// The torchvision order of a processor that rescales first (DINOv3's):
    /// rescale each byte to `f32` (`image * rescale_factor`, in `f32`),
    /// resize the float image ([`resize_window_f32`]), crop (padding with
    /// zeros), then normalise, `(x − mean) / std` in `f32`.
    fn apply_f32_into(&self, img: &RgbImage, out: &mut [f32]) {
        let (h, w) = self.output_size();
        let value: [f32; 256] = std::array::from_fn(|v| v as f32 * self.rescale);
        let plan = self.plan(img.width(), img.height());
        let part = plan.resize_f32(img, self.filter, &value);
        let (pw, ph) = (plan.window.width as usize, plan.window.height as usize);
        for c in 0..3 {
            let plane = &mut out[c * h * w..(c + 1) * h * w];
            // Zeros where the crop is padded, as torchvision pads the float
            // image before normalising.
            plane.fill(0.0);
            for y in 0..ph {
                let oy = (y as i64 + plan.pad_y) as usize;
                let ox = plan.pad_x as usize;
                plane[oy * w + ox..oy * w + ox + pw]
                    .copy_from_slice(&part[(c * ph + y) * pw..(c * ph + y + 1) * pw]);
            }
            for v in plane.iter_mut() {
                *v = (*v - self.mean[c]) / self.std[c];
            }
        }
    }

    /// Where the resize and the crop put the image: the resized size, the
    /// window of it the output keeps, and where that window lands in the
    /// output (non-zero where the crop is padded).
    fn plan(&self, img_w: u32, img_h: u32) -> Plan {
        match self.geometry {
            Geometry::Squash { width, height } => Plan {
                width,
                height,
                window: Window {
                    x: 0,
                    y: 0,
                    width,
                    height,
                },
                pad_x: 0,
                pad_y: 0,
            },
            Geometry::ShortSideCenterCrop { resize_to, crop }
            | Geometry::ShortSideCenterCropFloor { resize_to, crop } => {
                let floor = matches!(self.geometry, Geometry::ShortSideCenterCropFloor { .. });
                // Only the part of the resized image the crop keeps is made:
                // the resized image itself grows with the aspect ratio (a
                // 65535×1 strip becomes 16,776,960×256 pixels at
                // `resize_to` 256, 12.9 GB), the crop never does.
                let (w, h) = short_side_size(img_w, img_h, resize_to);
                let start = |size: u32| match floor {
                    // transformers: `(size - crop) // 2` (the resize never
                    // leaves a side below its shortest edge, so no padding).
                    true if crop <= size => i64::from((size - crop) / 2),
                    _ => crop_start(size, crop),
                };
                let left = start(w);
                let top = start(h);
                let (x, width) = covered(w, left, crop);
                let (y, height) = covered(h, top, crop);
                Plan {
                    width: w,
                    height: h,
                    window: Window {
                        x,
                        y,
                        width,
                        height,
                    },
                    pad_x: i64::from(x) - left,
                    pad_y: i64::from(y) - top,
                }
            }
        }
    }

    /// The geometric half of the recipe: the resized (and cropped) `u8` image,
    /// before any arithmetic on values. Useful for thumbnails that show
    /// exactly what the model saw (for a float resize, its values rounded to
    /// 8 bits).
    pub(crate) fn geometry_rgb8(&self, img: &RgbImage) -> RgbImage {
        let plan = self.plan(img.width(), img.height());
        let (crop_w, crop_h) = match self.geometry {
            Geometry::Squash { width, height } => (width, height),
            Geometry::ShortSideCenterCrop { crop, .. }
            | Geometry::ShortSideCenterCropFloor { crop, .. } => (crop, crop),
        };
        let part = if self.filter.is_f32() {
            let value: [f32; 256] = std::array::from_fn(|v| v as f32);
            let planes = plan.resize_f32(img, self.filter, &value);
            let n = (plan.window.width * plan.window.height) as usize;
            let bytes = (0..n)
                .flat_map(|i| (0..3).map(move |c| (c, i)))
                .map(|(c, i)| planes[c * n + i].round().clamp(0.0, 255.0) as u8)
                .collect();
            RgbImage::from_raw(plan.window.width, plan.window.height, bytes)
                .unwrap_or_else(|| RgbImage::new(0, 0))
        } else {
            resize_window_rgb8(img, plan.width, plan.height, plan.window, self.filter)
        };
        if (plan.window.width, plan.window.height) == (crop_w, crop_h) {
            return part;
        }
        pad(&part, plan.pad_x, plan.pad_y, crop_w, crop_h)
    }

    /// `table[c][v]` is the final value for channel `c` and input byte `v`.
    fn normalisation_table(&self) -> [[f32; 256]; 3] {
        let scale = rescale_as_f64(self.rescale);
        let mut table = [[0f32; 256]; 3];
        for (c, row) in table.iter_mut().enumerate() {
            for (v, slot) in row.iter_mut().enumerate() {
                let x = (v as f64 * scale) as f32;
                *slot = (x - self.mean[c]) / self.std[c];
            }
        }
        table
    }
}

/// Recovers the `f64` rescale factor the references multiply by.
///
/// Configs store `rescale_factor` as `0.00392156862745098`, which Python reads
/// as the `f64` nearest 1/255; our recipe holds it as `f32`, and widening that
/// `f32` gives a slightly different `f64` that can round some products the
/// other way. When the `f32` is the rounding of `1/n` for an integer `n` (the
/// only factors in use), return `1/n` computed in `f64`.
fn rescale_as_f64(rescale: f32) -> f64 {
    if rescale.is_finite() && rescale > 0.0 {
        let n = (1.0 / f64::from(rescale)).round();
        if (1.0..=16_777_216.0).contains(&n) && (1.0 / n) as f32 == rescale {
            return 1.0 / n;
        }
    }
    f64::from(rescale)
}

/// torchvision's `Resize(int)` output size (`_compute_resized_output_size`):
/// the shorter side becomes `resize_to`, the longer `int(resize_to * long /
/// short)` (Python true division, then truncation). Returns `(width, height)`.
///
/// An image whose shorter side already equals `resize_to` keeps its size, so
/// [`super::resize_rgb8`] returns it untouched, as torchvision does.
fn short_side_size(width: u32, height: u32, resize_to: u32) -> (u32, u32) {
    let (short, long) = if width <= height {
        (width, height)
    } else {
        (height, width)
    };
    if short == 0 {
        // Python would divide by zero; decoders never produce an empty image,
        // and the crop below pads this to black instead of panicking.
        return (0, 0);
    }
    // The product is exact in u64 and the division is one correctly rounded
    // IEEE operation, as in Python.
    let new_long = ((u64::from(resize_to) * u64::from(long)) as f64 / f64::from(short)) as u32;
    if width <= height {
        (resize_to, new_long)
    } else {
        (new_long, resize_to)
    }
}

/// Python 3's `int(round(x / 2.0))` for a non-negative integer `x`: halves go
/// to the even neighbour (`round(0.5) == 0`, `round(1.5) == 2`).
fn half_round_even_half(x: u32) -> u32 {
    let q = x / 2;
    if x % 2 == 1 && q % 2 == 1 {
        q + 1
    } else {
        q
    }
}

/// Where torchvision's `CenterCrop` starts a crop of `crop` pixels along a
/// side of `size`, in the image's coordinates: when the crop is larger than
/// the image it pads with zeros first (`(crop - size) // 2` before, the rest
/// after), which is a negative start; otherwise it starts at `int(round((size
/// - crop) / 2.0))`.
fn crop_start(size: u32, crop: u32) -> i64 {
    if crop > size {
        -i64::from((crop - size) / 2)
    } else {
        i64::from(half_round_even_half(size - crop))
    }
}

/// The part of a side `0..size` that a crop of `crop` pixels starting at
/// `start` covers, as `(first, length)`; `(0, 0)` when they do not meet.
fn covered(size: u32, start: i64, crop: u32) -> (u32, u32) {
    let first = start.max(0);
    let end = (start + i64::from(crop)).min(i64::from(size));
    if end <= first {
        (0, 0)
    } else {
        (first as u32, (end - first) as u32)
    }
}

/// A black `crop_w`×`crop_h` image with `part` placed at `(x, y)`.
fn pad(part: &RgbImage, x: i64, y: i64, crop_w: u32, crop_h: u32) -> RgbImage {
    let mut out = RgbImage::new(crop_w, crop_h);
    image::imageops::replace(&mut out, part, x, y);
    out
}

/// torchvision's `CenterCrop` on a PIL image: when the crop is larger than
/// the image it first pads with zeros (left/top get `(crop - size) // 2`, the
/// rest goes right/bottom); then it crops at `top = int(round((h - crop) /
/// 2.0))`, `left` likewise.
#[cfg(test)]
fn center_crop(img: &RgbImage, crop_w: u32, crop_h: u32) -> RgbImage {
    let (w, h) = img.dimensions();
    let (left, top) = (crop_start(w, crop_w), crop_start(h, crop_h));
    let (x, width) = covered(w, left, crop_w);
    let (y, height) = covered(h, top, crop_h);
    let part = image::imageops::crop_imm(img, x, y, width, height).to_image();
    pad(
        &part,
        i64::from(x) - left,
        i64::from(y) - top,
        crop_w,
        crop_h,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imaging::test_support::{short_side_crop, squash, MEAN, STD};

    fn ramp(width: u32, height: u32) -> RgbImage {
        RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8])
        })
    }

    #[test]
    fn round_half_to_even_like_python() {
        // (x, int(round(x / 2.0))) from Python 3.
        for (x, want) in [
            (0, 0),
            (1, 0),
            (2, 1),
            (3, 2),
            (4, 2),
            (5, 2),
            (7, 4),
            (9, 4),
            (11, 6),
        ] {
            assert_eq!(half_round_even_half(x), want, "x = {x}");
        }
    }

    #[test]
    fn short_side_size_truncates_like_torchvision() {
        assert_eq!(short_side_size(4000, 6000, 518), (518, 777));
        assert_eq!(short_side_size(6000, 4000, 518), (777, 518));
        // 518 * 1000 / 333 = 1555.555... -> 1555.
        assert_eq!(short_side_size(333, 1000, 518), (518, 1555));
        assert_eq!(short_side_size(518, 700, 518), (518, 700));
        assert_eq!(short_side_size(300, 300, 518), (518, 518));
    }

    #[test]
    fn center_crop_offsets_round_half_to_even() {
        // Height 5 -> crop 2: (5 - 2) / 2 = 1.5 rounds to 2; width 4 -> 2: 1.
        let img = ramp(4, 5);
        let out = center_crop(&img, 2, 2);
        assert_eq!(out.get_pixel(0, 0).0, [1, 2, 3]);
        // Height 3 -> crop 2: 0.5 rounds to 0.
        let img = ramp(2, 3);
        let out = center_crop(&img, 2, 2);
        assert_eq!(out.get_pixel(0, 0).0, [0, 0, 0]);
        assert_eq!(out.get_pixel(1, 1).0, [1, 1, 2]);
        // Height 7 -> crop 2: 2.5 rounds to 2.
        let img = ramp(2, 7);
        assert_eq!(center_crop(&img, 2, 2).get_pixel(0, 0).0[1], 2);
    }

    #[test]
    fn center_crop_pads_small_images_with_zeros() {
        // A 1x1 white pixel cropped to 4x3: padding left (4-1)//2 = 1, top
        // (3-1)//2 = 1, so the pixel lands at (1, 1).
        let img = RgbImage::from_pixel(1, 1, image::Rgb([255, 255, 255]));
        let out = center_crop(&img, 4, 3);
        for (x, y, p) in out.enumerate_pixels() {
            let want = if (x, y) == (1, 1) { 255 } else { 0 };
            assert_eq!(p.0, [want; 3], "({x}, {y})");
        }
        // Padding in one dimension and cropping in the other: width 2 -> 4
        // pads one column each side; height 6 -> 3 crops from round(1.5) = 2.
        let img = ramp(2, 6);
        let out = center_crop(&img, 4, 3);
        assert_eq!(out.get_pixel(0, 0).0, [0, 0, 0]);
        assert_eq!(out.get_pixel(1, 0).0, [0, 2, 2]);
        assert_eq!(out.get_pixel(2, 2).0, [1, 4, 5]);
        assert_eq!(out.get_pixel(3, 2).0, [0, 0, 0]);
    }

    #[test]
    fn rescale_in_f64_equals_torchvision_f32_division() {
        let scale = rescale_as_f64(1.0 / 255.0);
        assert_eq!(scale, 1.0 / 255.0);
        for v in 0..=255u8 {
            let transformers = (f64::from(v) * scale) as f32;
            let torchvision = f32::from(v) / 255.0;
            assert_eq!(transformers.to_bits(), torchvision.to_bits(), "v = {v}");
        }
        // A factor that is not 1/n is used as given.
        assert_eq!(rescale_as_f64(0.3), f64::from(0.3f32));
    }

    #[test]
    fn normalisation_order_is_rescale_subtract_divide() {
        let p = squash(1, 1);
        let img = RgbImage::from_pixel(1, 1, image::Rgb([0, 128, 255]));
        let out = p.apply(&img);
        let want: Vec<f32> = [0u8, 128, 255]
            .iter()
            .enumerate()
            .map(|(c, &v)| ((f32::from(v) / 255.0) - MEAN[c]) / STD[c])
            .collect();
        assert_eq!(out, want);
    }

    #[test]
    fn output_is_channel_major() {
        let p = squash(3, 2);
        let img = ramp(3, 2);
        let out = p.apply(&img);
        assert_eq!(out.len(), 3 * 2 * 3);
        let lut = p.normalisation_table();
        for (x, y, px) in img.enumerate_pixels() {
            for c in 0..3 {
                let i = c * 6 + y as usize * 3 + x as usize;
                assert_eq!(out[i], lut[c][usize::from(px.0[c])]);
            }
        }
    }

    #[test]
    fn short_side_center_crop_produces_the_crop_size() {
        let p = short_side_crop(20, 16);
        for (w, h) in [(40, 30), (30, 40), (20, 20), (7, 50), (16, 16)] {
            let img = ramp(w, h);
            assert_eq!(p.geometry_rgb8(&img).dimensions(), (16, 16), "{w}x{h}");
            assert_eq!(p.apply(&img).len(), 3 * 16 * 16);
        }
    }

    #[test]
    fn the_crop_equals_cropping_the_whole_resize() {
        // The crop is made from a window of the resize; it must be the same
        // pixels as resizing everything and cropping after, as torchvision
        // does, including where the crop is padded.
        for (resize_to, crop) in [(20, 16), (12, 12), (10, 14)] {
            let p = short_side_crop(resize_to, crop);
            for (w, h) in [
                (40, 30),
                (30, 40),
                (7, 50),
                (50, 7),
                (16, 16),
                (3, 300),
                (300, 3),
                (20, 20),
                (1, 1),
            ] {
                let img = ramp(w, h);
                let (rw, rh) = short_side_size(w, h, resize_to);
                let whole = center_crop(&resize_rgb8(&img, rw, rh, p.filter), crop, crop);
                assert_eq!(
                    p.geometry_rgb8(&img),
                    whole,
                    "{w}x{h} -> {resize_to}/{crop}"
                );
            }
        }
    }

    #[test]
    fn an_extreme_aspect_ratio_is_cropped_in_bounded_time() {
        // Resized whole, 65535×1 at resize_to 256 is 16,776,960×256 pixels;
        // the window keeps this to microseconds and a 224×224 buffer.
        let p = short_side_crop(256, 224);
        for (w, h) in [(65_535, 1), (1, 65_535), (1, 5_000)] {
            let img = ramp(w, h);
            let start = std::time::Instant::now();
            assert_eq!(p.geometry_rgb8(&img).dimensions(), (224, 224));
            assert!(start.elapsed().as_secs() < 5, "{w}x{h}");
        }
    }

    #[test]
    fn shorter_side_already_at_target_is_only_cropped() {
        let p = short_side_crop(4, 4);
        let img = ramp(4, 9);
        // (9 - 4) / 2 = 2.5 rounds to 2.
        let want = image::imageops::crop_imm(&img, 0, 2, 4, 4).to_image();
        assert_eq!(p.geometry_rgb8(&img), want);
    }
}
