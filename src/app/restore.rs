//! `rate restore`: a store's ratings and preferences rebuilt from a ratings
//! journal ([`crate::store::JOURNAL_FILE`]).

use std::path::Path;

use super::Collection;
use crate::error::Result;
use crate::store::ReplayReport;

impl Collection {
    /// Replays the journal at `journal` into this store: every rater's
    /// ratings and preferences as the journal ends, written in one atomic
    /// batch per kind. Works need not be indexed yet (ratings are keyed by
    /// content hash, and a later `index` finds them).
    pub fn rate_restore(&self, journal: &Path) -> Result<ReplayReport> {
        self.store.replay_journal(journal)
    }
}
