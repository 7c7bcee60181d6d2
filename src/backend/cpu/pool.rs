//! Pooling with TensorFlow semantics: max pooling (the gradient goes to the first maximal
//! element of each window, in row-major window order), average pooling (`same` windows
//! divide by the number of real, non-padded elements) and global average pooling.

use ndarray::{Array2, Array4, ArrayView2, ArrayView4, Ix2, Ix4};

use super::buffer::{contiguous, dims4, reshape_buffer, scratch, slice_mut, slice_of};
use super::context::Cpu;
use super::geometry::Geometry2d;
use super::parallel::{for_each_chunk, for_each_chunk2, items_per_task};
use super::simd::{dispatch, LANES};

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

// Channel loops in blocks of `LANES`: fixed-length arrays let the compiler emit one vector
// operation per block even when there are only 8 channels. Selections are written as bit
// masks so that they stay data-parallel selects instead of becoming branches.

/// All ones where `cond`, else all zeros.
#[inline(always)]
fn mask(cond: bool) -> u32 {
    (cond as u32).wrapping_neg()
}

/// `if m { a } else { b }` on bits.
#[inline(always)]
fn pick(m: u32, a: u32, b: u32) -> u32 {
    (a & m) | (b & !m)
}

/// Where a clipped window lies in one image: element `(r, col)` of the window, `r < rows`,
/// `col < cols`, starts at `base + r·row_stride + col·c` and has window-local index
/// `first + r·kw + col`.
#[derive(Clone, Copy)]
struct WindowAt {
    base: usize,
    row_stride: usize,
    rows: usize,
    cols: usize,
    first: usize,
    kw: usize,
}

impl WindowAt {
    fn new(g: &Geometry2d, c: usize, image: usize, oy: usize, ox: usize) -> WindowAt {
        let (iy, rows, ix, cols, first) = window(g, oy, ox);
        WindowAt {
            base: image + (iy * g.in_w + ix) * c,
            row_stride: g.in_w * c,
            rows,
            cols,
            first,
            kw: g.kw,
        }
    }
}

/// `o` = the window maximum per channel and, when `a` is given, the window-local index of its
/// first occurrence (a later element wins only when strictly larger). The running maxima of a
/// block of `LANES` channels stay in registers across the window.
#[inline(always)]
fn window_max(xs: &[f32], w: WindowAt, o: &mut [f32], mut a: Option<&mut [u32]>) {
    let c = o.len();
    let mut j0 = 0;
    while j0 + LANES <= c {
        let mut m: [f32; LANES] = xs[w.base + j0..][..LANES].try_into().unwrap();
        let mut i = [w.first as u32; LANES];
        for r in 0..w.rows {
            let row = w.base + r * w.row_stride + j0;
            for col in 0..w.cols {
                let v: &[f32; LANES] = xs[row + col * c..][..LANES].try_into().unwrap();
                let local = (w.first + r * w.kw + col) as u32;
                for l in 0..LANES {
                    let gt = mask(v[l] > m[l]);
                    m[l] = f32::from_bits(pick(gt, v[l].to_bits(), m[l].to_bits()));
                    i[l] = pick(gt, local, i[l]);
                }
            }
        }
        o[j0..j0 + LANES].copy_from_slice(&m);
        if let Some(a) = a.as_deref_mut() {
            a[j0..j0 + LANES].copy_from_slice(&i);
        }
        j0 += LANES;
    }
    for j in j0..c {
        let (mut m, mut i) = (xs[w.base + j], w.first as u32);
        for r in 0..w.rows {
            for col in 0..w.cols {
                let v = xs[w.base + r * w.row_stride + col * c + j];
                if v > m {
                    (m, i) = (v, (w.first + r * w.kw + col) as u32);
                }
            }
        }
        o[j] = m;
        if let Some(a) = a.as_deref_mut() {
            a[j] = i;
        }
    }
}

/// `o` = the window sum per channel (row-major window order), kept in registers per block.
#[inline(always)]
fn window_sum(xs: &[f32], w: WindowAt, o: &mut [f32]) {
    let c = o.len();
    let mut j0 = 0;
    while j0 + LANES <= c {
        let mut sum = [0f32; LANES];
        for r in 0..w.rows {
            for col in 0..w.cols {
                let v: &[f32; LANES] = xs[w.base + r * w.row_stride + col * c + j0..][..LANES]
                    .try_into()
                    .unwrap();
                for l in 0..LANES {
                    sum[l] += v[l];
                }
            }
        }
        o[j0..j0 + LANES].copy_from_slice(&sum);
        j0 += LANES;
    }
    for j in j0..c {
        let mut sum = 0.0;
        for r in 0..w.rows {
            for col in 0..w.cols {
                sum += xs[w.base + r * w.row_stride + col * c + j];
            }
        }
        o[j] = sum;
    }
}

/// `t (=|+=) (a == local ? d : 0)`, lane by lane: assigned when `assign`, else added.
#[inline(always)]
fn route(t: &mut [f32], d: &[f32], a: &[u32], local: u32, assign: bool) {
    let term = |d: f32, a: u32| f32::from_bits(d.to_bits() & mask(a == local));
    let (mut tc, mut dc, mut ac) = (
        t.chunks_exact_mut(LANES),
        d.chunks_exact(LANES),
        a.chunks_exact(LANES),
    );
    for ((t8, d8), a8) in (&mut tc).zip(&mut dc).zip(&mut ac) {
        let t8: &mut [f32; LANES] = t8.try_into().unwrap();
        let d8: &[f32; LANES] = d8.try_into().unwrap();
        let a8: &[u32; LANES] = a8.try_into().unwrap();
        *t8 = if assign {
            std::array::from_fn(|l| term(d8[l], a8[l]))
        } else {
            std::array::from_fn(|l| t8[l] + term(d8[l], a8[l]))
        };
    }
    for ((t, &d), &a) in tc
        .into_remainder()
        .iter_mut()
        .zip(dc.remainder())
        .zip(ac.remainder())
    {
        *t = if assign { term(d, a) } else { *t + term(d, a) };
    }
}

/// `t += v·scale`, lane by lane.
#[inline(always)]
fn add_scaled(t: &mut [f32], v: &[f32], scale: f32) {
    let (mut tc, mut vc) = (t.chunks_exact_mut(LANES), v.chunks_exact(LANES));
    for (t8, v8) in (&mut tc).zip(&mut vc) {
        let (t8, v8): (&mut [f32; LANES], &[f32; LANES]) =
            (t8.try_into().unwrap(), v8.try_into().unwrap());
        for l in 0..LANES {
            t8[l] += v8[l] * scale;
        }
    }
    for (t, &v) in tc.into_remainder().iter_mut().zip(vc.remainder()) {
        *t += v * scale;
    }
}

/// Whether the windows tile the input exactly — no padding, stride = window, nothing left
/// over (the usual 2×2/2 `valid` pool on even sizes): every input element then lies in
/// exactly one window, and output row `oy` reads input rows `oy·kh .. (oy+1)·kh`.
fn is_tiled(g: &Geometry2d) -> bool {
    !g.is_padded()
        && (g.sh, g.sw) == (g.kh, g.kw)
        && (g.out_h * g.kh, g.out_w * g.kw) == (g.in_h, g.in_w)
}

/// Tiled max pooling of one output row: `src` is the `KH` input rows of `row_len` values,
/// `out` (and `arg` when `RECORD`) the output row. Same arithmetic as [`window_max`].
#[inline(always)]
fn max_row_tiled<const KH: usize, const KW: usize, const RECORD: bool>(
    src: &[f32],
    row_len: usize,
    c: usize,
    out: &mut [f32],
    arg: &mut [u32],
) {
    let seg = KW * c;
    for (ox, o) in out.chunks_exact_mut(c).enumerate() {
        let window: [&[f32]; KH] = std::array::from_fn(|r| &src[r * row_len + ox * seg..][..seg]);
        let mut j0 = 0;
        while j0 + LANES <= c {
            let mut m: [f32; LANES] = window[0][j0..j0 + LANES].try_into().unwrap();
            let mut i = [0u32; LANES];
            for (r, row) in window.iter().enumerate() {
                for col in 0..KW {
                    if r == 0 && col == 0 {
                        continue;
                    }
                    let v: &[f32; LANES] = row[col * c + j0..][..LANES].try_into().unwrap();
                    let local = (r * KW + col) as u32;
                    for l in 0..LANES {
                        let gt = mask(v[l] > m[l]);
                        m[l] = f32::from_bits(pick(gt, v[l].to_bits(), m[l].to_bits()));
                        i[l] = pick(gt, local, i[l]);
                    }
                }
            }
            o[j0..j0 + LANES].copy_from_slice(&m);
            if RECORD {
                arg[ox * c + j0..][..LANES].copy_from_slice(&i);
            }
            j0 += LANES;
        }
        for j in j0..c {
            let (mut m, mut i) = (window[0][j], 0u32);
            for (r, row) in window.iter().enumerate() {
                for col in 0..KW {
                    if row[col * c + j] > m {
                        (m, i) = (row[col * c + j], (r * KW + col) as u32);
                    }
                }
            }
            o[j] = m;
            if RECORD {
                arg[ox * c + j] = i;
            }
        }
    }
}

/// Tiled max-pool backward for one output row: writes the `KH` input rows `dst` (every
/// element exactly once) from the output gradients `d` and recorded maxima `a`.
#[inline(always)]
fn route_row_tiled<const KH: usize, const KW: usize>(
    d: &[f32],
    a: &[u32],
    row_len: usize,
    c: usize,
    dst: &mut [f32],
) {
    if c % LANES != 0 {
        for (r, t_row) in dst.chunks_exact_mut(row_len).take(KH).enumerate() {
            let windows = t_row
                .chunks_exact_mut(KW * c)
                .zip(d.chunks_exact(c))
                .zip(a.chunks_exact(c));
            for ((seg, dv), av) in windows {
                for (col, t) in seg.chunks_exact_mut(c).enumerate() {
                    route(t, dv, av, (r * KW + col) as u32, true);
                }
            }
        }
        return;
    }
    // Whole blocks of `LANES` channels: flat loops over fixed-size blocks.
    let (blocks, out_w) = (c / LANES, d.len() / c);
    for r in 0..KH {
        for ox in 0..out_w {
            for col in 0..KW {
                let local = (r * KW + col) as u32;
                let at = r * row_len + (ox * KW + col) * c;
                for b in 0..blocks {
                    let j = ox * c + b * LANES;
                    let dv: &[f32; LANES] = d[j..j + LANES].try_into().unwrap();
                    let av: &[u32; LANES] = a[j..j + LANES].try_into().unwrap();
                    let t: &mut [f32; LANES] = (&mut dst[at + b * LANES..at + (b + 1) * LANES])
                        .try_into()
                        .unwrap();
                    *t = std::array::from_fn(|l| {
                        f32::from_bits(dv[l].to_bits() & mask(av[l] == local))
                    });
                }
            }
        }
    }
}

/// Runs `f(s, oy, out_row, arg_row)` for every output row (`out_w·c` values of `ys`, and of
/// `arg` when given) in parallel.
fn for_output_rows<F>(
    cx: &Cpu,
    g: &Geometry2d,
    c: usize,
    ys: &mut [f32],
    arg: Option<&mut [u32]>,
    f: F,
) where
    F: Fn(usize, usize, &mut [f32], Option<&mut [u32]>) + Sync + Send,
{
    let row = g.out_w * c;
    let per = items_per_task(ys.len() / row.max(1), row * g.kh * g.kw);
    let isa = cx.isa();
    // One `dispatch` per row: a closure called once inside it is inlined there, so `f`'s
    // loops are compiled for the wide instruction set.
    let rows = |t: usize, chunk: &mut [f32], mut arg: Option<&mut [u32]>| {
        for (i, out) in chunk.chunks_exact_mut(row).enumerate() {
            let q = t * per + i;
            let a = arg.as_deref_mut().map(|a| &mut a[i * row..][..row]);
            dispatch(
                isa,
                #[inline(always)]
                || f(q / g.out_h, q % g.out_h, out, a),
            );
        }
    };
    cx.install(|| match arg {
        None => for_each_chunk(ys, per * row, |t, chunk| rows(t, chunk, None)),
        Some(arg) => for_each_chunk2(ys, per * row, arg, per * row, |t, chunk, a| {
            rows(t, chunk, Some(a))
        }),
    });
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
    let img = g.in_h * g.in_w * c;
    let ys = slice_mut(y);
    let arg = ws.map(|ws| {
        ws.shape = [n, g.out_h, g.out_w, c];
        scratch(&mut ws.argmax, ys.len())
    });
    let tiled = is_tiled(g);
    let in_row = g.in_w * c;
    let window_rows = g.kh * in_row;
    for_output_rows(
        cx,
        g,
        c,
        ys,
        arg,
        #[inline(always)]
        |s, oy, out, arg| {
            // The window rows of a tiled pool (only meaningful when `tiled`).
            let src = || &xs[s * img + oy * window_rows..][..window_rows];
            match (tiled, (g.kh, g.kw), arg) {
                (true, (2, 2), None) => {
                    max_row_tiled::<2, 2, false>(src(), in_row, c, out, &mut [])
                }
                (true, (2, 2), Some(a)) => max_row_tiled::<2, 2, true>(src(), in_row, c, out, a),
                (true, (3, 3), None) => {
                    max_row_tiled::<3, 3, false>(src(), in_row, c, out, &mut [])
                }
                (true, (3, 3), Some(a)) => max_row_tiled::<3, 3, true>(src(), in_row, c, out, a),
                (_, _, None) => {
                    for (ox, o) in out.chunks_exact_mut(c).enumerate() {
                        window_max(xs, WindowAt::new(g, c, s * img, oy, ox), o, None);
                    }
                }
                (_, _, Some(arg)) => {
                    let cells = out.chunks_exact_mut(c).zip(arg.chunks_exact_mut(c));
                    for (ox, (o, a)) in cells.enumerate() {
                        window_max(xs, WindowAt::new(g, c, s * img, oy, ox), o, Some(a));
                    }
                }
            }
        },
    );
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
    assert_eq!(
        dims4(&dy),
        ws.shape,
        "max_pool2d: the workspace was filled by a forward pass of another shape"
    );
    let c = ws.shape[3];
    let arg = &ws.argmax[..];
    // Tiled windows cover every input element once: the routed gradient is written directly,
    // without zeroing first.
    let tiled = is_tiled(g);
    let (in_row, out_row) = (g.in_w * c, g.out_w * c);
    scatter_windows(
        cx,
        "max_pool2d",
        g,
        dy,
        dx,
        !tiled,
        #[inline(always)]
        |dys, s, dimg| {
            for oy in 0..g.out_h {
                let base = (s * g.out_h + oy) * out_row;
                let (d, a) = (&dys[base..][..out_row], &arg[base..][..out_row]);
                let rows = oy * g.kh * in_row..(oy + 1) * g.kh * in_row;
                match (tiled, (g.kh, g.kw)) {
                    (true, (2, 2)) => route_row_tiled::<2, 2>(d, a, in_row, c, &mut dimg[rows]),
                    (true, (3, 3)) => route_row_tiled::<3, 3>(d, a, in_row, c, &mut dimg[rows]),
                    _ => {
                        for ox in 0..g.out_w {
                            let (iy, nh, ix, nw, first) = window(g, oy, ox);
                            let (dc, ac) = (&d[ox * c..][..c], &a[ox * c..][..c]);
                            for r in 0..nh {
                                for col in 0..nw {
                                    let local = (first + r * g.kw + col) as u32;
                                    let at = ((iy + r) * g.in_w + ix + col) * c;
                                    route(&mut dimg[at..][..c], dc, ac, local, tiled);
                                }
                            }
                        }
                    }
                }
            }
        },
    );
}

/// `y` = the mean of the real (non-padded) elements of each window.
pub fn avg_pool2d_forward(cx: &Cpu, g: &Geometry2d, x: ArrayView4<'_, f32>, y: &mut Array4<f32>) {
    let (n, c) = check_input(g, dims4(&x));
    let x = contiguous(&x);
    let xs = slice_of(&x);
    reshape_buffer(y, Ix4(n, g.out_h, g.out_w, c));
    let img = g.in_h * g.in_w * c;
    for_output_rows(
        cx,
        g,
        c,
        slice_mut(y),
        None,
        #[inline(always)]
        |s, oy, out, _| {
            for (ox, o) in out.chunks_exact_mut(c).enumerate() {
                let w = WindowAt::new(g, c, s * img, oy, ox);
                window_sum(xs, w, o);
                // TensorFlow divides the window sum by the count of real elements.
                let count = (w.rows * w.cols) as f32;
                for m in o.iter_mut() {
                    *m /= count;
                }
            }
        },
    );
}

/// `dx` = each output gradient divided by its window's real element count and spread over
/// those elements.
pub fn avg_pool2d_backward(
    cx: &Cpu,
    g: &Geometry2d,
    dy: ArrayView4<'_, f32>,
    dx: &mut Array4<f32>,
) {
    let c = dy.dim().3;
    scatter_windows(
        cx,
        "avg_pool2d",
        g,
        dy,
        dx,
        true,
        #[inline(always)]
        |dys, s, dimg| {
            for oy in 0..g.out_h {
                for ox in 0..g.out_w {
                    let (iy, nh, ix, nw, _) = window(g, oy, ox);
                    // TensorFlow's AvgPoolGrad multiplies by 1/count, computed in double.
                    let scale = (1.0 / (nh * nw) as f64) as f32;
                    let d = &dys[((s * g.out_h + oy) * g.out_w + ox) * c..][..c];
                    for r in 0..nh {
                        for col in 0..nw {
                            let target = &mut dimg[((iy + r) * g.in_w + ix + col) * c..][..c];
                            add_scaled(target, d, scale);
                        }
                    }
                }
            }
        },
    );
}

/// The frame of a pooling gradient: checks the output gradient `dy` against `g` (a contract of
/// `what`, the caller), shapes `dx` like the input, zeroes it when `zero` is set, and runs
/// `visit(dy, sample, image)` on every image of `dx`, in parallel over whole images so that no
/// two tasks touch the same element.
fn scatter_windows<F>(
    cx: &Cpu,
    what: &str,
    g: &Geometry2d,
    dy: ArrayView4<'_, f32>,
    dx: &mut Array4<f32>,
    zero: bool,
    visit: F,
) where
    F: Fn(&[f32], usize, &mut [f32]) + Sync + Send,
{
    let [n, oh, ow, c] = dims4(&dy);
    assert_eq!(
        [oh, ow],
        [g.out_h, g.out_w],
        "{what}: output gradient shape"
    );
    let dy = contiguous(&dy);
    let dys = slice_of(&dy);
    reshape_buffer(dx, Ix4(n, g.in_h, g.in_w, c));
    let img = g.in_h * g.in_w * c;
    let per = items_per_task(n, g.out_pixels() * g.kh * g.kw * c);
    let isa = cx.isa();
    let dxs = slice_mut(dx);
    cx.install(|| {
        for_each_chunk(dxs, per * img, |t, chunk| {
            if zero {
                chunk.fill(0.0);
            }
            for (i, dimg) in chunk.chunks_exact_mut(img).enumerate() {
                dispatch(
                    isa,
                    #[inline(always)]
                    || visit(dys, t * per + i, dimg),
                );
            }
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
            dispatch(
                isa,
                #[inline(always)]
                || {
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
                },
            )
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
