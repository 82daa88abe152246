use super::*;
use crate::vector::code;
use hnsw_rs::prelude::Distance;

/// `n` deterministic `dim`-long vectors from `seed`.
fn data(seed: u64, n: usize, dim: usize) -> Vec<Vec<f32>> {
    let mut s = seed;
    (0..n)
        .map(|_| (0..dim).map(|_| lcg(&mut s)).collect())
        .collect()
}

/// `data` as `(id, vector)` items, the `i`-th with id `id(i)`.
fn items(data: &[Vec<f32>], id: impl Fn(u64) -> u64) -> Vec<(u64, &[f32])> {
    data.iter()
        .enumerate()
        .map(|(i, v)| (id(i as u64), v.as_slice()))
        .collect()
}

/// The ids of search results, in their order.
fn ids_of(hits: &[(u64, f32)]) -> Vec<u64> {
    hits.iter().map(|r| r.0).collect()
}

fn lcg(seed: &mut u64) -> f32 {
    *seed = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    ((*seed >> 40) as f32 / (1u64 << 24) as f32) - 0.5
}

#[test]
fn distance_is_clamped() {
    let v = code::encode(&normalised(&[0.3, 0.4, 0.5, 1e-3], 4).unwrap());
    assert!(CodeCosine.eval(&v, &v) >= 0.0);
    let w: Vec<i16> = v.iter().map(|x| -x).collect();
    assert!((CodeCosine.eval(&v, &w) - 2.0).abs() < 1e-4);
}

#[test]
fn bad_vectors_are_rejected() {
    assert!(AnnIndex::build(2, &[(1, &[0.0, 0.0])]).is_err());
    assert!(AnnIndex::build(2, &[(1, &[f32::NAN, 1.0])]).is_err());
    assert!(AnnIndex::build(2, &[(1, &[1.0])]).is_err());
    assert!(AnnIndex::build(2, &[(1, &[1.0, 0.0]), (1, &[0.0, 1.0])]).is_err());
    assert!(ExactIndex::new(2, &[(1, &[0.0, 0.0])]).is_err());
}

#[test]
fn small_index_finds_itself_and_filters() {
    let data = data(7, 300, 16);
    let items = items(&data, |i| i * 3);
    let params = AnnParams {
        parallel_insert: false,
        ..AnnParams::default()
    };
    let index = AnnIndex::build_with(16, &items, params).unwrap();
    let exact = ExactIndex::new(16, &items).unwrap();
    for (id, v) in items.iter().take(20) {
        let got = index.search(v, 5, None).unwrap();
        assert_eq!(got[0].0, *id);
        assert!((got[0].1 - 1.0).abs() < 1e-5);
        assert_eq!(exact.search(v, 5, None).unwrap()[0].0, *id);
        assert_eq!(exact_search(&items, v, 5, None).unwrap()[0].0, *id);
    }
    // A filter that keeps 3 points out of 300 still yields them all.
    let keep = |id: u64| id.is_multiple_of(100);
    let got = index.search(items[1].1, 10, Some(&keep)).unwrap();
    let mut ids = ids_of(&got);
    ids.sort();
    assert_eq!(ids, vec![0, 300, 600]);
    let want = exact.search(items[1].1, 10, Some(&keep)).unwrap();
    assert_eq!(ids_of(&got), ids_of(&want));
}

#[test]
fn exact_batch_matches_single() {
    let data = data(3, 500, 24);
    let items = items(&data, |i| i);
    let exact = ExactIndex::new(24, &items).unwrap();
    let queries: Vec<&[f32]> = data.iter().take(40).map(|v| v.as_slice()).collect();
    let batch = exact.search_batch(&queries, 7).unwrap();
    for (q, b) in queries.iter().zip(&batch) {
        let single = exact.search(q, 7, None).unwrap();
        assert_eq!(ids_of(&single), ids_of(b));
    }
}

#[test]
fn saved_index_can_be_extended() {
    let data = data(11, 120, 16);
    let items = items(&data, |i| i + 1);
    let dir = tempfile::tempdir().unwrap();
    let index = AnnIndex::build(16, &items[..100]).unwrap();
    index.save(dir.path(), &index.meta("fp")).unwrap();

    let all = IndexMeta::new("fp", items.iter().map(|(id, _)| *id));
    assert!(AnnIndex::load(dir.path(), &all).unwrap().is_none());
    assert!(AnnIndex::load_for_update_with_meta(dir.path(), "other")
        .unwrap()
        .is_err());
    let (mut loaded, _) = AnnIndex::load_for_update_with_meta(dir.path(), "fp")
        .unwrap()
        .unwrap();
    assert_eq!(loaded.len(), 100);
    assert!(
        loaded.insert_many(&items[99..]).is_err(),
        "id 100 is already there"
    );
    loaded.insert_many(&items[100..]).unwrap();
    assert!(
        loaded.save(dir.path(), &index.meta("fp")).is_err(),
        "meta must describe the index"
    );
    loaded.save(dir.path(), &all).unwrap();
    let back = AnnIndex::load(dir.path(), &all).unwrap().unwrap();
    assert_eq!(back.len(), 120);
    assert_eq!(back.search(items[110].1, 1, None).unwrap()[0].0, 111);
}

#[test]
fn empty_index_saves_and_loads() {
    let dir = tempfile::tempdir().unwrap();
    let index = AnnIndex::build(8, &[]).unwrap();
    assert!(index.search(&[1.0; 8], 3, None).unwrap().is_empty());
    let meta = index.meta("fp");
    index.save(dir.path(), &meta).unwrap();
    let mut back = AnnIndex::load(dir.path(), &meta)
        .unwrap()
        .expect("empty index reloads");
    assert!(back.is_empty());
    // The reloaded index keeps its dimension: it refuses a 4-long vector and
    // takes an 8-long one.
    assert!(back.insert_many(&[(1, &[1.0; 4])]).is_err());
    back.insert_many(&[(1, &[1.0; 8])]).unwrap();
    let other = IndexMeta::new("fp", [1]);
    assert!(AnnIndex::load(dir.path(), &other).unwrap().is_none());
}
