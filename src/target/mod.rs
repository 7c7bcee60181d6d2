//! Akida 1.0 as a compilation target: everything qnnc knows about BrainChip's flow beyond the
//! program runtime.
//!
//! - [`blocks`]: which IR layers become one Akida layer, and CNN2SNN's design rules for that;
//! - [`emit`]: a converted model and its weights → a [`Program`](crate::backend::nsoc::Program)
//!   (thresholds, act_steps and integer weights as `cnn2snn.convert` computes them);
//! - [`equalize`]: `cnn2snn.convert`'s act_step equalization;
//! - [`akd1000`]: the AKD1000's limits as one table, and the checks that read it;
//! - [`bridge`]: programs from and to the JSON of an `akida.Model`.
//!
//! It depends on the runtime ([`crate::backend::nsoc`]), never the other way.

pub mod akd1000;
pub mod blocks;
pub mod bridge;
pub mod emit;
pub mod equalize;
mod error;

pub use akd1000::{HwError, AKD1000};
pub use blocks::{form_blocks, form_blocks_best_effort, Block, BlockPool};
pub use error::{ConvertError, EmitError};
