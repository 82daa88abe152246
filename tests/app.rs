//! The application layer driven directly, without the binary: three
//! backbones in one store (`dino`, `dinov2`, `dinov2@224`) through index →
//! similar → train → compare → score; a collection moved to another folder;
//! naming works; read-only calls that leave the store folder untouched.

use crate::common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use artlens::app::{
    CompareRequest, Event, IndexRequest, ListRequest, ScoreRequest, SimilarRequest, TrainRequest,
    WeightsConfig,
};
use artlens::head::HeadKind;
use artlens::pipeline::IndexOptions;
use artlens::ratings::Rater;
use artlens::{BackboneId, Collection, Error};
use common::fixtures;

/// The tiny fixture checkpoints, named explicitly (as `--weights ID=DIR`).
fn weights() -> WeightsConfig {
    let mut w = dino_weights();
    w.set_dir(&common::dinov2(), fixtures().join("dinov2_tiny"), true);
    w
}

fn dino_weights() -> WeightsConfig {
    let mut w = WeightsConfig::default();
    w.set_dir(&common::dino(), fixtures().join("dino_tiny"), true);
    w
}

fn ids(names: &[&str]) -> Vec<BackboneId> {
    names
        .iter()
        .map(|n| BackboneId::parse(n).unwrap())
        .collect()
}

fn index_req(dir: &Path, backbones: &[&str]) -> IndexRequest {
    IndexRequest {
        dir: dir.to_path_buf(),
        metadata: None,
        skip_bad_metadata: false,
        backbones: ids(backbones),
        rebuild: Vec::new(),
        shard: None,
        options: IndexOptions::default(),
    }
}

fn quiet() -> impl FnMut(Event) {
    |_| {}
}

/// Every file under `dir` with its length and modification time.
fn listing(dir: &Path) -> BTreeMap<PathBuf, (u64, std::time::SystemTime)> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let m = e.metadata().unwrap();
            (e.path().to_path_buf(), (m.len(), m.modified().unwrap()))
        })
        .collect()
}

#[test]
fn three_backbones_in_one_store_through_the_layer() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("collection");
    let ratings = common::rated_collection(&dir);
    let store = tmp.path().join("store");
    let three = ["dino", "dinov2", "dinov2@224"];
    {
        let c = Collection::create(&store, weights()).unwrap();
        let s = c.index(&index_req(&dir, &three), &mut quiet()).unwrap();
        assert_eq!((s.files, s.embedded, s.failed), (24, 24, 0));
    }
    let c = Collection::open(&store, weights()).unwrap();
    let status = c.status(&me()).unwrap();
    assert_eq!(
        status.models.keys().cloned().collect::<Vec<_>>(),
        ["dino", "dinov2", "dinov2@224"]
    );
    for m in status.models.values() {
        assert_eq!(m.embeddings, 24);
    }
    // 224 px is another backbone: other embeddings of the same work.
    let a = c
        .store()
        .embedding(&ids(&["dinov2"])[0], &c.resolve("1").unwrap().hash)
        .unwrap()
        .unwrap();
    let b = c
        .store()
        .embedding(&ids(&["dinov2@224"])[0], &c.resolve("1").unwrap().hash)
        .unwrap()
        .unwrap();
    assert_ne!(a, b);

    // similar: one column per backbone, read-only.
    // sled's own background flush may touch `db`; the ANN files are ours.
    let before = listing(&store.join("ann"));
    let v = c
        .similar(
            &SimilarRequest {
                examples: vec![artlens::app::ImageRef::Work("1".into())],
                not: Vec::new(),
                threshold: None,
                k: 5,
                backbones: None,
                filters: vec![],
                exact: false,
            },
            &mut quiet(),
        )
        .unwrap();
    assert_eq!(v.backbones, ["dino", "dinov2", "dinov2@224"]);
    for b in &v.backbones {
        let hits = &v.results[b];
        assert_eq!(hits.len(), 5);
        assert!(hits.iter().all(|h| h.id != 1), "the query is left out");
    }
    let shared = v.overlap.unwrap();
    let in_all = v.results["dino"]
        .iter()
        .filter(|h| h.shared_with.len() == 2)
        .count();
    assert_eq!(shared, in_all);
    // The ANN answer equals exact search here (small store).
    let exact = c
        .similar(
            &SimilarRequest {
                examples: vec![artlens::app::ImageRef::Work("1".into())],
                not: Vec::new(),
                threshold: None,
                k: 5,
                backbones: Some(ids(&["dinov2@224"])),
                filters: vec![],
                exact: true,
            },
            &mut quiet(),
        )
        .unwrap();
    let a: Vec<u64> = exact.results["dinov2@224"].iter().map(|h| h.id).collect();
    let b: Vec<u64> = v.results["dinov2@224"].iter().map(|h| h.id).collect();
    assert_eq!(a, b);
    assert_eq!(
        listing(&store.join("ann")),
        before,
        "similar rewrote the ANN files"
    );
    assert_eq!(before.len(), 9, "three saved indexes of three files each");

    // Ratings, train, compare, score.
    let csv = tmp.path().join("ratings.csv");
    let body: String = std::iter::once("path,rating\n".to_string())
        .chain(ratings.iter().map(|(p, r)| format!("{p},{r}\n")))
        .collect();
    std::fs::write(&csv, body).unwrap();
    assert_eq!(c.rate_import_as(&csv, false, &me()).unwrap().imported, 24);
    let report = c
        .train(
            &TrainRequest {
                head: HeadKind::Ridge,
                folds: 3,
                seed: 1,
                bootstrap: 200,
                backbones: None,
                ..Default::default()
            },
            &mut quiet(),
        )
        .unwrap();
    assert_eq!(report.backbones.len(), 3);
    let pairs: std::collections::BTreeSet<(String, String)> = report
        .comparisons
        .iter()
        .map(|c| (c.a.clone(), c.b.clone()))
        .collect();
    assert_eq!(pairs.len(), 3, "every pair is compared");
    assert!(!report.verdict.is_empty());

    let cmp = c
        .compare(
            &CompareRequest {
                label: Some("style".into()),
                k: 5,
                backbones: None,
                ..Default::default()
            },
            &mut quiet(),
        )
        .unwrap();
    assert_eq!(cmp.models.len(), 3);
    assert_eq!(cmp.agreements.len(), 3);
    assert_eq!(cmp.verdict, report.verdict);
    assert_eq!(cmp.provenance.backbones.len(), 3);
    assert_eq!(cmp.provenance.head_kind.as_deref(), Some("ridge"));
    for m in cmp.models.values() {
        assert!(m.loo_accuracy.is_some() && m.cv.contains_key("spearman"));
    }
    assert!(cmp.warnings.is_empty(), "{:?}", cmp.warnings);

    let scored = c
        .score(
            &ScoreRequest {
                images: vec![artlens::app::ImageRef::File(dir.join(&ratings[0].0))],
                k: 3,
                backbones: None,
                ood_percentile: 99.0,
                rater: Default::default(),
            },
            &mut quiet(),
        )
        .unwrap();
    assert_eq!(scored.images[0].models.len(), 3);
    assert!(scored.images[0].reference_overlap.is_some());

    // A changed rating makes score and compare say the heads are stale.
    c.rate_set_as(&me(), "1", 0.0).unwrap();
    let cmp = c
        .compare(
            &CompareRequest {
                label: Some("style".into()),
                k: 5,
                backbones: None,
                ..Default::default()
            },
            &mut quiet(),
        )
        .unwrap();
    assert!(
        cmp.warnings.iter().any(|w| w.contains("ratings changed")),
        "{:?}",
        cmp.warnings
    );
}

#[test]
fn a_moved_collection_is_relinked_without_re_embedding() {
    let tmp = tempfile::tempdir().unwrap();
    let old = tmp.path().join("old-place");
    common::rated_collection(&old);
    let store = tmp.path().join("store");
    {
        let c = Collection::create(&store, dino_weights()).unwrap();
        c.index(&index_req(&old, &["dino"]), &mut quiet()).unwrap();
        let w = c
            .show(&me(), "Minimalism/ada-quill_work-02.png", 3, &mut quiet())
            .unwrap();
        assert_eq!(
            w.relative_paths,
            [Some("Minimalism/ada-quill_work-02.png".to_string())]
        );
    }
    let new = tmp.path().join("moved").join("here");
    std::fs::create_dir_all(new.parent().unwrap()).unwrap();
    std::fs::rename(&old, &new).unwrap();
    let c = Collection::create(&store, dino_weights()).unwrap();
    let mut notes = Vec::new();
    let s = c
        .index(&index_req(&new, &["dino"]), &mut |e| {
            if let Event::Note(n) = e {
                notes.push(n)
            }
        })
        .unwrap();
    assert_eq!(s.embedded, 0, "nothing is re-embedded");
    assert_eq!(s.new_paths, 0, "the paths moved with the root");
    assert!(notes.iter().any(|n| n.contains("moved")), "{notes:?}");
    let status = c.status(&me()).unwrap();
    assert!(status.vanished.is_empty(), "{:?}", status.vanished);
    assert_eq!(status.roots.len(), 1);
    let w = c
        .show(&me(), "ada-quill_work-02.png", 3, &mut quiet())
        .unwrap();
    let canon = std::fs::canonicalize(&new).unwrap();
    assert!(
        w.paths[0].starts_with(&canon.display().to_string()),
        "{:?}",
        w.paths
    );
    assert_eq!(w.neighbours["dino"].len(), 3);
}

#[test]
fn works_are_named_one_way_everywhere() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    common::rated_collection(&dir);
    // The same file name in two folders.
    std::fs::copy(
        dir.join("Minimalism/ada-quill_work-02.png"),
        dir.join("Pointillism/ada-quill_work-02.png"),
    )
    .unwrap_or_else(|_| {
        std::fs::write(dir.join("Pointillism/ada-quill_work-02.png"), b"").unwrap();
        0
    });
    // Give the copy other content, so that it is another work.
    let img = image::RgbImage::from_pixel(20, 20, image::Rgb([1, 2, 3]));
    img.save(dir.join("Pointillism/ada-quill_work-02.png"))
        .unwrap();
    let store = tmp.path().join("store");
    let c = Collection::create(&store, dino_weights()).unwrap();
    c.index(&index_req(&dir, &["dino"]), &mut quiet()).unwrap();

    let by_rel = c.resolve("Minimalism/ada-quill_work-02.png").unwrap();
    let by_id = c.resolve(&by_rel.id.to_string()).unwrap();
    let by_hash = c.resolve(&by_rel.hash[..6]).unwrap();
    let by_path = c.resolve(&by_rel.paths[0]).unwrap();
    let by_name = c.resolve("ada-quill_work-05.png").unwrap();
    assert_eq!(by_id.hash, by_rel.hash);
    assert_eq!(by_hash.hash, by_rel.hash);
    assert_eq!(by_path.hash, by_rel.hash);
    assert!(by_name.paths[0].ends_with("ada-quill_work-05.png"));
    match c.resolve("ada-quill_work-02.png") {
        Err(Error::AmbiguousWork { candidates, .. }) => {
            assert!(
                candidates.contains("Minimalism") && candidates.contains("Pointillism"),
                "{candidates}"
            )
        }
        other => panic!("expected AmbiguousWork, got {other:?}"),
    }
    assert!(matches!(
        c.resolve("nothing-like-this.png"),
        Err(Error::WorkNotFound { .. })
    ));

    // ls filters by metadata and by rated/unrated.
    c.rate_set_as(&me(), "1", 3.0).unwrap();
    let rated = c
        .list(&ListRequest {
            filters: vec![],
            rated: Some(true),
            rater: me(),
            sort: Default::default(),
        })
        .unwrap();
    assert_eq!(rated.len(), 1);
    let minimal = c
        .list(&ListRequest {
            filters: vec!["style=minimalism".into()],
            rated: None,
            rater: me(),
            sort: Default::default(),
        })
        .unwrap();
    assert_eq!(minimal.len(), 8);
    assert!(minimal.iter().all(|w| w.metadata["style"] == "Minimalism"));
}

#[test]
fn reading_commands_never_create_a_store() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = tmp.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    match Collection::open(&photos, WeightsConfig::default()) {
        Err(Error::NoStore { path }) => assert_eq!(path, photos),
        other => panic!("expected NoStore, got {other:?}"),
    }
    assert_eq!(std::fs::read_dir(&photos).unwrap().count(), 0);
}

#[test]
fn weights_for_an_unused_backbone_and_bad_ids_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    common::rated_collection(&dir);
    let c = Collection::create(&tmp.path().join("store"), weights()).unwrap();
    // `weights()` names dino and dinov2 explicitly; indexing dino alone
    // leaves dinov2's folder unused.
    let err = c
        .index(&index_req(&dir, &["dino"]), &mut quiet())
        .unwrap_err();
    assert!(matches!(err, Error::UnusedWeights { .. }), "{err}");
    assert!(err.to_string().contains("dinov2"), "{err}");
    let err = BackboneId::parse("clip-vit").unwrap_err().to_string();
    assert!(err.contains("dino") && err.contains("dinov2"), "{err}");
    let err = BackboneId::parse("dino@100").unwrap_err().to_string();
    assert!(err.contains("100") && err.contains("16"), "{err}");
}

#[test]
fn options_that_name_nothing_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("collection");
    common::rated_collection(&dir);
    let store = tmp.path().join("store");
    let c = Collection::create(&store, dino_weights()).unwrap();
    c.index(&index_req(&dir, &["dino"]), &mut quiet()).unwrap();

    // compare --label that no work has: an error naming the labels there are.
    let err = c
        .compare(
            &CompareRequest {
                label: Some("nonexistent".into()),
                k: 3,
                backbones: None,
                ..Default::default()
            },
            &mut quiet(),
        )
        .unwrap_err();
    assert!(matches!(err, Error::UnknownLabel { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("`nonexistent`") && msg.contains("style") && msg.contains("artist"),
        "{msg}"
    );
    // The default label still works, given or not.
    for label in [None, Some("style".to_string())] {
        let v = c
            .compare(
                &CompareRequest {
                    label,
                    k: 3,
                    backbones: None,
                    ..Default::default()
                },
                &mut quiet(),
            )
            .unwrap();
        assert_eq!(v.label, "style");
    }

    let similar = |filter: &str| {
        c.similar(
            &SimilarRequest {
                examples: vec![artlens::app::ImageRef::Work("1".into())],
                not: Vec::new(),
                threshold: None,
                k: 3,
                backbones: None,
                filters: vec![filter.into()],
                exact: false,
            },
            &mut quiet(),
        )
    };
    // A value the key does not have: the values it has.
    let err = similar("style=nothing").unwrap_err();
    assert!(matches!(err, Error::FilterMatchesNothing { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("style=nothing") && msg.contains("Pointillism") && msg.contains("Minimalism"),
        "{msg}"
    );
    // A key no work has: the keys there are.
    let msg = similar("nokey=x").unwrap_err().to_string();
    assert!(msg.contains("nokey") && msg.contains("style"), "{msg}");
    // A filter that matches still answers.
    assert!(!similar("style=pointillism").unwrap().results["dino"].is_empty());

    let list = |filter: &str| {
        c.list(&ListRequest {
            filters: vec![filter.into()],
            rated: None,
            rater: me(),
            sort: Default::default(),
        })
    };
    let msg = list("style=nothing").unwrap_err().to_string();
    assert!(
        msg.contains("Color Field") || msg.contains("Color_Field"),
        "{msg}"
    );
    assert_eq!(list("style=minimalism").unwrap().len(), 8);
}

#[test]
fn constant_ratings_warn_on_import_and_refuse_training() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("collection");
    let ratings = common::rated_collection(&dir);
    let store = tmp.path().join("store");
    let c = Collection::create(&store, dino_weights()).unwrap();
    c.index(&index_req(&dir, &["dino"]), &mut quiet()).unwrap();
    let csv = tmp.path().join("ratings.csv");
    let mut text = String::from("path,rating\n");
    for (rel, _) in &ratings {
        text.push_str(&format!("{rel},3\n"));
    }
    std::fs::write(&csv, text).unwrap();
    let report = c.rate_import_as(&csv, false, &me()).unwrap();
    assert_eq!(report.imported, 24);
    assert!(
        report.warnings.iter().any(|w| w.contains("spread")),
        "{:?}",
        report.warnings
    );
    let err = c
        .train(
            &TrainRequest {
                head: HeadKind::Ridge,
                folds: 3,
                seed: 1,
                bootstrap: 100,
                backbones: None,
                ..Default::default()
            },
            &mut quiet(),
        )
        .unwrap_err();
    assert!(err.to_string().contains("no spread"), "{err}");
}

#[test]
fn rating_and_metadata_csvs_are_checked_closely() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("collection");
    let ratings = common::rated_collection(&dir);
    let store = tmp.path().join("store");
    let c = Collection::create(&store, dino_weights()).unwrap();
    c.index(&index_req(&dir, &["dino"]), &mut quiet()).unwrap();
    let csv = tmp.path().join("r.csv");
    let import = |text: &str| {
        std::fs::write(&csv, text).unwrap();
        c.rate_import_as(&csv, false, &me())
    };
    let row_of = |e: Error| match e {
        Error::CsvRow { row, reason, .. } => (row, reason),
        e => panic!("not a row error: {e}"),
    };
    let (a, b) = (&ratings[0].0, &ratings[1].0);
    // CRLF: the bad row is line 3, as with LF.
    for nl in ["\n", "\r\n"] {
        let text = format!("path,rating{nl}{a},1{nl}{b},x{nl}");
        let (row, _) = row_of(import(&text).unwrap_err());
        assert_eq!(row, 3, "{nl:?}");
    }
    // A duplicated header.
    let (row, why) = row_of(import(&format!("path,rating,rating\n{a},1,2\n")).unwrap_err());
    assert!(row == 1 && why.contains("rating"), "{why}");
    assert!(import(&format!("path,path,rating\n{a},{b},2\n")).is_err());
    // id and path naming different works.
    let id_b = c.resolve(b).unwrap().id;
    let (row, why) = row_of(import(&format!("id,path,rating\n{id_b},{a},2\n")).unwrap_err());
    assert!(row == 2 && why.contains("id"), "{why}");
    assert!(import(&format!("id,path,rating\n{id_b},{b},2\n")).is_ok());
    // An unclosed quote swallowing the following lines.
    let (row, why) = row_of(import(&format!("path,rating\n{a},\"1\n{b},2\n")).unwrap_err());
    assert!(row == 2 && why.contains("quote"), "{why}");
    // A 5 MB field is refused and not echoed.
    let big = "x".repeat(5 << 20);
    let err = import(&format!("path,rating\n{big},1\n"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("KiB") && err.len() < 1000, "{}", err.len());
    // Not a regular file.
    #[cfg(unix)]
    assert!(c
        .rate_import_as(Path::new("/dev/zero"), false, &me())
        .is_err());

    // Metadata CSV: CRLF row numbers, reserved columns, unclosed quotes.
    let meta = tmp.path().join("m.csv");
    let index_meta = |text: &str| {
        std::fs::write(&meta, text).unwrap();
        let mut req = index_req(&dir, &["dino"]);
        req.metadata = Some(meta.clone());
        c.index(&req, &mut quiet())
    };
    let (row, _) =
        row_of(index_meta(&format!("path,title\r\n{a},A\r\nnope.png,B\r\n")).unwrap_err());
    assert_eq!(row, 3);
    for col in ["id", "hash"] {
        let (row, why) = row_of(index_meta(&format!("path,{col}\n{a},A\n")).unwrap_err());
        assert!(row == 1 && why.contains(&format!("`{col}`")), "{why}");
    }
    let (row, why) =
        row_of(index_meta(&format!("path,title\n{a},A\n{b},\"B\nmore,lines\n")).unwrap_err());
    assert!(row == 3 && why.contains("quote"), "{why}");
}

/// The default rater.
fn me() -> Rater {
    Rater::default()
}

/// Guards issue 21's rater fix: with ratings by `me` and by `ana` on the
/// same works, every view asked for `ana` (show, ls, status, explain,
/// gallery, score) shows ana's ratings and heads, never me's, and the
/// other way round. Ana's ratings are 100 above me's, so a value from the
/// wrong rater cannot pass for the right one.
#[test]
fn every_view_shows_the_rater_asked_for() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    let ratings = common::rated_collection(&dir);
    let c = Collection::create(&tmp.path().join("store"), dino_weights()).unwrap();
    c.index(&index_req(&dir, &["dino"]), &mut quiet()).unwrap();
    let ana = Rater::parse("ana").unwrap();
    // me rates the first 16 works, ana every work, 100 higher.
    let mut mine = BTreeMap::new();
    let mut anas = BTreeMap::new();
    for (i, (p, r)) in ratings.iter().enumerate() {
        let hash = c.resolve(p).unwrap().hash;
        if i < 16 {
            c.rate_set_as(&me(), p, *r).unwrap();
            mine.insert(hash.clone(), *r);
        }
        c.rate_set_as(&ana, p, 100.0 + r).unwrap();
        anas.insert(hash, 100.0 + r);
    }
    let is_anas = |hash: &str, rating: Option<f64>| rating == anas.get(hash).copied();
    let is_mine = |hash: &str, rating: Option<f64>| rating == mine.get(hash).copied();

    // Only ana has heads: status says so per rater.
    let train = |rater: &Rater| {
        c.train_taste(
            &TrainRequest {
                folds: 3,
                repeats: 1,
                bootstrap: 100,
                rater: rater.clone(),
                ..Default::default()
            },
            &mut quiet(),
        )
        .unwrap()
    };
    train(&ana);
    let st = c.status(&ana).unwrap();
    assert_eq!((st.rater.as_str(), st.ratings), ("ana", 24));
    assert!(st.models["dino"].head && st.training.is_some(), "{st:?}");
    let st = c.status(&me()).unwrap();
    assert_eq!((st.rater.as_str(), st.ratings), ("me", 16));
    assert!(!st.models["dino"].head && st.training.is_none(), "{st:?}");

    // show
    let first = &ratings[0].0;
    let w = c.show(&ana, first, 3, &mut quiet()).unwrap();
    assert!(is_anas(&w.hash, w.rating), "{:?}", w.rating);
    let w = c.show(&me(), first, 3, &mut quiet()).unwrap();
    assert!(is_mine(&w.hash, w.rating), "{:?}", w.rating);

    // ls: ana rated every work, me 16 of them.
    let list = |rater: &Rater| {
        c.list(&ListRequest {
            filters: vec![],
            rated: Some(true),
            rater: rater.clone(),
            sort: Default::default(),
        })
        .unwrap()
    };
    let listed = list(&ana);
    assert_eq!(listed.len(), 24);
    assert!(listed.iter().all(|w| is_anas(&w.hash, w.rating)));
    let listed = list(&me());
    assert_eq!(listed.len(), 16);
    assert!(listed.iter().all(|w| is_mine(&w.hash, w.rating)));

    // gallery, sorted by ana's head: her ratings and predictions on her scale.
    let page = c
        .gallery(&artlens::app::GalleryRequest {
            filters: vec![],
            text: None,
            rated: None,
            sort: artlens::app::GallerySort::Score(common::dino()),
            offset: 0,
            limit: 24,
            rater: ana.clone(),
        })
        .unwrap();
    assert_eq!(page.works.len(), 24);
    for item in &page.works {
        assert!(is_anas(&item.work.hash, item.work.rating), "{item:?}");
        assert!(item.predicted.unwrap() > 50.0, "{item:?}");
    }

    // explain: the query's and the chosen reference's ratings are ana's.
    let view = c
        .explain(
            &artlens::app::ExplainRequest {
                query: artlens::app::ImageRef::Work(first.clone()),
                reference: None,
                backbones: None,
                rater: ana.clone(),
            },
            &mut quiet(),
        )
        .unwrap();
    let q = &view.query;
    assert!(is_anas(q.hash.as_deref().unwrap(), q.rating), "{q:?}");
    let r = &view.models["dino"].reference;
    assert_eq!(view.models["dino"].chosen, "nearest rated work");
    assert!(is_anas(r.hash.as_deref().unwrap(), r.rating), "{r:?}");

    // score: ana's head, ana's ratings as references; me has no head.
    let score = |rater: &Rater| {
        c.score(
            &ScoreRequest {
                images: vec![artlens::app::ImageRef::File(dir.join(first))],
                k: 3,
                backbones: None,
                ood_percentile: 99.0,
                rater: rater.clone(),
            },
            &mut quiet(),
        )
    };
    let scored = score(&ana).unwrap();
    let m = &scored.images[0].models["dino"];
    assert!(m.score > 50.0, "{}", m.score);
    assert!(!m.references.is_empty());
    for r in &m.references {
        assert!(is_anas(&r.hash, Some(r.rating)), "{r:?}");
    }
    let mine_scored = score(&me());
    assert!(
        mine_scored.is_err() || mine_scored.unwrap().images[0].models.is_empty(),
        "me has no head to score with"
    );
    // Once me trains, me's scores are on me's scale.
    train(&me());
    let m = &score(&me()).unwrap().images[0].models["dino"];
    assert!(m.score < 20.0, "{}", m.score);
    for r in &m.references {
        assert!(is_mine(&r.hash, Some(r.rating)), "{r:?}");
    }
}

/// "More like these": several examples and works to move away from give
/// one query, the normalised mean of the examples' directions minus half
/// the mean of the others'; the results leave every named work out, carry
/// their cosine to that query, and respect a threshold.
#[test]
fn more_like_these_combines_examples_and_moves_away_from_others() {
    use artlens::app::ImageRef;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("collection");
    common::rated_collection(&dir);
    let store = tmp.path().join("store");
    let c = Collection::create(&store, dino_weights()).unwrap();
    c.index(&index_req(&dir, &["dino"]), &mut quiet()).unwrap();
    let dino = &ids(&["dino"])[0];
    let work = |n: &str| ImageRef::Work(n.into());
    let ask =
        |examples: Vec<ImageRef>, not: Vec<ImageRef>, threshold: Option<f32>| SimilarRequest {
            examples,
            not,
            threshold,
            k: 24,
            backbones: None,
            filters: vec![],
            exact: true,
        };
    let unit = |id: u64| {
        let hash = c.resolve(&id.to_string()).unwrap().hash;
        let v = c.store().embedding(dino, &hash).unwrap().unwrap();
        let n = v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
        v.iter().map(|x| *x as f64 / n).collect::<Vec<f64>>()
    };

    let v = c
        .similar(
            &ask(vec![work("1"), work("2")], vec![work("3")], None),
            &mut quiet(),
        )
        .unwrap();
    assert_eq!(v.query.id, Some(1));
    assert_eq!(
        v.examples.iter().map(|q| q.id).collect::<Vec<_>>(),
        [Some(2)]
    );
    assert_eq!(v.not.iter().map(|q| q.id).collect::<Vec<_>>(), [Some(3)]);
    let hits = &v.results["dino"];
    assert_eq!(hits.len(), 21, "every work but the three named");
    assert!(hits.iter().all(|h| ![1, 2, 3].contains(&h.id)));
    // The similarity shown is the cosine to the combined query, computed
    // here by hand from the stored embeddings.
    let (a, b, n) = (unit(1), unit(2), unit(3));
    let q: Vec<f64> = (0..a.len())
        .map(|i| (a[i] + b[i]) / 2.0 - 0.5 * n[i])
        .collect();
    let qn = q.iter().map(|x| x * x).sum::<f64>().sqrt();
    for h in hits {
        let r = unit(h.id);
        let cos = r.iter().zip(&q).map(|(x, y)| x * y).sum::<f64>() / qn;
        assert!(
            (cos - h.similarity as f64).abs() < 1e-4,
            "#{}: {cos} vs {}",
            h.id,
            h.similarity
        );
    }
    assert!(hits.windows(2).all(|p| p[0].similarity >= p[1].similarity));
    // Moving away from a work changes the order; one example alone is the
    // plain search.
    let plain = c
        .similar(&ask(vec![work("1"), work("2")], vec![], None), &mut quiet())
        .unwrap();
    let order =
        |v: &artlens::app::SimilarView| v.results["dino"].iter().map(|h| h.id).collect::<Vec<_>>();
    assert_ne!(order(&plain), order(&v));
    let one = c
        .similar(&ask(vec![work("1")], vec![], None), &mut quiet())
        .unwrap();
    assert!(one.examples.is_empty() && one.not.is_empty());

    // A threshold keeps the close matches only.
    let t = hits[4].similarity;
    let close = c
        .similar(
            &ask(vec![work("1"), work("2")], vec![work("3")], Some(t)),
            &mut quiet(),
        )
        .unwrap();
    assert_eq!(close.results["dino"].len(), 5, "{:?}", close.results);
    assert_eq!(close.threshold, Some(t));

    // Bad requests are refused by name.
    for (req, says) in [
        (ask(vec![work("1")], vec![], Some(1.5)), "threshold"),
        (ask(vec![work("1"), work("1")], vec![], None), "twice"),
        (
            ask(vec![work("1")], vec![work("1")], None),
            "both an example",
        ),
        (ask(vec![], vec![], None), "name a stored work"),
        (ask(vec![work("1")], vec![work("999")], None), "999"),
    ] {
        let e = c.similar(&req, &mut quiet()).unwrap_err().to_string();
        assert!(e.contains(says), "{e}");
    }
    let many: Vec<ImageRef> = (1..=65).map(|i| work(&i.to_string())).collect();
    let e = c
        .similar(&ask(many, vec![], None), &mut quiet())
        .unwrap_err()
        .to_string();
    assert!(e.contains("examples 65"), "{e}");
}
