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
    #[error(transparent)]
    #[diagnostic(transparent)]
    Hardware(#[from] crate::target::HwError),
    /// A diagnostic reported as a warning (AKD1000 rules when compiling for the simulator).
    #[error(transparent)]
    #[diagnostic(transparent)]
    Warning(Box<crate::diag::AsWarning>),
}

impl Error {
    /// The same diagnostic, as a warning.
    pub fn into_warning(self) -> Error {
        Error::Warning(Box::new(crate::diag::AsWarning(self)))
    }

    /// Whether this is an error (as opposed to a warning or advice).
    pub fn is_error(&self) -> bool {
        self.severity().unwrap_or(miette::Severity::Error) == miette::Severity::Error
    }
}
