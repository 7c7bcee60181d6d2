//! The NSoC program data model: an ordered list of Akida 1.0 layers holding integer weights,
//! integer thresholds and activation steps, and the invariants every program satisfies.
//!
//! A [`Program`] is what the emitter produces, what a `.nsoc` file stores and what the simulator
//! runs. It mirrors what `cnn2snn.convert` builds (`docs/conversion.md` §7.2–§7.6): one
//! [`Layer`] per Keras block, with Akida's parameters and variables.
//!
//! # Weight layouts
//!
//! All weights are `i8`, row-major, in exactly the layout Akida holds them
//! (`docs/conversion.md` §7.3):
//!
//! | kind | `weights` shape | notes |
//! |---|---|---|
//! | [`LayerKind::InputConvolutional`] | `(kh, kw, C, F)` | not flipped: a cross-correlation over the uint8 input |
//! | [`LayerKind::Convolutional`] | `(kh, kw, C, F)` | **flipped** on both spatial axes: a true convolution |
//! | [`LayerKind::SeparableConvolutional`] | `(kh, kw, C, 1)` depthwise, flipped; `weights_pw` `(1, 1, C, F)` | |
//! | [`LayerKind::FullyConnected`] | `(1, 1, H·W·C, N)` | row `c·(H·W) + w·H + h` for input cell `(h, w, c)` |
//!
//! Here `(H, W, C)` are the layer's input dims (Keras height, width, channels; Akida calls them
//! `(X, Y, C)`), `F`/`N` its output channels. The fully-connected row order is Akida's
//! `c·Y·X + y·X + x` with `x` the Keras row.
//!
//! # Numbers
//!
//! `thresholds` (i32) and `act_steps` (f32) have one entry per output channel. With activation
//! on, a potential `P` becomes the level `clip(ceil((P − threshold)·2^act_bits / k), 0,
//! 2^act_bits − 1)` with `k = floor(16·act_step)` (`docs/conversion.md` §8). A last layer
//! without activation outputs `P` itself, and `(P − threshold) / act_step` dequantizes it
//! (`docs/conversion.md` §7.6).

use super::geometry::Axis;
use serde::{Deserialize, Serialize};
use std::fmt;

pub use super::geometry::Padding;

/// Longest layer or model name, in bytes.
pub const MAX_NAME_BYTES: usize = 255;
/// Largest kernel, stride or pool size along one axis.
pub const MAX_WINDOW: u32 = 255;
/// The engine saturates pooled and fully-connected potentials to the signed 20-bit range
/// `SATURATION_MIN..=SATURATION_MAX` (measured on akida 2.19.3, `docs/engine-arithmetic.md`).
pub const SATURATION_MIN: i32 = -(1 << 19);
/// See [`SATURATION_MIN`].
pub const SATURATION_MAX: i32 = (1 << 19) - 1;
/// Largest number of values in one feature map (`H·W·C`), before or after pooling.
pub const MAX_MAP_ELEMENTS: u64 = 1 << 26;

/// What the program was compiled for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// The integer simulator: only the engine's own rules apply.
    Software,
    /// The AKD1000 chip: the compiler checked every rule of the chip (`crate::target`).
    Akd1000,
}

impl Target {
    /// The command-line spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Target::Software => "software",
            Target::Akd1000 => "akd1000",
        }
    }
}

/// The SHA-256 digest of the `.q` source a program was compiled from (hex in text dumps).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SourceHash(pub [u8; 32]);

impl SourceHash {
    /// The digest of `source`.
    pub fn of(source: &[u8]) -> SourceHash {
        use sha2::Digest;
        SourceHash(sha2::Sha256::digest(source).into())
    }

    /// Lowercase hex, 64 characters.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Parses 64 hex digits.
    pub fn from_hex(text: &str) -> Option<SourceHash> {
        let bytes = text.as_bytes();
        if bytes.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            let digits = std::str::from_utf8(pair).ok()?;
            out[i] = u8::from_str_radix(digits, 16).ok()?;
        }
        Some(SourceHash(out))
    }
}

impl fmt::Debug for SourceHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SourceHash({})", self.to_hex())
    }
}

impl Serialize for SourceHash {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for SourceHash {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        SourceHash::from_hex(&text)
            .ok_or_else(|| serde::de::Error::custom("expected 64 hexadecimal digits"))
    }
}

/// A feature-map shape: Keras height, width, channels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Dims {
    /// Rows (Keras axis 1, Akida `x`).
    pub height: u32,
    /// Columns (Keras axis 2, Akida `y`).
    pub width: u32,
    /// Channels, the innermost axis.
    pub channels: u32,
}

impl Dims {
    /// `(height, width, channels)`.
    pub const fn new(height: u32, width: u32, channels: u32) -> Dims {
        Dims {
            height,
            width,
            channels,
        }
    }

    /// Number of values, `H·W·C`, saturating at `u64::MAX` (three `u32`s can exceed `u64`;
    /// a wrapped product could pass the size checks of a decoded program).
    pub fn elements(&self) -> u64 {
        self.pixels().saturating_mul(u64::from(self.channels))
    }

    /// Number of pixels, `H·W`.
    pub fn pixels(&self) -> u64 {
        u64::from(self.height) * u64::from(self.width)
    }
}

impl fmt::Display for Dims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({}, {}, {})", self.height, self.width, self.channels)
    }
}

/// The four Akida 1.0 neural layer types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LayerKind {
    /// The first layer: a convolution over the uint8 image (Akida's HRC).
    InputConvolutional,
    /// A standard convolution over activation levels.
    Convolutional,
    /// Depthwise then pointwise convolution, without rounding in between.
    SeparableConvolutional,
    /// A dense layer over the whole (flattened) input.
    FullyConnected,
}

impl LayerKind {
    /// Akida's name for the kind.
    pub fn as_str(self) -> &'static str {
        match self {
            LayerKind::InputConvolutional => "InputConvolutional",
            LayerKind::Convolutional => "Convolutional",
            LayerKind::SeparableConvolutional => "SeparableConvolutional",
            LayerKind::FullyConnected => "FullyConnected",
        }
    }

    /// Whether the kind slides a kernel (everything but fully-connected).
    pub fn is_convolutional(self) -> bool {
        !matches!(self, LayerKind::FullyConnected)
    }
}

impl fmt::Display for LayerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Pooling applied to the potentials of a layer, before its activation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pooling {
    /// No pooling.
    None,
    /// Max pooling with Keras geometry and the layer's padding.
    Max {
        /// Window `(height, width)`.
        size: [u32; 2],
        /// Step `(height, width)`, at most the window.
        stride: [u32; 2],
    },
    /// Global average pooling, which Akida computes as the **sum** of the potentials over all
    /// pixels (the `1/(H·W)` lives in the threshold and act_step).
    GlobalAverage,
}

/// One Akida layer: a neural operation, optional pooling and optional activation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Layer {
    /// The `.q` layer name of the neural layer that opened the block.
    pub name: String,
    /// The Akida layer type.
    pub kind: LayerKind,
    /// Dims of the layer's input: the program input or the previous layer's output.
    pub input_dims: Dims,
    /// Dims after pooling: what the next layer receives.
    pub output_dims: Dims,
    /// `(height, width)`, odd; `(1, 1)` for fully-connected layers.
    pub kernel: [u32; 2],
    /// `(height, width)`; `(1, 1)` for fully-connected layers.
    pub strides: [u32; 2],
    /// Convolution padding, also used by max pooling; `valid` for fully-connected layers.
    pub padding: Padding,
    /// The value SAME padding inserts around the uint8 input (`int(input_shift)`); 0 for every
    /// layer but the input convolution.
    pub padding_value: u8,
    /// Pooling of the potentials, before the activation.
    pub pooling: Pooling,
    /// Weight bit-width: 2..=8 for the input convolution, 2, 4 or 8 otherwise. Weights lie in
    /// the symmetric range `±(2^(bits−1) − 1)`.
    pub weights_bits: u8,
    /// Activation bit-width, 1, 2 or 4: levels `0..=2^act_bits − 1`.
    pub act_bits: u8,
    /// Whether potentials go through the activation; only the last layer may turn it off.
    pub activation: bool,
    /// Weights in Akida layout (see the module docs); the depthwise kernel for separable layers.
    pub weights: Vec<i8>,
    /// The pointwise kernel `(1, 1, C, F)` of a separable layer; empty otherwise.
    pub weights_pw: Vec<i8>,
    /// One fire threshold per output channel.
    pub thresholds: Vec<i32>,
    /// One activation step per output channel.
    pub act_steps: Vec<f32>,
}

/// A compiled model: metadata, the uint8 input shape and the layers in order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Program {
    /// The `.q` model name.
    pub model_name: String,
    /// SHA-256 of the `.q` source text.
    pub source_sha256: SourceHash,
    /// What the program was compiled for.
    pub target: Target,
    /// Shape of one uint8 input image.
    pub input: Dims,
    /// The layers in execution order; layer 0 is the input convolution.
    pub layers: Vec<Layer>,
}

/// Which layer an error is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerRef {
    /// Position in [`Program::layers`].
    pub index: usize,
    /// The layer's name.
    pub name: String,
}

/// A broken program invariant, with the layer it was found in.
#[derive(Clone, Debug, PartialEq, thiserror::Error, miette::Diagnostic)]
#[error("{}{kind}", .layer.as_ref().map(|l| format!("layer {} `{}`: ", l.index, l.name.escape_debug())).unwrap_or_default())]
#[diagnostic(
    code(nsoc::invalid_program),
    help("programs come from `qnnc compile`; recompile the model instead of editing the file")
)]
pub struct ProgramError {
    /// The layer at fault, or `None` for program-level problems.
    pub layer: Option<LayerRef>,
    /// What is wrong.
    pub kind: ProgramErrorKind,
}

/// What is wrong with a program.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ProgramErrorKind {
    #[error("the program has no layers")]
    NoLayers,
    #[error("the {what} name is empty")]
    EmptyName { what: &'static str },
    #[error("the {what} name is {len} bytes long (at most {MAX_NAME_BYTES})")]
    LongName { what: &'static str, len: usize },
    #[error("the {what} name contains a control character")]
    ControlInName { what: &'static str },
    #[error("the name is also used by layer {first}")]
    DuplicateName { first: usize },
    #[error("the first layer is {found}, not InputConvolutional")]
    FirstNotInput { found: LayerKind },
    #[error("InputConvolutional is only allowed as the first layer")]
    InputNotFirst,
    #[error("{what} {dims} has a zero size")]
    ZeroDims { what: &'static str, dims: Dims },
    #[error("{what} {dims} holds more than {MAX_MAP_ELEMENTS} values")]
    HugeDims { what: &'static str, dims: Dims },
    #[error("input dims {found} do not match {expected}, the {source_of}")]
    InputDims {
        expected: Dims,
        found: Dims,
        source_of: &'static str,
    },
    #[error("output dims {found} do not match {expected}, what the layer computes")]
    OutputDims { expected: Dims, found: Dims },
    #[error("weights_bits {bits} is not supported (expected {allowed})")]
    WeightsBits { bits: u8, allowed: &'static str },
    #[error("act_bits {bits} is not supported (expected 1, 2 or 4)")]
    ActBits { bits: u8 },
    #[error("kernel ({}, {}) is invalid (sizes must be odd and at most {MAX_WINDOW})", .kernel[0], .kernel[1])]
    Kernel { kernel: [u32; 2] },
    #[error("strides ({}, {}) are invalid (must be 1..={MAX_WINDOW})", .strides[0], .strides[1])]
    Strides { strides: [u32; 2] },
    #[error("strides ({}, {}) exceed the kernel ({}, {}), which the akida engine refuses for this kind", .strides[0], .strides[1], .kernel[0], .kernel[1])]
    StridesBeyondKernel { strides: [u32; 2], kernel: [u32; 2] },
    #[error(
        "a fully-connected layer needs kernel (1, 1), strides (1, 1), valid padding and no pooling"
    )]
    DenseGeometry,
    #[error("padding_value {value} is only meaningful for InputConvolutional (expected 0)")]
    PaddingValue { value: u8 },
    #[error("max pooling size ({}, {}) / stride ({}, {}) is invalid (sizes 1..={MAX_WINDOW}, 1 <= stride <= size)", .size[0], .size[1], .stride[0], .stride[1])]
    MaxPool { size: [u32; 2], stride: [u32; 2] },
    #[error("the {what} leaves no output for input {input}")]
    NoOutput { what: &'static str, input: Dims },
    #[error("{what} holds {found} values but shape {shape} needs {expected}")]
    Length {
        what: &'static str,
        shape: String,
        expected: u64,
        found: usize,
    },
    #[error("{what}[{index}] = {value} is outside the {bits}-bit range -{max}..={max}")]
    WeightRange {
        what: &'static str,
        index: usize,
        value: i8,
        bits: u8,
        max: i8,
    },
    #[error("act_steps[{channel}] = {value} is not a finite positive number")]
    ActStepNotPositive { channel: usize, value: f32 },
    #[error("act_steps[{channel}] = {value} is below 1/16, the smallest step Akida supports")]
    ActStepTooSmall { channel: usize, value: f32 },
    #[error("only the last layer may turn its activation off")]
    ActivationOff,
    #[error("act_steps[{channel}] = {value} makes the akida engine divide by zero (floor(16·act_step) must be below 2^31 and not a multiple of 2^28)")]
    ActStepUnusable { channel: usize, value: f32 },
}

impl ProgramError {
    fn program(kind: ProgramErrorKind) -> ProgramError {
        ProgramError { layer: None, kind }
    }
}

/// Largest magnitude of a weight of `bits` bits (symmetric range, docs/conversion.md §1.1, §8).
pub fn weight_max(bits: u8) -> i8 {
    assert!(
        (2..=8).contains(&bits),
        "weight bit-width {bits} outside 2..=8"
    );
    ((1i32 << (bits - 1)) - 1) as i8
}

impl Layer {
    /// Number of output channels (`F`, or `N` for fully-connected layers).
    pub fn filters(&self) -> u32 {
        self.output_dims.channels
    }

    /// Highest activation level, `2^act_bits − 1`.
    pub fn max_level(&self) -> u32 {
        (1u32 << self.act_bits) - 1
    }

    /// The 4-D shape of `weights` in Akida layout.
    pub fn weights_shape(&self) -> [u64; 4] {
        let [kh, kw] = self.kernel.map(u64::from);
        let c = u64::from(self.input_dims.channels);
        let f = u64::from(self.filters());
        match self.kind {
            LayerKind::InputConvolutional | LayerKind::Convolutional => [kh, kw, c, f],
            LayerKind::SeparableConvolutional => [kh, kw, c, 1],
            LayerKind::FullyConnected => [1, 1, self.input_dims.elements(), f],
        }
    }

    /// The 4-D shape of `weights_pw` (all zeros but for separable layers).
    pub fn weights_pw_shape(&self) -> [u64; 4] {
        match self.kind {
            LayerKind::SeparableConvolutional => [
                1,
                1,
                u64::from(self.input_dims.channels),
                u64::from(self.filters()),
            ],
            _ => [0; 4],
        }
    }

    /// Number of weights (depthwise plus pointwise for separable layers).
    pub fn parameter_count(&self) -> usize {
        self.weights.len() + self.weights_pw.len()
    }

    /// Multiply-accumulates of one inference (depthwise plus pointwise for separable layers).
    pub fn mac_count(&self) -> u64 {
        let pixels = self.conv_dims().map_or(0, |d| d.pixels());
        match self.kind {
            LayerKind::FullyConnected => self.weights.len() as u64,
            LayerKind::SeparableConvolutional => {
                pixels * (self.weights.len() + self.weights_pw.len()) as u64
            }
            _ => pixels * self.weights.len() as u64,
        }
    }

    /// Geometry of the convolution along height and width, before pooling.
    pub fn conv_axes(&self) -> Option<[Axis; 2]> {
        let h = Axis::new(
            self.input_dims.height,
            self.kernel[0],
            self.strides[0],
            self.padding,
        )?;
        let w = Axis::new(
            self.input_dims.width,
            self.kernel[1],
            self.strides[1],
            self.padding,
        )?;
        Some([h, w])
    }

    /// Geometry of the max pooling over the convolution output `conv`.
    pub fn pool_axes(&self, conv: Dims) -> Option<[Axis; 2]> {
        match self.pooling {
            Pooling::Max { size, stride } => {
                let h = Axis::new(conv.height, size[0], stride[0], self.padding)?;
                let w = Axis::new(conv.width, size[1], stride[1], self.padding)?;
                Some([h, w])
            }
            Pooling::None | Pooling::GlobalAverage => None,
        }
    }

    /// Dims of the potentials before pooling, or `None` when the kernel does not fit.
    pub fn conv_dims(&self) -> Option<Dims> {
        if self.kind == LayerKind::FullyConnected {
            return Some(Dims::new(1, 1, self.filters()));
        }
        let [h, w] = self.conv_axes()?;
        Some(Dims::new(h.output, w.output, self.filters()))
    }

    /// Upper bound of one output pixel's `|P|` before pooling, over all channels and inputs in
    /// `0..=max_input` (saturating). Above `i32::MAX` the engine's 32-bit sums wrap.
    pub fn pixel_bound(&self, max_input: u32) -> u64 {
        let m = u64::from(max_input);
        let f = self.filters() as usize;
        if f == 0 {
            return 0;
        }
        let abs_column_sums = |weights: &[i8], columns: usize, scale: &dyn Fn(usize) -> u64| {
            let mut sums = vec![0u64; columns];
            for (i, &w) in weights.iter().enumerate() {
                let row = i / columns;
                let term = u64::from(w.unsigned_abs()).saturating_mul(scale(row));
                sums[i % columns] = sums[i % columns].saturating_add(term);
            }
            sums.into_iter().max().unwrap_or(0)
        };
        match self.kind {
            LayerKind::SeparableConvolutional => {
                let dw = self.depthwise_bounds(max_input);
                abs_column_sums(&self.weights_pw, f, &|c| dw.get(c).copied().unwrap_or(0))
            }
            _ => abs_column_sums(&self.weights, f, &|_| m),
        }
    }

    /// Whether the engine saturates this layer's potentials to the signed 20-bit range
    /// ([`SATURATION_MIN`]): fully-connected layers and max pooling (other than 1×1) clamp the
    /// result, global average pooling saturates its running sum.
    pub fn saturates(&self) -> bool {
        match (self.kind, self.pooling) {
            (LayerKind::FullyConnected, _) | (_, Pooling::GlobalAverage) => true,
            (_, Pooling::Max { size, .. }) => size != [1, 1],
            (_, Pooling::None) => false,
        }
    }

    /// Upper bound of `|P|` where the activation (or the output) sees it: the pixel bound,
    /// summed over the pixels of a global average pooling, limited by the engine's saturation,
    /// and `2^31` when 32-bit wrapping can give any value.
    pub fn potential_bound(&self, max_input: u32) -> u64 {
        let pixel = self.pixel_bound(max_input);
        let sum = match self.pooling {
            Pooling::GlobalAverage => {
                pixel.saturating_mul(self.conv_dims().map_or(0, |d| d.pixels()))
            }
            Pooling::None | Pooling::Max { .. } => pixel,
        };
        if self.saturates() {
            sum.min(SATURATION_MIN.unsigned_abs().into())
        } else {
            sum.min(1 << 31)
        }
    }

    /// Per input channel, the bound of `|depthwise output|` of a separable layer.
    pub fn depthwise_bounds(&self, max_input: u32) -> Vec<u64> {
        assert_eq!(
            self.kind,
            LayerKind::SeparableConvolutional,
            "depthwise bounds asked of a {} layer",
            self.kind
        );
        let c = self.input_dims.channels as usize;
        let mut sums = vec![0u64; c];
        if c == 0 {
            return sums;
        }
        for (i, &w) in self.weights.iter().enumerate() {
            let term = u64::from(w.unsigned_abs()) * u64::from(max_input);
            sums[i % c] = sums[i % c].saturating_add(term);
        }
        sums
    }
}

impl Program {
    /// Dims of the final output.
    pub fn output_dims(&self) -> Option<Dims> {
        self.layers.last().map(|l| l.output_dims)
    }

    /// Total number of weights.
    pub fn parameter_count(&self) -> usize {
        self.layers.iter().map(Layer::parameter_count).sum()
    }

    /// The largest input value layer `index` can receive: 255 for the uint8 image, else the
    /// previous layer's highest level.
    pub fn max_input(&self, index: usize) -> u32 {
        match index {
            0 => 255,
            i => self.layers[i - 1].max_level(),
        }
    }

    /// Checks every invariant the format, the simulator and Akida rely on.
    pub fn validate(&self) -> Result<(), ProgramError> {
        check_name("model", &self.model_name).map_err(ProgramError::program)?;
        check_dims("program input", self.input).map_err(ProgramError::program)?;
        if self.layers.is_empty() {
            return Err(ProgramError::program(ProgramErrorKind::NoLayers));
        }
        for (index, layer) in self.layers.iter().enumerate() {
            self.validate_layer(index).map_err(|kind| ProgramError {
                layer: Some(LayerRef {
                    index,
                    name: layer.name.clone(),
                }),
                kind,
            })?;
        }
        Ok(())
    }

    fn validate_layer(&self, index: usize) -> Result<(), ProgramErrorKind> {
        let layer = &self.layers[index];
        let is_last = index + 1 == self.layers.len();
        check_name("layer", &layer.name)?;
        if let Some(first) = self.layers[..index]
            .iter()
            .position(|l| l.name == layer.name)
        {
            return Err(ProgramErrorKind::DuplicateName { first });
        }
        match (index, layer.kind) {
            (0, LayerKind::InputConvolutional) => {}
            (0, found) => return Err(ProgramErrorKind::FirstNotInput { found }),
            (_, LayerKind::InputConvolutional) => return Err(ProgramErrorKind::InputNotFirst),
            _ => {}
        }
        let (expected_input, source_of) = match index {
            0 => (self.input, "program input"),
            i => (self.layers[i - 1].output_dims, "previous layer's output"),
        };
        if layer.input_dims != expected_input {
            return Err(ProgramErrorKind::InputDims {
                expected: expected_input,
                found: layer.input_dims,
                source_of,
            });
        }
        check_dims("output", layer.output_dims)?;
        check_bits(layer)?;
        check_geometry(layer)?;
        let conv = layer.conv_dims().ok_or(ProgramErrorKind::NoOutput {
            what: "kernel",
            input: layer.input_dims,
        })?;
        check_dims("convolution output", conv)?;
        let expected_output = match layer.pooling {
            Pooling::None => conv,
            Pooling::GlobalAverage => Dims::new(1, 1, conv.channels),
            Pooling::Max { .. } => {
                let [h, w] = layer.pool_axes(conv).ok_or(ProgramErrorKind::NoOutput {
                    what: "max pooling",
                    input: conv,
                })?;
                Dims::new(h.output, w.output, conv.channels)
            }
        };
        if layer.output_dims != expected_output {
            return Err(ProgramErrorKind::OutputDims {
                expected: expected_output,
                found: layer.output_dims,
            });
        }
        check_arrays(layer)?;
        if !layer.activation && !is_last {
            return Err(ProgramErrorKind::ActivationOff);
        }
        check_act_steps(layer)?;
        Ok(())
    }
}

/// A human-readable summary, one line per layer (what `qnnc inspect` prints as text).
impl fmt::Display for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "model `{}` for {} (source sha256 {})",
            self.model_name.escape_debug(),
            self.target.as_str(),
            self.source_sha256.to_hex()
        )?;
        writeln!(f, "input {} uint8", self.input)?;
        for (i, l) in self.layers.iter().enumerate() {
            let pooling = match l.pooling {
                Pooling::None => String::new(),
                Pooling::Max { size, stride } => format!(
                    ", max pool {}x{}/{}x{}",
                    size[0], size[1], stride[0], stride[1]
                ),
                Pooling::GlobalAverage => ", global average pool".to_owned(),
            };
            let geometry = if l.kind.is_convolutional() {
                format!(
                    ", kernel {}x{}/{}x{} {}",
                    l.kernel[0],
                    l.kernel[1],
                    l.strides[0],
                    l.strides[1],
                    l.padding.as_str()
                )
            } else {
                String::new()
            };
            let output = if l.activation {
                format!("{}-bit levels", l.act_bits)
            } else {
                "potentials".to_owned()
            };
            writeln!(
                f,
                "{i:>3} {:<24} {:<22} {} -> {}{geometry}{pooling}, {}-bit weights ({}), {output}",
                format!("`{}`", l.name.escape_debug()),
                l.kind.as_str(),
                l.input_dims,
                l.output_dims,
                l.weights_bits,
                l.parameter_count(),
            )?;
        }
        write!(
            f,
            "{} layers, {} weights, {} multiply-accumulates per image",
            self.layers.len(),
            self.parameter_count(),
            self.layers.iter().map(Layer::mac_count).sum::<u64>()
        )
    }
}

fn check_name(what: &'static str, name: &str) -> Result<(), ProgramErrorKind> {
    if name.is_empty() {
        return Err(ProgramErrorKind::EmptyName { what });
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(ProgramErrorKind::LongName {
            what,
            len: name.len(),
        });
    }
    if name.chars().any(char::is_control) {
        return Err(ProgramErrorKind::ControlInName { what });
    }
    Ok(())
}

fn check_dims(what: &'static str, dims: Dims) -> Result<(), ProgramErrorKind> {
    if dims.elements() == 0 {
        return Err(ProgramErrorKind::ZeroDims { what, dims });
    }
    if dims.elements() > MAX_MAP_ELEMENTS {
        return Err(ProgramErrorKind::HugeDims { what, dims });
    }
    Ok(())
}

fn check_bits(layer: &Layer) -> Result<(), ProgramErrorKind> {
    let (ok, allowed) = match layer.kind {
        LayerKind::InputConvolutional => ((2..=8).contains(&layer.weights_bits), "2 to 8"),
        _ => (matches!(layer.weights_bits, 2 | 4 | 8), "2, 4 or 8"),
    };
    if !ok {
        return Err(ProgramErrorKind::WeightsBits {
            bits: layer.weights_bits,
            allowed,
        });
    }
    if !matches!(layer.act_bits, 1 | 2 | 4) {
        return Err(ProgramErrorKind::ActBits {
            bits: layer.act_bits,
        });
    }
    Ok(())
}

fn check_geometry(layer: &Layer) -> Result<(), ProgramErrorKind> {
    if layer.kind == LayerKind::FullyConnected {
        let plain = layer.kernel == [1, 1]
            && layer.strides == [1, 1]
            && layer.padding == Padding::Valid
            && layer.pooling == Pooling::None;
        if !plain {
            return Err(ProgramErrorKind::DenseGeometry);
        }
    }
    if layer
        .kernel
        .iter()
        .any(|&k| k == 0 || k % 2 == 0 || k > MAX_WINDOW)
    {
        return Err(ProgramErrorKind::Kernel {
            kernel: layer.kernel,
        });
    }
    if layer.strides.iter().any(|&s| s == 0 || s > MAX_WINDOW) {
        return Err(ProgramErrorKind::Strides {
            strides: layer.strides,
        });
    }
    // The akida engine refuses these layers ("Strides > kernel size are not supported").
    let convolution = matches!(
        layer.kind,
        LayerKind::Convolutional | LayerKind::SeparableConvolutional
    );
    if convolution && (0..2).any(|i| layer.strides[i] > layer.kernel[i]) {
        return Err(ProgramErrorKind::StridesBeyondKernel {
            strides: layer.strides,
            kernel: layer.kernel,
        });
    }
    if layer.kind != LayerKind::InputConvolutional && layer.padding_value != 0 {
        return Err(ProgramErrorKind::PaddingValue {
            value: layer.padding_value,
        });
    }
    if let Pooling::Max { size, stride } = layer.pooling {
        let ok = (0..2)
            .all(|i| (1..=MAX_WINDOW).contains(&size[i]) && stride[i] >= 1 && stride[i] <= size[i]);
        if !ok {
            return Err(ProgramErrorKind::MaxPool { size, stride });
        }
    }
    Ok(())
}

fn shape_text(shape: [u64; 4]) -> String {
    format!("({}, {}, {}, {})", shape[0], shape[1], shape[2], shape[3])
}

fn check_len(
    what: &'static str,
    shape: String,
    expected: u64,
    found: usize,
) -> Result<(), ProgramErrorKind> {
    if found as u64 != expected {
        return Err(ProgramErrorKind::Length {
            what,
            shape,
            expected,
            found,
        });
    }
    Ok(())
}

fn check_arrays(layer: &Layer) -> Result<(), ProgramErrorKind> {
    let shape = layer.weights_shape();
    check_len(
        "weights",
        shape_text(shape),
        shape.iter().product(),
        layer.weights.len(),
    )?;
    let pw_shape = layer.weights_pw_shape();
    let pw_expected = if layer.kind == LayerKind::SeparableConvolutional {
        pw_shape.iter().product()
    } else {
        0
    };
    check_len(
        "weights_pw",
        shape_text(pw_shape),
        pw_expected,
        layer.weights_pw.len(),
    )?;
    let channels = u64::from(layer.filters());
    let per_channel = format!("({channels},)");
    check_len(
        "thresholds",
        per_channel.clone(),
        channels,
        layer.thresholds.len(),
    )?;
    check_len("act_steps", per_channel, channels, layer.act_steps.len())?;
    let max = weight_max(layer.weights_bits);
    for (what, weights) in [
        ("weights", &layer.weights),
        ("weights_pw", &layer.weights_pw),
    ] {
        if let Some((index, &value)) = weights
            .iter()
            .enumerate()
            .find(|(_, w)| w.unsigned_abs() > max.unsigned_abs())
        {
            return Err(ProgramErrorKind::WeightRange {
                what,
                index,
                value,
                bits: layer.weights_bits,
                max,
            });
        }
    }
    Ok(())
}

fn check_act_steps(layer: &Layer) -> Result<(), ProgramErrorKind> {
    for (channel, &value) in layer.act_steps.iter().enumerate() {
        if !(value.is_finite() && value > 0.0) {
            return Err(ProgramErrorKind::ActStepNotPositive { channel, value });
        }
        // The engine refuses a step below 1/16 on every layer, with or without activation.
        if value < 1.0 / 16.0 {
            return Err(ProgramErrorKind::ActStepTooSmall { channel, value });
        }
        if layer.activation && !crate::backend::nsoc::sim::activation::step_usable(value) {
            return Err(ProgramErrorKind::ActStepUnusable { channel, value });
        }
    }
    Ok(())
}
