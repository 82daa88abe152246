//! The text transformer shared by CLIP and SigLIP (`CLIPTextTransformer`,
//! `SiglipTextTransformer` in transformers 5.24): token and position
//! embeddings, pre-norm encoder layers with separate q/k/v projections, a
//! final LayerNorm. CLIP's attention is causal, SigLIP's sees every
//! position. The dense layers run on the same CPU kernels as the image
//! towers ([`crate::model::ops`]), reading the checkpoint's matrices in place
//! where the file allows it.

use candle_core::{DType, Device, Tensor};

use crate::error::{Error, Result};
use crate::model::config::Act;
use crate::model::ops;
use crate::model::vit::Norm;
use crate::model::weights::{Checkpoint, MappedF32};

/// A matrix `[rows, cols]`: used in place from the memory-mapped file, or
/// copied out once (a checkpoint stored in f16/bf16, or a tensor that was
/// not mapped).
pub(crate) enum Matrix {
    Mapped(MappedF32),
    Owned {
        values: Vec<f32>,
        rows: usize,
        cols: usize,
    },
}

impl Matrix {
    pub(crate) fn as_slice(&self) -> &[f32] {
        match self {
            Matrix::Mapped(m) => m.as_slice(),
            Matrix::Owned { values, .. } => values,
        }
    }

    pub(crate) fn rows(&self) -> usize {
        match self {
            Matrix::Mapped(m) => m.shape()[0],
            Matrix::Owned { rows, .. } => *rows,
        }
    }

    pub(crate) fn cols(&self) -> usize {
        match self {
            Matrix::Mapped(m) => m.shape().get(1).copied().unwrap_or(1),
            Matrix::Owned { cols, .. } => *cols,
        }
    }

    /// Row `i` (a token's embedding, or an output's weights).
    pub(crate) fn row(&self, i: usize) -> &[f32] {
        let c = self.cols();
        &self.as_slice()[i * c..(i + 1) * c]
    }
}

/// Takes tensors out of a checkpoint by name, naming the file and the model
/// when one is missing or has the wrong shape.
pub(crate) struct Tensors<'a> {
    pub checkpoint: Checkpoint,
    pub path: &'a std::path::Path,
    pub model: &'a str,
}

impl Tensors<'_> {
    pub(crate) fn has(&self, name: &str) -> bool {
        self.checkpoint.tensors.contains_key(name) || self.checkpoint.mapped.contains_key(name)
    }

    fn missing(&self, name: &str) -> Error {
        Error::MissingTensor {
            path: self.path.to_path_buf(),
            tensor: name.to_string(),
            model: self.model.to_string(),
        }
    }

    fn shape_error(&self, name: &str, got: Vec<usize>, expected: Vec<usize>) -> Error {
        Error::TensorShape {
            path: self.path.to_path_buf(),
            tensor: name.to_string(),
            got,
            expected,
        }
    }

    fn weights_error(&self, name: &str, e: candle_core::Error) -> Error {
        Error::Weights {
            path: self.path.to_path_buf(),
            reason: format!("tensor `{name}`: {e}"),
        }
    }

    /// A 2-D matrix of `shape`.
    pub(crate) fn matrix(&mut self, name: &str, shape: [usize; 2]) -> Result<Matrix> {
        if let Some(m) = self.checkpoint.mapped.remove(name) {
            if m.shape() != shape {
                return Err(self.shape_error(name, m.shape().to_vec(), shape.to_vec()));
            }
            return Ok(Matrix::Mapped(m));
        }
        let t = self
            .checkpoint
            .tensors
            .remove(name)
            .ok_or_else(|| self.missing(name))?;
        if t.dims() != shape {
            return Err(self.shape_error(name, t.dims().to_vec(), shape.to_vec()));
        }
        let values = t
            .to_dtype(DType::F32)
            .and_then(|t| t.flatten_all())
            .and_then(|t| t.to_vec1::<f32>())
            .map_err(|e| self.weights_error(name, e))?;
        Ok(Matrix::Owned {
            values,
            rows: shape[0],
            cols: shape[1],
        })
    }

    /// A 1-D vector (a bias, a norm's weight) of `len` as a CPU tensor.
    pub(crate) fn vector(&mut self, name: &str, len: usize) -> Result<Tensor> {
        let t = match self.checkpoint.mapped.remove(name) {
            Some(m) => m.to_tensor().map_err(|e| self.weights_error(name, e))?,
            None => self
                .checkpoint
                .tensors
                .remove(name)
                .ok_or_else(|| self.missing(name))?,
        };
        if t.dims() != [len] {
            return Err(self.shape_error(name, t.dims().to_vec(), vec![len]));
        }
        t.to_dtype(DType::F32)
            .and_then(|t| t.to_device(&Device::Cpu))
            .map_err(|e| self.weights_error(name, e))
    }

    /// A fused `[3·out, inp]` projection and its bias (open_clip's
    /// `in_proj_weight` / `in_proj_bias`: query, key and value stacked)
    /// split into its three layers, in that order.
    pub(crate) fn fused_qkv(
        &mut self,
        weight: &str,
        bias: &str,
        out: usize,
        inp: usize,
    ) -> Result<[Linear; 3]> {
        let w = self.matrix(weight, [3 * out, inp])?;
        let b = self.vector(bias, 3 * out)?;
        let part = |i: usize| -> Result<Linear> {
            let bias = b
                .narrow(0, i * out, out)
                .and_then(|t| t.contiguous())
                .map_err(|e| self.weights_error(bias, e))?;
            Ok(Linear {
                weight: Matrix::Owned {
                    values: w.as_slice()[i * out * inp..(i + 1) * out * inp].to_vec(),
                    rows: out,
                    cols: inp,
                },
                bias,
            })
        };
        Ok([part(0)?, part(1)?, part(2)?])
    }

    pub(crate) fn linear(&mut self, prefix: &str, out: usize, inp: usize) -> Result<Linear> {
        Ok(Linear {
            weight: self.matrix(&format!("{prefix}.weight"), [out, inp])?,
            bias: self.vector(&format!("{prefix}.bias"), out)?,
        })
    }

    pub(crate) fn norm(&mut self, prefix: &str, dim: usize, eps: f64) -> Result<Norm> {
        Ok(Norm {
            weight: self.vector(&format!("{prefix}.weight"), dim)?,
            bias: self.vector(&format!("{prefix}.bias"), dim)?,
            eps,
        })
    }
}

/// `x Wᵀ + b`.
pub(crate) struct Linear {
    pub weight: Matrix,
    pub bias: Tensor,
}

impl Linear {
    /// A layer without a bias (CLIP's projections), as one with a zero bias.
    pub(crate) fn without_bias(weight: Matrix) -> Result<Linear> {
        let bias =
            Tensor::zeros(weight.rows(), DType::F32, &Device::Cpu).map_err(|e| Error::Candle {
                context: "a zero bias".into(),
                source: e,
            })?;
        Ok(Linear { weight, bias })
    }

    pub(crate) fn forward(&self, x: &Tensor, then: ops::Epilogue) -> candle_core::Result<Tensor> {
        ops::linear_slice(
            x,
            self.weight.as_slice(),
            self.weight.rows(),
            &self.bias,
            then,
        )
    }
}

struct Layer {
    norm1: Norm,
    q: Linear,
    k: Linear,
    v: Linear,
    out: Linear,
    norm2: Norm,
    fc1: Linear,
    fc2: Linear,
}

/// How a layer's attention projections are stored.
pub(crate) enum Qkv {
    /// Three layers (transformers: `q_proj`, `k_proj`, `v_proj`).
    Separate(&'static str, &'static str, &'static str),
    /// One stacked weight and bias (open_clip's `nn.MultiheadAttention`:
    /// `in_proj_weight`, `in_proj_bias`).
    Fused(&'static str, &'static str),
}

/// Where a text transformer's tensors are, relative to its prefix and,
/// for a layer's, to `{layers}.{i}`.
pub(crate) struct Names {
    pub tokens: &'static str,
    pub positions: &'static str,
    pub layers: &'static str,
    pub norm1: &'static str,
    pub qkv: Qkv,
    pub out: &'static str,
    pub norm2: &'static str,
    pub fc1: &'static str,
    pub fc2: &'static str,
    pub final_norm: &'static str,
}

/// transformers' `CLIPTextTransformer` / `SiglipTextTransformer`.
pub(crate) const TRANSFORMERS: Names = Names {
    tokens: "embeddings.token_embedding.weight",
    positions: "embeddings.position_embedding.weight",
    layers: "encoder.layers",
    norm1: "layer_norm1",
    qkv: Qkv::Separate("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"),
    out: "self_attn.out_proj",
    norm2: "layer_norm2",
    fc1: "mlp.fc1",
    fc2: "mlp.fc2",
    final_norm: "final_layer_norm",
};

/// open_clip's `CLIP` text tower: the same computation under other names,
/// the position table a bare parameter.
pub(crate) const OPEN_CLIP: Names = Names {
    tokens: "token_embedding.weight",
    positions: "positional_embedding",
    layers: "transformer.resblocks",
    norm1: "ln_1",
    qkv: Qkv::Fused("attn.in_proj_weight", "attn.in_proj_bias"),
    out: "attn.out_proj",
    norm2: "ln_2",
    fc1: "mlp.c_fc",
    fc2: "mlp.c_proj",
    final_norm: "ln_final",
};

/// The dimensions of a text transformer, from its config.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dims {
    pub vocab: usize,
    pub hidden: usize,
    pub intermediate: usize,
    pub layers: usize,
    pub heads: usize,
    pub positions: usize,
    pub eps: f64,
    pub act: Act,
    /// CLIP masks later positions; SigLIP does not.
    pub causal: bool,
}

/// The text transformer up to its final LayerNorm.
pub(crate) struct Encoder {
    dims: Dims,
    tokens: Matrix,
    positions: Matrix,
    layers: Vec<Layer>,
    final_norm: Norm,
}

impl Encoder {
    /// Reads the encoder's tensors under `prefix` (`text_model.`, or
    /// open_clip's `` / `text.`), named as `names` says.
    pub(crate) fn load(
        t: &mut Tensors,
        prefix: &str,
        dims: Dims,
        names: &Names,
    ) -> Result<Encoder> {
        let (c, m) = (dims.hidden, dims.intermediate);
        let tokens = t.matrix(&format!("{prefix}{}", names.tokens), [dims.vocab, c])?;
        let positions = t.matrix(&format!("{prefix}{}", names.positions), [dims.positions, c])?;
        let mut layers = Vec::with_capacity(dims.layers);
        for i in 0..dims.layers {
            let p = format!("{prefix}{}.{i}", names.layers);
            let at = |name: &str| format!("{p}.{name}");
            let [q, k, v] = match names.qkv {
                Qkv::Separate(q, k, v) => [
                    t.linear(&at(q), c, c)?,
                    t.linear(&at(k), c, c)?,
                    t.linear(&at(v), c, c)?,
                ],
                Qkv::Fused(weight, bias) => t.fused_qkv(&at(weight), &at(bias), c, c)?,
            };
            layers.push(Layer {
                norm1: t.norm(&at(names.norm1), c, dims.eps)?,
                q,
                k,
                v,
                out: t.linear(&at(names.out), c, c)?,
                norm2: t.norm(&at(names.norm2), c, dims.eps)?,
                fc1: t.linear(&at(names.fc1), m, c)?,
                fc2: t.linear(&at(names.fc2), c, m)?,
            });
        }
        let final_norm = t.norm(&format!("{prefix}{}", names.final_norm), c, dims.eps)?;
        Ok(Encoder {
            dims,
            tokens,
            positions,
            layers,
            final_norm,
        })
    }

    pub(crate) fn dims(&self) -> Dims {
        self.dims
    }

    /// The final hidden states `[B, N, C]` of `ids` (`B` rows of `N` token
    /// ids each, every id below the vocabulary size, `N` at most the
    /// position table). `key_mask`: per row, which positions may be
    /// attended to (all when `None`).
    pub(crate) fn forward(
        &self,
        ids: &[Vec<u32>],
        key_mask: Option<&[Vec<bool>]>,
    ) -> candle_core::Result<Tensor> {
        let b = ids.len();
        let n = ids.first().map_or(0, Vec::len);
        let c = self.dims.hidden;
        let mut x = Vec::with_capacity(b * n * c);
        for row in ids {
            if row.len() != n {
                candle_core::bail!("text encoder: rows of different lengths");
            }
            for (pos, &id) in row.iter().enumerate() {
                let id = id as usize;
                if id >= self.dims.vocab || pos >= self.dims.positions {
                    candle_core::bail!("text encoder: token {id} at {pos} is out of range");
                }
                let (t, p) = (self.tokens.row(id), self.positions.row(pos));
                x.extend(t.iter().zip(p).map(|(a, b)| a + b));
            }
        }
        let dev = Device::Cpu;
        let mut x = Tensor::from_vec(x, (b, n, c), &dev)?;
        let mask = self.mask(b, n, key_mask)?;
        let h = self.dims.heads;
        let d = c / h;
        let scale = (d as f64).powf(-0.5);
        let heads = |t: Tensor| -> candle_core::Result<Tensor> {
            t.reshape((b, n, h, d))?.transpose(1, 2)?.contiguous()
        };
        for layer in &self.layers {
            let y = layer.norm1.forward(&x)?;
            let q = heads(layer.q.forward(&y, ops::Epilogue::None)?)?;
            let k = heads(layer.k.forward(&y, ops::Epilogue::None)?)?;
            let v = heads(layer.v.forward(&y, ops::Epilogue::None)?)?;
            let mut scores = (q.matmul(&k.t()?.contiguous()?)? * scale)?;
            if let Some(mask) = &mask {
                scores = scores.broadcast_add(mask)?;
            }
            let probs = candle_nn::ops::softmax_last_dim(&scores)?;
            let att = probs
                .matmul(&v)?
                .transpose(1, 2)?
                .contiguous()?
                .reshape((b, n, c))?;
            x = ops::residual(&x, &layer.out.forward(&att, ops::Epilogue::None)?, None)?;
            let y = layer.norm2.forward(&x)?;
            let hidden = match self.dims.act {
                Act::Gelu => layer.fc1.forward(&y, ops::Epilogue::Gelu)?,
                Act::QuickGelu => {
                    let a = layer.fc1.forward(&y, ops::Epilogue::None)?;
                    (&a * candle_nn::ops::sigmoid(&(&a * 1.702)?)?)?
                }
                // candle's `gelu` is the tanh approximation.
                Act::GeluTanh => layer.fc1.forward(&y, ops::Epilogue::None)?.gelu()?,
            };
            x = ops::residual(&x, &layer.fc2.forward(&hidden, ops::Epilogue::None)?, None)?;
        }
        self.final_norm.forward(&x)
    }

    /// The additive attention mask `[B or 1, 1, N, N]`: −∞ where a query
    /// may not look (a later position under a causal mask, a masked key).
    fn mask(
        &self,
        b: usize,
        n: usize,
        key_mask: Option<&[Vec<bool>]>,
    ) -> candle_core::Result<Option<Tensor>> {
        if !self.dims.causal && key_mask.is_none() {
            return Ok(None);
        }
        let rows = if key_mask.is_some() { b } else { 1 };
        let mut m = vec![0f32; rows * n * n];
        for r in 0..rows {
            for i in 0..n {
                for j in 0..n {
                    let later = self.dims.causal && j > i;
                    let hidden = key_mask.is_some_and(|k| !k[r].get(j).copied().unwrap_or(false));
                    if later || hidden {
                        m[(r * n + i) * n + j] = f32::NEG_INFINITY;
                    }
                }
            }
        }
        Tensor::from_vec(m, (rows, 1, n, n), &Device::Cpu).map(Some)
    }
}
