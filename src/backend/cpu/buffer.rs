//! Output buffers that keep their allocation from batch to batch, and contiguous access to
//! input views.

use ndarray::{Array, ArrayBase, CowArray, Data, Dimension};

/// Gives `buf` the shape `shape`, reusing its allocation when it is large enough (a smaller
/// last batch never reallocates). Kernels overwrite every element, so the contents after a
/// reshape are unspecified (zeros here).
pub fn reshape_buffer<D: Dimension>(buf: &mut Array<f32, D>, shape: D) {
    if buf.raw_dim() == shape && buf.is_standard_layout() {
        return;
    }
    let (mut data, _) = std::mem::take(buf).into_raw_vec_and_offset();
    data.clear();
    data.resize(shape.size(), 0.0);
    *buf = Array::from_shape_vec(shape, data)
        .unwrap_or_else(|e| unreachable!("a vector of exactly the shape's size: {e}"));
}

/// A standard-layout (row-major, contiguous) version of `x`, borrowed when it already is one.
pub(crate) fn contiguous<S, D>(x: &ArrayBase<S, D>) -> CowArray<'_, f32, D>
where
    S: Data<Elem = f32>,
    D: Dimension,
{
    x.as_standard_layout()
}

/// The elements of a standard-layout array.
pub(crate) fn slice_of<'a, D: Dimension>(x: &'a CowArray<'_, f32, D>) -> &'a [f32] {
    x.as_slice()
        .unwrap_or_else(|| unreachable!("standard layout arrays are contiguous"))
}

/// The elements of a buffer shaped by [`reshape_buffer`].
pub(crate) fn slice_mut<D: Dimension>(x: &mut Array<f32, D>) -> &mut [f32] {
    x.as_slice_mut()
        .unwrap_or_else(|| unreachable!("buffers are kept in standard layout"))
}

/// Resizes a scratch vector (contents unspecified) and returns it.
pub(crate) fn scratch<T: Copy + Default>(v: &mut Vec<T>, len: usize) -> &mut [T] {
    if v.len() != len {
        v.clear();
        v.resize(len, T::default());
    }
    &mut v[..]
}

/// The shape of a 4-D array as `[n, h, w, c]`.
pub(crate) fn dims4<S: Data<Elem = f32>>(x: &ArrayBase<S, ndarray::Ix4>) -> [usize; 4] {
    let (n, h, w, c) = x.dim();
    [n, h, w, c]
}
