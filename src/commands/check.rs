//! `qnnc check`: every diagnostic of a model file (and, with `--weights`, of its weights);
//! exit 0 when there is no error.

use super::{emit, Common};
use crate::diag::MessageFormat;
use crate::driver::{self, CliError};
use crate::ir::summary::thousands;
use std::path::PathBuf;

#[derive(Clone, Debug)]
pub struct CheckOptions {
    pub model: PathBuf,
    pub model_name: Option<String>,
    pub weights: Option<PathBuf>,
}

pub fn run(opts: &CheckOptions, common: &Common) -> Result<(), CliError> {
    let src = driver::read_source(&opts.model)?;
    let mut front = driver::frontend(src);
    if !front.has_errors() {
        if let Some(w) = &opts.weights {
            let model = front.select_model(opts.model_name.as_deref())?.clone();
            let (params, problems) = crate::params::load(w, &model)?;
            front
                .diagnostics
                .extend(problems.into_iter().map(crate::Error::from));
            // With valid weights, what `cnn2snn.quantize` would refuse (folding, bit-widths).
            if let Some(params) = params {
                let opts = crate::passes::PassOptions::default();
                let pipeline = crate::passes::Pipeline::quantized(&model, &opts);
                let mut graph = crate::passes::Graph {
                    model,
                    params: Some(params),
                };
                let report = crate::passes::run(&mut graph, &pipeline, &opts, &Default::default())?;
                front
                    .diagnostics
                    .extend(report.diagnostics.into_iter().map(crate::Error::from));
            }
        }
    }
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
            let weights = match &opts.weights {
                Some(w)
                    if module.models.len() == 1 || opts.model_name.as_deref() == Some(&m.name) =>
                {
                    format!(", weights `{}` match", w.display())
                }
                _ => String::new(),
            };
            println!(
                "ok: model `{}`: {} layers, {} parameters{weights}",
                m.name,
                m.layers.len(),
                thousands(params)
            );
        }
    }
    Ok(())
}
