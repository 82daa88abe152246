//! Calibration and power of the verdict between two backbones: how often
//! the Spearman interval excludes zero when the backbones are in truth
//! equally good (false positives, must stay at most 5%), and how often it
//! does on a planted case where one backbone carries the taste (held-out
//! Spearman about 0.5) and the other carries nothing (about 0), at 24, 32
//! and 48 ratings. Each procedure runs on the very same trials:
//!
//! * `single`: one 5-fold split, bootstrap widened by √(1 + K/(K − 1))
//!   (the procedure before issue 9, [`compare_backbones`]);
//! * `repeated`: the mean over R = 10 independent 5-fold splits, bootstrap
//!   of that mean widened by the same √(1 + K/(K − 1))
//!   ([`compare_backbones_repeated`], what `artlens train` runs now).
//!
//! ```text
//! cargo bench --bench verdict                     # the table on stderr
//! VERDICT_NULL_TRIALS=200 VERDICT_POWER_TRIALS=100 VERDICT_BOOT=500 cargo bench --bench verdict
//! VERDICT_NOISE=0.62 cargo bench --bench verdict  # the case of the issue's baseline (see src/head/cv.rs)
//! ```
//!
//! It also prints, per procedure, the ratio of the trial-to-trial spread of
//! the Spearman difference under the null to the interval's half-width /
//! 1.96: about 1 when the interval is as wide as it should be.
//!
//! With the null, equal and planted scenarios all run at a size, it prints
//! the *oracle* power too: what a test would reach that knew the true null
//! spread of the difference instead of estimating it (see `oracle_power`),
//! an upper bound for any calibrated interval around the same statistic.

#[path = "../tests/common/rng.rs"]
mod rng;

use artlens::head::{
    compare_backbones, compare_backbones_repeated, Backbone, HeadKind, MetricKind, TrainReport,
};
use rng::{env_or, Rng};

const FOLDS: usize = 5;
const REPEATS: usize = 10;
const DIM: usize = 64;
/// Dimensions of a seeing backbone that hold the latent factor.
const SIGNAL_DIMS: usize = 8;
/// How strongly they hold it (against unit noise).
const AMPLITUDE: f64 = 3.0;
/// The rating noise: y = t + RATING_NOISE · noise.
const RATING_NOISE: f64 = 1.0;

/// The planted taste: a latent factor t per work decides the rating
/// (y = t + `VERDICT_NOISE`·noise, 1.0 by default, so even a perfect head
/// reaches a Spearman of only about 0.69), and a backbone that sees it holds
/// t along `SIGNAL_DIMS` (8) of its 64 dimensions at amplitude `VERDICT_AMP`
/// (3), plus unit noise everywhere. Returns (t, y).
fn taste(n: usize, rng: &mut Rng) -> (Vec<f64>, Vec<f64>) {
    let t: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
    let noise = env_or::<f64>("VERDICT_NOISE", RATING_NOISE);
    let y = t.iter().map(|v| v + noise * rng.normal()).collect();
    (t, y)
}

fn sees(t: &[f64], rng: &mut Rng) -> Vec<Vec<f32>> {
    let amp = env_or::<f64>("VERDICT_AMP", AMPLITUDE);
    t.iter()
        .map(|&v| {
            (0..DIM)
                .map(|j| (if j < SIGNAL_DIMS { amp * v } else { 0.0 } + rng.normal()) as f32)
                .collect()
        })
        .collect()
}

fn blind(n: usize, rng: &mut Rng) -> Vec<Vec<f32>> {
    (0..n)
        .map(|_| (0..DIM).map(|_| rng.normal() as f32).collect())
        .collect()
}

/// One trial's data: backbone a's embeddings, backbone b's, the ratings.
type Trial = (Vec<Vec<f32>>, Vec<Vec<f32>>, Vec<f64>);

/// `a` sees the taste, `b` does not.
fn planted(n: usize, seed: u64) -> Trial {
    let mut rng = Rng(seed);
    let (t, y) = taste(n, &mut rng);
    (sees(&t, &mut rng), blind(n, &mut rng), y)
}

/// Neither sees it.
fn null(n: usize, seed: u64) -> Trial {
    let mut rng = Rng(seed);
    let (_, y) = taste(n, &mut rng);
    (blind(n, &mut rng), blind(n, &mut rng), y)
}

/// Both see it, through independent noise: equally good.
fn equal(n: usize, seed: u64) -> Trial {
    let mut rng = Rng(seed);
    let (t, y) = taste(n, &mut rng);
    (sees(&t, &mut rng), sees(&t, &mut rng), y)
}

#[derive(Default)]
struct Tally {
    trials: usize,
    excluded: usize,
    correct_winner: usize,
    diffs: Vec<f64>,
    half: Vec<f64>,
    sp_a: f64,
    sp_b: f64,
}

impl Tally {
    fn add(&mut self, r: &TrainReport) {
        let c = r.comparison(MetricKind::Spearman).expect("two backbones");
        self.trials += 1;
        self.excluded += (c.ci_low > 0.0 || c.ci_high < 0.0) as usize;
        // `a` carries the signal in the planted case: b − a < 0.
        self.correct_winner += (c.ci_high < 0.0) as usize;
        self.diffs.push(c.diff);
        self.half.push((c.ci_high - c.ci_low) / 2.0);
        self.sp_a += c.value_a;
        self.sp_b += c.value_b;
    }
    fn rate(&self, k: usize) -> f64 {
        100.0 * k as f64 / self.trials.max(1) as f64
    }
    fn spread_ratio(&self) -> f64 {
        let n = self.half.len().max(1) as f64;
        let hw = self.half.iter().sum::<f64>() / n;
        spread(self) / (hw / 1.96)
    }
}

/// Runs one scenario at one size and returns the (single, repeated) tallies.
fn run(
    scenario: &str,
    make: fn(usize, u64) -> Trial,
    n: usize,
    trials: usize,
    n_boot: usize,
) -> (Tally, Tally) {
    let (mut single, mut repeated) = (Tally::default(), Tally::default());
    for t in 0..trials as u64 {
        let (a, b, y) = make(n, 10_000 * n as u64 + t);
        let bb = [Backbone::new("a", "A", &a), Backbone::new("b", "B", &b)];
        let r1 = compare_backbones(&bb, &y, HeadKind::Ridge, FOLDS, t, n_boot).expect("single");
        let r10 = compare_backbones_repeated(&bb, &y, HeadKind::Ridge, FOLDS, REPEATS, t, n_boot)
            .expect("repeated");
        single.add(&r1);
        repeated.add(&r10);
    }
    for (name, tally) in [("single", &single), ("repeated", &repeated)] {
        let k = if scenario == "planted" {
            tally.correct_winner
        } else {
            tally.excluded
        };
        eprintln!(
            "{scenario:<8} n={n:<3} {name:<9} {:>5.1}% ({k}/{}) interval excludes zero{}; mean Spearman a {:.2}, b {:.2}; sd/(half-width/1.96) {:.2}",
            tally.rate(k),
            tally.trials,
            if scenario == "planted" { " with a the winner" } else { "" },
            tally.sp_a / tally.trials as f64,
            tally.sp_b / tally.trials as f64,
            tally.spread_ratio()
        );
    }
    (single, repeated)
}

/// The trial-to-trial standard deviation of the Spearman difference.
fn spread(t: &Tally) -> f64 {
    let n = t.diffs.len().max(1) as f64;
    let mean = t.diffs.iter().sum::<f64>() / n;
    (t.diffs.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / n).sqrt()
}

/// The power an *oracle* test would have with this statistic: one that
/// knew, instead of estimating from the trial's own works, how much the
/// difference varies between trials when the backbones are equally good
/// (the larger of the null and equal scenarios' spreads), and called `a`
/// the winner when the difference passed 1.96 of those. No calibrated
/// procedure built on the same cross-validated difference can beat it by
/// more than chance, so it bounds what a better interval could buy.
fn oracle_power(planted: &Tally, nulls: &[&Tally]) -> f64 {
    let sd = nulls.iter().map(|t| spread(t)).fold(0.0, f64::max);
    let wins = planted.diffs.iter().filter(|&&d| d < -1.96 * sd).count();
    100.0 * wins as f64 / planted.diffs.len().max(1) as f64
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is read from the arguments.
    let null_trials = env_or::<usize>("VERDICT_NULL_TRIALS", 200);
    let power_trials = env_or::<usize>("VERDICT_POWER_TRIALS", 100);
    let n_boot = env_or::<usize>("VERDICT_BOOT", 500);
    let sizes: Vec<usize> = std::env::var("VERDICT_N")
        .ok()
        .map(|s| s.split(',').filter_map(|v| v.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![24, 32, 48]);
    let scenarios: Vec<String> = std::env::var("VERDICT_SCENARIOS")
        .ok()
        .map(|s| s.split(',').map(|v| v.trim().to_string()).collect())
        .unwrap_or_else(|| vec!["null".into(), "equal".into(), "planted".into()]);
    for &n in &sizes {
        let mut tallies = std::collections::BTreeMap::new();
        for s in &scenarios {
            let t = match s.as_str() {
                "null" => run("null", null, n, null_trials, n_boot),
                "equal" => run("equal", equal, n, null_trials, n_boot),
                "planted" => run("planted", planted, n, power_trials, n_boot),
                other => {
                    eprintln!("unknown scenario `{other}` (null, equal, planted)");
                    continue;
                }
            };
            tallies.insert(s.clone(), t);
        }
        if let (Some(p), Some(z), Some(e)) = (
            tallies.get("planted"),
            tallies.get("null"),
            tallies.get("equal"),
        ) {
            eprintln!(
                "oracle   n={n:<3} power with the true null spread: single {:.1}%, repeated {:.1}%",
                oracle_power(&p.0, &[&z.0, &e.0]),
                oracle_power(&p.1, &[&z.1, &e.1]),
            );
        }
    }
}
