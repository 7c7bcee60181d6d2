//! The Akida 1.0 target: how a quantized model maps onto Akida layers ([`blocks`]) and what
//! CNN2SNN and the AKD1000 refuse.

pub mod blocks;
mod error;

pub use blocks::{form_blocks, Block, BlockPool, HwKind};
pub use error::{ConvertError, EmitError};
