//! `artlens serve` over HTTP: the real binary on an ephemeral port against
//! a temporary store. The JSON API answers what the CLI's `--json` answers;
//! the security rules refuse what they must with the right 4xx while the
//! server goes on serving; writes survive Ctrl-C and `kill -9`; index jobs
//! stream their progress; thumbnails are cached and revalidated.

use crate::common;

use std::time::Duration;

use common::server::Env;
use common::{run, stderr, stdout};
use image::ImageEncoder;

fn cli_json(env: &Env, args: &[&str]) -> serde_json::Value {
    let o = run(env.cmd(args));
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    serde_json::from_str(stdout(&o).trim()).unwrap()
}

/// `compare`'s provenance carries the time it was made; everything else
/// must be equal.
fn without_time(mut v: serde_json::Value) -> serde_json::Value {
    if let Some(p) = v.get_mut("provenance").and_then(|p| p.as_object_mut()) {
        p.remove("generated");
        p.remove("generated_at");
        p.remove("created");
    }
    v
}

#[test]
fn api_answers_what_the_cli_answers() {
    let env = Env::new(true);
    let ls = cli_json(&env, &["ls", "--json"]);
    let show = cli_json(&env, &["show", "3", "--json"]);
    let similar = cli_json(&env, &["similar", "--id", "3", "--json"]);
    let more_like = cli_json(
        &env,
        &[
            "similar",
            "--id",
            "3",
            "--id",
            "7",
            "--not",
            "12",
            "--threshold",
            "-0.5",
            "--json",
        ],
    );
    let similar_one = cli_json(
        &env,
        &[
            "similar",
            "--id",
            "5",
            "-k",
            "4",
            "--backbones",
            "dinov2",
            "--json",
        ],
    );
    let rated = cli_json(
        &env,
        &["ls", "--rated", "--where", "style=Minimalism", "--json"],
    );
    let compare = cli_json(&env, &["compare", "--json"]);
    let status = cli_json(&env, &["status", "--json"]);

    let s = env.serve(&[]);
    assert_eq!(s.get("/api/works").json(), ls);
    let page = s.get("/api/works?offset=2&limit=5");
    assert_eq!(page.headers["x-total-count"], "24");
    assert_eq!(
        page.json(),
        serde_json::Value::Array(ls.as_array().unwrap()[2..7].to_vec())
    );
    assert_eq!(s.get("/api/works/3").json(), show);
    assert_eq!(s.get("/api/works/3/similar").json(), similar);
    assert_eq!(
        s.get("/api/works/3/similar?also=7&not=12&threshold=-0.5")
            .json(),
        more_like
    );
    assert_eq!(more_like["not"][0]["id"], 12, "{more_like}");
    assert_eq!(
        s.get("/api/works/5/similar?k=4&backbone=dinov2").json(),
        similar_one
    );
    assert_eq!(
        s.get("/api/works?rated=true&where=style%3DMinimalism")
            .json(),
        rated
    );
    assert_eq!(
        without_time(s.get("/api/compare").json()),
        without_time(compare)
    );
    let st = s.get("/api/status").json();
    assert_eq!(st["artworks"], status["artworks"]);
    assert_eq!(st["models"], status["models"]);
    assert_eq!(st["ratings"], status["ratings"]);

    // The gallery: pages, filters, the predicted-score sort.
    let g = s.get("/api/gallery?limit=10&sort=score:dino").json();
    assert_eq!(g["total"], 24);
    assert_eq!(g["works"].as_array().unwrap().len(), 10);
    let preds: Vec<f64> = g["works"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["predicted"].as_f64().unwrap())
        .collect();
    assert!(preds.windows(2).all(|w| w[0] >= w[1]), "{preds:?}");
    assert!(g["heads"].as_array().unwrap().iter().any(|h| h == "dinov2"));
    let unrated = s.get("/api/gallery?rated=false").json();
    assert_eq!(unrated["total"], 0);

    // "What would I like most": the works not yet rated, by prediction, the
    // same list as `ls --unrated --sort predicted` (here through the server).
    for id in [2, 9, 17] {
        let r = s.json(
            "DELETE",
            &format!("/api/works/{id}/rating"),
            &serde_json::json!({}),
        );
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let settled = std::time::Instant::now();
    loop {
        let a = s.get("/api/answer").json();
        if a["current"] == true && a["training"] == false {
            break;
        }
        assert!(
            settled.elapsed().as_secs() < 60,
            "the retrain never settled: {a}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let g = s.get("/api/gallery?sort=predicted").json();
    assert_eq!(g["total"], 3, "{g}");
    assert!(g["sorts"]
        .as_array()
        .unwrap()
        .iter()
        .any(|o| o["name"] == "predicted"));
    let ls = serde_json::from_str::<serde_json::Value>(&stdout(
        &env.cmd(&["ls", "--unrated", "--sort", "predicted", "--json"])
            .output()
            .unwrap(),
    ))
    .unwrap();
    let from_gallery: Vec<(u64, f64)> = g["works"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| (w["id"].as_u64().unwrap(), w["predicted"].as_f64().unwrap()))
        .collect();
    let from_ls: Vec<(u64, f64)> = ls
        .as_array()
        .unwrap()
        .iter()
        .map(|w| (w["id"].as_u64().unwrap(), w["predicted"].as_f64().unwrap()))
        .collect();
    assert_eq!(from_gallery, from_ls);
    assert!(from_ls.windows(2).all(|p| p[0].1 >= p[1].1), "{from_ls:?}");

    // The gallery page itself lists the works with their titles.
    let html = s.get("/?limit=6").text();
    assert_eq!(html.matches("class=\"card\"").count(), 6, "{html}");
    assert!(html.contains("rel=\"next\""));
    let _ = s.interrupt();
}

#[test]
fn ratings_and_preferences_through_the_api_reach_the_store() {
    let env = Env::new(false);
    let s = env.serve(&[]);
    let r = s.json(
        "PUT",
        "/api/works/2/rating",
        &serde_json::json!({"score": 6.5}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["previous"], serde_json::Value::Null);
    let r = s.json(
        "PUT",
        "/api/works/2/rating",
        &serde_json::json!({"score": 8}),
    );
    assert_eq!(r.json()["previous"], 6.5);
    let r = s.json(
        "PUT",
        "/api/works/4/rating",
        &serde_json::json!({"score": 3}),
    );
    assert_eq!(r.status, 200);
    let r = s.request(
        "DELETE",
        "/api/works/4/rating",
        &[("Origin", &s.origin())],
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["removed"], true);
    let r = s.json(
        "POST",
        "/api/preferences",
        &serde_json::json!({"winner": 1, "loser": 2}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let r = s.json(
        "POST",
        "/api/preferences",
        &serde_json::json!({"winner": 1, "loser": 1}),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    let r = s.json(
        "POST",
        "/api/preferences",
        &serde_json::json!({"winner": 1, "loser": 999}),
    );
    assert_eq!(r.status, 404, "{}", r.text());

    // While it serves, a command that cannot go through it is told where
    // the server is (the others go through it: see
    // `the_cli_prints_the_same_through_a_running_server`).
    let o = run(env.cmd(&["doctor"]));
    assert_eq!(o.status.code(), Some(2));
    let pid = s.child.id();
    assert!(
        stderr(&o).contains("served by `artlens serve` at http://127.0.0.1:")
            && stderr(&o).contains(&format!("(pid {pid})")),
        "{}",
        stderr(&o)
    );

    // Ctrl-C stops it cleanly; everything acknowledged is on disk.
    let status = s.interrupt();
    assert!(status.success(), "{status}");
    assert!(!env.store().join("served-by.json").exists());
    let list = cli_json(&env, &["rate", "list", "--json"]);
    let rows = list.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{list}");
    assert_eq!(rows[0]["id"], 2);
    assert_eq!(rows[0]["rating"], 8.0);
    let st = cli_json(&env, &["status", "--json"]);
    assert_eq!(st["raters"][0]["preferences"], 1, "{st}");
}

#[test]
fn a_rating_acknowledged_survives_kill_9() {
    let env = Env::new(false);
    let s = env.serve(&[]);
    let r = s.json(
        "PUT",
        "/api/works/7/rating",
        &serde_json::json!({"score": 9.25}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    s.kill9();
    // The record of the dead server names a pid that is gone: ignored.
    let list = cli_json(&env, &["rate", "list", "--json"]);
    let rows = list.as_array().unwrap();
    assert!(
        rows.iter().any(|r| r["id"] == 7 && r["rating"] == 9.25),
        "{list}"
    );
}

#[test]
fn bad_requests_get_their_4xx_and_the_server_keeps_serving() {
    let env = Env::new(true);
    let s = env.serve(&[]);
    let before = s.get("/api/works/1").json()["rating"].as_f64().unwrap();
    let origin: &'static str = Box::leak(s.origin().into_boxed_str());
    let cases: Vec<(u16, Case)> = vec![
        // Paths from the request never reach the file system.
        (
            400,
            (
                "GET",
                "/api/works/..%2F..%2Fetc%2Fpasswd/image",
                vec![],
                vec![],
            ),
        ),
        (
            404,
            (
                "GET",
                "/api/works/1/image/../../../../etc/passwd",
                vec![],
                vec![],
            ),
        ),
        (404, ("GET", "/assets/..%2F..%2FCargo.toml", vec![], vec![])),
        (404, ("GET", "/assets/app.js%00.png", vec![], vec![])),
        (404, ("GET", "/../../etc/passwd", vec![], vec![])),
        // Unknown ids and routes.
        (404, ("GET", "/api/works/999/image", vec![], vec![])),
        (404, ("GET", "/api/works/999", vec![], vec![])),
        (404, ("GET", "/api/works/999/similar", vec![], vec![])),
        (404, ("GET", "/works/999", vec![], vec![])),
        (404, ("GET", "/api/nothing", vec![], vec![])),
        (400, ("GET", "/api/works/abc", vec![], vec![])),
        (
            400,
            ("GET", "/api/works/1/thumb?size=999999", vec![], vec![]),
        ),
        (400, ("GET", "/api/works/1/similar?k=0", vec![], vec![])),
        (400, ("GET", "/api/works?where=nokey", vec![], vec![])),
        (400, ("GET", "/api/gallery?sort=bogus", vec![], vec![])),
        // DNS rebinding: a foreign Host.
        (
            403,
            (
                "GET",
                "/api/status",
                vec![("Host", "evil.example:80")],
                vec![],
            ),
        ),
        (403, ("GET", "/", vec![("Host", "attacker.test")], vec![])),
        // Cross-origin and form writes.
        (
            403,
            (
                "PUT",
                "/api/works/1/rating",
                vec![
                    ("Content-Type", "application/json"),
                    ("Origin", "http://evil.example"),
                ],
                br#"{"score":1}"#.to_vec(),
            ),
        ),
        (
            403,
            (
                "PUT",
                "/api/works/1/rating",
                vec![("Content-Type", "application/json"), ("Origin", "null")],
                br#"{"score":1}"#.to_vec(),
            ),
        ),
        (
            403,
            (
                "POST",
                "/api/train",
                vec![
                    ("Content-Type", "application/json"),
                    ("Sec-Fetch-Site", "cross-site"),
                ],
                b"{}".to_vec(),
            ),
        ),
        (
            415,
            (
                "PUT",
                "/api/works/1/rating",
                vec![("Content-Type", "application/x-www-form-urlencoded")],
                b"score=1".to_vec(),
            ),
        ),
        (
            415,
            (
                "POST",
                "/api/preferences",
                vec![("Content-Type", "text/plain")],
                br#"{"winner":1,"loser":2}"#.to_vec(),
            ),
        ),
        // Bad bodies.
        (
            400,
            (
                "PUT",
                "/api/works/1/rating",
                vec![("Content-Type", "application/json")],
                b"{not json".to_vec(),
            ),
        ),
        (
            422,
            (
                "PUT",
                "/api/works/1/rating",
                vec![("Content-Type", "application/json")],
                br#"{"score":"high"}"#.to_vec(),
            ),
        ),
        (
            413,
            (
                "PUT",
                "/api/works/1/rating",
                vec![("Content-Type", "application/json")],
                vec![b' '; 200_000],
            ),
        ),
        // Indexing outside the allowed roots.
        (
            403,
            (
                "POST",
                "/api/index",
                vec![("Content-Type", "application/json"), ("Origin", origin)],
                br#"{"dir":"/"}"#.to_vec(),
            ),
        ),
        (
            400,
            (
                "POST",
                "/api/index",
                vec![("Content-Type", "application/json")],
                br#"{"dir":"/no/such/folder"}"#.to_vec(),
            ),
        ),
    ];
    for (want, (method, path, headers, body)) in &cases {
        let r = s.request(method, path, headers, body);
        assert_eq!(r.status, *want, "{method} {path} {headers:?}: {}", r.text());
        if r.headers
            .get("content-type")
            .is_some_and(|c| c.contains("json"))
        {
            assert!(!r.error().is_empty());
        }
        assert_eq!(s.get("/healthz").status, 200, "after {method} {path}");
    }
    // The rejected writes wrote nothing: work 1 keeps its imported rating.
    let w = s.get("/api/works/1").json();
    assert_eq!(w["rating"].as_f64().unwrap(), before, "{w}");

    // Uploads: too large, not an image, empty, no file.
    let big = vec![0u8; 65 * 1024 * 1024];
    let r = s.upload("big.png", &big);
    assert_eq!(r.status, 413, "{}", r.text());
    let r = s.upload("notes.txt", b"this is not an image at all");
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(r.error().contains("notes.txt"), "{}", r.error());
    let r = s.upload("empty.png", b"");
    assert_eq!(r.status, 422, "{}", r.text());
    // A pixel bomb: a PNG header claiming 100000 × 100000 pixels.
    let mut bomb = Vec::new();
    image::codecs::png::PngEncoder::new(&mut bomb)
        .write_image(&[0u8; 3], 1, 1, image::ExtendedColorType::Rgb8)
        .unwrap();
    bomb[16..20].copy_from_slice(&100_000u32.to_be_bytes());
    bomb[20..24].copy_from_slice(&100_000u32.to_be_bytes());
    let r = s.upload("bomb.png", &bomb);
    assert_eq!(r.status, 422, "{}", r.text());
    assert_eq!(s.get("/healthz").status, 200);
    // Uploads are decoded in memory: nothing was written beside the store
    // (the server once kept them in `STORE/uploads/` while it decoded).
    assert!(!env.store().join("uploads").exists());

    // Every page and answer carries the strict policy.
    let r = s.get("/");
    let csp = &r.headers["content-security-policy"];
    assert!(
        csp.contains("default-src 'self'") && !csp.contains("http"),
        "{csp}"
    );
    assert_eq!(r.headers["x-content-type-options"], "nosniff");
    assert_eq!(r.headers["x-frame-options"], "DENY");
    // A framed report has its own policy: no script at all, framable by the
    // app only; the marker that selects it never leaves the server.
    let r = s.get("/compare/report");
    assert_eq!(r.status, 200, "{}", r.text());
    let csp = &r.headers["content-security-policy"];
    assert!(
        csp.starts_with("default-src 'none'") && csp.contains("frame-ancestors 'self'"),
        "{csp}"
    );
    assert!(!r.headers.contains_key("x-artlens-report"));
    let r = s.get("/works/999/maps");
    assert_eq!(r.status, 404);
    assert!(r.headers["content-security-policy"].starts_with("default-src 'none'"));
    let _ = s.interrupt();
}

/// A request: method, path, headers, body.
type Case = (
    &'static str,
    &'static str,
    Vec<(&'static str, &'static str)>,
    Vec<u8>,
);

#[test]
fn a_non_loopback_bind_needs_the_token() {
    let env = Env::new(false);
    let s = env.serve(&["--host", "0.0.0.0"]);
    let token = s
        .url
        .split("?token=")
        .nth(1)
        .unwrap_or_else(|| panic!("no token in {}", s.url))
        .to_string();
    assert_eq!(token.len(), 32);
    let r = s.get("/api/status");
    assert_eq!(r.status, 401, "{}", r.text());
    assert!(r.error().contains("token"));
    let r = s.request(
        "GET",
        "/api/status",
        &[("Authorization", "Bearer wrong-token-wrong-token")],
        b"",
    );
    assert_eq!(r.status, 401);
    let bearer = format!("Bearer {token}");
    assert_eq!(
        s.request("GET", "/api/status", &[("Authorization", &bearer)], b"")
            .status,
        200
    );
    // The first visit with ?token= sets a cookie the pages then carry.
    let r = s.get(&format!("/?token={token}"));
    assert_eq!(r.status, 200);
    let cookie = r.headers["set-cookie"]
        .split(';')
        .next()
        .unwrap()
        .to_string();
    assert!(
        r.headers["set-cookie"].contains("HttpOnly")
            && r.headers["set-cookie"].contains("SameSite=Strict")
    );
    assert_eq!(
        s.request("GET", "/api/works", &[("Cookie", &cookie)], b"")
            .status,
        200
    );
    // A write without the token is refused even when same-origin.
    let r = s.json(
        "PUT",
        "/api/works/1/rating",
        &serde_json::json!({"score": 1}),
    );
    assert_eq!(r.status, 401);
    assert_eq!(s.get("/healthz").status, 200);
    // A short token is refused at start.
    let o = run(env.cmd(&[
        "serve", "--port", "0", "--host", "0.0.0.0", "--token", "short",
    ]));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("16 characters"), "{}", stderr(&o));
}

#[test]
fn thumbnails_are_cached_on_disk_and_revalidated() {
    let env = Env::new(false);
    let s = env.serve(&[]);
    let r = s.get("/api/works/5/thumb?size=128");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.headers["content-type"], "image/jpeg");
    assert!(r.headers["cache-control"].contains("max-age"));
    let img = image::load_from_memory(&r.body).unwrap();
    assert!(img.width().max(img.height()) <= 128);
    let etag = r.headers["etag"].clone();
    let w = s.get("/api/works/5").json();
    let cached = env
        .store()
        .join("thumbs/128")
        .join(format!("{}.jpg", w["hash"].as_str().unwrap()));
    assert!(cached.is_file(), "{}", cached.display());
    let r = s.request(
        "GET",
        "/api/works/5/thumb?size=128",
        &[("If-None-Match", &etag)],
        b"",
    );
    assert_eq!(r.status, 304);
    // The original, by id, with its own type.
    let r = s.get("/api/works/5/image");
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["content-type"], "image/png");
    assert_eq!(
        r.body,
        std::fs::read(w["paths"][0].as_str().unwrap()).unwrap()
    );
}

#[test]
fn an_index_job_streams_progress_and_reads_go_on() {
    let env = Env::new(false);
    // A second folder with new images and one broken file.
    let more = env.collection.join("More");
    std::fs::create_dir_all(&more).unwrap();
    for i in 0..6u8 {
        image::RgbImage::from_fn(40, 30, |x, y| {
            image::Rgb([i * 40, x as u8 * 6, y as u8 * 8])
        })
        .save(more.join(format!("new-{i}.png")))
        .unwrap();
    }
    std::fs::write(more.join("broken.png"), b"\x89PNG but not really").unwrap();
    let outside = tempfile::tempdir().unwrap();
    let s = env.serve(&[]);
    // Only folders under the store's collection root are allowed by default.
    let r = s.json(
        "POST",
        "/api/index",
        &serde_json::json!({"dir": outside.path()}),
    );
    assert_eq!(r.status, 403, "{}", r.text());
    let r = s.json("POST", "/api/index", &serde_json::json!({"dir": more}));
    assert_eq!(r.status, 202, "{}", r.text());
    let job = r.json();
    let events_url = job["events"].as_str().unwrap().to_string();
    // Reads are answered while the job runs.
    assert_eq!(s.get("/api/works?limit=1").status, 200);
    let r = s.request("GET", &events_url, &[], b"");
    assert_eq!(r.status, 200);
    assert!(r.headers["content-type"].starts_with("text/event-stream"));
    let text = r.text();
    assert!(text.contains("event: done"), "{text}");
    let last = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .next_back()
        .unwrap();
    let snap: serde_json::Value = serde_json::from_str(last).unwrap();
    assert_eq!(snap["status"], "done", "{snap}");
    assert_eq!(snap["done"], snap["total"], "{snap}");
    assert!(snap["total"].as_u64().unwrap() >= 6, "{snap}");
    assert_eq!(snap["failed"], 1, "{snap}");
    assert!(
        snap["failures"][0]["path"]
            .as_str()
            .unwrap()
            .ends_with("broken.png"),
        "{snap}"
    );
    assert_eq!(snap["summary"]["embedded"], 6, "{snap}");
    assert_eq!(s.get("/api/works").headers["x-total-count"], "30");
    let status = s.get(job["status"].as_str().unwrap()).json();
    assert_eq!(status["status"], "done");
    // The new works are searchable at once.
    let sim = s.get("/api/works/30/similar?k=3").json();
    assert_eq!(sim["results"]["dino"].as_array().unwrap().len(), 3, "{sim}");
    std::thread::sleep(Duration::from_millis(10));
}

/// A command's stdout, after checking that it succeeded.
fn cli_out(env: &Env, args: &[&str]) -> String {
    let o = run(env.cmd(args));
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    stdout(&o)
}

/// An HTML report with the time it was made (`Generated <time>`) taken out
/// wherever it stands.
fn without_generated(html: &str) -> String {
    let Some(at) = html.find("Generated ") else {
        return html.to_string();
    };
    let rest = &html[at + "Generated ".len()..];
    let time = &rest[..rest.find('<').unwrap_or(rest.len())];
    assert!(!time.is_empty(), "the report says when it was made");
    html.replace(time, "TIME")
}

/// `compare --json`, `export --json` and `train --json` carry the time they
/// were made (a training run is named by it);
/// everything else must be equal.
fn without_times(text: &str) -> serde_json::Value {
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(m) => {
                for key in ["generated", "generated_at", "created", "exported_at", "run"] {
                    m.remove(key);
                }
                m.values_mut().for_each(strip);
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    strip(&mut v);
    v
}

/// While `serve` holds the store, the read and rating commands go through
/// its API and print, byte for byte, what they print on the store itself
/// (text and `--json`); the commands that cannot go through it refuse with
/// the server's URL and how to stop it.
#[test]
fn the_cli_prints_the_same_through_a_running_server() {
    let env = Env::new(true);
    let out_dir = env.tmp.path().join("export");
    let out = out_dir.to_str().unwrap();
    let file = env.collection.join(&env.ratings[7].0);
    let file = file.to_str().unwrap();
    let by_path = env.ratings[4].0.as_str();
    // An image the store does not hold: embedded for the query.
    let new_image = env.tmp.path().join("new.png");
    image::RgbImage::from_fn(40, 30, |x, y| {
        image::Rgb([(x * 6) as u8, (y * 8) as u8, 90])
    })
    .save(&new_image)
    .unwrap();
    let new_image = new_image.to_str().unwrap().to_string();
    // Identical bytes, run on the store and then through the server.
    let same: Vec<Vec<&str>> = vec![
        vec!["status"],
        vec!["status", "--json"],
        vec!["ls"],
        vec!["ls", "--json"],
        vec!["ls", "--rated", "--where", "style=Minimalism", "--json"],
        vec!["show", "3"],
        vec!["show", by_path, "--json"],
        vec!["similar", "--id", "3"],
        vec!["similar", "--id", by_path, "--json"],
        vec![
            "similar",
            "--id",
            "5",
            "-k",
            "4",
            "--backbones",
            "dinov2",
            "--json",
        ],
        vec!["similar", file, "-k", "3"],
        vec![
            "similar",
            &new_image,
            "--where",
            "style=Minimalism",
            "--json",
        ],
        vec!["score", "3", by_path, file, &new_image],
        vec!["score", "3", file, "-k", "2", "--json"],
        vec![
            "score",
            "3",
            file,
            "--backbones",
            "dinov2",
            "--ood-percentile",
            "80",
            "--json",
        ],
        vec!["explain", "3"],
        vec!["explain", &new_image, "--reference", "5"],
        vec!["compare"],
        vec!["suggest"],
        vec!["suggest", "-n", "3", "--goal", "taste", "--json"],
        vec!["rate", "list"],
        vec!["rate", "list", "--json"],
        vec!["rate", "list", "--preferences"],
        vec!["rate", "list", "--preferences", "--json"],
    ];
    // Equal but for the time they were made.
    let timed: Vec<Vec<&str>> = vec![
        vec!["compare", "--json"],
        vec!["explain", by_path, "--json"],
        vec!["explain", file, "--reference", "5", "--json"],
        vec!["explain", &new_image, "--backbones", "dinov2", "--json"],
        vec!["explain", "3", "--reference", &new_image, "--json"],
        vec!["export", "--backbone", "dino", out, "--json"],
        vec!["export", "--format", "parquet", out, "--json"],
    ];
    let direct: Vec<String> = same.iter().map(|a| cli_out(&env, a)).collect();
    let direct_timed: Vec<String> = timed.iter().map(|a| cli_out(&env, a)).collect();
    // The score report with its patch maps: equal but for the time.
    let report = |name: &str| {
        let path = env.tmp.path().join(name);
        let args = [
            "score",
            "3",
            file,
            &new_image,
            "--html",
            path.to_str().unwrap(),
        ];
        let printed = cli_out(&env, &args);
        (printed, std::fs::read_to_string(&path).unwrap())
    };
    let direct_report = report("direct.html");

    let s = env.serve(&[]);
    for (args, want) in same.iter().zip(&direct) {
        let got = cli_out(&env, args);
        assert_eq!(
            &got,
            want,
            "`artlens {}` through the server",
            args.join(" ")
        );
    }
    for (args, want) in timed.iter().zip(&direct_timed) {
        let got = cli_out(&env, args);
        assert_eq!(
            without_times(&got),
            without_times(want),
            "`artlens {}` through the server",
            args.join(" ")
        );
    }
    assert!(out_dir.join("manifest.json").is_file());
    let served_report = report("served.html");
    assert_eq!(served_report.0, direct_report.0, "`score --html` prints");
    assert!(
        direct_report.1.contains("class=\"pair-maps\""),
        "the report draws the patch maps"
    );
    assert_eq!(
        without_generated(&served_report.1),
        without_generated(&direct_report.1),
        "`score --html` through the server writes the direct path's report"
    );

    // What cannot go through the server says where it is and how to stop it.
    let url = s.url.trim_end_matches('/').to_string();
    for (args, why) in [
        (
            vec!["index", env.collection.to_str().unwrap()],
            "`artlens index` cannot go through the server",
        ),
        (
            vec!["doctor"],
            "`artlens doctor` cannot go through the server",
        ),
        (vec!["explain", "3", "--rater", "anna"], "for rater `me`"),
        (vec!["status", "--rater", "anna"], "for rater `me`"),
    ] {
        let o = run(env.cmd(&args));
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let e = stderr(&o);
        assert!(e.contains(&url), "{args:?}: {e}");
        assert!(e.contains("Ctrl-C") && e.contains(why), "{args:?}: {e}");
    }

    // `train` changes what the other commands print, so it comes last:
    // through the server, then on the store once the server has stopped.
    let train: [&[&str]; 2] = [
        &["train", "--folds", "3", "--bootstrap", "200"],
        &["train", "--folds", "3", "--bootstrap", "200", "--json"],
    ];
    let served: Vec<String> = train.iter().map(|a| cli_out(&env, a)).collect();
    assert!(s.interrupt().success());
    let direct: Vec<String> = train.iter().map(|a| cli_out(&env, a)).collect();
    assert_eq!(served[0], direct[0], "`artlens train` through the server");
    assert_eq!(
        without_times(&served[1]),
        without_times(&direct[1]),
        "`artlens train --json` through the server"
    );
}

/// The web app never tells a person to run a command: an error whose next
/// step on the command line is a command (`artlens train`) reads, in the
/// API's `error` that the pages show, as the page's own next step; the
/// command line's wording travels beside it as `command_line`, and the CLI
/// going through the server prints that, as on the store itself.
#[test]
fn errors_in_the_web_app_name_pages_not_commands() {
    let env = Env::new(false);
    let direct = run(env.cmd(&["score", "3"]));
    let s = env.serve(&[]);
    let r = s.get("/api/works/3/score");
    assert_eq!(r.status, 409, "{}", r.text());
    let v = r.json();
    let web = v["error"].as_str().unwrap();
    assert!(!web.contains("artlens "), "{web}");
    assert!(web.contains("\"Rate\" page"), "{web}");
    let cli = v["command_line"].as_str().unwrap();
    assert!(cli.contains("`artlens "), "{cli}");
    let served = run(env.cmd(&["score", "3"]));
    assert_eq!(served.status.code(), direct.status.code());
    assert_eq!(stdout(&served), stdout(&direct));
    assert!(stderr(&served).contains("`artlens "), "{}", stderr(&served));
    let _ = s.interrupt();
}

/// A request cannot grow the server's memory by naming backbones: ids are
/// plain values, so 10,000 distinct unknown hub repositories in
/// `?backbone=` (each parsed, refused as not indexed, and dropped) leave
/// the server's resident memory where it was. Before, each was interned
/// for the life of the process (about half a kilobyte apiece here).
#[test]
fn ten_thousand_unknown_backbones_do_not_grow_the_server() {
    fn rss_kib(pid: u32) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }
    let env = Env::new(false);
    let s = env.serve(&[]);
    let pid = s.child.id();
    // Names as long as the hub allows (96 characters a part).
    let org = "o".repeat(90);
    let ask = |range: std::ops::Range<usize>| {
        for i in range {
            let path = format!("/api/works/1/similar?backbone={org}/{:0>90}", i);
            let r = s.get(&path);
            assert_eq!(r.status, 409, "{path}: {}", r.text());
        }
    };
    // Warm up the allocator and the runtime's threads.
    ask(0..2_000);
    let before = rss_kib(pid);
    ask(2_000..12_000);
    let after = rss_kib(pid);
    assert!(
        after < before + 1_500,
        "10,000 unknown backbones grew the server from {before} KiB to {after} KiB"
    );
    let _ = s.interrupt();
}

/// Ratings outlive the store: 1,000 rating changes and some preferences
/// made through the web app, then the database and its snapshot destroyed
/// (the server killed with SIGKILL first, as a crash would), and `rate
/// restore` of the journal into a freshly indexed store brings back every
/// acknowledged rating and preference, byte for byte in `rate list`.
#[test]
fn every_rating_made_in_the_web_app_is_restored_from_the_journal() {
    let env = Env::new(false);
    let s = env.serve(&[]);
    let works: Vec<u64> = (1..=env.ratings.len() as u64).collect();
    // Every change the server acknowledged (a removal of a rating that
    // is not there changes nothing).
    let mut changes = 3;
    for i in 0..1_000usize {
        let id = works[(i * 7) % works.len()];
        let r = if i % 97 == 13 {
            s.request(
                "DELETE",
                &format!("/api/works/{id}/rating"),
                &[("Origin", &s.origin())],
                b"",
            )
        } else {
            let score = 1.0 + ((i * 37) % 90) as f64 / 10.0;
            s.json(
                "PUT",
                &format!("/api/works/{id}/rating"),
                &serde_json::json!({ "score": score }),
            )
        };
        assert_eq!(r.status, 200, "change {i}: {}", r.text());
        if r.json()["removed"] != false {
            changes += 1;
        }
    }
    for (w, l) in [(1, 2), (3, 4), (5, 1)] {
        let r = s.json(
            "POST",
            "/api/preferences",
            &serde_json::json!({"winner": w, "loser": l}),
        );
        assert_eq!(r.status, 201, "{}", r.text());
    }
    let ratings = s.get("/api/ratings.csv").text();
    let preferences = s.get("/api/preferences.csv").text();
    assert!(ratings.lines().count() > 10, "{ratings}");
    // A crash, then the database lost: only the journal is left.
    let mut s = s;
    s.child.kill().unwrap();
    s.child.wait().unwrap();
    drop(s);
    let journal = env.tmp.path().join("kept.jsonl");
    std::fs::copy(env.store().join("ratings-journal.jsonl"), &journal).unwrap();
    std::fs::remove_dir_all(env.store()).unwrap();

    let mut idx = env.cmd(&["index", "--quiet"]);
    idx.arg(&env.collection);
    let o = run(idx);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(env.cmd(&["rate", "restore", journal.to_str().unwrap(), "--json"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let report: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(report["lines"], changes, "{report}");
    assert_eq!(
        cli_out(&env, &["rate", "list"]).trim_end(),
        ratings.trim_end()
    );
    assert_eq!(
        cli_out(&env, &["rate", "list", "--preferences"]).trim_end(),
        preferences.trim_end()
    );
}

/// No page of the web app tells a person to run a command, neither before
/// the first rating nor once heads are trained: every page and fragment a
/// person can reach is fetched and its text searched for an `artlens`
/// command.
#[test]
fn no_page_tells_a_person_to_run_a_command() {
    for rated in [false, true] {
        let env = Env::new(rated);
        let s = env.serve(&[]);
        for path in [
            "/",
            "/?sort=suggested",
            "/works/3",
            "/works/3/maps",
            "/rate",
            "/rate?mode=pair",
            "/score",
            "/compare",
            "/compare/report",
            "/fragments/answer",
            "/index",
        ] {
            let r = s.get(path);
            assert_eq!(r.status, 200, "{path} (rated: {rated}): {}", r.text());
            let html = r.text();
            for command in [
                "artlens index",
                "artlens train",
                "artlens rate",
                "artlens suggest",
                "artlens score",
                "artlens compare",
                "artlens doctor",
                "--backbones",
                "--rater",
            ] {
                assert!(
                    !html.contains(command),
                    "{path} (rated: {rated}) says `{command}`: {}",
                    &html[html.find(command).unwrap().saturating_sub(200)..]
                        [..400.min(html.len() - html.find(command).unwrap().saturating_sub(200))]
                );
            }
        }
        let _ = s.interrupt();
    }
}

/// Ratings and preferences set through the CLI while the store is served
/// are the server's (its API shows them) and stay after it stops.
#[test]
fn ratings_set_through_a_running_server_stay_after_it_stops() {
    let env = Env::new(false);
    let s = env.serve(&[]);
    let by_path = env.ratings[4].0.clone();
    let by_path_id = cli_json(&env, &["show", &by_path, "--json"])["id"]
        .as_u64()
        .unwrap();
    // Works no other step touches, for the ones set and taken back.
    let spare: Vec<String> = (3..=24u64)
        .filter(|id| ![5, 6, 7, by_path_id].contains(id))
        .map(|id| id.to_string())
        .collect();
    cli_out(&env, &["rate", "set", "2", "6.5"]);
    cli_out(&env, &["rate", "set", &by_path, "3"]);
    cli_out(&env, &["rate", "set", &spare[0], "7"]);
    cli_out(&env, &["rate", "remove", &spare[0]]);
    // Removing a rating that is not there reports it (exit status 1).
    let o = run(env.cmd(&["rate", "remove", &spare[0]]));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    cli_out(&env, &["rate", "prefer", "2", "5"]);
    cli_out(&env, &["rate", "prefer", "6", "7"]);
    cli_out(&env, &["rate", "unprefer", "6", "7"]);
    assert_eq!(s.get("/api/works/2").json()["rating"], 6.5);
    assert_eq!(
        s.get(&format!("/api/works/{by_path_id}")).json()["rating"],
        3.0
    );
    assert_eq!(
        s.get(&format!("/api/works/{}", spare[0])).json()["rating"],
        serde_json::Value::Null
    );
    let prefs = s.get("/api/preferences").json();
    let prefs = prefs.as_array().unwrap();
    assert_eq!(prefs.len(), 1, "{prefs:?}");
    assert_eq!(prefs[0]["winner_id"], 2);
    let listed = cli_out(&env, &["rate", "list"]);

    // A CSV import goes through too.
    let csv = env.tmp.path().join("more.csv");
    std::fs::write(&csv, format!("id,rating\n{},4\n{},9\n", spare[1], spare[2])).unwrap();
    let report = cli_out(&env, &["rate", "import", csv.to_str().unwrap(), "--json"]);
    let report: serde_json::Value = serde_json::from_str(report.trim()).unwrap();
    assert_eq!(report["imported"], 2);
    assert_eq!(
        s.get(&format!("/api/works/{}", spare[2])).json()["rating"],
        9.0
    );
    cli_out(&env, &["rate", "remove", &spare[1], &spare[2]]);
    // A bad row fails the import as on the store, naming the file given.
    let bad = env.tmp.path().join("bad.csv");
    std::fs::write(&bad, "id,rating\n9999,4\n").unwrap();
    let o = run(env.cmd(&["rate", "import", bad.to_str().unwrap()]));
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains(&format!("{}: row 2", bad.display())),
        "{}",
        stderr(&o)
    );
    assert_eq!(s.get("/api/ratings").json().as_array().unwrap().len(), 2);
    assert!(s.interrupt().success());

    // The server is gone: the commands open the store themselves and find
    // what was set through it.
    assert_eq!(cli_out(&env, &["rate", "list"]), listed);
    let show = cli_json(&env, &["show", "2", "--json"]);
    assert_eq!(show["rating"], 6.5);
    let prefs = cli_json(&env, &["rate", "list", "--preferences", "--json"]);
    assert_eq!(prefs.as_array().unwrap().len(), 1);

    let s = env.serve(&[]);
    cli_out(&env, &["rate", "clear"]);
    assert_eq!(s.get("/api/ratings").json(), serde_json::json!([]));
    assert!(s.interrupt().success());
}

/// A server bound off loopback needs its token from the command line too:
/// without `ARTLENS_TOKEN` the command says so, with it the command goes
/// through (the store's record never holds the token).
#[test]
fn the_cli_through_a_server_off_loopback_needs_artlens_token() {
    let env = Env::new(false);
    let direct = cli_out(&env, &["ls", "--json"]);
    let s = env.serve(&["--host", "0.0.0.0"]);
    let token = s.url.split("?token=").nth(1).unwrap().to_string();
    let record = std::fs::read_to_string(env.store().join("served-by.json")).unwrap();
    assert!(!record.contains(&token), "{record}");
    let o = run(env.cmd(&["ls", "--json"]));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("ARTLENS_TOKEN"), "{}", stderr(&o));
    let mut cmd = env.cmd(&["ls", "--json"]);
    cmd.env("ARTLENS_TOKEN", &token);
    let o = run(cmd);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), direct);
    let _ = s.interrupt();
}

/// A server started by hand, killed when dropped (also when a test fails).
struct Spawned(std::process::Child);

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `artlens serve --port 0` started by hand, with the process's file
/// limit set to `nofile` when given: its child and `127.0.0.1:PORT`.
fn spawn_serve(env: &Env, nofile: Option<u64>) -> (Spawned, String) {
    use std::io::BufRead;
    use std::os::unix::process::CommandExt;
    let mut cmd = env.cmd(&["serve", "--port", "0"]);
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    if let Some(n) = nofile {
        // SAFETY: setrlimit is async-signal-safe and touches only the struct.
        unsafe {
            cmd.pre_exec(move || {
                let lim = libc::rlimit {
                    rlim_cur: n,
                    rlim_max: n,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let mut child = cmd.spawn().unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line
        .trim()
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .unwrap()
        .to_string();
    (Spawned(child), format!("127.0.0.1:{port}"))
}

/// Sends `raw` on a new connection and reads the answer (at most
/// `timeout`): the status line and headers, lower-cased.
fn raw_request(addr: &str, raw: &str, timeout: Duration) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(timeout))?;
    s.write_all(raw.as_bytes())?;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                out.extend_from_slice(&buf[..n]);
                if out.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            Err(e) if out.is_empty() => return Err(e),
            Err(_) => break,
        }
    }
    Ok(String::from_utf8_lossy(&out).to_ascii_lowercase())
}

/// Guards issue 26, item 8: a SIGTERM in the first moment after `serve`
/// prints its URL stops it cleanly (its record removed), and a record left
/// by a process that is gone, a zombie or another program never blocks the
/// store.
#[test]
fn a_sigterm_at_once_stops_cleanly_and_a_stale_record_never_blocks() {
    let env = Env::new(false);
    for _ in 0..5 {
        let (mut child, _) = spawn_serve(&env, None);
        // SAFETY: signals our own child process.
        unsafe { libc::kill(child.0.id() as libc::pid_t, libc::SIGTERM) };
        let status = child.0.wait().unwrap();
        assert!(status.success(), "killed by the signal: {status:?}");
        assert!(!env.store().join("served-by.json").exists());
    }
    // A zombie: exited, not yet collected by its parent (this test).
    let mut zombie = std::process::Command::new("true").spawn().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let stale = [
        serde_json::json!({"url": "http://127.0.0.1:9/", "pid": zombie.id()}),
        // A live process that is not the server (the pid was reused).
        serde_json::json!({"url": "http://127.0.0.1:9/", "pid": std::process::id(), "started": 1}),
    ];
    for record in stale {
        std::fs::write(env.store().join("served-by.json"), record.to_string()).unwrap();
        let o = run(env.cmd(&["status"]));
        assert!(o.status.success(), "{record}: {}", stderr(&o));
    }
    zombie.wait().unwrap();
}

/// Guards issue 26, items 11 and 13: a request with two `Host` headers is
/// refused (400) whichever comes first, and a body declared far over the
/// limit is refused at once (413), not awaited.
#[test]
fn two_hosts_and_a_huge_declared_body_are_refused_at_once() {
    let env = Env::new(false);
    let s = env.serve(&[]);
    let good = s.host();
    for (first, second) in [
        (good.as_str(), "evil.example"),
        ("evil.example", good.as_str()),
    ] {
        let r = raw_request(
            &s.addr,
            &format!("GET /api/status HTTP/1.1\r\nHost: {first}\r\nHost: {second}\r\nConnection: close\r\n\r\n"),
            Duration::from_secs(5),
        )
        .unwrap();
        assert!(r.starts_with("http/1.1 400"), "{first} then {second}: {r}");
        assert!(
            r.contains("cross-origin-resource-policy: same-origin"),
            "{r}"
        );
    }
    let started = std::time::Instant::now();
    let r = raw_request(
        &s.addr,
        &format!(
            "POST /api/score HTTP/1.1\r\nHost: {good}\r\nOrigin: {}\r\nContent-Type: multipart/form-data; boundary=x\r\nContent-Length: 99999999999\r\n\r\n",
            s.origin()
        ),
        Duration::from_secs(5),
    )
    .unwrap();
    assert!(r.starts_with("http/1.1 413"), "{r}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(s.get("/healthz").status, 200);
}

/// Guards issue 26, item 11: with the server's file limit at 256, 300 idle
/// sockets neither exhaust it nor keep `/healthz` waiting (it answers in
/// 100 ms), and an idle socket is closed after the header-read timeout.
#[test]
fn idle_sockets_are_shed_and_timed_out_and_healthz_answers() {
    use std::io::{Read, Write};
    let env = Env::new(false);
    let (mut child, addr) = spawn_serve(&env, Some(256));
    let healthz = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let start = std::time::Instant::now();
    while raw_request(&addr, &healthz, Duration::from_secs(1))
        .map(|r| !r.starts_with("http/1.1 200"))
        .unwrap_or(true)
    {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "/healthz never answered"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let idle: Vec<std::net::TcpStream> = (0..300)
        .map(|_| std::net::TcpStream::connect(&addr).unwrap())
        .collect();
    // Let the server accept them all.
    std::thread::sleep(Duration::from_millis(500));
    let mut slowest = Duration::ZERO;
    for _ in 0..5 {
        let t = std::time::Instant::now();
        let r = raw_request(&addr, &healthz, Duration::from_secs(3));
        slowest = slowest.max(t.elapsed());
        assert!(
            r.as_ref().is_ok_and(|r| r.starts_with("http/1.1 200")),
            "{r:?}"
        );
    }
    assert!(
        slowest < Duration::from_millis(100),
        "/healthz took {slowest:?}"
    );
    drop(idle);
    // One idle connection is closed after the header-read timeout (10 s).
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let t = std::time::Instant::now();
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).unwrap_or(0);
    let waited = t.elapsed();
    assert_eq!(n, 0, "the idle socket got {:?}", &buf[..n]);
    assert!(
        waited > Duration::from_secs(8) && waited < Duration::from_secs(15),
        "closed after {waited:?}"
    );
    // The server is still there.
    let _ = s.write_all(b"x");
    assert!(raw_request(&addr, &healthz, Duration::from_secs(3))
        .unwrap()
        .starts_with("http/1.1 200"));
    // SAFETY: signals our own child process.
    unsafe { libc::kill(child.0.id() as libc::pid_t, libc::SIGTERM) };
    assert!(child.0.wait().unwrap().success());
}

/// Guards issue 26, item 12: every answer carries
/// `Cross-Origin-Resource-Policy: same-origin` (refusals too), and
/// thumbnails come only at the sizes the pages use.
#[test]
fn answers_are_same_origin_only_and_thumbnails_come_in_fixed_sizes() {
    let env = Env::new(false);
    let s = env.serve(&[]);
    for path in [
        "/healthz",
        "/",
        "/api/works/1/thumb?size=256",
        "/api/works/1/thumb?size=128",
        "/api/works/1/image",
        "/api/nothing",
    ] {
        let r = s.get(path);
        assert_eq!(
            r.headers
                .get("cross-origin-resource-policy")
                .map(String::as_str),
            Some("same-origin"),
            "{path}: {}",
            r.status
        );
    }
    let r = s.request(
        "GET",
        "/api/works/1/thumb",
        &[("Host", "evil.example")],
        b"",
    );
    assert_eq!(r.status, 403);
    assert_eq!(r.headers["cross-origin-resource-policy"], "same-origin");
    for size in [16, 64, 129, 300, 1024] {
        let r = s.get(&format!("/api/works/1/thumb?size={size}"));
        assert_eq!(r.status, 400, "size {size}: {}", r.text());
        assert!(r.error().contains("128"), "{}", r.error());
        assert!(!env.store().join(format!("thumbs/{size}")).exists());
    }
}

/// A PNG whose header says `w` × `h` pixels (with correct checksums) and
/// that holds no pixel data.
fn png_header_only(w: u32, h: u32) -> Vec<u8> {
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= b as u32;
            for _ in 0..8 {
                crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
            }
        }
        !crc
    }
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    png.extend_from_slice(&w.to_be_bytes());
    png.extend_from_slice(&h.to_be_bytes());
    png.extend_from_slice(&[8, 2, 0, 0, 0]);
    let crc = crc32(&png[12..29]);
    png.extend_from_slice(&crc.to_be_bytes());
    // An empty IDAT: decoders read the header up to the first one.
    png.extend_from_slice(b"\0\0\0\0IDAT");
    png.extend_from_slice(&crc32(b"IDAT").to_be_bytes());
    png.extend_from_slice(b"\0\0\0\0IEND\xae\x42\x60\x82");
    png
}

/// Guards issue 26, item 10: an upload is refused by its pixel count before
/// it is decoded, and uploads beyond the ones being read get 503 with
/// `Retry-After` instead of more memory.
#[test]
fn uploads_are_bounded_in_pixels_and_in_number() {
    use std::io::Write;
    let env = Env::new(true);
    let s = env.serve(&[]);
    let r = s.upload("huge.png", &png_header_only(8000, 6000));
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(
        r.error().contains("8000×6000") && r.error().contains("at most"),
        "{}",
        r.error()
    );
    // Two uploads whose bodies are still arriving hold the decode slots.
    let origin = s.origin();
    let slow: Vec<std::net::TcpStream> = (0..2)
        .map(|_| {
            let mut c = std::net::TcpStream::connect(&s.addr).unwrap();
            write!(
                c,
                "POST /api/score HTTP/1.1\r\nHost: {}\r\nOrigin: {origin}\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000\r\n\r\n--b\r\n",
                s.host()
            )
            .unwrap();
            c
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let r = s.upload("third.png", &png_header_only(10, 10));
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.headers["retry-after"], "1");
    drop(slow);
    std::thread::sleep(Duration::from_millis(300));
    let png = std::fs::read(env.collection.join(&env.ratings[0].0)).unwrap();
    let r = s.upload("again.png", &png);
    assert_eq!(r.status, 200, "{}", r.text());
}

/// Guards issue 26, item 9: a symlink inside an allowed folder that points
/// outside every `--allow-dir` brings nothing into the store through the
/// server; the job lists the file as refused.
#[test]
fn an_index_job_never_follows_a_symlink_out_of_the_allowed_folders() {
    let env = Env::new(false);
    let outside = tempfile::tempdir().unwrap();
    for i in 0..2u8 {
        image::RgbImage::from_fn(32, 32, |x, y| {
            image::Rgb([i * 90, x as u8 * 7, y as u8 * 7])
        })
        .save(outside.path().join(format!("secret-{i}.png")))
        .unwrap();
    }
    std::os::unix::fs::symlink(outside.path(), env.collection.join("Linked")).unwrap();
    let s = env.serve(&[]);
    let r = s.json(
        "POST",
        "/api/index",
        &serde_json::json!({"dir": env.collection}),
    );
    assert_eq!(r.status, 202, "{}", r.text());
    let events = s.get(r.json()["events"].as_str().unwrap()).text();
    let last = events
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .next_back()
        .unwrap();
    let snap: serde_json::Value = serde_json::from_str(last).unwrap();
    assert_eq!(snap["status"], "done", "{snap}");
    assert_eq!(s.get("/api/works").headers["x-total-count"], "24", "{snap}");
    let failures = snap["failures"].to_string();
    assert!(
        failures.contains("secret-0.png") && failures.contains("--allow-dir"),
        "{snap}"
    );
    let works = s.get("/api/works").text();
    assert!(!works.contains("secret-"), "{works}");
}
