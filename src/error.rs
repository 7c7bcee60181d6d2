//! The crate-level error: one variant per stage, each transparent over that stage's own type.
//!
//! Stage errors carry spans only; [`crate::diag`] attaches the source when rendering.

use miette::Diagnostic;
use thiserror::Error;

/// Any problem qnnc reports about a model, its weights or its data.
#[derive(Debug, Error, Diagnostic)]
#[non_exhaustive]
pub enum Error {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Syntax(#[from] crate::syntax::SyntaxError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Lower(#[from] crate::ir::LowerError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Weights(#[from] crate::params::WeightsError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Pass(#[from] crate::passes::PassError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Convert(#[from] crate::target::ConvertError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Emit(#[from] crate::target::EmitError),
}

impl Error {
    /// Whether this is an error (as opposed to a warning or advice).
    pub fn is_error(&self) -> bool {
        self.severity().unwrap_or(miette::Severity::Error) == miette::Severity::Error
    }
}
