//! Akida 1.0 activation and dequantization arithmetic (spec §8 and §7.6), in integers.
//!
//! The engine quantizes `act_step` to 1/16 units, truncating: `k = floor(16·act_step)`, then
//! outputs `clip(ceil((P − threshold)·2^act_bits / k), 0, 2^act_bits − 1)`. The scalar functions
//! here are the reference; [`Boundaries`] is the equivalent table the simulator evaluates with
//! comparisons only: level `n ≥ 1` is reached exactly when `P > threshold + floor((n − 1)·k /
//! 2^act_bits)`, because for an integer `d`, `d·2^b > (n − 1)·k` ⟺ `d > floor((n − 1)·k / 2^b)`.

use super::kernels::{count_above, Isa};

/// Clamp for `k`. Potentials and thresholds are `i32`, so `|P − threshold|·2^4 < 2^37`: once
/// `k ≥ 2^40` every positive difference gives level 1 and every other one level 0, exactly as
/// the unclamped `k` does. The clamp only keeps the arithmetic inside `i64`.
const MAX_STEP_UNITS: f64 = (1u64 << 40) as f64;

/// `k = floor(16·act_step)`, the step in 1/16 units the engine divides by.
///
/// `16·act_step` is exact in f64 for every f32. Panics if `act_step < 1/16` (validated
/// programs never hold one when activation is on).
pub fn step_units(act_step: f32) -> i64 {
    let k = (f64::from(act_step) * 16.0).floor().min(MAX_STEP_UNITS);
    assert!(
        k >= 1.0,
        "act_step {act_step} below 1/16 reached the activation (validation rejects it)"
    );
    k as i64
}

/// `ceil(n / d)` for `d > 0`, correct for negative `n`.
pub fn ceil_div(n: i64, d: i64) -> i64 {
    assert!(d > 0, "ceil_div by non-positive divisor {d}");
    -((-n).div_euclid(d))
}

/// The activation level of potential `p` (spec §8), computed literally.
pub fn activation_level(p: i32, threshold: i32, act_step: f32, act_bits: u8) -> u8 {
    assert!(
        matches!(act_bits, 1 | 2 | 4),
        "act_bits {act_bits} reached the activation (validation allows 1, 2, 4)"
    );
    let d = i64::from(p) - i64::from(threshold);
    let levels = (1i64 << act_bits) - 1;
    ceil_div(d << act_bits, step_units(act_step)).clamp(0, levels) as u8
}

/// Akida `predict` for a layer without activation: `(P − threshold) / act_step` in f32.
///
/// The difference is taken exactly in i64 and rounded once to f32, then divided by the f32
/// `act_step` with one IEEE division; this reproduces the reference `predict` arrays bit for bit.
pub fn dequantize(p: i32, threshold: i32, act_step: f32) -> f32 {
    (i64::from(p) - i64::from(threshold)) as f32 / act_step
}

/// Per-channel level boundaries: `level(P) = #{n ∈ 1..=L : P > bound(n, channel)}`.
#[derive(Clone, Debug)]
pub struct Boundaries {
    /// Highest level `L = 2^act_bits − 1`.
    levels: usize,
    /// For each group of 8 channels, `levels` rows of 8 bounds (non-decreasing down the rows);
    /// padding channels never fire.
    chunks: Vec<[i32; 8]>,
}

impl Boundaries {
    /// Boundaries for each channel's `(threshold, act_step)`.
    pub fn new(thresholds: &[i32], act_steps: &[f32], act_bits: u8) -> Boundaries {
        assert_eq!(
            thresholds.len(),
            act_steps.len(),
            "one act_step per threshold"
        );
        let levels = (1usize << act_bits) - 1;
        let groups = thresholds.len().div_ceil(8);
        let mut chunks = vec![[i32::MAX; 8]; groups * levels];
        for (c, (&t, &step)) in thresholds.iter().zip(act_steps).enumerate() {
            let k = step_units(step);
            for n in 0..levels {
                let offset = (n as i64 * k) >> act_bits; // floor, both factors non-negative
                let bound = (i64::from(t) + offset).min(i64::from(i32::MAX));
                chunks[(c / 8) * levels + n][c % 8] = bound as i32;
            }
        }
        Boundaries { levels, chunks }
    }

    /// Writes the levels of `potentials[..out.len()]` into `out`, eight channels at a time
    /// (`potentials` holds the padded row: at least `out.len()` rounded up to 8 values).
    ///
    /// Exact for every i32 potential: each bound is `threshold + floor(…)` computed in i64 and
    /// clamped to `i32::MAX`, which no potential exceeds, and never lies below `threshold`.
    #[inline(always)]
    pub fn apply<L: Copy + From<u8>>(&self, isa: Isa, potentials: &[i32], out: &mut [L]) {
        let channels = out.len();
        assert!(
            potentials.len() >= channels.div_ceil(8) * 8
                && channels.div_ceil(8) * self.levels <= self.chunks.len(),
            "activation row of {} potentials for {channels} channels",
            potentials.len()
        );
        for ((levels, p), bounds) in out
            .chunks_mut(8)
            .zip(potentials.chunks_exact(8))
            .zip(self.chunks.chunks_exact(self.levels))
        {
            let count = count_above(isa, p.try_into().expect("8 lanes"), bounds);
            for (o, &n) in levels.iter_mut().zip(&count) {
                *o = L::from(n as u8);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worked_example_c() {
        // Spec §11 C: P = 58, threshold 5, act_step 14, 4 bits → level 4.
        assert_eq!(activation_level(58, 5, 14.0, 4), 4);
        assert_eq!(dequantize(58, -2, 35.0), 60.0 / 35.0);
    }

    #[test]
    fn boundaries_match_the_formula() {
        let steps = [0.0625f32, 0.9, 1.0, 13.999999, 14.03, 37.5, 1.0e9];
        let thresholds = [-7, 0, 3, 100, -1000, 5, 0];
        for bits in [1u8, 2, 4] {
            let b = Boundaries::new(&thresholds, &steps, bits);
            for isa in [Isa::Portable, Isa::detect()] {
                for p in -3000..3000 {
                    let row = [p; 8];
                    let mut out = [0u8; 7];
                    b.apply(isa, &row, &mut out);
                    for c in 0..7 {
                        assert_eq!(
                            out[c],
                            activation_level(p, thresholds[c], steps[c], bits),
                            "p {p} channel {c} bits {bits} {isa:?}"
                        );
                    }
                }
            }
        }
    }
}
