//! The kernels in plain Rust, for any CPU: the reference the SIMD kernels
//! are tested against, written with independent accumulators so that they
//! vectorise at the build's baseline and stay fast even unoptimised.

pub(super) fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    // Eight independent accumulators: vectorisable, and fast even unoptimised.
    let mut acc = [0f32; 8];
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for j in 0..8 {
            acc[j] += x[j] * y[j];
        }
    }
    let mut sum = (acc[0] + acc[4]) + (acc[1] + acc[5]) + (acc[2] + acc[6]) + (acc[3] + acc[7]);
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        sum += x * y;
    }
    sum
}

pub(super) fn dot_i16(a: &[i16], b: &[i16]) -> i64 {
    a.iter().zip(b).map(|(&x, &y)| x as i64 * y as i64).sum()
}

pub(super) fn dot_f32_i16(q: &[f32], c: &[i16]) -> f32 {
    let n = q.len().min(c.len());
    let (q, c) = (&q[..n], &c[..n]);
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

pub(super) fn dot_f32_u8(w: &[f32], c: &[u8]) -> f32 {
    w.iter().zip(c).map(|(&w, &c)| w * c as f32).sum()
}
