//! The MLP head: standardised input → Linear(d, 64) → ReLU → Linear(64, 1),
//! trained with candle on the mean squared error of standardised ratings,
//! full batch, AdamW, a fixed number of epochs.
//!
//! Training runs in candle (autograd and AdamW); prediction runs in plain
//! Rust on the saved weights, so that scoring a work needs no tensors. The
//! initial weights come from our own seeded generator rather than candle's,
//! because candle 0.11 cannot seed its CPU generator (`Device::Cpu.set_seed`
//! returns an error): with the same seed, training is deterministic.

use candle_core::{DType, Device, Module, Tensor, Var};
use candle_nn::{AdamW, Linear, Optimizer, ParamsAdamW};
use serde::{Deserialize, Serialize};

use super::ridge::standardizer;
use super::SplitMix64;
use crate::error::{CandleContext, Result};

/// The MLP's training settings; [`MlpConfig::default`] is what artlens uses.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MlpConfig {
    /// Hidden units. 64 keeps the head small next to the few hundred ratings
    /// a person gives.
    pub hidden: usize,
    /// Full-batch AdamW steps.
    pub epochs: usize,
    /// AdamW learning rate.
    pub lr: f64,
    /// AdamW decoupled weight decay, the only regularisation (no dropout).
    pub weight_decay: f64,
}

impl Default for MlpConfig {
    fn default() -> Self {
        MlpConfig {
            hidden: 64,
            epochs: 300,
            lr: 1e-3,
            weight_decay: 1e-2,
        }
    }
}

/// A trained MLP head. Matrices are row-major `Vec<f32>` with their shapes
/// given by `dim` and `hidden`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MlpHead {
    /// Input dimension d.
    pub dim: usize,
    /// Hidden units h.
    pub hidden: usize,
    /// Per-dimension input mean and scale (training fold statistics).
    pub mean: Vec<f64>,
    /// Per-dimension input scale (standard deviation, training fold statistics).
    pub scale: Vec<f64>,
    /// The network predicts `(rating − y_mean) / y_scale`.
    pub y_mean: f64,
    /// The ratings' standard deviation (1 when they are all equal), which the
    /// network's output is multiplied by.
    pub y_scale: f64,
    /// First layer weights, `[hidden, dim]`.
    pub w1: Vec<f32>,
    /// First layer bias, `[hidden]`.
    pub b1: Vec<f32>,
    /// Output weights, `[hidden]` (the `[1, hidden]` matrix's only row).
    pub w2: Vec<f32>,
    /// Output bias.
    pub b2: f32,
}

impl MlpHead {
    /// The predicted rating of one embedding, in f64.
    pub(crate) fn predict_f64(&self, x: &[f32]) -> f64 {
        let z: Vec<f32> = x
            .iter()
            .zip(&self.mean)
            .zip(&self.scale)
            .map(|((&v, m), s)| ((v as f64 - m) / s) as f32)
            .collect();
        let mut out = self.b2;
        for k in 0..self.hidden {
            let row = &self.w1[k * self.dim..(k + 1) * self.dim];
            let pre = self.b1[k] + row.iter().zip(&z).map(|(w, v)| w * v).sum::<f32>();
            out += self.w2[k] * pre.max(0.0);
        }
        out as f64 * self.y_scale + self.y_mean
    }
}

/// Trains an MLP head on `rows` (n × d) and ratings `y`, deterministically
/// for a given `seed`.
pub(crate) fn train(rows: &[&[f32]], y: &[f64], cfg: &MlpConfig, seed: u64) -> Result<MlpHead> {
    let n = rows.len();
    let dim = rows.first().map_or(0, |r| r.len());
    let hidden = cfg.hidden;
    let (mean, scale) = standardizer(rows, true);
    let y_mean = y.iter().sum::<f64>() / n as f64;
    let y_sd = (y.iter().map(|v| (v - y_mean).powi(2)).sum::<f64>() / n as f64).sqrt();
    // Constant ratings leave nothing to learn; scale 1 keeps the maths finite
    // and the network then learns to output 0, i.e. the mean.
    let y_scale = if y_sd > 0.0 { y_sd } else { 1.0 };

    let dev = Device::Cpu;
    let ctx = || "training the MLP head".to_string();
    let mut xs = Vec::with_capacity(n * dim);
    for r in rows {
        xs.extend(
            r.iter()
                .zip(&mean)
                .zip(&scale)
                .map(|((&v, m), s)| ((v as f64 - m) / s) as f32),
        );
    }
    let xs = Tensor::from_vec(xs, (n, dim), &dev).context(ctx)?;
    let ys: Vec<f32> = y.iter().map(|v| ((v - y_mean) / y_scale) as f32).collect();
    let ys = Tensor::from_vec(ys, (n, 1), &dev).context(ctx)?;

    // PyTorch's (and candle-nn's) Linear initialisation: U(−1/√fan_in, 1/√fan_in)
    // for weights and bias alike.
    let mut rng = SplitMix64::new(seed);
    let mut uniform = |len: usize, fan_in: usize| -> Vec<f32> {
        let bound = 1.0 / (fan_in as f64).sqrt();
        (0..len)
            .map(|_| ((rng.uniform() * 2.0 - 1.0) * bound) as f32)
            .collect()
    };
    let init = |v: Vec<f32>, shape: &[usize]| -> Result<Var> {
        Tensor::from_vec(v, shape, &dev)
            .and_then(|t| Var::from_tensor(&t))
            .context(ctx)
    };
    let w1 = init(uniform(hidden * dim, dim), &[hidden, dim])?;
    let b1 = init(uniform(hidden, dim), &[hidden])?;
    let w2 = init(uniform(hidden, hidden), &[1, hidden])?;
    let b2 = init(uniform(1, hidden), &[1])?;
    // The layers share the Vars' storage, so optimiser steps show through.
    let l1 = Linear::new(w1.as_tensor().clone(), Some(b1.as_tensor().clone()));
    let l2 = Linear::new(w2.as_tensor().clone(), Some(b2.as_tensor().clone()));
    let params = ParamsAdamW {
        lr: cfg.lr,
        weight_decay: cfg.weight_decay,
        ..ParamsAdamW::default()
    };
    let mut opt =
        AdamW::new(vec![w1.clone(), b1.clone(), w2.clone(), b2.clone()], params).context(ctx)?;
    for _ in 0..cfg.epochs {
        let pred = l1
            .forward(&xs)
            .and_then(|h| h.relu())
            .and_then(|h| l2.forward(&h))
            .context(ctx)?;
        let loss = candle_nn::loss::mse(&pred, &ys).context(ctx)?;
        opt.backward_step(&loss).context(ctx)?;
    }
    let flat = |v: &Var| -> Result<Vec<f32>> {
        v.as_tensor()
            .to_dtype(DType::F32)
            .and_then(|t| t.flatten_all())
            .and_then(|t| t.to_vec1::<f32>())
            .context(ctx)
    };
    Ok(MlpHead {
        dim,
        hidden,
        mean,
        scale,
        y_mean,
        y_scale,
        w1: flat(&w1)?,
        b1: flat(&b1)?,
        w2: flat(&w2)?,
        b2: flat(&b2)?[0],
    })
}
