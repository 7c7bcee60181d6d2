//! The errors the CPU kernels report for user mistakes (bad data, impossible geometry, bad
//! thread counts). Broken internal invariants (mismatched buffer shapes) panic instead.

use miette::Diagnostic;
use thiserror::Error;

/// A user mistake detected by the CPU back end.
#[derive(Debug, Clone, PartialEq, Eq, Error, Diagnostic)]
pub enum CpuError {
    /// A thread count of zero was requested.
    #[error("the number of threads must be at least 1")]
    #[diagnostic(code(cpu::zero_threads), help("pass a thread count of 1 or more"))]
    ZeroThreads,

    /// The operating system refused to start the worker threads.
    #[error("cannot start {threads} worker threads: {reason}")]
    #[diagnostic(code(cpu::thread_pool), help("try fewer threads"))]
    ThreadPool { threads: usize, reason: String },

    /// An instruction set this machine does not have.
    #[error("this processor cannot run the `{isa}` kernels")]
    #[diagnostic(code(cpu::unsupported_isa), help("use the default kernels"))]
    UnsupportedIsa { isa: String },

    /// A window (kernel or pool) or stride with a zero extent.
    #[error("window `{window:?}` and strides `{strides:?}` must all be positive")]
    #[diagnostic(code(cpu::zero_window), help("use sizes and strides of at least 1"))]
    ZeroWindow {
        window: [usize; 2],
        strides: [usize; 2],
    },

    /// A window that produces an empty output for this input.
    #[error(
        "a `{window:?}` window with strides `{strides:?}` and `{padding}` padding leaves no \
         output for a `{input:?}` input"
    )]
    #[diagnostic(
        code(cpu::empty_output),
        help("use `same` padding, a smaller window or a larger input")
    )]
    EmptyOutput {
        input: [usize; 2],
        window: [usize; 2],
        strides: [usize; 2],
        padding: &'static str,
    },

    /// A class label that does not index the model's outputs.
    #[error("label `{label}` of sample {sample} is out of range for {classes} classes")]
    #[diagnostic(
        code(cpu::label_out_of_range),
        help("labels must lie in `0..{classes}`; check the label file against the model's last layer")
    )]
    LabelOutOfRange {
        sample: usize,
        label: u32,
        classes: usize,
    },
}
