//! Softmax, sparse categorical cross-entropy from logits (fused with the softmax for its
//! gradient, mean over the batch, as Keras's `SUM_OVER_BATCH_SIZE` reduction) and accuracy.

use ndarray::{Array2, ArrayView2, Ix2};

use super::buffer::{contiguous, reshape_buffer, slice_mut, slice_of};
use super::context::Cpu;
use super::error::CpuError;
use super::parallel::map_spans;

/// `exp(z − max z)` into `out`; returns the sum.
#[inline(always)]
fn shifted_exp(z: &[f32], out: &mut [f32]) -> f32 {
    let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for (o, &v) in out.iter_mut().zip(z) {
        *o = (v - max).exp();
        sum += *o;
    }
    sum
}

/// Row-wise softmax: `y = exp(z − max)·(1/Σ exp(z − max))` (TensorFlow's order).
pub fn softmax_forward(cx: &Cpu, logits: ArrayView2<'_, f32>, y: &mut Array2<f32>) {
    let (n, k) = logits.dim();
    let z = contiguous(&logits);
    let zs = slice_of(&z);
    reshape_buffer(y, Ix2(n, k));
    map_spans(
        cx,
        k,
        slice_mut(y),
        #[inline(always)]
        |first, out| {
            for (zr, yr) in zs[first..].chunks_exact(k).zip(out.chunks_exact_mut(k)) {
                let inv = 1.0 / shifted_exp(zr, yr);
                for o in yr.iter_mut() {
                    *o *= inv;
                }
            }
        },
    );
}

/// Gradient of [`softmax_forward`] given its output `y`: `dx = y·(dy − Σ dy·y)`.
pub fn softmax_backward(
    cx: &Cpu,
    y: ArrayView2<'_, f32>,
    dy: ArrayView2<'_, f32>,
    dx: &mut Array2<f32>,
) {
    assert_eq!(y.dim(), dy.dim(), "softmax: output gradient shape");
    let (n, k) = y.dim();
    let y = contiguous(&y);
    let dy = contiguous(&dy);
    let (ys, dys) = (slice_of(&y), slice_of(&dy));
    reshape_buffer(dx, Ix2(n, k));
    map_spans(
        cx,
        k,
        slice_mut(dx),
        #[inline(always)]
        |first, out| {
            let rows = ys[first..]
                .chunks_exact(k)
                .zip(dys[first..].chunks_exact(k));
            for ((yr, dr), or) in rows.zip(out.chunks_exact_mut(k)) {
                let dot: f32 = yr.iter().zip(dr).map(|(&a, &b)| a * b).sum();
                for ((o, &a), &b) in or.iter_mut().zip(yr).zip(dr) {
                    *o = a * (b - dot);
                }
            }
        },
    );
}

/// Rejects labels outside `0..classes`, after checking that the logits, `n × classes`, have one
/// label per sample (a contract of `what`, the caller).
fn check_labels(what: &str, (n, classes): (usize, usize), labels: &[u32]) -> Result<(), CpuError> {
    assert_eq!(
        labels.len(),
        n,
        "{what}: {} labels for {n} samples",
        labels.len()
    );
    match labels.iter().position(|&l| l as usize >= classes) {
        Some(sample) => Err(CpuError::LabelOutOfRange {
            sample,
            label: labels[sample],
            classes,
        }),
        None => Ok(()),
    }
}

/// Sparse categorical cross-entropy of `logits` (`batch × classes`) against integer `labels`,
/// averaged over the batch. When `dlogits` is given it receives the gradient of that mean,
/// `(softmax(z) − onehot(label))·(1/batch)`.
pub fn softmax_cross_entropy(
    cx: &Cpu,
    logits: ArrayView2<'_, f32>,
    labels: &[u32],
    dlogits: Option<&mut Array2<f32>>,
) -> Result<f32, CpuError> {
    check_labels("cross-entropy", logits.dim(), labels)?;
    let (n, k) = logits.dim();
    if n == 0 {
        return Ok(0.0);
    }
    let z = contiguous(&logits);
    let zs = slice_of(&z);
    // Per-sample loss `log Σ exp(z − max) − (z_label − max)` (TensorFlow's formula), summed in
    // sample order.
    let mut exps = vec![0f32; k];
    let mut total = 0f64;
    for (zr, &l) in zs.chunks_exact(k).zip(labels) {
        let max = zr.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let sum = shifted_exp(zr, &mut exps);
        total += f64::from(sum.ln() - (zr[l as usize] - max));
    }
    if let Some(dz) = dlogits {
        reshape_buffer(dz, Ix2(n, k));
        let scale = 1.0 / n as f32;
        map_spans(
            cx,
            k,
            slice_mut(dz),
            #[inline(always)]
            |first, out| {
                let rows = zs[first..].chunks_exact(k).zip(&labels[first / k..]);
                for ((zr, &l), or) in rows.zip(out.chunks_exact_mut(k)) {
                    let sum = shifted_exp(zr, or);
                    for (j, o) in or.iter_mut().enumerate() {
                        let onehot = if j == l as usize { 1.0 } else { 0.0 };
                        *o = (*o / sum - onehot) * scale;
                    }
                }
            },
        );
    }
    Ok((total / n as f64) as f32)
}

/// The number of rows whose first maximal logit is at the label's index.
pub fn count_correct(logits: ArrayView2<'_, f32>, labels: &[u32]) -> Result<usize, CpuError> {
    check_labels("accuracy", logits.dim(), labels)?;
    let correct = logits
        .rows()
        .into_iter()
        .zip(labels)
        .filter(|(row, &l)| {
            let mut best = 0;
            for (j, &v) in row.iter().enumerate() {
                if v > row[best] {
                    best = j;
                }
            }
            best == l as usize
        })
        .count();
    Ok(correct)
}
