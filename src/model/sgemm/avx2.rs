//! The AVX2 micro-kernel: a 6 × 16 tile of `C` in 12 of the 16 `ymm`
//! registers, two loads of `B` and six broadcasts of `A` per step.

use std::arch::x86_64::*;

use super::Blocking;

/// `KC = 256`: a `B` panel (256 × 16 f32, 16 KiB) stays in L1; `MC = 72`
/// rows of `A` (72 KiB) stay in L2.
pub(super) const BLOCKING: Blocking = Blocking {
    mr: 6,
    nr: 16,
    kc: 256,
    mc: 72,
    nc: 3072,
};

/// See [`super::Kernel`].
///
/// # Safety
///
/// The CPU must have AVX2 and FMA; the pointers as `Kernel` says.
#[target_feature(enable = "avx2,fma")]
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
        6,
        2,
        8,
        __m256,
        _mm256_setzero_ps,
        _mm256_set1_ps,
        _mm256_fmadd_ps,
        _mm256_mul_ps,
        _mm256_add_ps,
        (kc, a, b, c, rsc, alpha, accumulate, rows, cols)
    )
}
