//! transformers `DINOv3ViTModel` (`facebook/dinov3-vits16|vits16plus|vitb16|vitl16-pretrain-lvd1689m`,
//! gated), read as timm's `Eva` DINOv3 (`modeling_dinov3_vit.py`,
//! transformers 5.24): rotary embeddings on the patch tokens' queries and keys
//! (`rope_theta`, centred coordinates in [−1, 1]), a class token and
//! `num_register_tokens` storage tokens without position embeddings,
//! LayerScale `lambda1`, separate q/k/v projections whose biases the config
//! switches one by one (`key_bias` is off in the released checkpoints), and
//! a plain GELU MLP (`up_proj`/`down_proj`) or, with `use_gated_mlp`, SwiGLU
//! (`gate_proj`, `up_proj`, `down_proj`).
//!
//! The embedding is `pooler_output`: the class token after the final norm,
//! where timm's DINOv3 pools the mean of the patch tokens: the same weights
//! give another embedding in each library.
//!
//! Its processor, `DINOv3ViTImageProcessor`, exists only as a torchvision
//! backend: it rescales to floats first and resizes the float image
//! (antialiased bilinear, 224×224). `hf::read` gives it the float resize
//! (`ResizeFilter::BilinearF32`, `imaging/resample_f32.rs`), which matches
//! the processor's pixels to within a few `f32` roundings.

use std::path::Path;

use serde::Deserialize;

use super::{
    default_side, parse, refuse, ProcessorDefaults, Renamer, Side, IMAGENET_MEAN, IMAGENET_STD,
};
use crate::error::Result;
use crate::model::config::{
    config_error, default_true, default_usize, Act, Layout, Mlp, Pool, PosResample, Positions,
    QkvBias, VitConfig,
};

/// `DINOv3ViTImageProcessor` as `facebook/dinov3-*` configure it.
pub(crate) const PROCESSOR: ProcessorDefaults = ProcessorDefaults {
    class: "DINOv3ViTImageProcessor",
    shortest_edge: None,
    square: 224,
    center_crop: false,
    resample: 2,
    mean: IMAGENET_MEAN,
    std: IMAGENET_STD,
};

/// `DINOv3ViTConfig` with transformers' defaults.
#[derive(Debug, Clone, Deserialize)]
struct Dinov3Config {
    #[serde(default = "default_usize::<384>")]
    hidden_size: usize,
    #[serde(default = "default_usize::<1536>")]
    intermediate_size: usize,
    #[serde(default = "default_usize::<12>")]
    num_hidden_layers: usize,
    #[serde(default = "default_usize::<6>")]
    num_attention_heads: usize,
    #[serde(default = "d_act")]
    hidden_act: String,
    #[serde(default = "d_eps")]
    layer_norm_eps: f64,
    #[serde(default = "d_theta")]
    rope_theta: f64,
    #[serde(default = "default_side::<224>")]
    image_size: Side,
    #[serde(default = "default_side::<16>")]
    patch_size: Side,
    #[serde(default = "default_usize::<3>")]
    num_channels: usize,
    #[serde(default = "default_true")]
    query_bias: bool,
    #[serde(default)]
    key_bias: bool,
    #[serde(default = "default_true")]
    value_bias: bool,
    #[serde(default = "default_true")]
    proj_bias: bool,
    #[serde(default = "default_true")]
    mlp_bias: bool,
    #[serde(default)]
    use_gated_mlp: bool,
    #[serde(default)]
    num_register_tokens: usize,
}

fn d_act() -> String {
    "gelu".into()
}
fn d_eps() -> f64 {
    1e-5
}
fn d_theta() -> f64 {
    100.0
}

/// Validates a `dinov3_vit` config and returns its [`VitConfig`].
pub(crate) fn vit_config(raw: &serde_json::Value, path: &Path) -> Result<VitConfig> {
    let cfg: Dinov3Config = parse(raw, path, "DINOv3ViTConfig")?;
    let (c, heads) = (cfg.hidden_size, cfg.num_attention_heads);
    let (image, patch) = super::square_dims(
        cfg.num_channels,
        &cfg.image_size,
        &cfg.patch_size,
        (c, heads),
        path,
    )?;
    let mlp = match (cfg.use_gated_mlp, cfg.hidden_act.as_str()) {
        (false, "gelu") => Mlp::Plain(Act::Gelu),
        (true, "silu") => Mlp::SwiGlu,
        (gated, other) => {
            return Err(refuse(
                path,
                "hidden_act",
                other,
                if gated {
                    "`silu` with use_gated_mlp"
                } else {
                    "exact `gelu` without use_gated_mlp"
                },
            ))
        }
    };
    if !cfg.proj_bias {
        return Err(refuse(path, "proj_bias", false, "true"));
    }
    if !cfg.mlp_bias {
        return Err(refuse(path, "mlp_bias", false, "true"));
    }
    if !(c / heads).is_multiple_of(4) {
        return Err(config_error(
            path,
            format!(
                "head dim {} is not a multiple of 4, which DINOv3's rotary embeddings need",
                c / heads
            ),
        ));
    }
    let any_bias = cfg.query_bias || cfg.key_bias || cfg.value_bias;
    Ok(VitConfig {
        layout: Layout::HfDinov3,
        architecture: "transformers DINOv3ViTModel".into(),
        hidden_size: c,
        depth: cfg.num_hidden_layers,
        num_heads: heads,
        mlp_dim: cfg.intermediate_size,
        mlp,
        patch_size: patch,
        patch_bias: true,
        native_image_size: image,
        layer_norm_eps: cfg.layer_norm_eps,
        // The biases are stacked into one (a switched-off one as zeros).
        qkv_bias: if any_bias {
            QkvBias::Full
        } else {
            QkvBias::None
        },
        layer_scale: true,
        class_token: true,
        reg_tokens: cfg.num_register_tokens,
        positions: Positions::Rope {
            temperature: cfg.rope_theta,
        },
        pre_norm: false,
        pool: Pool::Token,
        fc_norm: false,
        pos_resample: PosResample::Bicubic,
    })
}

/// transformers' tensor names → timm `Eva`'s.
pub(crate) fn to_timm_names(config: &VitConfig, r: &mut Renamer) -> Result<()> {
    r.mv("embeddings.cls_token", "cls_token")?;
    if config.reg_tokens > 0 {
        r.mv("embeddings.register_tokens", "reg_token")?;
    }
    r.mv_params(
        "",
        "",
        &[
            ("embeddings.patch_embeddings", "patch_embed.proj"),
            ("norm", "norm"),
        ],
    )?;
    // `save_pretrained` writes `layer.N`; the module path is `model.layer.N`.
    let base = if r.has("layer.0.norm1.weight") {
        "layer"
    } else {
        "model.layer"
    };
    for i in 0..config.depth {
        let hf = format!("{base}.{i}");
        let timm = format!("blocks.{i}");
        r.fuse_qkv(
            ["q", "k", "v"].map(|x| format!("{hf}.attention.{x}_proj")),
            &timm,
            config.qkv_bias,
            true,
        )?;
        let mut pairs = vec![
            ("norm1", "norm1"),
            ("norm2", "norm2"),
            ("attention.o_proj", "attn.proj"),
            ("mlp.down_proj", "mlp.fc2"),
        ];
        match config.mlp {
            Mlp::SwiGlu => {
                pairs.push(("mlp.gate_proj", "mlp.fc1_g"));
                pairs.push(("mlp.up_proj", "mlp.fc1_x"));
            }
            _ => pairs.push(("mlp.up_proj", "mlp.fc1")),
        }
        r.mv_params(&format!("{hf}."), &format!("{timm}."), &pairs)?;
        r.mv(
            &format!("{hf}.layer_scale1.lambda1"),
            &format!("{timm}.gamma_1"),
        )?;
        r.mv(
            &format!("{hf}.layer_scale2.lambda1"),
            &format!("{timm}.gamma_2"),
        )?;
    }
    Ok(())
}
