//! Tensor shapes (batch dimension left out) and Keras' size arithmetic for convolution and
//! pooling windows. The executors use the same functions, so geometry is defined once.

use super::Padding;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A shape without its batch dimension: `[H, W, C]` for images, `[N]` for vectors.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Shape(pub Vec<usize>);

impl Shape {
    pub fn new(dims: impl Into<Vec<usize>>) -> Shape {
        Shape(dims.into())
    }

    pub fn dims(&self) -> &[usize] {
        &self.0
    }

    pub fn rank(&self) -> usize {
        self.0.len()
    }

    /// Whether this is an image `[H, W, C]`.
    pub fn is_image(&self) -> bool {
        self.0.len() == 3
    }

    /// The last dimension (channels of an image, length of a vector).
    pub fn channels(&self) -> usize {
        *self.0.last().expect("IR shapes have rank 1 or 3")
    }

    /// Number of elements of one sample.
    pub fn elements(&self) -> u64 {
        self.0.iter().map(|&d| d as u64).product()
    }

    /// `[H, W]` of an image shape.
    pub fn hw(&self) -> [usize; 2] {
        assert!(self.is_image(), "hw() of the non-image shape {self}");
        [self.0[0], self.0[1]]
    }
}

impl fmt::Display for Shape {
    /// Keras' notation, with the batch dimension: `(None, 26, 26, 8)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "(None")?;
        for d in &self.0 {
            write!(f, ", {d}")?;
        }
        write!(f, ")")
    }
}

/// Output length of a convolution or pooling window along one axis, Keras semantics:
/// `valid` → `floor((n − k) / s) + 1` (`None` when the window does not fit), `same` →
/// `ceil(n / s)`.
pub fn window_out(n: usize, k: usize, s: usize, padding: Padding) -> Option<usize> {
    assert!(k > 0 && s > 0, "window sizes and strides are positive");
    axis(n, k, s, padding).map(|a| a.output as usize)
}

/// Padding before (top/left) along one axis for Keras/TF `same`: half the total, rounded down;
/// the extra element goes after (bottom/right). Zero for `valid`.
pub fn pad_before(n: usize, k: usize, s: usize, padding: Padding) -> usize {
    axis(n, k, s, padding).map_or(0, |a| a.pad_before as usize)
}

/// [`crate::geometry::Axis`] for IR sizes (which the lowering limits keep far below 2^32).
fn axis(n: usize, k: usize, s: usize, padding: Padding) -> Option<crate::geometry::Axis> {
    let u = |v: usize| u32::try_from(v).ok();
    crate::geometry::Axis::new(u(n)?, u(k)?, u(s)?, padding)
}

/// Size limits that keep every later allocation and product in range.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest single dimension (height, width, channels, filters, units, kernel side).
    pub max_dim: usize,
    /// Largest number of elements of one sample's activation tensor.
    pub max_tensor_elements: u64,
    /// Largest number of parameters of one variable, and of a whole model.
    pub max_params: u64,
}

impl Limits {
    /// 2^28 elements is 1 GiB of f32 per sample: far beyond any model the chip can run, and
    /// small enough that a typo like `conv2d(100000000, 3)` is caught before anything is
    /// allocated.
    pub const DEFAULT: Limits = Limits {
        max_dim: 1 << 20,
        max_tensor_elements: 1 << 28,
        max_params: 1 << 28,
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keras_geometry() {
        assert_eq!(window_out(28, 3, 1, Padding::Valid), Some(26));
        assert_eq!(window_out(26, 2, 2, Padding::Valid), Some(13));
        assert_eq!(window_out(2, 3, 1, Padding::Valid), None);
        assert_eq!(window_out(7, 3, 2, Padding::Same), Some(4));
        // same, stride 2, even input: total pad = (14-1)*2 + 3 - 28 = 1 → 0 before, 1 after
        assert_eq!(pad_before(28, 3, 2, Padding::Same), 0);
        // same, stride 1, k 3: 1 before
        assert_eq!(pad_before(28, 3, 1, Padding::Same), 1);
        // same, stride 2, odd input 7: out 4, total (3*2+3-7)=2 → 1 before
        assert_eq!(pad_before(7, 3, 2, Padding::Same), 1);
        assert_eq!(Shape::new([26, 26, 8]).to_string(), "(None, 26, 26, 8)");
    }
}
