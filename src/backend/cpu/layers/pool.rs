//! The pooling layers: Keras `MaxPooling2D`, `AveragePooling2D` and
//! `GlobalAveragePooling2D` around the kernels of [`crate::backend::cpu::pool`].

use super::{Backprop, Env, Layer, Mode, Module, ModuleT};
use crate::backend::cpu::geometry::Geometry2d;
use crate::backend::cpu::pool::{
    avg_pool2d_backward, avg_pool2d_forward, global_avg_pool2d_backward, global_avg_pool2d_forward,
    max_pool2d_backward, max_pool2d_forward, MaxPool2dWorkspace,
};
use crate::backend::cpu::tensor::Tensor;

/// Max pooling; a training-mode pass records each window's maximum for the backward pass.
pub(crate) struct MaxPool {
    g: Geometry2d,
    ws: MaxPool2dWorkspace,
}

impl MaxPool {
    pub(crate) fn new(g: Geometry2d) -> MaxPool {
        MaxPool {
            g,
            ws: MaxPool2dWorkspace::default(),
        }
    }
}

impl ModuleT for MaxPool {
    fn forward_t(&mut self, env: &mut Env<'_>, x: &Tensor, y: &mut Tensor, mode: Mode) {
        let record = (mode == Mode::Training).then_some(&mut self.ws);
        max_pool2d_forward(env.cx, &self.g, x.d4(), y.d4_mut(), record);
    }
}

impl Layer for MaxPool {
    fn backward(&mut self, env: &mut Env<'_>, t: Backprop<'_>) {
        if let Some(dx) = t.dx {
            max_pool2d_backward(env.cx, &self.g, t.dy.d4(), &self.ws, dx.d4_mut());
        }
    }
}

/// Average pooling over the real (non-padded) elements of each window.
pub(crate) struct AvgPool {
    pub(crate) g: Geometry2d,
}

impl Module for AvgPool {
    fn forward(&mut self, env: &mut Env<'_>, x: &Tensor, y: &mut Tensor) {
        avg_pool2d_forward(env.cx, &self.g, x.d4(), y.d4_mut());
    }
}

impl Layer for AvgPool {
    fn backward(&mut self, env: &mut Env<'_>, t: Backprop<'_>) {
        if let Some(dx) = t.dx {
            avg_pool2d_backward(env.cx, &self.g, t.dy.d4(), dx.d4_mut());
        }
    }
}

/// The mean over all pixels of each image, one vector per image.
pub(crate) struct GlobalAvgPool {
    /// The input's height and width.
    pub(crate) hw: [usize; 2],
}

impl Module for GlobalAvgPool {
    fn forward(&mut self, env: &mut Env<'_>, x: &Tensor, y: &mut Tensor) {
        global_avg_pool2d_forward(env.cx, x.d4(), y.d2_mut());
    }
}

impl Layer for GlobalAvgPool {
    fn backward(&mut self, env: &mut Env<'_>, t: Backprop<'_>) {
        if let Some(dx) = t.dx {
            global_avg_pool2d_backward(env.cx, t.dy.d2(), self.hw, dx.d4_mut());
        }
    }
}
