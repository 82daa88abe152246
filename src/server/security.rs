//! The server's one gate, in front of every route: the `Host` check (DNS
//! rebinding), the access token, the same-origin rule for writes, and the
//! response headers (a strict Content-Security-Policy with no external
//! origin, `nosniff`, no referrer). A panic in a handler becomes a JSON 500
//! here, and the server goes on serving.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::Shared;

/// The policy of every page the app renders itself: scripts, styles and
/// images from the server only, nothing inline, no plugins, never framed.
pub const APP_CSP: &str = "default-src 'self'; img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The policy of the `compare --html` report shown inside the compare page:
/// the report's own (no script at all, inline styles, `data:` images), and
/// framable by the app only.
pub const REPORT_CSP: &str =
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; frame-ancestors 'self'";

/// The header a handler sets on a self-contained report page, so that the
/// gate gives it [`REPORT_CSP`] (and removes the header).
pub const REPORT_MARK: &str = "x-artlens-report";

/// The cookie that carries the token after a first visit with `?token=`.
const TOKEN_COOKIE: &str = "artlens_token";

/// Uploaded images decoded at once, server-wide; one more upload is
/// answered 503 with `Retry-After` instead of waiting in memory.
pub const MAX_UPLOAD_DECODES: usize = 2;

/// The most pixels an uploaded image may have (a 40-megapixel photograph;
/// about 160 MB once decoded as RGBA): with [`MAX_UPLOAD_DECODES`], a bound
/// on the memory uploads can take.
pub const MAX_UPLOAD_PIXELS: u64 = 40_000_000;

/// The paths that take an uploaded image.
fn is_upload(path: &str) -> bool {
    matches!(
        path,
        "/api/score" | "/api/similar" | "/api/explain" | "/fragments/score" | "/similar"
    )
}

/// The largest body `path` accepts (the routes' own limits, checked again
/// when the body is read).
fn body_limit(path: &str) -> usize {
    if is_upload(path) {
        super::MAX_UPLOAD_BYTES
    } else if path == "/api/ratings/import" {
        super::MAX_IMPORT_BYTES
    } else {
        super::MAX_JSON_BYTES
    }
}

/// The gate. Order matters: the Host check comes first (a rebinding page
/// must learn nothing, not even whether a token is needed), then the token,
/// then the body's declared size and the write rules. Every answer, a
/// refusal included, leaves with the same security headers.
pub async fn guard(State(st): State<Shared>, req: Request, next: Next) -> Response {
    let mut resp = match admit(&st, &req) {
        Err(refused) => *refused,
        Ok(set_cookie) => {
            // The permit is held while the handler decodes the image.
            let permit = if req.method() == Method::POST && is_upload(req.uri().path()) {
                match st.uploads.clone().try_acquire_owned() {
                    Ok(p) => Some(p),
                    Err(_) => {
                        let mut busy = refuse(
                            StatusCode::SERVICE_UNAVAILABLE,
                            &format!(
                                "{MAX_UPLOAD_DECODES} uploaded images are being read already; try again in a moment"
                            ),
                        );
                        busy.headers_mut()
                            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                        return decorated(busy);
                    }
                }
            } else {
                None
            };
            let mut resp = next.run(req).await;
            drop(permit);
            if let Some(c) = set_cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
                resp.headers_mut().insert(header::SET_COOKIE, c);
            }
            resp
        }
    };
    resp = decorated(resp);
    resp
}

/// The checks before a handler runs: `Ok` with the cookie to set (after a
/// first visit with `?token=`), or the refusal.
fn admit(st: &Shared, req: &Request) -> Result<Option<String>, Box<Response>> {
    let mut hosts = req.headers().get_all(header::HOST).iter();
    let first = hosts.next();
    if hosts.next().is_some() {
        // Which of two Hosts a proxy or a check reads differs; one that
        // checks the first while another part reads the second is a bypass.
        return Err(refused(
            StatusCode::BAD_REQUEST,
            "the request has more than one Host header",
        ));
    }
    let host = first
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if host.is_empty() {
        return Err(refused(
            StatusCode::BAD_REQUEST,
            "the request has no Host header",
        ));
    }
    if !st.hosts.is_empty() && !st.hosts.contains(&host) {
        return Err(refused(
            StatusCode::FORBIDDEN,
            &format!(
                "Host `{}` is not this server (it answers to {}); a page on another site cannot reach it through DNS rebinding",
                printable(&host),
                st.hosts.join(" or ")
            ),
        ));
    }
    let mut set_cookie = None;
    if let Some(token) = &st.token {
        let path = req.uri().path();
        let given = token_in(req.headers(), req.uri().query());
        match given {
            Some((t, from_query)) if constant_time_eq(t.as_bytes(), token.as_bytes()) => {
                if from_query {
                    set_cookie = Some(format!(
                        "{TOKEN_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"
                    ));
                }
            }
            // The health check says only "ok": monitors need no token.
            _ if path == "/healthz" => {}
            Some(_) => return Err(refused(StatusCode::UNAUTHORIZED, "wrong access token")),
            None => {
                return Err(refused(
                    StatusCode::UNAUTHORIZED,
                    "this server needs its access token: open the URL it printed (with ?token=...), or send `Authorization: Bearer TOKEN`",
                ))
            }
        }
    }
    // A declared size over the route's limit is refused before a byte of
    // the body is awaited; the connection is closed, as the body is unread.
    let limit = body_limit(req.uri().path());
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u128>().ok());
    if let Some(n) = declared.filter(|n| *n > limit as u128) {
        let mut r = refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!(
                "the body is {n} bytes; {} takes at most {limit}",
                printable(req.uri().path())
            ),
        );
        r.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return Err(Box::new(r));
    }
    if is_write(req.method()) {
        if let Err((status, why)) = check_write(req, &host) {
            return Err(refused(status, &why));
        }
    }
    Ok(set_cookie)
}

/// `resp` with the security headers every answer carries.
fn decorated(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    // A self-contained report page (compare, explain) says so itself.
    let is_report = h.remove(REPORT_MARK).is_some();
    let csp = if is_report { REPORT_CSP } else { APP_CSP };
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_FRAME_OPTIONS,
        HeaderValue::from_static(if is_report { "SAMEORIGIN" } else { "DENY" }),
    );
    // Loopback needs no token, so a page on another origin could embed this
    // server's images and read their sizes; browsers refuse that with CORP.
    h.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("same-origin"),
    );
    resp
}

/// Refuses an uploaded image with more than [`MAX_UPLOAD_PIXELS`] pixels,
/// reading only its header; an image whose header cannot be read is left
/// to the decoder, which applies `index`'s limits and names the problem.
pub fn check_upload_pixels(bytes: &[u8]) -> Result<(), String> {
    let dims = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .ok()
        .and_then(|r| r.into_dimensions().ok());
    match dims {
        Some((w, h)) if u64::from(w) * u64::from(h) > MAX_UPLOAD_PIXELS => Err(format!(
            "the image is {w}×{h} pixels; an upload may have at most {MAX_UPLOAD_PIXELS} pixels: send a smaller version"
        )),
        _ => Ok(()),
    }
}

fn is_write(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// A write must come from this server's own pages (or a script that sends
/// no `Origin`, as curl does): a browser adds `Origin` to every cross-site
/// POST, PUT and DELETE, so a foreign or `null` origin is refused, and so is
/// a `Sec-Fetch-Site` other than same-origin. Bodies must be JSON (which a
/// cross-site form cannot send without a CORS preflight this server never
/// grants) or, for the upload, multipart.
fn check_write(req: &Request, host: &str) -> Result<(), (StatusCode, String)> {
    let headers = req.headers();
    // Under `Referrer-Policy: no-referrer` a browser sends `Origin: null` with
    // a plain HTML form's POST (the "More like these" page's upload), even
    // to its own origin; it then also says `Sec-Fetch-Site: same-origin`,
    // which a page on another site cannot forge, so that pair is ours.
    let same_site_form = headers.get(header::ORIGIN).is_some_and(|o| o == "null")
        && headers
            .get("sec-fetch-site")
            .is_some_and(|s| s == "same-origin");
    if let Some(origin) = headers.get(header::ORIGIN).filter(|_| !same_site_form) {
        let ours = format!("http://{host}");
        if origin
            .to_str()
            .map(|o| o.to_ascii_lowercase())
            .ok()
            .as_deref()
            != Some(ours.as_str())
        {
            return Err((
                StatusCode::FORBIDDEN,
                format!(
                    "cross-origin {} refused: Origin `{}` is not {ours}",
                    req.method(),
                    printable(origin.to_str().unwrap_or("?"))
                ),
            ));
        }
    }
    if let Some(site) = headers.get("sec-fetch-site").and_then(|s| s.to_str().ok()) {
        if site != "same-origin" && site != "none" {
            return Err((
                StatusCode::FORBIDDEN,
                format!(
                    "cross-site {} refused (Sec-Fetch-Site: {site})",
                    req.method()
                ),
            ));
        }
    }
    let has_body = req.method() != Method::DELETE;
    if has_body {
        let ct = headers
            .get(header::CONTENT_TYPE)
            .and_then(|c| c.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let upload = is_upload(req.uri().path());
        let ok =
            ct.starts_with("application/json") || (upload && ct.starts_with("multipart/form-data"));
        if !ok {
            let want = if upload {
                "multipart/form-data (a file field named `image`)"
            } else {
                "application/json"
            };
            return Err((
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "{} {} needs Content-Type {want}, not `{}`",
                    req.method(),
                    req.uri().path(),
                    printable(&ct)
                ),
            ));
        }
    }
    Ok(())
}

/// The token from `Authorization: Bearer`, `X-Artlens-Token`, the cookie,
/// or `?token=` (the last one flagged, so the cookie can be set).
fn token_in(headers: &HeaderMap, query: Option<&str>) -> Option<(String, bool)> {
    if let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        if let Some(t) = v.strip_prefix("Bearer ") {
            return Some((t.trim().to_string(), false));
        }
    }
    if let Some(v) = headers.get("x-artlens-token").and_then(|v| v.to_str().ok()) {
        return Some((v.trim().to_string(), false));
    }
    for cookies in headers.get_all(header::COOKIE) {
        for c in cookies.to_str().unwrap_or("").split(';') {
            if let Some(t) = c.trim().strip_prefix(&format!("{TOKEN_COOKIE}=")) {
                return Some((t.to_string(), false));
            }
        }
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query?).ok()?;
    pairs
        .into_iter()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| (v, true))
}

/// Compares without an early exit, so the time taken says nothing about
/// how much of a guessed token was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A value from the request, safe to put in a message: control characters
/// escaped and cut short.
pub fn printable(s: &str) -> String {
    let s: String = s.chars().take(120).collect();
    s.escape_debug().to_string()
}

/// [`refuse`], boxed: the gate's checks return it as their error.
fn refused(status: StatusCode, message: &str) -> Box<Response> {
    Box::new(refuse(status, message))
}

/// `{"error": message}` with `status`.
pub fn refuse(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
}

/// What a panicking handler answers; the panic itself was printed to stderr
/// by the binary's hook (it names the file and line).
pub fn panic_response(_err: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    refuse(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal error in artlens (logged on the server's stderr); the server goes on serving",
    )
}

/// A fresh access token: 128 bits from the OS's random source, hex.
pub fn new_token() -> std::io::Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }

    #[test]
    fn token_is_found_in_each_place() {
        let mut h = HeaderMap::new();
        assert_eq!(
            token_in(&h, Some("token=q1&x=2")),
            Some(("q1".into(), true))
        );
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=b; artlens_token=c1"),
        );
        assert_eq!(token_in(&h, None), Some(("c1".into(), false)));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer b1"));
        assert_eq!(token_in(&h, None), Some(("b1".into(), false)));
        assert_eq!(token_in(&HeaderMap::new(), Some("x=1")), None);
    }

    #[test]
    fn new_tokens_differ() {
        let (a, b) = (new_token().unwrap(), new_token().unwrap());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }
}
