//! The Vision Transformer: one implementation serving every family (DINO,
//! DINOv2, DINOv3, CLIP, SigLIP), configured by [`VitConfig`].
//!
//! Pre-norm blocks, as in every reference:
//! `h = x + ls1 · proj(attn(norm1(x)))`, `y = h + ls2 · mlp(norm2(h))`,
//! with LayerScale where the checkpoint has it and an MLP that is plain
//! (GELU or QuickGELU) or gated (SwiGLU, packed or split). Attention uses one
//! fused qkv projection; the transformers layout's separate query/key/value
//! matrices, and Eva's separate q/v biases, are stacked into it at load time
//! (rows q|k|v, exactly timm's layout), which is the same arithmetic in one
//! matmul. DINOv3 rotates the patch tokens' queries and keys (RoPE) instead
//! of adding a learned table. The embedding is what the checkpoint pools:
//! the class token after the final norm, the mean of the patch tokens, or
//! SigLIP's attention-pooling head.

use std::path::Path;

use candle_core::{DType, Device, Tensor};

use crate::error::{CandleContext, Error, Result};
use crate::model::config::{Act, Layout, Mlp, Pool, Positions, QkvBias, VitConfig};
use crate::model::ops;
use crate::model::pos_embed::resample_grid;
use crate::model::weights::{Checkpoint, MappedF32};

/// Takes tensors out of a checkpoint by name, checking each one's shape, so
/// every loading error names the file and the tensor.
struct TensorSource<'a> {
    checkpoint: Checkpoint,
    path: &'a Path,
    model: &'a str,
    /// The forward pass's type: every tensor taken is cast to it.
    dtype: DType,
    /// bf16 on CPU: dense layers' weights packed to bf16 (`sgemm::bf16`).
    cpu_bf16: bool,
}

impl TensorSource<'_> {
    fn missing(&self, name: &str) -> Error {
        Error::MissingTensor {
            path: self.path.to_path_buf(),
            tensor: name.to_string(),
            model: self.model.to_string(),
        }
    }

    fn check(&self, name: &str, got: &[usize], shape: &[usize]) -> Result<()> {
        if got != shape {
            return Err(Error::TensorShape {
                path: self.path.to_path_buf(),
                tensor: name.to_string(),
                expected: shape.to_vec(),
                got: got.to_vec(),
            });
        }
        Ok(())
    }

    /// A tensor on the model's device (a mapped one is copied).
    fn take(&mut self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let t = if let Some(m) = self.checkpoint.mapped.remove(name) {
            self.check(name, m.shape(), shape)?;
            m.to_tensor()
                .context(|| format!("{}: {name}", self.model))?
        } else {
            let t = self
                .checkpoint
                .tensors
                .remove(name)
                .ok_or_else(|| self.missing(name))?;
            self.check(name, t.dims(), shape)?;
            t
        };
        if t.dtype() == self.dtype {
            return Ok(t);
        }
        t.to_dtype(self.dtype)
            .context(|| format!("{}: {name} to {:?}", self.model, self.dtype))
    }

    /// A matrix, used in place from the file when it is mapped.
    fn take_matrix(&mut self, name: &str, shape: &[usize]) -> Result<Weight> {
        if self.cpu_bf16 {
            let t = self.take(name, shape)?;
            return Ok(Weight::Bf16(
                ops::pack_bf16(&t).context(|| format!("{}: {name} to bf16", self.model))?,
            ));
        }
        if self.dtype != DType::F32 {
            return Ok(Weight::Owned(self.take(name, shape)?));
        }
        if let Some(m) = self.checkpoint.mapped.remove(name) {
            self.check(name, m.shape(), shape)?;
            return Ok(Weight::Mapped(m));
        }
        Ok(Weight::Owned(self.take(name, shape)?))
    }
}

/// A dense layer's weight: a tensor, or the checkpoint's own bytes.
enum Weight {
    Owned(Tensor),
    Mapped(MappedF32),
    /// Converted to bf16 and packed once, for `--precision bf16` on CPU.
    Bf16(ops::PackedBf16),
    /// f32 packed once for artlens's own GEMM on CPU (`Weight::pack`).
    Packed(ops::PackedF32),
}

impl Weight {
    fn rows(&self) -> usize {
        match self {
            Weight::Owned(t) => t.dims()[0],
            Weight::Mapped(m) => m.shape()[0],
            Weight::Bf16(p) => p.n(),
            Weight::Packed(p) => p.n(),
        }
    }

    /// An f32 weight on the CPU packed once for artlens's own GEMM, so that
    /// no call packs it again (issue 27); any other weight as it is.
    fn pack(self, device: &Device) -> Result<Weight> {
        if !device.is_cpu() {
            return Ok(self);
        }
        let packed = match &self {
            Weight::Mapped(m) => ops::pack_f32(m.as_slice(), m.shape()[0], m.shape()[1]),
            Weight::Owned(t) if t.dtype() == DType::F32 && t.rank() == 2 => {
                let (n, k) = t.dims2().context(|| "weight shape".into())?;
                let values = t
                    .flatten_all()
                    .and_then(|t| t.to_vec1::<f32>())
                    .context(|| "weight values".into())?;
                ops::pack_f32(&values, n, k)
            }
            _ => None,
        };
        Ok(packed.map_or(self, Weight::Packed))
    }
}

/// A dense layer computing `x Wᵀ + b` on the flattened token matrix, so the
/// CPU runs one large GEMM (split by rows across threads) instead of a
/// batched one.
struct Linear {
    /// `[out, in]`, as in the checkpoint.
    weight: Weight,
    /// `[out]`; zeros for a layer without bias, so one kernel serves both.
    bias: Tensor,
}

impl Linear {
    fn new(weight: impl Into<Weight>, bias: Option<Tensor>, device: &Device) -> Result<Self> {
        let weight = weight.into().pack(device)?;
        let bias = match bias {
            Some(b) => b,
            None => {
                let dtype = match &weight {
                    Weight::Owned(t) => t.dtype(),
                    Weight::Mapped(_) | Weight::Bf16(_) | Weight::Packed(_) => DType::F32,
                };
                Tensor::zeros(weight.rows(), dtype, device).context(|| "zero bias".into())?
            }
        };
        Ok(Linear { weight, bias })
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.forward_then(x, ops::Epilogue::None)
    }

    /// The layer, then `then` on its output (fused on CPU).
    fn forward_then(&self, x: &Tensor, then: ops::Epilogue) -> candle_core::Result<Tensor> {
        // The ops take `[…, tokens, K]` as it is: the token dimension tells
        // the CPU kernels where one image's rows end.
        match &self.weight {
            Weight::Owned(w) => ops::linear(x, w, &self.bias, then),
            Weight::Mapped(m) => ops::linear_slice(x, m.as_slice(), m.shape()[0], &self.bias, then),
            Weight::Bf16(p) => ops::linear_bf16(x, p, &self.bias, then),
            Weight::Packed(p) => ops::linear_packed(x, p, &self.bias, then),
        }
    }
}

impl From<Tensor> for Weight {
    fn from(t: Tensor) -> Self {
        Weight::Owned(t)
    }
}

/// A LayerNorm (also the text towers', `model::text`).
pub(crate) struct Norm {
    pub(crate) weight: Tensor,
    pub(crate) bias: Tensor,
    pub(crate) eps: f64,
}

impl Norm {
    pub(crate) fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        ops::layer_norm(x, &self.weight, &self.bias, self.eps)
    }
}

/// A block's MLP, in the checkpoint's form.
enum MlpLayers {
    Plain {
        fc1: Linear,
        fc2: Linear,
        act: Act,
    },
    /// `fc1`'s output halves `a | b` → `fc2(silu(a) · b)`.
    Packed {
        fc1: Linear,
        fc2: Linear,
    },
    /// `fc2(silu(fc1_g(x)) · fc1_x(x))`.
    Split {
        gate: Linear,
        up: Linear,
        fc2: Linear,
    },
}

impl MlpLayers {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            MlpLayers::Plain { fc1, fc2, act } => {
                let h = match act {
                    Act::Gelu => fc1.forward_then(x, ops::Epilogue::Gelu)?,
                    Act::QuickGelu => {
                        let h = fc1.forward(x)?;
                        (&h * candle_nn::ops::sigmoid(&(&h * 1.702)?)?)?
                    }
                    // candle's `gelu` is the tanh approximation.
                    Act::GeluTanh => fc1.forward(x)?.gelu()?,
                };
                fc2.forward(&h)
            }
            MlpLayers::Packed { fc1, fc2 } => {
                let h = fc1.forward(x)?;
                let half = h.dim(candle_core::D::Minus1)? / 2;
                let a = h.narrow(candle_core::D::Minus1, 0, half)?;
                let b = h.narrow(candle_core::D::Minus1, half, half)?;
                fc2.forward(&(a.silu()? * b)?)
            }
            MlpLayers::Split { gate, up, fc2 } => {
                fc2.forward(&(gate.forward(x)?.silu()? * up.forward(x)?)?)
            }
        }
    }
}

/// DINOv3's rotary embeddings for one patch grid: `[G, head_dim]` sin and
/// cos tables in timm's rotate-half layout, applied to the patch tokens
/// (the `prefix` class and storage tokens are left as they are).
struct Rope {
    sin: Tensor,
    cos: Tensor,
    prefix: usize,
}

impl Rope {
    /// timm `RotaryEmbeddingDinoV3` in eval mode: coordinates
    /// `2·(i + 0.5)/n − 1` per axis (rows first), periods
    /// `temperature^(2k / (head_dim/2))` for `k < head_dim/4`, angles
    /// `2π·coord/period`, all in f32 as timm computes them.
    fn new(
        grid: (usize, usize),
        head_dim: usize,
        temperature: f64,
        prefix: usize,
        device: &Device,
        dtype: DType,
    ) -> candle_core::Result<Rope> {
        let quarter = head_dim / 4;
        let periods: Vec<f32> = (0..quarter)
            .map(|k| (temperature as f32).powf(2.0 * k as f32 / (head_dim / 2) as f32))
            .collect();
        let axis = |i: usize, n: usize| 2.0f32 * ((i as f32 + 0.5) / n as f32) - 1.0;
        let two_pi = (2.0 * std::f64::consts::PI) as f32;
        let (gh, gw) = grid;
        let mut sin = Vec::with_capacity(gh * gw * head_dim);
        let mut cos = Vec::with_capacity(gh * gw * head_dim);
        for y in 0..gh {
            for x in 0..gw {
                let coords = [axis(y, gh), axis(x, gw)];
                let angles: Vec<f32> = coords
                    .iter()
                    .flat_map(|&c| periods.iter().map(move |&p| two_pi * c / p))
                    .collect();
                // Rotate-half layout: the half-width table twice.
                for _ in 0..2 {
                    sin.extend(angles.iter().map(|a| a.sin()));
                    cos.extend(angles.iter().map(|a| a.cos()));
                }
            }
        }
        let shape = (gh * gw, head_dim);
        Ok(Rope {
            sin: Tensor::from_vec(sin, shape, device)?.to_dtype(dtype)?,
            cos: Tensor::from_vec(cos, shape, device)?.to_dtype(dtype)?,
            prefix,
        })
    }

    /// `[B, H, N, D]` → the same with the patch rows rotated:
    /// `x·cos + rotate_half(x)·sin`, `rotate_half([a, b]) = [−b, a]`.
    fn apply(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (_, _, n, d) = x.dims4()?;
        let head = x.narrow(2, 0, self.prefix)?;
        let patches = x.narrow(2, self.prefix, n - self.prefix)?;
        let a = patches.narrow(3, 0, d / 2)?;
        let b = patches.narrow(3, d / 2, d / 2)?;
        let rotated = Tensor::cat(&[&b.neg()?, &a], 3)?;
        let out = (patches.broadcast_mul(&self.cos)? + rotated.broadcast_mul(&self.sin)?)?;
        Tensor::cat(&[&head, &out], 2)
    }
}

struct Block {
    norm1: Norm,
    qkv: Linear,
    proj: Linear,
    ls1: Option<Tensor>,
    norm2: Norm,
    mlp: MlpLayers,
    ls2: Option<Tensor>,
    num_heads: usize,
}

impl Block {
    /// Self-attention of the normed tokens `x`; with `probs_of`, also the
    /// attention probabilities `[B, H, N]` of that token's query (the CLS
    /// row of softmax(q·kᵀ·scale) per head). The output comes from the same
    /// kernel either way, so asking for the probabilities cannot change it.
    fn attention(
        &self,
        x: &Tensor,
        rope: Option<&Rope>,
        probs_of: Option<usize>,
    ) -> candle_core::Result<(Tensor, Option<Tensor>)> {
        let (b, n, c) = x.dims3()?;
        let h = self.num_heads;
        let d = c / h;
        let fused = self.qkv.forward(x)?;
        let scale = (d as f64).powf(-0.5);
        if rope.is_none() && probs_of.is_none() {
            // The embedding path: attention reads q, k and v in place.
            let out = ops::attention_qkv(&fused, h, scale)?;
            return Ok((self.proj.forward(&out)?, None));
        }
        let qkv = fused.reshape((b, n, 3, h, d))?.permute((2, 0, 3, 1, 4))?;
        let (mut q, mut k, v) = (qkv.get(0)?, qkv.get(1)?, qkv.get(2)?);
        if let Some(rope) = rope {
            q = rope.apply(&q)?;
            k = rope.apply(&k)?;
        }
        let probs = match probs_of {
            Some(row) => {
                // [B, H, 1, D] · [B, H, D, N] → [B, H, 1, N]: one query row,
                // so this costs 1/N of the attention it explains.
                let q0 = (q.narrow(2, row, 1)?.contiguous()? * scale)?;
                let logits = q0.matmul(&k.contiguous()?.t()?)?;
                Some(candle_nn::ops::softmax_last_dim(&logits)?.squeeze(2)?)
            }
            None => None,
        };
        // Without rotary embeddings the output comes from the same kernel
        // as the embedding path's, so asking for probabilities cannot
        // change the embedding by a bit.
        let out = match rope {
            None => ops::attention_qkv(&fused, h, scale)?,
            Some(_) => ops::attention(&q, &k, &v, scale)?,
        };
        Ok((self.proj.forward(&out)?, probs))
    }

    /// One block; with `probs_of`, also that token's attention probabilities
    /// in this block (see [`Block::attention`]).
    fn forward(
        &self,
        x: &Tensor,
        rope: Option<&Rope>,
        probs_of: Option<usize>,
    ) -> candle_core::Result<(Tensor, Option<Tensor>)> {
        let (a, probs) = self.attention(&self.norm1.forward(x)?, rope, probs_of)?;
        let x = ops::residual(x, &a, self.ls1.as_ref())?;
        let m = self.mlp.forward(&self.norm2.forward(&x)?)?;
        Ok((ops::residual(&x, &m, self.ls2.as_ref())?, probs))
    }
}

/// timm's `AttentionPoolLatent` (SigLIP's `global_pool = "map"`): a learned
/// latent query attends over every token, then `proj`, then a residual MLP
/// on the normed result; its one output token is the embedding.
struct AttentionPool {
    latent: Tensor,
    q: Linear,
    kv: Linear,
    proj: Linear,
    norm: Norm,
    mlp: MlpLayers,
    num_heads: usize,
}

impl AttentionPool {
    /// `[B, N, C]` → `[B, C]`, and the latent query's attention `[B, H, N]`.
    fn forward(&self, x: &Tensor) -> candle_core::Result<(Tensor, Tensor)> {
        let (b, n, c) = x.dims3()?;
        let h = self.num_heads;
        let d = c / h;
        let q = self
            .q
            .forward(&self.latent)?
            .reshape((1, 1, h, d))?
            .transpose(1, 2)?
            .broadcast_as((b, h, 1, d))?
            .contiguous()?;
        let kv = self
            .kv
            .forward(x)?
            .reshape((b, n, 2, h, d))?
            .permute((2, 0, 3, 1, 4))?;
        let (k, v) = (kv.get(0)?.contiguous()?, kv.get(1)?.contiguous()?);
        let scale = (d as f64).powf(-0.5);
        let probs = candle_nn::ops::softmax_last_dim(&(q * scale)?.matmul(&k.t()?)?)?;
        let out = probs.matmul(&v)?.transpose(1, 2)?.reshape((b, 1, c))?;
        let out = self.proj.forward(&out)?;
        let out = (&out + self.mlp.forward(&self.norm.forward(&out)?)?)?;
        Ok((out.reshape((b, c))?, probs.squeeze(2)?))
    }
}

/// Every patch token of a forward pass and the pooling query's attention,
/// for explaining where two images match: what [`Vit::forward_tokens`]
/// returns.
#[derive(Debug)]
pub(crate) struct VitTokens {
    /// `[B, C]`: exactly [`Vit::forward`]'s embedding.
    pub embedding: Tensor,
    /// `[B, gh·gw, C]`: the patch tokens in row-major grid order after the
    /// final norm (prefix tokens left out).
    pub patches: Tensor,
    /// `[B, H, 1 + gh·gw]`: per head, the attention of the token that makes
    /// the embedding over itself (column 0; 0 for SigLIP's latent query,
    /// which is not a token) and the patches. It is the class token's row in
    /// the last block, or the attention-pooling head's. Register and storage
    /// tokens' columns are left out, so a row sums to at most 1.
    pub cls_attention: Tensor,
    /// The patch grid (rows, columns).
    pub grid: (usize, usize),
}

/// Tensor names of one layout.
struct Names {
    cls: &'static str,
    reg: &'static str,
    pos: &'static str,
    patch_w: &'static str,
    patch_b: &'static str,
    block: &'static str,
    norm1: &'static str,
    norm2: &'static str,
    proj: &'static str,
    fc1: &'static str,
    fc2: &'static str,
    ls1: &'static str,
    ls2: &'static str,
    final_norm: &'static str,
}

const TRANSFORMERS: Names = Names {
    cls: "embeddings.cls_token",
    reg: "",
    pos: "embeddings.position_embeddings",
    patch_w: "embeddings.patch_embeddings.projection.weight",
    patch_b: "embeddings.patch_embeddings.projection.bias",
    block: "encoder.layer",
    norm1: "layernorm_before",
    norm2: "layernorm_after",
    proj: "attention.output.dense",
    fc1: "intermediate.dense",
    fc2: "output.dense",
    ls1: "",
    ls2: "",
    final_norm: "layernorm",
};

const TIMM: Names = Names {
    cls: "cls_token",
    reg: "reg_token",
    pos: "pos_embed",
    patch_w: "patch_embed.proj.weight",
    patch_b: "patch_embed.proj.bias",
    block: "blocks",
    norm1: "norm1",
    norm2: "norm2",
    proj: "attn.proj",
    fc1: "mlp.fc1",
    fc2: "mlp.fc2",
    ls1: "ls1.gamma",
    ls2: "ls2.gamma",
    final_norm: "norm",
};

const EVA: Names = Names {
    ls1: "gamma_1",
    ls2: "gamma_2",
    ..TIMM
};

/// A Vision Transformer with its position embeddings laid out for one input
/// size.
pub(crate) struct Vit {
    config: VitConfig,
    /// Patch projection as a matrix `[3·p·p, C]` (a strided conv with kernel =
    /// stride is exactly this matmul on non-overlapping patches).
    patch: Linear,
    /// `[1, prefix, C]`: the class token then the register/storage tokens.
    prefix: Option<Tensor>,
    /// The learned table at the configured grid: `[1, rows, C]`, where rows
    /// covers the prefix tokens when the checkpoint's table does.
    pos_embed: Option<Tensor>,
    rope: Option<Rope>,
    grid: (usize, usize),
    norm_pre: Option<Norm>,
    blocks: Vec<Block>,
    /// The final norm over every token (absent when `fc_norm` replaces it).
    norm: Option<Norm>,
    /// The norm after pooling (timm's `fc_norm`).
    fc_norm: Option<Norm>,
    attn_pool: Option<AttentionPool>,
    device: Device,
    /// The forward pass's type (f32 except for bf16 on CUDA); embeddings
    /// and tokens are returned as f32 either way.
    dtype: DType,
}

impl Vit {
    /// Builds the model from a checkpoint's tensors, with position embeddings
    /// resampled (per the layout's reference) for `image_size` = (height, width).
    pub fn load(
        config: &VitConfig,
        checkpoint: Checkpoint,
        device: &Device,
        path: &Path,
        model: &str,
        image_size: (usize, usize),
        dtype: DType,
    ) -> Result<Self> {
        let c = config.hidden_size;
        let p = config.patch_size;
        if !image_size.0.is_multiple_of(p)
            || !image_size.1.is_multiple_of(p)
            || image_size.0 == 0
            || image_size.1 == 0
        {
            return Err(Error::InvalidArgument(format!(
                "{model}: image size {}x{} is not a positive multiple of the patch size {p}",
                image_size.1, image_size.0
            )));
        }
        let names = match config.layout {
            Layout::Transformers => &TRANSFORMERS,
            Layout::Timm | Layout::HfDinov2 | Layout::HfClip | Layout::HfSiglip => &TIMM,
            Layout::Eva | Layout::HfDinov3 => &EVA,
        };
        // The other transformers layouts are timm's model under other
        // names: rename them, then load as timm.
        let checkpoint = crate::model::hf::to_timm_names(config, checkpoint, path)?;
        // bf16 on CPU (issue 27): the tensors stay f32 and only the dense
        // layers' weights become bf16, packed for the AVX512_BF16 kernel.
        let cpu_bf16 = dtype == DType::BF16 && device.is_cpu();
        let dtype = if cpu_bf16 { DType::F32 } else { dtype };
        let mut src = TensorSource {
            checkpoint,
            path,
            model,
            dtype,
            cpu_bf16,
        };
        let native = config.native_grid();
        let ctx = |what: &str| format!("{model}: {what}");
        let grid = (image_size.0 / p, image_size.1 / p);

        let mut prefix_parts = Vec::new();
        if config.class_token {
            prefix_parts.push(src.take(names.cls, &[1, 1, c])?);
        }
        if config.reg_tokens > 0 {
            prefix_parts.push(src.take(names.reg, &[1, config.reg_tokens, c])?);
        }
        let prefix = if prefix_parts.is_empty() {
            None
        } else {
            Some(Tensor::cat(&prefix_parts, 1).context(|| ctx("prefix tokens"))?)
        };

        let patch_w = src.take(names.patch_w, &[c, 3, p, p])?;
        let patch_b = if config.patch_bias {
            Some(src.take(names.patch_b, &[c])?)
        } else {
            None
        };
        let patch = Linear::new(
            patch_w
                .reshape((c, 3 * p * p))
                .context(|| ctx("patch weight"))?,
            patch_b,
            device,
        )?;

        let (pos_embed, rope) = match config.positions {
            Positions::Learned { covers_prefix } => {
                let rows = if covers_prefix {
                    config.prefix_tokens()
                } else {
                    0
                };
                let pos = src.take(names.pos, &[1, rows + native * native, c])?;
                let pos = if grid == (native, native) {
                    pos
                } else {
                    let device = pos.device().clone();
                    let all: Vec<f32> = pos
                        .to_dtype(DType::F32)
                        .and_then(|t| t.flatten_all())
                        .and_then(|t| t.to_vec1())
                        .context(|| ctx("pos embed"))?;
                    let resampled = resample_grid(
                        &all[rows * c..],
                        (native, native),
                        grid,
                        c,
                        config.pos_resample,
                    );
                    let mut v = all[..rows * c].to_vec();
                    v.extend(resampled);
                    Tensor::from_vec(v, (1, rows + grid.0 * grid.1, c), &device)
                        .and_then(|t| t.to_dtype(dtype))
                        .context(|| ctx("pos embed"))?
                };
                (Some(pos), None)
            }
            Positions::Rope { temperature } => {
                let rope = Rope::new(
                    grid,
                    c / config.num_heads,
                    temperature,
                    config.prefix_tokens(),
                    device,
                    dtype,
                )
                .context(|| ctx("rotary embeddings"))?;
                (None, Some(rope))
            }
        };

        let norm = |src: &mut TensorSource, prefix: &str, dim: usize| -> Result<Norm> {
            Ok(Norm {
                weight: src.take(&format!("{prefix}.weight"), &[dim])?,
                bias: src.take(&format!("{prefix}.bias"), &[dim])?,
                eps: config.layer_norm_eps,
            })
        };
        let linear = |src: &mut TensorSource,
                      prefix: &str,
                      out: usize,
                      inp: usize,
                      bias: bool|
         -> Result<Linear> {
            let w = src.take_matrix(&format!("{prefix}.weight"), &[out, inp])?;
            let b = if bias {
                Some(src.take(&format!("{prefix}.bias"), &[out])?)
            } else {
                None
            };
            Linear::new(w, b, device)
        };
        let plain_mlp =
            |src: &mut TensorSource, fc1: &str, fc2: &str, act: Act| -> Result<MlpLayers> {
                Ok(MlpLayers::Plain {
                    fc1: linear(src, fc1, config.mlp_dim, c, true)?,
                    fc2: linear(src, fc2, c, config.mlp_dim, true)?,
                    act,
                })
            };

        let norm_pre = if config.pre_norm {
            Some(norm(&mut src, "norm_pre", c)?)
        } else {
            None
        };

        let mut blocks = Vec::with_capacity(config.depth);
        for i in 0..config.depth {
            let pre = format!("{}.{i}", names.block);
            let qkv = match (config.layout, config.qkv_bias) {
                (
                    Layout::Timm
                    | Layout::Eva
                    | Layout::HfDinov2
                    | Layout::HfClip
                    | Layout::HfSiglip
                    | Layout::HfDinov3,
                    QkvBias::Full | QkvBias::None,
                ) => linear(
                    &mut src,
                    &format!("{pre}.attn.qkv"),
                    3 * c,
                    c,
                    config.qkv_bias == QkvBias::Full,
                )?,
                (_, QkvBias::QueryValue) => {
                    let w = src.take_matrix(&format!("{pre}.attn.qkv.weight"), &[3 * c, c])?;
                    let q = src.take(&format!("{pre}.attn.q_bias"), &[c])?;
                    let v = src.take(&format!("{pre}.attn.v_bias"), &[c])?;
                    let k = q.zeros_like().context(|| ctx("k bias"))?;
                    let b = Tensor::cat(&[&q, &k, &v], 0).context(|| ctx("stack qkv bias"))?;
                    Linear::new(w, Some(b), device)?
                }
                (Layout::Transformers, _) => {
                    let bias = config.qkv_bias == QkvBias::Full;
                    let mut ws = Vec::new();
                    let mut bs = Vec::new();
                    for part in ["query", "key", "value"] {
                        let name = format!("{pre}.attention.attention.{part}");
                        ws.push(src.take(&format!("{name}.weight"), &[c, c])?);
                        if bias {
                            bs.push(src.take(&format!("{name}.bias"), &[c])?);
                        }
                    }
                    let w = Tensor::cat(&ws, 0).context(|| ctx("stack qkv"))?;
                    let w = if src.cpu_bf16 {
                        Weight::Bf16(ops::pack_bf16(&w).context(|| ctx("qkv to bf16"))?)
                    } else {
                        Weight::Owned(w)
                    };
                    let b = if bias {
                        Some(Tensor::cat(&bs, 0).context(|| ctx("stack qkv bias"))?)
                    } else {
                        None
                    };
                    Linear::new(w, b, device)?
                }
            };
            let (ls1, ls2) = if config.layer_scale {
                (
                    Some(src.take(&format!("{pre}.{}", names.ls1), &[c])?),
                    Some(src.take(&format!("{pre}.{}", names.ls2), &[c])?),
                )
            } else {
                (None, None)
            };
            let (fc1, fc2) = (
                format!("{pre}.{}", names.fc1),
                format!("{pre}.{}", names.fc2),
            );
            let mlp = match config.mlp {
                Mlp::Plain(act) => plain_mlp(&mut src, &fc1, &fc2, act)?,
                Mlp::SwiGluPacked => MlpLayers::Packed {
                    fc1: linear(&mut src, &fc1, 2 * config.mlp_dim, c, true)?,
                    fc2: linear(&mut src, &fc2, c, config.mlp_dim, true)?,
                },
                Mlp::SwiGlu => MlpLayers::Split {
                    gate: linear(
                        &mut src,
                        &format!("{pre}.mlp.fc1_g"),
                        config.mlp_dim,
                        c,
                        true,
                    )?,
                    up: linear(
                        &mut src,
                        &format!("{pre}.mlp.fc1_x"),
                        config.mlp_dim,
                        c,
                        true,
                    )?,
                    fc2: linear(&mut src, &fc2, c, config.mlp_dim, true)?,
                },
            };
            blocks.push(Block {
                norm1: norm(&mut src, &format!("{pre}.{}", names.norm1), c)?,
                qkv,
                proj: linear(&mut src, &format!("{pre}.{}", names.proj), c, c, true)?,
                ls1,
                norm2: norm(&mut src, &format!("{pre}.{}", names.norm2), c)?,
                mlp,
                ls2,
                num_heads: config.num_heads,
            });
        }
        let (final_norm, fc_norm) = if config.fc_norm {
            (None, Some(norm(&mut src, "fc_norm", c)?))
        } else {
            (Some(norm(&mut src, names.final_norm, c)?), None)
        };
        let attn_pool = if config.pool == Pool::Map {
            // The head's MLP is the blocks' width with GELU (timm passes the
            // model's `mlp_ratio` and `act_layer`).
            let act = match config.mlp {
                Mlp::Plain(act) => act,
                _ => Act::Gelu,
            };
            Some(AttentionPool {
                latent: src.take("attn_pool.latent", &[1, 1, c])?,
                q: linear(&mut src, "attn_pool.q", c, c, true)?,
                kv: linear(&mut src, "attn_pool.kv", 2 * c, c, true)?,
                proj: linear(&mut src, "attn_pool.proj", c, c, true)?,
                norm: norm(&mut src, "attn_pool.norm", c)?,
                mlp: plain_mlp(&mut src, "attn_pool.mlp.fc1", "attn_pool.mlp.fc2", act)?,
                num_heads: config.num_heads,
            })
        } else {
            None
        };
        Ok(Vit {
            config: config.clone(),
            patch,
            prefix,
            pos_embed,
            rope,
            grid,
            norm_pre,
            blocks,
            norm: final_norm,
            fc_norm,
            attn_pool,
            device: device.clone(),
            dtype,
        })
    }

    /// The configuration this model was built from.
    pub fn config(&self) -> &VitConfig {
        &self.config
    }

    /// The input (height, width) this model accepts.
    pub fn image_size(&self) -> (usize, usize) {
        (
            self.grid.0 * self.config.patch_size,
            self.grid.1 * self.config.patch_size,
        )
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// `[B, 3, H, W]` normalised pixels → `[B, C]` embeddings.
    pub fn forward(&self, pixels: &Tensor) -> candle_core::Result<Tensor> {
        let (x, _) = self.encode(pixels, None)?;
        let (b, _, c) = x.dims3()?;
        if self.config.pool == Pool::Token && self.norm.is_some() {
            // Only the CLS row is needed, and LayerNorm is per token.
            let cls = x.narrow(1, 0, 1)?.squeeze(1)?;
            return self.normed(&cls)?.reshape((b, c))?.to_dtype(DType::F32);
        }
        self.pool(&self.normed(&x)?)?.0.to_dtype(DType::F32)
    }

    /// The final norm (identity when `fc_norm` replaces it).
    fn normed(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        match &self.norm {
            Some(n) => n.forward(x),
            None => Ok(x.clone()),
        }
    }

    /// Normed tokens `[B, N, C]` → the embedding `[B, C]`, and for SigLIP's
    /// head its query's attention `[B, H, N]`.
    fn pool(&self, x: &Tensor) -> candle_core::Result<(Tensor, Option<Tensor>)> {
        let n = x.dim(1)?;
        let prefix = self.config.prefix_tokens();
        let (pooled, probs) = match (&self.attn_pool, self.config.pool) {
            (Some(head), _) => {
                let (e, p) = head.forward(x)?;
                (e, Some(p))
            }
            (None, Pool::Avg) => (x.narrow(1, prefix, n - prefix)?.mean(1)?, None),
            (None, _) => (x.narrow(1, 0, 1)?.squeeze(1)?, None),
        };
        let pooled = match &self.fc_norm {
            Some(norm) => norm.forward(&pooled)?,
            None => pooled,
        };
        Ok((pooled, probs))
    }

    /// `[B, 3, H, W]` normalised pixels → the embedding, every patch token
    /// after the final norm and the pooling query's attention
    /// ([`VitTokens`]). The same blocks as [`Vit::forward`], so the
    /// embedding is exactly the same.
    pub(crate) fn forward_tokens(&self, pixels: &Tensor) -> candle_core::Result<VitTokens> {
        let class = self.config.class_token.then_some(0);
        let (x, block_probs) = self.encode(pixels, class)?;
        let normed = self.normed(&x)?;
        let (embedding, head_probs) = self.pool(&normed)?;
        let prefix = self.config.prefix_tokens();
        let n = normed.dim(1)?;
        let patches = normed.narrow(1, prefix, n - prefix)?;
        let patches = match &self.fc_norm {
            Some(norm) => norm.forward(&patches)?,
            None => patches,
        };
        let cls_attention = match (head_probs, block_probs) {
            (Some(p), _) => {
                // The latent query is no token: column 0 is 0.
                let (b, h, _) = p.dims3()?;
                let zero = Tensor::zeros((b, h, 1), p.dtype(), p.device())?;
                Tensor::cat(&[&zero, &p.narrow(2, prefix, n - prefix)?], 2)?
            }
            (None, Some(p)) => {
                Tensor::cat(&[&p.narrow(2, 0, 1)?, &p.narrow(2, prefix, n - prefix)?], 2)?
            }
            (None, None) => {
                candle_core::bail!(
                    "a model without a class token or blocks has no attention to explain"
                )
            }
        };
        Ok(VitTokens {
            embedding: embedding.to_dtype(DType::F32)?,
            patches: patches.to_dtype(DType::F32)?,
            cls_attention: cls_attention.to_dtype(DType::F32)?,
            grid: self.grid,
        })
    }

    /// Patch embedding, prefix tokens, positions and the blocks: the tokens
    /// before the final norm, and with `probs_of` that token's attention
    /// probabilities in the last block.
    fn encode(
        &self,
        pixels: &Tensor,
        probs_of: Option<usize>,
    ) -> candle_core::Result<(Tensor, Option<Tensor>)> {
        let (b, ch, h, w) = pixels.dims4()?;
        let p = self.config.patch_size;
        if ch != 3 || (h, w) != self.image_size() {
            candle_core::bail!(
                "input {:?} does not match the model's [B, 3, {}, {}]",
                pixels.dims(),
                self.image_size().0,
                self.image_size().1
            );
        }
        let pixels = &pixels.to_dtype(self.dtype)?;
        let (gh, gw) = self.grid;
        let c = self.config.hidden_size;
        // Non-overlapping patches flattened in (channel, y, x) order, matching
        // the conv weight's [C, 3, p, p] layout.
        let patches = pixels
            .reshape((b, 3, gh, p, gw, p))?
            .permute((0, 2, 4, 1, 3, 5))?
            .contiguous()?
            .reshape((b, gh * gw, 3 * p * p))?;
        let mut x = self.patch.forward(&patches)?;
        let covers_prefix = matches!(
            self.config.positions,
            Positions::Learned {
                covers_prefix: true
            }
        );
        if let (Some(pos), false) = (&self.pos_embed, covers_prefix) {
            x = x.broadcast_add(pos)?;
        }
        if let Some(prefix) = &self.prefix {
            let prefix = prefix.broadcast_as((b, prefix.dim(1)?, c))?;
            x = Tensor::cat(&[&prefix, &x], 1)?;
        }
        if let (Some(pos), true) = (&self.pos_embed, covers_prefix) {
            x = x.broadcast_add(pos)?;
        }
        if let Some(norm) = &self.norm_pre {
            x = norm.forward(&x)?;
        }
        let mut probs = None;
        let last = self.blocks.len().saturating_sub(1);
        for (i, block) in self.blocks.iter().enumerate() {
            let (y, p) = block.forward(&x, self.rope.as_ref(), probs_of.filter(|_| i == last))?;
            x = y;
            probs = probs.or(p);
        }
        Ok((x, probs))
    }
}
