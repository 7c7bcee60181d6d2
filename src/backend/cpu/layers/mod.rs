//! The executor's layers, one type per kind of IR layer, each with its forward pass and its
//! backward pass side by side; [`build`] makes the layer of an IR op.
//!
//! The interface follows candle's: a layer whose forward pass does not depend on the mode is a
//! [`Module`], one that does (batch statistics, dropout, max pooling's recorded maxima) is a
//! [`ModuleT`], and every `Module` is a `ModuleT` that ignores the mode. Unlike candle's, a
//! forward pass takes `&mut self` (layers keep their workspaces and what their backward pass
//! needs) and writes into a caller-owned output buffer, and the gradient is not derived by
//! autograd but written by hand: [`Layer::backward`], with straight-through estimators through
//! weight quantizers and quantized activations (`docs/conversion.md` §1.2, §2.1).
//!
//! Layers own no parameters: they hold indices into the network's parameter list
//! ([`weights`]), which a pass lends them through [`Env`].

mod activation;
mod batch_norm;
mod conv;
mod dense;
mod dropout;
mod flatten;
mod pool;
mod separable;
mod softmax;
mod weights;

use rand_chacha::ChaCha8Rng;

use activation::{QuantizedRelu, Relu};
use batch_norm::BatchNorm;
use conv::Conv;
use dense::Dense;
use dropout::Dropout;
use flatten::Flatten;
use pool::{AvgPool, GlobalAvgPool, MaxPool};
use separable::Separable;
use softmax::Softmax;

use super::context::Cpu;
use super::error::CpuError;
use super::geometry::Geometry2d;
use super::tensor::Tensor;
use crate::ir::{self, Op};
use crate::quant::QuantizedActivation;

pub use weights::Param;
pub(crate) use weights::ParamList;

/// Whether a pass runs in training mode (batch statistics, dropout) or inference mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Inference,
    Training,
}

/// What a layer works with besides its own state: the execution context, the network's
/// parameters (values and gradients), and the random stream dropout draws from.
pub(crate) struct Env<'a> {
    pub cx: &'a Cpu,
    pub params: &'a mut [Param],
    pub rng: &'a mut ChaCha8Rng,
}

/// A layer whose forward pass is the same in training and inference (candle's `Module`).
pub(crate) trait Module {
    /// `y = layer(x)`, in `y`'s allocation.
    fn forward(&mut self, env: &mut Env<'_>, x: &Tensor, y: &mut Tensor);
}

/// A layer whose forward pass depends on the mode (candle's `ModuleT`).
pub(crate) trait ModuleT {
    /// `y = layer(x)` in `mode`, in `y`'s allocation.
    fn forward_t(&mut self, env: &mut Env<'_>, x: &Tensor, y: &mut Tensor, mode: Mode);
}

impl<M: Module> ModuleT for M {
    fn forward_t(&mut self, env: &mut Env<'_>, x: &Tensor, y: &mut Tensor, _mode: Mode) {
        self.forward(env, x, y)
    }
}

/// The tensors of one layer's backward pass.
pub(crate) struct Backprop<'a> {
    /// The input of the last (training-mode) forward pass.
    pub x: &'a Tensor,
    /// Its output.
    pub y: &'a Tensor,
    /// The gradient of the loss with respect to `y`.
    pub dy: &'a Tensor,
    /// Where the gradient with respect to `x` goes; `None` for the first layer, which needs
    /// none.
    pub dx: Option<&'a mut Tensor>,
}

/// A layer of the executor: its forward pass, its backward pass and its parameter hooks.
pub(crate) trait Layer: ModuleT + Send + Sync {
    /// Stores the gradients of the layer's parameters in `env.params` and, when `t.dx` asks
    /// for it, writes the gradient with respect to the input.
    fn backward(&mut self, env: &mut Env<'_>, t: Backprop<'_>);

    /// The parameters' values have changed (an optimizer step, a caller's edit): forget what
    /// was computed from them.
    fn params_changed(&mut self) {}

    /// Puts the parameters back inside their constraints, as Keras does after each update.
    fn constrain(&self, _params: &mut [Param]) {}
}

/// The executor's layer for the IR layer `layer`, whose parameters it appends to `ps`.
pub(crate) fn build(layer: &ir::Layer, ps: &mut ParamList<'_>) -> Result<Box<dyn Layer>, CpuError> {
    let name = layer.name.as_str();
    // Only image layers ask for the input's height and width.
    let hw = || layer.input_shape.hw();
    let window = |size, strides, padding| Geometry2d::new(hw(), size, strides, padding);
    Ok(match &layer.op {
        Op::Conv2D(c) => Box::new(Conv::new(
            ps,
            name,
            c,
            window(c.kernel, c.strides, c.padding)?,
        )),
        Op::SeparableConv2D(c) => {
            let g = window(c.kernel, c.strides, c.padding)?;
            Box::new(Separable::new(ps, name, c, g)?)
        }
        Op::Dense(d) => Box::new(Dense::new(ps, name, d, layer.input_shape.is_image())),
        Op::MaxPool(p) => Box::new(MaxPool::new(window(p.size, p.strides, p.padding)?)),
        Op::AvgPool(p) => Box::new(AvgPool {
            g: window(p.size, p.strides, p.padding)?,
        }),
        Op::GlobalAvgPool => Box::new(GlobalAvgPool { hw: hw() }),
        Op::BatchNorm(bn) => Box::new(BatchNorm::new(ps, name, bn)),
        Op::Relu { max_value } => Box::new(Relu {
            max_value: max_value.map(|m| m as f32),
        }),
        Op::QuantizedActivation(spec) => Box::new(QuantizedRelu(QuantizedActivation::new(spec))),
        Op::Flatten => Box::new(Flatten),
        Op::Dropout { rate } => Box::new(Dropout::new(*rate)),
        Op::Softmax => Box::new(Softmax),
    })
}
