//! Tokenizers read from a repository's `tokenizer.json` with the
//! `tokenizers` crate (pure Rust: `fancy-regex`, no C library), truncated and
//! padded as the reference calls them:
//!
//! * CLIP: `tokenizer(texts, truncation=True, max_length=77)`: BOS, the
//!   text's tokens cut to 75, EOS. Padding does not matter (the attention is
//!   causal and the embedding is read at the EOS position), so none is added.
//! * SigLIP: `tokenizer(texts, padding="max_length", truncation=True,
//!   max_length=64)`: the text's tokens and EOS, cut to 64, then padded with
//!   the pad token to 64 (the model reads the last position). The original
//!   `SiglipTokenizer` (a `tokenizer_config.json` naming it) first
//!   canonicalises the text as transformers does: lower case, ASCII
//!   punctuation removed, runs of white space made one space, trimmed.
//!   SigLIP 2's Gemma tokenizer is called as transformers'
//!   `Siglip2Tokenizer` calls it: the text lower-cased first, padded on
//!   the left, EOS last.
//!
//! A `SiglipTokenizer` repository with only `spiece.model` (no
//! `tokenizer.json`, as `google/siglip-base-patch16-224`) is converted
//! ([`super::spm`]); a repository with another slow tokenizer's files only
//! (`vocab.json` + `merges.txt`) is refused, naming the file it lacks and
//! how to write it.

use std::path::{Path, PathBuf};

use tokenizers::normalizers::{Lowercase, Sequence};
use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use crate::error::{Error, Result};

/// The tokenizer file artlens reads.
pub(crate) const TOKENIZER_FILE: &str = "tokenizer.json";
/// Its companion with the special tokens and the tokenizer's class.
pub(crate) const TOKENIZER_CONFIG: &str = "tokenizer_config.json";

/// Text changes the reference makes before its tokenizer sees the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Canonical {
    /// The text as given.
    AsIs,
    /// transformers' `SiglipTokenizer.canonicalize_text`.
    Siglip,
}

/// How the token ids are laid out for the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Padding {
    /// No padding (CLIP).
    None,
    /// Padded to the context length with this id, after the text (SigLIP).
    MaxLength { pad: u32, left: bool },
}

/// A text's token ids, with how long it was before truncation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tokens {
    /// The ids the model reads (truncated, and padded where the model pads).
    pub ids: Vec<u32>,
    /// How many tokens the text makes with its special tokens, uncut.
    pub full_len: usize,
    /// How many of `ids` are the text's (not padding).
    pub len: usize,
}

/// A tokenizer set up as the reference calls it.
pub(crate) struct TextTokenizer {
    plain: Tokenizer,
    cut: Tokenizer,
    context: usize,
    padding: Padding,
    canonical: Canonical,
    path: PathBuf,
}

/// The parts of `tokenizer_config.json` that change the ids.
#[derive(Debug, Default, serde::Deserialize)]
struct TokenizerConfig {
    tokenizer_class: Option<String>,
    pad_token: Option<TokenName>,
    eos_token: Option<TokenName>,
    padding_side: Option<String>,
    do_lower_case: Option<bool>,
}

/// A special token as the config writes it: a string, or an `AddedToken` dict.
#[derive(Debug, serde::Deserialize)]
#[serde(untagged)]
enum TokenName {
    Plain(String),
    Added { content: String },
}

impl TokenName {
    fn text(&self) -> &str {
        match self {
            TokenName::Plain(s) => s,
            TokenName::Added { content } => content,
        }
    }
}

/// Refuses a folder without `tokenizer.json`, naming what it has instead
/// and how to write the file.
fn missing_tokenizer(dir: &Path) -> Error {
    let has = |f: &str| dir.join(f).is_file();
    let path = dir.join(TOKENIZER_FILE);
    let reason = if has("vocab.json") && has("merges.txt") {
        "missing; this folder has the slow tokenizer's vocab.json and merges.txt only. artlens reads tokenizer.json, which transformers writes from them: python -c \"from transformers import AutoTokenizer as T; T.from_pretrained('DIR').save_pretrained('DIR')\" (DIR: this folder), or download tokenizer.json from the repository".to_string()
    } else if has("spiece.model") {
        "missing; this folder has the SentencePiece model spiece.model, which artlens converts only for SiglipTokenizer (a tokenizer_config.json naming it beside it). Download the repository's tokenizer.json and tokenizer_config.json: `huggingface-cli download REPO tokenizer.json tokenizer_config.json --local-dir DIR`".to_string()
    } else {
        "missing; the text tower needs the repository's tokenizer.json (with tokenizer_config.json beside it): `huggingface-cli download REPO tokenizer.json tokenizer_config.json --local-dir DIR`".to_string()
    };
    Error::Config { path, reason }
}

impl TextTokenizer {
    /// Reads `tokenizer.json` (and `tokenizer_config.json` when present)
    /// from `dir`, for a model of `context` positions. `siglip`: the model
    /// reads padded, fixed-length input; `default_pad` is the pad id the
    /// model config names, used when the tokenizer config names none.
    pub(crate) fn load(
        dir: &Path,
        context: usize,
        siglip: bool,
        default_pad: Option<u32>,
    ) -> Result<TextTokenizer> {
        let config_path = dir.join(TOKENIZER_CONFIG);
        let config: TokenizerConfig = if config_path.is_file() {
            crate::model::config::read_json(&config_path, "tokenizer_config.json")?
        } else {
            TokenizerConfig::default()
        };
        let mut path = dir.join(TOKENIZER_FILE);
        let spm = dir.join(super::spm::SPM_FILE);
        let slow_siglip = config.tokenizer_class.as_deref() == Some("SiglipTokenizer");
        let plain = if path.is_file() {
            Tokenizer::from_file(&path).map_err(|e| Error::Config {
                path: path.clone(),
                reason: format!("not a readable tokenizer.json: {e}"),
            })?
        } else if siglip && slow_siglip && spm.is_file() {
            // SigLIP's repositories ship the SentencePiece model only.
            let eos = config.eos_token.as_ref().map_or("</s>", TokenName::text);
            let json = super::spm::tokenizer_json(&spm, eos)?;
            path = spm;
            json.parse::<Tokenizer>().map_err(|e| Error::Config {
                path: path.clone(),
                reason: format!("cannot be converted to a tokenizer: {e}"),
            })?
        } else {
            return Err(missing_tokenizer(dir));
        };
        let bad = |reason: String| Error::Config {
            path: path.clone(),
            reason,
        };
        let canonical = match config.tokenizer_class.as_deref() {
            Some("SiglipTokenizer") if config.do_lower_case != Some(false) => Canonical::Siglip,
            Some("SiglipTokenizer") => {
                return Err(Error::Config {
                    path: config_path,
                    reason: "do_lower_case is false, which artlens does not reproduce for SiglipTokenizer (remove it, or set it to true)".into(),
                })
            }
            _ => Canonical::AsIs,
        };
        // SigLIP 2's tokenizer: Gemma's (its fixed-resolution repositories
        // name `GemmaTokenizer`; transformers' `Siglip2Tokenizer` is the
        // same files).
        let gemma = matches!(
            config.tokenizer_class.as_deref(),
            Some("GemmaTokenizer" | "GemmaTokenizerFast" | "Siglip2Tokenizer")
        );
        let padding = if siglip {
            let pad = match &config.pad_token {
                Some(name) => plain.token_to_id(name.text()).ok_or_else(|| Error::Config {
                    path: config_path.clone(),
                    reason: format!(
                        "pad_token `{}` is not in tokenizer.json's vocabulary",
                        name.text()
                    ),
                })?,
                None => default_pad.ok_or_else(|| {
                    bad("neither tokenizer_config.json nor config.json names a pad token, which SigLIP's fixed-length input needs".into())
                })?,
            };
            // Without a `padding_side`, the class's default: left for
            // Gemma's tokenizer (SigLIP 2), right for the others.
            let left = match config.padding_side.as_deref() {
                None => gemma,
                Some("right") => false,
                Some("left") => true,
                Some(other) => {
                    return Err(Error::Config {
                        path: config_path,
                        reason: format!("padding_side `{other}` is neither `left` nor `right`"),
                    })
                }
            };
            Padding::MaxLength { pad, left }
        } else {
            Padding::None
        };
        let mut plain = plain;
        // SigLIP 2 was trained on lower-cased text. transformers'
        // `Siglip2Tokenizer` puts a `Lowercase` normalizer before Gemma's
        // own, and so does artlens; AutoTokenizer on a fixed-resolution
        // repository (`GemmaTokenizer`) would leave the case, which the
        // model never saw (docs/BACKBONES.md, "Text towers").
        if siglip && gemma {
            let mut steps: Vec<tokenizers::NormalizerWrapper> = vec![Lowercase.into()];
            steps.extend(plain.get_normalizer().cloned());
            plain
                .with_normalizer(Some(Sequence::new(steps)))
                .map_err(|e| bad(format!("cannot add lower-casing: {e}")))?;
        }
        // The file may carry its own truncation and padding; the reference's
        // call overrides both, so artlens sets them here.
        plain.with_padding(None);
        plain
            .with_truncation(None)
            .map_err(|e| bad(format!("cannot switch truncation off: {e}")))?;
        let mut cut = plain.clone();
        cut.with_truncation(Some(TruncationParams {
            direction: TruncationDirection::Right,
            max_length: context,
            strategy: TruncationStrategy::LongestFirst,
            stride: 0,
        }))
        .map_err(|e| bad(format!("cannot truncate to {context} tokens: {e}")))?;
        Ok(TextTokenizer {
            plain,
            cut,
            context,
            padding,
            canonical,
            path,
        })
    }

    /// The most tokens the model reads.
    pub(crate) fn context(&self) -> usize {
        self.context
    }

    /// The ids the model reads for `text`.
    pub(crate) fn encode(&self, text: &str) -> Result<Tokens> {
        let text = match self.canonical {
            Canonical::AsIs => text.to_string(),
            Canonical::Siglip => canonicalize_siglip(text),
        };
        let fail = |e: tokenizers::Error| Error::Config {
            path: self.path.clone(),
            reason: format!("cannot tokenize the text: {e}"),
        };
        let full = self.plain.encode(text.as_str(), true).map_err(fail)?;
        let full_len = full.get_ids().len();
        let mut ids = if full_len > self.context {
            self.cut
                .encode(text.as_str(), true)
                .map_err(fail)?
                .get_ids()
                .to_vec()
        } else {
            full.get_ids().to_vec()
        };
        let len = ids.len();
        if let Padding::MaxLength { pad, left } = self.padding {
            let fill = self.context.saturating_sub(len);
            if left {
                let mut padded = vec![pad; fill];
                padded.extend(ids);
                ids = padded;
            } else {
                ids.extend(std::iter::repeat_n(pad, fill));
            }
        }
        Ok(Tokens { ids, full_len, len })
    }

    /// How many ids the tokenizer can produce (its vocabulary with the
    /// added tokens).
    pub(crate) fn vocab_size(&self) -> usize {
        self.plain.get_vocab_size(true)
    }

    /// The file the tokenizer was read from.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The id of `token`, if the vocabulary has it.
    pub(crate) fn token_id(&self, token: &str) -> Option<u32> {
        self.plain.token_to_id(token)
    }
}

/// transformers' `SiglipTokenizer.canonicalize_text`: lower case, Python's
/// `string.punctuation` (ASCII) removed, runs of white space (Python's
/// `\s`) made one space, then trimmed.
pub(crate) fn canonicalize_siglip(text: &str) -> String {
    let lower = text.to_lowercase();
    let mut out = String::with_capacity(lower.len());
    let mut space = false;
    for ch in lower.chars() {
        if ch.is_ascii_punctuation() {
            continue;
        }
        if is_python_space(ch) {
            space = true;
            continue;
        }
        if space && !out.is_empty() {
            out.push(' ');
        }
        space = false;
        out.push(ch);
    }
    out
}

/// Python's `str.isspace()` / `re`'s `\s` for str patterns: Unicode white
/// space plus the ASCII separators U+001C–U+001F.
fn is_python_space(ch: char) -> bool {
    ch.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&ch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn siglip_canonical_form_drops_punctuation_and_squeezes_space() {
        assert_eq!(
            canonicalize_siglip("  Hello,   WORLD!!  A\u{3000}b\tc.  "),
            "hello world a b c"
        );
        assert_eq!(canonicalize_siglip("...!!!"), "");
        assert_eq!(canonicalize_siglip("Été — ça"), "été — ça");
    }
}
