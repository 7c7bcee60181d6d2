//! # qnnc — a compiler for quantized neural networks on Akida 1.0
//!
//! qnnc reads a model written in the `.q` language, checks it, and turns it into either a
//! trainable CPU executor or an integer program for BrainChip's AKD1000 NSoC, reproducing the
//! semantics of cnn2snn 2.19.3 and the akida 2.19.3 engine (Akida 1.0 layers) bit for bit.
//!
//! ## Pipeline
//!
//! ```text
//!  .q text ──parse──▶ AST ──lower──▶ IR ──weights──▶ Job ──transform──▶ Graph ──▶ CPU executor
//!   (syntax)                      (ir)   (params)  (session)  (passes)        └─compile─▶ Program
//!                                                                          (target)   (backend::nsoc)
//! ```
//!
//! [`session`] is the one place that runs it: [`session::Session`] reads and lowers a file,
//! [`session::Job`] attaches weights and runs a named pipeline of passes
//! ([`session::Stage`]), builds the executor, or compiles for a target, applying the target's
//! policy (which hardware rule is an error, which a warning) itself. Everything else is a
//! stage it calls:
//!
//! - [`syntax`]: the pest grammar (`grammar/q.pest`), the AST with spans, the formatter.
//! - [`ir`]: lowering (names, arguments, defaults, Keras shapes) into [`ir::Model`]s, driven by
//!   one layer table (`ir::layers`).
//! - [`quant`]: the quantizers and quantized activations, bit-exact to CNN2SNN.
//! - [`params`]: weights (`LAYER/VAR` float32 arrays), their checks and initialisers.
//! - [`passes`]: IR → IR (batch-norm folding, gamma clamping, quantization, …).
//! - [`target`]: everything qnnc knows about Akida 1.0 beyond the runtime: block formation,
//!   conversion rules, emission, act_step equalization, the AKD1000 limits as one table and
//!   the checks that read it, and the bridge to akida's JSON.
//! - [`backend::cpu`]: the trainable executor; [`backend::nsoc`]: the integer program, its file
//!   format and its simulator — a runtime that knows nothing of the compiler ([`target`]
//!   depends on it, never the reverse).
//! - [`geometry`] (Keras window geometry) and [`isa`] (run-time instruction-set choice): the
//!   facts the executor, the shape inference and the simulator share.
//! - [`io`]: file formats (npy, npz, IDX) and atomic output; [`diag`]: rendering diagnostics.
//! - `commands`, `plot` (feature `cli`, on by default): the command line, which only parses
//!   arguments, calls the session and prints.
//!
//! ## Invariants
//!
//! - Every stage has its own error type carrying [`source::Span`]s only, kept typed to the
//!   command line; the source is attached once, when rendering. A stage collects all the
//!   problems it can find.
//! - A lowered [`ir::Model`] is a chain: each layer's input shape is the previous layer's
//!   output shape, names are unique, and every size is within [`ir::shape::Limits`].
//! - Passes keep those invariants (checked after every pass) and carry the spans of the layers
//!   they merge, so later diagnostics still point at the `.q` text.
//! - User mistakes never panic; a panic is a bug in qnnc.

pub mod backend;
#[cfg(feature = "cli")]
pub mod commands;
pub mod diag;
pub mod error;
#[doc(hidden)]
pub mod fuzz_entry;
pub mod geometry;
pub mod io;
pub mod ir;
pub mod isa;
pub mod params;
pub mod passes;
#[cfg(feature = "cli")]
pub mod plot;
pub mod quant;
pub mod session;
pub mod source;
pub mod syntax;
pub mod target;

pub use error::Error;
