//! `qnnc inspect`: what an `.nsoc` program holds, layer by layer, as text, RON or JSON.

use crate::backend::nsoc;
use crate::driver::CliError;
use std::path::Path;

/// `--format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum InspectFormat {
    /// A readable summary: metadata, then one block per layer.
    #[default]
    Text,
    /// The whole program (every weight) as RON.
    Ron,
    /// The whole program (every weight) as JSON.
    Json,
}

pub fn run(program: &Path, format: InspectFormat) -> Result<(), CliError> {
    let p = read_program(program)?;
    match format {
        InspectFormat::Text => print!("{p}"),
        InspectFormat::Ron => {
            let config = ron::ser::PrettyConfig::new().compact_arrays(true);
            println!(
                "{}",
                ron::ser::to_string_pretty(&p, config).expect("programs serialize")
            );
        }
        InspectFormat::Json => {
            println!(
                "{}",
                serde_json::to_string_pretty(&p).expect("programs serialize")
            );
        }
    }
    Ok(())
}

/// Reads and validates a program file.
pub fn read_program(path: &Path) -> Result<nsoc::Program, CliError> {
    nsoc::read_file(path).map_err(|e| CliError::Io {
        message: e.to_string(),
        help: Some("recompile the model with `qnnc compile`".to_string()),
    })
}
