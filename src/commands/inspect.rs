//! `qnnc inspect`: what an `.nsoc` program holds, layer by layer, as text, RON or JSON.

use super::CliError;
use crate::backend::nsoc;
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

/// `qnnc inspect`.
#[derive(clap::Args, Clone, Debug)]
pub struct InspectArgs {
    /// The `.nsoc` program written by `qnnc compile`.
    pub program: std::path::PathBuf,
    /// How to show it: a readable summary, or every value as RON or JSON.
    #[arg(long, value_enum, default_value_t = InspectFormat::Text)]
    pub format: InspectFormat,
}

pub fn run(args: &InspectArgs) -> Result<(), CliError> {
    let format = args.format;
    let p = read_program(&args.program)?;
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

/// Reads and validates a program file. A missing, empty or directory path and a file larger
/// than the memory budget are refused before it is read.
pub fn read_program(path: &Path) -> Result<nsoc::Program, CliError> {
    use crate::io::{budget, ErrorKind, IoError};
    let meta = std::fs::metadata(path).map_err(|e| IoError::os("open the program", &e).at(path))?;
    if meta.is_dir() {
        return Err(IoError::new(ErrorKind::Os, "is a directory, not a program")
            .at(path)
            .with_help("give the `.nsoc` file written by `qnnc compile`")
            .into());
    }
    if meta.len() == 0 {
        return Err(IoError::new(ErrorKind::Empty, "the file is empty")
            .at(path)
            .with_help("recompile the model with `qnnc compile`")
            .into());
    }
    budget::check(meta.len(), "the program file").map_err(|e| e.at(path))?;
    nsoc::read_file(path).map_err(|e| match e {
        nsoc::FormatError::Read { source, .. } => {
            IoError::os("read the program", &source).at(path).into()
        }
        other => CliError::program_file(path, other),
    })
}
