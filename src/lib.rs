//! qnnc placeholder crate doc (rewritten below once the pipeline exists).

pub mod commands;
pub mod diag;
pub mod driver;
pub mod error;
pub mod io;
pub mod ir;
pub mod params;
pub mod quant;
pub mod source;
pub mod syntax;

pub use error::Error;
