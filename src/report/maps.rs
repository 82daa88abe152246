//! Heat maps drawn over thumbnails: a grid of semi-transparent cells, one
//! per patch, laid over the part of the image the model saw, as inline SVG
//! (no script, nothing fetched). Used by the explain page and by the score
//! report's "where it matches" block.
//!
//! Each map is scaled from its own minimum (transparent) to its maximum
//! (most opaque) and its caption gives that range, because the two kinds of
//! values live on different scales (cosines near 1, attention probabilities
//! near 1/patches) and a shared scale would leave one of them blank.

use maud::{html, Markup};

use super::text::num;
use super::thumbs::Thumbnails;
use super::views::PairMaps;
use crate::explain::ImageMaps;

/// Opacity of the strongest cell: the picture must stay visible under it.
const MAX_OPACITY: f64 = 0.8;
/// Cells weaker than this (after scaling to 0–1) are not drawn at all,
/// which keeps the page small without changing what it shows.
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
    let span = f64::from(hi - lo);
    let cells: Vec<(usize, usize, String)> = values
        .iter()
        .enumerate()
        .filter(|(_, v)| v.is_finite())
        .filter_map(|(i, &v)| {
            let t = if span > 0.0 {
                f64::from(v - lo) / span
            } else {
                1.0
            };
            (t >= MIN_DRAWN && gw > 0).then(|| (i / gw, i % gw, format!("{:.2}", t * MAX_OPACITY)))
        })
        .collect();
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
    html! {
        figure.heat data-map=(label) data-cells=(gh * gw) {
            div.heat-box {
                (thumbs.html_filled(path, side, label))
                svg.overlay viewBox={ "0 0 " (gw) " " (gh) } preserveAspectRatio="none"
                    shape-rendering="crispEdges" fill=(colour) style=(place) aria-hidden="true" {
                    @for (r, c, o) in &cells {
                        rect x=(c) y=(r) width="1" height="1" fill-opacity=(o) {}
                    }
                }
            }
            figcaption { (label) " " span.range { (range) } }
        }
    }
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
.heat-box svg.overlay { position: absolute; }
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
