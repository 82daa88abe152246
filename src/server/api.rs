//! The JSON API under `/api/`: each handler parses the request into the
//! application layer's request type, runs the one library call off the
//! async runtime, and answers the view it returns, in the same shape as the
//! CLI's `--json` for the same question. Errors are `{"error": "..."}` with
//! the 4xx that fits (404 for an unknown work, 400 for a bad parameter, 409
//! when the store is not ready for the question, 422 for an unreadable
//! image), and 500 only for what is truly the server's fault.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::path::PathBuf;
use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Multipart, Path, RawQuery, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::stream::Stream;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use artlens::app::{
    CompareRequest, DupsRequest, ExplainRequest, GalleryRequest, GallerySort, ImageRef,
    ListRequest, ScoreRequest, SimilarRequest, TrainRequest,
};
use artlens::error::Error;
use artlens::head::HeadKind;
use artlens::model::registry::{parse_backbone_list, BackboneId};
use artlens::report::ScoreView;

use super::security::{printable, refuse};
use super::Shared;

/// An API error: a status and a message for `{"error": ...}`, in the web
/// app's words; where the command line words it differently (a library
/// error whose next step is a command), that wording too, as
/// `"command_line"`, which the CLI shows when it goes through the server
/// (so its output is the direct path's).
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub command_line: Option<String>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, message: String) -> ApiError {
        ApiError {
            status,
            message,
            command_line: None,
        }
    }

    pub fn bad(msg: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, msg.into())
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> ApiError {
        let status = match &e {
            Error::WorkNotFound { .. } | Error::NoPreference { .. } => StatusCode::NOT_FOUND,
            Error::InvalidArgument(_)
            | Error::AmbiguousWork { .. }
            | Error::UnknownBackbone { .. }
            | Error::BadResolution { .. }
            | Error::BadRater { .. }
            | Error::UnknownWorks { .. }
            | Error::SameWork { .. }
            | Error::CopyOfItself { .. }
            | Error::UnknownLabel { .. }
            | Error::FilterMatchesNothing { .. }
            | Error::BadQuery { .. }
            | Error::Vocabulary { .. } => StatusCode::BAD_REQUEST,
            Error::Decode { .. } | Error::ImageTooLarge { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Error::NotIndexed { .. }
            | Error::NothingIndexed { .. }
            | Error::MissingEmbedding { .. }
            | Error::NoHead { .. }
            | Error::TooFewToMap { .. }
            | Error::NoRatings { .. }
            | Error::NoRatingsBy { .. }
            | Error::StaleHead { .. }
            | Error::FingerprintMismatch { .. }
            | Error::WeightsUnavailable { .. }
            | Error::NoTextBackbone { .. }
            | Error::NoTextTower { .. }
            | Error::TooFewRatings { .. } => StatusCode::CONFLICT,
            Error::NoSpace { .. } => StatusCode::INSUFFICIENT_STORAGE,
            Error::ExportConflict { .. } => StatusCode::CONFLICT,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        // Some foreign errors' text carries an empty ` backtrace ()`.
        let web = e.in_web_app().replace(" backtrace ()", "");
        let command_line = e.to_string().replace(" backtrace ()", "");
        ApiError {
            status,
            command_line: (command_line != web).then_some(command_line),
            message: web,
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> ApiError {
        ApiError::new(r.status(), format!("bad JSON body: {}", r.body_text()))
    }
}

/// A JSON request body. One that cannot be read is refused as every other
/// bad request is, in the API's `{"error"}` form, before the handler runs.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> ApiResult<Body<T>> {
        let Json(body) = Json::<T>::from_request(req, state).await?;
        Ok(Body(body))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self.command_line {
            None => refuse(self.status, &self.message),
            Some(cli) => (
                self.status,
                Json(serde_json::json!({ "error": self.message, "command_line": cli })),
            )
                .into_response(),
        }
    }
}

/// Runs a library call on the blocking pool: the runtime's threads keep
/// answering other requests meanwhile. A panic inside becomes a 500 (the
/// binary's panic hook has printed where).
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> artlens::error::Result<T> + Send + 'static,
) -> ApiResult<T> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(ApiError::from),
        Err(_) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error in artlens (logged on the server's stderr)".into(),
        )),
    }
}

/// Runs `f` off the async threads on the server's collection, as the
/// server's rater: the one way a route that answers for a rater asks the
/// library.
pub async fn ask<T: Send + 'static>(
    st: &Shared,
    f: impl FnOnce(&artlens::app::Collection, &artlens::ratings::Rater) -> artlens::error::Result<T>
        + Send
        + 'static,
) -> ApiResult<T> {
    let (c, rater) = (st.collection.clone(), st.rater.clone());
    blocking(move || f(&c, &rater)).await
}

/// Runs `f` as [`ask`] does and answers what it returns as JSON: the
/// whole of a route whose answer is one library view.
pub async fn ask_json<T: Serialize + Send + 'static>(
    st: &Shared,
    f: impl FnOnce(&artlens::app::Collection, &artlens::ratings::Rater) -> artlens::error::Result<T>
        + Send
        + 'static,
) -> ApiResult<Response> {
    Ok(Json(ask(st, f).await?).into_response())
}

/// Runs a change of the copies marks as [`ask_json`] does, then retrains
/// the answer as after a rating: the marks decide the folds.
async fn ask_marking<T: Serialize + Send + 'static>(
    st: &Shared,
    f: impl FnOnce(&artlens::app::Collection, &artlens::ratings::Rater) -> artlens::error::Result<T>
        + Send
        + 'static,
) -> ApiResult<Response> {
    let out = ask(st, f).await?;
    retrain(st);
    Ok(Json(out).into_response())
}

/// Runs `f` as [`ask`] does, for the stored work `id`: 404 when the store
/// has no such work.
async fn ask_work<T: Send + 'static>(
    st: &Shared,
    id: u64,
    f: impl FnOnce(&artlens::app::Collection, &artlens::ratings::Rater) -> artlens::error::Result<T>
        + Send
        + 'static,
) -> ApiResult<T> {
    ask(st, move |c, rater| {
        if !c.has_work(id)? {
            return Ok(None);
        }
        f(c, rater).map(Some)
    })
    .await?
    .ok_or_else(|| no_work(id))
}

/// A query string's pairs; keys may repeat (`where=a=b&where=c=d`).
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn parse(raw: Option<String>) -> ApiResult<Params> {
        let raw = raw.unwrap_or_default();
        serde_urlencoded::from_str(&raw)
            .map(Params)
            .map_err(|e| ApiError::bad(format!("bad query string: {e}")))
    }

    /// Pairs made by a route (a page's own query, rewritten).
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Params {
        Params(pairs)
    }

    /// Every pair, in the order given.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    pub fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, v)| k == key && !v.trim().is_empty())
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// A whole number in `range`, `default` when absent.
    pub fn number(
        &self,
        key: &str,
        default: usize,
        range: std::ops::RangeInclusive<usize>,
    ) -> ApiResult<usize> {
        let Some(v) = self.get(key) else {
            return Ok(default);
        };
        let n: usize = v
            .trim()
            .parse()
            .map_err(|_| ApiError::bad(format!("{key}=`{}`: not a whole number", printable(v))))?;
        if !range.contains(&n) {
            return Err(ApiError::bad(format!(
                "{key}={n}: must be between {} and {}",
                range.start(),
                range.end()
            )));
        }
        Ok(n)
    }

    /// A whole number, `default` when absent. Its bounds are the request's
    /// to check (`validate()`, with [`artlens::limits`]), once, as for
    /// every front end.
    pub fn count(&self, key: &str, default: usize) -> ApiResult<usize> {
        self.number(key, default, 0..=usize::MAX)
    }

    /// `true`/`false` (also `1`/`0`, `yes`/`no`), `None` when absent.
    pub fn flag(&self, key: &str) -> ApiResult<Option<bool>> {
        match self.get(key).map(|v| v.trim().to_ascii_lowercase()) {
            None => Ok(None),
            Some(v) if ["true", "1", "yes"].contains(&v.as_str()) => Ok(Some(true)),
            Some(v) if ["false", "0", "no"].contains(&v.as_str()) => Ok(Some(false)),
            Some(v) => Err(ApiError::bad(format!(
                "{key}=`{}`: expected true or false",
                printable(&v)
            ))),
        }
    }

    /// `backbone=dino&backbone=dinov2` or `backbone=dino,dinov2`; `None`:
    /// every backbone.
    pub fn backbones(&self) -> ApiResult<Option<Vec<BackboneId>>> {
        let mut out = Vec::new();
        for v in self.all("backbone") {
            out.extend(parse_backbone_list(&v).map_err(ApiError::from)?);
        }
        Ok((!out.is_empty()).then_some(out))
    }
}

/// A work id from the path: a number, else a 400 that says so.
pub fn work_id(raw: &str) -> ApiResult<u64> {
    raw.parse().map_err(|_| {
        ApiError::bad(format!(
            "work id `{}` is not a number (works are reached by their numeric id)",
            printable(raw)
        ))
    })
}

/// A work id from the route's path (`/api/works/{id}/...`): a number,
/// else a 400 that says so, before the handler runs.
pub struct WorkId(pub u64);

impl<S: Send + Sync> FromRequestParts<S> for WorkId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> ApiResult<WorkId> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::new(e.status(), e.body_text()))?;
        work_id(&raw).map(WorkId)
    }
}

/// 404 for an id the store never gave out.
fn no_work(id: u64) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, format!("no work with id {id}"))
}

pub async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such API route".into())
}

/// `GET /api/status`: `artlens status --json`.
pub async fn status(State(st): State<Shared>) -> ApiResult<Response> {
    ask_json(&st, |c, rater| c.status(rater)).await
}

/// The gallery request a page or `GET /api/gallery` asks for.
pub fn gallery_request(st: &Shared, q: &Params) -> ApiResult<GalleryRequest> {
    // A range's two fields (`from:date=1880`, `to:date=1960`) become the
    // library's `date>=1880` and `date<=1960`.
    let mut filters = q.all("where");
    for (k, v) in &q.0 {
        let v = v.trim();
        if v.is_empty() {
            continue;
        }
        if let Some(key) = k.strip_prefix("from:") {
            filters.push(format!("{key}>={v}"));
        } else if let Some(key) = k.strip_prefix("to:") {
            filters.push(format!("{key}<={v}"));
        }
    }
    Ok(GalleryRequest {
        filters,
        text: q.get("text").map(str::to_string),
        rated: q.flag("rated")?,
        sort: GallerySort::parse(q.get("sort").unwrap_or("id")).map_err(ApiError::from)?,
        offset: q.number("offset", 0, 0..=usize::MAX)?,
        limit: q.count("limit", 60)?,
        rater: st.rater.clone(),
    })
}

/// `GET /api/gallery?where=&rated=&sort=&offset=&limit=`: one page of
/// works with titles and, when sorted by a backbone, its predicted scores.
pub async fn gallery(State(st): State<Shared>, RawQuery(q): RawQuery) -> ApiResult<Response> {
    let req = gallery_request(&st, &Params::parse(q)?)?;
    ask_json(&st, move |c, _| c.gallery(&req)).await
}

/// `GET /api/works?where=KEY=VALUE&rated=true&offset=&limit=`: `artlens ls
/// --json` (the same array; without `limit`, all of it), with the number
/// of matching works in `X-Total-Count`.
pub async fn works(State(st): State<Shared>, RawQuery(q): RawQuery) -> ApiResult<Response> {
    let q = Params::parse(q)?;
    let req = ListRequest {
        filters: q.all("where"),
        rated: q.flag("rated")?,
        rater: st.rater.clone(),
        sort: artlens::app::ListSort::parse(q.get("sort").unwrap_or("id"))?,
    };
    let offset = q.number("offset", 0, 0..=usize::MAX)?;
    let limit = q.number("limit", usize::MAX, 1..=usize::MAX)?;
    let c = st.collection.clone();
    let (total, page) = blocking(move || c.list_page(&req, offset, limit)).await?;
    let mut resp = Json(page).into_response();
    resp.headers_mut()
        .insert("x-total-count", HeaderValue::from(total));
    Ok(resp)
}

/// `GET /api/works/{id}?k=5`: `artlens show ID --json`.
pub async fn work(
    State(st): State<Shared>,
    WorkId(id): WorkId,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let k = Params::parse(q)?.count("k", 5)?;
    let view = ask_work(&st, id, move |c, rater| {
        c.show(rater, &id.to_string(), k, &mut |_| {})
    })
    .await?;
    Ok(Json(view).into_response())
}

/// `GET /api/works/{id}/image`: the work's original file, found by id
/// (never by a path from the request).
pub async fn image(
    State(st): State<Shared>,
    WorkId(id): WorkId,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let c = st.collection.clone();
    let (hash, bytes) =
        blocking(move || c.original_image(id))
            .await
            .map_err(|e| match e.status {
                // A stored file that is gone is the work's problem, not the server's.
                StatusCode::INTERNAL_SERVER_ERROR => {
                    ApiError::new(StatusCode::NOT_FOUND, e.message)
                }
                _ => e,
            })?;
    let etag = format!("\"{}\"", &hash[..hash.len().min(32)]);
    if not_modified(&headers, &etag) {
        return Ok(cached_304(&etag));
    }
    let mime = image::guess_format(&bytes)
        .map(|f| f.to_mime_type())
        .unwrap_or("application/octet-stream");
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(mime)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, max-age=3600"),
            ),
            (header::ETAG, HeaderValue::from_str(&etag).unwrap()),
        ],
        bytes,
    )
        .into_response())
}

fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
}

fn cached_304(etag: &str) -> Response {
    let mut r = StatusCode::NOT_MODIFIED.into_response();
    if let Ok(v) = HeaderValue::from_str(etag) {
        r.headers_mut().insert(header::ETAG, v);
    }
    r
}

/// `GET /api/works/{id}/thumb?size=256`: a JPEG made once per content and
/// size, cached under the store folder. A work's id always names the same
/// content, so the answer is immutable.
pub async fn thumb(
    State(st): State<Shared>,
    WorkId(id): WorkId,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let size = Params::parse(q)?.number("size", 256, 0..=u32::MAX as usize)? as u32;
    if !super::THUMB_SIZES.contains(&size) {
        return Err(ApiError::bad(format!(
            "thumbnail size {size}: the sizes offered are {:?} pixels",
            super::THUMB_SIZES
        )));
    }
    cached_picture(&st, headers, move |c| c.thumbnail(id, size)).await
}

/// `GET /api/works/{id}/view?size=1024`: the picture the pages show large,
/// a JPEG at most `size` (1024 or 2048) pixels on its longer side and never
/// enlarged, so that TIFF scans, 16-bit PNGs and 12-megapixel JPEGs all
/// display, quickly.
pub async fn view(
    State(st): State<Shared>,
    WorkId(id): WorkId,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let sizes = artlens::app::RENDITION_SIZES;
    let size = Params::parse(q)?.number("size", sizes[0] as usize, 0..=u32::MAX as usize)? as u32;
    cached_picture(&st, headers, move |c| c.rendition(id, size)).await
}

/// A cached JPEG that `make` makes of the collection (a thumbnail or a
/// rendition), answered with its ETag, or 304 when the client holds it.
async fn cached_picture(
    st: &Shared,
    headers: HeaderMap,
    make: impl FnOnce(&artlens::app::Collection) -> artlens::error::Result<artlens::app::Thumbnail>
        + Send
        + 'static,
) -> ApiResult<Response> {
    let revalidating = headers.contains_key(header::IF_NONE_MATCH);
    // One trip to the blocking pool: the cached file is read there too,
    // unless the client probably holds it already.
    let c = st.collection.clone();
    let (t, bytes) = blocking(move || {
        let t = make(&c)?;
        let bytes = if revalidating {
            None
        } else {
            Some(std::fs::read(&t.path).map_err(|e| Error::io(&t.path, e))?)
        };
        Ok((t, bytes))
    })
    .await?;
    if not_modified(&headers, &t.etag) {
        return Ok(cached_304(&t.etag));
    }
    let bytes = match bytes {
        Some(b) => b,
        // Revalidation with a stale tag: read it now.
        None => {
            let path = t.path.clone();
            blocking(move || std::fs::read(&path).map_err(|e| Error::io(&path, e))).await?
        }
    };
    let etag = HeaderValue::from_str(&t.etag).unwrap_or(HeaderValue::from_static("\"\""));
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg")),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, max-age=31536000, immutable"),
            ),
            (header::ETAG, etag),
        ],
        bytes,
    )
        .into_response())
}

/// The fields of a similar search besides its first example: `k`,
/// `backbone`, `where` (repeatable), `exact`, `also` (more examples by
/// name, repeatable), `not` (works to move away from, repeatable) and
/// `threshold` (the least similarity shown).
pub fn similar_request(q: &Params, first: Option<ImageRef>) -> ApiResult<SimilarRequest> {
    let threshold =
        match q.get("threshold").map(str::trim).filter(|t| !t.is_empty()) {
            None => None,
            Some(t) => Some(t.parse::<f32>().map_err(|_| {
                ApiError::bad(format!("threshold=`{}`: not a number", printable(t)))
            })?),
        };
    Ok(SimilarRequest {
        examples: first
            .into_iter()
            .chain(q.all("also").into_iter().map(ImageRef::Work))
            .collect(),
        not: q.all("not").into_iter().map(ImageRef::Work).collect(),
        threshold,
        k: q.count("k", 10)?,
        backbones: q.backbones()?,
        filters: q.all("where"),
        exact: q.flag("exact")?.unwrap_or(false),
    })
}

/// `GET /api/works/{id}/similar?k=10&backbone=ID&where=&exact=&also=&not=&threshold=`:
/// `artlens similar --id ID [--id ALSO...] [--not NOT...] --json`.
pub async fn similar(
    State(st): State<Shared>,
    WorkId(id): WorkId,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let req = similar_request(&Params::parse(q)?, Some(ImageRef::Work(id.to_string())))?;
    let view = ask_work(&st, id, move |c, _| c.similar(&req, &mut |_| {})).await?;
    Ok(Json(view).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RatingBody {
    score: f64,
}

/// `PUT /api/works/{id}/rating` with `{"score": x}`: `artlens rate set`.
/// Answers once the rating is on disk, with the one it replaced.
pub async fn set_rating(
    State(st): State<Shared>,
    WorkId(id): WorkId,
    Body(body): Body<RatingBody>,
) -> ApiResult<Response> {
    if !body.score.is_finite() {
        return Err(ApiError::bad("score must be a finite number"));
    }
    let out = ask(&st, move |c, rater| c.rate_work(rater, id, body.score))
        .await?
        .ok_or_else(|| no_work(id))?;
    retrain(&st);
    Ok(Json(out).into_response())
}

/// `DELETE /api/works/{id}/rating`: `artlens rate remove`.
pub async fn remove_rating(State(st): State<Shared>, WorkId(id): WorkId) -> ApiResult<Response> {
    let out = ask(&st, move |c, rater| c.unrate_work(rater, id))
        .await?
        .ok_or_else(|| no_work(id))?;
    retrain(&st);
    Ok(Json(out).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreferenceBody {
    winner: u64,
    loser: u64,
}

/// `POST /api/preferences` with `{"winner": id, "loser": id}`: `artlens
/// rate prefer`.
pub async fn prefer(
    State(st): State<Shared>,
    Body(body): Body<PreferenceBody>,
) -> ApiResult<Response> {
    let out = ask(&st, move |c, rater| {
        let added = c.prefer_works(rater, body.winner, body.loser)?;
        Ok(serde_json::json!({
            "rater": rater.name(),
            "winner": added.winner.id,
            "loser": added.loser.id,
            "repeated": added.repeated,
            "contradicts": added.contradicts,
        }))
    })
    .await?;
    retrain(&st);
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

/// `DELETE /api/preferences` with `{"winner": id, "loser": id}`: `artlens
/// rate unprefer` (the pairwise page's undo). 404 when there is no such
/// preference.
pub async fn unprefer(
    State(st): State<Shared>,
    Body(body): Body<PreferenceBody>,
) -> ApiResult<Response> {
    let out = ask(&st, move |c, rater| {
        let removed = c.rate_unprefer(rater, &body.winner.to_string(), &body.loser.to_string())?;
        Ok(serde_json::json!({
            "rater": rater.name(),
            "winner": removed.winner.id,
            "loser": removed.loser.id,
            "removed": true,
        }))
    })
    .await?;
    retrain(&st);
    Ok(Json(out).into_response())
}

/// `GET /api/works/{id}/score?k=5`: a stored work scored by each trained
/// head, with its references (`artlens score ID --json`). With `maps=true`
/// the patch maps against each first reference are added (what `score
/// --html` draws); with `view=true` the answer is the whole [`ScoreView`]
/// (one image, with who made it and its warnings), which is what the
/// command line's HTML report is rendered from.
pub async fn score_work(
    State(st): State<Shared>,
    WorkId(id): WorkId,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let opts = ScoreOptions::parse(&Params::parse(q)?)?;
    let asked = opts.clone();
    let view = ask_work(&st, id, move |c, rater| {
        asked.score(c, rater, ImageRef::Work(id.to_string()))
    })
    .await?;
    score_answer(view, &opts).map_err(|e| match e.status {
        StatusCode::NOT_FOUND => no_work(id),
        _ => e,
    })
}

/// `POST /api/score` (multipart, a file field `image`, optional `k`): the
/// uploaded image scored like `artlens score FILE --json` (one line of it),
/// under the name it was uploaded with; `maps` and `view` as for a stored
/// work. The upload is decoded in memory ([`ImageRef::Bytes`]); it is
/// scored, not stored.
pub async fn score_upload(State(st): State<Shared>, form: Multipart) -> ApiResult<Response> {
    let (view, opts) = scored_upload(&st, form).await?;
    score_answer(view, &opts)
}

/// The answer to a score request: the one scored image, or with `view`
/// the whole view; an image that could not be scored is a 422 with why.
fn score_answer(view: ScoreView, opts: &ScoreOptions) -> ApiResult<Response> {
    match view.images.first() {
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "nothing was scored".into(),
        )),
        Some(i) if i.error.is_some() => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            i.error.clone().unwrap_or_default(),
        )),
        Some(_) if opts.view => Ok(Json(view).into_response()),
        Some(_) => Ok(Json(view.images.into_iter().next()).into_response()),
    }
}

/// What a score request may ask besides the image: `k` (1–1000, default
/// 5), `backbone` (default: every trained one) and `ood_percentile` (the
/// library checks its range), as `score -k --backbones --ood-percentile`;
/// `maps` (add the patch maps, as `score --html` draws them) and `view`
/// (answer with the whole view).
#[derive(Clone)]
pub struct ScoreOptions {
    pub k: usize,
    pub backbones: Option<Vec<BackboneId>>,
    pub ood_percentile: f64,
    pub maps: bool,
    pub view: bool,
}

impl ScoreOptions {
    fn parse(q: &Params) -> ApiResult<ScoreOptions> {
        let k = q.count("k", 5)?;
        let ood_percentile = match q.get("ood_percentile") {
            None => artlens::explain::DEFAULT_OOD_PERCENTILE,
            Some(v) => v
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|p| p.is_finite())
                .ok_or_else(|| {
                    ApiError::bad(format!("ood_percentile=`{}`: not a number", printable(v)))
                })?,
        };
        Ok(ScoreOptions {
            k,
            backbones: q.backbones()?,
            ood_percentile,
            maps: q.flag("maps")?.unwrap_or(false),
            view: q.flag("view")?.unwrap_or(false),
        })
    }

    /// `image` scored as these options ask, for `rater`, with the patch
    /// maps when `maps`: the one scoring of a stored work's route and an
    /// upload's.
    fn score(
        &self,
        c: &artlens::app::Collection,
        rater: &artlens::ratings::Rater,
        image: ImageRef,
    ) -> artlens::error::Result<ScoreView> {
        let req = ScoreRequest {
            images: vec![image],
            k: self.k,
            backbones: self.backbones.clone(),
            ood_percentile: self.ood_percentile,
            rater: rater.clone(),
        };
        let mut view = c.score(&req, &mut |_| {})?;
        if self.maps {
            c.add_score_maps(&mut view, &req.images, &mut |_| {})?;
        }
        Ok(view)
    }
}

/// A multipart upload: the file field `image` (its name as uploaded, and
/// its bytes) and every other field as a parameter, read once for every
/// route that takes an image.
async fn read_upload(form: Multipart) -> ApiResult<(String, Vec<u8>, Params)> {
    let (mut files, fields) = read_files(form, &["image"]).await?;
    let Some((name, bytes)) = files.remove("image") else {
        return Err(ApiError::bad(
            "no file in the upload: send multipart/form-data with a file field named `image`",
        ));
    };
    Ok((name, bytes, fields))
}

/// The uploaded image of a multipart form (`image`, and the
/// [`ScoreOptions`]), scored by every trained head: the JSON route and the
/// score page's fragment share it. The view names the image as uploaded,
/// also in its error.
pub async fn scored_upload(st: &Shared, form: Multipart) -> ApiResult<(ScoreView, ScoreOptions)> {
    let (file_name, bytes, fields) = read_upload(form).await?;
    let opts = ScoreOptions::parse(&fields)?;
    if bytes.is_empty() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("{}: the uploaded file is empty", printable(&file_name)),
        ));
    }
    let image = ImageRef::Bytes {
        name: file_name,
        bytes: bytes.into(),
    };
    let asked = opts.clone();
    let view = ask(st, move |c, rater| asked.score(c, rater, image)).await?;
    Ok((view, opts))
}

/// `GET /api/explain?work=NAME[&reference=NAME][&backbone=ID]`: where a
/// stored work and one reference look alike, per backbone (`artlens
/// explain NAME --json`); without `reference`, each backbone's nearest
/// rated work (nearest stored work when nothing is rated).
pub async fn explain_work(State(st): State<Shared>, RawQuery(q): RawQuery) -> ApiResult<Response> {
    let q = Params::parse(q)?;
    let Some(work) = q.get("work").map(str::to_string) else {
        return Err(ApiError::bad(
            "name the work to explain: `?work=ID` (an id, hash prefix or path); to explain an image file, POST it as multipart `image`",
        ));
    };
    let req = ExplainRequest {
        query: ImageRef::Work(work),
        reference: q.get("reference").map(|r| ImageRef::Work(r.to_string())),
        backbones: q.backbones()?,
        rater: st.rater.clone(),
    };
    ask_json(&st, move |c, _| c.explain(&req, &mut |_| {})).await
}

/// `POST /api/explain` (multipart: the query image as the file field
/// `image`, or a stored work by name as the text field `work`; the reference as a second file field `reference`, or by name
/// as the text field `reference`; `backbone` as for the GET): `artlens
/// explain FILE --json` for an image that need not be stored. The uploads
/// are decoded in memory; the view names them as uploaded.
pub async fn explain_upload(State(st): State<Shared>, form: Multipart) -> ApiResult<Response> {
    let (mut files, fields) = read_files(form, &["image", "reference"]).await?;
    for (name, bytes) in files.values() {
        if bytes.is_empty() {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("{}: the uploaded file is empty", printable(name)),
            ));
        }
    }
    let upload = |(name, bytes): (String, Vec<u8>)| ImageRef::Bytes {
        name,
        bytes: bytes.into(),
    };
    // The query: an uploaded file, or a stored work by name (when only the
    // reference is a file).
    let query = match (files.remove("image"), fields.get("work")) {
        (Some(f), None) => upload(f),
        (None, Some(w)) => ImageRef::Work(w.to_string()),
        (Some(_), Some(_)) => {
            return Err(ApiError::bad(
                "the query is given twice (a file `image` and a `work`): send one",
            ))
        }
        (None, None) => {
            return Err(ApiError::bad(
                "no query in the upload: send multipart/form-data with a file field named `image` (or a stored work's name as the field `work`)",
            ))
        }
    };
    let reference = match (files.remove("reference"), fields.get("reference")) {
        (Some(f), None) => Some(upload(f)),
        (None, Some(name)) => Some(ImageRef::Work(name.to_string())),
        (None, None) => None,
        (Some(_), Some(_)) => {
            return Err(ApiError::bad(
                "`reference` is given twice (a file and a name): send one",
            ))
        }
    };
    let req = ExplainRequest {
        query,
        reference,
        backbones: fields.backbones()?,
        rater: st.rater.clone(),
    };
    let c = st.collection.clone();
    let view = blocking(move || c.explain(&req, &mut |_| {}))
        .await
        // Whatever stops an explanation of what was sent (an image the
        // decoder refuses, a reference that names no work) is the request's.
        .map_err(|e| ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            ..e
        })?;
    Ok(Json(view).into_response())
}

/// A multipart form's file fields among `names` (each: its name as
/// uploaded, and its bytes) and every other field as a parameter.
async fn read_files(
    mut form: Multipart,
    names: &[&str],
) -> ApiResult<(BTreeMap<String, (String, Vec<u8>)>, Params)> {
    let mut files = BTreeMap::new();
    let mut pairs = Vec::new();
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                return Err(ApiError::new(
                    e.status(),
                    format!("bad upload: {}", e.body_text()),
                ))
            }
        };
        let name = field.name().unwrap_or("").to_string();
        let file_name = field.file_name().map(str::to_string);
        let bytes = field
            .bytes()
            .await
            .map_err(|e| ApiError::new(e.status(), format!("bad upload: {}", e.body_text())))?;
        // `image` is always the file (the score routes have taken it
        // without a file name); another of `names` is a file when it has
        // a file name, and otherwise a text field (a reference by name).
        let is_file = names.contains(&name.as_str()) && (file_name.is_some() || name == "image");
        match file_name
            .filter(|_| is_file)
            .or_else(|| is_file.then(|| "upload".to_string()))
        {
            Some(f) => {
                // Every image is checked before it is decoded: its header
                // says how many pixels it holds.
                super::security::check_upload_pixels(&bytes)
                    .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e))?;
                if files.insert(name.clone(), (f, bytes.to_vec())).is_some() {
                    return Err(ApiError::bad(format!(
                        "the file field `{}` is given twice: send one",
                        printable(&name)
                    )));
                }
            }
            None => {
                let value = String::from_utf8(bytes.to_vec()).map_err(|_| {
                    ApiError::bad(format!("field `{}` is not UTF-8", printable(&name)))
                })?;
                pairs.push((name, value));
            }
        }
    }
    Ok((files, Params(pairs)))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TrainBody {
    head: Option<HeadKind>,
    folds: Option<usize>,
    bootstrap: Option<usize>,
    repeats: Option<usize>,
    seed: Option<u64>,
}

/// `POST /api/train` with `{}` or `{"head","folds","bootstrap","repeats",
/// "seed"}`: `artlens train --json`.
pub async fn train(State(st): State<Shared>, Body(body): Body<TrainBody>) -> ApiResult<Response> {
    let d = TrainRequest::default();
    let req = TrainRequest {
        head: body.head.unwrap_or(d.head),
        folds: body.folds.unwrap_or(d.folds),
        seed: body.seed.unwrap_or(d.seed),
        bootstrap: body.bootstrap.unwrap_or(d.bootstrap),
        backbones: None,
        repeats: body.repeats.unwrap_or(d.repeats),
        rater: st.rater.clone(),
    };
    ask_json(&st, move |c, _| c.train_taste(&req, &mut |_| {})).await
}

/// The request of `GET /api/dups` and the Duplicates page:
/// `backbone=`, `threshold=`, `agreement=` (both 0 to 1).
pub fn dups_request(q: &Params) -> ApiResult<DupsRequest> {
    let similarity = |key: &str| -> ApiResult<Option<f64>> {
        match q.get(key).map(str::trim).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => v.parse::<f64>().map(Some).map_err(|_| {
                ApiError::bad(format!(
                    "{key}=`{}`: not a number from 0 to 1",
                    printable(v)
                ))
            }),
        }
    };
    let backbone = match q.get("backbone").map(str::trim).filter(|v| !v.is_empty()) {
        Some(b) => Some(BackboneId::parse(b).map_err(ApiError::from)?),
        None => None,
    };
    let req = DupsRequest {
        backbone,
        threshold: similarity("threshold")?,
        agreement: similarity("agreement")?,
    };
    req.validate().map_err(ApiError::from)?;
    Ok(req)
}

/// `GET /api/dups?backbone=&threshold=&agreement=`: `artlens dups --json`.
pub async fn dups(State(st): State<Shared>, RawQuery(q): RawQuery) -> ApiResult<Response> {
    let req = dups_request(&Params::parse(q)?)?;
    ask_json(&st, move |c, _| c.dups(&req, &mut |_| {})).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CopyBody {
    /// The copy's id.
    copy: u64,
    /// The work it copies (for `mark`).
    #[serde(default)]
    of: Option<u64>,
}

/// `POST /api/dups/mark` `{"copy": 31, "of": 12}`: `artlens dups mark 31 --of 12`.
pub async fn mark_copy(
    State(st): State<Shared>,
    Body(body): Body<CopyBody>,
) -> ApiResult<Response> {
    let of = body
        .of
        .ok_or_else(|| ApiError::bad("mark needs `of`: the id of the work it copies"))?;
    ask_marking(&st, move |c, _| {
        c.mark_copy(&body.copy.to_string(), &of.to_string())
    })
    .await
}

/// `POST /api/dups/unmark` `{"copy": 31}`: `artlens dups unmark 31`.
pub async fn unmark_copy(
    State(st): State<Shared>,
    Body(body): Body<CopyBody>,
) -> ApiResult<Response> {
    ask_marking(&st, move |c, _| c.unmark_copy(&body.copy.to_string())).await
}

/// `POST /api/dups/keep?backbone=&threshold=&agreement=` `{"copy": 12}`:
/// `artlens dups keep 12` (the work to keep is `copy`'s field, the
/// group's search the query's).
pub async fn keep_representative(
    State(st): State<Shared>,
    RawQuery(q): RawQuery,
    Body(body): Body<CopyBody>,
) -> ApiResult<Response> {
    let req = dups_request(&Params::parse(q)?)?;
    ask_marking(&st, move |c, _| {
        c.keep_representative(&body.copy.to_string(), &req, &mut |_| {})
    })
    .await
}

/// The compare request of `GET /api/compare` and the compare page.
pub fn compare_request(st: &Shared, q: &Params) -> ApiResult<CompareRequest> {
    Ok(CompareRequest {
        label: q.get("label").map(str::to_string),
        k: q.count("k", 10)?,
        backbones: q.backbones()?,
        rater: st.rater.clone(),
    })
}

/// `GET /api/compare?label=&k=&backbone=`: `artlens compare --json`.
pub async fn compare(State(st): State<Shared>, RawQuery(q): RawQuery) -> ApiResult<Response> {
    let req = compare_request(&st, &Params::parse(q)?)?;
    ask_json(&st, move |c, _| c.compare(&req, &mut |_| {})).await
}

/// `GET /api/map?backbone=ID...`: each backbone's 2D map of the
/// collection, the view `artlens map --json` prints.
pub async fn map(State(st): State<Shared>, RawQuery(q): RawQuery) -> ApiResult<Response> {
    let q = Params::parse(q)?;
    let req = artlens::app::MapRequest {
        backbones: q.backbones()?,
        rater: st.rater.clone(),
    };
    ask_json(&st, move |c, _| c.map(&req, &mut |_| {})).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexBody {
    dir: String,
    /// A metadata CSV (path, title, artist, style…); empty or absent: none.
    #[serde(default)]
    metadata: Option<String>,
}

/// A folder a person typed, resolved (symlinks and `..` gone, so that the
/// root check sees what will really be read) and checked against the
/// folders this server may index.
fn allowed_folder(st: &Shared, typed: &str) -> ApiResult<PathBuf> {
    let dir = resolved(typed, "")?;
    if !dir.is_dir() {
        return Err(ApiError::bad(format!("{}: not a folder", dir.display())));
    }
    if !st.allow_dirs.iter().any(|root| dir.starts_with(root)) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "{} is not inside a folder this server may index ({})",
                dir.display(),
                allowed_list(st)
            ),
        ));
    }
    Ok(dir)
}

/// A path a person typed, made canonical; an error names it as typed,
/// after `what`.
fn resolved(typed: &str, what: &str) -> ApiResult<PathBuf> {
    let asked = PathBuf::from(typed.trim());
    std::fs::canonicalize(&asked).map_err(|e| {
        ApiError::bad(format!(
            "{what}{}: {e}",
            printable(&asked.display().to_string())
        ))
    })
}

/// The allowed folders, for messages.
fn allowed_list(st: &Shared) -> String {
    if st.allow_dirs.is_empty() {
        return "none".into();
    }
    st.allow_dirs
        .iter()
        .map(|r| r.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A metadata CSV a person typed: a `.csv` file inside an allowed folder
/// or directly beside one (the sample keeps `data/metadata.csv` beside
/// `data/collection`), so that a request cannot make the server read any
/// file it likes.
fn allowed_metadata(st: &Shared, typed: &str) -> ApiResult<PathBuf> {
    let file = resolved(typed, "metadata ")?;
    let is_csv = file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    if !file.is_file() || !is_csv {
        return Err(ApiError::bad(format!(
            "metadata {}: not a .csv file",
            file.display()
        )));
    }
    let beside = |root: &PathBuf| {
        file.starts_with(root) || root.parent().is_some_and(|p| file.parent() == Some(p))
    };
    if !st.allow_dirs.iter().any(beside) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "metadata {} is neither inside nor beside a folder this server may index ({})",
                file.display(),
                allowed_list(st)
            ),
        ));
    }
    Ok(file)
}

/// `POST /api/index` with `{"dir": path, "metadata": csv}`: starts indexing
/// a folder under one of the allowed roots; answers 202 with the job's id
/// and its event stream's URL.
pub async fn start_index(
    State(st): State<Shared>,
    Body(body): Body<IndexBody>,
) -> ApiResult<Response> {
    let dir = allowed_folder(&st, &body.dir)?;
    let metadata = match body.metadata.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(m) => Some(allowed_metadata(&st, m)?),
    };
    match st.jobs.start(
        st.collection.clone(),
        dir,
        metadata,
        st.index_backbones.clone(),
    ) {
        Ok(id) => Ok((
            StatusCode::ACCEPTED,
            Json(serde_json::json!({
                "job": id,
                "status": format!("/api/jobs/{id}"),
                "events": format!("/api/jobs/{id}/events"),
            })),
        )
            .into_response()),
        Err(running) => Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("index job {running} is still running; wait for it to finish"),
        )),
    }
}

/// `GET /api/jobs`: the newest job's snapshot (`null` when there was none),
/// so that the index page shows a running job's progress when opened again.
pub async fn latest_job(State(st): State<Shared>) -> ApiResult<Response> {
    let snap = st.jobs.latest().map(|rx| rx.borrow().clone());
    Ok(Json(snap).into_response())
}

/// `GET /api/answer`: where the rater stands — ratings so far, the first
/// answer's threshold, the current verdict with each backbone's headline
/// figure, and whether a retrain is under way.
pub async fn answer(State(st): State<Shared>) -> ApiResult<Response> {
    let view = ask(&st, |c, rater| c.answer(rater)).await?;
    let mut out = serde_json::to_value(&view)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    out["training"] = serde_json::json!(st.trainer.busy());
    out["training_error"] = serde_json::json!(st.trainer.last_error());
    Ok(Json(out).into_response())
}

/// Brings the rater's answer up to date in the background after a change.
fn retrain(st: &Shared) {
    st.trainer.poke(st.collection.clone(), st.rater.clone());
}

/// `GET /api/jobs/{id}`: the job's newest snapshot.
pub async fn job(State(st): State<Shared>, Path(id): Path<String>) -> ApiResult<Response> {
    let rx = job_rx(&st, &id)?;
    let snap = rx.borrow().clone();
    Ok(Json(snap).into_response())
}

fn job_rx(
    st: &Shared,
    id: &str,
) -> ApiResult<tokio::sync::watch::Receiver<super::jobs::JobSnapshot>> {
    let n: u64 = id
        .parse()
        .map_err(|_| ApiError::bad(format!("job id `{}` is not a number", printable(id))))?;
    st.jobs
        .get(n)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no job {n}")))
}

/// `GET /api/jobs/{id}/events`: server-sent events, one `progress` event
/// per snapshot (the newest, when several came at once), and a last `done`
/// or `failed` event, after which the stream ends.
pub async fn job_events(
    State(st): State<Shared>,
    Path(id): Path<String>,
) -> ApiResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    let rx = job_rx(&st, &id)?;
    let stream =
        futures_util::stream::unfold((rx, true, false), |(mut rx, first, ended)| async move {
            if ended {
                return None;
            }
            if !first && rx.changed().await.is_err() {
                // The job's thread is gone; its last snapshot was sent before.
                let snap = rx.borrow().clone();
                if snap.status == "running" {
                    return None;
                }
            }
            let snap = rx.borrow_and_update().clone();
            let kind = match snap.status.as_str() {
                "running" => "progress",
                other => other,
            };
            let ended = kind != "progress";
            let ev = SseEvent::default()
                .event(kind)
                .json_data(&snap)
                .unwrap_or_else(|_| SseEvent::default().event(kind));
            Some((Ok(ev), (rx, false, ended)))
        });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(10))))
}

/// Per backbone, which other backbones' lists hold each id: what the work
/// page marks as shared.
pub fn shared_ids(neighbours: &BTreeMap<String, Vec<u64>>) -> BTreeMap<u64, usize> {
    let mut counts = BTreeMap::new();
    for ids in neighbours.values() {
        for id in ids {
            *counts.entry(*id).or_insert(0) += 1;
        }
    }
    counts
}

// The routes below let the command line keep working while the server
// holds the store (src/cli/remote.rs): each is the one library call of a
// CLI command that the routes above do not already answer.

/// `GET /api/lookup?work=NAME`: the work a person named, by any name the
/// CLI accepts (id, content-hash prefix, stored path, path relative to a
/// collection root, file name): `{"id","hash","paths"}`. Only the store is
/// searched; no file is read.
pub async fn lookup(State(st): State<Shared>, RawQuery(q): RawQuery) -> ApiResult<Response> {
    let q = Params::parse(q)?;
    let name = q
        .get("work")
        .ok_or_else(|| ApiError::bad("name the work: ?work=ID, hash prefix, path or file name"))?
        .to_string();
    let c = st.collection.clone();
    let art = blocking(move || c.resolve(&name)).await?;
    Ok(Json(serde_json::json!({
        "id": art.id,
        "hash": art.hash,
        "paths": art.paths,
    }))
    .into_response())
}

/// `GET /api/ratings`: `artlens rate list --json` for the server's rater.
pub async fn ratings(State(st): State<Shared>) -> ApiResult<Response> {
    ask_json(&st, |c, rater| c.ratings_of(rater)).await
}

/// `GET /api/ratings.csv`: `artlens rate list` (the CSV `rate import`
/// reads back).
pub async fn ratings_csv(State(st): State<Shared>) -> ApiResult<Response> {
    Ok(csv_response(
        ask(&st, |c, rater| c.ratings_csv(rater)).await?,
    ))
}

/// `GET /api/preferences`: `artlens rate list --preferences --json`.
pub async fn preferences(State(st): State<Shared>) -> ApiResult<Response> {
    ask_json(&st, |c, rater| c.preferences_of(rater)).await
}

/// `GET /api/preferences.csv`: `artlens rate list --preferences`.
pub async fn preferences_csv(State(st): State<Shared>) -> ApiResult<Response> {
    Ok(csv_response(
        ask(&st, |c, rater| c.preferences_csv(rater)).await?,
    ))
}

fn csv_response(text: String) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/csv; charset=utf-8"),
        )],
        text,
    )
        .into_response()
}

/// `DELETE /api/ratings`: `artlens rate clear`, every rating and
/// preference of the server's rater: `{"rater","ratings","preferences"}`
/// (how many were removed).
pub async fn clear_ratings(State(st): State<Shared>) -> ApiResult<Response> {
    let name = st.rater.name().to_string();
    let (r, p) = ask(&st, |c, rater| c.rate_clear(rater)).await?;
    retrain(&st);
    Ok(Json(serde_json::json!({
        "rater": name,
        "ratings": r,
        "preferences": p,
    }))
    .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportBody {
    /// The CSV's text.
    csv: String,
    #[serde(default)]
    skip_bad: bool,
    /// What the person calls the file, for messages (default `ratings.csv`).
    #[serde(default)]
    name: Option<String>,
}

/// `POST /api/ratings/import` with `{"csv": text, "skip_bad": bool,
/// "name": string}`: `artlens rate import --json` (the import report). The
/// text is read in memory; messages and the ratings' source name the file
/// `name`.
pub async fn import_ratings(
    State(st): State<Shared>,
    Body(body): Body<ImportBody>,
) -> ApiResult<Response> {
    let name = body.name.unwrap_or_else(|| "ratings.csv".into());
    let report = ask(&st, move |c, rater| {
        c.rate_import_bytes_as(body.csv.as_bytes(), &name, body.skip_bad, rater)
    })
    .await?;
    retrain(&st);
    Ok(Json(report).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportBody {
    /// Backbone names; empty: every backbone (Parquet only).
    #[serde(default)]
    backbone: Vec<String>,
    format: artlens::app::ExportFormat,
    /// An absolute folder path on the server's machine.
    out_dir: String,
    #[serde(default)]
    row_group_rows: Option<usize>,
}

/// What `POST /api/export` answers: the view of the format's export.
#[derive(serde::Serialize)]
#[serde(untagged)]
enum Exported {
    Files(artlens::app::ExportView),
    Parquet(artlens::app::ParquetExportView),
}

/// `POST /api/export` with `{"backbone": [names], "format": "npy"|"csv"|
/// "parquet", "out_dir": absolute path, "row_group_rows": n}`: `artlens
/// export --json`, written by the server into `out_dir` on its own
/// machine (the CLI that asks runs there too: it reached the server
/// through the store folder's record).
pub async fn export(State(st): State<Shared>, Body(body): Body<ExportBody>) -> ApiResult<Response> {
    let out_dir = PathBuf::from(&body.out_dir);
    if !out_dir.is_absolute() {
        return Err(ApiError::bad(format!(
            "out_dir `{}` must be an absolute path",
            printable(&body.out_dir)
        )));
    }
    let mut backbones = Vec::new();
    for b in &body.backbone {
        backbones.push(BackboneId::parse(b).map_err(ApiError::from)?);
    }
    let rows = body
        .row_group_rows
        .unwrap_or(artlens::app::DEFAULT_ROW_GROUP_ROWS);
    if rows == 0 || rows > u32::MAX as usize {
        return Err(ApiError::bad("row_group_rows must be at least 1"));
    }
    let (c, rater) = (st.collection.clone(), st.rater.clone());
    let view = blocking(move || {
        if body.format == artlens::app::ExportFormat::Parquet {
            let v = c.export_parquet(&artlens::app::ParquetRequest {
                backbones,
                out_dir,
                row_group_rows: rows,
                rater,
            })?;
            return Ok(Exported::Parquet(v));
        }
        let [backbone] = backbones.as_slice() else {
            return Err(Error::InvalidArgument(
                "npy and csv exports write exactly one backbone: name it".into(),
            ));
        };
        c.export(&artlens::app::ExportRequest {
            backbone: backbone.clone(),
            format: body.format,
            out_dir,
            rater,
        })
        .map(Exported::Files)
    })
    .await?;
    Ok(Json(view).into_response())
}

/// `POST /api/similar` (multipart: a file field `image`, and the fields
/// of `GET /api/works/{id}/similar`: `k`, `backbone`, `where`, `exact`,
/// `also`, `not`, `threshold`): `artlens similar FILE --json` for an
/// uploaded image, with more examples and works to move away from by
/// name. A stored work's file is recognised by its content (and left out
/// of its own results); a new image is embedded, not stored, and named by
/// the name it was uploaded with.
pub async fn similar_upload(State(st): State<Shared>, form: Multipart) -> ApiResult<Response> {
    Ok(Json(similar_upload_view(&st, form, 10).await?).into_response())
}

/// The view of `POST /api/similar` and of the "More like these" page's
/// upload, `k` results per backbone unless the form says otherwise.
pub async fn similar_upload_view(
    st: &Shared,
    form: Multipart,
    k: usize,
) -> ApiResult<artlens::app::SimilarView> {
    let (name, bytes, q) = read_upload(form).await?;
    let req = similar_request(
        &q,
        Some(ImageRef::Bytes {
            name,
            bytes: bytes.into(),
        }),
    )
    .map(|r| SimilarRequest {
        k: q.get("k").map_or(k, |_| r.k),
        ..r
    })?;
    let c = st.collection.clone();
    blocking(move || c.similar(&req, &mut |_| {})).await
}

/// `GET /api/suggest?n=10&goal=verdict|taste&backbone=`: `artlens suggest
/// --json`, the unrated works whose rating would help most.
pub async fn suggest(State(st): State<Shared>, RawQuery(q): RawQuery) -> ApiResult<Response> {
    let q = Params::parse(q)?;
    let goal = match q.get("goal").unwrap_or("verdict") {
        "verdict" => artlens::app::Goal::Verdict,
        "taste" => artlens::app::Goal::Taste,
        other => {
            return Err(ApiError::bad(format!(
                "goal=`{}`: expected verdict or taste",
                printable(other)
            )))
        }
    };
    let req = artlens::app::SuggestRequest {
        n: q.count("n", 10)?,
        goal,
        rater: st.rater.clone(),
        backbones: q.backbones()?,
    };
    ask_json(&st, move |c, _| c.suggest(&req)).await
}

/// `GET /api/search?q=TEXT&k=10&backbone=ID&where=KEY=VALUE`: `artlens
/// search TEXT --json`, for the server's rater.
pub async fn search(State(st): State<Shared>, RawQuery(q): RawQuery) -> ApiResult<Response> {
    let q = Params::parse(q)?;
    let req = search_request(&q, &st)?;
    ask_json(&st, move |c, _| c.search(&req)).await
}

/// The search request a query string asks for (the API's and the search
/// page's).
pub fn search_request(q: &Params, st: &Shared) -> ApiResult<artlens::app::SearchRequest> {
    Ok(artlens::app::SearchRequest {
        query: q.get("q").unwrap_or("").to_string(),
        k: q.count("k", 10)?,
        backbones: q.backbones()?,
        filters: q.all("where"),
        rater: st.rater.clone(),
    })
}

/// `GET /api/taste/words?backbone=ID`: `artlens taste --json`, for the
/// server's rater (the built-in vocabulary).
pub async fn taste_words(State(st): State<Shared>, RawQuery(q): RawQuery) -> ApiResult<Response> {
    let q = Params::parse(q)?;
    let backbones = q.backbones()?;
    let view = ask(&st, move |c, rater| {
        c.taste_words(&artlens::app::TasteWordsRequest {
            rater: rater.clone(),
            backbones,
            vocabulary: None,
        })
    })
    .await?;
    Ok(Json(view).into_response())
}
