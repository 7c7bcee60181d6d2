//! The trainable executor: an IR model (after its passes) as a chain of CPU nodes, with a
//! forward pass for inference or training and a backward pass with straight-through
//! estimators through weight quantizers and quantized activations (`docs/conversion.md` §1.2,
//! §2.1).
//!
//! A [`Network`] owns its parameters (named `LAYER/VAR`, as in the weights files) and every
//! buffer it needs; buffers are reused from batch to batch. Quantized kernels are recomputed
//! from the float kernels whenever those change, exactly as CNN2SNN's quantized layers call
//! `quantizer.quantize(kernel)` in every forward pass.

use super::*;
use crate::ir::{Model, Op, Padding as IrPadding};
use crate::params::Params;
use crate::quant::{build, QuantizedActivation, WeightQuantizer};
use ndarray::{Array1, Array2, Array4, ArrayD, ArrayView2, ArrayView4, Ix1, Ix2, Ix4};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// An activation tensor: images `(n, h, w, c)` or vectors `(n, k)`.
#[derive(Debug, Clone)]
pub enum Tensor {
    D4(Array4<f32>),
    D2(Array2<f32>),
}

impl Default for Tensor {
    fn default() -> Self {
        Tensor::D2(Array2::zeros((0, 0)))
    }
}

impl Tensor {
    fn d4(&self) -> ArrayView4<'_, f32> {
        match self {
            Tensor::D4(a) => a.view(),
            Tensor::D2(_) => unreachable!("a layer of an image model got a vector"),
        }
    }

    fn d2(&self) -> ArrayView2<'_, f32> {
        match self {
            Tensor::D2(a) => a.view(),
            Tensor::D4(_) => unreachable!("a layer of a vector model got an image"),
        }
    }

    fn d4_mut(&mut self) -> &mut Array4<f32> {
        if !matches!(self, Tensor::D4(_)) {
            *self = Tensor::D4(Array4::zeros((0, 0, 0, 0)));
        }
        match self {
            Tensor::D4(a) => a,
            Tensor::D2(_) => unreachable!("just made it 4-D"),
        }
    }

    fn d2_mut(&mut self) -> &mut Array2<f32> {
        if !matches!(self, Tensor::D2(_)) {
            *self = Tensor::D2(Array2::zeros((0, 0)));
        }
        match self {
            Tensor::D2(a) => a,
            Tensor::D4(_) => unreachable!("just made it 2-D"),
        }
    }

    /// The values as a dynamic-rank view.
    pub fn view(&self) -> ndarray::ArrayViewD<'_, f32> {
        match self {
            Tensor::D4(a) => a.view().into_dyn(),
            Tensor::D2(a) => a.view().into_dyn(),
        }
    }

    fn slice(&self) -> &[f32] {
        match self {
            Tensor::D4(a) => a.as_slice().expect("executor buffers are contiguous"),
            Tensor::D2(a) => a.as_slice().expect("executor buffers are contiguous"),
        }
    }

    /// A buffer of the same shape as `like`, in `self`'s allocation.
    fn shape_like(&mut self, like: &Tensor) -> &mut [f32] {
        match like {
            Tensor::D4(a) => {
                let b = self.d4_mut();
                reshape_buffer(b, a.raw_dim());
                b.as_slice_mut().expect("executor buffers are contiguous")
            }
            Tensor::D2(a) => {
                let b = self.d2_mut();
                reshape_buffer(b, a.raw_dim());
                b.as_slice_mut().expect("executor buffers are contiguous")
            }
        }
    }

    pub fn batch(&self) -> usize {
        match self {
            Tensor::D4(a) => a.dim().0,
            Tensor::D2(a) => a.dim().0,
        }
    }
}

/// A named parameter with its gradient.
#[derive(Debug)]
pub struct Param {
    pub layer: String,
    pub var: &'static str,
    pub value: ArrayD<f32>,
    pub grad: ArrayD<f32>,
    pub trainable: bool,
}

/// A weight kernel with its optional quantizer and the cached quantized values.
struct Kernel {
    param: usize,
    quantizer: Option<Box<dyn WeightQuantizer>>,
    /// `quantize(kernel)` when there is a quantizer; valid while `fresh`.
    quantized: ArrayD<f32>,
    fresh: bool,
}

impl Kernel {
    fn new(params: &[Param], param: usize, quantizer: Option<Box<dyn WeightQuantizer>>) -> Kernel {
        Kernel {
            param,
            quantizer,
            quantized: ArrayD::zeros(params[param].value.raw_dim()),
            fresh: false,
        }
    }

    /// The kernel the layer computes with: the quantized one, or the float one.
    fn effective<'a>(&'a mut self, params: &'a [Param]) -> &'a ArrayD<f32> {
        match &self.quantizer {
            None => &params[self.param].value,
            Some(q) => {
                if !self.fresh {
                    self.quantized = q.quantize(params[self.param].value.view());
                    self.fresh = true;
                }
                &self.quantized
            }
        }
    }

    /// Turns the gradient with respect to the effective kernel into the float kernel's.
    fn store_grad(&self, params: &mut [Param], d_effective: ArrayD<f32>) {
        let p = &mut params[self.param];
        p.grad = match &self.quantizer {
            None => d_effective,
            Some(q) => q.backward(p.value.view(), d_effective.view()),
        };
    }
}

// One node per layer, built once: the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
enum Node {
    Conv {
        g: Geometry2d,
        kernel: Kernel,
        bias: Option<usize>,
        ws: Conv2dWorkspace,
    },
    Separable {
        g: Geometry2d,
        g1: Geometry2d,
        depthwise: Kernel,
        pointwise: Kernel,
        bias: Option<usize>,
        ws_dw: DepthwiseWorkspace,
        ws_pw: Conv2dWorkspace,
        mid: Array4<f32>,
        dmid: Array4<f32>,
    },
    Dense {
        kernel: Kernel,
        bias: Option<usize>,
        ws: DenseWorkspace,
        /// Dense on an image applies to the last axis (Keras tensordot).
        image: bool,
    },
    MaxPool {
        g: Geometry2d,
        ws: MaxPool2dWorkspace,
    },
    AvgPool {
        g: Geometry2d,
    },
    GlobalAvgPool {
        hw: [usize; 2],
    },
    BatchNorm {
        gamma: usize,
        beta: usize,
        mean: usize,
        var: usize,
        epsilon: f32,
        momentum: f64,
        gamma_min: Option<f64>,
        ws: BatchNormWorkspace,
    },
    Relu {
        max_value: Option<f32>,
    },
    Quantized(QuantizedActivation),
    Flatten,
    Dropout {
        rate: f32,
        mask: DropoutMask,
    },
    Softmax,
}

/// Whether a pass runs in training mode (batch statistics, dropout) or inference mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Inference,
    Training,
}

/// The executor of one model.
pub struct Network {
    cx: Cpu,
    model: Model,
    nodes: Vec<Node>,
    params: Vec<Param>,
    /// `acts[0]` is the input, `acts[i + 1]` the output of node `i`.
    acts: Vec<Tensor>,
    /// Gradient buffers: `grads[i]` is the gradient with respect to `acts[i]`.
    grads: Vec<Tensor>,
    /// The nodes before a final softmax: their output is the logits.
    logits_at: usize,
    input_scale: f32,
    input_offset: f32,
    rng: ChaCha8Rng,
}

fn padding(p: IrPadding) -> Padding {
    match p {
        IrPadding::Valid => Padding::Valid,
        IrPadding::Same => Padding::Same,
    }
}

impl Network {
    /// Builds the executor of `model` (already through its passes) with `params`.
    pub fn new(cx: Cpu, model: &Model, params: &Params, seed: u64) -> Result<Network, CpuError> {
        let mut ps: Vec<Param> = Vec::new();
        let add = |ps: &mut Vec<Param>, layer: &str, var: &'static str, trainable: bool| -> usize {
            let value = params.expect(layer, var).clone();
            ps.push(Param {
                layer: layer.to_string(),
                var,
                grad: ArrayD::zeros(value.raw_dim()),
                value,
                trainable,
            });
            ps.len() - 1
        };
        let mut nodes = Vec::with_capacity(model.layers.len());
        for layer in &model.layers {
            let name = layer.name.as_str();
            let node = match &layer.op {
                Op::Conv2D(c) => {
                    let g = Geometry2d::new(
                        layer.input_shape.hw(),
                        c.kernel,
                        c.strides,
                        padding(c.padding),
                    )?;
                    let k = add(&mut ps, name, "kernel", true);
                    let bias = c.use_bias.then(|| add(&mut ps, name, "bias", true));
                    Node::Conv {
                        g,
                        kernel: Kernel::new(&ps, k, c.quantizer.as_ref().map(|q| build(&q.spec))),
                        bias,
                        ws: Conv2dWorkspace::default(),
                    }
                }
                Op::SeparableConv2D(c) => {
                    let g = Geometry2d::new(
                        layer.input_shape.hw(),
                        c.kernel,
                        c.strides,
                        padding(c.padding),
                    )?;
                    let g1 = Geometry2d::new([g.out_h, g.out_w], [1, 1], [1, 1], Padding::Valid)?;
                    let dw = add(&mut ps, name, "depthwise_kernel", true);
                    let pw = add(&mut ps, name, "pointwise_kernel", true);
                    let bias = c.use_bias.then(|| add(&mut ps, name, "bias", true));
                    Node::Separable {
                        g,
                        g1,
                        depthwise: Kernel::new(
                            &ps,
                            dw,
                            c.quantizer_dw.as_ref().map(|q| build(&q.spec)),
                        ),
                        pointwise: Kernel::new(
                            &ps,
                            pw,
                            c.quantizer.as_ref().map(|q| build(&q.spec)),
                        ),
                        bias,
                        ws_dw: DepthwiseWorkspace::default(),
                        ws_pw: Conv2dWorkspace::default(),
                        mid: Array4::zeros((0, 0, 0, 0)),
                        dmid: Array4::zeros((0, 0, 0, 0)),
                    }
                }
                Op::Dense(d) => {
                    let k = add(&mut ps, name, "kernel", true);
                    let bias = d.use_bias.then(|| add(&mut ps, name, "bias", true));
                    Node::Dense {
                        kernel: Kernel::new(&ps, k, d.quantizer.as_ref().map(|q| build(&q.spec))),
                        bias,
                        ws: DenseWorkspace::default(),
                        image: layer.input_shape.is_image(),
                    }
                }
                Op::MaxPool(p) => Node::MaxPool {
                    g: Geometry2d::new(
                        layer.input_shape.hw(),
                        p.size,
                        p.strides,
                        padding(p.padding),
                    )?,
                    ws: MaxPool2dWorkspace::default(),
                },
                Op::AvgPool(p) => Node::AvgPool {
                    g: Geometry2d::new(
                        layer.input_shape.hw(),
                        p.size,
                        p.strides,
                        padding(p.padding),
                    )?,
                },
                Op::GlobalAvgPool => Node::GlobalAvgPool {
                    hw: layer.input_shape.hw(),
                },
                Op::BatchNorm(bn) => Node::BatchNorm {
                    gamma: add(&mut ps, name, "gamma", true),
                    beta: add(&mut ps, name, "beta", true),
                    mean: add(&mut ps, name, "moving_mean", false),
                    var: add(&mut ps, name, "moving_variance", false),
                    epsilon: bn.epsilon as f32,
                    momentum: bn.momentum,
                    gamma_min: bn.gamma_min,
                    ws: BatchNormWorkspace::default(),
                },
                Op::Relu { max_value } => Node::Relu {
                    max_value: max_value.map(|m| m as f32),
                },
                Op::QuantizedActivation(spec) => Node::Quantized(QuantizedActivation::new(spec)),
                Op::Flatten => Node::Flatten,
                Op::Dropout { rate } => Node::Dropout {
                    rate: *rate as f32,
                    mask: DropoutMask::default(),
                },
                Op::Softmax => Node::Softmax,
            };
            nodes.push(node);
        }
        let logits_at = match nodes.last() {
            Some(Node::Softmax) => nodes.len() - 1,
            _ => nodes.len(),
        };
        let n = nodes.len();
        Ok(Network {
            cx,
            model: model.clone(),
            nodes,
            params: ps,
            acts: (0..=n).map(|_| Tensor::default()).collect(),
            grads: (0..=n).map(|_| Tensor::default()).collect(),
            logits_at,
            input_scale: model.input.scale as f32,
            input_offset: model.input.offset as f32,
            rng: ChaCha8Rng::seed_from_u64(seed),
        })
    }

    /// The executed model.
    pub fn model(&self) -> &Model {
        &self.model
    }

    pub fn cpu(&self) -> &Cpu {
        &self.cx
    }

    /// Whether the model ends with a softmax (so `forward` outputs probabilities).
    pub fn has_softmax(&self) -> bool {
        self.logits_at < self.nodes.len()
    }

    /// Sets the input from uint8 images `(n, h, w, c)` (or `(n, k)` for vector models):
    /// `x = (x_u8 − offset) / scale`, in f32.
    pub fn set_input_u8(&mut self, images: ndarray::ArrayViewD<'_, u8>) {
        let (s, o) = (self.input_scale, self.input_offset);
        // The 256 possible values, each computed exactly as `(x_u8 − offset) / scale` in f32.
        let table: Vec<f32> = (0..=255u8).map(|v| (v as f32 - o) / s).collect();
        match images.as_slice() {
            Some(bytes) => {
                self.set_input_with(images.shape(), bytes.iter().map(|&v| table[v as usize]))
            }
            None => self.set_input_with(images.shape(), images.iter().map(|&v| table[v as usize])),
        }
    }

    /// Sets the input from float values (already `x`, not `x_u8`).
    pub fn set_input_f32(&mut self, x: ndarray::ArrayViewD<'_, f32>) {
        self.set_input_with(x.shape(), x.iter().copied());
    }

    fn set_input_with(&mut self, shape: &[usize], values: impl Iterator<Item = f32>) {
        let expected = self.model.input.shape.dims();
        assert_eq!(&shape[1..], expected, "input shape checked by the caller");
        let n = shape[0];
        let buf: &mut [f32] = match expected.len() {
            3 => {
                let t = self.acts[0].d4_mut();
                reshape_buffer(t, Ix4(n, expected[0], expected[1], expected[2]));
                t.as_slice_mut().expect("contiguous")
            }
            _ => {
                let t = self.acts[0].d2_mut();
                reshape_buffer(t, Ix2(n, expected[0]));
                t.as_slice_mut().expect("contiguous")
            }
        };
        for (o, v) in buf.iter_mut().zip(values) {
            *o = v;
        }
    }

    /// Runs the whole model (softmax included), returning the output.
    pub fn forward(&mut self, mode: Mode) -> &Tensor {
        let n = self.nodes.len();
        self.run(0, n, mode);
        &self.acts[n]
    }

    /// Runs the model up to its logits (a final softmax left out).
    pub fn logits(&mut self, mode: Mode) -> &Tensor {
        let n = self.logits_at;
        self.run(0, n, mode);
        &self.acts[n]
    }

    /// The output of every layer after the last forward pass: `acts[i + 1]` of layer `i`.
    pub fn layer_outputs(&self) -> impl Iterator<Item = (&str, &Tensor)> {
        self.model
            .layers
            .iter()
            .zip(&self.acts[1..])
            .map(|(l, t)| (l.name.as_str(), t))
    }

    fn run(&mut self, from: usize, to: usize, mode: Mode) {
        // Inside the pool, the kernels' parallel sections start without a cross-thread hop.
        let Network {
            cx,
            nodes,
            params,
            acts,
            rng,
            ..
        } = self;
        let cx = &*cx;
        cx.install(|| {
            for i in from..to {
                let (before, after) = acts.split_at_mut(i + 1);
                forward_node(
                    cx,
                    &mut nodes[i],
                    params,
                    &before[i],
                    &mut after[0],
                    mode,
                    rng,
                );
            }
        });
    }

    /// Sparse categorical cross-entropy of the logits (after a training-mode forward) against
    /// `labels`, back-propagated into every parameter's gradient. Returns `(loss, correct)`.
    pub fn train_step_gradients(&mut self, labels: &[u32]) -> Result<(f32, usize), CpuError> {
        let at = self.logits_at;
        self.run(0, at, Mode::Training);
        // INVARIANT: callers train only models whose logits are vectors (checked up front).
        let logits = self.acts[at].d2();
        let correct = count_correct(logits, labels)?;
        let mut dlogits = Array2::zeros((0, 0));
        let loss = softmax_cross_entropy(&self.cx, logits, labels, Some(&mut dlogits))?;
        self.grads[at] = Tensor::D2(dlogits);
        let Network {
            cx,
            nodes,
            params,
            acts,
            grads,
            ..
        } = self;
        let cx = &*cx;
        cx.install(|| {
            for i in (0..at).rev() {
                let (g_before, g_after) = grads.split_at_mut(i + 1);
                let dx = if i > 0 { Some(&mut g_before[i]) } else { None };
                backward_node(
                    cx,
                    &mut nodes[i],
                    params,
                    &acts[i],
                    &acts[i + 1],
                    &g_after[0],
                    dx,
                );
            }
        });
        Ok((loss, correct))
    }

    /// Applies one optimizer step to every trainable parameter, then the batch-norm gamma
    /// constraints (as a Keras constraint runs after each update).
    pub fn apply(&mut self, optimizer: &mut Optimizer) {
        let mut views: Vec<ParamMut<'_>> = self
            .params
            .iter_mut()
            .filter(|p| p.trainable)
            .map(|p| ParamMut {
                value: p.value.as_slice_mut().expect("parameters are contiguous"),
                grad: p.grad.as_slice().expect("gradients are contiguous"),
            })
            .collect();
        let cx = &self.cx;
        cx.install(|| optimizer.step(cx, &mut views));
        for node in &mut self.nodes {
            match node {
                Node::Conv { kernel, .. } | Node::Dense { kernel, .. } => kernel.fresh = false,
                Node::Separable {
                    depthwise,
                    pointwise,
                    ..
                } => {
                    depthwise.fresh = false;
                    pointwise.fresh = false;
                }
                Node::BatchNorm {
                    gamma,
                    gamma_min: Some(min),
                    ..
                } => {
                    let lo = *min as f32;
                    self.params[*gamma].value.mapv_inplace(|g| {
                        if g < lo {
                            lo
                        } else {
                            g.min(f32::MAX)
                        }
                    });
                }
                _ => {}
            }
        }
    }

    /// The current parameters, keyed `LAYER/VAR` as in the executed model.
    pub fn params(&self) -> Params {
        let mut p = Params::new();
        for param in &self.params {
            p.insert(&param.layer, param.var, param.value.clone());
        }
        p
    }

    /// The random stream dropout draws from (saved in training checkpoints).
    pub fn dropout_rng(&self) -> &ChaCha8Rng {
        &self.rng
    }

    /// Replaces the random stream dropout draws from (resuming from a checkpoint).
    pub fn set_dropout_rng(&mut self, rng: ChaCha8Rng) {
        self.rng = rng;
    }

    /// The parameter list (for tests and for gradient checks).
    pub fn parameters(&self) -> &[Param] {
        &self.params
    }

    pub fn parameters_mut(&mut self) -> &mut [Param] {
        for node in &mut self.nodes {
            match node {
                Node::Conv { kernel, .. } | Node::Dense { kernel, .. } => kernel.fresh = false,
                Node::Separable {
                    depthwise,
                    pointwise,
                    ..
                } => {
                    depthwise.fresh = false;
                    pointwise.fresh = false;
                }
                _ => {}
            }
        }
        &mut self.params
    }
}

/// `dst.copy_from_slice(src)`, split over the worker threads.
fn copy_parallel(cx: &Cpu, src: &[f32], dst: &mut [f32]) {
    super::parallel::map_spans(cx, 1, dst, |first, out| {
        out.copy_from_slice(&src[first..first + out.len()])
    });
}

/// A vector parameter.
fn vec1(params: &[Param], i: usize) -> ndarray::ArrayView1<'_, f32> {
    params[i]
        .value
        .view()
        .into_dimensionality::<Ix1>()
        .expect("vector parameter")
}

fn forward_node(
    cx: &Cpu,
    node: &mut Node,
    params: &mut [Param],
    x: &Tensor,
    y: &mut Tensor,
    mode: Mode,
    rng: &mut ChaCha8Rng,
) {
    match node {
        Node::Conv {
            g,
            kernel,
            bias,
            ws,
        } => {
            let k = kernel
                .effective(params)
                .view()
                .into_dimensionality::<Ix4>()
                .expect("4-D kernel");
            let b = bias.map(|b| vec1(params, b));
            conv2d_forward(cx, g, x.d4(), k, b, ws, y.d4_mut());
        }
        Node::Separable {
            g,
            g1,
            depthwise,
            pointwise,
            bias,
            ws_dw,
            ws_pw,
            mid,
            ..
        } => {
            let dk = depthwise
                .effective(params)
                .view()
                .into_dimensionality::<Ix4>()
                .expect("4-D kernel");
            depthwise_conv2d_forward(cx, g, x.d4(), dk, None, ws_dw, mid);
            let pk = pointwise
                .effective(params)
                .view()
                .into_dimensionality::<Ix4>()
                .expect("4-D kernel");
            let b = bias.map(|b| vec1(params, b));
            conv2d_forward(cx, g1, mid.view(), pk, b, ws_pw, y.d4_mut());
        }
        Node::Dense {
            kernel,
            bias,
            image,
            ..
        } => {
            let k = kernel
                .effective(params)
                .view()
                .into_dimensionality::<Ix2>()
                .expect("2-D kernel");
            let b = bias.map(|b| vec1(params, b));
            if *image {
                let xv = x.d4();
                let (n, h, w, c) = xv.dim();
                let flat = xv
                    .into_shape_with_order((n * h * w, c))
                    .expect("contiguous activations");
                let mut out = Array2::zeros((0, 0));
                dense_forward(cx, flat, k, b, &mut out);
                let units = out.dim().1;
                *y = Tensor::D4(
                    out.into_shape_with_order((n, h, w, units))
                        .expect("row-major output"),
                );
            } else {
                dense_forward(cx, x.d2(), k, b, y.d2_mut());
            }
        }
        Node::MaxPool { g, ws } => {
            let train = mode == Mode::Training;
            max_pool2d_forward(cx, g, x.d4(), y.d4_mut(), train.then_some(ws));
        }
        Node::AvgPool { g } => avg_pool2d_forward(cx, g, x.d4(), y.d4_mut()),
        Node::GlobalAvgPool { .. } => global_avg_pool2d_forward(cx, x.d4(), y.d2_mut()),
        Node::BatchNorm {
            gamma,
            beta,
            mean,
            var,
            epsilon,
            momentum,
            ws,
            ..
        } => {
            let (g, b) = (params[*gamma].value.clone(), params[*beta].value.clone());
            let p = BatchNormParams {
                gamma: g.view().into_dimensionality::<Ix1>().expect("vector"),
                beta: b.view().into_dimensionality::<Ix1>().expect("vector"),
                epsilon: *epsilon,
            };
            match mode {
                Mode::Inference => {
                    let (m, v) = (vec1(params, *mean), vec1(params, *var));
                    match x {
                        Tensor::D4(a) => batch_norm_inference(cx, a.view(), &p, m, v, y.d4_mut()),
                        Tensor::D2(a) => batch_norm_inference(cx, a.view(), &p, m, v, y.d2_mut()),
                    }
                }
                Mode::Training => {
                    let (lo, hi) = if *mean < *var {
                        (*mean, *var)
                    } else {
                        (*var, *mean)
                    };
                    let (a, bb) = params.split_at_mut(hi);
                    let (m_param, v_param) = if *mean < *var {
                        (&mut a[lo], &mut bb[0])
                    } else {
                        (&mut bb[0], &mut a[lo])
                    };
                    let mut m = std::mem::take(&mut m_param.value)
                        .into_dimensionality::<Ix1>()
                        .expect("vector");
                    let mut v = std::mem::take(&mut v_param.value)
                        .into_dimensionality::<Ix1>()
                        .expect("vector");
                    match x {
                        Tensor::D4(a) => batch_norm_training(
                            cx,
                            a.view(),
                            &p,
                            &mut m,
                            &mut v,
                            *momentum,
                            ws,
                            y.d4_mut(),
                        ),
                        Tensor::D2(a) => batch_norm_training(
                            cx,
                            a.view(),
                            &p,
                            &mut m,
                            &mut v,
                            *momentum,
                            ws,
                            y.d2_mut(),
                        ),
                    }
                    m_param.value = m.into_dyn();
                    v_param.value = v.into_dyn();
                }
            }
        }
        Node::Relu { max_value } => match x {
            Tensor::D4(a) => relu_forward(cx, a.view(), *max_value, y.d4_mut()),
            Tensor::D2(a) => relu_forward(cx, a.view(), *max_value, y.d2_mut()),
        },
        Node::Quantized(act) => {
            let out = y.shape_like(x);
            let xs = x.slice();
            let act = *act;
            super::parallel::map_spans(cx, 1, out, move |first, out| {
                act.forward_slice(&xs[first..first + out.len()], out)
            });
        }
        Node::Flatten => {
            let xv = x.d4();
            let (n, h, w, c) = xv.dim();
            let out = y.d2_mut();
            reshape_buffer(out, Ix2(n, h * w * c));
            copy_parallel(cx, x.slice(), out.as_slice_mut().expect("contiguous"));
        }
        Node::Dropout { rate, mask } => match mode {
            Mode::Inference => {
                let out = y.shape_like(x);
                out.copy_from_slice(x.slice());
            }
            Mode::Training => match x {
                Tensor::D4(a) => dropout_forward(cx, a.view(), *rate, rng, mask, y.d4_mut()),
                Tensor::D2(a) => dropout_forward(cx, a.view(), *rate, rng, mask, y.d2_mut()),
            },
        },
        Node::Softmax => match x {
            Tensor::D2(a) => softmax_forward(cx, a.view(), y.d2_mut()),
            Tensor::D4(a) => {
                let (n, h, w, c) = a.dim();
                let flat = a
                    .view()
                    .into_shape_with_order((n * h * w, c))
                    .expect("contiguous");
                let mut out = Array2::zeros((0, 0));
                softmax_forward(cx, flat, &mut out);
                *y = Tensor::D4(out.into_shape_with_order((n, h, w, c)).expect("row-major"));
            }
        },
    }
}

fn backward_node(
    cx: &Cpu,
    node: &mut Node,
    params: &mut [Param],
    x: &Tensor,
    y: &Tensor,
    dy: &Tensor,
    dx: Option<&mut Tensor>,
) {
    let vec1 = |params: &[Param], i: usize| vec1(params, i).to_owned();
    match node {
        Node::Conv {
            g,
            kernel,
            bias,
            ws,
        } => {
            let k = kernel
                .effective(params)
                .clone()
                .into_dimensionality::<Ix4>()
                .expect("4-D kernel");
            let mut dk = Array4::zeros(k.raw_dim());
            let mut db = bias.map(|b| Array1::zeros(params[b].value.len()));
            conv2d_backward(
                cx,
                g,
                x.d4(),
                k.view(),
                dy.d4(),
                ws,
                dx.map(|d| d.d4_mut()),
                &mut dk,
                db.as_mut(),
            );
            kernel.store_grad(params, dk.into_dyn());
            if let (Some(b), Some(db)) = (bias, db) {
                params[*b].grad = db.into_dyn();
            }
        }
        Node::Separable {
            g,
            g1,
            depthwise,
            pointwise,
            bias,
            ws_dw,
            ws_pw,
            mid,
            dmid,
        } => {
            let pk = pointwise
                .effective(params)
                .clone()
                .into_dimensionality::<Ix4>()
                .expect("4-D kernel");
            let mut dpk = Array4::zeros(pk.raw_dim());
            let mut db = bias.map(|b| Array1::zeros(params[b].value.len()));
            conv2d_backward(
                cx,
                g1,
                mid.view(),
                pk.view(),
                dy.d4(),
                ws_pw,
                Some(dmid),
                &mut dpk,
                db.as_mut(),
            );
            pointwise.store_grad(params, dpk.into_dyn());
            if let (Some(b), Some(db)) = (bias, db) {
                params[*b].grad = db.into_dyn();
            }
            let dk = depthwise
                .effective(params)
                .clone()
                .into_dimensionality::<Ix4>()
                .expect("4-D kernel");
            let mut ddk = Array4::zeros(dk.raw_dim());
            depthwise_conv2d_backward(
                cx,
                g,
                x.d4(),
                dk.view(),
                dmid.view(),
                ws_dw,
                dx.map(|d| d.d4_mut()),
                &mut ddk,
                None,
            );
            depthwise.store_grad(params, ddk.into_dyn());
        }
        Node::Dense {
            kernel,
            bias,
            ws,
            image,
        } => {
            let k = kernel
                .effective(params)
                .clone()
                .into_dimensionality::<Ix2>()
                .expect("2-D kernel");
            let mut dk = Array2::zeros(k.raw_dim());
            let mut db = bias.map(|b| Array1::zeros(params[b].value.len()));
            if *image {
                let xv = x.d4();
                let (n, h, w, c) = xv.dim();
                let flat = xv
                    .into_shape_with_order((n * h * w, c))
                    .expect("contiguous");
                let dyv = dy.d4();
                let units = dyv.dim().3;
                let dflat = dyv
                    .into_shape_with_order((n * h * w, units))
                    .expect("contiguous");
                let mut dxf = Array2::zeros((0, 0));
                dense_backward(
                    cx,
                    flat,
                    k.view(),
                    dflat,
                    ws,
                    dx.is_some().then_some(&mut dxf),
                    &mut dk,
                    db.as_mut(),
                );
                if let Some(d) = dx {
                    *d = Tensor::D4(dxf.into_shape_with_order((n, h, w, c)).expect("row-major"));
                }
            } else {
                dense_backward(
                    cx,
                    x.d2(),
                    k.view(),
                    dy.d2(),
                    ws,
                    dx.map(|d| d.d2_mut()),
                    &mut dk,
                    db.as_mut(),
                );
            }
            kernel.store_grad(params, dk.into_dyn());
            if let (Some(b), Some(db)) = (bias, db) {
                params[*b].grad = db.into_dyn();
            }
        }
        Node::MaxPool { g, ws } => {
            if let Some(d) = dx {
                max_pool2d_backward(cx, g, dy.d4(), ws, d.d4_mut());
            }
        }
        Node::AvgPool { g } => {
            if let Some(d) = dx {
                avg_pool2d_backward(cx, g, dy.d4(), d.d4_mut());
            }
        }
        Node::GlobalAvgPool { hw } => {
            if let Some(d) = dx {
                global_avg_pool2d_backward(cx, dy.d2(), *hw, d.d4_mut());
            }
        }
        Node::BatchNorm {
            gamma,
            beta,
            epsilon,
            ws,
            ..
        } => {
            let (g, b) = (vec1(params, *gamma), vec1(params, *beta));
            let p = BatchNormParams {
                gamma: g.view(),
                beta: b.view(),
                epsilon: *epsilon,
            };
            let mut dg = Array1::zeros(g.len());
            let mut dbeta = Array1::zeros(g.len());
            let mut scratch = Tensor::default();
            let target = dx.unwrap_or(&mut scratch);
            match (x, dy) {
                (Tensor::D4(a), Tensor::D4(d)) => batch_norm_backward(
                    cx,
                    a.view(),
                    d.view(),
                    &p,
                    ws,
                    target.d4_mut(),
                    &mut dg,
                    &mut dbeta,
                ),
                (Tensor::D2(a), Tensor::D2(d)) => batch_norm_backward(
                    cx,
                    a.view(),
                    d.view(),
                    &p,
                    ws,
                    target.d2_mut(),
                    &mut dg,
                    &mut dbeta,
                ),
                _ => unreachable!("a batch norm's input and output gradient have one rank"),
            }
            params[*gamma].grad = dg.into_dyn();
            params[*beta].grad = dbeta.into_dyn();
        }
        Node::Relu { max_value } => {
            if let Some(d) = dx {
                match (x, dy) {
                    (Tensor::D4(a), Tensor::D4(g)) => {
                        relu_backward(cx, a.view(), g.view(), *max_value, d.d4_mut())
                    }
                    (Tensor::D2(a), Tensor::D2(g)) => {
                        relu_backward(cx, a.view(), g.view(), *max_value, d.d2_mut())
                    }
                    _ => unreachable!("a relu's input and output gradient have one rank"),
                }
            }
        }
        Node::Quantized(act) => {
            if let Some(d) = dx {
                let out = d.shape_like(x);
                let (xs, gs) = (x.slice(), dy.slice());
                let act = *act;
                super::parallel::map_spans(cx, 1, out, move |first, out| {
                    let n = out.len();
                    act.backward_slice(&xs[first..first + n], &gs[first..first + n], out)
                });
            }
        }
        Node::Flatten => {
            if let Some(d) = dx {
                let out = d.shape_like(x);
                copy_parallel(cx, dy.slice(), out);
            }
        }
        Node::Dropout { mask, .. } => {
            if let Some(d) = dx {
                match dy {
                    Tensor::D4(g) => dropout_backward(cx, g.view(), mask, d.d4_mut()),
                    Tensor::D2(g) => dropout_backward(cx, g.view(), mask, d.d2_mut()),
                }
            }
        }
        Node::Softmax => {
            if let Some(d) = dx {
                softmax_backward(cx, y.d2(), dy.d2(), d.d2_mut());
            }
        }
    }
}

/// Inputs for inference: uint8 images (mapped by the model's input scaling) or float values.
pub enum Inputs<'a> {
    U8(ndarray::ArrayViewD<'a, u8>),
    F32(ndarray::ArrayViewD<'a, f32>),
}

impl Inputs<'_> {
    pub fn shape(&self) -> &[usize] {
        match self {
            Inputs::U8(a) => a.shape(),
            Inputs::F32(a) => a.shape(),
        }
    }
}

impl Network {
    /// Runs inference over `inputs` (first axis = samples) in batches of `batch`, returning
    /// the model's output (or its logits) for every sample, and, with `keep_layers`, every
    /// layer's output too.
    pub fn predict(
        &mut self,
        inputs: &Inputs<'_>,
        logits: bool,
        batch: usize,
        keep_layers: bool,
    ) -> (ArrayD<f32>, Vec<(String, ArrayD<f32>)>) {
        let n = inputs.shape()[0];
        let mut outputs: Vec<ArrayD<f32>> = Vec::new();
        let mut layers: Vec<Vec<ArrayD<f32>>> = Vec::new();
        let mut start = 0;
        while start < n {
            let end = (start + batch.max(1)).min(n);
            match inputs {
                Inputs::U8(a) => {
                    self.set_input_u8(a.slice_axis(ndarray::Axis(0), (start..end).into()))
                }
                Inputs::F32(a) => {
                    self.set_input_f32(a.slice_axis(ndarray::Axis(0), (start..end).into()))
                }
            }
            let out = if logits {
                self.logits(Mode::Inference)
            } else {
                self.forward(Mode::Inference)
            };
            outputs.push(out.view().to_owned());
            if keep_layers {
                let ran = if logits {
                    self.logits_at
                } else {
                    self.nodes.len()
                };
                let per: Vec<ArrayD<f32>> = self
                    .layer_outputs()
                    .take(ran)
                    .map(|(_, t)| t.view().to_owned())
                    .collect();
                if layers.is_empty() {
                    layers = per.into_iter().map(|a| vec![a]).collect();
                } else {
                    for (acc, a) in layers.iter_mut().zip(per) {
                        acc.push(a);
                    }
                }
            }
            start = end;
        }
        let concat = |parts: &[ArrayD<f32>]| -> ArrayD<f32> {
            let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
            ndarray::concatenate(ndarray::Axis(0), &views).expect("batches share their shape")
        };
        let names: Vec<String> = self.model.layers.iter().map(|l| l.name.clone()).collect();
        let layer_outputs = names
            .into_iter()
            .zip(layers.iter().map(|parts| concat(parts)))
            .collect();
        (concat(&outputs), layer_outputs)
    }
}
