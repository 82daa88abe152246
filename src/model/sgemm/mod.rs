//! artlens's own f32 GEMM: a packed, register-blocked product in the
//! manner of BLIS (Van Zee & van de Geijn, "BLIS: A Framework for Rapidly
//! Instantiating BLAS Functionality", 2015), so that the dense layers run at
//! OpenBLAS's speed on a machine that has no OpenBLAS.
//!
//! The pure-Rust `gemm` crate (candle's) only uses AVX-512 behind a nightly
//! feature, which left a fresh `cargo install` at about half the speed of
//! the system OpenBLAS on AVX-512 CPUs. This module does what OpenBLAS does:
//!
//! - `B` is packed, `KC` rows by `NC` columns at a time, into panels `NR`
//!   columns wide (`kc × NR`, contiguous: what the micro-kernel reads as
//!   vectors), and `A`, `MC` rows at a time, into panels `MR` rows tall (the
//!   values the micro-kernel broadcasts). Packing turns any strides and
//!   transpositions into the one layout the kernel reads, zero-padded at
//!   the edges, and keeps each panel in the cache level it is reused from:
//!   a `B` panel in L1 across the `A` panels of a block, the `A` block in L2.
//! - The micro-kernel keeps an `MR × NR` tile of `C` in registers
//!   (`12 × 32` with AVX-512: 24 of its 32 vector registers; `6 × 16` with
//!   AVX2: 12 of 16) and updates it with one FMA per vector per step of `k`.
//!
//! Every element of `C` is computed by the same sequence of operations
//! whatever the shape of the call and wherever the element falls in a tile:
//! a sum of FMAs from zero over each `KC` block of `k`, in order, scaled by
//! `alpha` and added to `C` (edge tiles are zero-padded, and a padded FMA
//! adds an exact zero). So a row's result does not depend on how many rows
//! the call held, which lets the dense layers split a batch across threads
//! freely and still give an image the same embedding in any batch.
//!
//! The instruction set is chosen once per process through
//! [`crate::vector::Isa::best`]; a CPU with neither AVX2 nor AVX-512 runs the
//! `gemm` crate instead.

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(target_arch = "x86_64")]
pub mod bf16;
mod packed;

pub(crate) use packed::xwt_acc as xwt_acc_packed;
pub use packed::PackedF32;

/// bf16 needs AVX512_BF16, an x86-64 extension: elsewhere it is never
/// available, so `--precision bf16` on CPU is refused when the model loads
/// and nothing below is ever called. The stand-in keeps the callers
/// compiling on every architecture.
#[cfg(not(target_arch = "x86_64"))]
pub mod bf16 {
    /// A dense layer's weight as the bf16 kernel would read it (never made
    /// on this architecture).
    pub struct PackedBf16 {
        n: usize,
        k: usize,
    }

    impl PackedBf16 {
        /// Records the shape only: no kernel can read it here.
        pub fn new(_w: &[f32], n: usize, k: usize) -> PackedBf16 {
            PackedBf16 { n, k }
        }
        /// Output features.
        pub fn n(&self) -> usize {
            self.n
        }
        /// Input features.
        pub fn k(&self) -> usize {
            self.k
        }
        /// Bytes held: none.
        pub fn bytes(&self) -> usize {
            0
        }
    }

    /// Never: this architecture has no AVX512_BF16.
    pub(crate) fn available() -> bool {
        false
    }

    /// Unreachable: [`available`] is false, and loading checks it.
    pub(crate) fn xwt_acc(_x: &[f32], _w: &PackedBf16, _dst: &mut [f32], _m: usize) {
        unreachable!("bf16 GEMM on a CPU without AVX512_BF16")
    }
}

use std::cell::RefCell;

/// A micro-kernel: `C[..mr, ..nr] (+)= alpha · Apanel · Bpanel` over `kc`
/// steps; `accumulate` adds to `C` (else `C` is only written).
///
/// Arguments: `kc`, the packed `A` panel (`kc × MR`), the packed `B` panel
/// (`kc × NR`), `C`'s first element and row stride, `alpha`, `accumulate`,
/// and the rows and columns of the tile that lie inside `C`.
type Kernel = unsafe fn(usize, *const f32, *const f32, *mut f32, usize, f32, bool, usize, usize);

/// The blocking of one instruction set's kernel.
#[derive(Clone, Copy)]
struct Blocking {
    mr: usize,
    nr: usize,
    kc: usize,
    mc: usize,
    nc: usize,
}

/// A matrix operand as the product uses it (after any transposition): the
/// element `(i, j)` is at `ptr + i·rs + j·cs`.
#[derive(Clone, Copy)]
pub(crate) struct MatRef {
    pub(crate) ptr: *const f32,
    pub(crate) rs: usize,
    pub(crate) cs: usize,
}

impl MatRef {
    /// A row-major matrix of `cols` columns.
    pub(crate) fn rows(ptr: *const f32, cols: usize) -> Self {
        MatRef {
            ptr,
            rs: cols,
            cs: 1,
        }
    }

    /// The transpose of this operand, in the same memory.
    pub(crate) fn t(self) -> Self {
        MatRef {
            ptr: self.ptr,
            rs: self.cs,
            cs: self.rs,
        }
    }
}

thread_local! {
    /// The packing buffers of this thread, kept between calls: the `B`
    /// block is up to a few MiB, and allocating it per call cost page faults
    /// on every GEMM.
    static BUFFERS: RefCell<(Vec<f32>, Vec<f32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// Whether this CPU runs one of our kernels (AVX2+FMA or AVX-512).
pub(crate) fn available() -> bool {
    kernel().is_some()
}

/// The name of the kernel this CPU runs, for messages and benchmarks.
pub(crate) fn kernel_name() -> &'static str {
    match crate::vector::Isa::best().level() {
        crate::vector::Level::Avx512 => "artlens sgemm (AVX-512, 12×32)",
        crate::vector::Level::Avx2 => "artlens sgemm (AVX2, 6×16)",
        crate::vector::Level::Portable => "gemm (pure Rust)",
    }
}

/// Every kernel this CPU runs, widest first: what the tests check.
#[cfg(test)]
fn all_kernels() -> Vec<(&'static str, Kernel, Blocking)> {
    let mut out = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        use crate::vector::{Isa, Level};
        let best = Isa::best().level();
        if best >= Level::Avx512 {
            out.push(("avx512", avx512::kernel as Kernel, avx512::BLOCKING));
        }
        if best >= Level::Avx2 {
            out.push(("avx2", avx2::kernel as Kernel, avx2::BLOCKING));
        }
    }
    out
}

fn kernel() -> Option<(Kernel, Blocking)> {
    #[cfg(target_arch = "x86_64")]
    {
        use crate::vector::{Isa, Level};
        match Isa::best().level() {
            Level::Avx512 => return Some((avx512::kernel as Kernel, avx512::BLOCKING)),
            Level::Avx2 => return Some((avx2::kernel as Kernel, avx2::BLOCKING)),
            Level::Portable => {}
        }
    }
    None
}

/// `C = alpha · A · B + beta · C` on the calling thread, `A` `m × k`, `B`
/// `k × n`, `C` `m × n` with unit column stride and row stride `rsc`.
/// `beta` is 0 (`C` is only written, and may hold anything, NaN included)
/// or 1 (`C` is accumulated into): the two uses the dense layers have.
///
/// # Safety
///
/// `a` and `b` must address valid `m × k` and `k × n` matrices through their
/// strides, and `c` must be valid for reads and writes of `m` rows of `n`
/// values at row stride `rsc`, accessed by no one else meanwhile. The CPU
/// must run [`available`]'s kernel (callers check `available()` first).
///
/// # Panics
///
/// If `beta` is neither 0 nor 1, or no kernel runs on this CPU.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn sgemm(
    (m, n, k): (usize, usize, usize),
    alpha: f32,
    a: MatRef,
    b: MatRef,
    beta: f32,
    c: *mut f32,
    rsc: usize,
) {
    let (kernel, blk) = kernel().expect("sgemm called on a CPU without AVX2/AVX-512");
    // SAFETY: the caller's contract, and `kernel()` only names a kernel the CPU runs.
    unsafe { sgemm_with(kernel, blk, (m, n, k), alpha, a, b, beta, c, rsc) }
}

/// [`sgemm`] on a given kernel and blocking.
///
/// # Safety
///
/// As for [`sgemm`], and the CPU must run `kernel`.
#[allow(clippy::too_many_arguments)]
unsafe fn sgemm_with(
    kernel: Kernel,
    blk: Blocking,
    (m, n, k): (usize, usize, usize),
    alpha: f32,
    a: MatRef,
    b: MatRef,
    beta: f32,
    c: *mut f32,
    rsc: usize,
) {
    assert!(
        beta == 0.0 || beta == 1.0,
        "beta must be 0 or 1, not {beta}"
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if beta == 0.0 {
            for i in 0..m {
                // SAFETY: row i of C, inside the caller's extent.
                unsafe { std::slice::from_raw_parts_mut(c.add(i * rsc), n).fill(0.0) };
            }
        }
        return;
    }
    BUFFERS.with(|cell| {
        // Taken out rather than borrowed, so that a re-entrant call (none
        // today) would allocate its own instead of panicking.
        let (mut apack, mut bpack) = std::mem::take(&mut *cell.borrow_mut());
        let nc_max = blk.nc.min(n.next_multiple_of(blk.nr));
        let mc_max = blk.mc.min(m.next_multiple_of(blk.mr));
        let kc_max = blk.kc.min(k);
        apack.resize(mc_max * kc_max, 0.0);
        bpack.resize(nc_max * kc_max, 0.0);
        for jc in (0..n).step_by(blk.nc) {
            let nc = blk.nc.min(n - jc);
            for pc in (0..k).step_by(blk.kc) {
                let kc = blk.kc.min(k - pc);
                let accumulate = pc > 0 || beta == 1.0;
                // SAFETY: the block lies inside B (pc + kc ≤ k, jc + nc ≤ n)
                // and the buffer holds nc rounded up to NR times kc.
                unsafe { pack(&mut bpack, b.t(), (jc, pc), (nc, kc), blk.nr) };
                for ic in (0..m).step_by(blk.mc) {
                    let mc = blk.mc.min(m - ic);
                    // SAFETY: as for B.
                    unsafe { pack(&mut apack, a, (ic, pc), (mc, kc), blk.mr) };
                    for jr in (0..nc).step_by(blk.nr) {
                        let nr = blk.nr.min(nc - jr);
                        let bp = bpack.as_ptr().wrapping_add(jr * kc);
                        for ir in (0..mc).step_by(blk.mr) {
                            let mr = blk.mr.min(mc - ir);
                            let ap = apack.as_ptr().wrapping_add(ir * kc);
                            let cp = c.wrapping_add((ic + ir) * rsc + jc + jr);
                            // SAFETY: the panels hold kc steps of MR and NR
                            // values; the tile's mr × nr part lies inside C.
                            unsafe { kernel(kc, ap, bp, cp, rsc, alpha, accumulate, mr, nr) };
                        }
                    }
                }
            }
        }
        *cell.borrow_mut() = (apack, bpack);
    });
}

/// Packs `A[i0.., p0..]`, `mc × kc`, into panels of `mr` rows: panel `r`
/// holds, for each step `p`, the `mr` values of its rows (zero past `mc`).
/// `B[p0.., j0..]`, `kc × nc`, is packed into panels of `nr` columns as
/// its transpose: `pack(dst, b.t(), (j0, p0), (nc, kc), nr)`.
///
/// # Safety
///
/// The block must lie inside `a`; `dst` must hold `mc` rounded up to `mr`
/// times `kc` values.
unsafe fn pack(
    dst: &mut [f32],
    a: MatRef,
    (i0, p0): (usize, usize),
    (mc, kc): (usize, usize),
    mr: usize,
) {
    for (r, panel) in dst[..mc.next_multiple_of(mr) * kc]
        .chunks_exact_mut(mr * kc)
        .enumerate()
    {
        let rows = mr.min(mc - r * mr);
        let base = (i0 + r * mr) * a.rs + p0 * a.cs;
        if a.rs == 1 {
            // The panel's rows lie side by side at each step (`B` stored
            // row-major, seen transposed): copy them a step at a time.
            for p in 0..kc {
                // SAFETY: `rows` contiguous values of column p0 + p.
                let step = unsafe { std::slice::from_raw_parts(a.ptr.add(base + p * a.cs), rows) };
                panel[p * mr..p * mr + rows].copy_from_slice(step);
                panel[p * mr + rows..(p + 1) * mr].fill(0.0);
            }
            continue;
        }
        for i in 0..rows {
            // SAFETY: row i0 + r·mr + i < i0 + mc and columns p0..p0 + kc lie inside A.
            let src = unsafe { a.ptr.add(base + i * a.rs) };
            if a.cs == 1 {
                // SAFETY: kc contiguous values of the row.
                let row = unsafe { std::slice::from_raw_parts(src, kc) };
                for (p, &v) in row.iter().enumerate() {
                    panel[p * mr + i] = v;
                }
            } else {
                for p in 0..kc {
                    // SAFETY: as above.
                    panel[p * mr + i] = unsafe { *src.add(p * a.cs) };
                }
            }
        }
        if rows < mr {
            for p in 0..kc {
                panel[p * mr + rows..(p + 1) * mr].fill(0.0);
            }
        }
    }
}

/// The micro-kernel for one vector width, shared by the AVX2 and AVX-512
/// kernels so that they differ only in their blocking (whose `mr × nr` is
/// the tile, `nr` a multiple of the vector's `w` lanes), target features,
/// types and intrinsics: it defines `BLOCKING` and `kernel` ([`Kernel`]'s
/// signature, compiled for the width's features) in the module that
/// expands it.
///
/// Loads and stores go through a `#[repr(packed)]` copy of the vector type
/// and `wrapping_add`, as `crate::vector`'s dot product does: in the
/// opt-level-1 test builds `_mm512_loadu_ps` and `ptr::add` carry
/// precondition checks whose calls force the accumulators onto the stack.
#[cfg(target_arch = "x86_64")]
macro_rules! microkernel {
    (
        $(#[$doc:meta])*
        blocking = $blocking:expr,
        features = $features:literal, requires = $requires:literal,
        vector = ($vec:ty, $w:expr),
        [$zero:path, $set1:path, $fmadd:path, $mul:path, $add:path]
    ) => {
        $(#[$doc])*
        pub(super) const BLOCKING: super::Blocking = $blocking;

        /// See [`super::Kernel`].
        ///
        /// # Safety
        ///
        #[doc = concat!("The CPU must have ", $requires, "; the pointers as `Kernel` says.")]
        #[target_feature(enable = $features)]
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
            $crate::model::sgemm::microkernel_body!(
                BLOCKING.mr,
                BLOCKING.nr / $w,
                $w,
                $vec,
                $zero,
                $set1,
                $fmadd,
                $mul,
                $add,
                (kc, a, b, c, rsc, alpha, accumulate, rows, cols)
            )
        }
    };
}
#[cfg(target_arch = "x86_64")]
use microkernel;

/// [`microkernel`]'s body, with the kernel's arguments in scope.
#[cfg(target_arch = "x86_64")]
macro_rules! microkernel_body {
    (
        $mr:expr, $nv:expr, $w:expr, $vec:ty,
        $zero:path, $set1:path, $fmadd:path, $mul:path, $add:path,
        ($kc:ident, $a:ident, $b:ident, $c:ident, $rsc:ident, $alpha:ident, $accumulate:ident, $rows:ident, $cols:ident)
    ) => {{
        const MR: usize = $mr;
        const NV: usize = $nv;
        const W: usize = $w;
        const NR: usize = NV * W;
        #[repr(C, packed)]
        #[derive(Clone, Copy)]
        struct Packed($vec);
        let mut acc = [[$zero(); NV]; MR];
        let mut pa = $a;
        let mut pb = $b;
        for _ in 0..$kc {
            let mut bv = [$zero(); NV];
            for v in 0..NV {
                bv[v] = (pb.wrapping_add(v * W) as *const Packed).read().0;
            }
            for i in 0..MR {
                let ai = $set1(pa.wrapping_add(i).read());
                for v in 0..NV {
                    acc[i][v] = $fmadd(ai, bv[v], acc[i][v]);
                }
            }
            pa = pa.wrapping_add(MR);
            pb = pb.wrapping_add(NR);
        }
        let alpha = $set1($alpha);
        if $rows == MR && $cols == NR {
            for i in 0..MR {
                for v in 0..NV {
                    let p = $c.wrapping_add(i * $rsc + v * W) as *mut Packed;
                    let mut r = $mul(acc[i][v], alpha);
                    if $accumulate {
                        r = $add(p.read().0, r);
                    }
                    p.write(Packed(r));
                }
            }
        } else {
            // An edge tile: the same products, then only the part inside C
            // is written, with the same scalar additions.
            let mut tile = [0f32; MR * NR];
            for i in 0..MR {
                for v in 0..NV {
                    let p = tile.as_mut_ptr().wrapping_add(i * NR + v * W) as *mut Packed;
                    p.write(Packed($mul(acc[i][v], alpha)));
                }
            }
            for i in 0..$rows {
                for j in 0..$cols {
                    let p = $c.wrapping_add(i * $rsc + j);
                    let t = tile[i * NR + j];
                    *p = if $accumulate { *p + t } else { t };
                }
            }
        }
    }};
}
#[cfg(target_arch = "x86_64")]
use microkernel_body;

#[cfg(test)]
mod tests;
