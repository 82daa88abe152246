//! Splitting a collection into shards by content hash, so that several
//! machines (tasks of a Slurm array or a Kubernetes Indexed Job) can each
//! embed a disjoint part of one collection into a store of their own, which
//! `artlens merge` then unites.
//!
//! The details are in `docs/SCALING.md`, section "How shards split a collection".

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The most shards a collection can be split into; far more than any
/// scheduler array one would run, and small enough that a typo such as
/// `--shard 3/40000000` is caught.
pub(crate) const MAX_SHARDS: u32 = 65_536;

/// Shard `index` of `count` (`0 <= index < count`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Shard {
    /// This shard's number, from 0.
    pub index: u32,
    /// How many shards the collection is split into (1 to 65 536).
    pub count: u32,
}

impl Shard {
    /// Shard `index` of `count`, checked.
    pub fn new(index: u32, count: u32) -> Result<Shard> {
        if count == 0 {
            return Err(Error::InvalidArgument(
                "--shard I/N: N must be at least 1 (N is the number of shards)".into(),
            ));
        }
        if count > MAX_SHARDS {
            return Err(Error::InvalidArgument(format!(
                "--shard {index}/{count}: at most {MAX_SHARDS} shards"
            )));
        }
        if index >= count {
            return Err(Error::InvalidArgument(format!(
                "--shard {index}/{count}: shards are numbered 0 to {} (I/N with 0 <= I < N, \
                 like SLURM_ARRAY_TASK_ID and JOB_COMPLETION_INDEX)",
                count - 1
            )));
        }
        Ok(Shard { index, count })
    }

    /// The shard (of `count`) the content with blake3 hex digest `hash`
    /// falls in. A malformed hash (never stored: the store checks hashes)
    /// falls in shard 0 rather than panicking.
    pub(crate) fn of_hash(hash: &str, count: u32) -> u32 {
        let prefix = hash.get(..16).and_then(|h| u64::from_str_radix(h, 16).ok());
        match prefix {
            Some(v) => (v % u64::from(count.max(1))) as u32,
            None => 0,
        }
    }

    /// True when the content with hash `hash` belongs to this shard.
    pub fn contains(&self, hash: &str) -> bool {
        Shard::of_hash(hash, self.count) == self.index
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = Error;

    fn from_str(s: &str) -> Result<Shard> {
        let bad = || {
            Error::InvalidArgument(format!(
                "--shard `{s}`: expected I/N, two whole numbers with 0 <= I < N (e.g. 0/4 for \
                 the first of four shards)"
            ))
        };
        let (i, n) = s.trim().split_once('/').ok_or_else(bad)?;
        let i: u32 = i.trim().parse().map_err(|_| bad())?;
        let n: u32 = n.trim().parse().map_err(|_| bad())?;
        Shard::new(i, n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(seed: u64) -> String {
        blake3::hash(&seed.to_le_bytes()).to_hex().to_string()
    }

    #[test]
    fn parses_and_refuses() {
        assert_eq!(
            "1/4".parse::<Shard>().unwrap(),
            Shard { index: 1, count: 4 }
        );
        assert_eq!(
            " 0 / 1 ".parse::<Shard>().unwrap(),
            Shard { index: 0, count: 1 }
        );
        for bad in [
            "4/4", "0/0", "5/4", "a/4", "1/b", "1", "-1/4", "1/4/2", "", "1.5/4",
        ] {
            let err = bad.parse::<Shard>().unwrap_err().to_string();
            assert!(err.contains("--shard"), "{bad}: {err}");
        }
        assert!("4/4"
            .parse::<Shard>()
            .unwrap_err()
            .to_string()
            .contains("0 to 3"));
        assert!("0/70000".parse::<Shard>().is_err());
        assert_eq!(Shard::new(2, 3).unwrap().to_string(), "2/3");
    }

    #[test]
    fn every_hash_falls_in_exactly_one_shard_and_shards_are_balanced() {
        let n = 4;
        let shards: Vec<Shard> = (0..n).map(|i| Shard::new(i, n).unwrap()).collect();
        let mut sizes = [0usize; 4];
        for seed in 0..4000 {
            let h = hash(seed);
            let owners: Vec<&Shard> = shards.iter().filter(|s| s.contains(&h)).collect();
            assert_eq!(owners.len(), 1, "{h}");
            sizes[owners[0].index as usize] += 1;
            // Stable: the same hash always gives the same shard.
            assert_eq!(Shard::of_hash(&h, n), owners[0].index);
        }
        // 1000 expected per shard; 4 standard deviations is about ±110.
        for s in sizes {
            assert!((880..=1120).contains(&s), "{sizes:?}");
        }
    }

    #[test]
    fn the_shard_is_the_hash_prefix_modulo_the_count() {
        let h = "00000000000000ff".to_string() + &"0".repeat(48);
        assert_eq!(Shard::of_hash(&h, 4), 255 % 4);
        assert_eq!(Shard::of_hash(&h, 1), 0);
        assert_eq!(Shard::of_hash("zz", 4), 0);
    }
}
