//! Keras `Dropout` as a layer: the identity in inference mode; in training mode an inverted
//! dropout whose mask is drawn from the network's random stream ([`dropout_forward`]).

use super::{Backprop, Env, Layer, Mode, ModuleT};
use crate::backend::cpu::activation::{dropout_backward, dropout_forward, DropoutMask};
use crate::backend::cpu::tensor::{by_rank, Tensor};

pub(crate) struct Dropout {
    rate: f32,
    /// The mask of the last training-mode pass.
    mask: DropoutMask,
}

impl Dropout {
    pub(crate) fn new(rate: f64) -> Dropout {
        Dropout {
            rate: rate as f32,
            mask: DropoutMask::default(),
        }
    }
}

impl ModuleT for Dropout {
    fn forward_t(&mut self, env: &mut Env<'_>, x: &Tensor, y: &mut Tensor, mode: Mode) {
        match mode {
            Mode::Inference => y.copy_from(env.cx, x),
            Mode::Training => {
                let (cx, rate, mask) = (env.cx, self.rate, &mut self.mask);
                let rng = &mut *env.rng;
                by_rank!(y = y; x = x => dropout_forward(cx, x, rate, rng, mask, y))
            }
        }
    }
}

impl Layer for Dropout {
    fn backward(&mut self, env: &mut Env<'_>, t: Backprop<'_>) {
        let (cx, mask) = (env.cx, &self.mask);
        if let Some(dx) = t.dx {
            by_rank!(dx = dx; dy = t.dy => dropout_backward(cx, dy, mask, dx))
        }
    }
}
