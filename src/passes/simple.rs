//! The small rewrites: `clamp_gamma`, `remove_dropout`, `swap_activation_pool`.

use super::{Graph, PassError};
use crate::ir::Op;
use crate::quant::bn::clamp_gamma as clamp;
use ndarray::Ix1;

/// Raises every batch-norm gamma below its minimum (`batch_norm(gamma_min:)`, or `--gamma-min`
/// for all batch norms) to that minimum, as akida_models' gamma constraint does after an
/// optimizer step. Reported as advice with the count and the smallest gamma.
pub(super) fn clamp_gamma(g: &mut Graph, override_min: Option<f64>, diags: &mut Vec<PassError>) {
    for layer in &mut g.model.layers {
        let Op::BatchNorm(bn) = &mut layer.op else {
            continue;
        };
        if let Some(m) = override_min {
            bn.gamma_min = Some(m);
        }
        let (Some(min), Some(params)) = (bn.gamma_min, g.params.as_mut()) else {
            continue;
        };
        let gamma = params
            .expect(&layer.name, "gamma")
            .view()
            .into_dimensionality::<Ix1>()
            .expect("weights were checked: gamma is a vector")
            .to_owned();
        let clamped = clamp(gamma.view(), min);
        let raised = gamma.iter().zip(&clamped).filter(|(a, b)| a != b).count();
        if raised > 0 {
            let smallest = gamma.iter().copied().fold(f32::INFINITY, f32::min);
            diags.push(PassError::GammaClamped {
                bn: layer.name.clone(),
                count: raised,
                total: gamma.len(),
                gamma_min: min,
                span: layer.span,
                smallest: format!("{smallest:e}"),
            });
            params.insert(&layer.name, "gamma", clamped.into_dyn());
        }
    }
}

/// Dropout does nothing at inference: CNN2SNN removes it before conversion.
pub(super) fn remove_dropout(g: &mut Graph) {
    g.model
        .layers
        .retain(|l| !matches!(l.op, Op::Dropout { .. }));
}

/// An activation followed by max pooling becomes max pooling followed by the activation
/// (valid because the activations are monotonic; not done for global average pooling).
pub(super) fn swap_activation_pool(g: &mut Graph) {
    let layers = &mut g.model.layers;
    let mut i = 0;
    while i + 1 < layers.len() {
        if layers[i].op.is_activation() && matches!(layers[i + 1].op, Op::MaxPool(_)) {
            let act_in = layers[i].input_shape.clone();
            let pool_out = layers[i + 1].output_shape.clone();
            layers.swap(i, i + 1);
            layers[i].input_shape = act_in;
            layers[i + 1].input_shape = pool_out.clone();
            layers[i + 1].output_shape = pool_out;
            i += 2;
        } else {
            i += 1;
        }
    }
}
