//! `qnnc check`: every diagnostic of a model file; exit 0 when there is no error.

use super::{emit, Common};
use crate::diag::MessageFormat;
use crate::driver::{self, CliError};
use std::path::PathBuf;

#[derive(Clone, Debug)]
pub struct CheckOptions {
    pub model: PathBuf,
}

pub fn run(opts: &CheckOptions, common: &Common) -> Result<(), CliError> {
    let src = driver::read_source(&opts.model)?;
    let front = driver::frontend(src);
    emit(&front.src, &front.diagnostics, common);
    if front.has_errors() {
        return Err(CliError::Reported(format!(
            "`{}` has errors",
            front.src.name()
        )));
    }
    if common.message_format == MessageFormat::Human {
        let module = front
            .module
            .as_ref()
            .expect("no errors, so the module exists");
        for m in &module.models {
            let params: u64 = m
                .layers
                .iter()
                .map(|l| {
                    let (t, n) = l.param_counts();
                    t + n
                })
                .sum();
            println!(
                "ok: model `{}`: {} layers, {} parameters",
                m.name,
                m.layers.len(),
                crate::ir::summary::thousands(params)
            );
        }
    }
    Ok(())
}
