//! `quantize_layers` (the layer-cloning step of `cnn2snn.quantize`, `docs/conversion.md` §4)
//! and `dequantize` (the float view of a model).

use super::{Graph, PassError};
use crate::ir::{Model, Op, QuantizeSpec, QuantizerRef};
use crate::quant::{ActivationSpec, QuantizedActivation, QuantizerKind, QuantizerSpec};

/// Gives every neural layer and activation the quantization `spec` asks for: float layers get
/// `max_per_axis(bits)` (`max(bits)` for a depthwise kernel), already quantized ones keep their
/// kind with the bit-width replaced; ReLUs become `quantized_relu`. Bit-width 0 keeps a float
/// layer float and is an error for an already quantized one.
pub(super) fn quantize_layers(g: &mut Graph, spec: &QuantizeSpec, diags: &mut Vec<PassError>) {
    let first_neural = g.model.layers.iter().position(|l| l.op.is_neural());
    for (i, layer) in g.model.layers.iter_mut().enumerate() {
        let (bits, category) = if Some(i) == first_neural {
            (spec.input_weights, "input_weights")
        } else {
            (spec.weights, "weights")
        };
        let name = layer.name.clone();
        let span = layer.span;
        let replace = |q: &mut QuantizerRef, diags: &mut Vec<PassError>| {
            if bits == 0 {
                diags.push(PassError::ZeroBits {
                    what: format!("the quantized layer `{name}`"),
                    span: q.span,
                    statement: spec.span,
                    category: category.to_string(),
                    help: Some(format!(
                        "give `{category}` a bit-width, or remove the quantizer of `{name}`"
                    )),
                });
                return;
            }
            if q.spec.bits != bits {
                diags.push(PassError::BitsReplaced {
                    layer: name.clone(),
                    category: "weight bit-width".to_string(),
                    old: q.spec.bits,
                    new: bits,
                    span: q.span,
                    statement: spec.span,
                    help: Some(
                        "CNN2SNN replaces the bit-width of already quantized layers; remove the layer's quantizer or the statement to silence this".to_string(),
                    ),
                });
                q.spec.bits = bits;
            }
        };
        let new_ref = |kind: QuantizerKind| QuantizerRef {
            spec: QuantizerSpec { kind, bits },
            name: None,
            span: spec.span,
        };
        match &mut layer.op {
            Op::Conv2D(c) => match &mut c.quantizer {
                Some(q) => replace(q, diags),
                None if bits > 0 => c.quantizer = Some(new_ref(QuantizerKind::MaxPerAxis)),
                None => {}
            },
            Op::Dense(d) => match &mut d.quantizer {
                Some(q) => replace(q, diags),
                None if bits > 0 => d.quantizer = Some(new_ref(QuantizerKind::MaxPerAxis)),
                None => {}
            },
            Op::SeparableConv2D(s) => match &mut s.quantizer {
                Some(q) => {
                    replace(q, diags);
                    if let Some(dw) = &mut s.quantizer_dw {
                        if bits > 0 {
                            dw.spec.bits = bits;
                        }
                    }
                }
                None if bits > 0 => {
                    s.quantizer = Some(new_ref(QuantizerKind::MaxPerAxis));
                    s.quantizer_dw = Some(new_ref(QuantizerKind::Max));
                }
                None => {}
            },
            Op::Relu { max_value } if spec.activations > 0 => {
                layer.op = Op::QuantizedActivation(ActivationSpec::QuantizedRelu {
                    bits: spec.activations,
                    max_value: *max_value,
                });
            }
            Op::QuantizedActivation(act) => {
                if spec.activations == 0 {
                    diags.push(PassError::ZeroBits {
                        what: format!("the quantized activation `{name}`"),
                        span,
                        statement: spec.span,
                        category: "activations".to_string(),
                        help: Some(format!(
                            "give `activations` a bit-width, or make `{name}` a `relu()`"
                        )),
                    });
                    continue;
                }
                *act = match act {
                    // CNN2SNN resolves the default `max_value = 2^B − 1` when the layer is
                    // built and `quantize` only replaces the bit-width in its config: the cap
                    // stays that of the original bits (`(2^B − 1)/(2^A − 1)` per step).
                    ActivationSpec::QuantizedRelu { bits, max_value } => {
                        ActivationSpec::QuantizedRelu {
                            bits: spec.activations,
                            max_value: Some(max_value.unwrap_or(((1u64 << *bits) - 1) as f64)),
                        }
                    }
                    // ActivationDiscreteRelu → QuantizedReLU(bits, step · levels).
                    ActivationSpec::DiscreteRelu { bits } => {
                        let a = QuantizedActivation::discrete_relu(*bits);
                        ActivationSpec::QuantizedRelu {
                            bits: spec.activations,
                            max_value: Some(a.step as f64 * a.levels as f64),
                        }
                    }
                };
            }
            _ => {}
        }
    }
    g.model.quantize = None;
}

/// The float model: no weight quantizer, and every quantized activation a ReLU capped at the
/// activation's largest output.
pub(super) fn dequantize(g: &mut Graph) {
    g.model = float_view(&g.model);
}

/// `model` without its quantization (what `--float` runs).
pub fn float_view(model: &Model) -> Model {
    let mut m = model.clone();
    m.quantize = None;
    for layer in &mut m.layers {
        match &mut layer.op {
            Op::Conv2D(c) => c.quantizer = None,
            Op::Dense(d) => d.quantizer = None,
            Op::SeparableConv2D(s) => {
                s.quantizer = None;
                s.quantizer_dw = None;
            }
            Op::QuantizedActivation(spec) => {
                let max_value = match spec {
                    ActivationSpec::QuantizedRelu { bits, max_value } => {
                        max_value.unwrap_or(((1u64 << *bits) - 1) as f64)
                    }
                    ActivationSpec::DiscreteRelu { bits } => {
                        (((1u64 << *bits) - 1) as f64).min(6.0)
                    }
                };
                layer.op = Op::Relu {
                    max_value: Some(max_value),
                };
            }
            _ => {}
        }
    }
    m
}
