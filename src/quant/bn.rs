//! BatchNormalization folding arithmetic (`docs/conversion.md` §5.3) and the gamma clamp of
//! `MinValueConstraint` (`docs/conversion.md` §6), as pure functions on arrays.
//!
//! The f32 op order is NumPy's in cnn2snn's `_compute_BN_folded_weights`:
//! `s = gamma / sqrt(var + f32(epsilon))`, `W' = W · s` (broadcast on the last axis),
//! `b' = beta + (b − mean) · s` with `b = 0` when the layer has no bias (so `0 − mean`).
//! For a separable convolution only the pointwise kernel is folded.

use ndarray::{Array1, ArrayD, ArrayView1, ArrayViewD};

/// Keras' default `BatchNormalization.epsilon`.
pub const DEFAULT_EPSILON: f64 = 1e-3;

/// `MinValueConstraint`'s default minimum gamma (`add_gamma_constraint`).
pub const DEFAULT_GAMMA_MIN: f64 = 1e-2;

/// The variables of a BatchNormalization layer (one value per channel).
#[derive(Clone, Copy, Debug)]
pub struct BatchNorm<'a> {
    pub gamma: ArrayView1<'a, f32>,
    pub beta: ArrayView1<'a, f32>,
    pub moving_mean: ArrayView1<'a, f32>,
    pub moving_variance: ArrayView1<'a, f32>,
    /// `epsilon` as written (a Python float, added as f32).
    pub epsilon: f64,
}

impl BatchNorm<'_> {
    /// Number of channels. Panics if the four variables differ in length (the front end
    /// checks the shapes of the weights it loads).
    pub fn channels(&self) -> usize {
        let n = self.gamma.len();
        assert!(
            self.beta.len() == n && self.moving_mean.len() == n && self.moving_variance.len() == n,
            "batch-norm variables must all have one value per channel"
        );
        n
    }

    /// `gamma / sqrt(moving_variance + epsilon)` per channel (f32).
    pub fn scale(&self) -> Array1<f32> {
        self.channels();
        let eps = self.epsilon as f32;
        Array1::from_iter(
            self.gamma
                .iter()
                .zip(self.moving_variance.iter())
                .map(|(&g, &v)| g / (v + eps).sqrt()),
        )
    }
}

/// A neural layer's kernel and bias after folding the following BatchNormalization.
#[derive(Clone, Debug, PartialEq)]
pub struct Folded {
    /// `kernel · s` (last axis = output channel).
    pub kernel: ArrayD<f32>,
    /// `beta + (bias − mean) · s`; always present after folding.
    pub bias: Array1<f32>,
    /// The BN scale `s = gamma / sqrt(var + eps)`.
    pub scale: Array1<f32>,
}

impl Folded {
    /// Number of channels whose BN scale is zero (cnn2snn refuses such "null gammas").
    pub fn null_scales(&self) -> usize {
        self.scale.iter().filter(|&&s| s == 0.0).count()
    }
}

/// Folds `bn` into a kernel (last axis = output channel; the pointwise kernel of a separable
/// convolution) and its optional bias.
///
/// Panics if the kernel's last axis, the bias and the BN variables disagree on the number of
/// channels: the front end checks weight shapes.
pub fn fold(
    kernel: ArrayViewD<'_, f32>,
    bias: Option<ArrayView1<'_, f32>>,
    bn: &BatchNorm<'_>,
) -> Folded {
    let channels = bn.channels();
    assert_eq!(
        kernel.shape().last().copied(),
        Some(channels),
        "a folded kernel's last axis must match the batch-norm channels"
    );
    if let Some(b) = bias {
        assert_eq!(
            b.len(),
            channels,
            "a folded bias must match the batch-norm channels"
        );
    }
    let scale = bn.scale();
    let last = ndarray::Axis(kernel.ndim() - 1);
    let mut kernel = kernel.to_owned();
    for mut lane in kernel.lanes_mut(last) {
        lane.zip_mut_with(&scale, |w, &s| *w *= s);
    }
    let bias = Array1::from_iter((0..channels).map(|c| {
        let b = bias.map_or(0.0, |b| b[c]);
        bn.beta[c] + (b - bn.moving_mean[c]) * scale[c]
    }));
    Folded {
        kernel,
        bias,
        scale,
    }
}

/// `MinValueConstraint(min_value)` on gammas: `clip(gamma, f32(min_value), f32::MAX)`
/// (negative gammas become `min_value` too; NaN stays NaN).
pub fn clamp_gamma(gamma: ArrayView1<'_, f32>, min_value: f64) -> Array1<f32> {
    let lo = min_value as f32;
    gamma.mapv(|g| super::weight::tf_clip(g, lo, f32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::arr1;

    #[test]
    fn worked_example_d() {
        // docs/conversion.md §11 D.
        let (gamma, beta, mean, var) = (
            arr1(&[1.0f32]),
            arr1(&[0.1f32]),
            arr1(&[0.3f32]),
            arr1(&[0.249f32]),
        );
        let bn = BatchNorm {
            gamma: gamma.view(),
            beta: beta.view(),
            moving_mean: mean.view(),
            moving_variance: var.view(),
            epsilon: DEFAULT_EPSILON,
        };
        let kernel = arr1(&[0.1f32, -0.25, 0.05, 0.5])
            .into_shape_with_order((4, 1))
            .unwrap()
            .into_dyn();
        let bias = arr1(&[0.05f32]);
        let f = fold(kernel.view(), Some(bias.view()), &bn);
        assert_eq!(f.scale, arr1(&[2.0f32]));
        assert_eq!(
            f.kernel.iter().copied().collect::<Vec<_>>(),
            vec![0.2, -0.5, 0.1, 1.0]
        );
        assert_eq!(f.bias[0], 0.1f32 + (0.05f32 - 0.3f32) * 2.0);
        assert_eq!(f.null_scales(), 0);
    }

    #[test]
    fn missing_bias_is_zero_minus_mean() {
        let ones = arr1(&[1.0f32, 1.0]);
        let zeros = arr1(&[0.0f32, 0.0]);
        let bn = BatchNorm {
            gamma: ones.view(),
            beta: zeros.view(),
            moving_mean: zeros.view(),
            moving_variance: ones.view(),
            epsilon: 0.0,
        };
        let k = ArrayD::<f32>::ones(ndarray::IxDyn(&[1, 2]));
        let f = fold(k.view(), None, &bn);
        // 0 + (0 − 0) · 1 is +0, not −0.
        assert!(f.bias.iter().all(|b| *b == 0.0 && b.is_sign_positive()));
    }

    #[test]
    fn gamma_clamp() {
        let g = arr1(&[-1.0f32, 0.0, 0.005, 0.5, f32::INFINITY]);
        let c = clamp_gamma(g.view(), DEFAULT_GAMMA_MIN);
        assert_eq!(c, arr1(&[0.01f32, 0.01, 0.01, 0.5, f32::MAX]));
    }
}
