//! The two pages, written with maud: every splice `(...)` is HTML-escaped,
//! so user text (paths, metadata, labels, error messages, the verdict, the
//! store folder) can only ever show as text. The two things written
//! unescaped are this module's own style sheet and the thumbnail rules of
//! [`Thumbnails::css`].

use std::collections::BTreeSet;

use maud::{html, Markup, PreEscaped};

use super::chart::{ladder_svg, learning_curve_svg};
use super::columns::{columns, Column};
use super::document::{document, CONTENT_SECURITY_POLICY};
use super::maps::{pair_maps_html, MAP_STYLE};
use super::score::{model_score_html, MODEL_SCORE_CSS};
use super::text::{file_name, num, pct, signed, utc_datetime};
use super::thumbs::{Thumbnails, QUERY_THUMB_SIDE, REFERENCE_THUMB_SIDE};
use crate::app::views::{
    CompareModel, CompareView, ExplainImage, ExplainView, LadderPoint, ModelScore, PairAgreement,
    PairComparison, Provenance, ScoreView, ScoredImage,
};
use crate::head::percent;

/// `a`, `a and b`, `a, b and c`.
fn and_list(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

// ----- the score report --------------------------------------------------------------------

/// The score report: per query image its thumbnail, then one column per
/// backbone side by side (the shared model-score partial: the head's score,
/// the person's rating and the prediction without it, the score as a
/// weighted vote of the ratings in sentences, the kNN estimate, an
/// out-of-distribution badge when flagged, and the references as thumbnails
/// with similarity and rating), and how many references the backbones share.
/// Each picture is embedded once however often it recurs (see `thumbs.rs`).
pub fn render_score_html(view: &ScoreView) -> String {
    let mut wanted = Vec::new();
    for img in &view.images {
        wanted.push((img.path.clone(), QUERY_THUMB_SIDE));
        for m in img.models.values() {
            for r in &m.references {
                if let Some(p) = &r.path {
                    wanted.push((p.clone(), REFERENCE_THUMB_SIDE));
                }
            }
        }
    }
    let thumbs = Thumbnails::make(wanted);

    let keys: BTreeSet<&str> = view
        .images
        .iter()
        .flat_map(|i| i.models.keys())
        .map(String::as_str)
        .collect();
    let columns = columns(&view.provenance, &keys);
    let titles: Vec<&str> = columns.iter().map(Column::title).collect();
    let n = view.images.len();

    let body = html! {
        header {
            h1 { "Taste scores" }
            p.sub {
                (n) " image" @if n != 1 { "s" } " scored with "
                @if titles.is_empty() { "no backbone" } @else { (and_list(&titles)) }
                ". The score is the trained taste head's prediction: your mean rating, moved \
                 toward or away from each of your ratings by how alike the head finds the image \
                 and that work. The kNN estimate is the similarity-weighted mean rating of the \
                 references shown under it, the rated works each backbone finds most similar."
            }
            (made_line(&view.provenance))
        }
        main {
            (warnings(&view.warnings))
            @for (i, img) in view.images.iter().enumerate() {
                (score_section(i, img, &columns, &thumbs))
            }
        }
        (footer(&view.provenance, &columns))
    };
    let css = PreEscaped(format!("{MODEL_SCORE_CSS}{}", thumbs.css().into_string()));
    page("artlens — taste scores", Some(css), body)
}

fn score_section(
    index: usize,
    img: &ScoredImage,
    columns: &[Column<'_>],
    thumbs: &Thumbnails,
) -> Markup {
    let name = file_name(&img.path);
    let k = img
        .models
        .values()
        .map(|m| m.references.len())
        .max()
        .unwrap_or(0);
    let shown: Vec<(&Column<'_>, &ModelScore)> = columns
        .iter()
        .filter_map(|c| img.models.get(c.key).map(|m| (c, m)))
        .collect();
    html! {
        section.query id={ "image-" (index + 1) } {
            div.query-head {
                figure.query-thumb { (thumbs.html(Some(&img.path), QUERY_THUMB_SIDE, &name)) }
                div.query-info {
                    h2 { (name) }
                    p.path { (img.path) }
                    @if let Some(err) = &img.error {
                        p.error { "Could not score this image: " (err) }
                    }
                    @if let Some(shared) = img.reference_overlap {
                        p.overlap {
                            "References shared by "
                            @if shown.len() == 2 { "both backbones" } @else { "all backbones" }
                            ": " strong.overlap-count { (shared) } " of " (k)
                        }
                    }
                }
            }
            @if !shown.is_empty() {
                div.models style={ "grid-template-columns:repeat(" (shown.len()) ",minmax(0,1fr))" } {
                    @for (column, m) in &shown {
                        (model_column(column, m, thumbs, &img.path))
                    }
                }
            }
        }
    }
}

/// One backbone's column of an image: its heading, the shared model-score
/// partial ([`model_score_html`]) and the patch maps of its top reference.
fn model_column(column: &Column<'_>, m: &ModelScore, thumbs: &Thumbnails, query: &str) -> Markup {
    html! {
        div.model data-model=(column.key) style={ "border-top-color:" (column.colour) } {
            (column_h3(column))
            (model_score_html(m, thumbs))
            @if let Some(maps) = &m.maps {
                h4 { "Where it matches its nearest rated work" }
                (pair_maps_html(thumbs, Some(query), m.references.first().and_then(|r| r.path.as_deref()),
                    maps, column.colour, REFERENCE_THUMB_SIDE, false))
            }
        }
    }
}

/// The tooltip of a backbone's name: its key, weights and input size.
fn column_tooltip(column: &Column<'_>) -> Option<String> {
    column.label.map(|l| {
        let hub = if l.hub_id.is_empty() {
            "no hub id"
        } else {
            &l.hub_id
        };
        format!("{} · {hub} · {} px", l.id, l.resolution)
    })
}

/// A score column's heading: the display name with the description in
/// small type.
fn column_h3(column: &Column<'_>) -> Markup {
    let detail = column.detail();
    html! {
        h3 title=[column_tooltip(column)] {
            (column.title())
            @if !detail.is_empty() { " " span.detail { (detail) } }
        }
    }
}

/// A metric table's column heading: the display name over the description.
fn column_th_content(column: &Column<'_>) -> Markup {
    let detail = column.detail();
    html! {
        span.name title=[column_tooltip(column)] { (column.title()) }
        @if !detail.is_empty() { br; span.detail { (detail) } }
    }
}

// ----- the explain page --------------------------------------------------------------------

/// The explain page: the query, then per backbone its reference (how it was
/// chosen, the similarity) and the heat maps over both images: where each
/// image's patches best match the other's, and where the CLS token attends
/// in the last block, mean of heads and each head.
pub fn render_explain_html(view: &ExplainView) -> String {
    let mut wanted = vec![(view.query.path.clone(), QUERY_THUMB_SIDE)];
    for m in view.models.values() {
        wanted.push((m.reference.path.clone(), QUERY_THUMB_SIDE));
    }
    let thumbs = Thumbnails::make(wanted);
    let keys: BTreeSet<&str> = view.models.keys().map(String::as_str).collect();
    let columns = columns(&view.provenance, &keys);
    let body = html! {
        header {
            h1 { "Where the likeness is" }
            p.sub {
                "For each backbone: every patch of one image coloured by its best cosine match among                  the other image's patches (after the final norm), and the CLS token's attention over                  the patches in the last block. Each map is scaled from its own minimum (clear) to its                  maximum (strongest colour); the numbers give that range. Cells cover the part of the                  image the model saw (DINOv2 sees the centre crop)."
            }
            (made_line(&view.provenance))
        }
        main {
            (warnings(&view.warnings))
            section.query {
                div.query-head {
                    figure.query-thumb { (thumbs.html(Some(&view.query.path), QUERY_THUMB_SIDE, "query")) }
                    div.query-info {
                        h2 { (file_name(&view.query.path)) }
                        p.path { (view.query.path) }
                        (image_facts(&view.query))
                    }
                }
            }
            @for column in &columns {
                @if let Some(m) = view.models.get(column.key) {
                    section.query.explain data-model=(column.key) style={ "border-top:4px solid " (column.colour) } {
                        (column_h3(column))
                        p.reference {
                            "Compared with " strong { (file_name(&m.reference.path)) }
                            " (" (m.chosen) "), embedding similarity " strong.sim { (num(f64::from(m.similarity), 3)) }
                            ". " (image_facts(&m.reference))
                        }
                        (pair_maps_html(&thumbs, Some(&view.query.path), Some(&m.reference.path),
                            &m.maps, column.colour, QUERY_THUMB_SIDE, true))
                    }
                }
            }
        }
        (footer(&view.provenance, &columns))
    };
    page("artlens — where the likeness is", Some(thumbs.css()), body)
}

fn image_facts(i: &ExplainImage) -> Markup {
    html! {
        span.facts {
            @if let Some(id) = i.id { "work #" (id) }
            @if let Some(r) = i.rating { ", rated " (num(r, 2)) }
            @if let Some(t) = i.metadata.get("title") { ", “" (t) "”" }
            @if i.id.is_none() { "not a stored work" }
        }
    }
}

// ----- the compare report ------------------------------------------------------------------

/// The compare report: the verdict first and prominent, then the metric
/// tables with one column per backbone (the better value in bold, chance
/// baselines next to what must beat them), the paired comparisons with their
/// intervals, the neighbourhood agreement (one sentence for two backbones, a
/// table of pairs for more), the learning curve as an SVG line chart, and the
/// head's training report.
pub fn render_compare_html(view: &CompareView) -> String {
    let keys: BTreeSet<&str> = view
        .models
        .keys()
        .chain(view.learning_curve.keys())
        .map(String::as_str)
        .collect();
    let columns = columns(&view.provenance, &keys);
    let model_titles: Vec<&str> = columns
        .iter()
        .filter(|c| view.models.contains_key(c.key))
        .map(Column::title)
        .collect();
    let title = if model_titles.is_empty() {
        "artlens — backbone comparison".to_string()
    } else {
        format!("artlens — {}", model_titles.join(" vs "))
    };
    let has_curve = view.learning_curve.values().any(|pts| {
        pts.iter()
            .any(|p| p.fraction.is_finite() && p.spearman.is_finite())
    });
    let body = html! {
        header {
            h1 { (title) }
            (made_line(&view.provenance))
        }
        main {
            p.verdict { (view.verdict) }
            @if !view.verdict_detail.is_empty() || !view.procedure.is_empty() {
                details.verdict-detail {
                    summary { "How sure is this, in detail?" }
                    @if !view.verdict_detail.is_empty() { p { (view.verdict_detail) } }
                    @if !view.procedure.is_empty() { p.muted { "Procedure: " (view.procedure) } }
                }
            }
            (warnings(&view.warnings))
            (ladder_section(view, &columns))
            (metric_table(view, &columns))
            @if !view.comparisons.is_empty() {
                (comparison_table(&view.comparisons, &columns))
            }
            (agreement_section(view, &columns))
            section.card {
                h2 { "Learning curve" }
                @if has_curve {
                    p.muted {
                        "Detail, in another measure than the headline: the rank correlation \
                         (Spearman) between the cross-validated taste head's predictions and \
                         held-out ratings, training on a growing share of the ratings. A curve \
                         still rising at 100% says more ratings would help."
                    }
                    (learning_curve_svg(&view.learning_curve, &columns))
                } @else {
                    p.muted { "No learning curve was computed (too few ratings, or no head was trained)." }
                }
            }
            @if let Some(report) = &view.train_report_json {
                section.card {
                    details {
                        summary { "Training report (JSON)" }
                        pre { (serde_json::to_string_pretty(report).unwrap_or_else(|e| format!("unprintable: {e}"))) }
                    }
                }
            }
        }
        (footer(&view.provenance, &columns))
    };
    page(&title, None, body)
}

/// The data ladder: the seed's claim (more pretraining data, a better
/// understanding of a taste) as one chart on the user's own ratings,
/// plotting the same headline figure the verdict and the tables show.
fn ladder_section(view: &CompareView, columns: &[Column<'_>]) -> Markup {
    let measured = |p: &&LadderPoint| p.headline.is_some_and(f64::is_finite);
    let drawn = view
        .ladder
        .iter()
        .filter(|p| p.pretraining_images > 0)
        .filter(measured)
        .count();
    let unknown: Vec<&LadderPoint> = view
        .ladder
        .iter()
        .filter(|p| p.pretraining_images == 0)
        .collect();
    let trained = view.first_answer > 0;
    html! {
        section.card #ladder {
            h2 { "The data ladder" }
            @if drawn > 0 {
                p.muted {
                    "How often each backbone's predictions agree with your ratings (each work predicted \
                     before you rated it, from your earlier ratings; 50% is a coin toss), with the range \
                     it is 95% sure to lie in, against how many images the backbone was pretrained on. \
                     If more data meant a better grasp of your taste, the points would climb to the \
                     right; overlapping ranges mean your ratings cannot tell yet."
                }
                (ladder_svg(&view.ladder, columns))
            } @else if trained && view.n_ratings < view.first_answer {
                p.muted.not-enough {
                    "Not enough ratings yet: the chart appears at " (view.first_answer)
                    " ratings (you have " (view.n_ratings) ")."
                }
            } @else if trained {
                p.muted.not-enough { "Not enough ratings yet: train again to draw the chart." }
            } @else {
                p.muted { "No taste heads are trained for these backbones yet: rate some works first." }
            }
            ol.ladder-list {
                @for p in &view.ladder {
                    li {
                        strong { (p.display_name) }
                        " — "
                        @if p.pretraining_images > 0 {
                            (p.pretraining_data) ", " (crate::model::registry::human_count(p.pretraining_images)) " images"
                        } @else {
                            "pretraining data unknown (not on the chart)"
                        }
                        @if let Some(v) = p.headline {
                            ": agrees with your ratings " (percent(v)) " of the time"
                            @if let (Some(a), Some(b)) = (p.headline_low, p.headline_high) {
                                " (95% sure " (percent(a)) " … " (percent(b)) ")"
                            }
                        }
                    }
                }
            }
            @if !unknown.is_empty() {
                p.muted { (unknown.len()) " backbone(s) with an unknown pretraining set are listed but not drawn." }
            }
        }
    }
}

/// The readable name of a cross-validated metric key of
/// [`CompareModel::cv`] (the key itself when unknown): the words every
/// front end shows instead of the key.
pub fn cv_label(key: &str) -> &str {
    match key {
        "spearman" => "rank correlation (Spearman)",
        "pearson" => "linear correlation (Pearson)",
        "mae" => "mean error, in rating points",
        "pairwise_accuracy" => "pairs put in your order",
        other => other,
    }
}

/// One row of the metric table: the better value in bold when `best` and the
/// values differ.
fn metric_row(
    name: &str,
    class: &str,
    best: bool,
    values: &[Option<f64>],
    digits: usize,
) -> Markup {
    let top = values
        .iter()
        .flatten()
        .copied()
        .filter(|x| x.is_finite())
        .fold(f64::NEG_INFINITY, f64::max);
    let distinct = values.iter().flatten().any(|&x| x != top);
    html! {
        tr class=(class) {
            th scope="row" { (name) }
            @for v in values {
                @match v {
                    Some(x) if best && distinct && *x == top => td.best { (num(*x, digits)) },
                    Some(x) => td { (num(*x, digits)) },
                    None => td { "—" },
                }
            }
        }
    }
}

fn metric_table(view: &CompareView, columns: &[Column<'_>]) -> Markup {
    let models: Vec<(&Column<'_>, &CompareModel)> = columns
        .iter()
        .filter_map(|c| view.models.get(c.key).map(|m| (c, m)))
        .collect();
    if models.is_empty() {
        return html! { p.muted { "No backbone was evaluated." } };
    }
    let label = if view.label.is_empty() {
        "no label".to_string()
    } else {
        format!("“{}”", view.label)
    };
    let k = view.k;
    let values = |get: &dyn Fn(&CompareModel) -> Option<f64>| -> Vec<Option<f64>> {
        models.iter().map(|(_, m)| get(m)).collect()
    };
    let cv_keys: BTreeSet<&String> = models.iter().flat_map(|(_, m)| m.cv.keys()).collect();
    // The headline figure of each column, from the data ladder.
    let headlines: Vec<Option<(f64, f64, f64)>> = models
        .iter()
        .map(|(c, _)| {
            let p = view.ladder.iter().find(|p| p.id == c.key)?;
            Some((p.headline?, p.headline_low?, p.headline_high?))
        })
        .collect();
    let headline_name = if view.headline_name.is_empty() {
        crate::head::HEADLINE_NAME
    } else {
        view.headline_name.as_str()
    };
    html! {
        section.card {
            h2 { "How well do neighbours predict the label " (label) "?" }
            table.metrics {
                thead {
                    tr {
                        th { "Metric" }
                        @for (column, _) in &models {
                            th data-model=(column.key) style={ "border-top:4px solid " (column.colour) } {
                                (column_th_content(column))
                            }
                        }
                    }
                }
                tbody {
                    (metric_row(&format!("Leave-one-out {k}-NN accuracy"), "loo", true, &values(&|m| m.loo_accuracy), 3))
                    (metric_row("chance: always the most frequent label", "chance", false, &values(&|m| m.chance), 3))
                    (metric_row(&format!("Precision@{k}"), "precision", true, &values(&|m| m.precision_at_k), 3))
                    (metric_row(&format!("chance: {k} random neighbours"), "chance", false, &values(&|m| m.precision_chance), 3))
                    (metric_row("Works with the label", "n", false, &values(&|m| Some(m.n as f64)), 0))
                    @if headlines.iter().any(Option::is_some) {
                        tr.group { th colspan=(models.len() + 1) { "Your taste" } }
                        tr.headline {
                            th scope="row" { (headline_name) }
                            @for h in &headlines {
                                @match h {
                                    Some((v, a, b)) => td { strong { (percent(*v)) } " " span.muted { "(" (percent(*a)) " … " (percent(*b)) ")" } },
                                    None => td { "—" },
                                }
                            }
                        }
                    }
                    @if !cv_keys.is_empty() {
                        tr.group { th colspan=(models.len() + 1) { "Taste head, cross-validated" } }
                        @for key in &cv_keys {
                            (metric_row(cv_label(key), "cv", false, &values(&|m| m.cv.get(*key).copied()), 3))
                        }
                    }
                }
            }
        }
    }
}

/// The title of backbone `key` among `columns` (the key itself when it is
/// not a column).
fn title_of<'a>(columns: &'a [Column<'a>], key: &'a str) -> &'a str {
    columns
        .iter()
        .find(|c| c.key == key)
        .map_or(key, Column::title)
}

/// A confidence level as a percentage without needless decimals (`95%`,
/// `99.9%`).
fn level(x: f64) -> String {
    if !x.is_finite() {
        return "—".to_string();
    }
    let p = format!("{:.1}", x * 100.0);
    format!("{}%", p.strip_suffix(".0").unwrap_or(&p))
}

fn comparison_table(comparisons: &[PairComparison], columns: &[Column<'_>]) -> Markup {
    html! {
        section.card.comparisons {
            h2 { "Paired comparisons" }
            p.muted {
                "Each row is the difference b − a between two backbones on one metric, measured \
                 on the same items, with its confidence interval; it is significant when the \
                 interval excludes 0."
            }
            table.metrics.pairs {
                thead {
                    tr {
                        th { "Metric" }
                        th { "b − a" }
                        th { "Difference" }
                        th { "Interval" }
                        th { "Level" }
                        th { "Significant" }
                    }
                }
                tbody {
                    @for c in comparisons {
                        tr class=[c.significant.then_some("significant")] {
                            th scope="row" { (c.metric) }
                            td.pair { (title_of(columns, &c.b)) " − " (title_of(columns, &c.a)) }
                            td.diff { (signed(c.diff, 3)) }
                            td.interval { "[" (signed(c.ci_low, 3)) ", " (signed(c.ci_high, 3)) "]" }
                            td.level { (level(c.ci_level)) }
                            td { @if c.significant { "yes" } @else { "no" } }
                        }
                    }
                }
            }
        }
    }
}

fn agreement_section(view: &CompareView, columns: &[Column<'_>]) -> Markup {
    let n_models = columns
        .iter()
        .filter(|c| view.models.contains_key(c.key))
        .count();
    let pairs: &[PairAgreement] = &view.agreements;
    html! {
        section.card {
            h2 { "Do the backbones see the same neighbours?" }
            @if n_models > 2 && !pairs.is_empty() {
                p.muted {
                    "Mean share of each work's " (view.k) " nearest neighbours two backbones \
                     agree on, per pair, next to what two unrelated embeddings would share."
                }
                table.metrics.agreements {
                    thead { tr { th { "Backbones" } th { "Shared neighbours" } th { "Unrelated spaces" } } }
                    tbody {
                        @for p in pairs {
                            tr {
                                th scope="row" { (title_of(columns, &p.a)) " and " (title_of(columns, &p.b)) }
                                td.agreement { (pct(p.agreement)) }
                                td { (pct(p.chance)) }
                            }
                        }
                    }
                }
            } @else {
                p {
                    "On average the two backbones share "
                    strong.agreement { (pct(view.neighbour_agreement)) }
                    " of each work's " (view.k) " nearest neighbours ("
                    (num(view.neighbour_agreement, 3))
                    "); two unrelated embeddings would share about "
                    (pct(view.neighbour_agreement_chance)) "."
                }
            }
        }
    }
}

// ----- shared pieces ----------------------------------------------------------------------

/// The warnings of a view, prominent at the top of the page; nothing when
/// there are none.
fn warnings(warnings: &[String]) -> Markup {
    html! {
        @if !warnings.is_empty() {
            section.warnings aria-label="Warnings" {
                h2 { @if warnings.len() == 1 { "Warning" } @else { "Warnings" } }
                ul { @for w in warnings { li { (w) } } }
            }
        }
    }
}

fn generated(p: &Provenance) -> String {
    if p.generated_at == 0 {
        "at an unrecorded time".to_string()
    } else {
        utc_datetime(p.generated_at)
    }
}

/// One line under the title: when, from which store, with which head.
fn made_line(p: &Provenance) -> Markup {
    html! {
        p.made {
            "Generated " (generated(p))
            @if !p.store.is_empty() { " from the store " code.store { (p.store) } }
            @if let Some(kind) = &p.head_kind { " · taste head: " strong.head-kind { (kind) } }
        }
    }
}

/// The provenance in full: the backbones (name, description, resolution,
/// weights), the head, the store, the time and the version.
fn footer(p: &Provenance, columns: &[Column<'_>]) -> Markup {
    let version = if p.artlens_version.is_empty() {
        "(version not recorded)"
    } else {
        p.artlens_version.as_str()
    };
    html! {
        footer {
            section.provenance aria-label="Provenance" {
                h2 { "How this report was made" }
                dl.facts {
                    div { dt { "Generated" } dd.generated { (generated(p)) } }
                    div {
                        dt { "Store" }
                        dd.store { @if p.store.is_empty() { "not recorded" } @else { code { (p.store) } } }
                    }
                    div { dt { "Taste head" } dd.head { (p.head_kind.as_deref().unwrap_or("none")) } }
                    div { dt { "artlens" } dd.version { (version) } }
                }
                @if !p.backbones.is_empty() {
                    table.backbones {
                        thead {
                            tr { th { "Backbone" } th { "Description" } th { "Input" } th { "Weights" } th { "Key" } }
                        }
                        tbody {
                            @for b in &p.backbones {
                                @let colour = columns.iter().find(|c| c.key == b.id).map(|c| c.colour);
                                tr data-model=(b.id) {
                                    th scope="row" {
                                        @if let Some(c) = colour { span.swatch style={ "background:" (c) } {} }
                                        (if b.display_name.is_empty() { &b.id } else { &b.display_name })
                                    }
                                    td { (b.description) }
                                    td { (b.resolution) " px" }
                                    td { code { (b.hub_id) } }
                                    td { code { (b.id) } }
                                }
                            }
                        }
                    }
                }
            }
            p { "Made by artlens " (version) ". This page is self-contained: it loads nothing from anywhere." }
        }
    }
}

/// The whole document around `body`; `extra_css` (the thumbnail rules) goes
/// into the one `<style>` element after the page's own style.
fn page(title: &str, extra_css: Option<PreEscaped<String>>, body: Markup) -> String {
    let style = html! { (PreEscaped(STYLE)) (PreEscaped(MAP_STYLE)) @if let Some(css) = extra_css { (css) } };
    document(title, CONTENT_SECURITY_POLICY, style, body)
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
.sub, .muted, .made { color: var(--muted); }
.made { margin: 4px 0 0; font-size: 13px; }
code { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px; word-break: break-all; }
main { padding: 8px 32px 32px; }
footer { padding: 12px 32px 24px; color: var(--muted); font-size: 13px; }
.warnings { background: #fdecea; border: 1px solid #f4b8b2; border-left: 6px solid var(--warn); border-radius: 6px; padding: 12px 18px; margin: 0 0 22px; color: var(--warn); }
.warnings h2 { font-size: 17px; word-break: normal; }
.warnings ul { margin: 4px 0 0; padding-left: 20px; font-weight: 600; }
.provenance { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 14px 20px; margin: 0 0 12px; color: var(--ink); }
.provenance h2 { font-size: 16px; word-break: normal; }
.facts { display: flex; flex-wrap: wrap; gap: 8px 32px; margin: 0 0 10px; }
.facts dt { font-size: 12px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); }
.facts dd { margin: 0; }
table.backbones { border-collapse: collapse; }
.backbones th, .backbones td { padding: 5px 12px 5px 0; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
.backbones thead th { color: var(--muted); font-weight: 600; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px; }
.query, .card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 18px 20px; margin: 0 0 22px; }
.query-head { display: flex; gap: 20px; align-items: flex-start; margin-bottom: 14px; }
.query-thumb { margin: 0; flex: none; }
.path { margin: 0 0 8px; color: var(--muted); font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 13px; word-break: break-all; }
.overlap { margin: 6px 0 0; }
.error { color: var(--warn); font-weight: 600; }
.thumb { display: block; border-radius: 4px; background-color: #e8ebee; background-size: 100% 100%; background-repeat: no-repeat; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
.placeholder { display: flex; align-items: center; justify-content: center; padding: 8px; border: 2px dashed #c2c9ce; border-radius: 4px; background: #f7f8f9; color: var(--muted); font-size: 12px; text-align: center; overflow: hidden; word-break: break-word; }
.models { display: grid; gap: 18px; }
.model { border: 1px solid var(--line); border-top: 4px solid var(--line); border-radius: 8px; padding: 14px 16px; min-width: 0; }
.detail { font-weight: 400; font-size: 13px; color: var(--muted); }
.verdict { font-size: 21px; font-weight: 600; background: #e8f1fb; border-left: 6px solid var(--accent); border-radius: 6px; padding: 14px 18px; margin: 4px 0 22px; }
table.metrics { border-collapse: collapse; min-width: 560px; font-variant-numeric: tabular-nums; }
.metrics th, .metrics td { padding: 7px 14px; border-bottom: 1px solid var(--line); text-align: right; }
.metrics th[scope="row"], .metrics thead th:first-child, .metrics .group th { text-align: left; font-weight: 400; }
.metrics thead th { font-weight: 700; vertical-align: bottom; }
.metrics tr.chance th, .metrics tr.chance td { color: var(--muted); font-size: 13px; }
.metrics td.best { font-weight: 700; }
.metrics .group th { padding-top: 14px; font-weight: 700; }
.pairs td.pair { text-align: left; }
.pairs tr.significant td { font-weight: 700; }
.chart { max-width: 100%; height: auto; }
.chart .grid { stroke: #e3e7ea; stroke-width: 1; }
.chart .grid.zero { stroke: #9aa4ab; }
.chart .axis, .chart .tickmark { stroke: #5f6b73; stroke-width: 1; }
.chart text { font-size: 12px; fill: var(--ink); }
.chart .axis-title { font-size: 13px; fill: var(--muted); }
.chart .point-label { font-size: 12px; fill: var(--ink); }
.ladder-list { margin: 0.5em 0 0 1.2em; padding: 0; }
.chart .legend text { font-size: 14px; }
pre { overflow: auto; max-height: 480px; background: #f7f8f9; padding: 12px; border-radius: 6px; font-size: 12px; }
"#;
