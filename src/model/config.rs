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

/// Which tensor naming scheme a checkpoint uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// transformers `ViTModel`: separate query/key/value, `layernorm_before`/`after`.
    Transformers,
    /// timm `VisionTransformer`: fused `qkv`, `norm1`/`norm2`, LayerScale `ls1`/`ls2`.
    Timm,
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
    pub layout: Layout,
    pub hidden_size: usize,
    pub depth: usize,
    pub num_heads: usize,
    pub mlp_dim: usize,
    pub patch_size: usize,
    /// The image side the checkpoint's position embeddings were trained at.
    pub native_image_size: usize,
    pub layer_norm_eps: f64,
    pub qkv_bias: bool,
    /// timm's LayerScale (`ls1.gamma`, `ls2.gamma`) after attention and MLP.
    pub layer_scale: bool,
    pub pos_resample: PosResample,
}

impl VitConfig {
    /// Position-embedding grid side at the native size.
    pub fn native_grid(&self) -> usize {
        self.native_image_size / self.patch_size
    }
}

/// transformers' `ViTConfig` as serialised in `config.json`. Fields the real
/// DINO file omits take transformers' defaults (notably `qkv_bias`).
#[derive(Debug, Clone, Deserialize)]
pub struct TransformersVitConfig {
    pub model_type: Option<String>,
    #[serde(default = "d_hidden")]
    pub hidden_size: usize,
    #[serde(default = "d_layers")]
    pub num_hidden_layers: usize,
    #[serde(default = "d_heads")]
    pub num_attention_heads: usize,
    #[serde(default = "d_inter")]
    pub intermediate_size: usize,
    #[serde(default = "d_act")]
    pub hidden_act: String,
    #[serde(default = "d_eps")]
    pub layer_norm_eps: f64,
    #[serde(default = "d_image")]
    pub image_size: usize,
    #[serde(default = "d_patch")]
    pub patch_size: usize,
    #[serde(default = "d_channels")]
    pub num_channels: usize,
    #[serde(default = "d_true")]
    pub qkv_bias: bool,
}

fn d_hidden() -> usize {
    768
}
fn d_layers() -> usize {
    12
}
fn d_heads() -> usize {
    12
}
fn d_inter() -> usize {
    3072
}
fn d_act() -> String {
    "gelu".into()
}
fn d_eps() -> f64 {
    1e-12
}
fn d_image() -> usize {
    224
}
fn d_patch() -> usize {
    16
}
fn d_channels() -> usize {
    3
}
fn d_true() -> bool {
    true
}

/// transformers' image-processor config (`preprocessor_config.json`).
#[derive(Debug, Clone, Deserialize)]
pub struct ViTImageProcessorConfig {
    #[serde(default = "d_true")]
    pub do_resize: bool,
    #[serde(default = "d_true")]
    pub do_rescale: bool,
    #[serde(default = "d_true")]
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
pub enum ProcessorSize {
    Square(u32),
    HeightWidth { height: u32, width: u32 },
}

/// timm's hub `config.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct TimmHubConfig {
    pub architecture: String,
    #[serde(default)]
    pub model_args: TimmModelArgs,
    pub pretrained_cfg: TimmPretrainedCfg,
}

/// The subset of `VisionTransformer.__init__` arguments that change tensor
/// shapes or numerics; any of them may override the architecture's preset.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TimmModelArgs {
    pub embed_dim: Option<usize>,
    pub depth: Option<usize>,
    pub num_heads: Option<usize>,
    pub mlp_ratio: Option<f64>,
    pub img_size: Option<usize>,
    pub patch_size: Option<usize>,
    pub init_values: Option<f64>,
    pub qkv_bias: Option<bool>,
    pub reg_tokens: Option<usize>,
    pub class_token: Option<bool>,
    pub no_embed_class: Option<bool>,
    pub global_pool: Option<String>,
}

/// timm's `pretrained_cfg`: the eval transform.
#[derive(Debug, Clone, Deserialize)]
pub struct TimmPretrainedCfg {
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
    serde_json::from_str(&text).map_err(|e| Error::Config {
        path: path.to_path_buf(),
        reason: format!("not a valid {what}: {e}"),
    })
}

/// Validates a transformers config as a DINO ViT and returns its `VitConfig`.
pub fn dino_vit_config(cfg: &TransformersVitConfig, path: &Path) -> Result<VitConfig> {
    let bad = |reason: String| Error::Config {
        path: path.to_path_buf(),
        reason,
    };
    match cfg.model_type.as_deref() {
        Some("vit") => {}
        Some(other) => {
            return Err(bad(format!(
                "config is for model_type `{other}`, but the dino backbone needs a transformers ViT (`model_type: \"vit\"`, e.g. facebook/dino-vitb16)"
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
        hidden_size: cfg.hidden_size,
        depth: cfg.num_hidden_layers,
        num_heads: cfg.num_attention_heads,
        mlp_dim: cfg.intermediate_size,
        patch_size: cfg.patch_size,
        native_image_size: cfg.image_size,
        layer_norm_eps: cfg.layer_norm_eps,
        qkv_bias: cfg.qkv_bias,
        layer_scale: false,
        pos_resample: PosResample::Bicubic,
    })
}

fn check_dims(hidden: usize, heads: usize, patch: usize, image: usize, path: &Path) -> Result<()> {
    if heads == 0 || !hidden.is_multiple_of(heads) || patch == 0 || !image.is_multiple_of(patch) {
        return Err(Error::Config {
            path: path.to_path_buf(),
            reason: format!(
                "inconsistent dims: hidden {hidden} must divide by heads {heads}, image {image} by patch {patch}"
            ),
        });
    }
    Ok(())
}

/// The DINO preprocessing recipe at `image_size` (the processor's own size
/// when `None`).
pub fn dino_preprocess(
    cfg: &ViTImageProcessorConfig,
    image_size: Option<u32>,
    path: &Path,
) -> Result<Preprocess> {
    let bad = |reason: String| Error::Config {
        path: path.to_path_buf(),
        reason,
    };
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

/// Dims of timm's registered DINOv2 ViTs, which the hub config names but
/// does not spell out: (embed_dim, depth, num_heads, mlp_ratio).
fn timm_preset(architecture: &str) -> Option<(usize, usize, usize, f64)> {
    Some(match architecture {
        "vit_small_patch14_dinov2" => (384, 12, 6, 4.0),
        "vit_base_patch14_dinov2" => (768, 12, 12, 4.0),
        "vit_large_patch14_dinov2" => (1024, 24, 16, 4.0),
        _ => return None,
    })
}

/// Validates a timm hub config as a DINOv2 ViT and returns its `VitConfig`.
pub fn dinov2_vit_config(cfg: &TimmHubConfig, path: &Path) -> Result<VitConfig> {
    let bad = |reason: String| Error::Config {
        path: path.to_path_buf(),
        reason,
    };
    let arch = cfg.architecture.split('.').next().unwrap_or_default();
    let (dim, depth, heads, ratio) = timm_preset(arch).ok_or_else(|| {
        bad(format!(
            "architecture `{}` is not a DINOv2 ViT without registers (expected vit_base_patch14_dinov2, as in timm/vit_base_patch14_dinov2.lvd142m)",
            cfg.architecture
        ))
    })?;
    let args = &cfg.model_args;
    if args.reg_tokens.unwrap_or(0) != 0
        || args.class_token == Some(false)
        || args.no_embed_class == Some(true)
    {
        return Err(bad(
            "register tokens / no class token / no_embed_class are not supported".into(),
        ));
    }
    if let Some(pool) = &args.global_pool {
        if pool != "token" {
            return Err(bad(format!(
                "global_pool `{pool}` is not supported (only `token`)"
            )));
        }
    }
    let dim = args.embed_dim.unwrap_or(dim);
    let heads = args.num_heads.unwrap_or(heads);
    let patch = args.patch_size.unwrap_or(14);
    let img = args.img_size.unwrap_or(518);
    check_dims(dim, heads, patch, img, path)?;
    Ok(VitConfig {
        layout: Layout::Timm,
        hidden_size: dim,
        depth: args.depth.unwrap_or(depth),
        num_heads: heads,
        mlp_dim: (dim as f64 * args.mlp_ratio.unwrap_or(ratio)) as usize,
        patch_size: patch,
        native_image_size: img,
        layer_norm_eps: 1e-6,
        qkv_bias: args.qkv_bias.unwrap_or(true),
        layer_scale: args.init_values.map(|v| v > 0.0).unwrap_or(true),
        pos_resample: PosResample::BicubicAntialias,
    })
}

/// timm's eval transform for DINOv2 at `image_size` (the config's input size
/// when `None`): shorter side to `floor(size / crop_pct)`, center crop.
pub fn dinov2_preprocess(
    cfg: &TimmPretrainedCfg,
    image_size: Option<u32>,
    path: &Path,
) -> Result<Preprocess> {
    let bad = |reason: String| Error::Config {
        path: path.to_path_buf(),
        reason,
    };
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
