//! Writing ratings and preferences, per rater: import a CSV, rate or
//! un-rate works, prefer one work to another and take it back, clear a
//! rater. Each write goes through [`Collection::wrote`], so the memoised
//! whole-collection work is redone after it. Listing them is in `query.rs`.

use std::path::Path;

use super::views::RatingChange;
use super::Collection;
use crate::error::Result;
use crate::preferences::{self, Added, Removed};
use crate::ratings::{self, ImportReport, Rater, RemoveReport};
use crate::store::Artwork;

impl Collection {
    /// Imports ratings from a CSV (all or nothing unless `skip_bad`) as
    /// `rater`'s, or as the raters its `rater` column names.
    pub fn rate_import_as(
        &self,
        csv: &Path,
        skip_bad: bool,
        rater: &Rater,
    ) -> Result<ImportReport> {
        self.wrote(|| ratings::import_csv_as(&self.store, csv, skip_bad, rater))
    }

    /// [`Collection::rate_import_as`] for a CSV received in memory, named
    /// `name` in messages (`ratings::import_csv_bytes_as`).
    pub fn rate_import_bytes_as(
        &self,
        csv: &[u8],
        name: &str,
        skip_bad: bool,
        rater: &Rater,
    ) -> Result<ImportReport> {
        self.wrote(|| {
            ratings::import_csv_bytes_as(&self.store, csv, Path::new(name), skip_bad, rater)
        })
    }

    /// Rates one work as `rater`, replacing an earlier rating.
    pub fn rate_set_as(&self, rater: &Rater, work: &str, score: f64) -> Result<Artwork> {
        self.wrote(|| ratings::set_rating_as(&self.store, rater, work, score))
    }

    /// Rates the work with id `id` as `rater` (`None` when no work has that
    /// id: an id is never read as a hash prefix here), with the rating it
    /// replaced.
    pub fn rate_work(&self, rater: &Rater, id: u64, score: f64) -> Result<Option<RatingChange>> {
        let Some(art) = self.store.artwork_by_id(id)? else {
            return Ok(None);
        };
        let previous = ratings::rating_of(&self.store, rater, &art.hash)?.map(|r| r.rating);
        self.rate_set_as(rater, &id.to_string(), score)?;
        Ok(Some(RatingChange {
            hash: art.hash,
            id,
            previous,
            rater: rater.name().to_string(),
            rating: Some(score),
            removed: None,
        }))
    }

    /// Takes back `rater`'s rating of the work with id `id` (`None` when no
    /// work has that id); `removed` says whether there was one.
    pub fn unrate_work(&self, rater: &Rater, id: u64) -> Result<Option<RatingChange>> {
        let Some(art) = self.store.artwork_by_id(id)? else {
            return Ok(None);
        };
        let previous = ratings::rating_of(&self.store, rater, &art.hash)?.map(|r| r.rating);
        if previous.is_some() {
            self.rate_remove_many(rater, &[id.to_string()])?;
        }
        Ok(Some(RatingChange {
            hash: art.hash,
            id,
            previous,
            rater: rater.name().to_string(),
            rating: None,
            removed: Some(previous.is_some()),
        }))
    }

    /// Removes `rater`'s ratings of several works at once (nothing when
    /// any name is unknown; see [`ratings::remove_ratings`]).
    pub fn rate_remove_many(&self, rater: &Rater, works: &[String]) -> Result<RemoveReport> {
        self.wrote(|| ratings::remove_ratings(&self.store, rater, works))
    }

    /// Removes every rating and preference of `rater`: (ratings, preferences).
    pub fn rate_clear(&self, rater: &Rater) -> Result<(usize, usize)> {
        self.wrote(|| {
            let r = ratings::clear_ratings(&self.store, rater)?;
            let p = preferences::clear_preferences(&self.store, rater)?;
            Ok((r, p))
        })
    }

    /// Stores that `rater` prefers `winner` to `loser`.
    pub fn rate_prefer(&self, rater: &Rater, winner: &str, loser: &str) -> Result<Added> {
        self.wrote(|| preferences::add_preference(&self.store, rater, winner, loser))
    }

    /// [`Collection::rate_prefer`] for two works named by id only (an id
    /// that names no work is [`crate::Error::WorkNotFound`], never read as a
    /// hash prefix).
    pub fn prefer_works(&self, rater: &Rater, winner: u64, loser: u64) -> Result<Added> {
        for id in [winner, loser] {
            self.existing_work(id)?;
        }
        self.rate_prefer(rater, &winner.to_string(), &loser.to_string())
    }

    /// Takes back `rater`'s preference of `winner` over `loser` (the undo
    /// of [`Collection::rate_prefer`]); [`crate::Error::NoPreference`]
    /// naming both works when there is none (see
    /// `preferences::remove_preference`).
    pub fn rate_unprefer(&self, rater: &Rater, winner: &str, loser: &str) -> Result<Removed> {
        self.wrote(|| preferences::remove_preference(&self.store, rater, winner, loser))
    }
}
