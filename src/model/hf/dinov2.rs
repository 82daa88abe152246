//! transformers `Dinov2Model` and `Dinov2WithRegistersModel`
//! (`facebook/dinov2-*`, `facebook/dinov2-with-registers-*`), read as timm's
//! DINOv2 with three differences that change the numbers, all taken from
//! `modeling_dinov2.py` / `modeling_dinov2_with_registers.py` (transformers
//! 5.24):
//!
//! * the position table is resampled at run time to the input's grid with
//!   PyTorch bicubic *without* antialiasing for `Dinov2Model`, and *with* it
//!   for the registers model (timm always antialiases);
//! * the registers model adds the table's class row to the class token and
//!   inserts the 4 registers after it without position embeddings (timm's
//!   `reg4` models give the class token none either); here the class row is
//!   folded into the class token at load time, the same f32 sum;
//! * the processor (`BitImageProcessor`) resizes the shorter side to 256 and
//!   centre-crops 224, where timm's DINOv2 takes 518.
//!
//! The embedding is `pooler_output`: the class token after the final
//! LayerNorm.

use std::path::Path;

use serde::Deserialize;

use super::{
    default_side, parse, refuse, ProcessorDefaults, Renamer, Side, IMAGENET_MEAN, IMAGENET_STD,
};
use crate::error::Result;
use crate::model::config::{
    default_true, default_usize, Act, Layout, Mlp, Pool, PosResample, Positions, QkvBias, VitConfig,
};

/// `BitImageProcessor` as `facebook/dinov2-*` configure it.
pub(crate) const PROCESSOR: ProcessorDefaults = ProcessorDefaults {
    class: "BitImageProcessor",
    shortest_edge: Some(256),
    square: 224,
    center_crop: true,
    resample: 3,
    mean: IMAGENET_MEAN,
    std: IMAGENET_STD,
};

/// `Dinov2Config` / `Dinov2WithRegistersConfig` as `config.json` holds them;
/// absent fields take transformers' defaults.
#[derive(Debug, Clone, Deserialize)]
struct Dinov2Config {
    model_type: String,
    #[serde(default = "default_usize::<768>")]
    hidden_size: usize,
    #[serde(default = "default_usize::<12>")]
    num_hidden_layers: usize,
    #[serde(default = "default_usize::<12>")]
    num_attention_heads: usize,
    #[serde(default = "d_ratio")]
    mlp_ratio: f64,
    #[serde(default = "d_act")]
    hidden_act: String,
    #[serde(default = "d_eps")]
    layer_norm_eps: f64,
    #[serde(default = "default_side::<224>")]
    image_size: Side,
    #[serde(default = "default_side::<14>")]
    patch_size: Side,
    #[serde(default = "default_usize::<3>")]
    num_channels: usize,
    #[serde(default = "default_true")]
    qkv_bias: bool,
    #[serde(default)]
    use_swiglu_ffn: bool,
    /// Only the registers model; transformers' default is 4.
    #[serde(default = "default_usize::<4>")]
    num_register_tokens: usize,
}

fn d_ratio() -> f64 {
    4.0
}
fn d_act() -> String {
    "gelu".into()
}
fn d_eps() -> f64 {
    1e-6
}

/// Validates a `dinov2` / `dinov2_with_registers` config and returns its
/// [`VitConfig`].
pub(crate) fn vit_config(raw: &serde_json::Value, path: &Path) -> Result<VitConfig> {
    let cfg: Dinov2Config = parse(raw, path, "Dinov2Config")?;
    let registers = cfg.model_type == "dinov2_with_registers";
    if cfg.hidden_act != "gelu" {
        return Err(refuse(path, "hidden_act", &cfg.hidden_act, "exact `gelu`"));
    }
    let (image, patch) = super::square_dims(
        cfg.num_channels,
        &cfg.image_size,
        &cfg.patch_size,
        (cfg.hidden_size, cfg.num_attention_heads),
        path,
    )?;
    let (c, heads) = (cfg.hidden_size, cfg.num_attention_heads);
    // transformers: `int(hidden_size * mlp_ratio)`, and for SwiGLU two
    // thirds of that rounded up to a multiple of 8 (per half).
    let hidden = (c as f64 * cfg.mlp_ratio) as usize;
    let (mlp, mlp_dim) = if cfg.use_swiglu_ffn {
        (Mlp::SwiGluPacked, (hidden * 2 / 3).div_ceil(8) * 8)
    } else {
        (Mlp::Plain(Act::Gelu), hidden)
    };
    let reg_tokens = if registers {
        cfg.num_register_tokens
    } else {
        0
    };
    Ok(VitConfig {
        layout: Layout::HfDinov2,
        architecture: if registers {
            "transformers Dinov2WithRegistersModel".into()
        } else {
            "transformers Dinov2Model".into()
        },
        hidden_size: c,
        depth: cfg.num_hidden_layers,
        num_heads: heads,
        mlp_dim,
        mlp,
        patch_size: patch,
        patch_bias: true,
        native_image_size: image,
        layer_norm_eps: cfg.layer_norm_eps,
        qkv_bias: if cfg.qkv_bias {
            QkvBias::Full
        } else {
            QkvBias::None
        },
        layer_scale: true,
        class_token: true,
        reg_tokens,
        // With registers the class row is folded into the class token at
        // load time, leaving a table of the patches only.
        positions: Positions::Learned {
            covers_prefix: !registers,
        },
        pre_norm: false,
        pool: Pool::Token,
        fc_norm: false,
        pos_resample: if registers {
            PosResample::BicubicAntialias
        } else {
            PosResample::Bicubic
        },
    })
}

/// transformers' tensor names → timm's (`blocks.N.attn.qkv` fused from
/// query/key/value, `ls1.gamma` from `layer_scale1.lambda1`, ...).
pub(crate) fn to_timm_names(config: &VitConfig, r: &mut Renamer) -> Result<()> {
    let e = "embeddings";
    if config.reg_tokens > 0 {
        r.mv(&format!("{e}.register_tokens"), "reg_token")?;
        // Fold the class row of the table into the class token: the
        // reference adds it to the class token on every pass.
        let pos = r.take(&format!("{e}.position_embeddings"))?;
        let cls = r.take(&format!("{e}.cls_token"))?;
        let fold = || -> candle_core::Result<(candle_core::Tensor, candle_core::Tensor)> {
            let n = pos.dim(1)?;
            let cls = (cls + pos.narrow(1, 0, 1)?)?;
            Ok((cls, pos.narrow(1, 1, n - 1)?.contiguous()?))
        };
        let (cls, pos) =
            fold().map_err(|err| r.weights_error("embeddings.position_embeddings", err))?;
        r.put("cls_token", cls);
        r.put("pos_embed", pos);
    } else {
        r.mv(&format!("{e}.cls_token"), "cls_token")?;
        r.mv(&format!("{e}.position_embeddings"), "pos_embed")?;
    }
    r.mv_params(
        "",
        "",
        &[
            (
                &format!("{e}.patch_embeddings.projection"),
                "patch_embed.proj",
            ),
            ("layernorm", "norm"),
        ],
    )?;
    for i in 0..config.depth {
        let hf = format!("encoder.layer.{i}");
        let timm = format!("blocks.{i}");
        r.fuse_qkv(
            ["query", "key", "value"].map(|p| format!("{hf}.attention.attention.{p}")),
            &timm,
            config.qkv_bias,
            false,
        )?;
        let (fc1, fc2) = match config.mlp {
            Mlp::SwiGluPacked => ("weights_in", "weights_out"),
            _ => ("fc1", "fc2"),
        };
        r.mv_params(
            &format!("{hf}."),
            &format!("{timm}."),
            &[
                ("norm1", "norm1"),
                ("norm2", "norm2"),
                ("attention.output.dense", "attn.proj"),
                (&format!("mlp.{fc1}"), "mlp.fc1"),
                (&format!("mlp.{fc2}"), "mlp.fc2"),
            ],
        )?;
        r.mv(
            &format!("{hf}.layer_scale1.lambda1"),
            &format!("{timm}.ls1.gamma"),
        )?;
        r.mv(
            &format!("{hf}.layer_scale2.lambda1"),
            &format!("{timm}.ls2.gamma"),
        )?;
    }
    Ok(())
}
