//! transformers `SiglipModel` / `SiglipVisionModel`
//! (`google/siglip-base-patch16-224`, `google/siglip2-base-patch16-224`):
//! the image tower, read as timm's SigLIP ViT (`modeling_siglip.py`,
//! transformers 5.24): no class token, a final `post_layernorm` over every
//! token, then the attention-pooling head (`head.probe`,
//! `nn.MultiheadAttention` with packed `in_proj`, `head.layernorm`,
//! `head.mlp`) whose output is `pooler_output`. Unlike timm's SigLIP the
//! MLPs use the tanh approximation of GELU (`gelu_pytorch_tanh`).
//!
//! Another input size follows `interpolate_pos_encoding=True`: PyTorch
//! bicubic, no antialiasing.

use std::path::Path;

use super::clip::{
    position_table, prefix, rename_layers, tower_dims, tower_vit_config, TowerConfig,
};
use super::{parse, refuse, vision_config, ProcessorDefaults, Renamer};
use crate::error::Result;
use crate::model::config::{Act, Layout, Pool, VitConfig};

/// `SiglipImageProcessor` as `google/siglip-base-patch16-224` configures it.
pub(crate) const PROCESSOR: ProcessorDefaults = ProcessorDefaults {
    class: "SiglipImageProcessor",
    shortest_edge: None,
    square: 224,
    center_crop: false,
    resample: 3,
    mean: [0.5, 0.5, 0.5],
    std: [0.5, 0.5, 0.5],
};

/// Validates a `siglip` / `siglip_vision_model` config and returns its
/// [`VitConfig`].
pub(crate) fn vit_config(raw: &serde_json::Value, path: &Path) -> Result<VitConfig> {
    let v = vision_config(raw);
    // SiglipVisionConfig's defaults differ from CLIP's where they matter.
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        o.entry("patch_size").or_insert(16.into());
        o.entry("hidden_act").or_insert("gelu_pytorch_tanh".into());
        o.entry("layer_norm_eps").or_insert(1e-6.into());
    }
    if v.get("vision_use_head").and_then(|x| x.as_bool()) == Some(false) {
        return Err(refuse(
            path,
            "vision_use_head",
            false,
            "SigLIP with its attention-pooling head, whose output is the embedding",
        ));
    }
    let cfg: TowerConfig = parse(&v, path, "SigLIP vision")?;
    let (image, patch) = tower_dims(&cfg, path)?;
    let act = cfg.act(
        &[
            ("gelu_pytorch_tanh", Act::GeluTanh),
            ("gelu_new", Act::GeluTanh),
            ("gelu", Act::Gelu),
        ],
        "`gelu_pytorch_tanh` and exact `gelu`",
        path,
    )?;
    Ok(VitConfig {
        layout: Layout::HfSiglip,
        architecture: "transformers SiglipVisionModel".into(),
        patch_bias: true,
        class_token: false,
        pre_norm: false,
        pool: Pool::Map,
        ..tower_vit_config(&cfg, (image, patch), act)
    })
}

/// transformers' tensor names → timm's (`attn_pool.*` from `head.*`, the
/// packed `in_proj` split into the query's rows and the key/value rows).
pub(crate) fn to_timm_names(config: &VitConfig, r: &mut Renamer) -> Result<()> {
    let p = prefix(r);
    let c = config.hidden_size;
    r.mv_params(
        p,
        "",
        &[
            ("embeddings.patch_embedding", "patch_embed.proj"),
            ("post_layernorm", "norm"),
        ],
    )?;
    // The head.
    for part in ["weight", "bias"] {
        let name = format!("{p}head.attention.in_proj_{part}");
        let packed = r.take(&name)?;
        let split = || -> candle_core::Result<_> {
            Ok((
                packed.narrow(0, 0, c)?.contiguous()?,
                packed.narrow(0, c, 2 * c)?.contiguous()?,
            ))
        };
        let (q, kv) = split().map_err(|e| r.weights_error(&name, e))?;
        r.put(&format!("attn_pool.q.{part}"), q);
        r.put(&format!("attn_pool.kv.{part}"), kv);
    }
    r.mv_params(
        &format!("{p}head."),
        "attn_pool.",
        &[
            ("attention.out_proj", "proj"),
            ("layernorm", "norm"),
            ("mlp.fc1", "mlp.fc1"),
            ("mlp.fc2", "mlp.fc2"),
        ],
    )?;
    r.mv(&format!("{p}head.probe"), "attn_pool.latent")?;
    position_table(r, p)?;
    rename_layers(r, p, config.depth)
}
