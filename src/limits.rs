//! The bounds on every count a user sets (threads, batch sizes, neighbours,
//! folds, resamples, ...), in one place: the command line's parsers refuse
//! a value outside them naming the flag and its range, its help shows them,
//! and the library checks the ones it takes in requests
//! ([`crate::pipeline::IndexOptions::validate`]).
//!
//! Each bound is what a machine or a collection can use, with room to spare:
//! an unbounded count is a way to exhaust memory or threads by a typo
//! (`--threads 10000` started 3,321 threads and ran past a minute).

/// Threads for the model's kernels, decoding, or training. Thread pools past
/// the cores only add switching; 1,024 is above any machine artlens runs on.
pub const MAX_THREADS: usize = 1024;

/// Images per forward pass. One batch of 1,024 images at 518×518 is 3.3 GB of
/// input tensor alone, more than any GPU gains from.
pub const MAX_BATCH_SIZE: usize = 1024;

/// Neighbours listed per backbone by `score`, `compare` and `show` (`-k`):
/// each is a reference a person reads.
pub const MAX_NEIGHBOURS: usize = 1000;

/// Results per backbone of `similar -k`, and works `suggest -n` lists.
pub const MAX_RESULTS: usize = 10_000;

/// Examples of one "more like these" search (`similar --id A --id B`), and
/// works to move away from (`--not`): each is an embedding to look up or
/// an image to embed.
pub const MAX_EXAMPLES: usize = 64;

/// Cross-validation folds (`train --folds`), at least two.
pub const MIN_FOLDS: usize = 2;
/// Cross-validation folds (`train --folds`): more folds than ratings leave
/// folds empty, and each fold trains a head per backbone.
pub const MAX_FOLDS: usize = 100;

/// Independent K-fold splits (`train --repeats`).
pub const MAX_REPEATS: usize = 100;

/// Bootstrap resamples for confidence intervals (`train --bootstrap`): below
/// 100 an interval's ends are noise, above 100,000 they stop moving.
pub const MIN_BOOTSTRAP: usize = 100;
/// See [`MIN_BOOTSTRAP`].
pub const MAX_BOOTSTRAP: usize = 100_000;

/// Timed forward passes of `bench --iters`.
pub const MAX_BENCH_ITERS: usize = 10_000;

/// Rows per Parquet row group (`export --row-group-rows`): a row group is
/// held in memory while it is written.
pub const MAX_ROW_GROUP_ROWS: usize = 1 << 20;

/// The fewest works a map draws (`map`): with fewer there are no
/// neighbourhoods to show, and the layout's neighbour graph has nothing to
/// choose from.
pub const MIN_MAP_WORKS: usize = 5;
/// The most works one map lays out: the layout holds a normalised copy of
/// the embeddings and about 200 bytes a work beside them, and its time
/// grows with the works (10,000 works took 32 s on two busy cores; see
/// `docs/PERFORMANCE.md`, Maps).
pub const MAX_MAP_WORKS: usize = 200_000;
/// Characters of one `search` query: a query is a few phrases and works,
/// and every phrase is embedded by each text tower.
pub const MAX_QUERY_CHARS: usize = 1000;

/// Terms of one `search` query (phrases and works, each with its sign and
/// weight).
pub const MAX_QUERY_TERMS: usize = 16;

/// The largest weight a query term may carry (`"sea":2`): beyond it the
/// other terms no longer count.
pub const MAX_QUERY_WEIGHT: f32 = 100.0;

/// Phrases of the vocabulary `taste` describes ratings with, the built-in
/// one and `--vocabulary FILE` together: each is embedded by each text
/// tower, and the permutation test scores every phrase on every shuffle.
pub const MAX_VOCABULARY: usize = 5000;

/// Characters of one vocabulary phrase: a phrase is a few words, and a
/// longer line is more likely a file that is not a vocabulary.
pub const MAX_PHRASE_CHARS: usize = 200;

/// Bytes of a `--vocabulary` file: [`MAX_VOCABULARY`] lines of
/// [`MAX_PHRASE_CHARS`] with room for headings.
pub const MAX_VOCABULARY_BYTES: usize = 2 << 20;

/// Checks that `value` of the count `what` (a flag, `--threads`, or a field
/// of a request) lies in `min..=max`; the error names it and the range.
pub(crate) fn check_count(
    what: &str,
    value: usize,
    min: usize,
    max: usize,
) -> crate::Result<usize> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(crate::Error::InvalidArgument(format!(
            "{what} {value} is out of range: it must be from {min} to {max}"
        )))
    }
}

/// Bytes of one text given to a text tower (`search`'s query, a vocabulary
/// phrase): the models read at most 77 (CLIP) or 64 (SigLIP) tokens, so a
/// longer text is a mistake, and tokenizing megabytes only to cut them costs
/// time.
pub const MAX_TEXT_BYTES: usize = 16 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_count_outside_its_range_is_refused_by_name() {
        assert_eq!(check_count("--threads", 4, 1, MAX_THREADS).unwrap(), 4);
        let e = check_count("--threads", 10_000, 1, MAX_THREADS).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--threads 10000 is out of range: it must be from 1 to 1024"
        );
        assert!(check_count("--folds", 1, MIN_FOLDS, MAX_FOLDS).is_err());
    }
}
