//! `qnnc fmt`: rewrite a `.q` file in canonical form (comments kept); `--check` only reports.

use super::{emit, CliError, Common};
use crate::session::Session;
use crate::syntax;
use std::path::PathBuf;

/// `qnnc fmt`.
#[derive(clap::Args, Clone, Debug)]
pub struct FmtArgs {
    /// The `.q` files to format.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Only check: exit 1 and list the files that are not formatted.
    #[arg(long)]
    pub check: bool,
    /// Print the formatted text instead of rewriting the file.
    #[arg(long, conflicts_with = "check")]
    pub stdout: bool,
}

pub fn run(opts: &FmtArgs, common: &Common) -> Result<(), CliError> {
    let mut unformatted = Vec::new();
    let mut failed = false;
    for path in &opts.files {
        let src = Session::read_source(path)?;
        let file = match syntax::parse(&src) {
            Ok(f) => f,
            Err(e) => {
                emit(&src, &[e.into()], common);
                failed = true;
                continue;
            }
        };
        let formatted = syntax::print::format(&file, src.text());
        if opts.stdout {
            print!("{formatted}");
        } else if formatted != src.text() {
            if opts.check {
                unformatted.push(path.display().to_string());
            } else {
                // Atomic, and the file keeps its permissions.
                crate::io::write_atomic(path, |w| {
                    std::io::Write::write_all(w, formatted.as_bytes())
                })?;
            }
        }
    }
    if failed {
        return Err(CliError::Reported("syntax errors".to_string()));
    }
    if !unformatted.is_empty() {
        for f in &unformatted {
            eprintln!("not formatted: `{f}`");
        }
        return Err(CliError::Reported(format!(
            "{} file(s) need formatting; run `qnnc fmt` on them",
            unformatted.len()
        )));
    }
    Ok(())
}
