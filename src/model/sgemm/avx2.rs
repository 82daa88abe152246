//! The AVX2 micro-kernel: a 6 × 16 tile of `C` in 12 of the 16 `ymm`
//! registers, two loads of `B` and six broadcasts of `A` per step.

use std::arch::x86_64::*;

use super::Blocking;

super::microkernel! {
    /// `KC = 256`: a `B` panel (256 × 16 f32, 16 KiB) stays in L1; `MC = 72`
    /// rows of `A` (72 KiB) stay in L2.
    blocking = Blocking { mr: 6, nr: 16, kc: 256, mc: 72, nc: 3072 },
    features = "avx2,fma", requires = "AVX2 and FMA",
    vector = (__m256, 8),
    [_mm256_setzero_ps, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_mul_ps, _mm256_add_ps]
}
