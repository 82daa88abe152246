//! Vector math, in one place: the dot product, L2 normalisation and the
//! checks every stored or indexed embedding passes (`check`: not empty,
//! finite, non-zero norm), the 16-bit codes the ANN graph holds
//! (`code`), and the kernels behind them, written once per instruction
//! set (`portable.rs`, `avx2.rs`, `avx512.rs`, each with the same
//! functions) and chosen by one CPU-feature check made once per process
//! (`Isa`). The model's element-wise kernels use the same check through
//! `per_isa!`. This is qdrant's `segment/src/spaces/` for artlens; it knows
//! nothing of graphs, stores or models. What the kernels gained is measured
//! in `docs/PERFORMANCE.md`.

use std::sync::atomic::{AtomicU8, Ordering};

pub(crate) mod code;
mod portable;

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;

#[cfg(test)]
mod tests;

// ----- the instruction sets ------------------------------------------------------------

/// The instruction-set tiers artlens has kernels for, narrowest first. Each
/// tier includes the ones before it: `Avx512` means AVX-512F *and* AVX2 and
/// FMA, so an AVX-512 kernel may call an AVX2 one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Level {
    /// Plain Rust, compiled for the build's baseline (SSE2 on x86-64).
    Portable,
    /// AVX2 and FMA.
    Avx2,
    /// AVX-512F, AVX2 and FMA.
    Avx512,
}

/// An instruction-set tier this CPU has been checked to run. The field is
/// private, so a value only comes from [`Isa::best`] or [`Isa::available`]:
/// that is what makes calling its kernels (compiled for those features)
/// sound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Isa(Level);

/// [`Isa::best`], once detected: 0 until then, else `Level as u8 + 1`.
static BEST: AtomicU8 = AtomicU8::new(0);

impl Isa {
    /// The widest tier this CPU runs. The CPU is asked once per process;
    /// afterwards this is one relaxed atomic load, cheap enough for every
    /// distance evaluation of a graph search.
    #[inline(always)]
    pub(crate) fn best() -> Isa {
        match BEST.load(Ordering::Relaxed) {
            1 => Isa(Level::Portable),
            2 => Isa(Level::Avx2),
            3 => Isa(Level::Avx512),
            _ => Self::detect(),
        }
    }

    #[cold]
    fn detect() -> Isa {
        let level = Self::detect_level();
        BEST.store(level as u8 + 1, Ordering::Relaxed);
        Isa(level)
    }

    fn detect_level() -> Level {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            if has!("avx2") && has!("fma") {
                return if has!("avx512f") {
                    Level::Avx512
                } else {
                    Level::Avx2
                };
            }
        }
        Level::Portable
    }

    /// Every tier this CPU runs, portable first: what the tests compare
    /// against each other.
    #[cfg(test)]
    pub(crate) fn available() -> impl Iterator<Item = Isa> {
        let best = Self::best();
        [Level::Portable, Level::Avx2, Level::Avx512]
            .into_iter()
            .map(Isa)
            .filter(move |isa| *isa <= best)
    }

    /// Which tier this is (what `per_isa!` branches on).
    #[inline(always)]
    pub(crate) fn level(self) -> Level {
        self.0
    }
}

/// The dispatch, written once: each kernel named here is a method of
/// [`Isa`] that runs that tier's function of the same name in
/// `portable.rs`, `avx2.rs` or `avx512.rs`. The methods are private to this
/// module; the rest of the crate calls the functions below, which pass
/// [`Isa::best`].
///
/// The dispatching layers (`Isa::best`, these methods, the functions that
/// call them) are `#[inline(always)]`, and the portable kernels
/// `#[inline(never)]`: the crate's own code is built at opt-level 1 outside
/// release builds, and only with both did a graph search in
/// `benches/ann.rs` run as fast as with the one-call dispatch before this
/// module (5–12% slower otherwise).
macro_rules! kernels {
    ($($(#[$meta:meta])* fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {
        impl Isa {
            $(
                $(#[$meta])*
                #[inline(always)]
                fn $name(self, $($arg: $ty),*) -> $ret {
                    match self.0 {
                        // SAFETY: an `Isa` is only made for a tier the CPU
                        // runs (see the type), and each tier's kernels are
                        // compiled for exactly its features.
                        #[cfg(target_arch = "x86_64")]
                        Level::Avx512 => unsafe { avx512::$name($($arg),*) },
                        #[cfg(target_arch = "x86_64")]
                        Level::Avx2 => unsafe { avx2::$name($($arg),*) },
                        _ => portable::$name($($arg),*),
                    }
                }
            )*
        }
    };
}

kernels! {
    /// `Σ aᵢ·bᵢ` over the common prefix, in f32.
    fn dot_f32(a: &[f32], b: &[f32]) -> f32;
    /// `Σ aᵢ·bᵢ` over the common prefix of two code rows, exact.
    fn dot_i16(a: &[i16], b: &[i16]) -> i64;
    /// `Σ qᵢ·cᵢ` of an f32 vector with a code row, in f32.
    fn dot_f32_i16(q: &[f32], c: &[i16]) -> f32;
    /// `Σ wᵢ·cᵢ` of f32 weights with bytes, in f32.
    fn dot_f32_u8(w: &[f32], c: &[u8]) -> f32;
}

/// Defines functions that run a generic, `#[inline(always)]` body compiled
/// once per instruction-set tier, choosing the widest the CPU has through
/// [`Isa::best`]: for loops written over fixed-width lane arrays, which
/// LLVM vectorises only when the function is compiled with wider features
/// (the model's exp, GELU and softmax in `model/simd.rs`).
///
/// ```ignore
/// per_isa! {
///     /// Doc of the dispatching function.
///     pub(crate) fn gelu(x: &[f32], out: &mut [f32]) => gelu_generic;
/// }
/// ```
macro_rules! per_isa {
    ($($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),*) => $generic:path;)*) => {
        $(
            $(#[$meta])*
            $vis fn $name($($arg: $ty),*) {
                #[cfg(target_arch = "x86_64")]
                {
                    #[target_feature(enable = "avx512f,avx2,fma")]
                    unsafe fn avx512($($arg: $ty),*) {
                        $generic($($arg),*)
                    }
                    #[target_feature(enable = "avx2,fma")]
                    unsafe fn avx2($($arg: $ty),*) {
                        $generic($($arg),*)
                    }
                    match $crate::vector::Isa::best().level() {
                        // SAFETY: `best` names only a tier the CPU runs,
                        // and each function is compiled for its tier.
                        $crate::vector::Level::Avx512 => return unsafe { avx512($($arg),*) },
                        $crate::vector::Level::Avx2 => return unsafe { avx2($($arg),*) },
                        $crate::vector::Level::Portable => {}
                    }
                }
                $generic($($arg),*)
            }
        )*
    };
}
pub(crate) use per_isa;

/// The body of the f32 dot product at one SIMD width, shared by the AVX2
/// and AVX-512 kernels so that they differ only in their types and
/// intrinsics: four accumulators over blocks of four vectors, one over the
/// remaining whole vectors, the accumulators summed pairwise, then reduced,
/// then the tail in scalar code. Expanded inside an `unsafe fn` compiled for
/// the width's features.
///
/// Loads go through a `#[repr(packed)]` copy of the vector type and
/// `wrapping_add`: our crate is built at opt-level 1 with debug assertions
/// in tests, where `_mm256_loadu_ps` and `ptr::add` carry precondition
/// checks, calls that forced the accumulators onto the stack at every step
/// and made this loop several times slower. Packed loads have none.
#[cfg(target_arch = "x86_64")]
macro_rules! dot_f32_body {
    ($a:ident, $b:ident, $vec:ty, $width:literal, $zero:path, $fmadd:path, $add:path, $reduce:ident $($bang:tt)?) => {{
        #[repr(C, packed)]
        #[derive(Clone, Copy)]
        struct Packed($vec);
        let n = $a.len().min($b.len());
        let (pa, pb) = ($a.as_ptr(), $b.as_ptr());
        // SAFETY (all loads): i + width ≤ n on every load, n ≤ both lengths.
        let load = |p: *const f32, i: usize| (p.wrapping_add(i) as *const Packed).read().0;
        let mut acc0 = $zero();
        let mut acc1 = $zero();
        let mut acc2 = $zero();
        let mut acc3 = $zero();
        let mut i = 0;
        while i + 4 * $width <= n {
            acc0 = $fmadd(load(pa, i), load(pb, i), acc0);
            acc1 = $fmadd(load(pa, i + $width), load(pb, i + $width), acc1);
            acc2 = $fmadd(load(pa, i + 2 * $width), load(pb, i + 2 * $width), acc2);
            acc3 = $fmadd(load(pa, i + 3 * $width), load(pb, i + 3 * $width), acc3);
            i += 4 * $width;
        }
        while i + $width <= n {
            acc0 = $fmadd(load(pa, i), load(pb, i), acc0);
            i += $width;
        }
        let acc = $add($add(acc0, acc1), $add(acc2, acc3));
        let mut sum = $reduce $($bang)? (acc);
        while i < n {
            sum += $a[i] * $b[i];
            i += 1;
        }
        sum
    }};
}
#[cfg(target_arch = "x86_64")]
use dot_f32_body;

// ----- what the crate calls ---------------------------------------------------------

/// Dot product of the common prefix of `a` and `b`, on the widest kernel
/// the CPU has: AVX-512 halves the instructions of a 768-d product against
/// AVX2+FMA and is what hnswlib uses on such CPUs; it made graph search
/// about 1.2× faster here (see `benches/ann.rs`).
#[inline(always)]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    Isa::best().dot_f32(a, b)
}

/// `Σ wᵢ·cᵢ` of f32 weights with bytes over the common prefix: the product
/// of a prepared query with a row of 8-bit codes (`ann/frozen.rs`).
#[inline(always)]
pub(crate) fn dot_bytes(w: &[f32], c: &[u8]) -> f32 {
    Isa::best().dot_f32_u8(w, c)
}

/// Why a vector cannot be stored, normalised or indexed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Invalid {
    /// It has no values.
    Empty,
    /// A NaN or an infinity, at `position`.
    NonFinite {
        /// Where the first one is.
        position: usize,
        /// What it is.
        value: f32,
    },
    /// All its values are zero (or so small that their squares sum to 0).
    ZeroNorm,
    /// It is `got` long, and the index it is meant for holds `want`-long
    /// vectors.
    Length {
        /// The vector's length.
        got: usize,
        /// The index's.
        want: usize,
    },
}

/// Written to follow "vector of id 7", "query vector" or "`hash`: `model`
/// embedding" in the callers' messages.
impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Invalid::Empty => f.write_str("is empty"),
            Invalid::NonFinite { position, value } => {
                write!(f, "has a non-finite value ({value}) at position {position}")
            }
            Invalid::ZeroNorm => f.write_str("has zero norm"),
            Invalid::Length { got, want } => {
                write!(f, "has {got} values, the index holds {want}")
            }
        }
    }
}

impl std::error::Error for Invalid {}

/// Checks what every stored or indexed vector must be: not empty, every
/// value finite, and a non-zero norm (the norm is summed in f64, so a tiny
/// but non-zero vector passes). A vector failing this would make the ANN
/// index panic or answer nonsense.
pub(crate) fn check(v: &[f32]) -> Result<(), Invalid> {
    if v.is_empty() {
        return Err(Invalid::Empty);
    }
    if let Some(position) = v.iter().position(|x| !x.is_finite()) {
        return Err(Invalid::NonFinite {
            position,
            value: v[position],
        });
    }
    let norm2: f64 = v.iter().map(|&x| (x as f64) * (x as f64)).sum();
    if norm2 == 0.0 || !norm2.is_finite() {
        return Err(Invalid::ZeroNorm);
    }
    Ok(())
}

/// An L2-normalised copy of `v`, which must be `dim` long and pass
/// `check`. The norm is accumulated in f64 so that tiny but non-zero
/// vectors still normalise.
pub fn normalised(v: &[f32], dim: usize) -> Result<Vec<f32>, Invalid> {
    let mut out = v.to_vec();
    normalise_in_place(&mut out, dim)?;
    Ok(out)
}

/// [`normalised`] without the copy.
pub(crate) fn normalise_in_place(v: &mut [f32], dim: usize) -> Result<(), Invalid> {
    if v.len() != dim {
        return Err(Invalid::Length {
            got: v.len(),
            want: dim,
        });
    }
    check(v)?;
    let norm = v
        .iter()
        .map(|&x| (x as f64) * (x as f64))
        .sum::<f64>()
        .sqrt();
    let inv = 1.0 / norm;
    for x in v.iter_mut() {
        *x = ((*x as f64) * inv) as f32;
    }
    Ok(())
}
