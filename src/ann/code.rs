//! The 16-bit codes the hnsw_rs graph holds instead of f32 vectors.
//!
//! An L2-normalised vector has every component in `[-1, 1]`, so one fixed
//! scale, `x ↦ round(x · 32767)`, turns it into `i16` codes without looking
//! at the data: nothing to fit, to persist or to outgrow when vectors are
//! added later. The graph's distance between two codes is an integer dot
//! product (`vpmaddwd`: 16 products a step, no conversions), exact in `i32`
//! because `Σ|aᵢ·bᵢ| ≤ ‖a‖·‖b‖ ≤ 32781² < 2³¹` for codes of unit vectors.
//! Building an hnsw_rs graph is half distance evaluations and half its own
//! bookkeeping; on 50,000 clustered 768-d vectors the codes made the build
//! 0.73–0.81× as long as f32 vectors did at the same recall (8-bit codes
//! were 0.67–0.77×, but need a scale fitted to the data and lose precision
//! to outlying dimensions, and 8-bit codes with a scale per dimension were
//! only 0.87–0.95×, their products needing float conversions). They also
//! halve the graph's vectors in memory and on disk.
//!
//! A score against a query keeps the query in f32 and divides by the
//! decoded vector's norm ([`cosine`]): `q · ĉ / ‖ĉ‖` differs from the exact
//! cosine by at most about one code step per dimension, `‖q‖₁ / 32767`
//! (≤ 8.5e-4 at 768-d; the tests check `2·√d / 65534`), by about
//! `1 / (32767·√12) ≈ 9e-6` typically, and a vector scored against itself
//! is 1 to within 1e-7 — far below any difference a person could act on;
//! `--exact` search stays exact.

use hnsw_rs::prelude::Distance;

/// Codes per unit: the largest `i16` magnitude.
pub const CODE_SCALE: f32 = 32767.0;

/// The codes of an L2-normalised vector (components outside `[-1, 1]`,
/// which a normalised vector never has, saturate).
pub fn encode(unit: &[f32]) -> Vec<i16> {
    unit.iter()
        .map(|&x| (x * CODE_SCALE).round().clamp(-CODE_SCALE, CODE_SCALE) as i16)
        .collect()
}

/// The vector a code row stands for.
pub fn decode(codes: &[i16]) -> impl Iterator<Item = f32> + '_ {
    codes.iter().map(|&c| c as f32 / CODE_SCALE)
}

/// hnsw_rs's distance between two code rows: `1 − a·b / 32767²`, clamped
/// to `≥ 0` (hnsw_rs's ordering must never see a negative distance).
#[derive(Debug, Default, Clone, Copy)]
pub struct CodeCosine;

impl Distance<i16> for CodeCosine {
    #[inline]
    fn eval(&self, a: &[i16], b: &[i16]) -> f32 {
        let d = 1.0 - (dot_codes(a, b) as f64 / (CODE_SCALE as f64 * CODE_SCALE as f64)) as f32;
        if d > 0.0 {
            d
        } else {
            0.0
        }
    }
}

/// `Σ aᵢ·bᵢ` over the common prefix, exact (see the module documentation
/// for why `i32` lanes cannot overflow on codes of unit vectors; the total
/// is summed in `i64` anyway).
#[inline]
pub fn dot_codes(a: &[i16], b: &[i16]) -> i64 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports the feature the function is compiled for.
            return unsafe { dot_codes_avx2(a, b) };
        }
    }
    dot_codes_portable(a, b)
}

fn dot_codes_portable(a: &[i16], b: &[i16]) -> i64 {
    a.iter().zip(b).map(|(&x, &y)| x as i64 * y as i64).sum()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dot_codes_avx2(a: &[i16], b: &[i16]) -> i64 {
    use std::arch::x86_64::*;
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    // Unaligned loads through `read_unaligned` and `wrapping_add`: no
    // debug-mode precondition checks in the hot loop (see `ann::dot_avx2`).
    // SAFETY (all loads): i + 16 ≤ n ≤ both lengths.
    let load = |p: *const i16, i: usize| (p.wrapping_add(i) as *const __m256i).read_unaligned();
    let mut acc0 = _mm256_setzero_si256();
    let mut acc1 = _mm256_setzero_si256();
    let mut i = 0;
    while i + 32 <= n {
        acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(load(pa, i), load(pb, i)));
        acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(load(pa, i + 16), load(pb, i + 16)));
        i += 32;
    }
    while i + 16 <= n {
        acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(load(pa, i), load(pb, i)));
        i += 16;
    }
    let mut lanes = [0i32; 8];
    (lanes.as_mut_ptr() as *mut __m256i).write_unaligned(_mm256_add_epi32(acc0, acc1));
    let mut sum: i64 = lanes.iter().map(|&x| x as i64).sum();
    while i < n {
        sum += a[i] as i64 * b[i] as i64;
        i += 1;
    }
    sum
}

/// The cosine of an f32 unit query with the vector a code row stands for,
/// `q · x̂ / ‖x̂‖`: dividing by the decoded vector's own norm takes out the
/// part of the rounding error that only rescales it, so a vector's
/// similarity to itself is 1 to within 1e-7 and only the direction's error
/// remains. `inv_norm` is [`inverse_norm`] of the row, which callers that
/// score a row often compute once.
#[inline]
pub fn cosine(q: &[f32], c: &[i16], inv_norm: f32) -> f32 {
    dot_query_code(q, c) * inv_norm
}

/// `1 / ‖x̂‖` of a code row (0 for an all-zero row, which no unit vector has).
pub fn inverse_norm(c: &[i16]) -> f32 {
    let sq = dot_codes(c, c);
    if sq > 0 {
        (CODE_SCALE as f64 / (sq as f64).sqrt()) as f32
    } else {
        0.0
    }
}

/// `q · x̂`, the product of an f32 query with the vector a code row stands
/// for.
#[inline]
pub fn dot_query_code(q: &[f32], c: &[i16]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports the features the function is compiled for.
            return unsafe { dot_query_code_avx2(q, c) } / CODE_SCALE;
        }
    }
    dot_query_code_portable(q, c) / CODE_SCALE
}

fn dot_query_code_portable(q: &[f32], c: &[i16]) -> f32 {
    let mut acc = [0f32; 8];
    let mut cq = q.chunks_exact(8);
    let mut cc = c.chunks_exact(8);
    for (x, y) in (&mut cq).zip(&mut cc) {
        for j in 0..8 {
            acc[j] += x[j] * y[j] as f32;
        }
    }
    let mut sum: f32 = acc.iter().sum();
    for (x, &y) in cq.remainder().iter().zip(cc.remainder()) {
        sum += x * y as f32;
    }
    sum
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_query_code_avx2(q: &[f32], c: &[i16]) -> f32 {
    use std::arch::x86_64::*;
    let n = q.len().min(c.len());
    let (pq, pc) = (q.as_ptr(), c.as_ptr());
    // SAFETY (all loads): i + 16 ≤ n ≤ both lengths.
    let codes = |i: usize| {
        _mm256_cvtepi32_ps(_mm256_cvtepi16_epi32(
            (pc.wrapping_add(i) as *const __m128i).read_unaligned(),
        ))
    };
    let query = |i: usize| (pq.wrapping_add(i) as *const __m256).read_unaligned();
    let mut acc0 = _mm256_setzero_ps();
    let mut acc1 = _mm256_setzero_ps();
    let mut i = 0;
    while i + 16 <= n {
        acc0 = _mm256_fmadd_ps(query(i), codes(i), acc0);
        acc1 = _mm256_fmadd_ps(query(i + 8), codes(i + 8), acc1);
        i += 16;
    }
    let acc = _mm256_add_ps(acc0, acc1);
    let s = _mm_add_ps(_mm256_extractf128_ps(acc, 1), _mm256_castps256_ps128(acc));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    let mut sum = _mm_cvtss_f32(s);
    while i < n {
        sum += q[i] * c[i] as f32;
        i += 1;
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(seed: u64, dim: usize) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let v: Vec<f32> = (0..dim)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
            })
            .collect();
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.into_iter().map(|x| x / n).collect()
    }

    #[test]
    fn scores_stay_within_half_a_step_per_dimension_of_the_exact_cosine() {
        for dim in [3, 70, 768] {
            let q = unit(1, dim);
            for seed in 2..40 {
                let x = unit(seed, dim);
                let exact: f64 = q.iter().zip(&x).map(|(a, b)| *a as f64 * *b as f64).sum();
                let c = encode(&x);
                let got = dot_query_code(&q, &c) as f64;
                let normed = cosine(&q, &c, inverse_norm(&c)) as f64;
                assert!((normed - exact).abs() <= 2.0 * (q.len() as f64).sqrt() / 65534.0);
                let bound = q.iter().map(|a| a.abs() as f64).sum::<f64>() / 65534.0 + 1e-6;
                assert!((got - exact).abs() <= bound, "dim {dim}: {got} vs {exact}");
            }
        }
    }

    #[test]
    fn the_simd_kernels_equal_the_scalar_sums() {
        // 70: a remainder after the 16- and 32-wide steps.
        for dim in [1, 16, 33, 70, 768] {
            let (a, b) = (encode(&unit(5, dim)), encode(&unit(6, dim)));
            assert_eq!(dot_codes(&a, &b), dot_codes_portable(&a, &b), "dim {dim}");
            let q = unit(7, dim);
            let want = dot_query_code_portable(&q, &a) / CODE_SCALE;
            assert!((dot_query_code(&q, &a) - want).abs() < 1e-6, "dim {dim}");
        }
    }

    #[test]
    fn extreme_codes_neither_overflow_nor_go_negative() {
        // A unit vector along one axis, and the same vector: the largest
        // product a lane can see, and a distance that rounds to exactly 0.
        let mut e = vec![0f32; 768];
        e[5] = 1.0;
        let c = encode(&e);
        assert_eq!(c[5], 32767);
        assert_eq!(CodeCosine.eval(&c, &c), 0.0);
        // Every component equal: every lane holds its largest sum, and every
        // component rounds the same way (the worst case of the bound).
        let flat = vec![1.0 / (768f32).sqrt(); 768];
        let c = encode(&flat);
        let bound = flat.iter().sum::<f32>() / CODE_SCALE + 1e-6;
        assert!(CodeCosine.eval(&c, &c) <= bound);
        let neg: Vec<i16> = c.iter().map(|&x| -x).collect();
        assert!((CodeCosine.eval(&c, &neg) - 2.0).abs() <= bound);
        // Divided by the code's norm, a vector is itself to within 1e-6.
        assert!((cosine(&flat, &c, inverse_norm(&c)) - 1.0).abs() < 1e-6);
        // Out-of-range values saturate symmetrically (never to i16::MIN,
        // whose negation overflows) and NaN becomes 0.
        assert_eq!(encode(&[2.0, -3.0, f32::NAN]), vec![32767, -32767, 0]);
    }

    #[test]
    fn decoding_inverts_encoding_to_half_a_step() {
        let x = unit(9, 100);
        for (a, b) in x.iter().zip(decode(&encode(&x))) {
            assert!((a - b).abs() <= 0.5 / CODE_SCALE + 1e-7);
        }
    }
}
