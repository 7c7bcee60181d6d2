//! The weight-quantizer trait, its linear defaults (`LinearWeightQuantizer.quantize` of
//! CNN2SNN with its straight-through gradient) and the per-layer report statistics.
//!
//! Every formula here follows the f32 op order of `docs/conversion.md` §1.2: `p = w · sf`,
//! `r = p + (round_half_even(p) − p)` (the forward value of `round_through`), `c =
//! clip(r, −kmax, kmax)` (TF's `minimum` then `maximum`), `q = c / sf`.

use super::reduce::{self, Layout};
use ndarray::{Array1, ArrayD, ArrayViewD, CowArray, IxDyn};
use std::fmt;

/// The scale factor of a quantizer: `quantize(w) · sf` is an integer tensor.
#[derive(Clone, Debug, PartialEq)]
pub enum ScaleFactor {
    /// One factor for the whole tensor (`MaxQuantizer`, `StdWeightQuantizer`, …).
    Scalar(f32),
    /// One factor per index of the last axis (`MaxPerAxisQuantizer`, …).
    PerAxis(Array1<f32>),
}

impl ScaleFactor {
    /// The factors as a slice (one element for [`ScaleFactor::Scalar`]).
    pub fn as_slice(&self) -> &[f32] {
        match self {
            ScaleFactor::Scalar(s) => std::slice::from_ref(s),
            ScaleFactor::PerAxis(v) => v
                .as_slice()
                .expect("a per-axis scale factor is always a standard-layout vector"),
        }
    }

    /// Smallest factor (NaN-ignoring).
    pub fn min(&self) -> f32 {
        self.as_slice()
            .iter()
            .copied()
            .fold(f32::INFINITY, f32::min)
    }

    /// Largest factor (NaN-ignoring).
    pub fn max(&self) -> f32 {
        self.as_slice()
            .iter()
            .copied()
            .fold(f32::NEG_INFINITY, f32::max)
    }

    /// The factor applying to each of `cols` columns (the last axis of the kernel).
    ///
    /// Panics if a per-axis factor does not have one value per column: a quantizer must return
    /// a scalar or a vector as long as the kernel's last axis.
    pub fn per_column(&self, cols: usize) -> Vec<f32> {
        match self {
            ScaleFactor::Scalar(s) => vec![*s; cols],
            ScaleFactor::PerAxis(v) => {
                assert_eq!(
                    v.len(),
                    cols,
                    "a per-axis scale factor must have one value per index of the last axis"
                );
                v.to_vec()
            }
        }
    }

    /// The factor as an array: shape `()` or `(last_dim,)`, like CNN2SNN's `scale_factor(w)`.
    pub fn to_array(&self) -> ArrayD<f32> {
        match self {
            ScaleFactor::Scalar(s) => ArrayD::from_elem(IxDyn(&[]), *s),
            ScaleFactor::PerAxis(v) => v.clone().into_dyn(),
        }
    }

    /// Builds a factor from an array of shape `()` or `(n,)`.
    ///
    /// Panics on any other rank: scale factors are scalars or vectors by construction.
    pub fn from_array(a: ArrayD<f32>) -> ScaleFactor {
        match a.ndim() {
            0 => ScaleFactor::Scalar(a[IxDyn(&[])]),
            1 => ScaleFactor::PerAxis(a.iter().copied().collect()),
            n => panic!("a scale factor has rank 0 or 1, not {n}"),
        }
    }

    /// The reduction that brings a tensor of shape `shape` to this factor's shape.
    fn layout(&self, shape: &[usize]) -> Layout {
        match self {
            ScaleFactor::Scalar(_) => Layout::all(shape.iter().product()),
            ScaleFactor::PerAxis(_) => Layout::per_axis(shape),
        }
    }

    fn with_values(&self, v: Vec<f32>) -> ScaleFactor {
        match self {
            ScaleFactor::Scalar(_) => {
                assert_eq!(v.len(), 1, "a scalar scale-factor gradient has one value");
                ScaleFactor::Scalar(v[0])
            }
            ScaleFactor::PerAxis(_) => ScaleFactor::PerAxis(Array1::from(v)),
        }
    }
}

/// `2^(bits−1) − 1`, the largest integer weight (CNN2SNN's `kmax_`, a Python float converted
/// to f32 where it meets a tensor).
pub fn kmax_for_bits(bits: u32) -> f32 {
    (2f64.powi(bits as i32 - 1) - 1.0) as f32
}

/// What a quantizer produces for one kernel: the discretised floats, the scale factor and the
/// integers the converter writes.
#[derive(Clone, Debug, PartialEq)]
pub struct Quantized {
    /// `quantize(w)`, float weights on the grid `k / sf`.
    pub q: ArrayD<f32>,
    /// `scale_factor(w)`.
    pub sf: ScaleFactor,
    /// `round_half_even(q · sf)`.
    pub int: ArrayD<i32>,
}

/// A CNN2SNN weight quantizer (`WeightQuantizer`), with the `LinearWeightQuantizer` formulas as
/// defaults: an implementation only has to provide its scale factor and the scale factor's
/// vector-Jacobian product, as the tutorial's subclasses of `LinearWeightQuantizer` do.
///
/// Per-axis means one factor per index of the **last** axis of the kernel.
pub trait WeightQuantizer: Send + Sync + fmt::Debug {
    /// The bit-width (`> 1`).
    fn bits(&self) -> u32;

    /// `2^(bits−1) − 1`.
    fn kmax(&self) -> f32 {
        kmax_for_bits(self.bits())
    }

    /// `scale_factor(w)`, computed in TF's f32 order.
    fn scale_factor(&self, w: ArrayViewD<'_, f32>) -> ScaleFactor;

    /// The vector-Jacobian product of the scale factor: `d(Σ sf · d_sf) / dw`, with the
    /// gradients TF registers for each op of the formula.
    fn scale_factor_vjp(&self, w: ArrayViewD<'_, f32>, d_sf: &ScaleFactor) -> ArrayD<f32>;

    /// `quantize(w)` given the already computed `sf = scale_factor(w)`; the linear default is
    /// `clip(round_half_even(w · sf), −kmax, kmax) / sf` in f32.
    fn quantize_with(&self, w: ArrayViewD<'_, f32>, sf: &ScaleFactor) -> ArrayD<f32> {
        linear_quantize(w, sf, self.kmax())
    }

    /// `quantize(w)`: float weights on the grid `{k / sf : |k| ≤ kmax}`.
    fn quantize(&self, w: ArrayViewD<'_, f32>) -> ArrayD<f32> {
        let sf = self.scale_factor(w.view());
        self.quantize_with(w, &sf)
    }

    /// Discretised weights, scale factor and integers, computing the scale factor once.
    fn quantize_all(&self, w: ArrayViewD<'_, f32>) -> Quantized {
        let sf = self.scale_factor(w.view());
        let q = self.quantize_with(w, &sf);
        let int = integers_of(q.view(), &sf);
        Quantized { q, sf, int }
    }

    /// `round_half_even(quantize(w) · sf)` as integers: what the converter writes.
    fn integers(&self, w: ArrayViewD<'_, f32>) -> ArrayD<i32> {
        self.quantize_all(w).int
    }

    /// `dL/dw` given `dL/dq` (`upstream`, the shape of `w`): the straight-through estimator
    /// through the rounding, TF's clip mask (`−kmax ≤ round(w·sf) ≤ kmax`), and the path
    /// through the scale factor, which CNN2SNN does not stop-gradient (docs/conversion.md §1.2).
    fn backward(&self, w: ArrayViewD<'_, f32>, upstream: ArrayViewD<'_, f32>) -> ArrayD<f32> {
        let sf = self.scale_factor(w.view());
        let (mut grad, d_sf) = linear_backward(w.view(), upstream, &sf, self.kmax());
        let via_sf = self.scale_factor_vjp(w, &d_sf);
        assert_eq!(
            via_sf.shape(),
            grad.shape(),
            "scale_factor_vjp must return a gradient shaped like the kernel"
        );
        grad.zip_mut_with(&via_sf, |g, &v| *g += v);
        grad
    }
}

/// A kernel as a contiguous slice plus its per-axis layout (`rows × last axis`).
pub(crate) fn contiguous<'a>(w: &'a ArrayViewD<'a, f32>) -> (CowArray<'a, f32, IxDyn>, Layout) {
    let layout = Layout::per_axis(w.shape());
    (w.as_standard_layout(), layout)
}

/// 2^23: from here on every f32 is an integer.
const INTEGRAL: f32 = 8_388_608.0;

/// Round half to even (`K.round`, `np.round`), equal to `f32::round_ties_even` but without a
/// libm call on targets without SSE4.1: below 2^23, `|x| + 2^23` rounds to an integer with
/// ties to even (the f32 spacing there is 1), and subtracting 2^23 back is exact.
#[inline]
pub(crate) fn round_half_even(x: f32) -> f32 {
    let a = x.abs();
    if a < INTEGRAL {
        ((a + INTEGRAL) - INTEGRAL).copysign(x)
    } else {
        x
    }
}

/// The forward value of `ceil_through(x) = x + (ceil(x) − x)`: `ceil(x)`, with `+0` for a zero
/// result.
#[inline]
pub(crate) fn ceil_through(x: f32) -> f32 {
    let r = round_half_even(x);
    let c = if r < x { r + 1.0 } else { r };
    x + (c - x)
}

/// `round_through(x)`'s forward value, `x + (round_half_even(x) − x)`: equal to the rounded
/// value except that a zero result is always `+0`, as in TF.
#[inline]
pub(crate) fn round_through(x: f32) -> f32 {
    x + (round_half_even(x) - x)
}

/// `tf.clip_by_value(x, lo, hi)`'s forward value: `maximum(minimum(x, hi), lo)`.
#[inline]
pub(crate) fn tf_clip(x: f32, lo: f32, hi: f32) -> f32 {
    let t = if hi < x { hi } else { x };
    if t < lo {
        lo
    } else {
        t
    }
}

/// The linear quantization `clip(round_through(w · sf), −kmax, kmax) / sf` (f32,
/// docs/conversion.md §1.2).
pub fn linear_quantize(w: ArrayViewD<'_, f32>, sf: &ScaleFactor, kmax: f32) -> ArrayD<f32> {
    let (data, layout) = contiguous(&w);
    let data = data.as_slice().expect("standard layout is contiguous");
    let s = sf.per_column(layout.cols);
    let mut out = vec![0.0f32; data.len()];
    reduce::for_each_elem(layout, &mut out, |i, c, o| {
        *o = tf_clip(round_through(data[i] * s[c]), -kmax, kmax) / s[c];
    });
    ArrayD::from_shape_vec(w.raw_dim(), out).expect("output has the kernel's size")
}

/// `np.round(q · sf).astype(int32)`: the integers of a quantized tensor.
pub fn integers_of(q: ArrayViewD<'_, f32>, sf: &ScaleFactor) -> ArrayD<i32> {
    let (data, layout) = contiguous(&q);
    let data = data.as_slice().expect("standard layout is contiguous");
    let s = sf.per_column(layout.cols);
    let mut out = Vec::with_capacity(data.len());
    if layout.cols > 0 {
        for row in data.chunks_exact(layout.cols) {
            out.extend(
                row.iter()
                    .zip(&s)
                    .map(|(&v, &f)| (v * f).round_ties_even() as i32),
            );
        }
    }
    ArrayD::from_shape_vec(q.raw_dim(), out).expect("output has the kernel's size")
}

/// The backward pass of the linear quantization, in TF's op order. Returns the direct gradient
/// `mask ? (g / sf) · sf : 0` and the gradient reaching the scale factor, the sum (in TF's
/// reduction order) of `w · mask ? g / sf : 0` (from `w · sf`) plus the sum of
/// `g · ((−c / sf) / sf)` (from `c / sf`).
pub fn linear_backward(
    w: ArrayViewD<'_, f32>,
    upstream: ArrayViewD<'_, f32>,
    sf: &ScaleFactor,
    kmax: f32,
) -> (ArrayD<f32>, ScaleFactor) {
    assert_eq!(
        w.shape(),
        upstream.shape(),
        "the upstream gradient must be shaped like the kernel"
    );
    let (data, layout) = contiguous(&w);
    let data = data.as_slice().expect("standard layout is contiguous");
    let up = upstream.as_standard_layout();
    let up = up.as_slice().expect("standard layout is contiguous");
    let s = sf.per_column(layout.cols);
    let n = data.len();
    let mut direct = vec![0.0f32; n];
    let mut via_product = vec![0.0f32; n];
    let mut via_division = vec![0.0f32; n];
    reduce::for_each_elem(layout, &mut direct, |i, c, d| {
        let (wi, gi, si) = (data[i], up[i], s[c]);
        let r = round_through(wi * si);
        let t = if kmax < r { kmax } else { r };
        let clipped = if t < -kmax { -kmax } else { t };
        // `maximum(t, −kmax)` passes where t ≥ −kmax, `minimum(r, kmax)` where r ≤ kmax.
        let g_p = if t >= -kmax && r <= kmax {
            gi / si
        } else {
            0.0
        };
        *d = g_p * si;
        via_product[i] = wi * g_p;
        via_division[i] = gi * ((-clipped / si) / si);
    });
    let sum_layout = sf.layout(w.shape());
    let a = reduce::sum(sum_layout, &|i, _| via_product[i]);
    let b = reduce::sum(sum_layout, &|i, _| via_division[i]);
    let d_sf: Vec<f32> = a.iter().zip(&b).map(|(x, y)| x + y).collect();
    let direct =
        ArrayD::from_shape_vec(w.raw_dim(), direct).expect("gradient has the kernel's size");
    (direct, sf.with_values(d_sf))
}

/// What `qnnc quantize` reports for one kernel.
#[derive(Clone, Debug, PartialEq)]
pub struct QuantStats {
    /// The quantizer's bit-width.
    pub bits: u32,
    /// Smallest scale factor.
    pub sf_min: f32,
    /// Largest scale factor.
    pub sf_max: f32,
    /// Number of distinct integer values among the quantized weights.
    pub levels_used: usize,
    /// Number of weights whose `round(w · sf)` falls outside `[−kmax, kmax]` (saturated by the
    /// clip; since `kmax` is odd this is `|w · sf| ≥ kmax + 0.5`).
    pub saturated: usize,
    /// Number of weights.
    pub count: usize,
    /// `max |w − quantize(w)|` (f32).
    pub max_abs_error: f32,
}

impl QuantStats {
    /// Fraction of the weights that saturate, in `[0, 1]` (0 for an empty kernel).
    pub fn saturated_fraction(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.saturated as f64 / self.count as f64
        }
    }
}

/// The report statistics of `quantizer` on the kernel `w`.
pub fn quant_stats(quantizer: &dyn WeightQuantizer, w: ArrayViewD<'_, f32>) -> QuantStats {
    let Quantized { q, sf, int } = quantizer.quantize_all(w.view());
    let kmax = quantizer.kmax();
    let (data, layout) = contiguous(&w);
    let data = data.as_slice().expect("standard layout is contiguous");
    let s = sf.per_column(layout.cols);
    let mut saturated = 0usize;
    reduce::for_each_index(layout, |i, c| {
        let r = round_through(data[i] * s[c]);
        if r > kmax || r < -kmax {
            saturated += 1;
        }
    });
    let max_abs_error = w
        .iter()
        .zip(q.iter())
        .map(|(&a, &b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    let mut levels: Vec<i32> = int.iter().copied().collect();
    levels.sort_unstable();
    levels.dedup();
    QuantStats {
        bits: quantizer.bits(),
        sf_min: sf.min(),
        sf_max: sf.max(),
        levels_used: levels.len(),
        saturated,
        count: data.len(),
        max_abs_error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_through_is_round_half_even_with_positive_zero() {
        for (x, want) in [
            (2.5f32, 2.0f32),
            (-3.5, -4.0),
            (0.5, 0.0),
            (1.4, 1.0),
            (-0.3, 0.0),
        ] {
            let r = round_through(x);
            assert_eq!(r, want, "x = {x}");
        }
        assert!(round_through(-0.3).is_sign_positive());
        assert!(round_through(-0.0).is_sign_positive());
    }

    /// The f32 `n` bit patterns away from `x` (towards larger magnitude for `n > 0`).
    fn step(x: f32, n: i32) -> f32 {
        let b = x.to_bits() as i32;
        f32::from_bits((if x >= 0.0 { b + n } else { b - n }) as u32)
    }

    #[test]
    fn fast_rounding_matches_std() {
        let mut x = -20.0f32;
        while x < 20.0 {
            let near = [x, x + 0.5, step(x, 1), step(x + 0.5, -1)];
            for v in near.into_iter().filter(|v| !v.is_nan()) {
                assert_eq!(round_half_even(v), v.round_ties_even(), "round {v}");
                assert_eq!(ceil_through(v), v.ceil() + 0.0, "ceil {v}");
            }
            x += 0.25;
        }
        for v in [
            1e7f32,
            -1e7,
            8_388_607.5,
            -8_388_607.5,
            3e9,
            f32::MIN_POSITIVE,
        ] {
            assert_eq!(round_half_even(v), v.round_ties_even(), "round {v}");
            assert_eq!(
                ceil_through(v).to_bits(),
                (v.ceil() + 0.0).to_bits(),
                "ceil {v}"
            );
        }
        assert_eq!(round_half_even(f32::INFINITY), f32::INFINITY);
        // `x + (ceil(x) − x)` is NaN at infinity, in TF too.
        assert!(ceil_through(f32::INFINITY).is_nan());
        assert!(round_half_even(f32::NAN).is_nan());
        assert!(round_half_even(-0.25).is_sign_negative());
    }

    #[test]
    fn tf_clip_takes_min_then_max() {
        assert_eq!(tf_clip(5.0, 0.0, 3.0), 3.0);
        assert_eq!(tf_clip(-5.0, 0.0, 3.0), 0.0);
        assert_eq!(tf_clip(f32::INFINITY, 0.0, 1000.0), 1000.0);
        // lo > hi: the maximum wins, as in TF.
        assert_eq!(tf_clip(1.0, 2.0, 0.0), 2.0);
        assert!(tf_clip(f32::NAN, 0.0, 1.0).is_nan());
    }

    #[test]
    fn kmax_values() {
        assert_eq!(kmax_for_bits(2), 1.0);
        assert_eq!(kmax_for_bits(4), 7.0);
        assert_eq!(kmax_for_bits(8), 127.0);
    }

    #[test]
    fn scale_factor_array_round_trip() {
        let s = ScaleFactor::PerAxis(Array1::from(vec![1.0, 2.0]));
        assert_eq!(ScaleFactor::from_array(s.to_array()), s);
        let s = ScaleFactor::Scalar(3.0);
        assert_eq!(ScaleFactor::from_array(s.to_array()), s);
        assert_eq!(s.per_column(3), vec![3.0; 3]);
    }
}
