//! The activation layers: Keras `ReLU` (optionally capped) and CNN2SNN's quantized ReLUs
//! (`QuantizedReLU`, `ActivationDiscreteRelu`), whose gradient is the straight-through
//! estimator of [`QuantizedActivation`].

use super::{Backprop, Env, Layer, Module};
use crate::backend::cpu::activation::{relu_backward, relu_forward};
use crate::backend::cpu::parallel::map_spans;
use crate::backend::cpu::tensor::{by_rank, Tensor};
use crate::quant::QuantizedActivation;

/// `min(max(x, 0), max_value)`.
pub(crate) struct Relu {
    pub(crate) max_value: Option<f32>,
}

impl Module for Relu {
    fn forward(&mut self, env: &mut Env<'_>, x: &Tensor, y: &mut Tensor) {
        let (cx, max_value) = (env.cx, self.max_value);
        by_rank!(y = y; x = x => relu_forward(cx, x, max_value, y))
    }
}

impl Layer for Relu {
    fn backward(&mut self, env: &mut Env<'_>, t: Backprop<'_>) {
        let (cx, max_value) = (env.cx, self.max_value);
        if let Some(dx) = t.dx {
            by_rank!(dx = dx; x = t.x, dy = t.dy => relu_backward(cx, x, dy, max_value, dx))
        }
    }
}

/// A quantized ReLU, elementwise over a tensor of any rank.
pub(crate) struct QuantizedRelu(pub(crate) QuantizedActivation);

impl Module for QuantizedRelu {
    fn forward(&mut self, env: &mut Env<'_>, x: &Tensor, y: &mut Tensor) {
        let (act, xs) = (self.0, x.slice());
        map_spans(env.cx, 1, y.shape_like(x), move |first, out| {
            act.forward_slice(&xs[first..first + out.len()], out)
        });
    }
}

impl Layer for QuantizedRelu {
    fn backward(&mut self, env: &mut Env<'_>, t: Backprop<'_>) {
        if let Some(dx) = t.dx {
            let (act, xs, dys) = (self.0, t.x.slice(), t.dy.slice());
            map_spans(env.cx, 1, dx.shape_like(t.x), move |first, out| {
                let span = first..first + out.len();
                act.backward_slice(&xs[span.clone()], &dys[span], out)
            });
        }
    }
}
