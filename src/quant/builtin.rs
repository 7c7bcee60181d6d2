//! The built-in CNN2SNN quantizers (`docs/conversion.md` §1.3–§1.6): `MaxQuantizer`,
//! `MaxPerAxisQuantizer`, `StdWeightQuantizer` and `StdPerAxisQuantizer`, with fused
//! single-pass scale factors and the TF gradients of their scale-factor formulas.
//!
//! Op order (f32, as the Python sources evaluate it):
//! * max: `m = reduce_max(abs(w))` (per-axis: `clip(m, f32(1e-10), f32::MAX)`),
//!   `sf = clip(kmax / m, 0, 1000)`;
//! * std: `σ = reduce_std(w)`, `sf = clip(kmax / (σ · f32(threshold)), 0, 1000)`.
//!
//! Per-axis reduces every axis but the last; everything else reduces the whole tensor.

use super::reduce::{self, Layout};
use super::weight::{contiguous, tf_clip, ScaleFactor, WeightQuantizer};
use ndarray::{Array1, ArrayD, ArrayViewD};

/// Upper bound of `clip_scale_factor` (CNN2SNN ≥ 2.0 clips every built-in scale factor to
/// `[0, 1000]`).
pub const SCALE_FACTOR_MAX: f32 = 1000.0;

/// Lower clip of the per-axis ranges of `MaxPerAxisQuantizer` (`1e-10` as f32).
const RANGE_MIN: f32 = 1e-10;

fn assert_bits(bits: u32) {
    assert!(
        bits > 1,
        "a weight quantizer needs more than 1 bit (the front end rejects bitwidth {bits})"
    );
}

/// The scale factor's shape: one value per last-axis index for a per-axis quantizer on a
/// kernel of rank ≥ 1, otherwise a scalar (as TF's reductions shape them).
fn shaped(per_axis: bool, rank: usize, values: Vec<f32>) -> ScaleFactor {
    if per_axis && rank > 0 {
        ScaleFactor::PerAxis(Array1::from(values))
    } else {
        assert_eq!(values.len(), 1, "a per-tensor scale factor has one value");
        ScaleFactor::Scalar(values[0])
    }
}

/// The upstream of `clip_scale_factor(s)`: TF's `minimum`/`maximum` gradients pass where
/// `s ≤ 1000` and `min(s, 1000) ≥ 0`.
fn clip_sf_grad(s: f32, g: f32) -> f32 {
    let t = if SCALE_FACTOR_MAX < s {
        SCALE_FACTOR_MAX
    } else {
        s
    };
    if s <= SCALE_FACTOR_MAX && t >= 0.0 {
        g
    } else {
        0.0
    }
}

fn check_d_sf(d_sf: &ScaleFactor, layout: Layout) -> &[f32] {
    let g = d_sf.as_slice();
    assert_eq!(
        g.len(),
        layout.cols,
        "the scale-factor gradient must be shaped like the scale factor"
    );
    g
}

/// `MaxQuantizer(bitwidth)` / `MaxPerAxisQuantizer(bitwidth)`: `sf = kmax / max|w|`.
#[derive(Clone, Debug, PartialEq)]
pub struct MaxQuantizer {
    bits: u32,
    per_axis: bool,
}

impl MaxQuantizer {
    /// `MaxQuantizer(bits)`: one scale factor for the tensor. Panics if `bits < 2`.
    pub fn new(bits: u32) -> MaxQuantizer {
        assert_bits(bits);
        MaxQuantizer {
            bits,
            per_axis: false,
        }
    }

    /// `MaxPerAxisQuantizer(bits)`: one scale factor per output channel. Panics if `bits < 2`.
    pub fn per_axis(bits: u32) -> MaxQuantizer {
        assert_bits(bits);
        MaxQuantizer {
            bits,
            per_axis: true,
        }
    }

    /// Whether this is the per-axis variant.
    pub fn is_per_axis(&self) -> bool {
        self.per_axis
    }

    /// The range before and after the per-axis `[1e-10, f32::MAX]` clip, per column.
    fn ranges(&self, data: &[f32], layout: Layout) -> (Vec<f32>, Vec<f32>) {
        let raw = reduce::max(layout, &|i, _| data[i].abs());
        let clipped = if self.per_axis {
            raw.iter()
                .map(|&m| tf_clip(m, RANGE_MIN, f32::MAX))
                .collect()
        } else {
            raw.clone()
        };
        (raw, clipped)
    }
}

/// Runs `f` on the kernel `w` as contiguous values and the reduction layout of a quantizer
/// that is per-axis or not.
fn with_columns<R>(
    w: &ArrayViewD<'_, f32>,
    per_axis: bool,
    f: impl FnOnce(&[f32], Layout) -> R,
) -> R {
    let (data, _) = contiguous(w);
    let data = data.as_slice().expect("standard layout is contiguous");
    f(data, Layout::of(w.shape(), per_axis))
}

/// The gradient, through `sf = clip(kmax / d)`, of the per-column denominator `d`, given the
/// gradient `g` of the scale factor.
fn d_denominator(kmax: f32, d: f32, g: f32) -> f32 {
    clip_sf_grad(kmax / d, g) * ((-kmax / d) / d)
}

impl WeightQuantizer for MaxQuantizer {
    fn bits(&self) -> u32 {
        self.bits
    }

    fn scale_factor(&self, w: ArrayViewD<'_, f32>) -> ScaleFactor {
        with_columns(&w, self.per_axis, |data, layout| {
            let kmax = self.kmax();
            let (_, ranges) = self.ranges(data, layout);
            let sf = ranges
                .iter()
                .map(|&m| tf_clip(kmax / m, 0.0, SCALE_FACTOR_MAX))
                .collect();
            shaped(self.per_axis, w.ndim(), sf)
        })
    }

    fn scale_factor_vjp(&self, w: ArrayViewD<'_, f32>, d_sf: &ScaleFactor) -> ArrayD<f32> {
        with_columns(&w, self.per_axis, |data, layout| {
            let g = check_d_sf(d_sf, layout);
            let kmax = self.kmax();
            let (raw, ranges) = self.ranges(data, layout);
            // Upstream of `reduce_max(abs(w))` per column.
            let g_max: Vec<f32> = raw
                .iter()
                .zip(&ranges)
                .zip(g)
                .map(|((&m_raw, &m), &g)| {
                    let g_m = d_denominator(kmax, m, g);
                    if !self.per_axis {
                        return g_m;
                    }
                    let t = if f32::MAX < m_raw { f32::MAX } else { m_raw };
                    if m_raw <= f32::MAX && t >= RANGE_MIN {
                        g_m
                    } else {
                        0.0
                    }
                })
                .collect();
            let abs = |i: usize, _: usize| data[i].abs();
            let mut out = vec![0.0f32; data.len()];
            reduce::extremum_vjp(layout, &abs, &raw, &g_max, &mut out);
            for (o, &x) in out.iter_mut().zip(data) {
                *o *= sign(x);
            }
            ArrayD::from_shape_vec(w.raw_dim(), out).expect("gradient has the kernel's size")
        })
    }
}

/// `tf.math.sign` for f32: −1, 0 or 1 (NaN stays NaN).
pub(crate) fn sign(x: f32) -> f32 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        x * 0.0
    }
}

/// `StdWeightQuantizer(threshold, bitwidth)` / `StdPerAxisQuantizer`:
/// `sf = kmax / (σ(w) · threshold)`.
#[derive(Clone, Debug, PartialEq)]
pub struct StdQuantizer {
    bits: u32,
    threshold: f32,
    per_axis: bool,
}

impl StdQuantizer {
    /// `StdWeightQuantizer(threshold, bits)`; the threshold is used as f32. Panics if
    /// `bits < 2`.
    pub fn new(bits: u32, threshold: f64) -> StdQuantizer {
        assert_bits(bits);
        StdQuantizer {
            bits,
            threshold: threshold as f32,
            per_axis: false,
        }
    }

    /// `StdPerAxisQuantizer(threshold, bits)`. Panics if `bits < 2`.
    pub fn per_axis(bits: u32, threshold: f64) -> StdQuantizer {
        StdQuantizer {
            per_axis: true,
            ..StdQuantizer::new(bits, threshold)
        }
    }

    /// The standard-deviation multiplier (f32).
    pub fn threshold(&self) -> f32 {
        self.threshold
    }

    /// Whether this is the per-axis variant.
    pub fn is_per_axis(&self) -> bool {
        self.per_axis
    }
}

impl WeightQuantizer for StdQuantizer {
    fn bits(&self) -> u32 {
        self.bits
    }

    fn scale_factor(&self, w: ArrayViewD<'_, f32>) -> ScaleFactor {
        with_columns(&w, self.per_axis, |data, layout| {
            let kmax = self.kmax();
            let parts = reduce::std(layout, &|i, _| data[i]);
            let sf = parts
                .sigma
                .iter()
                .map(|&s| tf_clip(kmax / (s * self.threshold), 0.0, SCALE_FACTOR_MAX))
                .collect();
            shaped(self.per_axis, w.ndim(), sf)
        })
    }

    fn scale_factor_vjp(&self, w: ArrayViewD<'_, f32>, d_sf: &ScaleFactor) -> ArrayD<f32> {
        with_columns(&w, self.per_axis, |data, layout| {
            let g = check_d_sf(d_sf, layout);
            let kmax = self.kmax();
            let x = |i: usize, _: usize| data[i];
            let parts = reduce::std(layout, &x);
            let d_sigma: Vec<f32> = parts
                .sigma
                .iter()
                .zip(g)
                .map(|(&s, &g)| {
                    let scaled = s * self.threshold;
                    d_denominator(kmax, scaled, g) * self.threshold
                })
                .collect();
            let mut out = vec![0.0f32; data.len()];
            reduce::std_vjp(layout, &x, &parts, &d_sigma, &mut out);
            ArrayD::from_shape_vec(w.raw_dim(), out).expect("gradient has the kernel's size")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{arr1, arr2};

    #[test]
    fn worked_example_max() {
        // docs/conversion.md §11 A.
        let w = arr1(&[0.1f32, -0.25, 0.05, 0.5]).into_dyn();
        let q = MaxQuantizer::new(4);
        assert_eq!(q.scale_factor(w.view()), ScaleFactor::Scalar(14.0));
        let ints = q.integers(w.view());
        assert_eq!(ints.iter().copied().collect::<Vec<_>>(), vec![1, -4, 1, 7]);
    }

    #[test]
    fn zero_tensor_gets_the_clipped_factor() {
        let w = arr2(&[[0.0f32, 0.0], [0.0, 0.0]]).into_dyn();
        assert_eq!(
            MaxQuantizer::new(4).scale_factor(w.view()),
            ScaleFactor::Scalar(1000.0)
        );
        let sf = MaxQuantizer::per_axis(4).scale_factor(w.view());
        assert_eq!(sf.as_slice(), &[1000.0, 1000.0]);
        let sf = StdQuantizer::new(4, 3.0).scale_factor(w.view());
        assert_eq!(sf, ScaleFactor::Scalar(1000.0));
    }

    #[test]
    fn sign_of_zero_is_zero() {
        assert_eq!(sign(0.0), 0.0);
        assert_eq!(sign(-2.0), -1.0);
        assert_eq!(sign(3.0), 1.0);
    }
}
