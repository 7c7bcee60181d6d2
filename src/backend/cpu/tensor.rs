//! The activations the executor passes between layers: [`Tensor`], a 4-D image batch or a
//! 2-D vector batch whose allocation is reused from batch to batch, and the [`by_rank!`]
//! dispatch of rank-generic kernels over it.

use ndarray::{Array2, Array4, ArrayView2, ArrayView4, ArrayViewD, Dimension};

use super::buffer::{reshape_buffer, slice_mut};
use super::context::Cpu;
use super::parallel::map_spans;

/// An activation tensor: images `(n, h, w, c)` or vectors `(n, k)`.
#[derive(Debug, Clone)]
pub enum Tensor {
    D4(Array4<f32>),
    D2(Array2<f32>),
}

impl Default for Tensor {
    fn default() -> Self {
        Tensor::D2(Array2::zeros((0, 0)))
    }
}

impl Tensor {
    /// The images of an image layer's operand.
    pub(crate) fn d4(&self) -> ArrayView4<'_, f32> {
        match self {
            Tensor::D4(a) => a.view(),
            Tensor::D2(_) => unreachable!("a layer of an image model got a vector"),
        }
    }

    /// The vectors of a vector layer's operand.
    pub(crate) fn d2(&self) -> ArrayView2<'_, f32> {
        match self {
            Tensor::D2(a) => a.view(),
            Tensor::D4(_) => unreachable!("a layer of a vector model got an image"),
        }
    }

    /// This buffer as a 4-D array (made one, empty, when it held vectors).
    pub(crate) fn d4_mut(&mut self) -> &mut Array4<f32> {
        if !matches!(self, Tensor::D4(_)) {
            *self = Tensor::D4(Array4::zeros((0, 0, 0, 0)));
        }
        match self {
            Tensor::D4(a) => a,
            Tensor::D2(_) => unreachable!("just made it 4-D"),
        }
    }

    /// This buffer as a 2-D array (made one, empty, when it held images).
    pub(crate) fn d2_mut(&mut self) -> &mut Array2<f32> {
        if !matches!(self, Tensor::D2(_)) {
            *self = Tensor::D2(Array2::zeros((0, 0)));
        }
        match self {
            Tensor::D2(a) => a,
            Tensor::D4(_) => unreachable!("just made it 2-D"),
        }
    }

    /// The values as a dynamic-rank view.
    pub fn view(&self) -> ArrayViewD<'_, f32> {
        match self {
            Tensor::D4(a) => a.view().into_dyn(),
            Tensor::D2(a) => a.view().into_dyn(),
        }
    }

    /// The values in row-major order.
    pub(crate) fn slice(&self) -> &[f32] {
        match self {
            Tensor::D4(a) => a.as_slice(),
            Tensor::D2(a) => a.as_slice(),
        }
        .expect("executor buffers are contiguous")
    }

    /// A buffer of the same shape as `like`, in `self`'s allocation (contents unspecified).
    pub(crate) fn shape_like(&mut self, like: &Tensor) -> &mut [f32] {
        match like {
            Tensor::D4(a) => reshaped(self.d4_mut(), a.raw_dim()),
            Tensor::D2(a) => reshaped(self.d2_mut(), a.raw_dim()),
        }
    }

    /// `self = src` (shape and values), the copy split over the worker threads.
    pub(crate) fn copy_from(&mut self, cx: &Cpu, src: &Tensor) {
        copy_parallel(cx, src.slice(), self.shape_like(src));
    }

    /// An image batch as rows of channels, `(n·h·w, c)`: what a layer over the last axis
    /// (dense, softmax) sees.
    pub(crate) fn pixels(&self) -> ArrayView2<'_, f32> {
        let v = self.d4();
        let (n, h, w, c) = v.dim();
        v.into_shape_with_order((n * h * w, c))
            .expect("contiguous activations")
    }

    /// Rows of channels back into images with the pixels of `like` (the inverse of
    /// [`Tensor::pixels`], with as many channels as the rows are long).
    pub(crate) fn from_pixels(rows: Array2<f32>, like: &Tensor) -> Tensor {
        let (n, h, w, _) = like.d4().dim();
        let c = rows.dim().1;
        Tensor::D4(
            rows.into_shape_with_order((n, h, w, c))
                .expect("row-major rows"),
        )
    }

    /// The number of samples.
    pub fn batch(&self) -> usize {
        match self {
            Tensor::D4(a) => a.dim().0,
            Tensor::D2(a) => a.dim().0,
        }
    }
}

/// `buf` reshaped to `shape`, as a slice.
pub(crate) fn reshaped<D: Dimension>(buf: &mut ndarray::Array<f32, D>, shape: D) -> &mut [f32] {
    reshape_buffer(buf, shape);
    slice_mut(buf)
}

/// `dst.copy_from_slice(src)`, split over the worker threads.
pub(crate) fn copy_parallel(cx: &Cpu, src: &[f32], dst: &mut [f32]) {
    map_spans(cx, 1, dst, |first, out| {
        out.copy_from_slice(&src[first..first + out.len()])
    });
}

/// Runs a kernel that is generic over the rank on tensors of one rank: `$v = $t` binds each
/// operand's 4-D (or 2-D) view, `$out = $dst` the output buffer of the same rank, and
/// `$body` is compiled once per rank.
///
/// `by_rank!(y = dst; x = input => relu_forward(cx, x, None, y))`
macro_rules! by_rank {
    ($out:ident = $dst:expr; $($v:ident = $t:expr),+ => $body:expr) => {{
        use $crate::backend::cpu::tensor::Tensor;
        #[allow(unreachable_patterns)]
        match ($($t,)+) {
            ($(Tensor::D4($v),)+) => {
                $(let $v = $v.view();)+
                let $out = $dst.d4_mut();
                $body
            }
            ($(Tensor::D2($v),)+) => {
                $(let $v = $v.view();)+
                let $out = $dst.d2_mut();
                $body
            }
            _ => unreachable!("the operands of a layer have one rank"),
        }
    }};
}
pub(crate) use by_rank;
