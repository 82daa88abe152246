//! Shared by `tests/ann_recall.rs` and `benches/ann.rs` (included with
//! `#[path]`): seeded clustered 768-d vectors and recall@k, so the test and
//! the benchmark measure the same data the same way.
#![allow(dead_code)]

use std::collections::HashSet;

pub const DIM: usize = 768;
pub const CENTRES: usize = 100;

/// splitmix64: a tiny seeded generator, so the data is the same everywhere.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f32 {
        let (u, v) = (self.uniform(), self.uniform());
        ((-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()) as f32
    }
}

/// Points around `CENTRES` random unit centres; each cluster spreads along
/// its own 32-d subspace plus isotropic noise, like embeddings whose
/// neighbours differ in a few directions. The same generator as
/// `benches/ann.rs`: the clusters come from `seed`, the first `n` points
/// are the data and the next `queries` the queries (same clusters, unseen
/// points).
pub fn clustered(n: usize, queries: usize, seed: u64) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    const LOCAL_DIMS: usize = 32;
    let mut rng = Rng(seed);
    let unit = |rng: &mut Rng| -> Vec<f32> {
        let v: Vec<f32> = (0..DIM).map(|_| rng.normal()).collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.into_iter().map(|x| x / norm).collect()
    };
    let clusters: Vec<(Vec<f32>, Vec<Vec<f32>>)> = (0..CENTRES)
        .map(|_| {
            (
                unit(&mut rng),
                (0..LOCAL_DIMS).map(|_| unit(&mut rng)).collect(),
            )
        })
        .collect();
    let noise = 0.3 / (DIM as f32).sqrt();
    let mut points: Vec<Vec<f32>> = (0..n + queries)
        .map(|_| {
            let (centre, basis) = &clusters[(rng.next_u64() % CENTRES as u64) as usize];
            let mut v = centre.clone();
            for b in basis {
                let z = 0.35 * rng.normal();
                for (x, y) in v.iter_mut().zip(b) {
                    *x += z * y;
                }
            }
            for x in v.iter_mut() {
                *x += noise * rng.normal();
            }
            v
        })
        .collect();
    let qs = points.split_off(n);
    (points, qs)
}

pub fn recall(got: &[Vec<(u64, f32)>], truth: &[Vec<(u64, f32)>]) -> f64 {
    let mut hit = 0usize;
    let mut total = 0usize;
    for (g, t) in got.iter().zip(truth) {
        let want: HashSet<u64> = t.iter().map(|r| r.0).collect();
        hit += g.iter().filter(|r| want.contains(&r.0)).count();
        total += t.len();
    }
    hit as f64 / total as f64
}
