//! act_step equalization (`docs/conversion.md` §9.4): what `cnn2snn.convert` does since
//! version 2.5 (`fix_v1_activation_variables`), so that act_steps fit the AKD1000 registers.
//!
//! For every layer but the last whose act_step exceeds its register limit (2^20 − 1 for the
//! input convolution, 2^16 − 1 otherwise): the act_step is set to the limit, the threshold
//! absorbs half the change (scaled by the activation bit-width), and the next layer's weights
//! are floor-divided, per input channel, by the ratio `act_step / limit`. Then positive
//! thresholds above their limit (2^23 − 1, 2^19 − 1) are clipped. The arithmetic is NumPy's:
//! f32 ratios, half-to-even rounding, truncating casts and NumPy's float floor division.
//!
//! CNN2SNN 2.3.7 does not do this; the reference outputs (made with 2.19) do. It is on by
//! default and `--no-act-step-equalization` turns it off.
//!
//! One generalization: after a flatten, a fully-connected layer's rows are `c·Y·X + y·X + x`,
//! so the ratio of channel `c` divides every row of that channel (CNN2SNN fails there with a
//! broadcasting error).

use super::akd1000::Akd1000;
use crate::backend::nsoc::{LayerKind, Program};

/// What equalization changed in one layer (the index of its block, which is its program
/// layer) and on which channels.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    pub layer: usize,
    pub channels: Vec<usize>,
    pub what: Changed,
}

/// The register equalization brought within its limit.
#[derive(Clone, Debug, PartialEq)]
pub enum Changed {
    /// act_steps above `limit` were lowered to it, and the next layer's weights divided.
    ActSteps { largest: f32, limit: f32 },
    /// Thresholds above `limit` were clipped to it.
    Thresholds { largest: i32, limit: i32 },
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.channels.len();
        match self.what {
            Changed::ActSteps { largest, limit } => write!(
                f,
                "{n} act_step(s) up to {largest} lowered to the register limit {limit}; the next layer's weights were divided to compensate"
            ),
            Changed::Thresholds { largest, limit } => write!(
                f,
                "{n} threshold(s) up to {largest} clipped to the register limit {limit}"
            ),
        }
    }
}

/// Equalizes `program` in place and returns what changed.
pub fn equalize(program: &mut Program, hw: &Akd1000) -> Vec<Change> {
    let mut changes = Vec::new();
    let n = program.layers.len();
    for id in 0..n.saturating_sub(1) {
        let (head, tail) = program.layers.split_at_mut(id + 1);
        let layer = &mut head[id];
        let next = &mut tail[0];
        // The register limits are those of the AKD1000 table (cnn2snn hard-codes the same).
        let limit = hw.limits(layer.kind).act_step_max as f32;
        if !layer.act_steps.iter().any(|&s| s > limit) {
            continue;
        }
        let original = layer.act_steps.clone();
        let ratio: Vec<f32> = original
            .iter()
            .map(|&s| if s > limit { s / limit } else { 1.0 })
            .collect();
        let channels: Vec<usize> = (0..original.len())
            .filter(|&c| original[c] > limit)
            .collect();
        let largest = original.iter().copied().fold(f32::MIN, f32::max);
        for &c in &channels {
            layer.act_steps[c] = limit;
        }
        if layer.activation {
            // np.round(0.5 * (new − old)) / 2**(act_bits − 4), then astype(int32).
            let scale = 2f32.powi(i32::from(layer.act_bits) - 4);
            let steps = layer.act_steps.iter().zip(&original);
            for (t, (&new, &old)) in layer.thresholds.iter_mut().zip(steps) {
                let effect = (0.5f32 * (new - old)).round_ties_even() / scale;
                *t = t.wrapping_add(effect as i32);
            }
        }
        // The next layer reads this layer's channels on the input-channel axis of `weights`.
        let channels_in = layer.output_dims.channels as usize;
        let pixels_in = (next.input_dims.height * next.input_dims.width) as usize;
        let filters_next = match next.kind {
            LayerKind::SeparableConvolutional => 1,
            _ => next.output_dims.channels as usize,
        };
        for (i, w) in next.weights.iter_mut().enumerate() {
            let row = i / filters_next;
            let c = match next.kind {
                // (1, 1, C·Y·X, N): row c·(Y·X) + …
                LayerKind::FullyConnected => row / pixels_in,
                // (kh, kw, C, F or 1): row (i·kw + j)·C + c
                _ => row % channels_in,
            };
            *w = numpy_floor_divide(f32::from(*w), ratio[c]) as i8;
        }
        changes.push(Change {
            layer: id,
            channels,
            what: Changed::ActSteps { largest, limit },
        });
    }
    for (id, layer) in program
        .layers
        .iter_mut()
        .enumerate()
        .take(n.saturating_sub(1))
    {
        let limit = hw.limits(layer.kind).threshold_max();
        let channels: Vec<usize> = (0..layer.thresholds.len())
            .filter(|&c| layer.thresholds[c] > limit)
            .collect();
        if channels.is_empty() {
            continue;
        }
        let largest = layer.thresholds.iter().copied().max().expect("non-empty");
        for &c in &channels {
            layer.thresholds[c] = limit;
        }
        changes.push(Change {
            layer: id,
            channels,
            what: Changed::Thresholds { largest, limit },
        });
    }
    changes
}

/// NumPy's float `floor_divide` (`a // b`), in f32: `(a − fmod(a, b)) / b`, corrected so that
/// it is the floor of the exact quotient.
fn numpy_floor_divide(a: f32, b: f32) -> f32 {
    let mut m = a % b;
    let mut div = (a - m) / b;
    if m != 0.0 && ((b < 0.0) != (m < 0.0)) {
        m += b;
        div -= 1.0;
    }
    let _ = m;
    if div == 0.0 {
        return 0.0f32.copysign(a / b);
    }
    let mut floordiv = div.floor();
    if div - floordiv > 0.5 {
        floordiv += 1.0;
    }
    floordiv
}

#[cfg(test)]
mod tests {
    use super::numpy_floor_divide;

    #[test]
    fn floor_division_like_numpy() {
        assert_eq!(numpy_floor_divide(5.0, 1.418), 3.0);
        assert_eq!(numpy_floor_divide(-5.0, 1.418), -4.0);
        assert_eq!(numpy_floor_divide(7.0, 1.0), 7.0);
        assert_eq!(numpy_floor_divide(-7.0, 1.0), -7.0);
        assert_eq!(numpy_floor_divide(0.0, 2.5), 0.0);
        assert_eq!(numpy_floor_divide(6.0, 1.5), 4.0);
        assert_eq!(numpy_floor_divide(-6.0, 1.5), -4.0);
    }
}
