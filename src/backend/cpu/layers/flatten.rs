//! Keras `Flatten` as a layer: images `(n, h, w, c)` to vectors `(n, h·w·c)`, a copy in
//! row-major order both ways.

use ndarray::Ix2;

use super::{Backprop, Env, Layer, Module};
use crate::backend::cpu::tensor::{copy_parallel, reshaped, Tensor};

pub(crate) struct Flatten;

impl Module for Flatten {
    fn forward(&mut self, env: &mut Env<'_>, x: &Tensor, y: &mut Tensor) {
        let (n, h, w, c) = x.d4().dim();
        copy_parallel(env.cx, x.slice(), reshaped(y.d2_mut(), Ix2(n, h * w * c)));
    }
}

impl Layer for Flatten {
    fn backward(&mut self, env: &mut Env<'_>, t: Backprop<'_>) {
        if let Some(dx) = t.dx {
            copy_parallel(env.cx, t.dy.slice(), dx.shape_like(t.x));
        }
    }
}
