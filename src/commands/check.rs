//! `qnnc check`: every diagnostic of a model file — with `--weights`, of its weights and of
//! what `cnn2snn.quantize` would refuse; with `--target akd1000`, of every AKD1000 rule the
//! model breaks (structure alone, or with `--weights` also thresholds, act_steps and zero
//! kernels, computed as `qnnc compile` computes them). Exit 0 when there is no error.

use super::{emit, Common};
use crate::backend::nsoc::Target;
use crate::compile::{compile, hardware, hardware_structure, CompileFailure};
use crate::diag::MessageFormat;
use crate::driver::{self, CliError, Frontend};
use crate::ir::summary::thousands;
use crate::passes::{Dump, PassOptions};
use std::path::PathBuf;

#[derive(Clone, Debug)]
pub struct CheckOptions {
    pub model: PathBuf,
    pub model_name: Option<String>,
    pub weights: Option<PathBuf>,
    /// Also check the AKD1000's rules.
    pub target: Option<Target>,
    pub passes: PassOptions,
}

pub fn run(opts: &CheckOptions, common: &Common) -> Result<(), CliError> {
    let src = driver::read_source(&opts.model)?;
    let mut front = driver::frontend(src);
    diagnose(&mut front, opts)?;
    emit(&front.src, &front.diagnostics, common);
    if front.has_errors() {
        return Err(CliError::Reported(format!(
            "`{}` has errors",
            front.src.name()
        )));
    }
    if common.message_format == MessageFormat::Human {
        for line in summary_lines(&front, opts) {
            println!("{line}");
        }
    }
    Ok(())
}

/// Adds to the front end's diagnostics everything `qnnc check` finds beyond it: the weights'
/// problems with `--weights`, and the AKD1000's rules with `--target akd1000`. Does nothing
/// when the front end already failed.
pub fn diagnose(front: &mut Frontend, opts: &CheckOptions) -> Result<(), CliError> {
    if front.has_errors() {
        return Ok(());
    }
    let hw = opts.target == Some(Target::Akd1000);
    match &opts.weights {
        Some(w) => {
            let model = front.select_model(opts.model_name.as_deref())?.clone();
            let (params, problems) = crate::params::load(w, &model)?;
            front
                .diagnostics
                .extend(problems.into_iter().map(crate::Error::from));
            if let Some(params) = params {
                front.diagnostics.extend(check_with_weights(
                    &model,
                    params,
                    front.src.text(),
                    hw,
                    &opts.passes,
                )?);
            }
        }
        None if hw => {
            let module = front
                .module
                .as_ref()
                .expect("no errors, so the module exists");
            let models: Vec<crate::ir::Model> = match &opts.model_name {
                Some(_) => vec![front.select_model(opts.model_name.as_deref())?.clone()],
                None => module.models.clone(),
            };
            for model in &models {
                let found = hardware_structure(model, &opts.passes).map_err(failure)?;
                front.diagnostics.extend(found);
            }
        }
        None => {}
    }
    Ok(())
}

/// The `ok: model ...` lines `qnnc check` prints for a file without errors, one per model.
pub fn summary_lines(front: &Frontend, opts: &CheckOptions) -> Vec<String> {
    let module = front
        .module
        .as_ref()
        .expect("summary_lines is only called once the front end succeeded");
    module
        .models
        .iter()
        .map(|m| {
            let params: u64 = m
                .layers
                .iter()
                .map(|l| {
                    let (t, n) = l.param_counts();
                    t + n
                })
                .sum();
            let checked = opts.model_name.as_deref().is_none_or(|n| n == m.name);
            let weights = match &opts.weights {
                Some(w) if checked => format!(", weights `{}` match", w.display()),
                _ => String::new(),
            };
            let target = match opts.target {
                Some(Target::Akd1000) if checked => ", maps on the AKD1000",
                _ => "",
            };
            format!(
                "ok: model `{}`: {} layers, {} parameters{weights}{target}",
                m.name,
                m.layers.len(),
                thousands(params)
            )
        })
        .collect()
}

fn failure(f: CompileFailure) -> CliError {
    match f {
        CompileFailure::Io(e) => e.into(),
        CompileFailure::Diagnostics(_) => unreachable!("structure checks return their diagnostics"),
    }
}

/// With valid weights: what `cnn2snn.quantize` refuses, and with `hw` the whole compilation
/// and every AKD1000 rule.
pub fn check_with_weights(
    model: &crate::ir::Model,
    params: crate::params::Params,
    source: &str,
    hw: bool,
    opts: &PassOptions,
) -> Result<Vec<crate::Error>, CliError> {
    if !hw {
        let pipeline = crate::passes::Pipeline::quantized(model, opts);
        let mut graph = crate::passes::Graph {
            model: model.clone(),
            params: Some(params),
        };
        let report = crate::passes::run(&mut graph, &pipeline, opts, &Dump::default())?;
        return Ok(report.diagnostics.into_iter().map(Into::into).collect());
    }
    let original = params.clone();
    match compile(
        model,
        params,
        source,
        Target::Akd1000,
        opts,
        &Dump::default(),
    ) {
        Ok(mut compiled) => {
            let hw_errors = hardware(&compiled, Some(&original));
            let mut out = std::mem::take(&mut compiled.notes);
            out.extend(hw_errors.into_iter().map(Into::into));
            Ok(out)
        }
        Err(CompileFailure::Diagnostics(d)) => Ok(d),
        Err(CompileFailure::Io(e)) => Err(e.into()),
    }
}
