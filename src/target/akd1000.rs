//! The AKD1000 (Akida 1.0) hardware: its limits as data ([`AKD1000`]), and the checks that
//! report every violation of a model at once, located in the `.q` file and traced to their
//! cause (`docs/conversion.md` §9.2: BrainChip's "Akida 1.0 hardware constraints", akida 1.8's
//! `check.py`).
//!
//! Structural rules need only the converted model and its blocks; numeric rules (thresholds,
//! act_steps, all-zero weights) need the emitted program, computed by the same code as
//! `qnnc compile`. A threshold or act_step that does not fit, or a kernel that quantizes to
//! zero, is traced back to the batch norm folded into the layer (its small gammas, its beta)
//! and the scale factor that resulted.

use super::blocks::{Block, BlockPool};
use super::emit::BlockTrace;
use crate::backend::nsoc::{LayerKind, Program};
use crate::ir::{Model, Op, Padding};
use crate::params::Params;
use crate::source::Span;
use miette::Diagnostic;
use thiserror::Error;

/// The limits of one Akida layer kind.
#[derive(Clone, Copy, Debug)]
pub struct KindLimits {
    pub kind: LayerKind,
    /// Square kernel sizes.
    pub kernels: &'static [usize],
    pub strides: &'static [usize],
    /// Kernel sizes allowed with a stride above 1 (`None`: all).
    pub strided_kernels: Option<&'static [usize]>,
    pub paddings: &'static [Padding],
    /// Whether `valid` padding may be combined with a stride above 1.
    pub valid_strided: bool,
    /// Max-pooling window sizes (square).
    pub max_pool_sizes: &'static [usize],
    /// Whether the pooling stride must equal the window (else: at most the window).
    pub pool_stride_is_size: bool,
    pub global_average_pool: bool,
    pub weight_bits: &'static [u32],
    pub act_bits: &'static [u32],
    /// Bits of the signed threshold register.
    pub threshold_bits: u32,
    /// Largest act_step register value.
    pub act_step_max: u32,
    /// Whether a layer whose weights are all zero is refused.
    pub refuses_zero_weights: bool,
}

/// The AKD1000.
#[derive(Clone, Copy, Debug)]
pub struct Akd1000 {
    pub input: KindLimits,
    pub convolutional: KindLimits,
    pub separable: KindLimits,
    pub fully_connected: KindLimits,
    /// The input image: channels, and the width and height range.
    pub input_channels: &'static [usize],
    pub input_width: (usize, usize),
    pub input_min_height: usize,
    /// Largest number of input-convolution filters, by input channels and kernel size.
    pub input_filters: &'static [(usize, usize, usize)],
    /// Global average pooling: largest input width, fewest rows of the convolution output.
    pub gap_max_width: usize,
    pub gap_min_rows: usize,
    /// Largest `H·W·C` input of a fully-connected layer.
    pub fc_max_inputs: usize,
}

/// The AKD1000 limits.
pub const AKD1000: Akd1000 = Akd1000 {
    input: KindLimits {
        kind: LayerKind::InputConvolutional,
        kernels: &[3, 5, 7],
        strides: &[1, 2, 3],
        strided_kernels: None,
        paddings: &[Padding::Same, Padding::Valid],
        valid_strided: false,
        max_pool_sizes: &[1, 2],
        pool_stride_is_size: true,
        global_average_pool: false,
        weight_bits: &[1, 2, 4, 8],
        act_bits: &[1, 2, 4],
        threshold_bits: 24,
        act_step_max: (1 << 20) - 1,
        refuses_zero_weights: true,
    },
    convolutional: KindLimits {
        kind: LayerKind::Convolutional,
        kernels: &[1, 3, 5, 7],
        strides: &[1, 2],
        strided_kernels: Some(&[3]),
        paddings: &[Padding::Same],
        valid_strided: false,
        max_pool_sizes: &[1, 2],
        pool_stride_is_size: false,
        global_average_pool: true,
        weight_bits: &[1, 2, 4],
        act_bits: &[1, 2, 4],
        threshold_bits: 20,
        act_step_max: (1 << 16) - 1,
        refuses_zero_weights: false,
    },
    separable: KindLimits {
        kind: LayerKind::SeparableConvolutional,
        kernels: &[3, 5, 7],
        strides: &[1, 2],
        strided_kernels: Some(&[3]),
        paddings: &[Padding::Same],
        valid_strided: false,
        max_pool_sizes: &[1, 2],
        pool_stride_is_size: false,
        global_average_pool: true,
        weight_bits: &[2, 4],
        act_bits: &[1, 2, 4],
        threshold_bits: 20,
        act_step_max: (1 << 16) - 1,
        refuses_zero_weights: false,
    },
    fully_connected: KindLimits {
        kind: LayerKind::FullyConnected,
        kernels: &[1],
        strides: &[1],
        strided_kernels: None,
        paddings: &[Padding::Valid, Padding::Same],
        valid_strided: true,
        max_pool_sizes: &[],
        pool_stride_is_size: true,
        global_average_pool: false,
        weight_bits: &[1, 2, 4],
        act_bits: &[1, 2, 4],
        threshold_bits: 20,
        act_step_max: (1 << 16) - 1,
        refuses_zero_weights: false,
    },
    input_channels: &[1, 3],
    input_width: (5, 256),
    input_min_height: 5,
    input_filters: &[
        (1, 3, 512),
        (1, 5, 192),
        (1, 7, 96),
        (3, 3, 192),
        (3, 5, 64),
        (3, 7, 32),
    ],
    gap_max_width: 32,
    gap_min_rows: 3,
    fc_max_inputs: 57334,
};

impl KindLimits {
    /// The largest threshold the signed register holds, `2^(bits − 1) − 1`.
    pub fn threshold_max(&self) -> i32 {
        (1i32 << (self.threshold_bits - 1)) - 1
    }

    /// The smallest threshold the signed register holds, `−2^(bits − 1)`.
    pub fn threshold_min(&self) -> i32 {
        -(1i32 << (self.threshold_bits - 1))
    }
}

impl Akd1000 {
    pub fn limits(&self, kind: LayerKind) -> &KindLimits {
        match kind {
            LayerKind::InputConvolutional => &self.input,
            LayerKind::Convolutional => &self.convolutional,
            LayerKind::SeparableConvolutional => &self.separable,
            LayerKind::FullyConnected => &self.fully_connected,
        }
    }
}

/// An AKD1000 rule a model breaks.
#[derive(Clone, Debug, Error, Diagnostic, PartialEq)]
pub enum HwError {
    #[error("{kind} layer `{layer}`: {what} is {found}, the AKD1000 takes {allowed}")]
    #[diagnostic(code(akd1000::unsupported_geometry))]
    Geometry {
        layer: String,
        kind: &'static str,
        what: &'static str,
        found: String,
        allowed: String,
        #[label("{what} {found}")]
        span: Span,
        #[help]
        help: Option<String>,
    },

    #[error("{kind} layer `{layer}`: {what} bit-width {found}, the AKD1000 takes {allowed}")]
    #[diagnostic(code(akd1000::bit_width))]
    BitWidth {
        layer: String,
        kind: &'static str,
        what: &'static str,
        found: u32,
        allowed: String,
        #[label("{found}-bit {what}")]
        span: Span,
        #[help]
        help: Option<String>,
    },

    #[error("the input is {found}, the AKD1000 takes {allowed}")]
    #[diagnostic(code(akd1000::input))]
    Input {
        found: String,
        allowed: String,
        #[label("{found}")]
        span: Span,
        #[help]
        help: Option<String>,
    },

    #[error("`{layer}` has {found} filters; an input layer with {channels} channel(s) and {kernel}×{kernel} kernels holds at most {max}")]
    #[diagnostic(
        code(akd1000::input_filters),
        help("use fewer filters in the first layer, or a smaller kernel")
    )]
    InputFilters {
        layer: String,
        found: usize,
        channels: usize,
        kernel: usize,
        max: usize,
        #[label("{found} filters")]
        span: Span,
    },

    #[error("`{layer}` max-pools but is followed by {next}; a pooling convolution must feed another convolution")]
    #[diagnostic(
        code(akd1000::pooling_not_followed_by_conv),
        help("the AKD1000 finishes the pooling in the next convolutional layer: pool in an earlier block, or add a convolution after this one")
    )]
    PoolingNotFollowedByConv {
        layer: String,
        next: String,
        #[label("pools here")]
        span: Span,
        #[label("not a convolution")]
        next_span: Option<Span>,
    },

    #[error("`{layer}` (FullyConnected) takes {found} inputs, more than the {max} of the AKD1000")]
    #[diagnostic(
        code(akd1000::fc_inputs),
        help("pool or stride more before the dense layer, or use `global_avg_pool()`")
    )]
    FcInputs {
        layer: String,
        found: usize,
        max: usize,
        #[label("{found} inputs")]
        span: Span,
    },

    #[error("the threshold of `{layer}` is {value} (channel {channel}), which does not fit a {bits}-bit signed register ({min} to {max})")]
    #[diagnostic(code(akd1000::threshold_overflow))]
    Threshold {
        layer: String,
        value: i64,
        channel: usize,
        bits: u32,
        min: i64,
        max: i64,
        /// The value furthest out of range.
        extreme: i64,
        /// How many channels overflow.
        count: usize,
        #[label("{count} channel(s) out of range, up to {extreme}; scale factor {scale}")]
        span: Span,
        scale: String,
        #[label("{cause}")]
        cause_span: Option<Span>,
        cause: String,
        #[help]
        help: Option<String>,
    },

    #[error("the act_step of `{layer}` is {value} (channel {channel}), above the {max} the AKD1000 register holds")]
    #[diagnostic(code(akd1000::act_step_overflow))]
    ActStep {
        layer: String,
        value: f32,
        channel: usize,
        max: u32,
        extreme: f32,
        count: usize,
        #[label("{count} channel(s) out of range, up to {extreme}; scale factor {scale}")]
        span: Span,
        scale: String,
        #[label("{cause}")]
        cause_span: Option<Span>,
        cause: String,
        #[help]
        help: Option<String>,
    },

    #[error(
        "all weights of `{layer}` quantize to zero; the AKD1000 refuses an all-zero {kind} layer"
    )]
    #[diagnostic(code(akd1000::zero_weights))]
    ZeroWeights {
        layer: String,
        kind: &'static str,
        #[label("every integer weight is 0")]
        span: Span,
        #[label("{cause}")]
        cause_span: Option<Span>,
        cause: String,
        #[help]
        help: Option<String>,
    },
}

fn list(values: &[usize]) -> String {
    let v: Vec<String> = values.iter().map(|v| v.to_string()).collect();
    match v.len() {
        0 => "none".to_string(),
        1 => v[0].clone(),
        n => format!("{} or {}", v[..n - 1].join(", "), v[n - 1]),
    }
}

fn list_u32(values: &[u32]) -> String {
    list(&values.iter().map(|&v| v as usize).collect::<Vec<_>>())
}

/// Structural rules: kernel sizes, strides, padding, pooling, bit-widths, sizes, as the limits
/// table `hw` gives them ([`AKD1000`] for the chip).
pub fn check_structure(hw: &Akd1000, model: &Model, blocks: &[Block]) -> Vec<HwError> {
    let mut errs = Vec::new();
    let input = &model.input;
    let dims = input.shape.dims();
    if dims.len() == 3 {
        let (h, w, c) = (dims[0], dims[1], dims[2]);
        // (A first layer on other than 1 or 3 channels is a conversion error already.)
        let first_is_conv = model
            .layers
            .first()
            .is_some_and(|l| matches!(l.op, Op::Conv2D(_)));
        if !hw.input_channels.contains(&c) && !first_is_conv {
            errs.push(HwError::Input {
                found: format!("{c} channels"),
                allowed: format!("{} channels", list(hw.input_channels)),
                span: input.span,
                help: Some("the input layer reads grayscale (1) or RGB (3) images".to_string()),
            });
        }
        if w < hw.input_width.0 || w > hw.input_width.1 || h < hw.input_min_height {
            errs.push(HwError::Input {
                found: format!("{h}×{w}"),
                allowed: format!(
                    "a width of {} to {} and a height of at least {}",
                    hw.input_width.0, hw.input_width.1, hw.input_min_height
                ),
                span: input.span,
                help: Some("resize the images".to_string()),
            });
        }
    }
    for (bi, block) in blocks.iter().enumerate() {
        let layer = &model.layers[block.neural];
        let limits = hw.limits(block.kind);
        let kind = block.kind.as_str();
        let geometry =
            |what: &'static str, found: String, allowed: String, help: &str| HwError::Geometry {
                layer: layer.name.clone(),
                kind,
                what,
                found,
                allowed,
                span: layer.span,
                help: Some(help.to_string()),
            };
        let (kernel, strides, padding, filters) = match &layer.op {
            Op::Conv2D(c) => (c.kernel, c.strides, c.padding, c.filters),
            Op::SeparableConv2D(c) => (c.kernel, c.strides, c.padding, c.filters),
            Op::Dense(d) => ([1, 1], [1, 1], Padding::Valid, d.units),
            _ => unreachable!("blocks open with neural layers"),
        };
        if block.kind != LayerKind::FullyConnected {
            if kernel[0] != kernel[1] || !limits.kernels.contains(&kernel[0]) {
                errs.push(geometry(
                    "the kernel",
                    format!("{}×{}", kernel[0], kernel[1]),
                    format!("square kernels of {}", list(limits.kernels)),
                    "use a square kernel of a supported size",
                ));
            }
            if strides[0] != strides[1] || !limits.strides.contains(&strides[0]) {
                errs.push(geometry(
                    "the stride",
                    format!("{}×{}", strides[0], strides[1]),
                    format!("equal strides of {}", list(limits.strides)),
                    "use a supported stride",
                ));
            } else if strides[0] > 1 {
                if let Some(ks) = limits.strided_kernels {
                    if !ks.contains(&kernel[0]) {
                        errs.push(geometry(
                            "the stride",
                            format!("{} with a {}×{} kernel", strides[0], kernel[0], kernel[1]),
                            format!(
                                "stride 2 only with {} kernels",
                                ks.iter()
                                    .map(|k| format!("{k}×{k}"))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                            "use a 3×3 kernel for stride 2, or stride 1",
                        ));
                    }
                }
                if padding == Padding::Valid && !limits.valid_strided {
                    errs.push(geometry(
                        "the padding",
                        format!("`valid` with stride {}", strides[0]),
                        "`same` for strided convolutions".to_string(),
                        "use `padding: same`, or stride 1",
                    ));
                }
            }
            if !limits.paddings.contains(&padding) {
                errs.push(geometry(
                    "the padding",
                    format!("`{}`", padding.as_str()),
                    "only padding `same`".to_string(),
                    "use `padding: same`",
                ));
            }
        }
        // Pooling.
        match block.pool {
            BlockPool::Max { layer: p } => {
                let pool_layer = &model.layers[p];
                if let Op::MaxPool(pool) = &pool_layer.op {
                    let ok_size = pool.size[0] == pool.size[1]
                        && limits.max_pool_sizes.contains(&pool.size[0]);
                    let ok_stride = pool.strides[0] == pool.strides[1]
                        && if limits.pool_stride_is_size {
                            pool.strides == pool.size
                        } else {
                            pool.strides[0] <= pool.size[0]
                        };
                    if !ok_size || !ok_stride {
                        errs.push(HwError::Geometry {
                            layer: layer.name.clone(),
                            kind,
                            what: "the max pooling",
                            found: format!(
                                "{}×{} with stride {}×{}",
                                pool.size[0], pool.size[1], pool.strides[0], pool.strides[1]
                            ),
                            allowed: format!(
                                "square windows of {} with {}",
                                list(limits.max_pool_sizes),
                                if limits.pool_stride_is_size {
                                    "the stride equal to the window"
                                } else {
                                    "a stride at most the window"
                                }
                            ),
                            span: pool_layer.span,
                            help: Some("use `max_pool(2)`".to_string()),
                        });
                    }
                }
                // Vertical pooling finishes in the next convolutional layer.
                if block.kind != LayerKind::InputConvolutional {
                    let next = blocks.get(bi + 1);
                    let ok = next.is_some_and(|n| {
                        matches!(
                            n.kind,
                            LayerKind::Convolutional | LayerKind::SeparableConvolutional
                        )
                    });
                    if !ok {
                        errs.push(HwError::PoolingNotFollowedByConv {
                            layer: layer.name.clone(),
                            next: next.map_or("nothing".to_string(), |n| {
                                format!("`{}` ({})", model.layers[n.neural].name, n.kind.as_str())
                            }),
                            span: pool_layer.span,
                            next_span: next.map(|n| model.layers[n.neural].span),
                        });
                    }
                }
            }
            BlockPool::GlobalAverage { layer: p } => {
                let pool_layer = &model.layers[p];
                if !limits.global_average_pool {
                    errs.push(geometry(
                        "the pooling",
                        "global average".to_string(),
                        "max pooling only".to_string(),
                        "global average pooling needs a Convolutional or SeparableConvolutional layer",
                    ));
                } else {
                    let [rows, width] = pool_layer.input_shape.hw();
                    let in_width = layer.input_shape.hw()[1];
                    if in_width > hw.gap_max_width || rows < hw.gap_min_rows {
                        errs.push(HwError::Geometry {
                            layer: layer.name.clone(),
                            kind,
                            what: "the global average pooling",
                            found: format!("over a {rows}×{width} map from a {in_width}-wide input"),
                            allowed: format!(
                                "inputs at most {} wide and maps of at least {} rows",
                                hw.gap_max_width, hw.gap_min_rows
                            ),
                            span: pool_layer.span,
                            help: Some("pool or stride earlier so the map is at most 32 wide, and keep at least 3 rows".to_string()),
                        });
                    }
                }
            }
            BlockPool::None => {}
        }
        // Bit-widths.
        // (A float layer is a conversion error already.)
        let wbits = layer.op.quantizers().last().map(|(_, q)| q.spec.bits);
        if let Some(wbits) = wbits.filter(|b| !limits.weight_bits.contains(b)) {
            errs.push(HwError::BitWidth {
                layer: layer.name.clone(),
                kind,
                what: "weight",
                found: wbits,
                allowed: list_u32(limits.weight_bits),
                span: layer.span,
                help: Some(match block.kind {
                    LayerKind::FullyConnected | LayerKind::Convolutional => "use `weights: 4` (or 2) in `quantize(...)`; only the input layer takes 8-bit weights".to_string(),
                    LayerKind::SeparableConvolutional => "separable layers take 2- or 4-bit weights".to_string(),
                    LayerKind::InputConvolutional => "use 1, 2, 4 or 8 bits for the input layer".to_string(),
                }),
            });
        }
        if let Some(a) = block.activation {
            if let Op::QuantizedActivation(spec) = &model.layers[a].op {
                let bits = match spec {
                    crate::quant::ActivationSpec::QuantizedRelu { bits, .. }
                    | crate::quant::ActivationSpec::DiscreteRelu { bits } => *bits,
                };
                if !limits.act_bits.contains(&bits) {
                    errs.push(HwError::BitWidth {
                        layer: layer.name.clone(),
                        kind,
                        what: "activation",
                        found: bits,
                        allowed: list_u32(limits.act_bits),
                        span: model.layers[a].span,
                        help: Some("use `activations: 4` (or 2, 1)".to_string()),
                    });
                }
            }
        }
        // Sizes.
        if block.kind == LayerKind::InputConvolutional {
            let c = model.input.shape.channels();
            if let Some(&(_, _, max)) = hw
                .input_filters
                .iter()
                .find(|(ch, k, _)| *ch == c && *k == kernel[0])
            {
                if filters > max {
                    errs.push(HwError::InputFilters {
                        layer: layer.name.clone(),
                        found: filters,
                        channels: c,
                        kernel: kernel[0],
                        max,
                        span: layer.span,
                    });
                }
            }
        }
        if block.kind == LayerKind::FullyConnected {
            let n = layer.input_shape.elements() as usize;
            if n > hw.fc_max_inputs {
                errs.push(HwError::FcInputs {
                    layer: layer.name.clone(),
                    found: n,
                    max: hw.fc_max_inputs,
                    span: layer.span,
                });
            }
        }
    }
    errs
}

/// What is being explained.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Problem {
    /// A threshold or act_step too large for its register.
    Overflow,
    /// A kernel whose integers are all zero.
    ZeroKernel,
}

/// Where a value of a layer comes from: the batch norm folded into it, and why its scale
/// factor or bias is extreme.
struct Cause {
    span: Option<Span>,
    text: String,
    help: String,
}

/// Traces the cause of an extreme value in `channels` of block `layer` to its folded batch
/// norm: small gammas (a saturated scale factor) or a large beta.
fn cause(
    original: Option<&Params>,
    layer: &crate::ir::Layer,
    trace: &BlockTrace,
    channels: &[usize],
    problem: Problem,
) -> Cause {
    let generic = Cause {
        span: None,
        text: String::new(),
        help: "the scale factor or the bias of this layer is extreme; retrain with a gamma constraint (`batch_norm(gamma_min: 0.01)`) or smaller biases".to_string(),
    };
    let Some(bn) = layer.merged.first() else {
        return generic;
    };
    let Some(params) = original else {
        return Cause {
            span: Some(bn.span),
            text: format!("batch norm `{}` is folded into this layer", bn.name),
            help: format!("batch norms with tiny gammas make huge scale factors: add `gamma_min: 0.01` to `{}` (akida_models' gamma constraint) and retrain, or try `--gamma-min 0.01`", bn.name),
        };
    };
    let gamma = params.get(&bn.name, "gamma");
    let beta = params.get(&bn.name, "beta");
    let pick = |a: Option<&ndarray::ArrayD<f32>>| -> Vec<f32> {
        a.map(|a| {
            channels
                .iter()
                .filter_map(|&c| a.as_slice().and_then(|s| s.get(c)).copied())
                .collect()
        })
        .unwrap_or_default()
    };
    let gammas = pick(gamma);
    let betas = pick(beta);
    let smallest = gammas
        .iter()
        .copied()
        .fold(f32::INFINITY, |a, g| a.min(g.abs()));
    let largest_beta = betas.iter().copied().fold(0f32, |a, b| a.max(b.abs()));
    let sf_max = channels
        .iter()
        .map(|&c| trace.scale_factor[c])
        .fold(0f32, f32::max);
    let shown: Vec<String> = channels.iter().take(5).map(|c| c.to_string()).collect();
    let more = if channels.len() > 5 {
        format!(" (and {} more)", channels.len() - 5)
    } else {
        String::new()
    };
    let small_gamma = smallest < 0.01;
    let text = if small_gamma {
        format!(
            "batch norm `{}`: gammas as small as {smallest:.1e} in channel{} {}{more}, beta up to {largest_beta} — scale factor {sf_max}",
            bn.name,
            if channels.len() == 1 { "" } else { "s" },
            shown.join(", ")
        )
    } else {
        format!(
            "batch norm `{}` folded here: beta up to {largest_beta} in channel{} {}{more}, scale factor {sf_max}",
            bn.name,
            if channels.len() == 1 { "" } else { "s" },
            shown.join(", ")
        )
    };
    let help = if small_gamma && problem == Problem::ZeroKernel {
        format!(
            "the tiny gammas of `{}` shrink the folded kernel so much that, with its scale factor capped at 1000, every weight rounds to 0: add `gamma_min: 0.01` to `{}` (akida_models' gamma constraint) and retrain, or check the fix now with `--gamma-min 0.01`",
            bn.name, bn.name
        )
    } else if small_gamma {
        format!(
            "the tiny gammas of `{}` shrink the folded kernel until its scale factor saturates at 1000 and the threshold (scale · (step/2 − bias)) overflows: add `gamma_min: 0.01` to `{}` (akida_models' gamma constraint) and retrain, or check the fix now with `--gamma-min 0.01`",
            bn.name, bn.name
        )
    } else {
        format!(
            "the bias folded from `{}` is large for this scale factor: constrain the batch norm (`gamma_min: 0.01`), lower its beta by retraining, or use fewer weight bits",
            bn.name
        )
    };
    Cause {
        span: Some(bn.span),
        text,
        help,
    }
}

/// Numeric rules on the emitted program: thresholds and act_steps in their registers, act_step
/// at least 1/16, no all-zero input layer. `model`, `blocks` and `traces` are those the program
/// was emitted from; `original` the float weights as loaded (for tracing causes).
pub fn check_program(
    hw: &Akd1000,
    program: &Program,
    model: &Model,
    blocks: &[Block],
    traces: &[BlockTrace],
    original: Option<&Params>,
) -> Vec<HwError> {
    let mut errs = Vec::new();
    for (i, (layer, block)) in program.layers.iter().zip(blocks).enumerate() {
        let ir = &model.layers[block.neural];
        let limits = hw.limits(block.kind);
        let trace = &traces[i];
        let kind = block.kind.as_str();
        let scale_range = |channels: &[usize]| {
            let v: Vec<f32> = channels.iter().map(|&c| trace.scale_factor[c]).collect();
            let lo = v.iter().copied().fold(f32::INFINITY, f32::min);
            let hi = v.iter().copied().fold(0f32, f32::max);
            if lo == hi {
                format!("{lo}")
            } else {
                format!("{lo} to {hi}")
            }
        };
        // Thresholds.
        let (min, max) = (
            -(1i64 << (limits.threshold_bits - 1)),
            (1i64 << (limits.threshold_bits - 1)) - 1,
        );
        let bad: Vec<usize> = (0..layer.thresholds.len())
            .filter(|&c| !(min..=max).contains(&i64::from(layer.thresholds[c])))
            .collect();
        // The first channel out of range, as the engine reports it; the label gives the extreme.
        if let Some(&first) = bad.first() {
            let extreme = bad
                .iter()
                .map(|&c| i64::from(layer.thresholds[c]))
                .max_by_key(|v| v.abs())
                .expect("non-empty");
            let c = cause(original, ir, trace, &bad, Problem::Overflow);
            errs.push(HwError::Threshold {
                layer: ir.name.clone(),
                value: i64::from(layer.thresholds[first]),
                channel: first,
                extreme,
                bits: limits.threshold_bits,
                min,
                max,
                count: bad.len(),
                span: ir.span,
                scale: scale_range(&bad),
                cause_span: c.span,
                cause: c.text,
                help: Some(c.help),
            });
        }
        // act_steps: only where the activation is on (the last layer's act_step only scales the
        // dequantized output).
        if layer.activation {
            let bad: Vec<usize> = (0..layer.act_steps.len())
                .filter(|&c| layer.act_steps[c] > limits.act_step_max as f32)
                .collect();
            if let Some(&first) = bad.first() {
                let extreme = bad.iter().map(|&c| layer.act_steps[c]).fold(0f32, f32::max);
                let c = cause(original, ir, trace, &bad, Problem::Overflow);
                errs.push(HwError::ActStep {
                    layer: ir.name.clone(),
                    value: layer.act_steps[first],
                    channel: first,
                    extreme,
                    max: limits.act_step_max,
                    count: bad.len(),
                    span: ir.span,
                    scale: scale_range(&bad),
                    cause_span: c.span,
                    cause: c.text,
                    help: Some(c.help),
                });
            }
        }
        if limits.refuses_zero_weights
            && layer.weights.iter().all(|&w| w == 0)
            && layer.kind == LayerKind::InputConvolutional
        {
            let all: Vec<usize> = (0..layer.thresholds.len()).collect();
            let c = cause(original, ir, trace, &all, Problem::ZeroKernel);
            errs.push(HwError::ZeroWeights {
                layer: ir.name.clone(),
                kind,
                span: ir.span,
                cause_span: c.span,
                cause: c.text,
                help: Some(c.help),
            });
        }
    }
    errs
}

/// The AKD1000 has 80 neural processors (20 nodes of 4), each with about 100 KB of SRAM for
/// weights; the input layer runs on the dedicated input block (HRC), not on a processor.
pub const NEURAL_PROCESSORS: u32 = 80;
/// Weight memory of one neural processor, in bits (an estimate from BrainChip's figures).
pub const NP_WEIGHT_BITS: u64 = 100 * 1024 * 8;

/// What one Akida layer of a model needs.
#[derive(Clone, Debug, PartialEq)]
pub struct Resources {
    pub layer: String,
    pub kind: LayerKind,
    pub weights: u64,
    pub weight_bits: u32,
    /// `weights × weight_bits`.
    pub memory_bits: u64,
    /// Multiply-accumulates per input image.
    pub macs: u64,
    /// An estimate of the neural processors used (0 for the input layer).
    pub processors: u32,
}

/// The resources of every block of a converted model (from shapes and bit-widths alone).
pub fn resources(model: &Model, blocks: &[Block]) -> Vec<Resources> {
    blocks
        .iter()
        .map(|b| {
            let layer = &model.layers[b.neural];
            let cin = layer.input_shape.channels() as u64;
            let out = &layer.output_shape;
            let pixels: u64 = if out.is_image() {
                out.hw().iter().map(|&d| d as u64).product()
            } else {
                1
            };
            let (weights, macs) = match &layer.op {
                Op::Conv2D(c) => {
                    let w = (c.kernel[0] * c.kernel[1]) as u64 * cin * c.filters as u64;
                    (w, w * pixels)
                }
                Op::SeparableConv2D(c) => {
                    let dw = (c.kernel[0] * c.kernel[1]) as u64 * cin;
                    let pw = cin * c.filters as u64;
                    (dw + pw, (dw + pw) * pixels)
                }
                Op::Dense(d) => {
                    let w = layer.input_shape.elements() * d.units as u64;
                    (w, w)
                }
                _ => unreachable!("blocks open with neural layers"),
            };
            let weight_bits = layer.op.quantizers().last().map_or(0, |(_, q)| q.spec.bits);
            let memory_bits = weights * weight_bits as u64;
            let processors = if b.kind == LayerKind::InputConvolutional {
                0
            } else {
                memory_bits.div_ceil(NP_WEIGHT_BITS).max(1) as u32
            };
            Resources {
                layer: layer.name.clone(),
                kind: b.kind,
                weights,
                weight_bits,
                memory_bits,
                macs,
                processors,
            }
        })
        .collect()
}
