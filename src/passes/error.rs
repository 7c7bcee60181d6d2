//! Pass errors: a transform that CNN2SNN refuses, located at the layers involved.

use crate::source::Span;
use miette::Diagnostic;
use thiserror::Error;

#[derive(Clone, Debug, Error, Diagnostic, PartialEq)]
pub enum PassError {
    #[error("there are {count} negative gammas in the batch norm layer `{bn}`")]
    #[diagnostic(code(fold::negative_gamma))]
    NegativeGammas {
        bn: String,
        count: usize,
        #[label("{detail}")]
        span: Span,
        detail: String,
        #[label("{pool_note}")]
        pool: Span,
        pool_note: String,
        #[help]
        help: Option<String>,
    },

    #[error("there are {count} null gammas in the batch norm layer `{bn}`")]
    #[diagnostic(
        code(fold::null_gamma),
        help("a zero gamma zeroes the channel and cannot be folded; retrain with `gamma_min: 0.01` (akida_models' gamma constraint) or remove the channel")
    )]
    NullGammas {
        bn: String,
        count: usize,
        #[label("{detail}")]
        span: Span,
        detail: String,
        #[label("folded into this layer")]
        layer: Span,
    },

    #[error("the batch norm `{bn}` can only be folded into a quantized layer that uses a quantizer per axis")]
    #[diagnostic(code(fold::per_tensor_quantizer))]
    PerTensorFold {
        bn: String,
        layer: String,
        #[label("batch norm to fold")]
        span: Span,
        #[label("`{layer}` has a per-tensor quantizer")]
        quantizer: Span,
        #[help]
        help: Option<String>,
    },

    #[error("the batch norm `{bn}` stays in the thresholds of `{layer}`, which has a per-tensor quantizer")]
    #[diagnostic(
        code(fold::bn_in_thresholds),
        severity(Warning),
        help("CNN2SNN refuses to fold it (and `--target akd1000` does); qnnc keeps it unfolded: the executor applies it after the layer, the simulator program through the thresholds and act_steps, which computes the same model")
    )]
    BnInThresholds {
        bn: String,
        layer: String,
        #[label("kept, not folded")]
        span: Span,
        #[label("per-tensor quantizer")]
        quantizer: Span,
    },

    #[error("{what} cannot be quantized with bit-width 0")]
    #[diagnostic(code(quantize::zero_bits))]
    ZeroBits {
        what: String,
        #[label("already quantized")]
        span: Span,
        #[label("asks for float ({category}: 0)")]
        statement: Span,
        category: String,
        #[help]
        help: Option<String>,
    },

    #[error("`quantize(...)` sets the {category} of `{layer}` to {new} bits instead of {old}")]
    #[diagnostic(code(quantize::bits_replaced), severity(Warning))]
    BitsReplaced {
        layer: String,
        category: String,
        old: u32,
        new: u32,
        #[label("written with {old} bits")]
        span: Span,
        #[label("replaces the bit-width")]
        statement: Span,
        #[help]
        help: Option<String>,
    },

    #[error("{count} of {total} gammas of `{bn}` were raised to {gamma_min}")]
    #[diagnostic(code(fold::gamma_clamped), severity(Advice))]
    GammaClamped {
        bn: String,
        count: usize,
        total: usize,
        gamma_min: f64,
        #[label("smallest gamma was {smallest}")]
        span: Span,
        smallest: String,
    },
}
