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
    let o = run(artlens()
        .arg("doctor")
        .arg("--store")
        .arg(&dir)
        .arg("--into")
        .arg(&into)
        .arg("--json"));
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
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
