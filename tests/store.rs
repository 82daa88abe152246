//! The sled store (locking, format version, fingerprints, atomic records,
//! checksums) and the scan (walk, hashes, metadata CSV, WikiArt names).

use crate::common;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use artlens::imaging::ResizeFilter;
use artlens::model::{BackboneId, CheckpointFiles, Fingerprint};
use artlens::scan::{read_metadata_csv, scan_collection, wikiart_metadata, Metadata, ScannedFile};
use artlens::store::{FingerprintCheck, NewArtwork, Store, FORMAT_VERSION};
use artlens::Error;
use common::{dino, dinov2, open_raw};

const DIM: usize = 8;

fn fingerprint(model: BackboneId, weights: &str) -> Fingerprint {
    common::test_fingerprint(model, weights, DIM)
}

fn hash_of(n: u32) -> String {
    blake3::hash(&n.to_le_bytes()).to_hex().to_string()
}

fn art(n: u32, path: &str) -> NewArtwork {
    NewArtwork {
        hash: hash_of(n),
        paths: vec![path.to_string()],
        size: 1000 + n as u64,
        width: 640,
        height: 480,
        metadata: Metadata::new(),
    }
}

fn vector(seed: u32) -> Vec<f32> {
    (0..DIM)
        .map(|i| ((seed as usize * 31 + i * 7) % 13) as f32 - 6.5)
        .collect()
}

/// A store with fingerprints for both models.
fn ready_store(dir: &Path) -> Store {
    let store = Store::open(dir).unwrap();
    for model in [dino(), dinov2()] {
        store
            .ensure_fingerprint(&fingerprint(model, "ab"), false)
            .unwrap();
    }
    store
}

// ----- opening, locking, format -------------------------------------------------------

#[test]
fn data_survives_close_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let id = {
        let store = ready_store(dir.path());
        let v = vector(1);
        store
            .record_image(&art(1, "/c/a.jpg"), &[(&dino(), &v)])
            .unwrap()
    };
    let store = Store::open(dir.path()).unwrap();
    let a = store.artwork(&hash_of(1)).unwrap().unwrap();
    assert_eq!(a.id, id);
    assert_eq!(a.paths, vec!["/c/a.jpg"]);
    assert_eq!(
        store.embedding(&dino(), &hash_of(1)).unwrap().unwrap(),
        vector(1)
    );
    assert_eq!(
        store.fingerprint(&dino()).unwrap().unwrap(),
        fingerprint(dino(), "ab")
    );
    // The counter survived too: the next id is new.
    let v = vector(2);
    let id2 = store
        .record_image(&art(2, "/c/b.jpg"), &[(&dino(), &v)])
        .unwrap();
    assert!(id2 > id);
}

#[test]
fn second_opener_in_the_same_process_gets_store_in_use_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let first = Store::open(dir.path()).unwrap();
    let t = Instant::now();
    match Store::open(dir.path()) {
        Err(Error::StoreInUse { path }) => assert_eq!(path, dir.path()),
        other => panic!("expected StoreInUse, got {other:?}"),
    }
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "the second open must not wait"
    );
    let msg = Store::open(dir.path()).unwrap_err().to_string();
    assert!(msg.contains("in use"), "{msg}");
    drop(first);
    // The lock goes with the store.
    Store::open(dir.path()).expect("reopen after drop");
}

/// Run by `second_opener_in_another_process_gets_store_in_use` in a child
/// process; does nothing when run directly.
#[test]
fn child_opens_store() {
    let Ok(dir) = std::env::var("ARTLENS_TEST_CHILD_STORE") else {
        return;
    };
    match Store::open(Path::new(&dir)) {
        Err(Error::StoreInUse { .. }) => println!("CHILD-SAW-IN-USE"),
        other => println!("CHILD-GOT {other:?}"),
    }
}

#[test]
fn second_opener_in_another_process_gets_store_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let _held = Store::open(dir.path()).unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut child = std::process::Command::new(exe)
        .args([
            "--exact",
            "store::child_opens_store",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("ARTLENS_TEST_CHILD_STORE", dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if t.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("the second process hung on the lock");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("CHILD-SAW-IN-USE"), "child said: {stdout}");
}

#[test]
fn another_format_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(Store::open(dir.path()).unwrap());
    {
        let db = open_raw(dir.path());
        let meta = db.open_tree("meta").unwrap();
        assert_eq!(
            meta.get("format_version").unwrap().unwrap().as_ref(),
            &FORMAT_VERSION.to_be_bytes()
        );
        meta.insert("format_version", &99u32.to_be_bytes()).unwrap();
        db.flush().unwrap();
    }
    match Store::open(dir.path()) {
        Err(Error::StoreFormat {
            found, expected, ..
        }) => {
            assert_eq!(found, 99);
            assert_eq!(expected, FORMAT_VERSION);
        }
        other => panic!("expected StoreFormat, got {other:?}"),
    }
}

// ----- fingerprints -------------------------------------------------------------------

#[test]
fn fingerprint_mismatch_names_the_differences_and_rebuild_discards() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let old = fingerprint(dinov2(), "ab");
    assert_eq!(
        store.ensure_fingerprint(&old, false).unwrap(),
        FingerprintCheck::Recorded
    );
    assert_eq!(
        store.ensure_fingerprint(&old, false).unwrap(),
        FingerprintCheck::Unchanged
    );
    store
        .ensure_fingerprint(&fingerprint(dino(), "ab"), false)
        .unwrap();
    for n in 0..3 {
        let (v, w) = (vector(n), vector(n + 10));
        store
            .record_image(
                &art(n, &format!("/c/{n}.jpg")),
                &[(&dinov2(), &v), (&dino(), &w)],
            )
            .unwrap();
    }

    let mut new = fingerprint(dinov2(), "cd");
    new.preprocess.filter = ResizeFilter::Bilinear;
    let err = store.ensure_fingerprint(&new, false).unwrap_err();
    let msg = err.to_string();
    match &err {
        Error::FingerprintMismatch {
            model, differences, ..
        } => {
            assert_eq!(model, "dinov2");
            assert!(differences.contains("weights hash"), "{differences}");
            assert!(differences.contains("preprocessing"), "{differences}");
        }
        other => panic!("expected FingerprintMismatch, got {other:?}"),
    }
    assert!(msg.contains("--rebuild dinov2"), "{msg}");
    // Nothing changed.
    assert_eq!(store.fingerprint(&dinov2()).unwrap().unwrap(), old);
    assert!(store.has_embedding(&dinov2(), &hash_of(0)).unwrap());

    let check = store.ensure_fingerprint(&new, true).unwrap();
    assert_eq!(
        check,
        FingerprintCheck::Replaced {
            removed_embeddings: 3
        }
    );
    assert!(check.changed());
    assert_eq!(store.fingerprint(&dinov2()).unwrap().unwrap(), new);
    assert!(store.embeddings(&dinov2()).unwrap().is_empty());
    // The other model and the artworks are untouched.
    assert_eq!(store.embeddings(&dino()).unwrap().len(), 3);
    assert_eq!(store.artworks().unwrap().len(), 3);
}

#[test]
fn weights_location_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.weights_location(&dino()).unwrap(), None);
    let files = CheckpointFiles {
        config: PathBuf::from("/w/config.json"),
        weights: PathBuf::from("/w/model.safetensors"),
        preprocessor: Some(PathBuf::from("/w/preprocessor_config.json")),
    };
    store.set_weights_location(&dino(), &files).unwrap();
    assert_eq!(store.weights_location(&dino()).unwrap(), Some(files));
    assert_eq!(store.weights_location(&dinov2()).unwrap(), None);
}

// ----- records ------------------------------------------------------------------------

#[test]
fn ids_are_unique_stable_and_never_reused() {
    let dir = tempfile::tempdir().unwrap();
    let store = ready_store(dir.path());
    let mut ids = Vec::new();
    for n in 0..5 {
        let v = vector(n);
        ids.push(
            store
                .record_image(&art(n, &format!("/c/{n}.jpg")), &[(&dino(), &v)])
                .unwrap(),
        );
    }
    let mut sorted = ids.clone();
    sorted.dedup();
    assert_eq!(sorted.len(), 5);
    assert!(ids.windows(2).all(|w| w[0] < w[1]));

    // Seeing the same content again (elsewhere) keeps its id and adds the path.
    let again = store.record_image(&art(2, "/d/copy.jpg"), &[]).unwrap();
    assert_eq!(again, ids[2]);
    assert_eq!(
        store.artwork(&hash_of(2)).unwrap().unwrap().paths,
        vec!["/c/2.jpg", "/d/copy.jpg"]
    );
    assert!(store.has_embedding(&dino(), &hash_of(2)).unwrap());

    // Removing frees nothing: the next artwork gets a fresh id.
    assert_eq!(store.remove_artwork(&hash_of(4)).unwrap(), Some(ids[4]));
    assert_eq!(store.remove_artwork(&hash_of(4)).unwrap(), None);
    assert!(store.artwork(&hash_of(4)).unwrap().is_none());
    assert!(store.artwork_by_id(ids[4]).unwrap().is_none());
    assert!(!store.has_embedding(&dino(), &hash_of(4)).unwrap());
    assert!(store.path_hash("/c/4.jpg").unwrap().is_none());
    let v = vector(9);
    let new_id = store
        .record_image(&art(9, "/c/9.jpg"), &[(&dino(), &v)])
        .unwrap();
    assert!(new_id > ids[4], "id {new_id} reused");
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    let v = vector(10);
    assert!(
        store
            .record_image(&art(10, "/c/10.jpg"), &[(&dino(), &v)])
            .unwrap()
            > new_id
    );

    // embeddings() lists by id, with hashes.
    let listed: Vec<(u64, String)> = store
        .embeddings(&dino())
        .unwrap()
        .into_iter()
        .map(|(id, h, _)| (id, h))
        .collect();
    assert!(listed.windows(2).all(|w| w[0].0 < w[1].0));
    assert_eq!(listed.len(), 6);
    for (id, h) in listed {
        assert_eq!(store.artwork_by_id(id).unwrap().unwrap().hash, h);
    }
}

#[test]
fn concurrent_writers_never_share_an_id() {
    let dir = tempfile::tempdir().unwrap();
    let store = ready_store(dir.path());
    let ids: Vec<u64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let store = &store;
                s.spawn(move || {
                    (0..25)
                        .map(|i| {
                            let n = t * 100 + i;
                            let v = vector(n);
                            store
                                .record_image(&art(n, &format!("/t/{n}.jpg")), &[(&dinov2(), &v)])
                                .unwrap()
                        })
                        .collect::<Vec<u64>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 100);
    assert_eq!(store.counts().unwrap().artworks, 100);
}

#[test]
fn embeddings_round_trip_bit_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let v: Vec<f32> = vec![
        1.0,
        -0.0,
        f32::MIN_POSITIVE,
        1e-40,
        -3.4e38,
        0.1,
        1.0 / 3.0,
        f32::EPSILON,
    ];
    {
        let store = ready_store(dir.path());
        store
            .record_image(&art(1, "/a.png"), &[(&dinov2(), &v)])
            .unwrap();
        store.flush().unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    let back = store.embedding(&dinov2(), &hash_of(1)).unwrap().unwrap();
    let bits = |x: &[f32]| x.iter().map(|f| f.to_bits()).collect::<Vec<u32>>();
    assert_eq!(bits(&back), bits(&v));
    assert_eq!(bits(&store.embeddings(&dinov2()).unwrap()[0].2), bits(&v));
    assert_eq!(store.embedding(&dino(), &hash_of(1)).unwrap(), None);
}

#[test]
fn a_corrupted_embedding_is_reported_with_its_hash() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = ready_store(dir.path());
        let v = vector(1);
        store
            .record_image(&art(1, "/a.png"), &[(&dino(), &v)])
            .unwrap();
    }
    {
        let db = open_raw(dir.path());
        let items = db.open_tree("items").unwrap();
        let key = format!("e/{}/{}", dino().key(), hash_of(1));
        let mut bytes = items.get(&key).unwrap().unwrap().to_vec();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x01;
        items.insert(&key, bytes).unwrap();
        db.flush().unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    for err in [
        store.embedding(&dino(), &hash_of(1)).unwrap_err(),
        store.embeddings(&dino()).unwrap_err(),
    ] {
        match &err {
            Error::Store { reason, .. } => assert!(reason.contains(&hash_of(1)), "{reason}"),
            other => panic!("expected Store error, got {other:?}"),
        }
    }
}

#[test]
fn bad_embeddings_are_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let v = vector(1);
    // No fingerprint yet.
    let err = store
        .record_image(&art(1, "/a.png"), &[(&dino(), &v)])
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
    store
        .ensure_fingerprint(&fingerprint(dino(), "ab"), false)
        .unwrap();

    let mut nan = vector(1);
    nan[3] = f32::NAN;
    let mut inf = vector(1);
    inf[0] = f32::INFINITY;
    let zero = vec![0.0; DIM];
    let short = vec![1.0; DIM - 1];
    for bad in [&nan, &inf, &zero, &short] {
        let good = vector(2);
        let err = store
            .record_image(&art(1, "/a.png"), &[(&dino(), &good), (&dino(), bad)])
            .unwrap_err();
        match &err {
            Error::InvalidArgument(msg) => {
                assert!(msg.contains(&hash_of(1)) && msg.contains("dino"), "{msg}")
            }
            other => panic!("expected InvalidArgument, got {other:?}"),
        }
    }
    let err = store
        .record_image(
            &NewArtwork {
                hash: "not-a-hash".into(),
                ..art(1, "/a.png")
            },
            &[],
        )
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)));
    assert_eq!(store.counts().unwrap().artworks, 0);
    assert!(store.artworks().unwrap().is_empty());
}

#[test]
fn paths_move_with_content_and_find_resolves_queries() {
    let dir = tempfile::tempdir().unwrap();
    let store = ready_store(dir.path());
    let mut with_meta = art(1, "/c/x.jpg");
    with_meta.metadata.insert("title".into(), "Old".into());
    let id1 = store.record_image(&with_meta, &[]).unwrap();
    let id2 = store.record_image(&art(2, "/c/y.jpg"), &[]).unwrap();

    // The file at /c/x.jpg was replaced by other content (hash 3).
    let id3 = store.record_image(&art(3, "/c/x.jpg"), &[]).unwrap();
    assert!(store
        .artwork(&hash_of(1))
        .unwrap()
        .unwrap()
        .paths
        .is_empty());
    assert_eq!(store.path_hash("/c/x.jpg").unwrap(), Some(hash_of(3)));

    store.add_path(&hash_of(1), "/c/renamed.jpg").unwrap();
    store.add_path(&hash_of(1), "/c/renamed.jpg").unwrap();
    assert_eq!(
        store.artwork(&hash_of(1)).unwrap().unwrap().paths,
        vec!["/c/renamed.jpg"]
    );
    assert!(matches!(
        store.add_path(&hash_of(99), "/z.jpg"),
        Err(Error::WorkNotFound { .. })
    ));

    store
        .set_paths(
            &hash_of(2),
            vec!["/c/y2.jpg".into(), "/c/y3.jpg".into(), "/c/y2.jpg".into()],
        )
        .unwrap();
    assert_eq!(
        store.artwork(&hash_of(2)).unwrap().unwrap().paths,
        vec!["/c/y2.jpg", "/c/y3.jpg"]
    );
    assert_eq!(store.path_hash("/c/y.jpg").unwrap(), None);

    // Metadata merges, new values win.
    let mut update = HashMap::new();
    let mut m = Metadata::new();
    m.insert("title".into(), "New".into());
    m.insert("artist".into(), "Someone".into());
    update.insert(hash_of(1), m);
    update.insert(hash_of(77), Metadata::new());
    assert_eq!(store.merge_metadata(&update).unwrap(), 1);
    let meta = store.artwork(&hash_of(1)).unwrap().unwrap().metadata;
    assert_eq!(meta["title"], "New");
    assert_eq!(meta["artist"], "Someone");

    assert_eq!(store.find(&id2.to_string()).unwrap().hash, hash_of(2));
    assert_eq!(store.find(&hash_of(3)).unwrap().id, id3);
    assert_eq!(store.find(&hash_of(3)[..8]).unwrap().id, id3);
    assert_eq!(store.find(&hash_of(3)[..8].to_uppercase()).unwrap().id, id3);
    assert_eq!(store.find("/c/renamed.jpg").unwrap().id, id1);
    let err = store.find("/nowhere.jpg").unwrap_err();
    match err {
        Error::WorkNotFound { tried, .. } => assert!(tried.contains("stored path"), "{tried}"),
        other => panic!("expected WorkNotFound, got {other:?}"),
    }
    // Four hex digits are the shortest hash prefix (fewer would match too
    // much to be useful); three are not a hash lookup.
    assert_eq!(store.find(&hash_of(3)[..4]).unwrap().id, id3);
    assert!(store.find(&hash_of(3)[..3]).is_err());
}

#[test]
fn failures_are_recorded_and_cleared_by_a_later_success() {
    let dir = tempfile::tempdir().unwrap();
    let store = ready_store(dir.path());
    store
        .record_failure("/c/bad.jpg", Some(&hash_of(1)), "truncated JPEG")
        .unwrap();
    store
        .record_failure("/c/dup-of-bad.jpg", Some(&hash_of(1)), "truncated JPEG")
        .unwrap();
    store
        .record_failure("/c/unreadable.jpg", None, "permission denied")
        .unwrap();
    store
        .record_failure("/c/other.jpg", Some(&hash_of(5)), "too large")
        .unwrap();
    let failures = store.failures().unwrap();
    assert_eq!(failures.len(), 4);
    assert_eq!(failures[0].path, "/c/bad.jpg");
    assert_eq!(failures[0].reason, "truncated JPEG");
    assert_eq!(store.counts().unwrap().failures, 4);

    // Content 1 now decodes (from another path): both failures for it go.
    let v = vector(1);
    store
        .record_image(&art(1, "/c/fixed.jpg"), &[(&dino(), &v)])
        .unwrap();
    let left: Vec<String> = store
        .failures()
        .unwrap()
        .into_iter()
        .map(|f| f.path)
        .collect();
    assert_eq!(left, vec!["/c/other.jpg", "/c/unreadable.jpg"]);

    // A success at a failed path clears it too.
    store
        .record_image(&art(2, "/c/unreadable.jpg"), &[])
        .unwrap();
    assert_eq!(store.failures().unwrap().len(), 1);
    assert!(store.clear_failure("/c/other.jpg").unwrap());
    assert!(!store.clear_failure("/c/other.jpg").unwrap());
    assert!(store.failures().unwrap().is_empty());
}

#[test]
fn counts_and_key_value_trees() {
    let dir = tempfile::tempdir().unwrap();
    let store = ready_store(dir.path());
    for n in 0..3 {
        let v = vector(n);
        let (d1, d2) = (dino(), dinov2());
        let models: Vec<(&BackboneId, &[f32])> = if n == 0 {
            vec![(&d1, &v), (&d2, &v)]
        } else {
            vec![(&d2, &v)]
        };
        store
            .record_image(&art(n, &format!("/{n}.jpg")), &models)
            .unwrap();
    }
    let counts = store.counts().unwrap();
    assert_eq!(counts.artworks, 3);
    assert_eq!(counts.embeddings["dino"], 1);
    assert_eq!(counts.embeddings["dinov2"], 3);
    assert_eq!(counts.failures, 0);
    assert!(store.size_on_disk().unwrap() > 0);

    let mut ratings = BTreeMap::new();
    ratings.insert("liked".to_string(), 4.5f64);
    store.put_json("ratings", "user/1", &ratings).unwrap();
    store
        .put_json("ratings", "user/2", &BTreeMap::<String, f64>::new())
        .unwrap();
    let back: Option<BTreeMap<String, f64>> = store.get_json("ratings", "user/1").unwrap();
    assert_eq!(back, Some(ratings));
    assert_eq!(
        store
            .scan_json::<BTreeMap<String, f64>>("ratings", "user/")
            .unwrap()
            .len(),
        2
    );
    assert!(store.remove_key("ratings", "user/2").unwrap());
    assert!(store.put_json("items", "x", &1).is_err());
    assert!(store.tree("meta").is_err());
    assert_eq!(store.clear_embeddings(&dinov2()).unwrap(), 3);
    assert_eq!(store.counts().unwrap().embeddings["dinov2"], 0);
}

// ----- scan ---------------------------------------------------------------------------

fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn scan_keeps_images_hashes_content_and_reports_loops() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(&root.join("b/second.PNG"), b"png bytes");
    write(&root.join("a/first.jpg"), b"jpeg bytes");
    write(&root.join("a/copy.jpeg"), b"jpeg bytes");
    write(&root.join("a/notes.txt"), b"text");
    write(&root.join("c.TIFF"), b"tiff");
    write(&root.join("noext"), b"x");
    write(&root.join(".hidden/x.jpg"), b"hidden");
    write(&root.join("a/._first.jpg"), b"resource fork");
    std::os::unix::fs::symlink(root, root.join("a/loop")).unwrap();
    std::os::unix::fs::symlink(root.join("b"), root.join("b-link")).unwrap();

    let report = scan_collection(root).unwrap();
    let rels: Vec<&str> = report.files.iter().map(|f| f.rel_path.as_str()).collect();
    assert_eq!(
        rels,
        vec![
            "a/copy.jpeg",
            "a/first.jpg",
            "b-link/second.PNG",
            "b/second.PNG",
            "c.TIFF"
        ]
    );
    assert_eq!(report.skipped_other, 2);
    assert_eq!(report.skipped_hidden, 2);

    let by_rel: HashMap<&str, &ScannedFile> = report
        .files
        .iter()
        .map(|f| (f.rel_path.as_str(), f))
        .collect();
    assert_eq!(by_rel["a/copy.jpeg"].hash, by_rel["a/first.jpg"].hash);
    assert_eq!(
        by_rel["a/first.jpg"].hash,
        blake3::hash(b"jpeg bytes").to_hex().to_string()
    );
    assert_eq!(
        by_rel["b/second.PNG"].hash,
        by_rel["b-link/second.PNG"].hash
    );
    assert_ne!(by_rel["a/first.jpg"].hash, by_rel["b/second.PNG"].hash);
    assert_eq!(by_rel["a/first.jpg"].size, 10);
    assert_eq!(by_rel["a/first.jpg"].path, root.join("a/first.jpg"));

    assert_eq!(report.failures.len(), 1, "{:?}", report.failures);
    assert!(
        report.failures[0].reason.contains("loop"),
        "{:?}",
        report.failures[0]
    );
    assert!(report.failures[0].path.ends_with("a/loop"));

    assert!(matches!(
        scan_collection(&root.join("missing")),
        Err(Error::Io { .. })
    ));
}

#[test]
fn scan_reports_unreadable_folders_and_goes_on() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(&root.join("ok/a.jpg"), b"a");
    write(&root.join("locked/b.jpg"), b"b");
    std::fs::set_permissions(root.join("locked"), std::fs::Permissions::from_mode(0o000)).unwrap();
    let readable_anyway = std::fs::read_dir(root.join("locked")).is_ok(); // root ignores modes
    let report = scan_collection(root).unwrap();
    std::fs::set_permissions(root.join("locked"), std::fs::Permissions::from_mode(0o755)).unwrap();
    assert!(report.files.iter().any(|f| f.rel_path == "ok/a.jpg"));
    if !readable_anyway {
        assert_eq!(report.failures.len(), 1, "{:?}", report.failures);
        assert!(report.failures[0].path.ends_with("locked"));
    }
}

#[test]
fn wikiart_names_become_metadata() {
    let m = wikiart_metadata("Abstract_Expressionism/jackson-pollock_number-1-lavender-mist.jpg");
    assert_eq!(m["style"], "Abstract Expressionism");
    assert_eq!(m["artist"], "jackson pollock");
    assert_eq!(m["title"], "number 1 lavender mist");
    assert!(wikiart_metadata("untitled.jpg").is_empty());
    let m = wikiart_metadata("Cubism/untitled.jpg");
    assert_eq!(m.keys().collect::<Vec<_>>(), vec!["style"]);
}

// ----- metadata CSV -------------------------------------------------------------------

fn scanned(rel: &str, content: &str) -> ScannedFile {
    ScannedFile {
        path: PathBuf::from("/coll").join(rel),
        rel_path: rel.to_string(),
        hash: blake3::hash(content.as_bytes()).to_hex().to_string(),
        size: content.len() as u64,
    }
}

fn collection() -> Vec<ScannedFile> {
    vec![
        scanned("Baroque/night-watch.jpg", "nw"),
        scanned("Cubism/a.jpg", "ca"),
        scanned("Baroque/a.jpg", "ba"),
        scanned("top.png", "top"),
    ]
}

fn csv_file(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join("meta.csv");
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn csv_metadata_is_read_by_path_or_bare_name() {
    let dir = tempfile::tempdir().unwrap();
    let files = collection();
    let p = csv_file(
        dir.path(),
        "\u{feff}Title,FILE,Artist,Year,Extra\n\
         The Night Watch,night-watch.jpg,Rembrandt,1642,\n\
         \"Guitar, bottle\",Cubism\\a.jpg,Picasso,,x\n\
         ,,,,\n\
         Top,./top.png,,,\n",
    );
    let map = read_metadata_csv(&p, &files).unwrap();
    assert_eq!(map.len(), 3);
    let nw = &map[&files[0].hash];
    assert_eq!(nw["title"], "The Night Watch");
    assert_eq!(nw["artist"], "Rembrandt");
    assert_eq!(nw["year"], "1642");
    assert!(!nw.contains_key("extra") && !nw.contains_key("file"));
    assert_eq!(map[&files[1].hash]["title"], "Guitar, bottle");
    assert_eq!(map[&files[1].hash]["extra"], "x");
    assert_eq!(map[&files[3].hash].len(), 1);
}

#[test]
fn csv_errors_name_the_row_and_import_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let files = collection();
    let p = csv_file(
        dir.path(),
        "path,title\n\
         Baroque/night-watch.jpg,ok\n\
         missing.jpg,nope\n\
         a.jpg,ambiguous\n\
         top.png,too,many\n\
         Baroque/night-watch.jpg,again\n",
    );
    match read_metadata_csv(&p, &files) {
        Err(Error::CsvRow { path, row, reason }) => {
            assert_eq!(path, p);
            assert_eq!(row, 3, "{reason}");
            assert!(reason.contains("missing.jpg"), "{reason}");
            assert!(
                reason.contains("row 4") && reason.contains("matches 2 files"),
                "{reason}"
            );
            assert!(
                reason.contains("row 5") && reason.contains("3 cells"),
                "{reason}"
            );
            assert!(
                reason.contains("row 6") && reason.contains("row 2"),
                "{reason}"
            );
            assert!(reason.contains("nothing was imported"), "{reason}");
        }
        other => panic!("expected CsvRow, got {other:?}"),
    }

    // Each alone, with its own row number.
    for (text, row, needle) in [
        ("file,title\ntop.png,a,b\n", 2, "3 cells"),
        ("file,title\ntop.png,a\nnope.png,b\n", 3, "not an image"),
        ("image,title\na.jpg,x\n", 2, "Cubism/a.jpg"),
        (
            "name,title\ntop.png,x\n",
            1,
            "path, file, filename, file_name, image",
        ),
        ("", 1, "header"),
        ("file,title,Title\ntop.png,a,b\n", 1, "twice"),
    ] {
        let p = csv_file(dir.path(), text);
        match read_metadata_csv(&p, &files) {
            Err(Error::CsvRow { row: r, reason, .. }) => {
                assert_eq!(r, row, "{text:?}: {reason}");
                assert!(reason.contains(needle), "{text:?}: {reason}");
            }
            other => panic!("{text:?}: expected CsvRow, got {other:?}"),
        }
    }
}
