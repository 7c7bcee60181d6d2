//! Lowering errors: every problem `ir::lower` finds in a syntactically valid file.
//!
//! Lowering collects all of them (it does not stop at the first), so each variant carries the
//! spans it needs and nothing else. Codes are stable: tests and editors rely on them.

use crate::source::Span;
use miette::Diagnostic;
use thiserror::Error;

#[derive(Clone, Debug, Error, Diagnostic, PartialEq)]
pub enum LowerError {
    #[error("unknown layer `{name}`")]
    #[diagnostic(code(lower::unknown_layer))]
    UnknownLayer {
        name: String,
        #[label("not a layer")]
        span: Span,
        #[help]
        help: Option<String>,
    },

    #[error("unknown quantizer kind `{name}`")]
    #[diagnostic(code(lower::unknown_quantizer_kind))]
    UnknownQuantizerKind {
        name: String,
        #[label("not a quantizer kind")]
        span: Span,
        #[help]
        help: Option<String>,
    },

    #[error("`{callee}` has no argument `{arg}`")]
    #[diagnostic(code(lower::unknown_argument))]
    UnknownArgument {
        callee: String,
        arg: String,
        #[label("unknown argument")]
        span: Span,
        #[help]
        help: Option<String>,
    },

    #[error("argument `{arg}` is given twice")]
    #[diagnostic(code(lower::duplicate_argument), help("remove one of the two"))]
    DuplicateArgument {
        arg: String,
        #[label("given again here")]
        span: Span,
        #[label("first given here")]
        first: Span,
    },

    #[error("`{callee}` needs {what}")]
    #[diagnostic(code(lower::missing_argument))]
    MissingArgument {
        callee: String,
        what: String,
        #[label("{label}")]
        span: Span,
        label: String,
        #[help]
        help: Option<String>,
    },

    #[error("{message}")]
    #[diagnostic(code(lower::too_many_arguments))]
    TooManyPositional {
        message: String,
        #[label("{label}")]
        span: Span,
        label: String,
        #[help]
        help: Option<String>,
    },

    #[error("positional arguments follow a keyword argument")]
    #[diagnostic(
        code(lower::positional_after_keyword),
        help("give positional arguments first, then `key: value` arguments")
    )]
    PositionalAfterKeyword {
        #[label("positional")]
        span: Span,
        #[label("after this keyword argument")]
        keyword: Span,
    },

    #[error("`{arg}` expects {expected}, found {found}")]
    #[diagnostic(code(lower::type_mismatch))]
    TypeMismatch {
        arg: String,
        expected: String,
        found: String,
        #[label("expected {expected}")]
        span: Span,
        #[help]
        help: Option<String>,
    },

    #[error("`{arg}` must be {requirement}, found `{value}`")]
    #[diagnostic(code(lower::out_of_range))]
    OutOfRange {
        arg: String,
        value: String,
        requirement: String,
        #[label("out of range")]
        span: Span,
        #[help]
        help: Option<String>,
    },

    #[error("`{value}` is not a valid `{arg}`")]
    #[diagnostic(code(lower::unknown_value))]
    UnknownValue {
        arg: String,
        value: String,
        #[label("expected one of {options}")]
        span: Span,
        options: String,
        #[help]
        help: Option<String>,
    },

    #[error("division by zero")]
    #[diagnostic(code(lower::division_by_zero), help("the divisor evaluates to 0"))]
    DivisionByZero {
        #[label("this is 0")]
        span: Span,
    },

    #[error("the layer name `{name}` is used twice in model `{model}`")]
    #[diagnostic(code(lower::duplicate_layer))]
    DuplicateLayer {
        name: String,
        model: String,
        #[label("{second_label}")]
        span: Span,
        second_label: String,
        #[label("{first_label}")]
        first: Span,
        first_label: String,
        #[help]
        help: Option<String>,
    },

    #[error("the quantizer `{name}` is defined twice")]
    #[diagnostic(code(lower::duplicate_quantizer), help("rename one of them"))]
    DuplicateQuantizer {
        name: String,
        #[label("defined again here")]
        span: Span,
        #[label("first defined here")]
        first: Span,
    },

    #[error("the model `{name}` is defined twice")]
    #[diagnostic(code(lower::duplicate_model), help("rename one of them"))]
    DuplicateModel {
        name: String,
        #[label("defined again here")]
        span: Span,
        #[label("first defined here")]
        first: Span,
    },

    #[error("no quantizer named `{name}`")]
    #[diagnostic(code(lower::unknown_quantizer))]
    UnknownQuantizer {
        name: String,
        #[label("not defined")]
        span: Span,
        #[help]
        help: Option<String>,
    },

    #[error("model `{model}` has no `input(...)`")]
    #[diagnostic(
        code(lower::missing_input),
        help("start the model with its input, e.g. `input([28, 28, 1], scale: 255)`")
    )]
    MissingInput {
        model: String,
        #[label("this model needs an input")]
        span: Span,
    },

    #[error("`input(...)` must come first")]
    #[diagnostic(
        code(lower::input_not_first),
        help("move `input(...)` before every layer")
    )]
    InputNotFirst {
        #[label("input declared here")]
        span: Span,
        #[label("after this layer")]
        after: Span,
    },

    #[error("model `{model}` has two inputs")]
    #[diagnostic(
        code(lower::duplicate_input),
        help("a model has exactly one input; remove one")
    )]
    DuplicateInput {
        model: String,
        #[label("second input")]
        span: Span,
        #[label("first input")]
        first: Span,
    },

    #[error("model `{model}` has two `quantize(...)` statements")]
    #[diagnostic(
        code(lower::duplicate_quantize),
        help("keep one `quantize(...)`; give single layers their own quantizer to mix bit-widths")
    )]
    DuplicateQuantize {
        model: String,
        #[label("second one")]
        span: Span,
        #[label("first one")]
        first: Span,
    },

    #[error("`{callee}` cannot be named")]
    #[diagnostic(
        code(lower::named_statement),
        help("only layers have names; remove `{name} =`")
    )]
    NamedStatement {
        callee: String,
        name: String,
        #[label("this name")]
        span: Span,
    },

    #[error("model `{model}` has no layers")]
    #[diagnostic(
        code(lower::empty_model),
        help("add layers after the input, e.g. `dense(10)`")
    )]
    EmptyModel {
        model: String,
        #[label("empty model")]
        span: Span,
    },

    #[error("the file defines no model")]
    #[diagnostic(code(lower::no_model), help("add `model NAME {{ input(...) … }}`"))]
    NoModel {
        #[label("end of file")]
        span: Span,
    },

    #[error("the quantization bit-width must be higher than 1, found {bits}")]
    #[diagnostic(code(lower::weight_bits))]
    WeightBits {
        bits: i64,
        #[label("{bits}-bit weights")]
        span: Span,
        #[help]
        help: Option<String>,
    },

    #[error("the activation bit-width must be greater than zero, found {bits}")]
    #[diagnostic(
        code(lower::activation_bits),
        help("quantized activations take at least 1 bit (the AKD1000 takes 1, 2 or 4); use `relu()` for a float activation")
    )]
    ActivationBits {
        bits: i64,
        #[label("{bits}-bit activation")]
        span: Span,
    },

    #[error("the input shape must be `[height, width, channels]` or `[length]`, found {found}")]
    #[diagnostic(code(lower::input_shape))]
    InputShape {
        found: String,
        #[label("{found}")]
        span: Span,
        #[help]
        help: Option<String>,
    },

    #[error("the input scale must be strictly positive, found `{value}`")]
    #[diagnostic(
        code(lower::input_scale),
        help("`scale` relates integer inputs to float ones: `x_u8 = scale · x_float + offset`; for images in 0..255 read as 0..1 use `scale: 255`")
    )]
    InputScale {
        value: String,
        #[label("must be > 0")]
        span: Span,
    },

    #[error("`quantizer_dw` needs `quantizer`")]
    #[diagnostic(
        code(lower::quantizer_dw_alone),
        help("give the pointwise quantizer with `quantizer: …`; `quantizer_dw` only overrides the depthwise one")
    )]
    QuantizerDwAlone {
        #[label("depthwise quantizer without a pointwise one")]
        span: Span,
    },

    #[error("unknown name `{name}` in a scale formula")]
    #[diagnostic(code(quantizer::unknown_variable))]
    ScaleVariable {
        name: String,
        #[label("not `w`, `kmax` or `bits`")]
        span: Span,
        #[help]
        help: Option<String>,
    },

    #[error("unknown function `{name}` in a scale formula")]
    #[diagnostic(code(quantizer::unknown_function))]
    ScaleFunction {
        name: String,
        #[label("not a formula function")]
        span: Span,
        #[help]
        help: Option<String>,
    },

    #[error("`{name}` takes {expected}, found {found}")]
    #[diagnostic(code(quantizer::arity))]
    ScaleArity {
        name: String,
        expected: String,
        found: usize,
        #[label("wrong number of arguments")]
        span: Span,
    },

    #[error("the scale formula gives one value per weight, not a scale factor")]
    #[diagnostic(
        code(quantizer::not_reduced),
        help("reduce `w` with `max`, `min`, `mean` or `std`, e.g. `kmax / max(abs(w))`")
    )]
    ScaleNotReduced {
        #[label("this depends on each weight")]
        span: Span,
    },

    #[error("quantizer `{name}` is never used")]
    #[diagnostic(
        code(lower::unused_quantizer),
        severity(Warning),
        help("pass it to a layer with `quantizer: {name}`, or remove it")
    )]
    UnusedQuantizer {
        name: String,
        #[label("defined here")]
        span: Span,
    },

    #[error("the {kind} {window} of `{layer}` does not fit its {input} input")]
    #[diagnostic(code(shape::window_too_large))]
    WindowTooLarge {
        layer: String,
        kind: String,
        window: String,
        input: String,
        #[label("{window} {kind} on a {input} input")]
        span: Span,
        #[help]
        help: Option<String>,
    },

    #[error("`{layer}` ({class}) needs an image input, found {found}")]
    #[diagnostic(code(shape::needs_image))]
    NeedsImage {
        layer: String,
        class: String,
        found: String,
        #[label("input shape {found}")]
        span: Span,
        #[help]
        help: Option<String>,
    },

    #[error("{what}, more than the limit of {limit}")]
    #[diagnostic(code(shape::too_large))]
    TooLarge {
        /// What is too large and how large, e.g. "the output of `conv2d` has 1,234 elements".
        what: String,
        limit: String,
        #[label("too large")]
        span: Span,
        #[help]
        help: Option<String>,
    },
}
