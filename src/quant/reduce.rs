//! Reductions (and the gradients of the reducing ops) in TensorFlow's f32 evaluation order.
//!
//! f32 addition is not associative, so the results of `reduce_sum`, `reduce_mean` and
//! `reduce_std` depend on the order in which TF's CPU kernels add. This module reproduces that
//! order exactly for TF 2.19 (CPU, Eigen, AVX/AVX2 build: 8-lane `Packet8f`; an AVX-512 build
//! would use 16 lanes), which makes the `std`/`std_per_axis` scale factors bit-exact.
//! Established by reading the `Sum`/`Mean` kernels (`reduction_ops_common.h`,
//! `reduction_ops.h`) and Eigen's `TensorReduction.h`/`TensorExecutor.h`/`TensorCostModel.h` as
//! shipped in the TF wheel, and checked bit for bit against TF 2.19.1: sum, mean and std of
//! 3 744 `rows × cols` matrices (rows 1..3000, cols 1..80, three value distributions) and of
//! 171 flat tensors (1 to 400 001 values), plus flat sums up to 1.2 M values with pools of 1 to
//! 16 threads, all without a single differing bit. `tests/data/reduce/make_reduce_refs.py`
//! keeps a compact sample (`reduce_refs.npz`), checked by this module's tests and by
//! `tests/quant.rs`.
//!
//! **The ops.** `tf.math.reduce_mean` is the `Mean` kernel, `sum(x) / T(in.size() / out.size())`
//! (a true division by the f32 count of reduced values). `tf.math.reduce_std(x, axis)` is
//! `sqrt(reduce_variance)`, and `reduce_variance` is `m = reduce_mean(x, axis, keepdims=True)`,
//! `d = x − m` (broadcast), `square(d)` (`d · d`), `reduce_mean(·, axis)`: two independent
//! `Mean` reductions in the same order. CNN2SNN's `StdWeightQuantizer` calls
//! `reduce_std(w)` (every axis) and `StdPerAxisQuantizer` `reduce_std(w, tf.range(rank − 1))`.
//!
//! **The shape.** TF first simplifies the reduction (`ReductionHelper::Simplify`: size-1
//! axes dropped, adjacent axes of the same kind merged). Reducing every axis is a flat
//! reduction of `len` values; reducing every axis but the last is a row-major `rows × cols`
//! matrix reduced along axis 0, which becomes a flat reduction when `cols == 1` and a copy (no
//! arithmetic) when `rows == 1`. [`Layout`] is that collapsed view.
//!
//! **Axis 0 of a `rows × cols` matrix** (`out = in.reduce({0})`, Eigen's
//! `InnerMostDimPreserver`). The executor evaluates the output in 8-column packets while a
//! whole packet fits (columns `0 .. cols / 8 · 8`, whatever the thread split, since Eigen aligns
//! its blocks to packets) and the rest column by column:
//! * packet columns, `rows ≥ 16`: four packet accumulators from 0; rows `4k, 4k+1, 4k+2, 4k+3`
//!   (for `4k + 3 < rows / 4 · 4`) go to accumulators 0, 1, 2, 3; then `a0 += a1`, `a0 += a2`,
//!   `a0 += a3`; *then* the last `rows mod 4` rows are added to `a0` in row order;
//! * packet columns, `rows < 16`: one accumulator from 0, rows in order;
//! * the last `cols mod 8` columns: a scalar from 0, rows in order.
//!
//! Each output column is computed by one thread, so this does not depend on the thread count.
//!
//! **Flat reduction of `n` values** (`FullReducer<ThreadPoolDevice>`). Eigen's cost model picks
//! a shard count `k = min(P, max(1, ⌊(1.9375 · n − 10⁵) / 10⁵ + 0.9⌋))` (f64; 1.9375 cycles per
//! value = 4 bytes loaded at 11/64 cycle + the reducer's default functor cost 10 over 8 lanes),
//! where `P` is the size of TF's intra-op thread pool. So `n < 108 388` is always one shard,
//! `k = 2` from 108 388, 3 from 160 000, 4 from 211 613, … With `k > 1`: `b = n / k`, `k`
//! shards `[i·b, (i+1)·b)` plus, if `k · b < n`, a final shard over the rest; the result is
//! `((final + s0) + s1) + …` (`final` = 0 without a rest). Each shard (or the whole range when
//! `k = 1`) is Eigen's tree, `tree(first, m)`:
//! * `m > 8 · 1024`: split at `s = 8 · ⌈(first + ⌈m / 2⌉) / 8⌉` (packet-aligned in absolute
//!   index), `l = min(s − first, m)`; result `(0 + tree(first, l)) + tree(s, m − l)` (the
//!   right part only when `l < m`);
//! * otherwise a leaf: with `m ≥ 32`, four packet accumulators from 0 over the first
//!   `m / 32 · 32` values (packet `4j + q` into accumulator `q`), combined `p0 += p1`,
//!   `p0 += p2`, `p0 += p3`; then the remaining whole packets into `p0`; the last `m mod 8`
//!   values in a scalar from 0; result `tail + predux(p0)`, where `predux` adds lanes `i` and
//!   `i + 4` (h0..h3) and returns `(h0 + h2) + (h1 + h3)`.
//!
//! In TF, `P` is `TF_NUM_INTRAOP_THREADS` when set, otherwise the number of CPUs the process may
//! run on: for a per-tensor `std`/`mean` of 108 388 values or more, CNN2SNN's result (and so a
//! scale factor, possibly by an ulp) depends on the machine. qnnc's output must not, so
//! [`tf_pool_threads`] is 1 unless `QNNC_TF_THREADS=N` asks to reproduce a TF pool of `N`
//! threads. Per-axis reductions (every Conv/Dense kernel with more than one filter) and flat
//! reductions of fewer values never depend on it.
//!
//! Maxima and minima do not depend on the order.
//!
//! Values are read through closures `x(i, col)` (flat index, column), so that callers can fuse
//! elementwise work into a reduction without temporaries.

use std::sync::OnceLock;

/// Lanes of an Eigen AVX float packet.
pub(crate) const PACKET: usize = 8;
/// Packets per leaf of Eigen's tree reduction (`LeafSize<float>`).
const LEAF_PACKETS: usize = 1024;

/// A tensor as a reduction sees it: `rows × cols`, row-major, reduced along the rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    pub rows: usize,
    pub cols: usize,
}

impl Layout {
    /// The reduction of a quantizer over a tensor of `shape`: per last-axis index when
    /// `per_axis`, else over everything.
    pub(crate) fn of(shape: &[usize], per_axis: bool) -> Layout {
        if per_axis {
            Layout::per_axis(shape)
        } else {
            Layout::all(shape.iter().product())
        }
    }

    /// Reduce every value of a tensor of `len` elements to one.
    pub(crate) fn all(len: usize) -> Layout {
        Layout { rows: len, cols: 1 }
    }

    /// Reduce every axis but the last of a tensor of this shape (`range(rank − 1)`); a rank-0
    /// tensor is not reduced at all.
    pub(crate) fn per_axis(shape: &[usize]) -> Layout {
        let cols = shape.last().copied().unwrap_or(1);
        let len: usize = shape.iter().product();
        let rows = len.checked_div(cols).unwrap_or(0);
        Layout { rows, cols }
    }

    /// Number of values in the reduced tensor.
    pub(crate) fn len(self) -> usize {
        self.rows * self.cols
    }

    /// Whether TF treats this as "reduce nothing" (a copy).
    fn is_identity(self) -> bool {
        self.rows == 1
    }
}

/// `reduce_sum` in TF's order; one value per column.
pub(crate) fn sum<F: Fn(usize, usize) -> f32>(layout: Layout, x: &F) -> Vec<f32> {
    sum_in_pool(layout, x, tf_pool_threads())
}

/// `reduce_sum` in TF's order for an intra-op pool of `pool` threads.
pub(crate) fn sum_in_pool<F: Fn(usize, usize) -> f32>(
    layout: Layout,
    x: &F,
    pool: usize,
) -> Vec<f32> {
    if layout.is_identity() {
        return (0..layout.cols).map(|c| x(c, c)).collect();
    }
    if layout.cols == 1 {
        return vec![full_sum(layout.rows, x, pool)];
    }
    sum_rows(layout, x)
}

/// `reduce_mean` in TF's order: the sum divided by `f32(rows)`.
pub(crate) fn mean<F: Fn(usize, usize) -> f32>(layout: Layout, x: &F) -> Vec<f32> {
    mean_in_pool(layout, x, tf_pool_threads())
}

/// `reduce_mean` in TF's order for an intra-op pool of `pool` threads.
pub(crate) fn mean_in_pool<F: Fn(usize, usize) -> f32>(
    layout: Layout,
    x: &F,
    pool: usize,
) -> Vec<f32> {
    if layout.is_identity() {
        return sum_in_pool(layout, x, pool);
    }
    let n = layout.rows as f32;
    sum_in_pool(layout, x, pool)
        .into_iter()
        .map(|s| s / n)
        .collect()
}

/// The size of the TF intra-op thread pool whose flat sums qnnc reproduces: `QNNC_TF_THREADS`
/// if it holds a positive integer, else 1. Read once.
///
/// TF shards a flat sum of 108,388 values or more across its pool, whose size is the machine's
/// core count, so the same `std`/`mean` quantizer on a large per-tensor kernel can differ by an
/// ulp between machines. qnnc's outputs must not depend on the machine it runs on, so by
/// default it follows a one-thread TF; `QNNC_TF_THREADS=N` reproduces a cnn2snn run on `N`
/// cores (`docs/fidelity.md`).
pub(crate) fn tf_pool_threads() -> usize {
    static POOL: OnceLock<usize> = OnceLock::new();
    *POOL.get_or_init(|| {
        std::env::var("QNNC_TF_THREADS")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|&n| n > 0)
            .unwrap_or(1)
    })
}

/// The number of shards Eigen's `FullReducer<ThreadPoolDevice>` cuts a flat sum of `n` floats
/// into (`TensorCostModel::numThreads`, in the same f64 arithmetic), for a pool of `pool`.
pub(crate) fn full_sum_shards(n: usize, pool: usize) -> usize {
    // Cost per value: 4 bytes loaded at 11/64 cycle per byte, plus the reducer's functor cost
    // (Eigen's default of 10, `SumReducer` has no `functor_traits`) over 8 lanes.
    const LOAD_CYCLES: f64 = 1.0 / 64.0 * 11.0;
    let per_value = LOAD_CYCLES * 4.0 + LOAD_CYCLES * 0.0 + 1.0 * (10.0 / PACKET as f64);
    let cost = n as f64 * per_value;
    let threads = (cost - 100_000.0) / 100_000.0 + 0.9;
    let threads = threads.min(i32::MAX as f64) as i32;
    pool.min(threads.max(1) as usize).max(1)
}

/// Eigen's flat sum of `n` values: sharded by the cost model, each shard a tree.
fn full_sum<F: Fn(usize, usize) -> f32>(n: usize, x: &F, pool: usize) -> f32 {
    let shards = full_sum_shards(n, pool);
    if shards == 1 {
        return tree_sum(0, n, x);
    }
    let block = n / shards;
    let blocks = n / block;
    let done = blocks * block;
    let mut acc = if done < n {
        tree_sum(done, n - done, x)
    } else {
        0.0
    };
    for b in 0..blocks {
        acc += tree_sum(b * block, block, x);
    }
    acc
}

/// `reduce_max`; one value per column (`-inf` for an empty reduction).
pub(crate) fn max<F: Fn(usize, usize) -> f32>(layout: Layout, x: &F) -> Vec<f32> {
    extremum(
        layout,
        x,
        f32::NEG_INFINITY,
        |acc, v| if acc < v { v } else { acc },
    )
}

/// `reduce_min`; one value per column (`+inf` for an empty reduction).
pub(crate) fn min<F: Fn(usize, usize) -> f32>(layout: Layout, x: &F) -> Vec<f32> {
    extremum(
        layout,
        x,
        f32::INFINITY,
        |acc, v| if v < acc { v } else { acc },
    )
}

fn extremum<F: Fn(usize, usize) -> f32>(
    layout: Layout,
    x: &F,
    init: f32,
    pick: impl Fn(f32, f32) -> f32,
) -> Vec<f32> {
    let mut acc = vec![init; layout.cols];
    for r in 0..layout.rows {
        let base = r * layout.cols;
        for (c, a) in acc.iter_mut().enumerate() {
            *a = pick(*a, x(base + c, c));
        }
    }
    acc
}

/// Eigen's full reduction: a packet-aligned binary tree over leaves of `8 · 1024` values.
fn tree_sum<F: Fn(usize, usize) -> f32>(first: usize, n: usize, x: &F) -> f32 {
    if n > PACKET * LEAF_PACKETS {
        let split = PACKET * (first + n.div_ceil(2)).div_ceil(PACKET);
        let num_left = (split - first).min(n);
        let mut acc = 0.0 + tree_sum(first, num_left, x);
        if num_left < n {
            acc += tree_sum(split, n - num_left, x);
        }
        acc
    } else {
        leaf_sum(first, n, x)
    }
}

/// One leaf of Eigen's vectorised inner-most reduction (4 packet accumulators).
fn leaf_sum<F: Fn(usize, usize) -> f32>(first: usize, n: usize, x: &F) -> f32 {
    let mut p0 = [0.0f32; PACKET];
    let mut start = 0;
    if n >= 4 * PACKET {
        let mut p1 = [0.0f32; PACKET];
        let mut p2 = [0.0f32; PACKET];
        let mut p3 = [0.0f32; PACKET];
        let end4 = n / (4 * PACKET) * (4 * PACKET);
        for j in (0..end4).step_by(4 * PACKET) {
            let at = first + j;
            add_packet(&mut p0, at, x);
            add_packet(&mut p1, at + PACKET, x);
            add_packet(&mut p2, at + 2 * PACKET, x);
            add_packet(&mut p3, at + 3 * PACKET, x);
        }
        for p in [p1, p2, p3] {
            for (a, b) in p0.iter_mut().zip(p) {
                *a += b;
            }
        }
        start = end4;
    }
    if start + PACKET <= n {
        let end = n / PACKET * PACKET;
        for j in (start..end).step_by(PACKET) {
            add_packet(&mut p0, first + j, x);
        }
        start = end;
    }
    let mut tail = 0.0f32;
    for j in start..n {
        tail += x(first + j, 0);
    }
    tail + predux(p0)
}

#[inline]
fn add_packet<F: Fn(usize, usize) -> f32>(p: &mut [f32; PACKET], at: usize, x: &F) {
    for (l, a) in p.iter_mut().enumerate() {
        *a += x(at + l, 0);
    }
}

/// Horizontal sum of an AVX packet as Eigen's `predux<Packet8f>` does it.
#[inline]
fn predux(p: [f32; PACKET]) -> f32 {
    let h = [p[0] + p[4], p[1] + p[5], p[2] + p[6], p[3] + p[7]];
    (h[0] + h[2]) + (h[1] + h[3])
}

/// Sum along the rows of a `rows × cols` matrix (`rows > 1`, `cols > 1`) in Eigen's
/// `InnerMostDimPreserver` order for whole 8-column packets and row order for the rest.
fn sum_rows<F: Fn(usize, usize) -> f32>(layout: Layout, x: &F) -> Vec<f32> {
    let Layout { rows, cols } = layout;
    let mut out = vec![0.0f32; cols];
    let blocked = cols / PACKET * PACKET;
    for c0 in (0..blocked).step_by(PACKET) {
        let row = |r: usize, acc: &mut [f32; PACKET]| {
            let base = r * cols + c0;
            for (l, a) in acc.iter_mut().enumerate() {
                *a += x(base + l, c0 + l);
            }
        };
        let mut a0 = [0.0f32; PACKET];
        let mut next = 0;
        if rows >= 16 {
            let mut a1 = [0.0f32; PACKET];
            let mut a2 = [0.0f32; PACKET];
            let mut a3 = [0.0f32; PACKET];
            let end4 = rows / 4 * 4;
            for r in (0..end4).step_by(4) {
                row(r, &mut a0);
                row(r + 1, &mut a1);
                row(r + 2, &mut a2);
                row(r + 3, &mut a3);
            }
            for p in [a1, a2, a3] {
                for (a, b) in a0.iter_mut().zip(p) {
                    *a += b;
                }
            }
            next = end4;
        }
        // The rows past the unrolled part go in after the accumulators are combined.
        for r in next..rows {
            row(r, &mut a0);
        }
        out[c0..c0 + PACKET].copy_from_slice(&a0);
    }
    for (c, o) in out.iter_mut().enumerate().skip(blocked) {
        let mut acc = 0.0f32;
        for r in 0..rows {
            acc += x(r * cols + c, c);
        }
        *o = acc;
    }
    out
}

/// The parts of a population standard deviation that its gradient needs again.
#[derive(Clone, Debug)]
pub(crate) struct StdParts {
    /// `mean(x)` per column.
    pub mean: Vec<f32>,
    /// `sqrt(mean((x − mean)²))` per column.
    pub sigma: Vec<f32>,
}

/// `tf.math.reduce_std` in TF's order (population std).
pub(crate) fn std<F: Fn(usize, usize) -> f32>(layout: Layout, x: &F) -> StdParts {
    std_in_pool(layout, x, tf_pool_threads())
}

/// `tf.math.reduce_std` in TF's order for an intra-op pool of `pool` threads.
pub(crate) fn std_in_pool<F: Fn(usize, usize) -> f32>(
    layout: Layout,
    x: &F,
    pool: usize,
) -> StdParts {
    let mean_ = mean_in_pool(layout, x, pool);
    let squared = |i: usize, c: usize| {
        let d = x(i, c) - mean_[c];
        d * d
    };
    let sigma = mean_in_pool(layout, &squared, pool)
        .into_iter()
        .map(f32::sqrt)
        .collect();
    StdParts { mean: mean_, sigma }
}

/// Gradient of `reduce_std` with respect to its input, given `d_sigma` per column, as TF's
/// registered gradients compute it: `SqrtGrad` (0 where the upstream is 0, else
/// `(0.5 · g) / σ`), `MeanGrad` (`g / n`), `SquareGrad` (`g · (d · 2)`), `SubGrad` (the mean
/// gets `reduce_sum(−g)`) and the inner `MeanGrad` again. Writes `out[i] = grad_i` for every
/// element, the diff path plus the mean path.
pub(crate) fn std_vjp<F: Fn(usize, usize) -> f32>(
    layout: Layout,
    x: &F,
    parts: &StdParts,
    d_sigma: &[f32],
    out: &mut [f32],
) {
    assert_eq!(
        out.len(),
        layout.len(),
        "std gradient output must match the input size"
    );
    assert_eq!(
        d_sigma.len(),
        layout.cols,
        "std upstream must have one value per column"
    );
    let n = layout.rows as f32;
    // Gradient reaching each squared deviation (the same for a whole column).
    let g_sq: Vec<f32> = d_sigma
        .iter()
        .zip(&parts.sigma)
        .map(|(&g, &s)| {
            let g_var = if g == 0.0 { 0.0 } else { (0.5 * g) / s };
            g_var / n
        })
        .collect();
    let g_diff = |i: usize, c: usize| g_sq[c] * ((x(i, c) - parts.mean[c]) * 2.0);
    let g_mean = sum(layout, &|i, c| -g_diff(i, c));
    let g_mean_per_elem: Vec<f32> = g_mean.iter().map(|&g| g / n).collect();
    for_each_elem(layout, out, |i, c, o| {
        *o = g_diff(i, c) + g_mean_per_elem[c]
    });
}

/// Gradient of `reduce_max`/`reduce_min` (TF's `_MinOrMaxGrad`): the upstream of a column is
/// shared equally among the elements equal to the extremum, as `(indicator / count) · g`.
pub(crate) fn extremum_vjp<F: Fn(usize, usize) -> f32>(
    layout: Layout,
    x: &F,
    extreme: &[f32],
    g: &[f32],
    out: &mut [f32],
) {
    assert_eq!(
        out.len(),
        layout.len(),
        "extremum gradient output must match the input size"
    );
    let indicator = |i: usize, c: usize| if x(i, c) == extreme[c] { 1.0f32 } else { 0.0 };
    let count = sum(layout, &indicator);
    for_each_elem(layout, out, |i, c, o| {
        *o = (indicator(i, c) / count[c]) * g[c]
    });
}

/// Calls `f(flat index, column, &mut out[i])` for every element, without a division per element.
pub(crate) fn for_each_elem(
    layout: Layout,
    out: &mut [f32],
    mut f: impl FnMut(usize, usize, &mut f32),
) {
    if layout.cols == 0 {
        return;
    }
    for (r, row) in out.chunks_exact_mut(layout.cols).enumerate() {
        let base = r * layout.cols;
        for (c, o) in row.iter_mut().enumerate() {
            f(base + c, c, o);
        }
    }
}

/// Calls `f(flat index, column)` for every element in row-major order.
pub(crate) fn for_each_index(layout: Layout, mut f: impl FnMut(usize, usize)) {
    for r in 0..layout.rows {
        let base = r * layout.cols;
        for c in 0..layout.cols {
            f(base + c, c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(v: &[f32]) -> f64 {
        v.iter().map(|&x| x as f64).sum()
    }

    #[test]
    fn small_sums_are_exact_for_integers() {
        let v: Vec<f32> = (0..37).map(|i| i as f32).collect();
        let s = sum(Layout::all(v.len()), &|i, _| v[i]);
        assert_eq!(s, vec![666.0]);
    }

    #[test]
    fn tree_split_covers_every_value() {
        // Large enough for two levels of splitting; integers keep every partial sum exact.
        let n = 3 * PACKET * LEAF_PACKETS + 13;
        let v: Vec<f32> = (0..n).map(|i| (i % 7) as f32).collect();
        let s = sum(Layout::all(n), &|i, _| v[i]);
        assert_eq!(s[0] as f64, naive(&v));
    }

    #[test]
    fn row_sums_cover_blocked_and_tail_columns() {
        for (rows, cols) in [(3, 10), (20, 10), (17, 8), (2, 3), (16, 17)] {
            let v: Vec<f32> = (0..rows * cols).map(|i| (i % 5) as f32).collect();
            let got = sum(Layout { rows, cols }, &|i, _| v[i]);
            for (c, g) in got.iter().enumerate() {
                let col: Vec<f32> = (0..rows).map(|r| v[r * cols + c]).collect();
                assert_eq!(*g as f64, naive(&col), "rows {rows} cols {cols} col {c}");
            }
        }
    }

    #[test]
    fn identity_layout_copies() {
        let v = [1.5f32, -2.0, 3.25];
        let l = Layout::per_axis(&[3]);
        assert_eq!(sum(l, &|i, _| v[i]), v.to_vec());
        assert_eq!(mean(l, &|i, _| v[i]), v.to_vec());
        let parts = std(l, &|i, _| v[i]);
        assert_eq!(parts.sigma, vec![0.0; 3]);
    }

    #[test]
    fn tail_rows_come_after_the_accumulators_are_combined() {
        // 17 rows: a0 = 1e8 (row 0), a1 = 1 (row 1), the 17th row is −1e8. Eigen combines
        // first, (1e8 + 1) − 1e8 = 0; adding the 17th row to a0 first would give 1.
        let (rows, cols) = (17, 8);
        let v: Vec<f32> = (0..rows * cols)
            .map(|i| match i / cols {
                0 => 1e8,
                1 => 1.0,
                16 => -1e8,
                _ => 0.0,
            })
            .collect();
        let got = sum(Layout { rows, cols }, &|i, _| v[i]);
        assert_eq!(got, vec![0.0; cols]);
    }

    #[test]
    fn shard_counts_follow_eigens_cost_model() {
        let cases = [
            (0, 16, 1),
            (108_387, 16, 1),
            (108_388, 16, 2),
            (108_388, 1, 1),
            (159_999, 16, 2),
            (160_000, 16, 3),
            (211_612, 16, 3),
            (211_613, 16, 4),
            (263_226, 16, 5),
            (589_824, 16, 11),
            (589_824, 4, 4),
            (1_000_000, 16, 16),
            (1_000_000, 0, 1),
        ];
        for (n, pool, want) in cases {
            assert_eq!(full_sum_shards(n, pool), want, "n {n} pool {pool}");
        }
        assert!(tf_pool_threads() >= 1);
    }

    #[test]
    fn sharded_sums_cover_every_value() {
        let n = 500_003;
        let v: Vec<f32> = (0..n).map(|i| (i % 3) as f32).collect();
        for pool in [1, 2, 3, 7, 16] {
            let s = sum_in_pool(Layout::all(n), &|i, _| v[i], pool);
            assert_eq!(s[0] as f64, naive(&v), "pool {pool}");
        }
    }

    #[test]
    fn leaf_order_differs_from_sequential_order() {
        // 1 + 32 tiny values: the sequential sum loses them, the packet accumulators do not.
        let mut v = [1e-8f32; 33];
        v[0] = 1.0;
        let seq = v.iter().fold(0.0f32, |a, &b| a + b);
        let tf = sum(Layout::all(v.len()), &|i, _| v[i])[0];
        assert_eq!(seq, 1.0);
        assert!(tf > 1.0, "tf-order sum {tf} should keep the small terms");
    }
}

/// Bit-exactness against TF 2.19.1 (`tests/data/reduce/reduce_refs.npz`, made by
/// `make_reduce_refs.py`), including the flat sums TF shards over pools of 1 to 16 threads.
#[cfg(test)]
mod tf_refs {
    use super::*;
    use ndarray::{ArrayD, IxDyn};
    use ndarray_npy::NpzReader;
    use std::fs::File;

    struct Refs(NpzReader<File>);

    impl Refs {
        fn open() -> Refs {
            let path = concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/data/reduce/reduce_refs.npz"
            );
            let file = File::open(path).unwrap_or_else(|e| panic!("open {path}: {e}"));
            Refs(NpzReader::new(file).expect("a valid npz"))
        }

        fn f32(&mut self, key: &str) -> ArrayD<f32> {
            self.0
                .by_name::<ndarray::OwnedRepr<f32>, IxDyn>(key)
                .unwrap_or_else(|e| panic!("{key}: {e}"))
        }

        fn i64(&mut self, key: &str) -> Vec<i64> {
            self.0
                .by_name::<ndarray::OwnedRepr<i64>, IxDyn>(key)
                .unwrap_or_else(|e| panic!("{key}: {e}"))
                .into_iter()
                .collect()
        }

        fn has(&mut self, key: &str) -> bool {
            self.0
                .names()
                .expect("npz names")
                .iter()
                .any(|n| n == key || n.strip_suffix(".npy") == Some(key))
        }

        fn count(&mut self, prefix: &str, suffix: &str) -> usize {
            (0..)
                .take_while(|k| self.has(&format!("{prefix}{k}{suffix}")))
                .count()
        }
    }

    /// The generator of `make_reduce_refs.py` (`generated`): splitmix64 of the index.
    fn generated(n: usize, seed: u64) -> Vec<f32> {
        (0..n as u64)
            .map(|i| {
                let mut h = i.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(seed);
                h ^= h >> 30;
                h = h.wrapping_mul(0xBF58_476D_1CE4_E5B9);
                h ^= h >> 27;
                h = h.wrapping_mul(0x94D0_49BB_1331_11EB);
                h ^= h >> 31;
                let mant = h & 0x7F_FFFF;
                let exp = 121 + (h >> 23) % 13;
                let sign = u64::from((h >> 40) % 4 == 0);
                f32::from_bits(((sign << 31) | (exp << 23) | mant) as u32)
            })
            .collect()
    }

    fn bits_differ(got: &[f32], want: &ArrayD<f32>) -> Vec<usize> {
        let want: Vec<f32> = want.iter().copied().collect();
        assert_eq!(got.len(), want.len(), "result length");
        (0..got.len())
            .filter(|&i| got[i].to_bits() != want[i].to_bits())
            .collect()
    }

    /// Checks sum, mean and std of `x` in `layout` against `{key}__{prefix}{sum,mean,std}{suffix}`.
    fn check(
        z: &mut Refs,
        x: &[f32],
        layout: Layout,
        pool: usize,
        key: &str,
        (prefix, suffix): (&str, &str),
        failures: &mut Vec<String>,
    ) {
        let at = |i: usize, _: usize| x[i];
        let got = [
            ("sum", sum_in_pool(layout, &at, pool)),
            ("mean", mean_in_pool(layout, &at, pool)),
            ("std", std_in_pool(layout, &at, pool).sigma),
        ];
        for (what, v) in got {
            let name = format!("{key}__{prefix}{what}{suffix}");
            let bad = bits_differ(&v, &z.f32(&name));
            if !bad.is_empty() {
                failures.push(format!("{name} (pool {pool}): columns {bad:?}"));
            }
        }
    }

    #[test]
    fn stored_tensors_match_tf_bit_for_bit() {
        let mut z = Refs::open();
        let count = z.count("m", "__x");
        assert!(count >= 38, "only {count} stored tensors");
        let mut failures = Vec::new();
        for k in 0..count {
            let key = format!("m{k}");
            let w = z.f32(&format!("{key}__x"));
            let x: Vec<f32> = w.iter().copied().collect();
            // Below 108 388 values the pool size never matters.
            for pool in [1, 2, 16] {
                if w.ndim() > 1 {
                    let layout = Layout::per_axis(w.shape());
                    check(&mut z, &x, layout, pool, &key, ("", ""), &mut failures);
                }
                let layout = Layout::all(x.len());
                check(&mut z, &x, layout, pool, &key, ("f", ""), &mut failures);
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn generated_tensors_match_tf_for_every_pool_size() {
        let mut z = Refs::open();
        let pools = z.i64("pools");
        let count = z.count("g", "__shape");
        assert!(count >= 9, "only {count} generated tensors");
        let mut failures = Vec::new();
        for k in 0..count {
            let key = format!("g{k}");
            let shape: Vec<usize> = z
                .i64(&format!("{key}__shape"))
                .iter()
                .map(|&d| d as usize)
                .collect();
            let seed = z.i64(&format!("{key}__seed"))[0] as u64;
            let x = generated(shape.iter().product(), seed);
            if shape.len() > 1 {
                let layout = Layout::per_axis(&shape);
                check(&mut z, &x, layout, 1, &key, ("", ""), &mut failures);
            }
            for &pool in &pools {
                let pool = pool as usize;
                let suffix = format!("__p{pool}");
                let layout = Layout::all(x.len());
                check(
                    &mut z,
                    &x,
                    layout,
                    pool,
                    &key,
                    ("f", &suffix),
                    &mut failures,
                );
                // StdWeightQuantizer(threshold=3, bitwidth=4): clip(7 / (σ · 3), 0, 1000).
                let sigma = std_in_pool(layout, &|i, _| x[i], pool).sigma[0];
                let sf = (7.0 / (sigma * 3.0)).clamp(0.0, 1000.0);
                let name = format!("{key}__sf_tensor__b4_t3{suffix}");
                if !bits_differ(&[sf], &z.f32(&name)).is_empty() {
                    failures.push(format!("{name}: {sf:e}"));
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}
