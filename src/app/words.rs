//! Taste in words ([`Collection::taste_words`]) and what it shares with
//! `search`: which backbones read text, each one's joint space, the
//! projected image vectors and the vocabulary's phrase vectors (both
//! memoised per store revision).

use std::path::PathBuf;
use std::sync::Arc;

use super::views::{SkippedBackbone, TasteWordsColumn, TasteWordsView};
use super::Collection;
use crate::error::{Error, Result};
use crate::eval::words::{taste_in_words, JointSpace, TextVector, Vocabulary, WordsOptions};
use crate::model::registry::BackboneId;
use crate::ratings::{self, Rater};

/// What `taste` is asked.
#[derive(Debug, Clone)]
pub struct TasteWordsRequest {
    /// Whose ratings are described.
    pub rater: Rater,
    /// `None`: every backbone the store holds (those without a text tower
    /// are named and skipped).
    pub backbones: Option<Vec<BackboneId>>,
    /// A file of more phrases, one a line, added to the built-in
    /// vocabulary.
    pub vocabulary: Option<PathBuf>,
}

/// A joint space shared between requests.
pub(crate) type Space = Arc<dyn JointSpace + Send + Sync>;

/// The backbones with a text tower (with their space), and those skipped.
pub(crate) type TextBackbones = (Vec<(BackboneId, Space)>, Vec<SkippedBackbone>);

/// Every work's id, content hash and normalised joint-space image vector.
pub(crate) type JointImages = Vec<(u64, String, Vec<f32>)>;

/// The one-line method every taste-in-words view carries.
const METHOD: &str = "each phrase's score for a work is how much closer the work sits to it than to the average phrase (cosine in the backbone's joint image–text space); strength is the Spearman correlation of that score with the ratings, given what every phrase shares (partial); held out, the phrase is chosen inside 5-fold cross-validation and scored on the works it did not see; better than chance means the best phrase beats the best phrase on shuffled ratings (max-statistic permutation test, 5% family-wise)";

impl Collection {
    /// `id`'s joint image–text space (its text tower, loaded once), or why
    /// it has none (an image-only checkpoint, a folder without the text
    /// files): a reason to skip it, not an error.
    pub(crate) fn joint_space(
        &self,
        id: &BackboneId,
    ) -> Result<std::result::Result<Space, String>> {
        if id.spec().is_listed() && !crate::model::text::has_text_tower(id.spec()) {
            return Ok(Err(format!(
                "no text tower: {} was trained on images alone (or artlens reads only its image tower), so text cannot be compared with its embeddings",
                id.display_name()
            )));
        }
        match self.text_tower(id) {
            Ok(t) => Ok(Ok(t)),
            Err(Error::NoTextTower { reason, .. }) => Ok(Err(format!("no text tower: {reason}"))),
            Err(e) => Err(e),
        }
    }

    /// The backbones to work with split into those with a text tower
    /// (with their space) and those skipped; none with a text tower is
    /// [`Error::NoTextBackbone`], naming backbones that would add one.
    pub(crate) fn text_backbones(&self, wanted: Option<&[BackboneId]>) -> Result<TextBackbones> {
        let ids = self.select_backbones(wanted)?;
        let mut usable = Vec::new();
        let mut skipped = Vec::new();
        for id in &ids {
            match self.joint_space(id)? {
                Ok(s) => usable.push((id.clone(), s)),
                Err(reason) => skipped.push(SkippedBackbone {
                    backbone: id.name(),
                    reason,
                }),
            }
        }
        if usable.is_empty() {
            // A backbone that reads text but lacks its text files says so
            // (which files, where from, why not fetched): telling the
            // person to index a text-capable backbone would be wrong.
            for id in &ids {
                if id.spec().is_listed() && crate::model::text::has_text_tower(id.spec()) {
                    self.text_tower(id)?;
                }
            }
            return Err(Error::NoTextBackbone {
                store: self.store.path().to_path_buf(),
                backbones: ids
                    .iter()
                    .map(BackboneId::name)
                    .collect::<Vec<_>>()
                    .join(", "),
                would_add: text_capable_aliases().join(","),
            });
        }
        Ok((usable, skipped))
    }

    /// Every stored work's image embedding of `id` carried into the joint
    /// space, normalised, by content hash with its id; memoised per store
    /// revision.
    pub(crate) fn joint_images(&self, id: &BackboneId, space: &Space) -> Result<Arc<JointImages>> {
        self.memo(&format!("joint_images:{}", id.name()), || {
            let mut out = Vec::new();
            for (work, hash, v) in self.store.embeddings(id)? {
                let p = space.project_image(&v);
                // A projection of zero length cannot be compared; such a
                // work is left out of text search rather than failing it.
                if let Ok(u) = crate::vector::normalised(&p, p.len()) {
                    out.push((work, hash, u));
                }
            }
            Ok(out)
        })
    }

    /// The vocabulary's phrase vectors in `id`'s space, memoised by the
    /// phrases' digest (a tower embeds a few hundred phrases once per
    /// process).
    pub(crate) fn phrase_vectors(
        &self,
        id: &BackboneId,
        space: &Space,
        phrases: &[String],
    ) -> Result<Arc<Vec<TextVector>>> {
        let digest = blake3::hash(phrases.join("\n").as_bytes()).to_hex();
        self.memo(&format!("phrases:{}:{digest}", id.name()), || {
            let refs: Vec<&str> = phrases.iter().map(String::as_str).collect();
            space.embed_texts(&refs)
        })
    }

    /// What in the vocabulary explains `req.rater`'s ratings, per
    /// text-capable backbone (docs/STATISTICS.md, "Taste in words").
    pub fn taste_words(&self, req: &TasteWordsRequest) -> Result<TasteWordsView> {
        let mut vocabulary = Vocabulary::builtin();
        if let Some(path) = &req.vocabulary {
            let text = read_vocabulary(path)?;
            vocabulary.extend(&text, path)?;
        }
        let rated = ratings::ratings_of(&self.store, &req.rater)?;
        if rated.is_empty() {
            return Err(if req.rater.is_default() {
                Error::NoRatings {
                    store: self.store.path().to_path_buf(),
                }
            } else {
                Error::NoRatingsBy {
                    rater: req.rater.name().to_string(),
                    store: self.store.path().to_path_buf(),
                }
            });
        }
        let (usable, skipped) = self.text_backbones(req.backbones.as_deref())?;
        let phrases = vocabulary.phrases().to_vec();
        let opts = WordsOptions::default();
        let mut columns = Vec::new();
        for (id, space) in &usable {
            let images = self.joint_images(id, space)?;
            let by_hash: std::collections::HashMap<&str, &Vec<f32>> =
                images.iter().map(|(_, h, v)| (h.as_str(), v)).collect();
            let (xs, ys): (Vec<Vec<f32>>, Vec<f64>) = rated
                .iter()
                .filter_map(|(h, r)| by_hash.get(h.as_str()).map(|v| ((*v).clone(), *r)))
                .unzip();
            if ys.len() < crate::eval::words::MIN_WORDS_RATINGS {
                return Err(Error::TooFewRatings {
                    rater: req.rater.name().to_string(),
                    have: ys.len(),
                    need: crate::eval::words::MIN_WORDS_RATINGS,
                });
            }
            let vectors = self.phrase_vectors(id, space, &phrases)?;
            let pv: Vec<Vec<f32>> = vectors.iter().map(|t| t.vector.clone()).collect();
            let words = taste_in_words(&xs, &ys, &phrases, &pv, &opts)?;
            columns.push(TasteWordsColumn {
                backbone: id.name(),
                display_name: id.display_name(),
                sentence: words.sentence(),
                words,
                truncated_phrases: vectors.iter().filter(|t| t.truncated).count(),
            });
        }
        Ok(TasteWordsView {
            rater: req.rater.name().to_string(),
            ratings: rated.len(),
            vocabulary: vocabulary.report().clone(),
            backbones: usable.iter().map(|(id, _)| id.name()).collect(),
            columns,
            skipped,
            method: METHOD.into(),
        })
    }
}

/// Reads a `--vocabulary` file, bounded ([`crate::limits::MAX_VOCABULARY_BYTES`])
/// and UTF-8, naming it in every error.
fn read_vocabulary(path: &std::path::Path) -> Result<String> {
    use std::io::Read;
    let bad = |reason: String| Error::Vocabulary {
        path: path.to_path_buf(),
        line: None,
        reason,
    };
    let (file, _) = crate::scan::open_regular_file(path).map_err(|e| bad(e.to_string()))?;
    let max = crate::limits::MAX_VOCABULARY_BYTES;
    let mut bytes = Vec::new();
    file.take(max as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| bad(e.to_string()))?;
    if bytes.len() > max {
        return Err(bad(format!(
            "larger than {} MiB; a vocabulary is a list of short phrases",
            max >> 20
        )));
    }
    String::from_utf8(bytes).map_err(|_| bad("not UTF-8 text".into()))
}

/// Aliases of registered backbones that carry a text tower, for the
/// message of a store without one (the first two: a suggestion, not a
/// list).
fn text_capable_aliases() -> Vec<String> {
    crate::model::text::text_capable_aliases()
        .into_iter()
        .filter(|a| a.starts_with("clip-b16") || a.starts_with("siglip-b16"))
        .map(String::from)
        .collect()
}
