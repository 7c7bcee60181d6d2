//! Instruction-set selection and the register-blocked GEMM micro-kernels.
//!
//! A micro-kernel computes one `mr × nr` tile of `C = A·B` (plus an epilogue) with every
//! accumulator in a register: `mr ≤ 12` rows when the tile is at most 8 columns wide (one AVX
//! vector), `mr ≤ 6` rows when it is 16 wide (two vectors). `A` is addressed through two
//! offset lists, `A(i, p) = a[rows[i] + cols(p)]`, which lets the same kernel read a plain
//! matrix, its transpose, or the patches of an image (implicit im2col) without copying.
//! `B` is row-major with unit column stride; a partial last vector is read and written with
//! masked loads and stores, so nothing outside the operands is ever touched.
//!
//! A kernel call covers a whole panel of rows (all the tiles of one column block), so the
//! per-tile cost is a few pointer computations. Products with at most 8 columns and a tiny
//! inner dimension (`k ≤ 10`, a first convolution on one channel) use a variant that keeps all
//! of `B` in registers and walks the rows four at a time.
//!
//! Each element of `C` is accumulated over `p` in increasing order, starting from zero, and
//! only then combined with the epilogue (`C_old + acc` or `acc + bias`). Neither tiling nor the
//! kernel variant changes that order, which is what makes the results independent of how work
//! is split. The AVX2 and AVX-512VL builds run the same 256-bit instructions (the latter just
//! has 32 registers to hold them) and give the same bits; the portable build rounds each
//! multiply and add separately.

pub use crate::isa::Isa;

/// Runs `f`, compiled with AVX2 and FMA enabled when `isa` says the machine has them.
///
/// `f` and everything it calls must be `#[inline(always)]` for the wider instructions to reach
/// them; this is how the elementwise kernels (pooling, batch norm, depthwise) get vectorised.
#[inline(always)]
pub(crate) fn dispatch<R>(isa: Isa, f: impl FnOnce() -> R) -> R {
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a context only holds an instruction set listed by `Isa::supported`, which
        // checks the features.
        Isa::Avx2Fma | Isa::Avx512 => unsafe { run_avx2(f) },
        _ => f(),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// f32 lanes per vector.
pub(crate) const LANES: usize = 8;
/// The most rows a micro-kernel tile has.
pub(crate) const MAX_MR: usize = 12;

/// A list of element offsets: `at(i)` for `i < n`.
pub(crate) trait Offsets: Copy + Send + Sync {
    /// The `i`-th offset.
    fn at(self, i: usize) -> usize;
    /// An upper bound on the first `n ≥ 1` offsets.
    fn max(self, n: usize) -> usize;
    /// Panics unless the first `n` offsets exist.
    fn check_len(self, n: usize);
}

/// Offsets `start + i·step`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Lin {
    pub start: usize,
    pub step: usize,
}

impl Lin {
    pub(crate) fn new(start: usize, step: usize) -> Lin {
        Lin { start, step }
    }
}

impl Offsets for Lin {
    #[inline(always)]
    fn at(self, i: usize) -> usize {
        self.start + i * self.step
    }
    fn max(self, n: usize) -> usize {
        self.start + (n - 1) * self.step
    }
    fn check_len(self, _n: usize) {}
}

/// Offsets listed in a table, with an upper bound on them (computed once, so that the bounds
/// check of a product does not rescan the table).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Table<'a> {
    offsets: &'a [usize],
    bound: usize,
}

impl<'a> Table<'a> {
    /// A table and its largest entry.
    pub(crate) fn new(offsets: &'a [usize]) -> Table<'a> {
        Table {
            offsets,
            bound: offsets.iter().copied().max().unwrap_or(0),
        }
    }

    /// The entries `range` (still bounded by this table's bound).
    pub(crate) fn slice(self, range: std::ops::Range<usize>) -> Table<'a> {
        Table {
            offsets: &self.offsets[range],
            bound: self.bound,
        }
    }

    /// The number of entries.
    pub(crate) fn len(self) -> usize {
        self.offsets.len()
    }
}

impl Offsets for Table<'_> {
    #[inline(always)]
    fn at(self, i: usize) -> usize {
        debug_assert!(i < self.offsets.len());
        // SAFETY: callers check `check_len(n)` before reading any `i < n`.
        unsafe { *self.offsets.get_unchecked(i) }
    }
    fn max(self, n: usize) -> usize {
        debug_assert!(self.offsets[..n].iter().all(|&o| o <= self.bound));
        self.bound
    }
    fn check_len(self, n: usize) {
        assert!(
            n <= self.offsets.len(),
            "offset table holds {} entries, {n} needed",
            self.offsets.len()
        );
    }
}

/// What a tile does with its accumulators.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Epi {
    /// `C = acc`.
    Store,
    /// `C = C + acc`.
    Accumulate,
    /// `C = acc + bias[j]`; the pointer is at the tile's first column.
    Bias(*const f32),
}

/// Everything one micro-kernel call needs: a panel of `m` rows (a multiple of the kernel's
/// `MR`, starting at row `row0`) by `nr` columns. Raw pointers: the GEMM driver checks all
/// bounds once per product before calling any kernel.
pub(crate) struct TileArgs<R, C> {
    pub a: *const f32,
    pub rows: R,
    pub row0: usize,
    pub m: usize,
    pub cols: C,
    pub k: usize,
    pub b: *const f32,
    pub ldb: usize,
    /// Valid columns, `1 ..= 8·NV` (more than `8·(NV−1)`).
    pub nr: usize,
    /// The panel's first element (row `row0`, first column).
    pub c: *mut f32,
    pub ldc: usize,
    pub epi: Epi,
}

/// A monomorphised micro-kernel.
pub(crate) type TileFn<R, C> = unsafe fn(&TileArgs<R, C>);

macro_rules! pick_tile {
    ($kern:ident, $R:ty, $C:ty, $mr:expr, $nv:expr, $mask:expr; [$($a:literal)*]; [$($b:literal)*]) => {
        match ($nv, $mask, $mr) {
            $(
                (1, false, $a) => $kern::<$a, 1, false, $R, $C> as TileFn<$R, $C>,
                (1, true, $a) => $kern::<$a, 1, true, $R, $C> as TileFn<$R, $C>,
            )*
            $(
                (2, false, $b) => $kern::<$b, 2, false, $R, $C> as TileFn<$R, $C>,
                (2, true, $b) => $kern::<$b, 2, true, $R, $C> as TileFn<$R, $C>,
            )*
            (nv, _, mr) => unreachable!("no micro-kernel for {mr} rows and {nv} vectors"),
        }
    };
}

/// The micro-kernel for `mr` rows and `nv` vectors of columns, masked on the last vector when
/// `mask` is set.
pub(crate) fn select_tile<R: Offsets, C: Offsets>(
    isa: Isa,
    mr: usize,
    nv: usize,
    mask: bool,
) -> TileFn<R, C> {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2Fma => pick_tile!(avx2_tile, R, C, mr, nv, mask;
            [1 2 3 4 5 6 7 8 9 10 11 12]; [1 2 3 4 5 6]),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => pick_tile!(avx512_tile, R, C, mr, nv, mask;
            [1 2 3 4 5 6 7 8 9 10 11 12]; [1 2 3 4 5 6]),
        _ => pick_tile!(portable_tile, R, C, mr, nv, mask;
            [1 2 3 4 5 6 7 8 9 10 11 12]; [1 2 3 4 5 6]),
    }
}

/// The largest inner dimension served by the small-`k` kernels.
pub(crate) const SMALL_K: usize = 10;

macro_rules! pick_small_k {
    ($kern:ident, $R:ty, $C:ty, $k:expr, $mask:expr; [$($k_:literal)*]) => {
        match ($k, $mask) {
            $(
                ($k_, false) => Some($kern::<$k_, false, $R, $C> as TileFn<$R, $C>),
                ($k_, true) => Some($kern::<$k_, true, $R, $C> as TileFn<$R, $C>),
            )*
            _ => None,
        }
    };
}

/// For products with at most 8 columns and an inner dimension `k ≤ SMALL_K` (a first
/// convolution layer: 3×3 on one channel), a kernel that keeps all of `B` in registers and
/// walks the rows four at a time; `None` when there is none for this `k` or instruction set.
/// It adds in the same order as the general kernel, so the results are identical.
pub(crate) fn select_small_k<R: Offsets, C: Offsets>(
    isa: Isa,
    k: usize,
    mask: bool,
) -> Option<TileFn<R, C>> {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2Fma => pick_small_k!(avx2_small_k, R, C, k, mask; [1 2 3 4 5 6 7 8 9 10]),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => pick_small_k!(avx512_small_k, R, C, k, mask; [1 2 3 4 5 6 7 8 9 10]),
        _ => None,
    }
}

/// The portable micro-kernel: the same arithmetic order, separate multiply and add.
///
/// # Safety
/// `t` must describe in-bounds operands (see [`TileArgs`]).
unsafe fn portable_tile<
    const MR: usize,
    const NV: usize,
    const MASK: bool,
    R: Offsets,
    C: Offsets,
>(
    t: &TileArgs<R, C>,
) {
    let nr = t.nr;
    debug_assert!(nr <= NV * LANES && (MASK || nr == NV * LANES) && t.m % MR == 0);
    for i0 in (0..t.m).step_by(MR) {
        let rows: [usize; MR] = core::array::from_fn(|i| t.rows.at(t.row0 + i0 + i));
        let mut acc = [[0f32; 16]; MR];
        let mut bv = [0f32; 16];
        for p in 0..t.k {
            let off = t.cols.at(p);
            let bp = t.b.add(p * t.ldb);
            for (j, slot) in bv.iter_mut().enumerate().take(nr) {
                *slot = *bp.add(j);
            }
            for (row, &r) in acc.iter_mut().zip(&rows) {
                let av = *t.a.add(r + off);
                for j in 0..NV * LANES {
                    row[j] += av * bv[j];
                }
            }
        }
        for (i, row) in acc.iter().enumerate() {
            let cp = t.c.add((i0 + i) * t.ldc);
            for (j, &v) in row.iter().enumerate().take(nr) {
                let out = cp.add(j);
                *out = match t.epi {
                    Epi::Store => v,
                    Epi::Accumulate => *out + v,
                    Epi::Bias(bias) => v + *bias.add(j),
                };
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
use avx2::{avx2_small_k, avx2_tile, avx512_small_k, avx512_tile};

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{Epi, Offsets, TileArgs, LANES};
    use std::arch::x86_64::*;

    #[inline(always)]
    unsafe fn load(p: *const f32, masked: bool, mask: __m256i) -> __m256 {
        if masked {
            _mm256_maskload_ps(p, mask)
        } else {
            _mm256_loadu_ps(p)
        }
    }

    #[inline(always)]
    unsafe fn store(p: *mut f32, v: __m256, masked: bool, mask: __m256i) {
        if masked {
            _mm256_maskstore_ps(p, mask, v)
        } else {
            _mm256_storeu_ps(p, v)
        }
    }

    /// Defines the micro-kernel `$name` compiled with the target features `$features`.
    macro_rules! define_tile {
        ($name:ident, $features:literal) => {
            /// The micro-kernel, compiled once per feature set.
            ///
            /// # Safety
            /// The CPU must support the features; `t` must describe in-bounds operands.
            #[target_feature(enable = $features)]
            pub(super) unsafe fn $name<
                const MR: usize,
                const NV: usize,
                const MASK: bool,
                R: Offsets,
                C: Offsets,
            >(
                t: &TileArgs<R, C>,
            ) {
                debug_assert!(t.nr <= NV * LANES && (MASK || t.nr == NV * LANES));
                debug_assert!(t.m % MR == 0);
                let valid = (t.nr - (NV - 1) * LANES) as i32;
                let mask = _mm256_cmpgt_epi32(
                    _mm256_set1_epi32(valid),
                    _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                );
                let mut i0 = 0;
                while i0 < t.m {
                    let rows: [*const f32; MR] =
                        core::array::from_fn(|i| t.a.add(t.rows.at(t.row0 + i0 + i)));
                    let mut acc = [[_mm256_setzero_ps(); NV]; MR];
                    for p in 0..t.k {
                        let off = t.cols.at(p);
                        let bp = t.b.add(p * t.ldb);
                        let bv: [__m256; NV] = core::array::from_fn(|v| {
                            load(bp.add(v * LANES), MASK && v == NV - 1, mask)
                        });
                        for i in 0..MR {
                            let av = _mm256_broadcast_ss(&*rows[i].add(off));
                            for v in 0..NV {
                                acc[i][v] = _mm256_fmadd_ps(av, bv[v], acc[i][v]);
                            }
                        }
                    }
                    for (i, row) in acc.iter().enumerate() {
                        let cp = t.c.add((i0 + i) * t.ldc);
                        for (v, &r) in row.iter().enumerate() {
                            let masked = MASK && v == NV - 1;
                            let out = cp.add(v * LANES);
                            let r = match t.epi {
                                Epi::Store => r,
                                Epi::Accumulate => _mm256_add_ps(load(out, masked, mask), r),
                                Epi::Bias(bias) => {
                                    _mm256_add_ps(r, load(bias.add(v * LANES), masked, mask))
                                }
                            };
                            store(out, r, masked, mask);
                        }
                    }
                    i0 += MR;
                }
            }
        };
    }

    /// Defines the small-`k` kernel `$name` (see [`super::select_small_k`]) compiled with the
    /// target features `$features`: all `K` rows of `B` live in registers, rows of `A` go four
    /// at a time (a short last group recomputes its last row and stores only the live ones).
    macro_rules! define_small_k {
        ($name:ident, $features:literal) => {
            /// The small-`k` kernel, compiled once per feature set.
            ///
            /// # Safety
            /// The CPU must support the features; `t` must describe in-bounds operands with
            /// `k == K` and at most 8 columns.
            #[target_feature(enable = $features)]
            pub(super) unsafe fn $name<const K: usize, const MASK: bool, R: Offsets, C: Offsets>(
                t: &TileArgs<R, C>,
            ) {
                const MR: usize = 4;
                debug_assert!(t.k == K && t.nr <= LANES && (MASK || t.nr == LANES));
                let mask = _mm256_cmpgt_epi32(
                    _mm256_set1_epi32(t.nr as i32),
                    _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                );
                let bv: [__m256; K] =
                    core::array::from_fn(|p| load(t.b.add(p * t.ldb), MASK, mask));
                let offs: [usize; K] = core::array::from_fn(|p| t.cols.at(p));
                let bias = match t.epi {
                    Epi::Bias(bias) => load(bias, MASK, mask),
                    _ => _mm256_setzero_ps(),
                };
                let mut i0 = 0;
                while i0 < t.m {
                    let live = (t.m - i0).min(MR);
                    let rows: [*const f32; MR] =
                        core::array::from_fn(|i| t.a.add(t.rows.at(t.row0 + i0 + i.min(live - 1))));
                    let mut acc = [_mm256_setzero_ps(); MR];
                    for p in 0..K {
                        for i in 0..MR {
                            let av = _mm256_broadcast_ss(&*rows[i].add(offs[p]));
                            acc[i] = _mm256_fmadd_ps(av, bv[p], acc[i]);
                        }
                    }
                    for (i, &r) in acc.iter().enumerate().take(live) {
                        let out = t.c.add((i0 + i) * t.ldc);
                        let r = match t.epi {
                            Epi::Store => r,
                            Epi::Accumulate => _mm256_add_ps(load(out, MASK, mask), r),
                            Epi::Bias(_) => _mm256_add_ps(r, bias),
                        };
                        store(out, r, MASK, mask);
                    }
                    i0 += MR;
                }
            }
        };
    }

    define_small_k!(avx2_small_k, "avx2,fma");
    define_small_k!(avx512_small_k, "avx2,fma,avx512f,avx512vl");
    define_tile!(avx2_tile, "avx2,fma");
    define_tile!(avx512_tile, "avx2,fma,avx512f,avx512vl");
}
