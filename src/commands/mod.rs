//! The subcommands behind `qnnc`: each reads its inputs through the driver, runs the stages it
//! needs, prints its result and returns a [`CliError`] when it fails. `main.rs` only parses
//! the command line and calls these.

pub mod check;
pub mod fmt;
pub mod init;
pub mod summary;

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
