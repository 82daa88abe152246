//! The hnsw_rs index against brute force on clustered 768-d vectors, and
//! the persistence round trip (save → load → same answers; a damaged file →
//! "rebuild", not a dead process).

use std::time::Instant;

use artlens::ann::{AnnIndex, AnnParams, ExactIndex, IndexMeta};

#[path = "common/clustered.rs"]
mod clustered;

use clustered::{clustered, recall, DIM};
const N: usize = 10_000;
const QUERIES: usize = 200;
const K: usize = 10;

struct Fixture {
    data: Vec<Vec<f32>>,
    queries: Vec<Vec<f32>>,
}

impl Fixture {
    fn new() -> Self {
        let (data, queries) = clustered(N, QUERIES, 42);
        Fixture { data, queries }
    }

    fn items(&self) -> Vec<(u64, &[f32])> {
        // Ids as the store gives them: from 1, with gaps (pruned artworks).
        self.data
            .iter()
            .enumerate()
            .map(|(i, v)| (1 + i as u64 + (i / 1000) as u64, v.as_slice()))
            .collect()
    }
}

#[test]
fn hnsw_recall_at_10_is_at_least_0_98_and_survives_save_and_load() {
    let fx = Fixture::new();
    let items = fx.items();

    let t = Instant::now();
    let exact = ExactIndex::new(DIM, &items).unwrap();
    let queries: Vec<&[f32]> = fx.queries.iter().map(|q| q.as_slice()).collect();
    let truth = exact.search_batch(&queries, K).unwrap();
    eprintln!("exact ground truth: {:.2?}", t.elapsed());

    let t = Instant::now();
    let index = AnnIndex::build(DIM, &items).unwrap();
    eprintln!("build {N} points: {:.2?}", t.elapsed());
    assert_eq!(index.len(), N);

    let t = Instant::now();
    let got: Vec<Vec<(u64, f32)>> = queries
        .iter()
        .map(|q| index.search(q, K, None).unwrap())
        .collect();
    let r = recall(&got, &truth);
    eprintln!(
        "recall@{K} = {r:.4} ({QUERIES} queries in {:.2?})",
        t.elapsed()
    );
    assert!(r >= 0.98, "recall@{K} {r:.4} < 0.98");
    // Similarities are cosines to within the bound of the graph's 16-bit
    // codes (`artlens::ann`'s module documentation): each score is its id's
    // exact cosine to within 2·√d/65534, and about 1e-5 typically.
    let bound = 2.0 * (DIM as f32).sqrt() / 65534.0;
    let by_id: std::collections::HashMap<u64, Vec<f32>> = items
        .iter()
        .map(|(id, v)| (*id, artlens::ann::normalised(v, DIM).unwrap()))
        .collect();
    let (mut worst, mut sum, mut count) = (0f32, 0f64, 0usize);
    for (q, g) in queries.iter().zip(&got) {
        let q = artlens::ann::normalised(q, DIM).unwrap();
        for (id, s) in g {
            let err = (s - artlens::ann::dot(&q, &by_id[id])).abs();
            worst = worst.max(err);
            sum += err as f64;
            count += 1;
        }
    }
    let mean = sum / count as f64;
    eprintln!("score error against the exact cosine: mean {mean:.2e}, worst {worst:.2e}");
    assert!(worst <= bound, "score error {worst} > {bound}");
    assert!(mean < 5e-5, "mean score error {mean}");
    for (g, t) in got.iter().zip(&truth) {
        assert_eq!(g.len(), K);
        // So the best hnsw answer is never better than the true best one by
        // more than the bound.
        assert!(g[0].1 <= t[0].1 + bound);
        assert!(
            g.windows(2).all(|w| w[0].1 >= w[1].1),
            "results are best first"
        );
    }

    // A filter (every other id) still gives k results, all kept.
    let even = |id: u64| id.is_multiple_of(2);
    let filtered: Vec<Vec<(u64, f32)>> = queries
        .iter()
        .take(50)
        .map(|q| index.search(q, K, Some(&even)).unwrap())
        .collect();
    let filtered_truth: Vec<Vec<(u64, f32)>> = queries
        .iter()
        .take(50)
        .map(|q| exact.search(q, K, Some(&even)).unwrap())
        .collect();
    assert!(filtered
        .iter()
        .all(|r| r.len() == K && r.iter().all(|(id, _)| id.is_multiple_of(2))));
    let rf = recall(&filtered, &filtered_truth);
    eprintln!("filtered recall@{K} = {rf:.4}");
    assert!(rf >= 0.95, "filtered recall@{K} {rf:.4}");

    // Save, load, and get the very same answers.
    let dir = tempfile::tempdir().unwrap();
    let meta = index.meta("{\"model\":\"test\"}");
    let t = Instant::now();
    index.save(dir.path(), &meta).unwrap();
    let loaded = AnnIndex::load(dir.path(), &meta)
        .unwrap()
        .expect("a fresh save loads");
    eprintln!("save + load: {:.2?}", t.elapsed());
    assert_eq!(loaded.len(), N);
    assert_eq!(loaded.ids(), index.ids());
    for q in queries.iter().take(50) {
        assert_eq!(
            loaded.search(q, K, None).unwrap(),
            index.search(q, K, None).unwrap()
        );
    }

    // Saving again replaces the files atomically and leaves no stray ones.
    loaded.save(dir.path(), &meta).unwrap();
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 3, "index.json + graph + data, found {names:?}");
    assert!(AnnIndex::load(dir.path(), &meta).unwrap().is_some());

    // Stale metadata: another fingerprint or other ids → rebuild.
    let other_fp = IndexMeta::new("{\"model\":\"other\"}", index.ids());
    assert!(AnnIndex::load(dir.path(), &other_fp).unwrap().is_none());
    let mut ids = index.ids();
    ids.pop();
    ids.push(1_000_000);
    let other_ids = IndexMeta::new(meta.fingerprint_json.clone(), ids);
    let why = AnnIndex::load_or_reason(dir.path(), &other_ids)
        .unwrap()
        .unwrap_err();
    assert!(why.contains("other artworks"), "{why}");

    // A truncated data file: hnsw_rs would `process::exit(1)`; load must
    // notice first and answer "rebuild".
    let data_file = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".hnsw.data"))
        .unwrap();
    let len = std::fs::metadata(&data_file).unwrap().len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&data_file)
        .unwrap();
    f.set_len(len / 2).unwrap();
    drop(f);
    let why = AnnIndex::load_or_reason(dir.path(), &meta)
        .unwrap()
        .unwrap_err();
    assert!(why.contains("bytes"), "{why}");
    assert!(AnnIndex::load(dir.path(), &meta).unwrap().is_none());

    // Same size, one flipped byte in the graph: caught by the checksum.
    let graph_file = data_file.with_extension("graph");
    let mut bytes = std::fs::read(&graph_file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&graph_file, &bytes).unwrap();
    assert!(AnnIndex::load(dir.path(), &meta).unwrap().is_none());

    // No index.json at all.
    let empty = tempfile::tempdir().unwrap();
    assert!(AnnIndex::load(empty.path(), &meta).unwrap().is_none());
}

#[test]
fn serial_build_is_deterministic() {
    let (data, _) = clustered(1500, 0, 7);
    let items: Vec<(u64, &[f32])> = data
        .iter()
        .enumerate()
        .map(|(i, v)| (i as u64, v.as_slice()))
        .collect();
    let params = AnnParams {
        parallel_insert: false,
        ..AnnParams::default()
    };
    let a = AnnIndex::build_with(DIM, &items, params).unwrap();
    let b = AnnIndex::build_with(DIM, &items, params).unwrap();
    for (_, q) in items.iter().step_by(97) {
        assert_eq!(a.search(q, K, None).unwrap(), b.search(q, K, None).unwrap());
    }
}

/// The frozen copy searches the very graph hnsw_rs built: with its full
/// greedy descent through the upper layers it must find at least what
/// hnsw_rs's single-hop descent finds, at every candidate-list size, and it
/// must follow inserts (the copy is remade after the graph changes).
#[test]
fn frozen_search_is_at_least_as_good_as_hnsw_rs_and_follows_inserts() {
    let fx = Fixture::new();
    let items = fx.items();
    let queries: Vec<&[f32]> = fx.queries.iter().map(|q| q.as_slice()).collect();
    let truth = ExactIndex::new(DIM, &items)
        .unwrap()
        .search_batch(&queries, K)
        .unwrap();
    let (head, tail) = items.split_at(N - 50);
    let mut index = AnnIndex::build(DIM, head).unwrap();
    assert!(index.freeze());
    // Searched (so frozen) before the last 50 points go in: a stale copy
    // would not know them.
    index.search(tail[0].1, 1, None).unwrap();
    index.insert_many(tail).unwrap();
    for (id, v) in tail.iter().take(10) {
        assert_eq!(
            index.search(v, 1, None).unwrap()[0].0,
            *id,
            "inserted point {id}"
        );
    }
    for ef in [10, 16, 32] {
        index.set_ef_search(ef);
        let frozen: Vec<_> = queries
            .iter()
            .map(|q| index.search(q, K, None).unwrap())
            .collect();
        let own: Vec<_> = queries
            .iter()
            .map(|q| index.search_hnsw_rs(q, K).unwrap())
            .collect();
        let (rf, ro) = (recall(&frozen, &truth), recall(&own, &truth));
        eprintln!("ef {ef}: frozen recall {rf:.4}, hnsw_rs recall {ro:.4}");
        assert!(
            rf >= ro - 0.005,
            "ef {ef}: frozen {rf:.4} < hnsw_rs {ro:.4}"
        );
        for (a, b) in frozen.iter().zip(&own) {
            // Same similarities for the same ids: both score with one kernel.
            for (id, s) in a {
                if let Some((_, t)) = b.iter().find(|(j, _)| j == id) {
                    assert!((s - t).abs() < 1e-6, "id {id}: {s} vs {t}");
                }
            }
        }
    }
}
