//! How much one machine needs per work: builds the ANN index over N
//! clustered random vectors of one backbone's width, as `index` and `merge`
//! do, and prints the resident memory it took, the build time and the size
//! of the saved index, so that the README's "where one machine stops"
//! figures can be re-measured anywhere:
//!
//! ```text
//! cargo run --release --example scale_memory -- 100000 768
//! ```
//!
//! Memory is read from the kernel (`VmRSS` in `/proc/self/status`, Linux
//! only) before and after; the vectors themselves are counted separately.

use std::time::Instant;

use artlens::ann::{AnnIndex, IndexMeta};

fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(50_000);
    let dim: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(768);
    // Clustered vectors (64 centres plus noise), like embeddings of a collection.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    let centres: Vec<Vec<f32>> = (0..64)
        .map(|_| (0..dim).map(|_| next()).collect())
        .collect();
    let vectors: Vec<Vec<f32>> = (0..n)
        .map(|i| centres[i % 64].iter().map(|c| c + 0.3 * next()).collect())
        .collect();
    let items: Vec<(u64, &[f32])> = vectors
        .iter()
        .enumerate()
        .map(|(i, v)| (i as u64 + 1, v.as_slice()))
        .collect();
    let before = rss_bytes().unwrap_or(0);
    let start = Instant::now();
    let index = match AnnIndex::build(dim, &items) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("build failed: {e}");
            std::process::exit(2);
        }
    };
    let build_s = start.elapsed().as_secs_f64();
    let after = rss_bytes().unwrap_or(0);
    let dir = std::env::temp_dir().join(format!("artlens-scale-memory-{}", std::process::id()));
    let meta = IndexMeta::new("{}", items.iter().map(|(id, _)| *id));
    let saved = index.save(&dir, &meta).map(|_| {
        std::fs::read_dir(&dir)
            .map(|d| {
                d.filter_map(|e| e.ok()?.metadata().ok())
                    .map(|m| m.len())
                    .sum::<u64>()
            })
            .unwrap_or(0)
    });
    let _ = std::fs::remove_dir_all(&dir);
    let vectors_bytes = (n * dim * 4) as f64;
    let index_bytes = after.saturating_sub(before) as f64;
    println!("n {n} dim {dim}");
    println!(
        "vectors (f32): {:.1} MB = {:.0} B/work",
        vectors_bytes / 1e6,
        vectors_bytes / n as f64
    );
    println!(
        "ANN index in memory (RSS growth): {:.1} MB = {:.0} B/work",
        index_bytes / 1e6,
        index_bytes / n as f64
    );
    match saved {
        Ok(bytes) => println!(
            "ANN index on disk: {:.1} MB = {:.0} B/work",
            bytes as f64 / 1e6,
            bytes as f64 / n as f64
        ),
        Err(e) => println!("ANN index on disk: not saved ({e})"),
    }
    println!("build: {build_s:.1} s = {:.0} works/s", n as f64 / build_s);
}
