//! Reductions (and the gradients of the reducing ops) in TensorFlow's f32 evaluation order.
//!
//! f32 addition is not associative, so `reduce_sum`, `reduce_mean` and `reduce_std` of TF 2.x
//! (CPU, Eigen, AVX build: 8-lane packets) depend on Eigen's summation order. This module
//! reproduces that order, which makes the `std`/`std_per_axis` scale factors of the reference
//! data bit-exact (checked on every case of `tests/data/quantizers.npz`):
//!
//! * TF first collapses the reduced shape (`ReductionHelper::Simplify`): reducing every axis is a
//!   flat reduction of `len` values; reducing every axis but the last is a `rows × cols`
//!   row-major matrix reduced along its rows, which becomes a flat reduction when `cols == 1`
//!   and no reduction at all (a copy) when `rows == 1`. [`Layout`] is that collapsed view.
//! * A flat sum (`FullReducer`, one shard below ~258k values) is a tree: ranges longer than
//!   `8 · 1024` values are split at a packet-aligned midpoint, `0 + left`, then `+ right`. A
//!   leaf keeps 4 packet accumulators when it holds at least 4 packets (combined `p0 += p1`,
//!   `p0 += p2`, `p0 += p3`), adds the remaining whole packets to `p0`, sums the tail in a scalar
//!   started at 0, and returns `tail + predux(p0)` where `predux` adds lanes `i` and `i + 4`,
//!   then lanes 0+2 and 1+3, then those two.
//! * A row reduction (`InnerMostDimPreserver`) computes the columns in blocks of 8 (only while a
//!   whole block fits): with at least 16 rows, rows go round-robin into 4 packet accumulators
//!   (the rows past the last multiple of 4 into the first), combined `a0 += a1`, `+= a2`,
//!   `+= a3`; with fewer rows, one accumulator in row order. Columns past the last whole block
//!   are summed in row order from 0.
//! * A mean is that sum divided by `f32(rows)`; a population std is
//!   `sqrt(mean((x − mean(x))²))` with both means as above.
//! * Maxima and minima do not depend on the order.
//!
//! TF runs a flat sum of more than about 258k values on several threads, which changes the
//! order with the core count of the machine; the single-shard order is used for every size.
//!
//! Values are read through closures `x(i, col)` (flat index, column), so that callers can fuse
//! elementwise work into a reduction without temporaries.

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
    if layout.is_identity() {
        return (0..layout.cols).map(|c| x(c, c)).collect();
    }
    if layout.cols == 1 {
        return vec![tree_sum(0, layout.rows, x)];
    }
    sum_rows(layout, x)
}

/// `reduce_mean` in TF's order: the sum divided by `f32(rows)`.
pub(crate) fn mean<F: Fn(usize, usize) -> f32>(layout: Layout, x: &F) -> Vec<f32> {
    if layout.is_identity() {
        return sum(layout, x);
    }
    let n = layout.rows as f32;
    sum(layout, x).into_iter().map(|s| s / n).collect()
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
/// `InnerMostDimPreserver` order for whole 8-column blocks and row order for the rest.
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
            for r in end4..rows {
                row(r, &mut a0);
            }
            for p in [a1, a2, a3] {
                for (a, b) in a0.iter_mut().zip(p) {
                    *a += b;
                }
            }
        } else {
            for r in 0..rows {
                row(r, &mut a0);
            }
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
    let mean_ = mean(layout, x);
    let squared = |i: usize, c: usize| {
        let d = x(i, c) - mean_[c];
        d * d
    };
    let sigma = mean(layout, &squared).into_iter().map(f32::sqrt).collect();
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
