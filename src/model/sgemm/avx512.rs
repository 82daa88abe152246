//! The AVX-512 micro-kernel: a 12 × 32 tile of `C` in 24 of the 32 `zmm`
//! registers, two loads of `B` and twelve broadcasts of `A` per step.

use std::arch::x86_64::*;

use super::Blocking;

/// `KC = 256`: a `B` panel (256 × 32 f32, 32 KiB) stays in L1 while the
/// kernel walks the `A` panels of a block; `MC = 144` rows of `A` (144 KiB)
/// stay in L2; `NC` covers a ViT-B layer's widest output (3072) whole.
pub(super) const BLOCKING: Blocking = Blocking {
    mr: 12,
    nr: 32,
    kc: 256,
    mc: 144,
    nc: 3072,
};

/// See [`super::Kernel`].
///
/// # Safety
///
/// The CPU must have AVX-512F and FMA; the pointers as `Kernel` says.
#[target_feature(enable = "avx512f,avx2,fma")]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn kernel(
    kc: usize,
    a: *const f32,
    b: *const f32,
    c: *mut f32,
    rsc: usize,
    alpha: f32,
    accumulate: bool,
    rows: usize,
    cols: usize,
) {
    super::microkernel_body!(
        12,
        2,
        16,
        __m512,
        _mm512_setzero_ps,
        _mm512_set1_ps,
        _mm512_fmadd_ps,
        _mm512_mul_ps,
        _mm512_add_ps,
        (kc, a, b, c, rsc, alpha, accumulate, rows, cols)
    )
}
