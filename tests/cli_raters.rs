//! Raters, preferences and `suggest` through the binary on a real store
//! with the tiny fixture checkpoints: ratings kept apart per rater, removal
//! of several works (all or nothing), `rate clear`, `rate prefer` and its
//! bad input, contradictions counted in `status`, training per rater from
//! scores and from preferences, and `suggest` with and without ratings.

mod common;

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Output};

use common::*;

struct Env {
    tmp: tempfile::TempDir,
    ratings: Vec<(String, f64)>,
}

impl Env {
    fn new() -> Env {
        let tmp = tempfile::tempdir().unwrap();
        let collection = tmp.path().join("collection");
        let ratings = common::rated_collection(&collection);
        let e = Env { tmp, ratings };
        let o = run(e.cmd(&["index", "--quiet", collection.to_str().unwrap()]));
        assert!(o.status.success(), "{}", stderr(&o));
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

    fn csv(&self, name: &str, body: &str) -> PathBuf {
        let p = self.tmp.path().join(name);
        fs::write(&p, body).unwrap();
        p
    }
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_str(stdout(o).trim())
        .unwrap_or_else(|e| panic!("{e}: {} / {}", stdout(o), stderr(o)))
}

fn count(e: &Env, rater: &str) -> usize {
    let o = run(e.cmd(&["rate", "list", "--rater", rater, "--json"]));
    assert!(o.status.success(), "{}", stderr(&o));
    json(&o).as_array().unwrap().len()
}

fn rater_status(e: &Env) -> serde_json::Value {
    let o = run(e.cmd(&["status", "--json"]));
    assert!(o.status.success(), "{}", stderr(&o));
    json(&o)["raters"].clone()
}

#[test]
fn raters_keep_their_own_ratings_and_heads() {
    let e = Env::new();
    // A CSV with a rater column: `me` by default, `anna` where named.
    let mut body = String::from("path,rating,rater\n");
    for (i, (p, r)) in e.ratings.iter().enumerate() {
        let who = if i % 2 == 0 { "" } else { "anna" };
        body.push_str(&format!("{p},{r},{who}\n"));
        // Anna rates every work; the two may rate one work differently.
        if i % 2 == 0 {
            body.push_str(&format!("{p},{},anna\n", 10.0 - r));
        }
    }
    let csv = e.csv("both.csv", &body);
    let o = run(e.cmd(&["rate", "import", csv.to_str().unwrap(), "--json"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let report = json(&o);
    assert_eq!(report["raters"]["me"], 12, "{report}");
    assert_eq!(report["raters"]["anna"], 24, "{report}");
    assert_eq!(count(&e, "me"), 12);
    assert_eq!(count(&e, "anna"), 24);
    assert_eq!(count(&e, "bob"), 0);

    let st = rater_status(&e);
    assert_eq!(st[0]["name"], "me", "{st}");
    assert_eq!(st[0]["ratings"], 12);
    assert_eq!(st[1]["name"], "anna");
    assert_eq!(st[1]["ratings"], 24);

    // Bad rater names are refused, on the command line and in a CSV.
    let o = run(e.cmd(&["rate", "list", "--rater", "a b"]));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("rater name"), "{}", stderr(&o));
    let bad = e.csv(
        "bad.csv",
        &format!("path,rating,rater\n{},1,ann/a\n", e.ratings[0].0),
    );
    let o = run(e.cmd(&["rate", "import", bad.to_str().unwrap()]));
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("row 2") && stderr(&o).contains("rater name"),
        "{}",
        stderr(&o)
    );

    // Training anna's taste leaves `me` untrained, and score/compare take --rater.
    let o = run(e.cmd(&[
        "train",
        "--rater",
        "anna",
        "--folds",
        "3",
        "--repeats",
        "2",
        "--bootstrap",
        "100",
        "--json",
    ]));
    assert!(o.status.success(), "{}", stderr(&o));
    let t = json(&o);
    assert_eq!(t["rater"], "anna");
    assert_eq!(t["n_ratings"], 24, "{t}");
    assert_eq!(t["repeats"], 2);
    let st = rater_status(&e);
    assert_eq!(st[1]["trained"], true, "{st}");
    assert_eq!(st[0]["trained"], false, "{st}");
    let o = run(e.cmd(&["score", &e.ratings[0].0, "--json"]));
    assert!(!o.status.success(), "me has no heads yet: {}", stdout(&o));
    let o = run(e.cmd(&["score", &e.ratings[0].0, "--rater", "anna", "--json"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(e.cmd(&["compare", "--rater", "anna", "--json"]));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(json(&o)["verdict"], t["verdict"]);

    // Removing several works: one unknown name changes nothing.
    let o = run(e.cmd(&[
        "rate",
        "remove",
        "--rater",
        "anna",
        &e.ratings[0].0,
        "no-such-work.png",
        "nothing-either.png",
    ]));
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("no-such-work.png") && err.contains("nothing-either.png"),
        "{err}"
    );
    assert_eq!(count(&e, "anna"), 24);
    let o = run(e.cmd(&[
        "rate",
        "remove",
        "--rater",
        "anna",
        &e.ratings[0].0,
        &e.ratings[1].0,
    ]));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(count(&e, "anna"), 22);
    assert_eq!(count(&e, "me"), 12, "another rater's ratings are untouched");
    // A work anna no longer rates: reported, exit 1.
    let o = run(e.cmd(&["rate", "remove", "--rater", "anna", &e.ratings[0].0]));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));

    let o = run(e.cmd(&["rate", "clear", "--rater", "anna"]));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(count(&e, "anna"), 0);
    assert_eq!(count(&e, "me"), 12);
}

#[test]
fn preferences_are_checked_kept_and_learnt() {
    let e = Env::new();
    let w = |i: usize| e.ratings[i].0.clone();
    // The same work twice, and unknown works, are errors naming them.
    let o = run(e.cmd(&["rate", "prefer", &w(0), &w(0)]));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("two different works"), "{}", stderr(&o));
    let o = run(e.cmd(&["rate", "prefer", "nope-1.png", "nope-2.png"]));
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("nope-1.png") && stderr(&o).contains("nope-2.png"),
        "{}",
        stderr(&o)
    );
    let o = run(e.cmd(&["rate", "prefer", &w(0), "nope-2.png"]));
    assert!(stderr(&o).contains("nope-2.png"), "{}", stderr(&o));

    // Before anything is rated, suggest covers the collection and says so.
    let o = run(e.cmd(&["suggest", "-n", "5", "--json"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let s = json(&o);
    assert_eq!(s["method"], "coverage", "{s}");
    assert!(stderr(&o).contains("nothing is rated"), "{}", stderr(&o));
    assert_eq!(s["works"].as_array().unwrap().len(), 5);

    // Preferences that follow the style ratings: Color_Field over
    // Pointillism over Minimalism; one contradiction, kept and counted.
    let mut n = 0;
    for i in 0..24 {
        for j in 0..24 {
            let (ri, rj) = (e.ratings[i].1, e.ratings[j].1);
            if i % 3 != j % 3 && ri > rj && (i + 2 * j) % 5 == 0 {
                let o = run(e.cmd(&["rate", "prefer", &w(i), &w(j)]));
                assert!(o.status.success(), "{}", stderr(&o));
                n += 1;
            }
        }
    }
    assert!(n >= 20, "{n}");
    let (a, b) = (0, 1); // Color_Field over Pointillism, then the other way.
    run(e.cmd(&["rate", "prefer", &w(a), &w(b)]));
    let o = run(e.cmd(&["rate", "prefer", &w(b), &w(a)]));
    assert!(o.status.success());
    assert!(stderr(&o).contains("contradicts"), "{}", stderr(&o));
    let st = rater_status(&e);
    assert_eq!(st[0]["name"], "me");
    assert_eq!(st[0]["contradictions"], 1, "{st}");
    assert!(st[0]["preferences"].as_u64().unwrap() as usize >= n, "{st}");
    let o = run(e.cmd(&["status"]));
    assert!(
        stdout(&o).contains("1 contradictory pairs"),
        "{}",
        stdout(&o)
    );

    // Preferences alone train pairwise heads.
    let o = run(e.cmd(&["train", "--folds", "3", "--bootstrap", "100", "--json"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let t = json(&o);
    assert!(t["n_ratings"].is_null() && t["verdict"].is_null(), "{t}");
    let p = &t["preferences"];
    assert_eq!(p["contradictions"], 1, "{p}");
    for id in ["dino", "dinov2"] {
        let acc = p["backbones"][id]["accuracy"].as_f64().unwrap();
        assert!(acc > 0.6, "{id}: {acc} ({p})");
    }
    assert!(p["verdict"].as_str().unwrap().len() > 10);

    // With ratings and heads, the verdict goal ranks unrated works.
    let mut body = String::from("path,rating\n");
    for (p, r) in e.ratings.iter().take(16) {
        body.push_str(&format!("{p},{r}\n"));
    }
    let csv = e.csv("r.csv", &body);
    assert!(run(e.cmd(&["rate", "import", csv.to_str().unwrap()]))
        .status
        .success());
    let o = run(e.cmd(&[
        "train",
        "--folds",
        "3",
        "--repeats",
        "2",
        "--bootstrap",
        "100",
    ]));
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(e.cmd(&["suggest", "-n", "3", "--json"]));
    let s = json(&o);
    assert_eq!(s["method"], "verdict", "{s}");
    let rated: Vec<&str> = e.ratings.iter().take(16).map(|(p, _)| p.as_str()).collect();
    assert_eq!(s["works"].as_array().unwrap().len(), 3, "{s}");
    for item in s["works"].as_array().unwrap() {
        let path = item["path"].as_str().unwrap();
        assert!(!rated.iter().any(|r| path.ends_with(r)), "{path} is rated");
        assert_eq!(item["predictions"].as_object().unwrap().len(), 2);
    }
    let o = run(e.cmd(&["suggest", "-n", "3", "--goal", "taste"]));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o).lines().count(),
        3,
        "{} / {}",
        stdout(&o),
        stderr(&o)
    );
}
