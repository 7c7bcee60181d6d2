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

use super::buffer::{contiguous, reshape_buffer, scratch, slice_mut, slice_of};
use super::context::Cpu;
use super::parallel::{for_each_chunk, items_per_task, map_spans, sum_parts};
use super::simd::dispatch;

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
    partials: Vec<f32>,
    totals: Vec<f32>,
    coef: Vec<f32>,
}

/// Whether Keras would use the fused kernel for this input rank.
fn is_fused(rank: usize) -> bool {
    rank == 4 || rank == 5
}

/// `(rows, channels)` of `x` seen as a matrix over its last axis; checks the parameters.
fn layout(shape: &[usize], p: &BatchNormParams<'_>) -> (usize, usize) {
    let c = *shape
        .last()
        .expect("batch_norm: input must have at least one axis");
    assert!(
        p.gamma.len() == c && p.beta.len() == c,
        "batch_norm: gamma/beta of {}/{} values for {c} channels",
        p.gamma.len(),
        p.beta.len()
    );
    (shape.iter().product::<usize>() / c.max(1), c)
}

fn to_vec(v: ArrayView1<'_, f32>) -> Vec<f32> {
    v.iter().copied().collect()
}

/// Per-channel reduction over rows: `out[..width] = Σ_tasks f(rows, acc)`, where each task
/// starts from a zeroed `acc` of `width` values and the task sums are added in order.
fn reduce_rows<F>(
    cx: &Cpu,
    m: usize,
    c: usize,
    width: usize,
    parts: &mut Vec<f32>,
    out: &mut Vec<f32>,
    f: F,
) where
    F: Fn(Range<usize>, &mut [f32]) + Sync + Send,
{
    let per = items_per_task(m, c);
    let parts = scratch(parts, m.div_ceil(per).max(1) * width);
    let isa = cx.isa();
    cx.install(|| {
        for_each_chunk(parts, width, |t, acc| {
            acc.fill(0.0);
            dispatch(isa, || f(t * per..((t + 1) * per).min(m), acc));
        });
    });
    sum_parts(parts, scratch(out, width));
}

/// `rsqrt(var + ε)` per channel.
fn inv_std(var: &[f32], epsilon: f32) -> Vec<f32> {
    var.iter().map(|&v| 1.0 / (v + epsilon).sqrt()).collect()
}

/// Per-channel mean and `1/√(σ²+ε)`.
#[derive(Clone, Copy)]
struct Stats<'a> {
    mean: &'a [f32],
    inv: &'a [f32],
}

/// Applies the normalisation with statistics `mean`, `inv` (`1/√(σ²+ε)`), in the op order
/// of the fused or plain path.
fn normalize(
    cx: &Cpu,
    xs: &[f32],
    fused: bool,
    p: &BatchNormParams<'_>,
    stats: Stats<'_>,
    ys: &mut [f32],
) {
    let Stats { mean, inv } = stats;
    let c = mean.len();
    let gamma = to_vec(p.gamma);
    let beta = to_vec(p.beta);
    let scale: Vec<f32> = inv.iter().zip(&gamma).map(|(&i, &g)| i * g).collect();
    if fused {
        map_spans(cx, c, ys, |first, y| {
            let x = &xs[first..][..y.len()];
            for (xr, yr) in x.chunks_exact(c).zip(y.chunks_exact_mut(c)) {
                for ((((o, &v), &mu), &s), &b) in
                    yr.iter_mut().zip(xr).zip(mean).zip(&scale).zip(&beta)
                {
                    *o = (v - mu) * s + b;
                }
            }
        });
    } else {
        let shift: Vec<f32> = beta
            .iter()
            .zip(mean)
            .zip(&scale)
            .map(|((&b, &mu), &s)| b - mu * s)
            .collect();
        map_spans(cx, c, ys, |first, y| {
            let x = &xs[first..][..y.len()];
            for (xr, yr) in x.chunks_exact(c).zip(y.chunks_exact_mut(c)) {
                for (((o, &v), &s), &t) in yr.iter_mut().zip(xr).zip(&scale).zip(&shift) {
                    *o = v * s + t;
                }
            }
        });
    }
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
    let (_, c) = layout(x.shape(), p);
    assert!(
        moving_mean.len() == c && moving_variance.len() == c,
        "batch_norm: moving statistics of {}/{} values for {c} channels",
        moving_mean.len(),
        moving_variance.len()
    );
    let fused = is_fused(x.ndim());
    let x = contiguous(&x);
    reshape_buffer(y, x.raw_dim());
    let mean = to_vec(moving_mean);
    let inv = inv_std(&to_vec(moving_variance), p.epsilon);
    normalize(
        cx,
        slice_of(&x),
        fused,
        p,
        Stats {
            mean: &mean,
            inv: &inv,
        },
        slice_mut(y),
    );
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
    let (m, c) = layout(x.shape(), p);
    assert!(
        moving_mean.len() == c && moving_variance.len() == c,
        "batch_norm: moving statistics of {}/{} values for {c} channels",
        moving_mean.len(),
        moving_variance.len()
    );
    assert!(m > 0, "batch_norm: training needs at least one row");
    let fused = is_fused(x.ndim());
    let x = contiguous(&x);
    let xs = slice_of(&x);
    let BatchNormWorkspace {
        partials, totals, ..
    } = ws;

    reduce_rows(cx, m, c, c, partials, totals, |rows, acc| {
        for xr in xs[rows.start * c..rows.end * c].chunks_exact(c) {
            for (a, &v) in acc.iter_mut().zip(xr) {
                *a += v;
            }
        }
    });
    // TF: fused multiplies by `1.0f / n`; `reduce_mean` (plain) divides by n.
    let n = m as f32;
    let rest_inv = 1.0 / n;
    let mean: Vec<f32> = totals
        .iter()
        .map(|&s| if fused { s * rest_inv } else { s / n })
        .collect();
    reduce_rows(cx, m, c, c, partials, totals, |rows, acc| {
        for xr in xs[rows.start * c..rows.end * c].chunks_exact(c) {
            for ((a, &v), &mu) in acc.iter_mut().zip(xr).zip(&mean) {
                let d = v - mu;
                *a += d * d;
            }
        }
    });
    let var: Vec<f32> = totals
        .iter()
        .map(|&s| if fused { s * rest_inv } else { s / n })
        .collect();
    let inv = inv_std(&var, p.epsilon);
    reshape_buffer(y, x.raw_dim());
    normalize(
        cx,
        xs,
        fused,
        p,
        Stats {
            mean: &mean,
            inv: &inv,
        },
        slice_mut(y),
    );

    update_moving(
        moving_mean,
        moving_variance,
        &mean,
        &var,
        momentum,
        fused,
        m,
    );
    ws.mean = mean;
    ws.inv_std = inv;
    ws.rows = m;
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
    xs: &[f32],
    dys: &[f32],
    c: usize,
    mean: &[f32],
    inv: &[f32],
    ws_parts: &mut Vec<f32>,
    ws_totals: &mut Vec<f32>,
    dgamma: &mut Array1<f32>,
    dbeta: &mut Array1<f32>,
) -> Vec<f32> {
    let m = xs.len() / c;
    reduce_rows(cx, m, c, 2 * c, ws_parts, ws_totals, |rows, acc| {
        let (sd, sdx) = acc.split_at_mut(c);
        let span = rows.start * c..rows.end * c;
        for (xr, dr) in xs[span.clone()]
            .chunks_exact(c)
            .zip(dys[span].chunks_exact(c))
        {
            for ((((a, b), &v), &d), &mu) in
                sd.iter_mut().zip(sdx.iter_mut()).zip(xr).zip(dr).zip(mean)
            {
                *a += d;
                *b += d * (v - mu);
            }
        }
    });
    reshape_buffer(dbeta, Ix1(c));
    reshape_buffer(dgamma, Ix1(c));
    slice_mut(dbeta).copy_from_slice(&ws_totals[..c]);
    for ((g, &s), &i) in slice_mut(dgamma).iter_mut().zip(&ws_totals[c..]).zip(inv) {
        *g = s * i;
    }
    ws_totals[c..2 * c].to_vec()
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
    let (m, c) = layout(x.shape(), p);
    assert_eq!(x.shape(), dy.shape(), "batch_norm: output gradient shape");
    assert!(
        ws.rows == m && ws.mean.len() == c,
        "batch_norm: the workspace was filled by a forward pass of another shape"
    );
    let x = contiguous(&x);
    let dy = contiguous(&dy);
    let (xs, dys) = (slice_of(&x), slice_of(&dy));
    let BatchNormWorkspace {
        mean,
        inv_std: inv,
        partials,
        totals,
        coef,
        ..
    } = ws;
    let sums = param_grads(cx, xs, dys, c, mean, inv, partials, totals, dgamma, dbeta);
    let n = m as f32;
    let rest_inv = 1.0 / n;
    let gamma = to_vec(p.gamma);
    // coef = [mean(dy) | γ·inv | inv²·mean(dy·(x − μ))]
    let coef = scratch(coef, 3 * c);
    for ch in 0..c {
        coef[ch] = slice_mut(dbeta)[ch] * rest_inv;
        coef[c + ch] = gamma[ch] * inv[ch];
        coef[2 * c + ch] = (inv[ch] * inv[ch]) * (sums[ch] / n);
    }
    let (mean_dy, rest) = coef.split_at(c);
    let (c1, c2) = rest.split_at(c);
    let mean = &mean[..];
    reshape_buffer(dx, x.raw_dim());
    map_spans(cx, c, slice_mut(dx), |first, out| {
        let x = &xs[first..][..out.len()];
        let d = &dys[first..][..out.len()];
        for ((xr, dr), or) in x
            .chunks_exact(c)
            .zip(d.chunks_exact(c))
            .zip(out.chunks_exact_mut(c))
        {
            for ch in 0..c {
                or[ch] = c1[ch] * ((dr[ch] - mean_dy[ch]) - (xr[ch] - mean[ch]) * c2[ch]);
            }
        }
    });
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
    let (_, c) = layout(x.shape(), p);
    assert_eq!(x.shape(), dy.shape(), "batch_norm: output gradient shape");
    let x = contiguous(&x);
    let dy = contiguous(&dy);
    let (xs, dys) = (slice_of(&x), slice_of(&dy));
    let mean = to_vec(moving_mean);
    let inv = inv_std(&to_vec(moving_variance), p.epsilon);
    let BatchNormWorkspace {
        partials, totals, ..
    } = ws;
    param_grads(cx, xs, dys, c, &mean, &inv, partials, totals, dgamma, dbeta);
    let scale: Vec<f32> = p.gamma.iter().zip(&inv).map(|(&g, &i)| g * i).collect();
    reshape_buffer(dx, x.raw_dim());
    map_spans(cx, c, slice_mut(dx), |first, out| {
        let d = &dys[first..][..out.len()];
        for (dr, or) in d.chunks_exact(c).zip(out.chunks_exact_mut(c)) {
            for ((o, &v), &s) in or.iter_mut().zip(dr).zip(&scale) {
                *o = v * s;
            }
        }
    });
}
