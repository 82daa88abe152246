//! The kernels for AVX2 with FMA: 8 f32 lanes, and `vpmaddwd` for the
//! 16-bit codes (16 products a step, no conversions). Every function is
//! compiled for `avx2,fma` and must only be called on a CPU that has them
//! (the dispatch in `mod.rs` sees to it).
//!
//! Loads go through `read_unaligned` (or the packed type of
//! `dot_f32_body!`) and `wrapping_add`, never `_mm256_loadu_*` and
//! `ptr::add`: those carry debug-mode precondition checks, and the crate's
//! tests run at opt-level 1 with debug assertions, where the checks made
//! these loops several times slower.

use std::arch::x86_64::*;

/// The sum of the 8 lanes of an `__m256`: upper half onto the lower, then
/// pairs, then the last two. A macro rather than a function, so that it is
/// inlined at every optimisation level (a function with target features
/// cannot be `#[inline(always)]`).
macro_rules! sum_lanes {
    ($acc:expr) => {{
        let acc = $acc;
        let s = _mm_add_ps(_mm256_extractf128_ps(acc, 1), _mm256_castps256_ps128(acc));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
        _mm_cvtss_f32(s)
    }};
}

#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    super::dot_f32_body!(
        a,
        b,
        __m256,
        8,
        _mm256_setzero_ps,
        _mm256_fmadd_ps,
        _mm256_add_ps,
        sum_lanes!
    )
}

/// Exact: `vpmaddwd` sums two products into each `i32` lane, which cannot
/// overflow on codes of unit vectors (`code.rs` says why); the lanes are
/// summed in `i64`.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn dot_i16(a: &[i16], b: &[i16]) -> i64 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
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

#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn dot_f32_i16(q: &[f32], c: &[i16]) -> f32 {
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
    let mut sum = sum_lanes!(_mm256_add_ps(acc0, acc1));
    while i < n {
        sum += q[i] * c[i] as f32;
        i += 1;
    }
    sum
}

/// 32 bytes a step, widened to f32 in four groups of 8, each with its own
/// accumulator.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn dot_f32_u8(w: &[f32], c: &[u8]) -> f32 {
    let len = w.len().min(c.len());
    let n = len / 32 * 32;
    let (pw, pc) = (w.as_ptr(), c.as_ptr());
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    // SAFETY (all loads): i + 32 ≤ n ≤ both lengths.
    while i < n {
        let bytes = (pc.wrapping_add(i) as *const __m256i).read_unaligned();
        let lo = _mm256_castsi256_si128(bytes);
        let hi = _mm256_extracti128_si256(bytes, 1);
        let parts = [lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)];
        for (j, part) in parts.into_iter().enumerate() {
            let x = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(part));
            let y = (pw.wrapping_add(i + 8 * j) as *const __m256).read_unaligned();
            acc[j] = _mm256_fmadd_ps(x, y, acc[j]);
        }
        i += 32;
    }
    let mut sum = sum_lanes!(_mm256_add_ps(
        _mm256_add_ps(acc[0], acc[1]),
        _mm256_add_ps(acc[2], acc[3]),
    ));
    for j in n..len {
        sum += w[j] * c[j] as f32;
    }
    sum
}
