//! What a request names as an image: a stored work, a file, or bytes that
//! arrived in a request. The front end decides which (the command line
//! from what exists on disk, the server from the form it was sent); the
//! library never guesses by probing the working directory.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use image::RgbImage;

use super::Collection;
use crate::error::Result;
use crate::imaging::{decode_bytes, decode_file, DecodeLimits};
use crate::store::Artwork;

/// An image a request asks about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageRef {
    /// A stored work by name: an id, a content-hash prefix, a path or a
    /// path ending ([`crate::works`]).
    Work(String),
    /// An image file; when its bytes are a stored work's, it is that work.
    File(PathBuf),
    /// An image received in memory (an upload), with the name its sender
    /// gave it: messages and views name it by that name.
    Bytes {
        /// The name the sender knows the image by.
        name: String,
        /// The encoded image.
        bytes: Arc<[u8]>,
    },
}

impl ImageRef {
    /// The image as the person named it, for views and messages.
    pub fn shown(&self) -> String {
        match self {
            ImageRef::Work(name) => name.clone(),
            ImageRef::File(path) => path.display().to_string(),
            ImageRef::Bytes { name, .. } => name.clone(),
        }
    }
}

/// An image found and decoded, with the stored work it is (if any).
pub(crate) struct LoadedImage {
    /// The stored work the image is.
    pub art: Option<Artwork>,
    /// The file the pixels came from: the work's stored file for a
    /// [`ImageRef::Work`], the file itself, or the upload's name.
    pub source: String,
    pub image: RgbImage,
}

impl Collection {
    /// The stored work `image` is, without decoding it: a named work, or a
    /// file or upload whose bytes are a stored work's.
    pub(crate) fn stored_work_of(&self, image: &ImageRef) -> Result<Option<Artwork>> {
        match image {
            ImageRef::Work(name) => self.resolve(name).map(Some),
            ImageRef::File(path) => {
                let (hash, _) =
                    crate::scan::hash_file_bytes(path).map_err(|e| crate::Error::io(path, e))?;
                self.store.artwork(&hash)
            }
            ImageRef::Bytes { bytes, .. } => {
                self.store.artwork(blake3::hash(bytes).to_hex().as_str())
            }
        }
    }

    /// Finds and decodes `image`. A named work is read from its first
    /// stored file; errors name the file, or the upload by its name.
    pub(crate) fn load_image(&self, image: &ImageRef) -> Result<LoadedImage> {
        let limits = DecodeLimits::default();
        match image {
            ImageRef::Work(name) => {
                let art = self.resolve(name)?;
                self.load_work(art)
            }
            ImageRef::File(path) => {
                // A file that cannot be hashed cannot be decoded either; the
                // decoder's error says why.
                let art = self.stored_work_of(image).ok().flatten();
                let pixels = decode_file(path, &limits)?;
                Ok(LoadedImage {
                    art,
                    source: path.display().to_string(),
                    image: pixels,
                })
            }
            ImageRef::Bytes { name, bytes } => {
                let art = self.stored_work_of(image)?;
                let pixels = decode_bytes(bytes, Path::new(name), &limits)?;
                Ok(LoadedImage {
                    art,
                    source: name.clone(),
                    image: pixels,
                })
            }
        }
    }

    /// Decodes a stored work from its first recorded file.
    pub(crate) fn load_work(&self, art: Artwork) -> Result<LoadedImage> {
        let path = art.paths.first().cloned().ok_or_else(|| {
            crate::Error::InvalidArgument(format!("work #{} has no recorded file to read", art.id))
        })?;
        let pixels = decode_file(Path::new(&path), &DecodeLimits::default())?;
        Ok(LoadedImage {
            art: Some(art),
            source: path,
            image: pixels,
        })
    }
}
