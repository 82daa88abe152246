//! File names: names that are not UTF-8, backslashes, and copies of a work
//! under other names, through `artlens index` and `show`.

use crate::common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;

fn picture(path: &Path, seed: u32) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let img = image::RgbImage::from_fn(48, 40, |x, y| {
        image::Rgb([
            ((x * 7 + seed * 31) % 256) as u8,
            ((y * 13 + seed * 17) % 256) as u8,
            (seed * 40 % 256) as u8,
        ])
    });
    img.save_with_format(path, image::ImageFormat::Png).unwrap();
}

fn cmd(store: &Path, args: &[&str]) -> Command {
    let mut c = artlens();
    c.arg(args[0])
        .arg("--store")
        .arg(store)
        .args(&args[1..])
        .env("ARTLENS_DINO_WEIGHTS", fixtures().join("dino_tiny"))
        .env("ARTLENS_DINOV2_WEIGHTS", fixtures().join("dinov2_tiny"));
    c
}

fn index(store: &Path, collection: &Path) -> Output {
    let mut c = cmd(store, &["index", "--json", "--backbones", "dino"]);
    c.arg(collection);
    run(&mut c)
}

fn show(store: &Path, work: &str) -> serde_json::Value {
    let o = run(cmd(store, &["show", "--json", work]));
    assert!(o.status.success(), "show {work}: {}", stderr(&o));
    serde_json::from_str(stdout(&o).trim()).unwrap()
}

fn setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let collection = tmp.path().join("collection");
    let store = tmp.path().join("store");
    (tmp, collection, store)
}

#[cfg(unix)]
#[test]
fn a_name_that_is_not_utf8_is_reported_not_misread() {
    use std::os::unix::ffi::OsStrExt;
    let (_tmp, collection, store) = setup();
    picture(&collection.join("Realism/ada-quill_fine.png"), 1);
    let bad = collection
        .join("Realism")
        .join(std::ffi::OsStr::from_bytes(b"caf\xe9.png"));
    picture(&bad, 2);
    let o = index(&store, &collection);
    let err = stderr(&o);
    // The good file is indexed; the other is a failure that says why
    // (not "No such file or directory", as when its lossy name was reopened).
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("not valid UTF-8"), "{err}");
    assert!(!err.contains("No such file"), "{err}");
    let v = show(&store, "ada-quill_fine.png");
    assert_eq!(v["metadata"]["title"], "fine", "{v}");
    // Renamed, it is indexed like any other file.
    fs::rename(&bad, collection.join("Realism/cafe.png")).unwrap();
    let o = index(&store, &collection);
    assert!(o.status.success(), "{}", stderr(&o));
    show(&store, "cafe.png");
}

#[test]
fn a_backslash_in_a_name_is_stored_and_nameable() {
    let (_tmp, collection, store) = setup();
    picture(&collection.join("Cubism/back\\slash.png"), 3);
    let o = index(&store, &collection);
    assert!(o.status.success(), "{}", stderr(&o));
    let v = show(&store, "Cubism/back\\slash.png");
    let paths = v["paths"].as_array().unwrap();
    assert!(
        paths[0]
            .as_str()
            .unwrap()
            .ends_with("Cubism/back\\slash.png"),
        "{v}"
    );
    // The file is still there where the store says.
    assert!(Path::new(paths[0].as_str().unwrap()).is_file());
}

#[test]
fn a_copy_keeps_what_is_known_about_the_work() {
    let (_tmp, collection, store) = setup();
    let original = collection.join("Impressionism/claude-monet_water-lilies.png");
    picture(&original, 4);
    picture(
        &collection.join("Impressionism/other-artist_other-work.png"),
        5,
    );
    let o = index(&store, &collection);
    assert!(o.status.success(), "{}", stderr(&o));
    let before = show(&store, "claude-monet_water-lilies.png");
    assert_eq!(before["metadata"]["artist"], "claude monet", "{before}");

    // A copy under another style folder and another name (which the WikiArt
    // layout reads as artist "IMG", title "0001"), in a folder that sorts
    // first; re-indexed with a second backbone, so the work is re-recorded.
    let copy = collection.join("AAA_Favourites/IMG_0001.png");
    fs::create_dir_all(copy.parent().unwrap()).unwrap();
    fs::copy(&original, &copy).unwrap();
    let mut c = cmd(&store, &["index", "--json", "--backbones", "dino,dinov2"]);
    let o = run(c.arg(&collection));
    assert!(o.status.success(), "{}", stderr(&o));
    let after = show(&store, before["id"].as_u64().unwrap().to_string().as_str());
    assert_eq!(after["id"], before["id"]);
    assert_eq!(after["metadata"]["artist"], "claude monet", "{after}");
    assert_eq!(after["metadata"]["title"], "water lilies", "{after}");
    assert_eq!(after["metadata"]["style"], "Impressionism", "{after}");
    let paths: Vec<&str> = after["paths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert_eq!(paths.len(), 2, "{after}");
    assert!(paths
        .iter()
        .any(|p| p.ends_with("claude-monet_water-lilies.png")));
    assert!(paths
        .iter()
        .any(|p| p.ends_with("AAA_Favourites/IMG_0001.png")));
}
