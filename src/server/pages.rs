//! The HTML pages: server-rendered with maud (every spliced value escaped),
//! no inline script or style (the Content-Security-Policy forbids both),
//! and one small vanilla script, `assets/app.js`, for what needs the
//! keyboard or the API (rating, pairwise choices, the upload, live index
//! progress). Each page is usable with the keyboard alone; the keys are
//! written on the page.

use std::collections::BTreeMap;

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};

use artlens::app::{ExplainRequest, GallerySort, GalleryView, ScoreRequest, WorkView};
use artlens::report::{ModelScore, ScoredImage};

use super::api::{
    blocking, compare_request, gallery_request, shared_ids, work_id, ApiError, Params,
};
use super::Shared;

const APP_JS: &str = include_str!("assets/app.js");
const APP_CSS: &str = include_str!("assets/app.css");

/// An error as a page: the same status as the API's, the message escaped.
pub struct PageError(ApiError);

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        PageError(e)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let ApiError(status, msg) = self.0;
        let body = layout(
            &format!("{} — artlens", status.as_u16()),
            "",
            "error",
            html! {
                h1 { (status.as_u16()) " " (status.canonical_reason().unwrap_or("")) }
                p.error { (msg) }
                p { a href="/" { "Back to the gallery" } }
            },
        );
        (status, Html(body.into_string())).into_response()
    }
}

pub type PageResult = Result<Response, PageError>;

/// The frame of every page: navigation, the stylesheet and the script.
fn layout(title: &str, active: &str, page: &str, body: Markup) -> Markup {
    let nav = [
        ("/", "gallery", "Gallery"),
        ("/rate", "rate", "Rate"),
        ("/rate?mode=pair", "pair", "Which do you prefer?"),
        ("/score", "score", "Score an image"),
        ("/compare", "compare", "Compare backbones"),
        ("/index", "index", "Index"),
    ];
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                link rel="stylesheet" href="/assets/app.css";
                script src="/assets/app.js" defer {}
            }
            body data-page=(page) {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/" { "artlens" }
                    nav aria-label="Main" {
                        @for (href, key, label) in nav {
                            @if key == active {
                                a href=(href) aria-current="page" { (label) }
                            } @else {
                                a href=(href) { (label) }
                            }
                        }
                    }
                }
                main #main tabindex="-1" { (body) }
                div #toast role="status" aria-live="polite" {}
            }
        }
    }
}

fn page(title: &str, active: &str, name: &str, body: Markup) -> Response {
    Html(layout(&format!("{title} — artlens"), active, name, body).into_string()).into_response()
}

/// `GET /`: the gallery, one page of thumbnails with filters and sorts.
pub async fn gallery(State(st): State<Shared>, RawQuery(q): RawQuery) -> PageResult {
    let params = Params::parse(q)?;
    let req = gallery_request(&st, &params)?;
    let c = st.collection.clone();
    let view = blocking(move || c.gallery(&req)).await?;
    Ok(page(
        "Gallery",
        "gallery",
        "gallery",
        gallery_body(&view, &params),
    ))
}

/// A gallery URL with `offset` changed and the other parameters kept.
fn gallery_link(params: &Params, offset: usize) -> String {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for key in ["where", "rated", "sort", "limit"] {
        for v in params.all(key) {
            pairs.push((key.into(), v));
        }
    }
    pairs.push(("offset".into(), offset.to_string()));
    format!(
        "/?{}",
        serde_urlencoded::to_string(&pairs).unwrap_or_default()
    )
}

fn gallery_body(v: &GalleryView, params: &Params) -> Markup {
    let filter = params.all("where").join(" ");
    let rated = params.get("rated").unwrap_or("");
    let mut sorts: Vec<(String, String)> = vec![
        ("id".into(), "In order of indexing".into()),
        ("suggested".into(), "Suggested to rate next".into()),
    ];
    for h in &v.heads {
        sorts.push((format!("score:{h}"), format!("Predicted score ({h})")));
    }
    let from = if v.total == 0 { 0 } else { v.offset + 1 };
    let to = (v.offset + v.works.len()).min(v.total);
    html! {
        h1 { "Gallery" }
        form.filters method="get" action="/" {
            label { "Metadata " input name="where" value=(filter) placeholder="style=Impressionism" size="24"; }
            label { "Ratings "
                select name="rated" {
                    option value="" selected[rated.is_empty()] { "all works" }
                    option value="true" selected[rated == "true"] { "rated" }
                    option value="false" selected[rated == "false"] { "unrated" }
                }
            }
            label { "Order "
                select name="sort" {
                    @for (key, label) in &sorts {
                        option value=(key) selected[*key == v.sort] { (label) }
                    }
                }
            }
            button type="submit" { "Show" }
        }
        @if let Some(m) = &v.message { p.note { (m) } }
        p.count #count { "Works " (from) "–" (to) " of " (v.total) ". " span.keys { "Keys: arrows move, Enter opens, r rates from here, n / p next / previous page." } }
        ul.grid #grid {
            @for w in &v.works {
                li {
                    a.card href={ "/works/" (w.work.id) } data-id=(w.work.id) {
                        img src={ "/api/works/" (w.work.id) "/thumb?size=256" } alt=(w.title) loading="lazy" decoding="async" width="256" height="256";
                        span.title { (w.title) }
                        span.meta {
                            @if let Some(r) = w.work.rating { span.rating { "rated " (fmt_num(r)) } } @else { span.unrated { "unrated" } }
                            @if let Some(p) = w.predicted { " · predicted " (format!("{p:.2}")) }
                        }
                    }
                }
            }
        }
        nav.pager aria-label="Pages" {
            @if v.offset > 0 {
                a #prev rel="prev" href=(gallery_link(params, v.offset.saturating_sub(v.limit))) { "← Previous" }
            }
            @if v.offset + v.limit < v.total {
                a #next rel="next" href=(gallery_link(params, v.offset + v.limit)) { "Next →" }
            }
        }
    }
}

/// A rating as people write it: no trailing `.0`.
fn fmt_num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{x:.0}")
    } else {
        format!("{x:.2}")
    }
}

/// `GET /works/{id}`: one work, its rating, its neighbours per backbone side
/// by side (shared ones marked) and its score explained.
pub async fn work(State(st): State<Shared>, Path(id): Path<String>) -> PageResult {
    let id = work_id(&id)?;
    let (c, rater) = (st.collection.clone(), st.rater.clone());
    let (view, titles, score) = blocking(move || {
        if c.store().artwork_by_id(id)?.is_none() {
            return Ok(None);
        }
        let view = c.show(&rater, &id.to_string(), 8, &mut |_| {})?;
        let mut titles = BTreeMap::new();
        for n in view.neighbours.values().flatten().chain([&view.id]) {
            if let Some(a) = c.store().artwork_by_id(*n)? {
                titles.insert(*n, artlens::app::work_title(&a));
            }
        }
        let score = c
            .score(
                &ScoreRequest {
                    images: vec![id.to_string().into()],
                    k: 5,
                    backbones: None,
                    ood_percentile: artlens::explain::DEFAULT_OOD_PERCENTILE,
                    rater,
                },
                &mut |_| {},
            )
            .map_err(|e| e.to_string())
            .and_then(|v| {
                v.images
                    .into_iter()
                    .next()
                    .ok_or_else(|| "nothing scored".to_string())
            })
            .and_then(|i| match &i.error {
                Some(e) => Err(e.clone()),
                None => Ok(i),
            });
        Ok(Some((view, titles, score)))
    })
    .await?
    .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("no work with id {id}")))?;
    let title = titles.get(&view.id).cloned().unwrap_or_default();
    Ok(page(
        &title,
        "",
        "work",
        work_body(&view, &title, &titles, &score),
    ))
}

fn work_body(
    v: &WorkView,
    title: &str,
    titles: &BTreeMap<u64, String>,
    score: &Result<ScoredImage, String>,
) -> Markup {
    let shared = shared_ids(&v.neighbours);
    let several = v.neighbours.len() > 1;
    html! {
        h1 { (title) }
        div.work {
            figure.large {
                img src={ "/api/works/" (v.id) "/image" } alt=(title);
            }
            section.about {
                section.rating-box #rating-box data-id=(v.id) data-rating=(v.rating.map(|r| r.to_string()).unwrap_or_default()) {
                    h2 { "Your rating" }
                    p #rating-now { @if let Some(r) = v.rating { "Rated " (fmt_num(r)) } @else { "Not rated yet" } }
                    form #rating-form {
                        label for="rating-input" { "Score " }
                        input #rating-input type="number" step="any" name="score" value=(v.rating.map(fmt_num).unwrap_or_default());
                        button type="submit" { "Set" }
                        button #rating-remove type="button" { "Remove" }
                    }
                    p.keys { "Keys: 1–9 and 0 (= 10) rate, Delete removes, u undoes." }
                }
                h2 { "About" }
                table.meta {
                    tr { th scope="row" { "Id" } td { (v.id) } }
                    tr { th scope="row" { "Size" } td { (v.width) " × " (v.height) " px, " (v.size) " bytes" } }
                    @for (k, val) in &v.metadata {
                        tr { th scope="row" { (k) } td { (val) } }
                    }
                    @for p in &v.paths {
                        tr { th scope="row" { "File" } td { code { (p) } } }
                    }
                    tr { th scope="row" { "Content hash" } td { code { (v.hash) } } }
                }
                p { a href={ "/rate?start=" (v.id) } { "Rate from here" } }
            }
        }
        section.neighbours {
            h2 { "Nearest works, per backbone" }
            @if several { p.note { "Works marked " span.badge { "shared" } " are among the nearest for more than one backbone." } }
            div.columns {
                @for (backbone, ids) in &v.neighbours {
                    section.column {
                        h3 { (backbone) }
                        ol.neighbour-list {
                            @for n in ids {
                                @let is_shared = several && shared.get(n).copied().unwrap_or(0) > 1;
                                li.shared[is_shared] {
                                    a href={ "/works/" (n) } {
                                        img src={ "/api/works/" (n) "/thumb?size=128" } alt=(titles.get(n).map(String::as_str).unwrap_or("")) loading="lazy" width="128" height="128";
                                        span.title { (titles.get(n).map(String::as_str).unwrap_or("")) }
                                        @if is_shared { span.badge { "shared" } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        section.explain #explain {
            h2 { "What the taste heads say" }
            @match score {
                Ok(s) => { (score_models(s)) }
                Err(e) => { p.note { "No score yet: " (e) } p { "Rate some works, then train on the " a href="/compare" { "compare page" } "." } }
            }
        }
        section.maps {
            h2 { "Where it looks like its nearest rated work" }
            p.note { "Per backbone: which patches of each image match the other, and where the CLS token attends (the " code { "explain --html" } " report)." }
            iframe #maps src={ "/works/" (v.id) "/maps" } loading="lazy" title="Patch matches and attention, per backbone" {}
        }
    }
}

/// Each backbone's score of one image with its references (the work page;
/// the score page draws the same from JSON).
fn score_models(s: &ScoredImage) -> Markup {
    html! {
        div.columns {
            @for (backbone, m) in &s.models {
                (model_score(backbone, m))
            }
        }
        @if let Some(o) = s.reference_overlap { p.note { "The backbones share " (o) " of their references." } }
    }
}

fn model_score(backbone: &str, m: &ModelScore) -> Markup {
    html! {
        section.column.model data-backbone=(backbone) {
            h3 { (backbone) }
            p.score { "Score " strong { (format!("{:.2}", m.score)) }
                @if let Some(k) = m.knn_estimate { " · kNN estimate " (format!("{k:.2}")) } }
            @if m.out_of_distribution { p.ood { "Out of distribution: far from every rated work; the score is a guess." } }
            @if let (Some(intercept), Some(rest)) = (m.intercept, m.contribution_rest) {
                h4 { "What made the score" }
                table.contrib {
                    tr { td { "mean rating (intercept)" } td.num { (format!("{intercept:+.3}")) } }
                    @for c in &m.contributions {
                        tr.up[c.contribution >= 0.0].down[c.contribution < 0.0] {
                            td { a href={ "/works/" (c.id) } { "#" (c.id) } " rated " (fmt_num(c.rating)) ", similarity " (format!("{:.3}", c.similarity)) }
                            td.num { (format!("{:+.3}", c.contribution)) }
                        }
                    }
                    tr { td { "the other " (m.contribution_rest_count.unwrap_or(0)) " rated works together" } td.num { (format!("{rest:+.3}")) } }
                }
            } @else if let Some(note) = &m.contributions_note {
                p.note { (note) }
            }
            h4 { "Historical references" }
            ol.refs {
                @for r in &m.references {
                    li { a href={ "/works/" (r.id) } {
                        img src={ "/api/works/" (r.id) "/thumb?size=128" } alt=(r.metadata.get("title").cloned().or_else(|| r.path.clone()).unwrap_or_default()) width="96" height="96" loading="lazy";
                        span { "rated " (fmt_num(r.rating)) " · similarity " (format!("{:.3}", r.similarity)) }
                    } }
                }
            }
        }
    }
}

/// `GET /rate` (`?mode=pair` for pairwise): one work at a time, rated with
/// the keys; the script does the rest.
pub async fn rate(State(_st): State<Shared>, RawQuery(q): RawQuery) -> PageResult {
    let params = Params::parse(q)?;
    let pair = params.get("mode") == Some("pair");
    if let Some(s) = params.get("sort") {
        GallerySort::parse(s).map_err(ApiError::from)?;
    }
    let filters = params.all("where");
    let rated = params.get("rated").unwrap_or("");
    let sort = params.get("sort").unwrap_or("id");
    let start = params.get("start").unwrap_or("");
    let body = if pair {
        html! {
            h1 { "Which do you prefer?" }
            p.keys { "Keys: ← the left one, → the right one, s skip this pair." }
            div #pair data-where=(filters.join("\u{1f}")) data-rated=(rated) {
                figure.choice #left { img alt=""; figcaption {} }
                figure.choice #right { img alt=""; figcaption {} }
            }
            p #pair-status role="status" { "Loading…" }
        }
    } else {
        html! {
            h1 { "Rate" }
            p.keys { "Keys: 1–9 and 0 (= 10) rate, ← / → previous / next, u undoes the last rating." }
            div #rater data-where=(filters.join("\u{1f}")) data-rated=(rated) data-sort=(sort) data-start=(start) {
                figure.large #current { img alt=""; figcaption {} }
                p #rate-status role="status" { "Loading…" }
            }
        }
    };
    Ok(page(
        if pair { "Which do you prefer?" } else { "Rate" },
        if pair { "pair" } else { "rate" },
        if pair { "pair" } else { "rate" },
        body,
    ))
}

/// `GET /score`: choose or drop an image; each backbone's score and
/// references appear below.
pub async fn score(State(_st): State<Shared>) -> PageResult {
    Ok(page(
        "Score an image",
        "score",
        "score",
        html! {
            h1 { "Score an image" }
            p { "The image is scored by each backbone's taste head and shown with the rated works it draws on. It is not added to the collection." }
            form #score-form {
                label #drop for="score-file" {
                    "Choose an image, or drop one here"
                    input #score-file type="file" name="image" accept="image/*";
                }
            }
            p #score-status role="status" {}
            div #score-result {}
        },
    ))
}

/// `GET /compare`: the verdict, metric tables and learning curve (the
/// `compare --html` report, in a frame), and a button to retrain.
pub async fn compare(State(_st): State<Shared>) -> PageResult {
    Ok(page(
        "Compare backbones",
        "compare",
        "compare",
        html! {
            h1 { "Compare backbones" }
            p { button #retrain type="button" { "Retrain on my ratings" } " " span #train-status role="status" {} }
            iframe #report src="/compare/report" title="Comparison report: verdict, metrics and learning curve" {}
        },
    ))
}

/// `GET /compare/report`: `artlens compare --html` for the store as it is.
pub async fn compare_report(State(st): State<Shared>, RawQuery(q): RawQuery) -> Response {
    let req = match compare_request(
        &st,
        &Params::parse(q).unwrap_or_else(|_| Params::parse(None).unwrap()),
    ) {
        Ok(r) => r,
        Err(e) => return report_error(e),
    };
    let c = st.collection.clone();
    match blocking(move || c.compare(&req, &mut |_| {})).await {
        Ok(view) => report(artlens::report::render_compare_html(&view)),
        Err(e) => report_error(e),
    }
}

/// `GET /works/{id}/maps`: `artlens explain ID --html` — where the work and
/// each backbone's nearest rated work look alike (patch matches, CLS
/// attention), framed by the work page.
pub async fn work_maps(State(st): State<Shared>, Path(id): Path<String>) -> Response {
    let id = match work_id(&id) {
        Ok(id) => id,
        Err(e) => return report_error(e),
    };
    let (c, rater) = (st.collection.clone(), st.rater.clone());
    let made = blocking(move || {
        if c.store().artwork_by_id(id)?.is_none() {
            return Ok(None);
        }
        let req = ExplainRequest {
            query: id.to_string(),
            reference: None,
            backbones: None,
            rater,
        };
        c.explain(&req, &mut |_| {}).map(Some)
    })
    .await;
    match made {
        Ok(Some(view)) => report(artlens::report::render_explain_html(&view)),
        Ok(None) => report_error(ApiError(
            StatusCode::NOT_FOUND,
            format!("no work with id {id}"),
        )),
        Err(e) => report_error(e),
    }
}

/// A self-contained report, marked for its own policy.
fn report(html: String) -> Response {
    let mut r = Html(html).into_response();
    r.headers_mut()
        .insert(super::security::REPORT_MARK, HeaderValue::from_static("1"));
    r
}

/// An error inside the report frame (the frame's own policy applies: no
/// stylesheet from the app, so it is plain).
fn report_error(e: ApiError) -> Response {
    let ApiError(status, msg) = e;
    let mut r = report(
        html! {
            (DOCTYPE)
            html lang="en" { head { meta charset="utf-8"; title { "Nothing to show yet" } }
            body { h1 { "Nothing to show yet" } p #report-error { (msg) } } }
        }
        .into_string(),
    );
    *r.status_mut() = status;
    r
}

/// `GET /index`: start indexing a folder under the allowed roots, with live
/// progress.
pub async fn index(State(st): State<Shared>) -> PageResult {
    let roots: Vec<String> = st
        .allow_dirs
        .iter()
        .map(|r| r.display().to_string())
        .collect();
    Ok(page(
        "Index",
        "index",
        "index",
        html! {
            h1 { "Index a folder" }
            p { "Embeds every new image under the folder with "
                (st.index_backbones.iter().map(|b| b.name()).collect::<Vec<_>>().join(", "))
                ". The gallery and every other page keep working meanwhile." }
            @if roots.is_empty() {
                p.note { "This server may index no folder: restart it with --allow-dir DIR." }
            } @else {
                p { "Folders this server may index: " @for (i, r) in roots.iter().enumerate() { @if i > 0 { ", " } code { (r) } } }
            }
            form #index-form {
                label for="index-dir" { "Folder " }
                input #index-dir name="dir" size="60" value=(roots.first().cloned().unwrap_or_default());
                button type="submit" { "Index" }
            }
            section #job hidden {
                progress #job-bar max="1" value="0" {}
                p #job-counts role="status" {}
                p #job-phase {}
                h2 { "Failures" }
                ul #job-failures {}
            }
        },
    ))
}

/// `GET /assets/{name}`: the script and the stylesheet, compiled into the
/// binary, revalidated by ETag.
pub async fn asset(Path(name): Path<String>, headers: HeaderMap) -> Response {
    let (body, mime) = match name.as_str() {
        "app.js" => (APP_JS, "text/javascript; charset=utf-8"),
        "app.css" => (APP_CSS, "text/css; charset=utf-8"),
        _ => {
            return super::security::refuse(StatusCode::NOT_FOUND, "no such asset");
        }
    };
    let etag = format!("\"{}\"", &blake3::hash(body.as_bytes()).to_hex()[..24]);
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        == Some(etag.as_str())
    {
        return StatusCode::NOT_MODIFIED.into_response();
    }
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(mime)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (header::ETAG, HeaderValue::from_str(&etag).unwrap()),
        ],
        body,
    )
        .into_response()
}

/// Any other path: a 404 page.
pub async fn not_found() -> PageError {
    PageError(ApiError(StatusCode::NOT_FOUND, "no such page".into()))
}
