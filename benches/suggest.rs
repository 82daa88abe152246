//! How many ratings a simulated rater needs before the verdict between two
//! backbones names a winner, rating works in the order `artlens suggest
//! --goal verdict` proposes against a random order, on planted data: a pool
//! of works, backbone `a` sees the latent factor the ratings follow
//! (held-out Spearman about 0.5), backbone `b` sees nothing.
//!
//! Both orders start from the same random works; then, in rounds, the
//! comparison `artlens train` runs (10 × 5-fold, the same bootstrap) is
//! redone on the rated works, and when its Spearman interval does not yet
//! exclude zero, a batch more is rated: the next random works, or the
//! works [`verdict_order`] picks from heads fitted on the ratings so far.
//! A run that never gets there by the cap counts as the cap.
//!
//! ```text
//! cargo bench --bench suggest
//! SUGGEST_SEEDS=20 SUGGEST_POOL=400 SUGGEST_CAP=160 cargo bench --bench suggest
//! ```
//!
//! It also runs the null (neither backbone sees the taste) and reports how
//! often each order names a winner by the cap: testing after every batch is
//! sequential testing, so both orders exceed 5% there; the comparison is of
//! the two orders with each other.

#[path = "../tests/common/rng.rs"]
mod rng;

use artlens::app::verdict_order;
use artlens::head::{compare_backbones_repeated, fit, Backbone, HeadKind, MetricKind};
use rng::{env_or, Rng};

const DIM: usize = 64;
const SIGNAL_DIMS: usize = 8;
const AMPLITUDE: f64 = 3.0;
const RATING_NOISE: f64 = 1.0;
const FOLDS: usize = 5;
const REPEATS: usize = 10;

struct Pool {
    a: Vec<Vec<f32>>,
    b: Vec<Vec<f32>>,
    /// The rating the simulated rater gives each work.
    y: Vec<f64>,
}

fn pool(n: usize, seed: u64, planted: bool) -> Pool {
    let mut rng = Rng(seed);
    let t: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
    let y = t.iter().map(|v| v + RATING_NOISE * rng.normal()).collect();
    let view = |sees: bool, rng: &mut Rng| -> Vec<Vec<f32>> {
        t.iter()
            .map(|&v| {
                (0..DIM)
                    .map(|j| {
                        let s = if sees && j < SIGNAL_DIMS {
                            AMPLITUDE * v
                        } else {
                            0.0
                        };
                        (s + rng.normal()) as f32
                    })
                    .collect()
            })
            .collect()
    };
    let a = view(planted, &mut rng);
    let b = view(false, &mut rng);
    Pool { a, b, y }
}

/// Whether the comparison on the rated works names a winner (and which:
/// true for `a`).
fn verdict(p: &Pool, rated: &[usize], seed: u64, n_boot: usize) -> Option<bool> {
    let a: Vec<Vec<f32>> = rated.iter().map(|&i| p.a[i].clone()).collect();
    let b: Vec<Vec<f32>> = rated.iter().map(|&i| p.b[i].clone()).collect();
    let y: Vec<f64> = rated.iter().map(|&i| p.y[i]).collect();
    let bb = [Backbone::new("a", "A", &a), Backbone::new("b", "B", &b)];
    let r =
        compare_backbones_repeated(&bb, &y, HeadKind::Ridge, FOLDS, REPEATS, seed, n_boot).ok()?;
    let c = r.comparison(MetricKind::Spearman)?;
    if c.ci_high < 0.0 {
        Some(true)
    } else if c.ci_low > 0.0 {
        Some(false)
    } else {
        None
    }
}

/// Ratings needed (the cap when never), and the winner named if any.
fn run(
    p: &Pool,
    suggest: bool,
    start: usize,
    batch: usize,
    cap: usize,
    seed: u64,
    n_boot: usize,
) -> (usize, Option<bool>) {
    let n = p.y.len();
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = Rng(seed ^ 0xabcd);
    for i in (1..n).rev() {
        let j = rng.below(i + 1);
        order.swap(i, j);
    }
    let mut rated: Vec<usize> = order[..start].to_vec();
    let mut next_random = start;
    loop {
        if let Some(w) = verdict(p, &rated, seed, n_boot) {
            return (rated.len(), Some(w));
        }
        if rated.len() >= cap {
            return (cap, None);
        }
        if suggest {
            let ya: Vec<f64> = rated.iter().map(|&i| p.y[i]).collect();
            let xa: Vec<Vec<f32>> = rated.iter().map(|&i| p.a[i].clone()).collect();
            let xb: Vec<Vec<f32>> = rated.iter().map(|&i| p.b[i].clone()).collect();
            let ha = fit(&xa, &ya, HeadKind::Ridge, seed).expect("head a");
            let hb = fit(&xb, &ya, HeadKind::Ridge, seed).expect("head b");
            let preds = vec![
                p.a.iter().map(|x| ha.predict_f64(x)).collect::<Vec<f64>>(),
                p.b.iter().map(|x| hb.predict_f64(x)).collect::<Vec<f64>>(),
            ];
            let rows: Vec<&[f32]> = p.a.iter().map(|r| r.as_slice()).collect();
            let candidates: Vec<usize> = (0..n).filter(|i| !rated.contains(i)).collect();
            for (i, _) in verdict_order(&preds, &rows, &candidates, batch) {
                rated.push(i);
            }
        } else {
            let end = (next_random + batch).min(n);
            rated.extend_from_slice(&order[next_random..end]);
            next_random = end;
        }
    }
}

fn main() {
    let seeds = env_or::<usize>("SUGGEST_SEEDS", 20) as u64;
    let pool_n = env_or::<usize>("SUGGEST_POOL", 400);
    let cap = env_or::<usize>("SUGGEST_CAP", 160);
    let start = env_or::<usize>("SUGGEST_START", 12);
    let batch = env_or::<usize>("SUGGEST_BATCH", 4);
    let n_boot = env_or::<usize>("SUGGEST_BOOT", 300);
    for planted in [true, false] {
        let (mut sum_r, mut sum_s, mut named_r, mut named_s) = (0, 0, 0, 0);
        for s in 0..seeds {
            let p = pool(pool_n, 1000 + s, planted);
            let (nr, wr) = run(&p, false, start, batch, cap, s, n_boot);
            let (ns, ws) = run(&p, true, start, batch, cap, s, n_boot);
            sum_r += nr;
            sum_s += ns;
            named_r += wr.is_some() as usize;
            named_s += ws.is_some() as usize;
            eprintln!(
                "{} seed {s}: random {nr}{}, suggest {ns}{}",
                if planted { "planted" } else { "null" },
                if wr.is_some() { "" } else { " (cap)" },
                if ws.is_some() { "" } else { " (cap)" }
            );
        }
        let (mr, ms) = (sum_r as f64 / seeds as f64, sum_s as f64 / seeds as f64);
        eprintln!(
            "{}: mean ratings to a verdict (cap {cap} counted as {cap}): random order {mr:.1}, suggest {ms:.1} ({:+.0}%); a winner named by the cap: random {named_r}/{seeds}, suggest {named_s}/{seeds}",
            if planted { "planted (a sees the taste)" } else { "null (neither does)" },
            100.0 * (ms - mr) / mr
        );
    }
}
