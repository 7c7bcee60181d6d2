//! The subcommands behind `qnnc`: each reads its inputs through the driver, runs the stages it
//! needs, prints its result and returns a [`CliError`] when it fails. `main.rs` only parses
//! the command line and calls these.

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

use crate::diag::{MessageFormat, RenderOptions};
use crate::driver::{self, CliError, Frontend};
use std::path::Path;

/// Options every command shares.
#[derive(Clone, Copy, Debug)]
pub struct Common {
    pub message_format: MessageFormat,
}

impl Common {
    pub fn render_options(&self) -> RenderOptions {
        driver::terminal_options(self.message_format)
    }
}

/// Prints diagnostics where the format wants them: JSON on stdout, text on stderr.
pub fn emit(front_src: &crate::source::SourceFile, diags: &[crate::Error], common: &Common) {
    if diags.is_empty() {
        return;
    }
    let text = driver::render_diagnostics(front_src, diags, common.render_options());
    if common.message_format == MessageFormat::Json {
        print!("{text}");
    } else {
        eprint!("{text}");
    }
}

/// Reads and lowers `path`, prints its diagnostics, and fails when there is an error.
pub fn load_model_file(path: &Path, common: &Common) -> Result<Frontend, CliError> {
    let src = driver::read_source(path)?;
    let front = driver::frontend(src);
    emit(&front.src, &front.diagnostics, common);
    if front.has_errors() {
        return Err(CliError::Reported(format!(
            "`{}` has errors",
            front.src.name()
        )));
    }
    Ok(front)
}

/// A model file, the model chosen in it, and its checked weights.
pub struct Loaded {
    pub front: Frontend,
    pub model: crate::ir::Model,
    pub params: crate::params::Params,
}

/// Reads a model file and its weights, prints every diagnostic, and fails on an error.
pub fn load_with_weights(
    model_path: &Path,
    model_name: Option<&str>,
    weights: &Path,
    common: &Common,
) -> Result<Loaded, CliError> {
    let src = driver::read_source(model_path)?;
    let mut front = driver::frontend(src);
    let mut selected = None;
    let mut params = None;
    if !front.has_errors() {
        let model = front.select_model(model_name)?.clone();
        let (p, problems) = crate::params::load(weights, &model)?;
        front
            .diagnostics
            .extend(problems.into_iter().map(crate::Error::from));
        selected = Some(model);
        params = p;
    }
    emit(&front.src, &front.diagnostics, common);
    if front.has_errors() {
        return Err(CliError::Reported(format!(
            "`{}` has errors",
            front.src.name()
        )));
    }
    front.diagnostics.clear();
    Ok(Loaded {
        front,
        model: selected.expect("no errors, so a model was selected"),
        params: params.expect("no errors, so the weights were read"),
    })
}

/// Refuses a `--layers` directory that does not exist or is not a directory.
pub fn check_layers_dir(dir: &Path) -> Result<(), CliError> {
    use crate::io::{ErrorKind, IoError};
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

/// Runs a pass pipeline, prints its diagnostics, and fails on an error.
pub fn run_passes(
    src: &crate::source::SourceFile,
    graph: &mut crate::passes::Graph,
    pipeline: &crate::passes::Pipeline,
    opts: &crate::passes::PassOptions,
    dump: &crate::passes::Dump,
    common: &Common,
) -> Result<(), CliError> {
    let report = crate::passes::run(graph, pipeline, opts, dump)?;
    let diags: Vec<crate::Error> = report
        .diagnostics
        .into_iter()
        .map(crate::Error::from)
        .collect();
    emit(src, &diags, common);
    for (pass, path) in &report.dumps {
        eprintln!("wrote the IR after `{pass}` to `{}`", path.display());
    }
    if diags.iter().any(crate::Error::is_error) {
        return Err(CliError::Reported(format!(
            "`{}` cannot be transformed",
            src.name()
        )));
    }
    Ok(())
}
