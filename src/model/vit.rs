//! The Vision Transformer: one implementation serving both checkpoints,
//! configured by [`VitConfig`].
//!
//! Pre-norm blocks, as in both references:
//! `h = x + ls1 · proj(attn(norm1(x)))`, `y = h + ls2 · fc2(gelu(fc1(norm2(h))))`,
//! where LayerScale (`ls1`, `ls2`) exists only in the timm layout. Attention
//! uses one fused qkv projection; the transformers layout's separate
//! query/key/value matrices are stacked into it at load time (rows q|k|v,
//! exactly timm's layout), which is the same arithmetic in one matmul. The
//! embedding is the CLS token after the final LayerNorm.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};

use crate::error::{CandleContext, Error, Result};
use crate::model::config::{Layout, VitConfig};
use crate::model::ops;
use crate::model::pos_embed::resample_grid;

/// Takes tensors out of a checkpoint by name, checking each one's shape, so
/// every loading error names the file and the tensor.
struct TensorSource<'a> {
    tensors: HashMap<String, Tensor>,
    path: &'a Path,
    model: &'a str,
}

impl TensorSource<'_> {
    fn take(&mut self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let t = self
            .tensors
            .remove(name)
            .ok_or_else(|| Error::MissingTensor {
                path: self.path.to_path_buf(),
                tensor: name.to_string(),
                model: self.model.to_string(),
            })?;
        if t.dims() != shape {
            return Err(Error::TensorShape {
                path: self.path.to_path_buf(),
                tensor: name.to_string(),
                expected: shape.to_vec(),
                got: t.dims().to_vec(),
            });
        }
        Ok(t)
    }
}

/// A dense layer computing `x Wᵀ + b` on the flattened token matrix, so the
/// CPU runs one large GEMM (split by rows across threads) instead of a
/// batched one.
struct Linear {
    /// `[out, in]`, as in the checkpoint.
    weight: Tensor,
    /// `[out]`; zeros for a layer without bias, so one kernel serves both.
    bias: Tensor,
}

impl Linear {
    fn new(weight: Tensor, bias: Option<Tensor>) -> Result<Self> {
        let bias = match bias {
            Some(b) => b,
            None => Tensor::zeros(
                weight.dim(0).context(|| "weight".into())?,
                weight.dtype(),
                weight.device(),
            )
            .context(|| "zero bias".into())?,
        };
        Ok(Linear { weight, bias })
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let dims = x.dims().to_vec();
        let (rows, k) = (
            dims[..dims.len() - 1].iter().product::<usize>(),
            dims[dims.len() - 1],
        );
        let y = ops::linear(&x.reshape((rows, k))?, &self.weight, &self.bias)?;
        let mut out_dims = dims;
        *out_dims.last_mut().expect("non-empty dims") = self.weight.dim(0)?;
        y.reshape(out_dims)
    }
}

struct Norm {
    weight: Tensor,
    bias: Tensor,
    eps: f64,
}

impl Norm {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        ops::layer_norm(x, &self.weight, &self.bias, self.eps)
    }
}

struct Block {
    norm1: Norm,
    qkv: Linear,
    proj: Linear,
    ls1: Option<Tensor>,
    norm2: Norm,
    fc1: Linear,
    fc2: Linear,
    ls2: Option<Tensor>,
    num_heads: usize,
}

impl Block {
    /// Self-attention of the normed tokens `x`; with `cls_probs`, also the
    /// CLS token's attention probabilities `[B, H, N]` (the first row of
    /// softmax(q·kᵀ·scale) per head). The output always comes from the same
    /// fused kernel, so asking for the probabilities cannot change it.
    fn attention(
        &self,
        x: &Tensor,
        cls_probs: bool,
    ) -> candle_core::Result<(Tensor, Option<Tensor>)> {
        let (b, n, c) = x.dims3()?;
        let h = self.num_heads;
        let d = c / h;
        let qkv = self
            .qkv
            .forward(x)?
            .reshape((b, n, 3, h, d))?
            .permute((2, 0, 3, 1, 4))?;
        let scale = (d as f64).powf(-0.5);
        let (q, k, v) = (qkv.get(0)?, qkv.get(1)?, qkv.get(2)?);
        let probs = if cls_probs {
            // [B, H, 1, D] · [B, H, D, N] → [B, H, 1, N]: one query row, so
            // this costs 1/N of the attention it explains.
            let q0 = (q.narrow(2, 0, 1)?.contiguous()? * scale)?;
            let logits = q0.matmul(&k.contiguous()?.t()?)?;
            Some(candle_nn::ops::softmax_last_dim(&logits)?.squeeze(2)?)
        } else {
            None
        };
        let out = ops::attention(&q, &k, &v, scale)?;
        Ok((self.proj.forward(&out)?, probs))
    }

    /// One block; with `cls_probs`, also the CLS token's attention
    /// probabilities of this block (see [`Block::attention`]).
    fn forward(
        &self,
        x: &Tensor,
        cls_probs: bool,
    ) -> candle_core::Result<(Tensor, Option<Tensor>)> {
        let (a, probs) = self.attention(&self.norm1.forward(x)?, cls_probs)?;
        let a = match &self.ls1 {
            Some(g) => a.broadcast_mul(g)?,
            None => a,
        };
        let x = (x + a)?;
        let m = self.fc1.forward(&self.norm2.forward(&x)?)?;
        let m = self.fc2.forward(&ops::gelu_erf(&m)?)?;
        let m = match &self.ls2 {
            Some(g) => m.broadcast_mul(g)?,
            None => m,
        };
        Ok(((x + m)?, probs))
    }
}

/// Every token of a forward pass, for explaining where two images match:
/// what [`Vit::forward_tokens`] returns.
#[derive(Debug)]
pub struct VitTokens {
    /// `[B, 1 + gh·gw, C]`: the CLS token then the patch tokens in row-major
    /// grid order, all after the final norm (row 0 is the embedding).
    pub tokens: Tensor,
    /// `[B, H, 1 + gh·gw]`: the last block's attention probabilities of the
    /// CLS token over all tokens (itself first), per head.
    pub cls_attention: Tensor,
    /// The patch grid (rows, columns).
    pub grid: (usize, usize),
}

/// Tensor names of one layout.
struct Names {
    cls: &'static str,
    pos: &'static str,
    patch_w: &'static str,
    patch_b: &'static str,
    block: &'static str,
    norm1: &'static str,
    norm2: &'static str,
    proj: &'static str,
    fc1: &'static str,
    fc2: &'static str,
    final_norm: &'static str,
}

const TRANSFORMERS: Names = Names {
    cls: "embeddings.cls_token",
    pos: "embeddings.position_embeddings",
    patch_w: "embeddings.patch_embeddings.projection.weight",
    patch_b: "embeddings.patch_embeddings.projection.bias",
    block: "encoder.layer",
    norm1: "layernorm_before",
    norm2: "layernorm_after",
    proj: "attention.output.dense",
    fc1: "intermediate.dense",
    fc2: "output.dense",
    final_norm: "layernorm",
};

const TIMM: Names = Names {
    cls: "cls_token",
    pos: "pos_embed",
    patch_w: "patch_embed.proj.weight",
    patch_b: "patch_embed.proj.bias",
    block: "blocks",
    norm1: "norm1",
    norm2: "norm2",
    proj: "attn.proj",
    fc1: "mlp.fc1",
    fc2: "mlp.fc2",
    final_norm: "norm",
};

/// A Vision Transformer with its position embeddings laid out for one input
/// size.
pub struct Vit {
    config: VitConfig,
    /// Patch projection as a matrix `[3·p·p, C]` (a strided conv with kernel =
    /// stride is exactly this matmul on non-overlapping patches).
    patch: Linear,
    cls_token: Tensor,
    /// `[1, 1 + gh·gw, C]` at the configured grid.
    pos_embed: Tensor,
    grid: (usize, usize),
    blocks: Vec<Block>,
    norm: Norm,
}

impl Vit {
    /// Builds the model from a checkpoint's tensors, with position embeddings
    /// resampled (per the layout's reference) for `image_size` = (height, width).
    pub fn load(
        config: &VitConfig,
        tensors: HashMap<String, Tensor>,
        path: &Path,
        model: &str,
        image_size: (usize, usize),
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
            Layout::Timm => &TIMM,
        };
        let mut src = TensorSource {
            tensors,
            path,
            model,
        };
        let native = config.native_grid();
        let ctx = |what: &str| format!("{model}: {what}");

        let cls_token = src.take(names.cls, &[1, 1, c])?;
        let pos = src.take(names.pos, &[1, 1 + native * native, c])?;
        let patch_w = src.take(names.patch_w, &[c, 3, p, p])?;
        let patch_b = src.take(names.patch_b, &[c])?;
        let patch = Linear::new(
            patch_w
                .reshape((c, 3 * p * p))
                .context(|| ctx("patch weight"))?,
            Some(patch_b),
        )?;

        let grid = (image_size.0 / p, image_size.1 / p);
        let pos_embed = if grid == (native, native) {
            pos
        } else {
            let device = pos.device().clone();
            let all: Vec<f32> = pos
                .flatten_all()
                .and_then(|t| t.to_vec1())
                .context(|| ctx("pos embed"))?;
            let resampled =
                resample_grid(&all[c..], (native, native), grid, c, config.pos_resample);
            let mut v = all[..c].to_vec();
            v.extend(resampled);
            Tensor::from_vec(v, (1, 1 + grid.0 * grid.1, c), &device)
                .context(|| ctx("pos embed"))?
        };

        let norm = |src: &mut TensorSource, prefix: &str| -> Result<Norm> {
            Ok(Norm {
                weight: src.take(&format!("{prefix}.weight"), &[c])?,
                bias: src.take(&format!("{prefix}.bias"), &[c])?,
                eps: config.layer_norm_eps,
            })
        };
        let linear = |src: &mut TensorSource,
                      prefix: &str,
                      out: usize,
                      inp: usize,
                      bias: bool|
         -> Result<Linear> {
            let w = src.take(&format!("{prefix}.weight"), &[out, inp])?;
            let b = if bias {
                Some(src.take(&format!("{prefix}.bias"), &[out])?)
            } else {
                None
            };
            Linear::new(w, b)
        };

        let mut blocks = Vec::with_capacity(config.depth);
        for i in 0..config.depth {
            let pre = format!("{}.{i}", names.block);
            let qkv = match config.layout {
                Layout::Timm => linear(
                    &mut src,
                    &format!("{pre}.attn.qkv"),
                    3 * c,
                    c,
                    config.qkv_bias,
                )?,
                Layout::Transformers => {
                    let mut ws = Vec::new();
                    let mut bs = Vec::new();
                    for part in ["query", "key", "value"] {
                        let name = format!("{pre}.attention.attention.{part}");
                        ws.push(src.take(&format!("{name}.weight"), &[c, c])?);
                        if config.qkv_bias {
                            bs.push(src.take(&format!("{name}.bias"), &[c])?);
                        }
                    }
                    let w = Tensor::cat(&ws, 0).context(|| ctx("stack qkv"))?;
                    let b = if config.qkv_bias {
                        Some(Tensor::cat(&bs, 0).context(|| ctx("stack qkv bias"))?)
                    } else {
                        None
                    };
                    Linear::new(w, b)?
                }
            };
            let (ls1, ls2) = if config.layer_scale {
                (
                    Some(src.take(&format!("{pre}.ls1.gamma"), &[c])?),
                    Some(src.take(&format!("{pre}.ls2.gamma"), &[c])?),
                )
            } else {
                (None, None)
            };
            blocks.push(Block {
                norm1: norm(&mut src, &format!("{pre}.{}", names.norm1))?,
                qkv,
                proj: linear(&mut src, &format!("{pre}.{}", names.proj), c, c, true)?,
                ls1,
                norm2: norm(&mut src, &format!("{pre}.{}", names.norm2))?,
                fc1: linear(
                    &mut src,
                    &format!("{pre}.{}", names.fc1),
                    config.mlp_dim,
                    c,
                    true,
                )?,
                fc2: linear(
                    &mut src,
                    &format!("{pre}.{}", names.fc2),
                    c,
                    config.mlp_dim,
                    true,
                )?,
                ls2,
                num_heads: config.num_heads,
            });
        }
        let norm = norm(&mut src, names.final_norm)?;
        Ok(Vit {
            config: config.clone(),
            patch,
            cls_token,
            pos_embed,
            grid,
            blocks,
            norm,
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
        self.cls_token.device()
    }

    /// `[B, 3, H, W]` normalised pixels → `[B, C]` CLS tokens after the final norm.
    pub fn forward(&self, pixels: &Tensor) -> candle_core::Result<Tensor> {
        let (x, _) = self.encode(pixels, false)?;
        let (b, _, c) = x.dims3()?;
        // Only the CLS row is needed, and LayerNorm is per token.
        let cls = x.narrow(1, 0, 1)?.squeeze(1)?;
        self.norm.forward(&cls)?.reshape((b, c))
    }

    /// `[B, 3, H, W]` normalised pixels → every token after the final norm
    /// and the last block's CLS attention ([`VitTokens`]). The same blocks as
    /// [`Vit::forward`], so row 0 of the tokens is exactly the embedding.
    pub fn forward_tokens(&self, pixels: &Tensor) -> candle_core::Result<VitTokens> {
        let (x, probs) = self.encode(pixels, true)?;
        let cls_attention = match probs {
            Some(p) => p,
            None => candle_core::bail!("a model without blocks has no attention to explain"),
        };
        Ok(VitTokens {
            tokens: self.norm.forward(&x)?,
            cls_attention,
            grid: self.grid,
        })
    }

    /// Patch embedding, position embeddings and the blocks: the tokens before
    /// the final norm, and with `last_cls_probs` the last block's CLS
    /// attention probabilities.
    fn encode(
        &self,
        pixels: &Tensor,
        last_cls_probs: bool,
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
        let (gh, gw) = self.grid;
        let c = self.config.hidden_size;
        // Non-overlapping patches flattened in (channel, y, x) order, matching
        // the conv weight's [C, 3, p, p] layout.
        let patches = pixels
            .reshape((b, 3, gh, p, gw, p))?
            .permute((0, 2, 4, 1, 3, 5))?
            .contiguous()?
            .reshape((b, gh * gw, 3 * p * p))?;
        let x = self.patch.forward(&patches)?;
        let cls = self.cls_token.broadcast_as((b, 1, c))?;
        let x = Tensor::cat(&[&cls, &x], 1)?;
        let mut x = x.broadcast_add(&self.pos_embed)?;
        let mut probs = None;
        let last = self.blocks.len().saturating_sub(1);
        for (i, block) in self.blocks.iter().enumerate() {
            let (y, p) = block.forward(&x, last_cls_probs && i == last)?;
            x = y;
            probs = probs.or(p);
        }
        Ok((x, probs))
    }
}
