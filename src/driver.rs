//! The driver: reads files, runs the stages in order, attaches the source to diagnostics once,
//! and decides what a command sees. Commands (in `crate::commands`) are built from these steps.

use crate::diag::{self, MessageFormat, RenderOptions};
use crate::ir::{self, Model, Module};
use crate::source::SourceFile;
use crate::syntax::{self, ast};
use crate::Error;
use miette::Diagnostic;
use std::io::IsTerminal;
use std::path::Path;
use thiserror::Error as ThisError;

/// A problem outside any `.q` text: a missing file, a bad combination of options.
#[derive(Debug, ThisError, Diagnostic)]
pub enum CliError {
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

    #[error("{message}")]
    #[diagnostic(code(cli::usage))]
    Usage {
        message: String,
        #[help]
        help: Option<String>,
    },

    #[error("{message}")]
    #[diagnostic(code(cli::io))]
    Io {
        message: String,
        #[help]
        help: Option<String>,
    },

    /// A file that cannot be read or written as it should.
    #[error(transparent)]
    #[diagnostic(transparent)]
    File(#[from] crate::io::IoError),

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

/// Reads a `.q` file.
pub fn read_source(path: &Path) -> Result<SourceFile, CliError> {
    let bytes = std::fs::read(path).map_err(|e| CliError::Read {
        path: path.display().to_string(),
        reason: io_reason(&e),
    })?;
    source_from_bytes(&path.display().to_string(), bytes)
}

/// The `.q` source in `bytes`, read from the file `path`: UTF-8 text, less a leading byte
/// order mark.
pub fn source_from_bytes(path: &str, bytes: Vec<u8>) -> Result<SourceFile, CliError> {
    let mut text = String::from_utf8(bytes).map_err(|_| CliError::NotUtf8 {
        path: path.to_string(),
    })?;
    // A UTF-8 byte order mark (some Windows editors write one) is not part of the text.
    if text.starts_with('\u{feff}') {
        text.drain(..'\u{feff}'.len_utf8());
    }
    Ok(SourceFile::new(path.to_string(), text))
}

/// A lowercase, one-line reason for an I/O error.
pub fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        std::io::ErrorKind::IsADirectory => "it is a directory".to_string(),
        _ => {
            let s = e.to_string();
            let s = s.split(" (os error").next().unwrap_or(&s).to_string();
            let mut c = s.chars();
            match c.next() {
                Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
                None => s,
            }
        }
    }
}

/// The front end's result for one file.
pub struct Frontend {
    pub src: SourceFile,
    pub file: Option<ast::File>,
    pub module: Option<Module>,
    pub diagnostics: Vec<Error>,
}

impl Frontend {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Error::is_error)
    }

    /// The model a command works on: the only one, or the one `--model` names.
    pub fn select_model(&self, name: Option<&str>) -> Result<&Model, CliError> {
        let module = self
            .module
            .as_ref()
            .expect("select_model is only called once the front end succeeded");
        select_model(module, self.src.name(), name)
    }
}

pub fn select_model<'m>(
    module: &'m Module,
    path: &str,
    name: Option<&str>,
) -> Result<&'m Model, CliError> {
    match name {
        Some(n) => module.model(n).ok_or_else(|| CliError::UnknownModel {
            path: path.to_string(),
            name: n.to_string(),
            help: Some(format!(
                "the file defines {}",
                ir::code_list(module.models.iter().map(|m| &m.name))
            )),
        }),
        None if module.models.len() == 1 => Ok(&module.models[0]),
        None => Err(CliError::AmbiguousModel {
            path: path.to_string(),
            names: ir::code_list(module.models.iter().map(|m| &m.name)),
        }),
    }
}

/// Parses and lowers a source file, collecting every diagnostic.
pub fn frontend(src: SourceFile) -> Frontend {
    match syntax::parse(&src) {
        Err(e) => Frontend {
            src,
            file: None,
            module: None,
            diagnostics: vec![e.into()],
        },
        Ok(file) => {
            let lowering = ir::lower(&file);
            Frontend {
                src,
                file: Some(file),
                module: lowering.module,
                diagnostics: lowering.diagnostics.into_iter().map(Error::from).collect(),
            }
        }
    }
}

/// Render options for the terminal: colour on a TTY unless `NO_COLOR` is set; width from
/// `COLUMNS` or the terminal, else 100.
pub fn terminal_options(format: MessageFormat) -> RenderOptions {
    let stderr = std::io::stderr();
    let color = stderr.is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let width = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(100);
    RenderOptions {
        format,
        color,
        width,
    }
}

/// Renders diagnostics about `src` as the options say.
pub fn render_diagnostics(src: &SourceFile, diags: &[Error], opts: RenderOptions) -> String {
    diag::render_all(src, diags.iter().map(|e| e as &dyn Diagnostic), opts)
}

/// Renders an error that has no source (a [`CliError`]).
pub fn render_cli_error(e: &CliError, opts: RenderOptions) -> String {
    let src = SourceFile::new("", "");
    match opts.format {
        MessageFormat::Json => diag::render(&src, e, opts),
        MessageFormat::Short => {
            let code = e.code().map(|c| format!("[{c}]")).unwrap_or_default();
            let mut s = format!("error{code}: {e}\n");
            if let Some(h) = e.help() {
                s.push_str(&format!("help: {h}\n"));
            }
            s
        }
        MessageFormat::Human => diag::render(&src, e, opts),
    }
}
