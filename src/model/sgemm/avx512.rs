//! The AVX-512 micro-kernel: a 12 × 32 tile of `C` in 24 of the 32 `zmm`
//! registers, two loads of `B` and twelve broadcasts of `A` per step.

use std::arch::x86_64::*;

use super::Blocking;

super::microkernel! {
    /// `KC = 256`: a `B` panel (256 × 32 f32, 32 KiB) stays in L1 while the
    /// kernel walks the `A` panels of a block; `MC = 144` rows of `A` (144 KiB)
    /// stay in L2; `NC` covers a ViT-B layer's widest output (3072) whole.
    blocking = Blocking { mr: 12, nr: 32, kc: 256, mc: 144, nc: 3072 },
    features = "avx512f,avx2,fma", requires = "AVX-512F and FMA",
    vector = (__m512, 16),
    [_mm512_setzero_ps, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_mul_ps, _mm512_add_ps]
}
