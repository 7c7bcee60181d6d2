//! `qnnc diff`: how the quantized CPU executor and the integer program agree, layer by layer —
//! the first thing to run when the chip disagrees with the model.
//!
//! Both run on the same uint8 images. For every Akida layer with an activation, the
//! executor's output `step · n` is turned back into levels `n` and compared with the program's
//! levels (exact matches, off-by-one, largest difference); for a last layer without
//! activation, the program's dequantized potentials are compared with the executor's values.

use super::predict::InferArgs;
use super::{emit, failed, CliError, Common};
use crate::backend::cpu::network::{Inputs, Network};
use crate::backend::cpu::Cpu;
use crate::backend::nsoc::{LayerOutput, Simulator, Target};
use crate::io::Array;
use crate::ir::Op;
use crate::quant::QuantizedActivation;
use crate::session::Compiled;

/// `qnnc diff`.
#[derive(clap::Args, Clone, Debug)]
pub struct DiffArgs {
    #[command(flatten)]
    pub run: InferArgs,
    /// Worker threads of the executor.
    #[arg(long, default_value_t = super::default_threads(), value_parser = super::at_least_one)]
    pub threads: usize,
}

/// How one Akida layer's outputs agree.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerAgreement {
    pub name: String,
    pub values: usize,
    /// For activation layers: values with the same level, with levels one apart, and the
    /// largest level difference. For a potentials layer: the largest absolute difference of
    /// the dequantized values (`exact`/`off_by_one` unused).
    pub exact: usize,
    pub off_by_one: usize,
    pub max_difference: f64,
    pub levels: bool,
}

/// Compares the executor and the program on `images`.
pub fn agreement(
    compiled: &Compiled,
    images: &ndarray::Array4<u8>,
    threads: usize,
) -> Result<Vec<LayerAgreement>, CliError> {
    let graph = &compiled.graph;
    let mut net = Network::new(
        Cpu::new(threads)?,
        &graph.model,
        graph.params.as_ref().expect("compiled with weights"),
        0,
    )?;
    let inputs = Inputs::U8(images.view().into_dyn());
    let (_, layers) = net.predict(&inputs, true, 256, true);
    let program = &compiled.program;
    let sim = Simulator::new(program)?;
    let outputs = sim.run_all(images.view())?;
    let mut result = Vec::new();
    for ((block, hw), out) in compiled.blocks.iter().zip(&program.layers).zip(&outputs) {
        let cpu = &layers[block.last()].1;
        match out {
            LayerOutput::Levels(levels) => {
                let act = match &graph.model.layers
                    [block.activation.expect("levels come from an activation")]
                .op
                {
                    Op::QuantizedActivation(spec) => QuantizedActivation::new(spec),
                    _ => unreachable!("block activations are quantized activations"),
                };
                let (mut exact, mut one, mut max) = (0usize, 0usize, 0i64);
                for (&l, &v) in levels.iter().zip(cpu.iter()) {
                    let n = (v / act.step).round() as i64;
                    let d = (n - i64::from(l)).abs();
                    match d {
                        0 => exact += 1,
                        1 => one += 1,
                        _ => {}
                    }
                    max = max.max(d);
                }
                result.push(LayerAgreement {
                    name: hw.name.clone(),
                    values: levels.len(),
                    exact,
                    off_by_one: one,
                    max_difference: max as f64,
                    levels: true,
                });
            }
            LayerOutput::Potentials(p) => {
                let deq = sim.dequantize(p.view())?;
                let max = deq
                    .iter()
                    .zip(cpu.iter())
                    .map(|(a, b)| (*a as f64 - *b as f64).abs())
                    .fold(0.0, f64::max);
                result.push(LayerAgreement {
                    name: hw.name.clone(),
                    values: deq.len(),
                    exact: 0,
                    off_by_one: 0,
                    max_difference: max,
                    levels: false,
                });
            }
        }
    }
    Ok(result)
}

pub fn run(opts: &DiffArgs, common: &Common) -> Result<(), CliError> {
    let m = &opts.run.model;
    let (session, job) = m.load(Some(&opts.run.weights), Target::Software, common)?;
    let input_shape = job.model.input.shape.dims().to_vec();
    let images = match super::predict::read_inputs(&opts.run.input, &input_shape)? {
        Array::U8(a) => {
            a.into_dimensionality::<ndarray::Ix4>()
                .map_err(|_| CliError::Mismatch {
                    message: format!(
                        "model `{}` takes vectors; `diff` compares image models",
                        job.model.name
                    ),
                    help: None,
                })?
        }
        other => {
            return Err(crate::io::IoError::new(
                crate::io::ErrorKind::WrongDtype,
                format!(
                    "holds {} values, but the program runs on uint8 images",
                    other.dtype().name()
                ),
            )
            .at(&opts.run.input)
            .with_help("give the images as uint8, `x_u8 = scale · x + offset`")
            .into())
        }
    };
    let samples = images.dim().0;
    super::memory::check_model(
        &job.model,
        super::memory::Usage::Inference {
            batch: samples.min(256),
            samples,
            keep_layers: true,
        },
    )?;
    let compiled = job
        .compile(session.src.text())
        .map_err(|f| failed(&session, f, "cannot be compiled", common))?;
    emit(&session.src, &compiled.diagnostics, common);
    super::memory::check_program(&compiled.program, samples, true)?;
    let rows = agreement(&compiled, &images, opts.threads)?;
    println!(
        "quantized executor vs integer program on {} image(s) of `{}`:",
        images.dim().0,
        opts.run.input.display()
    );
    println!(
        "{:<20} {:>10} {:>12} {:>12} {:>14}",
        "layer", "values", "exact", "off by one", "max diff"
    );
    for r in &rows {
        if r.levels {
            println!(
                "{:<20} {:>10} {:>11.2}% {:>11.2}% {:>9} level{}",
                r.name,
                r.values,
                100.0 * r.exact as f64 / r.values.max(1) as f64,
                100.0 * r.off_by_one as f64 / r.values.max(1) as f64,
                r.max_difference,
                if r.max_difference == 1.0 { "" } else { "s" }
            );
        } else {
            println!(
                "{:<20} {:>10} {:>12} {:>12} {:>14.6}",
                r.name, r.values, "-", "-", r.max_difference
            );
        }
    }
    Ok(())
}
