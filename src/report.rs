//! Self-contained HTML reports: the score report (each query image with both
//! backbones' scores and references side by side) and the compare report
//! (label metrics, neighbourhood agreement and the learning curve of the two
//! backbones).
//!
//! A report is one HTML file that needs nothing else: styles are inline,
//! images are JPEG thumbnails embedded as `data:` URIs
//! ([`thumbnail_data_uri`]), the chart is inline SVG drawn here, and a
//! Content-Security-Policy forbids the page to fetch anything, so it can be
//! mailed, archived or opened offline and never calls out. Every string
//! that comes from the user's data (paths, metadata, labels, error messages,
//! the verdict) is HTML-escaped.
//!
//! The view types ([`ScoreView`], [`CompareView`]) are plain data with serde
//! derives: the binary prints the same structures with `--json`, so the page
//! and the JSON cannot disagree. They hold numbers and strings only, so that
//! they do not depend on how the head or the index computed them.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write;
use std::io::Cursor;
use std::path::Path;

use image::codecs::jpeg::JpegEncoder;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::explain::{LabelMetrics, Reference};
use crate::imaging::{decode_file, resize_rgb8, DecodeLimits, ResizeFilter};

/// Longest side of a query image's thumbnail, in pixels.
pub const QUERY_THUMB_SIDE: u32 = 320;
/// Longest side of a reference's thumbnail, in pixels.
pub const REFERENCE_THUMB_SIDE: u32 = 160;
/// JPEG quality of thumbnails: small files without visible blocking at
/// thumbnail size.
pub const THUMB_JPEG_QUALITY: u8 = 85;

/// The page may show inline styles and `data:` images and load nothing else:
/// no scripts, no fonts, no network. It documents, and enforces in the
/// browser, that a report is self-contained.
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'";

// Writing to a `String` cannot fail, so the `fmt::Result` is dropped here once
// instead of being unwrapped at every call.
macro_rules! w {
    ($out:expr, $($arg:tt)*) => {{
        let _ = write!($out, $($arg)*);
    }};
}

// ----- view types ------------------------------------------------------------------------

/// Everything the score report shows; also the `--json` output of `score`
/// (one [`ScoredImage`] per line or array element).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScoreView {
    pub images: Vec<ScoredImage>,
}

/// One query image and what each backbone made of it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScoredImage {
    /// The image's path as given.
    pub path: String,
    /// Why the image could not be scored (decode failure, ...); `models` is
    /// then usually empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Per backbone, keyed by model name (`"dino"`, `"dinov2"`).
    #[serde(default)]
    pub models: BTreeMap<String, ModelScore>,
    /// How many references the two backbones share (by id); `None` with
    /// fewer than two backbones.
    pub reference_overlap: Option<usize>,
}

/// One backbone's score of one image, and what explains it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelScore {
    /// The trained taste head's prediction, on the ratings' scale.
    pub score: f64,
    /// The similarity-weighted mean rating of `references`
    /// ([`crate::explain::knn_estimate`]).
    pub knn_estimate: Option<f64>,
    /// The rated works nearest to the image, most similar first.
    pub references: Vec<Reference>,
    /// True when the image lies farther from every stored work than the
    /// collection's threshold: the score extrapolates.
    pub out_of_distribution: bool,
    /// Similarity of the image to its most similar stored work.
    pub nearest_similarity: f32,
    /// The similarity below which an image counts as out of distribution
    /// (1 − the distance threshold).
    pub threshold_similarity: f32,
}

/// Everything the compare report shows; also the `--json` output of `compare`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CompareView {
    /// The metadata key the label metrics were computed for (`"style"`);
    /// empty when none was.
    pub label: String,
    /// Per backbone, keyed by model name (`"dino"`, `"dinov2"`).
    pub models: BTreeMap<String, CompareModel>,
    /// Mean share of each item's k nearest neighbours the backbones agree on
    /// ([`crate::explain::neighbour_agreement`]).
    pub neighbour_agreement: f64,
    /// What two unrelated spaces would score
    /// ([`crate::explain::neighbour_agreement_chance`]).
    #[serde(default)]
    pub neighbour_agreement_chance: f64,
    /// The neighbourhood size of the label metrics and the agreement.
    pub k: usize,
    /// Per backbone, the taste head's held-out Spearman correlation when
    /// trained on growing shares of the ratings.
    #[serde(default)]
    pub learning_curve: BTreeMap<String, Vec<CurvePoint>>,
    /// One sentence saying which backbone did better, and how sure that is.
    pub verdict: String,
    /// The head's training report as it was saved, shown verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_report_json: Option<serde_json::Value>,
}

/// One backbone's numbers in the compare report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CompareModel {
    /// Leave-one-out k-NN accuracy on the label ([`crate::explain::loo_knn_accuracy`]).
    pub loo_accuracy: Option<f64>,
    /// Mean share of the k nearest neighbours with the same label.
    pub precision_at_k: Option<f64>,
    /// Accuracy of always predicting the most frequent label.
    pub chance: Option<f64>,
    /// Precision@k of random neighbours.
    #[serde(default)]
    pub precision_chance: Option<f64>,
    /// Items with the label.
    pub n: usize,
    /// The taste head's cross-validated metrics by name (`"spearman"`,
    /// `"mae"`, ...), shown as given; empty when no head was evaluated.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub cv: BTreeMap<String, f64>,
}

impl CompareModel {
    /// The label columns filled from [`crate::explain::label_metrics`]; `cv`
    /// is left empty.
    pub fn from_label_metrics(m: &LabelMetrics) -> Self {
        CompareModel {
            loo_accuracy: Some(m.accuracy.value),
            precision_at_k: Some(m.precision.value),
            chance: Some(m.accuracy.chance),
            precision_chance: Some(m.precision.chance),
            n: m.accuracy.n,
            cv: BTreeMap::new(),
        }
    }
}

/// One point of a learning curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    /// Share of the ratings the head was trained on, in (0, 1].
    pub fraction: f64,
    /// How many ratings that is.
    pub n_train: usize,
    /// Spearman correlation of the head's predictions with held-out ratings.
    pub spearman: f64,
}

// ----- thumbnails ------------------------------------------------------------------------

/// The image at `path` as a `data:image/jpeg;base64,...` URI, scaled down
/// (keeping its aspect ratio, never up) so its longer side is at most
/// `max_side` pixels.
///
/// Decoding goes through [`decode_file`] with the default limits, so a
/// report is as safe against hostile files as indexing, and resizing uses the
/// bicubic filter, whose support widens with the scale and so antialiases
/// large reductions.
pub fn thumbnail_data_uri(path: &Path, max_side: u32) -> Result<String> {
    let img = decode_file(path, &DecodeLimits::default())?;
    let (w, h) = thumbnail_size(img.width(), img.height(), max_side);
    let small = if (w, h) == img.dimensions() {
        img
    } else {
        resize_rgb8(&img, w, h, ResizeFilter::Bicubic)
    };
    let mut jpeg = Vec::new();
    JpegEncoder::new_with_quality(Cursor::new(&mut jpeg), THUMB_JPEG_QUALITY)
        .encode_image(&small)
        .map_err(|e| Error::Decode {
            path: path.to_path_buf(),
            reason: format!("cannot encode its thumbnail as JPEG: {e}"),
        })?;
    Ok(format!("data:image/jpeg;base64,{}", base64_encode(&jpeg)))
}

/// The size that fits `w`×`h` within `max_side` keeping the aspect ratio
/// (rounded, at least 1 pixel); the size itself when it already fits.
fn thumbnail_size(w: u32, h: u32, max_side: u32) -> (u32, u32) {
    let long = w.max(h);
    if long <= max_side || long == 0 {
        return (w, h);
    }
    let scale = f64::from(max_side.max(1)) / f64::from(long);
    let fit = |x: u32| ((f64::from(x) * scale).round() as u32).clamp(1, max_side.max(1));
    (fit(w), fit(h))
}

/// Standard base64 (RFC 4648, with padding).
fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Thumbnails made once per (path, side), in parallel: the same reference
/// typically explains many queries.
struct Thumbnails(HashMap<(String, u32), std::result::Result<String, String>>);

impl Thumbnails {
    fn make(wanted: HashSet<(String, u32)>) -> Self {
        let wanted: Vec<(String, u32)> = wanted.into_iter().collect();
        Thumbnails(
            wanted
                .into_par_iter()
                .map(|(path, side)| {
                    let uri = thumbnail_data_uri(Path::new(&path), side).map_err(|e| e.to_string());
                    ((path, side), uri)
                })
                .collect(),
        )
    }

    /// An `<img>` of the thumbnail, or a placeholder box saying why there is
    /// none, `side` pixels at most either way.
    fn html(&self, path: Option<&str>, side: u32, alt: &str) -> String {
        let got = match path {
            None => Err("no path is recorded for this work".to_string()),
            Some(p) => self
                .0
                .get(&(p.to_string(), side))
                .cloned()
                .unwrap_or_else(|| Err("thumbnail was not prepared".to_string())),
        };
        match got {
            Ok(uri) => format!(
                r#"<img class="thumb" src="{uri}" alt="{alt}" style="max-width:{side}px;max-height:{side}px">"#,
                alt = esc(alt)
            ),
            Err(why) => format!(
                r#"<div class="thumb placeholder" style="width:{side}px;height:{h}px" role="img" aria-label="{alt}"><span>no image: {why}</span></div>"#,
                h = side * 3 / 4,
                alt = esc(alt),
                why = esc(&why)
            ),
        }
    }
}

// ----- the score report --------------------------------------------------------------------

/// The score report: per query image its thumbnail, then one column per
/// backbone side by side (the head's score, the kNN estimate, an
/// out-of-distribution badge when flagged, and the references as thumbnails
/// with similarity and rating), and how many references the backbones share.
pub fn render_score_html(view: &ScoreView) -> String {
    let mut wanted = HashSet::new();
    for img in &view.images {
        wanted.insert((img.path.clone(), QUERY_THUMB_SIDE));
        for m in img.models.values() {
            for r in &m.references {
                if let Some(p) = &r.path {
                    wanted.insert((p.clone(), REFERENCE_THUMB_SIDE));
                }
            }
        }
    }
    let thumbs = Thumbnails::make(wanted);

    let mut models: Vec<&str> = view
        .images
        .iter()
        .flat_map(|i| i.models.keys())
        .map(String::as_str)
        .collect();
    models.sort_unstable();
    models.dedup();
    let model_list = models
        .iter()
        .map(|m| model_title(m).0)
        .collect::<Vec<_>>()
        .join(" and ");

    let mut out = String::new();
    page_start(&mut out, "artlens — taste scores");
    w!(
        out,
        r#"<header><h1>Taste scores</h1><p class="sub">{n} image{s} scored with {models}. The score is the trained taste head's prediction; the kNN estimate is the similarity-weighted mean rating of the references shown under it, the rated works each backbone finds most similar.</p></header>
<main>
"#,
        n = view.images.len(),
        s = if view.images.len() == 1 { "" } else { "s" },
        models = esc(if model_list.is_empty() {
            "no backbone"
        } else {
            &model_list
        }),
    );
    for (i, img) in view.images.iter().enumerate() {
        score_section(&mut out, i, img, &thumbs);
    }
    out.push_str("</main>\n");
    page_end(&mut out);
    out
}

fn score_section(out: &mut String, index: usize, img: &ScoredImage, thumbs: &Thumbnails) {
    let name = file_name(&img.path);
    w!(
        out,
        r#"<section class="query" id="image-{n}">
<div class="query-head">
<figure class="query-thumb">{thumb}</figure>
<div class="query-info"><h2>{name}</h2><p class="path">{path}</p>
"#,
        n = index + 1,
        thumb = thumbs.html(Some(&img.path), QUERY_THUMB_SIDE, &name),
        name = esc(&name),
        path = esc(&img.path),
    );
    if let Some(err) = &img.error {
        w!(
            out,
            r#"<p class="error">Could not score this image: {}</p>"#,
            esc(err)
        );
    }
    if let Some(shared) = img.reference_overlap {
        let k = img
            .models
            .values()
            .map(|m| m.references.len())
            .max()
            .unwrap_or(0);
        w!(
            out,
            r#"<p class="overlap">References shared by both backbones: <strong class="overlap-count">{shared}</strong> of {k}</p>"#
        );
    }
    out.push_str("</div>\n</div>\n");
    if !img.models.is_empty() {
        w!(
            out,
            r#"<div class="models" style="grid-template-columns:repeat({},minmax(0,1fr))">"#,
            img.models.len()
        );
        for (key, m) in &img.models {
            model_column(out, key, m, thumbs);
        }
        out.push_str("</div>\n");
    }
    out.push_str("</section>\n");
}

fn model_column(out: &mut String, key: &str, m: &ModelScore, thumbs: &Thumbnails) {
    let (title, detail) = model_title(key);
    w!(
        out,
        r#"<div class="model" data-model="{key}">
<h3>{title} <span class="detail">{detail}</span></h3>
<dl class="numbers">
<div><dt>Taste score</dt><dd class="score">{score}</dd></div>
<div><dt>kNN estimate</dt><dd class="knn">{knn}</dd></div>
<div><dt>Nearest stored work</dt><dd class="nearest">similarity {near}<small>threshold {thr}</small></dd></div>
</dl>
"#,
        key = esc(key),
        title = esc(title),
        detail = esc(detail),
        score = num(m.score, 2),
        knn = m.knn_estimate.map_or("—".to_string(), |x| num(x, 2)),
        near = num(f64::from(m.nearest_similarity), 3),
        thr = num(f64::from(m.threshold_similarity), 3),
    );
    if m.out_of_distribution {
        out.push_str(
            r#"<p class="badge ood" title="This image is farther from every stored work than almost any stored work is from its nearest neighbour (similarity below the threshold), so the head extrapolates.">Out of distribution — this score is a guess</p>
"#,
        );
    }
    if m.references.is_empty() {
        out.push_str(r#"<p class="muted">No rated works to compare with.</p>"#);
    } else {
        out.push_str(r#"<h4>References</h4><ol class="refs">"#);
        for r in &m.references {
            reference_item(out, r, thumbs);
        }
        out.push_str("</ol>\n");
    }
    out.push_str("</div>\n");
}

fn reference_item(out: &mut String, r: &Reference, thumbs: &Thumbnails) {
    let caption = r
        .metadata
        .get("title")
        .cloned()
        .or_else(|| r.path.as_deref().map(file_name))
        .unwrap_or_else(|| format!("#{}", r.id));
    let byline: Vec<&str> = ["artist", "style", "date", "year"]
        .iter()
        .filter_map(|k| r.metadata.get(*k).map(String::as_str))
        .collect();
    let mut tooltip = format!("#{} {}", r.id, r.path.as_deref().unwrap_or(&r.hash));
    for (k, v) in &r.metadata {
        w!(tooltip, "\n{k}: {v}");
    }
    w!(
        out,
        r#"<li class="ref" data-id="{id}" title="{tooltip}"><div class="frame">{thumb}</div><div class="cap"><span class="sim">sim {sim}</span> <span class="rating">rated {rating}</span><span class="title">{caption}</span>{byline}</div></li>"#,
        id = r.id,
        tooltip = esc(&tooltip),
        thumb = thumbs.html(r.path.as_deref(), REFERENCE_THUMB_SIDE, &caption),
        sim = num(f64::from(r.similarity), 3),
        rating = num(r.rating, 2),
        caption = esc(&caption),
        byline = if byline.is_empty() {
            String::new()
        } else {
            format!(r#"<span class="by">{}</span>"#, esc(&byline.join(" · ")))
        },
    );
}

// ----- the compare report ------------------------------------------------------------------

/// The compare report: the verdict first and prominent, then the metric
/// tables with one column per backbone (the better value in bold, chance
/// baselines next to what must beat them), the neighbourhood agreement, the
/// learning curve as an SVG line chart, and the head's training report.
pub fn render_compare_html(view: &CompareView) -> String {
    let names: Vec<&str> = view.models.keys().map(String::as_str).collect();
    let title = match names.as_slice() {
        [] => "artlens — backbone comparison".to_string(),
        _ => format!(
            "artlens — {}",
            names
                .iter()
                .map(|m| model_title(m).0)
                .collect::<Vec<_>>()
                .join(" vs ")
        ),
    };
    let mut out = String::new();
    page_start(&mut out, &title);
    w!(
        out,
        r#"<header><h1>{}</h1></header>
<main>
<p class="verdict">{}</p>
"#,
        esc(&title),
        esc(&view.verdict)
    );

    metric_table(&mut out, view);

    w!(
        out,
        r#"<section class="card"><h2>Do the backbones see the same neighbours?</h2>
<p>On average the two backbones share <strong class="agreement">{pct}</strong> of each work's {k} nearest neighbours ({value}); two unrelated embeddings would share about {chance}.</p></section>
"#,
        pct = pct(view.neighbour_agreement),
        k = view.k,
        value = num(view.neighbour_agreement, 3),
        chance = pct(view.neighbour_agreement_chance),
    );

    out.push_str(r#"<section class="card"><h2>Learning curve</h2>"#);
    if view.learning_curve.values().any(|pts| {
        pts.iter()
            .any(|p| p.fraction.is_finite() && p.spearman.is_finite())
    }) {
        out.push_str(
            "<p class=\"muted\">Spearman correlation between the taste head's predictions and held-out ratings, training on a growing share of the ratings. A curve still rising at 100% says more ratings would help.</p>\n",
        );
        out.push_str(&learning_curve_svg(&view.learning_curve));
    } else {
        out.push_str(r#"<p class="muted">No learning curve was computed (too few ratings, or no head was trained).</p>"#);
    }
    out.push_str("</section>\n");

    if let Some(report) = &view.train_report_json {
        let pretty =
            serde_json::to_string_pretty(report).unwrap_or_else(|e| format!("unprintable: {e}"));
        w!(
            out,
            r#"<section class="card"><details><summary>Training report (JSON)</summary><pre>{}</pre></details></section>
"#,
            esc(&pretty)
        );
    }
    out.push_str("</main>\n");
    page_end(&mut out);
    out
}

fn metric_table(out: &mut String, view: &CompareView) {
    let models: Vec<(&String, &CompareModel)> = view.models.iter().collect();
    if models.is_empty() {
        out.push_str(r#"<p class="muted">No backbone was evaluated.</p>"#);
        return;
    }
    let label = if view.label.is_empty() {
        "no label".to_string()
    } else {
        format!("“{}”", view.label)
    };
    w!(
        out,
        r#"<section class="card"><h2>How well do neighbours predict the label {}?</h2>"#,
        esc(&label)
    );
    out.push_str(r#"<table class="metrics"><thead><tr><th>Metric</th>"#);
    for (key, _) in &models {
        let (title, detail) = model_title(key);
        w!(
            out,
            r#"<th data-model="{}">{}<br><span class="detail">{}</span></th>"#,
            esc(key),
            esc(title),
            esc(detail)
        );
    }
    out.push_str("</tr></thead><tbody>\n");

    let k = view.k;
    let row = |out: &mut String,
               name: String,
               class: &str,
               best: bool,
               get: &dyn Fn(&CompareModel) -> Option<f64>,
               digits: usize| {
        let values: Vec<Option<f64>> = models.iter().map(|(_, m)| get(m)).collect();
        let top = values
            .iter()
            .flatten()
            .copied()
            .filter(|x| x.is_finite())
            .fold(f64::NEG_INFINITY, f64::max);
        let distinct = values.iter().flatten().any(|&x| x != top);
        w!(
            out,
            r#"<tr class="{class}"><th scope="row">{}</th>"#,
            esc(&name)
        );
        for v in values {
            match v {
                Some(x) if best && distinct && x == top => {
                    w!(out, r#"<td class="best">{}</td>"#, num(x, digits))
                }
                Some(x) => w!(out, "<td>{}</td>", num(x, digits)),
                None => out.push_str("<td>—</td>"),
            }
        }
        out.push_str("</tr>\n");
    };
    row(
        out,
        format!("Leave-one-out {k}-NN accuracy"),
        "loo",
        true,
        &|m| m.loo_accuracy,
        3,
    );
    row(
        out,
        "chance: always the most frequent label".into(),
        "chance",
        false,
        &|m| m.chance,
        3,
    );
    row(
        out,
        format!("Precision@{k}"),
        "precision",
        true,
        &|m| m.precision_at_k,
        3,
    );
    row(
        out,
        format!("chance: {k} random neighbours"),
        "chance",
        false,
        &|m| m.precision_chance,
        3,
    );
    row(
        out,
        "Works with the label".into(),
        "n",
        false,
        &|m| Some(m.n as f64),
        0,
    );

    let mut cv_keys: Vec<&String> = models.iter().flat_map(|(_, m)| m.cv.keys()).collect();
    cv_keys.sort();
    cv_keys.dedup();
    if !cv_keys.is_empty() {
        w!(
            out,
            r#"<tr class="group"><th colspan="{}">Taste head, cross-validated</th></tr>"#,
            models.len() + 1
        );
        for key in cv_keys {
            row(
                out,
                key.clone(),
                "cv",
                false,
                &|m| m.cv.get(key).copied(),
                3,
            );
        }
    }
    out.push_str("</tbody></table></section>\n");
}

/// Colours of the curves, in model-name order; chosen to stay distinguishable
/// for the common forms of colour blindness.
const CURVE_COLOURS: [&str; 6] = [
    "#d95f02", "#1b9e77", "#7570b3", "#e7298a", "#66a61e", "#a6761d",
];

/// The learning curve as an inline SVG line chart: x is the share of ratings
/// trained on (0–100%), y the held-out Spearman correlation; one polyline
/// (with a dot and a tooltip per point) per backbone, axes with ticks, and a
/// legend. Non-finite points are left out.
fn learning_curve_svg(curves: &BTreeMap<String, Vec<CurvePoint>>) -> String {
    const W: f64 = 760.0;
    const H: f64 = 420.0;
    const LEFT: f64 = 64.0;
    const RIGHT: f64 = 180.0;
    const TOP: f64 = 20.0;
    const BOTTOM: f64 = 64.0;
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);

    let finite: BTreeMap<&str, Vec<CurvePoint>> = curves
        .iter()
        .map(|(k, pts)| {
            let mut pts: Vec<CurvePoint> = pts
                .iter()
                .copied()
                .filter(|p| p.fraction.is_finite() && p.spearman.is_finite())
                .collect();
            pts.sort_by(|a, b| a.fraction.total_cmp(&b.fraction));
            (k.as_str(), pts)
        })
        .collect();
    let ys = finite.values().flatten().map(|p| p.spearman);
    let (ymin, ymax) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), y| {
        (lo.min(y), hi.max(y))
    });
    let (lo, hi, step) = y_axis(ymin, ymax);
    let xmax = finite
        .values()
        .flatten()
        .map(|p| p.fraction)
        .fold(1.0f64, f64::max);
    let x = |f: f64| LEFT + f / xmax * pw;
    let y = |s: f64| TOP + (hi - s) / (hi - lo) * ph;

    let mut svg = String::new();
    w!(
        svg,
        r#"<svg class="chart" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" aria-label="Learning curve: Spearman correlation against share of ratings used for training">"#
    );
    // Horizontal grid and y ticks. Ticks are whole multiples of the step, so
    // float drift can neither drop the last one nor print "-0.0".
    let (first, last) = ((lo / step).round() as i64, (hi / step).round() as i64);
    for i in first..=last {
        let v = i as f64 * step;
        let yy = y(v);
        let class = if v.abs() < 1e-9 { "grid zero" } else { "grid" };
        w!(
            svg,
            r#"<line class="{class}" x1="{LEFT}" x2="{:.1}" y1="{yy:.1}" y2="{yy:.1}"/>"#,
            LEFT + pw
        );
        w!(
            svg,
            r#"<text class="tick" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            LEFT - 8.0,
            yy + 4.0,
            num(v, 1)
        );
    }
    for i in 0..=5 {
        let f = xmax * f64::from(i) / 5.0;
        let xx = x(f);
        w!(
            svg,
            r#"<line class="tickmark" x1="{xx:.1}" x2="{xx:.1}" y1="{:.1}" y2="{:.1}"/>"#,
            TOP + ph,
            TOP + ph + 6.0
        );
        w!(
            svg,
            r#"<text class="tick" x="{xx:.1}" y="{:.1}" text-anchor="middle">{}%</text>"#,
            TOP + ph + 20.0,
            (f * 100.0).round()
        );
    }
    w!(
        svg,
        r#"<line class="axis" x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{:.1}"/>"#,
        TOP + ph
    );
    w!(
        svg,
        r#"<line class="axis" x1="{LEFT}" x2="{:.1}" y1="{:.1}" y2="{:.1}"/>"#,
        LEFT + pw,
        TOP + ph,
        TOP + ph
    );
    w!(
        svg,
        r#"<text class="axis-title" x="{:.1}" y="{:.1}" text-anchor="middle">share of ratings used for training</text>"#,
        LEFT + pw / 2.0,
        H - 16.0
    );
    w!(
        svg,
        r#"<text class="axis-title" transform="translate(16 {:.1}) rotate(-90)" text-anchor="middle">Spearman ρ (held out)</text>"#,
        TOP + ph / 2.0
    );

    for (i, (key, pts)) in finite.iter().enumerate() {
        let colour = CURVE_COLOURS[i % CURVE_COLOURS.len()];
        let title = model_title(key).0;
        let points: Vec<String> = pts
            .iter()
            .map(|p| format!("{:.1},{:.1}", x(p.fraction), y(p.spearman)))
            .collect();
        w!(
            svg,
            r#"<polyline class="curve" data-model="{}" points="{}" fill="none" stroke="{colour}" stroke-width="2.5" stroke-linejoin="round"/>"#,
            esc(key),
            points.join(" ")
        );
        for p in pts {
            w!(
                svg,
                r#"<circle cx="{:.1}" cy="{:.1}" r="4" fill="{colour}"><title>{}: {}% of ratings (n = {}), ρ = {}</title></circle>"#,
                x(p.fraction),
                y(p.spearman),
                esc(title),
                (p.fraction * 100.0).round(),
                p.n_train,
                num(p.spearman, 3)
            );
        }
        // The legend sits right of the plot, one entry per backbone.
        let ly = TOP + 14.0 + 24.0 * i as f64;
        let lx = LEFT + pw + 20.0;
        w!(
            svg,
            r#"<g class="legend"><line x1="{lx:.1}" x2="{:.1}" y1="{ly:.1}" y2="{ly:.1}" stroke="{colour}" stroke-width="3"/><text x="{:.1}" y="{:.1}">{}</text></g>"#,
            lx + 28.0,
            lx + 36.0,
            ly + 4.0,
            esc(title)
        );
    }
    svg.push_str("</svg>\n");
    svg
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

// ----- shared pieces ----------------------------------------------------------------------

/// The display name and architecture of a backbone key; unknown keys show as
/// themselves.
fn model_title(key: &str) -> (&str, &'static str) {
    match key {
        "dino" => ("DINO", "ViT-B/16 · ImageNet-1k"),
        "dinov2" => ("DINOv2", "ViT-B/14 · LVD-142M"),
        other => (other, ""),
    }
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `x` with `digits` decimals; a dash for NaN and infinities.
fn num(x: f64, digits: usize) -> String {
    if x.is_finite() {
        format!("{x:.digits$}")
    } else {
        "—".to_string()
    }
}

/// `x` (a share) as a percentage with one decimal.
fn pct(x: f64) -> String {
    if x.is_finite() {
        format!("{:.1}%", x * 100.0)
    } else {
        "—".to_string()
    }
}

/// The last component of a `/` or `\` separated path.
fn file_name(path: &str) -> String {
    path.rsplit(['/', '\\'])
        .find(|s| !s.is_empty())
        .unwrap_or(path)
        .to_string()
}

fn page_start(out: &mut String, title: &str) {
    w!(
        out,
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{}</title>
<style>{STYLE}</style>
</head>
<body>
"#,
        esc(title)
    );
}

fn page_end(out: &mut String) {
    w!(
        out,
        r#"<footer>Made by artlens {}. This page is self-contained: it loads nothing from anywhere.</footer>
</body>
</html>
"#,
        env!("CARGO_PKG_VERSION")
    );
}

const STYLE: &str = r#"
:root { --ink: #1d2327; --muted: #5f6b73; --line: #d9dee2; --card: #ffffff; --bg: #f3f5f7; --accent: #1b6ec2; --warn: #b3261e; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); background: var(--bg); }
header { padding: 20px 32px 8px; }
h1 { margin: 0 0 4px; font-size: 26px; }
h2 { margin: 0 0 6px; font-size: 19px; word-break: break-all; }
h3 { margin: 0 0 10px; font-size: 18px; }
h4 { margin: 14px 0 6px; font-size: 14px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); }
.sub, .muted { color: var(--muted); }
main { padding: 8px 32px 32px; }
footer { padding: 12px 32px 24px; color: var(--muted); font-size: 13px; }
.query, .card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 18px 20px; margin: 0 0 22px; }
.query-head { display: flex; gap: 20px; align-items: flex-start; margin-bottom: 14px; }
.query-thumb { margin: 0; flex: none; }
.path { margin: 0 0 8px; color: var(--muted); font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 13px; word-break: break-all; }
.overlap { margin: 6px 0 0; }
.error { color: var(--warn); font-weight: 600; }
img.thumb { display: block; border-radius: 4px; background: #e8ebee; }
.placeholder { display: flex; align-items: center; justify-content: center; padding: 8px; border: 2px dashed #c2c9ce; border-radius: 4px; background: #f7f8f9; color: var(--muted); font-size: 12px; text-align: center; overflow: hidden; word-break: break-word; }
.models { display: grid; gap: 18px; }
.model { border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px; min-width: 0; }
.model[data-model="dino"] { border-top: 4px solid #d95f02; }
.model[data-model="dinov2"] { border-top: 4px solid #1b9e77; }
.detail { font-weight: 400; font-size: 13px; color: var(--muted); }
.numbers { display: flex; flex-wrap: wrap; gap: 10px 28px; margin: 0; }
.numbers div { min-width: 110px; }
.numbers dt { font-size: 12px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); }
.numbers dd { margin: 0; font-size: 20px; font-variant-numeric: tabular-nums; }
.numbers dd.score { font-size: 30px; font-weight: 700; }
.numbers dd.nearest { font-size: 15px; }
.numbers small { display: block; color: var(--muted); font-size: 12px; }
.badge { display: inline-block; margin: 12px 0 0; padding: 4px 10px; border-radius: 999px; font-size: 13px; font-weight: 600; }
.ood { background: #fdecea; color: var(--warn); border: 1px solid #f4b8b2; }
.refs { list-style: none; display: flex; flex-wrap: wrap; gap: 12px; margin: 0; padding: 0; }
.ref { width: 164px; font-size: 12px; }
.ref .frame { width: 164px; height: 164px; display: flex; align-items: center; justify-content: center; background: #eef1f3; border-radius: 4px; }
.ref .cap { margin-top: 4px; }
.ref .sim { font-weight: 600; }
.ref .title, .ref .by { display: block; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.ref .by { color: var(--muted); }
.verdict { font-size: 21px; font-weight: 600; background: #e8f1fb; border-left: 6px solid var(--accent); border-radius: 6px; padding: 14px 18px; margin: 4px 0 22px; }
table.metrics { border-collapse: collapse; min-width: 560px; font-variant-numeric: tabular-nums; }
.metrics th, .metrics td { padding: 7px 14px; border-bottom: 1px solid var(--line); text-align: right; }
.metrics th[scope="row"], .metrics thead th:first-child, .metrics .group th { text-align: left; font-weight: 400; }
.metrics thead th { font-weight: 700; vertical-align: bottom; }
.metrics tr.chance th, .metrics tr.chance td { color: var(--muted); font-size: 13px; }
.metrics td.best { font-weight: 700; }
.metrics .group th { padding-top: 14px; font-weight: 700; }
.chart { max-width: 100%; height: auto; }
.chart .grid { stroke: #e3e7ea; stroke-width: 1; }
.chart .grid.zero { stroke: #9aa4ab; }
.chart .axis, .chart .tickmark { stroke: #5f6b73; stroke-width: 1; }
.chart text { font-size: 12px; fill: var(--ink); }
.chart .axis-title { font-size: 13px; fill: var(--muted); }
.chart .legend text { font-size: 14px; }
pre { overflow: auto; max-height: 480px; background: #f7f8f9; padding: 12px; border-radius: 6px; font-size: 12px; }
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in cases {
            assert_eq!(base64_encode(plain.as_bytes()), encoded, "{plain:?}");
        }
        assert_eq!(base64_encode(&[0xff, 0xfe, 0xfd]), "//79");
    }

    #[test]
    fn score_json_keeps_the_cli_field_names() {
        let score = ModelScore {
            score: 1.5,
            knn_estimate: None,
            references: vec![Reference {
                id: 7,
                hash: "h".into(),
                path: Some("a.png".into()),
                similarity: 0.25,
                rating: 2.0,
                metadata: BTreeMap::new(),
            }],
            out_of_distribution: false,
            nearest_similarity: 0.25,
            threshold_similarity: 0.5,
        };
        let image = ScoredImage {
            path: "q.png".into(),
            error: None,
            models: [("dino".to_string(), score)].into_iter().collect(),
            reference_overlap: None,
        };
        let json = serde_json::to_value(&image).unwrap();
        let keys =
            |v: &serde_json::Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(&json), ["models", "path", "reference_overlap"]);
        let dino = &json["models"]["dino"];
        for k in ["score", "knn_estimate", "references", "out_of_distribution"] {
            assert!(dino.get(k).is_some(), "{k}");
        }
        for k in ["id", "path", "similarity", "rating", "metadata"] {
            assert!(dino["references"][0].get(k).is_some(), "{k}");
        }
        let back: ScoredImage = serde_json::from_value(json).unwrap();
        assert_eq!(back, image);
    }

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(
            esc(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn thumbnails_keep_aspect_and_never_grow() {
        assert_eq!(thumbnail_size(1000, 500, 160), (160, 80));
        assert_eq!(thumbnail_size(500, 1000, 160), (80, 160));
        assert_eq!(thumbnail_size(100, 50, 160), (100, 50));
        assert_eq!(thumbnail_size(10_000, 1, 160), (160, 1));
    }

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
    fn pages_escape_user_strings_and_fetch_nothing() {
        let mut meta = BTreeMap::new();
        meta.insert("title".to_string(), "<script>alert(1)</script>".to_string());
        let reference = Reference {
            id: 3,
            hash: "ab".into(),
            path: Some("/no/such/<file>.png".into()),
            similarity: 0.5,
            rating: 4.0,
            metadata: meta,
        };
        let score = ModelScore {
            score: 3.5,
            knn_estimate: Some(4.0),
            references: vec![reference],
            out_of_distribution: true,
            nearest_similarity: 0.5,
            threshold_similarity: 0.6,
        };
        let view = ScoreView {
            images: vec![ScoredImage {
                path: "/no/such/\"query\".png".into(),
                error: None,
                models: [("dino".to_string(), score)].into_iter().collect(),
                reference_overlap: None,
            }],
        };
        let html = render_score_html(&view);
        assert!(
            !html.contains("<script"),
            "user text reached the page unescaped"
        );
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("&quot;query&quot;.png"));
        assert!(html.contains("this score is a guess"));
        assert!(
            !html.contains("http://") && !html.contains("https://") && !html.contains("src=\"//")
        );

        let cmp = CompareView {
            verdict: "<b>DINOv2</b> & co".into(),
            ..CompareView::default()
        };
        let html = render_compare_html(&cmp);
        assert!(html.contains("&lt;b&gt;DINOv2&lt;/b&gt; &amp; co"));
        assert!(!html.contains("http://") && !html.contains("https://"));
    }
}
