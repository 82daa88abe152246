//! How well predicted scores follow true ratings: rank and linear
//! correlation, mean absolute error and pairwise ranking accuracy, each a
//! plain function of two equally long slices, so that the bootstrap can call
//! them on resampled copies.
//!
//! Undefined cases get fixed, documented values instead of NaN, because NaN
//! does not survive JSON (serde writes it as `null` and cannot read it back
//! into an `f64`): a correlation with a constant side is 0, and pairwise
//! accuracy without a single pair of different ratings is ½ (chance).

use serde::{Deserialize, Serialize};

/// Agreement between predictions and ratings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Spearman rank correlation, ties given their average rank; 0 when
    /// either side is constant.
    pub spearman: f64,
    /// Pearson correlation; 0 when either side is constant.
    pub pearson: f64,
    /// Mean absolute error, in the ratings' own scale.
    pub mae: f64,
    /// Of the pairs of works with different ratings, the fraction whose
    /// predicted order agrees (tied predictions count ½); ½ without such pairs.
    pub pairwise_accuracy: f64,
    /// How many (rating, prediction) pairs were scored.
    pub n: usize,
}

impl Metrics {
    /// All metrics of `pred` against `truth` (same length).
    pub(crate) fn compute(truth: &[f64], pred: &[f64]) -> Metrics {
        assert_eq!(
            truth.len(),
            pred.len(),
            "truth and predictions differ in length"
        );
        Metrics {
            spearman: spearman(truth, pred),
            pearson: pearson(truth, pred),
            mae: mae(truth, pred),
            pairwise_accuracy: pairwise_accuracy(truth, pred),
            n: truth.len(),
        }
    }
}

/// The metrics the backbone comparison reports on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    /// Spearman's rank correlation of predictions with ratings, in −1…1 (higher is better).
    Spearman,
    /// Mean absolute error of the predictions, on the ratings' scale (lower is better).
    Mae,
    /// The share of pairs of works with different ratings that the predictions put in the same
    /// order, 0–1 (higher is better).
    PairwiseAccuracy,
}

impl MetricKind {
    /// The metric's value for these predictions.
    pub(crate) fn eval(self, truth: &[f64], pred: &[f64]) -> f64 {
        match self {
            MetricKind::Spearman => spearman(truth, pred),
            MetricKind::Mae => mae(truth, pred),
            MetricKind::PairwiseAccuracy => pairwise_accuracy(truth, pred),
        }
    }

    /// False for errors, where lower is better.
    pub(crate) fn higher_is_better(self) -> bool {
        !matches!(self, MetricKind::Mae)
    }

    /// The name used in verdicts and reports.
    pub(crate) fn label(self) -> &'static str {
        match self {
            MetricKind::Spearman => "Spearman",
            MetricKind::Mae => "MAE",
            MetricKind::PairwiseAccuracy => "pairwise accuracy",
        }
    }
}

/// Mean absolute error; 0 for empty input.
pub(crate) fn mae(truth: &[f64], pred: &[f64]) -> f64 {
    if truth.is_empty() {
        return 0.0;
    }
    truth
        .iter()
        .zip(pred)
        .map(|(t, p)| (t - p).abs())
        .sum::<f64>()
        / truth.len() as f64
}

/// Pearson correlation; 0 when either side is constant or shorter than 2.
pub(crate) fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len();
    if n < 2 {
        return 0.0;
    }
    let ma = a.iter().sum::<f64>() / n as f64;
    let mb = b.iter().sum::<f64>() / n as f64;
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        let (dx, dy) = (x - ma, y - mb);
        sab += dx * dy;
        saa += dx * dx;
        sbb += dy * dy;
    }
    if saa <= 0.0 || sbb <= 0.0 {
        return 0.0;
    }
    // Rounding can push |r| a hair past 1 for perfectly correlated input.
    (sab / (saa.sqrt() * sbb.sqrt())).clamp(-1.0, 1.0)
}

/// Spearman rank correlation: Pearson on average ranks.
pub fn spearman(a: &[f64], b: &[f64]) -> f64 {
    pearson(&average_ranks(a), &average_ranks(b))
}

/// 1-based ranks, tied values sharing the mean of the ranks they span
/// (scipy's `rankdata(method="average")`).
pub(crate) fn average_ranks(v: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..v.len()).collect();
    order.sort_by(|&i, &j| v[i].total_cmp(&v[j]));
    let mut ranks = vec![0.0; v.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && v[order[end]] == v[order[start]] {
            end += 1;
        }
        // Positions start..end hold ranks start+1 ..= end; their mean:
        let rank = (start + end + 1) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = rank;
        }
        start = end;
    }
    ranks
}

/// Fraction of pairs with different true ratings that the predictions order
/// the same way, a tie in prediction counting ½; ½ when no pair differs.
///
/// O(n log n): works are taken in increasing rating, and a Fenwick tree over
/// prediction ranks counts, for each, the earlier (lower-rated) works
/// predicted lower or equal. The bootstrap calls this thousands of times, so
/// the quadratic pair loop would dominate a comparison.
pub(crate) fn pairwise_accuracy(truth: &[f64], pred: &[f64]) -> f64 {
    let n = truth.len();
    // Dense prediction ranks, equal predictions sharing one.
    let mut by_pred: Vec<usize> = (0..n).collect();
    by_pred.sort_by(|&i, &j| pred[i].total_cmp(&pred[j]));
    let mut pred_rank = vec![0usize; n];
    let mut r = 0;
    for k in 0..n {
        if k > 0 && pred[by_pred[k]] != pred[by_pred[k - 1]] {
            r += 1;
        }
        pred_rank[by_pred[k]] = r;
    }
    let mut tree = Fenwick::new(r + 1);
    let mut by_truth: Vec<usize> = (0..n).collect();
    by_truth.sort_by(|&i, &j| truth[i].total_cmp(&truth[j]));
    let (mut agree, mut tied, mut pairs) = (0u64, 0u64, 0u64);
    let mut seen = 0u64;
    let mut start = 0;
    while start < n {
        let mut end = start + 1;
        while end < n && truth[by_truth[end]] == truth[by_truth[start]] {
            end += 1;
        }
        // Every earlier work has a strictly lower rating than this group.
        for &i in &by_truth[start..end] {
            let below = tree.prefix(pred_rank[i]);
            let at_or_below = tree.prefix(pred_rank[i] + 1);
            agree += below;
            tied += at_or_below - below;
            pairs += seen;
        }
        for &i in &by_truth[start..end] {
            tree.add(pred_rank[i]);
        }
        seen += (end - start) as u64;
        start = end;
    }
    if pairs == 0 {
        return 0.5;
    }
    (agree as f64 + 0.5 * tied as f64) / pairs as f64
}

/// Counts per prediction rank, with prefix sums in O(log n).
struct Fenwick(Vec<u64>);

impl Fenwick {
    fn new(n: usize) -> Self {
        Fenwick(vec![0; n + 1])
    }

    fn add(&mut self, i: usize) {
        let mut k = i + 1;
        while k < self.0.len() {
            self.0[k] += 1;
            k += k & k.wrapping_neg();
        }
    }

    /// How many were added at positions `< i`.
    fn prefix(&self, i: usize) -> u64 {
        let mut k = i;
        let mut s = 0;
        while k > 0 {
            s += self.0[k];
            k -= k & k.wrapping_neg();
        }
        s
    }
}

/// The `q`-quantile (0 ≤ q ≤ 1) of sorted values, interpolating linearly
/// between neighbours (numpy's default `percentile` method).
pub(crate) fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Holm's step-down adjustment of `m` p-values (Holm 1979), in input order.
///
/// Sorted ascending, the i-th smallest p (1-based) is multiplied by
/// `m − i + 1`, capped at 1, and made non-decreasing along the sorted order
/// (each adjusted value is the largest of those before it). Rejecting every
/// hypothesis whose adjusted p is below α controls the family-wise error
/// rate at α, like Bonferroni (`m · p`), which it never exceeds. Equal
/// p-values get equal adjusted values whatever their order.
pub fn holm_adjust(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&i, &j| p[i].total_cmp(&p[j]));
    let mut adjusted = vec![0.0; m];
    let mut running: f64 = 0.0;
    for (rank, &i) in order.iter().enumerate() {
        let step = ((m - rank) as f64 * p[i]).min(1.0);
        running = running.max(step);
        adjusted[i] = running;
    }
    adjusted
}

/// The mean of cross-validation fold values with its 95% interval.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct FoldInterval {
    /// `None` when no fold value is finite.
    pub mean: Option<f64>,
    /// `None` with fewer than two fold values (or K < 2).
    pub low: Option<f64>,
    pub high: Option<f64>,
    /// The finite fold values the interval is made of.
    pub n: usize,
}

/// The mean of R×K cross-validation fold values with a 95% interval from
/// Nadeau & Bengio's corrected variance, `(1/J + n_test/n_train) · s²` with
/// `n_test/n_train = 1/(K − 1)` (Bouckaert & Frank's corrected repeated
/// k-fold t), and Student's t with J − 1 degrees of freedom. The plain
/// `s²/J` would pretend the folds were independent; they share training
/// works. Non-finite fold values (a constant prediction) are left out; the
/// interval is clamped to a correlation's [−1, 1].
pub(crate) fn corrected_fold_interval(values: &[f64], folds: usize) -> FoldInterval {
    let v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    let j = v.len();
    if j == 0 {
        return FoldInterval::default();
    }
    let mean = v.iter().sum::<f64>() / j as f64;
    if j < 2 || folds < 2 {
        return FoldInterval {
            mean: Some(mean),
            n: j,
            ..FoldInterval::default()
        };
    }
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (j - 1) as f64;
    let se = ((1.0 / j as f64 + 1.0 / (folds - 1) as f64) * var).sqrt();
    let half = student_t_975(j - 1) * se;
    // A correlation's interval ends at ±1.
    let clamp = |x: f64| x.clamp(-1.0, 1.0);
    FoldInterval {
        mean: Some(mean),
        low: Some(clamp(mean - half)),
        high: Some(clamp(mean + half)),
        n: j,
    }
}

/// Student's t 97.5% quantile for `df` degrees of freedom: tabled up to 10
/// (where the expansion is least accurate), then the Cornish–Fisher
/// expansion about the normal quantile (within 0.02% from 11 up).
pub(crate) fn student_t_975(df: usize) -> f64 {
    const TABLE: [f64; 10] = [
        12.706_205, 4.302_653, 3.182_446, 2.776_445, 2.570_582, 2.446_912, 2.364_624, 2.306_004,
        2.262_157, 2.228_139,
    ];
    match df {
        0 => f64::NAN,
        1..=10 => TABLE[df - 1],
        _ => {
            let z: f64 = 1.959_963_985;
            let n = df as f64;
            z + (z.powi(3) + z) / (4.0 * n)
                + (5.0 * z.powi(5) + 16.0 * z.powi(3) + 3.0 * z) / (96.0 * n * n)
                + (3.0 * z.powi(7) + 19.0 * z.powi(5) + 17.0 * z.powi(3) - 15.0 * z)
                    / (384.0 * n.powi(3))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition, pair by pair: the oracle for the Fenwick version.
    /// Each work is compared with every later one by the live answer's
    /// own per-pair credit ([`super::super::live::concordance_sum`]).
    fn pairwise_naive(truth: &[f64], pred: &[f64]) -> f64 {
        let (mut score, mut pairs) = (0.0, 0);
        for i in 0..truth.len() {
            let gaps: Vec<f64> = pred[i + 1..].iter().map(|p| pred[i] - p).collect();
            let (s, n) = super::super::live::concordance_sum(truth[i], &gaps, &truth[i + 1..]);
            score += s;
            pairs += n;
        }
        if pairs == 0 {
            0.5
        } else {
            score / pairs as f64
        }
    }

    #[test]
    fn average_ranks_share_ties() {
        assert_eq!(
            average_ranks(&[10.0, 20.0, 20.0, 5.0]),
            vec![2.0, 3.5, 3.5, 1.0]
        );
        assert_eq!(average_ranks(&[1.0, 1.0, 1.0]), vec![2.0, 2.0, 2.0]);
    }

    #[test]
    fn spearman_with_ties_matches_scipy() {
        // scipy.stats.spearmanr([1, 2, 2, 3, 4], [1, 3, 2, 4, 4]).statistic:
        // ranks [1, 2.5, 2.5, 4, 5] against [1, 3, 2, 4.5, 4.5].
        let r = spearman(&[1.0, 2.0, 2.0, 3.0, 4.0], &[1.0, 3.0, 2.0, 4.0, 4.0]);
        assert!((r - 0.9473684210526317).abs() < 1e-12, "{r}");
        // scipy.stats.spearmanr([3,1,4,1,5,9,2,6], [2,7,1,8,2,8,1,8]): ties on both sides.
        let r = spearman(
            &[3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0],
            &[2.0, 7.0, 1.0, 8.0, 2.0, 8.0, 1.0, 8.0],
        );
        assert!((r - 0.19885368120992467).abs() < 1e-12, "{r}");
        assert!((spearman(&[1.0, 2.0, 3.0], &[30.0, 20.0, 10.0]) + 1.0).abs() < 1e-12);
        // Monotone but not linear: rank correlation 1, Pearson below.
        let x = [1.0, 2.0, 3.0, 4.0];
        let y = [1.0, 8.0, 27.0, 64.0];
        assert!((spearman(&x, &y) - 1.0).abs() < 1e-12);
        assert!(pearson(&x, &y) < 0.99);
    }

    #[test]
    fn pearson_by_hand() {
        // x = [1,2,3], y = [2,4,5]: sxy = 3, sxx = 2, syy = 14/3.
        let r = pearson(&[1.0, 2.0, 3.0], &[2.0, 4.0, 5.0]);
        assert!(
            (r - 3.0 / (2.0f64 * 14.0 / 3.0).sqrt()).abs() < 1e-12,
            "{r}"
        );
    }

    #[test]
    fn constant_sides_give_zero_correlation() {
        assert_eq!(pearson(&[1.0, 2.0, 3.0], &[5.0, 5.0, 5.0]), 0.0);
        assert_eq!(spearman(&[7.0, 7.0], &[1.0, 2.0]), 0.0);
        assert_eq!(pearson(&[1.0], &[1.0]), 0.0);
    }

    #[test]
    fn pairwise_accuracy_by_hand() {
        // truth [1, 2, 3, 1], pred [0, 5, 5, 9]. Pairs (0,1) and (0,2) agree,
        // (1,2) has tied predictions (½), (1,3) and (2,3) disagree, and (0,3)
        // is left out because both are rated 1: 2.5 of 5.
        let acc = pairwise_accuracy(&[1.0, 2.0, 3.0, 1.0], &[0.0, 5.0, 5.0, 9.0]);
        assert!((acc - 2.5 / 5.0).abs() < 1e-12, "{acc}");
        assert_eq!(pairwise_accuracy(&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0]), 1.0);
        assert_eq!(pairwise_accuracy(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]), 0.0);
        assert_eq!(pairwise_accuracy(&[4.0, 4.0], &[1.0, 2.0]), 0.5);
        assert_eq!(pairwise_accuracy(&[], &[]), 0.5);
    }

    #[test]
    fn pairwise_accuracy_matches_the_definition() {
        let mut state = 0x1234_5678u64;
        let mut next = |m: u64| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) % m
        };
        for n in [0, 1, 2, 3, 7, 40, 101] {
            // Small integer ranges force many ties on both sides.
            let truth: Vec<f64> = (0..n).map(|_| next(5) as f64).collect();
            let pred: Vec<f64> = (0..n).map(|_| next(7) as f64 * 0.5).collect();
            let fast = pairwise_accuracy(&truth, &pred);
            let slow = pairwise_naive(&truth, &pred);
            assert!((fast - slow).abs() < 1e-12, "n={n}: {fast} vs {slow}");
        }
    }

    #[test]
    fn mae_by_hand() {
        assert_eq!(mae(&[1.0, 2.0, 3.0], &[2.0, 2.0, 1.0]), 1.0);
    }

    #[test]
    fn quantiles_interpolate_like_numpy() {
        let v = [1.0, 2.0, 3.0, 4.0];
        // numpy.percentile([1,2,3,4], [2.5, 50, 97.5]) = [1.075, 2.5, 3.925]
        assert!((quantile_sorted(&v, 0.025) - 1.075).abs() < 1e-12);
        assert!((quantile_sorted(&v, 0.5) - 2.5).abs() < 1e-12);
        assert!((quantile_sorted(&v, 0.975) - 3.925).abs() < 1e-12);
    }

    #[test]
    fn holm_steps_down_and_stays_monotone() {
        // Sorted: 0.01·4 = 0.04, 0.02·3 = 0.06, 0.03·2 = 0.06, 0.5·1 = 0.5.
        let adj = holm_adjust(&[0.03, 0.5, 0.01, 0.02]);
        let want = [0.06, 0.5, 0.04, 0.06];
        for (a, w) in adj.iter().zip(want) {
            assert!((a - w).abs() < 1e-12, "{adj:?}");
        }
        assert!(holm_adjust(&[]).is_empty());
        assert_eq!(holm_adjust(&[0.3]), vec![0.3]);
    }

    #[test]
    fn student_t_quantiles_match_tables() {
        // scipy.stats.t.ppf(0.975, df)
        // The expansion's range (the table below 11 is scipy's own values).
        for (df, want) in [
            (11, 2.200985),
            (14, 2.144787),
            (49, 2.009575),
            (1000, 1.962339),
        ] {
            let got = student_t_975(df);
            assert!((got - want).abs() / want < 2e-4, "df {df}: {got} vs {want}");
        }
    }

    #[test]
    fn fold_intervals_are_corrected_for_shared_training_works() {
        let values = [0.1, 0.3, 0.2, 0.4, 0.0];
        let i = corrected_fold_interval(&values, 5);
        assert_eq!(i.n, 5);
        let mean = i.mean.unwrap();
        assert!((mean - 0.2).abs() < 1e-12);
        // s² = 0.025; (1/5 + 1/4)·s² → se 0.10607; t(4) = 2.776.
        let half = i.high.unwrap() - mean;
        assert!((half - 2.776445 * 0.106066).abs() < 2e-3, "{half}");
        assert!((mean - i.low.unwrap() - half).abs() < 1e-12);
        assert_eq!(
            corrected_fold_interval(&[f64::NAN], 5),
            FoldInterval::default()
        );
    }
}
