//! Near-duplicate groups: works that are the same picture (a re-scan, a
//! crop down to about 80%, a resize, a recompressed or slightly brightened
//! or colour-shifted copy), found in two steps.
//!
//! 1. **Candidates** from two sources, united: each work's nearest
//!    neighbours by a backbone's embedding whose cosine similarity reaches
//!    a threshold (a per-backbone default, [`default_threshold`]), and each
//!    work's nearest by a small key of its pixels' layout
//!    ([`Signature::layout_key`], [`layout_neighbours`]), which no embedding
//!    can blind. This step is cheap and tuned for recall: a global
//!    embedding cannot tell two different flat minimalist works from two
//!    scans of one (trained DINOv2-S puts two different Minimalism works at
//!    cosine 0.996).
//! 2. **Verification** that does not rely on the embedding: the two works'
//!    small pictures ([`Signature`], 48-pixel colour thumbnails) are
//!    aligned by searching the crop window of one inside the other (scale
//!    from [`MIN_CROP`] to 1, every offset) on their blurred layouts, where
//!    the brightness, contrast and colour must stay those of a copy (a
//!    clipped channel aside); then compared on their shapes and edges, a
//!    band-pass of the picture that drops recompression noise and the
//!    large gradients every landscape shares, by zero-mean normalised
//!    correlation per colour channel ([`agreement`]). A pair is a copy when
//!    it reaches [`DEFAULT_AGREEMENT`].
//!
//! Groups start as the connected components of verified pairs
//! ([`groups`]); the representative is the work a person chose, else the
//! largest in pixels, and `app/dups.rs` keeps in a group only the works
//! verified against the representative itself (a chain A~B~C of look-alikes
//! is not one picture).
//! The defaults were calibrated on a planted set (`cargo bench --bench
//! dups`, `docs/PERFORMANCE.md#near-duplicates`).

use image::RgbImage;

use crate::model::registry::BackboneId;

/// The longer side, in pixels, of a work's [`Signature`]: small enough that
/// recompression noise and resampling differences average out, large enough
/// that two compositions that differ by a shape a few percent wide do not.
pub(crate) const SIGNATURE_SIDE: usize = 48;

/// The smallest crop searched, as a share of the other picture's side: a
/// copy cropped to 80% is found with room to spare; below about 70% a crop
/// is another picture for a person too.
pub(crate) const MIN_CROP: f64 = 0.7;

/// The structure agreement ([`agreement`], −1 to 1) at which two
/// candidates are called copies. Calibrated on the planted set
/// (`cargo bench --bench dups`, `docs/PERFORMANCE.md#near-duplicates`):
/// most copies score 0.9 and above, the heaviest copies of soft colour
/// fields (a resize with JPEG at quality 35 and a colour cast) 0.83–0.90;
/// distinct landscapes of one layout (sky, trees, field) 0.82–0.89, so a
/// lower cut-off buys recall with precision. The line of a minimalist work
/// that a crop can move onto another's is the one case pixels cannot
/// settle.
pub const DEFAULT_AGREEMENT: f64 = 0.9;

/// Nearest neighbours per work by the embedding considered as
/// candidates: a picture rarely has more copies than this, and the search
/// stays linear in the works.
pub(crate) const CANDIDATE_NEIGHBOURS: usize = 10;

/// Nearest neighbours per work by layout key ([`layout_neighbours`]): more
/// than by embedding, because works of one style share a layout (every
/// landscape of the sample is sky over field), and with 10 a copy of such
/// a work fell behind its style-mates on the planted set.
pub(crate) const LAYOUT_NEIGHBOURS: usize = 20;

/// The blur (Gaussian σ, in signature pixels) of the picture the alignment
/// is searched on: it spreads a one-pixel line over several pixels, so the
/// coarse search on every third pixel cannot step over it, and it makes
/// the colour check read the picture's regions, not recompression noise or
/// a pointillist's dots.
const LAYOUT_BLUR: f32 = 1.5;

/// The band of the structure comparison: detail finer than σ 1 pixel
/// (recompression, resampling, dots) and the layout coarser than σ 6 (a
/// landscape's sky-to-field gradient, which every landscape shares) are
/// left out; shapes, edges and lines remain.
const STRUCTURE_BAND: (f32, f32) = (1.0, 6.0);

/// The default candidate threshold (cosine similarity of the global
/// embeddings) of a backbone, kept low so that the verification, not the
/// embedding, decides (on random-initialised weights nearly every work's
/// neighbours pass it; see `docs/PERFORMANCE.md#near-duplicates`).
pub(crate) fn default_threshold(backbone: &BackboneId) -> f32 {
    let hub = backbone.spec().hub_id.to_ascii_lowercase();
    // CLIP and SigLIP embeddings of unrelated images sit higher on the
    // cosine scale than DINO's.
    if hub.contains("clip") || hub.contains("siglip") {
        0.8
    } else {
        0.5
    }
}

/// One plane of a [`Signature`]: RGB floats, row by row.
type Plane = Vec<[f32; 3]>;

/// A work's small pictures for the aligned comparison, at most
/// [`SIGNATURE_SIDE`] pixels on the longer side, made by area averaging
/// (so a resize of the work gives nearly the same signature): the blurred
/// `layout` the alignment and the colour check read, and the `structure`
/// band ([`STRUCTURE_BAND`]) the agreement is measured on.
#[derive(Debug, Clone, PartialEq)]
pub struct Signature {
    w: usize,
    h: usize,
    layout: Plane,
    structure: Plane,
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
        let px: Plane = sum
            .iter()
            .zip(&count)
            .map(|(s, &n)| {
                let n = n.max(1) as f64;
                [(s[0] / n) as f32, (s[1] / n) as f32, (s[2] / n) as f32]
            })
            .collect();
        let fine = blur(&px, w, h, STRUCTURE_BAND.0);
        let broad = blur(&px, w, h, STRUCTURE_BAND.1);
        let structure = fine
            .iter()
            .zip(&broad)
            .map(|(f, b)| [f[0] - b[0], f[1] - b[1], f[2] - b[2]])
            .collect();
        Signature {
            w,
            h,
            layout: blur(&px, w, h, LAYOUT_BLUR),
            structure,
        }
    }

    /// Bilinear sample of `plane` at (x, y) in pixel units (pixel centres
    /// at +0.5), the edges extended.
    fn sample(&self, plane: &[[f32; 3]], x: f64, y: f64) -> [f32; 3] {
        let fx = (x - 0.5).clamp(0.0, (self.w - 1) as f64);
        let fy = (y - 0.5).clamp(0.0, (self.h - 1) as f64);
        let (x0, y0) = (fx.floor() as usize, fy.floor() as usize);
        let (x1, y1) = ((x0 + 1).min(self.w - 1), (y0 + 1).min(self.h - 1));
        let (ax, ay) = ((fx - x0 as f64) as f32, (fy - y0 as f64) as f32);
        let p = |x: usize, y: usize| plane[y * self.w + x];
        let (a, b, c, d) = (p(x0, y0), p(x1, y0), p(x0, y1), p(x1, y1));
        let mut out = [0f32; 3];
        for ch in 0..3 {
            let top = a[ch] + (b[ch] - a[ch]) * ax;
            let bottom = c[ch] + (d[ch] - c[ch]) * ax;
            out[ch] = top + (bottom - top) * ay;
        }
        out
    }

    /// A short description of the layout for the second candidate source
    /// ([`layout_neighbours`]): the layout plane on a fixed
    /// [`KEY_GRID`]² grid over the whole picture, each channel zero-mean
    /// and scaled to unit length (so brightness, contrast and a colour
    /// cast do not move it), the whole of unit length.
    pub(crate) fn layout_key(&self) -> Vec<f32> {
        let mut key = vec![0f32; KEY_GRID * KEY_GRID * 3];
        for gy in 0..KEY_GRID {
            for gx in 0..KEY_GRID {
                let x = (gx as f64 + 0.5) * self.w as f64 / KEY_GRID as f64;
                let y = (gy as f64 + 0.5) * self.h as f64 / KEY_GRID as f64;
                let v = self.sample(&self.layout, x, y);
                for c in 0..3 {
                    key[c * KEY_GRID * KEY_GRID + gy * KEY_GRID + gx] = v[c];
                }
            }
        }
        for channel in key.chunks_mut(KEY_GRID * KEY_GRID) {
            let mean = channel.iter().sum::<f32>() / channel.len() as f32;
            channel.iter_mut().for_each(|v| *v -= mean);
            // A flat channel (below a grey level of 1 of spread) says
            // nothing about the layout: it stays zero.
            let norm = channel.iter().map(|v| v * v).sum::<f32>().sqrt();
            let flat = norm < (channel.len() as f32).sqrt();
            channel
                .iter_mut()
                .for_each(|v| *v = if flat { 0.0 } else { *v / norm });
        }
        let norm = key.iter().map(|v| v * v).sum::<f32>().sqrt();
        if norm > 0.0 {
            key.iter_mut().for_each(|v| *v /= norm);
        }
        key
    }
}

/// The side of the grid a [`Signature::layout_key`] samples: coarse enough
/// that a crop to 80% moves the layout by less than two cells.
const KEY_GRID: usize = 8;

/// A separable Gaussian blur of `plane` (`w`×`h`) with standard deviation
/// `sigma` pixels, the edges extended.
fn blur(plane: &[[f32; 3]], w: usize, h: usize, sigma: f32) -> Plane {
    let radius = (3.0 * sigma).ceil() as isize;
    let kernel: Vec<f32> = (-radius..=radius)
        .map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp())
        .collect();
    let total: f32 = kernel.iter().sum();
    let pass = |src: &[[f32; 3]], step: (usize, usize), len: usize, lines: usize| {
        let mut out = vec![[0f32; 3]; w * h];
        for line in 0..lines {
            for i in 0..len {
                let mut acc = [0f32; 3];
                for (k, wgt) in kernel.iter().enumerate() {
                    let j = (i as isize + k as isize - radius).clamp(0, len as isize - 1) as usize;
                    let p = src[line * step.1 + j * step.0];
                    for c in 0..3 {
                        acc[c] += wgt * p[c];
                    }
                }
                out[line * step.1 + i * step.0] = acc.map(|v| v / total);
            }
        }
        out
    };
    let rows = pass(plane, (1, w), w, h);
    pass(&rows, (w, 1), h, w)
}

/// The works' pairs that are each other's nearest by layout key
/// ([`Signature::layout_key`]): each work's `k` most similar keys, a
/// second source of candidates that does not depend on any embedding (a
/// backbone with random or weak weights can miss a copy among its
/// neighbours). Brute force, O(n²) dot products of 192 numbers: a few
/// seconds for 10,000 works.
pub(crate) fn layout_neighbours(keys: &[Vec<f32>], k: usize) -> Vec<(usize, usize)> {
    use rayon::prelude::*;
    let mut pairs: Vec<(usize, usize)> = (0..keys.len())
        .into_par_iter()
        .flat_map_iter(|i| {
            let mut best: Vec<(f32, usize)> = (0..keys.len())
                .filter(|&j| j != i)
                .map(|j| (dot(&keys[i], &keys[j]), j))
                .collect();
            let k = k.min(best.len());
            if k > 0 && k < best.len() {
                best.select_nth_unstable_by(k - 1, |a, b| b.0.total_cmp(&a.0));
            }
            best.truncate(k);
            best.into_iter().map(move |(_, j)| (i.min(j), i.max(j)))
        })
        .collect();
    pairs.sort_unstable();
    pairs.dedup();
    pairs
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// A crop window inside the larger picture: origin and size in its pixels.
#[derive(Debug, Clone, Copy)]
struct Window {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
}

/// How well two pictures agree once aligned: the pictures are aligned on
/// their blurred layouts over every crop window of either inside the other
/// (and must keep their brightness, contrast and colour close there), then
/// compared on their structure band: 1 for the same picture, near 0 for
/// unrelated ones; below the layout's own correlation, which copies and
/// look-alikes share.
pub fn agreement(a: &Signature, b: &Signature) -> f64 {
    let (x, y) = (contained(a, b), contained(b, a));
    let best = if x.0 >= y.0 { x } else { y };
    best.0.min(best.1)
}

/// The alignment of `small` with a window of `big` of `small`'s shape,
/// from the largest such window down to [`MIN_CROP`] of it, searched on
/// the layouts (a coarse search on a subsampled grid, then a finer one
/// around the best window): the layout correlation there, and the
/// structure correlation at that window.
fn contained(big: &Signature, small: &Signature) -> (f64, f64) {
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
        return (0.0, 0.0);
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
    let structure = Moments::of(big, &big.structure, small, &small.structure, win, &all);
    // A picture without shapes (a flat field) has no structure to
    // compare: the layout and its colours decide.
    let structure = if structure.flat() {
        score
    } else {
        structure.correlation()
    };
    (score, structure)
}

/// Per-channel sums of two aligned planes: `a` sampled from the larger
/// picture's window, `b` the smaller picture's pixels.
struct Moments {
    n: f64,
    sa: [f64; 3],
    sb: [f64; 3],
    saa: [f64; 3],
    sbb: [f64; 3],
    sab: [f64; 3],
}

impl Moments {
    fn of(
        big: &Signature,
        big_plane: &[[f32; 3]],
        small: &Signature,
        small_plane: &[[f32; 3]],
        win: Window,
        grid: &[(usize, usize)],
    ) -> Moments {
        let mut m = Moments {
            n: grid.len().max(1) as f64,
            sa: [0.0; 3],
            sb: [0.0; 3],
            saa: [0.0; 3],
            sbb: [0.0; 3],
            sab: [0.0; 3],
        };
        let (kx, ky) = (win.w / small.w as f64, win.h / small.h as f64);
        for &(x, y) in grid {
            let a = big.sample(
                big_plane,
                win.x + (x as f64 + 0.5) * kx,
                win.y + (y as f64 + 0.5) * ky,
            );
            let b = small_plane[y * small.w + x];
            for c in 0..3 {
                let (p, q) = (a[c] as f64, b[c] as f64);
                m.sa[c] += p;
                m.sb[c] += q;
                m.saa[c] += p * p;
                m.sbb[c] += q * q;
                m.sab[c] += p * q;
            }
        }
        m
    }

    /// Each channel's variance (times n), `a`'s and `b`'s.
    fn variances(&self, c: usize) -> (f64, f64) {
        let n = self.n;
        (
            (self.saa[c] - self.sa[c] * self.sa[c] / n).max(0.0),
            (self.sbb[c] - self.sb[c] * self.sb[c] / n).max(0.0),
        )
    }

    /// The normalised correlation: per channel zero-mean, the channels
    /// weighted by their spread (a flat channel counts for nothing).
    fn correlation(&self) -> f64 {
        let (mut cov, mut norm) = (0.0, 0.0);
        for c in 0..3 {
            let (va, vb) = self.variances(c);
            cov += self.sab[c] - self.sa[c] * self.sb[c] / self.n;
            norm += (va * vb).sqrt();
        }
        if norm > 0.0 {
            cov / norm
        } else {
            0.0
        }
    }

    /// Whether both planes are flat: every channel's spread below a grey
    /// level of 2 (recompression noise, no picture).
    fn flat(&self) -> bool {
        let norm: f64 = (0..3)
            .map(|c| {
                let (va, vb) = self.variances(c);
                (va * vb).sqrt()
            })
            .sum();
        norm < 4.0 * self.n
    }
}

/// The layout correlation of `small` with `big`'s window `win`, sampled at
/// `grid`, or 0 when the brightness, contrast or colour of the two differ
/// more than a copy's do. Two flat pictures agree when their colours are
/// close.
fn correlate(big: &Signature, small: &Signature, win: Window, grid: &[(usize, usize)]) -> f64 {
    let m = Moments::of(big, &big.layout, small, &small.layout, win, grid);
    let n = m.n;
    let mut mean_gap = 0f64;
    let mut gains = Vec::with_capacity(3);
    let mut contrasts = Vec::with_capacity(3);
    for c in 0..3 {
        let (va, vb) = m.variances(c);
        let (mean_a, mean_b) = (m.sa[c] / n, m.sb[c] / n);
        mean_gap = mean_gap.max((mean_a - mean_b).abs());
        // A channel near white in either picture is clipped: a brighter
        // copy cannot raise it, so its change says nothing of the copy.
        if mean_a.max(mean_b) > CLIPPED {
            continue;
        }
        // Each channel's brightness and contrast, copy over original; the
        // +10 and +5 keep dark or flat channels from deciding alone.
        gains.push((mean_b + 10.0) / (mean_a + 10.0));
        contrasts.push(((vb / n).sqrt() + 5.0) / ((va / n).sqrt() + 5.0));
    }
    // The correlation forgives any gain and offset per channel; a copy
    // changes brightness and colour only a little. Two works of one series
    // in other colours (or two flat works with bands that a crop could
    // align) are told apart here.
    if !colours_close(&gains) || !colours_close(&contrasts) {
        return 0.0;
    }
    if m.flat() {
        return if mean_gap < 0.1 * 255.0 { 1.0 } else { 0.0 };
    }
    m.correlation()
}

/// Whether per-channel ratios (copy over original, the unclipped
/// channels) are those of a copy: overall within [`MAX_BRIGHTNESS`] either
/// way, and the channels within [`MAX_COLOUR_SHIFT`] of each other. No
/// channel left to judge by passes.
fn colours_close(ratios: &[f64]) -> bool {
    if ratios.is_empty() {
        return true;
    }
    let lo = ratios.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = ratios.iter().copied().fold(0.0, f64::max);
    let mean = ratios.iter().sum::<f64>() / ratios.len() as f64;
    (1.0 / MAX_BRIGHTNESS..=MAX_BRIGHTNESS).contains(&mean) && hi <= lo * MAX_COLOUR_SHIFT
}

/// The mean grey level of a channel above which it counts as clipped.
const CLIPPED: f64 = 240.0;

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

    /// The second candidate source finds a crop and a darker, smaller copy
    /// among a work's nearest by layout, with no embedding at all.
    #[test]
    fn layout_neighbours_find_copies_without_an_embedding() {
        let works: Vec<RgbImage> = (0..12).map(|s| painting(320, 240, s)).collect();
        let crop = imageops::crop_imm(&works[5], 20, 30, 260, 195).to_image();
        let mut dark = imageops::resize(&works[5], 160, 120, imageops::FilterType::Triangle);
        for p in dark.pixels_mut() {
            p.0 = p.0.map(|v| (v as f32 * 0.8) as u8);
        }
        let mut keys: Vec<Vec<f32>> = works
            .iter()
            .map(|w| Signature::of(w).layout_key())
            .collect();
        keys.push(Signature::of(&crop).layout_key());
        keys.push(Signature::of(&dark).layout_key());
        let pairs = layout_neighbours(&keys, 2);
        assert!(pairs.contains(&(5, 12)), "{pairs:?}");
        assert!(pairs.contains(&(5, 13)), "{pairs:?}");
        assert!(pairs.iter().all(|&(a, b)| a < b && b < keys.len()));
    }

    /// A thin line moved elsewhere on the same field is another work; the
    /// same line after a resize and recompression-like blur is a copy.
    #[test]
    fn thin_lines_are_aligned_not_stepped_over() {
        let line = |at: u32| {
            RgbImage::from_fn(300, 240, move |_, y| {
                if (at..at + 2).contains(&y) {
                    Rgb([20, 20, 25])
                } else {
                    Rgb([200, 198, 190])
                }
            })
        };
        let orig = line(100);
        let small = imageops::resize(&orig, 120, 96, imageops::FilterType::Triangle);
        let a = agreement(&Signature::of(&orig), &Signature::of(&small));
        assert!(a >= DEFAULT_AGREEMENT, "a resized copy: {a}");
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
