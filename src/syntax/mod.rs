//! Stage 1, text → AST: the `.q` syntax (grammar in `grammar/q.pest`), its tree, its
//! pretty-printer, and its errors.

pub mod ast;
mod error;
mod parser;
pub mod print;
mod scan;

pub use error::SyntaxError;

use crate::source::SourceFile;

/// Parses a `.q` file into its syntax tree, comments included.
#[allow(clippy::result_large_err)] // built once, when parsing stops
pub fn parse(src: &SourceFile) -> Result<ast::File, SyntaxError> {
    let comments = scan::scan(src.text())?;
    parser::parse_file(src.text(), comments)
}

/// Parses a single call (`max(bits: 4)`), e.g. a quantizer given on the command line.
#[allow(clippy::result_large_err)] // built once, when parsing stops
pub fn parse_call(src: &SourceFile) -> Result<ast::Call, SyntaxError> {
    scan::scan(src.text())?;
    parser::parse_call_only(src.text())
}
