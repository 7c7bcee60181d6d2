//! Keras `ReLU` (with optional `max_value`) and `Dropout` (inverted, seeded), forward and
//! backward, elementwise over tensors of any rank.

use ndarray::{Array, ArrayView, Dimension};
use rand_chacha::rand_core::RngCore;
use rand_chacha::ChaCha8Rng;

use super::buffer::{contiguous, reshape_buffer, scratch, slice_mut, slice_of};
use super::context::Cpu;
use super::parallel::{for_each_chunk, map_spans};

/// `y = min(max(x, 0), max_value)`.
pub fn relu_forward<D: Dimension>(
    cx: &Cpu,
    x: ArrayView<'_, f32, D>,
    max_value: Option<f32>,
    y: &mut Array<f32, D>,
) {
    let x = contiguous(&x);
    let xs = slice_of(&x);
    reshape_buffer(y, x.raw_dim());
    let top = max_value.unwrap_or(f32::INFINITY);
    map_spans(
        cx,
        1,
        slice_mut(y),
        #[inline(always)]
        |first, out| {
            for (o, &v) in out.iter_mut().zip(&xs[first..]) {
                let r = if v > 0.0 { v } else { 0.0 };
                *o = if r < top { r } else { top };
            }
        },
    );
}

/// Gradient of [`relu_forward`], the way TensorFlow differentiates Keras's ReLU: `dy` passes
/// where `0 < x` and, with a `max_value`, where `x ≤ max_value` (`relu` then `clip_by_value`)
/// — except `max_value = 6`, which Keras runs as `relu6` and passes only where `x < 6`.
pub fn relu_backward<D: Dimension>(
    cx: &Cpu,
    x: ArrayView<'_, f32, D>,
    dy: ArrayView<'_, f32, D>,
    max_value: Option<f32>,
    dx: &mut Array<f32, D>,
) {
    assert_eq!(x.shape(), dy.shape(), "relu: output gradient shape");
    let x = contiguous(&x);
    let dy = contiguous(&dy);
    reshape_buffer(dx, x.raw_dim());
    let top = max_value.unwrap_or(f32::INFINITY);
    let strict = max_value == Some(6.0);
    zip_map(
        cx,
        slice_of(&x),
        slice_of(&dy),
        slice_mut(dx),
        #[inline(always)]
        move |v, d| {
            let below = if strict { v < top } else { v <= top };
            if v > 0.0 && below {
                d
            } else {
                0.0
            }
        },
    );
}

/// The keep mask of one dropout application: `1` (kept) or `0` per element, and the
/// inverted-dropout scale `1/(1 − rate)`.
#[derive(Debug, Default)]
pub struct DropoutMask {
    keep: Vec<f32>,
    scale: f32,
}

/// Elements per random-number task: fixed, so the mask does not depend on the thread count.
const RNG_CHUNK: usize = 1 << 14;

/// Keras `Dropout` in training mode: element `i` is kept when the `i`-th uniform draw
/// `u ∈ [0, 1)` from `rng` satisfies `u ≥ rate`; kept elements are scaled by `1/(1 − rate)`
/// (`y = (x·scale)·keep`, TensorFlow's order). `rng` advances by one 32-bit word per element
/// (`u = (word >> 8)·2⁻²⁴`); `rate = 0` is the identity and draws nothing, as in Keras.
pub fn dropout_forward<D: Dimension>(
    cx: &Cpu,
    x: ArrayView<'_, f32, D>,
    rate: f32,
    rng: &mut ChaCha8Rng,
    mask: &mut DropoutMask,
    y: &mut Array<f32, D>,
) {
    assert!(
        (0.0..1.0).contains(&rate),
        "dropout: rate {rate} outside [0, 1)"
    );
    let x = contiguous(&x);
    let xs = slice_of(&x);
    let len = xs.len();
    let keep = scratch(&mut mask.keep, len);
    if rate == 0.0 {
        keep.fill(1.0);
        mask.scale = 1.0;
    } else {
        let base = rng.get_word_pos();
        let origin = rng.clone();
        cx.install(|| {
            for_each_chunk(keep, RNG_CHUNK, |t, k| {
                let mut r = origin.clone();
                r.set_word_pos(base + (t * RNG_CHUNK) as u128);
                for slot in k.iter_mut() {
                    let u = (r.next_u32() >> 8) as f32 * (1.0 / (1u32 << 24) as f32);
                    *slot = if u >= rate { 1.0 } else { 0.0 };
                }
            });
        });
        rng.set_word_pos(base + len as u128);
        mask.scale = 1.0 / (1.0 - rate);
    }
    let scale = mask.scale;
    reshape_buffer(y, x.raw_dim());
    zip_map(
        cx,
        xs,
        &mask.keep,
        slice_mut(y),
        #[inline(always)]
        move |v, k| (v * scale) * k,
    );
}

/// Gradient of [`dropout_forward`]: `dx = (dy·keep)·scale`.
pub fn dropout_backward<D: Dimension>(
    cx: &Cpu,
    dy: ArrayView<'_, f32, D>,
    mask: &DropoutMask,
    dx: &mut Array<f32, D>,
) {
    let dy = contiguous(&dy);
    let dys = slice_of(&dy);
    assert_eq!(
        dys.len(),
        mask.keep.len(),
        "dropout: mask from a forward pass of another size"
    );
    let scale = mask.scale;
    reshape_buffer(dx, dy.raw_dim());
    zip_map(
        cx,
        dys,
        &mask.keep,
        slice_mut(dx),
        #[inline(always)]
        move |d, k| (d * k) * scale,
    );
}

/// `out[i] = f(a[i], b[i])`, split over the worker threads and run with the context's
/// instruction set (`f` should be `#[inline(always)]`).
#[inline(always)]
fn zip_map<F>(cx: &Cpu, a: &[f32], b: &[f32], out: &mut [f32], f: F)
where
    F: Fn(f32, f32) -> f32 + Copy + Sync + Send,
{
    map_spans(
        cx,
        1,
        out,
        // `move`: each task holds its own copy of `f`, so its captures stay in registers
        // instead of being reloaded through a pointer for every element.
        #[inline(always)]
        move |first, out| {
            for ((o, &u), &v) in out.iter_mut().zip(&a[first..]).zip(&b[first..]) {
                *o = f(u, v);
            }
        },
    );
}
