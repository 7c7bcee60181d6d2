//! Keras window geometry (`same` / `valid`) for convolutions and pooling, one spatial axis at a
//! time: the one implementation the IR's shape inference, the CPU executor and the program
//! runtime share.
//!
//! Akida 1.0 follows Keras exactly here (`docs/conversion.md` §8): SAME gives
//! `ceil(in / stride)` outputs and pads `max((out − 1)·stride + window − in, 0)` cells, the
//! smaller half before and the larger half after (so a stride-2 SAME convolution over an even
//! input pads only at the bottom/right); VALID gives `floor((in − window) / stride) + 1` outputs
//! and pads nothing. Max pooling uses the same rules with the pool size as window; padded cells
//! never win the max.

use serde::{Deserialize, Serialize};

/// How a window operation treats the borders of its input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Padding {
    /// No padding: only windows that fit entirely inside the input.
    Valid,
    /// Keras SAME: `ceil(in / stride)` outputs, the input padded as evenly as possible.
    Same,
}

impl Padding {
    /// The `.q` / Keras spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Padding::Valid => "valid",
            Padding::Same => "same",
        }
    }
}

/// The geometry of one axis of a window operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Axis {
    /// Number of output positions.
    pub output: u32,
    /// Cells of padding before the first input cell.
    pub pad_before: u32,
    /// Cells of padding after the last input cell.
    pub pad_after: u32,
}

impl Axis {
    /// The geometry of a window of `window` cells moved by `stride` over `input` cells, or `None`
    /// when there is no output (a zero size or stride, or a VALID window larger than the input).
    pub fn new(input: u32, window: u32, stride: u32, padding: Padding) -> Option<Axis> {
        if input == 0 || window == 0 || stride == 0 {
            return None;
        }
        match padding {
            Padding::Valid => {
                let span = input.checked_sub(window)?;
                Some(Axis {
                    output: span / stride + 1,
                    pad_before: 0,
                    pad_after: 0,
                })
            }
            Padding::Same => {
                let output = input.div_ceil(stride);
                let needed = u64::from(output - 1) * u64::from(stride) + u64::from(window);
                let total = needed.saturating_sub(u64::from(input));
                // `total < window + stride`, so it fits in u32 like its inputs.
                let total =
                    u32::try_from(total).expect("SAME padding is smaller than window + stride");
                Some(Axis {
                    output,
                    pad_before: total / 2,
                    pad_after: total - total / 2,
                })
            }
        }
    }

    /// The first input cell (possibly negative, i.e. in the padding) seen by output `index`.
    pub fn window_start(&self, index: u32, stride: u32) -> i64 {
        i64::from(index) * i64::from(stride) - i64::from(self.pad_before)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_stride_one_pads_symmetrically() {
        let a = Axis::new(28, 3, 1, Padding::Same).unwrap();
        assert_eq!((a.output, a.pad_before, a.pad_after), (28, 1, 1));
    }

    #[test]
    fn valid_rejects_window_larger_than_input() {
        assert_eq!(Axis::new(2, 3, 1, Padding::Valid), None);
        assert_eq!(Axis::new(3, 3, 1, Padding::Valid).unwrap().output, 1);
    }
}
