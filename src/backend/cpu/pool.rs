//! Pooling with TensorFlow semantics: max pooling (the gradient goes to the first maximal
//! element of each window, in row-major window order), average pooling (`same` windows
//! divide by the number of real, non-padded elements) and global average pooling.

use ndarray::{Array2, Array4, ArrayView2, ArrayView4, Ix2, Ix4};

use super::buffer::{contiguous, dims4, reshape_buffer, slice_mut, slice_of};
use super::context::Cpu;
use super::geometry::Geometry2d;
use super::parallel::{for_each_chunk, for_each_chunk2, items_per_task};
use super::simd::dispatch;

/// What max pooling's forward pass leaves for its backward pass: for every output element,
/// the position of its maximum inside the window (`ky·kw + kx`).
#[derive(Debug, Default)]
pub struct MaxPool2dWorkspace {
    argmax: Vec<u32>,
    shape: [usize; 4],
}

fn check_input(g: &Geometry2d, x: [usize; 4]) -> (usize, usize) {
    assert_eq!(
        [x[1], x[2]],
        [g.in_h, g.in_w],
        "pooling: input {x:?} disagrees with the geometry {g:?}"
    );
    (x[0], x[3])
}

/// The clipped window of output pixel `(oy, ox)`: `(first input row, rows, first input
/// column, columns, window-local index of the first element)`.
#[inline(always)]
fn window(g: &Geometry2d, oy: usize, ox: usize) -> (usize, usize, usize, usize, usize) {
    let (iy, wy, nh) = g.rows_of(oy);
    let (ix, wx, nw) = g.cols_of(ox);
    (iy, nh, ix, nw, wy * g.kw + wx)
}

/// `y` = the maximum of each window; records the argmax in `ws` when given (training).
pub fn max_pool2d_forward(
    cx: &Cpu,
    g: &Geometry2d,
    x: ArrayView4<'_, f32>,
    y: &mut Array4<f32>,
    ws: Option<&mut MaxPool2dWorkspace>,
) {
    let (n, c) = check_input(g, dims4(&x));
    let x = contiguous(&x);
    let xs = slice_of(&x);
    reshape_buffer(y, Ix4(n, g.out_h, g.out_w, c));
    let pixels = g.out_pixels();
    let isa = cx.isa();
    let img = g.in_h * g.in_w * c;
    let per = items_per_task(n * pixels, g.kh * g.kw * c);
    let ys = slice_mut(y);
    let run = |t: usize, out: &mut [f32], arg: Option<&mut [u32]>| {
        dispatch(isa, || {
            let mut arg = arg;
            for (i, o) in out.chunks_exact_mut(c).enumerate() {
                let q = t * per + i;
                let (s, oy, ox) = (q / pixels, q % pixels / g.out_w, q % g.out_w);
                let (iy, nh, ix, nw, first) = window(g, oy, ox);
                let at =
                    |r: usize, col: usize| &xs[s * img + ((iy + r) * g.in_w + ix + col) * c..][..c];
                o.copy_from_slice(at(0, 0));
                match arg.as_deref_mut() {
                    None => {
                        for r in 0..nh {
                            for col in 0..nw {
                                for (m, &v) in o.iter_mut().zip(at(r, col)) {
                                    *m = if v > *m { v } else { *m };
                                }
                            }
                        }
                    }
                    Some(arg) => {
                        let a = &mut arg[i * c..][..c];
                        a.fill(first as u32);
                        for r in 0..nh {
                            for col in 0..nw {
                                let local = (first + r * g.kw + col) as u32;
                                for ((m, ai), &v) in o.iter_mut().zip(a.iter_mut()).zip(at(r, col))
                                {
                                    let gt = v > *m;
                                    *m = if gt { v } else { *m };
                                    *ai = if gt { local } else { *ai };
                                }
                            }
                        }
                    }
                }
            }
        })
    };
    cx.install(|| match ws {
        None => for_each_chunk(ys, per * c, |t, out| run(t, out, None)),
        Some(ws) => {
            ws.shape = [n, g.out_h, g.out_w, c];
            if ws.argmax.len() != ys.len() {
                ws.argmax.clear();
                ws.argmax.resize(ys.len(), 0);
            }
            for_each_chunk2(ys, per * c, &mut ws.argmax, per * c, |t, out, arg| {
                run(t, out, Some(arg))
            });
        }
    });
}

/// `dx` = each output gradient routed to its window's recorded maximum (summed where windows
/// overlap).
pub fn max_pool2d_backward(
    cx: &Cpu,
    g: &Geometry2d,
    dy: ArrayView4<'_, f32>,
    ws: &MaxPool2dWorkspace,
    dx: &mut Array4<f32>,
) {
    let [n, oh, ow, c] = dims4(&dy);
    assert_eq!(
        [n, oh, ow, c],
        ws.shape,
        "max_pool2d: the workspace was filled by a forward pass of another shape"
    );
    assert_eq!(
        [oh, ow],
        [g.out_h, g.out_w],
        "max_pool2d: output gradient shape"
    );
    let dy = contiguous(&dy);
    let dys = slice_of(&dy);
    let arg = &ws.argmax[..];
    scatter_windows(cx, g, n, c, dx, |s, dimg| {
        for oy in 0..g.out_h {
            for ox in 0..g.out_w {
                let (iy, nh, ix, nw, first) = window(g, oy, ox);
                let base = ((s * g.out_h + oy) * g.out_w + ox) * c;
                let (d, a) = (&dys[base..][..c], &arg[base..][..c]);
                for r in 0..nh {
                    for col in 0..nw {
                        let local = (first + r * g.kw + col) as u32;
                        let target = &mut dimg[((iy + r) * g.in_w + ix + col) * c..][..c];
                        for ((t, &dv), &av) in target.iter_mut().zip(d).zip(a) {
                            *t += if av == local { dv } else { 0.0 };
                        }
                    }
                }
            }
        }
    });
}

/// `y` = the mean of the real (non-padded) elements of each window.
pub fn avg_pool2d_forward(cx: &Cpu, g: &Geometry2d, x: ArrayView4<'_, f32>, y: &mut Array4<f32>) {
    let (n, c) = check_input(g, dims4(&x));
    let x = contiguous(&x);
    let xs = slice_of(&x);
    reshape_buffer(y, Ix4(n, g.out_h, g.out_w, c));
    let pixels = g.out_pixels();
    let isa = cx.isa();
    let img = g.in_h * g.in_w * c;
    let per = items_per_task(n * pixels, g.kh * g.kw * c);
    let ys = slice_mut(y);
    cx.install(|| {
        for_each_chunk(ys, per * c, |t, out| {
            dispatch(isa, || {
                for (i, o) in out.chunks_exact_mut(c).enumerate() {
                    let q = t * per + i;
                    let (s, oy, ox) = (q / pixels, q % pixels / g.out_w, q % g.out_w);
                    let (iy, nh, ix, nw, _) = window(g, oy, ox);
                    o.fill(0.0);
                    for r in 0..nh {
                        for col in 0..nw {
                            let v = &xs[s * img + ((iy + r) * g.in_w + ix + col) * c..][..c];
                            for (m, &e) in o.iter_mut().zip(v) {
                                *m += e;
                            }
                        }
                    }
                    let count = (nh * nw) as f32;
                    for m in o.iter_mut() {
                        *m /= count;
                    }
                }
            })
        });
    });
}

/// `dx` = each output gradient divided by its window's real element count and spread over
/// those elements.
pub fn avg_pool2d_backward(
    cx: &Cpu,
    g: &Geometry2d,
    dy: ArrayView4<'_, f32>,
    dx: &mut Array4<f32>,
) {
    let [n, oh, ow, c] = dims4(&dy);
    assert_eq!(
        [oh, ow],
        [g.out_h, g.out_w],
        "avg_pool2d: output gradient shape"
    );
    let dy = contiguous(&dy);
    let dys = slice_of(&dy);
    scatter_windows(cx, g, n, c, dx, |s, dimg| {
        for oy in 0..g.out_h {
            for ox in 0..g.out_w {
                let (iy, nh, ix, nw, _) = window(g, oy, ox);
                let count = (nh * nw) as f32;
                let d = &dys[((s * g.out_h + oy) * g.out_w + ox) * c..][..c];
                for r in 0..nh {
                    for col in 0..nw {
                        let target = &mut dimg[((iy + r) * g.in_w + ix + col) * c..][..c];
                        for (t, &dv) in target.iter_mut().zip(d) {
                            *t += dv / count;
                        }
                    }
                }
            }
        }
    });
}

/// Zeroes `dx` (shaped for `n` images of `c` channels) and runs `visit(sample, image)` on every
/// image, in parallel over whole images so that no two tasks touch the same element.
fn scatter_windows<F>(cx: &Cpu, g: &Geometry2d, n: usize, c: usize, dx: &mut Array4<f32>, visit: F)
where
    F: Fn(usize, &mut [f32]) + Sync + Send,
{
    reshape_buffer(dx, Ix4(n, g.in_h, g.in_w, c));
    let img = g.in_h * g.in_w * c;
    let per = items_per_task(n, g.out_pixels() * g.kh * g.kw * c);
    let isa = cx.isa();
    let dxs = slice_mut(dx);
    cx.install(|| {
        for_each_chunk(dxs, per * img, |t, chunk| {
            chunk.fill(0.0);
            dispatch(isa, || {
                for (i, dimg) in chunk.chunks_exact_mut(img).enumerate() {
                    visit(t * per + i, dimg);
                }
            })
        });
    });
}

/// Keras `GlobalAveragePooling2D`: `y[s, c]` = the mean over all pixels of image `s`.
pub fn global_avg_pool2d_forward(cx: &Cpu, x: ArrayView4<'_, f32>, y: &mut Array2<f32>) {
    let [n, h, w, c] = dims4(&x);
    let x = contiguous(&x);
    let xs = slice_of(&x);
    reshape_buffer(y, Ix2(n, c));
    let img = h * w * c;
    let count = (h * w) as f32;
    let per = items_per_task(n, img);
    let isa = cx.isa();
    let ys = slice_mut(y);
    cx.install(|| {
        for_each_chunk(ys, per * c, |t, out| {
            dispatch(isa, || {
                for (i, o) in out.chunks_exact_mut(c).enumerate() {
                    o.fill(0.0);
                    for px in xs[(t * per + i) * img..][..img].chunks_exact(c) {
                        for (m, &e) in o.iter_mut().zip(px) {
                            *m += e;
                        }
                    }
                    for m in o.iter_mut() {
                        *m /= count;
                    }
                }
            })
        });
    });
}

/// Gradient of [`global_avg_pool2d_forward`] for an input of `h × w` pixels.
pub fn global_avg_pool2d_backward(
    cx: &Cpu,
    dy: ArrayView2<'_, f32>,
    [h, w]: [usize; 2],
    dx: &mut Array4<f32>,
) {
    let (n, c) = dy.dim();
    let dy = contiguous(&dy);
    let dys = slice_of(&dy);
    reshape_buffer(dx, Ix4(n, h, w, c));
    let img = h * w * c;
    let count = (h * w) as f32;
    let per = items_per_task(n, img);
    let dxs = slice_mut(dx);
    cx.install(|| {
        for_each_chunk(dxs, per * img, |t, chunk| {
            for (i, dimg) in chunk.chunks_exact_mut(img).enumerate() {
                let d = &dys[(t * per + i) * c..][..c];
                for px in dimg.chunks_exact_mut(c) {
                    for (o, &v) in px.iter_mut().zip(d) {
                        *o = v / count;
                    }
                }
            }
        });
    });
}
