//! `qnnc predict`: the CPU executor's forward pass on images from a `.npy`.

use super::{load_with_weights, run_passes, Common};
use crate::backend::cpu::network::{Inputs, Network};
use crate::backend::cpu::Cpu;
use crate::driver::CliError;
use crate::io::Array;
use crate::passes::{Dump, Graph, PassOptions, Pipeline};
use std::path::PathBuf;

#[derive(Clone, Debug)]
pub struct PredictOptions {
    pub model: PathBuf,
    pub model_name: Option<String>,
    pub weights: PathBuf,
    pub input: PathBuf,
    pub output: PathBuf,
    /// Drop a final softmax.
    pub logits: bool,
    /// Also write every layer's output here.
    pub layers: Option<PathBuf>,
    pub threads: usize,
    pub batch_size: usize,
    pub passes: PassOptions,
    /// `--dump-after`: the IR after these passes, as RON.
    pub dump: Dump,
}

/// Builds the executor for a model file and its weights: the quantized model (the model's
/// `quantize(...)` and explicit quantizers), or with `float` the float model.
pub fn network(
    model: &std::path::Path,
    model_name: Option<&str>,
    weights: &std::path::Path,
    threads: usize,
    passes: &PassOptions,
    dump: &Dump,
    common: &Common,
) -> Result<(Network, super::Loaded), CliError> {
    let loaded = load_with_weights(model, model_name, weights, common)?;
    let mut graph = Graph {
        model: loaded.model.clone(),
        params: Some(loaded.params.clone()),
    };
    let pipeline = Pipeline::quantized(&graph.model, passes);
    run_passes(
        &loaded.front.src,
        &mut graph,
        &pipeline,
        passes,
        dump,
        common,
    )?;
    let cx = Cpu::new(threads).map_err(|e| CliError::Usage {
        message: e.to_string(),
        help: None,
    })?;
    let net = Network::new(
        cx,
        &graph.model,
        graph.params.as_ref().expect("built with weights"),
        0,
    )
    .map_err(|e| CliError::Io {
        message: e.to_string(),
        help: None,
    })?;
    Ok((net, loaded))
}

/// Reads images for a model: a `.npy` of uint8 (mapped by the input scaling) or float32 (used
/// as they are), `(batch, …input shape)` or one sample.
pub fn read_inputs(path: &std::path::Path, input_shape: &[usize]) -> Result<Array, CliError> {
    let array = crate::io::read_npy(path)?;
    let shape = array.shape().to_vec();
    let fits = shape.len() == input_shape.len() + 1 && shape[1..] == *input_shape;
    let single = shape == input_shape;
    if !fits && !single {
        return Err(CliError::Io {
            message: format!(
                "`{}` holds an array of shape {shape:?}, but the model takes (batch, {}) inputs",
                path.display(),
                input_shape
                    .iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            help: Some("give one sample or a batch with the model's input shape".to_string()),
        });
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
        other => Err(CliError::Io {
            message: format!(
                "`{}` holds {} values; inputs are uint8 images or float32 values",
                path.display(),
                other.dtype().name()
            ),
            help: None,
        }),
    }
}

pub fn run(opts: &PredictOptions, common: &Common) -> Result<(), CliError> {
    crate::io::check_output(&opts.output, &[&opts.model, &opts.weights, &opts.input])?;
    if let Some(dir) = &opts.layers {
        super::check_layers_dir(dir)?;
    }
    let (mut net, _) = network(
        &opts.model,
        opts.model_name.as_deref(),
        &opts.weights,
        opts.threads,
        &opts.passes,
        &opts.dump,
        common,
    )?;
    let input_shape = net.model().input.shape.dims().to_vec();
    let array = read_inputs(&opts.input, &input_shape)?;
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
        opts.passes.describe(net.model()),
        opts.output.display()
    );
    Ok(())
}
