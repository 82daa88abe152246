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

use super::{default_side, parse, refuse, vision_config, ProcessorDefaults, Renamer, Side};
use crate::error::Result;
use crate::model::config::{
    default_usize, Act, Layout, Mlp, Pool, PosResample, Positions, QkvBias, VitConfig,
};

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
    #[serde(default = "default_usize::<768>")]
    pub hidden_size: usize,
    #[serde(default = "default_usize::<3072>")]
    pub intermediate_size: usize,
    #[serde(default = "default_usize::<12>")]
    pub num_hidden_layers: usize,
    #[serde(default = "default_usize::<12>")]
    pub num_attention_heads: usize,
    #[serde(default = "default_side::<224>")]
    pub image_size: Side,
    #[serde(default = "default_side::<32>")]
    pub patch_size: Side,
    #[serde(default = "default_usize::<3>")]
    pub num_channels: usize,
    #[serde(default = "d_act")]
    pub hidden_act: String,
    #[serde(default = "d_eps")]
    pub layer_norm_eps: f64,
}

fn d_act() -> String {
    "quick_gelu".into()
}
fn d_eps() -> f64 {
    1e-5
}

impl TowerConfig {
    /// The activation `hidden_act` names among those artlens reads for this
    /// tower (`known`, described by `only` in the error).
    pub(crate) fn act(&self, known: &[(&str, Act)], only: &str, path: &Path) -> Result<Act> {
        known
            .iter()
            .find(|(name, _)| *name == self.hidden_act)
            .map(|&(_, act)| act)
            .ok_or_else(|| refuse(path, "vision_config.hidden_act", &self.hidden_act, only))
    }
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
    let act = cfg.act(
        &[("quick_gelu", Act::QuickGelu), ("gelu", Act::Gelu)],
        "`quick_gelu` and exact `gelu`",
        path,
    )?;
    Ok(tower_vit_config(&cfg, (image, patch), act))
}

/// The [`VitConfig`] of a CLIP vision tower of `cfg`'s dims (validated:
/// `(image, patch)`) and activation. SigLIP's tower is this one with its
/// own patch bias, pooling head and no class token or pre-norm.
pub(crate) fn tower_vit_config(
    cfg: &TowerConfig,
    (image, patch): (usize, usize),
    act: Act,
) -> VitConfig {
    VitConfig {
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
    }
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
        r.fuse_qkv(
            ["q", "k", "v"].map(|x| format!("{hf}.self_attn.{x}_proj")),
            &timm,
            QkvBias::Full,
            false,
        )?;
        r.mv_params(
            &format!("{hf}."),
            &format!("{timm}."),
            &[
                ("layer_norm1", "norm1"),
                ("layer_norm2", "norm2"),
                ("self_attn.out_proj", "attn.proj"),
                ("mlp.fc1", "mlp.fc1"),
                ("mlp.fc2", "mlp.fc2"),
            ],
        )?;
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
pub(crate) fn to_timm_names(config: &VitConfig, r: &mut Renamer) -> Result<()> {
    let p = prefix(r);
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
    position_table(r, p)?;
    r.mv_params(
        p,
        "",
        &[("pre_layrnorm", "norm_pre"), ("post_layernorm", "norm")],
    )?;
    rename_layers(r, p, config.depth)
}
