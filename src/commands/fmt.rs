//! `qnnc fmt`: rewrite a `.q` file in canonical form (comments kept); `--check` only reports.

use super::{emit, Common};
use crate::driver::{self, CliError};
use crate::syntax;
use std::path::PathBuf;

#[derive(Clone, Debug)]
pub struct FmtOptions {
    pub files: Vec<PathBuf>,
    /// Report files that are not formatted instead of rewriting them.
    pub check: bool,
    /// Print the formatted text instead of rewriting the file.
    pub stdout: bool,
}

pub fn run(opts: &FmtOptions, common: &Common) -> Result<(), CliError> {
    let mut unformatted = Vec::new();
    let mut failed = false;
    for path in &opts.files {
        let src = driver::read_source(path)?;
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
                write_file(path, formatted.as_bytes()).map_err(|e| CliError::Io {
                    message: format!(
                        "cannot write `{}`: {}",
                        path.display(),
                        driver::io_reason(&e)
                    ),
                    help: None,
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

/// Replaces `path` atomically: a temporary file in the same directory, then a rename.
fn write_file(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
