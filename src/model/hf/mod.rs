//! transformers checkpoint layouts beyond DINO's `ViTModel`: each
//! `model_type` is a config mapping onto the one [`VitConfig`], a renaming of
//! its tensors into timm's names (so [`crate::model::Vit`] loads them as it
//! loads timm checkpoints), and the PIL path of its image processor read from
//! `preprocessor_config.json`.
//!
//! * [`dinov2`]: `Dinov2Model` and `Dinov2WithRegistersModel`
//!   (`facebook/dinov2-*`, `facebook/dinov2-with-registers-*`);
//! * [`clip`]: `CLIPModel` / `CLIPVisionModel` (`openai/clip-vit-*`,
//!   `laion/CLIP-ViT-*`);
//! * [`siglip`]: `SiglipModel` / `SiglipVisionModel` (`google/siglip-*`,
//!   `google/siglip2-*`);
//! * [`dinov3`]: `DINOv3ViTModel` (`facebook/dinov3-*-pretrain-lvd1689m`).
//!
//! The embedding is the model's `pooler_output` in every case. Which format
//! a folder holds (timm or transformers) is decided by its `config.json`
//! ([`crate::model::config::config_layout`]); this module only sees
//! transformers configs.

pub mod clip;
pub mod dinov2;
pub mod dinov3;
pub mod siglip;

use std::path::Path;

use candle_core::Tensor;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::imaging::{Geometry, Preprocess, ResizeFilter};
use crate::model::config::{self, config_error, Layout, QkvBias, VitConfig};
use crate::model::weights::Checkpoint;

/// The transformers `model_type`s artlens reads, for error messages.
pub(crate) use crate::model::config::MODEL_TYPES;

/// The config and preprocessing of a transformers checkpoint, with the
/// warnings worth showing (a missing `preprocessor_config.json`).
pub(crate) struct HfModel {
    pub vit: VitConfig,
    pub preprocess: Preprocess,
    pub warnings: Vec<String>,
}

/// Reads a transformers checkpoint's `config.json` and its
/// `preprocessor_config.json` (`None`: the folder has none, and the model
/// card's defaults apply, with a warning) at `image_size` (the processor's
/// own when `None`).
pub fn read(
    config: &Path,
    preprocessor: Option<&Path>,
    image_size: Option<u32>,
) -> Result<HfModel> {
    let raw: serde_json::Value = config::read_json(config, "transformers config.json")?;
    let model_type = raw
        .get("model_type")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string();
    let (vit, defaults) = match model_type.as_str() {
        "vit" => {
            let cfg: config::TransformersVitConfig =
                config::read_json(config, "transformers ViT config.json")?;
            let vit = config::dino_vit_config(&cfg, config)?;
            // DINO's preprocessing has always been read from its file.
            let pp = preprocessor.ok_or_else(|| Error::Config {
                path: config.with_file_name("preprocessor_config.json"),
                reason: "missing; DINO's preprocessing is read from preprocessor_config.json"
                    .into(),
            })?;
            let p: config::ViTImageProcessorConfig =
                config::read_json(pp, "preprocessor_config.json")?;
            let preprocess = config::dino_preprocess(&p, image_size, pp)?;
            return Ok(HfModel {
                vit,
                preprocess,
                warnings: Vec::new(),
            });
        }
        "dinov2" | "dinov2_with_registers" => (dinov2::vit_config(&raw, config)?, dinov2::PROCESSOR),
        "clip" | "clip_vision_model" => (clip::vit_config(&raw, config)?, clip::PROCESSOR),
        "siglip" | "siglip_vision_model" => (siglip::vit_config(&raw, config)?, siglip::PROCESSOR),
        "dinov3_vit" => (dinov3::vit_config(&raw, config)?, dinov3::PROCESSOR),
        "" => {
            return Err(Error::Config {
                path: config.to_path_buf(),
                reason: format!(
                    "names no `model_type`; artlens reads the transformers model types {MODEL_TYPES}, and timm checkpoints (a config with an `architecture`) of {}",
                    config::timm_architectures()
                ),
            })
        }
        other => {
            return Err(Error::Config {
                path: config.to_path_buf(),
                reason: format!(
                    "the config's `model_type` is `{other}`, which artlens does not read; it reads the transformers model types {MODEL_TYPES}, and timm checkpoints (a config with an `architecture`) of {}",
                    config::timm_architectures()
                ),
            })
        }
    };
    let mut warnings = Vec::new();
    let processor = match preprocessor {
        Some(p) => config::read_json::<ProcessorConfig>(p, "preprocessor_config.json")?,
        None => {
            warnings.push(format!(
                "{}: no preprocessor_config.json beside it; using the model card's preprocessing ({})",
                config.display(),
                defaults.describe()
            ));
            ProcessorConfig::default()
        }
    };
    let pp_path = preprocessor.unwrap_or(config);
    let mut preprocess = processor.preprocess(&defaults, image_size, pp_path)?;
    if defaults.class == dinov3::PROCESSOR.class {
        // DINOv3's processor is torchvision-only: it rescales to floats and
        // resizes the float image (no 8-bit rounding between the passes).
        preprocess.filter = preprocess.filter.in_f32();
    }
    Ok(HfModel {
        vit,
        preprocess,
        warnings,
    })
}

/// Renames a transformers checkpoint's tensors to timm's, for the layouts
/// that need it; others are returned as they are.
pub(crate) fn to_timm_names(
    config: &VitConfig,
    checkpoint: Checkpoint,
    path: &Path,
) -> Result<Checkpoint> {
    let rename = match config.layout {
        Layout::HfDinov2 => dinov2::to_timm_names,
        Layout::HfClip => clip::to_timm_names,
        Layout::HfSiglip => siglip::to_timm_names,
        Layout::HfDinov3 => dinov3::to_timm_names,
        _ => return Ok(checkpoint),
    };
    let mut r = Renamer::new(checkpoint, path, &config.architecture);
    rename(config, &mut r)?;
    Ok(r.finish())
}

/// What a model card's processor does when its `preprocessor_config.json`
/// omits a field (or the file is missing): the class defaults of its
/// processor, with the mean/std the published checkpoints use.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ProcessorDefaults {
    /// The processor class, for messages.
    pub class: &'static str,
    /// `Some(n)`: resize the shorter side to n; `None`: resize to `square`.
    pub shortest_edge: Option<u32>,
    /// The crop (or squash) side.
    pub square: u32,
    pub center_crop: bool,
    /// PIL resample code (2 bilinear, 3 bicubic).
    pub resample: i64,
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

impl ProcessorDefaults {
    fn describe(&self) -> String {
        match self.shortest_edge {
            Some(s) => format!(
                "{}: shorter side to {s}, centre crop {}, mean {:?}, std {:?}",
                self.class, self.square, self.mean, self.std
            ),
            None => format!(
                "{}: resize to {s}x{s}, mean {:?}, std {:?}",
                self.class,
                self.mean,
                self.std,
                s = self.square
            ),
        }
    }
}

pub(crate) const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
pub(crate) const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// transformers' image-processor config (`preprocessor_config.json`) for
/// the processors of these layouts (BiT, CLIP, SigLIP). Absent fields take
/// the processor's class default ([`ProcessorDefaults`]).
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct ProcessorConfig {
    pub do_resize: Option<bool>,
    pub size: Option<SizeSpec>,
    pub resample: Option<i64>,
    pub do_center_crop: Option<bool>,
    pub crop_size: Option<SizeSpec>,
    pub do_rescale: Option<bool>,
    pub rescale_factor: Option<f64>,
    pub do_normalize: Option<bool>,
    pub image_mean: Option<[f32; 3]>,
    pub image_std: Option<[f32; 3]>,
}

/// `size` / `crop_size`: an int (square, or the shortest edge for the
/// processors that keep the aspect ratio) or a dict.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum SizeSpec {
    Int(u32),
    Dict {
        shortest_edge: Option<u32>,
        height: Option<u32>,
        width: Option<u32>,
        longest_edge: Option<u32>,
    },
}

impl ProcessorConfig {
    /// The preprocessing recipe at `image_size` (the crop or squash side;
    /// the config's own when `None`). With a shortest-edge resize and a
    /// crop, another size keeps the config's ratio of the two (DINOv2's
    /// 256 → 224 becomes 512 → 448 at `@448`).
    fn preprocess(
        &self,
        d: &ProcessorDefaults,
        image_size: Option<u32>,
        path: &Path,
    ) -> Result<Preprocess> {
        let bad = |reason: String| config_error(path, reason);
        if !self.do_resize.unwrap_or(true) {
            return Err(bad(
                "do_resize is false; artlens needs a fixed input size, so it reads only processors that resize".into(),
            ));
        }
        if !self.do_normalize.unwrap_or(true) {
            return Err(bad(
                "do_normalize is false, which artlens does not reproduce (remove it, or set it to true)".into(),
            ));
        }
        let resample = self.resample.unwrap_or(d.resample);
        let filter = ResizeFilter::from_pil(resample).ok_or_else(|| {
            bad(format!(
                "resample {resample} is not supported (2 bilinear, 3 bicubic)"
            ))
        })?;
        let square = |what: &str, s: &SizeSpec| -> Result<u32> {
            match *s {
                SizeSpec::Int(n) => Ok(n),
                SizeSpec::Dict {
                    height: Some(h),
                    width: Some(w),
                    ..
                } if h == w => Ok(h),
                _ => Err(bad(format!(
                    "{what} {s:?} is not a square height/width; artlens reads square inputs only"
                ))),
            }
        };
        // The resize: to a shortest edge (aspect kept) or to a square.
        let shortest = match &self.size {
            None => d.shortest_edge.map(Ok),
            Some(SizeSpec::Dict {
                shortest_edge: Some(s),
                longest_edge: None,
                ..
            }) => Some(Ok(*s)),
            Some(SizeSpec::Dict {
                longest_edge: Some(_),
                ..
            }) => Some(Err(bad(
                "size.longest_edge is set, which artlens does not reproduce".into(),
            ))),
            // An int size keeps the aspect ratio where the class does.
            Some(SizeSpec::Int(n)) if d.shortest_edge.is_some() => Some(Ok(*n)),
            Some(_) => None,
        }
        .transpose()?;
        let center_crop = self.do_center_crop.unwrap_or(d.center_crop);
        let geometry = match (shortest, center_crop) {
            (Some(edge), true) => {
                let crop = match &self.crop_size {
                    Some(c) => square("crop_size", c)?,
                    None => d.square,
                };
                let (resize_to, crop) = match image_size {
                    None => (edge, crop),
                    Some(n) => ((u64::from(n) * u64::from(edge) / u64::from(crop.max(1))) as u32, n),
                };
                Geometry::ShortSideCenterCropFloor { resize_to, crop }
            }
            (Some(_), false) => {
                return Err(bad(
                    "a shortest-edge resize without a centre crop gives inputs of varying size; artlens reads fixed-size processors only".into(),
                ))
            }
            (None, crop) => {
                let side = match &self.size {
                    Some(s) => square("size", s)?,
                    None => d.square,
                };
                let side = image_size.unwrap_or(side);
                if crop {
                    let c = match &self.crop_size {
                        Some(c) => square("crop_size", c)?,
                        None => d.square,
                    };
                    if image_size.is_none() && c != side {
                        return Err(bad(format!(
                            "a resize to {side}x{side} then a crop to {c}: artlens reads a crop only after a shortest-edge resize"
                        )));
                    }
                }
                Geometry::Squash {
                    width: side,
                    height: side,
                }
            }
        };
        let rescale = if self.do_rescale.unwrap_or(true) {
            self.rescale_factor.unwrap_or(1.0 / 255.0) as f32
        } else {
            1.0
        };
        Ok(Preprocess {
            geometry,
            filter,
            rescale,
            mean: self.image_mean.unwrap_or(d.mean),
            std: self.image_std.unwrap_or(d.std),
        })
    }
}

/// The transformers config of the image model: the top level, or for a
/// dual-encoder (`CLIPModel`, `SiglipModel`) its `vision_config`.
pub(crate) fn vision_config(raw: &serde_json::Value) -> &serde_json::Value {
    raw.get("vision_config").unwrap_or(raw)
}

/// Parses the (vision) config into `T`, naming the file on failure.
pub(crate) fn parse<T: for<'de> Deserialize<'de>>(
    v: &serde_json::Value,
    path: &Path,
    what: &str,
) -> Result<T> {
    T::deserialize(v).map_err(|e| config_error(path, format!("not a valid {what} config: {e}")))
}

/// An int or an `[h, w]` pair (`image_size`, `patch_size`), square only.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(untagged)]
pub enum Side {
    One(usize),
    Pair([usize; 2]),
}

/// A serde default of a square side `N` (`#[serde(default = "default_side::<224>")]`),
/// as [`config::default_usize`] for the integer fields.
pub(crate) fn default_side<const N: usize>() -> Side {
    Side::One(N)
}

impl Side {
    pub(crate) fn square(self, field: &str, path: &Path) -> Result<usize> {
        match self {
            Side::One(n) => Ok(n),
            Side::Pair([h, w]) if h == w => Ok(h),
            Side::Pair([h, w]) => Err(config_error(path, format!(
                    "{field} is [{h}, {w}], which is not square; artlens reads square checkpoints only"
                ))),
        }
    }
}

/// Refuses a config field whose value changes the numerics in a way
/// artlens does not implement.
pub(crate) fn refuse(path: &Path, field: &str, value: impl std::fmt::Display, only: &str) -> Error {
    config_error(path, format!(
            "{field} is `{value}`, which artlens does not implement (it reads {only}); the embedding would differ from transformers'"
        ))
}

/// Tensor renaming with the few reshapes and fusions the layouts need.
pub(crate) struct Renamer<'a> {
    pub from: Checkpoint,
    pub to: Checkpoint,
    pub path: &'a Path,
    pub model: &'a str,
}

impl<'a> Renamer<'a> {
    pub(crate) fn new(from: Checkpoint, path: &'a Path, model: &'a str) -> Self {
        Renamer {
            from,
            to: Checkpoint::default(),
            path,
            model,
        }
    }

    pub(crate) fn has(&self, name: &str) -> bool {
        self.from.tensors.contains_key(name) || self.from.mapped.contains_key(name)
    }

    fn missing(&self, name: &str) -> Error {
        Error::MissingTensor {
            path: self.path.to_path_buf(),
            tensor: name.to_string(),
            model: self.model.to_string(),
        }
    }

    /// Moves `from` to `to` unchanged (a mapped matrix stays mapped).
    pub(crate) fn mv(&mut self, from: &str, to: &str) -> Result<()> {
        if let Some(m) = self.from.mapped.remove(from) {
            self.to.mapped.insert(to.to_string(), m);
        } else {
            let t = self
                .from
                .tensors
                .remove(from)
                .ok_or_else(|| self.missing(from))?;
            self.to.tensors.insert(to.to_string(), t);
        }
        Ok(())
    }

    /// Takes a tensor out as a (heap) tensor.
    pub(crate) fn take(&mut self, name: &str) -> Result<Tensor> {
        if let Some(m) = self.from.mapped.remove(name) {
            return m.to_tensor().map_err(|e| self.weights_error(name, e));
        }
        self.from
            .tensors
            .remove(name)
            .ok_or_else(|| self.missing(name))
    }

    pub(crate) fn put(&mut self, name: &str, t: Tensor) {
        self.to.tensors.insert(name.to_string(), t);
    }

    pub(crate) fn weights_error(&self, name: &str, e: candle_core::Error) -> Error {
        Error::Weights {
            path: self.path.to_path_buf(),
            reason: format!("tensor `{name}`: {e}"),
        }
    }

    /// Stacks separate q, k, v tensors (weights or biases) along rows into
    /// timm's fused `qkv` (rows q|k|v); an absent bias is zeros.
    pub(crate) fn fuse(
        &mut self,
        parts: [String; 3],
        to: &str,
        zero_if_missing: bool,
    ) -> Result<()> {
        let mut ts = Vec::with_capacity(3);
        for p in &parts {
            let t = if zero_if_missing && !self.has(p) {
                None
            } else {
                Some(self.take(p)?)
            };
            ts.push(t);
        }
        let like = ts
            .iter()
            .flatten()
            .next()
            .cloned()
            .ok_or_else(|| self.missing(&parts[0]))?;
        let ts: Vec<Tensor> = ts
            .into_iter()
            .map(|t| match t {
                Some(t) => Ok(t),
                None => like.zeros_like(),
            })
            .collect::<candle_core::Result<_>>()
            .map_err(|e| self.weights_error(to, e))?;
        let fused = Tensor::cat(&ts, 0).map_err(|e| self.weights_error(to, e))?;
        self.put(to, fused);
        Ok(())
    }

    /// Moves the `weight` and `bias` of each `(from, to)` pair of modules
    /// from `{from_prefix}{from}` to `{to_prefix}{to}`.
    pub(crate) fn mv_params(
        &mut self,
        from_prefix: &str,
        to_prefix: &str,
        pairs: &[(&str, &str)],
    ) -> Result<()> {
        for part in ["weight", "bias"] {
            for (from, to) in pairs {
                self.mv(
                    &format!("{from_prefix}{from}.{part}"),
                    &format!("{to_prefix}{to}.{part}"),
                )?;
            }
        }
        Ok(())
    }

    /// Fuses one block's separate query, key and value projections (the
    /// modules named by `from`) into timm's `{to}.attn.qkv`: their weights,
    /// and their biases when `bias` is [`QkvBias::Full`] (a missing one as
    /// zeros where `zero_missing_bias`, as [`Renamer::fuse`] does).
    pub(crate) fn fuse_qkv(
        &mut self,
        from: [String; 3],
        to: &str,
        bias: QkvBias,
        zero_missing_bias: bool,
    ) -> Result<()> {
        self.fuse(
            from.clone().map(|m| format!("{m}.weight")),
            &format!("{to}.attn.qkv.weight"),
            false,
        )?;
        if bias == QkvBias::Full {
            self.fuse(
                from.map(|m| format!("{m}.bias")),
                &format!("{to}.attn.qkv.bias"),
                zero_missing_bias,
            )?;
        }
        Ok(())
    }

    /// Keeps everything not renamed under its own name (unused tensors such
    /// as a text tower are simply never taken).
    pub(crate) fn finish(mut self) -> Checkpoint {
        self.to.tensors.extend(self.from.tensors);
        self.to.mapped.extend(self.from.mapped);
        self.to
    }
}

/// The input and patch sides of a transformers vision config, checked: RGB
/// input, square sides, and dims that divide (`hidden_size` by the heads,
/// the image by the patch). Shared by the CLIP, SigLIP and DINOv2 readers.
pub(crate) fn square_dims(
    num_channels: usize,
    image_size: &Side,
    patch_size: &Side,
    (hidden, heads): (usize, usize),
    path: &Path,
) -> Result<(usize, usize)> {
    if num_channels != 3 {
        return Err(refuse(path, "num_channels", num_channels, "3 (RGB)"));
    }
    let image = image_size.square("image_size", path)?;
    let patch = patch_size.square("patch_size", path)?;
    if heads == 0 || !hidden.is_multiple_of(heads) || patch == 0 || !image.is_multiple_of(patch) {
        return Err(config_error(path, format!(
                "inconsistent dims: hidden_size {hidden} must divide by num_attention_heads {heads}, image_size {image} by patch_size {patch}"
            )));
    }
    Ok((image, patch))
}

#[cfg(test)]
mod tests {
    /// The transformers twins' configs, under transformers' names, give the
    /// parameter count, width and patch of their registry entries (read off
    /// transformers 5.24).
    #[test]
    fn hf_twins_match_their_registry_entries() {
        use crate::model::config::{Layout, Mlp, QkvBias};
        use crate::model::registry::{Family, REGISTRY};
        use std::path::Path;
        for spec in REGISTRY {
            if spec.layout != Layout::Transformers || spec.family == Some(Family::Dino) {
                continue;
            }
            // The hub's config.json of the transformers twin: the
            // timm twin's dims under transformers' names.
            let c = spec.embedding_dim;
            let (depth, heads) = match c {
                384 => (12, 6),
                768 => (12, 12),
                1024 => (24, 16),
                _ => (40, 24),
            };
            let path = Path::new("config.json");
            let tower = serde_json::json!({
                "hidden_size": c,
                "intermediate_size": 4 * c,
                "num_hidden_layers": depth,
                "num_attention_heads": heads,
                "patch_size": spec.patch_size,
                "image_size": 224,
                "hidden_act": "gelu",
            });
            let cfg = match spec.family {
                Some(Family::Dinov2) => super::dinov2::vit_config(
                    &serde_json::json!({
                        "model_type": if spec.hub_id.contains("registers") {
                            "dinov2_with_registers"
                        } else {
                            "dinov2"
                        },
                        "hidden_size": c,
                        "num_hidden_layers": depth,
                        "num_attention_heads": heads,
                        "image_size": 518,
                        "patch_size": 14,
                        "use_swiglu_ffn": c == 1536,
                    }),
                    path,
                ),
                Some(Family::Clip) => super::clip::vit_config(
                    &serde_json::json!({"model_type": "clip", "vision_config": tower}),
                    path,
                ),
                Some(Family::Dinov3) => {
                    // The timm twin's MLP and biases, under
                    // transformers' names.
                    let twin = REGISTRY
                        .iter()
                        .find(|t| {
                            t.family == spec.family
                                && t.layout == Layout::Eva
                                && t.params == spec.params
                        })
                        .unwrap();
                    let arch = twin.hub_id.trim_start_matches("timm/");
                    let t = crate::model::config::timm_vit_config(
                        &crate::model::config::tests::hub_config(arch, 256),
                        path,
                    )
                    .unwrap();
                    super::dinov3::vit_config(
                        &serde_json::json!({
                            "model_type": "dinov3_vit",
                            "hidden_size": c,
                            "intermediate_size": t.mlp_dim,
                            "num_hidden_layers": depth,
                            "num_attention_heads": heads,
                            "use_gated_mlp": t.mlp == Mlp::SwiGlu,
                            "hidden_act": if t.mlp == Mlp::SwiGlu { "silu" } else { "gelu" },
                            "query_bias": t.qkv_bias != QkvBias::None,
                            "value_bias": t.qkv_bias != QkvBias::None,
                            "num_register_tokens": 4,
                        }),
                        path,
                    )
                }
                _ => super::siglip::vit_config(
                    &serde_json::json!({"model_type": "siglip", "vision_config": tower}),
                    path,
                ),
            }
            .unwrap_or_else(|e| panic!("{}: {e}", spec.hub_id));
            assert_eq!(cfg.hidden_size, spec.embedding_dim, "{}", spec.hub_id);
            assert_eq!(cfg.patch_size as u32, spec.patch_size, "{}", spec.hub_id);
            assert_eq!(
                crate::model::config::tests::parameter_count(&cfg),
                spec.params,
                "{}",
                spec.hub_id
            );
        }
    }
}
