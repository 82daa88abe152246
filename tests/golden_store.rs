//! A store written by artlens format 1 (two hard-wired models, absolute
//! paths, bare JSON ratings and heads), committed in
//! `tests/fixtures/golden_v1/` by the script beside it, opens and is
//! migrated: every embedding bit for bit under its backbone id, every
//! rating, the heads; and indexing the same collection again re-embeds
//! nothing.

use crate::common;

use std::path::Path;

use artlens::app::{Event, IndexRequest, SimilarRequest, WeightsConfig};
use artlens::pipeline::IndexOptions;
use artlens::store::{Store, FORMAT_VERSION};
use artlens::{BackboneId, Collection};
use common::fixtures;

fn golden() -> std::path::PathBuf {
    fixtures().join("golden_v1")
}

fn copy_dir(from: &Path, to: &Path) {
    for e in walkdir::WalkDir::new(from) {
        let e = e.unwrap();
        let rel = e.path().strip_prefix(from).unwrap();
        let dest = to.join(rel);
        if e.file_type().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
}

/// The float32 rows of a `.npy` export (format 1.0, little-endian).
fn npy_rows(path: &Path) -> Vec<Vec<u32>> {
    let bytes = std::fs::read(path).unwrap();
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + header_len]).unwrap();
    let shape = header.split("'shape': (").nth(1).unwrap();
    let dims: Vec<usize> = shape
        .split(')')
        .next()
        .unwrap()
        .split(',')
        .filter_map(|d| d.trim().parse().ok())
        .collect();
    let data = &bytes[10 + header_len..];
    let floats: Vec<u32> = data
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    floats.chunks(dims[1]).map(|r| r.to_vec()).collect()
}

/// The ids column of an export's items.csv.
fn export_ids(dir: &Path) -> Vec<u64> {
    let text = std::fs::read_to_string(dir.join("items.csv")).unwrap();
    text.lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect()
}

#[test]
fn a_format_1_store_is_migrated_without_losing_anything() {
    let tmp = tempfile::tempdir().unwrap();
    let store_dir = tmp.path().join("store");
    copy_dir(&golden().join("store"), &store_dir);
    let mut weights = WeightsConfig::default();
    weights.set_dir(&common::dino(), fixtures().join("dino_tiny"), false);
    weights.set_dir(&common::dinov2(), fixtures().join("dinov2_tiny"), false);

    let c = Collection::open(&store_dir, weights.clone()).unwrap();
    let m = c.migration().expect("the store is migrated").clone();
    assert_eq!((m.from_version, m.to_version), (1, FORMAT_VERSION));
    assert_eq!(
        m.backbones,
        [
            ("dino".to_string(), "dino".to_string()),
            ("dinov2".to_string(), "dinov2".to_string())
        ]
    );
    assert_eq!(
        (m.artworks, m.embeddings, m.ratings, m.heads),
        (10, 20, 10, 2)
    );
    assert!(
        m.dropped.iter().any(|d| d.contains("train report")),
        "{:?}",
        m.dropped
    );

    // Every embedding, bit for bit, under its backbone id.
    for name in ["dino", "dinov2"] {
        let id = BackboneId::parse(name).unwrap();
        let export = golden().join(format!("export-{name}"));
        let rows = npy_rows(&export.join("embeddings.npy"));
        let ids = export_ids(&export);
        assert_eq!(rows.len(), 10);
        for (work, row) in ids.iter().zip(&rows) {
            let art = c.store().artwork_by_id(*work).unwrap().unwrap();
            let v = c.store().embedding(&id, &art.hash).unwrap().unwrap();
            let bits: Vec<u32> = v.iter().map(|x| x.to_bits()).collect();
            assert_eq!(&bits, row, "{name} embedding of work {work}");
        }
    }
    // Every rating, with its value.
    let csv = std::fs::read_to_string(golden().join("ratings.csv")).unwrap();
    let mut want: Vec<f64> = csv
        .lines()
        .skip(1)
        .map(|l| l.rsplit(',').next().unwrap().parse().unwrap())
        .collect();
    let mut got: Vec<f64> = c
        .ratings_of(&artlens::ratings::Rater::default())
        .unwrap()
        .iter()
        .map(|r| r.rating)
        .collect();
    want.sort_by(f64::total_cmp);
    got.sort_by(f64::total_cmp);
    assert_eq!(got, want);
    // They are the default rater's: `me` is the only rater.
    let raters = c.rater_statuses().unwrap();
    assert_eq!(raters.len(), 1, "{raters:?}");
    assert_eq!(raters[0].name, "me");
    assert_eq!(raters[0].ratings, want.len());
    // The heads, under their new keys; the two-model report is gone.
    for name in ["dino", "dinov2"] {
        assert!(artlens::head::load_head_of(
            c.store(),
            &artlens::ratings::Rater::default(),
            &BackboneId::parse(name).unwrap()
        )
        .is_ok());
    }
    assert!(
        artlens::head::load_training_of(c.store(), &artlens::ratings::Rater::default())
            .unwrap()
            .is_none()
    );
    let v = c
        .similar(
            &SimilarRequest {
                examples: vec![artlens::app::ImageRef::Work("1".into())],
                not: Vec::new(),
                threshold: None,
                k: 3,
                backbones: None,
                filters: vec![],
                exact: false,
            },
            &mut |_: Event| {},
        )
        .unwrap();
    assert_eq!(v.results["dino"].len(), 3);
    drop(c);

    // Opened again: already format 2, nothing to migrate.
    let s = Store::open(&store_dir).unwrap();
    assert!(s.migration().is_none());
    drop(s);

    // The same files at another place: known contents, nothing re-embedded.
    let collection = tmp.path().join("collection");
    copy_dir(&golden().join("collection"), &collection);
    let c = Collection::open(&store_dir, weights).unwrap();
    let summary = c
        .index(
            &IndexRequest {
                dir: collection,
                metadata: None,
                skip_bad_metadata: false,
                backbones: vec![common::dino(), common::dinov2()],
                rebuild: vec![],
                shard: None,
                options: IndexOptions::default(),
            },
            &mut |_: Event| {},
        )
        .unwrap();
    assert_eq!(
        (summary.files, summary.embedded, summary.already_stored),
        (10, 0, 10)
    );
}
