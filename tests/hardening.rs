//! Regressions of the third hardening pass (issue 26) on the command line
//! and the library's input readers: one test per defect, each headed by
//! what it guards.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::*;
use image::ImageEncoder;

/// `artlens ARGS --store STORE` with the tiny fixture checkpoints.
fn cmd(store: &Path, args: &[&str]) -> Command {
    let mut c = artlens();
    c.args(args)
        .arg("--store")
        .arg(store)
        .env("ARTLENS_DINO_WEIGHTS", fixtures().join("dino_tiny"))
        .env("ARTLENS_DINOV2_WEIGHTS", fixtures().join("dinov2_tiny"));
    c
}

fn all_output(o: &Output) -> String {
    format!("{}{}", stdout(o), stderr(o))
}

// ---------------------------------------------------------------------------
// Item 6: a metadata CSV was read in time quadratic in its columns (100,000
// columns: 12.8 s).

#[test]
fn a_metadata_csv_of_100000_columns_is_read_in_linear_time() {
    let dir = tempfile::tempdir().unwrap();
    let files = vec![artlens::scan::ScannedFile {
        path: dir.path().join("a.png"),
        rel_path: "a.png".into(),
        hash: "ab".repeat(32),
        size: 1,
    }];
    let columns = 100_000;
    let mut csv = String::from("path");
    for i in 1..columns {
        csv.push_str(&format!(",c{i}"));
    }
    csv.push_str("\na.png");
    for i in 1..columns {
        csv.push_str(&format!(",{}", i % 10));
    }
    csv.push('\n');
    let path = dir.path().join("wide.csv");
    std::fs::write(&path, csv).unwrap();

    let start = Instant::now();
    let metadata = artlens::scan::read_metadata_csv(&path, &files).unwrap();
    let elapsed = start.elapsed();
    eprintln!("{columns} columns read in {elapsed:?}");
    assert_eq!(metadata[&"ab".repeat(32)].len(), columns - 1);
    // Linear, this is a fraction of a second even unoptimised on a loaded
    // machine; comparing each name with every earlier one took minutes.
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
}

// ---------------------------------------------------------------------------
// Item 7: `--threads 10000` started 3,321 threads. Every count a user sets
// is bounded by a library constant, refused with exit status 2 and a
// message naming the flag, and shown in the help.

#[test]
fn every_count_a_user_sets_is_bounded_and_refused_by_name() {
    use artlens::limits::*;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let over = |max: usize| (max + 1).to_string();
    let threads = over(MAX_THREADS);
    let batch = over(MAX_BATCH_SIZE);
    let neighbours = over(MAX_NEIGHBOURS);
    let results = over(MAX_RESULTS);
    let folds = over(MAX_FOLDS);
    let repeats = over(MAX_REPEATS);
    let bootstrap = over(MAX_BOOTSTRAP);
    let iters = over(MAX_BENCH_ITERS);
    let row_groups = over(MAX_ROW_GROUP_ROWS);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["index", "d", "--threads", &threads], "--threads"),
        (vec!["index", "d", "--threads", "0"], "--threads"),
        (
            vec!["index", "d", "--decode-threads", &threads],
            "--decode-threads",
        ),
        (
            vec!["index", "d", "--decode-threads", "0"],
            "--decode-threads",
        ),
        (vec!["index", "d", "--batch-size", &batch], "--batch-size"),
        (
            vec!["embed", "--model", "dino", "--batch-size", &batch, "x.png"],
            "--batch-size",
        ),
        (vec!["score", "x.png", "-k", &neighbours], "--k"),
        (vec!["score", "x.png", "--threads", &threads], "--threads"),
        (vec!["compare", "-k", &neighbours], "--k"),
        (vec!["show", "1", "-k", &neighbours], "--k"),
        (vec!["similar", "--id", "1", "-k", &results], "--k"),
        (vec!["suggest", "-n", &results], "-n"),
        (vec!["train", "--folds", &folds], "--folds"),
        (vec!["train", "--folds", "1"], "--folds"),
        (vec!["train", "--repeats", &repeats], "--repeats"),
        (vec!["train", "--bootstrap", &bootstrap], "--bootstrap"),
        (vec!["train", "--bootstrap", "10"], "--bootstrap"),
        (vec!["train", "--threads", &threads], "--threads"),
        (
            vec!["bench", "--model", "dino", "--iters", &iters],
            "--iters",
        ),
        (
            vec![
                "export",
                "--model",
                "dino",
                "--row-group-rows",
                &row_groups,
                "out",
            ],
            "--row-group-rows",
        ),
    ];
    let mut failures = Vec::new();
    for (args, flag) in &cases {
        let o = run(cmd(&store, args));
        let err = stderr(&o);
        if o.status.code() != Some(2) || !err.contains(flag) {
            failures.push(format!("{args:?}: exit {:?}: {err}", o.status.code()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(!store.exists(), "a refused command created the store");

    // The help shows each bound, from the same constants.
    for (command, shown) in [
        (vec!["index", "--help"], format!("1 to {MAX_THREADS}")),
        (vec!["index", "--help"], format!("1 to {MAX_BATCH_SIZE}")),
        (
            vec!["train", "--help"],
            format!("{MIN_BOOTSTRAP} to {MAX_BOOTSTRAP}"),
        ),
        (vec!["similar", "--help"], format!("1 to {MAX_RESULTS}")),
        (vec!["score", "--help"], format!("1 to {MAX_NEIGHBOURS}")),
    ] {
        let o = run(artlens().args(&command));
        assert!(
            stdout(&o).contains(&shown),
            "{command:?} does not show {shown}"
        );
    }
}

#[test]
fn the_library_refuses_index_options_out_of_range() {
    let opts = artlens::pipeline::IndexOptions {
        decode_threads: 10_000,
        ..Default::default()
    };
    let e = opts.validate().unwrap_err().to_string();
    assert!(
        e.contains("--decode-threads 10000") && e.contains("1024"),
        "{e}"
    );
    let opts = artlens::pipeline::IndexOptions {
        batch_size: 0,
        ..Default::default()
    };
    assert!(opts.validate().is_err());
    assert!(artlens::pipeline::IndexOptions::default()
        .validate()
        .is_ok());
}

// ---------------------------------------------------------------------------
// Item 17: a command that fails before storing anything left an empty
// store behind, after which `status` said "artworks 0" and `similar`
// "holds no any backbone embeddings".

#[test]
fn index_of_a_folder_that_does_not_exist_leaves_no_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("index");
    let missing = dir.path().join("nonexistent");
    let o = run(cmd(&store, &["index"]).arg(&missing));
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(!store.exists(), "an empty store was left behind: {err}");
    // Item 16: the cause once, not "not a folder: not a folder".
    assert_eq!(err.matches("not a folder").count(), 1, "{err}");

    // A folder that held other things keeps them, and only them.
    std::fs::create_dir_all(&store).unwrap();
    std::fs::write(store.join("notes.txt"), "mine").unwrap();
    let o = run(cmd(&store, &["index"]).arg(&missing));
    assert_eq!(o.status.code(), Some(2));
    let left: Vec<_> = std::fs::read_dir(&store)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["notes.txt"]);
}

#[test]
fn index_offline_without_weights_leaves_no_store_and_hints_only_what_applies() {
    let dir = tempfile::tempdir().unwrap();
    let collection = dir.path().join("collection");
    std::fs::create_dir_all(&collection).unwrap();
    std::fs::write(
        collection.join("a.png"),
        std::fs::read(fixtures().join("images/small.png")).unwrap(),
    )
    .unwrap();
    let store = dir.path().join("index");
    // No weights anywhere: no ARTLENS_*_WEIGHTS, an empty HF_HOME.
    let o = run(artlens()
        .args(["index", "--offline", "--store"])
        .arg(&store)
        .arg(&collection)
        .env("HF_HOME", dir.path().join("hf")));
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(!store.exists(), "an empty store was left behind: {err}");
    assert_eq!(err.matches("without `--offline`").count(), 1, "{err}");

    // Without --offline the hint to drop it would be wrong.
    let e = artlens::Error::WeightsUnavailable {
        model: "dino".into(),
        repo: "facebook/dino-vitb16".into(),
        reason: "download from revision main failed: dns error".into(),
    };
    assert!(!e.to_string().contains("offline"), "{e}");
}

#[test]
fn an_empty_list_is_never_spliced_into_a_sentence() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("index");
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let o = run(cmd(&store, &["index"]).arg(&empty));
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(cmd(&store, &["similar", "--id", "1"]));
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(!err.contains("any backbone"), "{err}");
    let e = artlens::Error::NothingIndexed {
        store: PathBuf::from("index"),
    };
    assert_eq!(
        e.to_string(),
        "the store index holds no embeddings yet; run `artlens index DIR --store index` first"
    );
}

// ---------------------------------------------------------------------------
// Item 19: `score missing.jpg` printed its error twice, then "scored with
// the ridge taste heads", and exited 1.

#[test]
fn score_of_a_missing_file_says_so_once_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let collection = dir.path().join("collection");
    let ratings = rated_collection(&collection);
    let store = dir.path().join("store");
    let o = run(cmd(&store, &["index", "--backbones", "dino"]).arg(&collection));
    assert!(o.status.success(), "{}", stderr(&o));
    let csv = dir.path().join("ratings.csv");
    let body: String = std::iter::once("path,rating\n".to_string())
        .chain(ratings.iter().map(|(p, r)| format!("{p},{r}\n")))
        .collect();
    std::fs::write(&csv, body).unwrap();
    assert!(run(cmd(&store, &["rate", "import"]).arg(&csv))
        .status
        .success());
    let o = run(cmd(
        &store,
        &["train", "--folds", "3", "--bootstrap", "100"],
    ));
    assert!(o.status.success(), "{}", stderr(&o));

    let o = run(cmd(&store, &["score", "missing.jpg"]));
    let all = all_output(&o);
    assert_eq!(o.status.code(), Some(2), "{all}");
    assert_eq!(all.matches("missing.jpg").count(), 1, "{all}");
    assert!(!all.contains("scored with"), "{all}");

    // `status` says what was loaded: the tiny checkpoint is not the
    // registered one, whose 85.8M parameters it claimed.
    let o = run(cmd(&store, &["status"]));
    let out = stdout(&o);
    assert!(o.status.success(), "{}", stderr(&o));
    let dino = out
        .lines()
        .find(|l| l.starts_with("dino "))
        .expect("a dino line");
    assert!(!dino.contains(&common::dino().description()), "{dino}");
    assert!(dino.contains("as loaded"), "{dino}");
}

// ---------------------------------------------------------------------------
// Item 16: the small ones.

#[test]
fn a_png_error_is_in_plain_words() {
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(&[10u8; 3 * 4 * 4], 4, 4, image::ExtendedColorType::Rgb8)
        .unwrap();
    // Flip the last byte of the IDAT chunk's CRC: the png crate names the
    // chunk by its Rust Debug form.
    let idat = png.windows(4).position(|w| w == b"IDAT").unwrap();
    let len = u32::from_be_bytes(png[idat - 4..idat].try_into().unwrap()) as usize;
    png[idat + 4 + len + 3] ^= 0xff;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crc.png");
    std::fs::write(&path, &png).unwrap();
    let e = artlens::imaging::decode_file(&path, &Default::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("crc.png") && e.contains("IDAT"), "{e}");
    assert!(!e.contains("ChunkType") && !e.contains("critical:"), "{e}");
}

#[test]
fn a_rater_name_may_hold_letters_of_any_script() {
    for name in ["Zoë", "Łukasz", "李"] {
        let r = artlens::ratings::Rater::parse(name).unwrap();
        assert_eq!(r.name(), name);
    }
}
