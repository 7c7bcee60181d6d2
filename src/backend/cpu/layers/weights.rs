//! The parameter plumbing every layer with weights shares: the network's parameter list
//! ([`Param`], built by [`ParamList`]), a weight kernel with its optional quantizer and the
//! quantized values cached between updates ([`Kernel`]), and a kernel with its optional bias
//! ([`Weights`]), which hands the forward pass what it computes with and turns the backward
//! pass's gradients into the parameters' ones.

use ndarray::{Array, Array1, ArrayD, ArrayView, ArrayView1, Dimension, Ix1, IxDyn};

use crate::ir::QuantizerRef;
use crate::params::Params;
use crate::quant::{build, WeightQuantizer};

/// A named parameter with its gradient.
#[derive(Debug)]
pub struct Param {
    pub layer: String,
    pub var: &'static str,
    pub value: ArrayD<f32>,
    pub grad: ArrayD<f32>,
    pub trainable: bool,
}

impl Param {
    /// The value of a vector parameter (a bias, a batch norm's γ, …).
    pub(crate) fn vector(&self) -> ArrayView1<'_, f32> {
        self.value
            .view()
            .into_dimensionality::<Ix1>()
            .expect("vector parameter")
    }
}

/// The parameter list of a network being built, in the order its layers add their variables
/// (which is the order of the weights file, the optimizer's slots and checkpoints).
pub(crate) struct ParamList<'a> {
    source: &'a Params,
    list: Vec<Param>,
}

impl<'a> ParamList<'a> {
    /// An empty list whose values come from `source`.
    pub(crate) fn new(source: &'a Params) -> ParamList<'a> {
        ParamList {
            source,
            list: Vec::new(),
        }
    }

    /// Appends `layer/var` (its value from the source, a zero gradient) and returns its index.
    pub(crate) fn add(&mut self, layer: &str, var: &'static str, trainable: bool) -> usize {
        let value = self.source.expect(layer, var).clone();
        self.list.push(Param {
            layer: layer.to_string(),
            var,
            grad: ArrayD::zeros(value.raw_dim()),
            value,
            trainable,
        });
        self.list.len() - 1
    }

    pub(crate) fn into_vec(self) -> Vec<Param> {
        self.list
    }
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
    /// The trainable kernel `layer/var`, quantized by `quantizer` when there is one.
    fn new(
        ps: &mut ParamList<'_>,
        layer: &str,
        var: &'static str,
        quantizer: Option<&QuantizerRef>,
    ) -> Kernel {
        Kernel {
            param: ps.add(layer, var, true),
            quantizer: quantizer.map(|q| build(&q.spec)),
            quantized: ArrayD::zeros(IxDyn(&[0])),
            fresh: false,
        }
    }

    /// The kernel the layer computes with: the quantized one, or the float one. Quantized
    /// kernels are recomputed from the float ones whenever those change, exactly as CNN2SNN's
    /// quantized layers call `quantizer.quantize(kernel)` in every forward pass.
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

    /// Turns the gradient with respect to the effective kernel into the float kernel's
    /// (the quantizer's straight-through estimator).
    fn store_grad(&self, params: &mut [Param], d_effective: ArrayD<f32>) {
        let p = &mut params[self.param];
        p.grad = match &self.quantizer {
            None => d_effective,
            Some(q) => q.backward(p.value.view(), d_effective.view()),
        };
    }
}

/// A kernel and an optional bias: the parameters of a convolution, a dense layer or one half
/// of a separable convolution.
pub(crate) struct Weights {
    kernel: Kernel,
    bias: Option<usize>,
}

impl Weights {
    /// Adds the trainable kernel `layer/var` and, with `bias`, `layer/bias` after it.
    pub(crate) fn new(
        ps: &mut ParamList<'_>,
        layer: &str,
        var: &'static str,
        quantizer: Option<&QuantizerRef>,
        bias: bool,
    ) -> Weights {
        let kernel = Kernel::new(ps, layer, var, quantizer);
        let bias = bias.then(|| ps.add(layer, "bias", true));
        Weights { kernel, bias }
    }

    /// The kernel the layer computes with (see [`Kernel::effective`]) and the bias.
    pub(crate) fn get<'a, D: Dimension>(
        &'a mut self,
        params: &'a [Param],
    ) -> (ArrayView<'a, f32, D>, Option<ArrayView1<'a, f32>>) {
        let kernel = self
            .kernel
            .effective(params)
            .view()
            .into_dimensionality::<D>()
            .expect("a kernel of the layer's rank");
        (kernel, self.bias.map(|b| params[b].vector()))
    }

    /// Runs a backward kernel `f(kernel, dkernel, dbias)` on the effective kernel with zeroed
    /// gradient buffers, then stores the kernel's and the bias's gradients.
    pub(crate) fn backward<D: Dimension>(
        &mut self,
        params: &mut [Param],
        f: impl FnOnce(ArrayView<'_, f32, D>, &mut Array<f32, D>, Option<&mut Array1<f32>>),
    ) {
        let mut dbias = self.bias.map(|b| Array1::zeros(params[b].value.len()));
        let (kernel, _) = self.get::<D>(params);
        let mut dkernel = Array::zeros(kernel.raw_dim());
        f(kernel, &mut dkernel, dbias.as_mut());
        self.kernel.store_grad(params, dkernel.into_dyn());
        if let (Some(b), Some(db)) = (self.bias, dbias) {
            params[b].grad = db.into_dyn();
        }
    }

    /// The float kernel changed: the quantized one must be recomputed.
    pub(crate) fn params_changed(&mut self) {
        self.kernel.fresh = false;
    }
}
