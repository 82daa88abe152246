//! Vectorisable element-wise kernels (exp, erf-GELU, softmax rows), each
//! compiled once per instruction set and dispatched at run time by
//! [`crate::vector`]'s one CPU check (`per_isa!`).
//!
//! The release build targets baseline x86-64 (SSE2), and libm's `expf` /
//! `erff` are scalar calls, so the softmax inside attention and the GELU in
//! every MLP ran one element at a time — about a fifth of a DINOv2 forward
//! pass. The kernels here are written as plain loops over fixed-width lane
//! arrays that LLVM turns into vector code when compiled with wider target
//! features; each function below picks the widest the CPU has.
//!
//! Accuracy: `exp` is Cephes' `expf` (range reduction by ln 2, degree-6
//! polynomial, ~1 ulp). `erf` is Abramowitz & Stegun 7.1.26 (absolute error
//! ≤ 1.5e-7), the same formula PyTorch's vectorised CPU `erf` uses.

const LANES: usize = 16;

#[inline(always)]
fn exp_approx(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // `max`/`min` rather than `clamp`: they map NaN to -87, so `n` below is
    // always finite; the NaN is given back at the end.
    let input = x;
    #[allow(clippy::manual_clamp)]
    let x = x.max(-87.0).min(88.0);
    let n = (x * LOG2E + 0.5).floor();
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 0.5;
    let e = p * r * r + r + 1.0;
    // `x` is bounded above, so `n` is a whole number in [-126, 127]: the
    // unchecked conversion is exact, and unlike `as` (which saturates and
    // maps NaN to 0, lane by lane in scalar code) it vectorises to one
    // instruction; the saturating form made this loop scalar.
    // SAFETY: `n` is finite and representable as i32 (see above).
    let n = unsafe { n.to_int_unchecked::<i32>() };
    let scale = f32::from_bits(((n + 127) << 23) as u32);
    if input.is_nan() {
        input
    } else {
        e * scale
    }
}

#[inline(always)]
fn gelu_erf_approx(v: f32) -> f32 {
    const P: f32 = 0.327_591_1;
    const A1: f32 = 0.254_829_6;
    const A2: f32 = -0.284_496_74;
    const A3: f32 = 1.421_413_8;
    const A4: f32 = -1.453_152;
    const A5: f32 = 1.061_405_4;
    let x = v * std::f32::consts::FRAC_1_SQRT_2;
    let ax = x.abs();
    let t = 1.0 / (1.0 + P * ax);
    let poly = ((((A5 * t + A4) * t + A3) * t + A2) * t + A1) * t;
    let y = 1.0 - poly * exp_approx(-ax * ax);
    let erf = if x < 0.0 { -y } else { y };
    0.5 * v * (1.0 + erf)
}

/// In-place softmax of each `n`-long row of `s`.
#[inline(always)]
fn softmax_rows_generic(s: &mut [f32], n: usize) {
    for row in s.chunks_mut(n) {
        let mut maxes = [f32::NEG_INFINITY; LANES];
        let mut chunks = row.chunks_exact(LANES);
        for c in &mut chunks {
            for i in 0..LANES {
                maxes[i] = if c[i] > maxes[i] { c[i] } else { maxes[i] };
            }
        }
        let mut max = chunks
            .remainder()
            .iter()
            .copied()
            .fold(f32::NEG_INFINITY, f32::max);
        for m in maxes {
            max = max.max(m);
        }
        let mut sums = [0f32; LANES];
        let mut chunks = row.chunks_exact_mut(LANES);
        for c in &mut chunks {
            for i in 0..LANES {
                c[i] = exp_approx(c[i] - max);
                sums[i] += c[i];
            }
        }
        let mut sum = 0f32;
        for x in chunks.into_remainder() {
            *x = exp_approx(*x - max);
            sum += *x;
        }
        sum += sums.iter().sum::<f32>();
        let inv = 1.0 / sum;
        for x in row.iter_mut() {
            *x *= inv;
        }
    }
}

#[inline(always)]
fn gelu_in_place_generic(x: &mut [f32]) {
    for v in x.iter_mut() {
        *v = gelu_erf_approx(*v);
    }
}

crate::vector::per_isa! {
    /// `x[i] = GELU(x[i])`, the erf form.
    pub(crate) fn gelu_in_place(x: &mut [f32]) => gelu_in_place_generic;
    /// In-place softmax of each `n`-long row of `s`.
    pub(crate) fn softmax_rows(s: &mut [f32], n: usize) => softmax_rows_generic;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_accurate_over_the_softmax_range() {
        let mut worst = 0f64;
        for i in 0..20000 {
            let x = -80.0 + i as f32 * 0.0045;
            let got = exp_approx(x) as f64;
            let want = (x as f64).exp();
            worst = worst.max(((got - want) / want).abs());
        }
        assert!(worst < 3e-7, "relative error {worst:e}");
    }

    #[test]
    fn exp_keeps_nan_and_saturates_infinities() {
        assert!(exp_approx(f32::NAN).is_nan());
        assert_eq!(exp_approx(f32::NEG_INFINITY), exp_approx(-87.0));
        assert_eq!(exp_approx(f32::INFINITY), exp_approx(88.0));
        let mut out = [f32::NAN, 1.0, -1.0];
        gelu_in_place(&mut out);
        assert!(out[0].is_nan() && out[1].is_finite() && out[2].is_finite());
    }

    #[test]
    fn gelu_matches_the_exact_erf_form() {
        let xs: Vec<f32> = (0..4001).map(|i| -10.0 + i as f32 * 0.005).collect();
        let mut out = xs.clone();
        gelu_in_place(&mut out);
        for (&x, &g) in xs.iter().zip(&out) {
            let want = 0.5 * x as f64 * (1.0 + libm_erf(x as f64 / std::f64::consts::SQRT_2));
            assert!(
                (g as f64 - want).abs() < 5e-7 * (1.0 + x.abs() as f64),
                "gelu({x}) = {g}, want {want}"
            );
        }
    }

    fn libm_erf(x: f64) -> f64 {
        candle_core::cpu::erf::erf_f64(x)
    }

    #[test]
    fn softmax_rows_sum_to_one_and_match_the_definition() {
        let n = 37; // not a multiple of the lane count
        let mut s: Vec<f32> = (0..3 * n)
            .map(|i| ((i * 7919) % 101) as f32 * 0.37 - 12.0)
            .collect();
        let orig = s.clone();
        softmax_rows(&mut s, n);
        for (row, o) in s.chunks(n).zip(orig.chunks(n)) {
            let max = o.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
            let z: f64 = o.iter().map(|&v| (v as f64 - max).exp()).sum();
            for (&p, &v) in row.iter().zip(o) {
                let want = (v as f64 - max).exp() / z;
                assert!((p as f64 - want).abs() < 1e-6, "{p} vs {want}");
            }
        }
    }
}
