//! Stage 2, AST → typed IR: resolved, checked, shaped models.
//!
//! A [`Model`] is a sequential chain of [`Layer`]s after its [`Input`]. Every name is resolved
//! (quantizer references are replaced by their specs), every default is filled in exactly as
//! Keras / CNN2SNN have it, and every layer knows its input and output shape (Keras semantics,
//! batch dimension left out). Spans point back into the `.q` file; they are skipped in RON
//! dumps so that reformatting a file does not change its IR.
//!
//! Invariants (established by [`lower`], kept by every pass):
//! - `layers[0].input_shape == input.shape`, and each layer's `input_shape` is the previous
//!   layer's `output_shape`;
//! - layer names are unique within a model;
//! - every size fits the limits of [`shape::Limits`], so shape products never overflow.
//!
//! Lowering, by concern:
//! - [`lower()`]: the entry points and the context all parts share;
//! - `model`: statements, automatic names, unique names;
//! - `layers`: [`LAYERS`], the one table of layer kinds (names, Keras prefixes and aliases,
//!   signatures, op constructors);
//! - `quantizer` and `formula`: quantizer kinds, definitions, references, bit-widths, and the
//!   scale formulas of `linear`;
//! - `args` and `values`: binding a call to a signature, and reading typed argument values;
//! - `infer`: shape inference and size limits ([`shape`] holds the window arithmetic);
//! - `suggest`: "did you mean" and lists of names for help messages.

mod args;
#[cfg(test)]
mod documents;
mod error;
mod formula;
mod infer;
mod layers;
mod lower;
mod model;
mod quantizer;
pub mod shape;
mod suggest;
pub mod summary;
mod values;

pub use args::{Param, ParamDefault};
pub use error::LowerError;
pub use layers::{LayerDef, LAYERS};
pub use lower::{lower, lower_quantizer, Lowering};
pub use shape::Shape;
pub use suggest::{code_list, did_you_mean};

use crate::quant::{ActivationSpec, QuantizerSpec};
use crate::source::Span;
use serde::{Deserialize, Serialize};

/// Every model of a file.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Module {
    pub models: Vec<Model>,
    /// The file's named quantizers (`quantizer NAME = …`).
    pub quantizers: std::collections::BTreeMap<String, QuantizerSpec>,
}

impl Module {
    /// The model called `name`.
    pub fn model(&self, name: &str) -> Option<&Model> {
        self.models.iter().find(|m| m.name == name)
    }
}

/// One model: an input and a chain of layers.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Model {
    pub name: String,
    /// The model's name in `model NAME { … }`.
    #[serde(skip)]
    pub span: Span,
    pub input: Input,
    /// The model's `quantize(...)` statement, if any (applied by the `quantize_layers` pass, `passes::quantize`).
    pub quantize: Option<QuantizeSpec>,
    pub layers: Vec<Layer>,
}

impl Model {
    /// The layer called `name`.
    pub fn layer(&self, name: &str) -> Option<&Layer> {
        self.layers.iter().find(|l| l.name == name)
    }

    /// The output shape of the whole model.
    pub fn output_shape(&self) -> &Shape {
        self.layers
            .last()
            .map_or(&self.input.shape, |l| &l.output_shape)
    }
}

/// `input(SHAPE, scale: S, offset: O)`: integer inputs `x_u8 = S · x_float + O`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Input {
    pub shape: Shape,
    pub scale: f64,
    pub offset: f64,
    #[serde(skip)]
    pub span: Span,
}

/// `quantize(weights: W, activations: A, input_weights: IW)`: `cnn2snn.quantize(model, W, A, IW)`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct QuantizeSpec {
    pub weights: u32,
    pub activations: u32,
    pub input_weights: u32,
    #[serde(skip)]
    pub span: Span,
}

/// One layer of a model.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Layer {
    pub name: String,
    pub op: Op,
    pub input_shape: Shape,
    pub output_shape: Shape,
    /// The whole statement that defines the layer.
    #[serde(skip)]
    pub span: Span,
    /// Layers that passes merged into this one (a folded batch norm), for diagnostics.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged: Vec<Origin>,
}

/// A layer that no longer exists on its own, with where it was written.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Origin {
    pub name: String,
    #[serde(skip)]
    pub span: Span,
}

/// What a layer computes.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub enum Op {
    Conv2D(Conv),
    SeparableConv2D(SeparableConv),
    Dense(Dense),
    MaxPool(Pool),
    AvgPool(Pool),
    GlobalAvgPool,
    BatchNorm(BatchNorm),
    /// A float ReLU, optionally capped (`ReLU(max_value)`).
    Relu {
        max_value: Option<f64>,
    },
    /// `QuantizedReLU` or `ActivationDiscreteRelu`.
    QuantizedActivation(ActivationSpec),
    Flatten,
    Dropout {
        rate: f64,
    },
    Softmax,
}

/// `padding: valid | same`: Keras window geometry, one implementation for the whole crate.
pub use crate::geometry::Padding;

/// A weight quantizer attached to a layer.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct QuantizerRef {
    pub spec: QuantizerSpec,
    /// The `quantizer NAME = …` it came from, if it was a reference.
    pub name: Option<String>,
    /// Where the quantizer was given (the argument value).
    #[serde(skip)]
    pub span: Span,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Conv {
    pub filters: usize,
    pub kernel: [usize; 2],
    pub strides: [usize; 2],
    pub padding: Padding,
    pub use_bias: bool,
    pub quantizer: Option<QuantizerRef>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SeparableConv {
    pub filters: usize,
    pub kernel: [usize; 2],
    pub strides: [usize; 2],
    pub padding: Padding,
    pub use_bias: bool,
    /// The pointwise quantizer.
    pub quantizer: Option<QuantizerRef>,
    /// The depthwise quantizer (defaults to a copy of `quantizer`).
    pub quantizer_dw: Option<QuantizerRef>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Dense {
    pub units: usize,
    pub use_bias: bool,
    pub quantizer: Option<QuantizerRef>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Pool {
    pub size: [usize; 2],
    pub strides: [usize; 2],
    pub padding: Padding,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct BatchNorm {
    pub epsilon: f64,
    pub momentum: f64,
    /// akida_models' gamma constraint: gamma is kept ≥ this value.
    pub gamma_min: Option<f64>,
}

/// One trainable or non-trainable array of a layer, named as in Keras (`kernel`, `bias`, …).
#[derive(Clone, Debug, PartialEq)]
pub struct Variable {
    pub name: &'static str,
    pub shape: Vec<usize>,
    pub trainable: bool,
    pub init: Init,
}

/// Keras' default initialiser of a variable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Init {
    GlorotUniform,
    Zeros,
    Ones,
}

impl Op {
    /// Whether this is a neural layer (one with a kernel).
    pub fn is_neural(&self) -> bool {
        matches!(self, Op::Conv2D(_) | Op::SeparableConv2D(_) | Op::Dense(_))
    }

    /// Whether this is an activation (float or quantized ReLU).
    pub fn is_activation(&self) -> bool {
        matches!(self, Op::Relu { .. } | Op::QuantizedActivation(_))
    }

    /// The Keras / CNN2SNN class this op stands for.
    pub fn keras_class(&self) -> &'static str {
        match self {
            Op::Conv2D(c) if c.quantizer.is_some() => "QuantizedConv2D",
            Op::Conv2D(_) => "Conv2D",
            Op::SeparableConv2D(c) if c.quantizer.is_some() => "QuantizedSeparableConv2D",
            Op::SeparableConv2D(_) => "SeparableConv2D",
            Op::Dense(d) if d.quantizer.is_some() => "QuantizedDense",
            Op::Dense(_) => "Dense",
            Op::MaxPool(_) => "MaxPooling2D",
            Op::AvgPool(_) => "AveragePooling2D",
            Op::GlobalAvgPool => "GlobalAveragePooling2D",
            Op::BatchNorm(_) => "BatchNormalization",
            Op::Relu { .. } => "ReLU",
            Op::QuantizedActivation(ActivationSpec::QuantizedRelu { .. }) => "QuantizedReLU",
            Op::QuantizedActivation(ActivationSpec::DiscreteRelu { .. }) => {
                "ActivationDiscreteRelu"
            }
            Op::Flatten => "Flatten",
            Op::Dropout { .. } => "Dropout",
            Op::Softmax => "Softmax",
        }
    }

    /// The weight quantizers of this op: `(variable, quantizer)`.
    pub fn quantizers(&self) -> Vec<(&'static str, &QuantizerRef)> {
        match self {
            Op::Conv2D(c) => c.quantizer.iter().map(|q| ("kernel", q)).collect(),
            Op::Dense(d) => d.quantizer.iter().map(|q| ("kernel", q)).collect(),
            Op::SeparableConv2D(s) => {
                let mut v = Vec::new();
                if let Some(q) = &s.quantizer_dw {
                    v.push(("depthwise_kernel", q));
                }
                if let Some(q) = &s.quantizer {
                    v.push(("pointwise_kernel", q));
                }
                v
            }
            _ => Vec::new(),
        }
    }
}

impl Layer {
    /// The variables of this layer, in Keras order, with their shapes.
    pub fn variables(&self) -> Vec<Variable> {
        let cin = self.input_shape.channels();
        let var = |name, shape: Vec<usize>, trainable, init| Variable {
            name,
            shape,
            trainable,
            init,
        };
        let mut v = Vec::new();
        match &self.op {
            Op::Conv2D(c) => {
                v.push(var(
                    "kernel",
                    vec![c.kernel[0], c.kernel[1], cin, c.filters],
                    true,
                    Init::GlorotUniform,
                ));
                if c.use_bias {
                    v.push(var("bias", vec![c.filters], true, Init::Zeros));
                }
            }
            Op::SeparableConv2D(c) => {
                v.push(var(
                    "depthwise_kernel",
                    vec![c.kernel[0], c.kernel[1], cin, 1],
                    true,
                    Init::GlorotUniform,
                ));
                v.push(var(
                    "pointwise_kernel",
                    vec![1, 1, cin, c.filters],
                    true,
                    Init::GlorotUniform,
                ));
                if c.use_bias {
                    v.push(var("bias", vec![c.filters], true, Init::Zeros));
                }
            }
            Op::Dense(d) => {
                v.push(var("kernel", vec![cin, d.units], true, Init::GlorotUniform));
                if d.use_bias {
                    v.push(var("bias", vec![d.units], true, Init::Zeros));
                }
            }
            Op::BatchNorm(_) => {
                v.push(var("gamma", vec![cin], true, Init::Ones));
                v.push(var("beta", vec![cin], true, Init::Zeros));
                v.push(var("moving_mean", vec![cin], false, Init::Zeros));
                v.push(var("moving_variance", vec![cin], false, Init::Ones));
            }
            _ => {}
        }
        v
    }

    /// `(trainable, non-trainable)` parameter counts.
    pub fn param_counts(&self) -> (u64, u64) {
        let mut counts = (0, 0);
        for v in self.variables() {
            let n: u64 = v.shape.iter().map(|&d| d as u64).product();
            if v.trainable {
                counts.0 += n;
            } else {
                counts.1 += n;
            }
        }
        counts
    }
}
