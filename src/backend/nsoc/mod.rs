//! The NSoC integer program: what a model compiled for Akida 1.0 (AKD1000) holds, how it is
//! stored, and how it runs.
//!
//! - [`program`]: the data model ([`Program`], [`Layer`]) and its invariants
//!   ([`Program::validate`]).
//! - [`format`](mod@format): the versioned `.nsoc` binary file (see `docs/nsoc-format.md`).
//! - [`sim`]: the bit-exact integer simulator (Akida `forward` / `predict`).
//! - [`synth`]: synthetic programs with calibrated thresholds, for benchmarks and tests.
//!
//! This is the runtime: it knows nothing of the compiler. Everything that knows Akida 1.0 as a
//! compilation target — conversion, equalization, the AKD1000's limits, the akida JSON bridge —
//! is in [`crate::target`], which depends on this module and never the other way.

pub mod format;
/// Keras window geometry, shared with the compiler ([`crate::geometry`]).
pub use crate::geometry;
pub mod program;
pub mod sim;
pub mod synth;

pub use format::{read_file, write_file, FormatError};
pub use program::{
    Dims, Layer, LayerKind, Padding, Pooling, Program, ProgramError, ProgramErrorKind, SourceHash,
    Target,
};
pub use sim::{LayerOutput, SimError, Simulator};
