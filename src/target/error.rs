//! Conversion errors: what CNN2SNN's `convert` refuses (its compatibility checks and the
//! mapping to Akida layers, `docs/conversion.md` §9.1 and §7), located at the layers involved.

use crate::source::Span;
use miette::Diagnostic;
use thiserror::Error;

#[derive(Clone, Debug, Error, Diagnostic, PartialEq)]
pub enum ConvertError {
    #[error("the first layer `{layer}` must be a `conv2d` on an image with 1 or 3 channels")]
    #[diagnostic(code(convert::first_layer))]
    FirstLayer {
        layer: String,
        #[label("{found}")]
        span: Span,
        found: String,
        #[help]
        help: Option<String>,
    },

    #[error("an activation is required between the neural layers `{first}` and `{second}`")]
    #[diagnostic(
        code(convert::missing_activation),
        help("every Akida layer is a neural layer, an optional pooling and an activation: add a `relu()` (quantized by `quantize(...)`) or a `quantized_relu(...)` between them")
    )]
    MissingActivation {
        first: String,
        second: String,
        #[label("`{second}` follows without an activation")]
        span: Span,
        #[label("`{first}` has no activation")]
        previous: Span,
    },

    #[error("a neural layer is required between the activations `{first}` and `{second}`")]
    #[diagnostic(
        code(convert::missing_neural_layer),
        help("remove one of the activations; each Akida layer has exactly one")
    )]
    MissingNeuralLayer {
        first: String,
        second: String,
        #[label("second activation")]
        span: Span,
        #[label("first activation")]
        previous: Span,
    },

    #[error("the pooling `{layer}` must directly follow a convolution")]
    #[diagnostic(code(convert::misplaced_pooling))]
    MisplacedPooling {
        layer: String,
        #[label("{detail}")]
        span: Span,
        detail: String,
        #[help]
        help: Option<String>,
    },

    #[error("the pooling `{pool}` (padding `{pool_padding}`) must have the same padding as `{conv}` (padding `{conv_padding}`)")]
    #[diagnostic(
        code(convert::pooling_padding),
        help("give both the same `padding:`; Akida pools with the convolution's geometry")
    )]
    PoolingPadding {
        pool: String,
        conv: String,
        pool_padding: String,
        conv_padding: String,
        #[label("padding `{pool_padding}`")]
        span: Span,
        #[label("padding `{conv_padding}`")]
        conv_span: Span,
    },

    #[error(
        "a flatten is only supported before a dense layer, and `{layer}` is followed by `{next}`"
    )]
    #[diagnostic(
        code(convert::misplaced_flatten),
        help("flatten right before `dense(...)`, or remove it")
    )]
    MisplacedFlatten {
        layer: String,
        next: String,
        #[label("flatten")]
        span: Span,
        #[label("not a dense layer")]
        next_span: Span,
    },

    #[error("the dense layer `{layer}` must get a vector or a 1×1 image, found {found}")]
    #[diagnostic(
        code(convert::dense_input),
        help("add `flatten()` or `global_avg_pool()` before it")
    )]
    DenseInput {
        layer: String,
        found: String,
        #[label("input {found}")]
        span: Span,
    },

    #[error("`{layer}` ({class}) comes before the neural layer `{next}`")]
    #[diagnostic(
        code(convert::activation_before_neural),
        help("only ReLUs and quantized activations may precede a neural layer; a softmax can only be last")
    )]
    ActivationBeforeNeural {
        layer: String,
        class: String,
        next: String,
        #[label("{class}")]
        span: Span,
        #[label("neural layer after it")]
        next_span: Span,
    },

    #[error("`{layer}` ({class}) cannot be converted to Akida")]
    #[diagnostic(code(convert::unsupported_layer))]
    Unsupported {
        layer: String,
        class: String,
        #[label("{reason}")]
        span: Span,
        reason: String,
        #[help]
        help: Option<String>,
    },

    #[error("the activation bit-width of `{layer}` must be 1, 2 or 4, found {bits}")]
    #[diagnostic(
        code(convert::activation_bits),
        help("Akida 1.0 fires 1-, 2- or 4-bit spikes: use `activations: 4` (or 2, 1)")
    )]
    ActivationBits {
        layer: String,
        bits: u32,
        #[label("{bits}-bit activation")]
        span: Span,
    },

    #[error("the weight bit-width of `{layer}` must be 2, 4 or 8, found {bits}")]
    #[diagnostic(
        code(convert::weight_bits),
        help("CNN2SNN converts 2-, 4- or 8-bit weights (only the first layer takes other widths)")
    )]
    WeightBits {
        layer: String,
        bits: u32,
        #[label("{bits}-bit weights")]
        span: Span,
    },

    #[error("the depthwise and pointwise quantizers of `{layer}` must have the same bit-width ({dw} and {pw})")]
    #[diagnostic(
        code(convert::separable_bits),
        help("give `quantizer_dw` the bit-width of `quantizer`")
    )]
    SeparableBits {
        layer: String,
        dw: u32,
        pw: u32,
        #[label("{dw}-bit depthwise, {pw}-bit pointwise")]
        span: Span,
    },
}

/// Problems found while computing a layer's integers (docs/conversion.md §7.3–§7.4).
#[derive(Clone, Debug, Error, Diagnostic, PartialEq)]
pub enum EmitError {
    #[error("the weights of `{layer}` have {bits} bits; an Akida layer holds at most 8")]
    #[diagnostic(
        code(convert::wide_weights),
        help("use at most 8-bit weights (the input layer takes 1 to 8 bits)")
    )]
    WideWeights {
        layer: String,
        bits: u32,
        #[label("{bits}-bit weights")]
        span: Span,
    },

    #[error("the kernel of `{layer}` is {}x{}; Akida kernels have odd sizes", .kernel[0], .kernel[1])]
    #[diagnostic(
        code(convert::even_kernel),
        help("use an odd kernel size (1, 3, 5, 7, …): the akida engine refuses the layer (\"Parameter kernel_width must be strictly positive and odd\")")
    )]
    EvenKernel {
        layer: String,
        kernel: [usize; 2],
        #[label("{}x{} kernel", .kernel[0], .kernel[1])]
        span: Span,
    },

    #[error("the strides of `{layer}` ({}, {}) exceed its {}x{} kernel", .strides[0], .strides[1], .kernel[0], .kernel[1])]
    #[diagnostic(
        code(convert::strides_beyond_kernel),
        help("Akida's convolutional and separable layers need strides no larger than the kernel (the engine: \"Strides > kernel size are not supported\"); use a larger kernel, a smaller stride, or pool after the layer")
    )]
    StridesBeyondKernel {
        layer: String,
        kernel: [usize; 2],
        strides: [usize; 2],
        #[label("strides larger than the kernel")]
        span: Span,
    },

    #[error("the max pooling `{layer}` moves by ({}, {}), more than its {}x{} window", .strides[0], .strides[1], .size[0], .size[1])]
    #[diagnostic(
        code(convert::pool_strides),
        help("Akida pools with strides no larger than the window (the engine: \"Parameter pool_stride cannot be higher than pool_size\"); use `strides` at most the pool size")
    )]
    PoolStrides {
        layer: String,
        size: [usize; 2],
        strides: [usize; 2],
        #[label("strides larger than the window")]
        span: Span,
    },

    #[error("the input offset {offset} gives a padding value outside 0..=255")]
    #[diagnostic(
        code(convert::padding_value),
        help("integer inputs are uint8: `input(offset:)` must lie in 0..=255")
    )]
    PaddingValue {
        offset: f64,
        #[label("offset {offset}")]
        span: Span,
    },

    #[error(
        "the threshold of channel {channel} of `{layer}` is {value:e}, beyond the 32-bit range"
    )]
    #[diagnostic(
        code(convert::threshold_range),
        help("the scale factor or the bias of this layer is extreme; check its batch norm (`gamma_min: 0.01`) and its bias")
    )]
    ThresholdRange {
        layer: String,
        channel: usize,
        value: f64,
        count: usize,
        #[label("threshold out of range")]
        span: Span,
    },

    #[error("`{layer}` was adjusted to fit the AKD1000 registers: {detail}")]
    #[diagnostic(
        code(convert::equalized),
        severity(Warning),
        help("as `cnn2snn.convert` (2.5 and later) does; this can cost accuracy. Large act_steps come from large scale factors: a larger activation `max_value`, or `gamma_min` on the batch norm, avoid it. `--no-act-step-equalization` keeps the CNN2SNN 2.3.7 values")
    )]
    Equalized {
        layer: String,
        detail: String,
        #[label("adjusted")]
        span: Span,
    },

    #[error("the act_step of `{layer}` is {value} (channel {channel}), below 1/16, the smallest step the Akida engine handles")]
    #[diagnostic(
        code(convert::act_step_too_small),
        help("the activation step is finer than the integer potentials can resolve: raise the activation's `max_value`, use fewer activation bits, or give the input a larger `scale`")
    )]
    ActStepTooSmall {
        layer: String,
        value: f32,
        channel: usize,
        #[label("act_step {value}")]
        span: Span,
    },

    #[error("the act_step of `{layer}` is {value} (channel {channel}): the akida engine divides by zero with it")]
    #[diagnostic(
        code(convert::act_step_unusable),
        help("the engine holds `floor(16·act_step)` in a register of 28 bits and crashes when it is a multiple of 2^28 or reaches 2^31; such a step comes from an extreme scale factor: check the layer's batch norm (`gamma_min: 0.01`) and quantizer")
    )]
    ActStepUnusable {
        layer: String,
        value: f32,
        channel: usize,
        #[label("act_step {value}")]
        span: Span,
    },
}
