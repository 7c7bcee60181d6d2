//! The memory a command will need for a model (CPU executor, training) or an NSoC program
//! (integer simulator), checked against the memory budget (`--memory-budget`,
//! `QNNC_MEMORY_BUDGET`, else a quarter of RAM) before anything is allocated.
//!
//! The estimates count what dominates and what grows with the model and the batch, never
//! less than what will be allocated for it:
//! - weights: every variable as f32 (`init`); the executor adds a quantized copy of each;
//!   training adds the gradients and the optimizer's state (two moments for Adam, one velocity
//!   for SGD);
//! - activations: the input and every layer's output, per sample, as f32, times the batch;
//!   training keeps a gradient of each as well;
//! - programs: the integer weights and thresholds, the batch's input (uint8) and output (i32,
//!   or every layer's output with `--layers`), and each busy worker thread's scratch buffers
//!   for the largest map (see [`program_bytes`]).
//!
//! All arithmetic saturates, so absurd shapes give an absurd (refused) size, never an overflow.

use super::CliError;
use crate::backend::nsoc::Program;
use crate::io::budget;
use crate::ir::Model;

/// What a command does with a model, for [`model_bytes`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Usage {
    /// Only its weights exist (e.g. `qnnc init`).
    Weights,
    /// Forward passes over batches of `batch` samples; with `keep_layers`, every layer's
    /// output is kept for all `samples`.
    Inference {
        batch: usize,
        samples: usize,
        keep_layers: bool,
    },
    /// Training steps over batches of `batch` samples with an optimizer keeping
    /// `optimizer_slots` values per weight.
    Training { batch: usize, optimizer_slots: u64 },
}

const F32: u64 = 4;

fn to_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// The number of weights of `model` (every variable, trainable or not).
pub fn parameter_count(model: &Model) -> u64 {
    model
        .layers
        .iter()
        .flat_map(|l| l.variables())
        .map(|v| {
            v.shape
                .iter()
                .fold(1u64, |n, &d| n.saturating_mul(to_u64(d)))
        })
        .fold(0u64, u64::saturating_add)
}

/// Values of the input and of every layer's output, for one sample.
pub fn activation_count(model: &Model) -> u64 {
    model
        .layers
        .iter()
        .map(|l| l.output_shape.elements())
        .fold(model.input.shape.elements(), u64::saturating_add)
}

/// The bytes `model` needs for `usage` (see the module documentation).
pub fn model_bytes(model: &Model, usage: Usage) -> u64 {
    let weights = parameter_count(model).saturating_mul(F32);
    let per_sample = activation_count(model).saturating_mul(F32);
    match usage {
        Usage::Weights => weights,
        Usage::Inference {
            batch,
            samples,
            keep_layers,
        } => {
            let kept = if keep_layers {
                per_sample.saturating_mul(to_u64(samples))
            } else {
                0
            };
            weights
                .saturating_mul(2)
                .saturating_add(per_sample.saturating_mul(to_u64(batch)))
                .saturating_add(kept)
        }
        Usage::Training {
            batch,
            optimizer_slots,
        } => weights
            .saturating_mul(3u64.saturating_add(optimizer_slots))
            .saturating_add(per_sample.saturating_mul(to_u64(batch)).saturating_mul(2)),
    }
}

/// Refuses `model` when it needs more than the memory budget for `usage`.
pub fn check_model(model: &Model, usage: Usage) -> Result<(), CliError> {
    let purpose = match usage {
        Usage::Weights => "its weights",
        Usage::Inference { .. } | Usage::Training { .. } => "its weights and activations",
    };
    budget::check_model(
        &format!("model `{}`", model.name),
        purpose,
        model_bytes(model, usage),
    )?;
    Ok(())
}

/// Bytes the simulator's grouping aims to keep in level buffers per worker (mirrors
/// `GROUP_BUDGET` of the simulator: a worker takes up to 8 images at once, fewer when one
/// image's maps are large).
const GROUP_BUDGET: u64 = 32 << 20;
/// Images one simulator worker handles at once, at most.
const MAX_GROUP: u64 = 8;

/// The bytes the integer simulator needs to run `program` on `samples` images, keeping every
/// layer's output when `every_layer`, with `threads` workers: the integer weights and
/// thresholds, the images (uint8), the outputs (uint8 levels, or i32 potentials for a last
/// layer without activation; every layer's with `every_layer`; twice, as produced and as
/// written), and the scratch of each busy
/// worker for the images it holds — two i16 level maps and a byte copy of the largest output,
/// the input-sized copies (i16 and padded), and the potentials of the last layer.
pub fn program_bytes(program: &Program, samples: usize, every_layer: bool, threads: usize) -> u64 {
    let samples = to_u64(samples);
    let weights = program
        .layers
        .iter()
        .map(|l| {
            to_u64(l.weights.len())
                .saturating_add(to_u64(l.weights_pw.len()))
                .saturating_add(to_u64(l.thresholds.len()).saturating_mul(4))
                .saturating_add(to_u64(l.act_steps.len()).saturating_mul(4))
        })
        .fold(0u64, u64::saturating_add);
    let output_bytes = |l: &crate::backend::nsoc::Layer| {
        let per_value = if l.activation { 1 } else { 4 };
        l.output_dims.elements().saturating_mul(per_value)
    };
    let kept_per_sample = if every_layer {
        program
            .layers
            .iter()
            .map(output_bytes)
            .fold(0u64, u64::saturating_add)
    } else {
        program.layers.last().map_or(0, output_bytes)
    };
    let (largest_input, largest_output) = program.layers.iter().fold((0, 0), |(i, o), l| {
        (
            i.max(l.input_dims.elements()),
            o.max(l.output_dims.elements()),
        )
    });
    let largest = largest_output.max(largest_input).max(1);
    let group = (GROUP_BUDGET / largest.saturating_mul(2)).clamp(1, MAX_GROUP);
    let workers = to_u64(threads.max(1)).min(samples.div_ceil(group).max(1));
    let per_image = largest_output
        .saturating_mul(5)
        .saturating_add(largest_input.saturating_mul(4))
        .saturating_add(program.layers.last().map_or(0, output_bytes));
    let scratch = per_image.saturating_mul(group).saturating_mul(workers);
    // Outputs exist twice: as the workers produce them and as the array written out.
    weights
        .saturating_add(program.input.elements().saturating_mul(samples))
        .saturating_add(kept_per_sample.saturating_mul(samples).saturating_mul(2))
        .saturating_add(scratch)
}

/// Refuses to simulate `program` on `samples` images when that needs more than the budget.
pub fn check_program(program: &Program, samples: usize, every_layer: bool) -> Result<(), CliError> {
    let threads = crate::backend::cpu::Cpu::available_threads();
    let bytes = program_bytes(program, samples, every_layer, threads);
    budget::check_model(
        &format!("program `{}`", program.model_name),
        &format!("its weights and the activations of {samples} image(s)"),
        bytes,
    )
    .map_err(|e| {
        e.with_help("raise it with `--memory-budget` (or `QNNC_MEMORY_BUDGET`), or run fewer images at once")
    })?;
    Ok(())
}
