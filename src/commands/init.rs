//! `qnnc init`: initial weights with Keras' default initialisers, deterministic per seed.

use super::{open, CliError, Common};
use std::path::PathBuf;

/// `qnnc init`.
#[derive(clap::Args, Clone, Debug)]
pub struct InitArgs {
    /// The `.q` file.
    pub model: PathBuf,
    /// The `.npz` to write.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Random seed (same seed, same weights).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The model to initialise when the file defines several.
    #[arg(long = "model", value_name = "NAME")]
    pub model_name: Option<String>,
}

pub fn run(opts: &InitArgs, common: &Common) -> Result<(), CliError> {
    crate::io::check_output(&opts.output, &[&opts.model])?;
    let session = open(&opts.model, common)?;
    let model = session.model(opts.model_name.as_deref())?;
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
