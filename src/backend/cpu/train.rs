//! Training and evaluation loops over a [`Network`]: seeded shuffling and batching, sparse
//! categorical cross-entropy, an optimizer step per batch (with the batch-norm gamma
//! constraints after it), and accuracy on a held-out split.
//!
//! Determinism: the shuffle comes from the seed alone and every kernel is deterministic for a
//! given thread count, so the same seed and thread count give the same weights, bit for bit.
//!
//! Resuming: [`Trainer::state`] captures everything besides the network's parameters that the
//! next epoch depends on (epochs done, the optimizer's moments and step count, the shuffling
//! and dropout random streams); [`Trainer::restore`] puts it back, so that training resumed
//! after epoch `k` continues exactly as an uninterrupted run would.

use super::network::{Mode, Network};
pub use super::optim::OptimizerState;
use super::{CpuError, Optimizer, OptimizerConfig};
use crate::io::Split;
use ndarray::{Array4, Axis};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::fmt;
use std::time::Instant;

/// How the learning rate changes over training.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Schedule {
    /// The same rate throughout (Keras's default).
    #[default]
    Constant,
    /// Cosine decay from the rate to zero over all the steps of the run.
    Cosine,
}

/// How to train.
#[derive(Clone, Debug)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub optimizer: OptimizerConfig,
    pub schedule: Schedule,
    pub seed: u64,
}

impl TrainConfig {
    /// The learning rate of step `step` (0-based) of a run of `total` steps.
    pub fn learning_rate(&self, base: f32, step: usize, total: usize) -> f32 {
        match self.schedule {
            Schedule::Constant => base,
            Schedule::Cosine => {
                let t = step as f64 / total.max(1) as f64;
                (base as f64 * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())) as f32
            }
        }
    }
}

/// What happened in one epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochReport {
    /// 1-based.
    pub epoch: usize,
    pub loss: f32,
    pub accuracy: f64,
    /// Accuracy on the validation split, when there is one.
    pub val_accuracy: Option<f64>,
    pub seconds: f64,
    pub images_per_second: f64,
}

/// Progress within an epoch, for a progress bar: samples seen, running loss and accuracy.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    pub epoch: usize,
    pub seen: usize,
    pub total: usize,
    pub loss: f32,
    pub accuracy: f64,
    pub images_per_second: f64,
}

/// The position of a ChaCha random stream: its key, stream number and word position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RngState {
    pub seed: [u8; 32],
    pub stream: u64,
    pub word_pos: u128,
}

impl RngState {
    /// Where `rng` is now.
    pub fn of(rng: &ChaCha8Rng) -> RngState {
        RngState {
            seed: rng.get_seed(),
            stream: rng.get_stream(),
            word_pos: rng.get_word_pos(),
        }
    }

    /// A stream at this position: it yields what the captured one would have yielded next.
    pub fn to_rng(self) -> ChaCha8Rng {
        let mut rng = ChaCha8Rng::from_seed(self.seed);
        rng.set_stream(self.stream);
        rng.set_word_pos(self.word_pos);
        rng
    }

    /// The text form `SEED_HEX:STREAM:WORD_POS` (for checkpoints).
    pub fn to_text(self) -> String {
        let hex: String = self.seed.iter().map(|b| format!("{b:02x}")).collect();
        format!("{hex}:{}:{}", self.stream, self.word_pos)
    }

    /// Parses [`RngState::to_text`]; `None` when malformed.
    pub fn from_text(text: &str) -> Option<RngState> {
        let mut parts = text.split(':');
        let hex = parts.next()?;
        let stream = parts.next()?.parse().ok()?;
        let word_pos = parts.next()?.parse().ok()?;
        if parts.next().is_some() || hex.len() != 64 || !hex.is_ascii() {
            return None;
        }
        let mut seed = [0u8; 32];
        for (i, byte) in seed.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(RngState {
            seed,
            stream,
            word_pos,
        })
    }
}

impl fmt::Display for RngState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

/// Everything besides the network's parameters that the rest of a run depends on.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainerState {
    /// Epochs completed.
    pub epochs_done: usize,
    /// The optimizer's step count and moments.
    pub optimizer: OptimizerState,
    /// The stream the epochs' shuffles come from.
    pub shuffle: RngState,
    /// The stream dropout masks come from (the network's).
    pub dropout: RngState,
}

/// The state that lets training resume where it stopped.
pub struct Trainer {
    pub optimizer: Optimizer,
    base_lr: f32,
    rng: ChaCha8Rng,
    /// Epochs completed so far.
    pub epochs_done: usize,
}

impl Trainer {
    pub fn new(config: &TrainConfig) -> Trainer {
        let optimizer = Optimizer::new(config.optimizer);
        Trainer {
            base_lr: optimizer.learning_rate(),
            optimizer,
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            epochs_done: 0,
        }
    }

    /// What the rest of the run depends on, besides `net`'s parameters (for a checkpoint).
    pub fn state(&self, net: &Network) -> TrainerState {
        TrainerState {
            epochs_done: self.epochs_done,
            optimizer: self.optimizer.state(),
            shuffle: RngState::of(&self.rng),
            dropout: RngState::of(net.dropout_rng()),
        }
    }

    /// Continues from `state`, taken by [`Trainer::state`] in a run with the same settings
    /// (whose parameters the caller puts back into `net`).
    pub fn restore(&mut self, net: &mut Network, state: TrainerState) {
        self.epochs_done = state.epochs_done;
        self.optimizer.restore(state.optimizer);
        self.rng = state.shuffle.to_rng();
        net.set_dropout_rng(state.dropout.to_rng());
    }

    /// Trains one epoch over `train`, then measures `val` (if any).
    pub fn epoch(
        &mut self,
        net: &mut Network,
        config: &TrainConfig,
        train: &Split,
        val: Option<&Split>,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<EpochReport, CpuError> {
        let n = train.images.dim().0;
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut self.rng);
        let start = Instant::now();
        let (mut loss_sum, mut correct, mut seen) = (0f64, 0usize, 0usize);
        let mut batch = Array4::<u8>::zeros((0, 0, 0, 0));
        let mut labels = Vec::with_capacity(config.batch_size);
        let steps_per_epoch = n.div_ceil(config.batch_size.max(1));
        let total_steps = steps_per_epoch * config.epochs;
        for (k, chunk) in order.chunks(config.batch_size.max(1)).enumerate() {
            let step = self.epochs_done * steps_per_epoch + k;
            let lr = config.learning_rate(self.base_lr, step, total_steps);
            self.optimizer.set_learning_rate(lr);
            gather(train, chunk, &mut batch, &mut labels);
            net.set_input_u8(batch.view().into_dyn());
            let (loss, ok) = net.train_step_gradients(&labels)?;
            net.apply(&mut self.optimizer);
            loss_sum += loss as f64 * chunk.len() as f64;
            correct += ok;
            seen += chunk.len();
            let elapsed = start.elapsed().as_secs_f64().max(1e-9);
            progress(Progress {
                epoch: self.epochs_done + 1,
                seen,
                total: n,
                loss: (loss_sum / seen as f64) as f32,
                accuracy: correct as f64 / seen as f64,
                images_per_second: seen as f64 / elapsed,
            });
        }
        let seconds = start.elapsed().as_secs_f64();
        self.epochs_done += 1;
        let val_accuracy = match val {
            Some(v) => Some(evaluate(net, v, 1000)?.accuracy),
            None => None,
        };
        Ok(EpochReport {
            epoch: self.epochs_done,
            loss: (loss_sum / n.max(1) as f64) as f32,
            accuracy: correct as f64 / n.max(1) as f64,
            val_accuracy,
            seconds,
            images_per_second: n as f64 / seconds.max(1e-9),
        })
    }
}

/// Copies the samples `indices` of `split` into `batch` and `labels`.
fn gather(split: &Split, indices: &[usize], batch: &mut Array4<u8>, labels: &mut Vec<u32>) {
    let (_, h, w, c) = split.images.dim();
    if batch.dim() != (indices.len(), h, w, c) {
        *batch = Array4::zeros((indices.len(), h, w, c));
    }
    let per = h * w * c;
    let src = split.images.as_slice().expect("datasets are contiguous");
    let dst = batch.as_slice_mut().expect("contiguous");
    labels.clear();
    for (k, &i) in indices.iter().enumerate() {
        dst[k * per..(k + 1) * per].copy_from_slice(&src[i * per..(i + 1) * per]);
        labels.push(u32::from(split.labels[i]));
    }
}

/// Accuracy and loss over a split.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Evaluation {
    pub accuracy: f64,
    pub loss: f32,
    pub samples: usize,
}

/// Inference-mode accuracy and cross-entropy over `split`, in batches.
pub fn evaluate(
    net: &mut Network,
    split: &Split,
    batch_size: usize,
) -> Result<Evaluation, CpuError> {
    let n = split.images.dim().0;
    let (mut correct, mut loss_sum) = (0usize, 0f64);
    let mut labels = Vec::new();
    let mut start = 0;
    while start < n {
        let end = (start + batch_size.max(1)).min(n);
        let images = split.images.slice_axis(Axis(0), (start..end).into());
        labels.clear();
        labels.extend(
            split
                .labels
                .iter()
                .skip(start)
                .take(end - start)
                .map(|&l| u32::from(l)),
        );
        net.set_input_u8(images.into_dyn());
        // INVARIANT: callers check that the model's logits are vectors.
        let logits = net
            .logits(Mode::Inference)
            .view()
            .into_dimensionality::<ndarray::Ix2>()
            .expect("logits are vectors")
            .to_owned();
        correct += super::count_correct(logits.view(), &labels)?;
        let loss = super::softmax_cross_entropy(net.cpu(), logits.view(), &labels, None)?;
        loss_sum += loss as f64 * (end - start) as f64;
        start = end;
    }
    Ok(Evaluation {
        accuracy: correct as f64 / n.max(1) as f64,
        loss: (loss_sum / n.max(1) as f64) as f32,
        samples: n,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngCore;

    #[test]
    fn rng_state_round_trips_and_continues_the_stream() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for _ in 0..13 {
            rng.next_u32();
        }
        let state = RngState::of(&rng);
        let text = state.to_text();
        assert_eq!(RngState::from_text(&text), Some(state));
        let mut resumed = state.to_rng();
        let expected: Vec<u32> = (0..5).map(|_| rng.next_u32()).collect();
        let got: Vec<u32> = (0..5).map(|_| resumed.next_u32()).collect();
        assert_eq!(expected, got);
    }

    #[test]
    fn rng_state_text_refuses_malformed() {
        for bad in [
            "",
            "00:1:2",
            &format!("{}:x:0", "0".repeat(64)),
            &format!("{}:1:2:3", "0".repeat(64)),
            &format!("{}:1:2", "g".repeat(64)),
        ] {
            assert_eq!(RngState::from_text(bad), None, "{bad}");
        }
    }
}
