//! Build the small, fully synthetic **sample collection** that the README's
//! commands run against, so the whole pipeline works on a fresh machine with
//! no downloads besides the model weights.
//!
//! Usage (from the crate root):
//!
//! ```text
//! cargo run --release --example make_sample_collection -- data/
//! ```
//!
//! The single argument is the output directory (default `data/`). It writes:
//!
//! * `<out>/collection/<Style>/<artist>_<title>.png|.jpg`: 48 procedural
//!   "artworks", 8 in each of 6 visibly different styles, in the WikiArt
//!   layout (`Style_Name/artist-name_title-of-work.ext`). Sizes vary between
//!   208 and 320 pixels a side, with landscape, portrait and square formats;
//!   one work per style is a JPEG so that decode path is exercised too.
//! * `<out>/metadata.csv`: `path,title,artist,style,genre,date`, `path`
//!   relative to `<out>/collection/` with `/` separators.
//! * `<out>/ratings.csv`: `path,rating`, the ratings of one invented person
//!   (see [`rating`] for the rule).
//! * `<out>/README.md`: how the data was made.
//!
//! Every random choice comes from a seeded SplitMix64 generator keyed by the
//! work's style and index (no `rand` crate), and works are generated
//! independently (in parallel with rayon), so the output is identical byte for
//! byte on every run (on one platform: the painters use `f32` `sin`/`powf`,
//! whose last bit could differ with another maths library). Existing files with the same names are overwritten;
//! files from some other source are left alone.
//!
//! All artists are invented; none is a real person.

use std::fmt::Write as _;
use std::fs;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::{ImageEncoder, RgbImage};
use rayon::prelude::*;

// ---------------------------------------------------------------------------
// Deterministic randomness
// ---------------------------------------------------------------------------

/// SplitMix64: tiny, fast, and good enough for procedural art.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        // Run the seed through the mixer once so nearby seeds diverge at once.
        let mut r = Rng(seed ^ 0x05EE_DA47_1E45);
        r.next_u64();
        r
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    fn f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.f32()
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    fn chance(&mut self, p: f32) -> bool {
        self.f32() < p
    }

    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

fn mix64(a: u64, b: u64) -> u64 {
    Rng::new(a.wrapping_mul(0x1000_0000_01B3) ^ b.rotate_left(29)).next_u64()
}

// ---------------------------------------------------------------------------
// Colour helpers and a float canvas
// ---------------------------------------------------------------------------

type Rgb = [f32; 3];

fn lerp(a: f32, b: f32, t: f32) -> f32 {
    a + (b - a) * t
}

fn lerp3(a: Rgb, b: Rgb, t: f32) -> Rgb {
    [
        lerp(a[0], b[0], t),
        lerp(a[1], b[1], t),
        lerp(a[2], b[2], t),
    ]
}

fn smoothstep(e0: f32, e1: f32, x: f32) -> f32 {
    let t = ((x - e0) / (e1 - e0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

fn scale(c: Rgb, k: f32) -> Rgb {
    [c[0] * k, c[1] * k, c[2] * k]
}

fn luma(c: Rgb) -> f32 {
    0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]
}

fn rgb_to_hsv(c: Rgb) -> Rgb {
    let (r, g, b) = (c[0], c[1], c[2]);
    let max = r.max(g).max(b);
    let min = r.min(g).min(b);
    let d = max - min;
    let h = if d <= 1e-6 {
        0.0
    } else if max == r {
        ((g - b) / d).rem_euclid(6.0) / 6.0
    } else if max == g {
        ((b - r) / d + 2.0) / 6.0
    } else {
        ((r - g) / d + 4.0) / 6.0
    };
    let s = if max <= 1e-6 { 0.0 } else { d / max };
    [h, s, max]
}

fn hsv_to_rgb(hsv: Rgb) -> Rgb {
    let h = hsv[0].rem_euclid(1.0) * 6.0;
    let s = hsv[1].clamp(0.0, 1.0);
    let v = hsv[2].clamp(0.0, 1.0);
    let i = h.floor();
    let f = h - i;
    let p = v * (1.0 - s);
    let q = v * (1.0 - s * f);
    let t = v * (1.0 - s * (1.0 - f));
    match i as i32 % 6 {
        0 => [v, t, p],
        1 => [q, v, p],
        2 => [p, v, t],
        3 => [p, q, v],
        4 => [t, p, v],
        _ => [v, p, q],
    }
}

/// Shift hue, scale saturation and value: the per-mark jitter painters have.
fn jitter(rng: &mut Rng, c: Rgb, dh: f32, ds: f32, dv: f32) -> Rgb {
    let hsv = rgb_to_hsv(c);
    hsv_to_rgb([
        hsv[0] + rng.range(-dh, dh),
        hsv[1] * (1.0 + rng.range(-ds, ds)),
        hsv[2] * (1.0 + rng.range(-dv, dv)),
    ])
}

/// Small per-work colour variation of a palette entry.
fn vary(rng: &mut Rng, c: Rgb, amount: f32) -> Rgb {
    [
        (c[0] + rng.range(-amount, amount)).clamp(0.0, 1.0),
        (c[1] + rng.range(-amount, amount)).clamp(0.0, 1.0),
        (c[2] + rng.range(-amount, amount)).clamp(0.0, 1.0),
    ]
}

/// Smooth 2-D value noise on an integer lattice, in `[0, 1]`.
struct ValueNoise {
    seed: u64,
}

impl ValueNoise {
    fn lattice(&self, x: i64, y: i64) -> f32 {
        let h = mix64(
            self.seed,
            (x as u64).wrapping_mul(0x9E37_79B1) ^ (y as u64).rotate_left(32),
        );
        (h >> 40) as f32 / (1u64 << 24) as f32
    }

    fn at(&self, x: f32, y: f32) -> f32 {
        let (x0, y0) = (x.floor(), y.floor());
        let (fx, fy) = (x - x0, y - y0);
        let (sx, sy) = (fx * fx * (3.0 - 2.0 * fx), fy * fy * (3.0 - 2.0 * fy));
        let (ix, iy) = (x0 as i64, y0 as i64);
        let a = self.lattice(ix, iy);
        let b = self.lattice(ix + 1, iy);
        let c = self.lattice(ix, iy + 1);
        let d = self.lattice(ix + 1, iy + 1);
        lerp(lerp(a, b, sx), lerp(c, d, sx), sy)
    }
}

struct Canvas {
    w: u32,
    h: u32,
    px: Vec<Rgb>,
}

impl Canvas {
    fn new(w: u32, h: u32, c: Rgb) -> Self {
        Canvas {
            w,
            h,
            px: vec![c; (w * h) as usize],
        }
    }

    /// Set every pixel from its centre in pixel coordinates.
    fn fill_with(&mut self, mut f: impl FnMut(f32, f32) -> Rgb) {
        for y in 0..self.h {
            for x in 0..self.w {
                self.px[(y * self.w + x) as usize] = f(x as f32 + 0.5, y as f32 + 0.5);
            }
        }
    }

    fn blend(&mut self, x: i32, y: i32, c: Rgb, a: f32) {
        if x < 0 || y < 0 || x >= self.w as i32 || y >= self.h as i32 || a <= 0.0 {
            return;
        }
        let p = &mut self.px[(y as u32 * self.w + x as u32) as usize];
        *p = lerp3(*p, c, a.min(1.0));
    }

    /// Integer pixel bounds `(x0, y0, x1, y1)`, inclusive, of a float box,
    /// clipped to the canvas.
    fn bbox(&self, x0: f32, y0: f32, x1: f32, y1: f32) -> (i32, i32, i32, i32) {
        (
            (x0.floor() as i32).max(0),
            (y0.floor() as i32).max(0),
            (x1.ceil() as i32).min(self.w as i32 - 1),
            (y1.ceil() as i32).min(self.h as i32 - 1),
        )
    }

    /// Antialiased filled disc.
    fn disc(&mut self, cx: f32, cy: f32, r: f32, c: Rgb, alpha: f32) {
        let (x0, y0, x1, y1) = self.bbox(cx - r - 1.0, cy - r - 1.0, cx + r + 1.0, cy + r + 1.0);
        for y in y0..=y1 {
            for x in x0..=x1 {
                let d = ((x as f32 + 0.5 - cx).powi(2) + (y as f32 + 0.5 - cy).powi(2)).sqrt();
                let cov = (r - d + 0.5).clamp(0.0, 1.0);
                self.blend(x, y, c, cov * alpha);
            }
        }
    }

    /// Antialiased capsule from (ax, ay) to (bx, by): a brush stroke.
    #[allow(clippy::too_many_arguments)]
    fn stroke(&mut self, ax: f32, ay: f32, bx: f32, by: f32, hw: f32, c: Rgb, alpha: f32) {
        let (x0, y0, x1, y1) = self.bbox(
            ax.min(bx) - hw - 1.0,
            ay.min(by) - hw - 1.0,
            ax.max(bx) + hw + 1.0,
            ay.max(by) + hw + 1.0,
        );
        let (dx, dy) = (bx - ax, by - ay);
        let len2 = (dx * dx + dy * dy).max(1e-6);
        for y in y0..=y1 {
            for x in x0..=x1 {
                let (px, py) = (x as f32 + 0.5 - ax, y as f32 + 0.5 - ay);
                let t = ((px * dx + py * dy) / len2).clamp(0.0, 1.0);
                let d = ((px - t * dx).powi(2) + (py - t * dy).powi(2)).sqrt();
                let cov = (hw - d + 0.5).clamp(0.0, 1.0);
                self.blend(x, y, c, cov * alpha);
            }
        }
    }

    /// Hard-edged axis-aligned rectangle, `[x0, x1) x [y0, y1)`.
    fn rect(&mut self, x0: f32, y0: f32, x1: f32, y1: f32, c: Rgb) {
        let (ax, ay) = ((x0.round() as i32).max(0), (y0.round() as i32).max(0));
        let (bx, by) = (
            (x1.round() as i32).min(self.w as i32),
            (y1.round() as i32).min(self.h as i32),
        );
        for y in ay..by {
            for x in ax..bx {
                self.px[(y as u32 * self.w + x as u32) as usize] = c;
            }
        }
    }

    /// Hard-edged polygon (even-odd rule, sampled at pixel centres).
    fn polygon(&mut self, pts: &[(f32, f32)], c: Rgb) {
        let minx = pts.iter().map(|p| p.0).fold(f32::MAX, f32::min);
        let maxx = pts.iter().map(|p| p.0).fold(f32::MIN, f32::max);
        let miny = pts.iter().map(|p| p.1).fold(f32::MAX, f32::min);
        let maxy = pts.iter().map(|p| p.1).fold(f32::MIN, f32::max);
        let (x0, y0, x1, y1) = self.bbox(minx, miny, maxx, maxy);
        for y in y0..=y1 {
            let py = y as f32 + 0.5;
            for x in x0..=x1 {
                let px = x as f32 + 0.5;
                let mut inside = false;
                let mut j = pts.len() - 1;
                for i in 0..pts.len() {
                    let (xi, yi) = pts[i];
                    let (xj, yj) = pts[j];
                    if (yi > py) != (yj > py) && px < (xj - xi) * (py - yi) / (yj - yi) + xi {
                        inside = !inside;
                    }
                    j = i;
                }
                if inside {
                    self.px[(y as u32 * self.w + x as u32) as usize] = c;
                }
            }
        }
    }

    fn to_image(&self) -> RgbImage {
        let mut img = RgbImage::new(self.w, self.h);
        for (dst, src) in img.pixels_mut().zip(&self.px) {
            for (d, s) in dst.0.iter_mut().zip(src) {
                *d = (s.clamp(0.0, 1.0) * 255.0).round() as u8;
            }
        }
        img
    }
}

// ---------------------------------------------------------------------------
// The six styles
// ---------------------------------------------------------------------------

/// A generated painting and the colour word its title may use.
struct Painting {
    canvas: Canvas,
    colour: &'static str,
}

/// Rothko-like: two or three large, soft-edged colour rectangles floating on a
/// saturated ground, the edges brushed by low-frequency noise.
fn color_field(rng: &mut Rng, w: u32, h: u32) -> Painting {
    const PALETTES: &[(&str, Rgb, &[Rgb])] = &[
        (
            "crimson",
            [0.50, 0.07, 0.07],
            &[[0.86, 0.36, 0.12], [0.30, 0.04, 0.08], [0.72, 0.16, 0.10]],
        ),
        (
            "blue",
            [0.10, 0.16, 0.42],
            &[[0.22, 0.38, 0.72], [0.05, 0.07, 0.22], [0.35, 0.20, 0.45]],
        ),
        (
            "ochre",
            [0.78, 0.52, 0.16],
            &[[0.96, 0.80, 0.36], [0.62, 0.24, 0.10], [0.90, 0.62, 0.22]],
        ),
        (
            "yellow",
            [0.96, 0.80, 0.26],
            &[[0.99, 0.94, 0.66], [0.95, 0.52, 0.18], [0.98, 0.70, 0.40]],
        ),
        (
            "plum",
            [0.32, 0.10, 0.24],
            &[[0.66, 0.22, 0.36], [0.14, 0.05, 0.12], [0.86, 0.46, 0.42]],
        ),
        (
            "green",
            [0.14, 0.34, 0.24],
            &[[0.36, 0.58, 0.38], [0.06, 0.14, 0.12], [0.76, 0.74, 0.40]],
        ),
        (
            "orange",
            [0.94, 0.46, 0.14],
            &[[0.99, 0.78, 0.40], [0.80, 0.18, 0.10], [0.98, 0.62, 0.30]],
        ),
    ];
    let (name, ground, blocks) = *rng.pick(PALETTES);
    let ground = vary(rng, ground, 0.04);
    let n = if rng.chance(0.5) { 2 } else { 3 };
    let (wf, hf) = (w as f32, h as f32);
    let margin_x = wf * rng.range(0.08, 0.14);
    let margin_y = hf * rng.range(0.06, 0.10);
    let gap = hf * rng.range(0.04, 0.08);
    let avail = hf - 2.0 * margin_y - gap * (n - 1) as f32;
    // Unequal block heights, as in the paintings.
    let weights: Vec<f32> = (0..n).map(|_| rng.range(0.6, 1.6)).collect();
    let total: f32 = weights.iter().sum();
    let mut rects = Vec::new();
    let mut y = margin_y;
    let start = rng.below(blocks.len());
    for (i, wgt) in weights.iter().enumerate() {
        let bh = avail * wgt / total;
        let c = vary(rng, blocks[(start + i) % blocks.len()], 0.04);
        rects.push((margin_x, y, wf - margin_x, y + bh, c));
        y += bh + gap;
    }
    let feather = rng.range(4.0, 9.0);
    let edge = ValueNoise {
        seed: rng.next_u64(),
    };
    let tone = ValueNoise {
        seed: rng.next_u64(),
    };
    let mut canvas = Canvas::new(w, h, ground);
    canvas.fill_with(|x, y| {
        let t = 1.0 + 0.06 * (tone.at(x / 40.0, y / 40.0) - 0.5);
        let mut c = scale(ground, t);
        for &(x0, y0, x1, y1, rc) in &rects {
            let wob = (edge.at(x / 14.0, y / 14.0) - 0.5) * 2.0 * feather;
            let inside = (x - x0).min(x1 - x).min(y - y0).min(y1 - y) + wob;
            let a = smoothstep(-feather, feather, inside);
            let shade = 1.0 + 0.08 * (tone.at(x / 22.0 + 7.0, y / 22.0) - 0.5);
            c = lerp3(c, scale(rc, shade), a * 0.95);
        }
        c
    });
    Painting {
        canvas,
        colour: name,
    }
}

/// Seurat-like: a sunny shore scene built entirely from small dots of jittered
/// colour on cream paper.
fn pointillism(rng: &mut Rng, w: u32, h: u32) -> Painting {
    const SKIES: &[(&str, Rgb, Rgb)] = &[
        ("blue", [0.45, 0.62, 0.88], [0.92, 0.90, 0.72]),
        ("rose", [0.80, 0.58, 0.70], [0.98, 0.84, 0.62]),
        ("violet", [0.52, 0.48, 0.80], [0.96, 0.78, 0.58]),
        ("gold", [0.78, 0.74, 0.50], [0.99, 0.88, 0.52]),
    ];
    let (name, sky_top, sky_low) = *rng.pick(SKIES);
    let water = vary(rng, [0.20, 0.50, 0.62], 0.06);
    let grass = vary(rng, [0.36, 0.62, 0.22], 0.06);
    let (wf, hf) = (w as f32, h as f32);
    let horizon = hf * rng.range(0.38, 0.55);
    let shore_a = hf * rng.range(0.62, 0.80);
    let shore_b = hf * rng.range(0.62, 0.90);
    let sun = (
        wf * rng.range(0.15, 0.85),
        horizon * rng.range(0.25, 0.6),
        hf * rng.range(0.05, 0.09),
    );
    let scene = |x: f32, y: f32| -> Rgb {
        if y < horizon {
            let d = ((x - sun.0).powi(2) + (y - sun.1).powi(2)).sqrt();
            if d < sun.2 {
                return [1.0, 0.93, 0.55];
            }
            return lerp3(sky_top, sky_low, (y / horizon).powf(1.5));
        }
        let shore = lerp(shore_a, shore_b, x / wf);
        if y < shore {
            lerp3(
                water,
                scale(water, 0.75),
                (y - horizon) / (shore - horizon).max(1.0),
            )
        } else {
            lerp3(
                grass,
                [0.72, 0.66, 0.30],
                ((y - shore) / (hf - shore).max(1.0)) * 0.6,
            )
        }
    };
    let mut canvas = Canvas::new(w, h, [0.95, 0.92, 0.84]);
    let step = rng.range(4.2, 5.0);
    let r = rng.range(1.7, 2.2);
    let mut y = step * 0.5;
    while y < hf {
        let mut x = step * 0.5;
        while x < wf {
            let (cx, cy) = (x + rng.range(-1.5, 1.5), y + rng.range(-1.5, 1.5));
            let base = scene(cx, cy);
            let c = if rng.chance(0.12) {
                // Divisionist complementary accent.
                let hsv = rgb_to_hsv(base);
                hsv_to_rgb([hsv[0] + 0.5, (hsv[1] + 0.3).min(0.9), hsv[2].max(0.55)])
            } else {
                jitter(rng, base, 0.05, 0.25, 0.12)
            };
            canvas.disc(cx, cy, r, c, 1.0);
            x += step;
        }
        y += step;
    }
    Painting {
        canvas,
        colour: name,
    }
}

/// Mondrian-like grids in primaries, or a constructivist arrangement of
/// hard-edged polygons and bars.
fn geometric_abstraction(rng: &mut Rng, w: u32, h: u32) -> Painting {
    let red = [0.82, 0.11, 0.10];
    let blue = [0.08, 0.20, 0.60];
    let yellow = [0.98, 0.82, 0.10];
    let black = [0.06, 0.06, 0.07];
    let white = vary(rng, [0.95, 0.94, 0.90], 0.02);
    let (wf, hf) = (w as f32, h as f32);
    let mut canvas = Canvas::new(w, h, white);
    let colour;
    if rng.chance(0.65) {
        // Recursive subdivision into cells.
        let mut cells = vec![(0.0f32, 0.0f32, wf, hf)];
        let mut lines = Vec::new();
        let lw = rng.range(4.0, 7.0);
        for _ in 0..rng.below(4) + 5 {
            let i = rng.below(cells.len());
            let (x0, y0, x1, y1) = cells[i];
            let vertical = if (x1 - x0) > 1.3 * (y1 - y0) {
                true
            } else if (y1 - y0) > 1.3 * (x1 - x0) {
                false
            } else {
                rng.chance(0.5)
            };
            if vertical && x1 - x0 > 60.0 {
                let s = lerp(x0, x1, rng.range(0.25, 0.75));
                cells.swap_remove(i);
                cells.push((x0, y0, s, y1));
                cells.push((s, y0, x1, y1));
                lines.push((s - lw / 2.0, y0, s + lw / 2.0, y1));
            } else if !vertical && y1 - y0 > 60.0 {
                let s = lerp(y0, y1, rng.range(0.25, 0.75));
                cells.swap_remove(i);
                cells.push((x0, y0, x1, s));
                cells.push((x0, s, x1, y1));
                lines.push((x0, s - lw / 2.0, x1, s + lw / 2.0));
            }
        }
        let fills = [red, blue, yellow, black];
        let names = ["red", "blue", "yellow", "black"];
        let lead = rng.below(3);
        colour = names[lead];
        // The largest cell (by area) gets the lead colour; others at random.
        cells.sort_by(|a, b| ((b.2 - b.0) * (b.3 - b.1)).total_cmp(&((a.2 - a.0) * (a.3 - a.1))));
        for (k, &(x0, y0, x1, y1)) in cells.iter().enumerate() {
            let c = if k == 0 {
                Some(fills[lead])
            } else if rng.chance(0.35) {
                Some(fills[rng.below(4)])
            } else {
                None
            };
            if let Some(c) = c {
                canvas.rect(x0, y0, x1, y1, c);
            }
        }
        for (x0, y0, x1, y1) in lines {
            canvas.rect(x0, y0, x1, y1, black);
        }
    } else {
        // Constructivist: tilted bars and triangles.
        let names = ["red", "black", "blue"];
        let lead = rng.below(3);
        colour = names[lead];
        let fills = [red, black, blue, yellow];
        for k in 0..rng.below(3) + 4 {
            let c = if k == 0 {
                fills[lead]
            } else {
                *rng.pick(&fills)
            };
            let (cx, cy) = (wf * rng.range(0.2, 0.8), hf * rng.range(0.2, 0.8));
            let ang = rng.range(-0.8, 0.8);
            let (ca, sa) = (ang.cos(), ang.sin());
            if rng.chance(0.5) {
                let (l, t) = (wf * rng.range(0.25, 0.6), rng.range(8.0, 26.0));
                let corners = [(-l, -t), (l, -t), (l, t), (-l, t)];
                let pts: Vec<(f32, f32)> = corners
                    .iter()
                    .map(|&(u, v)| (cx + u * ca - v * sa, cy + u * sa + v * ca))
                    .collect();
                canvas.polygon(&pts, c);
            } else {
                let s = wf.min(hf) * rng.range(0.15, 0.35);
                let pts: Vec<(f32, f32)> = (0..3)
                    .map(|i| {
                        let a = ang + i as f32 * 2.094_395;
                        (cx + s * a.cos(), cy + s * a.sin())
                    })
                    .collect();
                canvas.polygon(&pts, c);
            }
        }
        if rng.chance(0.6) {
            let r = wf.min(hf) * rng.range(0.08, 0.16);
            canvas.disc(
                wf * rng.range(0.2, 0.8),
                hf * rng.range(0.2, 0.8),
                r,
                red,
                1.0,
            );
        }
    }
    Painting { canvas, colour }
}

/// Woodblock-print waves: flat bands of Prussian blue under curling white
/// crests on warm paper, with a red sun or a snow-capped mountain.
fn ukiyo_e(rng: &mut Rng, w: u32, h: u32) -> Painting {
    let paper_top = vary(rng, [0.90, 0.82, 0.64], 0.02);
    let paper_low = vary(rng, [0.95, 0.90, 0.76], 0.02);
    let prussian = vary(rng, [0.08, 0.18, 0.38], 0.03);
    let mid = vary(rng, [0.30, 0.46, 0.62], 0.03);
    let foam = [0.96, 0.96, 0.92];
    let (wf, hf) = (w as f32, h as f32);
    let mut canvas = Canvas::new(w, h, paper_top);
    canvas.fill_with(|_, y| lerp3(paper_top, paper_low, y / hf));
    let sun = rng.chance(0.5);
    let colour = if sun { "red" } else { "indigo" };
    if sun {
        let r = hf * rng.range(0.08, 0.14);
        canvas.disc(
            wf * rng.range(0.2, 0.8),
            hf * rng.range(0.12, 0.3),
            r,
            [0.80, 0.24, 0.17],
            1.0,
        );
    } else {
        let (px, base, pw) = (
            wf * rng.range(0.3, 0.7),
            hf * 0.62,
            wf * rng.range(0.18, 0.3),
        );
        let top = hf * rng.range(0.14, 0.26);
        canvas.polygon(
            &[(px - pw, base), (px, top), (px + pw, base)],
            [0.34, 0.40, 0.52],
        );
        let snow = top + (base - top) * 0.3;
        let k = 0.3;
        canvas.polygon(&[(px - pw * k, snow), (px, top), (px + pw * k, snow)], foam);
    }
    let bands = rng.below(3) + 4;
    let start = hf * rng.range(0.50, 0.58);
    let amp = hf * rng.range(0.05, 0.09);
    for b in 0..bands {
        let base = start + (hf - start) * b as f32 / bands as f32;
        let f = rng.range(1.5, 3.5) * std::f32::consts::TAU / wf;
        let ph = rng.range(0.0, std::f32::consts::TAU);
        let ph2 = rng.range(0.0, std::f32::consts::TAU);
        let a = amp * (1.0 + 0.3 * b as f32);
        let fill = if b % 2 == 0 { prussian } else { mid };
        // Pointed crests, rounded troughs: base - a (1 - |sin|), plus a slow swell.
        let curve = |x: f32| {
            base - a * (1.0 - (0.5 * f * x + ph).sin().abs()).powf(1.5)
                + 0.3 * a * (0.37 * f * x + ph2).sin()
        };
        // Fill below the curve, keep a dark outline and a white crest above it.
        for x in 0..w {
            let cy = curve(x as f32 + 0.5);
            for y in 0..h {
                let yf = y as f32 + 0.5;
                if yf >= cy {
                    let cov = (yf - cy).min(1.0);
                    canvas.blend(x as i32, y as i32, fill, cov);
                }
            }
        }
        let mut x = 0.0;
        while x < wf {
            let cy = curve(x);
            canvas.disc(x, cy, 2.2, foam, 1.0);
            // Foam "claws" curling forward from each crest (a local minimum of y).
            if cy < curve(x - 1.0) && cy <= curve(x + 1.0) {
                for j in 1..6 {
                    let t = j as f32;
                    canvas.disc(
                        x + 3.0 * t,
                        cy - 3.0 + 0.45 * t * t,
                        3.0 - 0.4 * t,
                        foam,
                        1.0,
                    );
                }
            }
            x += 1.0;
        }
        let mut x = 0.0;
        while x < wf {
            let cy = curve(x);
            canvas.disc(x, cy + 3.0, 0.8, prussian, 1.0);
            x += 1.0;
        }
    }
    Painting { canvas, colour }
}

/// Monet-like: a soft gradient landscape (sky, distant trees, field) covered in
/// short, oriented brush dabs of broken colour.
fn impressionism(rng: &mut Rng, w: u32, h: u32) -> Painting {
    const LIGHTS: &[(&str, Rgb, Rgb, Rgb, Rgb)] = &[
        // name, sky top, sky at horizon, field near, field far
        (
            "summer",
            [0.50, 0.68, 0.90],
            [0.90, 0.92, 0.86],
            [0.42, 0.60, 0.22],
            [0.70, 0.76, 0.40],
        ),
        (
            "autumn",
            [0.62, 0.70, 0.86],
            [0.98, 0.86, 0.60],
            [0.76, 0.62, 0.24],
            [0.90, 0.78, 0.42],
        ),
        (
            "the-evening",
            [0.42, 0.42, 0.66],
            [0.96, 0.68, 0.52],
            [0.36, 0.40, 0.28],
            [0.62, 0.50, 0.40],
        ),
        (
            "spring",
            [0.70, 0.80, 0.92],
            [0.98, 0.94, 0.86],
            [0.52, 0.68, 0.40],
            [0.80, 0.84, 0.62],
        ),
        (
            "june",
            [0.56, 0.72, 0.92],
            [0.92, 0.94, 0.90],
            [0.46, 0.62, 0.24],
            [0.74, 0.80, 0.44],
        ),
    ];
    let (name, sky_top, sky_low, near, far) = *rng.pick(LIGHTS);
    let (wf, hf) = (w as f32, h as f32);
    let horizon = hf * rng.range(0.38, 0.58);
    let trees = ValueNoise {
        seed: rng.next_u64(),
    };
    let tree_h = hf * rng.range(0.04, 0.12);
    let tree_c = vary(rng, [0.20, 0.32, 0.22], 0.04);
    let poppies = name == "june" || rng.chance(0.3);
    let scene = |x: f32, y: f32| -> Rgb {
        let tree_top = horizon - tree_h * (0.3 + trees.at(x / 25.0, 0.0));
        if y < tree_top {
            lerp3(sky_top, sky_low, (y / horizon).powf(1.3))
        } else if y < horizon + 2.0 {
            tree_c
        } else {
            lerp3(far, near, ((y - horizon) / (hf - horizon)).powf(0.8))
        }
    };
    let mut canvas = Canvas::new(w, h, sky_low);
    canvas.fill_with(scene);
    let n = (w * h) as usize / 22;
    for _ in 0..n {
        let (cx, cy) = (rng.range(0.0, wf), rng.range(0.0, hf));
        let in_sky = cy < horizon;
        let ang: f32 = if in_sky {
            rng.range(-0.35, 0.35)
        } else {
            rng.range(-1.2, 1.2)
        };
        let len = rng.range(4.0, 8.0);
        let (dx, dy) = (ang.cos() * len * 0.5, ang.sin() * len * 0.5);
        let mut c = jitter(rng, scene(cx, cy), 0.04, 0.25, 0.14);
        if poppies && !in_sky && cy > horizon + (hf - horizon) * 0.3 && rng.chance(0.08) {
            c = jitter(rng, [0.86, 0.20, 0.12], 0.02, 0.1, 0.1);
        }
        canvas.stroke(
            cx - dx,
            cy - dy,
            cx + dx,
            cy + dy,
            rng.range(1.2, 2.0),
            c,
            0.85,
        );
    }
    Painting {
        canvas,
        colour: name,
    }
}

/// A near-uniform field with exactly one line.
fn minimalism(rng: &mut Rng, w: u32, h: u32) -> Painting {
    const FIELDS: &[(&str, Rgb, Rgb)] = &[
        ("white", [0.95, 0.95, 0.93], [0.78, 0.10, 0.08]),
        ("grey", [0.80, 0.80, 0.79], [0.10, 0.10, 0.11]),
        ("bone", [0.92, 0.89, 0.80], [0.12, 0.22, 0.52]),
        ("ash", [0.70, 0.72, 0.74], [0.95, 0.95, 0.93]),
        ("black", [0.10, 0.10, 0.11], [0.92, 0.92, 0.90]),
        ("sand", [0.86, 0.80, 0.68], [0.90, 0.45, 0.12]),
    ];
    let (name, field, line) = *rng.pick(FIELDS);
    let field = vary(rng, field, 0.015);
    let (wf, hf) = (w as f32, h as f32);
    let mut canvas = Canvas::new(w, h, field);
    let g = rng.range(-0.03, 0.03);
    canvas.fill_with(|_, y| scale(field, 1.0 + g * (y / hf - 0.5)));
    let t = rng.range(1.0, 4.0);
    if rng.chance(0.5) {
        let y = hf * rng.range(0.25, 0.75);
        canvas.rect(0.0, y - t / 2.0, wf, y + t / 2.0, line);
    } else {
        let x = wf * rng.range(0.2, 0.8);
        canvas.rect(x - t / 2.0, 0.0, x + t / 2.0, hf, line);
    }
    Painting {
        canvas,
        colour: name,
    }
}

// ---------------------------------------------------------------------------
// The collection
// ---------------------------------------------------------------------------

struct Style {
    dir: &'static str,
    artists: &'static [&'static str],
    /// Title stems; `{c}` is replaced by the painting's colour word.
    titles: &'static [&'static str],
    genres: &'static [&'static str],
    years: (u32, u32),
    /// How much the fictional rater likes the style, before adjustments.
    base_rating: f32,
    paint: fn(&mut Rng, u32, u32) -> Painting,
}

const STYLES: &[Style] = &[
    Style {
        dir: "Color_Field",
        artists: &["ada-quill", "orrin-halloway", "mirela-stavic"],
        titles: &[
            "study-in-{c}",
            "untitled-{c}",
            "{c}-field",
            "no-9-{c}-and-black",
        ],
        genres: &["abstract"],
        years: (1950, 1975),
        base_rating: 8.0,
        paint: color_field,
    },
    Style {
        dir: "Pointillism",
        artists: &["lucienne-marrot", "felix-dorange"],
        titles: &[
            "the-shore-in-{c}",
            "harbour-at-dawn",
            "sunday-by-the-river",
            "{c}-afternoon-on-the-water",
        ],
        genres: &["landscape", "marina"],
        years: (1884, 1912),
        base_rating: 5.5,
        paint: pointillism,
    },
    Style {
        dir: "Geometric_Abstraction",
        artists: &["pieter-vanmolen", "greta-stahlvik", "ivo-raszek"],
        titles: &[
            "composition-with-{c}",
            "tableau-{c}",
            "rhythm-in-{c}",
            "counterpoint",
        ],
        genres: &["abstract"],
        years: (1915, 1962),
        base_rating: 4.5,
        paint: geometric_abstraction,
    },
    Style {
        dir: "Ukiyo-e",
        artists: &["kaisen-tobei", "ryusai-hanamoto"],
        titles: &[
            "the-wave-off-kazura",
            "rough-sea-with-{c}-sky",
            "breakers-at-dusk",
            "wind-over-the-bay",
        ],
        genres: &["marina", "landscape"],
        years: (1850, 1895),
        base_rating: 6.0,
        paint: ukiyo_e,
    },
    Style {
        dir: "Impressionism",
        artists: &["camille-brevant", "odile-sarrat", "jules-fennec"],
        titles: &[
            "field-near-vaucelle",
            "poplars-in-{c}",
            "the-meadow-in-{c}",
            "haystacks-in-{c}",
        ],
        genres: &["landscape"],
        years: (1866, 1908),
        base_rating: 7.5,
        paint: impressionism,
    },
    Style {
        dir: "Minimalism",
        artists: &["sol-arkwright", "wren-calloway"],
        titles: &[
            "untitled-{c}-line",
            "interval",
            "one-line-on-{c}",
            "horizon-{c}",
        ],
        genres: &["abstract"],
        years: (1960, 2020),
        base_rating: 2.5,
        paint: minimalism,
    },
];

const PER_STYLE: usize = 8;

/// (width, height): landscape, portrait and square formats.
const SIZES: &[(u32, u32)] = &[
    (320, 240),
    (240, 320),
    (288, 288),
    (320, 208),
    (256, 320),
    (256, 256),
    (320, 256),
    (224, 288),
];

struct Work {
    path: String,
    title: String,
    artist: String,
    style: &'static str,
    genre: &'static str,
    date: u32,
    rating: f32,
    mean_luma: f32,
    image: RgbImage,
    jpeg: bool,
}

/// The rating rule of the invented rater.
///
/// `rating = base(style) + brightness + noise`, clamped to `[1, 10]`, one
/// decimal, where `base` is Color_Field 8.0, Impressionism 7.5, Ukiyo-e 6.0,
/// Pointillism 5.5, Geometric_Abstraction 4.5, Minimalism 2.5; `brightness` is
/// +1 when the mean Rec. 709 luma of the generated pixels (0..1, computed
/// before encoding) is at least 0.5, else 0; and `noise` is uniform in
/// `[-0.8, 0.8]` from the work's own seeded generator.
fn rating(base: f32, mean_luma: f32, rng: &mut Rng) -> f32 {
    let bright = if mean_luma >= 0.5 { 1.0 } else { 0.0 };
    let r = (base + bright + rng.range(-0.8, 0.8)).clamp(1.0, 10.0);
    (r * 10.0).round() / 10.0
}

fn humanize(slug: &str, title_case: bool) -> String {
    let mut out = String::new();
    for (i, word) in slug.split('-').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let mut cs = word.chars();
        match cs.next() {
            Some(f) if i == 0 || title_case => {
                out.extend(f.to_uppercase());
                out.push_str(cs.as_str());
            }
            _ => out.push_str(word),
        }
    }
    out
}

fn make_work(style_idx: usize, k: usize) -> Work {
    let style = &STYLES[style_idx];
    let seed = mix64(0xA47_1E45 + style_idx as u64, k as u64);
    let mut rng = Rng::new(seed);
    let (w, h) = *rng.pick(SIZES);
    let painting = (style.paint)(&mut rng, w, h);
    let image = painting.canvas.to_image();
    let mean_luma = image
        .pixels()
        .map(|p| {
            luma([
                p.0[0] as f32 / 255.0,
                p.0[1] as f32 / 255.0,
                p.0[2] as f32 / 255.0,
            ])
        })
        .sum::<f32>()
        / (w * h) as f32;

    // Metadata and the rating draw from a separate stream, so tweaking a
    // painter never reshuffles names and dates of other works.
    let mut meta = Rng::new(seed ^ 0xDA7A);
    let artist = style.artists[k % style.artists.len()];
    let stem = style.titles[k % style.titles.len()].replace("{c}", painting.colour);
    let title_slug = format!("{stem}-{}", k + 1);
    let jpeg = k == 5;
    let ext = if jpeg { "jpg" } else { "png" };
    let path = format!("{}/{}_{}.{}", style.dir, artist, title_slug, ext);
    let genre = *meta.pick(style.genres);
    let date = style.years.0 + meta.below((style.years.1 - style.years.0 + 1) as usize) as u32;
    let rating = rating(style.base_rating, mean_luma, &mut meta);
    Work {
        path,
        title: humanize(&title_slug, false),
        artist: humanize(artist, true),
        style: style.dir,
        genre,
        date,
        rating,
        mean_luma,
        image,
        jpeg,
    }
}

fn save(work: &Work, collection: &Path) -> anyhow::Result<()> {
    let path = collection.join(&work.path);
    fs::create_dir_all(path.parent().unwrap())?;
    let file = BufWriter::new(fs::File::create(&path)?);
    let (w, h) = work.image.dimensions();
    if work.jpeg {
        JpegEncoder::new_with_quality(file, 88).write_image(
            work.image.as_raw(),
            w,
            h,
            image::ExtendedColorType::Rgb8,
        )?;
    } else {
        PngEncoder::new_with_quality(file, CompressionType::Best, FilterType::Adaptive)
            .write_image(work.image.as_raw(), w, h, image::ExtendedColorType::Rgb8)?;
    }
    Ok(())
}

fn readme() -> String {
    let mut s = String::new();
    s.push_str(
        "# Sample collection\n\n\
         A small, fully synthetic art collection so that every command in the main README\n\
         can run on a fresh machine. It is generated, deterministically, by\n\n\
         ```text\n\
         cargo run --release --example make_sample_collection -- data/\n\
         ```\n\n\
         (`examples/make_sample_collection.rs`; a seeded SplitMix64 generator, no downloads).\n\
         Re-running it rewrites the same bytes (checked with `sha256sum`; the pictures use\n\
         `f32` `sin`/`powf`, so another platform's maths library could in principle shift a pixel).\n\n\
         ## Contents\n\n\
         * `collection/<Style>/<artist>_<title>.png|.jpg`: 48 procedural pictures in the WikiArt\n\
         \x20 layout, 8 in each of 6 styles, 208 to 320 pixels a side in mixed formats; one per style\n\
         \x20 is a JPEG.\n\
         * `metadata.csv`: `path,title,artist,style,genre,date` (`path` relative to `collection/`).\n\
         * `ratings.csv`: `path,rating`, one invented person's ratings from 1 to 10.\n\n\
         | Style | What it looks like |\n\
         |---|---|\n\
         | `Color_Field` | two or three large soft-edged colour rectangles on a saturated ground |\n\
         | `Pointillism` | a shore scene made only of small dots of broken colour on cream paper |\n\
         | `Geometric_Abstraction` | black-gridded cells in red, blue and yellow, or tilted hard-edged bars and triangles |\n\
         | `Ukiyo-e` | flat Prussian-blue wave bands with white crests on warm paper, red sun or mountain |\n\
         | `Impressionism` | a sky/trees/field gradient landscape covered in short brush dabs |\n\
         | `Minimalism` | a near-uniform field with a single line |\n\n\
         The pictures are procedural stand-ins, not artworks, and **every artist name is\n\
         invented**; any resemblance to a real person is accidental. Titles, genres and dates\n\
         are invented too.\n\n\
         ## The rating rule\n\n\
         `rating = base(style) + brightness + noise`, clamped to 1..10 and rounded to one decimal:\n\n\
         * `base`: Color_Field 8.0, Impressionism 7.5, Ukiyo-e 6.0, Pointillism 5.5,\n\
         \x20 Geometric_Abstraction 4.5, Minimalism 2.5 (this person loves colour fields and\n\
         \x20 impressionist landscapes and dislikes minimalism);\n\
         * `brightness`: +1 when the picture's mean Rec. 709 luma (0..1, of the generated pixels\n\
         \x20 before encoding) is at least 0.5;\n\
         * `noise`: uniform in [-0.8, 0.8], from each work's own seeded generator.\n\n\
         Every work's mean luma is far from the 0.5 threshold (the closest are about 0.37 and\n\
         0.56), so recomputing it from the decoded files, JPEGs included, gives the same term.\n\
         Seven works are dark: five Color_Field pictures, one Geometric_Abstraction grid and the black\n\
         Minimalism field.\n\n\
         A taste model trained on `ratings.csv` should therefore rank Color_Field and\n\
         Impressionism first, Minimalism last, and brighter works a little higher.\n",
    );
    s
}

fn main() -> anyhow::Result<()> {
    let out: PathBuf = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("data"));
    let collection = out.join("collection");
    fs::create_dir_all(&collection)?;

    let jobs: Vec<(usize, usize)> = (0..STYLES.len())
        .flat_map(|s| (0..PER_STYLE).map(move |k| (s, k)))
        .collect();
    let works: Vec<Work> = jobs.par_iter().map(|&(s, k)| make_work(s, k)).collect();
    works.par_iter().try_for_each(|w| save(w, &collection))?;

    let mut sorted: Vec<&Work> = works.iter().collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    let mut seen = std::collections::HashSet::new();
    for w in &sorted {
        anyhow::ensure!(seen.insert(&w.path), "duplicate path {}", w.path);
        for field in [&w.path, &w.title, &w.artist] {
            anyhow::ensure!(
                !field.contains([',', '"', '\n']),
                "field needs CSV quoting: {field}"
            );
        }
    }

    let mut metadata = String::from("path,title,artist,style,genre,date\n");
    let mut ratings = String::from("path,rating\n");
    for w in &sorted {
        writeln!(
            metadata,
            "{},{},{},{},{},{}",
            w.path, w.title, w.artist, w.style, w.genre, w.date
        )?;
        writeln!(ratings, "{},{:.1}", w.path, w.rating)?;
    }
    fs::write(out.join("metadata.csv"), metadata)?;
    fs::write(out.join("ratings.csv"), ratings)?;
    fs::write(out.join("README.md"), readme())?;

    for style in STYLES {
        let ws: Vec<&&Work> = sorted.iter().filter(|w| w.style == style.dir).collect();
        let mean = ws.iter().map(|w| w.rating).sum::<f32>() / ws.len() as f32;
        let luma = ws.iter().map(|w| w.mean_luma).sum::<f32>() / ws.len() as f32;
        println!(
            "{:<22} {} works  mean rating {:.2}  mean luma {:.2}",
            style.dir,
            ws.len(),
            mean,
            luma
        );
    }
    println!("wrote {} works to {}", works.len(), collection.display());
    Ok(())
}
