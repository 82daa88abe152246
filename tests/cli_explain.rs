//! Exact contributions in `score` and the patch maps of `explain`, through
//! the binary on a real store made with the tiny fixture checkpoints: the
//! identity mean rating + contributions = score on trained heads, votes
//! within the rating scale and the prediction without a work's own rating
//! on the sample collection, the MLP's
//! plain "not available", the maps' invariants (an image matches itself
//! everywhere; attention is a probability), the default reference, an
//! unreadable image, and the pages as headless Chromium renders them.

use crate::common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;

struct Env {
    tmp: tempfile::TempDir,
    collection: PathBuf,
}

impl Env {
    /// The 24-work collection indexed with both backbones; rated and trained
    /// when `train` names a head.
    fn new(train: Option<&str>) -> Env {
        let tmp = tempfile::tempdir().unwrap();
        let collection = tmp.path().join("collection");
        let ratings = rated_collection(&collection);
        let e = Env { tmp, collection };
        let o = run(e.cmd(&["index", "--quiet"]).arg(&e.collection));
        assert!(o.status.success(), "{}", stderr(&o));
        if let Some(head) = train {
            let body: String = std::iter::once("path,rating\n".to_string())
                .chain(ratings.iter().map(|(p, r)| format!("{p},{r}\n")))
                .collect();
            let csv = e.tmp.path().join("ratings.csv");
            fs::write(&csv, body).unwrap();
            let o = run(e.cmd(&["rate", "import"]).arg(&csv));
            assert!(o.status.success(), "{}", stderr(&o));
            let o = run(e.cmd(&[
                "train",
                "--head",
                head,
                "--folds",
                "3",
                "--bootstrap",
                "100",
            ]));
            assert!(o.status.success(), "{}", stderr(&o));
        }
        e
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = artlens();
        c.args(args)
            .env("ARTLENS_STORE", self.tmp.path().join("store"))
            .env("ARTLENS_DINO_WEIGHTS", fixtures().join("dino_tiny"))
            .env("ARTLENS_DINOV2_WEIGHTS", fixtures().join("dinov2_tiny"));
        c
    }

    fn work(&self, rel: &str) -> PathBuf {
        self.collection.join(rel)
    }
}

fn lines(o: &Output) -> Vec<serde_json::Value> {
    assert!(o.status.success(), "{}", stderr(o));
    stdout(o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn f(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
fn ridge_contributions_add_up_to_the_score() {
    let e = Env::new(Some("ridge"));
    let stored = e.work("Minimalism/ada-quill_work-05.png");
    let k = 3;
    let o = run(e
        .cmd(&["score", "--json", "-k", &k.to_string()])
        .arg(image_path("landscape"))
        .arg(&stored)
        .arg(e.work("Color_Field/ada-quill_work-03.png")));
    let scored = lines(&o);
    assert_eq!(scored.len(), 3);
    for line in &scored {
        for m in ["dino", "dinov2"] {
            let s = &line["models"][m];
            let score = f(&s["score"]);
            let contributions = s["contributions"].as_array().unwrap();
            let sum: f64 = contributions.iter().map(|c| f(&c["contribution"])).sum();
            let total = f(&s["intercept"]) + sum + f(&s["contribution_rest"]);
            assert!(
                (total - score).abs() < 1e-6,
                "{m}: mean + contributions + rest = {total}, score {score}"
            );
            // At most k up then at most k down (one more for a rated work's
            // own vote, always listed), each group in order, and together
            // with the rest every one of the 24 training works.
            let values: Vec<f64> = contributions
                .iter()
                .map(|c| f(&c["contribution"]))
                .collect();
            let own = contributions.iter().filter(|c| c["own"] == true).count();
            let up = values.iter().take_while(|&&v| v >= 0.0).count();
            assert!(up + (values.len() - up) <= 2 * k + own, "{m}: {values:?}");
            assert!(
                up <= k + own && values.len() - up <= k + own,
                "{m}: {values:?}"
            );
            assert!(values[..up].windows(2).all(|w| w[0] >= w[1]));
            assert!(values[up..].windows(2).all(|w| w[0] <= w[1] && w[1] < 0.0));
            let n = contributions.len() as u64 + s["contribution_rest_count"].as_u64().unwrap();
            assert_eq!(n, 24, "{m}: every training work is counted once");
            for c in contributions {
                for key in [
                    "id",
                    "path",
                    "rating",
                    "similarity",
                    "weight",
                    "contribution",
                ] {
                    assert!(!c[key].is_null(), "{m}: {key} missing in {c}");
                }
                let sim = f(&c["similarity"]);
                assert!((-1.0..=1.0001).contains(&sim));
            }
            // The intercept is the training ratings' mean.
            let mean = rated_collection(&e.tmp.path().join("again"))
                .iter()
                .map(|(_, r)| r)
                .sum::<f64>()
                / 24.0;
            assert!((f(&s["intercept"]) - mean).abs() < 1e-9, "{m}: intercept");
            assert!(s["contributions_note"].is_null());
        }
    }
    // Only the stored work is a rated one: its own rating is listed and
    // its prediction without it given.
    for (line, rated) in scored.iter().zip([false, true, true]) {
        for m in ["dino", "dinov2"] {
            let s = &line["models"][m];
            assert_eq!(s["your_rating"].is_number(), rated, "{m}: {s}");
            assert_eq!(s["without_your_rating"].is_number(), rated, "{m}");
            let owns = s["contributions"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|c| c["own"] == true)
                .count();
            assert_eq!(owns, usize::from(rated), "{m}");
        }
    }
    // The text output speaks the vote in sentences, then the rest, and the
    // nearest works.
    let o = run(e.cmd(&["score", "-k", "2"]).arg(&stored));
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    for want in [
        "what made the score: your mean rating",
        "your own ",
        " for this work pulls it ",
        "Without your rating the head would predict",
        "the other",
        "nearest rated works",
    ] {
        assert!(text.contains(want), "`{want}` missing:\n{text}");
    }
}

/// The sample collection indexed with both tiny checkpoints, its ratings
/// imported and the ridge heads trained; returns the store's folder and the
/// rated works (relative path, rating).
fn sample_store() -> (tempfile::TempDir, Vec<(String, f64)>) {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
    let tmp = tempfile::tempdir().unwrap();
    let o = run(sample_cmd(&tmp, &["index", "--quiet"]).arg(data.join("collection")));
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(sample_cmd(&tmp, &["rate", "import", "--quiet"]).arg(data.join("ratings.csv")));
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(sample_cmd(
        &tmp,
        &["train", "--folds", "3", "--bootstrap", "100", "--quiet"],
    ));
    assert!(o.status.success(), "{}", stderr(&o));
    let works = fs::read_to_string(data.join("ratings.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let (path, rating) = l.split_once(',').unwrap();
            (path.to_string(), rating.trim().parse().unwrap())
        })
        .collect();
    (tmp, works)
}

fn sample_cmd(tmp: &tempfile::TempDir, args: &[&str]) -> Command {
    let mut c = artlens();
    c.args(args)
        .env("ARTLENS_STORE", tmp.path().join("store"))
        .env("ARTLENS_DINO_WEIGHTS", fixtures().join("dino_tiny"))
        .env("ARTLENS_DINOV2_WEIGHTS", fixtures().join("dinov2_tiny"));
    c
}

/// The sample collection's 48 ratings outnumber the tiny checkpoints' 32
/// dimensions, so ridge solves the primal system: the vote must add up
/// there too.
#[test]
fn contributions_add_up_on_the_primal_path_too() {
    let (tmp, works) = sample_store();
    assert!(works.len() > 32, "more ratings than dimensions");
    let mut c = sample_cmd(&tmp, &["score", "--json", "--quiet"]);
    c.args(works[..8].iter().map(|(p, _)| p))
        .arg(image_path("portrait"));
    let mut worst = 0f64;
    for line in lines(&run(c)) {
        for m in ["dino", "dinov2"] {
            let s = &line["models"][m];
            let sum: f64 = s["contributions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| f(&c["contribution"]))
                .sum();
            let total = f(&s["intercept"]) + sum + f(&s["contribution_rest"]);
            worst = worst.max((total - f(&s["score"])).abs());
            let n = s["contributions"].as_array().unwrap().len() as u64
                + s["contribution_rest_count"].as_u64().unwrap();
            assert_eq!(n as usize, works.len());
        }
    }
    assert!(
        worst < 1e-6,
        "mean + contributions differs from the score by {worst}"
    );
}

/// Every work's vote on the sample collection, for each rated work and
/// three outside images: no single vote moves a score by more than the
/// rating scale's range, the listed votes and the rest add up to the
/// score, and each rated work's score lies between the person's rating
/// and what the head predicts without it. Prints how often weights are
/// negative (run with `--nocapture` to read it; docs/EXPLANATIONS.md).
#[test]
fn sample_votes_stay_within_the_rating_scale() {
    let (tmp, works) = sample_store();
    let ratings: Vec<f64> = works.iter().map(|(_, r)| *r).collect();
    let range = ratings.iter().copied().fold(f64::MIN, f64::max)
        - ratings.iter().copied().fold(f64::MAX, f64::min);
    // -k 1000 lists every vote.
    let mut c = sample_cmd(&tmp, &["score", "--json", "--quiet", "-k", "1000"]);
    c.args(works.iter().map(|(p, _)| p));
    for stem in ["landscape", "portrait", "photo"] {
        c.arg(image_path(stem));
    }
    let scored = lines(&run(c));
    assert_eq!(scored.len(), works.len() + 3);
    let (mut weights, mut negative, mut top_negative, mut scores) = (0, 0, 0, 0);
    let mut largest = 0f64;
    for (i, line) in scored.iter().enumerate() {
        for m in ["dino", "dinov2"] {
            let s = &line["models"][m];
            let votes = s["contributions"].as_array().unwrap();
            assert_eq!(votes.len(), works.len(), "{m}: every vote listed");
            assert_eq!(s["contribution_rest_count"].as_u64(), Some(0));
            let total = f(&s["intercept"])
                + votes.iter().map(|c| f(&c["contribution"])).sum::<f64>()
                + f(&s["contribution_rest"]);
            assert!((total - f(&s["score"])).abs() < 1e-6, "{m}: {total} vs {s}");
            for v in votes {
                let c = f(&v["contribution"]);
                assert!(
                    c.abs() <= range,
                    "{m}: a vote of {c} on a range of {range}: {v}"
                );
                largest = largest.max(c.abs());
                weights += 1;
                negative += usize::from(f(&v["weight"]) < 0.0);
            }
            let top = votes
                .iter()
                .max_by(|a, b| {
                    f(&a["contribution"])
                        .abs()
                        .total_cmp(&f(&b["contribution"]).abs())
                })
                .unwrap();
            top_negative += usize::from(f(&top["weight"]) < 0.0);
            scores += 1;
            if let Some((_, rating)) = works.get(i) {
                assert_eq!(f(&s["your_rating"]), *rating, "{m}");
                let without = f(&s["without_your_rating"]);
                let score = f(&s["score"]);
                let (lo, hi) = if without < *rating {
                    (without, *rating)
                } else {
                    (*rating, without)
                };
                assert!(
                    lo - 1e-9 <= score && score <= hi + 1e-9,
                    "{m}: {lo} ≤ {score} ≤ {hi}"
                );
            } else {
                assert!(s["your_rating"].is_null() && s["without_your_rating"].is_null());
            }
        }
    }
    eprintln!(
        "negative weights: {negative} of {weights} ({:.1}%); the largest pull of a score has a \
         negative weight in {top_negative} of {scores} scores ({:.1}%); largest |vote| {largest:.3} \
         on a range of {range}",
        100.0 * negative as f64 / weights as f64,
        100.0 * top_negative as f64 / scores as f64
    );
}

#[test]
fn mlp_scores_say_contributions_are_not_available() {
    let e = Env::new(Some("mlp"));
    let o = run(e.cmd(&["score", "--json"]).arg(image_path("landscape")));
    for line in lines(&o) {
        for m in ["dino", "dinov2"] {
            let s = &line["models"][m];
            assert!(s["contributions"].as_array().unwrap().is_empty());
            assert!(s["intercept"].is_null() && s["contribution_rest"].is_null());
            let note = s["contributions_note"].as_str().unwrap();
            assert!(note.contains("not available for the MLP head"), "{note}");
        }
    }
    let o = run(e.cmd(&["score"]).arg(image_path("landscape")));
    assert!(stdout(&o).contains("not available for the MLP head"));
}

/// Checks the shape and invariants of one image's maps.
fn check_maps(maps: &serde_json::Value, grid: [u64; 2], heads: usize) {
    let g: Vec<u64> = maps["grid"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(g, grid);
    let p = (grid[0] * grid[1]) as usize;
    let matches = maps["patch_match"].as_array().unwrap();
    assert_eq!(matches.len(), p);
    assert!(matches.iter().all(|v| (-1.0..=1.0001).contains(&f(v))));
    let best = maps["best_match"].as_array().unwrap();
    assert!(best.iter().all(|v| (v.as_u64().unwrap() as usize) < p));
    let mean: Vec<f64> = maps["attention"]
        .as_array()
        .unwrap()
        .iter()
        .map(f)
        .collect();
    let per_head = maps["attention_heads"].as_array().unwrap();
    assert_eq!((mean.len(), per_head.len()), (p, heads));
    // Probabilities over all tokens: over the patches they sum to at most 1,
    // and the mean map is the mean of the heads.
    for h in per_head {
        let s: f64 = h.as_array().unwrap().iter().map(f).sum();
        assert!(s > 0.0 && s <= 1.0 + 1e-4, "head sums to {s}");
    }
    for (i, m) in mean.iter().enumerate() {
        let want = per_head.iter().map(|h| f(&h[i])).sum::<f64>() / heads as f64;
        assert!((m - want).abs() < 1e-6);
    }
}

#[test]
fn explain_draws_patch_maps_for_a_query_and_its_reference() {
    let e = Env::new(Some("ridge"));
    let work = "Color_Field/ada-quill_work-00.png";
    // Against itself every patch's best match is itself, with cosine 1.
    let o = run(e.cmd(&["explain", "--json", work, "--reference", work]));
    let v = &lines(&o)[0];
    for (m, grid) in [("dino", [14, 14]), ("dinov2", [37, 37])] {
        let x = &v["models"][m];
        assert_eq!(x["chosen"], "given");
        assert!((f(&x["similarity"]) - 1.0).abs() < 1e-5);
        let heads = x["heads"].as_u64().unwrap() as usize;
        assert_eq!(heads, 2, "the tiny fixtures have 2 heads");
        for side in ["query", "reference"] {
            let maps = &x["maps"][side];
            check_maps(maps, grid, heads);
            for (i, (s, b)) in maps["patch_match"]
                .as_array()
                .unwrap()
                .iter()
                .zip(maps["best_match"].as_array().unwrap())
                .enumerate()
            {
                assert!((f(s) - 1.0).abs() < 1e-5, "{m} patch {i}: {s}");
                // A flat image has identical patches; any of them is a best match.
                let j = b.as_u64().unwrap() as usize;
                assert!(j == i || (f(&maps["patch_match"][j]) - 1.0).abs() < 1e-5);
            }
        }
    }
    // DINOv2 sees the centre crop of the 64×56 image: 518/592 of its width.
    let region: Vec<f64> = v["models"]["dinov2"]["maps"]["query"]["region"]
        .as_array()
        .unwrap()
        .iter()
        .map(f)
        .collect();
    assert!(
        (region[2] - 518.0 / 592.0).abs() < 1e-9 && region[3] == 1.0,
        "{region:?}"
    );
    assert_eq!(
        v["models"]["dino"]["maps"]["query"]["region"],
        serde_json::json!([0.0, 0.0, 1.0, 1.0])
    );

    // By default the reference is the nearest rated work, never the query itself.
    let o = run(e.cmd(&["explain", "--json", work]));
    let v = &lines(&o)[0];
    let query_id = v["query"]["id"].as_u64().unwrap();
    let score = lines(&run(e.cmd(&["score", "--json", "-k", "1", work])));
    for m in ["dino", "dinov2"] {
        let x = &v["models"][m];
        assert_eq!(x["chosen"], "nearest rated work");
        assert_ne!(x["reference"]["id"].as_u64().unwrap(), query_id);
        assert_eq!(
            x["reference"]["id"], score[0]["models"][m]["references"][0]["id"],
            "{m}: explain's default reference is score's top reference"
        );
        assert!(x["reference"]["rating"].is_f64());
        let patches: Vec<f64> = x["maps"]["query"]["patch_match"]
            .as_array()
            .unwrap()
            .iter()
            .map(f)
            .collect();
        assert!(
            patches.iter().any(|&s| s < 0.9999),
            "{m}: another image does not match everywhere"
        );
    }
    // The text summary names each backbone's reference.
    let o = run(e.cmd(&["explain", work, "--backbones", "dinov2"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("dinov2") && text.contains("nearest rated work") && !text.contains("dino "),
        "{text}"
    );
}

#[test]
fn explain_without_ratings_uses_the_nearest_stored_work() {
    let e = Env::new(None);
    let o = run(e.cmd(&["explain", "--json"]).arg(image_path("landscape")));
    let v = &lines(&o)[0];
    for m in ["dino", "dinov2"] {
        assert_eq!(v["models"][m]["chosen"], "nearest stored work");
        assert!(v["models"][m]["reference"]["id"].is_u64());
        assert!(v["query"]["id"].is_null(), "a new image is not stored");
    }
}

#[test]
fn explain_on_an_unreadable_image_says_so() {
    let e = Env::new(None);
    let bad = e.tmp.path().join("broken.png");
    fs::write(&bad, "not an image").unwrap();
    let o = run(e.cmd(&["explain"]).arg(&bad));
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("broken.png") && err.contains("cannot decode"),
        "{err}"
    );
    let o = run(e
        .cmd(&[
            "explain",
            "Color_Field/ada-quill_work-00.png",
            "--reference",
        ])
        .arg(&bad));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("broken.png"), "{}", stderr(&o));
    let o = run(e.cmd(&["explain", "no-such-work.png"]));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no-such-work.png"), "{}", stderr(&o));
}

/// A screenshot of `page` at 1400×`height`, for a person to look at and for
/// the test to check it is a real picture.
fn screenshot(page: &Path, height: u32) -> PathBuf {
    let png = page.with_extension("png");
    run_chromium(
        page,
        &[
            format!("--screenshot={}", png.display()),
            format!("--window-size=1400,{height}"),
        ],
    );
    let img = image::open(&png).unwrap().to_rgb8();
    let colours: std::collections::HashSet<[u8; 3]> = img.pixels().map(|p| p.0).collect();
    assert!(
        colours.len() > 500,
        "{} has {} colours",
        png.display(),
        colours.len()
    );
    png
}

/// Standard base64 (with padding) back to bytes.
fn base64_decode(s: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let mut out = Vec::new();
    for chunk in s.as_bytes().chunks(4) {
        let pad = chunk.iter().filter(|&&c| c == b'=').count();
        let mut n = 0u32;
        for &c in chunk {
            n = n << 6 | if c == b'=' { 0 } else { u32::from(value(c)) };
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    out
}

/// The heat-map overlays of a rendered page, decoded, in page order.
fn overlays(dom: &str) -> Vec<image::RgbaImage> {
    dom.split(r#"<img class="overlay" src="data:image/png;base64,"#)
        .skip(1)
        .map(|rest| {
            let b64 = &rest[..rest.find('"').unwrap()];
            image::load_from_memory(&base64_decode(b64))
                .unwrap()
                .to_rgba8()
        })
        .collect()
}

#[test]
fn explain_and_score_pages_show_the_heat_maps() {
    let e = Env::new(Some("ridge"));
    let out = std::env::var_os("ARTLENS_TEST_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| e.tmp.path().to_path_buf());
    fs::create_dir_all(&out).unwrap();
    let html = out.join("explain.html");
    let o = run(e
        .cmd(&["explain", "--json", "--html"])
        .arg(&html)
        .arg(image_path("landscape")));
    let v = &lines(&o)[0];
    let dom = rendered_dom(&html);
    // Per backbone: 2 images × (match + mean attention + 2 heads).
    assert_eq!(
        dom.matches(r#"<figure class="heat""#).count(),
        2 * 2 * 4,
        "heat maps"
    );
    assert!(dom.contains("best patch match") && dom.contains("CLS attention"));
    // Each map is a one-pixel-per-patch overlay whose opacity follows the
    // values: the most opaque pixel is the strongest patch of the JSON.
    let maps = overlays(&dom);
    assert_eq!(maps.len(), 16);
    // Page order: DINO (query match, query attention, reference match, ...).
    let expect = [
        ("dino", "query", "patch_match", 0usize, [14u32, 14u32]),
        ("dino", "query", "attention", 1, [14, 14]),
        ("dino", "reference", "patch_match", 2, [14, 14]),
        ("dinov2", "query", "patch_match", 8, [37, 37]),
        ("dinov2", "reference", "attention", 11, [37, 37]),
    ];
    for (m, who, key, i, [gw, gh]) in expect {
        let img = &maps[i];
        assert_eq!(img.dimensions(), (gw, gh), "{m} {who} {key}");
        let values: Vec<f64> = v["models"][m]["maps"][who][key]
            .as_array()
            .unwrap()
            .iter()
            .map(f)
            .collect();
        let strongest = (0..values.len())
            .max_by(|&a, &b| values[a].total_cmp(&values[b]))
            .unwrap();
        let weakest = (0..values.len())
            .min_by(|&a, &b| values[a].total_cmp(&values[b]))
            .unwrap();
        let alpha = |k: usize| img.get_pixel(k as u32 % gw, k as u32 / gw).0[3];
        let top = (0..values.len()).map(alpha).max().unwrap();
        assert_eq!(
            alpha(strongest),
            top,
            "{m} {who} {key}: the strongest patch is the most opaque"
        );
        assert_eq!(
            alpha(weakest),
            0,
            "{m} {who} {key}: the weakest patch is clear"
        );
    }
    screenshot(&html, 2400);

    let html = out.join("score.html");
    let o = run(e
        .cmd(&["score", "-k", "2", "--html"])
        .arg(&html)
        .arg(image_path("landscape"))
        .arg(e.work("Minimalism/ada-quill_work-05.png")));
    assert!(o.status.success(), "{}", stderr(&o));
    let dom = rendered_dom(&html);
    // Per image and backbone: the top reference's maps, 2 images × 2 maps.
    assert_eq!(dom.matches(r#"<figure class="heat""#).count(), 2 * 2 * 4);
    assert_eq!(overlays(&dom).len(), 2 * 2 * 4);
    assert!(dom.contains("What made the score") && dom.contains("= score"));
    assert!(dom.contains("Nearest rated works"));
    screenshot(&html, 2400);
}

/// The commands whose `--help` examples run first, in this order (the
/// first indexes the sample, later ones need its ratings and backbones);
/// any command not named here runs after them.
const EXAMPLE_ORDER: &[&str] = &[
    "",
    "models",
    "index",
    "status",
    "ls",
    "show",
    "similar",
    "embed",
    "bench",
    "rate",
    "rate import",
    "rate set",
    "rate remove",
    "rate clear",
    "rate prefer",
    "rate unprefer",
    "rate list",
    "train",
    "compare",
    "suggest",
    "score",
    "explain",
    "export",
    "merge",
    "doctor",
    "completions",
    "serve",
];

/// The subcommands a `--help` lists under "Commands:" (without `help`).
fn listed_commands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_string)
        .collect()
}

/// The `artlens …` lines under a help's "Example(s):", comments cut.
fn help_examples(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Example"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .map(|l| l.split("   #").next().unwrap().trim().to_string())
        .filter(|l| l.starts_with("artlens "))
        .collect()
}

/// Every example in every `--help` runs on the bundled sample, as written,
/// from a folder holding `data/` (the tiny fixture checkpoints stand in for
/// the real weights; nothing else differs): a person who copies one gets
/// no error. `serve` examples are started and must print their URL.
#[test]
fn every_help_example_runs_on_the_sample() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    let bin = tmp.path().join("bin");
    fs::create_dir_all(&work).unwrap();
    fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("data"),
        work.join("data"),
    )
    .unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_artlens"), bin.join("artlens")).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // The shell runs the line with the test environment of `artlens()`
    // (no network, no user cache) and the fixture weights.
    let test_env = artlens();
    let sh = |line: &str| {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(line)
            .current_dir(&work)
            .env("PATH", &path);
        for (k, v) in test_env.get_envs() {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        cmd.env("ARTLENS_DINO_WEIGHTS", fixtures().join("dino_tiny"))
            .env("ARTLENS_DINOV2_WEIGHTS", fixtures().join("dinov2_tiny"));
        cmd
    };
    let help = |words: &str| {
        let o = run(sh(&format!("artlens {words} --help")));
        assert!(o.status.success(), "{words} --help: {}", stderr(&o));
        let text = stdout(&o);
        // Help is read in a terminal: no rustdoc links leak into it.
        for link in ["[`", "](", "crate::"] {
            assert!(
                !text.contains(link),
                "`artlens {words} --help` shows `{link}`:\n{text}"
            );
        }
        text
    };
    let mut commands: Vec<String> = EXAMPLE_ORDER.iter().map(|s| s.to_string()).collect();
    let mut listed = vec![String::new()];
    for c in listed_commands(&help("")) {
        for sub in listed_commands(&help(&c)) {
            listed.push(format!("{c} {sub}"));
        }
        listed.push(c);
    }
    for c in &listed {
        if !commands.contains(c) {
            commands.push(c.clone());
        }
    }
    commands.retain(|c| listed.contains(c));
    let mut ran = 0;
    let mut text_indexed = false;
    for c in &commands {
        // The words commands need a backbone that reads text: the sample is
        // indexed once more with the tiny CLIP, as a person would with real
        // weights (`index data/collection --backbones clip-b16-hf`).
        if (c == "search" || c == "taste") && !text_indexed {
            let clip = fixtures().join("text").join("clip");
            let o = run(sh(&format!(
                "artlens index data/collection --backbones clip-b16-hf --weights clip-b16-hf={}",
                clip.display()
            )));
            assert!(o.status.success(), "indexing with CLIP: {}", stderr(&o));
            text_indexed = true;
        }
        for line in help_examples(&help(c)) {
            if line.starts_with("artlens serve") {
                let mut child = sh(&format!("exec {line}"))
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .unwrap();
                let out = child.stdout.take().unwrap();
                let (tx, rx) = std::sync::mpsc::channel();
                std::thread::spawn(move || {
                    let mut first = String::new();
                    let _ =
                        std::io::BufRead::read_line(&mut std::io::BufReader::new(out), &mut first);
                    let _ = tx.send(first);
                });
                let url = rx
                    .recv_timeout(std::time::Duration::from_secs(60))
                    .unwrap_or_default();
                let _ = child.kill();
                let _ = child.wait();
                assert!(
                    url.starts_with("http://"),
                    "`{line}` printed no URL: {url:?}"
                );
            } else {
                let o = run(sh(&line));
                assert!(
                    o.status.success(),
                    "`{line}` (from `artlens {c} --help`) failed:\n{}",
                    stderr(&o)
                );
            }
            ran += 1;
        }
    }
    assert!(ran >= 40, "only {ran} examples found");
}
