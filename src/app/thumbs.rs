//! Thumbnails and renditions for the web app: made once per (content hash,
//! size) from the work's own file, kept under the store folder, and named by
//! content hash, so that a renamed or duplicated file shares its picture and
//! a changed file (new content, new hash) never shows a stale one.
//!
//! The details are in `docs/WEB_APP.md`, section "Thumbnails".

use std::path::{Path, PathBuf};

use super::Collection;
use crate::error::{Error, Result};
use crate::imaging::{thumbnail_jpeg, THUMB_JPEG_QUALITY};

/// The sizes (longest side, pixels) a thumbnail may be asked at: small
/// enough that a request cannot make the server encode a poster, and a
/// bounded set of folders on disk.
pub const THUMB_SIZES: std::ops::RangeInclusive<u32> = 16..=1024;

/// The longest sides (pixels) a rendition may be asked at: 1024 for a
/// page's picture on a laptop or phone, 2048 for a full-screen view on a
/// large or high-density screen.
pub const RENDITION_SIZES: [u32; 2] = [1024, 2048];

/// JPEG quality of renditions: higher than thumbnails' because they are
/// looked at closely, at full size, often for their brushwork.
pub(crate) const RENDITION_JPEG_QUALITY: u8 = 85;

/// The folder under the store that holds the thumbnail and rendition cache.
pub(crate) const THUMBS_DIR: &str = "thumbs";

/// A cached thumbnail or rendition: its JPEG file and a validator for HTTP
/// caching. The content type is always `image/jpeg`.
#[derive(Debug, Clone)]
pub struct Thumbnail {
    /// The JPEG file, in the store's `thumbs/` folder (one subfolder per
    /// size), named by the work's content hash.
    pub path: PathBuf,
    /// Content hash, kind and size: the bytes behind it never change.
    pub etag: String,
}

/// Which cached picture of a work: the folder name and ETag tag differ, so
/// a thumbnail and a rendition of the same size never share a file.
struct CacheKind {
    /// The folder under [`THUMBS_DIR`] (`"256"`, `"r1024"`).
    folder: String,
    quality: u8,
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
        let kind = CacheKind {
            folder: size.to_string(),
            quality: THUMB_JPEG_QUALITY,
        };
        self.cached_jpeg(id, size, &kind)
    }

    /// The rendition of work `id` for showing it large: a JPEG whose longer
    /// side is at most `max_side` pixels (one of [`RENDITION_SIZES`]; any
    /// other is [`Error::InvalidArgument`] naming them), or the image's own
    /// size when it is smaller (never enlarged), with transparency flattened
    /// onto white and 16-bit, CMYK and grey images converted for display.
    /// From the cache, else made from the first of the work's files that
    /// decodes (with the same limits as `index`) and cached.
    pub fn rendition(&self, id: u64, max_side: u32) -> Result<Thumbnail> {
        if !RENDITION_SIZES.contains(&max_side) {
            let allowed: Vec<String> = RENDITION_SIZES.iter().map(|s| s.to_string()).collect();
            return Err(Error::InvalidArgument(format!(
                "picture size {max_side}: the sizes offered are {} pixels",
                allowed.join(" and ")
            )));
        }
        let kind = CacheKind {
            folder: format!("r{max_side}"),
            quality: RENDITION_JPEG_QUALITY,
        };
        self.cached_jpeg(id, max_side, &kind)
    }

    /// Work `id`'s picture of `kind` at most `max_side` pixels on its longer
    /// side, from the cache or made and cached.
    fn cached_jpeg(&self, id: u64, max_side: u32, kind: &CacheKind) -> Result<Thumbnail> {
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
        let dir = self.store().path().join(THUMBS_DIR).join(&kind.folder);
        let path = dir.join(format!("{}.jpg", art.hash));
        let etag = format!(
            "\"{}-{}\"",
            &art.hash[..art.hash.len().min(32)],
            kind.folder
        );
        if path.is_file() {
            return Ok(Thumbnail { path, etag });
        }
        let mut last = None;
        for p in &art.paths {
            match thumbnail_jpeg(Path::new(p), max_side, kind.quality) {
                Ok(jpeg) => {
                    write_atomically(&dir, &path, &jpeg)?;
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

/// Writes `bytes` to `path` in `dir` ([`crate::store::atomic`]): two
/// requests making the same picture at once, or a crash halfway, never
/// leave a torn file that later requests would serve.
fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    crate::store::atomic::write_file(path, bytes)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use image::{ExtendedColorType, ImageEncoder, RgbImage};

    use super::*;
    use crate::app::WeightsConfig;
    use crate::store::NewArtwork;

    /// A store holding one work per file, and their ids.
    fn collection(dir: &Path, files: &[&Path]) -> (Collection, Vec<u64>) {
        let c = Collection::create(&dir.join("store"), WeightsConfig::default()).unwrap();
        let mut ids = Vec::new();
        for (i, f) in files.iter().enumerate() {
            let id = c
                .store()
                .record_image(
                    &NewArtwork {
                        hash: format!("{i:064x}"),
                        paths: vec![f.to_string_lossy().into()],
                        size: 1,
                        width: 1,
                        height: 1,
                        metadata: Default::default(),
                    },
                    &[],
                )
                .unwrap();
            ids.push(id);
        }
        (c, ids)
    }

    /// A smooth colour gradient, so a JPEG of it is a fair size.
    fn gradient(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(x * 255 / w) as u8, (y * 255 / h) as u8, 128])
        })
    }

    /// The size and mean grey of a JPEG file.
    fn jpeg(path: &Path) -> ((u32, u32), f64) {
        let bytes = std::fs::read(path).unwrap();
        assert_eq!(
            image::guess_format(&bytes).unwrap(),
            image::ImageFormat::Jpeg
        );
        let img = image::load_from_memory(&bytes).unwrap().to_luma8();
        let mean = img.pixels().map(|p| f64::from(p.0[0])).sum::<f64>() / img.len() as f64;
        (img.dimensions(), mean)
    }

    #[test]
    fn renditions_are_jpegs_within_the_bound_from_tiff_16_bit_and_large_images() {
        let tmp = tempfile::tempdir().unwrap();
        let tiff = tmp.path().join("scan.tif");
        gradient(1500, 1000).save(&tiff).unwrap();
        // 16-bit grey at mid-grey: PIL's conversion would show it white.
        let png16 = tmp.path().join("deep.png");
        let grey: Vec<u8> = std::iter::repeat_n(0x8000u16.to_ne_bytes(), 1200 * 800)
            .flatten()
            .collect();
        image::codecs::png::PngEncoder::new(std::fs::File::create(&png16).unwrap())
            .write_image(&grey, 1200, 800, ExtendedColorType::L16)
            .unwrap();
        let large = tmp.path().join("large.png");
        gradient(2600, 1300).save(&large).unwrap();
        let (c, ids) = collection(tmp.path(), &[&tiff, &png16, &large]);

        let r = c.rendition(ids[0], 1024).unwrap();
        assert_eq!(jpeg(&r.path).0, (1024, 683));
        let (size, mean) = jpeg(&c.rendition(ids[1], 1024).unwrap().path);
        assert_eq!(size, (1024, 683));
        assert!(
            (mean - 128.0).abs() < 2.0,
            "mid-grey stays mid-grey: {mean}"
        );
        assert_eq!(
            jpeg(&c.rendition(ids[2], 2048).unwrap().path).0,
            (2048, 1024)
        );
        assert_eq!(
            jpeg(&c.rendition(ids[2], 1024).unwrap().path).0,
            (1024, 512)
        );
        // A thumbnail of the same size is another file.
        assert_ne!(c.thumbnail(ids[0], 1024).unwrap().path, r.path);
    }

    #[test]
    fn small_images_are_not_enlarged() {
        let tmp = tempfile::tempdir().unwrap();
        let small = tmp.path().join("small.png");
        gradient(240, 320).save(&small).unwrap();
        let (c, ids) = collection(tmp.path(), &[&small]);
        for side in RENDITION_SIZES {
            assert_eq!(jpeg(&c.rendition(ids[0], side).unwrap().path).0, (240, 320));
        }
    }

    #[test]
    fn a_second_rendition_comes_from_the_cache_and_sizes_are_fixed() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("work.png");
        gradient(1200, 900).save(&file).unwrap();
        let (c, ids) = collection(tmp.path(), &[&file]);
        let id = ids[0];
        let first = c.rendition(id, 1024).unwrap();
        assert!(first.path.starts_with(c.store().path().join(THUMBS_DIR)));
        assert!(first.etag.starts_with('"') && first.etag.ends_with("-r1024\""));
        // With the original gone, only the cache can answer.
        std::fs::remove_file(&file).unwrap();
        let again = c.rendition(id, 1024).unwrap();
        assert_eq!((again.path, again.etag), (first.path, first.etag));
        assert!(c.rendition(id, 2048).is_err(), "not made yet, and no file");
        match c.rendition(id, 1500) {
            Err(Error::InvalidArgument(m)) => assert!(m.contains("1024 and 2048"), "{m}"),
            other => panic!("expected an invalid size, got {other:?}"),
        }
    }
}
