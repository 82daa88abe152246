//! `artlens serve`: the local web app. One process (axum on tokio) owns the
//! store while it runs and serves HTML pages ([`pages`]) and a JSON API
//! ([`api`]) over the same application layer the CLI calls
//! ([`artlens::app::Collection`]); the handlers parse a request into the
//! library's request types, run the call off the async runtime
//! (`spawn_blocking`: embedding, training and ANN builds are CPU work), and
//! render the view it returns. Indexing runs as a job inside the server
//! ([`jobs`]) with its progress as server-sent events, while reads go on
//! being served from the same collection.
//!
//! The details are in `docs/WEB_APP.md`, section "The server module".

mod api;
mod jobs;
mod pages;
mod security;
mod trainer;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post, put};
use axum::Router;

use artlens::app::Collection;
use artlens::model::registry::BackboneId;
use artlens::ratings::Rater;

/// The largest request body: an uploaded image for `POST /api/score`.
/// Decoding then applies the same pixel limits as `index`.
pub const MAX_UPLOAD_BYTES: usize = 64 * 1024 * 1024;
/// The largest CSV `POST /api/ratings/import` takes (a million ratings
/// with long paths fit).
pub const MAX_IMPORT_BYTES: usize = 64 * 1024 * 1024;
/// The largest JSON body any other request may send.
pub const MAX_JSON_BYTES: usize = 64 * 1024;
/// How long a connection may take to send a request's headers, and so also
/// how long an idle keep-alive connection is kept: hyper's header-read timer
/// starts as soon as a connection waits for its next request.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// The most connections served at once (fewer when the process may open
/// fewer files, see [`connection_cap`]); one more is answered 503 at once.
pub const MAX_CONNECTIONS: usize = 2048;
/// Files kept free for the store, thumbnails and index jobs when the
/// connection cap is derived from the process's file limit.
const RESERVED_FILES: u64 = 128;
/// How long a stop waits for requests in flight before closing them.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// How long a connection over the cap waits for a shed idle one's slot.
const SHED_WAIT: Duration = Duration::from_millis(500);

/// What `artlens serve` was asked.
pub struct ServeOptions {
    pub host: IpAddr,
    pub port: u16,
    /// The access token; `None` on loopback unless one was given.
    pub token: Option<String>,
    /// Folders `POST /api/index` may index (canonical paths).
    pub allow_dirs: Vec<PathBuf>,
    /// Backbones an index job embeds with.
    pub index_backbones: Vec<BackboneId>,
    /// Whose ratings the pages show and set.
    pub rater: Rater,
    /// The folder `artlens serve DIR` was given: allowed, and offered first
    /// on the Index page and the empty gallery.
    pub dir: Option<PathBuf>,
    /// Open the URL in a browser once listening.
    pub open: bool,
}

/// Everything a handler may reach.
pub struct AppState {
    pub collection: Arc<Collection>,
    /// `Host` header values accepted; empty accepts any (a wildcard bind,
    /// where the token is what protects the server).
    pub hosts: Vec<String>,
    pub token: Option<String>,
    pub allow_dirs: Vec<PathBuf>,
    pub index_backbones: Vec<BackboneId>,
    pub rater: Rater,
    pub jobs: jobs::Jobs,
    /// Retrains the rater's heads after each change of their ratings.
    pub trainer: Arc<trainer::Trainer>,
    /// The folder offered first for indexing (`serve DIR`, else the first
    /// allowed folder).
    pub offer_dir: Option<PathBuf>,
    /// Uploaded images being decoded ([`security::MAX_UPLOAD_DECODES`]).
    pub uploads: Arc<tokio::sync::Semaphore>,
}

/// The thumbnail sizes the pages ask for (the gallery's 256, the
/// neighbours' 128); no other is made, so a client cannot fill the cache
/// with a thousand sizes of every work.
pub const THUMB_SIZES: [u32; 2] = [128, 256];

pub type Shared = Arc<AppState>;

pub use security::new_token;

/// Runs the server until Ctrl-C or SIGTERM: binds, prints the URL on
/// stdout (one line, with the token when there is one), records itself in
/// the store folder so other commands can name it, and on stop flushes the
/// store and removes that record.
pub fn run(collection: Collection, opts: ServeOptions, info: &dyn Fn(String)) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("artlens-serve")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(collection, opts, info))
}

async fn serve(collection: Collection, opts: ServeOptions, info: &dyn Fn(String)) -> Result<()> {
    if !opts.host.is_loopback() && opts.token.is_none() {
        bail!("a non-loopback --host needs an access token (internal: none was made)");
    }
    let listener = tokio::net::TcpListener::bind(SocketAddr::new(opts.host, opts.port))
        .await
        .with_context(|| format!("cannot listen on {}:{}", opts.host, opts.port))?;
    let bound = listener.local_addr()?;
    let host_part = match bound.ip() {
        IpAddr::V6(ip) => format!("[{ip}]"),
        IpAddr::V4(ip) => ip.to_string(),
    };
    let origin = format!("http://{host_part}:{}", bound.port());
    let hosts = if bound.ip().is_unspecified() {
        Vec::new()
    } else {
        let mut h = vec![format!("{host_part}:{}", bound.port())];
        if bound.ip().is_loopback() {
            h.push(format!("localhost:{}", bound.port()));
        }
        h
    };
    let store_dir = collection.store_dir().to_path_buf();
    let collection = Arc::new(collection);
    let offer_dir = opts
        .dir
        .clone()
        .or_else(|| opts.allow_dirs.first().cloned());
    let state: Shared = Arc::new(AppState {
        collection: collection.clone(),
        hosts,
        token: opts.token.clone(),
        jobs: jobs::Jobs::confined_to(opts.allow_dirs.clone()),
        allow_dirs: opts.allow_dirs,
        index_backbones: opts.index_backbones,
        rater: opts.rater,
        trainer: Arc::default(),
        offer_dir,
        uploads: Arc::new(tokio::sync::Semaphore::new(security::MAX_UPLOAD_DECODES)),
    });
    let app = router(state.clone());
    // The signals are handled from here on, before the record is written:
    // a SIGTERM in the first millisecond after the URL is printed stops the
    // server cleanly instead of killing it with its record left behind.
    let stop = stop_signals()?;
    collection.announce_server(&format!("{origin}/"))?;
    let url = match &opts.token {
        Some(t) => format!("{origin}/?token={t}"),
        None => format!("{origin}/"),
    };
    // The URL is the command's result: stdout, one line, for scripts and
    // tests to read; everything else goes to stderr.
    println!("{url}");
    info(format!(
        "serving {} at {url} — Ctrl-C stops",
        store_dir.display()
    ));
    if opts.open {
        open_browser(&url, info);
    }
    let served: std::io::Result<()> = {
        accept_loop(listener, app, stop).await;
        Ok(())
    };
    // A retrain started by the last rating finishes first (it is one atomic
    // batch either way; waiting keeps the answer current for the next start).
    state.trainer.wait_idle(std::time::Duration::from_secs(30));
    // Every acknowledged write was flushed before it was acknowledged; this
    // flush covers the background writes of a job still running.
    let flushed = collection.flush();
    collection.withdraw_server();
    served.context("the server stopped with an error")?;
    flushed?;
    info("stopped; the store is flushed".to_string());
    Ok(())
}

/// The routes: pages, the JSON API, assets and the health check, behind the
/// security layer.
pub fn router(state: Shared) -> Router {
    secure(routes(), state)
}

/// Every route, before the layers.
fn routes() -> Router<Shared> {
    let api = Router::new()
        .route("/status", get(api::status))
        .route("/gallery", get(api::gallery))
        .route("/works", get(api::works))
        .route("/works/{id}", get(api::work))
        .route("/works/{id}/image", get(api::image))
        .route("/works/{id}/thumb", get(api::thumb))
        .route("/works/{id}/view", get(api::view))
        .route("/works/{id}/similar", get(api::similar))
        .route(
            "/works/{id}/rating",
            put(api::set_rating).delete(api::remove_rating),
        )
        .route("/works/{id}/score", get(api::score_work))
        .route(
            "/preferences",
            post(api::prefer)
                .delete(api::unprefer)
                .get(api::preferences),
        )
        .route("/preferences.csv", get(api::preferences_csv))
        .route("/lookup", get(api::lookup))
        .route("/ratings", get(api::ratings).delete(api::clear_ratings))
        .route("/ratings.csv", get(api::ratings_csv))
        .route(
            "/ratings/import",
            post(api::import_ratings).layer(DefaultBodyLimit::max(MAX_IMPORT_BYTES)),
        )
        .route("/export", post(api::export))
        .route("/suggest", get(api::suggest))
        .route("/search", get(api::search))
        .route("/taste/words", get(api::taste_words))
        .route(
            "/similar",
            post(api::similar_upload).layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES)),
        )
        .route("/answer", get(api::answer))
        .route(
            "/score",
            post(api::score_upload).layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES)),
        )
        .route("/train", post(api::train))
        .route("/compare", get(api::compare))
        .route("/map", get(api::map))
        .route("/dups", get(api::dups))
        .route("/dups/mark", post(api::mark_copy))
        .route("/dups/unmark", post(api::unmark_copy))
        .route("/dups/keep", post(api::keep_representative))
        .route("/explain", get(api::explain_work).post(api::explain_upload))
        .route("/index", post(api::start_index))
        .route("/jobs", get(api::latest_job))
        .route("/jobs/{id}", get(api::job))
        .route("/jobs/{id}/events", get(api::job_events))
        .fallback(api::not_found)
        .layer(DefaultBodyLimit::max(MAX_JSON_BYTES));
    Router::new()
        .route("/", get(pages::gallery))
        .route("/works/{id}", get(pages::work))
        .route("/works/{id}/maps", get(pages::work_maps))
        .route("/rate", get(pages::rate))
        .route("/score", get(pages::score))
        .route("/similar", get(pages::similar).post(pages::similar_upload))
        .route("/search", get(pages::search))
        .route("/compare", get(pages::compare))
        .route("/map", get(pages::map))
        .route("/compare/report", get(pages::compare_report))
        .route("/dups", get(pages::dups))
        .route("/fragments/answer", get(pages::answer_fragment))
        .route(
            "/fragments/score",
            post(pages::score_fragment).layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES)),
        )
        .route("/index", get(pages::index))
        .route("/assets/{name}", get(pages::asset))
        .route("/healthz", get(|| async { "ok" }))
        .nest("/api", api)
        .fallback(pages::not_found)
}

/// `routes` behind the security gate and the panic catcher, with `state`.
fn secure(routes: Router<Shared>, state: Shared) -> Router {
    // The panic catcher sits inside the gate, so that a 500 from a panic
    // carries the same security headers as every other answer.
    routes
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            security::panic_response,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            security::guard,
        ))
        .with_state(state)
}

/// Ctrl-C, SIGTERM or SIGHUP (the terminal closed), listened for from the
/// moment this returns.
fn stop_signals() -> Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut int = signal(SignalKind::interrupt()).context("cannot handle Ctrl-C")?;
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut hup = signal(SignalKind::hangup()).context("cannot handle SIGHUP")?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => {},
            _ = term.recv() => {},
            _ = hup.recv() => {},
        }
    })
}

/// How many connections may be open at once: [`MAX_CONNECTIONS`], or fewer
/// when the process's file limit leaves less room. The soft limit is first
/// raised towards the hard one, as servers do, so that idle connections
/// cannot use up the files the store needs.
fn connection_cap() -> usize {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read and write only the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return MAX_CONNECTIONS.min(512);
        }
        let want = (MAX_CONNECTIONS as u64 + RESERVED_FILES * 2).min(lim.rlim_max);
        if lim.rlim_cur < want {
            let raised = libc::rlimit {
                rlim_cur: want,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim.rlim_cur = want;
            }
        }
    }
    (lim.rlim_cur.saturating_sub(RESERVED_FILES) as usize).clamp(16, MAX_CONNECTIONS)
}

/// The open connections, oldest first, each with whether it has sent a
/// request yet and how to ask it to close: at the cap, the oldest that has
/// sent nothing makes room for a new one.
#[derive(Default)]
struct Connections {
    next: u64,
    open: std::collections::BTreeMap<u64, (Arc<AtomicBool>, Arc<tokio::sync::Notify>)>,
}

impl Connections {
    /// Asks the oldest connection that never sent a request to close;
    /// false when every open connection has sent one.
    fn shed_one(&self) -> bool {
        match self
            .open
            .values()
            .find(|(requested, _)| !requested.load(Ordering::Relaxed))
        {
            Some((_, close)) => {
                close.notify_one();
                true
            }
            None => false,
        }
    }
}

/// Accepts connections until `stop`, each served by hyper with the
/// header-read timeout, at most [`connection_cap`] at once; then lets the
/// requests in flight finish for [`STOP_GRACE`].
///
/// A connection over the cap first sheds the oldest connection that has
/// sent no request (an idle socket holding a slot), so that a thousand idle
/// sockets cannot keep `/healthz` or a person's browser out; only when
/// every connection is in use is the new one answered 503.
async fn accept_loop(
    listener: tokio::net::TcpListener,
    app: Router,
    stop: impl std::future::Future<Output = ()>,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let cap = connection_cap();
    let permits = Arc::new(tokio::sync::Semaphore::new(cap));
    let conns = Arc::new(std::sync::Mutex::new(Connections::default()));
    let (stopping, stop_rx) = tokio::sync::watch::channel(false);
    tokio::pin!(stop);
    loop {
        let stream = tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => {
                    // Out of files or memory for a moment: wait instead of
                    // spinning; the connections open now will end.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let permit = match permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                let shed = conns.lock().unwrap_or_else(|p| p.into_inner()).shed_one();
                let waited = if shed {
                    tokio::time::timeout(SHED_WAIT, permits.clone().acquire_owned())
                        .await
                        .ok()
                        .and_then(|p| p.ok())
                } else {
                    None
                };
                match waited {
                    Some(p) => p,
                    None => {
                        tokio::spawn(answer_busy(stream));
                        continue;
                    }
                }
            }
        };
        let _ = stream.set_nodelay(true);
        let requested = Arc::new(AtomicBool::new(false));
        let close = Arc::new(tokio::sync::Notify::new());
        let id = {
            let mut c = conns.lock().unwrap_or_else(|p| p.into_inner());
            c.next += 1;
            let id = c.next;
            c.open.insert(id, (requested.clone(), close.clone()));
            id
        };
        let inner = hyper_util::service::TowerToHyperService::new(app.clone());
        let service = hyper::service::service_fn(move |req| {
            requested.store(true, Ordering::Relaxed);
            hyper::service::Service::call(&inner, req)
        });
        let mut stop_rx = stop_rx.clone();
        let conns = conns.clone();
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT);
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = close.notified() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(STOP_GRACE, conn.as_mut()).await;
                }
                _ = stop_rx.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(STOP_GRACE, conn.as_mut()).await;
                }
            }
            conns
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .open
                .remove(&id);
            drop(permit);
        });
    }
    let _ = stopping.send(true);
    let _ = tokio::time::timeout(STOP_GRACE, permits.acquire_many(cap as u32)).await;
}

/// The answer to a connection over the cap: 503 with `Retry-After`, then
/// closed, so a client learns at once instead of waiting in the backlog.
async fn answer_busy(stream: tokio::net::TcpStream) {
    let body = r#"{"error":"the server has too many connections open; try again in a moment"}"#;
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: application/json\r\nX-Content-Type-Options: nosniff\r\nCross-Origin-Resource-Policy: same-origin\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    // Small enough for one write into an empty socket buffer.
    if let Ok(Ok(())) = tokio::time::timeout(Duration::from_secs(1), stream.writable()).await {
        let _ = stream.try_write(head.as_bytes());
    }
}

/// Opens `url` in the desktop's browser, if there is one; a failure is only
/// a message (the URL is printed anyway).
fn open_browser(url: &str, info: &dyn Fn(String)) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    match std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
    {
        Ok(_) => {}
        Err(e) => info(format!(
            "could not open a browser ({opener}: {e}); open {url} yourself"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn raw_get(addr: SocketAddr, path: &str) -> String {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    /// A handler that panics answers a JSON 500 through the same layers as
    /// every real route, and the server answers the next request.
    #[test]
    fn a_panicking_handler_gets_a_500_and_the_server_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let collection = Collection::create(dir.path(), Default::default()).unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        let addr = rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let state: Shared = Arc::new(AppState {
                collection: Arc::new(collection),
                hosts: vec![addr.to_string()],
                token: None,
                allow_dirs: Vec::new(),
                index_backbones: Vec::new(),
                rater: Rater::default(),
                jobs: jobs::Jobs::default(),
                trainer: Arc::default(),
                offer_dir: None,
                uploads: Arc::new(tokio::sync::Semaphore::new(1)),
            });
            let boom = routes().route(
                "/boom",
                get(|| async {
                    if std::hint::black_box(true) {
                        panic!("a bug in a handler");
                    }
                    "unreachable"
                }),
            );
            let app = secure(boom, state);
            tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
            addr
        });
        let boom = raw_get(addr, "/boom");
        assert!(boom.starts_with("HTTP/1.1 500"), "{boom}");
        assert!(boom.contains("\"error\""), "{boom}");
        assert!(boom.contains("content-security-policy"), "{boom}");
        let ok = raw_get(addr, "/healthz");
        assert!(ok.starts_with("HTTP/1.1 200") && ok.ends_with("ok"), "{ok}");
        rt.shutdown_background();
    }

    /// The server is a front end: everything it reads or writes goes
    /// through [`Collection`], so that the library's checks (one rater, one
    /// resolver, the journal before the database) cannot be bypassed by a
    /// route. A route that reached for the store would show here.
    #[test]
    fn the_server_reaches_the_store_only_through_the_collection() {
        let sources = [
            ("api.rs", include_str!("api.rs")),
            ("pages.rs", include_str!("pages.rs")),
            ("jobs.rs", include_str!("jobs.rs")),
            ("trainer.rs", include_str!("trainer.rs")),
            ("security.rs", include_str!("security.rs")),
            ("mod.rs", include_str!("mod.rs")),
        ];
        let forbidden = [
            [".", "store()"].concat(),
            ["artlens::", "store::"].concat(),
            ["artlens::", "ratings::", "rating_of"].concat(),
            ["tempfile", "_in_store"].concat(),
        ];
        for (file, text) in sources {
            for f in &forbidden {
                assert!(!text.contains(f.as_str()), "src/server/{file} uses `{f}`");
            }
        }
    }
}
