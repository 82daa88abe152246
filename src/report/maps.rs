//! Heat maps drawn over thumbnails: a grid of semi-transparent cells, one
//! per patch, laid over the part of the image the model saw, as a tiny PNG
//! with one pixel per patch stretched without smoothing (no script, nothing
//! fetched: a `data:` image, which the page's policy allows). Used by the explain page and by the score
//! report's "where it matches" block.
//!
//! Each map is scaled from its own minimum (transparent) to its maximum
//! (most opaque) and its caption gives that range, because the two kinds of
//! values live on different scales (cosines near 1, attention probabilities
//! near 1/patches) and a shared scale would leave one of them blank.

use maud::{html, Markup};

use image::ImageEncoder;

use super::text::num;
use super::thumbs::{base64_encode, Thumbnails};
use crate::app::views::PairMaps;
use crate::explain::ImageMaps;

/// Opacity of the strongest cell: the picture must stay visible under it.
const MAX_OPACITY: f64 = 0.8;
/// Cells weaker than this (after scaling to 0–1) are left clear, so the
/// weakest parts of a map show the picture untouched.
const MIN_DRAWN: f64 = 0.03;

/// Where a heat map is drawn: over which picture, how large, in which colour.
#[derive(Clone, Copy)]
pub(super) struct Canvas<'a> {
    pub(super) path: Option<&'a str>,
    /// The longer side of the picture, in pixels (small pictures are scaled up).
    pub(super) side: u32,
    pub(super) colour: &'a str,
}

/// One heat map over the thumbnail of `at.path`: `values` row-major over
/// `maps.grid`, drawn in `at.colour` over `maps.region`, with `label` and the
/// value range (`digits` decimals) as caption.
pub(super) fn heat_map(
    thumbs: &Thumbnails,
    at: Canvas<'_>,
    maps: &ImageMaps,
    values: &[f32],
    label: &str,
    digits: usize,
) -> Markup {
    let Canvas { path, side, colour } = at;
    let [gh, gw] = maps.grid;
    let finite = values.iter().copied().filter(|v| v.is_finite());
    let lo = finite.clone().fold(f32::INFINITY, f32::min);
    let hi = finite.fold(f32::NEG_INFINITY, f32::max);
    let [left, top, width, height] = maps.region;
    let place = format!(
        "left:{:.3}%;top:{:.3}%;width:{:.3}%;height:{:.3}%",
        left * 100.0,
        top * 100.0,
        width * 100.0,
        height * 100.0
    );
    let range = if lo.is_finite() {
        format!(
            "{}–{}",
            num(f64::from(lo), digits),
            num(f64::from(hi), digits)
        )
    } else {
        "no values".to_string()
    };
    let overlay = overlay_png(values, (gh, gw), rgb(colour), (lo, hi));
    html! {
        figure.heat data-map=(label) data-cells=(gh * gw) {
            div.heat-box {
                (thumbs.html_filled(path, side, label))
                @if let Some(uri) = overlay {
                    img.overlay src=(uri) alt="" style=(place);
                }
            }
            figcaption { (label) " " span.range { (range) } }
        }
    }
}

/// The map as a `gw`×`gh` PNG, one pixel per patch, in `colour` with the
/// opacity scaled from `lo` (clear) to `hi` ([`MAX_OPACITY`]), as a `data:`
/// URI; the page stretches it over the picture without smoothing
/// (`image-rendering: pixelated`). One small picture per map instead of an
/// SVG cell per patch keeps a score report of 48 works with DINOv2's 37×37
/// grids to a few MB. `None` when the values do not fill the grid.
fn overlay_png(
    values: &[f32],
    (gh, gw): (usize, usize),
    colour: [u8; 3],
    (lo, hi): (f32, f32),
) -> Option<String> {
    if gh == 0 || gw == 0 || values.len() != gh * gw {
        return None;
    }
    let span = f64::from(hi - lo);
    let img = image::RgbaImage::from_fn(gw as u32, gh as u32, |x, y| {
        let v = values[y as usize * gw + x as usize];
        let t = if !v.is_finite() {
            0.0
        } else if span > 0.0 {
            f64::from(v - lo) / span
        } else {
            1.0
        };
        let a = if t < MIN_DRAWN { 0.0 } else { t * MAX_OPACITY };
        image::Rgba([colour[0], colour[1], colour[2], (a * 255.0).round() as u8])
    });
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(std::io::Cursor::new(&mut png))
        .write_image(
            img.as_raw(),
            img.width(),
            img.height(),
            image::ExtendedColorType::Rgba8,
        )
        .ok()?;
    Some(format!("data:image/png;base64,{}", base64_encode(&png)))
}

/// `#rrggbb` as bytes; black for anything else.
fn rgb(colour: &str) -> [u8; 3] {
    let hex = colour.trim_start_matches('#');
    let byte = |i: usize| {
        hex.get(i..i + 2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .unwrap_or(0)
    };
    [byte(0), byte(2), byte(4)]
}

/// The maps of an image pair side by side: for the query and the reference,
/// where each matches the other and where its CLS token attends (mean over
/// heads); with `per_head`, each head's attention below.
pub(super) fn pair_maps_html(
    thumbs: &Thumbnails,
    query_path: Option<&str>,
    reference_path: Option<&str>,
    maps: &PairMaps,
    colour: &str,
    side: u32,
    per_head: bool,
) -> Markup {
    let both = [
        ("query", query_path, &maps.query),
        ("reference", reference_path, &maps.reference),
    ];
    let at = |path, side| Canvas { path, side, colour };
    html! {
        div.pair-maps {
            @for (who, path, m) in both {
                div.map-row data-image=(who) {
                    (heat_map(thumbs, at(path, side), m, &m.patch_match,
                        &format!("{who}: best patch match (cosine)"), 2))
                    (heat_map(thumbs, at(path, side), m, &m.attention,
                        &format!("{who}: CLS attention, mean of heads"), 4))
                }
            }
            @if per_head {
                @for (who, path, m) in both {
                    details.heads {
                        summary { "CLS attention of each head, " (who) " (" (m.attention_heads.len()) " heads)" }
                        div.map-row {
                            @for (h, values) in m.attention_heads.iter().enumerate() {
                                (heat_map(thumbs, at(path, side / 2), m, values,
                                    &format!("{who}: head {}", h + 1), 4))
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The style of the maps, appended to the page's.
pub(super) const MAP_STYLE: &str = r#"
.pair-maps { margin-top: 8px; }
.map-row { display: flex; flex-wrap: wrap; gap: 12px; margin: 6px 0; }
figure.heat { margin: 0; font-size: 12px; }
.heat-box { position: relative; display: inline-block; line-height: 0; }
.heat-box img.overlay { position: absolute; image-rendering: pixelated; }
figure.heat figcaption { margin-top: 3px; max-width: 320px; }
figure.heat .range { color: var(--muted); font-variant-numeric: tabular-nums; }
details.heads { margin: 6px 0; }
details.heads[open] summary { margin-bottom: 6px; }
table.contrib { border-collapse: collapse; font-size: 13px; font-variant-numeric: tabular-nums; margin: 4px 0 8px; }
table.contrib th, table.contrib td { padding: 3px 8px; border-bottom: 1px solid var(--line); text-align: right; }
table.contrib th:first-child, table.contrib td:first-child { text-align: left; max-width: 220px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
table.contrib td.up { color: #1b7f3b; }
table.contrib td.down { color: var(--warn); }
table.contrib tr.sum td { font-weight: 600; }
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_opacity_follows_the_values() {
        let values = [0.1f32, 0.5, 0.9, 0.3, 0.2, 0.7];
        let uri = overlay_png(&values, (2, 3), rgb("#1b9e77"), (0.1, 0.9)).unwrap();
        let b64 = uri.strip_prefix("data:image/png;base64,").unwrap();
        // Decode through the image crate: the PNG is what the browser gets.
        let bytes = decode(b64);
        let img = image::load_from_memory(&bytes).unwrap().to_rgba8();
        assert_eq!(img.dimensions(), (3, 2));
        let alpha: Vec<u8> = img.pixels().map(|p| p.0[3]).collect();
        assert_eq!(alpha[0], 0, "the minimum is clear");
        assert_eq!(alpha[2], (MAX_OPACITY * 255.0).round() as u8, "the maximum");
        let mut order: Vec<usize> = (0..6).collect();
        order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
        assert!(order.windows(2).all(|w| alpha[w[0]] <= alpha[w[1]]));
        assert_eq!(&img.get_pixel(1, 0).0[..3], &[0x1b, 0x9e, 0x77]);
        assert!(overlay_png(&values, (2, 2), [0, 0, 0], (0.0, 1.0)).is_none());
        assert_eq!(rgb("nonsense"), [0, 0, 0]);
    }

    fn decode(s: &str) -> Vec<u8> {
        let value = |c: u8| -> u32 {
            match c {
                b'A'..=b'Z' => u32::from(c - b'A'),
                b'a'..=b'z' => u32::from(c - b'a') + 26,
                b'0'..=b'9' => u32::from(c - b'0') + 52,
                b'+' => 62,
                b'/' => 63,
                _ => 0,
            }
        };
        let mut out = Vec::new();
        for chunk in s.as_bytes().chunks(4) {
            let pad = chunk.iter().filter(|&&c| c == b'=').count();
            let n = chunk.iter().fold(0u32, |n, &c| n << 6 | value(c));
            out.extend_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8][..3 - pad]);
        }
        out
    }
}
