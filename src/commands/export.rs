//! `qnnc export`: an `.nsoc` program in a form another runtime loads. `--akida OUT.json` writes
//! the JSON that `akida.model_from_json` (akida 2.19) turns into an `akida.Model`, which
//! `python/qnnc_akida` saves as `.fbz`, runs with BrainChip's engine or maps on an AKD1000.

use super::inspect::read_program;
use super::CliError;
use crate::target::bridge::program_to_json;
use std::io::Write;
use std::path::PathBuf;

/// `qnnc export`.
#[derive(clap::Args, Clone, Debug)]
pub struct ExportArgs {
    /// The `.nsoc` program written by `qnnc compile`.
    pub program: PathBuf,
    /// Where to write the akida 2.19 model JSON.
    #[arg(long, value_name = "OUT.json")]
    pub akida: PathBuf,
}

pub fn run(args: &ExportArgs) -> Result<(), CliError> {
    let (program, akida) = (&args.program, &args.akida);
    crate::io::check_output(akida, &[program])?;
    let p = read_program(program)?;
    let json = program_to_json(&p);
    crate::io::write_atomic(akida, |w| w.write_all(json.as_bytes()))?;
    println!(
        "exported `{}` ({} layers) → `{}` (akida {} JSON; `python -m qnnc_akida build {}` makes an `.fbz`)",
        p.model_name,
        p.layers.len(),
        akida.display(),
        crate::target::bridge::AKIDA_VERSION,
        akida.display()
    );
    Ok(())
}
