//! Keras `Conv2D` as a layer: the (quantized) kernel and bias around [`conv2d_forward`] and
//! [`conv2d_backward`].

use ndarray::Ix4;

use super::weights::{ParamList, Weights};
use super::{Backprop, Env, Layer, Module};
use crate::backend::cpu::conv::{conv2d_backward, conv2d_forward, Conv2dWorkspace};
use crate::backend::cpu::geometry::Geometry2d;
use crate::backend::cpu::tensor::Tensor;
use crate::ir;

pub(crate) struct Conv {
    g: Geometry2d,
    w: Weights,
    ws: Conv2dWorkspace,
}

impl Conv {
    pub(crate) fn new(ps: &mut ParamList<'_>, name: &str, c: &ir::Conv, g: Geometry2d) -> Conv {
        Conv {
            g,
            w: Weights::new(ps, name, "kernel", c.quantizer.as_ref(), c.use_bias),
            ws: Conv2dWorkspace::default(),
        }
    }
}

impl Module for Conv {
    fn forward(&mut self, env: &mut Env<'_>, x: &Tensor, y: &mut Tensor) {
        let (kernel, bias) = self.w.get::<Ix4>(env.params);
        conv2d_forward(
            env.cx,
            &self.g,
            x.d4(),
            kernel,
            bias,
            &mut self.ws,
            y.d4_mut(),
        );
    }
}

impl Layer for Conv {
    fn backward(&mut self, env: &mut Env<'_>, t: Backprop<'_>) {
        let (cx, g, ws) = (env.cx, &self.g, &mut self.ws);
        self.w
            .backward::<Ix4>(env.params, |kernel, dkernel, dbias| {
                let dx = t.dx.map(Tensor::d4_mut);
                conv2d_backward(cx, g, t.x.d4(), kernel, t.dy.d4(), ws, dx, dkernel, dbias)
            });
    }

    fn params_changed(&mut self) {
        self.w.params_changed();
    }
}
