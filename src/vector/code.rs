//! The 16-bit codes the ANN graph holds instead of f32 vectors. An
//! L2-normalised vector has every component in `[-1, 1]`, so one fixed
//! scale, `x ↦ round(x · 32767)`, turns it into `i16` codes without looking
//! at the data: nothing to fit, to persist or to outgrow when vectors are
//! added later. The graph's distance between two codes is an exact integer
//! dot product (`vpmaddwd` on AVX2), exact in `i32` lanes because
//! `Σ|aᵢ·bᵢ| ≤ ‖a‖·‖b‖ ≤ 32781² < 2³¹` for codes of unit vectors. A score
//! against a query keeps the query in f32 and divides by the decoded
//! vector's norm ([`cosine`]): within `2·√d / 65534` of the exact cosine
//! (the tests check it), about 9e-6 typically, and a vector scored against
//! itself is 1 to within 1e-7; `--exact` search stays exact. Why 16 bits
//! and what else was measured: `docs/PERFORMANCE.md` ("The ANN index").

use super::Isa;

/// Codes per unit: the largest `i16` magnitude.
pub(crate) const CODE_SCALE: f32 = 32767.0;

/// The codes of an L2-normalised vector (components outside `[-1, 1]`,
/// which a normalised vector never has, saturate).
pub(crate) fn encode(unit: &[f32]) -> Vec<i16> {
    unit.iter()
        .map(|&x| (x * CODE_SCALE).round().clamp(-CODE_SCALE, CODE_SCALE) as i16)
        .collect()
}

/// The vector a code row stands for.
pub(crate) fn decode(codes: &[i16]) -> impl Iterator<Item = f32> + '_ {
    codes.iter().map(|&c| c as f32 / CODE_SCALE)
}

/// `Σ aᵢ·bᵢ` over the common prefix, exact (see the module documentation
/// for why `i32` lanes cannot overflow on codes of unit vectors; the total
/// is summed in `i64` anyway).
#[inline(always)]
pub(crate) fn dot_codes(a: &[i16], b: &[i16]) -> i64 {
    Isa::best().dot_i16(a, b)
}

/// The cosine distance of two code rows as the ANN graph needs it:
/// `1 − a·b / 32767²`, clamped to `≥ 0` (a graph's ordering must never see
/// a negative distance).
#[inline(always)]
pub(crate) fn distance(a: &[i16], b: &[i16]) -> f32 {
    let d = 1.0 - (dot_codes(a, b) as f64 / (CODE_SCALE as f64 * CODE_SCALE as f64)) as f32;
    if d > 0.0 {
        d
    } else {
        0.0
    }
}

/// The cosine of an f32 unit query with the vector a code row stands for,
/// `q · x̂ / ‖x̂‖`: dividing by the decoded vector's own norm takes out the
/// part of the rounding error that only rescales it, so a vector's
/// similarity to itself is 1 to within 1e-7 and only the direction's error
/// remains. `inv_norm` is [`inverse_norm`] of the row, which callers that
/// score a row often compute once.
#[inline(always)]
pub(crate) fn cosine(q: &[f32], c: &[i16], inv_norm: f32) -> f32 {
    dot_query_code(q, c) * inv_norm
}

/// `1 / ‖x̂‖` of a code row (0 for an all-zero row, which no unit vector has).
pub(crate) fn inverse_norm(c: &[i16]) -> f32 {
    let sq = dot_codes(c, c);
    if sq > 0 {
        (CODE_SCALE as f64 / (sq as f64).sqrt()) as f32
    } else {
        0.0
    }
}

/// `q · x̂`, the product of an f32 query with the vector a code row stands
/// for.
#[inline(always)]
pub(crate) fn dot_query_code(q: &[f32], c: &[i16]) -> f32 {
    Isa::best().dot_f32_i16(q, c) / CODE_SCALE
}

#[cfg(test)]
mod tests {
    use super::super::Level;
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
            let portable = Isa(Level::Portable);
            assert_eq!(dot_codes(&a, &b), portable.dot_i16(&a, &b), "dim {dim}");
            let q = unit(7, dim);
            let want = portable.dot_f32_i16(&q, &a) / CODE_SCALE;
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
        assert_eq!(distance(&c, &c), 0.0);
        // Every component equal: every lane holds its largest sum, and every
        // component rounds the same way (the worst case of the bound).
        let flat = vec![1.0 / (768f32).sqrt(); 768];
        let c = encode(&flat);
        let bound = flat.iter().sum::<f32>() / CODE_SCALE + 1e-6;
        assert!(distance(&c, &c) <= bound);
        let neg: Vec<i16> = c.iter().map(|&x| -x).collect();
        assert!((distance(&c, &neg) - 2.0).abs() <= bound);
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
