//! `qnnc init`: initial weights with Keras' default initialisers, deterministic per seed.

use super::{load_model_file, Common};
use crate::driver::CliError;
use std::path::PathBuf;

#[derive(Clone, Debug)]
pub struct InitOptions {
    pub model: PathBuf,
    pub model_name: Option<String>,
    pub output: PathBuf,
    pub seed: u64,
}

pub fn run(opts: &InitOptions, common: &Common) -> Result<(), CliError> {
    crate::io::check_output(&opts.output, &[&opts.model])?;
    let front = load_model_file(&opts.model, common)?;
    let model = front.select_model(opts.model_name.as_deref())?;
    super::memory::check_model(model, super::memory::Usage::Weights)?;
    let params = crate::params::init(model, opts.seed);
    params.save(&opts.output)?;
    let count: usize = params.iter().map(|(_, a)| a.len()).sum();
    println!(
        "wrote `{}`: {} arrays, {} parameters (seed {})",
        opts.output.display(),
        params.len(),
        crate::ir::summary::thousands(count as u64),
        opts.seed
    );
    Ok(())
}
