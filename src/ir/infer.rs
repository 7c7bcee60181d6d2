//! Shape inference: each layer's output shape from its input shape, Keras semantics (convolution
//! and pooling windows, flattening, dense on the last axis), the checks that go with it
//! (image inputs, windows that fit), and the size limits of [`super::shape::Limits`] on tensors and
//! parameters. The window arithmetic itself is [`super::shape`]'s, shared with the executors.

use super::error::LowerError;
use super::lower::Cx;
use super::model::Pending;
use super::shape::window_out;
use super::summary::thousands;
use super::{Conv, Layer, Op, Padding, SeparableConv, Shape};
use crate::source::Span;

impl Cx {
    /// The layers of a model in order, each with its shapes, starting from `input`. `None`
    /// (after reporting) at the first layer whose shape cannot be known: one whose arguments
    /// had errors, one that does not fit its input, or one beyond the limits.
    pub(super) fn chain(&mut self, input: &Shape, pending: Vec<Pending>) -> Option<Vec<Layer>> {
        let mut layers = Vec::new();
        let mut shape = input.clone();
        let mut total_params: u64 = 0;
        let mut flattened_by: Option<String> = None;
        for Pending {
            name,
            span,
            op,
            callee_span,
            ..
        } in pending
        {
            // Without this layer's arguments the shapes after it are unknown.
            let op = op?;
            let out = self.infer(&name, &op, &shape, callee_span, flattened_by.as_deref())?;
            if shape.is_image() && !out.is_image() {
                flattened_by = Some(name.clone());
            }
            let layer = Layer {
                name,
                op,
                input_shape: shape,
                output_shape: out.clone(),
                span,
                merged: Vec::new(),
            };
            for v in layer.variables() {
                let n: u64 = v.shape.iter().map(|&d| d as u64).product();
                if n > self.limits.max_params {
                    let what = format!(
                        "the `{}` of `{}` has {} parameters",
                        v.name,
                        layer.name,
                        thousands(n)
                    );
                    self.too_many_params(what, callee_span, "check the sizes of this layer");
                    return None;
                }
                total_params += n;
            }
            if total_params > self.limits.max_params {
                let what = format!(
                    "the model has {} parameters up to `{}`",
                    thousands(total_params),
                    layer.name
                );
                self.too_many_params(what, callee_span, "check the sizes of the layers");
                return None;
            }
            shape = out;
            layers.push(layer);
        }
        Some(layers)
    }

    /// Whether `shape` has at most `limits.max_tensor_elements` elements; reports
    /// `what(count)` with `advice` when not.
    pub(super) fn tensor_fits(
        &mut self,
        shape: &Shape,
        what: impl FnOnce(String) -> String,
        span: Span,
        advice: &str,
    ) -> bool {
        let limit = self.limits.max_tensor_elements;
        if shape.elements() <= limit {
            return true;
        }
        self.errs.push(LowerError::TooLarge {
            what: what(thousands(shape.elements())),
            limit: thousands(limit),
            span,
            help: Some(format!(
                "{advice}; qnnc refuses tensors this large before allocating them"
            )),
        });
        false
    }

    fn too_many_params(&mut self, what: String, span: Span, advice: &str) {
        self.errs.push(LowerError::TooLarge {
            what,
            limit: thousands(self.limits.max_params),
            span,
            help: Some(format!(
                "{advice}; qnnc refuses models this large before allocating them"
            )),
        });
    }

    /// The output shape of `op` on `input`, Keras semantics.
    fn infer(
        &mut self,
        layer: &str,
        op: &Op,
        input: &Shape,
        span: Span,
        flattened_by: Option<&str>,
    ) -> Option<Shape> {
        let needs_image = |cx: &mut Cx, what: &str| -> bool {
            if input.is_image() {
                return true;
            }
            let help = match flattened_by {
                Some(by) => format!("`{by}` made the tensor flat; {what} work on `[H, W, C]` tensors, so move this layer before it"),
                None => format!("the model's input is a vector; {what} need an image input like `input([28, 28, 1])`"),
            };
            cx.errs.push(LowerError::NeedsImage {
                layer: layer.to_string(),
                class: op.keras_class().to_string(),
                found: input.to_string(),
                span,
                help: Some(help),
            });
            false
        };
        let windowed = |cx: &mut Cx,
                        kind: &str,
                        k: [usize; 2],
                        s: [usize; 2],
                        pad: Padding|
         -> Option<[usize; 2]> {
            let [h, w] = input.hw();
            match (
                window_out(h, k[0], s[0], pad),
                window_out(w, k[1], s[1], pad),
            ) {
                (Some(a), Some(b)) => Some([a, b]),
                _ => {
                    let strided = if s != [1, 1] { ", smaller strides" } else { "" };
                    cx.errs.push(LowerError::WindowTooLarge {
                        layer: layer.to_string(),
                        kind: kind.to_string(),
                        window: format!("{}×{}", k[0], k[1]),
                        input: format!("{h}×{w}"),
                        span,
                        help: Some(format!(
                            "use `padding: same`, a smaller {kind}{strided}, or fewer poolings and strides before it"
                        )),
                    });
                    None
                }
            }
        };
        let out = match op {
            Op::Conv2D(Conv {
                filters,
                kernel,
                strides,
                padding,
                ..
            })
            | Op::SeparableConv2D(SeparableConv {
                filters,
                kernel,
                strides,
                padding,
                ..
            }) => {
                if !needs_image(self, "convolutions") {
                    return None;
                }
                let [h, w] = windowed(self, "kernel", *kernel, *strides, *padding)?;
                Shape(vec![h, w, *filters])
            }
            Op::MaxPool(p) | Op::AvgPool(p) => {
                if !needs_image(self, "poolings") {
                    return None;
                }
                let [h, w] = windowed(self, "pool", p.size, p.strides, p.padding)?;
                Shape(vec![h, w, input.channels()])
            }
            Op::GlobalAvgPool => {
                if !needs_image(self, "poolings") {
                    return None;
                }
                Shape(vec![input.channels()])
            }
            Op::Dense(d) => {
                let mut dims = input.0.clone();
                *dims.last_mut().expect("shapes have rank ≥ 1") = d.units;
                Shape(dims)
            }
            Op::Flatten => Shape(vec![input.elements() as usize]),
            Op::BatchNorm(_)
            | Op::Relu { .. }
            | Op::QuantizedActivation(_)
            | Op::Dropout { .. }
            | Op::Softmax => input.clone(),
        };
        self.tensor_fits(
            &out,
            |n| format!("the output of `{layer}` has {n} elements per sample"),
            span,
            "check the sizes of this layer",
        )
        .then_some(out)
    }
}
