//! `emit`: a converted IR model and its weights → an NSoC [`Program`] (`docs/conversion.md`
//! §7.2–§7.6; the § numbers below are that document's).
//!
//! Per block: integer weights recomputed with the block's quantizers on the (folded) float
//! weights, laid out as Akida holds them (§7.3); thresholds and act_steps from the input
//! scaling, the scale factors, the bias and the activation (§7.4), with the f32/f64 arithmetic
//! of cnn2snn 2.19.3 under NumPy 2 (§10); the next block's input scaling from this block's
//! activation step (§7.5); a last block without activation outputs potentials (§7.6).

use super::{Block, BlockPool, EmitError};
use crate::backend::nsoc::{
    Dims, Layer as HwLayer, LayerKind, Pooling, Program, SourceHash, Target,
};
use crate::ir::{Model, Op, Padding};
use crate::params::Params;
use crate::quant::{build, QuantizedActivation, ScaleFactor};
use ndarray::{ArrayD, Axis, Ix1};

/// What the emitter computed for one block besides the program, for diagnostics that trace a
/// value back to its cause.
#[derive(Clone, Debug)]
pub struct BlockTrace {
    /// The block's input scale (`in_scale` of docs/conversion.md §7.4).
    pub in_scale: f64,
    /// The weights scale factor per output channel (depthwise × pointwise for separable).
    pub scale_factor: Vec<f32>,
    /// The bias per output channel (0 without bias).
    pub bias: Vec<f32>,
    /// The thresholds before the floor and the cast (`T` of docs/conversion.md §7.4).
    pub raw_thresholds: Vec<f64>,
    /// The global-average-pooling factor `G` (1 without).
    pub pool_factor: u64,
}

/// A program and its per-layer traces.
#[derive(Clone, Debug)]
pub struct Emitted {
    pub program: Program,
    pub traces: Vec<BlockTrace>,
}

/// Emits the program of `model` (after the conversion passes) grouped into `blocks`.
pub fn emit(
    model: &Model,
    params: &Params,
    blocks: &[Block],
    source: &str,
    target: Target,
) -> Result<Emitted, Vec<EmitError>> {
    let mut errs = Vec::new();
    let mut layers = Vec::new();
    let mut traces = Vec::new();
    let dims3 = |s: &crate::ir::Shape| match s.dims() {
        [h, w, c] => Dims::new(*h as u32, *w as u32, *c as u32),
        [n] => Dims::new(1, 1, *n as u32),
        other => unreachable!("IR shapes have rank 1 or 3, not {}", other.len()),
    };
    let input = &model.input;
    // docs/conversion.md §7.1: input_akida = scale · input_keras + offset.
    let (mut in_scale, mut in_shift) = (input.scale, input.offset);
    let padding_value = input.offset.trunc();
    if !(0.0..=255.0).contains(&padding_value) {
        errs.push(EmitError::PaddingValue {
            offset: input.offset,
            span: input.span,
        });
    }
    let mut prev_out = dims3(&input.shape);
    for (bi, block) in blocks.iter().enumerate() {
        let neural = &model.layers[block.neural];
        let out_layer = &model.layers[block.last()];
        let output_dims = dims3(&out_layer.output_shape);
        let kind = block.kind;
        let quantizers = neural.op.quantizers();
        let bits = quantizers
            .last()
            .expect("blocks hold quantized layers")
            .1
            .spec
            .bits;
        let activation = block.activation.map(|i| match &model.layers[i].op {
            Op::QuantizedActivation(spec) => QuantizedActivation::new(spec),
            _ => unreachable!("block activations are quantized activations"),
        });
        // What the akida engine refuses when the layer is built.
        let geometry = match &neural.op {
            Op::Conv2D(c) => Some((c.kernel, c.strides)),
            Op::SeparableConv2D(c) => Some((c.kernel, c.strides)),
            _ => None,
        };
        let mut refused = false;
        if let Some((kernel, strides)) = geometry {
            if kernel.iter().any(|k| k % 2 == 0) {
                errs.push(EmitError::EvenKernel {
                    layer: neural.name.clone(),
                    kernel,
                    span: neural.span,
                });
                refused = true;
            } else if kind != LayerKind::InputConvolutional
                && (strides[0] > kernel[0] || strides[1] > kernel[1])
            {
                errs.push(EmitError::StridesBeyondKernel {
                    layer: neural.name.clone(),
                    kernel,
                    strides,
                    span: neural.span,
                });
                refused = true;
            }
        }
        if let BlockPool::Max { layer } = block.pool {
            let pool = &model.layers[layer];
            if let Op::MaxPool(p) = &pool.op {
                if p.strides[0] > p.size[0] || p.strides[1] > p.size[1] {
                    errs.push(EmitError::PoolStrides {
                        layer: pool.name.clone(),
                        size: p.size,
                        strides: p.strides,
                        span: pool.span,
                    });
                    refused = true;
                }
            }
        }
        if bits > 8 {
            errs.push(EmitError::WideWeights {
                layer: neural.name.clone(),
                bits,
                span: neural.span,
            });
            refused = true;
        }
        if refused {
            // Go on with the next blocks, to report their problems too.
            if let Some(a) = &activation {
                in_scale = 1.0 / a.step as f64;
                in_shift = 0.0;
            }
            prev_out = output_dims;
            continue;
        }
        // docs/conversion.md §7.3: integers and scale factors, recomputed on the folded weights.
        let integers = |var: &str| -> (ArrayD<i32>, ScaleFactor) {
            let (_, q) = quantizers
                .iter()
                .find(|(v, _)| *v == var)
                .expect("the variable has a quantizer");
            let quantizer = build(&q.spec);
            let w = params.expect(&neural.name, var).view();
            let out = quantizer.quantize_all(w);
            (out.int, out.sf)
        };
        let filters = output_dims.channels as usize;
        let (weights, weights_pw, sf): (Vec<i8>, Vec<i8>, Vec<f32>) = match &neural.op {
            Op::Conv2D(_) => {
                let (w, sf) = integers("kernel");
                let w = if kind == LayerKind::InputConvolutional {
                    w
                } else {
                    flip(w)
                };
                (to_i8(&w), Vec::new(), sf.per_column(filters))
            }
            Op::SeparableConv2D(_) => {
                let (dw, sf_dw) = integers("depthwise_kernel");
                let (pw, sf_pw) = integers("pointwise_kernel");
                // The depthwise factor is a scalar (or one value, the last axis being 1):
                // sf = sf_dw · sf_pw, an f32 product.
                let dw_factor = sf_dw.as_slice()[0];
                let sf: Vec<f32> = sf_pw
                    .per_column(filters)
                    .iter()
                    .map(|&p| dw_factor * p)
                    .collect();
                (to_i8(&flip(dw)), to_i8(&pw), sf)
            }
            Op::Dense(_) => {
                let (w, sf) = integers("kernel");
                // Keras (X·Y·C, N) → (X, Y, C, N) → (C, Y, X, N) → (1, 1, C·Y·X, N).
                let (x, y, c) = (
                    prev_out.height as usize,
                    prev_out.width as usize,
                    prev_out.channels as usize,
                );
                let w = w
                    .into_shape_with_order((x, y, c, filters))
                    .expect("a dense kernel has X·Y·C rows")
                    .permuted_axes([2, 1, 0, 3]);
                let w = w.as_standard_layout().to_owned().into_dyn();
                (to_i8(&w), Vec::new(), sf.per_column(filters))
            }
            _ => unreachable!("a block opens with a neural layer"),
        };
        // docs/conversion.md §7.4: thresholds and steps.
        let bias: Vec<f32> = match params.get(&neural.name, "bias") {
            Some(b) => b
                .view()
                .into_dimensionality::<Ix1>()
                .expect("a bias is a vector")
                .to_vec(),
            None => vec![0.0; filters],
        };
        let (thr, step16) = match &activation {
            Some(a) => (
                a.threshold as f64,
                a.step as f64 * 2f64.powi(a.bits as i32) / 16.0,
            ),
            None => (0.0, 1.0),
        };
        // A batch norm kept in the thresholds (`fold::bn_in_thresholds`): with
        // s = gamma / sqrt(var + ε) > 0, the activation of s·(x + b − μ) + β at threshold thr
        // and step δ is the activation of x + b at threshold μ + (thr − β)/s and step δ/s.
        let bn_terms: Option<Vec<(f64, f64)>> = block.bn.map(|i| {
            let Op::BatchNorm(op) = &model.layers[i].op else {
                unreachable!("a block's batch norm is a batch norm")
            };
            let name = &model.layers[i].name;
            let vec = |var: &str| -> Vec<f32> {
                params
                    .expect(name, var)
                    .view()
                    .into_dimensionality::<Ix1>()
                    .expect("batch-norm variables are vectors")
                    .to_vec()
            };
            let (gamma, beta, mean, var) = (
                vec("gamma"),
                vec("beta"),
                vec("moving_mean"),
                vec("moving_variance"),
            );
            (0..filters)
                .map(|j| {
                    let scale = gamma[j] as f64 / (var[j] as f64 + op.epsilon).sqrt();
                    assert!(
                        scale > 0.0,
                        "the fold pass admits only positive gammas in thresholds"
                    );
                    let shift = mean[j] as f64 - beta[j] as f64 / scale;
                    (shift, 1.0 / scale)
                })
                .collect()
        });
        let pool_factor: u64 = match block.pool {
            BlockPool::GlobalAverage { layer } => model.layers[layer]
                .input_shape
                .hw()
                .iter()
                .map(|&d| d as u64)
                .product(),
            _ => 1,
        };
        // Σ W_int over (kh, kw, C) per filter: the input shift's share of the potential.
        let sums: Vec<i64> = if kind == LayerKind::InputConvolutional {
            let mut s = vec![0i64; filters];
            for (i, &v) in weights.iter().enumerate() {
                s[i % filters] += i64::from(v);
            }
            s
        } else {
            vec![0; filters]
        };
        let mut thresholds = Vec::with_capacity(filters);
        let mut act_steps = Vec::with_capacity(filters);
        let mut raw = Vec::with_capacity(filters);
        let mut out_of_range: Vec<(usize, f64)> = Vec::new();
        for j in 0..filters {
            // NumPy 2 (NEP 50), as cnn2snn 2.19.3 runs: `input_scale · sf` is an f32 product
            // whether sf is an f32 array (per axis) or an f32 scalar (per tensor), because the
            // input scale is a Python float (first block) or `1 / np.float32(step)`, itself an
            // f32. (NumPy 1.x promoted the per-tensor product to f64.)
            let a = f64::from((in_scale as f32) * sf[j]);
            // thr' = μ + (thr − β)/s = (μ − β/s) + thr·(1/s); the step scales by 1/s.
            let (thr, step16) = match &bn_terms {
                Some(terms) => (terms[j].0 + thr * terms[j].1, step16 * terms[j].1),
                None => (thr, step16),
            };
            let mut t = a * (thr - bias[j] as f64);
            if kind == LayerKind::InputConvolutional {
                t += sums[j] as f64 * in_shift;
            }
            t *= pool_factor as f64;
            let step = ((a * step16) as f32 as f64 * pool_factor as f64) as f32;
            raw.push(t);
            let floored = t.floor();
            if (i32::MIN as f64..=i32::MAX as f64).contains(&floored) {
                thresholds.push(floored as i32);
            } else {
                out_of_range.push((j, t));
                thresholds.push(0);
            }
            act_steps.push(step);
        }
        if let Some(&(channel, value)) = out_of_range.first() {
            errs.push(EmitError::ThresholdRange {
                layer: neural.name.clone(),
                channel,
                value,
                count: out_of_range.len(),
                span: neural.span,
            });
        }
        let (kernel, strides, padding) = match &neural.op {
            Op::Conv2D(c) => (c.kernel, c.strides, c.padding),
            Op::SeparableConv2D(c) => (c.kernel, c.strides, c.padding),
            _ => ([1, 1], [1, 1], Padding::Valid),
        };
        let pooling = match block.pool {
            BlockPool::None => Pooling::None,
            BlockPool::GlobalAverage { .. } => Pooling::GlobalAverage,
            BlockPool::Max { layer } => match &model.layers[layer].op {
                Op::MaxPool(p) => Pooling::Max {
                    size: p.size.map(|v| v as u32),
                    stride: p.strides.map(|v| v as u32),
                },
                _ => unreachable!("a max-pool block points at a max pooling"),
            },
        };
        layers.push(HwLayer {
            name: neural.name.clone(),
            kind,
            input_dims: prev_out,
            output_dims,
            kernel: kernel.map(|v| v as u32),
            strides: strides.map(|v| v as u32),
            padding,
            padding_value: if kind == LayerKind::InputConvolutional {
                padding_value.clamp(0.0, 255.0) as u8
            } else {
                0
            },
            pooling,
            weights_bits: bits as u8,
            act_bits: activation.as_ref().map_or(1, |a| a.bits as u8),
            activation: activation.is_some(),
            weights,
            weights_pw,
            thresholds,
            act_steps,
        });
        traces.push(BlockTrace {
            in_scale,
            scale_factor: sf,
            bias,
            raw_thresholds: raw,
            pool_factor,
        });
        // docs/conversion.md §7.5: the next block reads integer levels n with Keras value n·step.
        if let Some(a) = &activation {
            in_scale = 1.0 / a.step as f64;
            in_shift = 0.0;
        }
        prev_out = output_dims;
        let _ = bi;
    }
    if !errs.is_empty() {
        return Err(errs);
    }
    let program = Program {
        model_name: model.name.clone(),
        source_sha256: SourceHash::of(source.as_bytes()),
        target,
        input: dims3(&input.shape),
        layers,
    };
    Ok(Emitted { program, traces })
}

/// Flips a `(kh, kw, …)` kernel on both spatial axes (Akida convolutions are true
/// convolutions).
fn flip(mut w: ArrayD<i32>) -> ArrayD<i32> {
    w.invert_axis(Axis(0));
    w.invert_axis(Axis(1));
    w.as_standard_layout().to_owned()
}

fn to_i8(w: &ArrayD<i32>) -> Vec<i8> {
    w.iter()
        .map(|&v| i8::try_from(v).expect("quantized integers of at most 8 bits fit i8"))
        .collect()
}
