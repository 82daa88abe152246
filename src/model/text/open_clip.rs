//! The text tower of timm's CLIP repositories (`timm/vit_*_clip_*`), read
//! from the open_clip files they carry beside the image tower:
//! `open_clip_config.json` and `open_clip_model.safetensors` (or, in older
//! repositories only, `open_clip_pytorch_model.bin`, read through the
//! PyTorch pickle reader), the whole open_clip `CLIP` model. The text
//! embedding is open_clip's `encode_text`: the causal transformer, the
//! final LayerNorm read at the largest token id (the end-of-text token,
//! open_clip's `argmax` pooling), then `x @ text_projection`. The image
//! side's projection is `visual.proj` (`x @ proj`), applied to the timm
//! image tower's pooled output (the stored embedding): timm's `.openai` and
//! `.laion2b` CLIP weights are open_clip's `visual` tower converted, with
//! `proj` taken out as the classifier head that artlens's `num_classes=0`
//! tower leaves off, so `pooled @ visual.proj` is `encode_image`.

use std::path::{Path, PathBuf};

use candle_core::Device;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::model::config::Act;
use crate::model::weights::read_checkpoint;

use super::encoder::{Dims, Encoder, Linear, Matrix, Tensors, OPEN_CLIP};
use super::simple_tokenizer::SimpleTokenizer;

/// open_clip's model config in a timm CLIP repository.
pub(crate) const OPEN_CLIP_CONFIG: &str = "open_clip_config.json";
/// open_clip's weights, safetensors (preferred) and the older pickle.
pub(crate) const OPEN_CLIP_WEIGHTS: &[&str] =
    &["open_clip_model.safetensors", "open_clip_pytorch_model.bin"];
/// Where the BPE vocabulary is read from (open_clip ships it in its
/// package, not in the repositories).
const VOCABULARY: &str = "tokenizer.json";

/// open_clip's text tower with its tokenizer and the image projection.
pub(crate) struct OpenClip {
    pub encoder: Encoder,
    pub tokenizer: SimpleTokenizer,
    pub text_projection: Linear,
    pub visual_projection: Linear,
    pub image_dim: usize,
    pub joint_dim: usize,
}

#[derive(Deserialize)]
struct ConfigFile {
    model_cfg: ModelCfg,
}

#[derive(Deserialize)]
struct ModelCfg {
    embed_dim: usize,
    #[serde(default)]
    quick_gelu: bool,
    vision_cfg: VisionCfg,
    text_cfg: TextCfg,
}

#[derive(Deserialize)]
struct VisionCfg {
    width: Option<usize>,
}

/// `CLIPTextCfg` (open_clip 3.3.0) with its defaults; the fields that would
/// change the computation are read so that a value artlens does not
/// implement is refused by name.
#[derive(Deserialize)]
#[serde(default)]
struct TextCfg {
    context_length: usize,
    vocab_size: usize,
    width: usize,
    heads: usize,
    layers: usize,
    mlp_ratio: f64,
    pool_type: String,
    proj_type: String,
    proj_bias: bool,
    no_causal_mask: bool,
    final_ln_after_pool: bool,
    embed_cls: bool,
    ls_init_value: Option<f64>,
    hf_model_name: Option<String>,
    hf_tokenizer_name: Option<String>,
    block_type: Option<String>,
    act_kwargs: Option<serde_json::Value>,
    norm_kwargs: Option<serde_json::Value>,
    #[serde(flatten)]
    flags: std::collections::HashMap<String, serde_json::Value>,
}

impl Default for TextCfg {
    fn default() -> Self {
        TextCfg {
            context_length: 77,
            vocab_size: 49408,
            width: 512,
            heads: 8,
            layers: 12,
            mlp_ratio: 4.0,
            pool_type: "argmax".into(),
            proj_type: "linear".into(),
            proj_bias: false,
            no_causal_mask: false,
            final_ln_after_pool: false,
            embed_cls: false,
            ls_init_value: None,
            hf_model_name: None,
            hf_tokenizer_name: None,
            block_type: None,
            act_kwargs: None,
            norm_kwargs: None,
            flags: Default::default(),
        }
    }
}

/// The custom attention options of `CLIPTextCfg`, none of which artlens
/// implements.
const CUSTOM_BLOCK_FLAGS: &[&str] = &[
    "qk_norm",
    "scaled_cosine_attn",
    "scale_heads",
    "scale_attn_inner",
    "scale_attn",
    "scale_fc",
];

/// Whether `dir` holds open_clip's config (a timm CLIP repository's text
/// tower).
pub(crate) fn present(dir: &Path) -> bool {
    dir.join(OPEN_CLIP_CONFIG).is_file()
}

/// The repository whose `tokenizer.json` holds the CLIP BPE vocabulary
/// that open_clip ships inside its Python package (every CLIP model uses
/// the same 49,408 tokens; the loader checks the size and the order).
pub(crate) const VOCABULARY_REPO: &str = "openai/clip-vit-base-patch32";

/// Finds a file of a hub repository that the checkpoint's folder lacks:
/// `(repository, file)` to its path, or why it is not there. A hub download
/// of a timm CLIP repository fetches the image tower's files only (the
/// open_clip file holds both towers again, so `index` does not fetch it),
/// and no timm repository carries the vocabulary.
pub(crate) type Companion<'a> = dyn Fn(&str, &str) -> std::result::Result<PathBuf, String> + 'a;

/// Looks nowhere beyond the folder.
pub(crate) fn no_companion(_: &str, _: &str) -> std::result::Result<PathBuf, String> {
    Err(String::new())
}

/// Where open_clip's three files are.
pub(crate) struct Located {
    config: PathBuf,
    weights: PathBuf,
    vocabulary: PathBuf,
}

/// Finds open_clip's files: in `dir` first, then through `companion`
/// (the config and weights from `hub_id`, the vocabulary from
/// [`VOCABULARY_REPO`]). When some are found nowhere, the reason names
/// them with the command that fetches them into `dir` (the hub cache's
/// snapshot folder, or `--weights DIR`), and why fetching did not work.
pub(crate) fn locate(
    dir: &Path,
    hub_id: &str,
    companion: &Companion,
) -> std::result::Result<Located, String> {
    let mut failures: Vec<String> = Vec::new();
    let mut find = |names: &[&str], repo: &str| -> Option<PathBuf> {
        if let Some(p) = names.iter().map(|f| dir.join(f)).find(|p| p.is_file()) {
            return Some(p);
        }
        match companion(repo, names[0]) {
            Ok(p) => Some(p),
            Err(why) => {
                if !why.is_empty() {
                    failures.push(format!("{repo}/{}: {why}", names[0]));
                }
                None
            }
        }
    };
    let config = find(&[OPEN_CLIP_CONFIG], hub_id);
    let weights = find(OPEN_CLIP_WEIGHTS, hub_id);
    let vocabulary = find(&[VOCABULARY], VOCABULARY_REPO);
    if let (Some(config), Some(weights), Some(vocabulary)) = (&config, &weights, &vocabulary) {
        return Ok(Located {
            config: config.clone(),
            weights: weights.clone(),
            vocabulary: vocabulary.clone(),
        });
    }
    let mut missing: Vec<&str> = Vec::new();
    if config.is_none() {
        missing.push(OPEN_CLIP_CONFIG);
    }
    if weights.is_none() {
        missing.push(OPEN_CLIP_WEIGHTS[0]);
    }
    let mut steps = Vec::new();
    if !missing.is_empty() {
        steps.push(format!(
            "`huggingface-cli download {hub_id} {} --local-dir {}`",
            missing.join(" "),
            dir.display()
        ));
    }
    if vocabulary.is_none() {
        steps.push(format!(
            "the CLIP BPE vocabulary open_clip ships, as a tokenizer.json: `huggingface-cli download {VOCABULARY_REPO} tokenizer.json --local-dir {}`",
            dir.display()
        ));
    }
    let what = missing
        .iter()
        .copied()
        .chain(vocabulary.is_none().then_some(VOCABULARY))
        .collect::<Vec<_>>()
        .join(", ");
    let tried = if failures.is_empty() {
        String::new()
    } else {
        format!(" (fetching them failed: {})", failures.join("; "))
    };
    Err(format!(
        "{} lacks open_clip's text files ({what}){tried}; add them with {}",
        dir.display(),
        steps.join(" and ")
    ))
}

/// Reads open_clip's text tower and image projection from the files
/// [`locate`] found.
pub(crate) fn load(files: &Located) -> Result<OpenClip> {
    let config_path = files.config.clone();
    let file: ConfigFile = crate::model::config::read_json(&config_path, "open_clip_config.json")?;
    let cfg = file.model_cfg;
    let text = &cfg.text_cfg;
    check_supported(&config_path, text)?;
    let (c, h) = (text.width, text.heads);
    if h == 0 || !c.is_multiple_of(h) || text.context_length < 2 {
        return Err(Error::Config {
            path: config_path,
            reason: format!(
                "inconsistent text dims: text_cfg.width {c} must divide by text_cfg.heads {h}, and context_length ({}) must be at least 2",
                text.context_length
            ),
        });
    }
    let dims = Dims {
        vocab: text.vocab_size,
        hidden: c,
        intermediate: (c as f64 * text.mlp_ratio) as usize,
        layers: text.layers,
        heads: h,
        positions: text.context_length,
        eps: 1e-5,
        act: if cfg.quick_gelu {
            Act::QuickGelu
        } else {
            Act::Gelu
        },
        causal: true,
    };
    let tokenizer =
        SimpleTokenizer::from_tokenizer_json(&files.vocabulary, dims.positions, dims.vocab)?;
    let weights = &files.weights;
    let checkpoint = read_checkpoint(weights, &Device::Cpu)?;
    let mut t = Tensors {
        checkpoint,
        path: weights,
        model: "open_clip CLIP",
    };
    // `CLIP` keeps the text tower at the top level; `CustomTextCLIP`
    // under `text.`.
    let prefix = if t.has("token_embedding.weight") {
        ""
    } else {
        "text."
    };
    let encoder = Encoder::load(&mut t, prefix, dims, &OPEN_CLIP)?;
    let e = cfg.embed_dim;
    let text_projection = transposed(&mut t, &format!("{prefix}text_projection"), [c, e])?;
    let image_dim = cfg.vision_cfg.width.unwrap_or(768);
    let visual_projection = transposed(&mut t, "visual.proj", [image_dim, e])?;
    Ok(OpenClip {
        encoder,
        tokenizer,
        text_projection,
        visual_projection,
        image_dim,
        joint_dim: e,
    })
}

/// A projection stored as `[in, out]` and applied as `x @ P` (open_clip's
/// `text_projection` and `visual.proj`), as a bias-free layer.
fn transposed(t: &mut Tensors, name: &str, shape: [usize; 2]) -> Result<Linear> {
    let m = t.matrix(name, shape)?;
    let (rows, cols) = (shape[0], shape[1]);
    let src = m.as_slice();
    let mut values = vec![0f32; rows * cols];
    for r in 0..rows {
        for c in 0..cols {
            values[c * rows + r] = src[r * cols + c];
        }
    }
    Linear::without_bias(Matrix::Owned {
        values,
        rows: cols,
        cols: rows,
    })
}

/// Refuses the `text_cfg` options that change the computation and that
/// artlens does not implement, naming the field.
fn check_supported(path: &Path, text: &TextCfg) -> Result<()> {
    let refuse = |field: &str, value: String| {
        Err(crate::model::hf::refuse(
            path,
            &format!("model_cfg.text_cfg.{field}"),
            value,
            "open_clip's default CLIP text transformer: argmax pooling, a linear projection without bias, causal mask, no layer scale, open_clip's CLIP tokenizer",
        ))
    };
    if text.pool_type != "argmax" {
        return refuse("pool_type", text.pool_type.clone());
    }
    if text.proj_type != "linear" || text.proj_bias {
        return refuse(
            "proj_type",
            format!("{} (proj_bias {})", text.proj_type, text.proj_bias),
        );
    }
    if text.no_causal_mask || text.final_ln_after_pool || text.embed_cls {
        return refuse(
            "no_causal_mask / final_ln_after_pool / embed_cls",
            "true".into(),
        );
    }
    if let Some(v) = text.ls_init_value {
        return refuse("ls_init_value", v.to_string());
    }
    if let Some(v) = text
        .hf_model_name
        .as_ref()
        .or(text.hf_tokenizer_name.as_ref())
    {
        return refuse("hf_model_name / hf_tokenizer_name", v.clone());
    }
    if let Some(v) = text.block_type.as_ref().filter(|b| *b != "default") {
        return refuse("block_type", v.clone());
    }
    if let Some(v) = text
        .act_kwargs
        .as_ref()
        .or(text.norm_kwargs.as_ref())
        .filter(|v| !v.is_null() && v.as_object().is_none_or(|o| !o.is_empty()))
    {
        return refuse("act_kwargs / norm_kwargs", v.to_string());
    }
    // A tokenizer set up otherwise (another cleaning, a reduction mode)
    // gives other ids.
    for field in ["tokenizer_kwargs", "tokenizer_mode"] {
        if let Some(v) = text
            .flags
            .get(field)
            .filter(|v| !v.is_null() && v.as_object().is_none_or(|o| !o.is_empty()))
        {
            return refuse(field, v.to_string());
        }
    }
    for flag in CUSTOM_BLOCK_FLAGS {
        if let Some(v) = text.flags.get(*flag).filter(|v| v.as_bool() == Some(true)) {
            return refuse(flag, v.to_string());
        }
    }
    Ok(())
}
