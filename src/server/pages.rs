//! The HTML pages: server-rendered with maud (every spliced value escaped),
//! no inline script or style (the Content-Security-Policy forbids both),
//! and one small vanilla script, `assets/app.js`, for what needs the
//! keyboard or the API (rating, pairwise choices, the upload, live index
//! progress). Each page is usable with the keyboard alone; the keys are
//! written on the page.

use std::collections::BTreeMap;

use axum::extract::{Multipart, Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};

use artlens::app::views::FoundWork;
use artlens::app::{
    AnswerView, ExplainRequest, GallerySort, GalleryView, ImageRef, RatingScale, ScoreRequest,
    SimilarView, WorkView,
};
use artlens::head::percent;
use artlens::report::{model_score_html, ModelScore, ScoredImage, ServedPictures, MODEL_SCORE_CSS};

use super::api::{
    ask, blocking, compare_request, dups_request, gallery_request, shared_ids, similar_request,
    work_id, ApiError, Params,
};
use super::Shared;

const APP_JS: &str = include_str!("assets/app.js");
const APP_CSS: &str = include_str!("assets/app.css");
const MAP_JS: &str = include_str!("assets/map.js");

/// An error message as a page shows it: a sentence, capitalised and ended.
/// The library writes messages to follow `error: ` on the command line
/// (lower case, no full stop), and the API keeps them so.
fn sentence(msg: &str) -> String {
    let mut chars = msg.trim_end().chars();
    let Some(first) = chars.next() else {
        return String::new();
    };
    let mut out: String = first.to_uppercase().chain(chars).collect();
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

/// An error as a page: the same status as the API's, the message escaped.
pub struct PageError(ApiError);

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        PageError(e)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let ApiError {
            status,
            message: msg,
            ..
        } = self.0;
        let body = layout(
            &format!("{} — artlens", status.as_u16()),
            "",
            "error",
            html! {
                h1 { (status.as_u16()) " " (status.canonical_reason().unwrap_or("")) }
                p.error { (sentence(&msg)) }
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
        ("/compare", "compare", "Your answer"),
        ("/map", "map", "Map"),
        ("/score", "score", "Score an image"),
        ("/dups", "dups", "Duplicates"),
        ("/index", "index", "Add works"),
    ];
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
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
                    button #theme type="button" aria-pressed="false" title="Dark background for viewing art" { "Dark" }
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

/// `GET /`: the gallery, one page of thumbnails with filters and sorts. On
/// a store without works it is the first-run page: a folder to index, with
/// live progress. A filter a person mistyped is said on the page, above the
/// form it came from, not as an error page.
pub async fn gallery(State(st): State<Shared>, RawQuery(q): RawQuery) -> PageResult {
    let params = Params::parse(q)?;
    let made = match gallery_request(&st, &params) {
        Ok(req) => {
            let c = st.collection.clone();
            blocking(move || c.gallery(&req)).await
        }
        Err(e) => Err(e),
    };
    let body = match made {
        Ok(view) if view.total == 0 && !filtering(&params) => first_run(&st),
        Ok(view) => gallery_body(&view, &params),
        Err(ApiError {
            status,
            message: msg,
            ..
        }) if status == StatusCode::BAD_REQUEST => gallery_form(&params, None, Some(&msg)),
        Err(e) => return Err(e.into()),
    };
    Ok(page("Gallery", "gallery", "gallery", body))
}

/// True when the gallery is narrowed by anything a person chose.
fn filtering(params: &Params) -> bool {
    ["where", "rated", "text"]
        .iter()
        .any(|k| !params.all(k).is_empty())
}

/// The first page of a store without works: what artlens does, and the
/// folder to index.
fn first_run(st: &Shared) -> Markup {
    html! {
        section.welcome {
            h1 { "Welcome to artlens" }
            p { "artlens looks at your collection with several vision models, learns your taste from a few dozen ratings, and tells you which model understands it best." }
            p { strong { "Start by adding your works." } " Indexing reads every image in the folder once; the pages work while it runs." }
            (index_form(st))
        }
    }
}

/// The gallery's parameters as pairs, without `offset` (a new selection
/// starts at the first page).
fn gallery_pairs(params: &Params) -> Vec<(String, String)> {
    params
        .pairs()
        .iter()
        .filter(|(k, v)| k != "offset" && !v.trim().is_empty())
        .cloned()
        .collect()
}

/// A gallery URL with `offset` changed and the other parameters kept.
fn gallery_link(params: &Params, offset: usize) -> String {
    let mut pairs = gallery_pairs(params);
    pairs.push(("offset".into(), offset.to_string()));
    format!(
        "/?{}",
        serde_urlencoded::to_string(&pairs).unwrap_or_default()
    )
}

/// The gallery URL with the selection `KEY=VALUE` added, or removed when
/// it is there.
fn toggle_link(params: &Params, key: &str, value: &str) -> String {
    let selection = format!("{key}={value}");
    let mut pairs = gallery_pairs(params);
    let before = pairs.len();
    pairs.retain(|(k, v)| !(k == "where" && v.trim() == selection));
    if pairs.len() == before {
        pairs.push(("where".into(), selection));
    }
    format!(
        "/?{}",
        serde_urlencoded::to_string(&pairs).unwrap_or_default()
    )
}

/// The search form, the facets as chips, and an inline message when the
/// last selection was not understood (`view` is `None` then).
fn gallery_form(params: &Params, view: Option<&GalleryView>, error: Option<&str>) -> Markup {
    let rated = params.get("rated").unwrap_or("");
    let text = params.get("text").unwrap_or("");
    let sort = view.map(|v| v.sort.as_str()).unwrap_or("id");
    let sorts: Vec<(String, String)> = match view {
        Some(v) => v
            .sorts
            .iter()
            .map(|o| (o.name.clone(), o.label.clone()))
            .collect(),
        None => vec![("id".into(), "Order added".into())],
    };
    // Selections made with the chips travel with the form as hidden fields.
    let selected = params.all("where");
    html! {
        h1 { "Gallery" }
        (search_form(""))
        form.filters #filters method="get" action="/" {
            label { span.visually-hidden { "Search" } input #search type="search" name="text" value=(text) placeholder="Search titles, artists…" size="24"; }
            label { "Show "
                select name="rated" {
                    option value="" selected[rated.is_empty()] { "all works" }
                    option value="true" selected[rated == "true"] { "rated by you" }
                    option value="false" selected[rated == "false"] { "not rated yet" }
                }
            }
            label { "Order "
                select name="sort" {
                    @for (key, label) in &sorts {
                        option value=(key) selected[*key == sort] { (label) }
                    }
                }
            }
            @if let Some(v) = view {
                @for r in &v.ranges {
                    @if let (Some(lo), Some(hi)) = (r.min, r.max) {
                        label { (r.key) " from " input type="number" name={ "from:" (r.key) } value=(r.from.map(|x| x.to_string()).unwrap_or_default()) placeholder=(lo) min=(lo) max=(hi); }
                        label { " to " input type="number" name={ "to:" (r.key) } value=(r.to.map(|x| x.to_string()).unwrap_or_default()) placeholder=(hi) min=(lo) max=(hi); }
                    }
                }
            }
            @for w in &selected { input type="hidden" name="where" value=(w); }
            button type="submit" { "Show" }
        }
        @if let Some(e) = error { p.error #filter-error role="alert" { (e) } p { a href="/" { "Show all works" } } }
        @if let Some(v) = view {
            @if !v.facets.is_empty() {
                div.facets {
                    @for f in &v.facets {
                        div.facet role="group" aria-label=(f.key) {
                            span.facet-key { (f.key) }
                            @for val in &f.values {
                                a.chip.selected[val.selected] href=(toggle_link(params, &f.key, &val.value)) data-facet=(f.key) data-value=(val.value) aria-pressed=(val.selected) {
                                    (val.value) " " span.count { (val.count) }
                                }
                            }
                            @if f.more > 0 { span.note { "+" (f.more) " more" } }
                        }
                    }
                }
            }
        }
    }
}

fn gallery_body(v: &GalleryView, params: &Params) -> Markup {
    let from = if v.total == 0 { 0 } else { v.offset + 1 };
    let to = (v.offset + v.works.len()).min(v.total);
    let works = artlens::plain::count(v.total, "work", "works");
    html! {
        (gallery_form(params, Some(v), None))
        @if let Some(m) = &v.message { p.note { (m) } }
        @if v.total == 0 {
            p.count #count { "No works match. " a href="/" { "Show all works" } }
        } @else {
            p.count #count { (from) "–" (to) " of " (works) ". " span.keys { "Keys: arrows move, Enter opens, r rates from here, n / p next / previous page." } }
            form #more-like action="/similar" method="get" {
                button #more-like-button type="submit" { "More like these" }
                " " span.note { "pick works below (the box under each), then press it" }
            }
        }
        ul.grid #grid {
            @for w in &v.works {
                li {
                    a.card href={ "/works/" (w.work.id) } data-id=(w.work.id) {
                        img src={ "/api/works/" (w.work.id) "/thumb?size=256" } alt=(w.title) loading="lazy" decoding="async" width="256" height="256";
                        span.title { "#" (w.work.id) " " (w.title) }
                        span.meta {
                            @if let Some(r) = w.work.rating { span.rating { "your rating " (fmt_num(r)) } } @else { span.unrated { "not rated" } }
                            @if let Some(p) = w.predicted { " · predicted " (artlens::plain::score(p)) }
                        }
                    }
                    label.pick { input type="checkbox" name="id" value=(w.work.id) form="more-like"; " pick" }
                }
            }
        }
        (pager(v, params))
    }
}

/// Results per backbone on the "More like these" page.
const SIMILAR_PAGE_K: usize = 12;

/// `GET /similar?id=3&id=7&not=12&threshold=0.5&backbone=`: "more like
/// these" — the works most like the examples (moving away from the `not`
/// ones), one column per backbone, each with its similarity and the links
/// that refine the search. Without examples: how to start one, and the
/// upload form. A request the library refuses is said on the page.
pub async fn similar(State(st): State<Shared>, RawQuery(q): RawQuery) -> PageResult {
    let params = Params::parse(q)?;
    let ids = params.all("id");
    if ids.is_empty() {
        return Ok(similar_page(None, None, &params));
    }
    let mut pairs = vec![("k".to_string(), SIMILAR_PAGE_K.to_string())];
    pairs.extend(
        params
            .pairs()
            .iter()
            .filter(|(k, _)| k != "id" && k != "k")
            .cloned(),
    );
    pairs.extend(ids.iter().skip(1).map(|i| ("also".to_string(), i.clone())));
    let fields = Params::from_pairs(pairs);
    let made = match similar_request(&fields, ids.first().cloned().map(ImageRef::Work)) {
        Ok(req) => {
            let c = st.collection.clone();
            blocking(move || c.similar(&req, &mut |_| {})).await
        }
        Err(e) => Err(e),
    };
    Ok(match made {
        Ok(view) => similar_page(Some(&view), None, &params),
        Err(e) if e.status.is_client_error() => {
            similar_page(None, Some(&sentence(&e.message)), &params)
        }
        Err(e) => return Err(e.into()),
    })
}

/// `POST /similar` (multipart: the image as `image`, optional `threshold`):
/// the works most like an uploaded image, on the same page. The image is
/// decoded in memory, compared, and not stored.
pub async fn similar_upload(State(st): State<Shared>, form: Multipart) -> PageResult {
    let params = Params::from_pairs(Vec::new());
    let made = match super::api::similar_upload_view(&st, form, SIMILAR_PAGE_K).await {
        Ok(view) => similar_page(Some(&view), None, &params),
        Err(e) if e.status.is_client_error() => {
            similar_page(None, Some(&sentence(&e.message)), &params)
        }
        Err(e) => return Err(e.into()),
    };
    Ok(made)
}

/// The "More like these" page: the examples, the works moved away from,
/// the results side by side, the threshold form and the upload form.
fn similar_page(view: Option<&SimilarView>, error: Option<&str>, params: &Params) -> Response {
    let ids = params.all("id");
    let nots = params.all("not");
    let threshold = params.get("threshold").unwrap_or("").to_string();
    // The link that adds `key=id` to this search (or takes an example out).
    let link = |add: Option<(&str, u64)>, drop: Option<u64>| {
        let mut pairs: Vec<(String, String)> = params
            .pairs()
            .iter()
            .filter(|(k, v)| {
                drop.is_none_or(|d| !((k == "id" || k == "not") && *v == d.to_string()))
            })
            .cloned()
            .collect();
        if let Some((k, id)) = add {
            pairs.push((k.to_string(), id.to_string()));
        }
        format!(
            "/similar?{}",
            serde_urlencoded::to_string(&pairs).unwrap_or_default()
        )
    };
    let shown = |q: &artlens::app::QueryView| match (q.id, &q.path) {
        (Some(id), _) => format!("#{id}"),
        (None, Some(p)) => p.clone(),
        (None, None) => "?".into(),
    };
    let body = html! {
        h1 { "More like these" }
        @if let Some(e) = error { p.error #similar-error role="alert" { (e) } }
        @match view {
            None => {
                @if error.is_none() {
                    p #similar-empty { "Pick works in the " a href="/" { "gallery" } " (the small “pick” box under each) and press “More like these”, or choose an image below: every model shows the works it finds most like them, side by side." }
                }
            }
            Some(v) => {
                div.similar-query #similar-query {
                    span { "Like " }
                    @for q in std::iter::once(&v.query).chain(&v.examples) {
                        span.example data-id=[q.id] {
                            @if let Some(id) = q.id {
                                img src={ "/api/works/" (id) "/thumb?size=128" } alt=(shown(q)) width="64" height="64";
                                a href={ "/works/" (id) } { (shown(q)) }
                                @if ids.len() > 1 { " " a.drop href=(link(None, Some(id))) aria-label={ "Remove " (shown(q)) } { "×" } }
                            } @else {
                                (shown(q)) " (your image, not stored)"
                            }
                        }
                    }
                    @if !v.not.is_empty() {
                        span { " but not like " }
                        @for q in &v.not {
                            span.not-example data-id=[q.id] {
                                (shown(q))
                                @if let Some(id) = q.id { " " a.drop href=(link(None, Some(id))) aria-label={ "Stop moving away from " (shown(q)) } { "×" } }
                            }
                        }
                    }
                }
                @if v.query.id.is_some() {
                    form.similar-threshold method="get" action="/similar" {
                        @for i in &ids { input type="hidden" name="id" value=(i); }
                        @for n in &nots { input type="hidden" name="not" value=(n); }
                        label { "Only results at least this similar (−1 to 1) " input #threshold type="number" name="threshold" step="0.05" min="-1" max="1" value=(threshold) placeholder="any"; }
                        button type="submit" { "Show" }
                    }
                }
                div.columns #similar-results {
                    (hit_columns(&v.backbones, &v.results, "No work is that similar.", |h| html! {
                        @if v.query.id.is_some() {
                            span.refine {
                                a.more href=(link(Some(("id", h.id)), None)) { "more like this" }
                                a.less href=(link(Some(("not", h.id)), None)) { "not like this" }
                            }
                        }
                    }))
                }
            }
        }
        form.similar-upload #similar-upload method="post" action="/similar" enctype="multipart/form-data" {
            label { "Or find the works most like an image: " input #similar-file type="file" name="image" accept="image/*" required; }
            button type="submit" { "Find similar works" }
        }
    };
    page("More like these", "", "similar", body)
}

/// The works each backbone found, a column a backbone: each work's
/// thumbnail, title and similarity, then what `more` adds to it; `none`
/// in a column that found nothing. The similar and search pages show
/// their results so.
fn hit_columns<H: FoundWork>(
    backbones: &[String],
    results: &BTreeMap<String, Vec<H>>,
    none: &str,
    more: impl Fn(&H) -> Markup,
) -> Markup {
    html! {
        @for b in backbones {
            section.column data-backbone=(b) {
                h2 { (b) }
                @let hits = results.get(b).map(Vec::as_slice).unwrap_or(&[]);
                @if hits.is_empty() { p.note { (none) } }
                ol.hits {
                    @for h in hits {
                        li.hit data-id=(h.id()) {
                            a href={ "/works/" (h.id()) } {
                                img src={ "/api/works/" (h.id()) "/thumb?size=256" } alt={ "#" (h.id()) } loading="lazy" width="128" height="128";
                            }
                            span.title { "#" (h.id()) " " (h.title()) }
                            span.similarity { "similarity " (artlens::plain::similarity(h.similarity())) }
                            (more(h))
                        }
                    }
                }
            }
        }
    }
}

/// Numbered pages: the first, the last, and two either side of this one.
fn pager(v: &GalleryView, params: &Params) -> Markup {
    let limit = v.limit.max(1);
    let pages = v.total.div_ceil(limit);
    let here = v.offset / limit;
    let shown: Vec<usize> = (0..pages)
        .filter(|&p| p == 0 || p + 1 == pages || p.abs_diff(here) <= 2)
        .collect();
    html! {
        @if pages > 1 {
            nav.pager aria-label="Pages" {
                @if v.offset > 0 {
                    a #prev rel="prev" href=(gallery_link(params, v.offset.saturating_sub(limit))) { "← Previous" }
                }
                @for (i, p) in shown.iter().enumerate() {
                    @if i > 0 && shown[i - 1] + 1 != *p { span.gap { "…" } }
                    @if *p == here {
                        span.page aria-current="page" { (p + 1) }
                    } @else {
                        a.page href=(gallery_link(params, p * limit)) { (p + 1) }
                    }
                }
                @if v.offset + limit < v.total {
                    a #next rel="next" href=(gallery_link(params, v.offset + limit)) { "Next →" }
                }
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
    let (view, titles, score, around, answer) = blocking(move || {
        if !c.has_work(id)? {
            return Ok(None);
        }
        let around = c.adjacent_works(id)?;
        let answer = c.answer(&rater)?;
        let view = c.show(&rater, &id.to_string(), 8, &mut |_| {})?;
        let mut titles = BTreeMap::new();
        for n in view.neighbours.values().flatten().chain([&view.id]) {
            if let Some(a) = c.work_by_id(*n)? {
                titles.insert(*n, artlens::app::work_title(&a));
            }
        }
        let score = c
            .score(
                &ScoreRequest {
                    images: vec![ImageRef::Work(id.to_string())],
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
        Ok(Some((view, titles, score, around, answer)))
    })
    .await?
    .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no work with id {id}")))?;
    let title = titles.get(&view.id).cloned().unwrap_or_default();
    Ok(page(
        &title,
        "",
        "work",
        work_body(&view, &title, &titles, &score, around, &answer),
    ))
}

/// The buttons a person rates with (tap, click, or the number keys).
fn rating_buttons(scale: &RatingScale) -> Markup {
    html! {
        div.rate-buttons role="group" aria-label="Your rating" {
            @for v in scale.values() {
                button.rate type="button" data-score=(v) { (fmt_num(v)) }
            }
        }
    }
}

fn work_body(
    v: &WorkView,
    title: &str,
    titles: &BTreeMap<u64, String>,
    score: &Result<ScoredImage, String>,
    (before, after): (Option<u64>, Option<u64>),
    answer: &AnswerView,
) -> Markup {
    let shared = shared_ids(&v.neighbours);
    let several = v.neighbours.len() > 1;
    html! {
        h1 { "#" (v.id) " " (title) }
        nav.walk aria-label="Works" {
            @if let Some(b) = before { a #work-prev rel="prev" href={ "/works/" (b) } { "← Previous work" } }
            @if let Some(a) = after { a #work-next rel="next" href={ "/works/" (a) } { "Next work →" } }
        }
        div.work {
            figure.large {
                button #open-lightbox type="button" title="View larger" {
                    img src=(view_src(v.id)) alt=(title);
                }
            }
            dialog #lightbox aria-label=(title) {
                img src={ "/api/works/" (v.id) "/view?size=2048" } alt=(title) loading="lazy";
                div.lightbox-bar {
                    @if let Some(b) = before { a #lightbox-prev href={ "/works/" (b) "?view=large" } { "← Previous" } }
                    button #lightbox-close type="button" { "Close" }
                    @if let Some(a) = after { a #lightbox-next href={ "/works/" (a) "?view=large" } { "Next →" } }
                }
            }
            section.about {
                section.rating-box #rating-box data-id=(v.id) data-rating=(v.rating.map(|r| r.to_string()).unwrap_or_default()) {
                    h2 { "Your rating" }
                    p #rating-now { @if let Some(r) = v.rating { "Your rating: " (fmt_num(r)) } @else { "Not rated yet" } }
                    (rating_buttons(&answer.scale))
                    form #rating-form {
                        label for="rating-input" { "Or type a score " }
                        input #rating-input type="number" step="any" name="score" value=(v.rating.map(fmt_num).unwrap_or_default());
                        button type="submit" { "Set" }
                        button #rating-remove type="button" { "Remove" }
                        button #rating-undo type="button" { "Undo" }
                    }
                    p.keys { "Keys: 1–9 and 0 (= 10) rate, Delete removes, u undoes." }
                }
                h2 { "About" }
                table.meta {
                    tr { th scope="row" { "Work" } td { "#" (v.id) } }
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
        section.explain #explain {
            h2 { "How your taste scores it" }
            @match score {
                Ok(s) => { (score_models(s)) }
                Err(_) => { p.note { (answer.progress) ". Once you have rated " (answer.first_answer_at) " works, each model predicts your score for every work and shows which of your ratings made it." } p { a href="/rate" { "Rate the suggested works" } } }
            }
        }
        section.neighbours {
            h2 { "Nearest works, per model" }
            p { a.button #more-like-this href={ "/similar?id=" (v.id) } { "More like this" } " " span.note { "add other works as examples, or move away from some, on the next page" } }
            @if several { p.note { "Works marked " span.badge { "shared" } " are among the nearest for more than one model." } }
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
                                        span.title { "#" (n) " " (titles.get(n).map(String::as_str).unwrap_or("")) }
                                        @if is_shared { span.badge { "shared" } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        section.maps {
            h2 { "Where it looks like its nearest rated work" }
            p.note { "Per model: which patches of each image match the other, and where the model attends." }
            iframe #maps src={ "/works/" (v.id) "/maps" } loading="lazy" title="Patch matches and attention, per model" {}
        }
    }
}

/// Where a page shows a work's picture: a size-capped rendition.
fn view_src(id: u64) -> String {
    format!("/api/works/{id}/view?size=1024")
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
            (model_score_html(m, &ServedPictures))
        }
    }
}

/// `POST /fragments/score` (multipart, like `POST /api/score`): the score
/// page's result, rendered by the same partial as the work page and the
/// `score --html` report. Errors answer as the API's do (JSON), for the
/// script to show.
pub async fn score_fragment(
    State(st): State<Shared>,
    form: Multipart,
) -> Result<Response, ApiError> {
    let (view, _) = super::api::scored_upload(&st, form).await?;
    let Some(img) = view.images.into_iter().next() else {
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "nothing was scored".into(),
        ));
    };
    if let Some(e) = img.error {
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e));
    }
    Ok(Html(
        html! {
            h2 { (img.path) }
            (score_models(&img))
        }
        .into_string(),
    )
    .into_response())
}

/// `GET /rate` (`?mode=pair` for pairwise): one work at a time, rated by
/// tapping a button, clicking, swiping or the keys; the script does the
/// rest. By default it walks the works suggested next (the unrated ones
/// whose rating would tell the models apart first), and shows the answer
/// so far beside the picture.
pub async fn rate(State(st): State<Shared>, RawQuery(q): RawQuery) -> PageResult {
    let params = Params::parse(q)?;
    let pair = params.get("mode") == Some("pair");
    if let Some(s) = params.get("sort") {
        GallerySort::parse(s).map_err(ApiError::from)?;
    }
    let filters = params.all("where");
    let start = params.get("start").unwrap_or("");
    // From a work's page ("rate from here") the walk is the collection in
    // order; otherwise the suggested unrated works. `rated=all` asks for
    // every work.
    let default_sort = if start.is_empty() { "suggested" } else { "id" };
    let sort = params.get("sort").unwrap_or(default_sort);
    let rated = match params.get("rated") {
        Some("all") => "",
        Some(r) => r,
        None if start.is_empty() => "false",
        None => "",
    };
    let answer = ask(&st, |c, rater| c.answer(rater)).await?;
    let body = if pair {
        html! {
            h1 { "Which do you prefer?" }
            p.lead { "Tap or click the one you like more." }
            div #pair data-where=(filters.join("\u{1f}")) data-rated=(params.get("rated").unwrap_or("")) {
                button.choice #left type="button" { img alt=""; span.caption {} }
                button.choice #right type="button" { img alt=""; span.caption {} }
            }
            div.rate-actions {
                button #pair-skip type="button" { "Skip this pair" }
                button #pair-undo type="button" disabled { "Undo last choice" }
            }
            p #pair-status role="status" { "Loading…" }
            p.keys { "Keys: ← the left one, → the right one, s skips, u undoes." }
        }
    } else {
        html! {
            h1 { "Rate" }
            div.rate-layout {
                div #rater data-where=(filters.join("\u{1f}")) data-rated=(rated) data-sort=(sort) data-start=(start) {
                    figure.large #current { img alt=""; figcaption {} }
                    (rating_buttons(&answer.scale))
                    div.rate-actions {
                        button #rate-prev type="button" { "← Previous" }
                        button #rate-skip type="button" { "Skip →" }
                        button #rate-undo type="button" disabled { "Undo" }
                    }
                    p #rate-status role="status" { "Loading…" }
                    p.keys { "Tap a number to rate, swipe left to skip. Keys: 1–9 and 0 (= 10) rate, ← / → previous / next, u undoes." }
                }
                aside #answer-box aria-live="polite" { (answer_box(&answer, false)) }
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

/// The answer so far, one renderer for the rate page, the answer page and
/// `GET /fragments/answer` (which the rate page reloads after each rating).
fn answer_box(a: &AnswerView, full: bool) -> Markup {
    let more = a.first_answer_at.saturating_sub(a.rated);
    html! {
        section.answer #answer data-rated=(a.rated) data-ready=(a.verdict.is_some()) data-current=(a.current) {
            h2 { "Your answer so far" }
            p.progress #answer-progress { (a.progress) }
            @if let Some(verdict) = &a.verdict {
                p.verdict #verdict { (verdict) }
                ul.headlines {
                    @for b in &a.backbones {
                        li.headline data-backbone=(b.id) data-value=(format!("{:.4}", b.headline)) {
                            span.name { (b.name) }
                            meter min="0" max="1" low="0.5" optimum="1" value=(format!("{:.4}", b.headline)) {}
                            span.figure { (percent(b.headline)) }
                        }
                    }
                }
                p.note { (artlens::head::HEADLINE_DESCRIPTION) }
                @if a.merged_groups > 0 {
                    p.note #answer-copies { "Copies you marked count with their original: "
                        (artlens::plain::count(a.merged_groups, "group", "groups"))
                        " of a rated work and its copies were kept together, so no copy vouches for the work it copies ("
                        a href="/dups" { "Duplicates" } ")." }
                }
                @if !a.current { p.note #answer-updating { "Updating with your latest ratings…" } }
                @if !full { p { a href="/compare" { "The whole answer, and how sure it is" } } }
            } @else if more > 0 {
                p { "Rate " (artlens::plain::count(more, "more work", "more works")) " and artlens tells you which model understands your taste best." }
                @if full { p { a.button href="/rate" { "Rate the suggested works" } } }
            } @else {
                p #answer-updating { "Working out your first answer…" }
            }
        }
    }
}

/// `GET /dups`: the near-duplicate groups as thumbnails, the
/// representative first, with buttons to mark, unmark or keep (the script
/// posts to `/api/dups/*` and reloads the page).
pub async fn dups(State(st): State<Shared>, RawQuery(q): RawQuery) -> PageResult {
    let params = Params::parse(q)?;
    let req = dups_request(&params)?;
    let query = params
        .pairs()
        .iter()
        .filter(|(k, _)| ["backbone", "threshold", "agreement"].contains(&k.as_str()))
        .map(|(k, v)| format!("{k}={}", urlencoding_lite(v)))
        .collect::<Vec<_>>()
        .join("&");
    let c = st.collection.clone();
    let view = blocking(move || c.dups(&req, &mut |_| {})).await?;
    let fig =
        |x: Option<f64>| x.map_or("—".to_string(), |v| artlens::plain::similarity(v as f32));
    Ok(page(
        "Duplicates",
        "dups",
        "dups",
        html! {
            h1 { "Duplicates" }
            p { "Works that are the same picture: re-scans, crops, resized or recompressed copies. "
                "Marking a work a copy deletes nothing; its ratings stay, and when the models are compared "
                "a work and its copies are kept together, so no copy vouches for its original." }
            form.dups-settings method="get" action="/dups" {
                label { "Similarity to look from "
                    input #dups-threshold type="number" name="threshold" min="0" max="1" step="0.05"
                        value=(format!("{:.2}", view.threshold)); }
                " "
                button type="submit" { "Look again" }
            }
            p.muted #dups-summary data-query=(query) {
                (artlens::plain::count(view.groups.len(), "group", "groups")) " among "
                (artlens::plain::count(view.works, "work", "works")) " by " (view.backbone) ": "
                (view.candidates) " candidate pairs, " (view.verified) " confirmed by their pixels."
            }
            @if view.groups.is_empty() {
                p #dups-none { "No duplicates found." }
            }
            @for g in &view.groups {
                section.dup-group data-representative=(g.representative) {
                    div.dup-members {
                        @for m in &g.members {
                            figure.dup data-id=(m.id) data-role=(if m.representative { "representative" } else if m.marked { "marked" } else { "found" }) {
                                a href={ "/works/" (m.id) } {
                                    img src={ "/api/works/" (m.id) "/thumb?size=256" } alt={ "#" (m.id) } loading="lazy" width="160" height="160";
                                }
                                figcaption {
                                    strong { @if m.representative { "Kept" } @else if m.marked { "Copy" } @else { "Copy?" } }
                                    " #" (m.id) " · " (m.width) "×" (m.height)
                                    @if !m.representative {
                                        br; span.muted { "similarity " (fig(m.similarity)) ", pixels agree " (fig(m.agreement)) }
                                    }
                                }
                                div.dup-actions {
                                    @if !m.representative {
                                        @if m.marked {
                                            button type="button" data-dups="unmark" data-copy=(m.id) { "Not a copy" }
                                        } @else {
                                            button type="button" data-dups="mark" data-copy=(m.id) data-of=(g.representative) { "Mark as copy" }
                                        }
                                        button type="button" data-dups="keep" data-copy=(m.id) { "Keep this one" }
                                    }
                                }
                            }
                        }
                    }
                    @if g.members.iter().skip(1).any(|m| !m.marked) {
                        button.button type="button" data-dups="keep" data-copy=(g.representative) { "Mark all as copies of #" (g.representative) }
                    }
                }
            }
            p.note { (view.method) }
        },
    ))
}

/// A query value made safe to put back into a query string (the few
/// characters a threshold or backbone id can hold besides letters and digits).
fn urlencoding_lite(v: &str) -> String {
    v.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@') {
                c.to_string()
            } else {
                format!("%{:02X}", c as u32 & 0xff)
            }
        })
        .collect()
}

/// `GET /fragments/answer`: the answer box alone, for the rate page to
/// swap in after a rating.
pub async fn answer_fragment(State(st): State<Shared>, RawQuery(q): RawQuery) -> PageResult {
    let full = Params::parse(q)?.get("full").is_some();
    let mut answer = ask(&st, |c, rater| c.answer(rater)).await?;
    // A retrain under way means the answer shown is about to change.
    answer.current = answer.current && !st.trainer.busy();
    Ok(Html(answer_box(&answer, full).into_string()).into_response())
}

/// `GET /score`: choose or drop an image; each backbone's score and
/// references appear below.
pub async fn score(State(st): State<Shared>) -> PageResult {
    let answer = ask(&st, |c, rater| c.answer(rater)).await?;
    Ok(page(
        "Score an image",
        "score",
        "score",
        html! {
            h1 { "Score an image" }
            @if !answer.trained {
                p { "An image is scored by what each model has learnt of your taste, so first it needs your ratings. " (answer.progress) "." }
                p { a.button href="/rate" { "Rate the suggested works" } }
            } @else {
            p { "The image is scored by each model's taste head and shown with the rated works it draws on. It is not added to the collection." }
            form #score-form {
                label #drop for="score-file" {
                    "Choose an image, or drop one here"
                    input #score-file type="file" name="image" accept="image/*";
                }
            }
            p #score-status role="status" {}
            div #score-result {}
            }
        },
    ))
}

/// `GET /compare`: the answer in plain words first, a button to retrain
/// after an import, and the statistics behind it one click away (the
/// `compare --html` report, framed once opened).
/// `GET /map`: the maps of every backbone side by side, linked work by
/// work, with zoom, colouring and box selection (`assets/map.js`). A
/// collection too small to map says why instead.
pub async fn map(State(st): State<Shared>, RawQuery(q): RawQuery) -> PageResult {
    let params = Params::parse(q)?;
    let req = artlens::app::MapRequest {
        backbones: params.backbones()?,
        rater: st.rater.clone(),
    };
    let c = st.collection.clone();
    let body = match blocking(move || c.map(&req, &mut |_| {})).await {
        Ok(view) => html! {
            h1 { "What each model sees" }
            p.note { "Each map places every work so that works the model finds alike sit close together; the maps after the first are turned to match it, so a work sits in a similar place in each." }
            (artlens::report::map_panels(&view, true))
            script src="/assets/map.js" defer {}
        },
        Err(e) if e.status == StatusCode::CONFLICT => html! {
            h1 { "What each model sees" }
            p #map-empty { (sentence(&e.message)) }
            p { a.button href="/index" { "Add works" } }
        },
        Err(e) => return Err(e.into()),
    };
    Ok(page("Map", "map", "map", body))
}

pub async fn compare(State(st): State<Shared>) -> PageResult {
    let (answer, models) = ask(&st, |c, rater| {
        Ok((c.answer(rater)?, c.stored_backbones()?.len()))
    })
    .await?;
    let words = taste_words_section(&st).await;
    Ok(page(
        "Your answer",
        "compare",
        "compare",
        html! {
            h1 { "Which model understands your taste?" }
            @if models == 0 {
                p { "Nothing is indexed yet, so there is nothing to compare." }
                p { a.button href="/" { "Add your works" } }
            } @else {
                div #answer-box aria-live="polite" { (answer_box(&answer, true)) }
                @if answer.rated >= answer.first_answer_at {
                    p { button #retrain type="button" { "Retrain now" } " " span.note { "Only needed after importing ratings; rating here retrains by itself." } " " span #train-status role="status" {} }
                }
                (words)
                @if answer.verdict.is_some() {
                    details #detail {
                        summary { "The statistics behind the answer" }
                        iframe #report data-src="/compare/report" title="Comparison report: verdict, figures and learning curve" {}
                    }
                }
            }
        },
    ))
}

/// The "your taste in words" panel of the answer page: the phrases that
/// explain the rater's ratings, or, when it cannot be said yet (no
/// text-capable backbone, too few ratings), why, in one line.
async fn taste_words_section(st: &Shared) -> Markup {
    let made = ask(st, |c, rater| {
        c.taste_words(&artlens::app::TasteWordsRequest {
            rater: rater.clone(),
            backbones: None,
            vocabulary: None,
        })
    })
    .await;
    match made {
        Ok(view) => artlens::report::taste_words_panel(&view),
        Err(e) => html! {
            section.taste-words #taste-words {
                h3 { "Your taste in words" }
                p.note #taste-words-note { (sentence(&e.message)) }
            }
        },
    }
}

/// Results per backbone on the search page.
const SEARCH_PAGE_K: usize = 24;

/// `GET /search?q=TEXT&backbone=&where=`: the works nearest to a text
/// query, one gallery per text-capable backbone, each work with its
/// similarity. A query the library refuses is said on the page.
pub async fn search(State(st): State<Shared>, RawQuery(q): RawQuery) -> PageResult {
    let params = Params::parse(q)?;
    let query = params.get("q").unwrap_or("").to_string();
    let made = if query.trim().is_empty() {
        None
    } else {
        let mut pairs = vec![("k".to_string(), SEARCH_PAGE_K.to_string())];
        pairs.extend(params.pairs().iter().filter(|(k, _)| k != "k").cloned());
        let fields = Params::from_pairs(pairs);
        Some(match super::api::search_request(&fields, &st) {
            Ok(req) => {
                let c = st.collection.clone();
                blocking(move || c.search(&req)).await
            }
            Err(e) => Err(e),
        })
    };
    let (view, error) = match made {
        None => (None, None),
        Some(Ok(v)) => (Some(v), None),
        Some(Err(e)) if e.status.is_client_error() => (None, Some(sentence(&e.message))),
        Some(Err(e)) => return Err(e.into()),
    };
    let body = html! {
        h1 { "Search by words" }
        (search_form(&query))
        @if let Some(e) = &error { p.error #search-error role="alert" { (e) } }
        @if view.is_none() && error.is_none() {
            p #search-empty { "Describe what you are looking for — “a stormy sea at night”, “portrait of a woman in blue” — and each model that reads text shows the works nearest to it. Quote a phrase to keep it together, put - before one to move away from it (-\"people\"), name a work as work:12." }
        }
        @if let Some(v) = &view {
            @for n in &v.notes { p.note.search-note { (n) } }
            div.columns #search-results {
                (hit_columns(&v.backbones, &v.results, "No work matches.", |h| html! {
                    @if let Some(r) = h.rating { span.rating { "your rating " (fmt_num(r)) } }
                }))
            }
        }
    };
    Ok(page("Search by words", "", "search", body))
}

/// The search-by-words box, on the gallery and the search page.
fn search_form(query: &str) -> Markup {
    html! {
        form.word-search #word-search method="get" action="/search" role="search" {
            label { span { "Search by words " } input #word-query type="search" name="q" value=(query) placeholder="a stormy sea at night" size="28" maxlength=(artlens::limits::MAX_QUERY_CHARS); }
            button type="submit" { "Find" }
        }
    }
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
        if !c.has_work(id)? {
            return Ok(None);
        }
        let req = ExplainRequest {
            query: ImageRef::Work(id.to_string()),
            reference: None,
            backbones: None,
            rater,
        };
        c.explain(&req, &mut |_| {}).map(Some)
    })
    .await;
    match made {
        Ok(Some(view)) => report(artlens::report::render_explain_html(&view)),
        Ok(None) => report_error(ApiError::new(
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
    let ApiError {
        status,
        message: msg,
        ..
    } = e;
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

/// `GET /index`: index a folder under the allowed ones, with live
/// progress that is found again when the page is left and opened again.
pub async fn index(State(st): State<Shared>) -> PageResult {
    Ok(page(
        "Add works",
        "index",
        "index",
        html! {
            h1 { "Add works" }
            (index_form(&st))
        },
    ))
}

/// The folder form and the job's progress (the index page and the first
/// page of an empty store).
fn index_form(st: &Shared) -> Markup {
    let offered = st.offer_dir.clone();
    // A metadata CSV people keep next to their images (the sample's
    // `data/metadata.csv` beside `data/collection`) is offered too.
    let metadata = offered.as_ref().and_then(|d| {
        [d.join("metadata.csv"), d.with_file_name("metadata.csv")]
            .into_iter()
            .find(|m| m.is_file())
    });
    let models: Vec<String> = st.index_backbones.iter().map(|b| b.short_label()).collect();
    html! {
        p { "Every new image in the folder is read once by each model (" (models.join(", ")) "). The gallery and the other pages keep working meanwhile." }
        form #index-form {
            p { label for="index-dir" { "Folder" } br; input #index-dir name="dir" size="60" value=(offered.map(|d| d.display().to_string()).unwrap_or_default()); }
            p { label for="index-metadata" { "Titles and artists from a CSV (optional)" } br; input #index-metadata name="metadata" size="60" placeholder="metadata.csv with a path column" value=(metadata.map(|m| m.display().to_string()).unwrap_or_default()); }
            p { button type="submit" { "Add these works" } }
        }
        @if !st.allow_dirs.is_empty() {
            p.note { "Folders this server may read: " @for (i, r) in st.allow_dirs.iter().enumerate() { @if i > 0 { ", " } code { (r.display()) } } }
        }
        section #job hidden {
            progress #job-bar max="1" value="0" {}
            p #job-counts role="status" {}
            p #job-phase {}
            p #job-next hidden { a.button href="/rate" { "Start rating" } " " a href="/" { "See the gallery" } }
            details #job-failures-box hidden {
                summary { "Files that could not be read" }
                ul #job-failures {}
            }
        }
    }
}

/// `GET /assets/{name}`: the script and the stylesheet, compiled into the
/// binary, revalidated by ETag.
pub async fn asset(Path(name): Path<String>, headers: HeaderMap) -> Response {
    // The model-score partial's styles join the app's, once.
    static CSS: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let css =
        CSS.get_or_init(|| format!("{APP_CSS}\n{MODEL_SCORE_CSS}\n{}", artlens::report::MAP_CSS));
    let (body, mime) = match name.as_str() {
        "app.js" => (APP_JS, "text/javascript; charset=utf-8"),
        "map.js" => (MAP_JS, "text/javascript; charset=utf-8"),
        "app.css" => (css.as_str(), "text/css; charset=utf-8"),
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
    PageError(ApiError::new(StatusCode::NOT_FOUND, "no such page".into()))
}
