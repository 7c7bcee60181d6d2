//! `qnnc export`: an `.nsoc` program in a form another runtime loads. `--akida OUT.json` writes
//! the JSON that `akida.model_from_json` (akida 2.19) turns into an `akida.Model`, which
//! `python/qnnc_akida` saves as `.fbz`, runs with BrainChip's engine or maps on an AKD1000.

use super::inspect::read_program;
use crate::target::bridge::program_to_json;
use crate::driver::CliError;
use std::io::Write;
use std::path::Path;

pub fn run(program: &Path, akida: &Path) -> Result<(), CliError> {
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
