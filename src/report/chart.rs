//! The learning curve as an inline SVG line chart, written with maud like
//! the rest of the page (so legend titles and keys are escaped).

use std::collections::BTreeMap;

use maud::{html, Markup};

use super::columns::Column;
use super::text::num;
use crate::app::views::{CurvePoint, LadderPoint};
use crate::head::percent;

/// One decimal, the precision of every coordinate in the chart.
fn f1(x: f64) -> String {
    format!("{x:.1}")
}

/// A chart's plot area, in pixels within its SVG.
struct Frame {
    left: f64,
    top: f64,
    /// Plot width and height.
    pw: f64,
    ph: f64,
    /// The whole SVG's height.
    h: f64,
}

impl Frame {
    /// Horizontal grid lines at `y_ticks` (pixel y, label, whether it is
    /// the reference line: zero correlation, or a coin toss), tick marks
    /// labelled at `x_ticks` (pixel x, label), both axes and their titles.
    fn axes(
        &self,
        y_ticks: &[(f64, String, bool)],
        x_ticks: &[(f64, String)],
        x_title: &str,
        y_title: &str,
    ) -> Markup {
        let (left, top, pw, ph) = (self.left, self.top, self.pw, self.ph);
        html! {
            @for (yy, label, reference) in y_ticks {
                line class=(if *reference { "grid zero" } else { "grid" })
                    x1=(left) x2=(f1(left + pw)) y1=(f1(*yy)) y2=(f1(*yy)) {}
                text.tick x=(f1(left - 8.0)) y=(f1(yy + 4.0)) text-anchor="end" { (label) }
            }
            @for (xx, label) in x_ticks {
                line.tickmark x1=(f1(*xx)) x2=(f1(*xx)) y1=(f1(top + ph)) y2=(f1(top + ph + 6.0)) {}
                text.tick x=(f1(*xx)) y=(f1(top + ph + 20.0)) text-anchor="middle" { (label) }
            }
            line.axis x1=(left) x2=(left) y1=(top) y2=(f1(top + ph)) {}
            line.axis x1=(left) x2=(f1(left + pw)) y1=(f1(top + ph)) y2=(f1(top + ph)) {}
            text.axis-title x=(f1(left + pw / 2.0)) y=(f1(self.h - 16.0)) text-anchor="middle" { (x_title) }
            text.axis-title transform={ "translate(16 " (f1(top + ph / 2.0)) ") rotate(-90)" } text-anchor="middle" {
                (y_title)
            }
        }
    }
}

/// The learning curve as an inline SVG line chart: x is the share of ratings
/// trained on (0–100%), y the held-out Spearman correlation; one polyline
/// (with a dot and a tooltip per point) per backbone in `columns` order and
/// colour, axes with ticks, and a legend. Non-finite points are left out.
///
/// Every SVG element is written with an explicit end tag: the HTML parser
/// treats `<line>` inside `<svg>` as an ordinary element, so an unclosed one
/// would swallow what follows.
pub(super) fn learning_curve_svg(
    curves: &BTreeMap<String, Vec<CurvePoint>>,
    columns: &[Column<'_>],
) -> Markup {
    const H: f64 = 420.0;
    const LEFT: f64 = 64.0;
    const TOP: f64 = 20.0;
    const BOTTOM: f64 = 64.0;
    // The plot keeps its size; the margin right of it widens to fit the
    // longest legend title (14px text, about 8px a character, after the 36px
    // of the legend's line).
    let (pw, ph) = (516.0, H - TOP - BOTTOM);
    let longest = columns
        .iter()
        .filter(|c| curves.contains_key(c.key))
        .map(|c| c.title().chars().count())
        .max()
        .unwrap_or(0);
    let right = (20.0 + 36.0 + 8.0 * longest as f64 + 8.0).max(180.0);
    let w = (LEFT + pw + right).round();

    let finite: Vec<(&Column<'_>, Vec<CurvePoint>)> = columns
        .iter()
        .filter_map(|c| curves.get(c.key).map(|pts| (c, pts)))
        .map(|(c, pts)| {
            let mut pts: Vec<CurvePoint> = pts
                .iter()
                .copied()
                .filter(|p| p.fraction.is_finite() && p.spearman.is_finite())
                .collect();
            pts.sort_by(|a, b| a.fraction.total_cmp(&b.fraction));
            (c, pts)
        })
        .collect();
    let all = || finite.iter().flat_map(|(_, pts)| pts);
    let (ymin, ymax) = all().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
        (lo.min(p.spearman), hi.max(p.spearman))
    });
    let (lo, hi, step) = y_axis(ymin, ymax);
    let xmax = all().map(|p| p.fraction).fold(1.0f64, f64::max);
    let x = |f: f64| LEFT + f / xmax * pw;
    let y = |s: f64| TOP + (hi - s) / (hi - lo) * ph;
    // Ticks are whole multiples of the step, so float drift can neither drop
    // the last one nor print "-0.0".
    let (first, last) = ((lo / step).round() as i64, (hi / step).round() as i64);
    let y_ticks: Vec<f64> = (first..=last).map(|i| i as f64 * step).collect();
    let x_ticks: Vec<f64> = (0..=5).map(|i| xmax * f64::from(i) / 5.0).collect();

    html! {
        svg.chart viewBox={ "0 0 " (w) " " (H) } width=(w) height=(H) role="img"
            aria-label="Learning curve: Spearman correlation against share of ratings used for training" {
            (Frame { left: LEFT, top: TOP, pw, ph, h: H }.axes(
                &y_ticks.iter().map(|v| (y(*v), num(*v, 1), v.abs() < 1e-9)).collect::<Vec<_>>(),
                &x_ticks.iter().map(|f| (x(*f), format!("{}%", (f * 100.0).round()))).collect::<Vec<_>>(),
                "share of ratings used for training",
                "Spearman ρ (held out)",
            ))
            @for (i, (column, pts)) in finite.iter().enumerate() {
                @let points = pts.iter().map(|p| format!("{},{}", f1(x(p.fraction)), f1(y(p.spearman)))).collect::<Vec<_>>().join(" ");
                polyline.curve data-model=(column.key) points=(points) fill="none" stroke=(column.colour)
                    stroke-width="2.5" stroke-linejoin="round" {}
                @for p in pts {
                    circle cx=(f1(x(p.fraction))) cy=(f1(y(p.spearman))) r="4" fill=(column.colour) {
                        title {
                            (column.title()) ": " ((p.fraction * 100.0).round()) "% of ratings (n = "
                            (p.n_train) "), ρ = " (num(p.spearman, 3))
                        }
                    }
                }
                // The legend sits right of the plot, one entry per backbone.
                @let ly = TOP + 14.0 + 24.0 * i as f64;
                @let lx = LEFT + pw + 20.0;
                g.legend {
                    line x1=(f1(lx)) x2=(f1(lx + 28.0)) y1=(f1(ly)) y2=(f1(ly)) stroke=(column.colour) stroke-width="3" {}
                    text x=(f1(lx + 36.0)) y=(f1(ly + 4.0)) { (column.title()) }
                }
            }
        }
    }
}

/// The data ladder as an inline SVG: each backbone's headline figure (how
/// often its predictions agree with the person's ratings, a dot) with its
/// 95% interval (a bar with caps) against its pretraining images on a log
/// axis, ticks at powers of ten, a reference line at 50% (a coin toss), one
/// labelled point per backbone in its column colour. Backbones on the same
/// data set are spread a few pixels apart so that none hides another.
/// Points without a known data size or a headline (no answer yet) are left
/// to the caller to list.
pub(super) fn ladder_svg(ladder: &[LadderPoint], columns: &[Column<'_>]) -> Markup {
    // 64 px left for the y labels, 64 below for the x ones, 150 right of
    // the plot for the last point's label.
    let frame = Frame {
        left: 64.0,
        top: 20.0,
        pw: 600.0,
        ph: 380.0 - 20.0 - 64.0,
        h: 380.0,
    };
    let (left, top, pw, ph, h) = (frame.left, frame.top, frame.pw, frame.ph, frame.h);
    let w = left + pw + 150.0;
    let drawn: Vec<&LadderPoint> = ladder
        .iter()
        .filter(|p| p.pretraining_images > 0 && p.headline.is_some_and(f64::is_finite))
        .collect();
    let decades = |n: u64| (n as f64).log10();
    let (dmin, dmax) = drawn
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
            let d = decades(p.pretraining_images);
            (lo.min(d), hi.max(d))
        });
    let (dlo, dhi) = if dmin.is_finite() {
        let lo = dmin.floor();
        let hi = dmax.ceil().max(lo + 1.0);
        (lo, hi)
    } else {
        (6.0, 10.0)
    };
    let (ymin, ymax) = drawn
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
            let v = p.headline.unwrap_or(0.5);
            (
                lo.min(p.headline_low.unwrap_or(v)).min(v),
                hi.max(p.headline_high.unwrap_or(v)).max(v),
            )
        });
    let (lo, hi, step) = share_axis(ymin, ymax);
    let x = |d: f64| left + (d - dlo) / (dhi - dlo) * pw;
    let y = |s: f64| top + (hi - s.clamp(lo, hi)) / (hi - lo) * ph;
    let (first, last) = ((lo / step).round() as i64, (hi / step).round() as i64);
    let y_ticks: Vec<f64> = (first..=last).map(|i| i as f64 * step).collect();
    let x_ticks: Vec<f64> = (dlo as i64..=dhi as i64).map(|d| d as f64).collect();
    let tick_label = |d: f64| crate::model::registry::human_count(10f64.powf(d).round() as u64);
    let colour = |id: &str| {
        columns
            .iter()
            .find(|c| c.key == id)
            .map_or("#555", |c| c.colour)
    };
    // Spread points that share a data set: −8, 0, +8 px, ...
    let mut offsets = Vec::with_capacity(drawn.len());
    for (i, p) in drawn.iter().enumerate() {
        let same: Vec<usize> = (0..drawn.len())
            .filter(|&j| drawn[j].pretraining_images == p.pretraining_images)
            .collect();
        let rank = same.iter().position(|&j| j == i).unwrap_or(0) as f64;
        offsets.push((rank - (same.len() as f64 - 1.0) / 2.0) * 10.0);
    }
    html! {
        svg.chart.ladder viewBox={ "0 0 " (w) " " (h) } width=(w) height=(h) role="img"
            aria-label="How often each backbone's predictions agree with your ratings, against its pretraining images" {
            (frame.axes(
                &y_ticks.iter().map(|v| (y(*v), percent(*v), (v - 0.5).abs() < 1e-9)).collect::<Vec<_>>(),
                &x_ticks.iter().map(|d| (x(*d), tick_label(*d))).collect::<Vec<_>>(),
                "pretraining images (log scale)",
                "agrees with your ratings",
            ))
            @for (p, dx) in drawn.iter().zip(&offsets) {
                @let cx = x(decades(p.pretraining_images)) + dx;
                @let v = p.headline.unwrap_or(0.5);
                @let c = colour(&p.id);
                g.point data-model=(p.id) data-images=(p.pretraining_images) {
                    @if let (Some(a), Some(b)) = (p.headline_low, p.headline_high) {
                        line.interval x1=(f1(cx)) x2=(f1(cx)) y1=(f1(y(a))) y2=(f1(y(b))) stroke=(c) stroke-width="2" {}
                        line x1=(f1(cx - 4.0)) x2=(f1(cx + 4.0)) y1=(f1(y(a))) y2=(f1(y(a))) stroke=(c) stroke-width="2" {}
                        line x1=(f1(cx - 4.0)) x2=(f1(cx + 4.0)) y1=(f1(y(b))) y2=(f1(y(b))) stroke=(c) stroke-width="2" {}
                    }
                    circle cx=(f1(cx)) cy=(f1(y(v))) r="5" fill=(c) {
                        title {
                            (p.display_name) ": agrees with your ratings " (percent(v)) " of the time"
                            @if let (Some(a), Some(b)) = (p.headline_low, p.headline_high) {
                                " (95% sure " (percent(a)) " … " (percent(b)) ")"
                            }
                            ", " (p.pretraining_data) ", " (crate::model::registry::human_count(p.pretraining_images)) " images"
                        }
                    }
                    text.point-label x=(f1(cx + 9.0)) y=(f1(y(v) - 7.0)) { (p.id) " " (percent(v)) }
                }
            }
        }
    }
}

/// A y range for shares (0–1) covering `[min, max]` and 50% (a coin toss,
/// the reference every headline is read against), rounded out to its tick
/// step and clamped to [0, 1].
fn share_axis(min: f64, max: f64) -> (f64, f64, f64) {
    let (min, max) = if min.is_finite() && max.is_finite() {
        (min.min(0.5), max.max(0.5))
    } else {
        (0.4, 0.8)
    };
    let step = if max - min <= 0.3 { 0.05 } else { 0.1 };
    let lo = ((min / step).floor() * step).max(0.0);
    let hi = ((max / step).ceil() * step).min(1.0);
    (lo, hi.max(lo + step), step)
}

/// A y range covering `[min, max]` and the range's tick step: rounded out to
/// the step, always including 0 (a correlation's natural reference), clamped
/// to Spearman's [-1, 1].
fn y_axis(min: f64, max: f64) -> (f64, f64, f64) {
    let (min, max) = if min.is_finite() && max.is_finite() {
        (min, max)
    } else {
        (0.0, 1.0)
    };
    let span = max.max(0.0) - min.min(0.0);
    let step = if span <= 0.5 { 0.1 } else { 0.2 };
    let lo = ((min.min(0.0) / step).floor() * step).max(-1.0);
    let mut hi = ((max.max(0.0) / step).ceil() * step).min(1.0);
    if hi - lo < step {
        hi = lo + step;
    }
    (lo, hi, step)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn y_axis_includes_zero_and_rounds_out() {
        assert_eq!(y_axis(0.12, 0.43), (0.0, 0.5, 0.1));
        let (lo, hi, step) = y_axis(-0.3, 0.8);
        assert!((lo + 0.4).abs() < 1e-9 && (hi - 0.8).abs() < 1e-9 && step == 0.2);
        assert_eq!(y_axis(f64::NAN, f64::NAN).0, 0.0);
        let (lo, hi, _) = y_axis(0.0, 0.0);
        assert!(hi > lo);
    }

    #[test]
    fn share_axis_includes_a_coin_toss_and_stays_within_zero_and_one() {
        let (lo, hi, step) = share_axis(0.62, 0.78);
        assert!((lo - 0.5).abs() < 1e-9 && (hi - 0.8).abs() < 1e-9 && step == 0.05);
        let (lo, hi, step) = share_axis(0.05, 0.99);
        assert!(lo.abs() < 1e-9 && (hi - 1.0).abs() < 1e-9 && step == 0.1);
        let (lo, hi, _) = share_axis(f64::NAN, f64::NAN);
        assert!(lo <= 0.5 && hi >= 0.5);
    }
}
