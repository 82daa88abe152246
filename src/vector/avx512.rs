//! The kernels for AVX-512 (with AVX2 and FMA, which every AVX-512 CPU
//! has and the `Avx512` tier requires): 16 f32 lanes for the f32 dot
//! product. The code kernels have no AVX-512 bodies yet and run the AVX2
//! ones, so that their scores stay the very bits they were; a wider body
//! belongs here, with a test in `tests.rs`, once a benchmark shows it pays.

use std::arch::x86_64::*;

pub(super) use super::avx2::{dot_f32_i16, dot_f32_u8, dot_i16};

#[target_feature(enable = "avx512f,avx2,fma")]
pub(super) unsafe fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    super::dot_f32_body!(
        a,
        b,
        __m512,
        16,
        _mm512_setzero_ps,
        _mm512_fmadd_ps,
        _mm512_add_ps,
        _mm512_reduce_add_ps
    )
}
