//! The trainable executor: an IR model (after its passes) as a chain of layers (the `layers`
//! module), run forward for inference or training and backward for the gradients of a training
//! step.
//!
//! A [`Network`] owns the graph (the layers in order, with the activation and gradient
//! buffers between them, reused from batch to batch), the parameters (named `LAYER/VAR`, as
//! in the weights files) and dropout's random stream; it dispatches each pass to the layers,
//! which compute it.

use super::layers::{self, Backprop, Env, Layer, ParamList};
use super::tensor::reshaped;
use super::{count_correct, softmax_cross_entropy, Cpu, CpuError, Optimizer, ParamMut};
use crate::ir::{Model, Op};
use crate::params::Params;
use ndarray::{ArrayD, Ix2, Ix4};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

pub use super::layers::{Mode, Param};
pub use super::tensor::Tensor;

/// The executor of one model.
pub struct Network {
    cx: Cpu,
    model: Model,
    /// One per layer of the model, in order.
    layers: Vec<Box<dyn Layer>>,
    params: Vec<Param>,
    /// `acts[0]` is the input, `acts[i + 1]` the output of layer `i`.
    acts: Vec<Tensor>,
    /// Gradient buffers: `grads[i]` is the gradient with respect to `acts[i]`.
    grads: Vec<Tensor>,
    /// The layers before a final softmax: their output is the logits.
    logits_at: usize,
    input_scale: f32,
    input_offset: f32,
    rng: ChaCha8Rng,
}

impl Network {
    /// Builds the executor of `model` (already through its passes) with `params`.
    pub fn new(cx: Cpu, model: &Model, params: &Params, seed: u64) -> Result<Network, CpuError> {
        let mut ps = ParamList::new(params);
        let layers = model
            .layers
            .iter()
            .map(|layer| layers::build(layer, &mut ps))
            .collect::<Result<Vec<_>, _>>()?;
        let n = layers.len();
        let logits_at = match model.layers.last() {
            Some(l) if matches!(l.op, Op::Softmax) => n - 1,
            _ => n,
        };
        Ok(Network {
            cx,
            model: model.clone(),
            layers,
            params: ps.into_vec(),
            acts: (0..=n).map(|_| Tensor::default()).collect(),
            grads: (0..=n).map(|_| Tensor::default()).collect(),
            logits_at,
            input_scale: model.input.scale as f32,
            input_offset: model.input.offset as f32,
            rng: ChaCha8Rng::seed_from_u64(seed),
        })
    }

    /// The executed model.
    pub fn model(&self) -> &Model {
        &self.model
    }

    pub fn cpu(&self) -> &Cpu {
        &self.cx
    }

    /// Whether the model ends with a softmax (so `forward` outputs probabilities).
    pub fn has_softmax(&self) -> bool {
        self.logits_at < self.layers.len()
    }

    /// Sets the input from uint8 images `(n, h, w, c)` (or `(n, k)` for vector models):
    /// `x = (x_u8 − offset) / scale`, in f32.
    pub fn set_input_u8(&mut self, images: ndarray::ArrayViewD<'_, u8>) {
        let (s, o) = (self.input_scale, self.input_offset);
        // The 256 possible values, each computed exactly as `(x_u8 − offset) / scale` in f32.
        let table: Vec<f32> = (0..=255u8).map(|v| (v as f32 - o) / s).collect();
        match images.as_slice() {
            Some(bytes) => {
                self.set_input_with(images.shape(), bytes.iter().map(|&v| table[v as usize]))
            }
            None => self.set_input_with(images.shape(), images.iter().map(|&v| table[v as usize])),
        }
    }

    /// Sets the input from float values (already `x`, not `x_u8`).
    pub fn set_input_f32(&mut self, x: ndarray::ArrayViewD<'_, f32>) {
        self.set_input_with(x.shape(), x.iter().copied());
    }

    fn set_input_with(&mut self, shape: &[usize], values: impl Iterator<Item = f32>) {
        let expected = self.model.input.shape.dims();
        assert_eq!(&shape[1..], expected, "input shape checked by the caller");
        let n = shape[0];
        let buf = match *expected {
            [h, w, c] => reshaped(self.acts[0].d4_mut(), Ix4(n, h, w, c)),
            _ => reshaped(self.acts[0].d2_mut(), Ix2(n, expected[0])),
        };
        for (o, v) in buf.iter_mut().zip(values) {
            *o = v;
        }
    }

    /// Runs the whole model (softmax included), returning the output.
    pub fn forward(&mut self, mode: Mode) -> &Tensor {
        let n = self.layers.len();
        self.run(n, mode);
        &self.acts[n]
    }

    /// Runs the model up to its logits (a final softmax left out).
    pub fn logits(&mut self, mode: Mode) -> &Tensor {
        let n = self.logits_at;
        self.run(n, mode);
        &self.acts[n]
    }

    /// The output of every layer after the last forward pass: `acts[i + 1]` of layer `i`.
    pub fn layer_outputs(&self) -> impl Iterator<Item = (&str, &Tensor)> {
        self.model
            .layers
            .iter()
            .zip(&self.acts[1..])
            .map(|(l, t)| (l.name.as_str(), t))
    }

    /// Runs `f` on the layers, their buffers and a pass environment, inside the pool (where
    /// the kernels' parallel sections start without a cross-thread hop).
    fn in_pool<F>(&mut self, f: F)
    where
        F: FnOnce(&mut Env<'_>, &mut [Box<dyn Layer>], &mut [Tensor], &mut [Tensor]) + Send,
    {
        let Network {
            cx,
            layers,
            params,
            acts,
            grads,
            rng,
            ..
        } = self;
        let cx = &*cx;
        cx.install(|| f(&mut Env { cx, params, rng }, layers, acts, grads));
    }

    /// The forward pass through the first `to` layers.
    fn run(&mut self, to: usize, mode: Mode) {
        self.in_pool(|env, layers, acts, _| {
            for (i, layer) in layers[..to].iter_mut().enumerate() {
                let (before, after) = acts.split_at_mut(i + 1);
                layer.forward_t(env, &before[i], &mut after[0], mode);
            }
        });
    }

    /// Sparse categorical cross-entropy of the logits (after a training-mode forward) against
    /// `labels`, back-propagated into every parameter's gradient. Returns `(loss, correct)`.
    pub fn train_step_gradients(&mut self, labels: &[u32]) -> Result<(f32, usize), CpuError> {
        let at = self.logits_at;
        self.run(at, Mode::Training);
        // INVARIANT: callers train only models whose logits are vectors (checked up front).
        let logits = self.acts[at].d2();
        let correct = count_correct(logits, labels)?;
        let dlogits = self.grads[at].d2_mut();
        let loss = softmax_cross_entropy(&self.cx, logits, labels, Some(dlogits))?;
        self.in_pool(|env, layers, acts, grads| {
            for (i, layer) in layers[..at].iter_mut().enumerate().rev() {
                let (g_before, g_after) = grads.split_at_mut(i + 1);
                let t = Backprop {
                    x: &acts[i],
                    y: &acts[i + 1],
                    dy: &g_after[0],
                    dx: if i > 0 { Some(&mut g_before[i]) } else { None },
                };
                layer.backward(env, t);
            }
        });
        Ok((loss, correct))
    }

    /// Applies one optimizer step to every trainable parameter, then the batch-norm gamma
    /// constraints (as a Keras constraint runs after each update).
    pub fn apply(&mut self, optimizer: &mut Optimizer) {
        let mut views: Vec<ParamMut<'_>> = self
            .params
            .iter_mut()
            .filter(|p| p.trainable)
            .map(|p| ParamMut {
                value: p.value.as_slice_mut().expect("parameters are contiguous"),
                grad: p.grad.as_slice().expect("gradients are contiguous"),
            })
            .collect();
        let cx = &self.cx;
        cx.install(|| optimizer.step(cx, &mut views));
        for layer in &mut self.layers {
            layer.params_changed();
            layer.constrain(&mut self.params);
        }
    }

    /// The current parameters, keyed `LAYER/VAR` as in the executed model.
    pub fn params(&self) -> Params {
        let mut p = Params::new();
        for param in &self.params {
            p.insert(&param.layer, param.var, param.value.clone());
        }
        p
    }

    /// The random stream dropout draws from (saved in training checkpoints).
    pub fn dropout_rng(&self) -> &ChaCha8Rng {
        &self.rng
    }

    /// Replaces the random stream dropout draws from (resuming from a checkpoint).
    pub fn set_dropout_rng(&mut self, rng: ChaCha8Rng) {
        self.rng = rng;
    }

    /// The parameter list (for tests and for gradient checks).
    pub fn parameters(&self) -> &[Param] {
        &self.params
    }

    /// The parameter list, to change values (the layers recompute what depends on them).
    pub fn parameters_mut(&mut self) -> &mut [Param] {
        for layer in &mut self.layers {
            layer.params_changed();
        }
        &mut self.params
    }
}

/// Inputs for inference: uint8 images (mapped by the model's input scaling) or float values.
pub enum Inputs<'a> {
    U8(ndarray::ArrayViewD<'a, u8>),
    F32(ndarray::ArrayViewD<'a, f32>),
}

impl Inputs<'_> {
    pub fn shape(&self) -> &[usize] {
        match self {
            Inputs::U8(a) => a.shape(),
            Inputs::F32(a) => a.shape(),
        }
    }
}

impl Network {
    /// Runs inference over `inputs` (first axis = samples) in batches of `batch`, returning
    /// the model's output (or its logits) for every sample, and, with `keep_layers`, every
    /// layer's output too.
    pub fn predict(
        &mut self,
        inputs: &Inputs<'_>,
        logits: bool,
        batch: usize,
        keep_layers: bool,
    ) -> (ArrayD<f32>, Vec<(String, ArrayD<f32>)>) {
        let n = inputs.shape()[0];
        let mut outputs: Vec<ArrayD<f32>> = Vec::new();
        let mut layers: Vec<Vec<ArrayD<f32>>> = Vec::new();
        let mut start = 0;
        while start < n {
            let end = (start + batch.max(1)).min(n);
            match inputs {
                Inputs::U8(a) => {
                    self.set_input_u8(a.slice_axis(ndarray::Axis(0), (start..end).into()))
                }
                Inputs::F32(a) => {
                    self.set_input_f32(a.slice_axis(ndarray::Axis(0), (start..end).into()))
                }
            }
            let out = if logits {
                self.logits(Mode::Inference)
            } else {
                self.forward(Mode::Inference)
            };
            outputs.push(out.view().to_owned());
            if keep_layers {
                let ran = if logits {
                    self.logits_at
                } else {
                    self.layers.len()
                };
                let per: Vec<ArrayD<f32>> = self
                    .layer_outputs()
                    .take(ran)
                    .map(|(_, t)| t.view().to_owned())
                    .collect();
                if layers.is_empty() {
                    layers = per.into_iter().map(|a| vec![a]).collect();
                } else {
                    for (acc, a) in layers.iter_mut().zip(per) {
                        acc.push(a);
                    }
                }
            }
            start = end;
        }
        let concat = |parts: &[ArrayD<f32>]| -> ArrayD<f32> {
            let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
            ndarray::concatenate(ndarray::Axis(0), &views).expect("batches share their shape")
        };
        let names: Vec<String> = self.model.layers.iter().map(|l| l.name.clone()).collect();
        let layer_outputs = names
            .into_iter()
            .zip(layers.iter().map(|parts| concat(parts)))
            .collect();
        (concat(&outputs), layer_outputs)
    }
}
