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
//! The security rules ([`security`]): loopback by default, a token for any
//! other address, the `Host` header checked against the bound address (DNS
//! rebinding), state-changing requests only as same-origin JSON or
//! multipart, images by work id only, indexing only under allowed roots, a
//! strict Content-Security-Policy, and a panic in a handler answered with a
//! 500 while the server keeps serving.

mod api;
mod jobs;
mod pages;
mod security;
mod trainer;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

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
/// The largest JSON body any other request may send.
pub const MAX_JSON_BYTES: usize = 64 * 1024;

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
}

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
    let store_dir = collection.store().path().to_path_buf();
    let collection = Arc::new(collection);
    let offer_dir = opts
        .dir
        .clone()
        .or_else(|| opts.allow_dirs.first().cloned());
    let state: Shared = Arc::new(AppState {
        collection: collection.clone(),
        hosts,
        token: opts.token.clone(),
        allow_dirs: opts.allow_dirs,
        index_backbones: opts.index_backbones,
        rater: opts.rater,
        jobs: jobs::Jobs::default(),
        trainer: Arc::default(),
        offer_dir,
    });
    let app = router(state.clone());
    artlens::store::write_served_by(&store_dir, &format!("{origin}/"))?;
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
    let served = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await;
    // A retrain started by the last rating finishes first (it is one atomic
    // batch either way; waiting keeps the answer current for the next start).
    state.trainer.wait_idle(std::time::Duration::from_secs(30));
    // Every acknowledged write was flushed before it was acknowledged; this
    // flush covers the background writes of a job still running.
    let flushed = collection.store().flush();
    artlens::store::remove_served_by(&store_dir);
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
            post(api::import_ratings).layer(DefaultBodyLimit::max(api::MAX_IMPORT_BYTES)),
        )
        .route("/export", post(api::export))
        .route("/suggest", get(api::suggest))
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
        .route("/compare", get(pages::compare))
        .route("/compare/report", get(pages::compare_report))
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

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
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
}
