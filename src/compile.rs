//! The compile pipeline: a model and its float weights → an NSoC program.
//!
//! `cnn2snn.convert` in order: the conversion passes (quantize, then `syncretize`), block
//! formation with CNN2SNN's design rules, the emitter, and the program's own validation. Every
//! stage reports all its problems as located diagnostics; the first stage that fails stops the
//! pipeline.

use crate::backend::nsoc::emit::{emit, Emitted};
use crate::backend::nsoc::equalize::{equalize, Change};
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
    if let Err(e) = emitted.program.validate() {
        return Err(Diagnostics(vec![EmitError::InvalidProgram {
            model: model.name.clone(),
            reason: e.to_string(),
            span: model.span,
            help: Some(
                "this is a bug in qnnc if the model passed `qnnc check`; please report it"
                    .to_string(),
            ),
        }
        .into()]));
    }
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
