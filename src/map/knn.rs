//! The k-nearest-neighbour graph a layout starts from, by cosine distance
//! over L2-normalised vectors: exact below [`EXACT_UP_TO`] works, else by
//! NN-descent (Dong, Charikar and Li, 2011), whose rounds are computed from
//! the previous round's lists only, so that the graph is the same whatever
//! the number of threads.

use rayon::prelude::*;

use super::Rng;
use crate::vector::dot;

/// Up to this many works the graph is exact: n² products of a few hundred
/// floats take under a second here, and the layout of a small collection
/// deserves its true neighbours.
pub(crate) const EXACT_UP_TO: usize = 4096;

/// NN-descent rounds at most; on clustered vectors it settles in 5 to 8.
const MAX_ROUNDS: usize = 12;

/// Reverse neighbours looked through per work and round: bounds a round's
/// cost on hubs (works that are everybody's neighbour).
const REVERSE_CAP: usize = 12;

/// One work's neighbours: (distance, index), nearest first.
pub(crate) type Neighbours = Vec<(f32, u32)>;

/// Cosine distance of two unit vectors, never negative.
fn distance(a: &[f32], b: &[f32]) -> f32 {
    (1.0 - dot(a, b)).max(0.0)
}

/// Each point's `k` nearest others, nearest first (ties by index).
/// `progress(round, rounds)` is told after each NN-descent round.
pub(crate) fn knn_graph(
    points: &[Vec<f32>],
    k: usize,
    seed: u64,
    progress: &mut dyn FnMut(usize, usize),
) -> Vec<Neighbours> {
    let k = k.min(points.len().saturating_sub(1));
    if points.len() <= EXACT_UP_TO {
        let graph = exact(points, k);
        progress(1, 1);
        graph
    } else {
        descent(points, k, seed, progress)
    }
}

fn exact(points: &[Vec<f32>], k: usize) -> Vec<Neighbours> {
    (0..points.len())
        .into_par_iter()
        .map(|i| {
            let mut all: Neighbours = (0..points.len())
                .filter(|&j| j != i)
                .map(|j| (distance(&points[i], &points[j]), j as u32))
                .collect();
            let k = k.min(all.len());
            if k < all.len() {
                all.select_nth_unstable_by(k, cmp);
                all.truncate(k);
            }
            all.sort_by(cmp);
            all
        })
        .collect()
}

fn cmp(a: &(f32, u32), b: &(f32, u32)) -> std::cmp::Ordering {
    a.0.total_cmp(&b.0).then(a.1.cmp(&b.1))
}

/// Inserts `(d, j)` into the sorted list `list` of at most `k`, unless it
/// is there already or farther than its last; true when it went in.
fn insert(list: &mut Neighbours, k: usize, d: f32, j: u32) -> bool {
    if list.len() == k && cmp(&(d, j), list.last().expect("k > 0")) != std::cmp::Ordering::Less {
        return false;
    }
    if list.iter().any(|&(_, x)| x == j) {
        return false;
    }
    let at = list.partition_point(|e| cmp(e, &(d, j)) == std::cmp::Ordering::Less);
    list.insert(at, (d, j));
    list.truncate(k);
    true
}

fn descent(
    points: &[Vec<f32>],
    k: usize,
    seed: u64,
    progress: &mut dyn FnMut(usize, usize),
) -> Vec<Neighbours> {
    let n = points.len();
    // Random starting lists, drawn per point from its own stream so that the
    // draw does not depend on the order threads run in.
    let mut lists: Vec<Neighbours> = (0..n)
        .into_par_iter()
        .map(|i| {
            let mut rng = Rng::new(seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let mut list = Neighbours::with_capacity(k + 1);
            while list.len() < k {
                let j = rng.below(n);
                if j != i {
                    insert(&mut list, k, distance(&points[i], &points[j]), j as u32);
                }
            }
            list
        })
        .collect();
    for round in 0..MAX_ROUNDS {
        // Reverse lists, from the previous round, in index order.
        let mut reverse: Vec<Vec<u32>> = vec![Vec::new(); n];
        for (i, list) in lists.iter().enumerate() {
            for &(_, j) in list {
                let r = &mut reverse[j as usize];
                if r.len() < REVERSE_CAP {
                    r.push(i as u32);
                }
            }
        }
        let old = &lists;
        let (next, changed): (Vec<Neighbours>, Vec<usize>) = (0..n)
            .into_par_iter()
            .map(|i| {
                let mut list = old[i].clone();
                let mut changed = 0;
                let near = old[i]
                    .iter()
                    .map(|&(_, j)| j)
                    .chain(reverse[i].iter().copied());
                for a in near {
                    let hop = old[a as usize]
                        .iter()
                        .map(|&(_, j)| j)
                        .chain(reverse[a as usize].iter().copied());
                    for b in std::iter::once(a).chain(hop) {
                        if b as usize != i {
                            let d = distance(&points[i], &points[b as usize]);
                            changed += insert(&mut list, k, d, b) as usize;
                        }
                    }
                }
                (list, changed)
            })
            .unzip();
        lists = next;
        progress(round + 1, MAX_ROUNDS);
        // Fewer than one update in a thousand list entries: converged.
        if changed.iter().sum::<usize>() * 1000 < n * k {
            break;
        }
    }
    lists
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::map::tests::clustered;

    #[test]
    fn descent_finds_almost_every_true_neighbour() {
        let points = clustered(3000, 32, 12, 7);
        let truth = exact(&points, 10);
        let got = descent(&points, 10, 1, &mut |_, _| {});
        let mut hit = 0;
        for (t, g) in truth.iter().zip(&got) {
            hit += g.iter().filter(|x| t.iter().any(|y| y.1 == x.1)).count();
        }
        let recall = hit as f64 / (3000 * 10) as f64;
        assert!(recall > 0.95, "NN-descent recall@10 {recall}");
    }
}
