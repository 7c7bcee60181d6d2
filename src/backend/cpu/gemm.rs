//! The serial GEMM driver: splits `C (m × n) = A (m × k) · B (k × n)` into register tiles and
//! runs the micro-kernels of [`super::simd`] on them. Callers parallelise by giving disjoint
//! row ranges (or disjoint outputs) to different tasks. Also the transpose that packs a
//! kernel for the input-gradient products.

use super::simd::{
    select_small_k, select_tile, Epi, Isa, Offsets, TileArgs, LANES, MAX_MR, SMALL_K,
};

/// What to do with the product.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Epilogue<'a> {
    /// `C = A·B`.
    Store,
    /// `C = C + A·B`.
    Accumulate,
    /// `C = A·B + bias` (one bias per column).
    Bias(&'a [f32]),
}

impl Epilogue<'_> {
    /// The micro-kernels' form of this epilogue for a tile starting at column `j0`.
    fn at(self, j0: usize) -> Epi {
        match self {
            Epilogue::Store => Epi::Store,
            Epilogue::Accumulate => Epi::Accumulate,
            Epilogue::Bias(bias) => Epi::Bias(bias[j0..].as_ptr()),
        }
    }
}

/// The operands of one product. `A(i, p) = a[rows.at(i) + cols.at(p)]`; `B(p, j) =
/// b[p·ldb + j]`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Gemm<'a, R, C> {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub a: &'a [f32],
    pub rows: R,
    pub cols: C,
    pub b: &'a [f32],
    pub ldb: usize,
}

/// Computes the product into `c` (row-major, row stride `ldc`).
pub(crate) fn gemm<R: Offsets, C: Offsets>(
    isa: Isa,
    g: Gemm<'_, R, C>,
    c: &mut [f32],
    ldc: usize,
    epilogue: Epilogue<'_>,
) {
    let Gemm { m, n, k, .. } = g;
    if m == 0 || n == 0 {
        return;
    }
    assert!(
        n <= ldc,
        "gemm: {n} columns do not fit row stride {ldc} of C"
    );
    assert!(
        (m - 1) * ldc + n <= c.len(),
        "gemm: C holds {} values, {m}×{n} with stride {ldc} needed",
        c.len()
    );
    if k > 0 {
        g.rows.check_len(m);
        g.cols.check_len(k);
        assert!(
            n <= g.ldb,
            "gemm: {n} columns do not fit row stride {} of B",
            g.ldb
        );
        assert!(
            g.rows.max(m) + g.cols.max(k) < g.a.len(),
            "gemm: A offsets reach past its {} values",
            g.a.len()
        );
        assert!(
            (k - 1) * g.ldb + n <= g.b.len(),
            "gemm: B holds {} values, {k}×{n} with stride {} needed",
            g.b.len(),
            g.ldb
        );
    }
    if let Epilogue::Bias(bias) = epilogue {
        assert!(
            bias.len() >= n,
            "gemm: {} biases for {n} columns",
            bias.len()
        );
    }

    if n <= LANES && (1..=SMALL_K).contains(&k) {
        if let Some(kernel) = select_small_k::<R, C>(isa, k, n < LANES) {
            let args = TileArgs {
                a: g.a.as_ptr(),
                rows: g.rows,
                row0: 0,
                m,
                cols: g.cols,
                k,
                b: g.b.as_ptr(),
                ldb: g.ldb,
                nr: n,
                c: c.as_mut_ptr(),
                ldc,
                epi: epilogue.at(0),
            };
            // SAFETY: the asserts above bound every access of the single column block.
            unsafe { kernel(&args) };
            return;
        }
    }
    gemm_tiles(isa, g, c, ldc, epilogue);
}

/// The general path of [`gemm`]: register tiles of up to 12×8 or 6×16 (bounds already
/// checked by the caller).
fn gemm_tiles<R: Offsets, C: Offsets>(
    isa: Isa,
    g: Gemm<'_, R, C>,
    c: &mut [f32],
    ldc: usize,
    epilogue: Epilogue<'_>,
) {
    let Gemm { m, n, k, .. } = g;
    let (mr_max, nr_max) = if n > LANES {
        (6, 2 * LANES)
    } else {
        (MAX_MR, LANES)
    };
    let full = m / mr_max * mr_max;
    for j0 in (0..n).step_by(nr_max) {
        let nr = (n - j0).min(nr_max);
        let nv = nr.div_ceil(LANES);
        let epi = epilogue.at(j0);
        // The whole tiles in one call, then the leftover rows with a smaller tile.
        for (row0, rows, mr) in [(0, full, mr_max), (full, m - full, m - full)] {
            if rows == 0 {
                continue;
            }
            let kernel = select_tile::<R, C>(isa, mr, nv, nr % LANES != 0);
            let args = TileArgs {
                a: g.a.as_ptr(),
                rows: g.rows,
                row0,
                m: rows,
                cols: g.cols,
                k,
                // `wrapping_add`: with k == 0 the B offset may equal its length.
                b: g.b.as_ptr().wrapping_add(j0),
                ldb: g.ldb,
                nr,
                c: c[row0 * ldc + j0..].as_mut_ptr(),
                ldc,
                epi,
            };
            // SAFETY: the asserts above bound every A, B, C and bias access of every tile:
            // rows < m, p < k, columns < n.
            unsafe { kernel(&args) };
        }
    }
}

/// `dst = srcᵀ` for a row-major `src` of `cols` columns (`dst` row-major, `src.len() / cols`
/// columns).
pub(crate) fn transpose(src: &[f32], cols: usize, dst: &mut [f32]) {
    assert_eq!(
        src.len(),
        dst.len(),
        "transpose: {} values into {}",
        src.len(),
        dst.len()
    );
    let rows = src.len() / cols.max(1);
    for (r, line) in src.chunks_exact(cols).enumerate() {
        for (j, &v) in line.iter().enumerate() {
            dst[j * rows + r] = v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cpu::simd::{Lin, Table};

    /// The product of row-major `a (m × k)` and `b (k × n)`.
    fn row_major<'a>(
        (m, n, k): (usize, usize, usize),
        a: &'a [f32],
        b: &'a [f32],
    ) -> Gemm<'a, Lin, Lin> {
        Gemm {
            m,
            n,
            k,
            a,
            rows: Lin::new(0, k),
            cols: Lin::new(0, 1),
            b,
            ldb: n,
        }
    }

    fn naive(m: usize, n: usize, k: usize, a: &[f32], b: &[f32]) -> Vec<f64> {
        let mut c = vec![0f64; m * n];
        for i in 0..m {
            for j in 0..n {
                for p in 0..k {
                    c[i * n + j] += a[i * k + p] as f64 * b[p * n + j] as f64;
                }
            }
        }
        c
    }

    fn check(isa: Isa, m: usize, n: usize, k: usize) {
        let a: Vec<f32> = (0..m * k)
            .map(|i| ((i * 7 % 13) as f32 - 6.0) / 8.0)
            .collect();
        let b: Vec<f32> = (0..k * n)
            .map(|i| ((i * 5 % 11) as f32 - 5.0) / 4.0)
            .collect();
        let bias: Vec<f32> = (0..n).map(|j| j as f32 * 0.5).collect();
        let want = naive(m, n, k, &a, &b);
        // Row-major A through linear offsets, with a bias.
        let mut c = vec![f32::NAN; m * n];
        gemm(
            isa,
            row_major((m, n, k), &a, &b),
            &mut c,
            n,
            Epilogue::Bias(&bias),
        );
        for i in 0..m * n {
            let w = want[i] + bias[i % n] as f64;
            assert!(
                (c[i] as f64 - w).abs() < 1e-4,
                "{isa:?} {m}x{n}x{k} [{i}]: {} vs {w}",
                c[i]
            );
        }
        // The same A through tables, accumulated twice.
        let rows: Vec<usize> = (0..m).map(|i| i * k).collect();
        let cols: Vec<usize> = (0..k).collect();
        let mut c = vec![0f32; m * n];
        for _ in 0..2 {
            let g = Gemm {
                m,
                n,
                k,
                a: &a,
                rows: Table::new(&rows),
                cols: Table::new(&cols),
                b: &b,
                ldb: n,
            };
            gemm(isa, g, &mut c, n, Epilogue::Accumulate);
        }
        for i in 0..m * n {
            assert!(
                (c[i] as f64 - 2.0 * want[i]).abs() < 2e-4,
                "{isa:?} {m}x{n}x{k} acc [{i}]"
            );
        }
    }

    #[test]
    fn small_k_kernels_match_the_general_tiles_bit_for_bit() {
        for isa in Isa::supported() {
            for &(m, n, k) in &[(13, 8, 9), (7, 5, 3), (30, 8, 1)] {
                let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
                let b: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.73).cos()).collect();
                let bias: Vec<f32> = (0..n).map(|j| j as f32 * 0.1).collect();
                let g = row_major((m, n, k), &a, &b);
                let (mut fast, mut general) = (vec![0f32; m * n], vec![0f32; m * n]);
                gemm(isa, g, &mut fast, n, Epilogue::Bias(&bias));
                gemm_tiles(isa, g, &mut general, n, Epilogue::Bias(&bias));
                assert_eq!(fast, general, "{isa:?} {m}x{n}x{k}");
            }
        }
    }

    #[test]
    fn all_tile_shapes_match_naive_product() {
        for isa in Isa::supported() {
            for &(m, n, k) in &[
                (1, 1, 1),
                (13, 8, 9),
                (7, 10, 5),
                (25, 17, 3),
                (6, 16, 0),
                (12, 24, 31),
            ] {
                check(isa, m, n, k);
            }
        }
    }
}
