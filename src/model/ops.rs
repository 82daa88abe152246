//! Element-wise kernels where candle's built-ins are either not the
//! reference's arithmetic or single-threaded on the CPU.
//!
//! * LayerNorm: candle's fused kernel computes the variance as
//!   E[x²] − mean² in one pass; PyTorch subtracts the mean first (two
//!   passes). On tokens with large norms (the CLS token late in a ViT) the
//!   one-pass form loses digits, so we use the two-pass form everywhere.
//! * GELU: the references use the exact erf form; candle's `gelu_erf` is
//!   exact but runs on one thread, which is a measurable share of a forward
//!   pass on CPU.
//!
//! * Attention: materialising `softmax(q kᵀ)` for a whole batch costs
//!   `B·H·N²` floats — 720 MB for DINOv2 at 518 px and batch 8 — and three
//!   passes over it. On CPU we compute it in blocks of query rows that stay
//!   in cache (`S = q kᵀ`, softmax, `S v`) with one task per block on rayon,
//!   like PyTorch's fused `scaled_dot_product_attention`.
//!
//! On CPU these are custom ops parallelised with rayon; on other devices
//! they are composed from candle's tensor ops (same arithmetic).

use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor, D};
use rayon::prelude::*;

use super::blas::{Gemm, Operand};

/// Makes the allocator keep large freed buffers for reuse (once per
/// process). Each op of a forward pass returns a fresh buffer of up to
/// tens of MB (19 MB for ViT-B's MLP at batch 8, 224 px); glibc serves
/// such sizes with `mmap` and unmaps them on free, so every op paid for
/// fresh pages: page faults and the kernel zeroing them, 5–8% of a forward
/// pass under `perf`. Raising the mmap and trim thresholds lets the heap
/// reuse the previous op's pages instead.
pub(crate) fn keep_large_allocations() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            // SAFETY: mallopt only changes allocator parameters; it is
            // thread-safe in glibc.
            unsafe {
                libc::mallopt(libc::M_MMAP_THRESHOLD, 512 << 20);
                libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
            }
        });
    }
}

fn contiguous<'a>(s: &'a CpuStorage, l: &Layout, what: &str) -> Result<&'a [f32]> {
    let data = s.as_slice::<f32>()?;
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&data[a..b]),
        None => candle_core::bail!("{what}: input must be contiguous f32"),
    }
}

struct LayerNormTwoPass {
    eps: f32,
}

impl CustomOp3 for LayerNormTwoPass {
    fn name(&self) -> &'static str {
        "layer-norm-two-pass"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = contiguous(s1, l1, "layer_norm x")?;
        let w = contiguous(s2, l2, "layer_norm weight")?;
        let b = contiguous(s3, l3, "layer_norm bias")?;
        let dim = w.len();
        let eps = self.eps;
        let mut out = vec![0f32; x.len()];
        out.par_chunks_mut(dim)
            .zip(x.par_chunks(dim))
            .for_each(|(o, row)| {
                let mean = row.iter().sum::<f32>() / dim as f32;
                let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / dim as f32;
                let inv = 1.0 / (var + eps).sqrt();
                for i in 0..dim {
                    o[i] = (row[i] - mean) * inv * w[i] + b[i];
                }
            });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

/// LayerNorm over the last dimension, two-pass like PyTorch.
pub(crate) fn layer_norm(x: &Tensor, weight: &Tensor, bias: &Tensor, eps: f64) -> Result<Tensor> {
    if x.device().is_cpu() {
        let x = x.contiguous()?;
        x.apply_op3_no_bwd(weight, bias, &LayerNormTwoPass { eps: eps as f32 })
    } else {
        // The statistics in f32 whatever the model's type, as PyTorch's
        // LayerNorm does for bf16 inputs: a bf16 mean of 768 values loses
        // the digits the normalisation depends on.
        let dtype = x.dtype();
        let f32 = candle_core::DType::F32;
        let x = x.to_dtype(f32)?;
        let mean = x.mean_keepdim(D::Minus1)?;
        let centered = x.broadcast_sub(&mean)?;
        let var = centered.sqr()?.mean_keepdim(D::Minus1)?;
        centered
            .broadcast_div(&(var + eps)?.sqrt()?)?
            .broadcast_mul(&weight.to_dtype(f32)?)?
            .broadcast_add(&bias.to_dtype(f32)?)?
            .to_dtype(dtype)
    }
}

/// The standalone GELU, which the model no longer runs (the dense layer
/// applies it as its epilogue); the tests keep it to check the fused
/// epilogue against GELU after the layer, to the bit.
#[cfg(test)]
struct GeluErf;

#[cfg(test)]
impl CustomOp1 for GeluErf {
    fn name(&self) -> &'static str {
        "gelu-erf-parallel"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = contiguous(s, l, "gelu")?;
        let mut out = x.to_vec();
        out.par_chunks_mut(1 << 14)
            .for_each(super::simd::gelu_in_place);
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }
}

/// Exact (erf) GELU, as `torch.nn.GELU()` / transformers' `"gelu"`.
#[cfg(test)]
pub(crate) fn gelu_erf(x: &Tensor) -> Result<Tensor> {
    if x.device().is_cpu() {
        x.contiguous()?.apply_op1_no_bwd(&GeluErf)
    } else {
        x.gelu_erf()
    }
}

struct ScaledResidual;

impl CustomOp3 for ScaledResidual {
    fn name(&self) -> &'static str {
        "scaled-residual"
    }

    fn cpu_fwd(
        &self,
        sx: &CpuStorage,
        lx: &Layout,
        sa: &CpuStorage,
        la: &Layout,
        sg: &CpuStorage,
        lg: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = contiguous(sx, lx, "residual x")?;
        let a = contiguous(sa, la, "residual branch")?;
        let g = contiguous(sg, lg, "layer scale")?;
        let dim = g.len();
        if x.len() != a.len() || dim == 0 || x.len() % dim != 0 {
            candle_core::bail!(
                "residual: x {:?}, branch {:?}, scale {:?}",
                lx.shape(),
                la.shape(),
                lg.shape()
            );
        }
        let mut out = vec![0f32; x.len()];
        // Rows of whole tokens per task, so the scale lines up with each row.
        let chunk = dim * (4096 / dim).max(1);
        out.par_chunks_mut(chunk)
            .zip(x.par_chunks(chunk).zip(a.par_chunks(chunk)))
            .for_each(|(o, (xs, as_))| {
                for ((o, xs), as_) in o.chunks_mut(dim).zip(xs.chunks(dim)).zip(as_.chunks(dim)) {
                    for i in 0..dim {
                        o[i] = xs[i] + as_[i] * g[i];
                    }
                }
            });
        Ok((CpuStorage::F32(out), lx.shape().clone()))
    }
}

/// `x + a·γ` (a residual connection after LayerScale; `γ` per channel), or
/// `x + a` without a scale: one parallel pass on CPU where candle's
/// element-wise multiply and add would be two single-threaded ones over the
/// whole token matrix.
pub(crate) fn residual(x: &Tensor, a: &Tensor, gamma: Option<&Tensor>) -> Result<Tensor> {
    if x.device().is_cpu() && x.dtype() == candle_core::DType::F32 {
        // Without a scale, γ = 1: `a·1` is `a` exactly, so one kernel serves both.
        let ones;
        let g = match gamma {
            Some(g) => g,
            None => {
                ones = Tensor::ones(x.dim(D::Minus1)?, x.dtype(), x.device())?;
                &ones
            }
        };
        return x.contiguous()?.apply_op3_no_bwd(
            &a.contiguous()?,
            &g.contiguous()?,
            &ScaledResidual,
        );
    }
    match gamma {
        Some(g) => x + a.broadcast_mul(g)?,
        None => x + a,
    }
}

struct FusedAttention {
    scale: f32,
}

/// Query rows per task: 128 rows × 1370 keys × 4 bytes is ~700 KB of scores,
/// which stays in L2 while it is normalised and multiplied by `v`.
const QUERY_BLOCK: usize = 128;

/// Where one (batch, head)'s q, k and v rows live inside their buffers:
/// element offsets of row 0 and the stride between rows (columns are
/// contiguous). Lets one kernel read `[B, H, N, D]` tensors and the
/// `[B, N, 3·H·D]` output of a fused qkv layer alike.
#[derive(Clone, Copy)]
struct HeadLayout {
    q: usize,
    k: usize,
    v: usize,
    row_stride: usize,
}

/// `softmax(q kᵀ · scale) v` for `b·h` heads of `n` tokens and `d` values,
/// written as `[B, N, H, D]`. `layout(bh)` places head `bh = b·H + h`.
#[allow(clippy::too_many_arguments)]
fn attention_heads(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    (b, h, n, d): (usize, usize, usize, usize),
    scale: f32,
    layout: impl Fn(usize) -> HeadLayout + Sync,
) -> Vec<f32> {
    let mut out = vec![0f32; b * h * n * d];
    let blocks = n.div_ceil(QUERY_BLOCK);
    let out_ptr = SendPtr(out.as_mut_ptr());
    (0..b * h * blocks).into_par_iter().for_each_init(
        || vec![0f32; QUERY_BLOCK * n],
        |scores, task| {
            let bh = task / blocks;
            let (bi, hi) = (bh / h, bh % h);
            let at = layout(bh);
            let rs = at.row_stride;
            let r0 = (task % blocks) * QUERY_BLOCK;
            let rows = QUERY_BLOCK.min(n - r0);
            let last = (n - 1) * rs + d;
            let qb = &q[at.q + r0 * rs..][..(rows - 1) * rs + d];
            let kb = &k[at.k..][..last];
            let vb = &v[at.v..][..last];
            let s = &mut scores[..rows * n];
            // S = q kᵀ · scale, then softmax, then S v into this task's
            // rows of `out` (row stride H·D, this head's columns).
            // SAFETY: `s` is a rows×n buffer of this task's own; `dst`
            // addresses the rows×d block of `out` that belongs to this
            // task's (b, head, rows) alone, inside `out` (the last row of
            // the last block ends at b·n·h·d).
            unsafe {
                Gemm::current().strided(
                    (rows, n, d),
                    scale,
                    Operand {
                        values: qb,
                        row_stride: rs,
                        transposed: false,
                    },
                    Operand {
                        values: kb,
                        row_stride: rs,
                        transposed: true,
                    },
                    s.as_mut_ptr(),
                    n,
                );
            }
            super::simd::softmax_rows(s, n);
            let dst = out_ptr.get().wrapping_add(((bi * n + r0) * h + hi) * d);
            unsafe {
                Gemm::current().strided(
                    (rows, d, n),
                    1.0,
                    Operand {
                        values: s,
                        row_stride: n,
                        transposed: false,
                    },
                    Operand {
                        values: vb,
                        row_stride: rs,
                        transposed: false,
                    },
                    dst,
                    h * d,
                );
            }
        },
    );
    out
}

impl CustomOp3 for FusedAttention {
    fn name(&self) -> &'static str {
        "fused-attention"
    }

    /// q, k, v: `[B, H, N, D]` contiguous → `[B, N, H, D]` (ready to be
    /// reshaped to `[B, N, H·D]` without a transpose).
    fn cpu_fwd(
        &self,
        sq: &CpuStorage,
        lq: &Layout,
        sk: &CpuStorage,
        lk: &Layout,
        sv: &CpuStorage,
        lv: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let q = contiguous(sq, lq, "attention q")?;
        let k = contiguous(sk, lk, "attention k")?;
        let v = contiguous(sv, lv, "attention v")?;
        let (b, h, n, d) = lq.shape().dims4()?;
        if lk.shape() != lq.shape() || lv.shape() != lq.shape() {
            candle_core::bail!("attention: q, k, v shapes differ");
        }
        let out = attention_heads(q, k, v, (b, h, n, d), self.scale, |bh| HeadLayout {
            q: bh * n * d,
            k: bh * n * d,
            v: bh * n * d,
            row_stride: d,
        });
        Ok((CpuStorage::F32(out), Shape::from((b, n, h, d))))
    }
}

/// Attention straight from a fused qkv layer's output.
struct FusedQkvAttention {
    heads: usize,
    scale: f32,
}

impl CustomOp1 for FusedQkvAttention {
    fn name(&self) -> &'static str {
        "fused-qkv-attention"
    }

    /// qkv: `[B, N, 3·C]` contiguous, each token's row `q | k | v` with the
    /// heads side by side in each → `[B, N, C]`.
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let qkv = contiguous(s, l, "attention qkv")?;
        let (b, n, c3) = l.shape().dims3()?;
        let h = self.heads;
        if c3 % (3 * h) != 0 {
            candle_core::bail!("attention: qkv width {c3} is not 3 × {h} heads");
        }
        let (c, d) = (c3 / 3, c3 / 3 / h);
        let out = attention_heads(qkv, qkv, qkv, (b, h, n, d), self.scale, |bh| {
            let (bi, hi) = (bh / h, bh % h);
            let row0 = bi * n * c3 + hi * d;
            HeadLayout {
                q: row0,
                k: row0 + c,
                v: row0 + 2 * c,
                row_stride: c3,
            }
        });
        Ok((CpuStorage::F32(out), Shape::from((b, n, c))))
    }
}

/// `softmax(q kᵀ · scale) v` read straight from a qkv layer's output
/// `[B, N, 3·C]` (per token `q | k | v`, heads side by side), returned as
/// `[B, N, C]`: on CPU without copying q, k and v out into per-head tensors.
pub(crate) fn attention_qkv(qkv: &Tensor, heads: usize, scale: f64) -> Result<Tensor> {
    if qkv.device().is_cpu() && qkv.dtype() == candle_core::DType::F32 {
        return qkv.contiguous()?.apply_op1_no_bwd(&FusedQkvAttention {
            heads,
            scale: scale as f32,
        });
    }
    let (b, n, c3) = qkv.dims3()?;
    let d = c3 / 3 / heads;
    let qkv = qkv.reshape((b, n, 3, heads, d))?.permute((2, 0, 3, 1, 4))?;
    attention(&qkv.get(0)?, &qkv.get(1)?, &qkv.get(2)?, scale)
}

/// The fewest rows worth a task of their own.
const LINEAR_MIN_ROWS: usize = 64;

/// x `[M, K]` · w `[N, K]`ᵀ + b, split by rows across threads, then with
/// `gelu` the exact GELU of the result. `item_rows`: how many consecutive
/// rows belong to one image (its tokens).
fn linear_rows(
    x: &[f32],
    w: LinearWeight<'_>,
    b: &[f32],
    (m, k, n): (usize, usize, usize),
    gelu: bool,
    item_rows: usize,
) -> Vec<f32> {
    // The bias rows are the GEMM's starting value: one pass that both
    // allocates and fills (no zeroing first).
    let mut out = b.repeat(m);
    let row_invariant = match w {
        LinearWeight::F32(_) => Gemm::current().row_invariant(),
        LinearWeight::Bf16(_) | LinearWeight::Packed(_) => true,
    };
    let block = if !row_invariant {
        // OpenBLAS's result for a row depends on how many rows the call
        // holds (measured: no two row counts agree to the bit), and so does
        // the `gemm` crate's (`tests/model_parity.rs` caught it). One image
        // per call makes every call the same shape whatever the batch, so
        // an embedding never depends on the batch it was computed in (the
        // store relies on that: `index` and `embed` must agree exactly).
        item_rows.clamp(1, m.max(1))
    } else {
        // One block per thread, and never less than an image: each block
        // packs the whole weight matrix, so more blocks than threads only
        // repeats that work, and when the images of a batch already run
        // one per thread, splitting an image's rows again packed every
        // weight twice per image. artlens's own kernels give every row the
        // same arithmetic whatever the split (`sgemm`'s module
        // documentation).
        let threads = rayon::current_num_threads().max(1);
        m.div_ceil(threads).max(item_rows).max(LINEAR_MIN_ROWS)
    };
    out.par_chunks_mut(block * n)
        .zip(x.par_chunks(block * k))
        .for_each(|(dst, xs)| {
            let rows = xs.len() / k;
            match w {
                LinearWeight::F32(w) => Gemm::current().xwt_acc(xs, w, dst, (rows, k, n)),
                LinearWeight::Bf16(w) => super::sgemm::bf16::xwt_acc(xs, w, dst, rows),
                LinearWeight::Packed(w) => super::sgemm::xwt_acc_packed(xs, w, dst, rows),
            }
            if gelu {
                // While the block is still in cache, and in place: the
                // activation costs no pass over memory of its own.
                for chunk in dst.chunks_mut(1 << 14) {
                    super::simd::gelu_in_place(chunk);
                }
            }
        });
    out
}

/// `x wᵀ + b` with the weight given as a slice: a tensor's storage, or the
/// checkpoint's own mapped bytes.
struct LinearOp<'a> {
    /// `[N, K]`, PyTorch's layout.
    w: LinearWeight<'a>,
    n: usize,
    /// Apply the exact GELU to the output.
    gelu: bool,
    /// Rows per image (see [`linear_rows`]).
    item_rows: usize,
}

impl CustomOp2 for LinearOp<'_> {
    fn name(&self) -> &'static str {
        "linear-row-parallel"
    }

    /// x `[M, K]`, b `[N]` → `x wᵀ + b`, `[M, N]`.
    fn cpu_fwd(
        &self,
        sx: &CpuStorage,
        lx: &Layout,
        sb: &CpuStorage,
        lb: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = contiguous(sx, lx, "linear x")?;
        let b = contiguous(sb, lb, "linear bias")?;
        let (m, k) = lx.shape().dims2()?;
        let n = self.n;
        let w_len = match self.w {
            LinearWeight::F32(w) => w.len(),
            LinearWeight::Bf16(w) => w.n() * w.k(),
            LinearWeight::Packed(w) => w.n() * w.k(),
        };
        if w_len != n * k || b.len() != n {
            candle_core::bail!(
                "linear: x {:?}, weight of {w_len} values for {n} outputs, bias {}",
                lx.shape(),
                b.len()
            );
        }
        Ok((
            CpuStorage::F32(linear_rows(
                x,
                self.w,
                b,
                (m, k, n),
                self.gelu,
                self.item_rows,
            )),
            Shape::from((m, n)),
        ))
    }
}

/// `x wᵀ + b` for a 2-D `x` `[M, K]`, `w` `[N, K]`, `b` `[N]`.
///
/// `x` is `[…, T, K]` (its leading dimensions are flattened): `T` rows make
/// one image's tokens, which decides how the CPU splits the rows.
pub fn linear(x: &Tensor, w: &Tensor, b: &Tensor, then: Epilogue) -> Result<Tensor> {
    if !x.device().is_cpu() {
        let y = x.broadcast_matmul(&w.t()?)?.broadcast_add(b)?;
        return match then {
            Epilogue::None => Ok(y),
            Epilogue::Gelu => y.gelu_erf(),
        };
    }
    let w = w.contiguous()?;
    let (n, _) = w.dims2()?;
    let (storage, layout) = w.storage_and_layout();
    let candle_core::Storage::Cpu(cpu) = &*storage else {
        candle_core::bail!("linear: the weight is not on the CPU");
    };
    linear_slice(x, contiguous(cpu, layout, "linear weight")?, n, b, then)
}

/// What a dense layer applies to its output before returning it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Epilogue {
    /// The product plus bias, as it is.
    None,
    /// The exact (erf) GELU, computed on CPU on each thread's block of
    /// rows right after its GEMM, in place.
    Gelu,
}

/// [`linear`] on the CPU with `w` given as `N·K` values, such as a
/// checkpoint's memory-mapped matrix.
pub(crate) fn linear_slice(
    x: &Tensor,
    w: &[f32],
    n: usize,
    b: &Tensor,
    then: Epilogue,
) -> Result<Tensor> {
    linear_cpu(x, LinearWeight::F32(w), n, b, then)
}

// ----- bf16 on CPU (issue 27) ------------------------------------------------------

pub use super::sgemm::bf16::PackedBf16;

/// A dense layer's weight as the CPU kernels take it.
#[derive(Clone, Copy)]
enum LinearWeight<'a> {
    /// `[N, K]` f32, PyTorch's layout.
    F32(&'a [f32]),
    /// Converted to bf16 and packed once ([`pack_bf16`]).
    Bf16(&'a PackedBf16),
    /// f32, packed once for artlens's own kernel ([`pack_f32`]).
    Packed(&'a PackedF32),
}

/// Whether this CPU runs the dense layers in bf16 (it has AVX512_BF16).
pub(crate) fn cpu_bf16_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        super::sgemm::bf16::available()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// A dense layer's weight `[N, K]` converted to bf16 and packed for
/// [`linear_bf16`], once, when the model is loaded.
pub fn pack_bf16(w: &Tensor) -> Result<PackedBf16> {
    let (n, k) = w.dims2()?;
    let values = w
        .to_dtype(candle_core::DType::F32)?
        .flatten_all()?
        .to_vec1::<f32>()?;
    Ok(PackedBf16::new(&values, n, k))
}

/// [`linear`] on the CPU with a bf16 weight: `x` rounded to bf16 as it
/// enters the product, products and sums in f32, the output f32.
pub(crate) fn linear_bf16(
    x: &Tensor,
    w: &PackedBf16,
    b: &Tensor,
    then: Epilogue,
) -> Result<Tensor> {
    if !x.device().is_cpu() {
        candle_core::bail!("linear_bf16: the input is not on the CPU");
    }
    linear_cpu(x, LinearWeight::Bf16(w), w.n(), b, then)
}

// ----- f32 weights packed at load (issue 27) ------------------------------------------

pub use super::sgemm::PackedF32;

/// A dense layer's f32 weight `[N, K]` packed once, at load, for artlens's own
/// GEMM ([`linear_packed`]), so that no call packs it again; `None` when the
/// dense layers run on another GEMM (`ARTLENS_BLAS=openblas` or `gemm`, or
/// a CPU without AVX2), which takes the weight as it is.
pub fn pack_f32(w: &[f32], n: usize, k: usize) -> Option<PackedF32> {
    if !matches!(Gemm::current(), Gemm::Packed) {
        return None;
    }
    PackedF32::new(w, n, k)
}

/// [`linear`] on the CPU with a weight packed by [`pack_f32`]: the same
/// products and sums as [`linear`] on artlens's own GEMM, to the bit.
pub(crate) fn linear_packed(
    x: &Tensor,
    w: &PackedF32,
    b: &Tensor,
    then: Epilogue,
) -> Result<Tensor> {
    if !x.device().is_cpu() {
        candle_core::bail!("linear_packed: the input is not on the CPU");
    }
    linear_cpu(x, LinearWeight::Packed(w), w.n(), b, then)
}

fn linear_cpu(
    x: &Tensor,
    w: LinearWeight<'_>,
    n: usize,
    b: &Tensor,
    then: Epilogue,
) -> Result<Tensor> {
    let dims = x.dims();
    let item_rows = if dims.len() >= 3 {
        dims[dims.len() - 2]
    } else {
        1
    };
    let k = *dims.last().unwrap_or(&0);
    let y = x.contiguous()?.reshape(((), k))?.apply_op2_no_bwd(
        b,
        &LinearOp {
            w,
            n,
            gelu: then == Epilogue::Gelu,
            item_rows,
        },
    )?;
    let mut out_dims = dims.to_vec();
    if let Some(last) = out_dims.last_mut() {
        *last = n;
    }
    y.reshape(out_dims)
}

#[derive(Clone, Copy)]
struct SendPtr(*mut f32);
// SAFETY: tasks write disjoint regions (see `cpu_fwd`).
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}
impl SendPtr {
    fn get(self) -> *mut f32 {
        self.0
    }
}

/// `softmax(q kᵀ · scale) v` for `[B, H, N, D]` inputs, returned as `[B, N, H·D]`.
pub fn attention(q: &Tensor, k: &Tensor, v: &Tensor, scale: f64) -> Result<Tensor> {
    let (b, h, n, d) = q.dims4()?;
    if q.device().is_cpu() {
        let (q, k, v) = (q.contiguous()?, k.contiguous()?, v.contiguous()?);
        q.apply_op3_no_bwd(
            &k,
            &v,
            &FusedAttention {
                scale: scale as f32,
            },
        )?
        .reshape((b, n, h * d))
    } else {
        let attn = (q * scale)?.matmul(&k.t()?)?;
        let attn = candle_nn::ops::softmax_last_dim(&attn)?;
        attn.matmul(v)?.transpose(1, 2)?.reshape((b, n, h * d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// The largest absolute difference between two tensors.
    fn max_diff(a: Tensor, b: Tensor) -> f32 {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar()
            .unwrap()
    }

    /// `softmax(q kᵀ · scale) v` composed from candle's ops, as `[B, N, H·D]`.
    fn composed_attention(q: &Tensor, k: &Tensor, v: &Tensor, scale: f64) -> Tensor {
        let (b, h, n, d) = q.dims4().unwrap();
        let attn = candle_nn::ops::softmax_last_dim(
            &(q * scale).unwrap().matmul(&k.t().unwrap()).unwrap(),
        )
        .unwrap();
        attn.matmul(v)
            .unwrap()
            .transpose(1, 2)
            .unwrap()
            .reshape((b, n, h * d))
            .unwrap()
    }

    #[test]
    fn layer_norm_matches_definition_on_large_offsets() {
        // A row with a large common offset is where one-pass variance fails.
        let dev = Device::Cpu;
        let row: Vec<f32> = (0..64).map(|i| 1000.0 + (i as f32) * 0.01).collect();
        let x = Tensor::from_vec(row.clone(), (1, 64), &dev).unwrap();
        let w = Tensor::ones(64, candle_core::DType::F32, &dev).unwrap();
        let b = Tensor::zeros(64, candle_core::DType::F32, &dev).unwrap();
        let y: Vec<f32> = layer_norm(&x, &w, &b, 1e-6)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let mean: f64 = row.iter().map(|&v| v as f64).sum::<f64>() / 64.0;
        let var: f64 = row.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / 64.0;
        for (i, &v) in row.iter().enumerate() {
            let want = (v as f64 - mean) / (var + 1e-6).sqrt();
            assert!(
                (y[i] as f64 - want).abs() < 2e-3,
                "row {i}: {} vs {want}",
                y[i]
            );
        }
    }

    #[test]
    fn fused_attention_matches_the_composed_form() {
        let dev = Device::Cpu;
        // N not a multiple of the query block, to cover the ragged last block.
        let (b, h, n, d) = (2, 3, 150, 16);
        let q = Tensor::randn(0f32, 1.0, (b, h, n, d), &dev).unwrap();
        let k = Tensor::randn(0f32, 1.0, (b, h, n, d), &dev).unwrap();
        let v = Tensor::randn(0f32, 1.0, (b, h, n, d), &dev).unwrap();
        let scale = (d as f64).powf(-0.5);
        let got = attention(&q, &k, &v, scale).unwrap();
        let diff = max_diff(got, composed_attention(&q, &k, &v, scale));
        assert!(diff < 1e-5, "max diff {diff}");
    }

    #[test]
    fn attention_from_fused_qkv_matches_per_head_tensors() {
        let dev = Device::Cpu;
        // 150 tokens: a ragged last query block; 3 heads of 16.
        let (b, h, n, d) = (2, 3, 150, 16);
        let qkv = Tensor::randn(0f32, 1.0, (b, n, 3 * h * d), &dev).unwrap();
        let scale = (d as f64).powf(-0.5);
        let got = attention_qkv(&qkv, h, scale).unwrap();
        let split = qkv
            .reshape((b, n, 3, h, d))
            .unwrap()
            .permute((2, 0, 3, 1, 4))
            .unwrap();
        let part = |i| split.get(i).unwrap().contiguous().unwrap();
        let (q, k, v) = (part(0), part(1), part(2));
        let diff = max_diff(got, composed_attention(&q, &k, &v, scale));
        assert!(diff < 1e-5, "max diff {diff}");
    }

    #[test]
    fn scaled_residual_is_x_plus_a_times_gamma() {
        let dev = Device::Cpu;
        // 3000 tokens of 48: several tasks, the last one ragged.
        let x = Tensor::randn(0f32, 1.0, (2, 1500, 48), &dev).unwrap();
        let a = Tensor::randn(0f32, 1.0, (2, 1500, 48), &dev).unwrap();
        let g = Tensor::randn(0f32, 1.0, 48, &dev).unwrap();
        let got = residual(&x, &a, Some(&g)).unwrap();
        let want = (&x + a.broadcast_mul(&g).unwrap()).unwrap();
        let diff = max_diff(got, want);
        assert_eq!(diff, 0.0, "the same arithmetic, to the bit");
    }

    #[test]
    fn row_parallel_linear_matches_matmul() {
        let dev = Device::Cpu;
        // M spans several row blocks and ends ragged.
        let x = Tensor::randn(0f32, 1.0, (300, 48), &dev).unwrap();
        let w = Tensor::randn(0f32, 1.0, (40, 48), &dev).unwrap();
        let b = Tensor::randn(0f32, 1.0, 40, &dev).unwrap();
        let got = linear(&x, &w, &b, Epilogue::None).unwrap();
        let want = x
            .matmul(&w.t().unwrap())
            .unwrap()
            .broadcast_add(&b)
            .unwrap();
        let diff = max_diff(got, want);
        assert!(diff < 1e-4, "max diff {diff}");
    }

    #[test]
    fn the_gelu_epilogue_equals_gelu_after_the_layer() {
        let dev = Device::Cpu;
        let x = Tensor::randn(0f32, 1.0, (300, 48), &dev).unwrap();
        let w = Tensor::randn(0f32, 0.3, (40, 48), &dev).unwrap();
        let b = Tensor::randn(0f32, 1.0, 40, &dev).unwrap();
        let fused = linear(&x, &w, &b, Epilogue::Gelu).unwrap();
        let apart = gelu_erf(&linear(&x, &w, &b, Epilogue::None).unwrap()).unwrap();
        let diff = max_diff(fused, apart);
        assert_eq!(diff, 0.0, "the same arithmetic, to the bit");
    }

    #[test]
    fn gelu_is_the_erf_form() {
        let dev = Device::Cpu;
        let xs = [-3.0f32, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0];
        let t = Tensor::new(&xs, &dev).unwrap();
        let y: Vec<f32> = gelu_erf(&t).unwrap().to_vec1().unwrap();
        // Values of 0.5·x·(1 + erf(x/√2)) from a table (scipy).
        let want = [
            -0.004049729,
            -0.15865526,
            -0.15426877,
            0.0,
            0.34573123,
            0.8413447,
            2.9959502,
        ];
        for (a, b) in y.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
    }
}
