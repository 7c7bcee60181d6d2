//! Akida 1.0 activation and dequantization arithmetic, in integers, as the akida 2.19.3
//! engine computes them (measured against it: `docs/engine-arithmetic.md`).
//!
//! The engine quantizes `act_step` to 1/16 units, truncating: `k = floor(16·act_step)`. The
//! difference `d = P − threshold` is taken in 32-bit two's complement; `d ≤ 0` gives level 0,
//! otherwise the level is `clip(ceil(((d·2^act_bits) mod 2^28) / (k mod 2^28)), 0,
//! 2^act_bits − 1)`: the engine's registers hold 28 bits. For the values real models produce
//! (`d·2^act_bits < 2^28`, `k < 2^28`) this is the textbook `ceil((P − threshold)·2^b / k)`.
//! The engine divides by zero (the process dies of SIGFPE) when `k mod 2^28 = 0` or `k ≥ 2^31`;
//! programs never hold such steps ([`step_usable`]).
//!
//! [`activation_level`] is the reference; [`Boundaries`] is the equivalent table the simulator
//! evaluates with comparisons only where the activation is monotonic: level `n ≥ 1` is reached
//! exactly when `P > threshold + floor((n − 1)·k / 2^act_bits)`, because for an integer `d`,
//! `d·2^b > (n − 1)·k` ⟺ `d > floor((n − 1)·k / 2^b)`.

use super::kernels::{count_above, Isa};

/// Width of the engine's activation registers: `d·2^act_bits` and `k` are taken modulo 2^28.
pub const REGISTER_BITS: u32 = 28;
const REGISTER_MASK: i64 = (1 << REGISTER_BITS) - 1;

/// `k = floor(16·act_step)`, the step in 1/16 units the engine divides by, before the register
/// truncation (`None` when it is not a usable step, see [`step_usable`]).
///
/// `16·act_step` is exact in f64 for every f32.
pub fn step_units(act_step: f32) -> Option<i64> {
    let k = (f64::from(act_step) * 16.0).floor();
    // The engine converts with a 32-bit integer: from 2^31 on it holds 0x8000_0000.
    (1.0..2_147_483_648.0).contains(&k).then_some(k as i64)
}

/// Whether the engine can activate with `act_step`: at least 1/16, and its register value
/// `floor(16·act_step) mod 2^28` non-zero (the engine divides by it).
pub fn step_usable(act_step: f32) -> bool {
    step_units(act_step).is_some_and(|k| k & REGISTER_MASK != 0)
}

/// The divisor the engine uses for `act_step`: `floor(16·act_step) mod 2^28`.
///
/// Panics on a step that is not [`step_usable`] (validated programs never hold one).
pub fn register_step(act_step: f32) -> i64 {
    let k = step_units(act_step).map(|k| k & REGISTER_MASK);
    match k {
        Some(k) if k > 0 => k,
        _ => panic!("act_step {act_step} reached the activation (validation rejects it)"),
    }
}

/// `ceil(n / d)` for `d > 0`, correct for negative `n`.
pub fn ceil_div(n: i64, d: i64) -> i64 {
    assert!(d > 0, "ceil_div by non-positive divisor {d}");
    -((-n).div_euclid(d))
}

/// The activation level of potential `p`, computed literally as the engine does.
pub fn activation_level(p: i32, threshold: i32, act_step: f32, act_bits: u8) -> u8 {
    level_with(p, threshold, register_step(act_step), act_bits)
}

/// [`activation_level`] with the register step `k` already computed.
#[inline]
pub fn level_with(p: i32, threshold: i32, k: i64, act_bits: u8) -> u8 {
    assert!(
        matches!(act_bits, 1 | 2 | 4),
        "act_bits {act_bits} reached the activation (validation allows 1, 2, 4)"
    );
    let d = p.wrapping_sub(threshold);
    if d <= 0 {
        return 0;
    }
    let scaled = (i64::from(d) << act_bits) & REGISTER_MASK;
    let levels = (1i64 << act_bits) - 1;
    ceil_div(scaled, k).min(levels) as u8
}

/// Akida `predict` for a layer without activation: `(P − threshold) / act_step` in f32.
///
/// The difference is taken in 32-bit two's complement as the engine does, converted to f32,
/// then divided by the f32 `act_step` with one IEEE division; this reproduces the engine's
/// `predict` bit for bit.
pub fn dequantize(p: i32, threshold: i32, act_step: f32) -> f32 {
    p.wrapping_sub(threshold) as f32 / act_step
}

/// Whether [`Boundaries`] is exact for a layer whose potentials satisfy `|P| ≤ bound`: then
/// `d = P − threshold` cannot wrap and `d·2^act_bits` stays below 2^28 for every channel.
pub fn monotonic(bound: u64, thresholds: &[i32], act_bits: u8) -> bool {
    let limit = 1u64 << (REGISTER_BITS - u32::from(act_bits));
    thresholds.iter().all(|&t| {
        let d_max = bound.saturating_add(u64::from((-i64::from(t)).max(0) as u32));
        d_max < limit
    })
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
            let k = register_step(step);
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
    /// Exact where the activation is [`monotonic`]: each bound is `threshold + floor(…)`
    /// computed in i64 and clamped to `i32::MAX`, which no potential exceeds, and never lies
    /// below `threshold`.
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
        // docs/conversion.md §11 C: P = 58, threshold 5, act_step 14, 4 bits → level 4.
        assert_eq!(activation_level(58, 5, 14.0, 4), 4);
        assert_eq!(dequantize(58, -2, 35.0), 60.0 / 35.0);
    }

    #[test]
    fn boundaries_match_the_formula() {
        let steps = [0.0625f32, 0.9, 1.0, 13.999999, 14.03, 37.5, 1.0e7];
        let thresholds = [-7, 0, 3, 100, -1000, 5, 0];
        for bits in [1u8, 2, 4] {
            let b = Boundaries::new(&thresholds, &steps, bits);
            assert!(monotonic(3000, &thresholds, bits));
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

    /// Values measured on the akida 2.19.3 engine (`docs/engine-arithmetic.md`): a wrapping
    /// difference, and 28-bit registers for `d·2^b` and `k`.
    #[test]
    fn engine_registers() {
        // d = P − threshold wraps to a negative i32: level 0.
        assert_eq!(activation_level(2_146_935_000, -1_000_000, 1.0e6, 4), 0);
        assert_eq!(activation_level(2_146_935_000, -10, 1.0e6, 4), 15);
        // k = floor(16·2.7962574e7) = 447401184 ≥ 2^28; d·16 = 371339888 ≥ 2^28.
        assert_eq!(activation_level(23_677_736, 468_993, 2.796_257_4e7, 4), 1);
        // 1.708942e7: k mod 2^28 = 4995264, d = 3065363 → ceil(9.8) = 10.
        assert_eq!(activation_level(3_065_363, 0, 1.708_942e7, 4), 10);
        assert!(!step_usable(16_777_216.0)); // k = 2^28
        assert!(!step_usable(134_217_728.0)); // k = 2^31
        assert!(step_usable(134_217_720.0));
        assert!(!step_usable(0.0624));
        assert!(!monotonic(1 << 24, &[0], 4));
        assert!(monotonic((1 << 24) - 1, &[0], 4));
        // The engine's predict subtracts in 32 bits too.
        assert_eq!(
            dequantize(2_146_935_000, -1_000_000, 3.3),
            -2_147_032_296f32 / 3.3
        );
    }
}
