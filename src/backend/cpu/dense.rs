//! Keras `Dense` on rank-2 input: `y = x·kernel + bias`, kernel `(in, out)`, forward and
//! backward, on the GEMM micro-kernels.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Ix1, Ix2};

use super::buffer::{contiguous, reshape_buffer, scratch, slice_mut, slice_of};
use super::context::Cpu;
use super::gemm::{gemm, transpose, Epilogue, Gemm};
use super::parallel::{for_each_chunk, items_per_task};
use super::reduce::add_column_sums;
use super::simd::Lin;

/// Scratch memory of one dense layer, kept by the caller across batches.
#[derive(Debug, Default)]
pub struct DenseWorkspace {
    kernel_t: Vec<f32>,
}

fn check_shapes(x: (usize, usize), kernel: (usize, usize)) -> (usize, usize, usize) {
    assert_eq!(
        x.1, kernel.0,
        "dense: input {x:?} does not match kernel {kernel:?}"
    );
    (x.0, kernel.0, kernel.1)
}

/// `y = x·kernel + bias`, `y` shaped `(batch, out)`.
pub fn dense_forward(
    cx: &Cpu,
    x: ArrayView2<'_, f32>,
    kernel: ArrayView2<'_, f32>,
    bias: Option<ArrayView1<'_, f32>>,
    y: &mut Array2<f32>,
) {
    let (batch, fin, fout) = check_shapes(x.dim(), kernel.dim());
    if let Some(b) = &bias {
        assert_eq!(b.len(), fout, "dense: {} biases for {fout} units", b.len());
    }
    let x = contiguous(&x);
    let kernel = contiguous(&kernel);
    let bias = bias.as_ref().map(contiguous);
    reshape_buffer(y, Ix2(batch, fout));
    let (xs, ks) = (slice_of(&x), slice_of(&kernel));
    let epilogue = bias
        .as_ref()
        .map(slice_of)
        .map_or(Epilogue::Store, Epilogue::Bias);
    let ys = slice_mut(y);
    cx.install(|| product_by_rows(cx, xs, (fin, 1), ks, fout, ys, epilogue));
}

/// Gradients of [`dense_forward`]: `dkernel` (and `dbias`, `dx` when asked for) from `dy`.
#[allow(clippy::too_many_arguments)]
pub fn dense_backward(
    cx: &Cpu,
    x: ArrayView2<'_, f32>,
    kernel: ArrayView2<'_, f32>,
    dy: ArrayView2<'_, f32>,
    ws: &mut DenseWorkspace,
    dx: Option<&mut Array2<f32>>,
    dkernel: &mut Array2<f32>,
    dbias: Option<&mut Array1<f32>>,
) {
    let (batch, fin, fout) = check_shapes(x.dim(), kernel.dim());
    assert_eq!(dy.dim(), (batch, fout), "dense: output gradient shape");
    let x = contiguous(&x);
    let kernel = contiguous(&kernel);
    let dy = contiguous(&dy);
    let (xs, ks, dys) = (slice_of(&x), slice_of(&kernel), slice_of(&dy));
    reshape_buffer(dkernel, Ix2(fin, fout));
    cx.install(|| {
        // dkernel = xᵀ·dy, split over input features: each element sums the batch in order.
        let dk = slice_mut(dkernel);
        product_by_rows(cx, xs, (1, fin), dys, fout, dk, Epilogue::Store);
        if let Some(db) = dbias {
            reshape_buffer(db, Ix1(fout));
            let db = slice_mut(db);
            db.fill(0.0);
            add_column_sums(dys, db);
        }
        if let Some(dx) = dx {
            // dx = dy·kernelᵀ with the transpose packed once.
            let kt = scratch(&mut ws.kernel_t, fout * fin);
            transpose(ks, fout, kt);
            reshape_buffer(dx, Ix2(batch, fin));
            let dx = slice_mut(dx);
            product_by_rows(cx, dys, (fout, 1), kt, fin, dx, Epilogue::Store);
        }
    });
}

/// `C = A·B` (with `epilogue`) for `A(i, p) = a[i·rs + p·cs]` (`(rs, cs) = a_strides`: a
/// row-major matrix or a transposed one), row-major `B` of `n` columns and `C` (`n` columns,
/// as many rows as fit), split over the rows of `C` into tasks of about equal work. Runs on
/// the current pool.
fn product_by_rows(
    cx: &Cpu,
    a: &[f32],
    (rs, cs): (usize, usize),
    b: &[f32],
    n: usize,
    c: &mut [f32],
    epilogue: Epilogue<'_>,
) {
    let (m, k) = (c.len() / n, b.len() / n);
    let per = items_per_task(m, k * n);
    let isa = cx.isa();
    for_each_chunk(c, per * n, |t, out| {
        let product = Gemm {
            m: out.len() / n,
            n,
            k,
            a,
            rows: Lin::new(t * per * rs, rs),
            cols: Lin::new(0, cs),
            b,
            ldb: n,
        };
        gemm(isa, product, out, n, epilogue);
    });
}
