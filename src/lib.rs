//! # qnnc — a compiler for quantized neural networks on Akida 1.0
//!
//! qnnc reads a model written in the `.q` language, checks it, and turns it into either a
//! trainable CPU executor or an integer program for BrainChip's AKD1000 NSoC, reproducing the
//! semantics of cnn2snn 2.19.3 and the akida 2.19.3 engine (Akida 1.0 layers) bit for bit.
//!
//! ## Pipeline
//!
//! ```text
//!  .q text ──parse──▶ AST ──lower──▶ IR ──passes──▶ IR' ──▶ CPU executor (train / predict)
//!   (syntax)        (syntax::ast)  (ir)  (passes)        └─▶ NSoC program (emit / simulate)
//! ```
//!
//! - [`syntax`]: the pest grammar (`grammar/q.pest`), the AST with spans, the formatter.
//! - [`ir`]: lowering (names, arguments, defaults, Keras shapes) into [`ir::Model`]s.
//! - [`quant`]: the quantizers and quantized activations, bit-exact to CNN2SNN.
//! - [`params`]: weights (`LAYER/VAR` float32 arrays), their checks and initialisers.
//! - [`io`]: file formats (npy, npz, IDX) and atomic output.
//! - [`diag`], [`driver`], [`commands`]: rendering diagnostics, running stages, the CLI.
//!
//! ## Invariants
//!
//! - Every stage has its own error type carrying [`source::Span`]s only; the driver attaches
//!   the source once, when rendering. A stage collects all the problems it can find.
//! - A lowered [`ir::Model`] is a chain: each layer's input shape is the previous layer's
//!   output shape, names are unique, and every size is within [`ir::shape::Limits`].
//! - Passes keep those invariants (checked after every pass) and carry the spans of the layers
//!   they merge, so later diagnostics still point at the `.q` text.
//! - User mistakes never panic; a panic is a bug in qnnc.

pub mod backend;
pub mod commands;
pub mod diag;
pub mod error;
#[doc(hidden)]
pub mod fuzz_entry;
pub mod geometry;
pub mod io;
pub mod ir;
pub mod params;
pub mod passes;
pub mod plot;
pub mod quant;
pub mod session;
pub mod source;
pub mod syntax;
pub mod target;

pub use error::Error;
