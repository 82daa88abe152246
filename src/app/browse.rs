//! Walking the collection one work at a time (the work page's previous and
//! next, the lightbox).

use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};
use crate::store::Artwork;

use super::Collection;

/// The largest original image file [`Collection::original_image`] reads.
pub(crate) const MAX_ORIGINAL_BYTES: u64 = 512 * 1024 * 1024;

/// How far past a gap in the ids (works removed by `index --prune`) the
/// walk looks before it says there is no neighbour.
const MAX_GAP: u64 = 64;

impl Collection {
    /// The stored work with id `id`, if any (an id is never read as a hash
    /// prefix here).
    pub fn work_by_id(&self, id: u64) -> Result<Option<Artwork>> {
        self.store.artwork_by_id(id)
    }

    /// Whether a work has id `id`.
    pub fn has_work(&self, id: u64) -> Result<bool> {
        Ok(self.store.artwork_by_id(id)?.is_some())
    }

    /// The stored work with id `id`, or [`Error::WorkNotFound`].
    pub(crate) fn existing_work(&self, id: u64) -> Result<Artwork> {
        self.store
            .artwork_by_id(id)?
            .ok_or_else(|| Error::WorkNotFound {
                query: id.to_string(),
                store: self.store.path().to_path_buf(),
                tried: "id".into(),
            })
    }

    /// The bytes of the work's original file (the first of its stored paths
    /// that is still a readable regular file of at most
    /// `MAX_ORIGINAL_BYTES`), with its content hash.
    pub fn original_image(&self, id: u64) -> Result<(String, Vec<u8>)> {
        let art = self.existing_work(id)?;
        let mut last = None;
        for p in &art.paths {
            let path = Path::new(p);
            match crate::scan::open_regular_file(path) {
                Ok((file, len)) if len <= MAX_ORIGINAL_BYTES => {
                    let mut bytes = Vec::with_capacity(len as usize);
                    file.take(MAX_ORIGINAL_BYTES)
                        .read_to_end(&mut bytes)
                        .map_err(|e| Error::io(path, e))?;
                    return Ok((art.hash, bytes));
                }
                Ok(_) => {
                    last = Some(Error::ImageTooLarge {
                        path: path.to_path_buf(),
                        reason: format!("over {MAX_ORIGINAL_BYTES} bytes"),
                    })
                }
                Err(e) => last = Some(Error::io(path, e)),
            }
        }
        Err(last.unwrap_or_else(|| Error::WorkNotFound {
            query: id.to_string(),
            store: self.store.path().to_path_buf(),
            tried: "its stored paths (none left)".into(),
        }))
    }

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
