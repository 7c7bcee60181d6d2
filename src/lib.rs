//! qnnc placeholder crate doc (rewritten below once the pipeline exists).

pub mod quant;
pub mod source;
