//! The dense layers in bfloat16 on CPUs with AVX512_BF16: `bf16` inputs,
//! `f32` products and sums (`vdpbf16ps`, two multiply-adds per 32-bit lane
//! where an f32 FMA does one), for `--precision bf16` on CPU.
//!
//! A weight matrix is converted and packed once, at load ([`PackedBf16`]):
//! rounded to bf16 (to nearest, ties to even, as PyTorch's `.to(bfloat16)`)
//! and laid out as the kernel reads it, so a call packs only the
//! activations. Those are rounded to bf16 per call, as they enter each
//! product; everything between the products (LayerNorm, softmax, GELU, the
//! residuals, attention's own products) stays f32.
//!
//! The layout pairs consecutive values of `k`: `vdpbf16ps` multiplies lane
//! `i`'s two bf16 halves of one operand with those of the other and adds
//! both products to lane `i` of the f32 accumulator. A packed `B` panel
//! holds, for each pair of `k` steps, 32 columns' pairs (two vectors); a
//! packed `A` panel, 12 rows' pairs, each broadcast to every lane. The tile
//! and blocking are the f32 kernel's (`12 × 32`, a 32 KiB `B` panel in L1).

use std::arch::x86_64::*;
use std::cell::RefCell;

const MR: usize = 12;
const NR: usize = 32;
/// Pairs of `k` per block: 256 pairs (512 steps) × 32 columns × 4 bytes is
/// the f32 kernel's 32 KiB panel.
const KCP: usize = 256;
const MC: usize = 144;

/// Whether this CPU has the instructions (AVX512_BF16 with AVX-512F).
pub(crate) fn available() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512bf16")
}

/// `x` rounded to bfloat16, to nearest with ties to even; NaN stays NaN.
#[inline]
pub(crate) fn to_bf16(x: f32) -> u16 {
    let b = x.to_bits();
    if x.is_nan() {
        return ((b >> 16) | 0x40) as u16;
    }
    (b.wrapping_add(0x7fff + ((b >> 16) & 1)) >> 16) as u16
}

/// Two bf16 values in one 32-bit lane: `lo` is the even step of `k`.
#[inline]
fn pair(lo: f32, hi: f32) -> u32 {
    to_bf16(lo) as u32 | (to_bf16(hi) as u32) << 16
}

/// A dense layer's weight (`n × k`, PyTorch's layout) in bf16, packed for
/// the kernel: block `b` of `KCP` pairs of `k` holds `n` rounded up to 32
/// columns' panels, each `pairs × 32` lanes.
pub struct PackedBf16 {
    data: Vec<u32>,
    n: usize,
    k: usize,
}

impl PackedBf16 {
    /// Converts and packs `w`, `n × k` row-major.
    ///
    /// # Panics
    ///
    /// If `w` holds fewer than `n·k` values.
    pub fn new(w: &[f32], n: usize, k: usize) -> PackedBf16 {
        assert!(w.len() >= n * k, "{} values for a {n}×{k} weight", w.len());
        let kp = k.div_ceil(2);
        let n_pad = n.next_multiple_of(NR);
        let mut data = vec![0u32; kp * n_pad];
        let at = |j: usize, p: usize| if j < n && p < k { w[j * k + p] } else { 0.0 };
        for b0 in (0..kp).step_by(KCP) {
            let pairs = KCP.min(kp - b0);
            let block = &mut data[b0 * n_pad..(b0 + pairs) * n_pad];
            for (q, panel) in block.chunks_exact_mut(pairs * NR).enumerate() {
                for p in 0..pairs {
                    for j in 0..NR {
                        let (col, step) = (q * NR + j, 2 * (b0 + p));
                        panel[p * NR + j] = pair(at(col, step), at(col, step + 1));
                    }
                }
            }
        }
        PackedBf16 { data, n, k }
    }

    /// Output columns (the weight's rows).
    pub fn n(&self) -> usize {
        self.n
    }

    /// Input columns.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.data.len() * 4
    }
}

thread_local! {
    static APACK: RefCell<Vec<u32>> = const { RefCell::new(Vec::new()) };
}

/// `dst += x · wᵀ` on the calling thread, with `x` (`m × k`, row-major)
/// rounded to bf16 and `w` packed by [`PackedBf16::new`]; `dst` is `m × n`
/// (it comes in holding the bias rows).
///
/// # Panics
///
/// If the slices are too short for the shapes, or the CPU lacks
/// AVX512_BF16 (callers check [`available`] when the model is loaded).
pub(crate) fn xwt_acc(x: &[f32], w: &PackedBf16, dst: &mut [f32], m: usize) {
    let (n, k) = (w.n, w.k);
    assert!(
        x.len() >= m * k && dst.len() >= m * n,
        "bf16 GEMM: slices too short"
    );
    assert!(available(), "bf16 GEMM on a CPU without AVX512_BF16");
    if m == 0 || n == 0 || k == 0 {
        return;
    }
    let kp = k.div_ceil(2);
    let n_pad = n.next_multiple_of(NR);
    APACK.with(|cell| {
        let mut apack = std::mem::take(&mut *cell.borrow_mut());
        apack.resize(MC.min(m.next_multiple_of(MR)) * KCP.min(kp), 0);
        // One row's pairs of a block, converted before they are spread
        // across the panel's lanes.
        let mut lanes = [0u32; KCP];
        for b0 in (0..kp).step_by(KCP) {
            let pairs = KCP.min(kp - b0);
            let block = &w.data[b0 * n_pad..(b0 + pairs) * n_pad];
            for ic in (0..m).step_by(MC) {
                let mc = MC.min(m - ic);
                // Pack rows ic..ic+mc, pairs b0..b0+pairs: panel r holds,
                // for each pair, MR rows' lanes (zero past mc and past k).
                for (r, panel) in apack[..mc.next_multiple_of(MR) * pairs]
                    .chunks_exact_mut(MR * pairs)
                    .enumerate()
                {
                    for i in 0..MR {
                        let row = ic + r * MR + i;
                        if row >= ic + mc {
                            for p in 0..pairs {
                                panel[p * MR + i] = 0;
                            }
                            continue;
                        }
                        let xr =
                            &x[row * k + 2 * b0..(row * k + 2 * (b0 + pairs)).min((row + 1) * k)];
                        // SAFETY: the CPU has AVX512_BF16 (asserted above).
                        unsafe { to_pairs(xr, &mut lanes[..pairs]) };
                        for (p, &v) in lanes[..pairs].iter().enumerate() {
                            panel[p * MR + i] = v;
                        }
                    }
                }
                for jr in (0..n).step_by(NR) {
                    let nr = NR.min(n - jr);
                    let bp = block[(jr / NR) * pairs * NR..].as_ptr();
                    for ir in (0..mc).step_by(MR) {
                        let mr = MR.min(mc - ir);
                        let ap = apack[ir * pairs..].as_ptr();
                        let cp = dst[(ic + ir) * n + jr..].as_mut_ptr();
                        // SAFETY: the panels hold `pairs` steps of MR and NR
                        // lanes; the tile's mr × nr part lies inside dst
                        // (rows ic + ir + mr ≤ m, columns jr + nr ≤ n); the
                        // CPU has the instructions (asserted above).
                        unsafe { kernel(pairs, ap, bp, cp, n, mr, nr) };
                    }
                }
            }
        }
        *cell.borrow_mut() = apack;
    });
}

/// `x` rounded to bf16 in pairs (`out[p]` holds `x[2p]` and `x[2p + 1]`, zero
/// past the end of `x`), 32 values per instruction.
///
/// This ran in scalar code on every activation of every call and cost fc2
/// (k = 3072) about a sixth of its product's time. `vcvtne2ps2bf16`
/// rounds to nearest, ties to even, as [`to_bf16`] does, but reads and
/// writes subnormals as zero: below 1.2e-38 in magnitude, far under what
/// bf16's 8 bits of precision resolve in a sum with anything else.
///
/// # Safety
///
/// The CPU must have AVX-512F and AVX512_BF16.
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn to_pairs(x: &[f32], out: &mut [u32]) {
    #[repr(C, packed)]
    #[derive(Clone, Copy)]
    struct PackedF(__m512);
    #[repr(C, packed)]
    #[derive(Clone, Copy)]
    struct PackedI(__m512i);
    let whole = (x.len() / 32).min(out.len() / 16);
    for c in 0..whole {
        let src = x[32 * c..].as_ptr();
        // SAFETY: 32 values of x from 32·c on, and 16 lanes of out from
        // 16·c on (c < whole).
        let lo = (src as *const PackedF).read().0;
        let hi = (src.wrapping_add(16) as *const PackedF).read().0;
        let v: __m512i = std::mem::transmute(_mm512_cvtne2ps_pbh(hi, lo));
        (out[16 * c..].as_mut_ptr() as *mut PackedI).write(PackedI(v));
    }
    for (p, o) in out.iter_mut().enumerate().skip(16 * whole) {
        let lo = x.get(2 * p).copied().unwrap_or(0.0);
        let hi = x.get(2 * p + 1).copied().unwrap_or(0.0);
        *o = pair(lo, hi);
    }
}

/// `C[..rows, ..cols] += Apanel · Bpanel` over `pairs` pairs of `k`.
///
/// # Safety
///
/// The CPU must have AVX-512F and AVX512_BF16; `a` must hold `pairs · MR`
/// lanes, `b` `pairs · NR`, and `c` `rows` rows of `cols` values at stride
/// `rsc`.
#[target_feature(enable = "avx512f,avx512bf16,avx2,fma")]
unsafe fn kernel(
    pairs: usize,
    a: *const u32,
    b: *const u32,
    c: *mut f32,
    rsc: usize,
    rows: usize,
    cols: usize,
) {
    #[repr(C, packed)]
    #[derive(Clone, Copy)]
    struct PackedI(__m512i);
    #[repr(C, packed)]
    #[derive(Clone, Copy)]
    struct PackedF(__m512);
    let mut acc = [[_mm512_setzero_ps(); 2]; MR];
    let mut pa = a;
    let mut pb = b;
    for _ in 0..pairs {
        // SAFETY (loads): inside the panels, as the contract says.
        let b0: __m512bh = std::mem::transmute((pb as *const PackedI).read().0);
        let b1: __m512bh = std::mem::transmute((pb.wrapping_add(16) as *const PackedI).read().0);
        for (i, row) in acc.iter_mut().enumerate() {
            let ai: __m512bh =
                std::mem::transmute(_mm512_set1_epi32(pa.wrapping_add(i).read() as i32));
            row[0] = _mm512_dpbf16_ps(row[0], ai, b0);
            row[1] = _mm512_dpbf16_ps(row[1], ai, b1);
        }
        pa = pa.wrapping_add(MR);
        pb = pb.wrapping_add(NR);
    }
    if rows == MR && cols == NR {
        for (i, row) in acc.iter().enumerate() {
            for (v, &r) in row.iter().enumerate() {
                let p = c.wrapping_add(i * rsc + v * 16) as *mut PackedF;
                p.write(PackedF(_mm512_add_ps(p.read().0, r)));
            }
        }
    } else {
        let mut tile = [0f32; MR * NR];
        for (i, row) in acc.iter().enumerate() {
            for (v, &r) in row.iter().enumerate() {
                (tile.as_mut_ptr().wrapping_add(i * NR + v * 16) as *mut PackedF).write(PackedF(r));
            }
        }
        for i in 0..rows {
            for j in 0..cols {
                let p = c.wrapping_add(i * rsc + j);
                *p += tile[i * NR + j];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_bf16(h: u16) -> f32 {
        f32::from_bits((h as u32) << 16)
    }

    #[test]
    fn rounding_is_to_nearest_even() {
        assert_eq!(to_bf16(1.0), 0x3f80);
        // 1 + 2⁻⁸ lies halfway between 1 and 1 + 2⁻⁷: ties go to even (1).
        assert_eq!(to_bf16(1.0 + 1.0 / 256.0), 0x3f80);
        // 1 + 3·2⁻⁸ is halfway between 1 + 2⁻⁷ (odd) and 1 + 2⁻⁶: up.
        assert_eq!(to_bf16(1.0 + 3.0 / 256.0), 0x3f82);
        assert_eq!(to_bf16(-2.5), 0xc020);
        assert!(from_bf16(to_bf16(f32::NAN)).is_nan());
        assert_eq!(to_bf16(f32::INFINITY), 0x7f80);
    }

    /// The vector conversion of the activations rounds as the scalar one
    /// does (ties to even included), at every length and tail.
    #[test]
    fn vector_rounding_matches_the_scalar_one() {
        if !available() {
            eprintln!("no AVX512_BF16 on this CPU: the conversion is not checked");
            return;
        }
        let special = [
            1.0 + 1.0 / 256.0,
            1.0 + 3.0 / 256.0,
            -2.5,
            f32::INFINITY,
            0.0,
            -0.0,
            1e30,
        ];
        let x: Vec<f32> = (0..200)
            .map(|i| {
                special
                    .get(i % 23)
                    .copied()
                    .unwrap_or(((i * 7919 % 1000) as f32 - 500.0) / 37.0)
            })
            .collect();
        for len in [0usize, 1, 2, 31, 32, 33, 64, 95, 200] {
            let pairs = len.div_ceil(2);
            let mut out = vec![7u32; pairs];
            // SAFETY: available() above.
            unsafe { to_pairs(&x[..len], &mut out) };
            for (p, &o) in out.iter().enumerate() {
                let hi = if 2 * p + 1 < len { x[2 * p + 1] } else { 0.0 };
                assert_eq!(o, pair(x[2 * p], hi), "length {len}, pair {p}");
            }
        }
        let mut nan = [0u32; 16];
        // SAFETY: as above.
        unsafe { to_pairs(&[f32::NAN; 32], &mut nan) };
        assert!(from_bf16(nan[3] as u16).is_nan());
    }

    /// The kernel against f64 sums of the bf16-rounded inputs: the products
    /// of two bf16 values are exact in f32, so only the f32 sums differ.
    #[test]
    fn products_match_the_rounded_inputs_in_f64() {
        if !available() {
            eprintln!("no AVX512_BF16 on this CPU: the bf16 kernel is not checked");
            return;
        }
        let val = |i: usize| ((i.wrapping_mul(7919) % 1000) as f32 / 500.0) - 1.0;
        for &(m, n, k) in &[
            (1, 1, 1),
            (3, 5, 7),
            (12, 32, 2),
            (13, 33, 9),
            (37, 70, 515),
            (150, 29, 1030),
            (200, 3, 64),
        ] {
            let x: Vec<f32> = (0..m * k).map(val).collect();
            let w: Vec<f32> = (0..n * k).map(|i| val(i + 11)).collect();
            let bias: Vec<f32> = (0..n).map(|i| val(i + 3)).collect();
            let packed = PackedBf16::new(&w, n, k);
            let mut dst: Vec<f32> = (0..m).flat_map(|_| bias.iter().copied()).collect();
            xwt_acc(&x, &packed, &mut dst, m);
            let r = |v: f32| from_bf16(to_bf16(v)) as f64;
            for i in 0..m {
                for j in 0..n {
                    let want = bias[j] as f64
                        + (0..k)
                            .map(|p| r(x[i * k + p]) * r(w[j * k + p]))
                            .sum::<f64>();
                    let got = dst[i * n + j] as f64;
                    assert!(
                        (got - want).abs() <= 2e-6 * (k as f64).sqrt() * (1.0 + want.abs()),
                        "{m}×{n}×{k}: [{i},{j}] = {got}, want {want}"
                    );
                }
            }
        }
    }
}
