//! The time and the quality of a map (`artlens map`) at 10,000 and 100,000
//! works: synthetic clustered 768-d vectors (the generator the ANN
//! benchmark and its recall test share: 100 clusters, each spread along
//! its own 32-d subspace), laid out with the default settings; the time of
//! the neighbour graph and of the whole layout, and trustworthiness at
//! k = 10 on 1,000 works asked about (ranks over all works).
//!
//! ```text
//! cargo bench --bench map
//! MAP_SIZES=10000 cargo bench --bench map
//! ```

#[path = "../tests/common/clustered.rs"]
mod clustered;

use std::time::Instant;

use artlens::map::{layout, trustworthiness, LayoutParams, Stage};

fn main() {
    let sizes: Vec<usize> = std::env::var("MAP_SIZES")
        .unwrap_or_else(|_| "10000,100000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    println!(
        "{:>8} {:>5} {:>12} {:>12} {:>16}",
        "works", "dim", "graph s", "layout s", "trust@10 (1000)"
    );
    for n in sizes {
        let (points, _) = clustered::clustered(n, 0, 42);
        let refs: Vec<&[f32]> = points.iter().map(Vec::as_slice).collect();
        let start = Instant::now();
        let mut graph_done = None;
        let map = layout(&refs, &LayoutParams::default(), &mut |stage| {
            // The last neighbour round ends the graph.
            if let Stage::Neighbours { .. } = stage {
                graph_done = Some(start.elapsed());
            }
        })
        .expect("the layout runs");
        let total = start.elapsed().as_secs_f64();
        let t = trustworthiness(&refs, &map, 10, Some(1000)).expect("trustworthiness");
        println!(
            "{:>8} {:>5} {:>12} {:>12.1} {:>16.3}",
            n,
            clustered::DIM,
            graph_done.map_or("-".into(), |d| format!("{:.1}", d.as_secs_f64())),
            total,
            t
        );
    }
}
