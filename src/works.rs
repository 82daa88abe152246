//! Naming a work: one way for every command (`similar`, `score`, `rate`,
//! `show`, ratings CSV cells) to turn what a person typed into a stored
//! artwork.
//!
//! In order: a numeric id; a content hash or a unique prefix of one (at
//! least 4 hex digits); a stored path, as typed or as it resolves on disk; a
//! path relative to a collection root (or, for a CSV, to the CSV's folder);
//! then a unique path ending or file name (`Color_Field/x.png`, `x.png`),
//! whole components only. A name that fits several works lists them.

use std::cell::OnceCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::store::{describe_candidates, Artwork, Store};

/// Finds the work `query` names: [`Error::WorkNotFound`] saying what was
/// tried, or [`Error::AmbiguousWork`] listing the candidates.
pub(crate) fn resolve_work(store: &Store, query: &str) -> Result<Artwork> {
    match Resolver::new(store, None).resolve(query.trim())? {
        Ok(a) => Ok(a),
        Err(Miss::Unknown) => Err(Error::WorkNotFound {
            query: query.trim().to_string(),
            store: store.path().to_path_buf(),
            tried: "id, content hash prefix, stored path, path relative to a collection root, path ending or file name".into(),
        }),
        Err(Miss::Ambiguous { count, candidates }) => Err(Error::AmbiguousWork {
            query: query.trim().to_string(),
            count,
            candidates,
        }),
    }
}

/// Why a name found no single work.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Miss {
    Unknown,
    /// How many works match, and the first few described.
    Ambiguous {
        count: usize,
        candidates: String,
    },
}

impl Miss {
    /// The reason as a CSV row would give it.
    pub(crate) fn reason(&self, q: &str) -> String {
        match self {
            Miss::Unknown => format!(
                "unknown work `{q}`: no stored id, content hash, path or path ending matches"
            ),
            Miss::Ambiguous { count, candidates } => {
                format!(
                    "`{q}` matches {count} different works ({candidates}); give more of the path"
                )
            }
        }
    }
}

/// Resolves what a user wrote to an artwork. The path-suffix index is built
/// on first need, since most lookups by id, hash or full path never need it.
pub(crate) struct Resolver<'a> {
    store: &'a Store,
    /// The folder relative paths are also tried against (the CSV's).
    base: Option<PathBuf>,
    /// File name → (stored path with `/` separators, hash).
    by_name: OnceCell<HashMap<String, Vec<(String, String)>>>,
}

impl<'a> Resolver<'a> {
    pub(crate) fn new(store: &'a Store, base: Option<&Path>) -> Self {
        Resolver {
            store,
            base: base.map(Path::to_path_buf),
            by_name: OnceCell::new(),
        }
    }

    /// The artwork `q` names, or why none (unknown, ambiguous); `Err` only
    /// for store failures.
    pub(crate) fn resolve(&self, q: &str) -> Result<std::result::Result<Artwork, Miss>> {
        match self.store.find(q) {
            Ok(art) => return Ok(Ok(art)),
            Err(Error::WorkNotFound { .. }) => {}
            Err(Error::AmbiguousWork {
                count, candidates, ..
            }) => return Ok(Err(Miss::Ambiguous { count, candidates })),
            Err(e) => return Err(e),
        }
        if let Some(base) = &self.base {
            if Path::new(q).is_relative() {
                if let Ok(abs) = std::fs::canonicalize(base.join(q)) {
                    if let Some(hash) = self.store.path_hash(&abs.to_string_lossy())? {
                        if let Some(art) = self.store.artwork(&hash)? {
                            return Ok(Ok(art));
                        }
                    }
                }
            }
        }
        self.by_suffix(q)
    }

    /// Matches `q` against the end of stored paths, whole components only:
    /// `Color_Field/x.png` matches `/data/Color_Field/x.png` but not
    /// `/data/Color_Field/xx.png`.
    fn by_suffix(&self, q: &str) -> Result<std::result::Result<Artwork, Miss>> {
        let normalised = normalise(q);
        let key = normalised.trim_start_matches("./").trim_start_matches('/');
        let name = key.rsplit('/').next().unwrap_or(key);
        if name.is_empty() {
            return Ok(Err(Miss::Unknown));
        }
        let index = match self.by_name.get() {
            Some(index) => index,
            None => {
                let built = self.build_index()?;
                self.by_name.get_or_init(|| built)
            }
        };
        let suffix = format!("/{key}");
        let mut hashes: Vec<(&str, &str)> = Vec::new();
        for (path, hash) in index.get(name).map(Vec::as_slice).unwrap_or(&[]) {
            if (path == key || path.ends_with(&suffix)) && !hashes.iter().any(|(_, h)| h == hash) {
                hashes.push((path.as_str(), hash.as_str()));
            }
        }
        match hashes.as_slice() {
            [] => Ok(Err(Miss::Unknown)),
            [(_, hash)] => match self.store.artwork(hash)? {
                Some(art) => Ok(Ok(art)),
                None => Ok(Err(Miss::Unknown)),
            },
            several => {
                let mut arts = Vec::new();
                for (_, h) in several.iter().take(6) {
                    if let Some(a) = self.store.artwork(h)? {
                        arts.push(a);
                    }
                }
                Ok(Err(Miss::Ambiguous {
                    count: several.len(),
                    candidates: describe_candidates(&arts),
                }))
            }
        }
    }

    fn build_index(&self) -> Result<HashMap<String, Vec<(String, String)>>> {
        let mut index: HashMap<String, Vec<(String, String)>> = HashMap::new();
        for art in self.store.artworks()? {
            for p in &art.paths {
                let path = normalise(p);
                let name = path.rsplit('/').next().unwrap_or(&path).to_string();
                index
                    .entry(name)
                    .or_default()
                    .push((path, art.hash.clone()));
            }
        }
        Ok(index)
    }
}

/// `/` as the only separator, so that Windows-style CSV paths match too.
fn normalise(p: &str) -> String {
    p.replace('\\', "/")
}
