//! The trainable CPU executor: NHWC f32 tensor kernels with their gradients (`conv`,
//! `depthwise`, `dense`, `pool`, `batch_norm`, `activation`, `loss`, on the GEMM micro-kernels
//! of `gemm` and `simd`), the layers built on them (`layers`: parameters, quantizers, forward
//! and backward per layer kind), the [`network`] that chains the layers of a model, the
//! optimizers, and the training loop ([`train`]).
//!
//! Layouts are Keras's: activations `(n, h, w, c)`, Conv2D kernels `(kh, kw, cin, cout)`,
//! depthwise kernels `(kh, kw, c, 1)`, Dense kernels `(in, out)`. Every kernel runs on a
//! [`Cpu`] context (a private rayon pool plus the instruction set), writes into caller-owned
//! output buffers whose allocation is reused from batch to batch, and keeps whatever its
//! backward pass needs in a caller-owned workspace.
//!
//! Determinism: work is split by tensor shape only and partial sums are combined in a fixed
//! order, so the same inputs give the same bits on every run and for every thread count.
//! (The portable micro-kernels round differently from the AVX2 ones — separate versus fused
//! multiply-add — so bits are per instruction set; AVX2 and AVX-512 give the same bits.)
//!
//! Shapes are contracts between the executor and the kernels: a mismatch is an internal bug
//! and panics with a message naming the operands. User mistakes (impossible window geometry,
//! labels out of range, thread counts) are reported as [`CpuError`].

mod activation;
mod batch_norm;
mod buffer;
mod context;
mod conv;
mod dense;
mod depthwise;
mod error;
mod gemm;
mod geometry;
mod layers;
mod loss;
pub mod network;
mod optim;
mod parallel;
mod patches;
mod pool;
mod reduce;
mod simd;
mod tensor;
pub mod train;

pub use activation::{dropout_backward, dropout_forward, relu_backward, relu_forward, DropoutMask};
pub use batch_norm::{
    batch_norm_backward, batch_norm_inference, batch_norm_inference_backward, batch_norm_training,
    BatchNormParams, BatchNormWorkspace,
};
pub use buffer::reshape_buffer;
pub use context::Cpu;
pub use conv::{conv2d_backward, conv2d_forward, Conv2dWorkspace};
pub use dense::{dense_backward, dense_forward, DenseWorkspace};
pub use depthwise::{depthwise_conv2d_backward, depthwise_conv2d_forward, DepthwiseWorkspace};
pub use error::CpuError;
pub use geometry::{Geometry2d, Padding};
pub use loss::{count_correct, softmax_backward, softmax_cross_entropy, softmax_forward};
pub use optim::{AdamConfig, Optimizer, OptimizerConfig, ParamMut, SgdConfig};
pub use pool::{
    avg_pool2d_backward, avg_pool2d_forward, global_avg_pool2d_backward, global_avg_pool2d_forward,
    max_pool2d_backward, max_pool2d_forward, MaxPool2dWorkspace,
};
pub use simd::Isa;
