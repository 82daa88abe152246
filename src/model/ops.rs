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
//! On CPU both are custom ops parallelised over rows with rayon; on other
//! devices they are composed from candle's tensor ops (same arithmetic).

use candle_core::{CpuStorage, CustomOp1, CustomOp3, Layout, Result, Shape, Tensor, D};
use rayon::prelude::*;

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
pub fn layer_norm(x: &Tensor, weight: &Tensor, bias: &Tensor, eps: f64) -> Result<Tensor> {
    if x.device().is_cpu() {
        let x = x.contiguous()?;
        x.apply_op3_no_bwd(weight, bias, &LayerNormTwoPass { eps: eps as f32 })
    } else {
        let mean = x.mean_keepdim(D::Minus1)?;
        let centered = x.broadcast_sub(&mean)?;
        let var = centered.sqr()?.mean_keepdim(D::Minus1)?;
        centered
            .broadcast_div(&(var + eps)?.sqrt()?)?
            .broadcast_mul(weight)?
            .broadcast_add(bias)
    }
}

struct GeluErf;

impl CustomOp1 for GeluErf {
    fn name(&self) -> &'static str {
        "gelu-erf-parallel"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = contiguous(s, l, "gelu")?;
        let mut out = vec![0f32; x.len()];
        const CHUNK: usize = 1 << 14;
        out.par_chunks_mut(CHUNK)
            .zip(x.par_chunks(CHUNK))
            .for_each(|(o, xs)| {
                for (o, &v) in o.iter_mut().zip(xs) {
                    *o = 0.5 * v * (1.0 + candle_core::cpu::erf::erf_f32(v * std::f32::consts::FRAC_1_SQRT_2));
                }
            });
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }
}

/// Exact (erf) GELU, as `torch.nn.GELU()` / transformers' `"gelu"`.
pub fn gelu_erf(x: &Tensor) -> Result<Tensor> {
    if x.device().is_cpu() {
        x.contiguous()?.apply_op1_no_bwd(&GeluErf)
    } else {
        x.gelu_erf()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn layer_norm_matches_definition_on_large_offsets() {
        // A row with a large common offset is where one-pass variance fails.
        let dev = Device::Cpu;
        let row: Vec<f32> = (0..64).map(|i| 1000.0 + (i as f32) * 0.01).collect();
        let x = Tensor::from_vec(row.clone(), (1, 64), &dev).unwrap();
        let w = Tensor::ones(64, candle_core::DType::F32, &dev).unwrap();
        let b = Tensor::zeros(64, candle_core::DType::F32, &dev).unwrap();
        let y: Vec<f32> = layer_norm(&x, &w, &b, 1e-6).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        let mean: f64 = row.iter().map(|&v| v as f64).sum::<f64>() / 64.0;
        let var: f64 = row.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / 64.0;
        for (i, &v) in row.iter().enumerate() {
            let want = (v as f64 - mean) / (var + 1e-6).sqrt();
            assert!((y[i] as f64 - want).abs() < 2e-3, "row {i}: {} vs {want}", y[i]);
        }
    }

    #[test]
    fn gelu_is_the_erf_form() {
        let dev = Device::Cpu;
        let xs = [-3.0f32, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0];
        let t = Tensor::new(&xs, &dev).unwrap();
        let y: Vec<f32> = gelu_erf(&t).unwrap().to_vec1().unwrap();
        // Values of 0.5·x·(1 + erf(x/√2)) from a table (scipy).
        let want = [-0.004049729, -0.15865526, -0.15426877, 0.0, 0.34573123, 0.8413447, 2.9959502];
        for (a, b) in y.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
    }
}
