//! A dense layer's f32 weight packed once, when the model is loaded, into the
//! panels the micro-kernel reads, so that a call packs only its activations.
//!
//! Packing `B` per call cost every dense layer a pass over its whole weight
//! matrix (9.4 MiB for ViT-B's fc1) before the first multiply: read from
//! memory, written to a buffer, read again. With one image's 197 rows per
//! call that pass was about a tenth of the product's time, and it is what
//! kept this kernel behind OpenBLAS on one image's fc1 (issue 27). A weight
//! packed at load is read once per call, straight into the kernel.
//!
//! The layout is exactly what [`super::sgemm`]'s `pack` writes for a
//! transposed weight with `NC` covering every column: block `b` of `KC` rows
//! of `k` holds the `n` columns (rounded up to `NR`) as panels of `kc × NR`.
//! The kernel then sums the same products in the same order as the per-call
//! path (each `KC` block from zero, added to `C` in order), so the results
//! are the same bits (tested), and a row's result still does not depend on
//! the rows beside it.

use super::{pack, Blocking, Kernel, MatRef};

/// The alignment of a packed weight's first value, in `f32`s: a cache line,
/// so that no vector load of a panel straddles two lines.
const ALIGN: usize = 16;

/// A dense layer's weight (`n × k`, PyTorch's layout) packed for the kernel
/// this CPU runs.
pub struct PackedF32 {
    /// The panels, from `data[offset]` on (over-allocated by up to a cache
    /// line so that they start on one).
    data: Vec<f32>,
    offset: usize,
    n: usize,
    k: usize,
    kernel: Kernel,
    blk: Blocking,
}

impl PackedF32 {
    /// Packs `w`, `n × k` row-major, for this CPU's kernel; `None` where the
    /// CPU runs none (neither AVX2 nor AVX-512).
    ///
    /// # Panics
    ///
    /// If `w` holds fewer than `n·k` values.
    pub fn new(w: &[f32], n: usize, k: usize) -> Option<PackedF32> {
        let (kernel, blk) = super::kernel()?;
        Some(Self::with(kernel, blk, w, n, k))
    }

    /// Packs `w` for a given kernel and blocking.
    pub(super) fn with(kernel: Kernel, blk: Blocking, w: &[f32], n: usize, k: usize) -> PackedF32 {
        assert!(w.len() >= n * k, "{} values for a {n}×{k} weight", w.len());
        let n_pad = n.next_multiple_of(blk.nr);
        let mut data = vec![0f32; n_pad * k + ALIGN];
        let offset = data.as_ptr().align_offset(ALIGN * 4).min(ALIGN);
        // The weight's rows are `B`'s columns.
        let w_rows = MatRef::rows(w.as_ptr(), k);
        for pc in (0..k).step_by(blk.kc) {
            let kc = blk.kc.min(k - pc);
            let block = &mut data[offset + pc * n_pad..offset + (pc + kc) * n_pad];
            if n > 0 {
                // SAFETY: rows pc..pc + kc and columns 0..n lie inside the
                // n × k weight (asserted above), and the block holds n
                // rounded up to NR times kc values.
                unsafe { pack(block, w_rows, (0, pc), (n, kc), blk.nr) };
            }
        }
        PackedF32 {
            data,
            offset,
            n,
            k,
            kernel,
            blk,
        }
    }

    /// Output features (the weight's rows).
    pub fn n(&self) -> usize {
        self.n
    }

    /// Input features.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.data.len() * 4
    }

    fn panels(&self) -> &[f32] {
        &self.data[self.offset..self.offset + self.n.next_multiple_of(self.blk.nr) * self.k]
    }
}

/// `dst += x · wᵀ` on the calling thread: `x` is `m × k` row-major, `w`
/// packed by [`PackedF32::new`], `dst` `m × n` (it comes in holding the bias
/// rows).
///
/// # Panics
///
/// If the slices are too short for the shapes.
pub(crate) fn xwt_acc(x: &[f32], w: &PackedF32, dst: &mut [f32], m: usize) {
    let (n, k, blk) = (w.n, w.k, w.blk);
    assert!(
        x.len() >= m * k && dst.len() >= m * n,
        "packed GEMM: {} and {} values for {m}×{k} and {m}×{n}",
        x.len(),
        dst.len()
    );
    if m == 0 || n == 0 || k == 0 {
        return;
    }
    let n_pad = n.next_multiple_of(blk.nr);
    let panels = w.panels();
    let a = MatRef::rows(x.as_ptr(), k);
    super::BUFFERS.with(|cell| {
        let (mut apack, bpack) = std::mem::take(&mut *cell.borrow_mut());
        apack.resize(blk.mc.min(m.next_multiple_of(blk.mr)) * blk.kc.min(k), 0.0);
        for pc in (0..k).step_by(blk.kc) {
            let kc = blk.kc.min(k - pc);
            let block = &panels[pc * n_pad..(pc + kc) * n_pad];
            for ic in (0..m).step_by(blk.mc) {
                let mc = blk.mc.min(m - ic);
                // SAFETY: rows ic..ic + mc and columns pc..pc + kc lie inside
                // x (asserted above); the buffer holds mc rounded up to MR
                // times kc values.
                unsafe { pack(&mut apack, a, (ic, pc), (mc, kc), blk.mr) };
                for jr in (0..n).step_by(blk.nr) {
                    let nr = blk.nr.min(n - jr);
                    let bp = block[jr * kc..].as_ptr();
                    for ir in (0..mc).step_by(blk.mr) {
                        let mr = blk.mr.min(mc - ir);
                        let ap = apack[ir * kc..].as_ptr();
                        let cp = dst[(ic + ir) * n + jr..].as_mut_ptr();
                        // SAFETY: the panels hold kc steps of MR and NR
                        // values; the tile's mr × nr part lies inside dst
                        // (rows ic + ir + mr ≤ m, columns jr + nr ≤ n); the
                        // kernel is one this CPU runs (`PackedF32::new`).
                        unsafe { (w.kernel)(kc, ap, bp, cp, n, 1.0, true, mr, nr) };
                    }
                }
            }
        }
        *cell.borrow_mut() = (apack, bpack);
    });
}
