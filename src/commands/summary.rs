//! `qnnc summary`: the Keras-style table of a model.

use super::{load_model_file, Common};
use crate::driver::CliError;
use std::path::PathBuf;

#[derive(Clone, Debug)]
pub struct SummaryOptions {
    pub model: PathBuf,
    pub model_name: Option<String>,
}

pub fn run(opts: &SummaryOptions, common: &Common) -> Result<(), CliError> {
    let front = load_model_file(&opts.model, common)?;
    let model = front.select_model(opts.model_name.as_deref())?;
    print!("{}", crate::ir::summary::summary(model));
    Ok(())
}
