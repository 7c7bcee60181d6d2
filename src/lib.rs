//! qnnc placeholder crate doc (rewritten below once the pipeline exists).

pub mod backend;
pub mod quant;
pub mod source;
