//! Integer matrix kernels of the simulator: a register-tiled i16×i16→i32 GEMM for convolutions
//! and an event-driven (zero-skipping) i32 row kernel for dense layers and summed rows.
//!
//! Both compute `C = A·B` exactly: the caller guarantees (from the validated potential bounds)
//! that no sum leaves the i32 range, so the order of additions does not matter.
//!
//! The GEMM packs `B` in panels of [`NR`] output channels, each holding for every pair of input
//! rows `(2k, 2k + 1)` the interleaved pairs `(B[2k][j], B[2k+1][j])`. One `pmaddwd` then
//! multiplies a broadcast pair of `A` values with 8 such pairs and adds each product pair into
//! an i32 lane: 16 multiply-adds per instruction. An AVX2 micro-kernel does this with explicit
//! intrinsics (LLVM does not form `pmaddwd` from the portable loop); the portable kernel computes
//! the same sums and is used without AVX2 and as the test oracle.

/// Output channels per packed panel.
pub const NR: usize = 16;
/// Rows of `A` per micro-tile.
pub const MR: usize = 4;

/// Which instruction set the kernels may use, decided once at start-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// Plain Rust, vectorised by LLVM for the baseline target.
    Portable,
    /// x86-64 AVX2, detected at run time.
    #[cfg(target_arch = "x86_64")]
    Avx2,
}

impl Isa {
    /// The best instruction set of this machine.
    pub fn detect() -> Isa {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            return Isa::Avx2;
        }
        Isa::Portable
    }
}

/// Rounds `n` up to a multiple of `m`.
pub fn round_up(n: usize, m: usize) -> usize {
    n.div_ceil(m) * m
}

/// `B` (`k × n`, i8 values) packed for [`gemm`]: `panels` panels of `NR` columns, each `k2`
/// pairs of rows deep; padding rows and columns are zero.
#[derive(Clone, Debug)]
pub struct PackedB {
    k2: usize,
    panels: usize,
    data: Vec<i16>,
}

impl PackedB {
    /// Packs the `k × n` matrix whose entry `(row, col)` is `entry(row, col)`.
    pub fn new(k: usize, n: usize, entry: impl Fn(usize, usize) -> i8) -> PackedB {
        let k2 = k.div_ceil(2);
        let panels = n.div_ceil(NR);
        let mut data = vec![0i16; panels * k2 * 2 * NR];
        for p in 0..panels {
            for kk in 0..k2 {
                for j in 0..NR {
                    let col = p * NR + j;
                    if col >= n {
                        continue;
                    }
                    for half in 0..2 {
                        let row = 2 * kk + half;
                        if row < k {
                            data[((p * k2 + kk) * NR + j) * 2 + half] = i16::from(entry(row, col));
                        }
                    }
                }
            }
        }
        PackedB { k2, panels, data }
    }

    /// Depth in row pairs: `A` rows must hold `2·k2` values.
    pub fn k2(&self) -> usize {
        self.k2
    }

    /// Output width, a multiple of [`NR`].
    pub fn width(&self) -> usize {
        self.panels * NR
    }

    fn panel(&self, p: usize) -> &[i16] {
        let len = self.k2 * 2 * NR;
        &self.data[p * len..(p + 1) * len]
    }
}

/// `C[rows × b.width()] = A[rows × 2·k2] · B`, `rows` a multiple of [`MR`], `A` and `C` densely
/// packed row-major.
#[inline(always)]
pub fn gemm(isa: Isa, a: &[i16], rows: usize, b: &PackedB, c: &mut [i32]) {
    let depth = 2 * b.k2;
    assert!(
        rows % MR == 0 && a.len() >= rows * depth && c.len() >= rows * b.width(),
        "gemm operands too small: {rows} rows, a {} (depth {depth}), c {} (width {})",
        a.len(),
        c.len(),
        b.width()
    );
    match isa {
        Isa::Portable => gemm_portable(a, rows, b, c),
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa::Avx2` only comes from `Isa::detect`, which checked the CPU; the sizes
        // were asserted above.
        Isa::Avx2 => unsafe { avx2::gemm(a, rows, b, c) },
    }
}

fn gemm_portable(a: &[i16], rows: usize, b: &PackedB, c: &mut [i32]) {
    let depth = 2 * b.k2;
    let width = b.width();
    for p in 0..b.panels {
        let panel = b.panel(p);
        for r0 in (0..rows).step_by(MR) {
            let mut acc = [[0i32; NR]; MR];
            for (kk, pairs) in panel.chunks_exact(2 * NR).enumerate() {
                for (r, acc_row) in acc.iter_mut().enumerate() {
                    let row = &a[(r0 + r) * depth..];
                    let a0 = i32::from(row[2 * kk]);
                    let a1 = i32::from(row[2 * kk + 1]);
                    for (slot, pair) in acc_row.iter_mut().zip(pairs.chunks_exact(2)) {
                        *slot += a0 * i32::from(pair[0]) + a1 * i32::from(pair[1]);
                    }
                }
            }
            for (r, acc_row) in acc.iter().enumerate() {
                let start = (r0 + r) * width + p * NR;
                c[start..start + NR].copy_from_slice(acc_row);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{PackedB, MR, NR};
    use std::arch::x86_64::*;

    /// The AVX2 version of `gemm_portable`: a 4×16 tile in eight i32 registers.
    ///
    /// # Safety
    /// The CPU must support AVX2; `rows % MR == 0`, `a.len() ≥ rows·2·k2` and
    /// `c.len() ≥ rows·b.width()`.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn gemm(a: &[i16], rows: usize, b: &PackedB, c: &mut [i32]) {
        let depth = 2 * b.k2;
        let width = b.width();
        for p in 0..b.panels {
            let panel = b.panel(p).as_ptr();
            for r0 in (0..rows).step_by(MR) {
                let a_rows: [*const i16; MR] =
                    std::array::from_fn(|r| a.as_ptr().add((r0 + r) * depth));
                let mut acc = [_mm256_setzero_si256(); 2 * MR];
                for kk in 0..b.k2 {
                    let b_lo = _mm256_loadu_si256(panel.add(kk * 2 * NR) as *const __m256i);
                    let b_hi = _mm256_loadu_si256(panel.add(kk * 2 * NR + NR) as *const __m256i);
                    for r in 0..MR {
                        let pair = (a_rows[r].add(2 * kk) as *const i32).read_unaligned();
                        let av = _mm256_set1_epi32(pair);
                        acc[2 * r] = _mm256_add_epi32(acc[2 * r], _mm256_madd_epi16(av, b_lo));
                        acc[2 * r + 1] =
                            _mm256_add_epi32(acc[2 * r + 1], _mm256_madd_epi16(av, b_hi));
                    }
                }
                for r in 0..MR {
                    let out = c.as_mut_ptr().add((r0 + r) * width + p * NR);
                    _mm256_storeu_si256(out as *mut __m256i, acc[2 * r]);
                    _mm256_storeu_si256(out.add(NR / 2) as *mut __m256i, acc[2 * r + 1]);
                }
            }
        }
    }
}

/// `B` (`k × n`) as i32 rows padded to a multiple of 8 columns, for [`rows_gemm`].
#[derive(Clone, Debug)]
pub struct RowsB {
    width: usize,
    data: Vec<i32>,
}

impl RowsB {
    /// The `k × n` matrix whose entry `(row, col)` is `entry(row, col)`.
    pub fn new(k: usize, n: usize, entry: impl Fn(usize, usize) -> i8) -> RowsB {
        let width = round_up(n, 8);
        let mut data = vec![0i32; k * width];
        for row in 0..k {
            for col in 0..n {
                data[row * width + col] = i32::from(entry(row, col));
            }
        }
        RowsB { width, data }
    }

    /// Output width (columns, padded).
    pub fn width(&self) -> usize {
        self.width
    }

    /// Number of rows `k`.
    pub fn depth(&self) -> usize {
        self.data.len() / self.width
    }
}

/// `C[rows × b.width()] = A[rows × k] · B`, skipping zero entries of `A` (events): the cost is
/// proportional to the number of non-zero inputs.
#[inline(always)]
pub fn rows_gemm(a: &[i32], rows: usize, b: &RowsB, c: &mut [i32]) {
    let k = b.depth();
    let width = b.width;
    assert!(
        a.len() >= rows * k && c.len() >= rows * width,
        "rows_gemm operands too small"
    );
    for r in 0..rows {
        let out = &mut c[r * width..(r + 1) * width];
        out.fill(0);
        for (&v, weights) in a[r * k..(r + 1) * k].iter().zip(b.data.chunks_exact(width)) {
            if v != 0 {
                for (o, &w) in out.iter_mut().zip(weights) {
                    *o += v * w;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn naive(a: &[i16], rows: usize, k: usize, b: &[i8], n: usize) -> Vec<i32> {
        let mut c = vec![0i32; rows * n];
        for r in 0..rows {
            for j in 0..n {
                c[r * n + j] = (0..k)
                    .map(|i| i32::from(a[r * k + i]) * i32::from(b[i * n + j]))
                    .sum();
            }
        }
        c
    }

    #[test]
    fn gemm_kernels_agree_with_naive_product() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for (rows, k, n) in [
            (4, 1, 1),
            (8, 9, 8),
            (12, 28, 33),
            (4, 512, 48),
            (16, 27, 16),
        ] {
            let a: Vec<i16> = (0..rows * k).map(|_| rng.random_range(-300..300)).collect();
            let b: Vec<i8> = (0..k * n).map(|_| rng.random_range(-127..=127)).collect();
            let expected = naive(&a, rows, k, &b, n);
            let packed = PackedB::new(k, n, |i, j| b[i * n + j]);
            let depth = 2 * packed.k2();
            let mut a_pad = vec![0i16; rows * depth];
            for r in 0..rows {
                a_pad[r * depth..r * depth + k].copy_from_slice(&a[r * k..(r + 1) * k]);
            }
            let mut isas = vec![Isa::Portable];
            if Isa::detect() != Isa::Portable {
                isas.push(Isa::detect());
            }
            for isa in isas {
                let mut c = vec![0i32; rows * packed.width()];
                gemm(isa, &a_pad, rows, &packed, &mut c);
                for r in 0..rows {
                    assert_eq!(
                        &c[r * packed.width()..r * packed.width() + n],
                        &expected[r * n..(r + 1) * n],
                        "{isa:?} rows {rows} k {k} n {n}"
                    );
                }
            }
            let rows_b = RowsB::new(k, n, |i, j| b[i * n + j]);
            let a32: Vec<i32> = a.iter().map(|&v| i32::from(v)).collect();
            let mut c = vec![0i32; rows * rows_b.width()];
            rows_gemm(&a32, rows, &rows_b, &mut c);
            for r in 0..rows {
                let w = rows_b.width();
                assert_eq!(&c[r * w..r * w + n], &expected[r * n..(r + 1) * n]);
            }
        }
    }
}
