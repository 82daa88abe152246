//! The backbone registry: every checkpoint artlens knows, as data, and the
//! [`BackboneId`] that names one of them at one input resolution.
//!
//! A backbone is named on the command line, in the store and in every view
//! by an id: the hub repository (`facebook/dino-vitb16`) or its short alias
//! (`dino`), optionally followed by `@SIZE` for another square input
//! resolution (`dinov2@224`). Two ids that differ only in resolution are two
//! backbones: they make different embeddings, so they are stored, indexed,
//! trained and compared separately. Everything else that differs between
//! checkpoints (dims, preprocessing, tensor names) is read from the
//! checkpoint's own files by [`crate::model::config`]; the registry only
//! holds what those files do not say: where to download them, how they are
//! laid out, and how to describe them to a person.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};

/// The largest input side artlens accepts: position embeddings, attention
/// and activations grow with its square (a ViT-B at 2048 px needs about
/// 9 GB for one image), and no known checkpoint was trained above 1024.
pub(crate) const MAX_RESOLUTION: u32 = 2048;

/// A model family: one training recipe, and the reference library whose
/// output artlens reproduces for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Family {
    /// Self-distillation on ImageNet-1k (transformers `ViTModel`).
    Dino,
    /// DINO's successor on LVD-142M (timm `VisionTransformer`).
    Dinov2,
    /// DINOv3 on LVD-1689M: rotary position embeddings (timm `Eva`).
    Dinov3,
    /// The image towers of contrastive image–text models (timm `VisionTransformer`).
    Clip,
    /// Sigmoid-loss image–text models with an attention-pooling head (timm).
    Siglip,
}

/// A pretraining data set and its size in images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pretraining {
    pub name: &'static str,
    pub images: u64,
}

impl Pretraining {
    const fn new(name: &'static str, images: u64) -> Self {
        Pretraining { name, images }
    }
}

pub(crate) const IMAGENET_1K: Pretraining = Pretraining::new("ImageNet-1k", 1_281_167);
pub(crate) const LVD_142M: Pretraining = Pretraining::new("LVD-142M", 142_000_000);
pub(crate) const WIT_400M: Pretraining = Pretraining::new("WIT-400M (OpenAI)", 400_000_000);
pub(crate) const LVD_1689M: Pretraining = Pretraining::new("LVD-1689M", 1_689_000_000);
pub(crate) const LAION_2B: Pretraining = Pretraining::new("LAION-2B (English)", 2_320_000_000);
pub(crate) const WEBLI: Pretraining = Pretraining::new("WebLI", 10_000_000_000);

/// The pretraining data named by a timm tag (`….lvd142m`), for hub ids that
/// are not in the registry but name a known tag.
pub(crate) fn pretraining_of_tag(tag: &str) -> Option<Pretraining> {
    Some(match tag {
        "lvd142m" => LVD_142M,
        "lvd1689m" => LVD_1689M,
        "openai" => WIT_400M,
        "laion2b" => LAION_2B,
        "webli" | "v2_webli" => WEBLI,
        _ => return None,
    })
}

/// Which tensor naming scheme a checkpoint uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// transformers `ViTModel`: separate query/key/value, `layernorm_before`/`after`.
    Transformers,
    /// timm `VisionTransformer`: fused `qkv`, `norm1`/`norm2`, LayerScale `ls1`/`ls2`.
    Timm,
    /// timm `Eva` (DINOv3): fused `qkv` with separate `q_bias`/`v_bias`,
    /// LayerScale `gamma_1`/`gamma_2`, `reg_token` storage tokens.
    Eva,
    /// transformers `Dinov2Model` / `Dinov2WithRegistersModel`, renamed to
    /// timm's names at load (`crate::model::hf::dinov2`).
    HfDinov2,
    /// transformers `CLIPModel` / `CLIPVisionModel` (`crate::model::hf::clip`).
    HfClip,
    /// transformers `SiglipModel` / `SiglipVisionModel` (`crate::model::hf::siglip`).
    HfSiglip,
    /// transformers `DINOv3ViTModel`, renamed to timm `Eva`'s names
    /// (`crate::model::hf::dinov3`).
    HfDinov3,
}

impl Layout {
    /// Whether a folder of this layout is a transformers one (`model_type`,
    /// `preprocessor_config.json`) rather than timm's.
    pub(crate) fn is_transformers(self) -> bool {
        !matches!(self, Layout::Timm | Layout::Eva)
    }
}

/// One checkpoint: a registered one, or a hub repository named by the user
/// whose config names a supported architecture (`BackboneSpec::unlisted`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackboneSpec {
    /// The hub repository the weights come from. (Owned only for an
    /// unlisted repository, whose name came from the user.)
    pub hub_id: Cow<'static, str>,
    /// The short name accepted everywhere instead of `hub_id`, and used as
    /// the key in views and JSON.
    pub alias: Cow<'static, str>,
    /// More names accepted on input (never written).
    pub also: &'static [&'static str],
    /// `None` for an unlisted repository until its config is read.
    pub(crate) family: Option<Family>,
    /// The tensor naming scheme, which is also the reference library whose
    /// output artlens reproduces (transformers or timm).
    pub layout: Layout,
    /// The input side the checkpoint's preprocessing produces; 0 when only
    /// the checkpoint's files can say (an unlisted repository).
    pub default_resolution: u32,
    /// 0 when only the checkpoint's files can say.
    pub patch_size: u32,
    /// Shown as a column title: "DINOv2 ViT-B/14".
    pub display_name: Cow<'static, str>,
    /// The name verdict sentences use: "DINOv2".
    pub short_name: Cow<'static, str>,
    /// Architecture in a few words.
    pub architecture: &'static str,
    /// Parameters of the image model without any classifier head (0: unknown).
    pub params: u64,
    /// The embedding's length (0: unknown until loaded).
    pub embedding_dim: usize,
    /// The pretraining data set, when known.
    pub(crate) pretraining: Option<Pretraining>,
    /// The hub repository needs a license accepted and a token.
    pub gated: bool,
    /// Hub revisions and files to try, in order of preference.
    pub(crate) hub_plans: &'static [HubPlan],
}

/// One way to fetch a checkpoint from the hub: a revision and the files to
/// take from it (config first, then the preprocessor config if any, then
/// the weights).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HubPlan {
    pub revision: &'static str,
    pub files: &'static [&'static str],
}

const TIMM_PLANS: &[HubPlan] = &[HubPlan {
    revision: "main",
    files: &["config.json", "model.safetensors"],
}];

const DINO_SAFETENSORS: &[&str] = &[
    "config.json",
    "preprocessor_config.json",
    "model.safetensors",
];
const DINO_PICKLE: &[&str] = &[
    "config.json",
    "preprocessor_config.json",
    "pytorch_model.bin",
];

const DINO_PLANS: &[HubPlan] = &[
    HubPlan {
        revision: "main",
        files: DINO_SAFETENSORS,
    },
    HubPlan {
        revision: "main",
        files: DINO_PICKLE,
    },
];

const ANY_PLANS_TIMM_FIRST: &[HubPlan] = &[TIMM_PLANS[0], DINO_PLANS[0], DINO_PLANS[1]];
const ANY_PLANS_DINO_FIRST: &[HubPlan] = &[DINO_PLANS[0], DINO_PLANS[1], TIMM_PLANS[0]];

/// A registry entry; `display` doubles as the architecture line's start.
#[allow(clippy::too_many_arguments)]
const fn spec(
    hub_id: &'static str,
    alias: &'static str,
    also: &'static [&'static str],
    family: Family,
    resolution: u32,
    patch: u32,
    display: &'static str,
    short: &'static str,
    architecture: &'static str,
    params: u64,
    dim: usize,
    data: Pretraining,
) -> BackboneSpec {
    BackboneSpec {
        hub_id: Cow::Borrowed(hub_id),
        alias: Cow::Borrowed(alias),
        also,
        family: Some(family),
        layout: match family {
            Family::Dino => Layout::Transformers,
            Family::Dinov3 => Layout::Eva,
            _ => Layout::Timm,
        },
        default_resolution: resolution,
        patch_size: patch,
        display_name: Cow::Borrowed(display),
        short_name: Cow::Borrowed(short),
        architecture,
        params,
        embedding_dim: dim,
        pretraining: Some(data),
        gated: matches!(family, Family::Dinov3),
        hub_plans: match family {
            Family::Dino => DINO_PLANS,
            _ => TIMM_PLANS,
        },
    }
}

/// DINO ViT-B/16's `main` has only the pickle; a safetensors copy lives on
/// `refs/pr/7`.
const DINO_B16_PLANS: &[HubPlan] = &[
    HubPlan {
        revision: "refs/pr/7",
        files: DINO_SAFETENSORS,
    },
    DINO_PLANS[1],
];

/// `spec` fetched by other hub plans than its family's.
const fn with_plans(mut spec: BackboneSpec, plans: &'static [HubPlan]) -> BackboneSpec {
    spec.hub_plans = plans;
    spec
}

/// transformers layouts of the timm checkpoints: config, the processor's
/// config, then the weights (safetensors, or the pickle).
const HF_PLANS: &[HubPlan] = DINO_PLANS;

/// The files of a transformers image–text repository whose text tower
/// artlens reads (`model::text`): the image tower's, with the tokenizer
/// between the configs and the weights. A cache filled without them still
/// serves the image tower (the plans without them follow).
const TEXT_FILES_SAFETENSORS: &[&str] = &[
    "config.json",
    "preprocessor_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "model.safetensors",
];
const TEXT_FILES_PICKLE: &[&str] = &[
    "config.json",
    "preprocessor_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "pytorch_model.bin",
];
/// SigLIP's first repositories ship the SentencePiece model instead of
/// tokenizer.json (`model::text` converts it).
const SPIECE_FILES: &[&str] = &[
    "config.json",
    "preprocessor_config.json",
    "tokenizer_config.json",
    "spiece.model",
    "model.safetensors",
];
const CLIP_TEXT_HF_PLANS: &[HubPlan] = &[
    HubPlan {
        revision: "main",
        files: TEXT_FILES_SAFETENSORS,
    },
    HubPlan {
        revision: "main",
        files: TEXT_FILES_PICKLE,
    },
    HF_PLANS[0],
    HF_PLANS[1],
];
const SIGLIP_TEXT_HF_PLANS: &[HubPlan] = &[
    HubPlan {
        revision: "main",
        files: TEXT_FILES_SAFETENSORS,
    },
    HubPlan {
        revision: "main",
        files: SPIECE_FILES,
    },
    HF_PLANS[0],
    HF_PLANS[1],
];

/// The transformers twin of a registered timm checkpoint: the same weights
/// under transformers' names, with its own processor (and so its own
/// default resolution), fetched from `hub_id`.
const fn hf(
    mut spec: BackboneSpec,
    hub_id: &'static str,
    alias: &'static str,
    display: &'static str,
    short: &'static str,
    resolution: u32,
) -> BackboneSpec {
    // The replaced names are borrowed `&'static str`s (a const fn cannot
    // run a destructor, and these have nothing to free): forget them.
    std::mem::forget(std::mem::replace(&mut spec.hub_id, Cow::Borrowed(hub_id)));
    std::mem::forget(std::mem::replace(&mut spec.alias, Cow::Borrowed(alias)));
    spec.also = &[];
    std::mem::forget(std::mem::replace(
        &mut spec.display_name,
        Cow::Borrowed(display),
    ));
    std::mem::forget(std::mem::replace(
        &mut spec.short_name,
        Cow::Borrowed(short),
    ));
    spec.default_resolution = resolution;
    spec.layout = Layout::Transformers;
    spec.hub_plans = match spec.family {
        Some(Family::Clip) => CLIP_TEXT_HF_PLANS,
        Some(Family::Siglip) => SIGLIP_TEXT_HF_PLANS,
        _ => HF_PLANS,
    };
    spec
}

// The timm checkpoints that have a transformers twin in `REGISTRY`: each is
// written once here and listed twice there, as itself and through `hf`, so a
// twin cannot drift from the checkpoint whose weights it renames.

const DINOV2_S: BackboneSpec = spec(
    "timm/vit_small_patch14_dinov2.lvd142m",
    "dinov2-s",
    &[],
    Family::Dinov2,
    518,
    14,
    "DINOv2 ViT-S/14",
    "DINOv2-S",
    "ViT-S/14, LayerScale",
    22_056_192,
    384,
    LVD_142M,
);

const DINOV2_S_REG4: BackboneSpec = spec(
    "timm/vit_small_patch14_reg4_dinov2.lvd142m",
    "dinov2-s-reg4",
    &[],
    Family::Dinov2,
    518,
    14,
    "DINOv2 ViT-S/14 + registers",
    "DINOv2-S+reg",
    "ViT-S/14, 4 registers, LayerScale",
    22_057_344,
    384,
    LVD_142M,
);

const DINOV2: BackboneSpec = spec(
    "timm/vit_base_patch14_dinov2.lvd142m",
    "dinov2",
    &["dinov2-b"],
    Family::Dinov2,
    518,
    14,
    "DINOv2 ViT-B/14",
    "DINOv2",
    "ViT-B/14, LayerScale",
    86_579_712,
    768,
    LVD_142M,
);

const DINOV2_B_REG4: BackboneSpec = spec(
    "timm/vit_base_patch14_reg4_dinov2.lvd142m",
    "dinov2-b-reg4",
    &[],
    Family::Dinov2,
    518,
    14,
    "DINOv2 ViT-B/14 + registers",
    "DINOv2-B+reg",
    "ViT-B/14, 4 registers, LayerScale",
    86_582_016,
    768,
    LVD_142M,
);

const DINOV2_L: BackboneSpec = spec(
    "timm/vit_large_patch14_dinov2.lvd142m",
    "dinov2-l",
    &[],
    Family::Dinov2,
    518,
    14,
    "DINOv2 ViT-L/14",
    "DINOv2-L",
    "ViT-L/14, LayerScale",
    304_367_616,
    1024,
    LVD_142M,
);

const DINOV2_L_REG4: BackboneSpec = spec(
    "timm/vit_large_patch14_reg4_dinov2.lvd142m",
    "dinov2-l-reg4",
    &[],
    Family::Dinov2,
    518,
    14,
    "DINOv2 ViT-L/14 + registers",
    "DINOv2-L+reg",
    "ViT-L/14, 4 registers, LayerScale",
    304_370_688,
    1024,
    LVD_142M,
);

const DINOV2_G: BackboneSpec = spec(
    "timm/vit_giant_patch14_dinov2.lvd142m",
    "dinov2-g",
    &[],
    Family::Dinov2,
    518,
    14,
    "DINOv2 ViT-g/14",
    "DINOv2-g",
    "ViT-g/14, SwiGLU, LayerScale",
    1_136_479_232,
    1536,
    LVD_142M,
);

const DINOV2_G_REG4: BackboneSpec = spec(
    "timm/vit_giant_patch14_reg4_dinov2.lvd142m",
    "dinov2-g-reg4",
    &[],
    Family::Dinov2,
    518,
    14,
    "DINOv2 ViT-g/14 + registers",
    "DINOv2-g+reg",
    "ViT-g/14, SwiGLU, 4 registers, LayerScale",
    1_136_483_840,
    1536,
    LVD_142M,
);

const CLIP_B32: BackboneSpec = spec(
    "timm/vit_base_patch32_clip_224.openai",
    "clip-b32",
    &[],
    Family::Clip,
    224,
    32,
    "CLIP ViT-B/32 (OpenAI)",
    "CLIP-B/32",
    "ViT-B/32, pre-norm",
    87_456_000,
    768,
    WIT_400M,
);

const CLIP_B16: BackboneSpec = spec(
    "timm/vit_base_patch16_clip_224.openai",
    "clip-b16",
    &["clip"],
    Family::Clip,
    224,
    16,
    "CLIP ViT-B/16 (OpenAI)",
    "CLIP-B/16",
    "ViT-B/16, pre-norm",
    85_799_424,
    768,
    WIT_400M,
);

const CLIP_L14: BackboneSpec = spec(
    "timm/vit_large_patch14_clip_224.openai",
    "clip-l14",
    &[],
    Family::Clip,
    224,
    14,
    "CLIP ViT-L/14 (OpenAI)",
    "CLIP-L/14",
    "ViT-L/14, pre-norm",
    303_179_776,
    1024,
    WIT_400M,
);

const DINOV3_S: BackboneSpec = spec(
    "timm/vit_small_patch16_dinov3.lvd1689m",
    "dinov3-s",
    &[],
    Family::Dinov3,
    256,
    16,
    "DINOv3 ViT-S/16",
    "DINOv3-S",
    "ViT-S/16, RoPE, 4 storage tokens",
    21_586_944,
    384,
    LVD_1689M,
);

const DINOV3_SPLUS: BackboneSpec = spec(
    "timm/vit_small_plus_patch16_dinov3.lvd1689m",
    "dinov3-splus",
    &["dinov3-s+"],
    Family::Dinov3,
    256,
    16,
    "DINOv3 ViT-S+/16",
    "DINOv3-S+",
    "ViT-S+/16, SwiGLU, RoPE, 4 storage tokens",
    28_683_264,
    384,
    LVD_1689M,
);

const DINOV3: BackboneSpec = spec(
    "timm/vit_base_patch16_dinov3.lvd1689m",
    "dinov3",
    &["dinov3-b"],
    Family::Dinov3,
    256,
    16,
    "DINOv3 ViT-B/16",
    "DINOv3",
    "ViT-B/16, RoPE, 4 storage tokens",
    85_641_216,
    768,
    LVD_1689M,
);

const DINOV3_L: BackboneSpec = spec(
    "timm/vit_large_patch16_dinov3.lvd1689m",
    "dinov3-l",
    &[],
    Family::Dinov3,
    256,
    16,
    "DINOv3 ViT-L/16",
    "DINOv3-L",
    "ViT-L/16, RoPE, 4 storage tokens",
    303_079_424,
    1024,
    LVD_1689M,
);

const CLIP_B32_LAION: BackboneSpec = spec(
    "timm/vit_base_patch32_clip_224.laion2b",
    "clip-b32-laion",
    &[],
    Family::Clip,
    224,
    32,
    "CLIP ViT-B/32 (LAION-2B)",
    "CLIP-B/32 LAION",
    "ViT-B/32, pre-norm",
    87_456_000,
    768,
    LAION_2B,
);

const CLIP_B16_LAION: BackboneSpec = spec(
    "timm/vit_base_patch16_clip_224.laion2b",
    "clip-b16-laion",
    &[],
    Family::Clip,
    224,
    16,
    "CLIP ViT-B/16 (LAION-2B)",
    "CLIP-B/16 LAION",
    "ViT-B/16, pre-norm",
    85_799_424,
    768,
    LAION_2B,
);

const CLIP_L14_LAION: BackboneSpec = spec(
    "timm/vit_large_patch14_clip_224.laion2b",
    "clip-l14-laion",
    &[],
    Family::Clip,
    224,
    14,
    "CLIP ViT-L/14 (LAION-2B)",
    "CLIP-L/14 LAION",
    "ViT-L/14, pre-norm",
    303_179_776,
    1024,
    LAION_2B,
);

const SIGLIP_B16: BackboneSpec = spec(
    "timm/vit_base_patch16_siglip_224.webli",
    "siglip-b16",
    &["siglip"],
    Family::Siglip,
    224,
    16,
    "SigLIP ViT-B/16",
    "SigLIP-B/16",
    "ViT-B/16, attention-pool head",
    92_884_224,
    768,
    WEBLI,
);

const SIGLIP2_B16: BackboneSpec = spec(
    "timm/vit_base_patch16_siglip_224.v2_webli",
    "siglip2-b16",
    &["siglip2"],
    Family::Siglip,
    224,
    16,
    "SigLIP 2 ViT-B/16",
    "SigLIP2-B/16",
    "ViT-B/16, attention-pool head",
    92_884_224,
    768,
    WEBLI,
);

/// Every known checkpoint, in the order reports list them: by pretraining
/// data size, smallest first (the order of the seed's question), then by
/// size. Parameter counts are timm's / transformers' for the image model
/// without a classifier head.
pub(crate) const REGISTRY: &[BackboneSpec] = &[
    spec(
        "facebook/dino-vits16",
        "dino-vits16",
        &["dino-s16"],
        Family::Dino,
        224,
        16,
        "DINO ViT-S/16",
        "DINO-S/16",
        "ViT-S/16",
        21_665_664,
        384,
        IMAGENET_1K,
    ),
    spec(
        "facebook/dino-vits8",
        "dino-vits8",
        &["dino-s8"],
        Family::Dino,
        224,
        8,
        "DINO ViT-S/8",
        "DINO-S/8",
        "ViT-S/8",
        21_670_272,
        384,
        IMAGENET_1K,
    ),
    with_plans(
        spec(
            "facebook/dino-vitb16",
            "dino",
            &["dino-vitb16", "dino-b16"],
            Family::Dino,
            224,
            16,
            "DINO ViT-B/16",
            "DINO",
            "ViT-B/16",
            85_798_656,
            768,
            IMAGENET_1K,
        ),
        DINO_B16_PLANS,
    ),
    spec(
        "facebook/dino-vitb8",
        "dino-vitb8",
        &["dino-b8"],
        Family::Dino,
        224,
        8,
        "DINO ViT-B/8",
        "DINO-B/8",
        "ViT-B/8",
        85_807_872,
        768,
        IMAGENET_1K,
    ),
    DINOV2_S,
    hf(
        DINOV2_S,
        "facebook/dinov2-small",
        "dinov2-s-hf",
        "DINOv2 ViT-S/14 (transformers)",
        "DINOv2-S HF",
        224,
    ),
    DINOV2_S_REG4,
    hf(
        DINOV2_S_REG4,
        "facebook/dinov2-with-registers-small",
        "dinov2-s-reg4-hf",
        "DINOv2 ViT-S/14 + registers (transformers)",
        "DINOv2-S+reg HF",
        224,
    ),
    DINOV2,
    hf(
        DINOV2,
        "facebook/dinov2-base",
        "dinov2-b-hf",
        "DINOv2 ViT-B/14 (transformers)",
        "DINOv2 HF",
        224,
    ),
    DINOV2_B_REG4,
    hf(
        DINOV2_B_REG4,
        "facebook/dinov2-with-registers-base",
        "dinov2-b-reg4-hf",
        "DINOv2 ViT-B/14 + registers (transformers)",
        "DINOv2-B+reg HF",
        224,
    ),
    DINOV2_L,
    hf(
        DINOV2_L,
        "facebook/dinov2-large",
        "dinov2-l-hf",
        "DINOv2 ViT-L/14 (transformers)",
        "DINOv2-L HF",
        224,
    ),
    DINOV2_L_REG4,
    hf(
        DINOV2_L_REG4,
        "facebook/dinov2-with-registers-large",
        "dinov2-l-reg4-hf",
        "DINOv2 ViT-L/14 + registers (transformers)",
        "DINOv2-L+reg HF",
        224,
    ),
    DINOV2_G,
    hf(
        DINOV2_G,
        "facebook/dinov2-giant",
        "dinov2-g-hf",
        "DINOv2 ViT-g/14 (transformers)",
        "DINOv2-g HF",
        224,
    ),
    DINOV2_G_REG4,
    hf(
        DINOV2_G_REG4,
        "facebook/dinov2-with-registers-giant",
        "dinov2-g-reg4-hf",
        "DINOv2 ViT-g/14 + registers (transformers)",
        "DINOv2-g+reg HF",
        224,
    ),
    CLIP_B32,
    hf(
        CLIP_B32,
        "openai/clip-vit-base-patch32",
        "clip-b32-hf",
        "CLIP ViT-B/32 (OpenAI, transformers)",
        "CLIP-B/32 HF",
        224,
    ),
    CLIP_B16,
    hf(
        CLIP_B16,
        "openai/clip-vit-base-patch16",
        "clip-b16-hf",
        "CLIP ViT-B/16 (OpenAI, transformers)",
        "CLIP-B/16 HF",
        224,
    ),
    CLIP_L14,
    hf(
        CLIP_L14,
        "openai/clip-vit-large-patch14",
        "clip-l14-hf",
        "CLIP ViT-L/14 (OpenAI, transformers)",
        "CLIP-L/14 HF",
        224,
    ),
    DINOV3_S,
    hf(
        DINOV3_S,
        "facebook/dinov3-vits16-pretrain-lvd1689m",
        "dinov3-s-hf",
        "DINOv3 ViT-S/16 (transformers)",
        "DINOv3-S HF",
        224,
    ),
    DINOV3_SPLUS,
    hf(
        DINOV3_SPLUS,
        "facebook/dinov3-vits16plus-pretrain-lvd1689m",
        "dinov3-splus-hf",
        "DINOv3 ViT-S+/16 (transformers)",
        "DINOv3-S+ HF",
        224,
    ),
    DINOV3,
    hf(
        DINOV3,
        "facebook/dinov3-vitb16-pretrain-lvd1689m",
        "dinov3-b-hf",
        "DINOv3 ViT-B/16 (transformers)",
        "DINOv3 HF",
        224,
    ),
    DINOV3_L,
    hf(
        DINOV3_L,
        "facebook/dinov3-vitl16-pretrain-lvd1689m",
        "dinov3-l-hf",
        "DINOv3 ViT-L/16 (transformers)",
        "DINOv3-L HF",
        224,
    ),
    CLIP_B32_LAION,
    hf(
        CLIP_B32_LAION,
        "laion/CLIP-ViT-B-32-laion2B-s34B-b79K",
        "clip-b32-laion-hf",
        "CLIP ViT-B/32 (LAION-2B, transformers)",
        "CLIP-B/32 LAION HF",
        224,
    ),
    CLIP_B16_LAION,
    hf(
        CLIP_B16_LAION,
        "laion/CLIP-ViT-B-16-laion2B-s34B-b88K",
        "clip-b16-laion-hf",
        "CLIP ViT-B/16 (LAION-2B, transformers)",
        "CLIP-B/16 LAION HF",
        224,
    ),
    CLIP_L14_LAION,
    hf(
        CLIP_L14_LAION,
        "laion/CLIP-ViT-L-14-laion2B-s32B-b82K",
        "clip-l14-laion-hf",
        "CLIP ViT-L/14 (LAION-2B, transformers)",
        "CLIP-L/14 LAION HF",
        224,
    ),
    SIGLIP_B16,
    hf(
        SIGLIP_B16,
        "google/siglip-base-patch16-224",
        "siglip-b16-hf",
        "SigLIP ViT-B/16 (transformers)",
        "SigLIP-B/16 HF",
        224,
    ),
    SIGLIP2_B16,
    hf(
        SIGLIP2_B16,
        "google/siglip2-base-patch16-224",
        "siglip2-b16-hf",
        "SigLIP 2 ViT-B/16 (transformers)",
        "SigLIP2-B/16 HF",
        224,
    ),
];

/// The backbones `index` embeds with when none are named.
pub(crate) const DEFAULT_BACKBONES: &[&str] = &["dino", "dinov2"];

/// Which checkpoint an id names: a registry entry, or a hub repository the
/// registry does not list. The unlisted spec is the id's own (shared by its
/// clones), never registered anywhere: parsing a name, even from a request,
/// leaves nothing behind.
#[derive(Clone)]
enum SpecRef {
    /// Index into [`REGISTRY`].
    Listed(usize),
    Unlisted(Arc<BackboneSpec>),
}

impl SpecRef {
    fn spec(&self) -> &BackboneSpec {
        match self {
            SpecRef::Listed(i) => &REGISTRY[*i],
            SpecRef::Unlisted(s) => s,
        }
    }

    /// Registry order first (it is report order), then unlisted
    /// repositories by their id, which names them case-insensitively.
    fn order(&self) -> (usize, String) {
        match self {
            SpecRef::Listed(i) => (*i, String::new()),
            SpecRef::Unlisted(s) => (REGISTRY.len(), s.hub_id.to_ascii_lowercase()),
        }
    }
}

impl PartialEq for SpecRef {
    fn eq(&self, other: &Self) -> bool {
        self.order() == other.order()
    }
}

impl Eq for SpecRef {}

impl std::hash::Hash for SpecRef {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.order().hash(state);
    }
}

impl PartialOrd for SpecRef {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SpecRef {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.order().cmp(&other.order())
    }
}

/// The checkpoint `name` names: a registered one, or an unlisted one when
/// it looks like a hub repository id.
fn lookup(name: &str) -> Option<SpecRef> {
    let name = name.trim();
    if let Some(i) = REGISTRY.iter().position(|s| s.answers_to(name)) {
        return Some(SpecRef::Listed(i));
    }
    if !looks_like_repo_id(name) {
        return None;
    }
    Some(SpecRef::Unlisted(Arc::new(BackboneSpec::unlisted(name))))
}

/// `org/name`, with hub-legal characters only.
fn looks_like_repo_id(s: &str) -> bool {
    let Some((org, name)) = s.split_once('/') else {
        return false;
    };
    let ok = |p: &str| {
        !p.is_empty()
            && p.len() <= 96
            && !p.starts_with('.')
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    ok(org) && ok(name)
}

impl BackboneSpec {
    fn answers_to(&self, name: &str) -> bool {
        self.alias.eq_ignore_ascii_case(name)
            || self.hub_id.eq_ignore_ascii_case(name)
            || self.also.iter().any(|a| a.eq_ignore_ascii_case(name))
    }

    /// Looks a registered checkpoint up by alias or hub id (case-insensitive).
    pub fn find(name: &str) -> Option<&'static BackboneSpec> {
        let name = name.trim();
        REGISTRY.iter().find(|s| s.answers_to(name))
    }

    /// The spec of a hub repository the registry does not list. What the
    /// registry would say comes from the checkpoint's own files when it is
    /// loaded; here only the repository id and, from a timm tag, the
    /// pretraining data are known. timm repositories (`timm/…` or a name
    /// with a `.tag`) use timm's layout; others are read as transformers
    /// `ViTModel` folders.
    pub(crate) fn unlisted(hub_id: &str) -> BackboneSpec {
        let hub_id = hub_id.trim();
        let name = hub_id.split_once('/').map_or(hub_id, |(_, n)| n);
        let tag = name.rsplit_once('.').map(|(_, t)| t);
        let timm = hub_id.starts_with("timm/") || tag.is_some();
        let layout = if !timm {
            Layout::Transformers
        } else if name.contains("dinov3") {
            Layout::Eva
        } else {
            Layout::Timm
        };
        let owned = || Cow::Owned(hub_id.to_string());
        BackboneSpec {
            hub_id: owned(),
            alias: owned(),
            also: &[],
            family: None,
            layout,
            default_resolution: 0,
            patch_size: 0,
            display_name: owned(),
            short_name: owned(),
            architecture: "unlisted checkpoint",
            params: 0,
            embedding_dim: 0,
            pretraining: tag.and_then(pretraining_of_tag),
            gated: false,
            // The name is only a guess at the layout: try both kinds of
            // repository, the guessed one first.
            hub_plans: if layout == Layout::Transformers {
                ANY_PLANS_DINO_FIRST
            } else {
                ANY_PLANS_TIMM_FIRST
            },
        }
    }

    /// Whether the registry lists this checkpoint.
    pub(crate) fn is_listed(&self) -> bool {
        self.family.is_some()
    }

    /// "ViT-B/14, 86.6M parameters · LVD-142M (142M images)".
    pub fn description(&self) -> String {
        let mut s = self.architecture.to_string();
        if self.params > 0 {
            s.push_str(&format!(", {} parameters", human_count(self.params)));
        }
        if let Some(p) = self.pretraining {
            s.push_str(&format!(" · {} ({} images)", p.name, human_count(p.images)));
        }
        s
    }

    /// Pretraining images, 0 when unknown: the ladder's x axis.
    pub fn pretraining_images(&self) -> u64 {
        self.pretraining.map_or(0, |p| p.images)
    }

    /// The aliases and hub ids, for "unknown backbone" messages and `--help`.
    pub fn known_list() -> String {
        REGISTRY
            .iter()
            .map(|s| s.alias.clone())
            .collect::<Vec<_>>()
            .join(", ")
            + " (`artlens models` lists them with their hub ids; any hub id of a supported architecture works too)"
    }
}

/// 1.28M, 142M, 1.7B.
pub fn human_count(n: u64) -> String {
    let (v, unit) = if n >= 1_000_000_000 {
        (n as f64 / 1e9, "B")
    } else if n >= 1_000_000 {
        (n as f64 / 1e6, "M")
    } else if n >= 1_000 {
        (n as f64 / 1e3, "k")
    } else {
        return n.to_string();
    };
    let s = if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    };
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    format!("{s}{unit}")
}

/// A backbone: a known checkpoint at one input resolution.
///
/// Written as `ALIAS[@SIZE]` ([`BackboneId::name`], what people read and
/// what views use as keys) or `HUB_ID[@SIZE]` ([`BackboneId::key`], what the
/// store uses, so that a renamed alias never orphans stored embeddings). The
/// checkpoint's default resolution is never written: `dinov2@518` is
/// `dinov2`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BackboneId {
    /// Registry order is report order.
    spec: SpecRef,
    /// `None` at the checkpoint's default resolution.
    resolution: Option<u32>,
}

impl BackboneId {
    /// Parses `dino`, `facebook/dino-vitb16`, `dinov2@224`, ...
    ///
    /// An unknown name is [`Error::UnknownBackbone`] listing the known ones;
    /// a resolution that is not a positive multiple of the patch size, or
    /// above `MAX_RESOLUTION`, is [`Error::BadResolution`] naming both.
    pub fn parse(s: &str) -> Result<BackboneId> {
        let s = s.trim();
        let (name, size) = match s.rsplit_once('@') {
            Some((n, r)) => (n, Some(r)),
            None => (s, None),
        };
        let Some(spec) = lookup(name) else {
            return Err(Error::UnknownBackbone {
                name: s.to_string(),
                known: BackboneSpec::known_list(),
            });
        };
        let id = BackboneId {
            spec,
            resolution: None,
        };
        match size {
            None => Ok(id),
            Some(r) => {
                let r: u32 = r.trim().parse().map_err(|_| Error::BadResolution {
                    backbone: name.trim().to_string(),
                    resolution: r.to_string(),
                    reason: "the part after `@` must be a whole number of pixels, e.g. dinov2@224"
                        .into(),
                })?;
                id.at_resolution(r)
            }
        }
    }

    /// The same checkpoint at input side `r` (validated as in [`BackboneId::parse`]).
    pub fn at_resolution(&self, r: u32) -> Result<BackboneId> {
        let spec = self.spec();
        let bad = |reason: String| Error::BadResolution {
            backbone: spec.alias.to_string(),
            resolution: r.to_string(),
            reason,
        };
        // An unlisted checkpoint's patch size is only known from its files;
        // loading checks the size against them (`check_image_size`).
        if r == 0 {
            return Err(bad("the input side must be at least one patch".into()));
        }
        if spec.patch_size > 0 && !r.is_multiple_of(spec.patch_size) {
            let p = spec.patch_size;
            let lower = (r / p).max(1) * p;
            return Err(bad(format!(
                "it is not a multiple of the patch size {p} of {}; try {} or {}",
                spec.alias,
                lower,
                lower + p
            )));
        }
        if r > MAX_RESOLUTION {
            return Err(bad(format!(
                "artlens accepts at most {MAX_RESOLUTION} px a side (memory grows with its square)"
            )));
        }
        Ok(BackboneId {
            spec: self.spec.clone(),
            resolution: (r != spec.default_resolution).then_some(r),
        })
    }

    /// The registry entry.
    pub fn spec(&self) -> &BackboneSpec {
        self.spec.spec()
    }

    /// The input side in pixels (0 for an unlisted checkpoint at its
    /// default, which only its files say).
    pub fn resolution(&self) -> u32 {
        self.resolution.unwrap_or(self.spec().default_resolution)
    }

    /// The resolution when it is not the checkpoint's default: what the
    /// model must be told to resample its position embeddings to.
    pub fn resolution_override(&self) -> Option<u32> {
        self.resolution
    }

    /// `dino`, `dinov2@224`: the name people type and views show.
    pub fn name(&self) -> String {
        self.with_suffix(&self.spec().alias)
    }

    /// `facebook/dino-vitb16`, `timm/vit_base_patch14_dinov2.lvd142m@224`:
    /// the stable key the store files embeddings under.
    pub fn key(&self) -> String {
        self.with_suffix(&self.spec().hub_id)
    }

    /// A file-name-safe form of the name, for folders such as the ANN
    /// index's (a cache verified against the fingerprint, so a renamed alias
    /// costs a rebuild, never a wrong answer).
    pub fn folder_name(&self) -> String {
        self.name()
            .chars()
            .map(|c| match c {
                'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '-' | '_' | '@' => c,
                _ => '+',
            })
            .collect()
    }

    /// "DINOv2 ViT-B/14" or "DINOv2 ViT-B/14 @ 224 px".
    pub fn display_name(&self) -> String {
        match self.resolution {
            None => self.spec().display_name.to_string(),
            Some(r) => format!("{} @ {r} px", self.spec().display_name),
        }
    }

    /// "DINOv2" or "DINOv2@224": the name a verdict sentence uses.
    pub fn short_label(&self) -> String {
        self.with_suffix(&self.spec().short_name)
    }

    /// Where this backbone stands on the data ladder: pretraining images
    /// (unknown last), then parameters, then input resolution. `compare`
    /// orders its backbones by it.
    pub(crate) fn ladder_key(&self) -> (u64, u64, u32) {
        let spec = self.spec();
        let images = match spec.pretraining_images() {
            0 => u64::MAX,
            n => n,
        };
        (images, spec.params, self.resolution())
    }

    /// The registry's one-line description with the input resolution.
    pub fn description(&self) -> String {
        match self.resolution() {
            0 => format!("{}, the checkpoint's resolution", self.spec().description()),
            r => format!("{}, {r} px", self.spec().description()),
        }
    }

    fn with_suffix(&self, base: &str) -> String {
        match self.resolution {
            None => base.to_string(),
            Some(r) => format!("{base}@{r}"),
        }
    }
}

impl fmt::Display for BackboneId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl fmt::Debug for BackboneId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BackboneId({})", self.key())
    }
}

impl std::str::FromStr for BackboneId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        BackboneId::parse(s)
    }
}

// Serialised as the stable key: this is what goes into fingerprints on disk.
impl Serialize for BackboneId {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.key())
    }
}

impl<'de> Deserialize<'de> for BackboneId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        BackboneId::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Parses a comma-separated list (`dino,dinov2@224`), keeping the order
/// given and dropping repeats. `all`/`both` mean the defaults.
pub fn parse_backbone_list(s: &str) -> Result<Vec<BackboneId>> {
    let t = s.trim();
    let names: Vec<&str> = if t.eq_ignore_ascii_case("both") || t.eq_ignore_ascii_case("default") {
        DEFAULT_BACKBONES.to_vec()
    } else {
        t.split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect()
    };
    let mut out: Vec<BackboneId> = Vec::new();
    for n in names {
        let id = BackboneId::parse(n)?;
        if !out.contains(&id) {
            out.push(id);
        }
    }
    if out.is_empty() {
        return Err(Error::UnknownBackbone {
            name: s.to_string(),
            known: BackboneSpec::known_list(),
        });
    }
    Ok(out)
}

/// The default backbones (`dino,dinov2`).
pub fn default_backbones() -> Vec<BackboneId> {
    DEFAULT_BACKBONES
        .iter()
        .map(|n| BackboneId::parse(n).expect("the default backbones are registered"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_hub_ids_and_resolutions_name_the_same_backbones() {
        let a = BackboneId::parse("dinov2").unwrap();
        let b = BackboneId::parse("timm/vit_base_patch14_dinov2.lvd142m").unwrap();
        let c = BackboneId::parse("DINOv2@518").unwrap();
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_eq!(a.name(), "dinov2");
        assert_eq!(a.key(), "timm/vit_base_patch14_dinov2.lvd142m");
        let d = BackboneId::parse("dinov2@224").unwrap();
        assert_ne!(a, d);
        assert_eq!(d.name(), "dinov2@224");
        assert_eq!(d.key(), "timm/vit_base_patch14_dinov2.lvd142m@224");
        assert_eq!(d.resolution(), 224);
        assert_eq!(BackboneId::parse(&d.key()).unwrap(), d);
        assert!(!d.folder_name().contains('/'));
    }

    #[test]
    fn unknown_names_list_the_known_ones() {
        let e = BackboneId::parse("vgg16").unwrap_err().to_string();
        assert!(
            e.contains("vgg16")
                && e.contains("dino")
                && e.contains("dinov2")
                && e.contains("siglip-b16"),
            "{e}"
        );
    }

    #[test]
    fn unlisted_hub_ids_are_backbones_too() {
        let id = BackboneId::parse("someone/vit_base_patch16_clip_224.laion2b").unwrap();
        let spec = id.spec();
        assert!(!spec.is_listed());
        assert_eq!(spec.layout, Layout::Timm);
        assert_eq!(spec.pretraining.unwrap().name, LAION_2B.name);
        assert_eq!(id.key(), "someone/vit_base_patch16_clip_224.laion2b");
        // Interned: the same id twice is the same backbone.
        assert_eq!(
            BackboneId::parse("someone/vit_base_patch16_clip_224.laion2b").unwrap(),
            id
        );
        assert_eq!(
            BackboneId::parse("facebook/dino-vits8-finetuned")
                .unwrap()
                .spec()
                .layout,
            Layout::Transformers
        );
        // The patch size is only known from the files, so any size parses.
        assert_eq!(
            BackboneId::parse("someone/x@300").unwrap().resolution(),
            300
        );
        assert!(BackboneId::parse("not a repo").is_err());
        assert!(BackboneId::parse("a/../b").is_err());
        // Registered names and their extra spellings resolve to the registry.
        assert!(BackboneId::parse("dinov2-b").unwrap().spec().is_listed());
        assert_eq!(
            BackboneId::parse("DINO-VITB16").unwrap(),
            BackboneId::parse("dino").unwrap()
        );
    }

    #[test]
    fn resolutions_must_fit_the_patch_size() {
        let e = BackboneId::parse("dinov2@225").unwrap_err().to_string();
        assert!(
            e.contains("225") && e.contains("14") && e.contains("224"),
            "{e}"
        );
        let e = BackboneId::parse("dino@65536").unwrap_err().to_string();
        assert!(e.contains("2048"), "{e}");
        assert!(BackboneId::parse("dino@x").is_err());
        assert!(BackboneId::parse("dino@0").is_err());
    }

    #[test]
    fn lists_keep_order_and_drop_repeats() {
        let l = parse_backbone_list("dinov2, dino,dinov2@518,dinov2@224").unwrap();
        let names: Vec<String> = l.iter().map(|b| b.name()).collect();
        assert_eq!(names, ["dinov2", "dino", "dinov2@224"]);
        assert_eq!(parse_backbone_list("both").unwrap(), default_backbones());
    }

    #[test]
    fn counts_read_as_people_write_them() {
        assert_eq!(human_count(1_281_167), "1.28M");
        assert_eq!(human_count(142_000_000), "142M");
        assert_eq!(human_count(1_689_000_000), "1.69B");
    }
}
