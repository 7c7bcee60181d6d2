//! Synthetic programs: random valid weights with thresholds and act_steps calibrated so that
//! every layer's activations look like a trained network's (a chosen fraction of zeros, the top
//! level reached by a few percent of the values). Used by benchmarks and tests, never by the
//! compiler.
//!
//! Calibration runs the simulator on seeded random images, one layer at a time: layer `i` is
//! first run without activation, then its threshold is set to the `zero_fraction` quantile of
//! each channel's potentials and its act_step so that the 97th percentile reaches the top level.

use super::program::{
    Dims, Layer, LayerKind, Padding, Pooling, Program, ProgramError, SourceHash, Target,
};
use super::sim::{LayerOutput, SimError, Simulator};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The shape of one synthetic layer; weights and numbers are generated.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerSpec {
    /// Layer name.
    pub name: String,
    /// Akida layer type.
    pub kind: LayerKind,
    /// Output channels.
    pub filters: u32,
    /// Square kernel size (1 for fully-connected layers).
    pub kernel: u32,
    /// Square stride (1 for fully-connected layers).
    pub stride: u32,
    /// Convolution (and max pooling) padding.
    pub padding: Padding,
    /// Pooling of the potentials.
    pub pooling: Pooling,
    /// Weight bit-width; weights are uniform in its symmetric range.
    pub weights_bits: u8,
    /// Activation bit-width.
    pub act_bits: u8,
}

impl LayerSpec {
    /// A convolutional-type layer (input, standard or separable) with SAME padding, stride 1,
    /// no pooling, 4-bit weights (8-bit for the input convolution) and 4-bit activations.
    pub fn conv(name: &str, kind: LayerKind, filters: u32, kernel: u32) -> LayerSpec {
        LayerSpec {
            name: name.to_owned(),
            kind,
            filters,
            kernel,
            stride: 1,
            padding: Padding::Same,
            pooling: Pooling::None,
            weights_bits: if kind == LayerKind::InputConvolutional {
                8
            } else {
                4
            },
            act_bits: 4,
        }
    }

    /// A fully-connected layer with 4-bit weights and activations.
    pub fn dense(name: &str, units: u32) -> LayerSpec {
        LayerSpec {
            kernel: 1,
            padding: Padding::Valid,
            ..LayerSpec::conv(name, LayerKind::FullyConnected, units, 1)
        }
    }

    /// The same layer with another pooling.
    pub fn pooled(self, pooling: Pooling) -> LayerSpec {
        LayerSpec { pooling, ..self }
    }

    /// The same layer with another stride.
    pub fn strided(self, stride: u32) -> LayerSpec {
        LayerSpec { stride, ..self }
    }

    /// The same layer with another padding.
    pub fn padded(self, padding: Padding) -> LayerSpec {
        LayerSpec { padding, ..self }
    }

    /// The same layer with other bit-widths.
    pub fn bits(self, weights_bits: u8, act_bits: u8) -> LayerSpec {
        LayerSpec {
            weights_bits,
            act_bits,
            ..self
        }
    }
}

/// How to generate and calibrate a synthetic program.
#[derive(Clone, Debug, PartialEq)]
pub struct Recipe {
    /// Model name (also hashed as the source).
    pub model_name: String,
    /// Shape of one uint8 input image.
    pub input: Dims,
    /// The layers, in order.
    pub layers: Vec<LayerSpec>,
    /// Seed of the weights and of the calibration images.
    pub seed: u64,
    /// Random images used to calibrate thresholds.
    pub calibration_images: usize,
    /// Fraction of each channel's activations that should be zero (the threshold quantile).
    pub zero_fraction: f64,
    /// Whether the last layer has an activation too (otherwise it outputs potentials).
    pub last_activation: bool,
}

/// Why a synthetic program could not be built.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SynthError {
    #[error(transparent)]
    Program(#[from] ProgramError),
    #[error(transparent)]
    Sim(#[from] SimError),
}

impl Recipe {
    /// Seeded random uint8 images `(count, H, W, C)`.
    pub fn random_images(&self, count: usize, seed: u64) -> ndarray::Array4<u8> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let d = self.input;
        ndarray::Array4::from_shape_simple_fn(
            (
                count,
                d.height as usize,
                d.width as usize,
                d.channels as usize,
            ),
            || rng.random(),
        )
    }

    /// Builds the program: random weights, then calibration layer by layer.
    pub fn build(&self) -> Result<Program, SynthError> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let images = self.random_images(self.calibration_images, self.seed ^ 0x5eed);
        let mut program = Program {
            model_name: self.model_name.clone(),
            source_sha256: SourceHash::of(self.model_name.as_bytes()),
            target: Target::Software,
            input: self.input,
            layers: Vec::with_capacity(self.layers.len()),
        };
        for (index, spec) in self.layers.iter().enumerate() {
            let input = program.layers.last().map_or(self.input, |l| l.output_dims);
            let mut layer = random_layer(spec, input, &mut rng);
            program.layers.push(layer.clone());
            if index + 1 < self.layers.len() || self.last_activation {
                let potentials = match Simulator::new(&program)?.run(images.view())? {
                    LayerOutput::Potentials(p) => p,
                    LayerOutput::Levels(_) => {
                        unreachable!("the layer under calibration has no activation")
                    }
                };
                calibrate(&mut layer, &potentials, self.zero_fraction);
                *program.layers.last_mut().expect("just pushed") = layer;
            }
        }
        program.validate()?;
        Ok(program)
    }
}

/// A layer with random weights, activation off, thresholds 0 and act_steps 1.
fn random_layer(spec: &LayerSpec, input: Dims, rng: &mut ChaCha8Rng) -> Layer {
    let dense = spec.kind == LayerKind::FullyConnected;
    let mut layer = Layer {
        name: spec.name.clone(),
        kind: spec.kind,
        input_dims: input,
        output_dims: Dims::new(1, 1, spec.filters),
        kernel: [spec.kernel; 2],
        strides: [spec.stride; 2],
        padding: spec.padding,
        padding_value: 0,
        pooling: spec.pooling,
        weights_bits: spec.weights_bits,
        act_bits: spec.act_bits,
        activation: false,
        weights: Vec::new(),
        weights_pw: Vec::new(),
        thresholds: vec![0; spec.filters as usize],
        act_steps: vec![1.0; spec.filters as usize],
    };
    if !dense {
        let conv = layer.conv_dims().unwrap_or(Dims::new(0, 0, spec.filters));
        layer.output_dims = match spec.pooling {
            Pooling::None => conv,
            Pooling::GlobalAverage => Dims::new(1, 1, spec.filters),
            Pooling::Max { .. } => match layer.pool_axes(conv) {
                Some([h, w]) => Dims::new(h.output, w.output, spec.filters),
                None => Dims::new(0, 0, spec.filters),
            },
        };
    }
    let max = i32::from(super::program::weight_max(spec.weights_bits.clamp(2, 8)));
    let mut draw =
        |n: u64| -> Vec<i8> { (0..n).map(|_| rng.random_range(-max..=max) as i8).collect() };
    layer.weights = draw(layer.weights_shape().iter().product());
    layer.weights_pw = draw(layer.weights_pw_shape().iter().product());
    layer
}

/// Sets thresholds and act_steps from `potentials` (batch, H, W, F) and turns activation on.
fn calibrate(layer: &mut Layer, potentials: &ndarray::Array4<i32>, zero_fraction: f64) {
    let top = f64::from(layer.max_level());
    for (c, column) in potentials.axis_iter(ndarray::Axis(3)).enumerate() {
        let mut values: Vec<i32> = column.iter().copied().collect();
        values.sort_unstable();
        let quantile = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
        let threshold = quantile(zero_fraction);
        let high = f64::from(quantile(0.97)) - f64::from(threshold);
        // Level = ceil((P − T)·2^b / (16·act_step)): reach `top` at the 97th percentile.
        let step =
            (high.max(1.0) * f64::from(1u32 << layer.act_bits) / (16.0 * top)).max(1.0 / 16.0);
        layer.thresholds[c] = threshold;
        layer.act_steps[c] = step as f32;
    }
    layer.activation = true;
}
