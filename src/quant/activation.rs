//! Quantized activations (`docs/conversion.md` §2): `QuantizedReLU` and
//! `ActivationDiscreteRelu` of CNN2SNN, bit for bit, with their straight-through gradient, on
//! scalars and on slices.
//!
//! Op order (f32): `d = x − threshold`, `q = d / step`, `a = q + (ceil(q) − q)` (the forward
//! value of `ceil_through`), `n = maximum(minimum(a, levels), 0)`, `y = step · n`. The gradient
//! passes where `0 ≤ a ≤ levels`, as `(g · step) / step` (TF's `Mul` then `RealDiv`
//! gradients), and is 0 elsewhere.

use super::weight::ceil_through;
use super::ActivationSpec;

/// A quantized ReLU: `levels + 1` output values `{0, step, …, levels · step}`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QuantizedActivation {
    /// The bit-width (≥ 1).
    pub bits: u32,
    /// `2^bits − 1` (a Python float in CNN2SNN, f32 where it meets a tensor).
    pub levels: f32,
    /// The quantization step (f32 scalar tensor in CNN2SNN).
    pub step: f32,
    /// `step · 0.5` (f32).
    pub threshold: f32,
}

fn levels_f64(bits: u32) -> f64 {
    assert!(
        bits > 0,
        "an activation needs at least 1 bit (the front end rejects bitwidth 0)"
    );
    2f64.powi(bits as i32) - 1.0
}

impl QuantizedActivation {
    /// The activation a spec describes.
    pub fn new(spec: &ActivationSpec) -> QuantizedActivation {
        match *spec {
            ActivationSpec::QuantizedRelu { bits, max_value } => {
                QuantizedActivation::quantized_relu(bits, max_value)
            }
            ActivationSpec::DiscreteRelu { bits } => QuantizedActivation::discrete_relu(bits),
        }
    }

    /// `QuantizedReLU(bits, max_value)`: `step = f32(max_value) / f32(levels)` (an f32
    /// division), `max_value` defaulting to `2^bits − 1`. Panics if `bits` is 0.
    pub fn quantized_relu(bits: u32, max_value: Option<f64>) -> QuantizedActivation {
        let levels = levels_f64(bits);
        let max_value = max_value.unwrap_or(levels) as f32;
        QuantizedActivation::with_step(bits, levels, max_value / levels as f32)
    }

    /// `ActivationDiscreteRelu(bits)`: `step = f32(min(levels, 6) / levels)` (the division in
    /// f64). Panics if `bits` is 0.
    pub fn discrete_relu(bits: u32) -> QuantizedActivation {
        let levels = levels_f64(bits);
        QuantizedActivation::with_step(bits, levels, (levels.min(6.0) / levels) as f32)
    }

    fn with_step(bits: u32, levels: f64, step: f32) -> QuantizedActivation {
        QuantizedActivation {
            bits,
            levels: levels as f32,
            step,
            threshold: step * 0.5,
        }
    }

    /// The largest output, `levels · step` (f32).
    pub fn max_output(&self) -> f32 {
        self.step * self.levels
    }

    /// `ceil_through((x − threshold) / step)`: the unclipped level (`+0` rather than `−0`).
    #[inline]
    fn ceiled(&self, x: f32) -> f32 {
        ceil_through((x - self.threshold) / self.step)
    }

    /// The level `n ∈ [0, levels]` as the f32 that multiplies `step`.
    #[inline]
    pub fn level_f32(&self, x: f32) -> f32 {
        let a = self.ceiled(x);
        let t = if self.levels < a { self.levels } else { a };
        if t < 0.0 {
            0.0
        } else {
            t
        }
    }

    /// The integer level `n` (what Akida passes to the next layer).
    #[inline]
    pub fn level(&self, x: f32) -> u32 {
        self.level_f32(x) as u32
    }

    /// The activation's output `step · n`.
    #[inline]
    pub fn apply(&self, x: f32) -> f32 {
        self.step * self.level_f32(x)
    }

    /// Whether the straight-through gradient passes at `x`: `0 ≤ ceil(q) ≤ levels`, i.e.
    /// `x ∈ (threshold − step, threshold + levels · step]` up to f32 rounding.
    #[inline]
    pub fn passes_gradient(&self, x: f32) -> bool {
        let a = self.ceiled(x);
        let t = if self.levels < a { self.levels } else { a };
        a <= self.levels && t >= 0.0
    }

    /// `dL/dx` at `x` given `dL/dy`.
    #[inline]
    pub fn grad(&self, x: f32, upstream: f32) -> f32 {
        if self.passes_gradient(x) {
            (upstream * self.step) / self.step
        } else {
            0.0
        }
    }

    /// `y[i] = apply(x[i])`. Panics if the slices differ in length.
    #[inline]
    pub fn forward_slice(&self, x: &[f32], y: &mut [f32]) {
        assert_eq!(
            x.len(),
            y.len(),
            "activation input and output lengths differ"
        );
        for (o, &v) in y.iter_mut().zip(x) {
            *o = self.apply(v);
        }
    }

    /// `x[i] = apply(x[i])` in place.
    pub fn forward_in_place(&self, x: &mut [f32]) {
        for v in x.iter_mut() {
            *v = self.apply(*v);
        }
    }

    /// `n[i] = level(x[i])`. Panics if the slices differ in length.
    pub fn levels_slice(&self, x: &[f32], n: &mut [u32]) {
        assert_eq!(
            x.len(),
            n.len(),
            "activation input and level lengths differ"
        );
        for (o, &v) in n.iter_mut().zip(x) {
            *o = self.level(v);
        }
    }

    /// `dx[i] = grad(x[i], upstream[i])`. Panics if the slices differ in length.
    #[inline]
    pub fn backward_slice(&self, x: &[f32], upstream: &[f32], dx: &mut [f32]) {
        assert!(
            x.len() == upstream.len() && x.len() == dx.len(),
            "activation backward slices differ in length"
        );
        for ((o, &v), &g) in dx.iter_mut().zip(x).zip(upstream) {
            *o = self.grad(v, g);
        }
    }

    /// `grad[i] = grad(x[i], grad[i])` in place. Panics if the slices differ in length.
    pub fn backward_in_place(&self, x: &[f32], grad: &mut [f32]) {
        assert_eq!(
            x.len(),
            grad.len(),
            "activation backward slices differ in length"
        );
        for (g, &v) in grad.iter_mut().zip(x) {
            *g = self.grad(v, *g);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_of_the_spec() {
        let a = QuantizedActivation::quantized_relu(4, Some(6.0));
        assert_eq!(a.step, 0.4f32);
        assert_eq!(a.threshold, 0.2f32);
        assert_eq!(a.levels, 15.0);
        let a = QuantizedActivation::quantized_relu(4, None);
        assert_eq!((a.step, a.threshold), (1.0, 0.5));
        let a = QuantizedActivation::discrete_relu(3);
        assert_eq!(a.step, (6.0f64 / 7.0) as f32);
        let a = QuantizedActivation::discrete_relu(1);
        assert_eq!((a.step, a.threshold, a.levels), (1.0, 0.5, 1.0));
    }

    #[test]
    fn zero_output_is_positive_zero() {
        let a = QuantizedActivation::quantized_relu(4, Some(6.0));
        assert!(a.apply(0.1).is_sign_positive());
        assert_eq!(a.apply(0.1), 0.0);
    }

    #[test]
    #[should_panic(expected = "at least 1 bit")]
    fn zero_bits_is_an_invariant_violation() {
        QuantizedActivation::discrete_relu(0);
    }
}
