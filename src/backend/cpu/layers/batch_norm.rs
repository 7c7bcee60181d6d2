//! Keras `BatchNormalization` as a layer: γ and β (trainable), the moving mean and variance
//! (updated by training-mode passes), akida_models' γ constraint, around the kernels of
//! [`crate::backend::cpu::batch_norm`].

use ndarray::{Array1, Ix1};

use super::weights::{Param, ParamList};
use super::{Backprop, Env, Layer, Mode, ModuleT};
use crate::backend::cpu::batch_norm::{
    batch_norm_backward, batch_norm_inference, batch_norm_training, BatchNormParams,
    BatchNormWorkspace,
};
use crate::backend::cpu::tensor::{by_rank, Tensor};
use crate::ir;

pub(crate) struct BatchNorm {
    /// The index of γ; β, the moving mean and the moving variance follow it.
    first: usize,
    epsilon: f32,
    momentum: f64,
    gamma_min: Option<f64>,
    ws: BatchNormWorkspace,
}

impl BatchNorm {
    pub(crate) fn new(ps: &mut ParamList<'_>, name: &str, bn: &ir::BatchNorm) -> BatchNorm {
        let first = ps.add(name, "gamma", true);
        ps.add(name, "beta", true);
        ps.add(name, "moving_mean", false);
        ps.add(name, "moving_variance", false);
        BatchNorm {
            first,
            epsilon: bn.epsilon as f32,
            momentum: bn.momentum,
            gamma_min: bn.gamma_min,
            ws: BatchNormWorkspace::default(),
        }
    }

    /// γ, β, the moving mean and the moving variance.
    fn params<'a>(&self, params: &'a mut [Param]) -> &'a mut [Param; 4] {
        (&mut params[self.first..self.first + 4])
            .try_into()
            .expect("four parameters")
    }
}

impl ModuleT for BatchNorm {
    fn forward_t(&mut self, env: &mut Env<'_>, x: &Tensor, y: &mut Tensor, mode: Mode) {
        let cx = env.cx;
        let [gamma, beta, mean, var] = self.params(env.params);
        let p = BatchNormParams {
            gamma: gamma.vector(),
            beta: beta.vector(),
            epsilon: self.epsilon,
        };
        match mode {
            Mode::Inference => {
                let (m, v) = (mean.vector(), var.vector());
                by_rank!(y = y; x = x => batch_norm_inference(cx, x, &p, m, v, y))
            }
            Mode::Training => {
                let take = |p: &mut Param| {
                    std::mem::take(&mut p.value)
                        .into_dimensionality::<Ix1>()
                        .expect("vector")
                };
                let (mut m, mut v) = (take(mean), take(var));
                let (momentum, ws) = (self.momentum, &mut self.ws);
                by_rank!(y = y; x = x =>
                    batch_norm_training(cx, x, &p, &mut m, &mut v, momentum, ws, y));
                mean.value = m.into_dyn();
                var.value = v.into_dyn();
            }
        }
    }
}

impl Layer for BatchNorm {
    fn backward(&mut self, env: &mut Env<'_>, t: Backprop<'_>) {
        let cx = env.cx;
        let [gamma, beta, ..] = self.params(env.params);
        let p = BatchNormParams {
            gamma: gamma.vector(),
            beta: beta.vector(),
            epsilon: self.epsilon,
        };
        let c = p.gamma.len();
        let (mut dgamma, mut dbeta) = (Array1::zeros(c), Array1::zeros(c));
        let mut scratch = Tensor::default();
        let dx = t.dx.unwrap_or(&mut scratch);
        let ws = &mut self.ws;
        by_rank!(dx = dx; x = t.x, dy = t.dy =>
            batch_norm_backward(cx, x, dy, &p, ws, dx, &mut dgamma, &mut dbeta));
        gamma.grad = dgamma.into_dyn();
        beta.grad = dbeta.into_dyn();
    }

    fn constrain(&self, params: &mut [Param]) {
        if let Some(min) = self.gamma_min {
            let lo = min as f32;
            let [gamma, ..] = self.params(params);
            gamma
                .value
                .mapv_inplace(|g| if g < lo { lo } else { g.min(f32::MAX) });
        }
    }
}
