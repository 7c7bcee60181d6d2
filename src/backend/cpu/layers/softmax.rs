//! Keras `Softmax` over the last axis as a layer (on images, per pixel). Its backward pass
//! takes vectors; a training step stops at the logits, before a final softmax.

use ndarray::Array2;

use super::{Backprop, Env, Layer, Module};
use crate::backend::cpu::loss::{softmax_backward, softmax_forward};
use crate::backend::cpu::tensor::Tensor;

pub(crate) struct Softmax;

impl Module for Softmax {
    fn forward(&mut self, env: &mut Env<'_>, x: &Tensor, y: &mut Tensor) {
        match x {
            Tensor::D2(a) => softmax_forward(env.cx, a.view(), y.d2_mut()),
            Tensor::D4(_) => {
                let mut out = Array2::zeros((0, 0));
                softmax_forward(env.cx, x.pixels(), &mut out);
                *y = Tensor::from_pixels(out, x);
            }
        }
    }
}

impl Layer for Softmax {
    fn backward(&mut self, env: &mut Env<'_>, t: Backprop<'_>) {
        if let Some(dx) = t.dx {
            softmax_backward(env.cx, t.y.d2(), t.dy.d2(), dx.d2_mut());
        }
    }
}
