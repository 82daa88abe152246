//! Raters, preferences and `suggest` through the binary on a real store
//! with the tiny fixture checkpoints: ratings kept apart per rater, removal
//! of several works (all or nothing), `rate clear`, `rate prefer` and its
//! bad input, contradictions counted in `status`, training per rater from
//! scores and from preferences, and `suggest` with and without ratings.

use crate::common;

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

/// Guards issue 22's round trip: `rate list` is CSV with a header that
/// `rate import` reads back, so list → clear → import → list gives the same
/// bytes; the rater column brings the ratings back to their rater.
#[test]
fn rate_list_is_csv_that_rate_import_reads_back() {
    let e = Env::new();
    let mut body = String::from("path,rating,rater\n");
    for (i, (p, r)) in e.ratings.iter().enumerate() {
        body.push_str(&format!("{p},{},ana\n", r * 1.1));
        if i % 3 == 0 {
            body.push_str(&format!("{p},{r},me\n"));
        }
    }
    let csv = e.csv("both.csv", &body);
    assert!(run(e.cmd(&["rate", "import", csv.to_str().unwrap()]))
        .status
        .success());
    let list = |rater: &str| {
        let o = run(e.cmd(&["rate", "list", "--rater", rater]));
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
    };
    let before = list("ana");
    let mine = list("me");
    let mut lines = before.lines();
    assert_eq!(lines.next(), Some("path,rating,rater,id,hash,title"));
    assert_eq!(lines.count(), 24);
    // Every row says what was imported: the work, its rating, the rater.
    let mut reader = csv::Reader::from_reader(before.as_bytes());
    for row in reader.records() {
        let row = row.unwrap();
        let (p, r) = e
            .ratings
            .iter()
            .find(|(p, _)| row[0].ends_with(p.as_str()))
            .unwrap_or_else(|| panic!("{row:?}"));
        assert_eq!(row[1].parse::<f64>().unwrap(), r * 1.1, "{p}");
        assert_eq!(&row[2], "ana");
    }

    let saved = e.csv("ana.csv", &before);
    assert!(run(e.cmd(&["rate", "clear", "--rater", "ana"]))
        .status
        .success());
    assert_eq!(count(&e, "ana"), 0);
    // No --rater: the rater column brings them back to ana.
    let o = run(e.cmd(&["rate", "import", saved.to_str().unwrap()]));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(list("ana"), before);
    assert_eq!(list("me"), mine, "me's ratings are untouched");
    assert_eq!(mine.lines().count(), 1 + 8);
    // --json keeps its shape.
    let o = run(e.cmd(&["rate", "list", "--rater", "ana", "--json"]));
    let rows = json(&o);
    assert_eq!(rows.as_array().unwrap().len(), 24);
    assert!(rows[0]["source"].as_str().unwrap().starts_with("csv:"));
}

/// Guards the preference listing and taking one preference back: `rate
/// list --preferences` (CSV and JSON), `rate unprefer` removing exactly the
/// one named for its rater, and a clear error naming both works when there
/// is no such preference.
#[test]
fn preferences_are_listed_and_one_can_be_taken_back() {
    let e = Env::new();
    let w = |i: usize| e.ratings[i].0.clone();
    for (rater, a, b) in [("ana", 0, 1), ("ana", 2, 3), ("me", 0, 1)] {
        let o = run(e.cmd(&["rate", "prefer", "--rater", rater, &w(a), &w(b)]));
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let prefs = |rater: &str| {
        let o = run(e.cmd(&["rate", "list", "--preferences", "--rater", rater]));
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
    };
    let listed = prefs("ana");
    let mut lines = listed.lines();
    assert_eq!(
        lines.next(),
        Some("winner,loser,rater,time,winner_id,loser_id,winner_hash,loser_hash,source")
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 2, "{listed}");
    let pairs: Vec<(String, String)> = csv::Reader::from_reader(listed.as_bytes())
        .records()
        .map(|r| {
            let r = r.unwrap();
            assert_eq!(&r[2], "ana");
            (r[0].to_string(), r[1].to_string())
        })
        .collect();
    for (a, b) in [(0, 1), (2, 3)] {
        assert!(
            pairs
                .iter()
                .any(|(x, y)| x.ends_with(&w(a)) && y.ends_with(&w(b))),
            "{pairs:?}"
        );
    }
    let o = run(e.cmd(&["rate", "list", "--preferences", "--rater", "ana", "--json"]));
    let js = json(&o);
    assert_eq!(js.as_array().unwrap().len(), 2, "{js}");
    assert!(js[0]["winner_hash"].as_str().unwrap().len() == 64, "{js}");

    // The opposite direction is not stored: an error naming both works,
    // saying the other direction exists; nothing changes.
    let o = run(e.cmd(&["rate", "unprefer", "--rater", "ana", &w(1), &w(0)]));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("no preference") && err.contains(&w(0)) && err.contains(&w(1)),
        "{err}"
    );
    assert!(err.contains("opposite"), "{err}");
    assert_eq!(prefs("ana"), listed);

    let o = run(e.cmd(&["rate", "unprefer", "--rater", "ana", &w(0), &w(1)]));
    assert!(o.status.success(), "{}", stderr(&o));
    let after = prefs("ana");
    assert_eq!(after.lines().count(), 2, "{after}");
    assert!(after.contains(&w(2)) && !after.contains(&w(0)), "{after}");
    assert_eq!(prefs("me").lines().count(), 2, "me's preference stays");
    // Taking it back twice: nothing left to take back.
    let o = run(e.cmd(&["rate", "unprefer", "--rater", "ana", &w(0), &w(1)]));
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("rate list --preferences"),
        "{}",
        stderr(&o)
    );
}

/// Guards the rating column of exports: `items.csv` (npy and csv formats)
/// and the Parquet files carry the named rater's ratings, empty (null) for
/// works that rater has not rated.
#[test]
fn exports_carry_the_raters_rating_column() {
    let e = Env::new();
    let mut body = String::from("path,rating,rater\n");
    for (i, (p, r)) in e.ratings.iter().enumerate() {
        if i % 2 == 0 {
            body.push_str(&format!("{p},{r},ana\n"));
        }
    }
    let csv = e.csv("ana.csv", &body);
    assert!(run(e.cmd(&["rate", "import", csv.to_str().unwrap()]))
        .status
        .success());
    let rating_of = |path: &str| {
        e.ratings
            .iter()
            .enumerate()
            .find(|(_, (p, _))| path.ends_with(p.as_str()))
            .map(|(i, (_, r))| (i, *r))
            .unwrap()
    };

    for format in ["npy", "csv"] {
        for rater in ["ana", "me"] {
            let out = e.tmp.path().join(format!("{format}-{rater}"));
            let o = run(e
                .cmd(&["export", "--backbone", "dino", "--format", format])
                .args(["--rater", rater])
                .arg(&out));
            assert!(o.status.success(), "{}", stderr(&o));
            let items = fs::read_to_string(out.join("items.csv")).unwrap();
            let mut reader = csv::Reader::from_reader(items.as_bytes());
            let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
            assert_eq!(header[..4], ["id", "hash", "path", "rating"]);
            let mut rated = 0;
            for row in reader.records() {
                let row = row.unwrap();
                let (i, r) = rating_of(&row[2]);
                if rater == "ana" && i % 2 == 0 {
                    assert_eq!(row[3].parse::<f64>().unwrap(), r, "{row:?}");
                    rated += 1;
                } else {
                    assert_eq!(&row[3], "", "{row:?}");
                }
            }
            assert_eq!(rated, if rater == "ana" { 12 } else { 0 });
            let manifest: serde_json::Value =
                serde_json::from_slice(&fs::read(out.join("manifest.json")).unwrap()).unwrap();
            assert_eq!(manifest["rater"], rater);
        }
    }

    let out = e.tmp.path().join("parquet");
    let o = run(e
        .cmd(&["export", "--format", "parquet", "--rater", "ana"])
        .arg(&out));
    assert!(o.status.success(), "{}", stderr(&o));
    use arrow_array::{Array, Float64Array, StringArray};
    let file = fs::File::open(out.join("dino.parquet")).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let mut rows = 0;
    for batch in reader {
        let batch = batch.unwrap();
        let col = |name: &str| batch.column(batch.schema().index_of(name).unwrap()).clone();
        let paths = col("path");
        let paths = paths.as_any().downcast_ref::<StringArray>().unwrap();
        let ratings = col("rating");
        let ratings = ratings.as_any().downcast_ref::<Float64Array>().unwrap();
        for k in 0..batch.num_rows() {
            let (i, r) = rating_of(paths.value(k));
            if i % 2 == 0 {
                assert_eq!(ratings.value(k), r);
            } else {
                assert!(ratings.is_null(k), "{}", paths.value(k));
            }
            rows += 1;
        }
    }
    assert_eq!(rows, 24);
}
