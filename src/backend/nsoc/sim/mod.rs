//! The integer simulator: runs a [`Program`] on uint8 NHWC images exactly as Akida 1.0's
//! software engine does (`docs/conversion.md` §8), with integer arithmetic only.
//!
//! - InputConvolutional: cross-correlation over the uint8 image, SAME borders filled with
//!   `padding_value`; Convolutional / SeparableConvolutional: true convolution (the stored kernel
//!   is flipped) with zero borders; Keras SAME/VALID geometry ([`geometry`](super::geometry)).
//! - Max pooling on the potentials, before the activation, with the layer's padding; global
//!   average pooling is the sum of the potentials.
//! - Activation: `clip(ceil((P − threshold)·2^act_bits / floor(16·act_step)), 0, 2^act_bits − 1)`
//!   ([`activation`]); a last layer without activation returns the raw i32 potentials, which
//!   [`Simulator::dequantize`] maps to Akida's `predict` values.
//!
//! Groups of images run in parallel (rayon), each thread reusing one scratch workspace; see
//! `exec` and [`kernels`] for how the arithmetic is laid out for speed.

pub mod activation;
mod exec;
pub mod kernels;

use super::program::{Dims, Program, ProgramError};
use exec::{run_group, Final, Plan, Workspace};
use kernels::Isa;
use ndarray::{Array4, ArrayView4, ArrayViewD, Axis};
use rayon::prelude::*;

/// Why a simulation could not run.
#[derive(Clone, Debug, PartialEq, thiserror::Error, miette::Diagnostic)]
pub enum SimError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Invalid(#[from] ProgramError),
    #[error("input has shape {found:?} but the program takes images of shape {expected} (height, width, channels), one image or a batch")]
    #[diagnostic(help("give an array of shape (batch, height, width, channels)"))]
    InputShape { expected: Dims, found: Vec<usize> },
    #[error("input value {value} at index {index:?} is outside the uint8 range 0..=255")]
    #[diagnostic(help(
        "inputs are the uint8 images the model was compiled for (`x_u8 = scale·x + offset`)"
    ))]
    InputRange { value: i64, index: Vec<usize> },
    #[error(
        "the last layer `{layer}` has an activation, so there are no potentials to dequantize"
    )]
    NoPotentials { layer: String },
    #[error("potentials have shape {found:?} but the program outputs {expected} per image")]
    PotentialShape { expected: Dims, found: Vec<usize> },
}

/// The output of one layer for a batch, NHWC.
#[derive(Clone, Debug, PartialEq)]
pub enum LayerOutput {
    /// Activation levels `0..=2^act_bits − 1` (Akida's uint8 outputs).
    Levels(Array4<u8>),
    /// Raw potentials of a last layer without activation (Akida `forward`).
    Potentials(Array4<i32>),
}

impl LayerOutput {
    /// The levels, if this is an activation layer's output.
    pub fn levels(&self) -> Option<&Array4<u8>> {
        match self {
            LayerOutput::Levels(a) => Some(a),
            LayerOutput::Potentials(_) => None,
        }
    }

    /// The potentials, if this is a last layer without activation.
    pub fn potentials(&self) -> Option<&Array4<i32>> {
        match self {
            LayerOutput::Potentials(a) => Some(a),
            LayerOutput::Levels(_) => None,
        }
    }
}

/// What dequantization needs from the last layer.
#[derive(Clone, Debug)]
struct LastLayer {
    name: String,
    activation: bool,
    thresholds: Vec<i32>,
    act_steps: Vec<f32>,
}

/// A validated program prepared for fast integer inference.
#[derive(Clone, Debug)]
pub struct Simulator {
    plan: Plan,
    outputs: Vec<Dims>,
    last: LastLayer,
}

impl Simulator {
    /// Validates and prepares `program`, using the best SIMD kernels of this CPU.
    pub fn new(program: &Program) -> Result<Simulator, SimError> {
        Simulator::with_isa(program, Isa::detect())
    }

    /// Like [`Simulator::new`] but with the portable kernels only (the same results, slower;
    /// for cross-checking the SIMD paths).
    pub fn new_portable(program: &Program) -> Result<Simulator, SimError> {
        Simulator::with_isa(program, Isa::Portable)
    }

    fn with_isa(program: &Program, isa: Isa) -> Result<Simulator, SimError> {
        program.validate()?;
        let last = program
            .layers
            .last()
            .expect("validated programs have layers");
        Ok(Simulator {
            plan: Plan::new(program, isa),
            outputs: program.layers.iter().map(|l| l.output_dims).collect(),
            last: LastLayer {
                name: last.name.clone(),
                activation: last.activation,
                thresholds: last.thresholds.clone(),
                act_steps: last.act_steps.clone(),
            },
        })
    }

    /// Shape of one input image.
    pub fn input_dims(&self) -> Dims {
        self.plan.input
    }

    /// Shape of one output.
    pub fn output_dims(&self) -> Dims {
        *self.outputs.last().expect("validated programs have layers")
    }

    /// Runs a batch `(N, H, W, C)` and returns the last layer's output.
    pub fn run(&self, input: ArrayView4<'_, u8>) -> Result<LayerOutput, SimError> {
        let images = self.images(&input)?;
        let n = input.len_of(Axis(0));
        let in_len = self.plan.input.elements() as usize;
        let out = self.output_dims();
        let shape = (
            n,
            out.height as usize,
            out.width as usize,
            out.channels as usize,
        );
        let out_len = out.elements() as usize;
        if self.last.activation {
            let mut data = vec![0u8; n * out_len];
            self.for_each_group(&images, in_len, &mut data, out_len, |fin, o| match fin {
                Final::Levels(levels) => o.copy_from_slice(levels),
                Final::Potentials(_) => unreachable!("an activation layer outputs levels"),
            });
            Ok(LayerOutput::Levels(to_array(shape, data)))
        } else {
            let mut data = vec![0i32; n * out_len];
            self.for_each_group(&images, in_len, &mut data, out_len, |fin, o| match fin {
                Final::Potentials(p) => o.copy_from_slice(p),
                Final::Levels(_) => unreachable!("a layer without activation outputs potentials"),
            });
            Ok(LayerOutput::Potentials(to_array(shape, data)))
        }
    }

    /// Runs a batch and returns every layer's output, in layer order.
    pub fn run_all(&self, input: ArrayView4<'_, u8>) -> Result<Vec<LayerOutput>, SimError> {
        let images = self.images(&input)?;
        let n = input.len_of(Axis(0));
        let in_len = self.plan.input.elements() as usize;
        let per_group: Vec<Vec<LayerOutputData>> = images
            .par_chunks(self.plan.group * in_len)
            .map_init(
                || Workspace::new(&self.plan),
                |ws, group| {
                    let mut layers = Vec::with_capacity(self.outputs.len());
                    let mut record = |_: usize, levels: &[u8]| {
                        layers.push(LayerOutputData::Levels(levels.to_vec()));
                    };
                    let fin = match run_group(&self.plan, ws, group, Some(&mut record)) {
                        Final::Levels(l) => LayerOutputData::Levels(l.to_vec()),
                        Final::Potentials(p) => LayerOutputData::Potentials(p.to_vec()),
                    };
                    layers.push(fin);
                    layers
                },
            )
            .collect();
        let outputs = self
            .outputs
            .iter()
            .enumerate()
            .map(|(i, dims)| {
                let shape = (
                    n,
                    dims.height as usize,
                    dims.width as usize,
                    dims.channels as usize,
                );
                let last_potentials = i + 1 == self.outputs.len() && !self.last.activation;
                if last_potentials {
                    let data = per_group.iter().flat_map(|l| l[i].potentials()).collect();
                    LayerOutput::Potentials(to_array(shape, data))
                } else {
                    let data = per_group.iter().flat_map(|l| l[i].levels()).collect();
                    LayerOutput::Levels(to_array(shape, data))
                }
            })
            .collect();
        Ok(outputs)
    }

    /// Akida `predict`: the last layer's potentials dequantized, `(P − threshold) / act_step`.
    pub fn predict(&self, input: ArrayView4<'_, u8>) -> Result<Array4<f32>, SimError> {
        self.check_potentials_exist()?;
        match self.run(input)? {
            LayerOutput::Potentials(p) => self.dequantize(p.view()),
            LayerOutput::Levels(_) => unreachable!("checked that the last layer has no activation"),
        }
    }

    /// Dequantizes potentials of the last layer: per channel `(P − threshold) / act_step`, the
    /// difference exact, rounded once to f32, then one f32 division (bit-exact with Akida).
    pub fn dequantize(&self, potentials: ArrayView4<'_, i32>) -> Result<Array4<f32>, SimError> {
        self.check_potentials_exist()?;
        let out = self.output_dims();
        let expected = [out.height, out.width, out.channels].map(|d| d as usize);
        if potentials.shape()[1..] != expected {
            return Err(SimError::PotentialShape {
                expected: out,
                found: potentials.shape().to_vec(),
            });
        }
        let mut result = potentials.mapv(|_| 0f32);
        for ((idx, &p), r) in potentials.indexed_iter().zip(result.iter_mut()) {
            let c = idx.3;
            *r = activation::dequantize(p, self.last.thresholds[c], self.last.act_steps[c]);
        }
        Ok(result)
    }

    /// Converts an integer array — one image `(H, W, C)` or a batch `(N, H, W, C)` — into the
    /// uint8 batch [`Simulator::run`] takes, checking shape and range.
    pub fn input_from<T>(&self, array: ArrayViewD<'_, T>) -> Result<Array4<u8>, SimError>
    where
        T: Copy + Into<i64>,
    {
        let d = self.plan.input;
        let dims = [d.height, d.width, d.channels].map(|v| v as usize);
        let shape_err = || SimError::InputShape {
            expected: d,
            found: array.shape().to_vec(),
        };
        let batch = match array.ndim() {
            3 if array.shape() == dims => 1,
            4 if array.shape()[1..] == dims => array.shape()[0],
            _ => return Err(shape_err()),
        };
        let mut data = Vec::with_capacity(array.len());
        for (index, &v) in array.indexed_iter() {
            let value: i64 = v.into();
            let byte = u8::try_from(value).map_err(|_| SimError::InputRange {
                value,
                index: ndarray::Dimension::slice(&index).to_vec(),
            })?;
            data.push(byte);
        }
        Ok(to_array((batch, dims[0], dims[1], dims[2]), data))
    }

    fn check_potentials_exist(&self) -> Result<(), SimError> {
        if self.last.activation {
            return Err(SimError::NoPotentials {
                layer: self.last.name.clone(),
            });
        }
        Ok(())
    }

    /// The batch as one contiguous slice, after checking its shape.
    fn images<'a>(
        &self,
        input: &'a ArrayView4<'_, u8>,
    ) -> Result<std::borrow::Cow<'a, [u8]>, SimError> {
        let d = self.plan.input;
        let dims = [d.height, d.width, d.channels].map(|v| v as usize);
        if input.shape()[1..] != dims {
            return Err(SimError::InputShape {
                expected: d,
                found: input.shape().to_vec(),
            });
        }
        Ok(match input.as_slice() {
            Some(s) => std::borrow::Cow::Borrowed(s),
            None => std::borrow::Cow::Owned(input.iter().copied().collect()),
        })
    }

    /// Runs the groups of images in parallel, handing each group's final output to `store`
    /// with its slot.
    fn for_each_group<T: Send>(
        &self,
        images: &[u8],
        in_len: usize,
        out: &mut [T],
        out_len: usize,
        store: impl Fn(Final<'_>, &mut [T]) + Sync,
    ) {
        out.par_chunks_mut(self.plan.group * out_len)
            .zip(images.par_chunks(self.plan.group * in_len))
            .for_each_init(
                || Workspace::new(&self.plan),
                |ws, (o, group)| store(run_group(&self.plan, ws, group, None), o),
            );
    }
}

/// One group's output of one layer, before the batch is assembled.
enum LayerOutputData {
    Levels(Vec<u8>),
    Potentials(Vec<i32>),
}

impl LayerOutputData {
    fn levels(&self) -> impl Iterator<Item = u8> + '_ {
        match self {
            LayerOutputData::Levels(v) => v.iter().copied(),
            LayerOutputData::Potentials(_) => unreachable!("layer outputs levels"),
        }
    }

    fn potentials(&self) -> impl Iterator<Item = i32> + '_ {
        match self {
            LayerOutputData::Potentials(v) => v.iter().copied(),
            LayerOutputData::Levels(_) => unreachable!("layer outputs potentials"),
        }
    }
}

fn to_array<T>(shape: (usize, usize, usize, usize), data: Vec<T>) -> Array4<T> {
    Array4::from_shape_vec(shape, data).expect("output buffer matches its shape")
}
