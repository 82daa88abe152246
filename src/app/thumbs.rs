//! Thumbnails for the web app: made once per (content hash, size) from the
//! work's own file, kept under the store folder, and named by content hash,
//! so that a renamed or duplicated file shares its picture and a changed
//! file (new content, new hash) never shows a stale one.

use std::path::PathBuf;

use super::Collection;
use crate::error::{Error, Result};

/// The sizes (longest side, pixels) a thumbnail may be asked at: small
/// enough that a request cannot make the server encode a poster, and a
/// bounded set of folders on disk.
pub const THUMB_SIZES: std::ops::RangeInclusive<u32> = 16..=1024;

/// The folder under the store that holds the thumbnail cache.
pub const THUMBS_DIR: &str = "thumbs";

/// A cached thumbnail: its file and a validator for HTTP caching.
#[derive(Debug, Clone)]
pub struct Thumbnail {
    pub path: PathBuf,
    /// Content hash and size: the bytes behind it never change.
    pub etag: String,
}

impl Collection {
    /// The thumbnail of work `id` whose longer side is at most `size`
    /// pixels: from the cache, else made from the first of the work's files
    /// that decodes (with the same limits as `index`) and cached.
    pub fn thumbnail(&self, id: u64, size: u32) -> Result<Thumbnail> {
        if !THUMB_SIZES.contains(&size) {
            return Err(Error::InvalidArgument(format!(
                "thumbnail size {size}: must be between {} and {} pixels",
                THUMB_SIZES.start(),
                THUMB_SIZES.end()
            )));
        }
        // The memoised listing, not a sled read: the gallery asks for 60
        // of these a page.
        let arts = self.all_artworks()?;
        let art = self
            .artwork_positions()?
            .get(&id)
            .map(|&i| &arts[i])
            .ok_or_else(|| Error::WorkNotFound {
                query: id.to_string(),
                store: self.store().path().to_path_buf(),
                tried: "id".into(),
            })?;
        let dir = self.store().path().join(THUMBS_DIR).join(size.to_string());
        let path = dir.join(format!("{}.jpg", art.hash));
        let etag = format!("\"{}-{size}\"", &art.hash[..art.hash.len().min(32)]);
        if path.is_file() {
            return Ok(Thumbnail { path, etag });
        }
        let mut last = None;
        for p in &art.paths {
            match crate::report::thumbnail_jpeg(std::path::Path::new(p), size) {
                Ok(jpeg) => {
                    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
                    // Written beside and renamed: two requests making the
                    // same thumbnail at once, or a crash halfway, never leave
                    // a torn file that later requests would serve.
                    let tmp = dir.join(format!(
                        ".{}.{}.tmp",
                        art.hash,
                        std::process::id() as u64 * 1_000_003 + next_tmp()
                    ));
                    std::fs::write(&tmp, &jpeg).map_err(|e| Error::io(&tmp, e))?;
                    std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
                    return Ok(Thumbnail { path, etag });
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::WorkNotFound {
            query: id.to_string(),
            store: self.store().path().to_path_buf(),
            tried: "the work's stored paths (it has none)".into(),
        }))
    }
}

/// A counter that keeps temporary names of one process apart.
fn next_tmp() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}
