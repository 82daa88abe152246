//! hnsw_rs (through `artlens::ann`) against brute force on clustered 768-d
//! vectors: build time, recall@10, queries per second and the latency of
//! one search, for several `ef_search` values — each for artlens's search
//! (the frozen copy of the graph) and for hnsw_rs's own search of the same
//! graph, with the ratio.
//!
//! ```text
//! cargo bench --bench ann                 # a table on stderr
//! cargo bench --bench ann -- --json       # the same numbers as JSON on stdout
//! ANN_N=20000 cargo bench --bench ann     # a smaller collection
//! ```
//!
//! Environment: `ANN_N` points (default 100,000), `ANN_QUERIES` (1,000),
//! `ANN_M` (default `AnnParams`), `ANN_EF_CONSTRUCTION`, `ANN_EF` (a list,
//! default `16,24,32,40,48,56,64,80,96,128,192,256`), `ANN_SERIAL=1` for a serial
//! build, `ANN_SEARCH_ONLY=1` to search the index the previous full run
//! saved instead of building one, `ANN_BUILD_ONLY=1` to build once and
//! print only `{"build_s": …}` (what `scripts/bench_ann.py --build-rounds`
//! alternates with hnswlib's build).
//!
//! It also writes `target/ann-bench/`: `vectors.npy` and `queries.npy`
//! (float32, raw), `truth.npy` (int64, the exact top 10 ids per query) and
//! `rust.json` (the results), which `scripts/bench_ann.py` reads to run
//! hnswlib on the very same vectors and print both side by side.
//!
//! Searches run one query at a time on one thread (a CLI answers one query);
//! the build uses every rayon thread (`RAYON_NUM_THREADS`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use artlens::ann::{AnnIndex, AnnParams, ExactIndex};

#[path = "../tests/common/clustered.rs"]
mod clustered;

use clustered::{clustered, recall, CENTRES, DIM};
const LOCAL_DIMS: usize = 32;
const K: usize = 10;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

fn median_ms(mut d: Vec<Duration>) -> f64 {
    d.sort();
    d.get(d.len() / 2)
        .map(|x| x.as_secs_f64() * 1e3)
        .unwrap_or(0.0)
}

/// Runs `search` over every query, one at a time: (results, q/s, median ms).
fn time_queries(
    queries: &[&[f32]],
    mut search: impl FnMut(&[f32]) -> Vec<(u64, f32)>,
) -> (Vec<Vec<(u64, f32)>>, f64, f64) {
    let mut lat = Vec::with_capacity(queries.len());
    let t = Instant::now();
    let results = queries
        .iter()
        .map(|q| {
            let t = Instant::now();
            let r = search(q);
            lat.push(t.elapsed());
            r
        })
        .collect();
    let qps = queries.len() as f64 / t.elapsed().as_secs_f64();
    (results, qps, median_ms(lat))
}

/// Writes a C-order `.npy` (format 1.0) of little-endian values.
fn write_npy(
    path: &Path,
    descr: &str,
    shape: (usize, usize),
    bytes: impl Iterator<Item = [u8; 8]>,
    width: usize,
) {
    let header = format!(
        "{{'descr': '{descr}', 'fortran_order': False, 'shape': ({}, {}), }}",
        shape.0, shape.1
    );
    let total = 10 + header.len() + 1;
    let pad = (64 - total % 64) % 64;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).expect("create npy"));
    out.write_all(b"\x93NUMPY\x01\x00").unwrap();
    out.write_all(&((header.len() + pad + 1) as u16).to_le_bytes())
        .unwrap();
    out.write_all(header.as_bytes()).unwrap();
    out.write_all(&vec![b' '; pad]).unwrap();
    out.write_all(b"\n").unwrap();
    for b in bytes {
        out.write_all(&b[..width]).unwrap();
    }
}

fn write_f32_npy(path: &Path, rows: &[Vec<f32>]) {
    let values = rows.iter().flat_map(|r| r.iter()).map(|x| {
        let mut b = [0u8; 8];
        b[..4].copy_from_slice(&x.to_le_bytes());
        b
    });
    write_npy(path, "<f4", (rows.len(), DIM), values, 4);
}

fn out_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("ann-bench")
}

fn main() {
    let json = std::env::args().any(|a| a == "--json");
    let n = env_usize("ANN_N", 100_000);
    let nq = env_usize("ANN_QUERIES", 1_000);
    let defaults = AnnParams::default();
    let params = AnnParams {
        max_connections: env_usize("ANN_M", defaults.max_connections),
        ef_construction: env_usize("ANN_EF_CONSTRUCTION", defaults.ef_construction),
        ef_search: defaults.ef_search,
        parallel_insert: std::env::var("ANN_SERIAL")
            .map(|v| v != "1")
            .unwrap_or(true),
    };
    let efs: Vec<usize> = std::env::var("ANN_EF")
        .unwrap_or_else(|_| "16,24,32,40,48,56,64,80,96,128,192,256".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let threads = rayon::current_num_threads();
    let log = |s: String| eprintln!("{s}");

    log(format!("generating {n} + {nq} clustered {DIM}-d vectors"));
    let (data, qdata) = clustered(n, nq, 42);
    let items: Vec<(u64, &[f32])> = data
        .iter()
        .enumerate()
        .map(|(i, v)| (i as u64, v.as_slice()))
        .collect();
    let queries: Vec<&[f32]> = qdata.iter().map(|q| q.as_slice()).collect();

    if std::env::var("ANN_BUILD_ONLY").is_ok_and(|v| v == "1") {
        let t = Instant::now();
        let index = AnnIndex::build_with(DIM, &items, params).unwrap();
        let build_s = t.elapsed().as_secs_f64();
        assert_eq!(index.len(), n);
        log(format!("built in {build_s:.1} s on {threads} threads"));
        println!(
            "{}",
            serde_json::json!({ "n": n, "threads": threads, "build_s": build_s })
        );
        return;
    }

    // Exact search: the ground truth (blocked batch) and the --exact mode
    // (one query at a time, rayon over rows).
    let t = Instant::now();
    let exact = ExactIndex::new(DIM, &items).unwrap();
    let exact_prepare_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let truth = exact.search_batch(&queries, K).unwrap();
    let truth_s = t.elapsed().as_secs_f64();
    let exact_sample: Vec<&[f32]> = queries.iter().take(100).copied().collect();
    let (exact_res, exact_qps, exact_ms) =
        time_queries(&exact_sample, |q| exact.search(q, K, None).unwrap());
    let exact_recall = recall(&exact_res, &truth[..exact_sample.len()]);
    log(format!(
        "exact: prepare {exact_prepare_s:.2} s, ground truth for {nq} queries {truth_s:.2} s, {exact_qps:.1} q/s"
    ));

    let dir = out_dir();
    std::fs::create_dir_all(&dir).unwrap();
    write_f32_npy(&dir.join("vectors.npy"), &data);
    write_f32_npy(&dir.join("queries.npy"), &qdata);
    let truth_ids = truth
        .iter()
        .flat_map(|t| t.iter())
        .map(|(id, _)| (*id as i64).to_le_bytes());
    write_npy(&dir.join("truth.npy"), "<i8", (nq, K), truth_ids, 8);
    drop(exact);

    // `ANN_SEARCH_ONLY=1` reuses the index an earlier run saved (the same
    // vectors: the generator is seeded), so that `scripts/bench_ann.py
    // --rounds R` can alternate artlens's searches with hnswlib's on a
    // noisy machine without rebuilding; the build figures are the earlier
    // run's.
    let save_dir = dir.join("index");
    let search_only = std::env::var("ANN_SEARCH_ONLY").is_ok_and(|v| v == "1");
    let (mut index, build_s, save_s, load_s) = if search_only {
        let earlier: serde_json::Value = std::fs::read(dir.join("rust.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .expect("ANN_SEARCH_ONLY=1 needs an earlier full run's rust.json");
        let meta = artlens::ann::IndexMeta::new("bench", items.iter().map(|(id, _)| *id));
        let t = Instant::now();
        let index = AnnIndex::load(&save_dir, &meta).unwrap().expect(
            "ANN_SEARCH_ONLY=1 needs the index an earlier full run of the same ANN_N saved",
        );
        let load_s = t.elapsed().as_secs_f64();
        let f = |k: &str| earlier[k].as_f64().unwrap_or(0.0);
        (index, f("build_s"), f("save_s"), load_s)
    } else {
        log(format!(
            "building hnsw: M={} ef_construction={} max_layer=16, {} insert on {threads} threads",
            params.max_connections,
            params.ef_construction,
            if params.parallel_insert {
                "parallel"
            } else {
                "serial"
            }
        ));
        let t = Instant::now();
        let index = AnnIndex::build_with(DIM, &items, params).unwrap();
        let build_s = t.elapsed().as_secs_f64();
        log(format!("built in {build_s:.1} s"));

        let t = Instant::now();
        let meta = index.meta("bench");
        index.save(&save_dir, &meta).unwrap();
        let save_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let reloaded = AnnIndex::load(&save_dir, &meta).unwrap().expect("reload");
        let load_s = t.elapsed().as_secs_f64();
        drop(reloaded);
        (index, build_s, save_s, load_s)
    };

    // The frozen copy of the graph is made on the first search; time it
    // apart so that the searches below measure searching only.
    let t = Instant::now();
    index.freeze();
    let freeze_s = t.elapsed().as_secs_f64();
    log(format!("froze the graph for search in {:.3} s", freeze_s));

    let mut rows = Vec::new();
    for &ef in &efs {
        index.set_ef_search(ef);
        let (res, qps, ms) = time_queries(&queries, |q| index.search(q, K, None).unwrap());
        let r = recall(&res, &truth);
        // hnsw_rs's own search of the very same graph: what the frozen
        // copy replaced.
        let (res_rs, qps_rs, ms_rs) =
            time_queries(&queries, |q| index.search_hnsw_rs(q, K).unwrap());
        let r_rs = recall(&res_rs, &truth);
        log(format!(
            "ef {ef:>4}: recall@{K} {r:.4}, {qps:.0} q/s, {ms:.3} ms (hnsw_rs search: {r_rs:.4}, {qps_rs:.0} q/s)"
        ));
        rows.push(
            serde_json::json!({"ef": ef, "recall": r, "qps": qps, "median_ms": ms,
            "hnsw_rs_recall": r_rs, "hnsw_rs_qps": qps_rs, "hnsw_rs_median_ms": ms_rs}),
        );
    }

    let report = serde_json::json!({
        "n": n,
        "queries": nq,
        "dim": DIM,
        "k": K,
        "generator": {"centres": CENTRES, "local_dims": LOCAL_DIMS, "seed": 42},
        "threads": threads,
        "params": {"M": params.max_connections, "ef_construction": params.ef_construction,
                   "parallel_insert": params.parallel_insert, "max_layer": 16},
        "build_s": build_s,
        "save_s": save_s,
        "load_s": load_s,
        "freeze_s": freeze_s,
        "hnsw": rows,
        "exact": {"prepare_s": exact_prepare_s, "batch_truth_s": truth_s, "qps": exact_qps,
                  "median_ms": exact_ms, "recall": exact_recall},
    });
    std::fs::write(
        dir.join("rust.json"),
        serde_json::to_vec_pretty(&report).unwrap(),
    )
    .unwrap();

    if json {
        println!("{}", serde_json::to_string_pretty(&report).unwrap());
        return;
    }
    eprintln!();
    eprintln!(
        "artlens::ann on {n} clustered {DIM}-d vectors, {nq} queries, k={K}; M={} ef_construction={}",
        params.max_connections, params.ef_construction
    );
    eprintln!("build {build_s:.1} s on {threads} threads; save {save_s:.2} s; verified load {load_s:.2} s; freeze {freeze_s:.3} s");
    eprintln!(
        "{:<14} {:>10} {:>10} {:>12} | {:>15} {:>10} {:>7}",
        "search", "recall@10", "q/s", "median ms", "hnsw_rs recall", "q/s", "ratio"
    );
    for r in &rows {
        let (qps, qps_rs) = (
            r["qps"].as_f64().unwrap(),
            r["hnsw_rs_qps"].as_f64().unwrap(),
        );
        eprintln!(
            "{:<14} {:>10.4} {:>10.0} {:>12.3} | {:>15.4} {:>10.0} {:>6.2}x",
            format!("hnsw ef={}", r["ef"]),
            r["recall"].as_f64().unwrap(),
            qps,
            r["median_ms"].as_f64().unwrap(),
            r["hnsw_rs_recall"].as_f64().unwrap(),
            qps_rs,
            qps / qps_rs
        );
    }
    eprintln!(
        "{:<14} {:>10.4} {:>10.1} {:>12.3}",
        "exact", exact_recall, exact_qps, exact_ms
    );
    eprintln!("results and vectors in {}", dir.display());
}
