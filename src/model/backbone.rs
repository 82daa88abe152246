//! A [`Backbone`]: one checkpoint's transformer, its preprocessing and its
//! fingerprint, turning decoded images into raw CLS embeddings.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use image::RgbImage;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{CandleContext, Error, Result};
use crate::imaging::{Decoder, Preprocess};
use crate::model::config::{self, VitConfig};
use crate::model::registry::BackboneId;
use crate::model::vit::Vit;
use crate::model::weights::{self, CheckpointFiles};

/// What makes two embeddings comparable: the same backbone (checkpoint and
/// resolution), the same weights bytes, the same preprocessing and the same
/// output size. Stored with every persisted embedding and checked on open.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// The checkpoint and the input resolution.
    pub backbone: BackboneId,
    /// blake3 of the weights file.
    pub weights_blake3: String,
    /// The recipe that turns an image into the model's input.
    pub preprocess: Preprocess,
    /// The embedding's length.
    pub dim: usize,
    /// The arithmetic of the forward pass. Absent (f32) in fingerprints
    /// written before precision could be chosen, so those stores still match.
    #[serde(default, skip_serializing_if = "Precision::is_f32")]
    pub precision: Precision,
    /// The decoder that turned the files into pixels (JPEG pixels, and so
    /// embeddings, differ between them). Absent in fingerprints written
    /// before it was recorded, which read as [`Decoder::ImageCrate`], the
    /// decoder those stores were built with.
    #[serde(default)]
    pub decode: Decoder,
}

/// The arithmetic a backbone runs in. f32 is the reference's. On CPU, `bf16`
/// needs AVX512_BF16 and runs the dense layers with bf16 inputs and f32 sums
/// (`sgemm::bf16`; everything else stays f32); it is refused elsewhere,
/// where bf16 products would be slower than f32 (`examples/cpu_precision.rs`)
/// and less exact. On CUDA,
/// `bf16` runs the transformer in bfloat16 on the tensor cores (LayerNorm
/// statistics in f32) and returns f32 embeddings; it is part of the
/// fingerprint, so bf16 and f32 embeddings are never mixed in one store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// 32-bit floats throughout, as the reference runs.
    #[default]
    F32,
    /// bfloat16 matrix products on CUDA, LayerNorm statistics and the
    /// returned embeddings in f32.
    Bf16,
}

impl Precision {
    pub(crate) fn is_f32(&self) -> bool {
        *self == Precision::F32
    }

    /// The tensor type of the forward pass.
    pub(crate) fn dtype(self) -> DType {
        match self {
            Precision::F32 => DType::F32,
            Precision::Bf16 => DType::BF16,
        }
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
        })
    }
}

impl std::str::FromStr for Precision {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "f32" | "fp32" | "float32" => Ok(Precision::F32),
            "bf16" | "bfloat16" => Ok(Precision::Bf16),
            other => Err(Error::InvalidArgument(format!(
                "bad precision `{other}` (expected f32 or bf16)"
            ))),
        }
    }
}

impl Fingerprint {
    /// Human-readable differences from `other`, for "store built with other
    /// weights" messages.
    pub(crate) fn differences(&self, other: &Fingerprint) -> Vec<String> {
        let mut d = Vec::new();
        if self.backbone != other.backbone {
            d.push(format!("backbone {} vs {}", self.backbone, other.backbone));
        }
        if self.weights_blake3 != other.weights_blake3 {
            d.push(format!(
                "weights hash {}… vs {}…",
                &self.weights_blake3[..12.min(self.weights_blake3.len())],
                &other.weights_blake3[..12.min(other.weights_blake3.len())]
            ));
        }
        if self.preprocess != other.preprocess {
            d.push(format!(
                "preprocessing {:?} vs {:?}",
                self.preprocess, other.preprocess
            ));
        }
        if self.dim != other.dim {
            d.push(format!("dim {} vs {}", self.dim, other.dim));
        }
        if self.precision != other.precision {
            d.push(format!(
                "precision {} vs {}",
                self.precision, other.precision
            ));
        }
        if self.decode != other.decode {
            d.push(format!("decoder {} vs {}", self.decode, other.decode));
        }
        d
    }

    /// [`Fingerprint::differences`] in the model alone, the decoder aside:
    /// a loaded backbone can query a store whatever decoder built it; only
    /// adding embeddings must match the decoder too.
    pub(crate) fn model_differences(&self, other: &Fingerprint) -> Vec<String> {
        let same_decoder = Fingerprint {
            decode: other.decode,
            ..self.clone()
        };
        same_decoder.differences(other)
    }
}

/// One image's tokens after the final norm and the CLS token's attention in
/// the last block ([`Backbone::tokens_images`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ImageTokens {
    /// The patch grid (rows, columns) over what the model saw (the squashed
    /// or centre-cropped image).
    pub grid: (usize, usize),
    /// Exactly [`Backbone::embed_images`]' embedding.
    pub embedding: Vec<f32>,
    /// One token per patch, row-major over `grid`.
    pub patches: Vec<Vec<f32>>,
    /// Per head, the attention probabilities of the token that makes the
    /// embedding (the CLS token, or SigLIP's pooling query): index 0 is that
    /// token itself (0 for SigLIP), then the patches as in `patches`. A row
    /// sums to 1 less what went to register or storage tokens.
    pub cls_attention: Vec<Vec<f32>>,
}

/// Options for loading a backbone. The input resolution is part of the
/// [`BackboneId`] (`dinov2@224`), not an option: it changes the embeddings.
#[derive(Debug, Clone)]
pub struct BackboneOptions {
    /// Where the weights live and the forward pass runs (CPU by default).
    pub device: Device,
    /// The arithmetic of the forward pass; `Bf16` needs a CUDA device.
    pub precision: Precision,
}

impl Default for BackboneOptions {
    fn default() -> Self {
        BackboneOptions {
            device: Device::Cpu,
            precision: Precision::F32,
        }
    }
}

/// A loaded backbone.
pub struct Backbone {
    id: BackboneId,
    vit: Vit,
    preprocess: Preprocess,
    fingerprint: Fingerprint,
    weights_in_place: usize,
    warnings: Vec<String>,
}

impl Backbone {
    /// Loads `id` from resolved checkpoint files, at `id`'s resolution.
    pub fn load(id: &BackboneId, files: &CheckpointFiles, opts: &BackboneOptions) -> Result<Self> {
        // bf16 on CPU needs AVX512_BF16 (issue 27): without it bf16 would
        // only be slower than f32 and less exact.
        if !opts.precision.is_f32()
            && opts.device.is_cpu()
            && !crate::model::ops::cpu_bf16_available()
        {
            return Err(Error::InvalidArgument(format!(
                "{id}: precision {} on CPU needs the AVX512_BF16 instructions, which this CPU \
                 lacks (without them bf16 is slower than f32 here and less exact): drop \
                 --precision, or add --device cuda",
                opts.precision
            )));
        }
        if opts.device.is_cpu() {
            crate::model::ops::keep_large_allocations();
        }
        let (vit_config, preprocess, warnings) = read_configs(id, files)?;
        let (h, w) = preprocess.output_size();
        let weights_blake3 = weights::hash_file(&files.weights)?;
        let checkpoint = weights::read_checkpoint(&files.weights, &opts.device)?;
        let weights_in_place = checkpoint.bytes().0;
        let vit = Vit::load(
            &vit_config,
            checkpoint,
            &opts.device,
            &files.weights,
            &id.name(),
            (h, w),
            opts.precision.dtype(),
        )?;
        let fingerprint = Fingerprint {
            backbone: id.clone(),
            weights_blake3,
            preprocess: preprocess.clone(),
            dim: vit_config.hidden_size,
            precision: opts.precision,
            // What an index run records unless it decodes otherwise
            // (`app::Collection::index` sets the run's decoder).
            decode: Decoder::Exact,
        };
        Ok(Backbone {
            id: id.clone(),
            vit,
            preprocess,
            fingerprint,
            weights_in_place,
            warnings,
        })
    }

    /// What loading noticed and a person should know, such as a transformers
    /// folder without `preprocessor_config.json` (the model card's
    /// preprocessing was used). The library never prints: front ends show
    /// these.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Bytes of weights the model reads in place from the memory-mapped
    /// checkpoint instead of holding a copy (0 for pickles, f16/bf16
    /// checkpoints, and on GPUs).
    pub fn weights_in_place(&self) -> usize {
        self.weights_in_place
    }

    /// The backbone this is.
    pub fn id(&self) -> &BackboneId {
        &self.id
    }

    /// What the backbone's embeddings are stored under.
    pub fn fingerprint(&self) -> &Fingerprint {
        &self.fingerprint
    }

    /// The preprocessing every image goes through before the forward pass.
    pub fn preprocess(&self) -> &Preprocess {
        &self.preprocess
    }

    /// The transformer's settings, read from the checkpoint's files.
    pub fn config(&self) -> &VitConfig {
        self.vit.config()
    }

    /// Embedding dimension (768 for both base models).
    pub fn dim(&self) -> usize {
        self.fingerprint.dim
    }

    /// Preprocesses images in parallel into one `[B·3·H·W]` buffer.
    pub fn preprocess_batch(&self, images: &[&RgbImage]) -> Vec<f32> {
        let per: Vec<Vec<f32>> = images
            .par_iter()
            .map(|img| self.preprocess.apply(img))
            .collect();
        per.concat()
    }

    /// Preprocessed pixels (`batch` images laid out as
    /// [`Backbone::preprocess_batch`] returns them) as the model's input
    /// tensor, on the model's device.
    pub fn pixels_tensor(&self, pixels: Vec<f32>, batch: usize) -> Result<Tensor> {
        let (h, w) = self.preprocess.output_size();
        Tensor::from_vec(pixels, (batch, 3, h, w), &Device::Cpu)
            .and_then(|t| t.to_device(self.vit.device()))
            .context(|| format!("{}: input of {batch} images", self.id))
    }

    /// Runs the transformer on an input tensor ([`Backbone::pixels_tensor`]):
    /// one embedding per image, copied back to the CPU (which also waits for
    /// a GPU to finish).
    pub fn embed_tensor(&self, pixels: &Tensor) -> Result<Vec<Vec<f32>>> {
        let ctx = || format!("{}: forward pass", self.id);
        let batch = pixels.dims().first().copied().unwrap_or(0);
        if self.image_parallel() && batch > 1 {
            // On CPU each image runs its whole forward pass on one thread,
            // the images of a batch side by side: every op already treats
            // the images of a batch apart (one GEMM call per image, see
            // `ops::linear`), so the embeddings are the very same bits, and
            // the threads never wait for each other between the ~80 ops of
            // a pass, while one image's activations stay in its core's cache.
            let rows: Vec<Vec<Vec<f32>>> = (0..batch)
                .into_par_iter()
                .map(|i| {
                    pixels
                        .narrow(0, i, 1)
                        .and_then(|one| self.vit.forward(&one))
                        .and_then(|t| t.to_vec2::<f32>())
                        .context(ctx)
                })
                .collect::<Result<_>>()?;
            return Ok(rows.into_iter().flatten().collect());
        }
        self.embed_tensor_whole(pixels)
    }

    /// [`Backbone::embed_tensor`] with the whole batch in one forward pass,
    /// whatever the device and threads: each op splits its own work across
    /// the threads. Gives the same bits as the image-parallel path
    /// (`tests/model_parity.rs` checks it).
    pub fn embed_tensor_whole(&self, pixels: &Tensor) -> Result<Vec<Vec<f32>>> {
        let ctx = || format!("{}: forward pass", self.id);
        self.vit
            .forward(pixels)
            .and_then(|out| out.to_device(&Device::Cpu))
            .and_then(|t| t.to_vec2::<f32>())
            .context(ctx)
    }

    /// Whether [`Backbone::embed_tensor`] runs the images of a batch side by
    /// side, one per thread (on CPU with several threads;
    /// `ARTLENS_IMAGE_PARALLEL=0` turns it off, to compare: on the 2-core
    /// machine it made DINOv2@224 batches of 8 about 8% faster).
    fn image_parallel(&self) -> bool {
        self.vit.device().is_cpu()
            && rayon::current_num_threads() > 1
            && std::env::var("ARTLENS_IMAGE_PARALLEL").map_or(true, |v| v.trim() != "0")
    }

    /// Runs the transformer on preprocessed pixels (`batch` images laid out
    /// as [`Backbone::preprocess_batch`] returns them).
    pub fn embed_pixels(&self, pixels: Vec<f32>, batch: usize) -> Result<Vec<Vec<f32>>> {
        self.embed_tensor(&self.pixels_tensor(pixels, batch)?)
    }

    /// The precision the forward pass runs in.
    pub fn precision(&self) -> Precision {
        self.fingerprint.precision
    }

    /// The device the model runs on.
    pub fn device(&self) -> &Device {
        self.vit.device()
    }

    /// Every token of each image and the last block's CLS attention
    /// ([`ImageTokens`]): what `explain` draws its patch maps from. Computed
    /// on demand and never stored (a 518-pixel DINOv2 image has 1,369 patch
    /// tokens, 1,369 times its embedding).
    pub fn tokens_images(&self, images: &[&RgbImage]) -> Result<Vec<ImageTokens>> {
        if images.is_empty() {
            return Ok(Vec::new());
        }
        let (h, w) = self.preprocess.output_size();
        let batch = images.len();
        let ctx = || format!("{}: forward pass with tokens", self.id);
        let t = Tensor::from_vec(
            self.preprocess_batch(images),
            (batch, 3, h, w),
            &Device::Cpu,
        )
        .and_then(|t| t.to_device(self.vit.device()))
        .context(ctx)?;
        let out = self.vit.forward_tokens(&t).context(ctx)?;
        let to_cpu = |t: &Tensor| t.to_device(&Device::Cpu).context(ctx);
        let embeddings: Vec<Vec<f32>> = to_cpu(&out.embedding)?.to_vec2().context(ctx)?;
        let patches: Vec<Vec<Vec<f32>>> = to_cpu(&out.patches)?.to_vec3().context(ctx)?;
        let attention: Vec<Vec<Vec<f32>>> = to_cpu(&out.cls_attention)?.to_vec3().context(ctx)?;
        Ok(embeddings
            .into_iter()
            .zip(patches)
            .zip(attention)
            .map(|((embedding, patches), cls_attention)| ImageTokens {
                grid: out.grid,
                embedding,
                patches,
                cls_attention,
            })
            .collect())
    }

    /// Embeds decoded images: preprocessing then one forward pass.
    pub fn embed_images(&self, images: &[&RgbImage]) -> Result<Vec<Vec<f32>>> {
        if images.is_empty() {
            return Ok(Vec::new());
        }
        let pixels = self.preprocess_batch(images);
        self.embed_pixels(pixels, images.len())
    }
}

/// The checkpoint's config and preprocessing, and the warnings worth
/// showing (a transformers folder without `preprocessor_config.json`).
fn read_configs(
    id: &BackboneId,
    files: &CheckpointFiles,
) -> Result<(VitConfig, Preprocess, Vec<String>)> {
    let image_size = id.resolution_override();
    let layout = match id.spec().is_listed() {
        true => id.spec().layout,
        false => config::config_layout(&files.config)?,
    };
    let (vit, pre, warnings) = if layout.is_transformers() {
        let m = crate::model::hf::read(&files.config, files.preprocessor.as_deref(), image_size)?;
        (m.vit, m.preprocess, m.warnings)
    } else {
        let cfg: config::TimmHubConfig = config::read_json(&files.config, "timm config.json")?;
        let vit = config::timm_vit_config(&cfg, &files.config)?;
        let pre = config::timm_preprocess(&cfg.pretrained_cfg, image_size, &files.config)?;
        (vit, pre, Vec::new())
    };
    check_image_size(id, &vit, &pre, &files.config)?;
    Ok((vit, pre, warnings))
}

/// The registry checks `@SIZE` against the registered patch size; this
/// checks what the checkpoint's own files say, which is what counts.
fn check_image_size(id: &BackboneId, vit: &VitConfig, pre: &Preprocess, path: &Path) -> Result<()> {
    let (h, w) = pre.output_size();
    let p = vit.patch_size;
    if h == 0 || w == 0 || h % p != 0 || w % p != 0 {
        return Err(Error::BadResolution {
            backbone: id.name(),
            resolution: format!("{w}x{h}"),
            reason: format!(
                "(from the backbone id or {}) it is not a multiple of the checkpoint's patch size {p}; try {} or {}",
                path.display(),
                (h / p).max(1) * p,
                (h / p + 1) * p
            ),
        });
    }
    Ok(())
}

/// Parses `cpu`, `cuda` or `cuda:N` into a device.
pub(crate) fn parse_device(spec: &str) -> Result<Device> {
    let spec = spec.trim().to_ascii_lowercase();
    if spec == "cpu" {
        return Ok(Device::Cpu);
    }
    let ordinal = match spec.strip_prefix("cuda") {
        Some("") => 0,
        Some(rest) => rest
            .strip_prefix(':')
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "bad device `{spec}` (expected cpu, cuda or cuda:N)"
                ))
            })?,
        None => {
            return Err(Error::InvalidArgument(format!(
                "bad device `{spec}` (expected cpu, cuda or cuda:N)"
            )))
        }
    };
    if !cfg!(feature = "cuda") {
        return Err(Error::InvalidArgument(format!(
            "device `{spec}`: this artlens was built without CUDA; rebuild with `cargo build --release --features cuda`"
        )));
    }
    Device::new_cuda(ordinal)
        .map_err(|e| Error::InvalidArgument(format!("cannot open CUDA device {ordinal}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imaging::{Geometry, ResizeFilter};

    fn fingerprint(precision: Precision) -> Fingerprint {
        Fingerprint {
            backbone: BackboneId::parse("dino").unwrap(),
            weights_blake3: "ab".repeat(32),
            preprocess: Preprocess {
                geometry: Geometry::Squash {
                    width: 224,
                    height: 224,
                },
                filter: ResizeFilter::Bilinear,
                rescale: 1.0 / 255.0,
                mean: [0.485, 0.456, 0.406],
                std: [0.229, 0.224, 0.225],
            },
            dim: 768,
            precision,
            decode: Decoder::Exact,
        }
    }

    /// Stores written before precision existed hold fingerprints without
    /// it: an f32 fingerprint must serialise exactly as those did, and read
    /// back as f32, or every existing store would need rebuilding.
    #[test]
    fn f32_fingerprints_are_written_as_before_and_bf16_ones_differ() {
        let f32_fp = fingerprint(Precision::F32);
        let json = serde_json::to_value(&f32_fp).unwrap();
        assert!(json.get("precision").is_none(), "{json}");
        let back: Fingerprint = serde_json::from_value(json).unwrap();
        assert_eq!(back, f32_fp);

        let bf16 = fingerprint(Precision::Bf16);
        let json = serde_json::to_value(&bf16).unwrap();
        assert_eq!(json["precision"], "bf16");
        assert_eq!(serde_json::from_value::<Fingerprint>(json).unwrap(), bf16);
        assert_ne!(bf16, f32_fp);
        assert_eq!(bf16.differences(&f32_fp), vec!["precision bf16 vs f32"]);
    }

    /// A fingerprint written before the decoder was recorded reads as the
    /// `image` crate's decoder, which is what built that store, so `index`
    /// refuses to add libjpeg-turbo embeddings to it.
    #[test]
    fn fingerprints_without_a_decoder_read_as_the_image_crate() {
        let exact = fingerprint(Precision::F32);
        let mut json = serde_json::to_value(&exact).unwrap();
        assert_eq!(json["decode"], "exact");
        json.as_object_mut().unwrap().remove("decode");
        let old: Fingerprint = serde_json::from_value(json).unwrap();
        assert_eq!(old.decode, Decoder::ImageCrate);
        let diffs = old.differences(&exact);
        assert_eq!(diffs.len(), 1);
        assert!(diffs[0].starts_with("decoder image-crate"), "{diffs:?}");
        assert!(old.model_differences(&exact).is_empty());
        let fast = Fingerprint {
            decode: Decoder::Fast,
            ..exact.clone()
        };
        assert_ne!(fast, exact);
        assert!(fast.differences(&exact)[0].contains("fast"));
    }

    #[test]
    fn precision_names_parse() {
        assert_eq!("BF16".parse::<Precision>().unwrap(), Precision::Bf16);
        assert_eq!("fp32".parse::<Precision>().unwrap(), Precision::F32);
        assert!("int8".parse::<Precision>().is_err());
    }
}
