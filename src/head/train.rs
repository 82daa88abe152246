//! One training run's learning, as pure functions over embeddings: on a
//! rater's ratings, the cross-validated comparison of the backbones and a
//! head per backbone fitted on every rating; on their preferences, the
//! Bradley–Terry comparison and a pairwise head per backbone; and what a
//! run cannot learn from, said as an error that says what to do next.
//! `app::Collection::train_taste` reads the store, calls these, and saves
//! what they return ([`super::save_training_with`]).

use std::collections::HashMap;

use super::{
    compare_backbones_grouped, compare_pairwise, fit_grouped, fit_pairwise, Backbone, HeadKind,
    PairwiseHead, PairwiseReport, TrainReport, TrainedHead, MIN_PREFERENCES,
};
use crate::error::{Error, Result};
use crate::ratings::Rater;

/// How a training run cross-validates and fits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TrainOptions {
    pub head: HeadKind,
    /// K of the K-fold cross-validation.
    pub folds: usize,
    /// Independent K-fold splits the comparison on ratings averages over
    /// (at least 1).
    pub repeats: usize,
    pub seed: u64,
    /// Bootstrap resamples of the paired comparisons.
    pub bootstrap: usize,
}

/// Per backbone, one embedding per work the preferences name, and the
/// preferences as (winner, loser) row pairs.
pub(crate) type PreferenceRows = (Vec<Vec<Vec<f32>>>, Vec<(usize, usize)>);

/// True when the ratings are not all the same: only then is there a taste
/// to learn from them.
pub(crate) fn has_spread(ratings: &[(String, f64)]) -> bool {
    ratings
        .first()
        .is_some_and(|(_, first)| ratings.iter().any(|(_, r)| r != first))
}

/// [`Error::InvalidArgument`] when there are ratings but they have no
/// spread and there are no preferences either: nothing can be ranked.
pub(crate) fn check_spread(ratings: &[(String, f64)], preferences: usize) -> Result<()> {
    if !ratings.is_empty() && !has_spread(ratings) && preferences == 0 {
        return Err(Error::InvalidArgument(format!(
            "the ratings have no spread: all {} are {}, so there is nothing to learn or \
             rank (Spearman is undefined); rate works differently, then train",
            ratings.len(),
            ratings[0].1
        )));
    }
    Ok(())
}

/// The error of a run that learnt nothing: the ratings have no spread and
/// there are too few preferences.
pub(crate) fn nothing_to_learn(rater: &Rater, preferences: usize) -> Error {
    Error::InvalidArgument(format!(
        "nothing to learn for rater `{rater}`: the ratings have no spread and there are \
         {preferences} preferences (at least {MIN_PREFERENCES} are needed); rate works \
         differently or add preferences"
    ))
}

/// On ratings `y` (one per row of each backbone's `x`, rows named by
/// `hashes`): the repeated K-fold comparison of `backbones`, then one head
/// per backbone fitted on every rating, remembering the works it saw.
/// `on_fit(i)` is called before backbone `i` is fitted.
/// `groups` labels the rated works by duplicate group (see
/// [`super::compare_backbones_grouped`]).
pub(crate) fn learn_from_ratings(
    backbones: &[Backbone<'_>],
    y: &[f64],
    hashes: &[String],
    groups: &[usize],
    opts: &TrainOptions,
    on_fit: &mut dyn FnMut(usize),
) -> Result<(TrainReport, Vec<TrainedHead>)> {
    let report = compare_backbones_grouped(
        backbones,
        y,
        Some(groups),
        opts.head,
        opts.folds,
        opts.repeats.max(1),
        opts.seed,
        opts.bootstrap,
    )?;
    let mut heads = Vec::with_capacity(backbones.len());
    for (i, b) in backbones.iter().enumerate() {
        on_fit(i);
        let mut fitted = fit_grouped(b.x, y, groups, opts.head, opts.seed)?;
        fitted.set_support(hashes);
        heads.push(fitted);
    }
    Ok((report, heads))
}

/// The works the `preferences` ((winner, loser) content hashes) name with
/// an embedding in every one of `spaces` (per backbone, embeddings by
/// hash): per backbone one row per work, in order of first mention, and
/// the preferences as row pairs. A preference naming a work some backbone
/// lacks is left out.
pub(crate) fn preference_rows<'a>(
    spaces: &[HashMap<String, Vec<f32>>],
    preferences: &[(&'a str, &'a str)],
) -> PreferenceRows {
    let mut row_of: HashMap<&'a str, usize> = HashMap::new();
    let mut x: Vec<Vec<Vec<f32>>> = vec![Vec::new(); spaces.len()];
    let mut pairs = Vec::new();
    for &(winner, loser) in preferences {
        if !spaces
            .iter()
            .all(|m| m.contains_key(winner) && m.contains_key(loser))
        {
            continue;
        }
        let mut row = |h: &'a str| -> usize {
            if let Some(&r) = row_of.get(h) {
                return r;
            }
            for (b, m) in spaces.iter().enumerate() {
                x[b].push(m[h].clone());
            }
            let r = row_of.len();
            row_of.insert(h, r);
            r
        };
        let w = row(winner);
        let l = row(loser);
        pairs.push((w, l));
    }
    (x, pairs)
}

/// On preferences (row pairs into each backbone's `x`): the Bradley–Terry
/// comparison of `backbones`, then one pairwise head per backbone fitted on
/// every preference.
pub(crate) fn learn_from_preferences(
    backbones: &[Backbone<'_>],
    pairs: &[(usize, usize)],
    opts: &TrainOptions,
) -> Result<(PairwiseReport, Vec<PairwiseHead>)> {
    let report = compare_pairwise(backbones, pairs, opts.folds, opts.seed, opts.bootstrap)?;
    let heads = backbones
        .iter()
        .map(|b| fit_pairwise(b.x, pairs, opts.seed))
        .collect::<Result<_>>()?;
    Ok((report, heads))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn space(entries: &[(&str, f32)]) -> HashMap<String, Vec<f32>> {
        entries
            .iter()
            .map(|(h, v)| (h.to_string(), vec![*v]))
            .collect()
    }

    #[test]
    fn preference_rows_share_a_row_per_work_and_skip_missing_works() {
        let spaces = [
            space(&[("a", 1.0), ("b", 2.0), ("c", 3.0)]),
            space(&[("a", 10.0), ("b", 20.0)]),
        ];
        let (x, pairs) = preference_rows(&spaces, &[("a", "b"), ("c", "a"), ("b", "a")]);
        // `c` lacks the second backbone's embedding: its preference is left out.
        assert_eq!(pairs, [(0, 1), (1, 0)]);
        assert_eq!(x[0], [vec![1.0], vec![2.0]]);
        assert_eq!(x[1], [vec![10.0], vec![20.0]]);
    }

    #[test]
    fn ratings_without_spread_and_without_preferences_are_refused() {
        let same = [("a".to_string(), 3.0), ("b".to_string(), 3.0)];
        assert!(!has_spread(&same));
        let err = check_spread(&same, 0).unwrap_err().to_string();
        assert!(err.contains("no spread") && err.contains("rate works differently"));
        assert!(check_spread(&same, 1).is_ok());
        assert!(check_spread(&[], 0).is_ok());
        assert!(!has_spread(&[]));
    }
}
