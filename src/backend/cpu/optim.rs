//! Keras optimizers over a group of parameters: Adam and SGD (with momentum, optionally
//! Nesterov), with tf_keras's defaults and update formulas.
//!
//! The training loop hands the optimizer the same parameters, in the same order, at every
//! step ([`ParamMut`]: value and gradient); the optimizer keeps one slot of state per position.
//! Hyper-parameters are Python floats in Keras, so they are kept as `f64` and converted to f32
//! exactly where TensorFlow converts them (e.g. `1 − β₁` is computed in double first).

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::context::Cpu;
use super::parallel::items_per_task;
use super::simd::dispatch;

/// One trainable tensor for one step: its values (updated in place) and its gradient.
#[derive(Debug)]
pub struct ParamMut<'a> {
    pub value: &'a mut [f32],
    pub grad: &'a [f32],
}

/// tf_keras `Adam` settings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdamConfig {
    pub learning_rate: f32,
    pub beta_1: f64,
    pub beta_2: f64,
    pub epsilon: f64,
}

impl Default for AdamConfig {
    /// Keras's defaults: learning rate 0.001, β₁ 0.9, β₂ 0.999, ε 1e-7.
    fn default() -> Self {
        AdamConfig {
            learning_rate: 0.001,
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-7,
        }
    }
}

/// tf_keras `SGD` settings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SgdConfig {
    pub learning_rate: f32,
    pub momentum: f64,
    pub nesterov: bool,
}

impl Default for SgdConfig {
    /// Keras's defaults: learning rate 0.01, no momentum.
    fn default() -> Self {
        SgdConfig {
            learning_rate: 0.01,
            momentum: 0.0,
            nesterov: false,
        }
    }
}

/// Which optimizer, with its settings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum OptimizerConfig {
    Adam(AdamConfig),
    Sgd(SgdConfig),
}

/// Per-parameter state: first moment (Adam) or velocity (SGD), and second moment (Adam).
#[derive(Clone, Debug, Default)]
struct Slot {
    m: Vec<f32>,
    v: Vec<f32>,
}

/// What an optimizer has accumulated, for training checkpoints: the step count and, per
/// parameter of the group (in order), the first moment or velocity and the second moment
/// (Adam only; empty for SGD). Empty vectors before the first step.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OptimizerState {
    pub iterations: u64,
    pub first: Vec<Vec<f32>>,
    pub second: Vec<Vec<f32>>,
}

/// An optimizer and its state for one group of parameters.
#[derive(Clone, Debug)]
pub struct Optimizer {
    config: OptimizerConfig,
    iterations: u64,
    slots: Vec<Slot>,
}

/// The f32 constants of one Adam step (tf_keras `Adam.update_step`).
#[derive(Clone, Copy)]
struct AdamStep {
    one_minus_b1: f32,
    one_minus_b2: f32,
    alpha: f32,
    epsilon: f32,
}

impl AdamStep {
    fn new(c: &AdamConfig, step: u64) -> AdamStep {
        let t = step as f32;
        let b1_power = (c.beta_1 as f32).powf(t);
        let b2_power = (c.beta_2 as f32).powf(t);
        AdamStep {
            one_minus_b1: (1.0 - c.beta_1) as f32,
            one_minus_b2: (1.0 - c.beta_2) as f32,
            // alpha = lr·sqrt(1 − β₂ᵗ) / (1 − β₁ᵗ), left to right in f32.
            alpha: c.learning_rate * (1.0 - b2_power).sqrt() / (1.0 - b1_power),
            epsilon: c.epsilon as f32,
        }
    }

    /// `m += (g − m)(1−β₁); v += (g² − v)(1−β₂); w −= (m·α)/(√v + ε)`.
    #[inline(always)]
    fn apply(self, w: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]) {
        for (((w, &g), m), v) in w.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
            *m += (g - *m) * self.one_minus_b1;
            *v += (g * g - *v) * self.one_minus_b2;
            *w -= (*m * self.alpha) / (v.sqrt() + self.epsilon);
        }
    }
}

/// One SGD step: `m = −g·lr + m·momentum; w += m` (Nesterov: `w += −g·lr + m·momentum`).
#[inline(always)]
fn sgd_apply(c: &SgdConfig, w: &mut [f32], g: &[f32], m: &mut [f32]) {
    let lr = c.learning_rate;
    let momentum = c.momentum as f32;
    for ((w, &g), m) in w.iter_mut().zip(g).zip(m.iter_mut()) {
        *m = -g * lr + *m * momentum;
        if c.nesterov {
            *w += -g * lr + *m * momentum;
        } else {
            *w += *m;
        }
    }
}

impl Optimizer {
    /// A fresh optimizer (no steps taken, zero state).
    pub fn new(config: OptimizerConfig) -> Optimizer {
        Optimizer {
            config,
            iterations: 0,
            slots: Vec::new(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &OptimizerConfig {
        &self.config
    }

    /// Steps taken so far (Keras `optimizer.iterations`).
    pub fn iterations(&self) -> u64 {
        self.iterations
    }

    /// A copy of the accumulated state (for a checkpoint).
    pub fn state(&self) -> OptimizerState {
        OptimizerState {
            iterations: self.iterations,
            first: self.slots.iter().map(|s| s.m.clone()).collect(),
            second: self.slots.iter().map(|s| s.v.clone()).collect(),
        }
    }

    /// Continues from `state` (taken by [`Optimizer::state`] of an optimizer with the same
    /// settings). Callers check the sizes against the parameters; a state whose moments do not
    /// pair up is a bug.
    pub fn restore(&mut self, state: OptimizerState) {
        assert_eq!(
            state.first.len(),
            state.second.len(),
            "optimizer state: one second-moment vector per parameter"
        );
        self.iterations = state.iterations;
        self.slots = state
            .first
            .into_iter()
            .zip(state.second)
            .map(|(m, v)| Slot { m, v })
            .collect();
    }

    /// The current learning rate.
    pub fn learning_rate(&self) -> f32 {
        match &self.config {
            OptimizerConfig::Adam(c) => c.learning_rate,
            OptimizerConfig::Sgd(c) => c.learning_rate,
        }
    }

    /// Changes the learning rate for the following steps (a schedule's job).
    pub fn set_learning_rate(&mut self, lr: f32) {
        match &mut self.config {
            OptimizerConfig::Adam(c) => c.learning_rate = lr,
            OptimizerConfig::Sgd(c) => c.learning_rate = lr,
        }
    }

    /// Applies one update to every parameter of the group. The first call fixes the group
    /// (count and sizes); later calls must pass the same parameters in the same order.
    pub fn step(&mut self, cx: &Cpu, params: &mut [ParamMut<'_>]) {
        if self.slots.is_empty() {
            let adam = matches!(self.config, OptimizerConfig::Adam(_));
            self.slots = params
                .iter()
                .map(|p| Slot {
                    m: vec![0.0; p.value.len()],
                    v: if adam {
                        vec![0.0; p.value.len()]
                    } else {
                        Vec::new()
                    },
                })
                .collect();
        }
        assert_eq!(
            self.slots.len(),
            params.len(),
            "optimizer: the parameter group changed between steps"
        );
        self.iterations += 1;
        let config = self.config;
        let adam = match &config {
            OptimizerConfig::Adam(c) => Some(AdamStep::new(c, self.iterations)),
            OptimizerConfig::Sgd(_) => None,
        };
        let isa = cx.isa();
        cx.install(|| {
            for (p, slot) in params.iter_mut().zip(&mut self.slots) {
                let len = p.value.len();
                assert!(
                    p.grad.len() == len && slot.m.len() == len,
                    "optimizer: parameter of {len} values with a gradient of {} and state of {}",
                    p.grad.len(),
                    slot.m.len()
                );
                let per = items_per_task(len, 16);
                let work = p
                    .value
                    .par_chunks_mut(per)
                    .zip(p.grad.par_chunks(per))
                    .zip(slot.m.par_chunks_mut(per));
                match (&config, adam) {
                    (_, Some(step)) => {
                        work.zip(slot.v.par_chunks_mut(per))
                            .for_each(|(((w, g), m), v)| {
                                dispatch(
                                    isa,
                                    #[inline(always)]
                                    || step.apply(w, g, m, v),
                                )
                            })
                    }
                    (OptimizerConfig::Sgd(c), None) => work.for_each(|((w, g), m)| {
                        dispatch(
                            isa,
                            #[inline(always)]
                            || sgd_apply(c, w, g, m),
                        )
                    }),
                    (OptimizerConfig::Adam(_), None) => {
                        unreachable!("Adam steps always have their constants")
                    }
                }
            }
        });
    }
}
