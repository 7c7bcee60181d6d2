//! The Akida 1.0 target: how a quantized model maps onto Akida layers ([`blocks`]), what
//! CNN2SNN refuses ([`ConvertError`]), and the AKD1000's limits ([`akd1000`]).

pub mod akd1000;
pub mod blocks;
mod error;

pub use akd1000::{HwError, AKD1000};
pub use blocks::{form_blocks, form_blocks_best_effort, Block, BlockPool, HwKind};
pub use error::{ConvertError, EmitError};
