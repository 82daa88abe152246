//! The load benchmark of `artlens serve`: a store of N small works with
//! random embeddings for `dino` and `dinov2` (written through the library,
//! its ANN indexes built and saved first), the real binary serving it on
//! loopback, and C client threads hammering four endpoints for T seconds.
//!
//! ```text
//! cargo bench --bench serve
//! SERVE_BENCH_WORKS=2000 SERVE_BENCH_CLIENTS=8 SERVE_BENCH_SECONDS=10 cargo bench --bench serve
//! ```
//!
//! Endpoints, cycled by every client with random ids and offsets:
//! `gallery` (`GET /?offset=K&limit=60`, HTML), `works`
//! (`GET /api/works?offset=K&limit=60`, JSON), `thumb`
//! (`GET /api/works/{id}/thumb?size=256`, JPEG, from the cache warmed
//! before the clock starts) and `similar` (`GET /api/works/{id}/similar?k=10`,
//! JSON). It prints a table of requests, throughput and latency
//! percentiles per endpoint, then the same as one JSON line, and exits
//! non-zero when any request failed (a non-2xx status, a transport error,
//! or a body that is not what the endpoint serves).

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, ExitCode, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use artlens::app::{Collection, WeightsConfig};
use artlens::store::{NewArtwork, Store};
use common::rng::{env_or, Rng};

/// The embedding width of both backbones (their real one).
const DIM: usize = 768;
/// The pictures' size: small, so writing 10,000 of them takes seconds.
const IMAGE_W: u32 = 96;
const IMAGE_H: u32 = 72;
/// Works per gallery and `/api/works` page.
const PAGE: usize = 60;
/// How long the server may take to print its URL and answer `/healthz`.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// One request's limit: a request slower than this counts as an error
/// rather than stalling its client past the end of the run.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The most of the server's stderr kept for failure messages.
const STDERR_KEEP: usize = 32 * 1024;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Gallery,
    Works,
    Thumb,
    Similar,
}

const ENDPOINTS: [Endpoint; 4] = [
    Endpoint::Gallery,
    Endpoint::Works,
    Endpoint::Thumb,
    Endpoint::Similar,
];

impl Endpoint {
    fn name(self) -> &'static str {
        match self {
            Endpoint::Gallery => "gallery",
            Endpoint::Works => "works",
            Endpoint::Thumb => "thumb",
            Endpoint::Similar => "similar",
        }
    }

    /// A request path with a random offset or work.
    fn path(self, rng: &mut Rng, ids: &[u64]) -> String {
        let offset = rng.below(ids.len().saturating_sub(PAGE).max(1));
        let id = ids[rng.below(ids.len())];
        match self {
            Endpoint::Gallery => format!("/?offset={offset}&limit={PAGE}"),
            Endpoint::Works => format!("/api/works?offset={offset}&limit={PAGE}"),
            Endpoint::Thumb => format!("/api/works/{id}/thumb?size=256"),
            Endpoint::Similar => format!("/api/works/{id}/similar?k=10"),
        }
    }

    /// Whether `body` (served as `content_type`) is what this endpoint
    /// serves: cheap checks, so that a server answering 200 with an error
    /// page or an empty body does not pass as fast.
    fn check(self, content_type: &str, body: &[u8]) -> Result<(), String> {
        let (want, ok) = match self {
            Endpoint::Gallery => ("text/html", {
                let head =
                    String::from_utf8_lossy(&body[..body.len().min(1024)]).to_ascii_lowercase();
                head.contains("<html") || head.contains("<!doctype html")
            }),
            Endpoint::Works | Endpoint::Similar => (
                "application/json",
                serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok(),
            ),
            Endpoint::Thumb => ("image/jpeg", body.starts_with(&[0xff, 0xd8, 0xff])),
        };
        if !content_type.starts_with(want) {
            return Err(format!("Content-Type {content_type:?}, expected {want}"));
        }
        if !ok {
            let head = String::from_utf8_lossy(&body[..body.len().min(120)]).into_owned();
            return Err(format!(
                "a {}-byte body that is not {want}: {head:?}",
                body.len()
            ));
        }
        Ok(())
    }
}

/// What one client saw of one endpoint.
#[derive(Default)]
struct Tally {
    /// Latencies of every request, errors included, in microseconds.
    micros: Vec<u64>,
    errors: u64,
    first_error: Option<String>,
}

/// The running server, killed when dropped (also when the bench panics).
struct Server {
    child: Child,
    base: String,
    stderr: Arc<Mutex<String>>,
}

impl Server {
    fn stderr_tail(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("serve bench: some requests failed (see above)");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("serve bench failed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the benchmark; `Ok(false)` when it ran but some request failed.
fn run() -> Result<bool, String> {
    let works: usize = env_or("SERVE_BENCH_WORKS", 10_000);
    let clients: usize = env_or("SERVE_BENCH_CLIENTS", 32);
    let seconds: f64 = env_or("SERVE_BENCH_SECONDS", 30.0);
    if works == 0 || clients == 0 || !seconds.is_finite() || seconds <= 0.0 {
        return Err(
            "SERVE_BENCH_WORKS, SERVE_BENCH_CLIENTS and SERVE_BENCH_SECONDS must be positive"
                .into(),
        );
    }

    let tmp = tempfile::tempdir().map_err(|e| format!("a temporary folder: {e}"))?;
    let images = tmp.path().join("images");
    let store_dir = tmp.path().join("store");

    let t = Instant::now();
    let ids = build_store(&images, &store_dir, works)?;
    eprintln!(
        "serve bench: wrote {works} works (images, embeddings, ANN indexes) in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let mut server = start_server(&store_dir)?;
    eprintln!("serve bench: server at {}", server.base);

    // Thumbnails are made on first request; the benchmark measures serving
    // them from the cache, so every work is asked for once beforehand.
    let t = Instant::now();
    warm_thumbnails(&server, &ids, clients)?;
    eprintln!(
        "serve bench: warmed {} thumbnails in {:.1} s",
        ids.len(),
        t.elapsed().as_secs_f64()
    );

    let ids = Arc::new(ids);
    let base = Arc::new(server.base.clone());
    let duration = Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let end = start + duration;
    let handles: Vec<_> = (0..clients)
        .map(|c| {
            let ids = ids.clone();
            let base = base.clone();
            std::thread::spawn(move || client(c, &base, &ids, end))
        })
        .collect();
    let mut totals: Vec<Tally> = ENDPOINTS.iter().map(|_| Tally::default()).collect();
    for h in handles {
        let tallies = h
            .join()
            .map_err(|_| "a client thread panicked".to_string())?;
        for (total, t) in totals.iter_mut().zip(tallies) {
            total.micros.extend(t.micros);
            total.errors += t.errors;
            if total.first_error.is_none() {
                total.first_error = t.first_error;
            }
        }
    }
    let elapsed = start.elapsed().as_secs_f64();

    let ok = report(&totals, elapsed, works, clients, seconds);

    // The server should still be up: one that died during the run says so,
    // with its last words, and not only as transport errors in the table.
    if let Ok(Some(status)) = server.child.try_wait() {
        return Err(format!(
            "the server exited ({status}) during the run; its stderr ends:\n{}",
            server.stderr_tail()
        ));
    }
    drop(server);
    Ok(ok)
}

/// Writes `works` PNGs under `images` and records them with random
/// embeddings for `dino` and `dinov2` in a new store at `store_dir`, then
/// builds and saves both ANN indexes; returns the works' ids.
fn build_store(images: &Path, store_dir: &Path, works: usize) -> Result<Vec<u64>, String> {
    let styles = [
        "Color_Field",
        "Pointillism",
        "Minimalism",
        "Baroque",
        "Cubism",
    ];
    for s in styles {
        let d = images.join(s);
        std::fs::create_dir_all(&d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    let store = Store::open(store_dir).map_err(|e| format!("creating the store: {e}"))?;
    let backbones = [common::dino(), common::dinov2()];
    for b in &backbones {
        let fp = common::test_fingerprint(b.clone(), &format!("bench-{}", b.name()), DIM);
        store
            .ensure_fingerprint(&fp, false)
            .map_err(|e| format!("recording the {b} fingerprint: {e}"))?;
    }
    let root = images.to_string_lossy().into_owned();
    store
        .add_root(&root)
        .map_err(|e| format!("recording the collection root: {e}"))?;

    let mut rng = Rng(0x5e4e_be4c);
    let mut ids = Vec::with_capacity(works);
    for i in 0..works {
        let style = styles[i % styles.len()];
        let rel = format!("{style}/bench-artist_work-{i:05}.png");
        let path = images.join(&rel);
        let bytes = picture(i as u32, &mut rng)?;
        std::fs::write(&path, &bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        let art = NewArtwork {
            hash: blake3::hash(&bytes).to_hex().to_string(),
            paths: vec![path.to_string_lossy().into_owned()],
            size: bytes.len() as u64,
            width: IMAGE_W,
            height: IMAGE_H,
            metadata: artlens::scan::wikiart_metadata(&rel),
        };
        let va = rng.vector(DIM);
        let vb = rng.vector(DIM);
        let id = store
            .record_image(&art, &[(&backbones[0], &va), (&backbones[1], &vb)])
            .map_err(|e| format!("recording work {i}: {e}"))?;
        ids.push(id);
    }
    store
        .flush()
        .map_err(|e| format!("flushing the store: {e}"))?;
    drop(store);

    // The server would otherwise build the indexes on the first `similar`
    // request, inside the measured run. The collection is dropped before
    // the server starts, releasing the store's lock.
    let collection = Collection::open(store_dir, WeightsConfig::default())
        .map_err(|e| format!("reopening the store: {e}"))?;
    for b in &backbones {
        collection
            .update_ann(b, &mut |_| {})
            .map_err(|e| format!("building the {b} ANN index: {e}"))?;
        // `update_ann` keeps going when the index cannot be saved; the
        // server would then rebuild it in memory on its first `similar`.
        let dir = artlens::pipeline::ann_dir(collection.store(), b);
        let saved = std::fs::read_dir(&dir).is_ok_and(|mut d| d.next().is_some());
        if !saved {
            return Err(format!(
                "the {b} ANN index was not saved under {}",
                dir.display()
            ));
        }
    }
    drop(collection);
    Ok(ids)
}

/// A small PNG whose colours vary with `i` (and whose first pixel row
/// encodes it, so that no two works share content and hence a hash).
fn picture(i: u32, rng: &mut Rng) -> Result<Vec<u8>, String> {
    let base = [
        rng.below(256) as u32,
        rng.below(256) as u32,
        rng.below(256) as u32,
    ];
    let img = image::RgbImage::from_fn(IMAGE_W, IMAGE_H, |x, y| {
        if y == 0 && x < 32 {
            let bit = if (i >> x) & 1 == 1 { 255 } else { 0 };
            return image::Rgb([bit, bit, bit]);
        }
        image::Rgb([
            ((base[0] + x * 2) % 256) as u8,
            ((base[1] + y * 3) % 256) as u8,
            ((base[2] + (x + y) * (1 + i % 5)) % 256) as u8,
        ])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .map_err(|e| format!("encoding a PNG: {e}"))?;
    Ok(out.into_inner())
}

/// Starts `artlens serve` on an ephemeral loopback port and waits until its
/// `/healthz` answers 200.
fn start_server(store_dir: &Path) -> Result<Server, String> {
    let mut cmd = common::artlens();
    // A token in the environment would make every request need it.
    cmd.env_remove("ARTLENS_TOKEN");
    cmd.arg("serve")
        .arg("--store")
        .arg(store_dir)
        .args(["--port", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("starting {}: {e}", env!("CARGO_BIN_EXE_artlens")))?;

    // Both pipes are drained for the server's whole life (a full pipe would
    // block it); the first stdout line is its URL.
    let stderr = Arc::new(Mutex::new(String::new()));
    let (url_tx, url_rx) = mpsc::channel();
    let out = child
        .stdout
        .take()
        .ok_or("the server's stdout is not piped")?;
    std::thread::spawn(move || {
        let mut url_tx = Some(url_tx);
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if let Some(tx) = url_tx.take() {
                let _ = tx.send(line);
            }
        }
    });
    let err = child
        .stderr
        .take()
        .ok_or("the server's stderr is not piped")?;
    let keep = stderr.clone();
    std::thread::spawn(move || {
        let mut pipe = BufReader::new(err);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match pipe.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let mut s = keep.lock().unwrap_or_else(|p| p.into_inner());
                    s.push_str(&String::from_utf8_lossy(&buf));
                    if s.len() > STDERR_KEEP {
                        let cut = s.len() - STDERR_KEEP / 2;
                        let cut = (cut..s.len()).find(|&i| s.is_char_boundary(i)).unwrap_or(0);
                        s.drain(..cut);
                    }
                }
            }
        }
    });
    let mut server = Server {
        child,
        base: String::new(),
        stderr,
    };

    let deadline = Instant::now() + STARTUP_TIMEOUT;
    let line = url_rx.recv_timeout(STARTUP_TIMEOUT).map_err(|_| {
        format!(
            "the server printed no URL within {STARTUP_TIMEOUT:?}; its stderr:\n{}",
            server.stderr_tail()
        )
    })?;
    let url = line.trim();
    if !url.starts_with("http://127.0.0.1:") && !url.starts_with("http://[::1]:") {
        return Err(format!(
            "the server's first line is not a loopback URL: {line:?}; its stderr:\n{}",
            server.stderr_tail()
        ));
    }
    server.base = url.trim_end_matches('/').to_string();

    let agent = agent();
    let health = format!("{}/healthz", server.base);
    let mut last = String::new();
    while Instant::now() < deadline {
        if let Ok(Some(status)) = server.child.try_wait() {
            return Err(format!(
                "the server exited ({status}) while starting; its stderr:\n{}",
                server.stderr_tail()
            ));
        }
        match agent.get(&health).call() {
            Ok(r) if r.status() == 200 => return Ok(server),
            Ok(r) => last = format!("status {}", r.status()),
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!(
        "{health} did not answer 200 within {STARTUP_TIMEOUT:?} (last: {last}); the server's stderr:\n{}",
        server.stderr_tail()
    ))
}

/// An HTTP client with keep-alive, bounded waits, and no redirects (a
/// redirect is not an answer, and counts as an error).
fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(5))
        .timeout(REQUEST_TIMEOUT)
        .redirects(0)
        .build()
}

/// GETs `url` and reads the whole body (so the connection can be reused);
/// returns the content type and body, or why it failed.
fn get(agent: &ureq::Agent, url: &str) -> Result<(String, Vec<u8>), String> {
    let r = match agent.get(url).call() {
        Ok(r) => r,
        Err(ureq::Error::Status(code, r)) => {
            let body = r.into_string().unwrap_or_default();
            let body: String = body.chars().take(300).collect();
            return Err(format!("status {code}: {body}"));
        }
        Err(e) => return Err(format!("transport: {e}")),
    };
    if !(200..300).contains(&r.status()) {
        return Err(format!("status {}", r.status()));
    }
    let content_type = r.header("content-type").unwrap_or("").to_string();
    let mut body = Vec::new();
    r.into_reader()
        .read_to_end(&mut body)
        .map_err(|e| format!("reading the body: {e}"))?;
    Ok((content_type, body))
}

/// Requests every work's thumbnail once, on `threads` threads.
fn warm_thumbnails(server: &Server, ids: &[u64], threads: usize) -> Result<(), String> {
    let chunk = ids.len().div_ceil(threads.max(1));
    std::thread::scope(|s| {
        let handles: Vec<_> = ids
            .chunks(chunk)
            .map(|part| {
                let base = &server.base;
                s.spawn(move || -> Result<(), String> {
                    let agent = agent();
                    for id in part {
                        let url = format!("{base}/api/works/{id}/thumb?size=256");
                        let (ct, body) = get(&agent, &url).map_err(|e| format!("{url}: {e}"))?;
                        Endpoint::Thumb
                            .check(&ct, &body)
                            .map_err(|e| format!("{url}: {e}"))?;
                    }
                    Ok(())
                })
            })
            .collect();
        for h in handles {
            h.join()
                .map_err(|_| "a warming thread panicked".to_string())??;
        }
        Ok(())
    })
    .map_err(|e: String| {
        format!(
            "warming the thumbnails: {e}; the server's stderr ends:\n{}",
            server.stderr_tail()
        )
    })
}

/// One client: its own keep-alive connection, cycling over the endpoints
/// until `end`; returns a tally per endpoint (in [`ENDPOINTS`] order).
fn client(c: usize, base: &str, ids: &[u64], end: Instant) -> Vec<Tally> {
    let agent = agent();
    let mut rng = Rng(0xc11e_0000 + c as u64);
    let mut tallies: Vec<Tally> = ENDPOINTS.iter().map(|_| Tally::default()).collect();
    // Clients start at different endpoints, so that the mix at any moment
    // is even rather than all of them asking for the same kind at once.
    let mut k = c;
    while Instant::now() < end {
        let i = k % ENDPOINTS.len();
        k += 1;
        let ep = ENDPOINTS[i];
        let url = format!("{base}{}", ep.path(&mut rng, ids));
        let t = Instant::now();
        let result = get(&agent, &url).and_then(|(ct, body)| ep.check(&ct, &body));
        let tally = &mut tallies[i];
        tally.micros.push(t.elapsed().as_micros() as u64);
        if let Err(e) = result {
            tally.errors += 1;
            if tally.first_error.is_none() {
                tally.first_error = Some(format!("GET {url}: {e}"));
            }
        }
    }
    tallies
}

/// The `q`-quantile (nearest rank) of sorted `v`, in milliseconds.
fn quantile_ms(v: &[u64], q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1] as f64 / 1000.0
}

/// Prints the table and the JSON line; true when no request failed.
fn report(totals: &[Tally], elapsed: f64, works: usize, clients: usize, seconds: f64) -> bool {
    println!(
        "\nartlens serve: {works} works, {clients} clients, {elapsed:.1} s (asked {seconds} s)\n"
    );
    println!(
        "{:<8} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8} {:>7}",
        "endpoint", "requests", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors"
    );
    let mut json = serde_json::Map::new();
    let mut ok = true;
    let mut all = 0usize;
    for (ep, t) in ENDPOINTS.iter().zip(totals) {
        let mut v = t.micros.clone();
        v.sort_unstable();
        let n = v.len();
        all += n;
        let rps = n as f64 / elapsed;
        let (p50, p90, p99) = (
            quantile_ms(&v, 0.50),
            quantile_ms(&v, 0.90),
            quantile_ms(&v, 0.99),
        );
        let max = v.last().copied().unwrap_or(0) as f64 / 1000.0;
        println!(
            "{:<8} {n:>9} {rps:>9.1} {p50:>8.2} {p90:>8.2} {p99:>8.2} {max:>8.2} {:>7}",
            ep.name(),
            t.errors
        );
        json.insert(
            ep.name().into(),
            serde_json::json!({
                "requests": n,
                "rps": rps,
                "p50_ms": p50,
                "p90_ms": p90,
                "p99_ms": p99,
                "max_ms": max,
                "errors": t.errors,
                "first_error": t.first_error,
            }),
        );
        if t.errors > 0 {
            ok = false;
        }
    }
    println!("{:<8} {all:>9} {:>9.1}", "all", all as f64 / elapsed);
    for (ep, t) in ENDPOINTS.iter().zip(totals) {
        if let Some(e) = &t.first_error {
            println!("first {} error ({} in all): {e}", ep.name(), t.errors);
        }
    }
    println!(
        "{}",
        serde_json::json!({
            "bench": "serve",
            "works": works,
            "clients": clients,
            "seconds": elapsed,
            "requests": all,
            "rps": all as f64 / elapsed,
            "endpoints": json,
        })
    );
    ok
}
