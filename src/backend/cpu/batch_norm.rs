//! Keras `BatchNormalization` over the last axis, in inference mode (moving statistics) and
//! training mode (batch statistics and the moving-average update), forward and backward.
//!
//! Keras takes two code paths, and so does this module:
//! - **fused** (rank-4/5 input, TensorFlow's `FusedBatchNormV3`): `y = (x − μ)·(γ/√(σ²+ε)) + β`;
//!   batch mean and variance are sums times `1/n`; the moving statistics are updated *inside*
//!   the op as `(1−f)·old + f·μ` and `(1−f)·old + (f·n/(n−1))·σ²` with `f = 1 − momentum`,
//!   i.e. with the **unbiased** batch variance (Bessel's correction; tf_keras keeps it because
//!   `_bessels_correction_test_only` is set, and the kernel multiplies by
//!   `rest_size / (rest_size − 1)`);
//! - **plain** (any other rank, `tf.nn.moments` + `tf.nn.batch_normalization`):
//!   `y = x·s + (β − μ·s)` with `s = γ/√(σ²+ε)`, the **biased** batch variance, and Keras's
//!   `old − (old − value)·(1 − momentum)` moving-average update.
//!
//! The order of the f32 operations above follows those sources; the reductions themselves are
//! sequential per task and then added in task order (TensorFlow's own reduction order is not
//! reproduced).

use std::ops::Range;

use ndarray::{Array, Array1, ArrayView, ArrayView1, Dimension, Ix1};

use super::buffer::{contiguous, reshape_buffer, slice_mut, slice_of};
use super::context::Cpu;
use super::parallel::{items_per_task, map_spans, reduce_tasks, Partials};
use super::reduce::{add_centered_squares, add_column_sums, add_gradient_sums};

/// γ, β and ε of a batch normalization layer.
#[derive(Clone, Copy, Debug)]
pub struct BatchNormParams<'a> {
    pub gamma: ArrayView1<'a, f32>,
    pub beta: ArrayView1<'a, f32>,
    /// Keras `epsilon` (as f32, the way TensorFlow receives it).
    pub epsilon: f32,
}

/// Batch statistics saved by [`batch_norm_training`] for [`batch_norm_backward`], and scratch.
#[derive(Debug, Default)]
pub struct BatchNormWorkspace {
    mean: Vec<f32>,
    inv_std: Vec<f32>,
    rows: usize,
    sums: Partials,
}

/// Whether Keras would use the fused kernel for this input rank.
fn is_fused(rank: usize) -> bool {
    rank == 4 || rank == 5
}

/// The input seen as rows of channels, and as "wide rows" of several rows each (at least 64
/// values) so that per-channel loops run long enough to vectorise even for 8 channels. Any
/// element at offset `k` of a row-aligned piece belongs to channel `k mod c`, and so does wide
/// lane `k mod wide`.
#[derive(Clone, Copy, Debug)]
struct Layout {
    rows: usize,
    c: usize,
    wide: usize,
    /// Whether Keras takes the fused path (rank 4 or 5).
    fused: bool,
}

impl Layout {
    /// Checks the parameters against `shape` (channels last).
    fn new(shape: &[usize], p: &BatchNormParams<'_>) -> Layout {
        let c = *shape
            .last()
            .expect("batch_norm: input must have at least one axis");
        assert!(
            c > 0 && p.gamma.len() == c && p.beta.len() == c,
            "batch_norm: gamma/beta of {}/{} values for {c} channels",
            p.gamma.len(),
            p.beta.len()
        );
        Layout {
            rows: shape.iter().product::<usize>() / c,
            c,
            wide: (64 / c).max(1) * c,
            fused: is_fused(shape.len()),
        }
    }

    /// A per-channel vector repeated across a wide row.
    fn tile(&self, v: impl IntoIterator<Item = f32>) -> Vec<f32> {
        let v: Vec<f32> = v.into_iter().collect();
        assert_eq!(
            v.len(),
            self.c,
            "batch_norm: per-channel vector of {} values",
            v.len()
        );
        v.iter().copied().cycle().take(self.wide).collect()
    }

    /// `out[j] = Σ_r wide[r·c + j]`, sub-rows in order.
    fn fold(&self, wide: &[f32]) -> Vec<f32> {
        let mut out = wide[..self.c].to_vec();
        for sub in wide[self.c..self.wide].chunks_exact(self.c) {
            for (o, &v) in out.iter_mut().zip(sub) {
                *o += v;
            }
        }
        out
    }

    /// Runs `f(rows, out_row)` on every wide row of `out` with the rows at the same place of
    /// `inputs` (each laid out like `out`), split over the worker threads and run with the
    /// context's instruction set (`f` should be `#[inline(always)]`).
    #[inline(always)]
    fn map_rows<const N: usize, F>(&self, cx: &Cpu, inputs: [&[f32]; N], out: &mut [f32], f: F)
    where
        F: Fn([&[f32]; N], &mut [f32]) + Sync + Send,
    {
        let wide = self.wide;
        map_spans(
            cx,
            self.c,
            out,
            #[inline(always)]
            |first, out| {
                for (r, row) in out.chunks_mut(wide).enumerate() {
                    let at = first + r * wide;
                    f(inputs.map(|s| &s[at..at + row.len()]), row);
                }
            },
        );
    }

    /// Per-channel reduction over all rows: `f(span, acc)` adds the elements `span` into wide
    /// accumulators (`width` of them per wide lane block); returns the folded totals, one
    /// block of `c` per block of `wide`.
    fn reduce<F>(&self, cx: &Cpu, blocks: usize, ws: &mut BatchNormWorkspace, f: F) -> Vec<Vec<f32>>
    where
        F: Fn(Range<usize>, &mut [f32]) + Sync + Send,
    {
        let (m, c) = (self.rows, self.c);
        let per = items_per_task(m, c);
        reduce_tasks(
            cx,
            m.div_ceil(per),
            blocks * self.wide,
            &mut ws.sums,
            #[inline(always)]
            |t, acc| f(t * per * c..((t + 1) * per).min(m) * c, acc),
        )
        .chunks_exact(self.wide)
        .map(|w| self.fold(w))
        .collect()
    }
}

/// `rsqrt(var + ε)` per channel.
fn inv_std(var: &[f32], epsilon: f32) -> Vec<f32> {
    var.iter().map(|&v| 1.0 / (v + epsilon).sqrt()).collect()
}

/// Applies the normalisation with statistics `mean` and `inv` (`1/√(σ²+ε)`), in the op order
/// of the fused or plain path.
fn normalize(
    cx: &Cpu,
    l: Layout,
    xs: &[f32],
    p: &BatchNormParams<'_>,
    mean: &[f32],
    inv: &[f32],
    ys: &mut [f32],
) {
    let scale: Vec<f32> = inv.iter().zip(&p.gamma).map(|(&i, &g)| i * g).collect();
    let beta = l.tile(p.beta.iter().copied());
    if l.fused {
        let (mean, scale) = (l.tile(mean.iter().copied()), l.tile(scale));
        l.map_rows(
            cx,
            [xs],
            ys,
            #[inline(always)]
            |[xr], yr| {
                for ((((o, &v), &mu), &s), &b) in
                    yr.iter_mut().zip(xr).zip(&mean).zip(&scale).zip(&beta)
                {
                    *o = (v - mu) * s + b;
                }
            },
        );
    } else {
        let shift = l.tile(
            beta.iter()
                .zip(mean)
                .zip(&scale)
                .map(|((&b, &mu), &s)| b - mu * s),
        );
        let scale = l.tile(scale);
        l.map_rows(
            cx,
            [xs],
            ys,
            #[inline(always)]
            |[xr], yr| {
                for (((o, &v), &s), &t) in yr.iter_mut().zip(xr).zip(&scale).zip(&shift) {
                    *o = v * s + t;
                }
            },
        );
    }
}

fn check_moving(c: usize, mean: usize, variance: usize) {
    assert!(
        mean == c && variance == c,
        "batch_norm: moving statistics of {mean}/{variance} values for {c} channels"
    );
}

/// Inference mode: normalise `x` with the moving statistics.
pub fn batch_norm_inference<D: Dimension>(
    cx: &Cpu,
    x: ArrayView<'_, f32, D>,
    p: &BatchNormParams<'_>,
    moving_mean: ArrayView1<'_, f32>,
    moving_variance: ArrayView1<'_, f32>,
    y: &mut Array<f32, D>,
) {
    let l = Layout::new(x.shape(), p);
    check_moving(l.c, moving_mean.len(), moving_variance.len());
    let x = contiguous(&x);
    reshape_buffer(y, x.raw_dim());
    let mean: Vec<f32> = moving_mean.to_vec();
    let inv = inv_std(&moving_variance.to_vec(), p.epsilon);
    normalize(cx, l, slice_of(&x), p, &mean, &inv, slice_mut(y));
}

/// Training mode: normalise with the batch statistics (saved in `ws` for the backward pass)
/// and update the moving statistics with Keras's `momentum` (default 0.99).
#[allow(clippy::too_many_arguments)]
pub fn batch_norm_training<D: Dimension>(
    cx: &Cpu,
    x: ArrayView<'_, f32, D>,
    p: &BatchNormParams<'_>,
    moving_mean: &mut Array1<f32>,
    moving_variance: &mut Array1<f32>,
    momentum: f64,
    ws: &mut BatchNormWorkspace,
    y: &mut Array<f32, D>,
) {
    let l = Layout::new(x.shape(), p);
    check_moving(l.c, moving_mean.len(), moving_variance.len());
    assert!(l.rows > 0, "batch_norm: training needs at least one row");
    let fused = l.fused;
    let x = contiguous(&x);
    let xs = slice_of(&x);

    // TF: the fused kernel multiplies by `1.0f / n`; `reduce_mean` (plain path) divides by n.
    let n = l.rows as f32;
    let rest_inv = 1.0 / n;
    let average = |s: f32| if fused { s * rest_inv } else { s / n };
    let sums = l.reduce(
        cx,
        1,
        ws,
        #[inline(always)]
        |span, acc| add_column_sums(&xs[span], acc),
    );
    let mean: Vec<f32> = sums[0].iter().map(|&s| average(s)).collect();
    let wide_mean = l.tile(mean.iter().copied());
    let squares = l.reduce(
        cx,
        1,
        ws,
        #[inline(always)]
        |span, acc| add_centered_squares(&xs[span], &wide_mean, acc),
    );
    let var: Vec<f32> = squares[0].iter().map(|&s| average(s)).collect();
    let inv = inv_std(&var, p.epsilon);
    reshape_buffer(y, x.raw_dim());
    normalize(cx, l, xs, p, &mean, &inv, slice_mut(y));

    update_moving(
        moving_mean,
        moving_variance,
        &mean,
        &var,
        momentum,
        fused,
        l.rows,
    );
    ws.mean = mean;
    ws.inv_std = inv;
    ws.rows = l.rows;
}

/// Keras's moving-average update of the moving statistics (see the module header).
fn update_moving(
    moving_mean: &mut Array1<f32>,
    moving_variance: &mut Array1<f32>,
    mean: &[f32],
    var: &[f32],
    momentum: f64,
    fused: bool,
    rows: usize,
) {
    // Python computes `1.0 - momentum` in double; TensorFlow receives it as f32.
    let factor = (1.0 - momentum) as f32;
    if fused {
        let one_minus = 1.0 - factor;
        let adjust = rows as f32 / rows.saturating_sub(1).max(1) as f32;
        for (mm, &mu) in moving_mean.iter_mut().zip(mean) {
            *mm = one_minus * *mm + factor * mu;
        }
        for (mv, &v) in moving_variance.iter_mut().zip(var) {
            *mv = one_minus * *mv + (factor * adjust) * v;
        }
    } else {
        for (mm, &mu) in moving_mean.iter_mut().zip(mean) {
            *mm -= (*mm - mu) * factor;
        }
        for (mv, &v) in moving_variance.iter_mut().zip(var) {
            *mv -= (*mv - v) * factor;
        }
    }
}

/// Writes `Σ dy` into `dbeta` and `inv·Σ dy·(x − μ)` into `dgamma`; returns `Σ dy·(x − μ)`.
#[allow(clippy::too_many_arguments)]
fn param_grads(
    cx: &Cpu,
    l: Layout,
    xs: &[f32],
    dys: &[f32],
    mean: &[f32],
    inv: &[f32],
    ws: &mut BatchNormWorkspace,
    dgamma: &mut Array1<f32>,
    dbeta: &mut Array1<f32>,
) -> Vec<f32> {
    let wide_mean = l.tile(mean.iter().copied());
    let sums = l.reduce(
        cx,
        2,
        ws,
        #[inline(always)]
        |span, acc| {
            let (sd, sdx) = acc.split_at_mut(l.wide);
            add_gradient_sums(&xs[span.clone()], &dys[span], &wide_mean, sd, sdx);
        },
    );
    reshape_buffer(dbeta, Ix1(l.c));
    reshape_buffer(dgamma, Ix1(l.c));
    slice_mut(dbeta).copy_from_slice(&sums[0]);
    for ((g, &s), &i) in slice_mut(dgamma).iter_mut().zip(&sums[1]).zip(inv) {
        *g = s * i;
    }
    sums[1].clone()
}

/// Gradients of [`batch_norm_training`] (batch statistics from `ws`): `dx`, `dgamma`, `dbeta`.
///
/// `dx = γ·inv·((dy − mean(dy)) − (x − μ)·inv²·mean(dy·(x − μ)))`, TensorFlow's
/// `FusedBatchNormGrad` formula.
#[allow(clippy::too_many_arguments)]
pub fn batch_norm_backward<D: Dimension>(
    cx: &Cpu,
    x: ArrayView<'_, f32, D>,
    dy: ArrayView<'_, f32, D>,
    p: &BatchNormParams<'_>,
    ws: &mut BatchNormWorkspace,
    dx: &mut Array<f32, D>,
    dgamma: &mut Array1<f32>,
    dbeta: &mut Array1<f32>,
) {
    let l = Layout::new(x.shape(), p);
    assert_eq!(x.shape(), dy.shape(), "batch_norm: output gradient shape");
    assert!(
        ws.rows == l.rows && ws.mean.len() == l.c,
        "batch_norm: the workspace was filled by a forward pass of another shape"
    );
    let x = contiguous(&x);
    let dy = contiguous(&dy);
    let (xs, dys) = (slice_of(&x), slice_of(&dy));
    let (mean, inv) = (
        std::mem::take(&mut ws.mean),
        std::mem::take(&mut ws.inv_std),
    );
    let sums = param_grads(cx, l, xs, dys, &mean, &inv, ws, dgamma, dbeta);
    let n = l.rows as f32;
    let rest_inv = 1.0 / n;
    let dbeta = slice_mut(dbeta);
    let mean_dy = l.tile(dbeta.iter().map(|&s| s * rest_inv));
    let c1 = l.tile(p.gamma.iter().zip(&inv).map(|(&g, &i)| g * i));
    let c2 = l.tile(inv.iter().zip(&sums).map(|(&i, &s)| (i * i) * (s / n)));
    let wide_mean = l.tile(mean.iter().copied());
    reshape_buffer(dx, x.raw_dim());
    l.map_rows(
        cx,
        [xs, dys],
        slice_mut(dx),
        #[inline(always)]
        |[xr, dr], or| {
            let coefs = mean_dy.iter().zip(&c1).zip(&c2).zip(&wide_mean);
            for (((o, &xv), &dv), (((&md, &k1), &k2), &mu)) in
                or.iter_mut().zip(xr).zip(dr).zip(coefs)
            {
                *o = k1 * ((dv - md) - (xv - mu) * k2);
            }
        },
    );
    ws.mean = mean;
    ws.inv_std = inv;
}

/// Gradients of [`batch_norm_inference`] (moving statistics are constants): `dx = dy·γ·inv`,
/// `dgamma = Σ dy·(x − μ)·inv`, `dbeta = Σ dy`.
#[allow(clippy::too_many_arguments)]
pub fn batch_norm_inference_backward<D: Dimension>(
    cx: &Cpu,
    x: ArrayView<'_, f32, D>,
    dy: ArrayView<'_, f32, D>,
    p: &BatchNormParams<'_>,
    moving_mean: ArrayView1<'_, f32>,
    moving_variance: ArrayView1<'_, f32>,
    ws: &mut BatchNormWorkspace,
    dx: &mut Array<f32, D>,
    dgamma: &mut Array1<f32>,
    dbeta: &mut Array1<f32>,
) {
    let l = Layout::new(x.shape(), p);
    check_moving(l.c, moving_mean.len(), moving_variance.len());
    assert_eq!(x.shape(), dy.shape(), "batch_norm: output gradient shape");
    let x = contiguous(&x);
    let dy = contiguous(&dy);
    let (xs, dys) = (slice_of(&x), slice_of(&dy));
    let mean = moving_mean.to_vec();
    let inv = inv_std(&moving_variance.to_vec(), p.epsilon);
    param_grads(cx, l, xs, dys, &mean, &inv, ws, dgamma, dbeta);
    let scale = l.tile(p.gamma.iter().zip(&inv).map(|(&g, &i)| g * i));
    reshape_buffer(dx, x.raw_dim());
    l.map_rows(
        cx,
        [dys],
        slice_mut(dx),
        #[inline(always)]
        |[dr], or| {
            for ((o, &v), &s) in or.iter_mut().zip(dr).zip(&scale) {
                *o = v * s;
            }
        },
    );
}
