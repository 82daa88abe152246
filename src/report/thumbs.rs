//! Thumbnails: JPEG `data:` URIs made from the user's images, and the
//! once-per-report registry that embeds each image once however often it
//! recurs, as a CSS class each occurrence names. Why this scheme, and the
//! sizes it saves, are in
//! [docs/DESIGN.md](../../docs/DESIGN.md#report-thumbnails-one-picture-per-image).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::path::Path;

use maud::{html, Markup, PreEscaped};
use rayon::prelude::*;

use crate::error::Result;
use crate::imaging::{filled_size, thumbnail_jpeg_sized, thumbnail_size, THUMB_JPEG_QUALITY};

/// Longest side of a query image's thumbnail, in pixels.
pub(crate) const QUERY_THUMB_SIDE: u32 = 320;
/// Longest side of a reference's thumbnail, in pixels.
pub(crate) const REFERENCE_THUMB_SIDE: u32 = 160;

/// A made thumbnail: its JPEG as a `data:` URI, and the size of the image
/// it was made from (so a smaller box can be sized as a smaller thumbnail
/// would have been).
struct Thumb {
    uri: String,
    source: (u32, u32),
}

/// The image at `path` as a `data:image/jpeg;base64,...` URI, scaled down
/// (keeping its aspect ratio, never up) so its longer side is at most
/// `max_side` pixels.
///
/// Made by [`crate::imaging::thumbnail_jpeg_sized`] at
/// [`THUMB_JPEG_QUALITY`], like every thumbnail artlens shows.
pub fn thumbnail_data_uri(path: &Path, max_side: u32) -> Result<String> {
    make_thumb(path, max_side).map(|t| t.uri)
}

fn make_thumb(path: &Path, max_side: u32) -> Result<Thumb> {
    let (jpeg, source) = thumbnail_jpeg_sized(path, max_side, THUMB_JPEG_QUALITY)?;
    Ok(Thumb {
        uri: format!("data:image/jpeg;base64,{}", base64_encode(&jpeg)),
        source,
    })
}

/// Standard base64 (RFC 4648, with padding).
pub(super) fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A path's thumbnail: the index of its picture (its class is `t` and the
/// index) and the size of the image it was made from; or why there is none.
type Entry = std::result::Result<(usize, (u32, u32)), String>;

/// One key for every spelling of a file's path: a query given as
/// `data/x.png` and the same work listed as a reference under its absolute
/// stored path share one thumbnail.
fn same_file_key(path: &str) -> String {
    std::fs::canonicalize(path)
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| path.to_string())
}

/// The thumbnails of one report, made once per path (in parallel, at the
/// largest side any occurrence wants), each picture written once even when
/// several paths hold the same bytes.
pub(super) struct Thumbnails {
    paths: HashMap<String, Entry>,
    /// The `data:` URI of each picture, by index.
    pictures: Vec<String>,
}

impl Thumbnails {
    /// Makes the thumbnails of `wanted` (path, longest side) pairs.
    pub(super) fn make<I>(wanted: I) -> Self
    where
        I: IntoIterator<Item = (String, u32)>,
    {
        // Sorted by path, so class numbers (and so the page) do not depend on
        // hashing or on the order occurrences were listed in.
        let mut sides: BTreeMap<String, u32> = BTreeMap::new();
        for (path, side) in wanted {
            let s = sides.entry(same_file_key(&path)).or_insert(side);
            *s = (*s).max(side);
        }
        let sides: Vec<(String, u32)> = sides.into_iter().collect();
        let made: Vec<std::result::Result<Thumb, String>> = sides
            .par_iter()
            .map(|(path, side)| make_thumb(Path::new(path), *side).map_err(|e| e.to_string()))
            .collect();
        let mut pictures = Vec::new();
        let mut index_of: HashMap<String, usize> = HashMap::new();
        let paths = sides
            .into_iter()
            .zip(made)
            .map(|((path, _), thumb)| {
                let entry = thumb.map(|t| {
                    let i = *index_of.entry(t.uri.clone()).or_insert_with(|| {
                        pictures.push(t.uri);
                        pictures.len() - 1
                    });
                    (i, t.source)
                });
                (path, entry)
            })
            .collect();
        Thumbnails { paths, pictures }
    }

    /// The CSS rules that carry the pictures, one per distinct picture, for
    /// the page's `<style>` block (see the module documentation for why they
    /// need no escaping).
    pub(super) fn css(&self) -> PreEscaped<String> {
        let mut css = String::new();
        for (i, uri) in self.pictures.iter().enumerate() {
            debug_assert!(!uri.contains(['"', '<', '>', '\\']));
            let _ = writeln!(css, ".t{i}{{background-image:url(\"{uri}\")}}");
        }
        PreEscaped(css)
    }

    /// A box showing the thumbnail of `path`, its longest side `side`
    /// pixels at most, or a placeholder box saying why there is none.
    pub(super) fn html(&self, path: Option<&str>, side: u32, alt: &str) -> Markup {
        self.boxed(path, side, alt, false)
    }

    /// Like [`Thumbnails::html`], but a small image is shown scaled up so
    /// its longer side is `side`: a heat map over a 64-pixel picture would
    /// otherwise be too small to read.
    pub(super) fn html_filled(&self, path: Option<&str>, side: u32, alt: &str) -> Markup {
        self.boxed(path, side, alt, true)
    }

    fn boxed(&self, path: Option<&str>, side: u32, alt: &str, fill: bool) -> Markup {
        let got = match path {
            None => Err("no path is recorded for this work"),
            Some(p) => match self.paths.get(&same_file_key(p)) {
                Some(Ok(entry)) => Ok(entry),
                Some(Err(why)) => Err(why.as_str()),
                None => Err("thumbnail was not prepared"),
            },
        };
        match got {
            Ok((i, (source_w, source_h))) => {
                let (w, h) = if fill {
                    filled_size(*source_w, *source_h, side)
                } else {
                    thumbnail_size(*source_w, *source_h, side)
                };
                html! {
                    span class={ "thumb t" (i) } role="img" aria-label=(alt)
                        style={ "width:" (w) "px;height:" (h) "px" } {}
                }
            }
            Err(why) => html! {
                div.thumb.placeholder role="img" aria-label=(alt)
                    style={ "width:" (side) "px;height:" (side * 3 / 4) "px" } {
                    span { "no image: " (why) }
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in cases {
            assert_eq!(base64_encode(plain.as_bytes()), encoded, "{plain:?}");
        }
        assert_eq!(base64_encode(&[0xff, 0xfe, 0xfd]), "//79");
    }

    #[test]
    fn a_path_wanted_at_two_sides_is_made_once_at_the_larger() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/images/tall518.png"
        );
        let thumbs = Thumbnails::make([
            (path.to_string(), 160),
            (path.to_string(), 320),
            ("/no/such/file.png".to_string(), 160),
        ]);
        let css = thumbs.css().into_string();
        assert_eq!(css.matches("data:image/jpeg;base64,").count(), 1);
        assert!(css.starts_with(".t0{"));
        // 518×603 fits 320 as 275×320 and 160 as 137×160.
        let big = thumbs.html(Some(path), 320, "a").into_string();
        assert!(big.contains(r#"class="thumb t0""#) && big.contains("width:275px;height:320px"));
        let small = thumbs.html(Some(path), 160, "a").into_string();
        assert!(small.contains("width:137px;height:160px"), "{small}");
        // A copy of the file under another name shares its picture.
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join("copy.png").to_string_lossy().into_owned();
        std::fs::copy(path, &copy).unwrap();
        let with_copy = Thumbnails::make([(path.to_string(), 320), (copy.clone(), 320)]);
        assert_eq!(with_copy.css().into_string().matches("data:").count(), 1);
        assert_eq!(
            with_copy.html(Some(&copy), 320, "b").into_string(),
            with_copy.html(Some(path), 320, "b").into_string()
        );
        let missing = thumbs
            .html(Some("/no/such/file.png"), 160, "a")
            .into_string();
        assert!(missing.contains(r#"class="thumb placeholder""#));
        assert!(
            missing.contains("file.png"),
            "the failure says why: {missing}"
        );
    }
}
