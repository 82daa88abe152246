//! A full disk, interrupted snapshots and damaged store files: every command
//! says what is wrong and what to do, the store never becomes unopenable,
//! and `artlens doctor` checks and salvages.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use artlens::store::{NewArtwork, Store};
use artlens::Error;
use common::*;

/// A tmpfs mounted for one test, unmounted when dropped (also on panic).
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .stderr(std::process::Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        ok.then(|| Tmpfs {
            dir: dir.to_path_buf(),
        })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.dir).status();
    }
}

fn fill(dir: &Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(dir.join("filler")).unwrap();
    let buf = vec![7u8; 4096];
    while f.write_all(&buf).is_ok() {}
    let _ = f.sync_all();
}

fn no_debug_noise(s: &str) {
    for bad in ["backtrace", "Os {", "panicked", "code: "] {
        assert!(!s.contains(bad), "`{bad}` reached the user: {s}");
    }
}

fn status(store: &Path) -> std::process::Output {
    run(artlens().arg("status").arg("--store").arg(store))
}

#[test]
fn a_full_disk_is_reported_and_never_locks_the_store() {
    let tmp = tempfile::tempdir().unwrap();
    let mnt = tmp.path().join("mnt");
    let Some(_guard) = Tmpfs::mount(&mnt, "2m") else {
        eprintln!("mount -t tmpfs is not permitted here; the simulated test covers recovery");
        return;
    };
    let dir = mnt.join("store");
    let mut acknowledged = Vec::new();
    {
        let s = Store::open(&dir).unwrap();
        let first = blake3::hash(b"first").to_hex().to_string();
        s.put_record("ratings", &first, &rating(1.0), vec![])
            .unwrap();
        acknowledged.push(first);
        fill(&mnt);
        let mut refused = None;
        for i in 0..4000 {
            let key = blake3::hash(&(i as u64).to_le_bytes()).to_hex().to_string();
            match s.put_record("ratings", &key, &rating(i as f64), vec![]) {
                Ok(()) => acknowledged.push(key),
                Err(e) => {
                    refused = Some(e);
                    break;
                }
            }
        }
        eprintln!(
            "{} writes acknowledged on the full disk, then: {refused:?}",
            acknowledged.len()
        );
        if let Some(e) = refused {
            assert!(matches!(e, Error::NoSpace { .. }), "{e:?}");
            let msg = e.to_string();
            assert!(
                msg.contains("no space left") && msg.contains("nothing was changed"),
                "{msg}"
            );
            no_debug_noise(&msg);
        }
    }
    // The next command on the full disk fails clearly (exit 2) ...
    let o = status(&dir);
    let err = stderr(&o);
    eprintln!("status on the full disk: {:?} {err}", o.status.code());
    no_debug_noise(&err);
    if !o.status.success() {
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains("no space left"), "{err}");
    }
    // ... and once space is freed, everything acknowledged is back.
    std::fs::remove_file(mnt.join("filler")).unwrap();
    let o = status(&dir);
    eprintln!("status after freeing space: {}", stderr(&o));
    assert!(o.status.success(), "{}", stderr(&o));
    no_debug_noise(&stderr(&o));
    let s = open_retrying(&dir);
    for key in &acknowledged {
        assert!(
            s.has_record("ratings", key).unwrap(),
            "{key} was acknowledged but is gone"
        );
    }
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".generating"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

fn make_store(dir: &Path) -> Vec<String> {
    let s = Store::open(dir).unwrap();
    let fp = test_fingerprint(dino(), "w", 4);
    s.ensure_fingerprint(&fp, false).unwrap();
    let mut hashes = Vec::new();
    for i in 0..6u8 {
        let hash = blake3::hash(&[i]).to_hex().to_string();
        s.record_image(
            &NewArtwork {
                hash: hash.clone(),
                paths: vec![format!("/c/w{i}.png")],
                size: 10,
                width: 2,
                height: 2,
                metadata: Default::default(),
            },
            &[(&fp.backbone, &[1.0, i as f32, 0.5, 0.25][..])],
        )
        .unwrap();
        artlens::ratings::set_rating_as(&s, &artlens::ratings::Rater::default(), &hash, i as f64)
            .unwrap();
        hashes.push(hash);
    }
    s.flush().unwrap();
    drop(s);
    // Opening again makes sled write a snapshot.
    drop(open_retrying(dir));
    hashes
}

/// sled releases its lock a moment after the store is dropped.
fn open_retrying(dir: &Path) -> Store {
    for _ in 0..40 {
        match Store::open(dir) {
            Err(Error::StoreInUse { .. }) => {
                std::thread::sleep(std::time::Duration::from_millis(50))
            }
            other => return other.unwrap(),
        }
    }
    panic!("{} stays locked", dir.display())
}

fn rating(r: f64) -> artlens::ratings::Rating {
    artlens::ratings::Rating {
        rating: r,
        source: format!("set {}", "x".repeat(200)),
        time: 0,
    }
}

#[test]
fn an_interrupted_snapshot_is_removed_on_open_and_said() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    make_store(&dir);
    std::fs::write(dir.join("snap.00000000FFFFFFFF.generating"), b"").unwrap();
    let o = status(&dir);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("snap.00000000FFFFFFFF.generating"), "{err}");
    assert!(!dir.join("snap.00000000FFFFFFFF.generating").exists());
    let s = open_retrying(&dir);
    assert!(s.recovered().is_empty());
    assert_eq!(s.artworks().unwrap().len(), 6);
}

#[test]
fn damaged_files_get_a_diagnosis_naming_the_file() {
    type Damage = fn(&Path);
    let kinds: [(&str, Damage, bool); 5] = [
        (
            "garbage conf",
            |d| std::fs::write(d.join("conf"), b"garbage garbage garbage").unwrap(),
            true,
        ),
        (
            "damaged snapshot",
            |d| {
                let snap = snapshot(d);
                let mut b = std::fs::read(&snap).unwrap();
                let n = b.len();
                b[n / 2] ^= 0xff;
                std::fs::write(&snap, b).unwrap();
            },
            true,
        ),
        (
            "truncated db",
            |d| {
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(d.join("db"))
                    .unwrap();
                f.set_len(100).unwrap();
            },
            false,
        ),
        (
            "zeroed db",
            |d| {
                let n = std::fs::metadata(d.join("db")).unwrap().len();
                std::fs::write(d.join("db"), vec![0u8; n as usize]).unwrap();
            },
            false,
        ),
        (
            "bit-flipped db",
            |d| {
                let mut b = std::fs::read(d.join("db")).unwrap();
                for i in (0..b.len().min(4096)).step_by(97) {
                    b[i] ^= 0x5a;
                }
                std::fs::write(d.join("db"), b).unwrap();
            },
            false,
        ),
    ];
    for (what, damage, must_fail) in kinds {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("store");
        make_store(&dir);
        damage(&dir);
        let o = status(&dir);
        let err = stderr(&o);
        eprintln!("{what}: {:?} {err}", o.status.code());
        no_debug_noise(&err);
        if must_fail || !o.status.success() {
            assert_eq!(o.status.code(), Some(2), "{what}: {err}");
            assert!(
                err.contains("doctor") && err.contains("ratings cannot"),
                "{what}: {err}"
            );
            assert!(
                ["conf", "db", "snap."]
                    .iter()
                    .any(|f| err.contains(&format!("({f}"))),
                "{what}: no file named: {err}"
            );
        }
        if what == "garbage conf" {
            assert!(err.contains("(conf:"), "{err}");
        }
        if what == "damaged snapshot" {
            assert!(err.contains("(snap."), "{err}");
            // sled cannot open it, but its log is intact: doctor --into
            // salvages everything by reading it without the snapshot.
            let into = tmp.path().join("salvaged");
            let o = run(artlens()
                .arg("doctor")
                .arg("--store")
                .arg(&dir)
                .arg("--into")
                .arg(&into)
                .arg("--json"));
            assert!(o.status.success(), "{}", stderr(&o));
            let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
            assert_eq!(v["check"]["opened"], false, "{v}");
            assert_eq!(v["salvage"]["ratings"], 6, "{v}");
            assert_eq!(v["salvage"]["artworks"], 6, "{v}");
        }
        // doctor never panics either.
        let o = run(artlens().arg("doctor").arg("--store").arg(&dir));
        no_debug_noise(&stderr(&o));
        no_debug_noise(&stdout(&o));
        assert!(
            matches!(o.status.code(), Some(0) | Some(2)),
            "{what}: {o:?}"
        );
    }
}

fn snapshot(d: &Path) -> PathBuf {
    std::fs::read_dir(d)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("snap.")
        })
        .expect("a snapshot")
}

#[test]
fn doctor_says_a_healthy_store_is_healthy() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    make_store(&dir);
    let o = run(artlens().arg("doctor").arg("--store").arg(&dir));
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("healthy") && out.contains("6 artworks") && out.contains("6 ratings"),
        "{out}"
    );
}

#[test]
fn doctor_into_salvages_ratings_and_good_records() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    let hashes = make_store(&dir);
    {
        // Damage one embedding record behind the store's back.
        let db = open_raw(&dir);
        let items = db.open_tree("items").unwrap();
        let key = format!("e/{}/{}", dino().key(), hashes[2]);
        let mut v = items.get(&key).unwrap().unwrap().to_vec();
        let n = v.len();
        v[n - 1] ^= 0x01;
        items.insert(key.as_bytes(), v).unwrap();
        db.flush().unwrap();
    }
    let o = run(artlens().arg("doctor").arg("--store").arg(&dir));
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(stdout(&o).contains("checksum"), "{}", stdout(&o));

    let into = tmp.path().join("salvaged");
    let v = salvage(&dir, &into);
    assert_eq!(v["salvage"]["ratings"], 6, "{v}");
    assert_eq!(v["salvage"]["artworks"], 6, "{v}");
    assert_eq!(v["salvage"]["embeddings"], 5, "{v}");
    let s = open_retrying(&into);
    assert_eq!(s.artworks().unwrap().len(), 6);
    assert_eq!(s.embeddings(&dino()).unwrap().len(), 5);
    for h in &hashes {
        assert!(s.has_record("ratings", h).unwrap());
    }
    drop(s);
    let o = run(artlens().arg("doctor").arg("--store").arg(&into));
    assert!(o.status.success(), "{}", stdout(&o));
}

/// Processes opening one store at once never call it damaged: the
/// interrupted-snapshot cleanup runs only under the store's open lock, so a
/// second opener can no longer delete the snapshot the first is writing
/// (before, 2 of 500 parallel runs said "damaged (db: No such file…)").
/// Each one either opens the store or says it is in use.
#[test]
fn processes_opening_one_store_at_once_never_call_it_damaged() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    make_store(&dir);
    for round in 0..4 {
        let children: Vec<_> = (0..12)
            .map(|_| {
                artlens()
                    .arg("status")
                    .arg("--store")
                    .arg(&dir)
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for c in children {
            let o = c.wait_with_output().unwrap();
            let e = String::from_utf8_lossy(&o.stderr);
            assert!(
                o.status.success() || e.contains("in use by another artlens process"),
                "round {round}: {e}"
            );
            assert!(!e.contains("damaged"), "round {round}: {e}");
        }
    }
    // The store is whole afterwards.
    let o = run(artlens().arg("doctor").arg("--store").arg(&dir));
    assert!(o.status.success(), "{}", stdout(&o));
}

/// `doctor --store DIR --into INTO --json`, which must succeed: its report.
fn salvage(dir: &Path, into: &Path) -> serde_json::Value {
    let o = run(artlens()
        .arg("doctor")
        .arg("--store")
        .arg(dir)
        .arg("--into")
        .arg(into)
        .arg("--json"));
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_str(stdout(&o).trim()).unwrap()
}

/// Ratings the database lost are brought back from the ratings journal by
/// `doctor --into`: the ratings tree emptied behind the store's back (as a
/// truncated `db` without its snapshot leaves it, which sled opens as
/// healthy), the salvage still holds every rating.
#[test]
fn doctor_into_restores_from_the_journal_what_the_database_lost() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    let hashes = make_store(&dir);
    {
        let db = open_raw(&dir);
        db.drop_tree("ratings").unwrap();
        db.flush().unwrap();
    }
    // sled opens such a store as a healthy one; the journal says otherwise.
    let o = run(artlens().arg("doctor").arg("--store").arg(&dir));
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("6 ratings records in the ratings journal are not in the database"),
        "{}",
        stdout(&o)
    );
    let into = tmp.path().join("salvaged");
    let v = salvage(&dir, &into);
    assert_eq!(v["salvage"]["ratings"], 6, "{v}");
    assert_eq!(v["salvage"]["journal_lines"], 6, "{v}");
    let s = open_retrying(&into);
    for (i, h) in hashes.iter().enumerate() {
        let r = artlens::ratings::rating_of(&s, &artlens::ratings::Rater::default(), h)
            .unwrap()
            .unwrap();
        assert_eq!(r.rating, i as f64);
    }
}

/// A store of `n` works with 64-dimensional `dino` embeddings and a rating
/// each, written through the library (no model runs).
fn make_big_store(dir: &Path, n: usize) {
    let s = Store::open(dir).unwrap();
    let fp = test_fingerprint(dino(), "w", 64);
    s.ensure_fingerprint(&fp, false).unwrap();
    let mut rng = common::rng::Rng(7);
    for i in 0..n {
        let hash = blake3::hash(&(i as u64).to_le_bytes()).to_hex().to_string();
        s.record_image(
            &NewArtwork {
                hash: hash.clone(),
                paths: vec![format!("/c/w{i}.png")],
                size: 10,
                width: 2,
                height: 2,
                metadata: [("title".to_string(), format!("Study {i}"))]
                    .into_iter()
                    .collect(),
            },
            &[(&fp.backbone, &rng.vector(64)[..])],
        )
        .unwrap();
        artlens::ratings::set_rating_as(&s, &artlens::ratings::Rater::default(), &hash, 5.0)
            .unwrap();
    }
    s.flush().unwrap();
    drop(s);
    drop(open_retrying(dir));
}

fn export_cmd(store: &Path, format: &str, out: &Path) -> Command {
    let mut c = artlens();
    c.args(["export", "--format", format, "--store"]).arg(store);
    if format != "parquet" {
        c.args(["--backbone", "dino"]);
    }
    c.arg(out);
    c
}

/// The rows of a `.npy` file, from its header's shape.
fn npy_rows(path: &Path) -> usize {
    let b = std::fs::read(path).unwrap();
    let header = String::from_utf8_lossy(&b[10..10 + u16::from_le_bytes([b[8], b[9]]) as usize])
        .into_owned();
    let shape = header.split("'shape': (").nth(1).unwrap();
    let rows: usize = shape.split(',').next().unwrap().trim().parse().unwrap();
    // The file holds exactly that many rows of float32, no more, no less.
    let data = b.len() - 10 - header.len();
    assert_eq!(data % (rows.max(1) * 4), 0, "{}", path.display());
    rows
}

/// Checks that `out` holds one whole export and a person's files, nothing
/// of another export: the manifest lists exactly the export's files, and
/// each has the manifest's number of rows. Returns the format, or `None`
/// when no export was published yet.
fn check_whole_export(out: &Path) -> Option<String> {
    assert_eq!(
        std::fs::read_to_string(out.join("notes.txt")).unwrap(),
        "mine",
        "a person's file was touched"
    );
    assert!(out.join("plots/a.svg").is_file(), "a person's folder went");
    let manifest = out.join("manifest.json");
    let mut found: Vec<String> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "notes.txt" && n != "plots")
        .collect();
    found.sort();
    if !manifest.exists() {
        assert!(found.is_empty(), "files without a manifest: {found:?}");
        return None;
    }
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest).unwrap()).expect("a whole manifest");
    let format = m["format"].as_str().unwrap().to_string();
    let mut listed: Vec<String> = vec!["manifest.json".into()];
    if format == "parquet" {
        for f in m["files"].as_array().unwrap() {
            let name = f["file"].as_str().unwrap();
            listed.push(name.into());
            let reader = parquet::file::reader::SerializedFileReader::new(
                std::fs::File::open(out.join(name)).unwrap(),
            )
            .expect("a whole Parquet file");
            use parquet::file::reader::FileReader;
            assert_eq!(
                reader.metadata().file_metadata().num_rows() as u64,
                f["rows"].as_u64().unwrap()
            );
        }
    } else {
        let rows = m["rows"].as_u64().unwrap() as usize;
        for f in m["files"].as_array().unwrap() {
            listed.push(f.as_str().unwrap().into());
        }
        let items = std::fs::read_to_string(out.join("items.csv")).unwrap();
        assert_eq!(items.lines().count(), rows + 1, "items.csv");
        if format == "npy" {
            assert_eq!(npy_rows(&out.join("embeddings.npy")), rows);
        } else {
            let csv = std::fs::read_to_string(out.join("embeddings.csv")).unwrap();
            assert_eq!(csv.lines().count(), rows, "embeddings.csv");
        }
    }
    listed.sort();
    assert_eq!(found, listed, "the folder mixes exports");
    Some(format)
}

/// Guards issue 26, items 1 and 2 (folder rules): an export keeps a
/// person's files in its folder, refuses to overwrite one it needs the name
/// of, and replaces an earlier export of another format whole.
#[test]
fn an_export_keeps_a_persons_files_and_replaces_only_its_own() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    make_big_store(&store, 30);
    let out = tmp.path().join("out");
    std::fs::create_dir_all(out.join("plots")).unwrap();
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    std::fs::write(out.join("plots/a.svg"), "<svg/>").unwrap();
    for format in ["parquet", "npy", "csv", "parquet", "npy"] {
        let o = run(export_cmd(&store, format, &out));
        assert!(o.status.success(), "{format}: {}", stderr(&o));
        assert_eq!(check_whole_export(&out).as_deref(), Some(format));
    }
    // A person's file with a name the export needs stops it, named.
    let mine = tmp.path().join("mine");
    std::fs::create_dir(&mine).unwrap();
    std::fs::write(mine.join("items.csv"), "my table").unwrap();
    let o = run(export_cmd(&store, "npy", &mine));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("items.csv"), "{}", stderr(&o));
    no_debug_noise(&stderr(&o));
    assert_eq!(
        std::fs::read_to_string(mine.join("items.csv")).unwrap(),
        "my table"
    );
    assert_eq!(std::fs::read_dir(&mine).unwrap().count(), 1);
    let leftovers: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("artlens-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// Kills `make()`'s process after a random moment of its run, `kills`
/// times or until `budget` is spent, calling `check` after each; returns
/// how many runs were killed before they finished.
fn kill_loop(
    make: &dyn Fn(usize) -> Command,
    check: &mut dyn FnMut(),
    kills: usize,
    budget: std::time::Duration,
) -> usize {
    use std::time::{Duration, Instant};
    // One whole run, to know how long one takes.
    let t = Instant::now();
    let o = run(make(0));
    assert!(o.status.success(), "{}", stderr(&o));
    let whole = t.elapsed();
    check();
    let mut rng = common::rng::Rng(26);
    let start = Instant::now();
    let mut killed = 0;
    let mut i = 1;
    while killed < kills && start.elapsed() < budget {
        let mut child = make(i)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Up to twice a whole run: kills land in every phase, publishing too.
        let wait = whole.mul_f64(rng.uniform() * 2.0);
        std::thread::sleep(wait.min(Duration::from_secs(2)));
        if child.try_wait().unwrap().is_none() {
            killed += 1;
        }
        let _ = child.kill();
        child.wait().unwrap();
        check();
        i += 1;
    }
    eprintln!(
        "{killed} killed of {} runs (a whole run: {whole:?}) in {:?}",
        i - 1,
        start.elapsed()
    );
    killed
}

/// Guards issue 26, item 2: `kill -9` at random moments of exports of
/// three formats into one folder leaves one whole export (the old or the
/// new, never a mix) and a person's files there.
#[test]
fn an_export_killed_at_any_moment_leaves_the_old_or_the_new() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    make_big_store(&store, 300);
    let out = tmp.path().join("out");
    std::fs::create_dir_all(out.join("plots")).unwrap();
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    std::fs::write(out.join("plots/a.svg"), "<svg/>").unwrap();
    let formats = ["npy", "parquet", "csv"];
    let killed = kill_loop(
        &|i| export_cmd(&store, formats[i % 3], &out),
        &mut || {
            check_whole_export(&out);
        },
        common::rng::env_or("ARTLENS_EXPORT_KILLS", 60),
        std::time::Duration::from_secs(25),
    );
    assert!(
        killed >= 20,
        "only {killed} runs were killed before they ended"
    );
    // The next export finishes what a killed one left and leaves nothing.
    let o = run(export_cmd(&store, "npy", &out));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(check_whole_export(&out).as_deref(), Some("npy"));
    let names: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.contains("artlens-")), "{names:?}");
}

/// Guards issue 26, item 3: a `doctor --into` killed at any moment leaves
/// no store at NEW, or the whole salvage; never one that looks complete
/// without being so; and the next run salvages again.
#[test]
fn a_salvage_killed_at_any_moment_leaves_nothing_or_the_whole_store() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    make_big_store(&store, 300);
    let into = tmp.path().join("salvaged");
    let doctor = |_: usize| {
        let mut c = artlens();
        c.arg("doctor")
            .arg("--store")
            .arg(&store)
            .arg("--into")
            .arg(&into);
        c
    };
    let mut complete = 0;
    let killed = kill_loop(
        &doctor,
        &mut || {
            if into.exists() {
                let s = open_retrying(&into);
                assert_eq!(s.artworks().unwrap().len(), 300, "a partial salvage at NEW");
                assert_eq!(s.embeddings(&dino()).unwrap().len(), 300);
                drop(s);
                complete += 1;
                // sled lets go of its lock a moment after the drop.
                std::thread::sleep(std::time::Duration::from_millis(60));
                std::fs::remove_dir_all(&into).unwrap();
            }
        },
        common::rng::env_or("ARTLENS_SALVAGE_KILLS", 50),
        std::time::Duration::from_secs(25),
    );
    assert!(
        killed >= 20,
        "only {killed} runs were killed before they ended"
    );
    let o = run(doctor(0));
    assert!(o.status.success(), "{}", stderr(&o));
    let s = open_retrying(&into);
    assert_eq!(s.artworks().unwrap().len(), 300);
    eprintln!("{complete} runs finished whole between kills");
}
