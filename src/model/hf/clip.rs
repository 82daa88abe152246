//! transformers `CLIPModel` / `CLIPVisionModel` (`openai/clip-vit-*`,
//! `laion/CLIP-ViT-*`): the image tower, read as timm's CLIP ViT
//! (`modeling_clip.py`, transformers 5.24): a LayerNorm before the encoder
//! (`pre_layrnorm`, sic), no patch bias, `quick_gelu` or `gelu` as the config
//! says, and `pooler_output` = `post_layernorm` of the class token, the
//! image embedding before `visual_projection` (timm's `num_classes=0`). The
//! projection and the text tower stay in the checkpoint, unread.
//!
//! Another input size follows `interpolate_pos_encoding=True`: the table's
//! patch rows resampled with PyTorch bicubic, no antialiasing.

use std::path::Path;

use serde::Deserialize;

use super::{parse, refuse, vision_config, ProcessorDefaults, Renamer, Side};
use crate::error::Result;
use crate::model::config::{Act, Layout, Mlp, Pool, PosResample, Positions, QkvBias, VitConfig};
use crate::model::weights::Checkpoint;

/// `CLIPImageProcessor` as `openai/clip-vit-*` configure it.
pub(crate) const PROCESSOR: ProcessorDefaults = ProcessorDefaults {
    class: "CLIPImageProcessor",
    shortest_edge: Some(224),
    square: 224,
    center_crop: true,
    resample: 3,
    mean: [0.481_454_66, 0.457_827_5, 0.408_210_73],
    std: [0.268_629_54, 0.261_302_6, 0.275_777_1],
};

/// The vision half of `CLIPConfig` (or a `CLIPVisionConfig`), with
/// transformers' defaults.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct TowerConfig {
    #[serde(default = "d_hidden")]
    pub hidden_size: usize,
    #[serde(default = "d_inter")]
    pub intermediate_size: usize,
    #[serde(default = "d_layers")]
    pub num_hidden_layers: usize,
    #[serde(default = "d_layers")]
    pub num_attention_heads: usize,
    #[serde(default = "d_image")]
    pub image_size: Side,
    #[serde(default = "d_patch")]
    pub patch_size: Side,
    #[serde(default = "d_channels")]
    pub num_channels: usize,
    #[serde(default = "d_act")]
    pub hidden_act: String,
    #[serde(default = "d_eps")]
    pub layer_norm_eps: f64,
}

fn d_hidden() -> usize {
    768
}
fn d_inter() -> usize {
    3072
}
fn d_layers() -> usize {
    12
}
fn d_image() -> Side {
    Side::One(224)
}
fn d_patch() -> Side {
    Side::One(32)
}
fn d_channels() -> usize {
    3
}
fn d_act() -> String {
    "quick_gelu".into()
}
fn d_eps() -> f64 {
    1e-5
}

/// The dims shared by the CLIP and SigLIP towers, validated.
pub(crate) fn tower_dims(cfg: &TowerConfig, path: &Path) -> Result<(usize, usize)> {
    super::square_dims(
        cfg.num_channels,
        &cfg.image_size,
        &cfg.patch_size,
        (cfg.hidden_size, cfg.num_attention_heads),
        path,
    )
}

/// Validates a `clip` / `clip_vision_model` config and returns its
/// [`VitConfig`].
pub(crate) fn vit_config(raw: &serde_json::Value, path: &Path) -> Result<VitConfig> {
    let cfg: TowerConfig = parse(vision_config(raw), path, "CLIP vision")?;
    let (image, patch) = tower_dims(&cfg, path)?;
    let act = match cfg.hidden_act.as_str() {
        "quick_gelu" => Act::QuickGelu,
        "gelu" => Act::Gelu,
        other => {
            return Err(refuse(
                path,
                "vision_config.hidden_act",
                other,
                "`quick_gelu` and exact `gelu`",
            ))
        }
    };
    Ok(VitConfig {
        layout: Layout::HfClip,
        architecture: "transformers CLIPVisionModel".into(),
        hidden_size: cfg.hidden_size,
        depth: cfg.num_hidden_layers,
        num_heads: cfg.num_attention_heads,
        mlp_dim: cfg.intermediate_size,
        mlp: Mlp::Plain(act),
        patch_size: patch,
        patch_bias: false,
        native_image_size: image,
        layer_norm_eps: cfg.layer_norm_eps,
        qkv_bias: QkvBias::Full,
        layer_scale: false,
        class_token: true,
        reg_tokens: 0,
        positions: Positions::Learned {
            covers_prefix: true,
        },
        pre_norm: true,
        pool: Pool::Token,
        fc_norm: false,
        pos_resample: PosResample::Bicubic,
    })
}

/// `vision_model.` in a `CLIPModel` / `SiglipModel` checkpoint; nothing in
/// a vision-only one written by transformers 5.
pub(crate) fn prefix(r: &Renamer) -> &'static str {
    if r.has("vision_model.embeddings.patch_embedding.weight") {
        "vision_model."
    } else {
        ""
    }
}

/// The encoder layers, shared with SigLIP: `layer_norm1/2`,
/// `self_attn.{q,k,v}_proj` fused into `attn.qkv`, `out_proj`, `mlp.fc1/2`.
pub(crate) fn rename_layers(r: &mut Renamer, p: &str, depth: usize) -> Result<()> {
    for i in 0..depth {
        let hf = format!("{p}encoder.layers.{i}");
        let timm = format!("blocks.{i}");
        for part in ["weight", "bias"] {
            r.fuse(
                ["q", "k", "v"].map(|x| format!("{hf}.self_attn.{x}_proj.{part}")),
                &format!("{timm}.attn.qkv.{part}"),
                false,
            )?;
            for (from, to) in [
                ("layer_norm1", "norm1"),
                ("layer_norm2", "norm2"),
                ("self_attn.out_proj", "attn.proj"),
                ("mlp.fc1", "mlp.fc1"),
                ("mlp.fc2", "mlp.fc2"),
            ] {
                r.mv(
                    &format!("{hf}.{from}.{part}"),
                    &format!("{timm}.{to}.{part}"),
                )?;
            }
        }
    }
    Ok(())
}

/// A 2-D `nn.Embedding` table `[N, C]` as timm's `[1, N, C]` `pos_embed`.
pub(crate) fn position_table(r: &mut Renamer, p: &str) -> Result<()> {
    let name = format!("{p}embeddings.position_embedding.weight");
    let t = r.take(&name)?;
    let t = t.unsqueeze(0).map_err(|e| r.weights_error(&name, e))?;
    r.put("pos_embed", t);
    Ok(())
}

/// transformers' tensor names → timm's.
pub(crate) fn to_timm_names(
    config: &VitConfig,
    checkpoint: Checkpoint,
    path: &Path,
) -> Result<Checkpoint> {
    let mut r = Renamer::new(checkpoint, path, &config.architecture);
    let p = prefix(&r);
    let cls_name = format!("{p}embeddings.class_embedding");
    let cls = r.take(&cls_name)?;
    let cls = cls
        .reshape((1, 1, config.hidden_size))
        .map_err(|e| r.weights_error(&cls_name, e))?;
    r.put("cls_token", cls);
    r.mv(
        &format!("{p}embeddings.patch_embedding.weight"),
        "patch_embed.proj.weight",
    )?;
    position_table(&mut r, p)?;
    for part in ["weight", "bias"] {
        r.mv(
            &format!("{p}pre_layrnorm.{part}"),
            &format!("norm_pre.{part}"),
        )?;
        r.mv(
            &format!("{p}post_layernorm.{part}"),
            &format!("norm.{part}"),
        )?;
    }
    rename_layers(&mut r, p, config.depth)?;
    Ok(r.finish())
}
