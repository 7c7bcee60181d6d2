//! `qnnc predict`: the CPU executor's forward pass on images from a `.npy`.

use super::{failed, report, CliError, Common, ModelArgs};
use crate::backend::cpu::network::{Inputs, Network};
use crate::backend::nsoc::Target;
use crate::io::{Array, ErrorKind, IoError};
use crate::session::Session;
use std::path::{Path, PathBuf};

/// A model with its weights, and the inputs to run it on.
#[derive(clap::Args, Clone, Debug)]
pub struct InferArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// The float weights (`.npz`).
    #[arg(long)]
    pub weights: PathBuf,
    /// The inputs (`.npy`): a batch of samples or one sample, uint8 images or floats.
    #[arg(long)]
    pub input: PathBuf,
}

/// `qnnc predict`.
#[derive(clap::Args, Clone, Debug)]
pub struct PredictArgs {
    #[command(flatten)]
    pub run: InferArgs,
    /// Where to write the outputs (`.npy`, float32).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Output the logits (drop a final softmax).
    #[arg(long)]
    pub logits: bool,
    /// Also write every layer's output to this directory (`<k>_<layer>.npy`).
    #[arg(long, value_name = "DIR")]
    pub layers: Option<PathBuf>,
    /// Worker threads.
    #[arg(long, default_value_t = super::default_threads(), value_parser = super::at_least_one)]
    pub threads: usize,
    /// Samples per batch.
    #[arg(long, default_value_t = 256, value_parser = super::at_least_one)]
    pub batch_size: usize,
}

/// The executor of a model file and its weights (the quantized model, or with `--float` the
/// float one), on `threads` workers, with the session it came from.
pub fn network(
    m: &ModelArgs,
    weights: &Path,
    threads: usize,
    seed: u64,
    common: &Common,
) -> Result<(Network, Session, crate::session::Job), CliError> {
    let (session, job) = m.load(Some(weights), Target::Software, common)?;
    let (net, t) = job
        .executor(threads, seed)
        .map_err(|f| failed(&session, f, "cannot be transformed", common))?;
    report(&session, &t, common);
    Ok((net, session, job))
}

/// Reads images for a model: a `.npy` of uint8 (mapped by the input scaling) or float32 (used
/// as they are), `(batch, …input shape)` or one sample.
pub fn read_inputs(path: &std::path::Path, input_shape: &[usize]) -> Result<Array, CliError> {
    let array = crate::io::read_npy(path)?;
    let shape = array.shape().to_vec();
    let fits = shape.len() == input_shape.len() + 1 && shape[1..] == *input_shape;
    let single = shape == input_shape;
    if !fits && !single {
        return Err(IoError::new(
            ErrorKind::WrongShape,
            format!(
                "holds an array of shape {shape:?}, but the model takes (batch, {}) inputs",
                crate::params::join_dims(input_shape)
            ),
        )
        .at(path)
        .with_help("give one sample or a batch with the model's input shape")
        .into());
    }
    let mut with_batch = shape.clone();
    if single {
        with_batch.insert(0, 1);
    }
    let reshape = |a: Array| -> Array {
        match a {
            Array::U8(x) => Array::U8(
                x.into_shape_with_order(with_batch.clone())
                    .expect("same element count"),
            ),
            Array::F32(x) => Array::F32(
                x.into_shape_with_order(with_batch.clone())
                    .expect("same element count"),
            ),
            other => other,
        }
    };
    match array {
        Array::U8(_) | Array::F32(_) => Ok(reshape(array)),
        Array::F64(x) => Ok(reshape(Array::F32(x.mapv(|v| v as f32)))),
        other => Err(IoError::new(
            ErrorKind::WrongDtype,
            format!(
                "holds {} values; inputs are uint8 images or float32 values",
                other.dtype().name()
            ),
        )
        .at(path)
        .into()),
    }
}

pub fn run(opts: &PredictArgs, common: &Common) -> Result<(), CliError> {
    crate::io::check_output(
        &opts.output,
        &[&opts.run.model.model, &opts.run.weights, &opts.run.input],
    )?;
    if let Some(dir) = &opts.layers {
        super::check_layers_dir(dir)?;
    }
    let (mut net, _, job) = network(&opts.run.model, &opts.run.weights, opts.threads, 0, common)?;
    let input_shape = net.model().input.shape.dims().to_vec();
    let array = read_inputs(&opts.run.input, &input_shape)?;
    let inputs = match &array {
        Array::U8(a) => Inputs::U8(a.view()),
        Array::F32(a) => Inputs::F32(a.view()),
        _ => unreachable!("read_inputs returns uint8 or float32"),
    };
    if let Some(dir) = &opts.layers {
        super::check_layers_dir(dir)?;
    }
    let samples = array.shape()[0];
    super::memory::check_model(
        net.model(),
        super::memory::Usage::Inference {
            batch: opts.batch_size.min(samples),
            samples,
            keep_layers: opts.layers.is_some(),
        },
    )
    .map_err(|e| {
        super::with_help(
            e,
            "raise it with `--memory-budget`, or lower `--batch-size`",
        )
    })?;
    let (out, layers) = net.predict(&inputs, opts.logits, opts.batch_size, opts.layers.is_some());
    if let Some(dir) = &opts.layers {
        for (k, (name, a)) in layers.into_iter().enumerate() {
            crate::io::write_npy(&dir.join(format!("{k}_{name}.npy")), &Array::F32(a))?;
        }
    }
    let shape = out.shape().to_vec();
    crate::io::write_npy(&opts.output, &Array::F32(out))?;
    println!(
        "predicted {} sample(s) with `{}` ({}) → `{}` {shape:?}",
        shape[0],
        net.model().name,
        job.options.passes.describe(&job.model),
        opts.output.display()
    );
    Ok(())
}
