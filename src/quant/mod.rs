//! Quantization semantics of CNN2SNN 2.3.7: weight quantizers and quantized activations.
//!
//! This module owns the *numbers*: what a quantizer spec (as lowered from a `.q` file) computes
//! for a kernel, bit for bit as the original f32 TensorFlow op sequence does, and the
//! straight-through gradients used for training. It knows nothing about models or layers.
//!
//! The spec types below are the contract between the front end (which builds them from the
//! source) and the numeric code (which evaluates them).

use serde::{Deserialize, Serialize};

/// A weight quantizer as the user wrote it: its kind and bit-width.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QuantizerSpec {
    pub kind: QuantizerKind,
    /// Bit-width, `> 1` (checked by the front end).
    pub bits: u32,
}

/// The built-in CNN2SNN quantizer classes plus the formula-defined `linear` quantizer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum QuantizerKind {
    /// `MaxQuantizer`: per-tensor, `sf = clip(kmax / max|w|, 0, 1000)`.
    Max,
    /// `MaxPerAxisQuantizer`: one scale factor per index of the last axis.
    MaxPerAxis,
    /// `StdWeightQuantizer(threshold)`: per-tensor, `sf = clip(kmax / (std(w) * threshold), 0, 1000)`.
    Std { threshold: f64 },
    /// `StdPerAxisQuantizer(threshold)`.
    StdPerAxis { threshold: f64 },
    /// A custom `LinearWeightQuantizer` whose `scale_factor(w)` is a formula.
    Linear { scale: ScaleExpr, per_axis: bool },
}

/// The scale-factor formula of a `linear` quantizer, evaluated in f32.
///
/// Reductions reduce every axis of `w` (per-tensor) or every axis but the last (`per_axis`).
/// The front end guarantees that the formula's result is a scalar, or a per-axis vector when
/// `per_axis` is set, never a full tensor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ScaleExpr {
    /// A literal number (converted to f32 where it meets an f32 value, as TF does).
    Num(f64),
    /// The kernel `w`.
    W,
    /// `2^(bits-1) - 1`.
    Kmax,
    /// The bit-width.
    Bits,
    Neg(Box<ScaleExpr>),
    Bin(BinOp, Box<ScaleExpr>, Box<ScaleExpr>),
    /// A one-argument function: the reductions `max`, `min`, `mean`, `std` and the
    /// elementwise `abs`, `sqrt`.
    Call(ScaleFn, Box<ScaleExpr>),
    /// `clip(x, lo, hi)`, elementwise.
    Clip(Box<ScaleExpr>, Box<ScaleExpr>, Box<ScaleExpr>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScaleFn {
    Max,
    Min,
    Mean,
    /// Population standard deviation (`tf.math.reduce_std`).
    Std,
    Abs,
    Sqrt,
}

impl ScaleFn {
    pub fn is_reduction(self) -> bool {
        matches!(
            self,
            ScaleFn::Max | ScaleFn::Min | ScaleFn::Mean | ScaleFn::Std
        )
    }
}

/// A quantized activation as the user wrote it (or as `quantize(...)` produced it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ActivationSpec {
    /// `QuantizedReLU(bitwidth, max_value)`; `None` means the default `2^bits - 1`.
    QuantizedRelu { bits: u32, max_value: Option<f64> },
    /// `ActivationDiscreteRelu(bitwidth)`.
    DiscreteRelu { bits: u32 },
}
