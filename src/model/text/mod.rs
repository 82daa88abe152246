//! Text towers: the other half of the image–text models whose image towers
//! artlens already runs, so a sentence and a picture land in one space.
//!
//! * transformers `CLIPModel` (`openai/clip-vit-*`, `laion/CLIP-ViT-*`):
//!   the causal text transformer, its `text_projection` applied to the final
//!   LayerNorm's output at the first end-of-text token (as
//!   `CLIPModel.get_text_features`), and the image side's
//!   `visual_projection`, which maps the stored image embedding (the vision
//!   tower's `pooler_output`) into the same space;
//! * transformers `SiglipModel` (`google/siglip-*`, and SigLIP 2's
//!   fixed-resolution `google/siglip2-*`): the bidirectional text
//!   transformer read at its last position through its `head`
//!   (`SiglipModel.get_text_features`); the image tower's `pooler_output` is
//!   already in the joint space;
//! * open_clip's `CLIP`, from the files timm's CLIP repositories carry
//!   beside the image tower ([`open_clip`]): `encode_text`, and
//!   `visual.proj` for the timm image tower's pooled output.
//!
//! The tokenizer is the repository's `tokenizer.json` ([`tokenizer`]), or
//! open_clip's own for timm's repositories ([`simple_tokenizer`]); the
//! transformer is one implementation for all ([`encoder`]). Every
//! embedding returned is L2-normalised, so a dot product is the cosine the
//! references compare with. The projected image embedding is derived from
//! the stored one when asked (`project_image`), never stored: see
//! docs/BACKBONES.md, "Text towers".

mod encoder;
mod open_clip;
pub(crate) use open_clip::Companion;
mod simple_tokenizer;
mod spm;
mod tokenizer;

use std::path::Path;

use candle_core::Device;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::model::config::{Act, Layout};
use crate::model::registry::{BackboneId, BackboneSpec, Family};
use crate::model::weights::{read_checkpoint, CheckpointFiles};

use encoder::{Dims, Encoder, Linear, Tensors};
use simple_tokenizer::SimpleTokenizer;
use tokenizer::{TextTokenizer, Tokens};

/// The files a text-capable checkpoint folder holds beyond the image
/// tower's: the tokenizer (required) and its config (read when present).
pub const TEXT_FILES: &[&str] = &[tokenizer::TOKENIZER_FILE, tokenizer::TOKENIZER_CONFIG];

/// Texts per forward pass: the attention scores of one batch are
/// `B·H·N²` floats, 3 MB for 32 CLIP texts of 77 tokens.
const BATCH: usize = 32;

/// One text's embedding in the joint image–text space.
#[derive(Debug, Clone, PartialEq)]
pub struct TextEmbedding {
    /// L2-normalised; compare with [`TextTower::project_image`]'s output by
    /// dot product.
    pub vector: Vec<f32>,
    /// Whether the text was longer than the context and was cut (the end
    /// of the text did not reach the model).
    pub truncated: bool,
    /// How many tokens the whole text makes, special tokens included,
    /// before any cut (so `truncated` is `tokens > context_length`).
    pub tokens: usize,
}

/// Which of the two text towers, with what each needs besides the encoder.
enum Kind {
    /// `pooled` at `pool`, then the projection; the image side's
    /// projection beside it.
    Clip {
        pool: Pool,
        text_projection: Linear,
        visual_projection: Linear,
    },
    /// The last position through `head`.
    Siglip { head: Linear },
}

/// Where a CLIP text tower reads its pooled output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pool {
    /// transformers: the first EOS token (with the pre-fix `eos_token_id`
    /// 2 in the config: the first occurrence of the largest id).
    FirstEos(u32),
    /// open_clip: the first occurrence of the largest id (`argmax`), which
    /// is its end-of-text token.
    Argmax,
}

/// The tokenizer of a text tower: the repository's `tokenizer.json` through
/// the `tokenizers` crate, or open_clip's own for timm's CLIP repositories.
enum Tokenizer {
    /// Both boxed: each is a kilobyte or more (the `tokenizers` crate's,
    /// cut and uncut; open_clip's regex and tables), and a tower holds one.
    Hf(Box<TextTokenizer>),
    OpenClip(Box<SimpleTokenizer>),
}

impl Tokenizer {
    fn encode(&self, text: &str) -> Result<Tokens> {
        match self {
            Tokenizer::Hf(t) => t.encode(text),
            Tokenizer::OpenClip(t) => Ok(t.encode(text)),
        }
    }

    fn context(&self) -> usize {
        match self {
            Tokenizer::Hf(t) => t.context(),
            Tokenizer::OpenClip(t) => t.context(),
        }
    }
}

/// A loaded text tower with its tokenizer and the image side's projection.
pub struct TextTower {
    backbone: String,
    encoder: Encoder,
    tokenizer: Tokenizer,
    kind: Kind,
    image_dim: usize,
    joint_dim: usize,
}

/// Whether a registry entry carries a text tower artlens reads: the
/// transformers layouts of CLIP (`clip-*-hf`) and SigLIP (`siglip-b16-hf`,
/// `siglip2-b16-hf`), and timm's CLIP repositories (`clip-*`), whose
/// open_clip files hold it. timm's other repositories and unlisted hub ids
/// answer `false` (an unlisted `CLIPModel` folder, or a timm folder with
/// open_clip's files, still loads through [`TextTower::load`], which reads
/// the folder).
pub(crate) fn has_text_tower(spec: &BackboneSpec) -> bool {
    match spec.layout {
        Layout::Transformers => matches!(spec.family, Some(Family::Clip | Family::Siglip)),
        Layout::Timm => spec.family == Some(Family::Clip),
        _ => false,
    }
}

/// The registered backbones that have a text tower, for messages.
pub(crate) fn text_capable_aliases() -> Vec<&'static str> {
    crate::model::registry::REGISTRY
        .iter()
        .filter(|s| has_text_tower(s))
        .filter_map(|s| match &s.alias {
            std::borrow::Cow::Borrowed(a) => Some(*a),
            std::borrow::Cow::Owned(_) => None,
        })
        .collect()
}

/// `text_config` of a `CLIPConfig` / `SiglipConfig`, with transformers'
/// defaults for the fields it leaves out (CLIP's; SigLIP's are set before
/// parsing).
#[derive(Debug, Deserialize)]
struct TextConfig {
    vocab_size: usize,
    hidden_size: usize,
    intermediate_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    max_position_embeddings: usize,
    hidden_act: String,
    layer_norm_eps: f64,
    #[serde(default)]
    eos_token_id: Option<serde_json::Value>,
    #[serde(default)]
    pad_token_id: Option<u32>,
    #[serde(default)]
    projection_size: Option<usize>,
}

/// Fills `text_config`'s missing fields with the config class's defaults.
fn with_defaults(v: &serde_json::Value, siglip: bool) -> serde_json::Value {
    let mut v = v.clone();
    let defaults: &[(&str, serde_json::Value)] = if siglip {
        &[
            ("vocab_size", serde_json::Value::from(32000)),
            ("hidden_size", 768.into()),
            ("intermediate_size", 3072.into()),
            ("num_hidden_layers", 12.into()),
            ("num_attention_heads", 12.into()),
            ("max_position_embeddings", 64.into()),
            ("hidden_act", "gelu_pytorch_tanh".into()),
            ("layer_norm_eps", 1e-6.into()),
            ("pad_token_id", 1.into()),
        ]
    } else {
        &[
            ("vocab_size", serde_json::Value::from(49408)),
            ("hidden_size", 512.into()),
            ("intermediate_size", 2048.into()),
            ("num_hidden_layers", 12.into()),
            ("num_attention_heads", 8.into()),
            ("max_position_embeddings", 77.into()),
            ("hidden_act", "quick_gelu".into()),
            ("layer_norm_eps", 1e-5.into()),
            ("eos_token_id", 49407.into()),
        ]
    };
    if let Some(o) = v.as_object_mut() {
        for (k, d) in defaults {
            o.entry(*k).or_insert_with(|| d.clone());
        }
    }
    v
}

impl TextTower {
    /// Reads the text tower, tokenizer and the image projection from the
    /// backbone's checkpoint folder.
    pub fn load(id: &BackboneId, files: &CheckpointFiles) -> Result<TextTower> {
        Self::load_with(id, files, &open_clip::no_companion)
    }

    /// [`TextTower::load`], with `companion` finding what a timm CLIP
    /// folder lacks (open_clip's files, the CLIP vocabulary) elsewhere: the
    /// application passes the Hugging Face cache and hub.
    pub(crate) fn load_with(
        id: &BackboneId,
        files: &CheckpointFiles,
        companion: &Companion,
    ) -> Result<TextTower> {
        let name = id.name();
        let config_path = &files.config;
        let raw: serde_json::Value =
            crate::model::config::read_json(config_path, "transformers config.json")?;
        let model_type = raw
            .get("model_type")
            .and_then(|v| v.as_str())
            .unwrap_or_default();
        let no_tower = |reason: String| Error::NoTextTower {
            backbone: name.clone(),
            reason,
            capable: text_capable_aliases().join(", "),
        };
        let siglip = match model_type {
            "clip" => false,
            "siglip" => true,
            "clip_vision_model" | "siglip_vision_model" => {
                return Err(no_tower(format!(
                    "{} is a vision-only checkpoint (`model_type` {model_type}); the full CLIPModel / SiglipModel repository has the text tower",
                    config_path.display()
                )))
            }
            _ if raw.get("architecture").is_some()
                && (open_clip::present(files.dir()) || id.spec().family == Some(Family::Clip)) =>
            {
                return TextTower::load_open_clip(id, files, companion, no_tower);
            }
            _ => {
                return Err(no_tower(format!(
                    "{} is not a transformers CLIPModel or SiglipModel checkpoint, nor a timm CLIP repository with open_clip's files (no text tower artlens reads)",
                    config_path.display()
                )))
            }
        };
        let text = raw.get("text_config").ok_or_else(|| Error::Config {
            path: config_path.clone(),
            reason: "has no `text_config`; a CLIPModel / SiglipModel config describes its text tower there".into(),
        })?;
        let cfg: TextConfig =
            crate::model::hf::parse(&with_defaults(text, siglip), config_path, "text")?;
        let act = match (cfg.hidden_act.as_str(), siglip) {
            ("quick_gelu", false) => Act::QuickGelu,
            ("gelu", _) => Act::Gelu,
            ("gelu_pytorch_tanh" | "gelu_new", true) => Act::GeluTanh,
            (other, _) => {
                return Err(crate::model::hf::refuse(
                    config_path,
                    "text_config.hidden_act",
                    other,
                    if siglip {
                        "`gelu_pytorch_tanh` and exact `gelu`"
                    } else {
                        "`quick_gelu` and exact `gelu`"
                    },
                ))
            }
        };
        let (c, h) = (cfg.hidden_size, cfg.num_attention_heads);
        if h == 0 || !c.is_multiple_of(h) || cfg.max_position_embeddings < 2 {
            return Err(Error::Config {
                path: config_path.clone(),
                reason: format!(
                    "inconsistent text dims: hidden_size {c} must divide by num_attention_heads {h}, and max_position_embeddings ({}) must be at least 2",
                    cfg.max_position_embeddings
                ),
            });
        }
        let dims = Dims {
            vocab: cfg.vocab_size,
            hidden: c,
            intermediate: cfg.intermediate_size,
            layers: cfg.num_hidden_layers,
            heads: h,
            positions: cfg.max_position_embeddings,
            eps: cfg.layer_norm_eps,
            act,
            causal: !siglip,
        };
        let image_dim = raw
            .get("vision_config")
            .and_then(|v| v.get("hidden_size"))
            .and_then(|v| v.as_u64())
            .unwrap_or(768) as usize;

        let dir = files.dir();
        let tokenizer = TextTokenizer::load(dir, dims.positions, siglip, cfg.pad_token_id)?;
        // An id past the embedding table would be read out of bounds: a
        // tokenizer from another model is refused here, by name.
        if tokenizer.vocab_size() > dims.vocab {
            return Err(Error::Config {
                path: tokenizer.path().to_path_buf(),
                reason: format!(
                    "the tokenizer has {} tokens but the model's text_config.vocab_size is {}; the tokenizer is not this model's",
                    tokenizer.vocab_size(),
                    dims.vocab
                ),
            });
        }

        let checkpoint = read_checkpoint(&files.weights, &Device::Cpu)?;
        let model = if siglip {
            "transformers SiglipModel"
        } else {
            "transformers CLIPModel"
        };
        let mut t = Tensors {
            checkpoint,
            path: &files.weights,
            model,
        };
        let prefix = "text_model.";
        if !t.has("text_model.embeddings.token_embedding.weight") {
            return Err(no_tower(format!(
                "{} holds no text tower (no `text_model.*` tensors); download the full repository's weights",
                files.weights.display()
            )));
        }
        let encoder = Encoder::load(&mut t, prefix, dims, &encoder::TRANSFORMERS)?;
        let (kind, joint_dim) = if siglip {
            let out = cfg.projection_size.unwrap_or(c);
            let head = t.linear("text_model.head", out, c)?;
            if out != image_dim {
                return Err(Error::Config {
                    path: config_path.clone(),
                    reason: format!(
                        "the text head gives {out} values but the image tower {image_dim}; they must meet in one space"
                    ),
                });
            }
            (Kind::Siglip { head }, out)
        } else {
            let p = raw
                .get("projection_dim")
                .and_then(|v| v.as_u64())
                .unwrap_or(512) as usize;
            let text_projection =
                Linear::without_bias(t.matrix("text_projection.weight", [p, c])?)?;
            let visual_projection =
                Linear::without_bias(t.matrix("visual_projection.weight", [p, image_dim])?)?;
            let eos = eos_id(&cfg, &tokenizer, config_path)?;
            (
                Kind::Clip {
                    pool: Pool::FirstEos(eos),
                    text_projection,
                    visual_projection,
                },
                p,
            )
        };
        Ok(TextTower {
            backbone: name,
            encoder,
            tokenizer: Tokenizer::Hf(Box::new(tokenizer)),
            kind,
            image_dim,
            joint_dim,
        })
    }

    /// A timm CLIP repository's text tower, from the open_clip files
    /// beside the image tower ([`open_clip`]); refused as having no text
    /// tower, naming the files and how to fetch them, when they are not
    /// there.
    fn load_open_clip(
        id: &BackboneId,
        files: &CheckpointFiles,
        companion: &Companion,
        no_tower: impl Fn(String) -> Error,
    ) -> Result<TextTower> {
        let located =
            open_clip::locate(files.dir(), &id.spec().hub_id, companion).map_err(no_tower)?;
        let m = open_clip::load(&located)?;
        Ok(TextTower {
            backbone: id.name(),
            encoder: m.encoder,
            tokenizer: Tokenizer::OpenClip(Box::new(m.tokenizer)),
            kind: Kind::Clip {
                pool: Pool::Argmax,
                text_projection: m.text_projection,
                visual_projection: m.visual_projection,
            },
            image_dim: m.image_dim,
            joint_dim: m.joint_dim,
        })
    }

    /// The most tokens a text may make (special tokens included); longer
    /// texts are cut as the reference cuts them.
    pub fn context_length(&self) -> usize {
        self.tokenizer.context()
    }

    /// The length of the stored image embeddings [`TextTower::project_image`]
    /// takes.
    pub fn image_dim(&self) -> usize {
        self.image_dim
    }

    /// The length of the joint-space vectors.
    pub fn joint_dim(&self) -> usize {
        self.joint_dim
    }

    /// The backbone this tower belongs to, as named when it was loaded.
    pub fn backbone(&self) -> &str {
        &self.backbone
    }

    /// The token ids the model reads for `text` (truncated and padded as
    /// the reference does), for parity tests and diagnostics.
    pub fn token_ids(&self, text: &str) -> Result<Vec<u32>> {
        Ok(self.tokenizer.encode(text)?.ids)
    }

    /// L2-normalised joint-space embeddings, one per text; `truncated` when
    /// cut to the context.
    pub fn embed_texts(&self, texts: &[&str]) -> Result<Vec<TextEmbedding>> {
        for (i, t) in texts.iter().enumerate() {
            if t.len() > crate::limits::MAX_TEXT_BYTES {
                return Err(Error::InvalidArgument(format!(
                    "text {} is {} bytes, more than the {} a text query may have; shorten it (the model reads only its first {} tokens anyway)",
                    i + 1,
                    t.len(),
                    crate::limits::MAX_TEXT_BYTES,
                    self.context_length()
                )));
            }
        }
        let tokens = texts
            .iter()
            .map(|t| self.tokenizer.encode(t))
            .collect::<Result<Vec<Tokens>>>()?;
        // Texts of one length run together, unpadded: a text's vector is
        // then the same to the bit whatever else was asked with it (the
        // kernels' sums do not depend on the batch), as a stored image
        // embedding is.
        let mut order: Vec<usize> = (0..tokens.len()).collect();
        order.sort_by_key(|&i| tokens[i].ids.len());
        let mut vectors: Vec<Vec<f32>> = vec![Vec::new(); tokens.len()];
        for group in order.chunk_by(|&a, &b| tokens[a].ids.len() == tokens[b].ids.len()) {
            for chunk in group.chunks(BATCH) {
                let batch: Vec<&Tokens> = chunk.iter().map(|&i| &tokens[i]).collect();
                let got = self.embed_tokens(&batch).map_err(|source| Error::Candle {
                    context: format!("{}: the text tower", self.backbone),
                    source,
                })?;
                for (&i, v) in chunk.iter().zip(got) {
                    vectors[i] = v;
                }
            }
        }
        Ok(tokens
            .iter()
            .zip(vectors)
            .map(|(t, vector)| TextEmbedding {
                vector,
                truncated: t.full_len > self.context_length(),
                tokens: t.full_len,
            })
            .collect())
    }

    /// The joint-space vectors of one batch of tokenized texts of one
    /// length, normalised.
    fn embed_tokens(&self, tokens: &[&Tokens]) -> candle_core::Result<Vec<Vec<f32>>> {
        let n = tokens.first().map_or(0, |t| t.ids.len());
        let ids: Vec<Vec<u32>> = tokens.iter().map(|t| t.ids.clone()).collect();
        let hidden = self.encoder.forward(&ids, None)?;
        let c = self.encoder.dims().hidden;
        let mut pooled = Vec::with_capacity(tokens.len() * c);
        for (i, t) in tokens.iter().enumerate() {
            let at = match &self.kind {
                Kind::Clip { pool, .. } => clip_pool_position(&t.ids, *pool),
                Kind::Siglip { .. } => n - 1,
            };
            let row: Vec<f32> = hidden.get(i)?.get(at)?.to_vec1()?;
            pooled.extend(row);
        }
        let pooled = candle_core::Tensor::from_vec(pooled, (tokens.len(), c), &Device::Cpu)?;
        let projected = match &self.kind {
            Kind::Clip {
                text_projection, ..
            } => text_projection.forward(&pooled, crate::model::ops::Epilogue::None)?,
            Kind::Siglip { head } => head.forward(&pooled, crate::model::ops::Epilogue::None)?,
        };
        let rows: Vec<Vec<f32>> = projected.to_vec2()?;
        Ok(rows.into_iter().map(normalised).collect())
    }

    /// A stored image embedding of this backbone (as `index` stores it)
    /// mapped into the joint space, L2-normalised (CLIP: `visual_projection`;
    /// SigLIP: identity). A vector whose length is not
    /// [`TextTower::image_dim`] (not this backbone's) gives an empty vector.
    pub fn project_image(&self, stored: &[f32]) -> Vec<f32> {
        if stored.len() != self.image_dim {
            return Vec::new();
        }
        match &self.kind {
            Kind::Siglip { .. } => normalised(stored.to_vec()),
            Kind::Clip {
                visual_projection, ..
            } => {
                let w = &visual_projection.weight;
                // One matrix-vector product in f64: a few hundred thousand
                // multiply-adds, summed as exactly as is cheap.
                let v = (0..w.rows())
                    .map(|r| {
                        w.row(r)
                            .iter()
                            .zip(stored)
                            .map(|(&a, &b)| f64::from(a) * f64::from(b))
                            .sum::<f64>() as f32
                    })
                    .collect();
                normalised(v)
            }
        }
    }
}

/// Where a CLIP text tower reads its pooled output: the first EOS token
/// (`CLIPTextTransformer`), or the first occurrence of the largest id
/// (open_clip's `argmax`, and transformers' for configs with the pre-fix
/// `eos_token_id` 2).
fn clip_pool_position(ids: &[u32], pool: Pool) -> usize {
    match pool {
        Pool::Argmax | Pool::FirstEos(2) => {
            let max = ids.iter().copied().max().unwrap_or(0);
            ids.iter().position(|&i| i == max).unwrap_or(0)
        }
        // transformers' argmax over `ids == eos` gives 0 when there is none.
        Pool::FirstEos(eos) => ids.iter().position(|&i| i == eos).unwrap_or(0),
    }
}

/// The EOS id the pooling reads: the text config's (an int, or the first of
/// a list).
fn eos_id(cfg: &TextConfig, tokenizer: &TextTokenizer, path: &Path) -> Result<u32> {
    let eos = match &cfg.eos_token_id {
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        Some(serde_json::Value::Array(a)) => a.first().and_then(|v| v.as_u64()),
        _ => None,
    };
    match eos {
        Some(e) if e <= u64::from(u32::MAX) => Ok(e as u32),
        _ => tokenizer
            .token_id("<|endoftext|>")
            .ok_or_else(|| Error::Config {
                path: path.to_path_buf(),
                reason: "text_config.eos_token_id is not a token id, and the tokenizer has no <|endoftext|>".into(),
            }),
    }
}

/// `v / |v|` (a zero vector stays zero).
fn normalised(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v
        .iter()
        .map(|&x| f64::from(x) * f64::from(x))
        .sum::<f64>()
        .sqrt();
    if norm > 0.0 {
        for x in &mut v {
            *x = (f64::from(*x) / norm) as f32;
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_pools_at_the_first_eos() {
        let ids = [49406, 320, 49407, 49407];
        assert_eq!(clip_pool_position(&ids, Pool::FirstEos(49407)), 2);
        // The pre-fix configs and open_clip read the largest id's first
        // position.
        assert_eq!(clip_pool_position(&ids, Pool::FirstEos(2)), 2);
        assert_eq!(clip_pool_position(&[49406, 320, 49407, 0], Pool::Argmax), 2);
        assert_eq!(clip_pool_position(&[5, 9, 3], Pool::FirstEos(7)), 0);
    }

    #[test]
    fn clip_and_siglip_entries_have_a_text_tower_dino_does_not() {
        let has = |n: &str| has_text_tower(BackboneSpec::find(n).unwrap());
        assert!(has("clip-b32-hf"));
        assert!(has("siglip-b16-hf"));
        assert!(has("siglip2-b16-hf"));
        // timm's CLIP repositories, through their open_clip files.
        assert!(has("clip-b32"));
        assert!(has("clip-b16-laion"));
        assert!(!has("dinov2-b-hf"));
        assert!(!has("dino"));
        assert!(text_capable_aliases().contains(&"clip-b16-hf"));
    }

    #[test]
    fn the_hub_plans_of_text_capable_entries_fetch_the_tokenizer() {
        let first = |n: &str| BackboneSpec::find(n).unwrap().hub_plans[0].files;
        // timm's CLIP entries fetch the image tower only; their text files
        // are named, with the command, when asked for (`open_clip`).
        let transformers = text_capable_aliases()
            .into_iter()
            .filter(|n| BackboneSpec::find(n).unwrap().layout == Layout::Transformers);
        for n in transformers {
            assert!(first(n).contains(&"tokenizer.json"), "{n}");
            assert!(first(n).contains(&"tokenizer_config.json"), "{n}");
        }
        // SigLIP's first repositories have spiece.model instead.
        let siglip = BackboneSpec::find("siglip-b16-hf").unwrap().hub_plans;
        assert!(siglip.iter().any(|p| p.files.contains(&"spiece.model")));
        assert!(!first("dinov2-b-hf").contains(&"tokenizer.json"));
    }
}
