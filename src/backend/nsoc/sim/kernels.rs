//! Integer matrix kernels of the simulator: a register-tiled i16×i16→i32 GEMM for every
//! layer whose inputs fit i16, and an i32 row kernel for the rare others.
//!
//! Both compute `C = A·B` exactly: the caller guarantees (from the validated potential bounds)
//! that no sum leaves the i32 range, so the order of additions does not matter.
//!
//! The GEMM packs `B` in panels of 8 or 16 output channels, each holding for every pair of
//! rows `(2k, 2k + 1)` the interleaved pairs `(B[2k][j], B[2k+1][j])`. One `pmaddwd` then
//! multiplies a broadcast pair of `A` values with 8 such pairs and adds each product pair into
//! an i32 lane: 16 multiply-adds per instruction. An AVX2 micro-kernel does this with explicit
//! intrinsics (LLVM does not form `pmaddwd` from the portable loop); the portable kernel computes
//! the same sums and is used without AVX2 and as the test oracle.
//!
//! When `A` holds small non-negative values (activation levels), [`gemm_u8`] does better: one
//! `pmaddubsw` multiplies 32 u8×i8 pairs into 16 i16 sums (32 multiply-adds), accumulated in
//! i16 for as many steps as the bounds allow and then widened into i32 (`PackedB8::flush`).
//!
//! Rows of `A` are addressed, not copied ([`ARows`]): a row is `segments` runs of values at a
//! fixed stride from its start. A plain matrix has one run per row; a convolution reads its
//! `kh` kernel rows straight from the (padded) input image, one run per kernel row (implicit
//! im2col).

pub use crate::isa::Isa;

/// Rounds `n` up to a multiple of `m`.
pub fn round_up(n: usize, m: usize) -> usize {
    n.div_ceil(m) * m
}

/// `B` packed for [`gemm`]: `segments · k2` row pairs, in panels of `nr` columns (8 or 16);
/// padding rows and columns are zero.
#[derive(Clone, Debug)]
pub struct PackedB {
    /// Row pairs per segment.
    k2: usize,
    segments: usize,
    nr: usize,
    panels: usize,
    data: Vec<i16>,
}

impl PackedB {
    /// Packs `segments` stacked blocks of `len` rows by `n` columns; `entry(segment, row, col)`
    /// is the value. Each block is padded to an even number of rows.
    pub fn new(
        segments: usize,
        len: usize,
        n: usize,
        entry: impl Fn(usize, usize, usize) -> i8,
    ) -> PackedB {
        PackedB::with_panels(segments, len, n, if n <= 8 { 8 } else { 16 }, entry)
    }

    fn with_panels(
        segments: usize,
        len: usize,
        n: usize,
        nr: usize,
        entry: impl Fn(usize, usize, usize) -> i8,
    ) -> PackedB {
        let k2 = len.div_ceil(2);
        let panels = n.div_ceil(nr);
        let depth = segments * k2;
        let mut data = vec![0i16; panels * depth * 2 * nr];
        for p in 0..panels {
            for s in 0..segments {
                for kk in 0..k2 {
                    for j in 0..nr {
                        let col = p * nr + j;
                        for half in 0..2 {
                            let row = 2 * kk + half;
                            if col < n && row < len {
                                let at = (((p * depth) + s * k2 + kk) * nr + j) * 2 + half;
                                data[at] = i16::from(entry(s, row, col));
                            }
                        }
                    }
                }
            }
        }
        PackedB {
            k2,
            segments,
            nr,
            panels,
            data,
        }
    }

    /// A plain `k × n` matrix.
    pub fn matrix(k: usize, n: usize, entry: impl Fn(usize, usize) -> i8) -> PackedB {
        PackedB::new(1, k, n, |_, row, col| entry(row, col))
    }

    /// Values per row run of `A` (even).
    pub fn run_len(&self) -> usize {
        2 * self.k2
    }

    /// Output width, a multiple of 8.
    pub fn width(&self) -> usize {
        self.panels * self.nr
    }

    /// Rows of `A` must come in multiples of this.
    pub fn row_multiple(&self) -> usize {
        if self.nr == 8 {
            8
        } else {
            4
        }
    }

    fn panel(&self, p: usize) -> &[i16] {
        let len = self.segments * self.k2 * 2 * self.nr;
        &self.data[p * len..(p + 1) * len]
    }
}

/// `B` packed for [`gemm_u8`]: the layout of [`PackedB`] with 16-column panels, in i8, for `A`
/// values in `0..=max_a`.
#[derive(Clone, Debug)]
pub struct PackedB8 {
    k2: usize,
    segments: usize,
    panels: usize,
    /// Row pairs the i16 accumulators take before they must be widened.
    flush: usize,
    data: Vec<i8>,
}

impl PackedB8 {
    /// Packs like [`PackedB::new`], or `None` when the i16 arithmetic could saturate
    /// (`pmaddubsw` saturates `a0·b0 + a1·b1` to i16) for inputs up to `max_a`.
    pub fn new(
        segments: usize,
        len: usize,
        n: usize,
        max_a: u32,
        entry: impl Fn(usize, usize, usize) -> i8,
    ) -> Option<PackedB8> {
        let wide = PackedB::with_panels(segments, len, n, 16, entry);
        let max_w = wide
            .data
            .iter()
            .map(|w| w.unsigned_abs())
            .max()
            .unwrap_or(0);
        let pair = 2 * u64::from(max_a) * u64::from(max_w);
        if pair > i16::MAX as u64 {
            return None;
        }
        let flush = (i16::MAX as u64)
            .checked_div(pair)
            .map_or(usize::MAX, |f| f as usize);
        Some(PackedB8 {
            k2: wide.k2,
            segments: wide.segments,
            panels: wide.panels,
            flush,
            data: wide.data.iter().map(|&w| w as i8).collect(),
        })
    }

    /// Values per row run of `A` (even).
    pub fn run_len(&self) -> usize {
        2 * self.k2
    }

    /// Output width, a multiple of 16.
    pub fn width(&self) -> usize {
        self.panels * 16
    }

    /// Rows of `A` must come in multiples of this.
    pub fn row_multiple(&self) -> usize {
        4
    }

    fn panel(&self, p: usize) -> &[i8] {
        let len = self.segments * self.k2 * 32;
        &self.data[p * len..(p + 1) * len]
    }
}

/// Where the rows of `A` are in `data`: row `r` is `segments` runs of `run_len` values (see
/// the packed `B`), run `s` starting at `offsets[r] + s·stride`.
#[derive(Clone, Copy, Debug)]
pub struct ARows<'a, T> {
    /// The values rows are read from.
    pub data: &'a [T],
    /// Start of each row in `data`.
    pub offsets: &'a [usize],
    /// Distance between the runs of one row.
    pub stride: usize,
}

/// Checks that every row run of `a` and every output tile is in bounds.
fn check_operands<T>(
    a: &ARows<'_, T>,
    segments: usize,
    run: usize,
    multiple: usize,
    width: usize,
    c: &[i32],
) {
    let rows = a.offsets.len();
    let reach = (segments - 1) * a.stride + run;
    assert!(
        rows % multiple == 0
            && c.len() >= rows * width
            && a.offsets.iter().all(|&o| o + reach <= a.data.len()),
        "gemm operands out of bounds: {rows} rows, width {width}, c {}",
        c.len()
    );
}

/// `C[rows × b.width()] = A · B` for `A` values in `0..=max_a` of `b`, with
/// `rows = a.offsets.len()` a multiple of 4; `C` row-major.
#[inline(always)]
pub fn gemm_u8(isa: Isa, a: ARows<'_, u8>, b: &PackedB8, c: &mut [i32]) {
    check_operands(&a, b.segments, b.run_len(), b.row_multiple(), b.width(), c);
    match isa {
        Isa::Portable => gemm_u8_portable(a, b, c),
        #[cfg(target_arch = "x86_64")]
        // SAFETY: AVX2 kernels are chosen only for an `Isa` from `Isa::detect`, which checked the CPU; every row
        // run and every output tile was bounds-checked above.
        Isa::Avx2Fma | Isa::Avx512 => unsafe { avx2::gemm_u8(a, b, c) },
    }
}

fn gemm_u8_portable(a: ARows<'_, u8>, b: &PackedB8, c: &mut [i32]) {
    let width = b.width();
    for p in 0..b.panels {
        let panel = b.panel(p);
        for (r, &start) in a.offsets.iter().enumerate() {
            let mut acc = [0i32; 16];
            for (step, pairs) in panel.chunks_exact(32).enumerate() {
                let (s, kk) = (step / b.k2, step % b.k2);
                let at = start + s * a.stride + 2 * kk;
                let (a0, a1) = (i32::from(a.data[at]), i32::from(a.data[at + 1]));
                for (slot, pair) in acc.iter_mut().zip(pairs.chunks_exact(2)) {
                    *slot += a0 * i32::from(pair[0]) + a1 * i32::from(pair[1]);
                }
            }
            c[r * width + p * 16..][..16].copy_from_slice(&acc);
        }
    }
}

/// `C[rows × b.width()] = A · B` with `rows = a.offsets.len()`, a multiple of
/// [`PackedB::row_multiple`]; `C` row-major.
#[inline(always)]
pub fn gemm(isa: Isa, a: ARows<'_, i16>, b: &PackedB, c: &mut [i32]) {
    check_operands(&a, b.segments, b.run_len(), b.row_multiple(), b.width(), c);
    match isa {
        Isa::Portable => gemm_portable(a, b, c),
        #[cfg(target_arch = "x86_64")]
        // SAFETY: AVX2 kernels are chosen only for an `Isa` from `Isa::detect`, which checked the CPU; every row
        // run and every output tile was bounds-checked above.
        Isa::Avx2Fma | Isa::Avx512 => unsafe {
            match b.nr {
                8 => avx2::gemm::<1, 8>(a, b, c),
                _ => avx2::gemm::<2, 4>(a, b, c),
            }
        },
    }
}

fn gemm_portable(a: ARows<'_, i16>, b: &PackedB, c: &mut [i32]) {
    let width = b.width();
    let nr = b.nr;
    let mr = b.row_multiple();
    for p in 0..b.panels {
        let panel = b.panel(p);
        for r0 in (0..a.offsets.len()).step_by(mr) {
            let mut acc = [[0i32; 16]; 8];
            for (r, acc_row) in acc.iter_mut().enumerate().take(mr) {
                let start = a.offsets[r0 + r];
                for (step, pairs) in panel.chunks_exact(2 * nr).enumerate() {
                    let (s, kk) = (step / b.k2, step % b.k2);
                    let at = start + s * a.stride + 2 * kk;
                    let (a0, a1) = (i32::from(a.data[at]), i32::from(a.data[at + 1]));
                    for (slot, pair) in acc_row.iter_mut().zip(pairs.chunks_exact(2)) {
                        // Each pair's products fit i32; the sum wraps as the engine's does.
                        let term = a0 * i32::from(pair[0]) + a1 * i32::from(pair[1]);
                        *slot = slot.wrapping_add(term);
                    }
                }
            }
            for (r, acc_row) in acc.iter().enumerate().take(mr) {
                let start = (r0 + r) * width + p * nr;
                c[start..start + nr].copy_from_slice(&acc_row[..nr]);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{ARows, PackedB, PackedB8};
    use std::arch::x86_64::*;

    /// The AVX2 version of `gemm_u8_portable`: 4×16 tiles, `pmaddubsw` into four i16
    /// registers, widened into eight i32 registers every `b.flush` row pairs.
    ///
    /// # Safety
    /// The CPU must support AVX2 and the operands must pass the checks of `super::gemm_u8`.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn gemm_u8(a: ARows<'_, u8>, b: &PackedB8, c: &mut [i32]) {
        const MR: usize = 4;
        let width = b.width();
        for p in 0..b.panels {
            let panel = b.panel(p).as_ptr();
            for r0 in (0..a.offsets.len()).step_by(MR) {
                let starts: [*const u8; MR] =
                    std::array::from_fn(|r| a.data.as_ptr().add(a.offsets[r0 + r]));
                let mut wide = [[_mm256_setzero_si256(); 2]; MR];
                let mut narrow = [_mm256_setzero_si256(); MR];
                let mut pending = 0;
                let mut pairs = panel;
                for s in 0..b.segments {
                    let run: [*const u8; MR] = std::array::from_fn(|r| starts[r].add(s * a.stride));
                    for kk in 0..b.k2 {
                        let bv = _mm256_loadu_si256(pairs as *const __m256i);
                        pairs = pairs.add(32);
                        for r in 0..MR {
                            let pair = (run[r].add(2 * kk) as *const i16).read_unaligned();
                            let av = _mm256_set1_epi16(pair);
                            narrow[r] = _mm256_add_epi16(narrow[r], _mm256_maddubs_epi16(av, bv));
                        }
                        pending += 1;
                        if pending == b.flush {
                            widen(&mut wide, &mut narrow);
                            pending = 0;
                        }
                    }
                }
                widen(&mut wide, &mut narrow);
                for (r, row) in wide.iter().enumerate() {
                    let out = c.as_mut_ptr().add((r0 + r) * width + p * 16);
                    _mm256_storeu_si256(out as *mut __m256i, row[0]);
                    _mm256_storeu_si256(out.add(8) as *mut __m256i, row[1]);
                }
            }
        }
    }

    /// Adds the i16 sums into the i32 accumulators (lanes 0–7 and 8–15) and clears them.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn widen<const MR: usize>(wide: &mut [[__m256i; 2]; MR], narrow: &mut [__m256i; MR]) {
        for (w, n) in wide.iter_mut().zip(narrow.iter_mut()) {
            let lo = _mm256_cvtepi16_epi32(_mm256_castsi256_si128(*n));
            let hi = _mm256_cvtepi16_epi32(_mm256_extracti128_si256::<1>(*n));
            w[0] = _mm256_add_epi32(w[0], lo);
            w[1] = _mm256_add_epi32(w[1], hi);
            *n = _mm256_setzero_si256();
        }
    }

    /// The AVX2 version of `count_above` (LLVM vectorises the portable loop across rows, with
    /// costly transposes): one compare and one subtract per row.
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    #[inline]
    pub(super) unsafe fn count_above(p: &[i32; 8], bounds: &[[i32; 8]]) -> [i32; 8] {
        let pv = _mm256_loadu_si256(p.as_ptr() as *const __m256i);
        let mut count = _mm256_setzero_si256();
        for b in bounds {
            let bv = _mm256_loadu_si256(b.as_ptr() as *const __m256i);
            // The comparison gives −1 where p > b.
            count = _mm256_sub_epi32(count, _mm256_cmpgt_epi32(pv, bv));
        }
        let mut out = [0i32; 8];
        _mm256_storeu_si256(out.as_mut_ptr() as *mut __m256i, count);
        out
    }

    /// The AVX2 version of `gemm_portable`: tiles of `MR` rows by `NB·8` columns, held in
    /// `MR·NB` i32 registers.
    ///
    /// # Safety
    /// The CPU must support AVX2, `b.nr == NB·8`, `MR == b.row_multiple()`, and the operands
    /// must pass the bounds checks of `super::gemm`.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn gemm<const NB: usize, const MR: usize>(
        a: ARows<'_, i16>,
        b: &PackedB,
        c: &mut [i32],
    ) {
        let width = b.width();
        let steps = b.segments * b.k2;
        for p in 0..b.panels {
            let panel = b.panel(p).as_ptr();
            for r0 in (0..a.offsets.len()).step_by(MR) {
                let starts: [*const i16; MR] =
                    std::array::from_fn(|r| a.data.as_ptr().add(a.offsets[r0 + r]));
                let mut acc = [[_mm256_setzero_si256(); NB]; MR];
                let mut pairs = panel;
                for s in 0..b.segments {
                    let run: [*const i16; MR] =
                        std::array::from_fn(|r| starts[r].add(s * a.stride));
                    for kk in 0..b.k2 {
                        let bv: [__m256i; NB] = std::array::from_fn(|h| {
                            _mm256_loadu_si256(pairs.add(16 * h) as *const __m256i)
                        });
                        pairs = pairs.add(16 * NB);
                        for r in 0..MR {
                            let pair = (run[r].add(2 * kk) as *const i32).read_unaligned();
                            let av = _mm256_set1_epi32(pair);
                            for h in 0..NB {
                                acc[r][h] =
                                    _mm256_add_epi32(acc[r][h], _mm256_madd_epi16(av, bv[h]));
                            }
                        }
                    }
                }
                debug_assert_eq!(pairs, panel.add(steps * 16 * NB));
                for (r, row) in acc.iter().enumerate() {
                    let out = c.as_mut_ptr().add((r0 + r) * width + p * 8 * NB);
                    for (h, v) in row.iter().enumerate() {
                        _mm256_storeu_si256(out.add(8 * h) as *mut __m256i, *v);
                    }
                }
            }
        }
    }
}

/// For each lane `j`, the number of rows `b` of `bounds` with `p[j] > b[j]` (the activation
/// level, see [`Boundaries`](super::activation::Boundaries)).
#[inline(always)]
pub fn count_above(isa: Isa, p: &[i32; 8], bounds: &[[i32; 8]]) -> [i32; 8] {
    match isa {
        Isa::Portable => {
            let mut count = [0i32; 8];
            for b in bounds {
                for j in 0..8 {
                    count[j] += i32::from(p[j] > b[j]);
                }
            }
            count
        }
        #[cfg(target_arch = "x86_64")]
        // SAFETY: AVX2 kernels are chosen only for an `Isa` from `Isa::detect`, which checked the CPU.
        Isa::Avx2Fma | Isa::Avx512 => unsafe { avx2::count_above(p, bounds) },
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
        RowsB::with_width(k, n, round_up(n, 8), entry)
    }

    /// The same with rows padded to `width ≥ n` columns.
    pub fn with_width(
        k: usize,
        n: usize,
        width: usize,
        entry: impl Fn(usize, usize) -> i8,
    ) -> RowsB {
        assert!(width >= n, "row width {width} below {n} columns");
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

/// `C[rows × b.width()] = A[rows × k] · B` in i32, skipping zero entries of `A`: the cost is
/// proportional to the non-zero inputs (events), which pays for sparse inputs.
#[inline(always)]
pub fn rows_gemm<T: Copy + Into<i32>>(a: &[T], rows: usize, b: &RowsB, c: &mut [i32]) {
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
            let v: i32 = v.into();
            if v != 0 {
                for (o, &w) in out.iter_mut().zip(weights) {
                    // 32-bit wrapping, as the engine accumulates.
                    *o = o.wrapping_add(v.wrapping_mul(w));
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

    fn isas() -> Vec<Isa> {
        let mut isas = vec![Isa::Portable];
        if Isa::detect() != Isa::Portable {
            isas.push(Isa::detect());
        }
        isas
    }

    #[test]
    fn gemm_kernels_agree_with_naive_product() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for (rows, k, n) in [
            (8, 1, 1),
            (8, 9, 8),
            (12, 28, 33),
            (4, 512, 48),
            (16, 27, 16),
        ] {
            let a: Vec<i16> = (0..rows * k).map(|_| rng.random_range(-300..300)).collect();
            let b: Vec<i8> = (0..k * n).map(|_| rng.random_range(-127..=127)).collect();
            let expected = naive(&a, rows, k, &b, n);
            let packed = PackedB::matrix(k, n, |i, j| b[i * n + j]);
            let depth = packed.run_len();
            let mut a_pad = vec![0i16; rows * depth];
            for r in 0..rows {
                a_pad[r * depth..r * depth + k].copy_from_slice(&a[r * k..(r + 1) * k]);
            }
            let offsets: Vec<usize> = (0..rows).map(|r| r * depth).collect();
            let rows_a = ARows {
                data: &a_pad,
                offsets: &offsets,
                stride: 0,
            };
            for isa in isas() {
                let mut c = vec![0i32; rows * packed.width()];
                gemm(isa, rows_a, &packed, &mut c);
                for r in 0..rows {
                    assert_eq!(
                        &c[r * packed.width()..r * packed.width() + n],
                        &expected[r * n..(r + 1) * n],
                        "{isa:?} rows {rows} k {k} n {n}"
                    );
                }
            }
            // The same product through the u8 kernel, for non-negative A.
            let a8: Vec<u8> = a_pad
                .iter()
                .map(|&v| (v.unsigned_abs() % 16) as u8)
                .collect();
            let a_abs: Vec<i16> = a8.iter().map(|&v| i16::from(v)).collect();
            let packed8 = PackedB8::new(1, k, n, 15, |_, i, j| b[i * n + j]).unwrap();
            let u8_rows = ARows {
                data: &a8,
                offsets: &offsets,
                stride: 0,
            };
            for isa in isas() {
                let mut c = vec![0i32; rows * packed8.width()];
                gemm_u8(isa, u8_rows, &packed8, &mut c);
                for r in 0..rows {
                    for j in 0..n {
                        let expected: i32 = (0..k)
                            .map(|i| i32::from(a_abs[r * depth + i]) * i32::from(b[i * n + j]))
                            .sum();
                        assert_eq!(
                            c[r * packed8.width() + j],
                            expected,
                            "u8 {isa:?} k {k} n {n}"
                        );
                    }
                }
            }
            let max_w = b.iter().map(|w| u64::from(w.unsigned_abs())).max().unwrap();
            let saturating = 2 * 255 * max_w > i16::MAX as u64;
            assert_eq!(
                PackedB8::new(1, k, n, 255, |_, i, j| b[i * n + j]).is_none(),
                saturating
            );
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

    #[test]
    fn segmented_rows_read_a_convolution_in_place() {
        // A 1-D valid convolution of width 3 over 2 channels, rows addressed in the input.
        let (len, c, taps, n) = (20usize, 2usize, 3usize, 5usize);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let input: Vec<i16> = (0..len * c + 8).map(|_| rng.random_range(0..16)).collect();
        let w: Vec<i8> = (0..taps * c * n)
            .map(|_| rng.random_range(-7..=7))
            .collect();
        // Two segments: taps 0-1 then tap 2 (stride 2 pixels).
        let b = PackedB::new(2, 2 * c, n, |s, t, col| {
            let k = s * 2 * c + t;
            if k < taps * c {
                w[k * n + col]
            } else {
                0
            }
        });
        let outputs = len - taps + 1;
        let rows = round_up(outputs, b.row_multiple());
        let offsets: Vec<usize> = (0..rows).map(|x| x.min(outputs - 1) * c).collect();
        for isa in isas() {
            let mut out = vec![0i32; rows * b.width()];
            let a = ARows {
                data: &input,
                offsets: &offsets,
                stride: 2 * c,
            };
            gemm(isa, a, &b, &mut out);
            for x in 0..outputs {
                for col in 0..n {
                    let expected: i32 = (0..taps * c)
                        .map(|k| i32::from(input[x * c + k]) * i32::from(w[k * n + col]))
                        .sum();
                    assert_eq!(
                        out[x * b.width() + col],
                        expected,
                        "{isa:?} x {x} col {col}"
                    );
                }
            }
        }
    }
}
