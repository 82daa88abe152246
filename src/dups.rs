//! Near-duplicate groups: works that are the same picture (a re-scan, a
//! crop down to about 80%, a resize, a recompressed or slightly brightened
//! or colour-shifted copy), found in two steps.
//!
//! 1. **Candidates** from a backbone's embeddings: each work's nearest
//!    neighbours whose cosine similarity reaches a threshold (a per-backbone
//!    default, [`default_threshold`]). This step is cheap and tuned for
//!    recall: a global embedding cannot tell two different flat minimalist
//!    works from two scans of one (trained DINOv2-S puts two different
//!    Minimalism works at cosine 0.996).
//! 2. **Verification** that does not rely on the embedding: the two works'
//!    small pictures ([`Signature`], a 48-pixel colour thumbnail) are
//!    compared after searching the crop window of one inside the other
//!    (scale from [`MIN_CROP`] to 1, every offset), by zero-mean normalised
//!    correlation per colour channel, which a brightness or contrast change
//!    and a per-channel colour gain leave unchanged and recompression or
//!    resampling barely move ([`agreement`]); the brightness, contrast and
//!    colour of the aligned pictures must stay close (a copy, not a
//!    recoloured work of a series). A pair is a copy when the best
//!    alignment reaches [`DEFAULT_AGREEMENT`].
//!
//! Groups start as the connected components of verified pairs
//! ([`groups`]); the representative is the work a person chose, else the
//! largest in pixels, and `app/dups.rs` keeps in a group only the works
//! verified against the representative itself (a chain A~B~C of look-alikes
//! is not one picture).
//! The defaults were calibrated on a planted set (`scripts/bench_dups.py`,
//! `docs/PERFORMANCE.md#near-duplicates`).

use image::RgbImage;

use crate::model::registry::BackboneId;

/// The longer side, in pixels, of a work's [`Signature`]: small enough that
/// recompression noise and resampling differences average out, large enough
/// that two compositions that differ by a shape a few percent wide do not.
pub const SIGNATURE_SIDE: usize = 48;

/// The smallest crop searched, as a share of the other picture's side: a
/// copy cropped to 80% is found with room to spare; below about 70% a crop
/// is another picture for a person too.
pub const MIN_CROP: f64 = 0.7;

/// The aligned-pixel agreement (normalised correlation, −1 to 1) at which
/// two candidates are called copies. On the planted set
/// (`docs/PERFORMANCE.md#near-duplicates`) most copies score above 0.95 and
/// the heaviest (a resize to 40% with JPEG at quality 35 and a colour cast)
/// 0.81–0.88; works that differ in composition score far lower.
pub const DEFAULT_AGREEMENT: f64 = 0.9;

/// Nearest neighbours per work considered as candidates: a picture rarely
/// has more copies than this, and the search stays linear in the works.
pub const CANDIDATE_NEIGHBOURS: usize = 10;

/// The default candidate threshold (cosine similarity of the global
/// embeddings) of a backbone, kept low so that the verification, not the
/// embedding, decides (on random-initialised weights nearly every work's
/// neighbours pass it; see `docs/PERFORMANCE.md#near-duplicates`).
pub fn default_threshold(backbone: &BackboneId) -> f32 {
    let hub = backbone.spec().hub_id.to_ascii_lowercase();
    // CLIP and SigLIP embeddings of unrelated images sit higher on the
    // cosine scale than DINO's.
    if hub.contains("clip") || hub.contains("siglip") {
        0.8
    } else {
        0.5
    }
}

/// A work's small picture for the aligned comparison: RGB floats, row by
/// row, at most [`SIGNATURE_SIDE`] pixels on the longer side, made by area
/// averaging (so a resize of the work gives nearly the same signature).
#[derive(Debug, Clone, PartialEq)]
pub struct Signature {
    w: usize,
    h: usize,
    px: Vec<[f32; 3]>,
}

impl Signature {
    /// The signature of a decoded picture (any size, at least 1×1).
    pub fn of(img: &RgbImage) -> Signature {
        let (iw, ih) = (img.width().max(1) as usize, img.height().max(1) as usize);
        let scale = (SIGNATURE_SIDE as f64 / iw.max(ih) as f64).min(1.0);
        let w = ((iw as f64 * scale).round() as usize).max(1);
        let h = ((ih as f64 * scale).round() as usize).max(1);
        let mut sum = vec![[0f64; 3]; w * h];
        let mut count = vec![0u32; w * h];
        for (x, y, p) in img.enumerate_pixels() {
            let sx = (x as usize * w / iw).min(w - 1);
            let sy = (y as usize * h / ih).min(h - 1);
            let s = &mut sum[sy * w + sx];
            for (acc, &v) in s.iter_mut().zip(&p.0) {
                *acc += v as f64;
            }
            count[sy * w + sx] += 1;
        }
        let px = sum
            .iter()
            .zip(&count)
            .map(|(s, &n)| {
                let n = n.max(1) as f64;
                [(s[0] / n) as f32, (s[1] / n) as f32, (s[2] / n) as f32]
            })
            .collect();
        Signature { w, h, px }
    }

    /// Bilinear sample at (x, y) in pixel units (pixel centres at +0.5).
    fn sample(&self, x: f64, y: f64) -> [f32; 3] {
        let fx = (x - 0.5).clamp(0.0, (self.w - 1) as f64);
        let fy = (y - 0.5).clamp(0.0, (self.h - 1) as f64);
        let (x0, y0) = (fx.floor() as usize, fy.floor() as usize);
        let (x1, y1) = ((x0 + 1).min(self.w - 1), (y0 + 1).min(self.h - 1));
        let (ax, ay) = ((fx - x0 as f64) as f32, (fy - y0 as f64) as f32);
        let p = |x: usize, y: usize| self.px[y * self.w + x];
        let (a, b, c, d) = (p(x0, y0), p(x1, y0), p(x0, y1), p(x1, y1));
        let mut out = [0f32; 3];
        for ch in 0..3 {
            let top = a[ch] + (b[ch] - a[ch]) * ax;
            let bottom = c[ch] + (d[ch] - c[ch]) * ax;
            out[ch] = top + (bottom - top) * ay;
        }
        out
    }
}

/// A crop window inside the larger picture: origin and size in its pixels.
#[derive(Debug, Clone, Copy)]
struct Window {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
}

/// How well two pictures agree pixel for pixel once aligned: the best
/// normalised correlation over every crop window of either inside the
/// other (1 for the same picture, near 0 for unrelated ones).
pub fn agreement(a: &Signature, b: &Signature) -> f64 {
    contained(a, b).max(contained(b, a))
}

/// The best agreement of `small` with a window of `big` of `small`'s
/// shape, from the largest such window down to [`MIN_CROP`] of it: a coarse
/// search on a subsampled grid, then a finer one around the best window.
fn contained(big: &Signature, small: &Signature) -> f64 {
    let fit = (big.w as f64 / small.w as f64).min(big.h as f64 / small.h as f64);
    let (full_w, full_h) = (small.w as f64 * fit, small.h as f64 * fit);
    // The coarse grid: every third pixel of `small`.
    let coarse: Vec<(usize, usize)> = (0..small.h)
        .step_by(3)
        .flat_map(|y| (0..small.w).step_by(3).map(move |x| (x, y)))
        .collect();
    let all: Vec<(usize, usize)> = (0..small.h)
        .flat_map(|y| (0..small.w).map(move |x| (x, y)))
        .collect();
    let mut best = (f64::NEG_INFINITY, None::<Window>);
    let steps = 12;
    for si in 0..=steps {
        let s = 1.0 - (1.0 - MIN_CROP) * si as f64 / steps as f64;
        let (w, h) = (full_w * s, full_h * s);
        let (room_x, room_y) = ((big.w as f64 - w).max(0.0), (big.h as f64 - h).max(0.0));
        let nx = room_x.ceil() as usize;
        let ny = room_y.ceil() as usize;
        for iy in 0..=ny {
            for ix in 0..=nx {
                let win = Window {
                    x: (ix as f64).min(room_x),
                    y: (iy as f64).min(room_y),
                    w,
                    h,
                };
                let score = correlate(big, small, win, &coarse);
                if score > best.0 {
                    best = (score, Some(win));
                }
            }
        }
    }
    let Some(mut win) = best.1 else {
        return 0.0;
    };
    // Refine: half- and quarter-pixel steps of offset and 1% of scale.
    let mut score = correlate(big, small, win, &all);
    for step in [0.5, 0.25] {
        loop {
            let mut improved = false;
            for (dx, dy, ds) in [
                (step, 0.0, 0.0),
                (-step, 0.0, 0.0),
                (0.0, step, 0.0),
                (0.0, -step, 0.0),
                (0.0, 0.0, 0.01),
                (0.0, 0.0, -0.01),
            ] {
                let k = 1.0 + ds;
                let cand = Window {
                    x: win.x + dx,
                    y: win.y + dy,
                    w: win.w * k,
                    h: win.h * k,
                };
                if cand.x < -0.5
                    || cand.y < -0.5
                    || cand.x + cand.w > big.w as f64 + 0.5
                    || cand.y + cand.h > big.h as f64 + 0.5
                {
                    continue;
                }
                let s = correlate(big, small, cand, &all);
                if s > score + 1e-6 {
                    score = s;
                    win = cand;
                    improved = true;
                }
            }
            if !improved {
                break;
            }
        }
    }
    score
}

/// The normalised correlation of `small`'s pixels at `grid` with `big`
/// sampled at the same places of `win`: per channel zero-mean, the
/// channels weighted by their spread (a flat channel counts for nothing).
/// Two flat pictures agree when their colours are close.
fn correlate(big: &Signature, small: &Signature, win: Window, grid: &[(usize, usize)]) -> f64 {
    let n = grid.len().max(1) as f64;
    let mut sa = [0f64; 3];
    let mut sb = [0f64; 3];
    let mut saa = [0f64; 3];
    let mut sbb = [0f64; 3];
    let mut sab = [0f64; 3];
    let (kx, ky) = (win.w / small.w as f64, win.h / small.h as f64);
    for &(x, y) in grid {
        let a = big.sample(win.x + (x as f64 + 0.5) * kx, win.y + (y as f64 + 0.5) * ky);
        let b = small.px[y * small.w + x];
        for c in 0..3 {
            let (p, q) = (a[c] as f64, b[c] as f64);
            sa[c] += p;
            sb[c] += q;
            saa[c] += p * p;
            sbb[c] += q * q;
            sab[c] += p * q;
        }
    }
    let (mut cov, mut norm) = (0.0, 0.0);
    let mut mean_gap = 0f64;
    let mut gains = [0f64; 3];
    let mut contrasts = [0f64; 3];
    for c in 0..3 {
        let va = (saa[c] - sa[c] * sa[c] / n).max(0.0);
        let vb = (sbb[c] - sb[c] * sb[c] / n).max(0.0);
        cov += sab[c] - sa[c] * sb[c] / n;
        norm += (va * vb).sqrt();
        mean_gap = mean_gap.max((sa[c] - sb[c]).abs() / n);
        // Each channel's brightness and contrast, copy over original; the
        // +10 and +5 keep dark or flat channels from deciding alone.
        gains[c] = (sb[c] / n + 10.0) / (sa[c] / n + 10.0);
        contrasts[c] = ((vb / n).sqrt() + 5.0) / ((va / n).sqrt() + 5.0);
    }
    // The correlation forgives any gain and offset per channel; a copy
    // changes brightness and colour only a little. Two works of one series
    // in other colours (or two flat works with bands that a crop could
    // align) are told apart here.
    if !colours_close(&gains) || !colours_close(&contrasts) {
        return 0.0;
    }
    // A channel's spread below a grey level of 2 is flat: recompression
    // noise, no picture.
    if norm < 4.0 * n {
        return if mean_gap < 0.1 * 255.0 { 1.0 } else { 0.0 };
    }
    cov / norm
}

/// Whether per-channel ratios (copy over original) are those of a copy:
/// overall within [`MAX_BRIGHTNESS`] either way, and the channels within
/// [`MAX_COLOUR_SHIFT`] of each other.
fn colours_close(ratios: &[f64; 3]) -> bool {
    let lo = ratios.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = ratios.iter().copied().fold(0.0, f64::max);
    let mean = ratios.iter().sum::<f64>() / 3.0;
    (1.0 / MAX_BRIGHTNESS..=MAX_BRIGHTNESS).contains(&mean) && hi <= lo * MAX_COLOUR_SHIFT
}

/// The largest brightness (or contrast) change, as a ratio either way, of a
/// copy: a 40% brighter or darker scan is still the same picture.
const MAX_BRIGHTNESS: f64 = 1.4;

/// The largest ratio between two channels' changes: a colour cast of about
/// ±12% per channel.
const MAX_COLOUR_SHIFT: f64 = 1.25;

/// One verified pair of works (indexes into the caller's list).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pair {
    /// The first work.
    pub a: usize,
    /// The second work.
    pub b: usize,
    /// Cosine similarity of their embeddings.
    pub cosine: f32,
    /// Their aligned-pixel agreement ([`agreement`]).
    pub agreement: f64,
}

/// The connected components of `pairs` among `n` works that hold more than
/// one work, each sorted, the groups in order of their first work.
pub fn groups(n: usize, pairs: &[Pair]) -> Vec<Vec<usize>> {
    let mut parent: Vec<usize> = (0..n).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    for p in pairs {
        if p.a >= n || p.b >= n {
            continue;
        }
        let (ra, rb) = (root(&mut parent, p.a), root(&mut parent, p.b));
        if ra != rb {
            parent[ra.max(rb)] = ra.min(rb);
        }
    }
    let mut by_root: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
    for i in 0..n {
        let r = root(&mut parent, i);
        by_root.entry(r).or_default().push(i);
    }
    by_root.into_values().filter(|g| g.len() > 1).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{imageops, Rgb};

    /// A picture with structure: gradients and a few discs.
    fn painting(w: u32, h: u32, seed: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            let (fx, fy) = (x as f32 / w as f32, y as f32 / h as f32);
            let mut v = [
                120.0 + 80.0 * (fx * 6.0 + seed as f32).sin(),
                100.0 + 90.0 * (fy * 5.0 + seed as f32 * 0.7).cos(),
                90.0 + 60.0 * ((fx + fy) * 4.0).sin(),
            ];
            for k in 0..3 {
                let cx = ((seed * 37 + k * 53) % 100) as f32 / 100.0;
                let cy = ((seed * 59 + k * 31) % 100) as f32 / 100.0;
                if (fx - cx).powi(2) + (fy - cy).powi(2) < 0.01 {
                    v = [230.0, 40.0 + 60.0 * k as f32, 30.0];
                }
            }
            Rgb([v[0] as u8, v[1] as u8, v[2] as u8])
        })
    }

    /// A flat minimalist work: one colour field and one band at `at`.
    fn minimal(w: u32, h: u32, at: f32, width: f32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, _| {
            let fx = x as f32 / w as f32;
            if fx >= at && fx < at + width {
                Rgb([30, 30, 40])
            } else {
                Rgb([220, 215, 200])
            }
        })
    }

    #[test]
    fn copies_agree_and_other_works_do_not() {
        let orig = painting(400, 300, 3);
        let sig = Signature::of(&orig);
        let crop = imageops::crop_imm(&orig, 30, 25, 320, 240).to_image();
        let small = imageops::resize(&orig, 130, 97, imageops::FilterType::Triangle);
        let bright = RgbImage::from_fn(400, 300, |x, y| {
            let p = orig.get_pixel(x, y).0;
            Rgb([
                (p[0] as f32 * 1.15).min(255.0) as u8,
                (p[1] as f32 * 1.1).min(255.0) as u8,
                (p[2] as f32 * 1.2).min(255.0) as u8,
            ])
        });
        for (name, copy) in [("crop", crop), ("resize", small), ("brighter", bright)] {
            let a = agreement(&sig, &Signature::of(&copy));
            assert!(a > DEFAULT_AGREEMENT, "{name}: {a}");
        }
        let other = agreement(&sig, &Signature::of(&painting(400, 300, 11)));
        assert!(other < DEFAULT_AGREEMENT, "another painting: {other}");
        // Two minimalist works of one series: the band elsewhere.
        let m1 = Signature::of(&minimal(300, 300, 0.2, 0.1));
        let m2 = Signature::of(&minimal(300, 300, 0.6, 0.15));
        let a = agreement(&m1, &m2);
        assert!(a < DEFAULT_AGREEMENT, "two minimalist works: {a}");
        assert!(agreement(&m1, &m1) > 0.99);
    }

    #[test]
    fn flat_pictures_agree_by_colour_and_tiny_ones_do_not_panic() {
        let white = Signature::of(&RgbImage::from_pixel(40, 30, Rgb([250, 250, 250])));
        let black = Signature::of(&RgbImage::from_pixel(40, 30, Rgb([5, 5, 5])));
        assert_eq!(agreement(&white, &white), 1.0);
        assert_eq!(agreement(&white, &black), 0.0);
        let dot = Signature::of(&RgbImage::from_pixel(1, 1, Rgb([1, 2, 3])));
        let line = Signature::of(&RgbImage::from_pixel(500, 1, Rgb([1, 2, 3])));
        assert!(agreement(&dot, &line).is_finite());
        assert!(agreement(&line, &white).is_finite());
    }

    #[test]
    fn groups_are_connected_components() {
        let p = |a, b| Pair {
            a,
            b,
            cosine: 0.9,
            agreement: 0.99,
        };
        assert_eq!(
            groups(7, &[p(0, 3), p(5, 3), p(6, 2), p(9, 1)]),
            [vec![0, 3, 5], vec![2, 6]]
        );
        assert!(groups(3, &[]).is_empty());
    }
}
