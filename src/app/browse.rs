//! Walking the collection one work at a time (the work page's previous and
//! next, the lightbox).

use crate::error::Result;

use super::Collection;

/// How far past a gap in the ids (works removed by `index --prune`) the
/// walk looks before it says there is no neighbour.
const MAX_GAP: u64 = 64;

impl Collection {
    /// The ids of the stored works just before and just after `id`, in the
    /// order they were indexed.
    pub fn adjacent_works(&self, id: u64) -> Result<(Option<u64>, Option<u64>)> {
        let mut before = None;
        for i in (id.saturating_sub(MAX_GAP)..id).rev() {
            if i > 0 && self.store.artwork_by_id(i)?.is_some() {
                before = Some(i);
                break;
            }
        }
        let mut after = None;
        for i in id + 1..=id.saturating_add(MAX_GAP) {
            if self.store.artwork_by_id(i)?.is_some() {
                after = Some(i);
                break;
            }
        }
        Ok((before, after))
    }
}
