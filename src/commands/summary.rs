//! `qnnc summary`: the Keras-style table of a model, and with `--target akd1000` what its
//! Akida layers need on the chip.

use super::{emit, open, CliError, Common, ModelArgs, TargetArg};
use crate::backend::nsoc::Target;
use crate::ir::summary::thousands;
use crate::session::Job;
use crate::target::akd1000::{resources, NEURAL_PROCESSORS, NP_WEIGHT_BITS};

/// `qnnc summary`.
#[derive(clap::Args, Clone, Debug)]
pub struct SummaryArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Also report the resources of the converted model on this chip (`akd1000`).
    #[arg(long, value_enum)]
    pub target: Option<TargetArg>,
}

pub fn run(opts: &SummaryArgs, common: &Common) -> Result<(), CliError> {
    let m = &opts.model;
    let session = open(&m.model, common)?;
    let model = session.model(m.model_name.as_deref())?;
    print!("{}", crate::ir::summary::summary(model));
    if opts.target != Some(TargetArg::Akd1000) {
        return Ok(());
    }
    let job = Job::new(model.clone(), None, m.passes.options(Target::Akd1000));
    let (diags, graph, blocks) = job.structure_with_blocks()?;
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
            r.kind.as_str(),
            thousands(r.weights),
            r.weight_bits,
            thousands(r.memory_bits),
            thousands(r.macs),
            if r.kind == crate::backend::nsoc::LayerKind::InputConvolutional {
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
    emit(&session.src, &diags, common);
    if diags.iter().any(crate::Error::is_error) {
        return Err(CliError::Reported(
            "the model does not map on the AKD1000".to_string(),
        ));
    }
    Ok(())
}
