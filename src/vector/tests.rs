//! Every kernel on every instruction set this CPU runs against the portable
//! one and against a sum in f64, on random vectors of every length from 0 to
//! 67: below, at and between the 8-, 16-, 32- and 64-wide steps, so that a
//! kernel that drops a tail, misreads a lane or sums an accumulator twice
//! fails here.

use super::*;

/// Deterministic values in `[-1, 1)` (xorshift64).
struct Values(u64);

impl Values {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }

    fn f32s(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.next()).collect()
    }

    /// The 16-bit codes of a random unit vector: what the code kernels are
    /// for (their `i32` lanes are exact only on such codes).
    fn codes(&mut self, n: usize) -> Vec<i16> {
        let v = self.f32s(n);
        normalised(&v, n).map_or_else(|_| vec![0; n], |u| code::encode(&u))
    }

    fn u8s(&mut self, n: usize) -> Vec<u8> {
        (0..n)
            .map(|_| ((self.next() + 1.0) * 127.9) as u8)
            .collect()
    }
}

const LENGTHS: std::ops::RangeInclusive<usize> = 0..=67;

/// Asserts `got` is `want` to f32 rounding: relative to the sum of the
/// products' magnitudes, the scale of the rounding error of any summation
/// order. A lost or doubled product is orders of magnitude larger.
fn assert_close(got: f32, want: f64, magnitude: f64, what: &str) {
    let tolerance = 1e-5 * magnitude + 1e-6;
    assert!(
        (got as f64 - want).abs() <= tolerance,
        "{what}: {got} vs {want} (tolerance {tolerance:e})"
    );
}

#[test]
fn the_best_tier_is_the_widest_available_and_detected_once() {
    let all: Vec<Isa> = Isa::available().collect();
    assert_eq!(all.first(), Some(&Isa(Level::Portable)));
    assert_eq!(all.last(), Some(&Isa::best()));
    assert_eq!(Isa::best(), Isa::best());
    assert_eq!(BEST.load(Ordering::Relaxed), Isa::best().0 as u8 + 1);
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        let avx2 = has!("avx2") && has!("fma");
        assert_eq!(all.contains(&Isa(Level::Avx2)), avx2);
        assert_eq!(all.contains(&Isa(Level::Avx512)), avx2 && has!("avx512f"));
    }
    eprintln!("tiers checked on this CPU: {all:?}");
}

#[test]
fn f32_dot_products_agree_on_every_tier() {
    let mut rng = Values(0x2545_F491_4F6C_DD1D);
    for n in LENGTHS {
        // `b` is longer: the product is over the common prefix.
        let (a, b) = (rng.f32s(n), rng.f32s(n + 3));
        let want: f64 = a.iter().zip(&b).map(|(x, y)| *x as f64 * *y as f64).sum();
        let magnitude: f64 = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (*x as f64 * *y as f64).abs())
            .sum();
        let portable = Isa(Level::Portable).dot_f32(&a, &b);
        assert_close(portable, want, magnitude, &format!("portable, n = {n}"));
        for isa in Isa::available() {
            let got = isa.dot_f32(&a, &b);
            assert_close(got, want, magnitude, &format!("{isa:?}, n = {n}"));
            assert_close(
                got,
                portable as f64,
                magnitude,
                &format!("{isa:?} vs portable, n = {n}"),
            );
            assert_eq!(
                isa.dot_f32(&b, &a).to_bits(),
                got.to_bits(),
                "{isa:?} is symmetric"
            );
        }
        assert_eq!(dot(&a, &b).to_bits(), Isa::best().dot_f32(&a, &b).to_bits());
    }
}

#[test]
fn code_dot_products_are_exact_on_every_tier() {
    let mut rng = Values(0x9E37_79B9_7F4A_7C15);
    for n in LENGTHS {
        let (a, b) = (rng.codes(n), rng.codes(n + 5));
        let want: i64 = a.iter().zip(&b).map(|(&x, &y)| x as i64 * y as i64).sum();
        for isa in Isa::available() {
            assert_eq!(isa.dot_i16(&a, &b), want, "{isa:?}, n = {n}");
        }
    }
    // The largest product a lane can see: a unit vector along one axis
    // with itself.
    let mut axis = vec![0i16; 67];
    axis[40] = 32767;
    for isa in Isa::available() {
        assert_eq!(isa.dot_i16(&axis, &axis), 32767i64 * 32767, "{isa:?}");
    }
}

/// A kernel of an f32 vector with narrower values (codes or bytes), on
/// every tier against the portable one and f64, `b` one to three values
/// longer than `a`.
fn check_mixed_kernel<T: Copy + Into<f64>>(
    seed: u64,
    mut values: impl FnMut(&mut Values, usize) -> Vec<T>,
    kernel: impl Fn(Isa, &[f32], &[T]) -> f32,
) {
    let mut rng = Values(seed);
    for n in LENGTHS {
        let (a, b) = (rng.f32s(n), values(&mut rng, n + 1 + n % 3));
        let products = a.iter().zip(&b).map(|(x, &y)| *x as f64 * y.into());
        let want: f64 = products.clone().sum();
        let magnitude: f64 = products.map(f64::abs).sum();
        let portable = kernel(Isa(Level::Portable), &a, &b);
        assert_close(portable, want, magnitude, &format!("portable, n = {n}"));
        for isa in Isa::available() {
            let got = kernel(isa, &a, &b);
            assert_close(
                got,
                portable as f64,
                magnitude,
                &format!("{isa:?}, n = {n}"),
            );
        }
    }
}

#[test]
fn query_code_products_agree_on_every_tier() {
    check_mixed_kernel(0xDEAD_BEEF_CAFE_F00D, Values::codes, |isa, q, c| {
        isa.dot_f32_i16(q, c)
    });
}

#[test]
fn byte_products_agree_on_every_tier() {
    check_mixed_kernel(0x0123_4567_89AB_CDEF, Values::u8s, |isa, w, c| {
        isa.dot_f32_u8(w, c)
    });
    let mut rng = Values(7);
    let (w, c) = (rng.f32s(67), rng.u8s(67));
    assert_eq!(
        dot_bytes(&w, &c).to_bits(),
        Isa::best().dot_f32_u8(&w, &c).to_bits()
    );
}

#[test]
fn vectors_are_checked() {
    assert_eq!(check(&[0.0, 0.0]), Err(Invalid::ZeroNorm));
    assert!(matches!(
        check(&[1.0, f32::NAN]),
        Err(Invalid::NonFinite { position: 1, .. })
    ));
    assert!(check(&[1.0, f32::INFINITY]).is_err());
    assert_eq!(check(&[]), Err(Invalid::Empty));
    assert!(check(&[1e-30, 0.0]).is_ok());
    // The messages callers put after "vector of id 7" and the like.
    assert_eq!(
        check(&[1.0, f32::INFINITY]).unwrap_err().to_string(),
        "has a non-finite value (inf) at position 1"
    );
    assert_eq!(Invalid::ZeroNorm.to_string(), "has zero norm");
    assert_eq!(
        normalised(&[1.0], 2).unwrap_err().to_string(),
        "has 1 values, the index holds 2"
    );
}

#[test]
fn normalising_gives_a_unit_vector_even_for_tiny_ones() {
    for v in [vec![3.0f32, 4.0], vec![1e-30, 0.0, 2e-30], vec![-7.5; 67]] {
        let u = normalised(&v, v.len()).unwrap();
        let norm: f64 = u.iter().map(|&x| x as f64 * x as f64).sum::<f64>().sqrt();
        assert!((norm - 1.0).abs() < 1e-6, "{v:?} → {u:?}");
    }
    assert_eq!(normalised(&[3.0, 4.0], 2).unwrap(), vec![0.6, 0.8]);
    assert_eq!(normalised(&[0.0, 0.0], 2), Err(Invalid::ZeroNorm));
}

/// The longer lengths a model's embeddings have (768), against f64, on
/// every tier.
#[test]
fn simd_dot_matches_scalar() {
    fn lcg(seed: &mut u64) -> f32 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((*seed >> 40) as f32 / (1u64 << 24) as f32) - 0.5
    }
    let mut s = 1;
    for n in [0, 1, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 768] {
        let a: Vec<f32> = (0..n).map(|_| lcg(&mut s)).collect();
        let b: Vec<f32> = (0..n).map(|_| lcg(&mut s)).collect();
        let want: f64 = a.iter().zip(&b).map(|(x, y)| *x as f64 * *y as f64).sum();
        assert!((dot(&a, &b) as f64 - want).abs() < 1e-4, "n = {n}");
        // Every kernel this CPU can run, not only the one `dot` picks.
        for isa in Isa::available() {
            let got = isa.dot_f32(&a, &b) as f64;
            assert!((got - want).abs() < 1e-4, "{isa:?}, n = {n}");
        }
    }
}
