//! Keras `DepthwiseConv2D` with depth multiplier 1: NHWC input, kernel `(kh, kw, c, 1)`, each
//! channel convolved with its own window, optional bias. A separable convolution is this
//! followed by a 1×1 [`super::conv`] (the pointwise kernel).
//!
//! The loops run over channels innermost, which NHWC keeps contiguous, so they vectorise.

use ndarray::{Array1, Array4, ArrayView1, ArrayView4, Ix4};

use super::buffer::{contiguous, dims4, reshape_buffer, slice_mut, slice_of};
use super::context::Cpu;
use super::geometry::Geometry2d;
use super::parallel::{for_each_chunk, items_per_task, Partials};
use super::patches::{
    origin_offsets, padded_gradient, padded_image_len, padded_input, param_grads,
};
use super::simd::dispatch;

/// Scratch memory of one depthwise layer, kept by the caller across batches.
#[derive(Debug, Default)]
pub struct DepthwiseWorkspace {
    padded: Vec<f32>,
    origins: Vec<usize>,
    sums: Partials,
    padded_dx: Vec<f32>,
}

fn check_shapes(g: &Geometry2d, x: [usize; 4], kernel: [usize; 4]) -> (usize, usize) {
    let [n, h, w, c] = x;
    assert_eq!(
        [h, w, kernel[0], kernel[1], kernel[2], kernel[3]],
        [g.in_h, g.in_w, g.kh, g.kw, c, 1],
        "depthwise_conv2d: input {x:?} and kernel {kernel:?} disagree with the geometry {g:?}"
    );
    (n, c)
}

/// `y[.., c] = Σ_window x[.., c]·kernel[.., c, 0] + bias[c]`.
pub fn depthwise_conv2d_forward(
    cx: &Cpu,
    g: &Geometry2d,
    x: ArrayView4<'_, f32>,
    kernel: ArrayView4<'_, f32>,
    bias: Option<ArrayView1<'_, f32>>,
    ws: &mut DepthwiseWorkspace,
    y: &mut Array4<f32>,
) {
    let (n, c) = check_shapes(g, dims4(&x), dims4(&kernel));
    if let Some(b) = &bias {
        assert_eq!(
            b.len(),
            c,
            "depthwise_conv2d: {} biases for {c} channels",
            b.len()
        );
    }
    let x = contiguous(&x);
    let kernel = contiguous(&kernel);
    let bias = bias.as_ref().map(contiguous);
    reshape_buffer(y, Ix4(n, g.out_h, g.out_w, c));
    let ys = slice_mut(y);
    let ks = slice_of(&kernel);
    let bs = bias.as_ref().map(slice_of);
    let isa = cx.isa();
    let DepthwiseWorkspace {
        padded, origins, ..
    } = ws;
    origin_offsets(g, c, origins);
    let origins = &origins[..];
    cx.install(|| {
        let src = padded_input(g, slice_of(&x), n, c, padded);
        let img = padded_image_len(g, c);
        let pixels = g.out_pixels();
        let per = items_per_task(n * pixels, g.kh * g.kw * c);
        for_each_chunk(ys, per * c, |t, chunk| {
            dispatch(
                isa,
                #[inline(always)]
                || {
                    for (i, out) in chunk.chunks_exact_mut(c).enumerate() {
                        let (s, p) = ((t * per + i) / pixels, (t * per + i) % pixels);
                        window_dot(g, c, &src[s * img + origins[p]..], ks, out);
                        if let Some(b) = bs {
                            for (o, &v) in out.iter_mut().zip(b) {
                                *o += v;
                            }
                        }
                    }
                },
            )
        });
    });
}

/// Gradients of [`depthwise_conv2d_forward`]: `dkernel` (and `dbias`, `dx` when asked for).
#[allow(clippy::too_many_arguments)]
pub fn depthwise_conv2d_backward(
    cx: &Cpu,
    g: &Geometry2d,
    x: ArrayView4<'_, f32>,
    kernel: ArrayView4<'_, f32>,
    dy: ArrayView4<'_, f32>,
    ws: &mut DepthwiseWorkspace,
    dx: Option<&mut Array4<f32>>,
    dkernel: &mut Array4<f32>,
    dbias: Option<&mut Array1<f32>>,
) {
    let (n, c) = check_shapes(g, dims4(&x), dims4(&kernel));
    assert_eq!(
        dims4(&dy),
        [n, g.out_h, g.out_w, c],
        "depthwise_conv2d: output gradient shape"
    );
    let x = contiguous(&x);
    let kernel = contiguous(&kernel);
    let dy = contiguous(&dy);
    let (xs, ks, dys) = (slice_of(&x), slice_of(&kernel), slice_of(&dy));
    let isa = cx.isa();
    let DepthwiseWorkspace {
        padded,
        origins,
        sums,
        padded_dx,
    } = ws;
    origin_offsets(g, c, origins);
    let origins = &origins[..];
    let pixels = g.out_pixels();
    let img = padded_image_len(g, c);
    let kk = g.kh * g.kw * c;
    reshape_buffer(dkernel, Ix4(g.kh, g.kw, c, 1));
    cx.install(|| {
        let src = padded_input(g, xs, n, c, padded);

        // Kernel and bias gradients.
        param_grads(
            cx,
            dy.view(),
            sums,
            slice_mut(dkernel),
            dbias,
            #[inline(always)]
            |s, dys_s, pk| {
                for (p, d) in dys_s.chunks_exact(c).enumerate() {
                    window_outer(g, c, &src[s * img + origins[p]..], d, pk);
                }
            },
        );

        if let Some(dx) = dx {
            let per = items_per_task(n, pixels * kk);
            padded_gradient(g, n, c, dx, padded_dx, |target| {
                for_each_chunk(target, per * img, |t, dxc| {
                    dxc.fill(0.0);
                    dispatch(
                        isa,
                        #[inline(always)]
                        || {
                            for (i, dimg) in dxc.chunks_exact_mut(img).enumerate() {
                                let dys_s = &dys[(t * per + i) * pixels * c..][..pixels * c];
                                for (p, d) in dys_s.chunks_exact(c).enumerate() {
                                    window_scatter(g, c, d, ks, &mut dimg[origins[p]..]);
                                }
                            }
                        },
                    )
                })
            });
        }
    });
}

/// `out[c] = Σ_(ky,kx) win[(ky·wp + kx)·c + ci]·w[(ky·kw + kx)·c + ci]` (window rows in order).
#[inline(always)]
fn window_dot(g: &Geometry2d, c: usize, win: &[f32], w: &[f32], out: &mut [f32]) {
    out.fill(0.0);
    let (rs, span) = (g.padded_w() * c, g.kw * c);
    for ky in 0..g.kh {
        let xr = &win[ky * rs..][..span];
        let wr = &w[ky * span..][..span];
        for (xt, wt) in xr.chunks_exact(c).zip(wr.chunks_exact(c)) {
            for ((o, &a), &b) in out.iter_mut().zip(xt).zip(wt) {
                *o += a * b;
            }
        }
    }
}

/// `dw[tap, c] += win[tap, c]·d[c]` for every tap of the window.
#[inline(always)]
fn window_outer(g: &Geometry2d, c: usize, win: &[f32], d: &[f32], dw: &mut [f32]) {
    let (rs, span) = (g.padded_w() * c, g.kw * c);
    for ky in 0..g.kh {
        let xr = &win[ky * rs..][..span];
        let wr = &mut dw[ky * span..][..span];
        for (xt, wt) in xr.chunks_exact(c).zip(wr.chunks_exact_mut(c)) {
            for ((o, &a), &b) in wt.iter_mut().zip(xt).zip(d) {
                *o += a * b;
            }
        }
    }
}

/// `img[tap, c] += d[c]·w[tap, c]` for every tap of the window starting at `img[0]`.
#[inline(always)]
fn window_scatter(g: &Geometry2d, c: usize, d: &[f32], w: &[f32], img: &mut [f32]) {
    let (rs, span) = (g.padded_w() * c, g.kw * c);
    for ky in 0..g.kh {
        let xr = &mut img[ky * rs..][..span];
        let wr = &w[ky * span..][..span];
        for (xt, wt) in xr.chunks_exact_mut(c).zip(wr.chunks_exact(c)) {
            for ((o, &a), &b) in xt.iter_mut().zip(d).zip(wt) {
                *o += a * b;
            }
        }
    }
}
