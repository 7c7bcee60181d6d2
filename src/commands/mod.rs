//! The subcommands behind `qnnc`. Each module holds one command's arguments (clap derives them
//! there, so a flag is declared once) and its `run`, which calls the library's façade
//! ([`crate::session`]) and prints. No command assembles a pass pipeline or decides a target
//! policy: the façade does.

pub mod activation;
pub mod bench;
pub mod check;
pub mod checkpoint;
pub mod compile;
pub mod demo;
pub mod diff;
pub mod export;
pub mod fmt;
pub mod hist;
pub mod init;
pub mod inspect;
pub mod memory;
pub mod predict;
pub mod quantize;
pub mod run;
pub mod summary;
pub mod train;

use crate::backend::cpu::CpuError;
use crate::backend::nsoc::{FormatError, SimError, Target};
use crate::diag::{MessageFormat, RenderOptions};
use crate::io::IoError;
use crate::ir::QuantizeSpec;
use crate::passes::{Dump, PassName, PassOptions};
use crate::session::{Failure, Job, Options, Session, SessionError, Stage, Transformed};
use miette::Diagnostic;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Why a command failed. Every variant keeps the typed error of the stage that found it (its
/// code and help reach the renderer); [`CliError::Reported`] means the diagnostics were already
/// printed.
#[derive(Debug, Error, Diagnostic)]
pub enum CliError {
    /// Reading the `.q` file, choosing its model, reading the weights.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Session(#[from] SessionError),

    /// A command-line mistake (exit code 2).
    #[error("{message}")]
    #[diagnostic(code(cli::usage))]
    Usage {
        message: String,
        #[help]
        help: Option<String>,
    },

    /// A file that cannot be read or written as it should.
    #[error(transparent)]
    #[diagnostic(transparent)]
    File(#[from] IoError),

    /// An `.nsoc` program that cannot be written.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Program(#[from] FormatError),

    /// An `.nsoc` program file that cannot be read: the path, and the format's own error.
    #[error("`{}`: {source}", path.display())]
    #[diagnostic(code(nsoc::invalid))]
    ProgramFile {
        path: PathBuf,
        #[source]
        source: Box<FormatError>,
        #[help]
        help: Option<String>,
    },

    /// Inputs the simulator refuses (shape, range), with the file they came from.
    #[error("`{}`: {source}", path.display())]
    #[diagnostic(code(nsoc::input))]
    Input {
        path: PathBuf,
        #[source]
        source: Box<SimError>,
        #[help]
        help: Option<String>,
    },

    /// The integer simulator refused its inputs.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Simulation(#[from] SimError),

    /// The CPU executor refused the model or its data.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Executor(#[from] CpuError),

    /// A model, a file and a dataset that do not go together.
    #[error("{message}")]
    #[diagnostic(code(cli::mismatch))]
    Mismatch {
        message: String,
        #[help]
        help: Option<String>,
    },

    /// Diagnostics were already printed; the command failed because of them.
    #[error("{0}")]
    Reported(String),
}

impl CliError {
    /// The process exit code: 2 for command-line misuse, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage { .. } => 2,
            _ => 1,
        }
    }
}

impl CliError {
    /// A program file's format error, with its path and the error's own help.
    pub fn program_file(path: &Path, source: FormatError) -> CliError {
        let help = source
            .help()
            .map(|h| h.to_string())
            .or_else(|| Some("recompile the model with `qnnc compile`".to_string()));
        CliError::ProgramFile {
            path: path.to_path_buf(),
            source: Box::new(source),
            help,
        }
    }

    /// Inputs of `path` the simulator refuses.
    pub fn input(path: &Path, source: SimError) -> CliError {
        let help = source.help().map(|h| h.to_string());
        CliError::Input {
            path: path.to_path_buf(),
            source: Box::new(source),
            help,
        }
    }
}

/// Options every command shares.
#[derive(Clone, Copy, Debug)]
pub struct Common {
    pub message_format: MessageFormat,
}

impl Common {
    pub fn render_options(&self) -> RenderOptions {
        crate::diag::terminal_options(self.message_format)
    }
}

/// Prints diagnostics where the format wants them: JSON on stdout, text on stderr.
pub fn emit(src: &crate::source::SourceFile, diags: &[crate::Error], common: &Common) {
    if diags.is_empty() {
        return;
    }
    let text = crate::diag::render_all(
        src,
        diags.iter().map(|e| e as &dyn Diagnostic),
        common.render_options(),
    );
    if common.message_format == MessageFormat::Json {
        print!("{text}");
    } else {
        eprint!("{text}");
    }
}

/// Prints a diagnostic that has no source text (a warning about a file or a run), in the
/// command's message format.
pub fn warn(d: &dyn Diagnostic, common: &Common) {
    let src = crate::source::SourceFile::new("", "");
    let text = crate::diag::render(&src, d, common.render_options());
    if common.message_format == MessageFormat::Json {
        print!("{text}");
    } else {
        eprint!("{text}");
    }
}

/// Reads and lowers `path`, prints its diagnostics, and fails when there is an error.
pub fn open(path: &Path, common: &Common) -> Result<Session, CliError> {
    let mut session = Session::read(path)?;
    settle(&mut session, common)?;
    Ok(session)
}

/// Prints the session's diagnostics so far and fails when one is an error.
fn settle(session: &mut Session, common: &Common) -> Result<(), CliError> {
    emit(&session.src, &session.diagnostics, common);
    if session.has_errors() {
        return Err(CliError::Reported(format!(
            "`{}` has errors",
            session.src.name()
        )));
    }
    session.diagnostics.clear();
    Ok(())
}

/// A job on a model of `session` with its weights (when given): prints the weights' problems
/// and fails on an error.
pub fn job(
    session: &mut Session,
    model: Option<&str>,
    weights: Option<&Path>,
    options: Options,
    common: &Common,
) -> Result<Job, CliError> {
    let job = session.job(model, weights, options)?;
    settle(session, common)?;
    Ok(job)
}

/// Opens `model_path` and makes the job of its model with the weights at `weights`.
pub fn load(
    model_path: &Path,
    model: Option<&str>,
    weights: Option<&Path>,
    options: Options,
    common: &Common,
) -> Result<(Session, Job), CliError> {
    let mut session = open(model_path, common)?;
    let job = job(&mut session, model, weights, options, common)?;
    Ok((session, job))
}

/// Prints what a failed job said and turns it into the command's error.
pub fn failed(session: &Session, failure: Failure, what: &str, common: &Common) -> CliError {
    match failure {
        Failure::Diagnostics(d) => {
            emit(&session.src, &d, common);
            CliError::Reported(format!("`{}` {what}", session.src.name()))
        }
        Failure::File(e) => e.into(),
        Failure::Executor(e) => e.into(),
    }
}

/// Runs the passes of `stage` on `job`, prints what they said, and returns the graph; fails
/// (after printing) when a pass reports an error.
pub fn transform(
    session: &Session,
    job: &Job,
    stage: Stage,
    common: &Common,
) -> Result<crate::passes::Graph, CliError> {
    let t = job
        .transformed(stage)
        .map_err(|f| failed(session, f, "cannot be transformed", common))?;
    report(session, &t, common);
    Ok(t.graph)
}

/// Prints the passes' diagnostics and dumps of a transformed model.
pub fn report(session: &Session, t: &Transformed, common: &Common) {
    emit(&session.src, &t.diagnostics, common);
    for (pass, path) in &t.dumps {
        eprintln!("wrote the IR after `{pass}` to `{}`", path.display());
    }
}

/// The model every command that transforms a model works on: the file, the model in it, and
/// the options of the passes.
#[derive(clap::Args, Clone, Debug)]
pub struct ModelArgs {
    /// The `.q` file.
    pub model: PathBuf,
    /// The model to use when the file defines several.
    #[arg(long = "model", value_name = "NAME")]
    pub model_name: Option<String>,
    #[command(flatten)]
    pub passes: PassArgs,
}

impl ModelArgs {
    /// Opens the model file and makes the job of the chosen model with `weights`, its passes
    /// set for `target`.
    pub fn load(
        &self,
        weights: Option<&Path>,
        target: Target,
        common: &Common,
    ) -> Result<(Session, Job), CliError> {
        load(
            &self.model,
            self.model_name.as_deref(),
            weights,
            self.passes.options(target),
            common,
        )
    }
}

/// Options of the commands that transform a model with its weights.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct PassArgs {
    /// Raise every batch-norm gamma to at least this value first (akida_models' gamma
    /// constraint, applied once).
    #[arg(long, value_name = "G", value_parser = positive_float)]
    pub gamma_min: Option<f64>,
    /// Quantize as `quantize(weights: W, activations: A, input_weights: IW)` would, instead of
    /// the model's own `quantize(...)` statement.
    #[arg(long, value_name = "W,A[,IW]", value_parser = crate::passes::parse_quantize_arg)]
    pub quantize: Option<QuantizeSpec>,
    /// Quantize without folding batch norms first (cnn2snn `quantize(fold_BN=False)`): the
    /// batch norms stay in the model, so training keeps normalizing, and `compile` folds them
    /// at conversion as `cnn2snn.convert` does.
    #[arg(long)]
    pub no_fold_bn: bool,
    /// Write the IR as RON after these passes (comma-separated).
    #[arg(long, value_enum, value_delimiter = ',', value_name = "PASS")]
    pub dump_after: Vec<PassName>,
    /// Where `--dump-after` writes its files.
    #[arg(long, default_value = ".", value_name = "DIR")]
    pub dump_dir: PathBuf,
    /// Start from the float model: ignore every quantizer and quantized activation (and the
    /// model's `quantize(...)`); with `--quantize`, quantize that float model.
    #[arg(long)]
    pub float: bool,
    /// Keep act_steps above the AKD1000 registers instead of equalizing them as
    /// `cnn2snn.convert` 2.5+ does (CNN2SNN 2.3.7's behaviour).
    #[arg(long)]
    pub no_act_step_equalization: bool,
}

impl PassArgs {
    /// The façade's options for `target`.
    pub fn options(&self, target: Target) -> Options {
        Options {
            passes: PassOptions {
                gamma_min: self.gamma_min,
                quantize: self.quantize.clone(),
                no_fold_bn: self.no_fold_bn,
                float: self.float,
                equalize_act_steps: !self.no_act_step_equalization,
                ..PassOptions::default()
            },
            target,
            dump: Dump {
                after: self.dump_after.clone(),
                dir: self.dump_dir.clone(),
            },
        }
    }
}

/// `--target`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum TargetArg {
    /// The integer simulator: the AKD1000's rules only warn.
    #[default]
    Software,
    /// BrainChip's AKD1000 (Akida 1.0) chip: a model that breaks one of its rules is refused.
    Akd1000,
}

impl From<TargetArg> for Target {
    fn from(t: TargetArg) -> Self {
        match t {
            TargetArg::Software => Target::Software,
            TargetArg::Akd1000 => Target::Akd1000,
        }
    }
}

/// The default worker-thread count.
pub fn default_threads() -> usize {
    crate::backend::cpu::Cpu::available_threads()
}

pub fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(v) if v >= 1 => Ok(v),
        _ => Err(format!(
            "expected a whole number of at least 1, found `{s}`"
        )),
    }
}

pub fn positive_float(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        _ => Err(format!("expected a positive number, found `{s}`")),
    }
}

/// Refuses a `--layers` directory that does not exist or is not a directory.
pub fn check_layers_dir(dir: &Path) -> Result<(), CliError> {
    use crate::io::ErrorKind;
    match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(IoError::new(ErrorKind::Os, "is not a directory")
            .at(dir)
            .with_help("`--layers` takes a directory; choose another one")
            .into()),
        Err(_) => Err(IoError::new(ErrorKind::NotFound, "no such directory")
            .at(dir)
            .with_help("create it first, or choose another `--layers` directory")
            .into()),
    }
}

/// `e` with its help replaced by `help` (for a file error a command knows a better fix for).
pub fn with_help(e: CliError, help: &str) -> CliError {
    match e {
        CliError::File(io) => CliError::File(io.with_help(help)),
        other => other,
    }
}

/// The index of the largest value, the first on ties (as NumPy's `argmax`): the class of a
/// row of scores, everywhere qnnc reports an accuracy.
pub fn argmax<T: PartialOrd + Copy>(row: &[T]) -> usize {
    let mut best = 0;
    for (i, v) in row.iter().enumerate() {
        if *v > row[best] {
            best = i;
        }
    }
    best
}

/// Renders an error that has no source (a [`CliError`]).
pub fn render_cli_error(e: &CliError, opts: RenderOptions) -> String {
    let src = crate::source::SourceFile::new("", "");
    match opts.format {
        MessageFormat::Short => {
            let code = e.code().map(|c| format!("[{c}]")).unwrap_or_default();
            let mut s = format!("error{code}: {e}\n");
            if let Some(h) = e.help() {
                s.push_str(&format!("help: {h}\n"));
            }
            s
        }
        MessageFormat::Json | MessageFormat::Human => crate::diag::render(&src, e, opts),
    }
}
