//! Checkpoint configurations, mirroring the files a hub repository ships, and
//! their translation into the one [`VitConfig`] our transformer understands.
//!
//! * DINO (`facebook/dino-vitb16`) ships a transformers `ViTConfig` in
//!   `config.json` and a `ViTImageProcessor` in `preprocessor_config.json`.
//!   Reference: <https://github.com/huggingface/transformers/blob/main/src/transformers/models/vit/configuration_vit.py>.
//! * DINOv2 (`timm/vit_base_patch14_dinov2.lvd142m`) ships a timm hub config:
//!   the architecture name (dims come from timm's registered model), optional
//!   `model_args` overriding them, and `pretrained_cfg` with the eval transform.
//!   Reference: <https://github.com/huggingface/pytorch-image-models/blob/main/timm/models/vision_transformer.py>.

use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::imaging::{Geometry, Preprocess, ResizeFilter};

pub use crate::model::registry::Layout;

/// The transformers `model_type`s artlens reads, for error messages (the
/// readers are in `crate::model::hf`).
pub(crate) const MODEL_TYPES: &str = "vit (ViTModel: facebook/dino-*), dinov2 (Dinov2Model: facebook/dinov2-*), dinov2_with_registers (facebook/dinov2-with-registers-*), clip / clip_vision_model (CLIPModel, CLIPVisionModel: openai/clip-vit-*, laion/CLIP-ViT-*), siglip / siglip_vision_model (SiglipModel, SiglipVisionModel: google/siglip-*, google/siglip2-*), dinov3_vit (DINOv3ViTModel: facebook/dinov3-*-pretrain-lvd1689m)";

/// The MLP's activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Act {
    /// Exact (erf) GELU: `nn.GELU()`.
    Gelu,
    /// `x · σ(1.702 x)`: OpenAI CLIP's QuickGELU (timm `quick_gelu`).
    QuickGelu,
    /// GELU's tanh approximation (transformers `gelu_pytorch_tanh`, SigLIP).
    GeluTanh,
}

/// The MLP inside each block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mlp {
    /// `fc2(act(fc1(x)))`.
    Plain(Act),
    /// timm `SwiGLUPacked` (DINOv2 giant): one `fc1` whose output halves are
    /// `a | b`, then `fc2(silu(a) · b)`.
    SwiGluPacked,
    /// timm `SwiGLU` (DINOv3 S+): `fc2(silu(fc1_g(x)) · fc1_x(x))`.
    SwiGlu,
}

/// How patch positions enter the model.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Positions {
    /// A learned table added to the tokens; `covers_prefix` when it has rows
    /// for the class token (timm's `no_embed_class = False`), otherwise only
    /// the patches get one and the prefix tokens are concatenated after.
    Learned {
        /// The table has rows for the prefix tokens too (timm's
        /// `no_embed_class = False`).
        covers_prefix: bool,
    },
    /// DINOv3's rotary embeddings on the patch tokens' queries and keys:
    /// centred, per-axis normalised coordinates, periods
    /// `temperature^(2i / (head_dim / 2))`, rotate-half layout.
    Rope {
        /// The base of the rotary periods (timm's `rope_temperature`,
        /// transformers' `rope_theta`; 100 in the released checkpoints).
        temperature: f64,
    },
}

/// What becomes the embedding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Pool {
    /// The class token.
    Token,
    /// The mean of the patch tokens (prefix tokens excluded).
    Avg,
    /// timm's `AttentionPoolLatent` head (SigLIP): a learned query attends
    /// over all tokens, then a projection and a residual MLP.
    Map,
}

/// Which of q, k, v carry a bias.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum QkvBias {
    /// No bias on q, k or v (DINOv3's plain variants).
    None,
    /// All three (timm `qkv.bias`, transformers query/key/value biases).
    Full,
    /// Eva's `q_bias` and `v_bias`; the key's bias is zero.
    QueryValue,
}

/// How position embeddings are resampled to another grid, following the
/// library the checkpoint belongs to (the two differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PosResample {
    /// PyTorch `interpolate(mode="bicubic", align_corners=False)`, a = −0.75,
    /// no antialiasing: transformers' `interpolate_pos_encoding`.
    Bicubic,
    /// PyTorch `interpolate(mode="bicubic", antialias=True)`: Pillow-style
    /// separable cubic with a = −0.5 whose support widens when downscaling;
    /// what timm's `resample_abs_pos_embed` does at load time.
    BicubicAntialias,
}

/// Everything the transformer needs to know about one checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct VitConfig {
    /// The tensor naming scheme of the checkpoint, which is also the
    /// reference library the forward pass follows.
    pub layout: Layout,
    /// The architecture the config names (`vit_base_patch14_dinov2`,
    /// `ViTModel`), for messages.
    pub architecture: String,
    /// The token width D (768 for a ViT-B).
    pub hidden_size: usize,
    /// The number of transformer blocks.
    pub depth: usize,
    /// Attention heads per block; `hidden_size` is a multiple of it.
    pub num_heads: usize,
    /// The MLP's hidden width (per branch for the SwiGLU ones).
    pub mlp_dim: usize,
    /// The MLP inside each block.
    pub mlp: Mlp,
    /// The side of a square patch in pixels (14 or 16).
    pub patch_size: usize,
    /// The patch embedding has a bias (every checkpoint but CLIP's).
    pub patch_bias: bool,
    /// The image side the checkpoint's position embeddings were trained at.
    pub native_image_size: usize,
    /// The epsilon of every LayerNorm (1e-6 in most timm ViTs, 1e-5 in
    /// CLIP's, 1e-12 in transformers' DINO).
    pub layer_norm_eps: f64,
    /// Which of q, k, v carry a bias.
    pub qkv_bias: QkvBias,
    /// LayerScale after attention and MLP.
    pub layer_scale: bool,
    /// The tokens start with a class token (every checkpoint but SigLIP's).
    pub class_token: bool,
    /// Register (DINOv2) or storage (DINOv3) tokens after the class token.
    pub reg_tokens: usize,
    /// How patch positions enter the model.
    pub positions: Positions,
    /// A LayerNorm on the tokens before the first block (CLIP's `norm_pre`).
    pub pre_norm: bool,
    /// What becomes the embedding.
    pub pool: Pool,
    /// The final norm applied after pooling (timm's `fc_norm`) instead of to
    /// every token before it.
    pub fc_norm: bool,
    /// How the position embeddings are resampled when the input grid is
    /// not the native one.
    pub pos_resample: PosResample,
}

impl VitConfig {
    /// Position-embedding grid side at the native size.
    pub(crate) fn native_grid(&self) -> usize {
        self.native_image_size / self.patch_size
    }

    /// Class token plus register/storage tokens.
    pub(crate) fn prefix_tokens(&self) -> usize {
        usize::from(self.class_token) + self.reg_tokens
    }
}

/// transformers' `ViTConfig` as serialised in `config.json`. Fields the real
/// DINO file omits take transformers' defaults (notably `qkv_bias`).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct TransformersVitConfig {
    pub model_type: Option<String>,
    #[serde(default = "default_usize::<768>")]
    pub hidden_size: usize,
    #[serde(default = "default_usize::<12>")]
    pub num_hidden_layers: usize,
    #[serde(default = "default_usize::<12>")]
    pub num_attention_heads: usize,
    #[serde(default = "default_usize::<3072>")]
    pub intermediate_size: usize,
    #[serde(default = "d_act")]
    pub hidden_act: String,
    #[serde(default = "d_eps")]
    pub layer_norm_eps: f64,
    #[serde(default = "default_usize::<224>")]
    pub image_size: usize,
    #[serde(default = "default_usize::<16>")]
    pub patch_size: usize,
    #[serde(default = "default_usize::<3>")]
    pub num_channels: usize,
    #[serde(default = "default_true")]
    pub qkv_bias: bool,
}

/// The error of a config file at `path` that artlens cannot honour, saying why.
pub(crate) fn config_error(path: &Path, reason: impl Into<String>) -> Error {
    Error::Config {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// A serde default of `N`, for the integer fields of the config files
/// (`#[serde(default = "default_usize::<768>")]`): one function serves every
/// default instead of one per field and file.
pub(crate) fn default_usize<const N: usize>() -> usize {
    N
}

/// The serde default of the flags that transformers switches on by default.
pub(crate) fn default_true() -> bool {
    true
}

fn d_act() -> String {
    "gelu".into()
}
fn d_eps() -> f64 {
    1e-12
}

/// transformers' image-processor config (`preprocessor_config.json`).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ViTImageProcessorConfig {
    #[serde(default = "default_true")]
    pub do_resize: bool,
    #[serde(default = "default_true")]
    pub do_rescale: bool,
    #[serde(default = "default_true")]
    pub do_normalize: bool,
    pub size: Option<ProcessorSize>,
    /// PIL's resample enum: 2 = BILINEAR (the ViT default), 3 = BICUBIC.
    #[serde(default = "d_resample")]
    pub resample: i64,
    #[serde(default = "d_rescale")]
    pub rescale_factor: f64,
    pub image_mean: Option<[f32; 3]>,
    pub image_std: Option<[f32; 3]>,
}

fn d_resample() -> i64 {
    2
}
fn d_rescale() -> f64 {
    1.0 / 255.0
}

/// `size` is an int in older files and a dict in newer ones.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum ProcessorSize {
    Square(u32),
    HeightWidth { height: u32, width: u32 },
}

/// timm's hub `config.json`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct TimmHubConfig {
    pub architecture: String,
    #[serde(default)]
    pub model_args: TimmModelArgs,
    pub pretrained_cfg: TimmPretrainedCfg,
}

/// The `VisionTransformer.__init__` / `Eva.__init__` arguments a hub config
/// may override. Anything else in `model_args` is refused by name (see
/// [`HARMLESS_MODEL_ARGS`]) rather than silently ignored, because most of
/// timm's arguments change the numerics.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct TimmModelArgs {
    pub embed_dim: Option<usize>,
    pub depth: Option<usize>,
    pub num_heads: Option<usize>,
    pub mlp_ratio: Option<f64>,
    /// An int in older hub configs; `[height, width]` in what timm 1.0.31's
    /// `save_for_hf` writes.
    pub img_size: Option<ImgSize>,
    pub patch_size: Option<usize>,
    /// `save_for_hf` records it; only RGB (3) is read.
    pub in_chans: Option<usize>,
    pub init_values: Option<f64>,
    pub qkv_bias: Option<bool>,
    pub reg_tokens: Option<usize>,
    pub num_reg_tokens: Option<usize>,
    pub class_token: Option<bool>,
    pub no_embed_class: Option<bool>,
    pub global_pool: Option<String>,
    pub pre_norm: Option<bool>,
    pub fc_norm: Option<bool>,
    pub use_fc_norm: Option<bool>,
    pub act_layer: Option<String>,
    pub rope_temperature: Option<f64>,
    #[serde(flatten)]
    pub other: std::collections::BTreeMap<String, serde_json::Value>,
}

/// timm's `img_size`: one side, or `[height, width]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub(crate) enum ImgSize {
    Square(usize),
    Pair([usize; 2]),
}

impl ImgSize {
    /// The side of a square size; `None` for a non-square pair, which the
    /// one square position grid artlens resamples cannot represent.
    pub fn square(self) -> Option<usize> {
        match self {
            ImgSize::Square(n) => Some(n),
            ImgSize::Pair([h, w]) => (h == w).then_some(h),
        }
    }

    /// As the config spells it, for messages.
    fn json(self) -> String {
        match self {
            ImgSize::Square(n) => n.to_string(),
            ImgSize::Pair([h, w]) => format!("[{h}, {w}]"),
        }
    }
}

/// `model_args` keys that do not change the eval-mode forward pass.
/// `num_classes` only sizes the classifier head, which the embedding
/// (`num_classes=0`, the pre-logits features) never uses.
const HARMLESS_MODEL_ARGS: &[&str] = &[
    "num_classes",
    "drop_rate",
    "pos_drop_rate",
    "patch_drop_rate",
    "proj_drop_rate",
    "attn_drop_rate",
    "drop_path_rate",
    "dynamic_img_size",
    "dynamic_img_pad",
    "weight_init",
];

/// timm's `pretrained_cfg`: the eval transform.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct TimmPretrainedCfg {
    pub input_size: [usize; 3],
    #[serde(default = "d_bicubic")]
    pub interpolation: String,
    #[serde(default = "d_crop_pct")]
    pub crop_pct: f64,
    #[serde(default = "d_center")]
    pub crop_mode: String,
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

fn d_bicubic() -> String {
    "bicubic".into()
}
fn d_crop_pct() -> f64 {
    0.875
}
fn d_center() -> String {
    "center".into()
}

pub(crate) fn read_json<T: for<'de> Deserialize<'de>>(path: &Path, what: &str) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| config_error(path, format!("not a valid {what}: {e}")))
}

/// Which kind of `config.json` this is: timm's hub config names an
/// `architecture`, a transformers one a `model_type`.
pub(crate) fn config_layout(path: &Path) -> Result<Layout> {
    let v: serde_json::Value = read_json(path, "config.json")?;
    if let Some(arch) = v.get("architecture").and_then(|a| a.as_str()) {
        let eva = timm_preset(arch.split('.').next().unwrap_or_default())
            .is_some_and(|p| p.layout == Layout::Eva);
        return Ok(if eva { Layout::Eva } else { Layout::Timm });
    }
    if v.get("model_type").is_some() {
        return Ok(Layout::Transformers);
    }
    Err(config_error(path, format!(
            "names neither an `architecture` (timm) nor a `model_type` (transformers); artlens reads the transformers model types {} and the timm architectures {}",
            MODEL_TYPES,
            timm_architectures()
        )))
}

/// Validates a transformers config as a DINO ViT and returns its `VitConfig`.
pub(crate) fn dino_vit_config(cfg: &TransformersVitConfig, path: &Path) -> Result<VitConfig> {
    let bad = |reason: String| config_error(path, reason);
    match cfg.model_type.as_deref() {
        Some("vit") => {}
        Some(other) => {
            return Err(bad(format!(
                "the config's `model_type` is `{other}`; artlens reads the transformers model types {} and timm checkpoints whose `architecture` is one of: {}", MODEL_TYPES, timm_architectures()
            )))
        }
        None => return Err(bad("config has no `model_type`; expected `vit` (facebook/dino-vitb16)".into())),
    }
    if cfg.hidden_act != "gelu" {
        return Err(bad(format!(
            "hidden_act `{}` is not supported (only exact erf `gelu`)",
            cfg.hidden_act
        )));
    }
    if cfg.num_channels != 3 {
        return Err(bad(format!(
            "num_channels {} (only RGB, 3, is supported)",
            cfg.num_channels
        )));
    }
    check_dims(
        cfg.hidden_size,
        cfg.num_attention_heads,
        cfg.patch_size,
        cfg.image_size,
        path,
    )?;
    Ok(VitConfig {
        layout: Layout::Transformers,
        architecture: "transformers ViTModel".into(),
        hidden_size: cfg.hidden_size,
        depth: cfg.num_hidden_layers,
        num_heads: cfg.num_attention_heads,
        mlp_dim: cfg.intermediate_size,
        mlp: Mlp::Plain(Act::Gelu),
        patch_size: cfg.patch_size,
        patch_bias: true,
        native_image_size: cfg.image_size,
        layer_norm_eps: cfg.layer_norm_eps,
        qkv_bias: if cfg.qkv_bias {
            QkvBias::Full
        } else {
            QkvBias::None
        },
        layer_scale: false,
        class_token: true,
        reg_tokens: 0,
        positions: Positions::Learned {
            covers_prefix: true,
        },
        pre_norm: false,
        pool: Pool::Token,
        fc_norm: false,
        pos_resample: PosResample::Bicubic,
    })
}

fn check_dims(hidden: usize, heads: usize, patch: usize, image: usize, path: &Path) -> Result<()> {
    if heads == 0 || !hidden.is_multiple_of(heads) || patch == 0 || !image.is_multiple_of(patch) {
        return Err(config_error(path, format!(
                "inconsistent dims: hidden {hidden} must divide by heads {heads}, image {image} by patch {patch}"
            )));
    }
    Ok(())
}

/// The DINO preprocessing recipe at `image_size` (the processor's own size
/// when `None`).
pub(crate) fn dino_preprocess(
    cfg: &ViTImageProcessorConfig,
    image_size: Option<u32>,
    path: &Path,
) -> Result<Preprocess> {
    let bad = |reason: String| config_error(path, reason);
    if !cfg.do_resize || !cfg.do_normalize {
        return Err(bad(
            "do_resize and do_normalize must be true for DINO".into()
        ));
    }
    let (width, height) = match (image_size, &cfg.size) {
        (Some(n), _) => (n, n),
        (None, Some(ProcessorSize::Square(n))) => (*n, *n),
        (None, Some(ProcessorSize::HeightWidth { height, width })) => (*width, *height),
        (None, None) => (224, 224),
    };
    let filter = ResizeFilter::from_pil(cfg.resample).ok_or_else(|| {
        bad(format!(
            "resample {} is not supported (2 bilinear, 3 bicubic)",
            cfg.resample
        ))
    })?;
    Ok(Preprocess {
        geometry: Geometry::Squash { width, height },
        filter,
        rescale: if cfg.do_rescale {
            cfg.rescale_factor as f32
        } else {
            1.0
        },
        mean: cfg.image_mean.unwrap_or([0.5, 0.5, 0.5]),
        std: cfg.image_std.unwrap_or([0.5, 0.5, 0.5]),
    })
}

/// What timm's registered model function sets for one architecture:
/// `timm/models/vision_transformer.py` and `timm/models/eva.py`
/// (<https://github.com/huggingface/pytorch-image-models/tree/main/timm/models>).
/// The hub config names the architecture and may override some of it in
/// `model_args`.
#[derive(Debug, Clone)]
struct TimmPreset {
    layout: Layout,
    patch: usize,
    embed: usize,
    depth: usize,
    heads: usize,
    mlp_ratio: f64,
    img: usize,
    eps: f64,
    init_values: Option<f64>,
    reg_tokens: usize,
    no_embed_class: bool,
    class_token: bool,
    pre_norm: bool,
    act: Act,
    mlp: Mlp,
    /// `swiglu_align_to` of timm's `SwiGLU`.
    align_to: usize,
    qkv_bias: bool,
    pool: &'static str,
    rope: Option<f64>,
    /// timm's explicit `use_fc_norm`/`fc_norm`, `None` = its default.
    fc_norm: Option<bool>,
}

/// The architectures [`timm_preset`] knows, for error messages.
pub(crate) fn timm_architectures() -> String {
    let mut names: Vec<String> = Vec::new();
    for size in ["small", "base", "large", "giant"] {
        names.push(format!("vit_{size}_patch14_dinov2"));
        names.push(format!("vit_{size}_patch14_reg4_dinov2"));
    }
    for size in ["small", "small_plus", "base", "large"] {
        names.push(format!("vit_{size}_patch16_dinov3[_qkvb]"));
    }
    for n in [
        "vit_base_patch32_clip_224",
        "vit_base_patch16_clip_224",
        "vit_large_patch14_clip_224",
        "vit_base_patch32_clip_quickgelu_224",
        "vit_base_patch16_clip_quickgelu_224",
        "vit_large_patch14_clip_quickgelu_224",
        "vit_base_patch16_siglip_224",
    ] {
        names.push(n.to_string());
    }
    names.join(", ")
}

fn timm_preset(architecture: &str) -> Option<TimmPreset> {
    let vit = TimmPreset {
        layout: Layout::Timm,
        patch: 16,
        embed: 768,
        depth: 12,
        heads: 12,
        mlp_ratio: 4.0,
        img: 224,
        eps: 1e-6,
        init_values: None,
        reg_tokens: 0,
        no_embed_class: false,
        class_token: true,
        pre_norm: false,
        act: Act::Gelu,
        mlp: Mlp::Plain(Act::Gelu),
        align_to: 0,
        qkv_bias: true,
        pool: "token",
        rope: None,
        fc_norm: None,
    };
    let size = |name: &str| -> Option<(usize, usize, usize)> {
        Some(match name {
            "small" => (384, 12, 6),
            "small_plus" => (384, 12, 6),
            "base" => (768, 12, 12),
            "large" => (1024, 24, 16),
            "giant" => (1536, 40, 24),
            _ => return None,
        })
    };
    // vit_{size}_patch14[_reg4]_dinov2
    if let Some(rest) = architecture.strip_prefix("vit_") {
        if let Some(stem) = rest.strip_suffix("_dinov2") {
            let (sz, regs) = match stem.strip_suffix("_patch14_reg4") {
                Some(sz) => (sz, 4),
                None => (stem.strip_suffix("_patch14")?, 0),
            };
            if sz == "small_plus" {
                return None;
            }
            let (embed, depth, heads) = size(sz)?;
            let giant = sz == "giant";
            return Some(TimmPreset {
                patch: 14,
                embed,
                depth,
                heads,
                // timm: `mlp_ratio=2.66667 * 2` with SwiGLUPacked for giant.
                mlp_ratio: if giant { 2.66667 * 2.0 } else { 4.0 },
                img: 518,
                init_values: Some(1e-5),
                reg_tokens: regs,
                no_embed_class: regs > 0,
                mlp: if giant {
                    Mlp::SwiGluPacked
                } else {
                    Mlp::Plain(Act::Gelu)
                },
                ..vit
            });
        }
        // vit_{size}_patch16_dinov3[_qkvb]
        let (stem, qkvb) = match rest.strip_suffix("_qkvb") {
            Some(s) => (s, true),
            None => (rest, false),
        };
        if let Some(sz) = stem.strip_suffix("_patch16_dinov3") {
            if sz == "giant" {
                return None;
            }
            let (embed, depth, heads) = size(sz)?;
            let splus = sz == "small_plus";
            return Some(TimmPreset {
                layout: Layout::Eva,
                patch: 16,
                embed,
                depth,
                heads,
                img: 256,
                eps: 1e-5,
                init_values: Some(1e-5),
                reg_tokens: 4,
                mlp: if splus {
                    Mlp::SwiGlu
                } else {
                    Mlp::Plain(Act::Gelu)
                },
                align_to: if splus { 8 } else { 0 },
                qkv_bias: qkvb,
                pool: "avg",
                rope: Some(100.0),
                fc_norm: Some(false),
                ..vit
            });
        }
    }
    let (embed, depth, heads, patch) = match architecture {
        "vit_base_patch32_clip_224" | "vit_base_patch32_clip_quickgelu_224" => (768, 12, 12, 32),
        "vit_base_patch16_clip_224" | "vit_base_patch16_clip_quickgelu_224" => (768, 12, 12, 16),
        "vit_large_patch14_clip_224" | "vit_large_patch14_clip_quickgelu_224" => (1024, 24, 16, 14),
        "vit_base_patch16_siglip_224" => {
            return Some(TimmPreset {
                class_token: false,
                pool: "map",
                ..vit
            })
        }
        _ => return None,
    };
    let act = if architecture.contains("quickgelu") {
        Act::QuickGelu
    } else {
        Act::Gelu
    };
    Some(TimmPreset {
        patch,
        embed,
        depth,
        heads,
        eps: 1e-5,
        pre_norm: true,
        act,
        mlp: Mlp::Plain(act),
        ..vit
    })
}

/// Validates a timm hub config (any architecture of [`timm_architectures`])
/// and returns its `VitConfig`.
pub(crate) fn timm_vit_config(cfg: &TimmHubConfig, path: &Path) -> Result<VitConfig> {
    let bad = |reason: String| config_error(path, reason);
    let arch = cfg.architecture.split('.').next().unwrap_or_default();
    let p = timm_preset(arch).ok_or_else(|| {
        bad(format!(
            "the config's `architecture` is `{}`, which artlens does not support; supported timm architectures: {} (and the transformers model types {})",
            cfg.architecture,
            timm_architectures(),
            MODEL_TYPES
        ))
    })?;
    let args = &cfg.model_args;
    if let Some(key) = args
        .other
        .keys()
        .find(|k| !HARMLESS_MODEL_ARGS.contains(&k.as_str()))
    {
        return Err(bad(format!(
            "model_args.{key} is set; artlens reproduces {arch} only with timm's own value for it (remove it, or open an issue with the checkpoint)"
        )));
    }
    let dim = args.embed_dim.unwrap_or(p.embed);
    let heads = args.num_heads.unwrap_or(p.heads);
    let patch = args.patch_size.unwrap_or(p.patch);
    let img = match args.img_size {
        None => p.img,
        Some(size) => size.square().ok_or_else(|| {
            bad(format!(
                "model_args.img_size is {}, which is not square; artlens reads square checkpoints only (its position grid and `@SIZE` are square)",
                size.json()
            ))
        })?,
    };
    if let Some(ch) = args.in_chans.filter(|&c| c != 3) {
        return Err(bad(format!(
            "model_args.in_chans is {ch}; artlens feeds RGB images, so only 3 input channels are read"
        )));
    }
    check_dims(dim, heads, patch, img, path)?;
    let act = match args.act_layer.as_deref() {
        None => p.act,
        Some("gelu") => Act::Gelu,
        Some("quick_gelu") => Act::QuickGelu,
        Some(other) => {
            return Err(bad(format!(
                "model_args.act_layer `{other}` is not supported (gelu or quick_gelu)"
            )))
        }
    };
    let mlp = match p.mlp {
        Mlp::Plain(_) => Mlp::Plain(act),
        m => m,
    };
    let hidden = (dim as f64 * args.mlp_ratio.unwrap_or(p.mlp_ratio)) as usize;
    let mlp_dim = match mlp {
        // timm's GluMlp halves the packed width.
        Mlp::SwiGluPacked => hidden / 2,
        Mlp::SwiGlu if p.align_to > 0 => hidden.div_ceil(p.align_to) * p.align_to,
        _ => hidden,
    };
    let class_token = args.class_token.unwrap_or(p.class_token);
    let reg_tokens = args
        .reg_tokens
        .or(args.num_reg_tokens)
        .unwrap_or(p.reg_tokens);
    let pool_name = args.global_pool.as_deref().unwrap_or(p.pool);
    let pool = match pool_name {
        "token" if class_token => Pool::Token,
        "avg" => Pool::Avg,
        "map" if p.layout == Layout::Timm => Pool::Map,
        other => {
            return Err(bad(format!(
                "model_args.global_pool `{other}` is not supported for {arch} (token with a class token, avg, or map for timm ViTs)"
            )))
        }
    };
    let pre_norm = args.pre_norm.unwrap_or(p.pre_norm);
    // timm: `use_fc_norm = global_pool in ('avg', 'avgmax', 'max')` unless
    // given, for VisionTransformer (`fc_norm`) and Eva (`use_fc_norm`) alike.
    let fc_norm = args
        .fc_norm
        .or(args.use_fc_norm)
        .or(p.fc_norm)
        .unwrap_or(pool == Pool::Avg);
    let positions = match p.rope {
        Some(t) => Positions::Rope {
            temperature: args.rope_temperature.unwrap_or(t),
        },
        None => Positions::Learned {
            covers_prefix: !args.no_embed_class.unwrap_or(p.no_embed_class),
        },
    };
    if let Positions::Rope { .. } = positions {
        if !(dim / heads).is_multiple_of(4) {
            return Err(bad(format!(
                "head dim {} is not a multiple of 4, which DINOv3's rotary embeddings need",
                dim / heads
            )));
        }
    }
    let qkv_bias = match (args.qkv_bias.unwrap_or(p.qkv_bias), p.layout) {
        (false, _) => QkvBias::None,
        (true, Layout::Eva) => QkvBias::QueryValue,
        (true, _) => QkvBias::Full,
    };
    Ok(VitConfig {
        layout: p.layout,
        architecture: arch.to_string(),
        hidden_size: dim,
        depth: args.depth.unwrap_or(p.depth),
        num_heads: heads,
        mlp_dim,
        mlp,
        patch_size: patch,
        // timm: `bias=not pre_norm` for the patch embedding.
        patch_bias: !pre_norm,
        native_image_size: img,
        layer_norm_eps: p.eps,
        qkv_bias,
        layer_scale: args.init_values.or(p.init_values).is_some_and(|v| v > 0.0),
        class_token,
        reg_tokens,
        positions,
        pre_norm,
        pool,
        fc_norm,
        pos_resample: PosResample::BicubicAntialias,
    })
}

/// timm's eval transform (`resolve_data_config` + `create_transform`) at `image_size` (the config's input size
/// when `None`): shorter side to `floor(size / crop_pct)`, center crop.
pub(crate) fn timm_preprocess(
    cfg: &TimmPretrainedCfg,
    image_size: Option<u32>,
    path: &Path,
) -> Result<Preprocess> {
    let bad = |reason: String| config_error(path, reason);
    if cfg.crop_mode != "center" {
        return Err(bad(format!(
            "crop_mode `{}` is not supported (only `center`)",
            cfg.crop_mode
        )));
    }
    let filter = ResizeFilter::from_name(&cfg.interpolation).ok_or_else(|| {
        bad(format!(
            "interpolation `{}` is not supported",
            cfg.interpolation
        ))
    })?;
    if cfg.input_size[1] != cfg.input_size[2] {
        return Err(bad(format!(
            "pretrained_cfg.input_size {:?} is not square; artlens reads square inputs only",
            cfg.input_size
        )));
    }
    let crop = image_size.unwrap_or(cfg.input_size[1] as u32);
    // timm: `scale_size = math.floor(img_size / crop_pct)`.
    let resize_to = (crop as f64 / cfg.crop_pct).floor() as u32;
    Ok(Preprocess {
        geometry: Geometry::ShortSideCenterCrop { resize_to, crop },
        filter,
        rescale: 1.0 / 255.0,
        mean: cfg.mean,
        std: cfg.std,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::registry::REGISTRY;

    /// Parameters of the model `cfg` describes (what
    /// `sum(p.numel() for p in model.parameters())` counts in the reference,
    /// classifier head excluded): the tensors [`crate::model::Vit::load`] takes.
    pub(crate) fn parameter_count(cfg: &VitConfig) -> u64 {
        let c = cfg.hidden_size as u64;
        let p = cfg.patch_size as u64;
        let h = cfg.mlp_dim as u64;
        let g = cfg.native_grid() as u64;
        let norm = 2 * c;
        let mlp = |kind: Mlp| match kind {
            Mlp::Plain(_) => c * h + h + h * c + c,
            Mlp::SwiGluPacked => c * 2 * h + 2 * h + h * c + c,
            Mlp::SwiGlu => 2 * (c * h + h) + h * c + c,
        };
        let mut n = c * 3 * p * p + if cfg.patch_bias { c } else { 0 };
        n += cfg.prefix_tokens() as u64 * c;
        if let Positions::Learned { covers_prefix } = cfg.positions {
            let rows = if covers_prefix {
                cfg.prefix_tokens() as u64
            } else {
                0
            };
            n += (rows + g * g) * c;
        }
        if cfg.pre_norm {
            n += norm;
        }
        let qkv_bias = match cfg.qkv_bias {
            QkvBias::None => 0,
            QkvBias::Full => 3 * c,
            QkvBias::QueryValue => 2 * c,
        };
        let block = norm
            + 3 * c * c
            + qkv_bias
            + c * c
            + c
            + if cfg.layer_scale { 2 * c } else { 0 }
            + norm
            + mlp(cfg.mlp);
        n += cfg.depth as u64 * block;
        n += norm;
        if cfg.pool == Pool::Map {
            let head_mlp = match cfg.mlp {
                Mlp::Plain(a) => Mlp::Plain(a),
                _ => Mlp::Plain(Act::Gelu),
            };
            n += c + (c * c + c) + (2 * c * c + 2 * c) + (c * c + c) + norm + mlp(head_mlp);
        }
        n
    }

    pub(crate) fn hub_config(architecture: &str, resolution: u32) -> TimmHubConfig {
        serde_json::from_value(serde_json::json!({
            "architecture": architecture,
            "pretrained_cfg": {
                "input_size": [3, resolution, resolution],
                "crop_pct": 1.0,
                "mean": [0.5, 0.5, 0.5],
                "std": [0.5, 0.5, 0.5],
            }
        }))
        .unwrap()
    }

    /// The presets reproduce timm's registered models: every registry
    /// entry's parameter count (read off timm 1.0.31 and transformers 5.24,
    /// `num_classes=0`), width, patch and native size.
    #[test]
    fn presets_match_every_registered_checkpoint() {
        let path = Path::new("config.json");
        for spec in REGISTRY {
            let cfg = match spec.layout {
                // The transformers twins are checked in `model::hf`'s tests,
                // which read their configs.
                Layout::Transformers
                    if spec.family != Some(crate::model::registry::Family::Dino) =>
                {
                    continue
                }
                Layout::Transformers => {
                    let (c, heads) = (spec.embedding_dim, spec.embedding_dim / 64);
                    let t: TransformersVitConfig = serde_json::from_value(serde_json::json!({
                        "model_type": "vit",
                        "hidden_size": c,
                        "num_attention_heads": heads,
                        "intermediate_size": 4 * c,
                        "patch_size": spec.patch_size,
                    }))
                    .unwrap();
                    dino_vit_config(&t, path).unwrap()
                }
                _ => {
                    let arch = spec.hub_id.trim_start_matches("timm/");
                    timm_vit_config(&hub_config(arch, spec.default_resolution), path)
                        .unwrap_or_else(|e| panic!("{}: {e}", spec.hub_id))
                }
            };
            assert_eq!(cfg.hidden_size, spec.embedding_dim, "{}", spec.hub_id);
            assert_eq!(cfg.patch_size as u32, spec.patch_size, "{}", spec.hub_id);
            assert_eq!(
                cfg.native_image_size as u32, spec.default_resolution,
                "{}",
                spec.hub_id
            );
            assert_eq!(parameter_count(&cfg), spec.params, "{}", spec.hub_id);
        }
    }

    #[test]
    fn family_specific_settings() {
        let path = Path::new("config.json");
        let get = |a: &str| timm_vit_config(&hub_config(a, 224), path).unwrap();
        let v3 = get("vit_base_patch16_dinov3.lvd1689m");
        assert_eq!(v3.layout, Layout::Eva);
        assert_eq!((v3.reg_tokens, v3.pool, v3.fc_norm), (4, Pool::Avg, false));
        assert!(matches!(v3.positions, Positions::Rope { temperature } if temperature == 100.0));
        assert_eq!(
            get("vit_base_patch16_dinov3_qkvb").qkv_bias,
            QkvBias::QueryValue
        );
        let reg = get("vit_base_patch14_reg4_dinov2");
        assert_eq!(
            reg.positions,
            Positions::Learned {
                covers_prefix: false
            }
        );
        let clip = get("vit_base_patch16_clip_224");
        assert!(clip.pre_norm && !clip.patch_bias && clip.layer_norm_eps == 1e-5);
        assert_eq!(clip.mlp, Mlp::Plain(Act::Gelu));
        assert_eq!(
            get("vit_base_patch16_clip_quickgelu_224").mlp,
            Mlp::Plain(Act::QuickGelu)
        );
        let sig = get("vit_base_patch16_siglip_224");
        assert!(!sig.class_token && sig.pool == Pool::Map);
        let g = get("vit_giant_patch14_dinov2");
        assert_eq!((g.mlp, g.mlp_dim), (Mlp::SwiGluPacked, 4096));
    }

    /// What timm 1.0.31's `save_for_hf` writes: `img_size` as a pair,
    /// `in_chans`, `num_classes`, `global_pool` (tests/hf_parity.rs loads
    /// such a checkpoint and matches timm).
    #[test]
    fn save_for_hf_model_args_are_read() {
        let path = Path::new("config.json");
        let mut cfg = hub_config("vit_small_patch14_dinov2", 56);
        let args = serde_json::json!({
            "img_size": [56, 56], "embed_dim": 32, "depth": 2, "num_heads": 2,
            "num_classes": 0, "in_chans": 3, "global_pool": "token"
        });
        cfg.model_args = serde_json::from_value(args.clone()).unwrap();
        let v = timm_vit_config(&cfg, path).unwrap();
        assert_eq!(
            (v.native_image_size, v.hidden_size, v.pool),
            (56, 32, Pool::Token)
        );
        cfg.model_args.img_size = Some(ImgSize::Square(56));
        assert_eq!(timm_vit_config(&cfg, path).unwrap(), v);
        cfg.model_args.img_size = Some(ImgSize::Pair([56, 42]));
        let e = timm_vit_config(&cfg, path).unwrap_err().to_string();
        assert!(e.contains("model_args.img_size is [56, 42]"), "{e}");
        cfg.model_args.img_size = None;
        cfg.model_args.in_chans = Some(1);
        let e = timm_vit_config(&cfg, path).unwrap_err().to_string();
        assert!(e.contains("model_args.in_chans is 1"), "{e}");
    }

    #[test]
    fn unsupported_architectures_and_args_are_named() {
        // An unknown `architecture` is covered through the loader in
        // tests/zoo_parity.rs; these are the fields only a config test reaches.
        let path = Path::new("/ckpt/config.json");
        let mut cfg = hub_config("vit_base_patch16_clip_224", 224);
        cfg.model_args
            .other
            .insert("qk_norm".into(), serde_json::Value::Bool(true));
        let e = timm_vit_config(&cfg, path).unwrap_err().to_string();
        assert!(e.contains("model_args.qk_norm"), "{e}");
        let t: TransformersVitConfig =
            serde_json::from_value(serde_json::json!({"model_type": "clip_vision_model"})).unwrap();
        let e = dino_vit_config(&t, path).unwrap_err().to_string();
        assert!(
            e.contains("`model_type`") && e.contains("clip_vision_model"),
            "{e}"
        );
    }
}
