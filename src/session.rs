//! The compile pipeline as one library API: `.q` source → IR → weights → passes → program,
//! and the target policy. Every command, the fuzz harnesses, the benchmarks and the tests go
//! through it; nothing else assembles a pass pipeline.
//!
//! Stages are nouns and conversions verbs, as in naga's `Frontend::parse`:
//!
//! ```text
//!  Session::read / Session::new      the source, parsed and lowered (every diagnostic kept)
//!     └─ Session::job                 one model + its checked weights + Options = a Job
//!          ├─ Job::transform(Stage)   a Graph: the IR (and weights) after a named pipeline
//!          ├─ Job::executor           the trainable CPU executor of the transformed model
//!          ├─ Job::check              what `qnnc check` reports for the job
//!          └─ Job::compile            the Program, with the target policy applied
//! ```
//!
//! The target decides the policy in one place ([`Options::target`]): for the software target
//! (the integer simulator) the AKD1000's rules are warnings and a batch norm after a per-tensor
//! quantized layer stays unfolded (in the thresholds); for `akd1000` they are errors and
//! CNN2SNN's refusal stands. Diagnostics stay typed ([`crate::Error`]) from the stage that
//! found them to the renderer.
//!
//! ```
//! use qnnc::session::{Options, Session, Stage};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut session = Session::read("examples/toy_quantized.q".as_ref())?; // parse + lower
//! assert!(!session.has_errors());
//! let weights = "examples/toy_quantized.npz".as_ref();
//! let job = session.job(None, Some(weights), Options::default())?;
//! let graph = job.transformed(Stage::Quantized)?.graph; // what cnn2snn.quantize makes
//! assert_eq!(graph.model.name, "toy_quantized");
//! let compiled = job.compile(session.src.text())?; // the program, rules applied
//! assert!(!compiled.program.layers.is_empty());
//! # Ok(())
//! # }
//! ```

use crate::backend::cpu::network::Network;
use crate::backend::cpu::{Cpu, CpuError};
use crate::backend::nsoc::sim::activation::step_usable;
use crate::backend::nsoc::{Program, Target};
use crate::io::IoError;
use crate::ir::{self, Model, Module};
use crate::params::Params;
use crate::passes::{self, Dump, PassName, PassOptions, Pipeline};
use crate::source::SourceFile;
use crate::syntax::{self, ast};
use crate::target::akd1000::{self, Akd1000, AKD1000};
use crate::target::emit::{emit, BlockTrace};
use crate::target::equalize::{equalize, Change};
use crate::target::{form_blocks, form_blocks_best_effort, Block, EmitError};
use crate::Error;
use miette::Diagnostic;
use std::path::Path;
use thiserror::Error as ThisError;

pub use crate::passes::Graph;

/// Why a session or a job could not be set up (before any diagnostic about the model).
#[derive(Debug, ThisError, Diagnostic)]
pub enum SessionError {
    #[error("cannot read `{path}`: {reason}")]
    #[diagnostic(code(cli::read))]
    Read { path: String, reason: String },

    #[error("`{path}` is not valid UTF-8 text")]
    #[diagnostic(code(cli::not_utf8), help("`.q` files are UTF-8 text"))]
    NotUtf8 { path: String },

    #[error("`{path}` defines several models: {names}")]
    #[diagnostic(code(cli::ambiguous_model), help("choose one with `--model NAME`"))]
    AmbiguousModel { path: String, names: String },

    #[error("`{path}` has no model `{name}`")]
    #[diagnostic(code(cli::unknown_model))]
    UnknownModel {
        path: String,
        name: String,
        #[help]
        help: Option<String>,
    },

    /// A weights file, or a `--dump-after` output, that cannot be read or written.
    #[error(transparent)]
    #[diagnostic(transparent)]
    File(#[from] IoError),
}

/// A `.q` file, parsed and lowered, with every diagnostic found so far.
pub struct Session {
    pub src: SourceFile,
    pub file: Option<ast::File>,
    pub module: Option<Module>,
    pub diagnostics: Vec<Error>,
}

impl Session {
    /// Reads, parses and lowers a `.q` file (a UTF-8 text; a byte order mark is dropped).
    pub fn read(path: &Path) -> Result<Session, SessionError> {
        Ok(Session::new(Session::read_source(path)?))
    }

    /// Reads a `.q` file's text (a UTF-8 text; a byte order mark is dropped).
    pub fn read_source(path: &Path) -> Result<SourceFile, SessionError> {
        let bytes = std::fs::read(path).map_err(|e| SessionError::Read {
            path: path.display().to_string(),
            reason: crate::io::reason(&e),
        })?;
        source_from_bytes(&path.display().to_string(), bytes)
    }

    /// Parses and lowers `src`, collecting every diagnostic.
    pub fn new(src: SourceFile) -> Session {
        match syntax::parse(&src) {
            Err(e) => Session {
                src,
                file: None,
                module: None,
                diagnostics: vec![e.into()],
            },
            Ok(file) => {
                let lowering = ir::lower(&file);
                Session {
                    src,
                    file: Some(file),
                    module: lowering.module,
                    diagnostics: lowering.diagnostics.into_iter().map(Error::from).collect(),
                }
            }
        }
    }

    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Error::is_error)
    }

    /// The model a command works on: the only one, or the one named.
    ///
    /// Panics if the front end failed (callers check [`Session::has_errors`] first).
    pub fn model(&self, name: Option<&str>) -> Result<&Model, SessionError> {
        let module = self
            .module
            .as_ref()
            .expect("a model is selected only once the front end succeeded");
        let path = self.src.name();
        let names = || ir::code_list(module.models.iter().map(|m| &m.name));
        match name {
            Some(n) => module.model(n).ok_or_else(|| SessionError::UnknownModel {
                path: path.to_string(),
                name: n.to_string(),
                help: Some(format!("the file defines {}", names())),
            }),
            None if module.models.len() == 1 => Ok(&module.models[0]),
            None => Err(SessionError::AmbiguousModel {
                path: path.to_string(),
                names: names(),
            }),
        }
    }

    /// A job on the model `name` (see [`Session::model`]) with the weights at `weights`: their
    /// problems join the session's diagnostics, and the job has no weights when one of them is
    /// an error.
    pub fn job(
        &mut self,
        name: Option<&str>,
        weights: Option<&Path>,
        options: Options,
    ) -> Result<Job, SessionError> {
        let model = self.model(name)?.clone();
        let params = match weights {
            Some(path) => {
                let (params, problems) = crate::params::load(path, &model)?;
                self.diagnostics
                    .extend(problems.into_iter().map(Error::from));
                params
            }
            None => None,
        };
        Ok(Job {
            model,
            params,
            options,
        })
    }
}

impl Session {
    /// Adds to the session's diagnostics everything `qnnc check` finds beyond the front end:
    /// with `weights`, the weights' problems and [`Job::check`]'s; without, for the AKD1000,
    /// the structural rules of every model (or of the one named). Does nothing when the front
    /// end already failed.
    pub fn check(
        &mut self,
        model: Option<&str>,
        weights: Option<&Path>,
        options: &Options,
    ) -> Result<(), SessionError> {
        if self.has_errors() {
            return Ok(());
        }
        let found = match weights {
            Some(_) => {
                let job = self.job(model, weights, options.clone())?;
                match job.params {
                    Some(_) => job.check(self.src.text())?,
                    None => Vec::new(),
                }
            }
            None if options.target == Target::Akd1000 => {
                let models: Vec<Model> = match model {
                    Some(_) => vec![self.model(model)?.clone()],
                    None => self
                        .module
                        .as_ref()
                        .map(|m| m.models.clone())
                        .unwrap_or_default(),
                };
                let mut found = Vec::new();
                for m in models {
                    found.extend(Job::new(m, None, options.clone()).check(self.src.text())?);
                }
                found
            }
            None => Vec::new(),
        };
        self.diagnostics.extend(found);
        Ok(())
    }
}

/// The `.q` source in `bytes`, read from `path`: UTF-8 text, less a leading byte order mark.
pub fn source_from_bytes(path: &str, bytes: Vec<u8>) -> Result<SourceFile, SessionError> {
    let mut text = String::from_utf8(bytes).map_err(|_| SessionError::NotUtf8 {
        path: path.to_string(),
    })?;
    // A UTF-8 byte order mark (some Windows editors write one) is not part of the text.
    if text.starts_with('\u{feff}') {
        text.drain(..'\u{feff}'.len_utf8());
    }
    Ok(SourceFile::new(path.to_string(), text))
}

/// How a job runs: the pass options, the target (which decides the policy), the dumps.
#[derive(Clone, Debug)]
pub struct Options {
    pub passes: PassOptions,
    pub target: Target,
    /// `--dump-after`: the IR after these passes, as RON.
    pub dump: Dump,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            passes: PassOptions::default(),
            target: Target::Software,
            dump: Dump::default(),
        }
    }
}

impl Options {
    /// The pass options under the target's policy: for the software target a batch norm after a
    /// per-tensor quantized layer stays unfolded (the executor applies it, the program puts it
    /// in the thresholds); for the AKD1000 CNN2SNN's refusal stands.
    fn pass_options(&self) -> PassOptions {
        PassOptions {
            bn_in_thresholds: self.target == Target::Software,
            ..self.passes.clone()
        }
    }
}

/// The named pass pipelines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// What `cnn2snn.quantize` makes of the model as written (its `quantize(...)`, its
    /// quantizers; or float with `--float`): the model the CPU executor trains and runs.
    Quantized,
    /// `qnnc quantize`: batch norms folded as `cnn2snn.quantize` does even without a
    /// `quantize(...)` statement, then the quantizers.
    QuantizeCommand,
    /// `cnn2snn.convert`'s passes: the quantized model, then `syncretize`.
    Converted,
}

/// A model, its weights (when given and valid) and how to run it.
#[derive(Clone, Debug)]
pub struct Job {
    pub model: Model,
    pub params: Option<Params>,
    pub options: Options,
}

/// A transformed model: the graph and what the passes said.
pub struct Transformed {
    pub graph: Graph,
    pub diagnostics: Vec<Error>,
    /// The IR dumps written (`--dump-after`): `(pass, path)`.
    pub dumps: Vec<(PassName, std::path::PathBuf)>,
}

impl Transformed {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Error::is_error)
    }
}

/// A compiled model: the program, the converted IR and blocks it came from, and the warnings
/// and advice of every stage (the AKD1000 rules are among them for the software target).
pub struct Compiled {
    pub program: Program,
    pub graph: Graph,
    pub blocks: Vec<Block>,
    /// Per block, the values thresholds and act_steps came from (for tracing causes).
    pub traces: Vec<BlockTrace>,
    pub diagnostics: Vec<Error>,
}

/// Why a job stopped.
#[derive(Debug, ThisError, Diagnostic)]
pub enum Failure {
    /// Problems in the model or its weights, located in the source (all of them, with the
    /// warnings found on the way).
    #[error("the model has errors")]
    Diagnostics(Vec<Error>),
    /// A `--dump-after` file could not be written.
    #[error(transparent)]
    #[diagnostic(transparent)]
    File(#[from] IoError),
    /// The executor refused the model (e.g. a window that does not fit).
    #[error(transparent)]
    #[diagnostic(transparent)]
    Executor(#[from] CpuError),
}

impl Job {
    /// A job on a model alone (no weights).
    pub fn new(model: Model, params: Option<Params>, options: Options) -> Job {
        Job {
            model,
            params,
            options,
        }
    }

    fn pipeline(&self, stage: Stage, opts: &PassOptions) -> Pipeline {
        match stage {
            Stage::Quantized => Pipeline::quantized(&self.model, opts),
            Stage::QuantizeCommand => Pipeline::quantize_command(opts),
            Stage::Converted => Pipeline::convert(&self.model, opts),
        }
    }

    /// Runs the `stage` pipeline on the model and its weights (writing the dumps asked for).
    pub fn transform(&self, stage: Stage) -> Result<Transformed, IoError> {
        let mut opts = self.options.pass_options();
        if stage == Stage::QuantizeCommand {
            // `cnn2snn.quantize` itself: a batch norm after a per-tensor quantizer is its error.
            opts.bn_in_thresholds = false;
        }
        self.run(stage, &opts, &self.options.dump)
    }

    fn run(&self, stage: Stage, opts: &PassOptions, dump: &Dump) -> Result<Transformed, IoError> {
        let mut graph = Graph {
            model: self.model.clone(),
            params: self.params.clone(),
        };
        let report = passes::run(&mut graph, &self.pipeline(stage, opts), opts, dump)?;
        Ok(Transformed {
            graph,
            diagnostics: report.diagnostics.into_iter().map(Error::from).collect(),
            dumps: report.dumps,
        })
    }

    /// The transformed model, or every diagnostic when a pass refused it.
    pub fn transformed(&self, stage: Stage) -> Result<Transformed, Failure> {
        let t = self.transform(stage)?;
        if t.has_errors() {
            return Err(Failure::Diagnostics(t.diagnostics));
        }
        Ok(t)
    }

    /// The CPU executor of the [`Stage::Quantized`] model on `threads` workers (dropout and
    /// shuffling streams from `seed`), with the transformed graph.
    ///
    /// Panics if the job has no weights.
    pub fn executor(&self, threads: usize, seed: u64) -> Result<(Network, Transformed), Failure> {
        let t = self.transformed(Stage::Quantized)?;
        let params = t.graph.params.as_ref().expect("an executor needs weights");
        let net = Network::new(Cpu::new(threads)?, &t.graph.model, params, seed)?;
        Ok((net, t))
    }

    /// Compiles the job into a program for its target: the conversion passes, block formation,
    /// the emitter, act_step equalization, the engine's limits, the program's invariants and
    /// the AKD1000's rules — errors for `akd1000`, warnings for the software target.
    ///
    /// `source` is the `.q` text (its hash goes in the program). Panics if the job has no
    /// weights.
    pub fn compile(&self, source: &str) -> Result<Compiled, Failure> {
        let (compiled, hardware) = self.convert(source)?;
        let mut diagnostics = compiled.diagnostics;
        match self.options.target {
            Target::Akd1000 if !hardware.is_empty() => {
                diagnostics.extend(hardware);
                return Err(Failure::Diagnostics(diagnostics));
            }
            Target::Akd1000 => {}
            Target::Software => diagnostics.extend(hardware.into_iter().map(Error::into_warning)),
        }
        Ok(Compiled {
            diagnostics,
            ..compiled
        })
    }

    /// The program and, apart, every AKD1000 rule it breaks.
    fn convert(&self, source: &str) -> Result<(Compiled, Vec<Error>), Failure> {
        assert!(self.params.is_some(), "compiling needs weights");
        let t = self.transformed(Stage::Converted)?;
        let mut notes = t.diagnostics;
        let graph = t.graph;
        let blocks = form_blocks(&graph.model).map_err(|errs| {
            let mut all: Vec<Error> = errs.into_iter().map(Into::into).collect();
            all.append(&mut notes);
            Failure::Diagnostics(all)
        })?;
        let params = graph.params.as_ref().expect("the graph keeps the weights");
        let mut emitted = emit(&graph.model, params, &blocks, source, self.options.target)
            .map_err(|errs| Failure::Diagnostics(errs.into_iter().map(Into::into).collect()))?;
        if self.options.passes.equalize_act_steps {
            for change in equalize(&mut emitted.program, &AKD1000) {
                notes.push(equalization_note(&graph.model, &blocks, &change).into());
            }
        }
        let limits = engine_limits(&emitted.program, &graph.model, &blocks);
        if !limits.is_empty() {
            return Err(Failure::Diagnostics(limits));
        }
        // Anything the emitter lets through that the program's invariants refuse is a bug in
        // the emitter (every user mistake was reported above).
        if let Err(e) = emitted.program.validate() {
            panic!(
                "the emitter produced an invalid program for `{}`: {e}",
                self.model.name
            );
        }
        let hardware: Vec<Error> = hardware_rules(
            &AKD1000,
            &emitted.program,
            &graph.model,
            &blocks,
            &emitted.traces,
            self.params.as_ref(),
        )
        .into_iter()
        .map(Into::into)
        .collect();
        Ok((
            Compiled {
                program: emitted.program,
                graph,
                blocks,
                traces: emitted.traces,
                diagnostics: notes,
            },
            hardware,
        ))
    }

    /// Everything `qnnc check` reports for this job:
    /// - without weights, for the AKD1000: its structural rules (the conversion passes on the
    ///   model alone, block formation, the layer limits); for the software target nothing
    ///   beyond the front end;
    /// - with weights, for the software target: what `cnn2snn.quantize` refuses; for the
    ///   AKD1000: the whole compilation and every rule, as `compile --target akd1000`.
    pub fn check(&self, source: &str) -> Result<Vec<Error>, IoError> {
        match (&self.params, self.options.target) {
            (None, Target::Software) => Ok(Vec::new()),
            (None, Target::Akd1000) => self.structure(),
            (Some(_), Target::Software) => Ok(self.transform(Stage::Quantized)?.diagnostics),
            (Some(_), Target::Akd1000) => match self.convert(source) {
                Ok((compiled, hardware)) => {
                    let mut out = compiled.diagnostics;
                    out.extend(hardware);
                    Ok(out)
                }
                Err(Failure::Diagnostics(d)) => Ok(d),
                Err(Failure::File(e)) => Err(e),
                Err(Failure::Executor(e)) => unreachable!("checks build no executor: {e}"),
            },
        }
    }

    /// The AKD1000's structural rules, without weights, and the converted model's blocks.
    pub fn structure_with_blocks(&self) -> Result<(Vec<Error>, Graph, Vec<Block>), IoError> {
        let job = Job {
            params: None,
            options: Options {
                dump: Dump::default(),
                ..self.options.clone()
            },
            ..self.clone()
        };
        let t = job.transform(Stage::Converted)?;
        let mut out = t.diagnostics;
        if out.iter().any(Error::is_error) {
            return Ok((out, t.graph, Vec::new()));
        }
        // Conversion errors and hardware limits together, so that one run reports everything.
        let (blocks, errs) = form_blocks_best_effort(&t.graph.model);
        out.extend(errs.into_iter().map(Into::into));
        out.extend(
            akd1000::check_structure(&AKD1000, &t.graph.model, &blocks)
                .into_iter()
                .map(Into::into),
        );
        Ok((out, t.graph, blocks))
    }

    fn structure(&self) -> Result<Vec<Error>, IoError> {
        Ok(self.structure_with_blocks()?.0)
    }
}

/// Every AKD1000 rule a compiled model breaks: structure and numbers, read from `hw`.
pub fn hardware_rules(
    hw: &Akd1000,
    program: &Program,
    model: &Model,
    blocks: &[Block],
    traces: &[BlockTrace],
    original: Option<&Params>,
) -> Vec<crate::target::HwError> {
    let mut errs = akd1000::check_structure(hw, model, blocks);
    errs.extend(akd1000::check_program(
        hw, program, model, blocks, traces, original,
    ));
    errs
}

/// The akida engine's own limits, for any target: act_steps of at least 1/16 on every layer
/// (it refuses smaller ones), and with activation a step its 28-bit register can divide by.
fn engine_limits(program: &Program, model: &Model, blocks: &[Block]) -> Vec<Error> {
    let mut limits = Vec::new();
    for (i, l) in program.layers.iter().enumerate() {
        let layer = &model.layers[blocks[i].neural];
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
    limits
}

/// The warning that tells what act_step equalization changed, at the layer it changed.
fn equalization_note(model: &Model, blocks: &[Block], change: &Change) -> EmitError {
    let l = &model.layers[blocks[change.layer].neural];
    EmitError::Equalized {
        layer: l.name.clone(),
        detail: change.to_string(),
        span: l.span,
    }
}
