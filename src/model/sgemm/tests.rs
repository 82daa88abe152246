//! Each kernel this CPU runs against a product computed in f64, on shapes
//! chosen to hit every edge: single elements, partial tiles in both
//! directions, `k` across several `KC` blocks, `m` across several `MC`
//! blocks, strided and transposed operands, and both `beta`s.

use super::*;

fn val(i: usize) -> f32 {
    ((i.wrapping_mul(7919) % 1000) as f32 / 500.0) - 1.0
}

/// Runs one product on every kernel and checks it against f64.
fn check(
    (m, n, k): (usize, usize, usize),
    alpha: f32,
    beta: f32,
    a_t: bool,
    b_t: bool,
    pad: usize,
) {
    // A stored m×k (or k×m when transposed) with `pad` extra columns per row.
    let (ar, ac) = if a_t { (k, m) } else { (m, k) };
    let (br, bc) = if b_t { (n, k) } else { (k, n) };
    let (lda, ldb, ldc) = (ac + pad, bc + pad, n + pad);
    let a: Vec<f32> = (0..ar * lda).map(val).collect();
    let b: Vec<f32> = (0..br * ldb).map(|i| val(i + 17)).collect();
    let c0: Vec<f32> = (0..m * ldc).map(|i| val(i + 101)).collect();
    let at = |i: usize, p: usize| if a_t { a[p * lda + i] } else { a[i * lda + p] };
    let bt = |p: usize, j: usize| if b_t { b[j * ldb + p] } else { b[p * ldb + j] };
    let a_ref = MatRef {
        ptr: a.as_ptr(),
        rs: if a_t { 1 } else { lda },
        cs: if a_t { lda } else { 1 },
    };
    let b_ref = MatRef {
        ptr: b.as_ptr(),
        rs: if b_t { 1 } else { ldb },
        cs: if b_t { ldb } else { 1 },
    };
    let kernels = all_kernels();
    assert!(!kernels.is_empty() || !available(), "no kernel listed");
    for (name, kernel, blk) in kernels {
        let mut c = c0.clone();
        if beta == 0.0 {
            // beta = 0 must not read C: NaN there must not leak through.
            for i in 0..m {
                c[i * ldc..i * ldc + n].fill(f32::NAN);
            }
        }
        // SAFETY: the operands are addressed inside their vectors, and the
        // kernel is one this CPU runs.
        unsafe {
            sgemm_with(
                kernel,
                blk,
                (m, n, k),
                alpha,
                a_ref,
                b_ref,
                beta,
                c.as_mut_ptr(),
                ldc,
            )
        };
        for i in 0..m {
            for j in 0..n {
                let dot: f64 = (0..k).map(|p| at(i, p) as f64 * bt(p, j) as f64).sum();
                let want = alpha as f64 * dot + beta as f64 * c0[i * ldc + j] as f64;
                let got = c[i * ldc + j] as f64;
                let tol = 1e-5 * (k as f64).sqrt().max(1.0) * (1.0 + want.abs());
                assert!(
                    (got - want).abs() <= tol,
                    "{name} {m}×{n}×{k} a_t={a_t} b_t={b_t}: c[{i},{j}] = {got}, want {want}"
                );
            }
            for j in n..ldc {
                assert_eq!(
                    c[i * ldc + j].to_bits(),
                    c0[i * ldc + j].to_bits(),
                    "{name}: padding of row {i} written"
                );
            }
        }
    }
}

#[test]
fn odd_shapes_against_f64() {
    for &(m, n, k) in &[
        (1, 1, 1),
        (1, 1, 7),
        (2, 3, 1),
        (12, 32, 5),
        (13, 33, 9),
        (11, 31, 300),
        (7, 17, 513),
        (25, 65, 256),
        (150, 40, 20),
        (290, 70, 3),
        (5, 3100, 4),
    ] {
        for &(beta, a_t, b_t) in &[
            (1.0, false, true),
            (0.0, false, false),
            (0.0, true, false),
            (1.0, true, true),
        ] {
            check((m, n, k), 1.0, beta, a_t, b_t, 0);
        }
    }
}

#[test]
fn strided_operands_and_alpha() {
    check((37, 29, 70), 0.5, 0.0, false, true, 3);
    check((37, 29, 70), -2.0, 1.0, true, false, 5);
    check((200, 50, 64), 0.125, 0.0, false, false, 64);
}

#[test]
fn empty_k_scales_c() {
    for (_, kernel, blk) in all_kernels() {
        let a = [0f32; 1];
        let r = MatRef::rows(a.as_ptr(), 0);
        let mut c = vec![3f32; 6];
        // SAFETY: k = 0 reads neither operand; c holds 2 rows of 3.
        unsafe { sgemm_with(kernel, blk, (2, 3, 0), 1.0, r, r, 1.0, c.as_mut_ptr(), 3) };
        assert_eq!(c, vec![3f32; 6]);
        unsafe { sgemm_with(kernel, blk, (2, 3, 0), 1.0, r, r, 0.0, c.as_mut_ptr(), 3) };
        assert_eq!(c, vec![0f32; 6]);
    }
}

/// A row's result does not depend on how many rows the call held or where
/// the row fell in a tile: what lets the dense layers split a batch freely.
#[test]
fn a_row_is_the_same_in_any_call() {
    let (m, n, k) = (40, 45, 600);
    let a: Vec<f32> = (0..m * k).map(val).collect();
    let b: Vec<f32> = (0..n * k).map(|i| val(i + 5)).collect();
    let b_ref = MatRef::rows(b.as_ptr(), k).t();
    for (name, kernel, blk) in all_kernels() {
        let mut whole = vec![0f32; m * n];
        // SAFETY: in bounds, as above.
        unsafe {
            sgemm_with(
                kernel,
                blk,
                (m, n, k),
                1.0,
                MatRef::rows(a.as_ptr(), k),
                b_ref,
                0.0,
                whole.as_mut_ptr(),
                n,
            )
        };
        for start in [0, 3, 13, 39] {
            let rows = (m - start).min(7);
            let mut part = vec![0f32; rows * n];
            unsafe {
                sgemm_with(
                    kernel,
                    blk,
                    (rows, n, k),
                    1.0,
                    MatRef::rows(a[start * k..].as_ptr(), k),
                    b_ref,
                    0.0,
                    part.as_mut_ptr(),
                    n,
                )
            };
            for (x, y) in part.iter().zip(&whole[start * n..]) {
                assert_eq!(x.to_bits(), y.to_bits(), "{name}: rows from {start}");
            }
        }
    }
}

/// A weight packed once at load gives the same bits as the per-call path
/// (transposed `B`, `C` holding the bias, `beta = 1`) on every kernel, on
/// shapes with partial tiles, `k` across several `KC` blocks and `m` across
/// several `MC` blocks; and a row's result is the same in any call.
#[test]
fn weights_packed_at_load_give_the_per_call_bits() {
    for &(m, n, k) in &[
        (1, 1, 1),
        (13, 33, 9),
        (7, 17, 513),
        (150, 40, 20),
        (197, 70, 300),
        (300, 45, 600),
        (5, 100, 0),
    ] {
        let x: Vec<f32> = (0..m * k).map(val).collect();
        let w: Vec<f32> = (0..n * k).map(|i| val(i + 29)).collect();
        let bias: Vec<f32> = (0..n).map(|i| val(i + 3)).collect();
        for (name, kernel, blk) in all_kernels() {
            let mut want: Vec<f32> = bias.repeat(m);
            // SAFETY: x is m×k, w n×k read transposed, want m×n.
            unsafe {
                sgemm_with(
                    kernel,
                    blk,
                    (m, n, k),
                    1.0,
                    MatRef::rows(x.as_ptr(), k),
                    MatRef::rows(w.as_ptr(), k).t(),
                    1.0,
                    want.as_mut_ptr(),
                    n,
                )
            };
            let packed = PackedF32::with(kernel, blk, &w, n, k);
            assert_eq!((packed.n(), packed.k()), (n, k));
            let mut got: Vec<f32> = bias.repeat(m);
            xwt_acc_packed(&x, &packed, &mut got, m);
            for (i, (g, e)) in got.iter().zip(&want).enumerate() {
                assert_eq!(
                    g.to_bits(),
                    e.to_bits(),
                    "{name} {m}×{n}×{k}: element {i}: {g} vs {e}"
                );
            }
            if m > 10 {
                let mut part: Vec<f32> = bias.repeat(7);
                xwt_acc_packed(&x[3 * k..], &packed, &mut part, 7);
                for (g, e) in part.iter().zip(&want[3 * n..]) {
                    assert_eq!(g.to_bits(), e.to_bits(), "{name}: rows 3..10 alone");
                }
            }
        }
    }
}
