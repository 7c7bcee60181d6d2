//! Keras `SeparableConv2D` as a layer: a depthwise convolution ([`depthwise_conv2d_forward`],
//! no bias) into an intermediate buffer, then a 1×1 convolution ([`conv2d_forward`], with the
//! bias), each half with its own kernel quantizer; the backward pass runs them in reverse.

use ndarray::{Array4, Ix4};

use super::weights::{ParamList, Weights};
use super::{Backprop, Env, Layer, Module};
use crate::backend::cpu::conv::{conv2d_backward, conv2d_forward, Conv2dWorkspace};
use crate::backend::cpu::depthwise::{
    depthwise_conv2d_backward, depthwise_conv2d_forward, DepthwiseWorkspace,
};
use crate::backend::cpu::error::CpuError;
use crate::backend::cpu::geometry::{Geometry2d, Padding};
use crate::backend::cpu::tensor::Tensor;
use crate::ir;

pub(crate) struct Separable {
    /// The depthwise window.
    g: Geometry2d,
    /// The pointwise (1×1) window over the depthwise output.
    g1: Geometry2d,
    depthwise: Weights,
    pointwise: Weights,
    ws_dw: DepthwiseWorkspace,
    ws_pw: Conv2dWorkspace,
    /// The depthwise output and its gradient.
    mid: Array4<f32>,
    dmid: Array4<f32>,
}

impl Separable {
    pub(crate) fn new(
        ps: &mut ParamList<'_>,
        name: &str,
        c: &ir::SeparableConv,
        g: Geometry2d,
    ) -> Result<Separable, CpuError> {
        let g1 = Geometry2d::new([g.out_h, g.out_w], [1, 1], [1, 1], Padding::Valid)?;
        let dw = c.quantizer_dw.as_ref();
        Ok(Separable {
            g,
            g1,
            depthwise: Weights::new(ps, name, "depthwise_kernel", dw, false),
            pointwise: Weights::new(
                ps,
                name,
                "pointwise_kernel",
                c.quantizer.as_ref(),
                c.use_bias,
            ),
            ws_dw: DepthwiseWorkspace::default(),
            ws_pw: Conv2dWorkspace::default(),
            mid: Array4::zeros((0, 0, 0, 0)),
            dmid: Array4::zeros((0, 0, 0, 0)),
        })
    }
}

impl Module for Separable {
    fn forward(&mut self, env: &mut Env<'_>, x: &Tensor, y: &mut Tensor) {
        let cx = env.cx;
        let (dk, _) = self.depthwise.get::<Ix4>(env.params);
        depthwise_conv2d_forward(
            cx,
            &self.g,
            x.d4(),
            dk,
            None,
            &mut self.ws_dw,
            &mut self.mid,
        );
        let (pk, bias) = self.pointwise.get::<Ix4>(env.params);
        conv2d_forward(
            cx,
            &self.g1,
            self.mid.view(),
            pk,
            bias,
            &mut self.ws_pw,
            y.d4_mut(),
        );
    }
}

impl Layer for Separable {
    fn backward(&mut self, env: &mut Env<'_>, t: Backprop<'_>) {
        let Separable {
            g,
            g1,
            depthwise,
            pointwise,
            ws_dw,
            ws_pw,
            mid,
            dmid,
        } = self;
        let cx = env.cx;
        pointwise.backward::<Ix4>(env.params, |pk, dpk, dbias| {
            conv2d_backward(
                cx,
                g1,
                mid.view(),
                pk,
                t.dy.d4(),
                ws_pw,
                Some(dmid),
                dpk,
                dbias,
            )
        });
        depthwise.backward::<Ix4>(env.params, |dk, ddk, _| {
            let dx = t.dx.map(Tensor::d4_mut);
            depthwise_conv2d_backward(cx, g, t.x.d4(), dk, dmid.view(), ws_dw, dx, ddk, None)
        });
    }

    fn params_changed(&mut self) {
        self.depthwise.params_changed();
        self.pointwise.params_changed();
    }
}
