//! `qnnc summary`: the Keras-style table of a model, and with `--target akd1000` what its
//! Akida layers need on the chip.

use super::{emit, load_model_file, Common};
use crate::driver::CliError;
use crate::ir::summary::thousands;
use crate::passes::{Dump, Graph, PassOptions, Pipeline};
use crate::target::akd1000::{resources, NEURAL_PROCESSORS, NP_WEIGHT_BITS};
use std::path::PathBuf;

#[derive(Clone, Debug)]
pub struct SummaryOptions {
    pub model: PathBuf,
    pub model_name: Option<String>,
    /// Also report the AKD1000 resources of the converted model.
    pub target: bool,
    pub passes: PassOptions,
}

pub fn run(opts: &SummaryOptions, common: &Common) -> Result<(), CliError> {
    let front = load_model_file(&opts.model, common)?;
    let model = front.select_model(opts.model_name.as_deref())?;
    print!("{}", crate::ir::summary::summary(model));
    if !opts.target {
        return Ok(());
    }
    let mut graph = Graph {
        model: model.clone(),
        params: None,
    };
    let report = crate::passes::run(
        &mut graph,
        &Pipeline::convert(model, &opts.passes),
        &opts.passes,
        &Dump::default(),
    )?;
    let (blocks, errs) = crate::target::form_blocks_best_effort(&graph.model);
    let mut diags: Vec<crate::Error> = report.diagnostics.into_iter().map(Into::into).collect();
    diags.extend(errs.into_iter().map(Into::into));
    diags.extend(
        crate::target::akd1000::check_structure(&graph.model, &blocks)
            .into_iter()
            .map(Into::into),
    );
    let rows = resources(&graph.model, &blocks);
    println!();
    println!("AKD1000 resources (Akida 1.0 layers of the converted model):");
    println!(
        "{:<24} {:<24} {:>10} {:>5} {:>14} {:>16} {:>5}",
        "layer", "Akida layer", "weights", "bits", "memory (bits)", "MACs per image", "NPs"
    );
    for r in &rows {
        println!(
            "{:<24} {:<24} {:>10} {:>5} {:>14} {:>16} {:>5}",
            r.layer,
            r.kind.name(),
            thousands(r.weights),
            r.weight_bits,
            thousands(r.memory_bits),
            thousands(r.macs),
            if r.kind == crate::target::HwKind::InputConvolutional {
                "HRC".to_string()
            } else {
                r.processors.to_string()
            }
        );
    }
    let total_bits: u64 = rows.iter().map(|r| r.memory_bits).sum();
    let total_macs: u64 = rows.iter().map(|r| r.macs).sum();
    let nps: u32 = rows.iter().map(|r| r.processors).sum();
    println!(
        "total: {} bits of weights ({} KiB), {} MACs per image, about {nps} of the {NEURAL_PROCESSORS} neural processors (an estimate: {} KiB of weights per processor)",
        thousands(total_bits),
        thousands(total_bits.div_ceil(8 * 1024)),
        thousands(total_macs),
        NP_WEIGHT_BITS / 8 / 1024
    );
    emit(&front.src, &diags, common);
    if diags.iter().any(crate::Error::is_error) {
        return Err(CliError::Reported(
            "the model does not map on the AKD1000".to_string(),
        ));
    }
    Ok(())
}
