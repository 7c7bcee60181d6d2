//! The executor's 2-D windows: [`Geometry2d`] puts two axes of [`crate::geometry`] (Keras
//! `valid` / `same`, the one implementation) together with the clipping the kernels use.

use super::error::CpuError;
use crate::geometry::Axis;
pub use crate::geometry::Padding;

/// Where a 2-D window visits an `in_h × in_w` input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Geometry2d {
    pub in_h: usize,
    pub in_w: usize,
    pub out_h: usize,
    pub out_w: usize,
    /// Window height and width.
    pub kh: usize,
    pub kw: usize,
    /// Strides.
    pub sh: usize,
    pub sw: usize,
    pub pad_top: usize,
    pub pad_bottom: usize,
    pub pad_left: usize,
    pub pad_right: usize,
}

/// One dimension: `(out, pad_before, pad_after)`, `out = 0` when the window does not fit.
fn axis(input: usize, k: usize, s: usize, padding: Padding) -> (usize, usize, usize) {
    let u = |v: usize| u32::try_from(v).expect("the IR's size limits keep window sizes in u32");
    Axis::new(u(input), u(k), u(s), padding).map_or((0, 0, 0), |a| {
        (
            a.output as usize,
            a.pad_before as usize,
            a.pad_after as usize,
        )
    })
}

impl Geometry2d {
    /// The geometry of a `window` sliding with `strides` over an `input` (`[h, w]`).
    pub fn new(
        input: [usize; 2],
        window: [usize; 2],
        strides: [usize; 2],
        padding: Padding,
    ) -> Result<Geometry2d, CpuError> {
        if window.contains(&0) || strides.contains(&0) {
            return Err(CpuError::ZeroWindow { window, strides });
        }
        let (out_h, pad_top, pad_bottom) = axis(input[0], window[0], strides[0], padding);
        let (out_w, pad_left, pad_right) = axis(input[1], window[1], strides[1], padding);
        if out_h == 0 || out_w == 0 {
            return Err(CpuError::EmptyOutput {
                input,
                window,
                strides,
                padding: padding.as_str(),
            });
        }
        Ok(Geometry2d {
            in_h: input[0],
            in_w: input[1],
            out_h,
            out_w,
            kh: window[0],
            kw: window[1],
            sh: strides[0],
            sw: strides[1],
            pad_top,
            pad_bottom,
            pad_left,
            pad_right,
        })
    }

    /// Height of the zero-padded input.
    pub fn padded_h(&self) -> usize {
        self.in_h + self.pad_top + self.pad_bottom
    }

    /// Width of the zero-padded input.
    pub fn padded_w(&self) -> usize {
        self.in_w + self.pad_left + self.pad_right
    }

    /// Whether any padding is added.
    pub fn is_padded(&self) -> bool {
        self.pad_top + self.pad_bottom + self.pad_left + self.pad_right > 0
    }

    /// Output pixels per image.
    pub fn out_pixels(&self) -> usize {
        self.out_h * self.out_w
    }

    /// The input rows a window starting at output row `oy` covers, clipped to the input:
    /// `(first input row, first window row, count)`.
    pub(crate) fn rows_of(&self, oy: usize) -> (usize, usize, usize) {
        clip(oy * self.sh, self.kh, self.pad_top, self.in_h)
    }

    /// The same for columns.
    pub(crate) fn cols_of(&self, ox: usize) -> (usize, usize, usize) {
        clip(ox * self.sw, self.kw, self.pad_left, self.in_w)
    }
}

/// A window of `k` starting at padded position `start` clipped to `[pad, pad + len)`.
fn clip(start: usize, k: usize, pad: usize, len: usize) -> (usize, usize, usize) {
    let lo = start.max(pad);
    let hi = (start + k).min(pad + len);
    if hi <= lo {
        return (0, 0, 0);
    }
    (lo - pad, lo - start, hi - lo)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_padding_matches_tensorflow() {
        // 7 wide, 3×3, stride 2: out 4, total pad (3·2 + 3 − 7) = 2 → 1 / 1.
        let g = Geometry2d::new([7, 7], [3, 3], [2, 2], Padding::Same).unwrap();
        assert_eq!((g.out_h, g.pad_top, g.pad_bottom), (4, 1, 1));
        // 6 wide, 3×3, stride 2: out 3, total pad (2·2 + 3 − 6) = 1 → 0 before, 1 after.
        let g = Geometry2d::new([6, 6], [3, 3], [2, 2], Padding::Same).unwrap();
        assert_eq!((g.out_w, g.pad_left, g.pad_right), (3, 0, 1));
        // Window smaller than stride: no padding.
        let g = Geometry2d::new([5, 5], [1, 1], [2, 2], Padding::Same).unwrap();
        assert_eq!((g.out_h, g.pad_top, g.pad_bottom), (3, 0, 0));
        let g = Geometry2d::new([26, 26], [2, 2], [2, 2], Padding::Valid).unwrap();
        assert_eq!((g.out_h, g.out_w), (13, 13));
        assert!(Geometry2d::new([2, 2], [3, 3], [1, 1], Padding::Valid).is_err());
        assert!(Geometry2d::new([2, 2], [0, 3], [1, 1], Padding::Same).is_err());
    }
}
