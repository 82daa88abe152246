//! `rate`, `train`, `score` and `compare` through the binary on a real store
//! with the tiny fixture checkpoints: formats, exit codes, bad input, and
//! the links between them (heads saved with fingerprints, references with
//! their ratings, the verdict carried into the report).

use crate::common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;

/// 24 works in three "styles" with a rating that depends on the style.
struct Env {
    tmp: tempfile::TempDir,
    collection: PathBuf,
    ratings: Vec<(String, f64)>,
}

impl Env {
    fn new() -> Env {
        let tmp = tempfile::tempdir().unwrap();
        let collection = tmp.path().join("collection");
        let ratings = collection_and_index(&collection, tmp.path());
        Env {
            tmp,
            collection,
            ratings,
        }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = artlens();
        c.args(args)
            .env("ARTLENS_STORE", self.tmp.path().join("store"))
            .env("ARTLENS_DINO_WEIGHTS", fixtures().join("dino_tiny"))
            .env("ARTLENS_DINOV2_WEIGHTS", fixtures().join("dinov2_tiny"));
        c
    }

    fn csv(&self, name: &str, body: &str) -> PathBuf {
        let p = self.tmp.path().join(name);
        fs::write(&p, body).unwrap();
        p
    }

    fn ratings_csv(&self) -> PathBuf {
        let body: String = std::iter::once("path,rating\n".to_string())
            .chain(self.ratings.iter().map(|(p, r)| format!("{p},{r}\n")))
            .collect();
        self.csv("ratings.csv", &body)
    }
}

fn collection_and_index(dir: &Path, tmp: &Path) -> Vec<(String, f64)> {
    let ratings = common::rated_collection(dir);
    let o = artlens()
        .args(["index", "--quiet"])
        .arg(dir)
        .env("ARTLENS_STORE", tmp.join("store"))
        .env("ARTLENS_DINO_WEIGHTS", fixtures().join("dino_tiny"))
        .env("ARTLENS_DINOV2_WEIGHTS", fixtures().join("dinov2_tiny"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    ratings
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_str(stdout(o).trim())
        .unwrap_or_else(|e| panic!("{e}: {} / {}", stdout(o), stderr(o)))
}

fn rated_count(e: &Env) -> usize {
    json(&run(e.cmd(&["rate", "list", "--json"])))
        .as_array()
        .unwrap()
        .len()
}

#[test]
fn bad_ratings_csv_imports_nothing_and_names_rows() {
    let e = Env::new();
    let csv = e.csv(
        "bad.csv",
        "file,score\n\
         Color_Field/ada-quill_work-00.png,7\n\
         Color_Field/no-such.png,5\n\
         Pointillism/ada-quill_work-01.png,lots\n\
         Color_Field/ada-quill_work-00.png,6\n\
         Minimalism/ada-quill_work-02.png,\n",
    );
    let o = run(e.cmd(&["rate", "import"]).arg(&csv));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    for row in ["row 3", "row 4", "row 5", "row 6"] {
        assert!(err.contains(row), "{row} missing: {err}");
    }
    assert_eq!(rated_count(&e), 0, "nothing imported");

    let o = run(e.cmd(&["rate", "import", "--skip-bad", "--json"]).arg(&csv));
    assert_eq!(
        o.status.code(),
        Some(1),
        "bad rows skipped is a partial success"
    );
    assert_eq!(json(&o)["imported"], 1);
    assert_eq!(rated_count(&e), 1);

    // One at a time, by stored path; a non-number is refused by the parser.
    let p = e.collection.join("Pointillism/ada-quill_work-04.png");
    assert!(run(e.cmd(&["rate", "set"]).arg(&p).arg("6.5"))
        .status
        .success());
    assert_eq!(rated_count(&e), 2);
    assert_eq!(
        run(e.cmd(&["rate", "set"]).arg(&p).arg("nan?"))
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn score_before_train_and_too_few_ratings_say_what_to_do() {
    let e = Env::new();
    let few = e.csv(
        "few.csv",
        "path,rating\nColor_Field/ada-quill_work-00.png,7\nPointillism/ada-quill_work-01.png,3\n",
    );
    assert!(run(e.cmd(&["rate", "import"]).arg(&few)).status.success());
    let o = run(e.cmd(&["train"]));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("at least 10"), "{}", stderr(&o));

    let o = run(e
        .cmd(&["score"])
        .arg(e.collection.join("Color_Field/ada-quill_work-03.png")));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("artlens train"), "{}", stderr(&o));
}

#[test]
fn train_score_compare_end_to_end() {
    let e = Env::new();
    let o = run(e.cmd(&["rate", "import"]).arg(e.ratings_csv()));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(rated_count(&e), 24);

    let o = run(e.cmd(&["train", "--json", "--folds", "4", "--bootstrap", "500"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let report = json(&o);
    assert_eq!(report["n_ratings"], 24);
    assert_eq!(report["folds"], 4);
    for m in ["dino", "dinov2"] {
        let s = report["backbones"][m]["pooled"]["spearman"]
            .as_f64()
            .unwrap();
        // Ratings follow the three visibly different styles.
        assert!(s > 0.5, "{m} Spearman {s}");
        assert_eq!(
            report["backbones"][m]["learning_curve"]
                .as_array()
                .unwrap()
                .len(),
            3
        );
    }
    let c = &report["comparisons"][0];
    assert!(c["ci_low"].as_f64().unwrap() <= c["ci_high"].as_f64().unwrap());
    let verdict = report["verdict"].as_str().unwrap();
    // The statistician's interval is the detail; the verdict is in words.
    let detail = report["verdict_detail"].as_str().unwrap();
    assert!(detail.contains("95% CI"), "{detail}");
    assert!(
        !verdict.contains("Spearman") && !verdict.contains("artlens"),
        "{verdict}"
    );
    assert!(!report["procedure"].as_str().unwrap().is_empty());

    // Scores: one new image (not stored), one stored work, one unreadable file.
    let bad = e.csv("broken.png", "nope");
    let stored = e.collection.join("Minimalism/ada-quill_work-05.png");
    let html = e.tmp.path().join("score.html");
    let o = run(e
        .cmd(&["score", "--json", "-k", "4", "--html"])
        .arg(&html)
        .arg(image_path("landscape"))
        .arg(&stored)
        .arg(&bad));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("broken.png"));
    let lines: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert!(lines[2]["error"].as_str().unwrap().contains("broken.png"));
    let stored_hash = artlens::scan::hash_file_bytes(&stored).unwrap().0;
    for line in &lines[..2] {
        for m in ["dino", "dinov2"] {
            let s = &line["models"][m];
            assert!(s["score"].as_f64().unwrap().is_finite());
            let refs = s["references"].as_array().unwrap();
            assert_eq!(refs.len(), 4);
            assert!(
                refs.iter().all(|r| r["hash"] != stored_hash),
                "a stored work is not its own reference"
            );
            // The kNN estimate is the similarity-weighted mean of the references' ratings.
            let (num, den) = refs.iter().fold((0.0, 0.0), |(n, d), r| {
                let w = r["similarity"].as_f64().unwrap().max(0.0);
                (n + w * r["rating"].as_f64().unwrap(), d + w)
            });
            assert!((s["knn_estimate"].as_f64().unwrap() - num / den).abs() < 1e-4);
            assert!(s["out_of_distribution"].is_boolean());
            assert!(refs
                .iter()
                .all(|r| r["path"].is_string() && r["metadata"].is_object() && r["id"].is_u64()));
        }
        let a: Vec<_> = line["models"]["dino"]["references"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].clone())
            .collect();
        let overlap = line["models"]["dinov2"]["references"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| a.contains(&r["id"]))
            .count();
        assert_eq!(line["reference_overlap"].as_u64(), Some(overlap as u64));
    }
    // A stored Minimalism work's references are mostly Minimalism works.
    let refs = lines[1]["models"]["dinov2"]["references"]
        .as_array()
        .unwrap();
    let same = refs
        .iter()
        .filter(|r| r["path"].as_str().unwrap().contains("/Minimalism/"))
        .count();
    assert!(same >= 2, "{refs:?}");
    // The page the command wrote, as headless Chromium renders it: every
    // score, both backbones, and one thumbnail per query and reference.
    let dom = rendered_dom(&html);
    assert!(
        dom.contains("DINOv2") && dom.contains("DINO"),
        "model names"
    );
    for line in &lines[..2] {
        for m in ["dino", "dinov2"] {
            let score = format!("{:.2}", line["models"][m]["score"].as_f64().unwrap());
            assert!(dom.contains(&score), "{m} score {score} not on the page");
        }
    }
    // Thumbnails are boxes whose picture the page's style sheet embeds once
    // (`<span class="thumb tN" role="img">`); a missing one is a placeholder.
    let imgs = dom.matches(r#"<span class="thumb t"#).count();
    assert!(imgs >= 2 + 2 * 2 * 4, "{imgs} thumbnails");
    assert!(
        dom.contains("broken.png"),
        "the failed image is reported on the page"
    );

    // The compare report carries the label metrics, the heads' numbers and the verdict.
    let html = e.tmp.path().join("compare.html");
    let o = run(e
        .cmd(&["compare", "--json", "--label", "style", "-k", "5", "--html"])
        .arg(&html));
    assert!(o.status.success(), "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(v["verdict"], verdict);
    for m in ["dino", "dinov2"] {
        let acc = v["models"][m]["loo_accuracy"].as_f64().unwrap();
        assert!(
            acc > v["models"][m]["chance"].as_f64().unwrap(),
            "{m}: {acc}"
        );
        assert!(
            (v["models"][m]["cv"]["spearman"].as_f64().unwrap()
                - report["backbones"][m]["pooled"]["spearman"]
                    .as_f64()
                    .unwrap())
            .abs()
                < 1e-12
        );
    }
    let dom = rendered_dom(&html);
    assert!(
        dom.contains(verdict.split(':').next().unwrap()),
        "verdict on the rendered page"
    );
    assert!(
        dom.contains("<svg") && dom.contains("polyline"),
        "learning curve chart"
    );
    let acc = format!(
        "{:.3}",
        v["models"]["dinov2"]["loo_accuracy"].as_f64().unwrap()
    );
    assert!(dom.contains(&acc), "label accuracy {acc} on the page");

    // The data ladder: DINO (1.28M images) before DINOv2 (142M) however
    // the backbones are named, each with its fold mean and interval.
    let html = e.tmp.path().join("ladder.html");
    let o = run(e
        .cmd(&["compare", "--json", "--backbones", "dinov2,dino", "--html"])
        .arg(&html));
    assert!(o.status.success(), "{}", stderr(&o));
    let v = json(&o);
    let ladder = v["ladder"].as_array().unwrap();
    let ids: Vec<&str> = ladder.iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["dino", "dinov2"]);
    let columns: Vec<&str> = v["provenance"]["backbones"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap())
        .collect();
    assert_eq!(columns, ids, "columns follow the ladder");
    assert_eq!(ladder[0]["pretraining_images"], 1_281_167);
    assert_eq!(ladder[1]["pretraining_data"], "LVD-142M");
    for p in ladder {
        let m = p["id"].as_str().unwrap();
        let folds: Vec<f64> = report["backbones"][m]["per_fold"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["spearman"].as_f64().unwrap())
            .collect();
        let mean = folds.iter().sum::<f64>() / folds.len() as f64;
        let rho = p["spearman"].as_f64().unwrap();
        assert!((rho - mean).abs() < 1e-12, "{m}: {rho} vs {mean}");
        assert_eq!(p["folds"].as_u64().unwrap() as usize, folds.len());
        // What the chart plots: the report's headline figure.
        assert_eq!(p["headline"], report["backbones"][m]["headline"], "{m}");
        let (lo, hi) = (
            p["ci_low"].as_f64().unwrap(),
            p["ci_high"].as_f64().unwrap(),
        );
        assert!(
            lo < rho && rho < hi && hi - lo > 0.0,
            "{m}: {lo} {rho} {hi}"
        );
    }
    let dom = rendered_dom(&html);
    let point = |m: &str| {
        let at = dom
            .find(&format!("data-model=\"{m}\" data-images="))
            .unwrap_or_else(|| panic!("no ladder point for {m}"));
        let cx = &dom[at..];
        let cx = &cx[cx.find("<circle cx=\"").unwrap() + 12..];
        cx[..cx.find('"').unwrap()].parse::<f64>().unwrap()
    };
    assert!(
        point("dino") < point("dinov2"),
        "more data is further right"
    );
    assert!(dom.contains("class=\"interval\""), "intervals are drawn");
    assert!(dom.contains("pretraining images (log scale)"));
    let text = run(e.cmd(&["compare", "--backbones", "dinov2,dino"]));
    let out = stdout(&text);
    let first = out.find("data ladder  dino ").unwrap();
    assert!(first < out.find("data ladder  dinov2 ").unwrap(), "{out}");
}

#[test]
fn a_head_trained_on_other_embeddings_is_refused() {
    let e = Env::new();
    let o = run(e.cmd(&["rate", "import"]).arg(e.ratings_csv()));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(run(e.cmd(&["train", "--bootstrap", "200"]))
        .status
        .success());
    // Re-embed DINO with another weights file (same tensors, other bytes).
    let o = run(e
        .cmd(&[
            "index",
            "--quiet",
            "--models",
            "dino",
            "--rebuild",
            "dino",
            "--dino-weights",
        ])
        .arg(fixtures().join("dino_tiny_bin"))
        .arg(&e.collection));
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(e
        .cmd(&["score", "--model", "dino", "--dino-weights"])
        .arg(fixtures().join("dino_tiny_bin"))
        .arg(image_path("landscape")));
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("train") && err.contains("dino"), "{err}");
}

/// The runs that wrote the heads and the report in the store at `dir`: one
/// run id when they agree.
fn training_runs(dir: &Path) -> std::collections::BTreeSet<String> {
    let store = artlens::store::Store::open(dir).unwrap();
    let mut runs = std::collections::BTreeSet::new();
    if let Some(t) =
        artlens::head::load_training_of(&store, &artlens::ratings::Rater::default()).unwrap()
    {
        runs.insert(t.run);
    }
    for b in store.backbones().unwrap() {
        if let Ok((_, run)) =
            artlens::head::load_head_of(&store, &artlens::ratings::Rater::default(), &b)
        {
            runs.insert(run);
        }
    }
    runs
}

/// Guards the atomic save of a training run: `kill -9` at any moment of a
/// second `train` leaves either the first run's heads and report or the
/// second's, never a mix.
#[test]
fn a_kill_during_train_leaves_one_runs_heads_and_report() {
    let e = Env::new();
    assert!(run(e.cmd(&["rate", "import"]).arg(e.ratings_csv()))
        .status
        .success());
    let start = std::time::Instant::now();
    assert!(run(e.cmd(&["train", "--quiet", "--bootstrap", "400"]))
        .status
        .success());
    let clean = start.elapsed();
    let store = e.tmp.path().join("store");
    assert_eq!(training_runs(&store).len(), 1);
    let mut mid_run = 0;
    for (i, frac) in [0.2, 0.4, 0.6, 0.8, 0.9, 0.97].iter().enumerate() {
        let mut child = e
            .cmd(&[
                "train",
                "--quiet",
                "--bootstrap",
                "400",
                "--seed",
                &(i + 7).to_string(),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(clean.mul_f64(*frac));
        if child.try_wait().unwrap().is_none() {
            mid_run += 1;
        }
        let _ = child.kill();
        let _ = child.wait();
        let runs = training_runs(&store);
        assert_eq!(
            runs.len(),
            1,
            "after a kill at {frac} of a run: heads from {runs:?}"
        );
    }
    assert!(
        mid_run >= 2,
        "only {mid_run} kills landed while train was running"
    );
}

/// "What in my collection would I like most?": `ls --unrated --sort
/// predicted` lists the works not yet rated by the predicted score of the
/// backbone that understands the taste best, each score the one `score`
/// gives the same work (a number is the same everywhere).
#[test]
fn ls_sorted_by_prediction_answers_what_you_would_like_most() {
    let e = Env::new();
    let body: String = std::iter::once("path,rating\n".to_string())
        .chain(e.ratings.iter().take(16).map(|(p, r)| format!("{p},{r}\n")))
        .collect();
    let o = run(e.cmd(&["rate", "import"]).arg(e.csv("some.csv", &body)));
    assert!(o.status.success(), "{}", stderr(&o));

    // Before any training there is no prediction to sort by: said, not guessed.
    let o = run(e.cmd(&["ls", "--unrated", "--sort", "predicted"]));
    assert_ne!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stderr(&o).contains("train"), "{}", stderr(&o));
    let o = run(e.cmd(&["ls", "--sort", "best"]));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("predicted:BACKBONE"), "{}", stderr(&o));

    let o = run(e.cmd(&["train", "--quiet", "--folds", "4", "--bootstrap", "200"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let listed = json(&run(e.cmd(&[
        "ls",
        "--unrated",
        "--sort",
        "predicted",
        "--json",
    ])));
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 8, "{listed:?}");
    let by = listed[0]["predicted_by"].as_str().unwrap().to_string();
    assert!(by == "dino" || by == "dinov2", "{by}");
    let scores: Vec<f64> = listed
        .iter()
        .map(|w| {
            assert!(w["rating"].is_null(), "{w}");
            assert_eq!(w["predicted_by"], by.as_str(), "{w}");
            w["predicted"].as_f64().unwrap()
        })
        .collect();
    assert!(scores.windows(2).all(|p| p[0] >= p[1]), "{scores:?}");
    // The top work's predicted score is its score.
    let top = listed[0]["id"].as_u64().unwrap().to_string();
    let scored = json(&run(e.cmd(&["score", &top, "--json"])));
    let score = scored["models"][by.as_str()]["score"].as_f64().unwrap();
    assert!((score - scores[0]).abs() < 1e-9, "{score} vs {}", scores[0]);

    // A backbone can be named; the text shows the score as the report does.
    let listed = json(&run(e.cmd(&["ls", "--sort", "predicted:dino", "--json"])));
    assert_eq!(listed.as_array().unwrap().len(), 24);
    assert!(listed
        .as_array()
        .unwrap()
        .iter()
        .all(|w| w["predicted_by"] == "dino"));
    let o = run(e.cmd(&["ls", "--unrated", "--sort", "predicted"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let first = stdout(&o).lines().next().unwrap().to_string();
    assert!(
        first.contains(&format!("predicted {}", artlens::plain::score(scores[0]))),
        "{first}"
    );
    assert!(
        stderr(&o).contains(&format!("8 works, by {by}'s predicted score")),
        "{}",
        stderr(&o)
    );
    // Plain `ls` is unchanged: no prediction in it.
    let plain = json(&run(e.cmd(&["ls", "--json"])));
    assert!(plain[0].get("predicted").is_none(), "{}", plain[0]);
}
