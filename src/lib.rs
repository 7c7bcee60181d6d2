//! qnnc placeholder crate doc (rewritten below once the pipeline exists).

pub mod io;
pub mod quant;
pub mod source;
