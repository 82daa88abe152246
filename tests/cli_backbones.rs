//! The binary with backbones named by id: three backbones in one store
//! (`dino`, `dinov2`, `dinov2@224`) through index → similar → train →
//! compare; `show`, `ls`, `completions`; `--store` on either side of the
//! command; read-only commands that never create a store; bad ids and
//! flags refused with what to do.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

struct Env {
    tmp: tempfile::TempDir,
    collection: PathBuf,
}

impl Env {
    fn new() -> Env {
        let tmp = tempfile::tempdir().unwrap();
        let collection = tmp.path().join("collection");
        rated_collection(&collection);
        Env { tmp, collection }
    }

    fn store(&self) -> PathBuf {
        self.tmp.path().join("store")
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = artlens();
        c.args(args)
            .env("ARTLENS_STORE", self.store())
            .env("ARTLENS_DINO_WEIGHTS", fixtures().join("dino_tiny"))
            .env("ARTLENS_DINOV2_WEIGHTS", fixtures().join("dinov2_tiny"));
        c
    }
}

fn json(o: &std::process::Output) -> serde_json::Value {
    assert!(o.status.success(), "{}", stderr(o));
    serde_json::from_str(stdout(o).trim()).unwrap()
}

fn ratings_csv(dir: &Path, collection: &Path) -> PathBuf {
    let ratings = rated_collection(collection);
    let body: String = std::iter::once("path,rating\n".to_string())
        .chain(ratings.iter().map(|(p, r)| format!("{p},{r}\n")))
        .collect();
    let p = dir.join("ratings.csv");
    std::fs::write(&p, body).unwrap();
    p
}

#[test]
fn three_backbones_side_by_side_through_the_commands() {
    let e = Env::new();
    let o = run(e
        .cmd(&["index", "--json", "--backbones", "dino,dinov2,dinov2@224"])
        .arg(&e.collection));
    assert_eq!(json(&o)["embedded"], 24);
    let st = json(&run(e.cmd(&["status", "--json"])));
    for b in ["dino", "dinov2", "dinov2@224"] {
        assert_eq!(st["models"][b]["embeddings"], 24, "{b}");
    }
    assert_eq!(
        st["models"]["dinov2@224"]["hub_id"],
        "timm/vit_base_patch14_dinov2.lvd142m"
    );
    assert!(st["models"]["dinov2@224"]["description"]
        .as_str()
        .unwrap()
        .contains("224 px"));

    // similar: one column per backbone, and what the query was.
    let o = run(e.cmd(&[
        "similar",
        "--id",
        "Minimalism/ada-quill_work-02.png",
        "-k",
        "4",
    ]));
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.starts_with("works similar to #"), "{text}");
    let header = text.lines().nth(1).unwrap();
    for b in ["dino", "dinov2", "dinov2@224"] {
        assert!(header.contains(b), "{header}");
    }
    let v = json(&run(e.cmd(&["similar", "--id", "3", "--json", "-k", "4"])));
    assert_eq!(v["backbones"].as_array().unwrap().len(), 3);
    assert_eq!(v["query"]["id"], 3);
    for b in ["dino", "dinov2", "dinov2@224"] {
        assert_eq!(v["results"][b].as_array().unwrap().len(), 4);
    }
    // --backbones chooses.
    let v = json(&run(e.cmd(&[
        "similar",
        "--id",
        "3",
        "--json",
        "--backbones",
        "dinov2@224",
    ])));
    assert_eq!(v["backbones"], serde_json::json!(["dinov2@224"]));
    assert!(v["overlap"].is_null());

    // train and compare every pair.
    let csv = ratings_csv(e.tmp.path(), &e.collection);
    assert!(run(e.cmd(&["rate", "import"]).arg(&csv)).status.success());
    let t = json(&run(e.cmd(&[
        "train",
        "--json",
        "--folds",
        "3",
        "--bootstrap",
        "200",
    ])));
    let names: Vec<&str> = t["backbones"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(names, ["dino", "dinov2", "dinov2@224"]);
    for b in &names {
        assert!(t["backbones"][b]["pooled"]["spearman"].is_number());
        assert_eq!(
            t["backbones"][b]["learning_curve"]
                .as_array()
                .unwrap()
                .len(),
            3
        );
        assert!(t["backbones"][b]["per_fold"].is_array());
    }
    let comparisons = t["comparisons"].as_array().unwrap();
    assert_eq!(comparisons.len(), 3 * 3, "3 pairs × 3 metrics");
    for c in comparisons {
        for k in ["a", "b", "metric", "diff", "ci_low", "ci_high"] {
            assert!(c.get(k).is_some(), "{k} in {c}");
        }
        // Three pairs: simultaneous intervals at 1 − 0.05/3.
        assert!((c["ci_level"].as_f64().unwrap() - (1.0 - 0.05 / 3.0)).abs() < 1e-9);
    }
    let c = json(&run(e.cmd(&["compare", "--json", "-k", "4"])));
    assert_eq!(c["models"].as_object().unwrap().len(), 3);
    assert_eq!(c["verdict"], t["verdict"]);
    assert_eq!(c["agreements"].as_array().unwrap().len(), 3);
    assert_eq!(c["provenance"]["head_kind"], "ridge");

    // score says which head kind it used; rating a work afterwards makes
    // score warn that the heads are stale.
    let img = e.collection.join("Color_Field/ada-quill_work-00.png");
    let o = run(e.cmd(&["score", "--json"]).arg(&img));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("ridge"), "{}", stderr(&o));
    let line: serde_json::Value = serde_json::from_str(stdout(&o).lines().next().unwrap()).unwrap();
    assert_eq!(line["models"].as_object().unwrap().len(), 3);
    // A stored work can be scored by name instead of by file.
    let by_name = run(e.cmd(&["score", "--json", "Color_Field/ada-quill_work-00.png"]));
    let named: serde_json::Value =
        serde_json::from_str(stdout(&by_name).lines().next().unwrap()).unwrap();
    assert_eq!(
        named["models"]["dino"]["score"],
        line["models"]["dino"]["score"]
    );
    assert!(run(e.cmd(&["rate", "set", "1", "0"])).status.success());
    let o = run(e.cmd(&["score", "--json"]).arg(&img));
    assert!(stderr(&o).contains("ratings changed"), "{}", stderr(&o));
}

#[test]
fn show_ls_export_manifest_and_completions() {
    let e = Env::new();
    assert!(run(e
        .cmd(&["index", "--quiet", "--backbones", "dino"])
        .arg(&e.collection))
    .status
    .success());
    let w = json(&run(e.cmd(&[
        "show",
        "Pointillism/ada-quill_work-01.png",
        "--json",
    ])));
    assert_eq!(w["relative_paths"][0], "Pointillism/ada-quill_work-01.png");
    assert_eq!(w["metadata"]["style"], "Pointillism");
    assert_eq!(w["backbones"], serde_json::json!(["dino"]));
    assert_eq!(w["neighbours"]["dino"].as_array().unwrap().len(), 5);
    // The same work by id, hash prefix and file name.
    let id = w["id"].as_u64().unwrap().to_string();
    let hash = w["hash"].as_str().unwrap()[..6].to_string();
    for name in [id.as_str(), hash.as_str(), "ada-quill_work-01.png"] {
        assert_eq!(
            json(&run(e.cmd(&["show", name, "--json"])))["hash"],
            w["hash"],
            "{name}"
        );
    }
    let o = run(e.cmd(&["show", "no-such-work.png"]));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no-such-work.png"), "{}", stderr(&o));

    let all = json(&run(e.cmd(&["ls", "--json"])));
    assert_eq!(all.as_array().unwrap().len(), 24);
    let some = json(&run(e.cmd(&[
        "ls",
        "--json",
        "--where",
        "style=Minimalism",
    ])));
    assert_eq!(some.as_array().unwrap().len(), 8);
    assert!(run(e.cmd(&["rate", "set", "2", "4"])).status.success());
    assert_eq!(
        json(&run(e.cmd(&["ls", "--json", "--rated"])))
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        json(&run(e.cmd(&["ls", "--json", "--unrated"])))
            .as_array()
            .unwrap()
            .len(),
        23
    );
    assert!(run(e.cmd(&["rate", "remove", "2"])).status.success());
    assert_eq!(
        json(&run(e.cmd(&["ls", "--json", "--rated"])))
            .as_array()
            .unwrap()
            .len(),
        0
    );

    let out = e.tmp.path().join("export");
    assert!(run(e.cmd(&["export", "--backbone", "dino"]).arg(&out))
        .status
        .success());
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["backbone"], "dino");
    assert_eq!(manifest["hub_id"], "facebook/dino-vitb16");
    assert_eq!(manifest["rows"], 24);
    assert!(manifest["fingerprint"]["weights_blake3"].is_string());
    assert!(manifest["fingerprint"]["preprocess"].is_object());
    assert!(manifest["artlens_version"].is_string() && manifest["exported_at"].is_u64());

    for shell in ["bash", "zsh", "fish"] {
        let o = run(artlens().args(["completions", shell]));
        assert!(o.status.success());
        let script = stdout(&o);
        assert!(
            script.contains("artlens") && script.contains("similar"),
            "{shell}"
        );
    }
}

#[test]
fn a_metadata_csv_with_bad_rows_is_refused_or_imported_with_skip_bad() {
    let e = Env::new();
    let csv = e.tmp.path().join("meta.csv");
    std::fs::write(
        &csv,
        "file,title,artist\nColor_Field/ada-quill_work-00.png,Red field,Ada\nno-such-file.png,X,Y\n",
    )
    .unwrap();
    let o = run(e
        .cmd(&["index", "--quiet", "--backbones", "dino", "--metadata"])
        .arg(&csv)
        .arg(&e.collection));
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("row 3") && stderr(&o).contains("--skip-bad"),
        "{}",
        stderr(&o)
    );
    assert!(
        !e.store().join("db").exists() || json(&run(e.cmd(&["status", "--json"])))["artworks"] == 0
    );
    let o = run(e
        .cmd(&[
            "index",
            "--quiet",
            "--backbones",
            "dino",
            "--skip-bad",
            "--metadata",
        ])
        .arg(&csv)
        .arg(&e.collection));
    assert_eq!(
        o.status.code(),
        Some(1),
        "bad rows skipped is a partial success"
    );
    assert!(stderr(&o).contains("row 3"), "{}", stderr(&o));
    let w = json(&run(e.cmd(&[
        "show",
        "Color_Field/ada-quill_work-00.png",
        "--json",
    ])));
    assert_eq!(w["metadata"]["title"], "Red field");
    assert_eq!(w["metadata"]["artist"], "Ada");
}

#[test]
fn read_only_commands_never_create_a_store_and_bad_names_say_what_to_do() {
    let e = Env::new();
    let photos = e.tmp.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    for args in [
        vec!["status"],
        vec!["similar", "--id", "1"],
        vec!["ls"],
        vec!["compare"],
        vec!["rate", "list"],
    ] {
        // --store before the command here, after it below.
        let o = run(artlens().arg("--store").arg(&photos).args(&args));
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&o).contains("no artlens store at"),
            "{args:?}: {}",
            stderr(&o)
        );
    }
    let o = run(artlens().args(["status", "--store"]).arg(&photos));
    assert!(stderr(&o).contains("no artlens store at"));
    assert_eq!(
        std::fs::read_dir(&photos).unwrap().count(),
        0,
        "nothing was written"
    );

    let o = run(e.cmd(&["index", "--backbones", "vgg16"]).arg(&e.collection));
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("dino") && stderr(&o).contains("dinov2"),
        "{}",
        stderr(&o)
    );
    let o = run(e
        .cmd(&["index", "--backbones", "dinov2@230"])
        .arg(&e.collection));
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("230") && stderr(&o).contains("14"),
        "{}",
        stderr(&o)
    );
    let o = run(e
        .cmd(&["index", "--backbones", "dino", "--weights"])
        .arg(format!(
            "dinov2={}",
            fixtures().join("dinov2_tiny").display()
        ))
        .arg(&e.collection));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("does not use dinov2"), "{}", stderr(&o));
    assert!(!e.store().exists(), "a refused index made no store");
}

/// Hardening: the options that are part of a fingerprint are remembered by
/// the store (as the backbone id's @SIZE), no message advises a destructive
/// rebuild that would not help, a rebuild with nothing to rebuild says so,
/// and an absurd resolution is refused before anything is allocated.
#[test]
fn image_size_is_remembered_and_rebuild_is_never_advised_in_vain() {
    let e = Env::new();
    let o = run(e
        .cmd(&[
            "index",
            "--quiet",
            "--image-size",
            "224",
            "--backbones",
            "dinov2",
        ])
        .arg(&e.collection));
    assert!(o.status.success(), "{}", stderr(&o));
    let st = json(&run(e.cmd(&["status", "--json"])));
    assert!(st["models"]["dinov2@224"].is_object(), "{st}");
    // A new image is embedded at the size the store holds, without flags.
    let img = e.tmp.path().join("new.png");
    image::RgbImage::from_pixel(40, 30, image::Rgb([10, 200, 30]))
        .save(&img)
        .unwrap();
    let o = run(e.cmd(&["similar", "--json", "-k", "3"]).arg(&img));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("--rebuild"), "{}", stderr(&o));
    assert_eq!(
        json(&o)["results"]["dinov2@224"].as_array().unwrap().len(),
        3
    );

    let o = run(e
        .cmd(&[
            "index",
            "--backbones",
            "dinov2@224",
            "--rebuild",
            "dinov2@224",
        ])
        .arg(&e.collection));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("nothing to rebuild"), "{}", stderr(&o));

    let o = run(artlens()
        .args([
            "embed",
            "--model",
            "dino",
            "--image-size",
            "65536",
            "--weights",
        ])
        .arg(fixtures().join("dino_tiny"))
        .arg(&img));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("2048"), "{}", stderr(&o));
}

/// Hardening: a newline in a file name is escaped in line-oriented text
/// output, so one result stays one line (`embed`, `rate list`).
#[test]
fn a_newline_in_a_path_stays_on_one_line() {
    let e = Env::new();
    let odd = e.collection.join("Minimalism/two\nlines.png");
    image::RgbImage::from_pixel(30, 30, image::Rgb([200, 10, 10]))
        .save(&odd)
        .unwrap();
    let o = run(artlens()
        .args(["embed", "--model", "dino", "--weights"])
        .arg(fixtures().join("dino_tiny"))
        .arg(&odd));
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.contains("two\\nlines.png"), "{out}");
    assert!(run(e
        .cmd(&["index", "--quiet", "--backbones", "dino"])
        .arg(&e.collection))
    .status
    .success());
    assert!(run(e.cmd(&["rate", "set"]).arg(&odd).arg("3"))
        .status
        .success());
    // `rate list` is CSV for `rate import`: a header and one row, where the
    // path that cannot stay on one line is given as the work's hash.
    let o = run(e.cmd(&["rate", "list"]));
    let out = stdout(&o);
    assert_eq!(out.lines().count(), 2, "{out}");
    let named = out.lines().nth(1).unwrap().split(',').next().unwrap();
    assert!(
        named.len() == 64 && named.chars().all(|c| c.is_ascii_hexdigit()),
        "{out}"
    );
}
