//! `qnnc compile`: a quantized model and its float weights → an NSoC integer program
//! (`.nsoc`), as `cnn2snn.convert` would build it.

use super::{emit, load_with_weights, Common};
use crate::backend::nsoc::{self, Target};
use crate::compile::{compile, hardware, CompileFailure};
use crate::driver::CliError;
use crate::passes::{Dump, PassOptions};
use std::path::PathBuf;
use std::time::Instant;

#[derive(Clone, Debug)]
pub struct CompileOptions {
    pub model: PathBuf,
    pub model_name: Option<String>,
    pub weights: PathBuf,
    pub output: PathBuf,
    pub target: Target,
    pub passes: PassOptions,
    pub dump: Dump,
}

pub fn run(opts: &CompileOptions, common: &Common) -> Result<(), CliError> {
    crate::io::check_output(&opts.output, &[&opts.model, &opts.weights])?;
    let loaded = load_with_weights(
        &opts.model,
        opts.model_name.as_deref(),
        &opts.weights,
        common,
    )?;
    let original = loaded.params.clone();
    let start = Instant::now();
    let mut compiled = match compile(
        &loaded.model,
        loaded.params,
        loaded.front.src.text(),
        opts.target,
        &opts.passes,
        &opts.dump,
    ) {
        Ok(c) => c,
        Err(CompileFailure::Io(e)) => return Err(e.into()),
        Err(CompileFailure::Diagnostics(diags)) => {
            emit(&loaded.front.src, &diags, common);
            return Err(CliError::Reported(format!(
                "`{}` cannot be compiled",
                loaded.front.src.name()
            )));
        }
    };
    // The AKD1000's rules: refused for the chip, warnings for the simulator.
    let hw: Vec<crate::Error> = hardware(&compiled, Some(&original))
        .into_iter()
        .map(crate::Error::from)
        .collect();
    let elapsed = start.elapsed();
    let mut notes = std::mem::take(&mut compiled.notes);
    match opts.target {
        Target::Akd1000 if !hw.is_empty() => {
            notes.extend(hw);
            emit(&loaded.front.src, &notes, common);
            return Err(CliError::Reported(format!(
                "`{}` does not map on the AKD1000; nothing was written",
                loaded.front.src.name()
            )));
        }
        Target::Akd1000 => {}
        Target::Software => notes.extend(hw.into_iter().map(crate::Error::into_warning)),
    }
    emit(&loaded.front.src, &notes, common);
    let program = &compiled.emitted.program;
    nsoc::write_file(&opts.output, program).map_err(|e| match e {
        nsoc::FormatError::Write(e) => CliError::File(e),
        other => CliError::Io {
            message: format!("cannot write `{}`: {other}", opts.output.display()),
            help: None,
        },
    })?;
    let weights: usize = program.layers.iter().map(|l| l.parameter_count()).sum();
    println!(
        "compiled `{}` for {} → `{}`: {} layers, {} weights, in {:.1} ms",
        program.model_name,
        program.target.as_str(),
        opts.output.display(),
        program.layers.len(),
        crate::ir::summary::thousands(weights as u64),
        elapsed.as_secs_f64() * 1e3
    );
    Ok(())
}
