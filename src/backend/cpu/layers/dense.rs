//! Keras `Dense` as a layer: the (quantized) kernel and bias around [`dense_forward`] and
//! [`dense_backward`]. On an image a dense layer applies to the last axis (Keras's
//! `tensordot`): its pixels are the rows of the product.

use ndarray::{Array2, Ix2};

use super::weights::{ParamList, Weights};
use super::{Backprop, Env, Layer, Module};
use crate::backend::cpu::dense::{dense_backward, dense_forward, DenseWorkspace};
use crate::backend::cpu::tensor::Tensor;
use crate::ir;

pub(crate) struct Dense {
    w: Weights,
    ws: DenseWorkspace,
    /// Whether the input is an image (the product runs over its pixels).
    image: bool,
}

impl Dense {
    pub(crate) fn new(ps: &mut ParamList<'_>, name: &str, d: &ir::Dense, image: bool) -> Dense {
        Dense {
            w: Weights::new(ps, name, "kernel", d.quantizer.as_ref(), d.use_bias),
            ws: DenseWorkspace::default(),
            image,
        }
    }
}

impl Module for Dense {
    fn forward(&mut self, env: &mut Env<'_>, x: &Tensor, y: &mut Tensor) {
        let (kernel, bias) = self.w.get::<Ix2>(env.params);
        if self.image {
            let mut out = Array2::zeros((0, 0));
            dense_forward(env.cx, x.pixels(), kernel, bias, &mut out);
            *y = Tensor::from_pixels(out, x);
        } else {
            dense_forward(env.cx, x.d2(), kernel, bias, y.d2_mut());
        }
    }
}

impl Layer for Dense {
    fn backward(&mut self, env: &mut Env<'_>, t: Backprop<'_>) {
        let (cx, ws, image) = (env.cx, &mut self.ws, self.image);
        self.w
            .backward::<Ix2>(env.params, |kernel, dkernel, dbias| {
                if image {
                    let mut rows = Array2::zeros((0, 0));
                    let drows = t.dx.is_some().then_some(&mut rows);
                    let (xr, dyr) = (t.x.pixels(), t.dy.pixels());
                    dense_backward(cx, xr, kernel, dyr, ws, drows, dkernel, dbias);
                    if let Some(dx) = t.dx {
                        *dx = Tensor::from_pixels(rows, t.x);
                    }
                } else {
                    let dx = t.dx.map(Tensor::d2_mut);
                    dense_backward(cx, t.x.d2(), kernel, t.dy.d2(), ws, dx, dkernel, dbias);
                }
            });
    }

    fn params_changed(&mut self) {
        self.w.params_changed();
    }
}
