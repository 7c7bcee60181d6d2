//! The compile pipeline: a model and its float weights → an NSoC program.
//!
//! `cnn2snn.convert` in order: the conversion passes (quantize, then `syncretize`), block
//! formation with CNN2SNN's design rules, the emitter, and the program's own validation. Every
//! stage reports all its problems as located diagnostics; the first stage that fails stops the
//! pipeline.

use crate::target::emit::{emit, Emitted};
use crate::target::equalize::{equalize, Change};
use crate::backend::nsoc::sim::activation::step_usable;
use crate::backend::nsoc::Target;
use crate::ir::Model;
use crate::params::Params;
use crate::passes::{self, Dump, Graph, PassOptions, Pipeline};
use crate::target::{form_blocks, Block, EmitError};

/// A compiled model: the program, the converted IR it came from, and its blocks.
pub struct Compiled {
    pub emitted: Emitted,
    pub graph: Graph,
    pub blocks: Vec<Block>,
    /// Warnings and advice of the passes.
    pub notes: Vec<crate::Error>,
}

/// Why compilation stopped.
#[derive(Debug)]
pub enum CompileFailure {
    /// Problems in the model or its weights, located in the source.
    Diagnostics(Vec<crate::Error>),
    /// A `--dump-after` file could not be written.
    Io(crate::io::IoError),
}

/// Compiles `model` with `params`. `source` is the `.q` text (its hash goes in the program).
pub fn compile(
    model: &Model,
    params: Params,
    source: &str,
    target: Target,
    opts: &PassOptions,
    dump: &Dump,
) -> Result<Compiled, CompileFailure> {
    use CompileFailure::Diagnostics;
    // For the simulator, a batch norm after a per-tensor quantized layer goes into the
    // thresholds; for the chip, CNN2SNN's rule holds.
    let opts = &PassOptions {
        bn_in_thresholds: target == Target::Software,
        ..opts.clone()
    };
    let mut graph = Graph {
        model: model.clone(),
        params: Some(params),
    };
    let report = passes::run(&mut graph, &Pipeline::convert(model, opts), opts, dump)
        .map_err(CompileFailure::Io)?;
    let mut notes: Vec<crate::Error> = report.diagnostics.into_iter().map(Into::into).collect();
    if notes.iter().any(crate::Error::is_error) {
        return Err(Diagnostics(notes));
    }
    let blocks = form_blocks(&graph.model).map_err(|errs| {
        let mut all: Vec<crate::Error> = errs.into_iter().map(Into::into).collect();
        all.append(&mut notes);
        Diagnostics(all)
    })?;
    let params = graph
        .params
        .as_ref()
        .expect("the graph was built with weights");
    let mut emitted = emit(&graph.model, params, &blocks, source, target)
        .map_err(|errs| Diagnostics(errs.into_iter().map(Into::into).collect()))?;
    if opts.equalize_act_steps {
        for change in equalize(&mut emitted.program) {
            notes.push(equalization_note(&graph.model, &blocks, &change).into());
        }
    }
    // The engine's own limits: act_steps of at least 1/16 on every layer (it refuses smaller
    // ones), and with activation a step its 28-bit register can divide by.
    let program = &emitted.program;
    let mut limits: Vec<crate::Error> = Vec::new();
    for (i, l) in program.layers.iter().enumerate() {
        let layer = &graph.model.layers[blocks[i].neural];
        let small = (0..l.act_steps.len())
            .find(|&c| l.act_steps[c].is_nan() || l.act_steps[c] < 1.0 / 16.0);
        if let Some(c) = small {
            limits.push(
                EmitError::ActStepTooSmall {
                    layer: layer.name.clone(),
                    value: l.act_steps[c],
                    channel: c,
                    span: layer.span,
                }
                .into(),
            );
        } else if l.activation {
            let unusable = (0..l.act_steps.len()).find(|&c| !step_usable(l.act_steps[c]));
            if let Some(c) = unusable {
                limits.push(
                    EmitError::ActStepUnusable {
                        layer: layer.name.clone(),
                        value: l.act_steps[c],
                        channel: c,
                        span: layer.span,
                    }
                    .into(),
                );
            }
        }
    }
    if !limits.is_empty() {
        return Err(Diagnostics(limits));
    }
    // The program's own invariants (the AKD1000's registers are checked by `hardware`, with
    // located diagnostics). A violation here is a bug in the emitter.
    let target = emitted.program.target;
    emitted.program.target = Target::Software;
    if let Err(e) = emitted.program.validate() {
        panic!(
            "the emitter produced an invalid program for `{}`: {e}",
            model.name
        );
    }
    emitted.program.target = target;
    notes.retain(|n| !n.is_error());
    Ok(Compiled {
        emitted,
        graph,
        blocks,
        notes,
    })
}

/// The warning that tells what act_step equalization changed, at the layer it changed.
fn equalization_note(model: &Model, blocks: &[Block], change: &Change) -> EmitError {
    let (layer, detail) = match change {
        Change::ActSteps {
            layer,
            channels,
            largest,
            limit,
        } => (
            *layer,
            format!(
                "{} act_step(s) up to {largest} lowered to the register limit {limit}; the next layer's weights were divided to compensate",
                channels.len()
            ),
        ),
        Change::Thresholds {
            layer,
            channels,
            largest,
            limit,
        } => (
            *layer,
            format!(
                "{} threshold(s) up to {largest} clipped to the register limit {limit}",
                channels.len()
            ),
        ),
    };
    let l = &model.layers[blocks[layer].neural];
    EmitError::Equalized {
        layer: l.name.clone(),
        detail,
        span: l.span,
    }
}

/// Every AKD1000 rule the compiled model breaks: structure and numbers.
pub fn hardware(compiled: &Compiled, original: Option<&Params>) -> Vec<crate::target::HwError> {
    let model = &compiled.graph.model;
    let mut errs = crate::target::akd1000::check_structure(model, &compiled.blocks);
    errs.extend(crate::target::akd1000::check_program(
        &compiled.emitted.program,
        model,
        &compiled.blocks,
        &compiled.emitted.traces,
        original,
    ));
    errs
}

/// The AKD1000's structural rules, without weights: the conversion passes run on the model
/// alone, then block formation and the layer limits.
pub fn hardware_structure(
    model: &Model,
    opts: &PassOptions,
) -> Result<Vec<crate::Error>, CompileFailure> {
    let mut graph = Graph {
        model: model.clone(),
        params: None,
    };
    let report = passes::run(
        &mut graph,
        &Pipeline::convert(model, opts),
        opts,
        &Dump::default(),
    )
    .map_err(CompileFailure::Io)?;
    let mut out: Vec<crate::Error> = report.diagnostics.into_iter().map(Into::into).collect();
    if out.iter().any(crate::Error::is_error) {
        return Ok(out);
    }
    // Conversion errors and hardware limits together, so that one run reports everything.
    let (blocks, errs) = crate::target::form_blocks_best_effort(&graph.model);
    out.extend(errs.into_iter().map(Into::into));
    out.extend(
        crate::target::akd1000::check_structure(&graph.model, &blocks)
            .into_iter()
            .map(Into::into),
    );
    Ok(out)
}
