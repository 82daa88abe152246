//! The kernels in plain Rust, for any CPU: the reference the SIMD kernels
//! are tested against, written with independent accumulators so that they
//! vectorise at the build's baseline and stay fast even unoptimised. They
//! are `#[inline(never)]`: the dispatch is inlined into every distance call
//! of a graph search, and with a portable body inlined beside the SIMD call
//! (on a CPU that never runs it) those searches were 5–12% slower in
//! `benches/ann.rs`.

/// `Σ aᵢ·widen(bᵢ)` over the common prefix: eight independent
/// accumulators (vectorisable, and fast even unoptimised), reduced by
/// `reduce`, then the tail added one product at a time. The reduction is
/// each kernel's own, so that its sums stay the bits they always were.
#[inline(always)]
fn eight_lanes<T: Copy>(
    a: &[f32],
    b: &[T],
    widen: impl Fn(T) -> f32,
    reduce: impl Fn(&[f32; 8]) -> f32,
) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; 8];
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for j in 0..8 {
            acc[j] += x[j] * widen(y[j]);
        }
    }
    let mut sum = reduce(&acc);
    for (x, &y) in ca.remainder().iter().zip(cb.remainder()) {
        sum += x * widen(y);
    }
    sum
}

#[inline(never)]
pub(super) fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    eight_lanes(
        a,
        b,
        |y| y,
        |acc| (acc[0] + acc[4]) + (acc[1] + acc[5]) + (acc[2] + acc[6]) + (acc[3] + acc[7]),
    )
}

#[inline(never)]
pub(super) fn dot_i16(a: &[i16], b: &[i16]) -> i64 {
    a.iter().zip(b).map(|(&x, &y)| x as i64 * y as i64).sum()
}

#[inline(never)]
pub(super) fn dot_f32_i16(q: &[f32], c: &[i16]) -> f32 {
    eight_lanes(q, c, |y| y as f32, |acc| acc.iter().sum())
}

#[inline(never)]
pub(super) fn dot_f32_u8(w: &[f32], c: &[u8]) -> f32 {
    w.iter().zip(c).map(|(&w, &c)| w * c as f32).sum()
}
