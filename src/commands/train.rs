//! `qnnc train` and `qnnc eval`: training (or fine-tuning) with straight-through estimators on
//! an MNIST-style dataset, and test accuracy.
//!
//! After every epoch `train` writes a checkpoint (see [`super::checkpoint`]) and then the
//! weights, both atomically; `--resume` continues from the checkpoint and ends with the same
//! bytes as an uninterrupted run with the same seed and thread count.

use super::checkpoint::{self, RunIdentity, Settings};
use super::memory::{self, Usage};
use super::{warn, CliError, Common, ModelArgs};
use crate::backend::cpu::network::Network;
use crate::backend::cpu::train::{evaluate, EpochReport, Progress, Schedule, TrainConfig, Trainer};
use crate::backend::cpu::{AdamConfig, Cpu, OptimizerConfig, SgdConfig};
use crate::backend::nsoc::Target;
use crate::io::{Dataset, ErrorKind, IoError, Split};
use crate::ir::Model;
use crate::params::Params;
use crate::passes::unfold;
use crate::session::Stage;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::path::{Path, PathBuf};

/// `--optimizer`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OptimizerKind {
    /// Adam with Keras's defaults (β₁ 0.9, β₂ 0.999, ε 1e-7).
    #[default]
    Adam,
    /// Stochastic gradient descent with momentum (Keras's formula).
    Sgd,
}

/// `--schedule`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ScheduleArg {
    /// The same learning rate for every step.
    #[default]
    Constant,
    /// Cosine decay from the learning rate to zero over the run.
    Cosine,
}

impl From<ScheduleArg> for Schedule {
    fn from(s: ScheduleArg) -> Self {
        match s {
            ScheduleArg::Constant => Schedule::Constant,
            ScheduleArg::Cosine => Schedule::Cosine,
        }
    }
}

/// `qnnc train`.
#[derive(clap::Args, Clone, Debug)]
pub struct TrainArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// The dataset directory (`train-images-idx3-ubyte[.gz]`, … or `x_train.npy`, …).
    #[arg(long)]
    pub data: PathBuf,
    /// Where to write the trained weights (after every epoch).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Start from these weights (fine-tuning); otherwise Keras's initialisers.
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// Passes over the training set.
    #[arg(long, default_value_t = 5, value_parser = super::at_least_one)]
    pub epochs: usize,
    /// Samples per training step.
    #[arg(long, default_value_t = 128, value_parser = super::at_least_one)]
    pub batch_size: usize,
    /// Learning rate (default 0.001 for Adam, 0.01 for SGD).
    #[arg(long)]
    pub lr: Option<f32>,
    /// The optimizer.
    #[arg(long, value_enum, default_value_t = OptimizerKind::Adam)]
    pub optimizer: OptimizerKind,
    /// SGD momentum.
    #[arg(long, default_value_t = 0.9)]
    pub momentum: f64,
    /// How the learning rate changes over the run.
    #[arg(long, value_enum, default_value_t = ScheduleArg::Constant)]
    pub schedule: ScheduleArg,
    /// Seed of the initial weights, the shuffling and dropout.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Worker threads (the same seed and thread count give the same weights).
    #[arg(long, default_value_t = super::default_threads(), value_parser = super::at_least_one)]
    pub threads: usize,
    /// Do not measure the test accuracy after each epoch.
    #[arg(long)]
    pub no_validation: bool,
    /// Continue from the checkpoint (`--checkpoint`) where an earlier run stopped; the
    /// result is the same, bit for bit, as an uninterrupted run with the same options.
    #[arg(long)]
    pub resume: bool,
    /// The checkpoint written after every epoch (default: OUTPUT with `.ckpt.npz`, e.g.
    /// `w.npz` → `w.ckpt.npz`).
    #[arg(long, value_name = "PATH")]
    pub checkpoint: Option<PathBuf>,
}

impl TrainArgs {
    /// The checkpoint file of this run.
    pub fn checkpoint_path(&self) -> PathBuf {
        self.checkpoint
            .clone()
            .unwrap_or_else(|| checkpoint::default_path(&self.output))
    }
}

/// Checks that `split` fits the model: image shape and the number of classes.
fn check_data(model: &Model, split: &Split, what: &str) -> Result<(), CliError> {
    let (_, h, w, c) = split.images.dim();
    let input = model.input.shape.dims();
    if input != [h, w, c] {
        let dims = |d: &[usize]| {
            d.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join("×")
        };
        return Err(IoError::new(
            ErrorKind::WrongShape,
            format!(
                "the {what} images are {}, but model `{}` takes {}",
                dims(&[h, w, c]),
                model.name,
                dims(input)
            ),
        )
        .at(&split.images_path)
        .with_help("give the model an `input([H, W, C])` that matches the data")
        .into());
    }
    let out = model.output_shape();
    if out.rank() != 1 {
        return Err(CliError::Mismatch {
            message: format!(
                "model `{}` outputs {}, not one score per class",
                model.name, out
            ),
            help: Some(
                "end the model with `flatten()` or `global_avg_pool()` and `dense(CLASSES)`"
                    .to_string(),
            ),
        });
    }
    let classes = out.channels();
    split.check_labels(classes, what, &format!("model `{}`", model.name))?;
    Ok(())
}

/// SHA-256 of a split's images and labels (with the images' shape).
fn data_sha256(split: &Split) -> String {
    let shape: Vec<u8> = split
        .images
        .shape()
        .iter()
        .flat_map(|&d| (d as u64).to_le_bytes())
        .collect();
    let images = split.images.as_slice().expect("datasets are contiguous");
    let labels = split.labels.as_slice().expect("labels are contiguous");
    checkpoint::sha256_hex(&[&shape, images, labels])
}

fn load_data(dir: &Path) -> Result<Dataset, CliError> {
    Ok(crate::io::load_dataset(dir)?)
}

/// A progress bar for one epoch (drawn only on a terminal).
fn bar(total: usize, epoch: usize, epochs: usize) -> ProgressBar {
    let pb = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
    pb.set_style(
        ProgressStyle::with_template("epoch {prefix} [{bar:30}] {pos}/{len} {msg}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    pb.set_prefix(format!("{epoch}/{epochs}"));
    pb
}

/// Trains (or, with `--resume`, continues from the checkpoint); returns the final test
/// accuracy (0..1).
pub fn train(opts: &TrainArgs, common: &Common) -> Result<f64, CliError> {
    let m = &opts.model;
    let checkpoint_path = opts.checkpoint_path();
    let mut inputs: Vec<&Path> = vec![&m.model];
    if let Some(w) = &opts.weights {
        inputs.push(w);
    }
    crate::io::check_output(&opts.output, &inputs)?;
    inputs.push(&opts.output);
    crate::io::check_output(&checkpoint_path, &inputs)?;
    let (session, mut job) = m.load(opts.weights.as_deref(), Target::Software, common)?;
    let model = job.model.clone();
    if opts.weights.is_none() {
        memory::check_model(&model, Usage::Weights)?;
        job.params = Some(crate::params::init(&model, opts.seed));
    }
    let data = load_data(&opts.data)?;
    let graph = super::transform(&session, &job, Stage::Quantized, common)?;
    check_data(&graph.model, &data.train, "training")?;
    check_data(&graph.model, &data.test, "test")?;
    let (optimizer, slots) = match opts.optimizer {
        OptimizerKind::Adam => (
            OptimizerConfig::Adam(AdamConfig {
                learning_rate: opts.lr.unwrap_or(0.001),
                ..AdamConfig::default()
            }),
            2,
        ),
        OptimizerKind::Sgd => (
            OptimizerConfig::Sgd(SgdConfig {
                learning_rate: opts.lr.unwrap_or(0.01),
                momentum: opts.momentum,
                ..SgdConfig::default()
            }),
            1,
        ),
    };
    let n_train = data.train.images.dim().0;
    let n_test = data.test.images.dim().0;
    memory::check_model(
        &graph.model,
        Usage::Training {
            batch: opts.batch_size.min(n_train),
            optimizer_slots: slots,
        },
    )
    .map_err(|e| {
        super::with_help(
            e,
            "raise it with `--memory-budget`, or lower `--batch-size`",
        )
    })?;
    check_eval_memory(&graph.model, n_test)?;
    let mut net = Network::new(
        Cpu::new(opts.threads)?,
        &graph.model,
        graph.params.as_ref().expect("built with weights"),
        opts.seed,
    )?;
    let schedule: Schedule = opts.schedule.into();
    let config = TrainConfig {
        epochs: opts.epochs,
        batch_size: opts.batch_size,
        optimizer,
        schedule,
        seed: opts.seed,
    };
    let identity = RunIdentity {
        model: graph.model.name.clone(),
        model_sha256: checkpoint::sha256_hex(&[crate::passes::to_ron(&graph.model).as_bytes()]),
        data_sha256: data_sha256(&data.train),
        settings: Settings {
            epochs: opts.epochs,
            batch_size: opts.batch_size,
            optimizer: match opts.optimizer {
                OptimizerKind::Adam => "adam",
                OptimizerKind::Sgd => "sgd",
            }
            .to_string(),
            learning_rate: match optimizer {
                OptimizerConfig::Adam(a) => a.learning_rate,
                OptimizerConfig::Sgd(s) => s.learning_rate,
            },
            momentum: match optimizer {
                OptimizerConfig::Adam(_) => 0.0,
                OptimizerConfig::Sgd(s) => s.momentum,
            },
            schedule: match schedule {
                Schedule::Constant => "constant",
                Schedule::Cosine => "cosine",
            }
            .to_string(),
            seed: opts.seed,
        },
        threads: net.cpu().threads(),
    };
    let mut trainer = Trainer::new(&config);
    if opts.resume {
        let saved = checkpoint::load(&checkpoint_path)?;
        if let Some(warning) = saved.check(&checkpoint_path, &identity)? {
            warn(&warning, common);
        }
        saved.restore(
            &checkpoint_path,
            &mut net,
            &mut trainer,
            matches!(opts.optimizer, OptimizerKind::Adam),
        )?;
        eprintln!(
            "resuming `{}` from `{}` after epoch {}",
            model.name,
            checkpoint_path.display(),
            trainer.epochs_done
        );
    }
    eprintln!(
        "training `{}` ({}) on {} images ({} test), {} epoch(s) of batches of {}, {} thread(s)",
        model.name,
        job.options.passes.describe(&model),
        n_train,
        n_test,
        opts.epochs,
        opts.batch_size,
        net.cpu().threads()
    );
    let mut last: Option<EpochReport> = None;
    for epoch in trainer.epochs_done + 1..=opts.epochs {
        let pb = bar(n_train, epoch, opts.epochs);
        let mut on_progress = |p: Progress| {
            pb.set_position(p.seen as u64);
            pb.set_message(format!(
                "loss {:.4} acc {:.2}% {:.0} img/s",
                p.loss,
                100.0 * p.accuracy,
                p.images_per_second
            ));
        };
        let val = (!opts.no_validation).then_some(&data.test);
        let report = trainer.epoch(&mut net, &config, &data.train, val, &mut on_progress)?;
        pb.finish_and_clear();
        eprintln!(
            "epoch {}/{}: loss {:.4}, accuracy {:.2}%{}, {:.1} s ({:.0} images/s)",
            report.epoch,
            opts.epochs,
            report.loss,
            100.0 * report.accuracy,
            report.val_accuracy.map_or(String::new(), |a| format!(
                ", test accuracy {:.2}%",
                100.0 * a
            )),
            report.seconds,
            report.images_per_second
        );
        // After every epoch: the checkpoint, then the weights of the model as written. A kill
        // between the two leaves a checkpoint one epoch ahead, which `--resume` handles.
        checkpoint::save(&checkpoint_path, &identity, &net, &trainer)?;
        save(&model, &graph.model, &net.params(), &opts.output)?;
        last = Some(report);
    }
    if last.is_none() {
        // Resumed from a checkpoint of the last epoch: its weights may not have been written.
        eprintln!(
            "the checkpoint already holds all {} epoch(s); writing its weights",
            opts.epochs
        );
        save(&model, &graph.model, &net.params(), &opts.output)?;
    }
    let final_accuracy = match last.and_then(|r| r.val_accuracy) {
        Some(a) => a,
        None => evaluate(&mut net, &data.test, EVAL_BATCH)?.accuracy,
    };
    println!(
        "test accuracy {:.2}% after {} epoch(s); weights written to `{}`",
        100.0 * final_accuracy,
        opts.epochs,
        opts.output.display()
    );
    Ok(final_accuracy)
}

/// Samples per batch when measuring accuracy.
const EVAL_BATCH: usize = 1000;

/// Refuses, before anything is allocated, an evaluation of `n_test` images that needs more
/// than the memory budget.
fn check_eval_memory(model: &crate::ir::Model, n_test: usize) -> Result<(), CliError> {
    memory::check_model(
        model,
        Usage::Inference {
            batch: EVAL_BATCH.min(n_test),
            samples: n_test,
            keep_layers: false,
        },
    )
}

/// Writes the trained weights as the weights of the model as written.
fn save(original: &Model, executed: &Model, trained: &Params, path: &Path) -> Result<(), CliError> {
    let params = unfold(original, executed, trained);
    params.save(path)?;
    Ok(())
}

/// `qnnc eval`.
#[derive(clap::Args, Clone, Debug)]
pub struct EvalArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// The weights (`.npz`).
    #[arg(long)]
    pub weights: PathBuf,
    /// The dataset directory; its test split is evaluated.
    #[arg(long)]
    pub data: PathBuf,
    /// Worker threads.
    #[arg(long, default_value_t = super::default_threads(), value_parser = super::at_least_one)]
    pub threads: usize,
}

/// Evaluates; returns the test accuracy (0..1).
pub fn eval(opts: &EvalArgs, common: &Common) -> Result<f64, CliError> {
    let (session, job) = opts
        .model
        .load(Some(&opts.weights), Target::Software, common)?;
    let data = load_data(&opts.data)?;
    let graph = super::transform(&session, &job, Stage::Quantized, common)?;
    check_data(&graph.model, &data.test, "test")?;
    let n_test = data.test.images.dim().0;
    check_eval_memory(&graph.model, n_test)?;
    let mut net = Network::new(
        Cpu::new(opts.threads)?,
        &graph.model,
        graph.params.as_ref().expect("built with weights"),
        0,
    )?;
    let e = evaluate(&mut net, &data.test, EVAL_BATCH)?;
    println!(
        "test accuracy {:.2}% ({} images), loss {:.4}, model `{}` ({})",
        100.0 * e.accuracy,
        e.samples,
        e.loss,
        job.model.name,
        job.options.passes.describe(&job.model)
    );
    Ok(e.accuracy)
}
