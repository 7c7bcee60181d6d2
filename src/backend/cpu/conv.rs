//! Keras `Conv2D`: NHWC input, kernel `(kh, kw, cin, cout)`, optional bias, `valid`/`same`
//! padding and any strides, forward and backward.
//!
//! All three products run on the GEMM micro-kernels without materialising an im2col matrix:
//! the forward pass reads each output row's windows straight from the (padded) input through
//! an offset table, the kernel gradient reads the same windows transposed, and the input
//! gradient multiplies one output row by the transposed kernel and scatters the result back
//! onto the windows.

use ndarray::{Array1, Array4, ArrayView1, ArrayView4, Ix4};

use super::buffer::{contiguous, dims4, reshape_buffer, scratch, slice_mut, slice_of};
use super::context::Cpu;
use super::gemm::{gemm, transpose, Epilogue, Gemm};
use super::geometry::Geometry2d;
use super::parallel::{for_each_chunk, for_each_chunk2, items_per_task, Partials};
use super::patches::{
    origin_offsets, padded_gradient, padded_image_len, padded_input, param_grads, window_offsets,
};
use super::simd::{Lin, Table};

/// Scratch memory of one convolution layer, kept by the caller across batches.
#[derive(Debug, Default)]
pub struct Conv2dWorkspace {
    padded: Vec<f32>,
    window: Vec<usize>,
    origins: Vec<usize>,
    kernel_t: Vec<f32>,
    sums: Partials,
    padded_dx: Vec<f32>,
    rows: Vec<f32>,
}

/// Checks that the operands agree with `g` and returns `(n, cin, cout)`.
fn check_shapes(
    g: &Geometry2d,
    x: [usize; 4],
    kernel: [usize; 4],
    bias: Option<usize>,
) -> (usize, usize, usize) {
    let [n, h, w, cin] = x;
    let [kh, kw, kc, cout] = kernel;
    assert_eq!(
        [h, w, kh, kw, kc],
        [g.in_h, g.in_w, g.kh, g.kw, cin],
        "conv2d: input {x:?} and kernel {kernel:?} disagree with the geometry {g:?}"
    );
    if let Some(b) = bias {
        assert_eq!(b, cout, "conv2d: {b} biases for {cout} filters");
    }
    (n, cin, cout)
}

/// `y = conv2d(x, kernel) + bias`, `y` shaped `(n, out_h, out_w, cout)`.
pub fn conv2d_forward(
    cx: &Cpu,
    g: &Geometry2d,
    x: ArrayView4<'_, f32>,
    kernel: ArrayView4<'_, f32>,
    bias: Option<ArrayView1<'_, f32>>,
    ws: &mut Conv2dWorkspace,
    y: &mut Array4<f32>,
) {
    let (n, cin, cout) = check_shapes(g, dims4(&x), dims4(&kernel), bias.map(|b| b.len()));
    let x = contiguous(&x);
    let kernel = contiguous(&kernel);
    let bias = bias.as_ref().map(contiguous);
    reshape_buffer(y, Ix4(n, g.out_h, g.out_w, cout));
    let ys = slice_mut(y);
    let ks = slice_of(&kernel);
    let bs = bias.as_ref().map(slice_of);
    let isa = cx.isa();
    let Conv2dWorkspace {
        padded,
        window,
        origins,
        ..
    } = ws;
    window_offsets(g, cin, window);
    origin_offsets(g, cin, origins);
    let (window, origins) = (Table::new(window), Table::new(origins));
    cx.install(|| {
        let src = padded_input(g, slice_of(&x), n, cin, padded);
        let img = padded_image_len(g, cin);
        let pixels = g.out_pixels();
        let per = items_per_task(n * pixels, cout * window.len());
        let epilogue = bs.map_or(Epilogue::Store, Epilogue::Bias);
        // One product per image (or part of one): rows are output pixels addressed through
        // their window origins, columns the window elements.
        for_each_chunk(ys, per * cout, |t, chunk| {
            let mut q = t * per;
            let mut rest = chunk;
            while !rest.is_empty() {
                let (s, p) = (q / pixels, q % pixels);
                let m = (pixels - p).min(rest.len() / cout);
                let (out, tail) = rest.split_at_mut(m * cout);
                let product = Gemm {
                    m,
                    n: cout,
                    k: window.len(),
                    a: &src[s * img..][..img],
                    rows: origins.slice(p..p + m),
                    cols: window,
                    b: ks,
                    ldb: cout,
                };
                gemm(isa, product, out, cout, epilogue);
                (q, rest) = (q + m, tail);
            }
        });
    });
}

/// Gradients of [`conv2d_forward`]: `dkernel` (and `dbias`, `dx` when asked for) from the
/// output gradient `dy`. Skip `dx` for a first layer.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_backward(
    cx: &Cpu,
    g: &Geometry2d,
    x: ArrayView4<'_, f32>,
    kernel: ArrayView4<'_, f32>,
    dy: ArrayView4<'_, f32>,
    ws: &mut Conv2dWorkspace,
    dx: Option<&mut Array4<f32>>,
    dkernel: &mut Array4<f32>,
    dbias: Option<&mut Array1<f32>>,
) {
    let (n, cin, cout) = check_shapes(g, dims4(&x), dims4(&kernel), None);
    assert_eq!(
        dims4(&dy),
        [n, g.out_h, g.out_w, cout],
        "conv2d: output gradient shape"
    );
    let x = contiguous(&x);
    let kernel = contiguous(&kernel);
    let dy = contiguous(&dy);
    let (xs, ks, dys) = (slice_of(&x), slice_of(&kernel), slice_of(&dy));
    let isa = cx.isa();
    let Conv2dWorkspace {
        padded,
        window,
        origins,
        kernel_t,
        sums,
        padded_dx,
        rows,
    } = ws;
    window_offsets(g, cin, window);
    origin_offsets(g, cin, origins);
    let (window, origins) = (&window[..], &origins[..]);
    let (window_table, origins_table) = (Table::new(window), Table::new(origins));
    let kk = window.len();
    let pixels = g.out_pixels();
    let img = padded_image_len(g, cin);
    reshape_buffer(dkernel, Ix4(g.kh, g.kw, cin, cout));
    cx.install(|| {
        let src = padded_input(g, xs, n, cin, padded);

        // Kernel and bias gradients.
        let dk = slice_mut(dkernel);
        param_grads(
            cx,
            dy.view(),
            sums,
            dk,
            dbias,
            #[inline(always)]
            |s, dys_s, pk| {
                let product = Gemm {
                    m: kk,
                    n: cout,
                    k: pixels,
                    a: &src[s * img..][..img],
                    rows: window_table,
                    cols: origins_table,
                    b: dys_s,
                    ldb: cout,
                };
                gemm(isa, product, pk, cout, Epilogue::Accumulate);
            },
        );

        if let Some(dx) = dx {
            // kernel_t = kernelᵀ, (cout × kh·kw·cin).
            let kt = scratch(kernel_t, cout * kk);
            transpose(ks, cout, kt);
            let kt = &kt[..];
            let per = items_per_task(n, pixels * kk * cout);
            let tasks = n.div_ceil(per);
            let row_len = g.out_w * kk;
            let row_buf = scratch(rows, tasks * row_len);
            padded_gradient(g, n, cin, dx, padded_dx, |target| {
                for_each_chunk2(target, per * img, row_buf, row_len, |t, dxc, cols| {
                    dxc.fill(0.0);
                    for (i, dimg) in dxc.chunks_exact_mut(img).enumerate() {
                        let s = t * per + i;
                        for oy in 0..g.out_h {
                            let product = Gemm {
                                m: g.out_w,
                                n: kk,
                                k: cout,
                                a: dys,
                                rows: Lin::new((s * pixels + oy * g.out_w) * cout, cout),
                                cols: Lin::new(0, 1),
                                b: kt,
                                ldb: kk,
                            };
                            gemm(isa, product, cols, kk, Epilogue::Store);
                            for (ox, col) in cols.chunks_exact(kk).enumerate() {
                                scatter_window(g, cin, origins[oy * g.out_w + ox], col, dimg);
                            }
                        }
                    }
                })
            });
        }
    });
}

/// Adds one window's gradient (`col`, in kernel order) onto a padded image at `origin`.
fn scatter_window(g: &Geometry2d, c: usize, origin: usize, col: &[f32], img: &mut [f32]) {
    let wp = g.padded_w();
    for (ky, taps) in col.chunks_exact(g.kw * c).enumerate() {
        let at = origin + ky * wp * c;
        for (d, &v) in img[at..at + g.kw * c].iter_mut().zip(taps) {
            *d += v;
        }
    }
}
