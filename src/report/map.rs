//! The maps of `artlens map --html` and the web app's Map page, one
//! renderer for both: a panel per backbone, side by side (stacked on a
//! phone), each work a point coloured by the rater's rating, with the
//! work's name and figures as its tooltip. The points are inline SVG, so
//! the map shows without any script. In the report, hovering a point
//! highlights the same work in every panel through CSS alone (`:has`), as
//! a report runs no script; the web app adds `map.js` on top of the same
//! markup for colouring by predicted score or metadata, zoom with
//! thumbnails, and box selection with its actions.

use maud::{html, Markup, PreEscaped};

use super::document::{document, CONTENT_SECURITY_POLICY};
use crate::app::views::{MapPanel, MapView};
use crate::app::MAP_TRUST_K;
use crate::plain;

/// Above this many works the report leaves out the per-work hover rules
/// (one CSS rule a work): the map still shows, each point with its tooltip.
const MAX_HOVER_RULES: usize = 3000;

/// The colour of a value in [0, 1]: dark blue through teal to yellow (a
/// perceptually even ramp close to viridis, readable by the colour-blind).
pub(crate) fn ramp(t: f64) -> String {
    const STOPS: [(f64, [f64; 3]); 5] = [
        (0.0, [68.0, 1.0, 84.0]),
        (0.25, [59.0, 82.0, 139.0]),
        (0.5, [33.0, 145.0, 140.0]),
        (0.75, [94.0, 201.0, 98.0]),
        (1.0, [253.0, 231.0, 37.0]),
    ];
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let mut out = STOPS[0].1;
    for w in STOPS.windows(2) {
        let ((a, ca), (b, cb)) = (w[0], w[1]);
        if t >= a && t <= b {
            let f = (t - a) / (b - a);
            for i in 0..3 {
                out[i] = ca[i] + (cb[i] - ca[i]) * f;
            }
        }
    }
    format!(
        "#{:02x}{:02x}{:02x}",
        out[0].round() as u8,
        out[1].round() as u8,
        out[2].round() as u8
    )
}

/// The colour of a point without a value (unrated).
pub(crate) const NO_VALUE: &str = "#b8bec4";

/// The smallest and largest rating in the view (equal ends widened).
fn rating_range(view: &MapView) -> Option<(f64, f64)> {
    let mut r: Option<(f64, f64)> = None;
    for p in view.panels.iter().flat_map(|p| &p.points) {
        if let Some(x) = p.rating {
            r = Some(r.map_or((x, x), |(a, b)| (a.min(x), b.max(x))));
        }
    }
    r.map(|(a, b)| if a == b { (a - 1.0, b + 1.0) } else { (a, b) })
}

/// A point's radius: smaller as the panel fills, so that a few thousand
/// works stay apart.
fn radius(n: usize) -> f64 {
    (0.5 / (n.max(1) as f64).sqrt()).clamp(0.006, 0.035)
}

/// One panel's heading: the backbone, the count, and how far the map can
/// be trusted, in plain words.
fn caption(panel: &MapPanel) -> Markup {
    html! {
        figcaption {
            strong { (panel.backbone.display_name) }
            " · " (plain::count(panel.points.len(), "work", "works"))
            @if let Some(t) = panel.trustworthiness {
                " · " span.trust title=(plain::TRUSTWORTHINESS_MEANS) {
                    "trustworthiness at k = " (MAP_TRUST_K) ": " (plain::trustworthiness(t))
                }
            }
        }
    }
}

/// The panels side by side with the legend: the markup the report and the
/// web page share. `interactive` adds what `map.js` drives (the colour
/// select, zoom buttons, the selection bar and the data it reads).
pub fn map_panels(view: &MapView, interactive: bool) -> Markup {
    let range = rating_range(view);
    let titles: std::collections::HashMap<u64, &str> = view
        .works
        .iter()
        .map(|w| (w.id, w.title.as_str()))
        .collect();
    html! {
        div.maps #maps data-rater=(view.rater) {
            @if interactive {
                div.map-controls {
                    label { "Colour by "
                        select #map-colour {
                            option value="rating" { "your rating" }
                            option value="predicted" { "predicted score" }
                            @for k in &view.keys { option value={ "meta:" (k) } { (k) } }
                        }
                    }
                    span.map-zoom {
                        button #map-zoom-in type="button" aria-label="Zoom in" { "+" }
                        button #map-zoom-out type="button" aria-label="Zoom out" { "−" }
                        button #map-reset type="button" { "Reset view" }
                    }
                    span #map-mode.note { "Drag on a map to select a box of works; hover or tap a point to find it in every map." }
                }
            }
            div.map-legend #map-legend {
                @match range {
                    Some((lo, hi)) => {
                        span { "your rating " (plain::score(lo)) }
                        span.map-ramp {}
                        span { (plain::score(hi)) }
                        span.map-unrated { "not rated" }
                    }
                    None => { span { "Nothing is rated yet: every work is grey. Rate works to colour the maps." } }
                }
            }
            div.map-panels {
                @for panel in &view.panels {
                    @let r = radius(panel.points.len());
                    figure.map-panel data-backbone=(panel.backbone.id) {
                        (caption(panel))
                        svg.map-svg viewBox="-1.08 -1.08 2.16 2.16" role="img"
                            aria-label={ (panel.backbone.display_name) " map of " (plain::count(panel.points.len(), "work", "works")) } {
                            rect.map-bg x="-1.08" y="-1.08" width="2.16" height="2.16" {}
                            g.pts {
                                @for p in &panel.points {
                                    @let fill = match (p.rating, range) {
                                        (Some(x), Some((lo, hi))) => ramp((x - lo) / (hi - lo)),
                                        _ => NO_VALUE.to_string(),
                                    };
                                    circle.pt data-id=(p.id) cx=(format!("{:.4}", p.x)) cy=(format!("{:.4}", p.y)) r=(format!("{r:.4}")) fill=(fill)
                                        data-rating=[p.rating] data-predicted=[p.predicted] {
                                        title {
                                            "#" (p.id) " " (titles.get(&p.id).copied().unwrap_or(""))
                                            @if let Some(x) = p.rating { " — your rating " (plain::score(x)) }
                                            @if let Some(x) = p.predicted { " — predicted " (plain::score(x)) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if interactive {
                div.map-selection #map-selection hidden {
                    p { strong #map-selected-count {} " "
                        button #map-clear type="button" { "Clear selection" } }
                    form #map-rate-form {
                        label { "Rate them all " input #map-rate-value type="number" step="any" required; }
                        " " button type="submit" { "Rate selected" }
                    }
                    p { button #map-export-csv type="button" { "Export CSV" } " "
                        button #map-export-json type="button" { "Export JSON" } }
                    ul #map-selected-list {}
                }
                // The works' names and metadata for map.js; `<` escaped so
                // that no value can close the element.
                script #map-data type="application/json" {
                    (PreEscaped(serde_json::to_string(&view.works).unwrap_or_else(|_| "[]".into()).replace('<', "\\u003c")))
                }
            }
        }
    }
}

/// The styles of the maps, for the report and the web app alike.
pub const MAP_CSS: &str = r#"
.maps { margin: 0 0 16px; }
.map-controls { display: flex; flex-wrap: wrap; gap: 8px 16px; align-items: center; margin: 0 0 8px; }
.map-zoom button { min-width: 2.4em; }
.map-legend { display: flex; flex-wrap: wrap; gap: 6px 10px; align-items: center; font-size: 13px; margin: 0 0 8px; }
.map-ramp { display: inline-block; width: 120px; height: 10px; border-radius: 3px; background: linear-gradient(90deg, #440154, #3b528b, #21918c, #5ec962, #fde725); }
.map-unrated::before { content: ""; display: inline-block; width: 10px; height: 10px; border-radius: 50%; background: #b8bec4; margin-right: 4px; vertical-align: -1px; }
.map-panels { display: grid; grid-template-columns: repeat(auto-fit, minmax(300px, 1fr)); gap: 12px; }
.map-panel { margin: 0; background: #fff; border: 1px solid #d9dee2; border-radius: 10px; padding: 8px; min-width: 0; }
.map-panel figcaption { font-size: 14px; margin: 0 0 4px; }
.map-panel .trust { color: #5f6b73; }
.map-svg { display: block; width: 100%; height: auto; aspect-ratio: 1; touch-action: none; user-select: none; -webkit-user-select: none; }
.map-bg { fill: #fafbfc; }
.pt { stroke: #33333366; stroke-width: 0.5px; vector-effect: non-scaling-stroke; cursor: pointer; }
.pt.hot { stroke: #e4002b; stroke-width: 3px; }
.pt.sel { stroke: #111; stroke-width: 2px; }
.pt.sel.hot { stroke: #e4002b; }
.map-box { fill: #1b6ec222; stroke: #1b6ec2; stroke-width: 1.5px; vector-effect: non-scaling-stroke; }
.map-thumb { pointer-events: none; }
.map-selection { background: #fff; border: 1px solid #d9dee2; border-radius: 10px; padding: 8px 14px; margin: 12px 0 0; }
.map-selection ul { max-height: 240px; overflow: auto; margin: 6px 0 0; padding-left: 20px; }
@media (max-width: 640px) { .map-panels { grid-template-columns: 1fr; } }
"#;

/// The self-contained page of `artlens map --html`.
pub fn render_map_html(view: &MapView) -> String {
    // Hovering a work highlights it in every panel: one rule per work,
    // since a report may not run a script.
    let mut hover = String::new();
    if view.works.len() <= MAX_HOVER_RULES {
        for w in &view.works {
            hover.push_str(&format!(
                ".maps:has(.pt[data-id=\"{0}\"]:hover) .pt[data-id=\"{0}\"]{{stroke:#e4002b;stroke-width:3px}}\n",
                w.id
            ));
        }
    }
    let made = &view.provenance;
    let style = html! {
        "body{margin:0;padding:16px 24px;font:15px/1.45 system-ui,sans-serif;color:#1d2327;background:#f3f5f7}"
        (PreEscaped(MAP_CSS)) (PreEscaped(hover))
    };
    let body = html! {
        h1 { "What each backbone sees: maps of the collection" }
        p { "Each panel places every work so that works the backbone finds alike sit close together. "
            "The panels after the first are turned (and, where that fits better, mirrored) to match the first, so a work sits in a similar place in each. "
            "Hover a point to find the same work in every panel. Colour: the rating of rater " code { (view.rater) } "." }
        (map_panels(view, false))
        p.made { "Trustworthiness: " (plain::TRUSTWORTHINESS_MEANS) "." }
        p.made { "Made by artlens " (made.artlens_version) " from " code { (made.store) } ". This page is self-contained: it loads nothing from anywhere." }
    };
    document(
        "artlens — maps of the collection",
        CONTENT_SECURITY_POLICY,
        style,
        body,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ramp_runs_from_dark_blue_to_yellow() {
        assert_eq!(ramp(0.0), "#440154");
        assert_eq!(ramp(1.0), "#fde725");
        assert_eq!(ramp(f64::NAN), "#440154");
    }
}
