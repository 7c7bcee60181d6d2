//! `invert_bn_pool` and `fold_bn`: CNN2SNN's `invert_batchnorm_pooling` and `fold_batchnorm`.

use super::{Graph, PassError};
use crate::ir::{Layer, Op, Origin};
use crate::quant::bn::{self, BatchNorm as BnVars};
use crate::quant::QuantizerKind;
use ndarray::Ix1;

/// The channels whose gamma is `bad`, counted and described (`2 of 8 gammas are ≤ 0
/// (channels 1, 5)`), or `None` when there are none.
fn non_positive_gammas(
    gamma: ndarray::ArrayView1<f32>,
    bad: impl Fn(f32) -> bool,
) -> Option<(usize, String)> {
    let channels: Vec<usize> = gamma
        .iter()
        .enumerate()
        .filter(|(_, &v)| bad(v))
        .map(|(c, _)| c)
        .collect();
    (!channels.is_empty()).then(|| {
        let detail = format!(
            "{} of {} gammas are ≤ 0 (channel{} {})",
            channels.len(),
            gamma.len(),
            if channels.len() == 1 { "" } else { "s" },
            channel_list(&channels)
        );
        (channels.len(), detail)
    })
}

/// Channels listed compactly: `1, 5` or `0, 1, 2, … (16 in all)`.
fn channel_list(channels: &[usize]) -> String {
    let shown: Vec<String> = channels.iter().take(6).map(|c| c.to_string()).collect();
    if channels.len() > 6 {
        format!("{}, … ({} in all)", shown.join(", "), channels.len())
    } else {
        shown.join(", ")
    }
}

fn gamma_of<'a>(g: &'a Graph, layer: &str) -> Option<ndarray::ArrayView1<'a, f32>> {
    let params = g.params.as_ref()?;
    Some(
        params
            .expect(layer, "gamma")
            .view()
            .into_dimensionality::<Ix1>()
            .expect("weights were checked: gamma is a vector"),
    )
}

/// Max pooling or global average pooling followed by a batch norm: the batch norm moves first.
/// A batch norm with gammas ≤ 0 cannot move before a max pooling (it would flip which value is
/// the maximum).
pub(super) fn invert_bn_pool(g: &mut Graph, diags: &mut Vec<PassError>) {
    let mut i = 0;
    while i + 1 < g.model.layers.len() {
        let (pool, bn) = (&g.model.layers[i], &g.model.layers[i + 1]);
        let is_pool = matches!(pool.op, Op::MaxPool(_) | Op::GlobalAvgPool);
        if !(is_pool && matches!(bn.op, Op::BatchNorm(_))) {
            i += 1;
            continue;
        }
        if matches!(pool.op, Op::MaxPool(_)) {
            if let Some(gamma) = gamma_of(g, &bn.name) {
                if let Some((count, detail)) = non_positive_gammas(gamma, |v| v <= 0.0) {
                    diags.push(PassError::NegativeGammas {
                        bn: bn.name.clone(),
                        count,
                        span: bn.span,
                        detail,
                        pool: pool.span,
                        pool_note: "this max pooling would have to move after the batch norm".to_string(),
                        help: Some(format!(
                            "CNN2SNN moves `{}` before `{}` to fold it, which needs positive gammas; retrain with `batch_norm(gamma_min: 0.01)` or place the batch norm before the pooling",
                            bn.name, pool.name
                        )),
                    });
                    i += 2;
                    continue;
                }
            }
        }
        let layers = &mut g.model.layers;
        let bn_shape = layers[i].input_shape.clone();
        layers.swap(i, i + 1);
        layers[i].input_shape = bn_shape.clone();
        layers[i].output_shape = bn_shape.clone();
        layers[i + 1].input_shape = bn_shape;
        i += 2;
    }
}

/// Whether a quantizer gives one scale factor per output channel.
fn per_axis(kind: &QuantizerKind) -> bool {
    match kind {
        QuantizerKind::MaxPerAxis | QuantizerKind::StdPerAxis { .. } => true,
        QuantizerKind::Linear { per_axis, .. } => *per_axis,
        QuantizerKind::Max | QuantizerKind::Std { .. } => false,
    }
}

/// A batch norm right after a neural layer is folded into that layer's (pointwise) kernel and
/// bias; the layer then always has a bias.
///
/// A layer with a per-tensor quantizer cannot take the fold (one scale factor cannot follow
/// per-channel scales): that is CNN2SNN's error, unless `bn_in_thresholds`, where the batch
/// norm stays after the layer (with a warning) for the emitter to put in the thresholds and
/// act_steps, which needs gammas > 0.
pub(super) fn fold_bn(g: &mut Graph, bn_in_thresholds: bool, diags: &mut Vec<PassError>) {
    let mut i = 0;
    while i + 1 < g.model.layers.len() {
        let (layer, bn) = (&g.model.layers[i], &g.model.layers[i + 1]);
        let Op::BatchNorm(bn_op) = &bn.op else {
            i += 1;
            continue;
        };
        if !layer.op.is_neural() {
            i += 1;
            continue;
        }
        let quantizer = match &layer.op {
            Op::Conv2D(c) => c.quantizer.as_ref(),
            Op::Dense(d) => d.quantizer.as_ref(),
            Op::SeparableConv2D(s) => s.quantizer.as_ref(),
            _ => unreachable!("is_neural covers exactly these"),
        };
        if let Some(q) = quantizer {
            if !per_axis(&q.spec.kind) && bn_in_thresholds {
                keep_in_thresholds(g, i, q.span, diags);
                i += 2;
                continue;
            }
            if !per_axis(&q.spec.kind) {
                let fix = match &q.name {
                    Some(n) => format!("define `{n}` with `max_per_axis` (or `std_per_axis`)"),
                    None => "use `max_per_axis` (or `std_per_axis`)".to_string(),
                };
                diags.push(PassError::PerTensorFold {
                    bn: bn.name.clone(),
                    layer: layer.name.clone(),
                    span: bn.span,
                    quantizer: q.span,
                    help: Some(format!(
                        "folding scales each output channel of `{}` differently, which a single scale factor cannot follow: {fix}, or remove the quantizer and quantize the folded model with `quantize(...)`; a program for the simulator (`compile` without `--target`) keeps the batch norm in the thresholds instead",
                        layer.name
                    )),
                });
                i += 2;
                continue;
            }
        }
        if let Some(params) = g.params.as_mut() {
            let vec = |name: &str| {
                params
                    .expect(&bn.name, name)
                    .view()
                    .into_dimensionality::<Ix1>()
                    .expect("weights were checked: batch-norm variables are vectors")
            };
            let vars = BnVars {
                gamma: vec("gamma"),
                beta: vec("beta"),
                moving_mean: vec("moving_mean"),
                moving_variance: vec("moving_variance"),
                epsilon: bn_op.epsilon,
            };
            let kernel_name = match layer.op {
                Op::SeparableConv2D(_) => "pointwise_kernel",
                _ => "kernel",
            };
            let bias = params.get(&layer.name, "bias").map(|b| {
                b.view()
                    .into_dimensionality::<Ix1>()
                    .expect("weights were checked: a bias is a vector")
            });
            let folded = bn::fold(params.expect(&layer.name, kernel_name).view(), bias, &vars);
            let nulls = folded.null_scales();
            if nulls > 0 {
                let channels: Vec<usize> = folded
                    .scale
                    .iter()
                    .enumerate()
                    .filter(|(_, &s)| s == 0.0)
                    .map(|(c, _)| c)
                    .collect();
                diags.push(PassError::NullGammas {
                    bn: bn.name.clone(),
                    count: nulls,
                    span: bn.span,
                    detail: format!(
                        "zero gamma in channel{} {}",
                        if nulls == 1 { "" } else { "s" },
                        channel_list(&channels)
                    ),
                    layer: layer.span,
                });
                i += 2;
                continue;
            }
            let (layer_name, bn_name) = (layer.name.clone(), bn.name.clone());
            for var in ["gamma", "beta", "moving_mean", "moving_variance"] {
                params.remove(&bn_name, var);
            }
            params.insert(&layer_name, kernel_name, folded.kernel);
            params.insert(&layer_name, "bias", folded.bias.into_dyn());
        }
        let bn_layer: Layer = g.model.layers.remove(i + 1);
        let layer = &mut g.model.layers[i];
        match &mut layer.op {
            Op::Conv2D(c) => c.use_bias = true,
            Op::Dense(d) => d.use_bias = true,
            Op::SeparableConv2D(s) => s.use_bias = true,
            _ => unreachable!("is_neural covers exactly these"),
        }
        layer.merged.push(Origin {
            name: bn_layer.name,
            span: bn_layer.span,
        });
        layer.merged.extend(bn_layer.merged);
        i += 1;
    }
}

/// The batch norm at `i + 1` stays after the per-tensor quantized layer at `i`: a warning,
/// or an error when a gamma is not positive (the thresholds would have to flip).
fn keep_in_thresholds(
    g: &Graph,
    i: usize,
    quantizer: crate::source::Span,
    diags: &mut Vec<PassError>,
) {
    let (layer, bn) = (&g.model.layers[i], &g.model.layers[i + 1]);
    if let Some(gamma) = gamma_of(g, &bn.name) {
        if let Some((count, detail)) = non_positive_gammas(gamma, |v| v <= 0.0 || !v.is_finite()) {
            diags.push(PassError::NegativeGammas {
                bn: bn.name.clone(),
                count,
                span: bn.span,
                detail,
                pool: layer.span,
                pool_note: "per-tensor quantized layer".to_string(),
                help: Some(format!(
                    "`{}` has a per-tensor quantizer, so `{}` goes into its thresholds, which needs positive gammas; retrain with `batch_norm(gamma_min: 0.01)`, or give `{}` a per-axis quantizer",
                    layer.name, bn.name, layer.name
                )),
            });
            return;
        }
    }
    diags.push(PassError::BnInThresholds {
        bn: bn.name.clone(),
        layer: layer.name.clone(),
        span: bn.span,
        quantizer,
    });
}

/// The weights of `original` (the model as written) from the weights `trained` of `executed`
/// (the same model after its passes): the inverse of folding.
///
/// A batch norm that was folded into a layer comes back as the identity — gamma
/// `sqrt(1 + ε)`, beta 0, moving mean 0, moving variance 1, so that folding it again gives
/// scale exactly 1 — and the folded bias goes back to the layer's bias (or to the batch
/// norm's beta when the layer has none). Folding the result again gives `trained` bit for bit.
pub fn unfold(
    original: &crate::ir::Model,
    executed: &crate::ir::Model,
    trained: &crate::params::Params,
) -> crate::params::Params {
    let mut out = crate::params::Params::new();
    // Where each folded batch norm went.
    let mut folded_into: std::collections::BTreeMap<&str, &Layer> =
        std::collections::BTreeMap::new();
    for l in &executed.layers {
        for o in &l.merged {
            folded_into.insert(o.name.as_str(), l);
        }
    }
    for layer in &original.layers {
        let vars = layer.variables();
        if let Some(host) = folded_into.get(layer.name.as_str()) {
            let Op::BatchNorm(bn) = &layer.op else {
                unreachable!("only batch norms are merged into other layers")
            };
            let c = layer.input_shape.channels();
            let host_original = original
                .layer(&host.name)
                .expect("a folded batch norm's host exists in the original model");
            let host_has_bias = host_original.variables().iter().any(|v| v.name == "bias");
            let bias = trained.expect(&host.name, "bias");
            let gamma = (1.0f32 + bn.epsilon as f32).sqrt();
            out.insert(
                &layer.name,
                "gamma",
                ndarray::ArrayD::from_elem(vec![c], gamma),
            );
            out.insert(
                &layer.name,
                "beta",
                if host_has_bias {
                    ndarray::ArrayD::zeros(vec![c])
                } else {
                    bias.clone()
                },
            );
            out.insert(&layer.name, "moving_mean", ndarray::ArrayD::zeros(vec![c]));
            out.insert(
                &layer.name,
                "moving_variance",
                ndarray::ArrayD::ones(vec![c]),
            );
            continue;
        }
        for v in vars {
            if let Some(value) = trained.get(&layer.name, v.name) {
                out.insert(&layer.name, v.name, value.clone());
            }
        }
    }
    out
}
