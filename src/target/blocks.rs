//! Block formation: which IR layers become one Akida 1.0 layer (`docs/conversion.md` §7.2),
//! and CNN2SNN's design rules for that (`docs/conversion.md` §9.1, §7.7).
//!
//! After the conversion passes, a convertible model is a chain of blocks, each a quantized
//! neural layer, an optional pooling (max pooling, or global average pooling on a
//! convolution) and a quantized activation; the last block may lack its activation (it then
//! outputs potentials). `flatten` and a final `softmax` produce no Akida layer. [`form_blocks`]
//! checks every rule and reports every violation, each located at the layers involved.

use super::ConvertError;
use crate::backend::nsoc::LayerKind;
use crate::ir::{Layer, Model, Op, Padding};
use crate::quant::ActivationSpec;

/// How a block pools.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockPool {
    None,
    Max { layer: usize },
    GlobalAverage { layer: usize },
}

/// One future Akida layer: indices into the model's layers.
#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    pub kind: LayerKind,
    pub neural: usize,
    /// A batch norm kept after a per-tensor quantized layer (`fold::bn_in_thresholds`): the
    /// emitter puts it in the thresholds and act_steps.
    pub bn: Option<usize>,
    pub pool: BlockPool,
    /// `None` for a last block without activation (its output is the potentials).
    pub activation: Option<usize>,
}

impl Block {
    /// The layers of the block, in order.
    pub fn layers(&self) -> Vec<usize> {
        let mut v = vec![self.neural];
        v.extend(self.bn);
        match self.pool {
            BlockPool::Max { layer } | BlockPool::GlobalAverage { layer } => v.push(layer),
            BlockPool::None => {}
        }
        v.extend(self.activation);
        v
    }

    /// The index of the block's last layer (its output).
    pub fn last(&self) -> usize {
        *self.layers().last().expect("a block has a neural layer")
    }
}

/// Groups the layers of a converted model into Akida blocks, reporting every rule broken.
pub fn form_blocks(model: &Model) -> Result<Vec<Block>, Vec<ConvertError>> {
    let (blocks, errs) = form_blocks_best_effort(model);
    if errs.is_empty() {
        Ok(blocks)
    } else {
        Err(errs)
    }
}

/// The blocks that could be formed, and every rule broken (for reporting hardware limits
/// alongside conversion errors).
pub fn form_blocks_best_effort(model: &Model) -> (Vec<Block>, Vec<ConvertError>) {
    let mut errs = Vec::new();
    let layers = &model.layers;
    let mut blocks: Vec<Block> = Vec::new();
    // The open block: neural layer index, pooling, and whether an activation closed it.
    let mut open: Option<Block> = None;
    let mut last_activation: Option<usize> = None;
    let next_neural = |from: usize| {
        layers[from + 1..]
            .iter()
            .position(|l| l.op.is_neural())
            .map(|p| from + 1 + p)
    };

    if let Some(first) = layers.first() {
        let channels = model.input.shape.channels();
        let ok = matches!(first.op, Op::Conv2D(_))
            && model.input.shape.is_image()
            && (channels == 1 || channels == 3);
        if !ok {
            errs.push(ConvertError::FirstLayer {
                layer: first.name.clone(),
                span: first.span,
                found: format!("{} on input {}", first.op.keras_class(), model.input.shape),
                help: Some(
                    "Akida 1.0 starts with an InputConvolutional layer: begin with `conv2d(...)` on an `[H, W, 1]` or `[H, W, 3]` input"
                        .to_string(),
                ),
            });
        }
    }

    for (i, layer) in layers.iter().enumerate() {
        match &layer.op {
            Op::Conv2D(_) | Op::SeparableConv2D(_) | Op::Dense(_) => {
                if let Some(b) = open.take() {
                    if b.activation.is_none() {
                        errs.push(ConvertError::MissingActivation {
                            first: layers[b.neural].name.clone(),
                            second: layer.name.clone(),
                            span: layer.span,
                            previous: layers[b.neural].span,
                        });
                    }
                    blocks.push(b);
                }
                check_quantized(layer, i == 0, &mut errs);
                if let Op::Dense(_) = layer.op {
                    let s = &layer.input_shape;
                    let flat = s.rank() == 1 || (s.is_image() && s.hw() == [1, 1]);
                    if !flat {
                        errs.push(ConvertError::DenseInput {
                            layer: layer.name.clone(),
                            found: s.to_string(),
                            span: layer.span,
                        });
                    }
                }
                let kind = match layer.op {
                    Op::Conv2D(_) if i == 0 => LayerKind::InputConvolutional,
                    Op::Conv2D(_) => LayerKind::Convolutional,
                    Op::SeparableConv2D(_) => LayerKind::SeparableConvolutional,
                    _ => LayerKind::FullyConnected,
                };
                open = Some(Block {
                    kind,
                    neural: i,
                    bn: None,
                    pool: BlockPool::None,
                    activation: None,
                });
                last_activation = None;
            }
            Op::MaxPool(_) | Op::GlobalAvgPool => {
                let after_conv = open.as_ref().filter(|b| {
                    b.activation.is_none() && b.pool == BlockPool::None && !matches!(layers[b.neural].op, Op::Dense(_))
                });
                match after_conv {
                    None => {
                        let detail = match (i, open.as_ref()) {
                            (0, _) => "a pooling cannot be the first layer".to_string(),
                            (_, None) => format!("after `{}`", layers[i - 1].name),
                            (_, Some(b)) if b.activation.is_some() => {
                                format!("after the activation `{}`", layers[i - 1].name)
                            }
                            (_, Some(b)) if b.pool != BlockPool::None => "a second pooling in one block".to_string(),
                            (_, Some(_)) => format!("after the dense layer `{}`", layers[i - 1].name),
                        };
                        errs.push(ConvertError::MisplacedPooling {
                            layer: layer.name.clone(),
                            span: layer.span,
                            detail,
                            help: Some("an Akida block is a convolution, then at most one pooling, then the activation".to_string()),
                        });
                    }
                    Some(b) => {
                        let conv = &layers[b.neural];
                        if let Op::MaxPool(p) = &layer.op {
                            let conv_padding = match &conv.op {
                                Op::Conv2D(c) => c.padding,
                                Op::SeparableConv2D(c) => c.padding,
                                _ => unreachable!("filtered: not dense"),
                            };
                            if p.padding != conv_padding {
                                errs.push(ConvertError::PoolingPadding {
                                    pool: layer.name.clone(),
                                    conv: conv.name.clone(),
                                    pool_padding: padding_name(p.padding),
                                    conv_padding: padding_name(conv_padding),
                                    span: layer.span,
                                    conv_span: conv.span,
                                });
                            }
                        }
                        let b = open.as_mut().expect("matched an open block");
                        b.pool = match layer.op {
                            Op::MaxPool(_) => BlockPool::Max { layer: i },
                            _ => BlockPool::GlobalAverage { layer: i },
                        };
                    }
                }
            }
            Op::QuantizedActivation(spec) => {
                let bits = match spec {
                    ActivationSpec::QuantizedRelu { bits, .. } | ActivationSpec::DiscreteRelu { bits } => *bits,
                };
                if ![1, 2, 4].contains(&bits) {
                    errs.push(ConvertError::ActivationBits {
                        layer: layer.name.clone(),
                        bits,
                        span: layer.span,
                    });
                }
                match open.as_mut() {
                    Some(b) if b.activation.is_none() => {
                        b.activation = Some(i);
                        last_activation = Some(i);
                    }
                    _ => {
                        let prev = last_activation.or_else(|| (i > 0).then(|| i - 1));
                        match prev {
                            Some(p) if layers[p].op.is_activation() => errs.push(ConvertError::MissingNeuralLayer {
                                first: layers[p].name.clone(),
                                second: layer.name.clone(),
                                span: layer.span,
                                previous: layers[p].span,
                            }),
                            _ => errs.push(unsupported(layer, "an activation without a neural layer before it", "start the model with a convolution")),
                        }
                    }
                }
            }
            Op::Flatten => {
                if let Some(next) = layers.get(i + 1) {
                    if !matches!(next.op, Op::Dense(_) | Op::Softmax) {
                        errs.push(ConvertError::MisplacedFlatten {
                            layer: layer.name.clone(),
                            next: next.name.clone(),
                            span: layer.span,
                            next_span: next.span,
                        });
                    }
                }
            }
            Op::Softmax => {
                if let Some(n) = next_neural(i) {
                    errs.push(ConvertError::ActivationBeforeNeural {
                        layer: layer.name.clone(),
                        class: layer.op.keras_class().to_string(),
                        next: layers[n].name.clone(),
                        span: layer.span,
                        next_span: layers[n].span,
                    });
                }
            }
            Op::Relu { .. } => errs.push(unsupported(layer, "a float activation", "quantize it: add `quantize(weights: 4, activations: 4)` to the model, or write `quantized_relu(bits: 4, ...)`")),
            // Right after its neural layer: kept by the fold pass for the thresholds.
            Op::BatchNorm(_) if open.as_ref().is_some_and(|b| b.neural + 1 == i) => {
                open.as_mut().expect("checked: a block is open").bn = Some(i);
            }
            Op::BatchNorm(_) => errs.push(unsupported(layer, "a batch norm that cannot be folded", "CNN2SNN folds a batch norm only right after a neural layer (or after its pooling); move it there")),
            Op::AvgPool(_) => errs.push(unsupported(layer, "average pooling must be global on Akida", "use `max_pool(...)`, or `global_avg_pool()` before the activation")),
            Op::Dropout { .. } => unreachable!("the conversion pipeline removes dropout before forming blocks"),
        }
    }
    if let Some(b) = open.take() {
        blocks.push(b);
    }
    errs.sort_by_key(|e| {
        miette::Diagnostic::labels(e)
            .and_then(|mut l| l.next())
            .map_or(0, |l| l.offset())
    });
    (blocks, errs)
}

/// A layer `cnn2snn.convert` cannot convert here, with why and what to do.
fn unsupported(layer: &Layer, reason: &str, help: &str) -> ConvertError {
    ConvertError::Unsupported {
        layer: layer.name.clone(),
        class: layer.op.keras_class().to_string(),
        span: layer.span,
        reason: reason.to_string(),
        help: Some(help.to_string()),
    }
}

fn padding_name(p: Padding) -> String {
    p.as_str().to_string()
}

/// A neural layer must be quantized, with bit-widths CNN2SNN converts (docs/conversion.md §7.7).
fn check_quantized(layer: &Layer, first: bool, errs: &mut Vec<ConvertError>) {
    let quantizers = layer.op.quantizers();
    if quantizers.is_empty() {
        errs.push(unsupported(layer, "a float layer", "quantize it: add `quantize(weights: 4, activations: 4, input_weights: 8)` to the model, or give it a `quantizer:`"));
        return;
    }
    if let Op::SeparableConv2D(s) = &layer.op {
        if let (Some(dw), Some(pw)) = (&s.quantizer_dw, &s.quantizer) {
            if dw.spec.bits != pw.spec.bits {
                errs.push(ConvertError::SeparableBits {
                    layer: layer.name.clone(),
                    dw: dw.spec.bits,
                    pw: pw.spec.bits,
                    span: layer.span,
                });
            }
        }
    }
    // The InputConvolutional bit-width is not checked by cnn2snn.
    if !first {
        let bits = quantizers.last().expect("non-empty").1.spec.bits;
        if ![2, 4, 8].contains(&bits) {
            errs.push(ConvertError::WeightBits {
                layer: layer.name.clone(),
                bits,
                span: layer.span,
            });
        }
    }
}
