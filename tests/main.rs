//! The qnnc integration test binary: one module per topic.

/// Every failure class × file kind × command on the real binary: exit code, one-line cause
/// with context, nothing written, no panic.
mod bad_input;
/// Shared helpers: paths, running the `qnnc` binary.
mod common;
/// `qnnc compile`/`run`/`inspect` against the converted Akida references.
mod compile;
/// Random models against BrainChip's own flow: cnn2snn's quantize/convert verdicts, the
/// converted akida models, akida `forward`/`predict` and the Keras outputs.
mod conversion;
/// The CPU kernels: gradients by finite differences, the float toy model, determinism.
mod cpu_kernels;
/// `qnnc demo`: the README's main job and its accuracies.
mod demo;
/// The documents run: every command of `docs/tutorial.md` and the README.
mod docs;
/// The simulator against the akida engine at the corners of its arithmetic (saturation,
/// 32-bit wrapping, 28-bit activation registers).
mod engine;
/// The shipped examples: trained weights that compile and run to the accuracy of their header.
mod examples;
/// The CPU executor (`qnnc predict`) against Keras + CNN2SNN outputs.
mod executor;
/// `qnnc hist` figures.
mod hist;
/// File formats and safe output: npy/npz/IDX readers and writers, atomic writes, the budget.
mod io;
/// The NSoC program: format, validation, and the integer simulator against akida.
mod nsoc;
/// `qnnc quantize` end to end: folding, gamma clamping, quantizers, against the references.
mod passes;
/// Quantizers, activations and BN folding against the CNN2SNN reference outputs.
mod quant;
/// The fuzz targets' crash inputs and seeds replayed, plus mutations of the seeds.
mod regression;
/// Atomic outputs under SIGKILL, `train --resume`, determinism, the memory budget.
mod reliability;
/// No input makes the front end panic (proptest over random and mutated text).
mod robustness;
/// `qnnc fmt`: canonical output, idempotence, and parse(fmt(x)) == parse(x).
mod roundtrip;
/// RON stage goldens: every example's IR after every pass (`tests/out/ir`, `BLESS=1`).
mod stages;
/// `qnnc summary` tables.
mod summary;
/// The AKD1000 limits table: every check reads it, and it is written once.
mod target;
/// Training: whole-network gradients, determinism, MNIST accuracy.
mod training;
/// Golden diagnostics: `tests/ui/**/NAME.q` rendered to `NAME.stderr` (`BLESS=1` rewrites).
mod ui;
/// `qnnc init` and the weights loader.
mod weights;
