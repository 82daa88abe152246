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

// ---------------------------------------------------------------------------
// The rest of issue 26 (items 5, 15, 16, 18): damaged, read-only, newer and
// full stores, and files that failed before.

/// `text` shows no panic and no Rust debug text.
fn no_panic_text(what: &str, text: &str) {
    for bad in [
        "panicked",
        "internal error",
        "backtrace",
        "Os {",
        "RUST_BACKTRACE",
    ] {
        assert!(
            !text.contains(bad),
            "{what}: `{bad}` reached the user: {text}"
        );
    }
}

/// A store of the 11 fixture images (both tiny backbones) with 6 ratings,
/// made through the command line so that the ratings journal is written;
/// reopened once so that sled has written a snapshot.
fn rated_store(store: &Path) {
    let o = run(cmd(store, &["index", "-q"]).arg(fixtures().join("images")));
    assert!(o.status.success(), "{}", stderr(&o));
    for id in 1..=6 {
        let (id, score) = (id.to_string(), (id * 2).to_string());
        let o = run(cmd(store, &["rate", "set", &id, &score, "-q"]));
        assert!(o.status.success(), "{}", stderr(&o));
    }
    assert!(run(cmd(store, &["status"])).status.success());
}

/// `cp -a`: a store copied with its files as they are.
fn copy_store(from: &Path, to: &Path) {
    let ok = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let _ = std::fs::remove_file(to.join(artlens::store::OPEN_LOCK_FILE));
}

/// Guards issue 26, item 5: a deleted `db` beside an intact snapshot (or
/// without one) was "no artlens store" to `status` and `doctor`, and
/// `doctor --into` refused it, although the ratings journal held every
/// rating; truncated ones made sled panic in 4 of 65 trials, and one cut
/// to nothing without a snapshot opened as a new empty store. Now no case
/// panics, each names the damaged file, and `doctor --into` salvages what
/// the journal holds.
#[test]
fn a_truncated_or_deleted_db_never_panics_and_is_salvaged() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base");
    rated_store(&base);
    let db_len = std::fs::metadata(base.join("db")).unwrap().len();
    let has_snapshot = std::fs::read_dir(&base)
        .unwrap()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().starts_with("snap."));
    assert!(has_snapshot, "sled wrote no snapshot to test against");
    let cases: Vec<Option<u64>> = vec![None, Some(0), Some(100), Some(4096), Some(db_len / 2)];
    let mut n = 0;
    for cut in cases {
        for keep_snapshot in [true, false] {
            n += 1;
            let what = format!(
                "db {} {} snapshot",
                cut.map_or("deleted".to_string(), |c| format!("cut to {c} bytes")),
                if keep_snapshot {
                    "with its"
                } else {
                    "without a"
                }
            );
            let store = dir.path().join(format!("s{n}"));
            copy_store(&base, &store);
            if !keep_snapshot {
                for e in std::fs::read_dir(&store).unwrap().flatten() {
                    if e.file_name().to_string_lossy().starts_with("snap.") {
                        std::fs::remove_file(e.path()).unwrap();
                    }
                }
            }
            match cut {
                None => std::fs::remove_file(store.join("db")).unwrap(),
                Some(len) => std::fs::OpenOptions::new()
                    .write(true)
                    .open(store.join("db"))
                    .unwrap()
                    .set_len(len)
                    .unwrap(),
            }
            for args in [&["status"][..], &["doctor"]] {
                let o = run(cmd(&store, args));
                let all = all_output(&o);
                no_panic_text(&what, &all);
                assert!(
                    matches!(o.status.code(), Some(0) | Some(2)),
                    "{what}: {args:?}: {all}"
                );
                if cut == Some(0) && !keep_snapshot {
                    // sled reads an empty store there; only the journal
                    // knows what it held, and opening says so instead of
                    // starting afresh.
                    assert_eq!(o.status.code(), Some(2), "{what}: {args:?}: {all}");
                    assert!(all.contains("ratings journal"), "{what}: {args:?}: {all}");
                }
                if cut.is_none() {
                    assert_eq!(o.status.code(), Some(2), "{what}: {args:?}: {all}");
                    assert!(
                        all.contains("damaged") && all.contains("(db: missing"),
                        "{what}: {args:?}: {all}"
                    );
                    assert!(!all.contains("no artlens store"), "{what}: {all}");
                }
            }
            let into = dir.path().join(format!("salvaged{n}"));
            let o = run(cmd(&store, &["doctor", "--json"]).arg("--into").arg(&into));
            let all = all_output(&o);
            no_panic_text(&what, &all);
            assert!(o.status.success(), "{what}: {all}");
            let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
            assert_eq!(v["salvage"]["ratings"], 6, "{what}: {v}");
            let o = run(cmd(&into, &["rate", "list"]));
            assert_eq!(stdout(&o).lines().count(), 7, "{what}: {}", all_output(&o));
            if cut.is_none() {
                // `index` refuses too, instead of starting an empty store
                // beside the journal.
                let o = run(cmd(&store, &["index", "-q"]).arg(fixtures().join("images")));
                let all = all_output(&o);
                no_panic_text(&what, &all);
                assert_eq!(o.status.code(), Some(2), "{what}: {all}");
                assert!(all.contains("(db: missing"), "{what}: {all}");
                assert!(!store.join("db").exists(), "{what}: a new db was started");
            }
        }
    }
}

/// A tmpfs mounted for one test, unmounted when dropped (also on panic);
/// `None` where mounting is not permitted.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(dir.to_path_buf()))
    }

    fn remount_read_only(&self) -> bool {
        Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Guards issue 26, item 15: a store on read-only media was "damaged"
/// with salvage advice, even for `status`. It is "not writable" now, with
/// what to do, and never "damaged". (The classification of each error
/// number is unit-tested in `store::tests`; `chmod -w` cannot be tested
/// here when the tests run as root, who writes anyway.)
#[test]
fn a_store_on_read_only_media_is_not_called_damaged() {
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("mnt");
    let Some(media) = Tmpfs::mount(&mnt, "16m") else {
        eprintln!("skipped: mount -t tmpfs is not permitted here (the error classification is unit-tested)");
        return;
    };
    let store = mnt.join("store");
    rated_store(&store);
    assert!(media.remount_read_only(), "remount,ro failed");
    for args in [
        &["status"][..],
        &["similar", "--id", "1"],
        &["rate", "set", "1", "3"],
        &["doctor"],
    ] {
        let o = run(cmd(&store, args));
        let all = all_output(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {all}");
        assert!(
            all.contains("not writable") && all.contains("read-only"),
            "{args:?}: {all}"
        );
        assert!(all.contains("cp -a"), "{args:?}: {all}");
        assert!(
            !all.contains("store is damaged") && !all.contains("--into"),
            "{args:?}: {all}"
        );
    }
    // A salvage only reads: it rescues the store from the media.
    let into = dir.path().join("rescued");
    let o = run(cmd(&store, &["doctor", "--json"]).arg("--into").arg(&into));
    assert!(o.status.success(), "{}", all_output(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["salvage"]["ratings"], 6, "{v}");
    assert_eq!(v["salvage"]["artworks"], 11, "{v}");
}

/// Guards issue 26, item 16: `doctor` called a store of a newer format
/// "damaged"; it says which format it is and which version reads it.
#[test]
fn doctor_says_a_newer_store_is_of_a_newer_format() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    drop(artlens::store::Store::open(&store).unwrap());
    {
        let db = common::open_raw(&store);
        let meta = db.open_tree("meta").unwrap();
        meta.insert("format_version", &3u32.to_be_bytes()).unwrap();
        db.flush().unwrap();
    }
    // sled lets go of its lock a moment after the database is dropped.
    let deadline = Instant::now() + Duration::from_secs(10);
    let o = loop {
        let o = run(cmd(&store, &["doctor"]));
        if !all_output(&o).contains("in use") || Instant::now() > deadline {
            break o;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let all = all_output(&o);
    assert_eq!(o.status.code(), Some(2), "{all}");
    assert!(
        all.contains("format 3") && all.contains("newer artlens"),
        "{all}"
    );
    assert!(all.contains("formats 1 to 2"), "{all}");
    assert!(
        !all.contains("store is damaged") && !all.contains("re-index"),
        "{all}"
    );
    let into = dir.path().join("into");
    let o = run(cmd(&store, &["doctor"]).arg("--into").arg(&into));
    let all = all_output(&o);
    assert_eq!(o.status.code(), Some(2), "{all}");
    assert!(
        all.contains("format 3") && !all.contains("store is damaged"),
        "{all}"
    );
    assert!(!into.exists());
}

/// A PNG of `w`×`h` pixels, different for every `seed`.
fn png_of(path: &Path, seed: u32) {
    let img = image::RgbImage::from_fn(24, 16, |x, y| {
        image::Rgb([
            (seed * 37 + x * 9) as u8,
            (seed * 11 + y * 13) as u8,
            (seed * 5) as u8,
        ])
    });
    img.save(path).unwrap();
}

/// Guards issue 26, item 16: `index` on a disk that filled part-way said
/// "nothing was changed" though it kept the works stored until then; it
/// says how many were kept, and the next run goes on.
#[test]
fn index_on_a_disk_that_fills_says_what_was_kept() {
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("mnt");
    let Some(_media) = Tmpfs::mount(&mnt, "4m") else {
        eprintln!("skipped: mount -t tmpfs is not permitted here");
        return;
    };
    let store = mnt.join("store");
    let o = run(cmd(&store, &["index", "-q"]).arg(fixtures().join("images")));
    assert!(o.status.success(), "{}", stderr(&o));
    // 60 works whose metadata (6 KB each) takes more than the space left.
    let collection = dir.path().join("collection");
    std::fs::create_dir_all(&collection).unwrap();
    let mut csv = String::from("path,notes\n");
    for i in 0..60 {
        png_of(&collection.join(format!("w{i:02}.png")), i);
        csv.push_str(&format!(
            "w{i:02}.png,{}\n",
            format!("n{i:02}").repeat(2000)
        ));
    }
    let metadata = dir.path().join("metadata.csv");
    std::fs::write(&metadata, csv).unwrap();
    // Fill the disk up to 700 KiB.
    let free = |p: &Path| {
        let o = Command::new("df")
            .args(["-k", "--output=avail"])
            .arg(p)
            .output()
            .unwrap();
        stdout(&o)
            .lines()
            .nth(1)
            .unwrap()
            .trim()
            .parse::<u64>()
            .unwrap()
    };
    let filler = mnt.join("filler");
    let keep_kib = 700;
    std::fs::write(
        &filler,
        vec![0u8; ((free(&mnt) - keep_kib) * 1024) as usize],
    )
    .unwrap();
    let o = run(cmd(&store, &["index", "-q"])
        .arg("--metadata")
        .arg(&metadata)
        .arg(&collection));
    let err = stderr(&o);
    eprintln!("{err}");
    std::fs::remove_file(&filler).unwrap();
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(!err.contains("nothing was changed"), "{err}");
    let stored: usize = err
        .split(" works were stored before the disk filled")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count of works kept: {err}"));
    assert!(err.contains("run `artlens index` again"), "{err}");
    // What it says was kept is there (sled may have kept a few more of the
    // batch it was writing when the disk filled).
    let o = run(cmd(&store, &["status", "--json"]));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim())
        .unwrap_or_else(|e| panic!("{e}: {}", all_output(&o)));
    let artworks = v["artworks"].as_u64().unwrap_or_else(|| panic!("{v}")) as usize;
    assert!(
        stored > 0 && 11 + stored <= artworks,
        "{stored} said, {artworks} stored"
    );
    // Once there is space, the next run goes on.
    let o = run(cmd(&store, &["index", "-q"])
        .arg("--metadata")
        .arg(&metadata)
        .arg(&collection));
    assert!(o.status.success(), "{}", stderr(&o));
}

/// Guards issue 26, item 18: a folder with one undecodable file made every
/// later `index` exit 1, retrying it each time. Failures are remembered by
/// content hash: later runs skip them and say so, `--retry-failed` tries
/// again, and a fixed file (new content) is stored.
#[test]
fn a_known_failure_is_skipped_until_retried() {
    let dir = tempfile::tempdir().unwrap();
    let collection = dir.path().join("collection");
    std::fs::create_dir_all(&collection).unwrap();
    for name in ["small.png", "gray.png"] {
        std::fs::copy(fixtures().join("images").join(name), collection.join(name)).unwrap();
    }
    let bad = collection.join("bad.png");
    std::fs::write(&bad, b"not a png at all").unwrap();
    let store = dir.path().join("store");
    let index = |extra: &[&str]| {
        let mut args = vec!["index"];
        args.extend_from_slice(extra);
        run(cmd(&store, &args).arg(&collection))
    };

    let o = index(&[]);
    assert_eq!(o.status.code(), Some(1), "first run: {}", all_output(&o));
    assert!(stderr(&o).contains("bad.png"), "{}", stderr(&o));

    let o = index(&[]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "second run: {err}");
    assert!(err.contains("1 known failure skipped"), "{err}");
    assert!(err.contains("--retry-failed"), "{err}");
    assert!(!err.contains("cannot decode"), "it was tried again: {err}");

    let o = index(&["--json"]);
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["known_failures"], 1, "{v}");
    assert_eq!(v["failed"], 0, "{v}");

    let o = index(&["--retry-failed"]);
    assert_eq!(o.status.code(), Some(1), "retry: {}", all_output(&o));
    assert!(stderr(&o).contains("cannot decode"), "{}", stderr(&o));

    // Still listed where a person looks.
    let o = run(cmd(&store, &["status"]));
    assert!(stdout(&o).contains("failures    1"), "{}", stdout(&o));

    // Fixed, it is stored: by --retry-failed, as by any run (new content).
    std::fs::copy(fixtures().join("images/la.png"), &bad).unwrap();
    let o = index(&["--retry-failed"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "after the fix: {}",
        all_output(&o)
    );
    let s = artlens::store::Store::open_existing(&store);
    let s = match s {
        Ok(s) => s,
        Err(_) => {
            std::thread::sleep(Duration::from_millis(300));
            artlens::store::Store::open_existing(&store).unwrap()
        }
    };
    assert_eq!(s.artworks().unwrap().len(), 3);
    assert!(s.failures().unwrap().is_empty());
}

/// Guards issue 26, items 4 and 21: one upload of a 143-byte 65535×1 PNG to
/// the web app's score endpoint aborted `serve`. Uploads of extreme aspect
/// ratios are scored (or refused by name) and the server answers
/// `/healthz` at once afterwards.
#[test]
fn serve_survives_uploads_of_extreme_aspect_ratios() {
    let env = common::server::Env::new(true);
    let s = env.serve(&[]);
    for (w, h) in [(65_535u32, 1u32), (1, 5000), (20_000, 2)] {
        let mut png = Vec::new();
        image::codecs::png::PngEncoder::new(&mut png)
            .write_image(
                &vec![90u8; (w * h * 3) as usize],
                w,
                h,
                image::ExtendedColorType::Rgb8,
            )
            .unwrap();
        let r = s.upload(&format!("strip_{w}x{h}.png"), &png);
        assert!(
            r.status == 200 || r.status == 422,
            "{w}x{h}: {} {}",
            r.status,
            r.text()
        );
        let start = Instant::now();
        let r = s.get("/healthz");
        assert_eq!(
            r.status,
            200,
            "{w}x{h}: the server did not survive: {}",
            s.log()
        );
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
    }
}
