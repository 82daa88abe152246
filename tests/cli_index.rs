//! `artlens index`, `status`, `similar` and `export` on a real sled store
//! and real hnsw_rs indexes, driven through the binary with the tiny
//! fixture checkpoints.

use crate::common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;

/// A collection of `n` distinct small pictures in two "styles" (folders in
/// the WikiArt layout), written deterministically.
fn make_collection(dir: &Path, n: usize) {
    for i in 0..n {
        let style = if i % 2 == 0 {
            "Color_Field"
        } else {
            "Pointillism"
        };
        let folder = dir.join(style);
        fs::create_dir_all(&folder).unwrap();
        let (w, h) = (48 + (i as u32 % 5) * 16, 40 + (i as u32 % 3) * 24);
        let img = image::RgbImage::from_fn(w, h, |x, y| {
            let v = (x * 7 + y * 13 + i as u32 * 31) % 256;
            if i % 2 == 0 {
                image::Rgb([v as u8, (255 - v) as u8, (i * 40 % 256) as u8])
            } else {
                let dot = ((x / 4 + y / 4 + i as u32) % 3) as u8;
                image::Rgb([dot * 100, 255 - dot * 60, v as u8])
            }
        });
        img.save(folder.join(format!("ada-quill_work-{i:03}.png")))
            .unwrap();
    }
}

struct Env {
    _tmp: tempfile::TempDir,
    collection: PathBuf,
    store: PathBuf,
}

fn env(n: usize) -> Env {
    let tmp = tempfile::tempdir().unwrap();
    let collection = tmp.path().join("collection");
    make_collection(&collection, n);
    let store = tmp.path().join("store");
    Env {
        collection,
        store,
        _tmp: tmp,
    }
}

fn cmd(e: &Env, args: &[&str]) -> Command {
    let mut c = artlens();
    // The subcommand first, then --store, so callers can end with a flag
    // whose value they append.
    c.arg(args[0])
        .arg("--store")
        .arg(&e.store)
        .args(&args[1..])
        .env("ARTLENS_DINO_WEIGHTS", fixtures().join("dino_tiny"))
        .env("ARTLENS_DINOV2_WEIGHTS", fixtures().join("dinov2_tiny"));
    c
}

fn index(e: &Env, extra: &[&str]) -> Output {
    let mut c = cmd(e, &["index", "--json", "--batch-size", "3"]);
    c.arg(&e.collection).args(extra);
    run(&mut c)
}

fn summary(o: &Output) -> serde_json::Value {
    serde_json::from_str(stdout(o).trim())
        .unwrap_or_else(|_| panic!("no JSON summary: {} / {}", stdout(o), stderr(o)))
}

fn status(e: &Env) -> serde_json::Value {
    let o = run(&mut cmd(e, &["status", "--json"]));
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_str(stdout(&o).trim()).unwrap()
}

/// hash → (model → raw vector bytes), from `export --format csv` of both models.
fn snapshot(e: &Env) -> BTreeMap<String, BTreeMap<String, Vec<u32>>> {
    let mut out: BTreeMap<String, BTreeMap<String, Vec<u32>>> = BTreeMap::new();
    for model in ["dino", "dinov2"] {
        let dir = tempfile::tempdir().unwrap();
        let o = run(cmd(e, &["export", "--model", model, "--format", "npy"]).arg(dir.path()));
        assert!(o.status.success(), "{}", stderr(&o));
        let npy = fs::read(dir.path().join("embeddings.npy")).unwrap();
        let (rows, cols, data) = parse_npy(&npy);
        let items = fs::read_to_string(dir.path().join("items.csv")).unwrap();
        let hashes: Vec<String> = items
            .lines()
            .skip(1)
            .map(|l| l.split(',').nth(1).unwrap().to_string())
            .collect();
        assert_eq!(hashes.len(), rows);
        for (r, h) in hashes.into_iter().enumerate() {
            let bits = data[r * cols..(r + 1) * cols]
                .iter()
                .map(|f| f.to_bits())
                .collect();
            out.entry(h).or_default().insert(model.to_string(), bits);
        }
    }
    out
}

/// Parses a v1 `.npy` of little-endian f32.
fn parse_npy(bytes: &[u8]) -> (usize, usize, Vec<f32>) {
    assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00", "npy magic");
    let hlen = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + hlen]).unwrap();
    assert!(
        header.contains("'descr': '<f4'") && header.contains("'fortran_order': False"),
        "{header}"
    );
    assert_eq!((10 + hlen) % 64, 0, "npy header alignment");
    let shape = header
        .split("'shape': (")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap();
    let dims: Vec<usize> = shape
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse().unwrap())
        .collect();
    let data: Vec<f32> = bytes[10 + hlen..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    assert_eq!(data.len(), dims[0] * dims[1]);
    (dims[0], dims[1], data)
}

#[test]
fn index_is_incremental_and_follows_renames_duplicates_changes_and_deletions() {
    let e = env(8);
    let o = index(&e, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s = summary(&o);
    assert_eq!(
        (s["files"].as_u64(), s["embedded"].as_u64()),
        (Some(8), Some(8))
    );
    let st = status(&e);
    assert_eq!(st["artworks"], 8);
    assert_eq!(st["models"]["dino"]["embeddings"], 8);
    assert_eq!(st["models"]["dinov2"]["embeddings"], 8);
    let before = snapshot(&e);

    // Nothing new: nothing embedded.
    let s = summary(&index(&e, &[]));
    assert_eq!(
        (s["embedded"].as_u64(), s["already_stored"].as_u64()),
        (Some(0), Some(8))
    );

    // Renamed, moved and duplicated files are not re-embedded.
    let a = e.collection.join("Color_Field/ada-quill_work-000.png");
    fs::rename(&a, e.collection.join("Color_Field/renamed.png")).unwrap();
    fs::create_dir_all(e.collection.join("Elsewhere")).unwrap();
    fs::copy(
        e.collection.join("Pointillism/ada-quill_work-001.png"),
        e.collection.join("Elsewhere/copy.png"),
    )
    .unwrap();
    let s = summary(&index(&e, &[]));
    assert_eq!(s["embedded"], 0, "{s}");
    assert_eq!(s["new_paths"], 2, "{s}");
    assert_eq!(
        snapshot(&e),
        before,
        "stored vectors changed without new content"
    );

    // A file whose content changed is embedded anew.
    make_collection(&e.collection.join("tmp"), 9);
    fs::copy(
        e.collection.join("tmp/Color_Field/ada-quill_work-008.png"),
        e.collection.join("Color_Field/ada-quill_work-002.png"),
    )
    .unwrap();
    fs::remove_dir_all(e.collection.join("tmp")).unwrap();
    let s = summary(&index(&e, &[]));
    assert_eq!(s["embedded"], 1, "{s}");

    // The old content of work-002 and the renamed path's old name vanished.
    let st = status(&e);
    let vanished: Vec<String> = st["vanished"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().into())
        .collect();
    assert!(
        vanished
            .iter()
            .any(|p| p.ends_with("ada-quill_work-000.png")),
        "{vanished:?}"
    );
    assert_eq!(st["artworks"], 9);

    // --prune forgets them; the artwork that lost its only file goes.
    let s = summary(&index(&e, &["--prune"]));
    assert!(s["pruned"].as_u64().unwrap() >= 1, "{s}");
    let st = status(&e);
    assert_eq!(st["vanished"].as_array().unwrap().len(), 0);
    assert_eq!(st["artworks"], 8);
}

#[test]
fn bad_files_are_reported_recorded_and_retried() {
    let e = env(4);
    fs::write(e.collection.join("Color_Field/empty.png"), b"").unwrap();
    fs::write(
        e.collection.join("Color_Field/text.jpg"),
        b"not a jpeg at all",
    )
    .unwrap();
    let good = fs::read(e.collection.join("Color_Field/ada-quill_work-000.png")).unwrap();
    fs::write(
        e.collection.join("Pointillism/truncated.png"),
        &good[..good.len() / 2],
    )
    .unwrap();
    let o = index(&e, &[]);
    assert_eq!(o.status.code(), Some(1), "some failed: {}", stderr(&o));
    let err = stderr(&o);
    for name in ["empty.png", "text.jpg", "truncated.png"] {
        assert!(err.contains(name), "stderr names {name}: {err}");
    }
    assert!(!err.contains("panicked"), "{err}");
    let s = summary(&o);
    assert_eq!(
        (s["embedded"].as_u64(), s["failed"].as_u64()),
        (Some(4), Some(3))
    );
    let st = status(&e);
    assert_eq!(st["failures"].as_array().unwrap().len(), 3);
    assert_eq!(st["artworks"], 4);

    // Fixed files are retried by the next run and their failures cleared.
    fs::write(e.collection.join("Pointillism/truncated.png"), &good).unwrap();
    fs::remove_file(e.collection.join("Color_Field/empty.png")).unwrap();
    fs::remove_file(e.collection.join("Color_Field/text.jpg")).unwrap();
    let o = index(&e, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let st = status(&e);
    let failures = st["failures"].as_array().unwrap();
    assert!(
        failures
            .iter()
            .all(|f| !f["path"].as_str().unwrap().ends_with("truncated.png")),
        "{failures:?}"
    );
}

#[test]
fn a_store_in_use_is_refused_at_once() {
    let e = env(2);
    assert!(index(&e, &[]).status.success());
    let held = artlens::store::Store::open(&e.store).unwrap();
    let start = std::time::Instant::now();
    let o = run(&mut cmd(&e, &["status"]));
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("store in use by another artlens process"),
        "{}",
        stderr(&o)
    );
    assert!(start.elapsed().as_secs() < 10, "took {:?}", start.elapsed());
    drop(held);
    assert!(run(&mut cmd(&e, &["status"])).status.success());
}

#[test]
fn other_weights_are_refused_until_rebuild() {
    let e = env(3);
    assert!(index(&e, &[]).status.success());
    let before = snapshot(&e);
    // The same tensors as a pickle: another weights file, another fingerprint.
    let o = run(cmd(&e, &["index", "--models", "dino", "--dino-weights"])
        .arg(fixtures().join("dino_tiny_bin"))
        .arg(&e.collection));
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("weights hash") && err.contains("--rebuild dino"),
        "{err}"
    );
    assert_eq!(snapshot(&e), before, "a refused run changed the store");

    let o = run(cmd(
        &e,
        &[
            "index",
            "--json",
            "--models",
            "dino",
            "--rebuild",
            "dino",
            "--dino-weights",
        ],
    )
    .arg(fixtures().join("dino_tiny_bin"))
    .arg(&e.collection));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(summary(&o)["embedded"], 3);
    // Same tensors, so the same vectors, now under the new fingerprint.
    let after = snapshot(&e);
    for (h, m) in &before {
        assert_eq!(after[h]["dino"], m["dino"]);
    }
}

#[test]
fn metadata_csv_is_all_or_nothing_and_searchable() {
    let e = env(6);
    let csv = e.collection.parent().unwrap().join("meta.csv");
    fs::write(
        &csv,
        "path,title,artist,style,genre,date,museum\n\
         Color_Field/ada-quill_work-000.png,Blue Field,Ada Quill,Color Field,abstract,1961,Tate\n\
         ada-quill_work-001.png,Dots,Ben Rook,Pointillism,landscape,1890,\n\
         Color_Field/no-such-file.png,Ghost,Nobody,None,none,2000,\n\
         Color_Field/ada-quill_work-002.png,Too,Many,Columns,x,1,2,3\n",
    )
    .unwrap();
    let o = run(cmd(&e, &["index", "--metadata"])
        .arg(&csv)
        .arg(&e.collection));
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("row 4") && err.contains("no-such-file"),
        "{err}"
    );
    assert!(
        !e.store.join("db").exists() || status(&e)["artworks"] == 0,
        "nothing imported"
    );

    let lines: Vec<&str> = fs::read_to_string(&csv)
        .unwrap()
        .lines()
        .take(3)
        .map(|s| s.to_owned())
        .collect::<Vec<_>>()
        .leak()
        .iter()
        .map(|s| s.as_str())
        .collect();
    fs::write(&csv, lines.join("\n") + "\n").unwrap();
    let o = run(cmd(&e, &["index", "--metadata"])
        .arg(&csv)
        .arg(&e.collection));
    assert!(o.status.success(), "{}", stderr(&o));

    // The CSV's columns (extra ones too) are searchable; others keep the WikiArt parse.
    let o = run(&mut cmd(
        &e,
        &[
            "similar",
            "--id",
            "1",
            "--json",
            "-k",
            "5",
            "--model",
            "dino",
            "--where",
            "museum=tate",
        ],
    ));
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    // Only work-000 is in the Tate, so excluding the query itself may leave nothing or it.
    for r in v["results"]["dino"].as_array().unwrap() {
        assert_eq!(r["metadata"]["museum"], "Tate");
    }
    let o = run(cmd(
        &e,
        &[
            "similar",
            "--json",
            "--model",
            "dino",
            "--where",
            "style=Pointillism",
            "--id",
        ],
    )
    .arg(e.collection.join("Color_Field/ada-quill_work-000.png")));
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["query"]["metadata"]["title"], "Blue Field");
    let res = v["results"]["dino"].as_array().unwrap();
    assert!(!res.is_empty());
    for r in res {
        assert_eq!(
            r["metadata"]["style"].as_str().unwrap().to_lowercase(),
            "pointillism",
            "{r}"
        );
    }
}

#[test]
fn similar_side_by_side_for_stored_and_new_images() {
    let e = env(10);
    assert!(index(&e, &[]).status.success());
    let q = e.collection.join("Color_Field/ada-quill_work-004.png");
    let o = run(cmd(&e, &["similar", "--json", "-k", "4"]).arg(&q));
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["query"]["stored"], true);
    let qid = v["query"]["id"].as_u64().unwrap();
    for m in ["dino", "dinov2"] {
        let res = v["results"][m].as_array().unwrap();
        assert_eq!(res.len(), 4, "{m}");
        assert!(
            res.iter().all(|r| r["id"].as_u64() != Some(qid)),
            "the query is excluded"
        );
        let sims: Vec<f64> = res
            .iter()
            .map(|r| r["similarity"].as_f64().unwrap())
            .collect();
        assert!(sims.windows(2).all(|w| w[0] >= w[1]), "sorted: {sims:?}");
        assert!(res
            .iter()
            .all(|r| r["path"].as_str().is_some() && r["metadata"].is_object()));
    }
    let ids = |m: &str| -> Vec<u64> {
        v["results"][m]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_u64().unwrap())
            .collect()
    };
    let overlap = ids("dino")
        .iter()
        .filter(|i| ids("dinov2").contains(i))
        .count();
    assert_eq!(v["overlap"].as_u64(), Some(overlap as u64));

    // --exact gives the same neighbours on a small collection.
    let o2 = run(cmd(&e, &["similar", "--json", "-k", "4", "--exact"]).arg(&q));
    let v2: serde_json::Value = serde_json::from_str(stdout(&o2).trim()).unwrap();
    for m in ["dino", "dinov2"] {
        let a: Vec<u64> = v["results"][m]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_u64().unwrap())
            .collect();
        let b: Vec<u64> = v2["results"][m]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_u64().unwrap())
            .collect();
        assert_eq!(a, b, "{m}: ANN vs exact");
    }

    // A new image is embedded, searched, and not added to the store.
    let o = run(cmd(&e, &["similar", "--json", "-k", "3"]).arg(image_path("landscape")));
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["query"]["stored"], false);
    assert_eq!(v["results"]["dinov2"].as_array().unwrap().len(), 3);
    assert_eq!(status(&e)["artworks"], 10);

    // Plain text output is a side-by-side table.
    let o = run(cmd(&e, &["similar", "-k", "2", "--id", "3"]));
    let text = stdout(&o);
    assert!(
        text.contains("dino") && text.contains("dinov2") && text.contains("overlap"),
        "{text}"
    );
}

#[test]
fn export_matches_embed_exactly() {
    let e = env(3);
    assert!(index(&e, &[]).status.success());
    let snap = snapshot(&e);
    let img = e.collection.join("Pointillism/ada-quill_work-001.png");
    let o = run(artlens()
        .args(["embed", "--json", "--model", "dinov2", "--weights"])
        .arg(fixtures().join("dinov2_tiny"))
        .arg(&img));
    let line: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    let v: Vec<u32> = line["embedding"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x.as_f64().unwrap() as f32).to_bits())
        .collect();
    let (hash, _) = artlens::scan::hash_file_bytes(&img).unwrap();
    assert_eq!(
        snap[&hash]["dinov2"], v,
        "stored vector differs from embed's raw output"
    );
}

#[test]
fn ann_index_is_reloaded_extended_and_rebuilt_when_stale() {
    let e = env(6);
    let o = index(&e, &[]);
    assert!(
        stderr(&o).contains("building the ANN index"),
        "{}",
        stderr(&o)
    );
    // Reloaded, not rebuilt.
    let o = run(cmd(&e, &["similar", "--id", "1", "--json"]));
    assert!(o.status.success());
    assert!(
        !stderr(&o).contains("building the ANN index"),
        "{}",
        stderr(&o)
    );
    // New images are inserted incrementally.
    make_collection(&e.collection.join("more"), 9);
    for i in 0..6 {
        let _ = fs::remove_file(e.collection.join(format!(
            "more/{}/ada-quill_work-{i:03}.png",
            if i % 2 == 0 {
                "Color_Field"
            } else {
                "Pointillism"
            }
        )));
    }
    let o = index(&e, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        !stderr(&o).contains("building the ANN index"),
        "incremental: {}",
        stderr(&o)
    );
    // A damaged index file is detected and rebuilt, with a message.
    let dir = e.store.join("ann/dino");
    let data = fs::read_dir(&dir)
        .unwrap()
        .map(|d| d.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".hnsw.data"))
        .unwrap();
    let len = fs::metadata(&data).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&data)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let o = run(cmd(
        &e,
        &["similar", "--id", "2", "--json", "--model", "dino"],
    ));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("dino: building the ANN index"),
        "{}",
        stderr(&o)
    );
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["results"]["dino"].as_array().unwrap().len(), 8);
}

#[test]
fn kill_at_any_moment_then_resume_equals_a_clean_run() {
    let e = env(40);
    // The clean run, in its own store.
    let clean = Env {
        _tmp: tempfile::tempdir().unwrap(),
        collection: e.collection.clone(),
        store: e.collection.parent().unwrap().join("clean-store"),
    };
    let t0 = std::time::Instant::now();
    assert!(index(&clean, &[]).status.success());
    let clean_ms = t0.elapsed().as_millis() as u64;
    let want = snapshot(&clean);
    assert_eq!(want.len(), 40);

    // Kill -9 at fractions of a clean run's duration (so the kills land
    // inside the run on a slow or a fast machine), resuming each time.
    let mut partial_states = 0;
    for fraction in [0.15, 0.3, 0.45, 0.6, 0.75, 0.9] {
        let mut c = cmd(&e, &["index", "--quiet", "--batch-size", "2"]);
        c.arg(&e.collection)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let mut child = c.spawn().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(
            (clean_ms as f64 * fraction) as u64,
        ));
        let _ = child.kill(); // SIGKILL on Unix
        let _ = child.wait();
        let n = status(&e)["models"]["dinov2"]["embeddings"]
            .as_u64()
            .unwrap();
        if n > 0 && n < 40 {
            partial_states += 1;
        }
    }
    assert!(partial_states > 0, "no kill landed in the middle of a run");
    let o = index(&e, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let got = snapshot(&e);
    assert_eq!(got.len(), want.len(), "every image exactly once");
    assert_eq!(got, want, "resumed store differs from a clean run");
    let st = status(&e);
    assert_eq!(st["artworks"], 40);
    assert_eq!(st["models"]["dino"]["embeddings"], 40);
    // Every stored vector is findable through the index.
    let o = run(cmd(&e, &["similar", "--id", "1", "--json", "-k", "39"]));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["results"]["dinov2"].as_array().unwrap().len(), 39);
}

#[test]
fn later_commands_find_the_weights_the_store_remembers() {
    let e = env(4);
    assert!(index(&e, &[]).status.success());
    // No weights flags and no env: the store's remembered checkpoint folders
    // are used to embed a new image.
    let o = run(artlens()
        .args(["similar", "--json", "-k", "2", "--offline", "--store"])
        .arg(&e.store)
        .arg(image_path("small")));
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["query"]["stored"], false);
    assert_eq!(v["results"]["dinov2"].as_array().unwrap().len(), 2);
    let st = status(&e);
    assert!(st["models"]["dino"]["weights"]["weights"]
        .as_str()
        .unwrap()
        .ends_with("dino_tiny/model.safetensors"));
}

fn similar_ids(e: &Env, extra: &[&str]) -> (Output, BTreeMap<String, Vec<u64>>) {
    let mut args = vec!["similar", "--id", "1", "--json", "-k", "4"];
    args.extend_from_slice(extra);
    let o = run(&mut cmd(e, &args));
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    let mut out = BTreeMap::new();
    for (m, hits) in v["results"].as_object().unwrap() {
        out.insert(
            m.clone(),
            hits.as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].as_u64().unwrap())
                .collect(),
        );
    }
    (o, out)
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn an_ann_index_copied_from_another_store_is_rebuilt() {
    // Two stores, the same weights, ids 1…8 in both, other pictures.
    let a = env(8);
    let b = env(16);
    for i in 0..8 {
        let style = if i % 2 == 0 {
            "Color_Field"
        } else {
            "Pointillism"
        };
        fs::remove_file(
            b.collection
                .join(format!("{style}/ada-quill_work-{i:03}.png")),
        )
        .unwrap();
    }
    assert!(index(&a, &[]).status.success());
    assert!(index(&b, &[]).status.success());
    let (_, truth) = similar_ids(&b, &["--exact"]);
    fs::remove_dir_all(b.store.join("ann")).unwrap();
    copy_dir(&a.store.join("ann"), &b.store.join("ann"));

    let (o, got) = similar_ids(&b, &[]);
    let err = stderr(&o);
    assert!(
        err.contains("building the ANN index") && err.contains("another store"),
        "{err}"
    );
    assert_eq!(got, truth, "B's own neighbours, not A's");

    // `index` rebuilds and saves B's own index; then it is reused.
    let o = index(&b, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("another store"), "{}", stderr(&o));
    let (o, got) = similar_ids(&b, &[]);
    assert!(
        !stderr(&o).contains("building the ANN index"),
        "{}",
        stderr(&o)
    );
    assert_eq!(got, truth);
}

#[test]
fn an_ann_path_that_is_a_file_is_reported_and_the_index_built_in_memory() {
    let e = env(6);
    assert!(index(&e, &[]).status.success());
    let (_, truth) = similar_ids(&e, &["--exact", "--model", "dino"]);
    let dir = e.store.join("ann/dino");
    fs::remove_dir_all(&dir).unwrap();
    fs::write(&dir, b"not an index").unwrap();

    let (o, got) = similar_ids(&e, &["--model", "dino"]);
    let err = stderr(&o);
    assert!(
        err.contains("ann/dino") && err.contains("not a folder"),
        "{err}"
    );
    assert_eq!(got, truth);

    // `index` cannot save it there: a note, not a failure.
    let o = index(&e, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("cannot save the ANN index") && err.contains("ann/dino"),
        "{err}"
    );
    assert_eq!(fs::read(&dir).unwrap(), b"not an index", "left alone");
}

#[cfg(unix)]
#[test]
fn an_ann_folder_that_cannot_be_written_is_reported() {
    use std::os::unix::fs::PermissionsExt;
    let e = env(4);
    assert!(index(&e, &[]).status.success());
    let dir = e.store.join("ann/dino");
    fs::remove_dir_all(&dir).unwrap();
    fs::create_dir(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o555)).unwrap();
    if fs::write(dir.join("probe"), b"x").is_ok() {
        // Running as root: permissions are not enforced.
        return;
    }
    let o = index(&e, &[]);
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("cannot save the ANN index"),
        "{}",
        stderr(&o)
    );
}
