//! The verdict under continuous monitoring: a simulated rater answers works
//! one by one and looks at the verdict after every rating from 10 to 100.
//! Over `null` trials (neither backbone sees the taste) and `equal` trials
//! (both see it equally well) it reports the share of trials that *ever*
//! name a winner (must stay at most 5%); over `planted` trials (backbone a
//! sees the taste, b does not) the share that has named the right winner
//! by 24, 32, 48 and 64 ratings. Two procedures run on the very same
//! trials and looks:
//!
//! * `live`: the anytime-valid verdict `artlens train` now gives
//!   ([`live_track`], [`compare_live`], [`live_best`]; the answer starts at
//!   [`FIRST_ANSWER`] ratings);
//! * `fixed`: the fixed-look procedure before it, the mean over 10 5-fold
//!   splits with a widened bootstrap interval on Spearman
//!   ([`compare_backbones_repeated`]'s cross-validated comparison), read as
//!   if each look were the only one.
//!
//! The works come in random order (the synthetic works are independent, so
//! the order of generation is a random order); `VERDICT_ORDER=suggested`
//! instead walks a pool of 300 works in the order `artlens suggest --goal
//! verdict` gives ([`verdict_order`], heads refit every 5 ratings, as the
//! web app retrains after every few).
//!
//! ```text
//! cargo bench --bench verdict_monitor
//! VERDICT_TRIALS=200 VERDICT_FIXED_TRIALS=20 VERDICT_BOOT=200 cargo bench --bench verdict_monitor
//! ```
//!
//! It also times one live look at 100 ratings with 768-dimensional
//! embeddings (the size of DINO's), the cost the web app pays after a rating.

#[path = "../tests/common/rng.rs"]
mod rng;

use std::time::Instant;

use artlens::app::verdict_order;
use artlens::head::{
    compare_backbones_repeated, compare_live, compare_live_betting, fit, live_track, Backbone,
    BetRule, Betting, HeadKind, LiveTrack, MetricKind, FIRST_ANSWER, LIVE_BETTING, LIVE_START,
    LIVE_THRESHOLD_FACTOR,
};
use rng::{env_or, Rng};

const DIM: usize = 64;
const SIGNAL_DIMS: usize = 8;
const AMPLITUDE: f64 = 3.0;
const FIRST_LOOK: usize = 10;
const LAST_LOOK: usize = 100;
const POWER_AT: [usize; 4] = [24, 32, 48, 64];
/// The pool the suggested order picks from.
const POOL: usize = 300;

/// The same synthetic taste as `benches/verdict.rs`: a latent factor t per
/// work, ratings t + noise, and a seeing backbone holding t along 8 of its
/// 64 dimensions at amplitude 3.
struct Works {
    a: Vec<Vec<f32>>,
    b: Vec<Vec<f32>>,
    y: Vec<f64>,
}

fn works(scenario: &str, n: usize, seed: u64) -> Works {
    let mut rng = Rng(seed);
    let t: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
    let y: Vec<f64> = t.iter().map(|v| v + rng.normal()).collect();
    let sees = |rng: &mut Rng| -> Vec<Vec<f32>> {
        t.iter()
            .map(|&v| {
                (0..DIM)
                    .map(|j| {
                        (if j < SIGNAL_DIMS { AMPLITUDE * v } else { 0.0 } + rng.normal()) as f32
                    })
                    .collect()
            })
            .collect()
    };
    let blind = |rng: &mut Rng| -> Vec<Vec<f32>> { (0..n).map(|_| rng.vector(DIM)).collect() };
    let (a, b) = match scenario {
        "null" => (blind(&mut rng), blind(&mut rng)),
        "equal" => (sees(&mut rng), sees(&mut rng)),
        _ => (sees(&mut rng), blind(&mut rng)),
    };
    Works { a, b, y }
}

/// The order the simulated rater answers `w`'s works in: the first
/// `LAST_LOOK` (random order), or the suggested order over the pool.
fn rating_order(w: &Works, suggested: bool) -> Vec<usize> {
    if !suggested {
        return (0..LAST_LOOK).collect();
    }
    let mut rated: Vec<usize> = (0..FIRST_LOOK).collect();
    while rated.len() < LAST_LOOK {
        let candidates: Vec<usize> = (0..w.y.len()).filter(|i| !rated.contains(i)).collect();
        let ys: Vec<f64> = rated.iter().map(|&i| w.y[i]).collect();
        let preds: Vec<Vec<f64>> = [&w.a, &w.b]
            .iter()
            .map(|x| {
                let rows: Vec<Vec<f32>> = rated.iter().map(|&i| x[i].clone()).collect();
                let head = fit(&rows, &ys, HeadKind::Ridge, rated.len() as u64).expect("fit");
                x.iter().map(|r| head.predict_f64(r)).collect()
            })
            .collect();
        let xs: Vec<&[f32]> = w.a.iter().map(|r| r.as_slice()).collect();
        let next = verdict_order(&preds, &xs, &candidates, 5);
        rated.extend(next.iter().map(|(i, _)| *i).take(LAST_LOOK - rated.len()));
    }
    rated
}

/// What one procedure said over the looks of one trial: the first look at
/// which it named each backbone (a = 0, b = 1).
#[derive(Default, Clone, Copy)]
struct Looks {
    first: [Option<usize>; 2],
}

impl Looks {
    fn named(&mut self, look: usize, winner: Option<usize>) {
        if let Some(w) = winner {
            self.first[w].get_or_insert(look);
        }
    }
    fn ever(&self) -> bool {
        self.first.iter().any(Option::is_some)
    }
    /// Named a before any wrong winner, by `n` ratings.
    fn right_by(&self, n: usize) -> bool {
        matches!(self.first[0], Some(l) if l <= n)
    }
    fn wrong_by(&self, n: usize) -> bool {
        matches!(self.first[1], Some(l) if l <= n)
    }
}

/// The ways of betting, the first scored work and the threshold factor
/// (times 2m/α) the bench compares; the first is what `artlens train`
/// uses ([`LIVE_BETTING`], [`LIVE_START`], [`LIVE_THRESHOLD_FACTOR`]).
fn variants() -> Vec<(String, Betting, usize, f64)> {
    let mut v = vec![(
        "live".to_string(),
        LIVE_BETTING,
        LIVE_START,
        LIVE_THRESHOLD_FACTOR,
    )];
    let bet = |rule, centred, cap| Betting { rule, centred, cap };
    for (name, betting, start, factor) in [
        (
            "raw, plug-in c=.5, ×1",
            bet(BetRule::PlugIn, false, 0.5),
            LIVE_START,
            1.0,
        ),
        (
            "raw, aGRAPA c=.5, ×1",
            bet(BetRule::Agrapa, false, 0.5),
            LIVE_START,
            1.0,
        ),
        (
            "raw, aGRAPA c=.5, ×2",
            bet(BetRule::Agrapa, false, 0.5),
            LIVE_START,
            2.0,
        ),
        (
            "raw, aGRAPA c=.5, ×4",
            bet(BetRule::Agrapa, false, 0.5),
            LIVE_START,
            4.0,
        ),
        (
            "raw, aGRAPA c=.5, ×8",
            bet(BetRule::Agrapa, false, 0.5),
            LIVE_START,
            8.0,
        ),
        (
            "raw, plug-in c=.5, ×4",
            bet(BetRule::PlugIn, false, 0.5),
            LIVE_START,
            4.0,
        ),
        (
            "raw, aGRAPA c=.75, ×4",
            bet(BetRule::Agrapa, false, 0.75),
            LIVE_START,
            4.0,
        ),
        (
            "raw, aGRAPA c=.5, ×4, from 10",
            bet(BetRule::Agrapa, false, 0.5),
            10,
            4.0,
        ),
        (
            "beyond chance, aGRAPA c=.5, ×1",
            bet(BetRule::Agrapa, true, 0.5),
            LIVE_START,
            1.0,
        ),
    ] {
        if (betting, start, factor) != (LIVE_BETTING, LIVE_START, LIVE_THRESHOLD_FACTOR) {
            v.push((name.to_string(), betting, start, factor));
        }
    }
    v
}

/// The live procedure at every look, for each variant. Each work's score
/// depends only on the works rated up to it (`live_track` documents and
/// `tests/head.rs` checks this), so the track of the whole sequence, cut at
/// each look, is what the verdict computes at that look. A later first
/// scored work is the same track with the earlier scores dropped; another
/// threshold factor rescales the winning wealth `compare_live` reports.
fn live_looks(a: &[Vec<f32>], b: &[Vec<f32>], y: &[f64], stats: &mut Stats) -> Vec<Looks> {
    let ta = live_track(a, y).expect("track a");
    let tb = live_track(b, y).expect("track b");
    stats.add(&ta, &tb);
    variants()
        .iter()
        .map(|(_, betting, start, factor)| {
            let keep = |v: &[Option<f64>], n: usize| -> Vec<Option<f64>> {
                (0..n)
                    .map(|i| if i < *start { None } else { v[i] })
                    .collect()
            };
            let cut = |t: &LiveTrack, n: usize| LiveTrack {
                agreement: keep(&t.agreement, n),
                chance: keep(&t.chance, n),
            };
            let mut looks = Looks::default();
            for n in FIRST_ANSWER..=LAST_LOOK {
                let live = compare_live_betting(&["a", "b"], &[cut(&ta, n), cut(&tb, n)], *betting);
                let c = &live[0];
                let threshold = c.threshold / LIVE_THRESHOLD_FACTOR * factor;
                let winner = if c.e_b >= threshold {
                    Some(1)
                } else if c.e_a >= threshold {
                    Some(0)
                } else {
                    None
                };
                looks.named(n, winner);
            }
            looks
        })
        .collect()
}

/// Mean headline of each backbone and mean per-work difference, at 24 and
/// 64 ratings, and the spread of the per-work differences.
#[derive(Default)]
struct Stats {
    trials: usize,
    sums: [[f64; 3]; 2],
    diffs: Vec<f64>,
}

impl Stats {
    fn add(&mut self, a: &LiveTrack, b: &LiveTrack) {
        self.trials += 1;
        for (k, n) in [24usize, 64].into_iter().enumerate() {
            let mean = |t: &LiveTrack| {
                let v: Vec<f64> = t.agreement[..n].iter().flatten().copied().collect();
                v.iter().sum::<f64>() / v.len().max(1) as f64
            };
            let (ha, hb) = (mean(a), mean(b));
            self.sums[k][0] += ha;
            self.sums[k][1] += hb;
            self.sums[k][2] += hb - ha;
        }
        for (x, z) in a.agreement.iter().zip(&b.agreement) {
            if let (Some(x), Some(z)) = (x, z) {
                self.diffs.push(z - x);
            }
        }
    }
    fn line(&self) -> String {
        let n = self.trials.max(1) as f64;
        let m = self.diffs.iter().sum::<f64>() / self.diffs.len().max(1) as f64;
        let sd = (self.diffs.iter().map(|d| (d - m).powi(2)).sum::<f64>()
            / self.diffs.len().max(1) as f64)
            .sqrt();
        format!(
            "mean headline a {:.3} / b {:.3} at 24, a {:.3} / b {:.3} at 64; per-work difference b − a mean {:+.3}, sd {:.3}",
            self.sums[0][0] / n,
            self.sums[0][1] / n,
            self.sums[1][0] / n,
            self.sums[1][1] / n,
            m,
            sd
        )
    }
}

/// The former fixed-look procedure at every look: a winner whenever the
/// cross-validated Spearman comparison is significant.
fn fixed_looks(a: &[Vec<f32>], b: &[Vec<f32>], y: &[f64], seed: u64, n_boot: usize) -> Looks {
    let mut looks = Looks::default();
    for n in FIRST_LOOK..=LAST_LOOK {
        let bb = [
            Backbone::new("a", "A", &a[..n]),
            Backbone::new("b", "B", &b[..n]),
        ];
        let r = compare_backbones_repeated(&bb, &y[..n], HeadKind::Ridge, 5, 10, seed, n_boot)
            .expect("fixed");
        let c = r.comparison(MetricKind::Spearman).expect("two backbones");
        let winner = c.winner().map(|w| usize::from(w == "b"));
        looks.named(n, winner);
    }
    looks
}

fn share(k: usize, n: usize) -> String {
    format!("{:5.1}% ({k}/{n})", 100.0 * k as f64 / n.max(1) as f64)
}

fn main() {
    let trials = env_or::<usize>("VERDICT_TRIALS", 200);
    let fixed_trials = env_or::<usize>("VERDICT_FIXED_TRIALS", 20);
    let n_boot = env_or::<usize>("VERDICT_BOOT", 200);
    let suggested = std::env::var("VERDICT_ORDER").is_ok_and(|v| v == "suggested");
    let scenarios: Vec<String> = std::env::var("VERDICT_SCENARIOS")
        .ok()
        .map(|s| s.split(',').map(|v| v.trim().to_string()).collect())
        .unwrap_or_else(|| vec!["null".into(), "equal".into(), "planted".into()]);
    eprintln!(
        "order: {}; looks after every rating from {FIRST_LOOK} to {LAST_LOOK}; live answer from {FIRST_ANSWER}",
        if suggested { "suggested (verdict_order, refit every 5)" } else { "random" }
    );
    let names: Vec<String> = variants().into_iter().map(|v| v.0).collect();
    for scenario in &scenarios {
        let mut live: Vec<Vec<Looks>> = vec![Vec::new(); names.len()];
        let mut fixed = Vec::new();
        let mut stats = Stats::default();
        let started = Instant::now();
        for t in 0..trials as u64 {
            let pool = if suggested { POOL } else { LAST_LOOK };
            let w = works(scenario, pool, 7_000_000 + 1000 * t);
            let order = rating_order(&w, suggested);
            let pick = |x: &[Vec<f32>]| order.iter().map(|&i| x[i].clone()).collect::<Vec<_>>();
            let (a, b) = (pick(&w.a), pick(&w.b));
            let y: Vec<f64> = order.iter().map(|&i| w.y[i]).collect();
            for (v, looks) in live_looks(&a, &b, &y, &mut stats).into_iter().enumerate() {
                live[v].push(looks);
            }
            if (t as usize) < fixed_trials {
                fixed.push(fixed_looks(&a, &b, &y, t, n_boot));
            }
        }
        let rows = names
            .iter()
            .map(String::as_str)
            .zip(live.iter())
            .chain(std::iter::once(("fixed", &fixed)));
        for (name, looks) in rows {
            if looks.is_empty() {
                continue;
            }
            let n = looks.len();
            if scenario == "planted" {
                let cells: Vec<String> = POWER_AT
                    .iter()
                    .map(|&at| {
                        format!(
                            "by {at}: {} right, {} wrong",
                            share(looks.iter().filter(|l| l.right_by(at)).count(), n),
                            looks.iter().filter(|l| l.wrong_by(at)).count()
                        )
                    })
                    .collect();
                eprintln!("{scenario:<8} {name:<36} {}", cells.join("; "));
            } else {
                eprintln!(
                    "{scenario:<8} {name:<36} ever named a winner in {}",
                    share(looks.iter().filter(|l| l.ever()).count(), n)
                );
            }
        }
        eprintln!("{scenario:<8} {}", stats.line());
        eprintln!("{scenario:<8} ({:.0} s)", started.elapsed().as_secs_f64());
    }

    // One look's cost at 100 ratings, 768 dimensions, two backbones.
    if env_or::<usize>("VERDICT_TIMING", 1) > 0 {
        let mut rng = Rng(99);
        let x: Vec<Vec<f32>> = (0..100).map(|_| rng.vector(768)).collect();
        let z: Vec<Vec<f32>> = (0..100).map(|_| rng.vector(768)).collect();
        let y: Vec<f64> = (0..100).map(|_| rng.normal()).collect();
        let started = Instant::now();
        let ta = live_track(&x, &y).expect("track");
        let tb = live_track(&z, &y).expect("track");
        let _ = compare_live(&["a", "b"], &[ta, tb]);
        let live_s = started.elapsed().as_secs_f64();
        let started = Instant::now();
        let bb = [Backbone::new("a", "A", &x), Backbone::new("b", "B", &z)];
        let _ =
            compare_backbones_repeated(&bb, &y, HeadKind::Ridge, 5, 10, 0, 2000).expect("train");
        let all_s = started.elapsed().as_secs_f64();
        eprintln!(
            "one look at 100 ratings, d = 768, two backbones: live verdict {:.3} s; whole train report (10×5-fold CV, 2000 resamples, live verdict) {:.3} s",
            live_s, all_s
        );
    }
}
