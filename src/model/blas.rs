//! The f32 matrix products of the dense layers and of attention, on the
//! fastest GEMM at hand.
//!
//! Every dense layer of a ViT is one GEMM, and on CPU they are nearly all of
//! an embedding's time (77% of a DINO forward pass sat in the GEMM's
//! micro-kernel under `perf`). Three implementations compute them:
//!
//! - artlens's own packed GEMM ([`super::sgemm`]), AVX-512 or AVX2, which
//!   needs nothing from the system;
//! - the system's OpenBLAS, loaded at run time (`dlopen` of
//!   `libopenblas.so.0`: no build-time dependency) and called through its
//!   `cblas_sgemm`, single-threaded per call because artlens splits the
//!   work across its own rayon threads;
//! - the pure-Rust `gemm` crate (candle's), the fallback on CPUs with neither
//!   AVX2 nor AVX-512.
//!
//! [`Gemm::current`] picks one once per process; `ARTLENS_BLAS=artlens`,
//! `openblas` or `gemm` forces a path (to compare them, or to rule one out;
//! an unknown value or an OpenBLAS that will not load falls back to the
//! default, and [`notice`] says so). What each runs at is measured in
//! `benches/sgemm.rs` and `docs/PERFORMANCE.md`.
//!
//! They compute the same products in a different summation order, so the
//! embeddings agree to about 1e-7 relative, well inside the parity bounds;
//! the choice is not part of the fingerprint, like the thread count.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::OnceLock;

use super::sgemm::MatRef;

/// `cblas_sgemm(order, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)`.
type CblasSgemm = unsafe extern "C" fn(
    c_int,
    c_int,
    c_int,
    c_int,
    c_int,
    c_int,
    f32,
    *const f32,
    c_int,
    *const f32,
    c_int,
    f32,
    *mut f32,
    c_int,
);

const CBLAS_ROW_MAJOR: c_int = 101;
const CBLAS_NO_TRANS: c_int = 111;
const CBLAS_TRANS: c_int = 112;

/// A loaded BLAS: its `cblas_sgemm` and where it came from.
pub(crate) struct Blas {
    sgemm: CblasSgemm,
    name: String,
}

// SAFETY: a function pointer into a library that stays loaded for the life
// of the process (it is never closed).
unsafe impl Send for Blas {}
unsafe impl Sync for Blas {}

static BLAS: OnceLock<Option<Blas>> = OnceLock::new();

/// The libraries tried, in order: Debian's and most distributions' sonames.
const LIBRARIES: [&CStr; 2] = [c"libopenblas.so.0", c"libopenblas.so"];

/// Loads the system OpenBLAS, if it has one.
fn load() -> Option<Blas> {
    #[cfg(target_os = "linux")]
    for lib in LIBRARIES {
        // SAFETY: dlopen/dlsym with NUL-terminated names; the handle is
        // never closed, so the symbols stay valid.
        unsafe {
            let handle = libc::dlopen(lib.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL);
            if handle.is_null() {
                continue;
            }
            let sym = |name: &CStr| -> *mut c_void { libc::dlsym(handle, name.as_ptr()) };
            let sgemm = sym(c"cblas_sgemm");
            if sgemm.is_null() {
                continue;
            }
            // One thread per call: the callers already run one GEMM per
            // rayon thread, and OpenBLAS's own pool would spin against them.
            let set_threads = sym(c"openblas_set_num_threads");
            if !set_threads.is_null() {
                let set: unsafe extern "C" fn(c_int) = std::mem::transmute(set_threads);
                set(1);
            }
            let config = sym(c"openblas_get_config");
            let name = if config.is_null() {
                lib.to_string_lossy().into_owned()
            } else {
                let get: unsafe extern "C" fn() -> *const c_char = std::mem::transmute(config);
                let c = get();
                if c.is_null() {
                    lib.to_string_lossy().into_owned()
                } else {
                    let config = CStr::from_ptr(c).to_string_lossy();
                    let config = config.trim();
                    if config.starts_with("OpenBLAS") {
                        config.to_string()
                    } else {
                        format!("OpenBLAS {config}")
                    }
                }
            };
            return Some(Blas {
                sgemm: std::mem::transmute::<*mut c_void, CblasSgemm>(sgemm),
                name,
            });
        }
    }
    None
}

/// Which GEMM computes a product. [`Gemm::current`] is the one the dense
/// layers use; the tests run every path on the same products.
#[derive(Clone, Copy)]
pub(crate) enum Gemm {
    /// artlens's own packed GEMM (AVX-512 or AVX2).
    Packed,
    /// The system's `cblas_sgemm`.
    System(&'static Blas),
    /// The `gemm` crate (candle's own).
    Rust,
}

/// The path's name, as benchmarks and messages show it.
impl std::fmt::Display for Gemm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Gemm::Packed => f.write_str(super::sgemm::kernel_name()),
            Gemm::System(b) => f.write_str(&b.name),
            Gemm::Rust => f.write_str("gemm (pure Rust)"),
        }
    }
}

/// The path chosen for this process, and what [`notice`] reports about it.
struct Choice {
    gemm: Gemm,
    notice: Option<String>,
}

static CHOICE: OnceLock<Choice> = OnceLock::new();

/// The system OpenBLAS, loaded at most once per process.
fn system() -> Option<&'static Blas> {
    BLAS.get_or_init(load).as_ref()
}

fn choose() -> Choice {
    let asked = std::env::var("ARTLENS_BLAS").unwrap_or_default();
    let asked = asked.trim().to_ascii_lowercase();
    let default = if super::sgemm::available() {
        Gemm::Packed
    } else {
        system().map_or(Gemm::Rust, Gemm::System)
    };
    let slow = "the dense layers run on the pure-Rust `gemm` crate, about half the speed of \
                OpenBLAS on this CPU (it has neither AVX2 nor AVX-512 for artlens's own GEMM)";
    let (gemm, notice) = match asked.as_str() {
        "" | "artlens" | "packed" => (default, None),
        "openblas" | "system" => match system() {
            Some(b) => (Gemm::System(b), None),
            None => (
                default,
                Some(format!(
                    "ARTLENS_BLAS={asked}: no OpenBLAS could be loaded (libopenblas.so.0); \
                     using {default}. Install it with `sudo apt-get install libopenblas0-pthread` \
                     (Debian/Ubuntu), or unset ARTLENS_BLAS"
                )),
            ),
        },
        "gemm" => (Gemm::Rust, None),
        other => (
            default,
            Some(format!(
                "ARTLENS_BLAS={other} is not a GEMM artlens knows (artlens, openblas, gemm); \
                 using {default}"
            )),
        ),
    };
    let notice = notice.or_else(|| {
        (matches!(gemm, Gemm::Rust) && asked != "gemm" && !super::sgemm::available())
            .then(|| format!("{slow}; install OpenBLAS to make it faster: `sudo apt-get install libopenblas0-pthread`"))
    });
    Choice { gemm, notice }
}

/// A line for the user when the dense layers run on a slower path than the
/// one asked for or the best this machine could have (an OpenBLAS asked for
/// that will not load, an unknown `ARTLENS_BLAS`, a CPU with neither AVX2 nor
/// AVX-512 and no OpenBLAS), with the one command that fixes it; `None`
/// when the path is the one expected. The library never prints: the binary
/// shows this once, before it embeds anything.
pub fn notice() -> Option<&'static str> {
    CHOICE.get_or_init(choose).notice.as_deref()
}

/// The name of the GEMM the dense layers run on (`artlens sgemm (AVX-512,
/// 12×32)`, `OpenBLAS 0.3.29 …`, `gemm (pure Rust)`), for `bench` and
/// `doctor` output.
pub fn current_name() -> String {
    Gemm::current().to_string()
}

impl Gemm {
    /// The path chosen once per process (see the module documentation).
    pub(crate) fn current() -> Gemm {
        CHOICE.get_or_init(choose).gemm
    }

    /// Every path this machine runs, the default first: what the tests and
    /// the benchmark compare.
    pub(crate) fn all() -> Vec<Gemm> {
        let mut out = Vec::new();
        if super::sgemm::available() {
            out.push(Gemm::Packed);
        }
        if let Some(b) = system() {
            out.push(Gemm::System(b));
        }
        out.push(Gemm::Rust);
        out
    }

    /// Whether a row's result is the same whatever the number of rows in
    /// the call: true of artlens's kernel only (OpenBLAS's and `gemm`'s
    /// depend on it; see `ops::linear_rows`).
    pub(crate) fn row_invariant(self) -> bool {
        matches!(self, Gemm::Packed)
    }

    /// `dst = x · wᵀ + dst` on one thread: `x` is `m×k`, `w` is `n×k`
    /// (PyTorch's weight layout), `dst` is `m×n`, all row-major and
    /// contiguous. `dst` comes in holding the bias rows.
    pub(crate) fn xwt_acc(
        self,
        x: &[f32],
        w: &[f32],
        dst: &mut [f32],
        (m, k, n): (usize, usize, usize),
    ) {
        assert!(x.len() >= m * k && w.len() >= n * k && dst.len() >= m * n);
        if m == 0 || n == 0 {
            return;
        }
        let fits = |v: usize| c_int::try_from(v).is_ok();
        match self {
            Gemm::System(b) if fits(m) && fits(n) && fits(k) && k > 0 => {
                // SAFETY: the slices hold at least the m×k, n×k and m×n values
                // the leading dimensions below address (asserted above).
                unsafe {
                    (b.sgemm)(
                        CBLAS_ROW_MAJOR,
                        CBLAS_NO_TRANS,
                        CBLAS_TRANS,
                        m as c_int,
                        n as c_int,
                        k as c_int,
                        1.0,
                        x.as_ptr(),
                        k as c_int,
                        w.as_ptr(),
                        k as c_int,
                        1.0,
                        dst.as_mut_ptr(),
                        n as c_int,
                    )
                }
            }
            // SAFETY: dst is m×n, x m×k and w n×k, all contiguous and addressed
            // with matching strides (asserted above); `Packed` is only chosen
            // where `sgemm::available()`.
            Gemm::Packed => unsafe {
                super::sgemm::sgemm(
                    (m, n, k),
                    1.0,
                    MatRef::rows(x.as_ptr(), k),
                    MatRef::rows(w.as_ptr(), k).t(),
                    1.0,
                    dst.as_mut_ptr(),
                    n,
                )
            },
            // SAFETY: as above.
            _ => unsafe {
                gemm::gemm(
                    m,
                    n,
                    k,
                    dst.as_mut_ptr(),
                    1,
                    n as isize,
                    true,
                    x.as_ptr(),
                    1,
                    k as isize,
                    w.as_ptr(),
                    k as isize,
                    1,
                    1.0,
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                )
            },
        }
    }
}

/// One row-major matrix operand: its values, the stride between rows, and
/// whether it is used transposed.
#[derive(Clone, Copy)]
pub(crate) struct Operand<'a> {
    pub(crate) values: &'a [f32],
    pub(crate) row_stride: usize,
    pub(crate) transposed: bool,
}

impl Gemm {
    /// `c = alpha · a · b` (`beta = 0`: `c` is only written) on one thread, for
    /// row-major operands with row strides (the attention's q, k and v rows
    /// inside the fused qkv output): `a` is `m×k` and `b` is `k×n` after their
    /// transpositions, `c` is `m×n` with row stride `ldc`.
    ///
    /// `c` is a pointer, not a slice, because callers on several threads write
    /// interleaved blocks of one buffer (each head's columns of the same rows):
    /// the blocks are disjoint, their extents are not.
    ///
    /// # Panics
    ///
    /// If an operand's slice is too short for its shape and stride.
    ///
    /// # Safety
    ///
    /// `c` must be valid for writes of `m` rows of `n` values at row stride
    /// `ldc`, and no other thread may access those elements meanwhile.
    #[allow(clippy::too_many_arguments)]
    pub(crate) unsafe fn strided(
        self,
        (m, n, k): (usize, usize, usize),
        alpha: f32,
        a: Operand<'_>,
        b: Operand<'_>,
        c: *mut f32,
        ldc: usize,
    ) {
        if m == 0 || n == 0 {
            return;
        }
        // Rows × columns as stored.
        let stored = |o: &Operand<'_>, rows: usize, cols: usize| {
            let (r, c) = if o.transposed {
                (cols, rows)
            } else {
                (rows, cols)
            };
            assert!(
                c <= o.row_stride || r <= 1,
                "row stride {} < {c} columns",
                o.row_stride
            );
            assert!(
                r == 0 || o.values.len() >= (r - 1) * o.row_stride + c,
                "{} values for {r}×{c} at stride {}",
                o.values.len(),
                o.row_stride
            );
        };
        stored(&a, m, k);
        stored(&b, k, n);
        assert!(ldc >= n, "c's row stride {ldc} < {n} columns");
        let fits = |v: usize| c_int::try_from(v).is_ok();
        match self {
            Gemm::System(lib)
                if k > 0
                    && [m, n, k, a.row_stride, b.row_stride, ldc]
                        .into_iter()
                        .all(fits) =>
            {
                let trans = |o: &Operand<'_>| {
                    if o.transposed {
                        CBLAS_TRANS
                    } else {
                        CBLAS_NO_TRANS
                    }
                };
                // SAFETY: the asserts above check a and b against the extent
                // their shapes and strides address; c is the caller's contract.
                unsafe {
                    (lib.sgemm)(
                        CBLAS_ROW_MAJOR,
                        trans(&a),
                        trans(&b),
                        m as c_int,
                        n as c_int,
                        k as c_int,
                        alpha,
                        a.values.as_ptr(),
                        a.row_stride as c_int,
                        b.values.as_ptr(),
                        b.row_stride as c_int,
                        0.0,
                        c,
                        ldc as c_int,
                    )
                }
            }
            Gemm::Packed => {
                let mat = |o: &Operand<'_>| {
                    let (rs, cs) = if o.transposed {
                        (1, o.row_stride)
                    } else {
                        (o.row_stride, 1)
                    };
                    MatRef {
                        ptr: o.values.as_ptr(),
                        rs,
                        cs,
                    }
                };
                // SAFETY: as for the BLAS call; `Packed` is only chosen where
                // `sgemm::available()`.
                unsafe { super::sgemm::sgemm((m, n, k), alpha, mat(&a), mat(&b), 0.0, c, ldc) }
            }
            _ => {
                // gemm's strides: (column stride, row stride) of each operand
                // as used; a transposed operand swaps them.
                let strides = |o: &Operand<'_>| -> (isize, isize) {
                    let rs = o.row_stride as isize;
                    if o.transposed {
                        (rs, 1)
                    } else {
                        (1, rs)
                    }
                };
                let (a_cs, a_rs) = strides(&a);
                let (b_cs, b_rs) = strides(&b);
                // SAFETY: as for the BLAS call.
                unsafe {
                    gemm::gemm(
                        m,
                        n,
                        k,
                        c,
                        1,
                        ldc as isize,
                        false,
                        a.values.as_ptr(),
                        a_cs,
                        a_rs,
                        b.values.as_ptr(),
                        b_cs,
                        b_rs,
                        0.0,
                        alpha,
                        false,
                        false,
                        false,
                        gemm::Parallelism::None,
                    )
                }
            }
        }
    }
}

/// The paths side by side, for `benches/sgemm.rs`: not part of the API.
#[doc(hidden)]
pub mod bench {
    use super::Gemm;

    /// The names of the paths this machine runs, the default first.
    pub fn paths() -> Vec<String> {
        Gemm::all().iter().map(|g| g.to_string()).collect()
    }

    /// `dst = x · wᵀ + dst` on path `path` (an index into [`paths`]), on
    /// the calling thread: `x` `m×k`, `w` `n×k`, `dst` `m×n`.
    ///
    /// # Panics
    ///
    /// If `path` is out of range or a slice is too short.
    pub fn xwt_acc(path: usize, x: &[f32], w: &[f32], dst: &mut [f32], mkn: (usize, usize, usize)) {
        Gemm::all()[path].xwt_acc(x, w, dst, mkn)
    }

    /// `w` (`n×k`) packed for artlens's own kernel, as the model does at
    /// load; `None` where this CPU runs none.
    pub fn pack_f32(w: &[f32], n: usize, k: usize) -> Option<crate::model::sgemm::PackedF32> {
        crate::model::sgemm::PackedF32::new(w, n, k)
    }

    /// `dst = x · wᵀ + dst` with `w` packed at load, on the calling thread.
    pub fn xwt_acc_packed(
        x: &[f32],
        w: &crate::model::sgemm::PackedF32,
        dst: &mut [f32],
        m: usize,
    ) {
        crate::model::sgemm::xwt_acc_packed(x, w, dst, m)
    }

    /// Whether this CPU runs the bf16 kernel (AVX512_BF16).
    pub fn bf16_available() -> bool {
        crate::model::sgemm::bf16::available()
    }

    /// `w` (`n×k`) converted to bf16 and packed, as the model does at load.
    pub fn pack_bf16(w: &[f32], n: usize, k: usize) -> crate::model::sgemm::bf16::PackedBf16 {
        crate::model::sgemm::bf16::PackedBf16::new(w, n, k)
    }

    /// `dst = x · wᵀ + dst` in bf16 with f32 sums, on the calling thread.
    pub fn xwt_acc_bf16(
        x: &[f32],
        w: &crate::model::sgemm::bf16::PackedBf16,
        dst: &mut [f32],
        m: usize,
    ) {
        crate::model::sgemm::bf16::xwt_acc(x, w, dst, m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(x: &[f32], w: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f64> {
        let mut out = vec![0f64; m * n];
        for i in 0..m {
            for j in 0..n {
                let dot: f64 = (0..k)
                    .map(|t| x[i * k + t] as f64 * w[j * k + t] as f64)
                    .sum();
                out[i * n + j] = dot + b[j] as f64;
            }
        }
        out
    }

    #[test]
    fn strided_products_agree_on_every_path() {
        // a: 5×3 used as is, inside rows of 7; b: stored 4×3 (rows of 6),
        // used transposed as 3×4; c: 5×4 inside rows of 9.
        let val = |i: usize| ((i * 7919 % 1000) as f32 / 500.0) - 1.0;
        let a: Vec<f32> = (0..5 * 7).map(val).collect();
        let b: Vec<f32> = (0..4 * 6).map(|i| val(i + 3)).collect();
        for path in Gemm::all() {
            let mut c = vec![f32::NAN; 5 * 9];
            // SAFETY: c holds 5 rows of 9.
            unsafe {
                path.strided(
                    (5, 4, 3),
                    0.5,
                    Operand {
                        values: &a,
                        row_stride: 7,
                        transposed: false,
                    },
                    Operand {
                        values: &b,
                        row_stride: 6,
                        transposed: true,
                    },
                    c.as_mut_ptr(),
                    9,
                );
            }
            for i in 0..5 {
                for j in 0..4 {
                    let want: f32 = 0.5 * (0..3).map(|t| a[i * 7 + t] * b[j * 6 + t]).sum::<f32>();
                    let got = c[i * 9 + j];
                    assert!((got - want).abs() < 1e-5, "c[{i},{j}] = {got}, want {want}");
                }
                assert!(c[i * 9 + 4].is_nan(), "c's padding is left alone");
            }
        }
    }

    /// Every path this machine runs (ours, the system BLAS where there is
    /// one, the `gemm` crate always) against a product in f64.
    #[test]
    fn every_gemm_path_computes_x_wt_plus_bias() {
        let (m, k, n) = (37, 70, 29);
        let val = |i: usize| ((i * 7919 % 1000) as f32 / 500.0) - 1.0;
        let x: Vec<f32> = (0..m * k).map(val).collect();
        let w: Vec<f32> = (0..n * k).map(|i| val(i + 13)).collect();
        let b: Vec<f32> = (0..n).map(|i| val(i + 101)).collect();
        let want = reference(&x, &w, &b, m, k, n);
        for path in Gemm::all() {
            let mut dst: Vec<f32> = (0..m).flat_map(|_| b.iter().copied()).collect();
            path.xwt_acc(&x, &w, &mut dst, (m, k, n));
            for (i, (&got, &want)) in dst.iter().zip(&want).enumerate() {
                assert!(
                    (got as f64 - want).abs() < 1e-4,
                    "{}: element {i}: {got} vs {want}",
                    path
                );
            }
        }
    }
}
