//! The NSoC integer program: what a model compiled for Akida 1.0 (AKD1000) holds, how it is
//! stored, and how it runs.
//!
//! - [`program`]: the data model ([`Program`], [`Layer`]) and its invariants
//!   ([`Program::validate`]).
//! - [`geometry`]: Keras SAME/VALID window geometry shared by validation and simulation.
//! - [`format`](mod@format): the versioned `.nsoc` binary file (see `docs/nsoc-format.md`).
//! - [`sim`]: the bit-exact integer simulator (Akida `forward` / `predict`).
//! - [`synth`]: synthetic programs with calibrated thresholds, for benchmarks and tests.
//! - [`akida`]: import of models converted by BrainChip's flow (`Model.to_json()` dumps).
//!
//! The emitter (IR → [`Program`]) lives elsewhere; everything here works on a [`Program`] alone.

pub mod akida;
pub mod emit;
pub mod equalize;
pub mod format;
pub mod geometry;
pub mod program;
pub mod sim;
pub mod synth;

pub use format::{read_file, write_file, FormatError};
pub use program::{
    Dims, Layer, LayerKind, Padding, Pooling, Program, ProgramError, ProgramErrorKind, SourceHash,
    Target,
};
pub use sim::{LayerOutput, SimError, Simulator};
