//! The CPU kernels of `qnnc::backend::cpu` against naive f64 reference loops (forward), against
//! centred finite differences of those references (every gradient), against the Keras
//! reference outputs of the toy model, and for bit-for-bit determinism.
//!
//! Gradient tolerance: a check passes when `|got − want| ≤ 1e-4·max|want| + 1e-5`. The kernels
//! compute in f32 (unit roundoff 6e-8) and sum at most a few thousand terms, so their
//! relative error stays around 1e-6 of the gradient's scale; the f64 centred differences are
//! exact for the linear ops and carry an O(h²) ≈ 1e-8 truncation error for the smooth
//! non-linear ones (inputs are kept at least 2h away from kinks and ties). An indexing or
//! formula mistake shows up as an O(1) relative error, four orders of magnitude above the bar.

use std::fs::File;

use ndarray::{Array1, Array2, Array4, ArrayD, Ix4, IxDyn};
use ndarray_npy::NpzReader;
use qnnc::backend::cpu::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

// ---------------------------------------------------------------------------------------------
// helpers

fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

fn random4(r: &mut ChaCha8Rng, shape: [usize; 4], lo: f32, hi: f32) -> Array4<f32> {
    Array4::from_shape_simple_fn(shape, || r.random_range(lo..hi))
}

fn random1(r: &mut ChaCha8Rng, n: usize, lo: f32, hi: f32) -> Array1<f32> {
    Array1::from_shape_simple_fn(n, || r.random_range(lo..hi))
}

fn random2(r: &mut ChaCha8Rng, shape: [usize; 2], lo: f32, hi: f32) -> Array2<f32> {
    Array2::from_shape_simple_fn(shape, || r.random_range(lo..hi))
}

/// Values `±(0.05 + 0.01·k)` in random order: distinct by at least 0.01 and away from zero, so
/// finite differences with h = 1e-3 never cross a maximum's tie or a ReLU's kink.
fn separated4(r: &mut ChaCha8Rng, shape: [usize; 4]) -> Array4<f32> {
    let n: usize = shape.iter().product();
    let mut v: Vec<f32> = (0..n)
        .map(|k| {
            let s = if k % 2 == 0 { 1.0 } else { -1.0 };
            s * (0.05 + 0.01 * (k / 2) as f32)
        })
        .collect();
    for i in (1..n).rev() {
        v.swap(i, r.random_range(0..=i));
    }
    Array4::from_shape_vec(shape, v).unwrap()
}

fn f64s(x: &[f32]) -> Vec<f64> {
    x.iter().map(|&v| v as f64).collect()
}

/// A 2-thread context for every instruction set this machine supports.
fn cpus() -> Vec<Cpu> {
    Isa::supported()
        .into_iter()
        .map(|isa| Cpu::with_isa(2, isa).unwrap())
        .collect()
}

#[track_caller]
fn assert_close(what: &str, got: &[f32], want: &[f64], rtol: f64, atol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let scale = want.iter().fold(0f64, |m, &v| m.max(v.abs()));
    let tol = rtol * scale + atol;
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g as f64 - w).abs() <= tol,
            "{what}[{i}]: got {g}, want {w} (tolerance {tol:e})"
        );
    }
}

#[track_caller]
fn assert_grad(what: &str, got: &[f32], want: &[f64]) {
    assert_close(what, got, want, 1e-4, 1e-5);
}

/// Centred differences `(f(x + h·eᵢ) − f(x − h·eᵢ)) / 2h` for every element.
fn numeric_grad(x: &[f64], h: f64, f: impl Fn(&[f64]) -> f64) -> Vec<f64> {
    let mut xp = x.to_vec();
    (0..x.len())
        .map(|i| {
            xp[i] = x[i] + h;
            let up = f(&xp);
            xp[i] = x[i] - h;
            let down = f(&xp);
            xp[i] = x[i];
            (up - down) / (2.0 * h)
        })
        .collect()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Input size, window, strides and padding of a convolution or pooling case.
type WindowCase = ([usize; 2], [usize; 2], [usize; 2], Padding);

fn geometry(
    input: [usize; 2],
    window: [usize; 2],
    strides: [usize; 2],
    padding: Padding,
) -> Geometry2d {
    Geometry2d::new(input, window, strides, padding).unwrap()
}

// ---------------------------------------------------------------------------------------------
// f64 reference implementations (naive loops over NHWC, row-major slices)

/// Input pixel of window element `(ky, kx)` of output pixel `(oy, ox)`, if it is not padding.
fn tap(g: &Geometry2d, oy: usize, ox: usize, ky: usize, kx: usize) -> Option<(usize, usize)> {
    let iy = (oy * g.sh + ky).checked_sub(g.pad_top)?;
    let ix = (ox * g.sw + kx).checked_sub(g.pad_left)?;
    (iy < g.in_h && ix < g.in_w).then_some((iy, ix))
}

fn ref_conv(
    g: &Geometry2d,
    n: usize,
    cin: usize,
    cout: usize,
    x: &[f64],
    k: &[f64],
    b: Option<&[f64]>,
) -> Vec<f64> {
    let mut y = vec![0f64; n * g.out_h * g.out_w * cout];
    for s in 0..n {
        for oy in 0..g.out_h {
            for ox in 0..g.out_w {
                for co in 0..cout {
                    let mut acc = b.map_or(0.0, |b| b[co]);
                    for ky in 0..g.kh {
                        for kx in 0..g.kw {
                            if let Some((iy, ix)) = tap(g, oy, ox, ky, kx) {
                                for ci in 0..cin {
                                    acc += x[((s * g.in_h + iy) * g.in_w + ix) * cin + ci]
                                        * k[((ky * g.kw + kx) * cin + ci) * cout + co];
                                }
                            }
                        }
                    }
                    y[((s * g.out_h + oy) * g.out_w + ox) * cout + co] = acc;
                }
            }
        }
    }
    y
}

fn ref_depthwise(
    g: &Geometry2d,
    n: usize,
    c: usize,
    x: &[f64],
    k: &[f64],
    b: Option<&[f64]>,
) -> Vec<f64> {
    let mut y = vec![0f64; n * g.out_h * g.out_w * c];
    for s in 0..n {
        for oy in 0..g.out_h {
            for ox in 0..g.out_w {
                for ch in 0..c {
                    let mut acc = b.map_or(0.0, |b| b[ch]);
                    for ky in 0..g.kh {
                        for kx in 0..g.kw {
                            if let Some((iy, ix)) = tap(g, oy, ox, ky, kx) {
                                acc += x[((s * g.in_h + iy) * g.in_w + ix) * c + ch]
                                    * k[(ky * g.kw + kx) * c + ch];
                            }
                        }
                    }
                    y[((s * g.out_h + oy) * g.out_w + ox) * c + ch] = acc;
                }
            }
        }
    }
    y
}

fn ref_dense(
    n: usize,
    fin: usize,
    fout: usize,
    x: &[f64],
    k: &[f64],
    b: Option<&[f64]>,
) -> Vec<f64> {
    let mut y = vec![0f64; n * fout];
    for s in 0..n {
        for o in 0..fout {
            y[s * fout + o] = b.map_or(0.0, |b| b[o])
                + (0..fin)
                    .map(|i| x[s * fin + i] * k[i * fout + o])
                    .sum::<f64>();
        }
    }
    y
}

/// Max (`avg = false`) or average (over real elements) pooling.
fn ref_pool(g: &Geometry2d, n: usize, c: usize, x: &[f64], avg: bool) -> Vec<f64> {
    let mut y = vec![0f64; n * g.out_h * g.out_w * c];
    for s in 0..n {
        for oy in 0..g.out_h {
            for ox in 0..g.out_w {
                for ch in 0..c {
                    let vals: Vec<f64> = (0..g.kh)
                        .flat_map(|ky| (0..g.kw).map(move |kx| (ky, kx)))
                        .filter_map(|(ky, kx)| tap(g, oy, ox, ky, kx))
                        .map(|(iy, ix)| x[((s * g.in_h + iy) * g.in_w + ix) * c + ch])
                        .collect();
                    y[((s * g.out_h + oy) * g.out_w + ox) * c + ch] = if avg {
                        vals.iter().sum::<f64>() / vals.len() as f64
                    } else {
                        vals.iter().copied().fold(f64::NEG_INFINITY, f64::max)
                    };
                }
            }
        }
    }
    y
}

/// Batch normalization over rows of `c` channels with the given (or the batch's) statistics.
fn ref_batch_norm(
    x: &[f64],
    c: usize,
    gamma: &[f64],
    beta: &[f64],
    eps: f64,
    stats: Option<(&[f64], &[f64])>,
) -> Vec<f64> {
    let m = x.len() / c;
    let (mean, var): (Vec<f64>, Vec<f64>) = match stats {
        Some((mu, v)) => (mu.to_vec(), v.to_vec()),
        None => {
            let mean: Vec<f64> = (0..c)
                .map(|ch| (0..m).map(|r| x[r * c + ch]).sum::<f64>() / m as f64)
                .collect();
            let var = (0..c)
                .map(|ch| {
                    (0..m)
                        .map(|r| (x[r * c + ch] - mean[ch]).powi(2))
                        .sum::<f64>()
                        / m as f64
                })
                .collect();
            (mean, var)
        }
    };
    x.iter()
        .enumerate()
        .map(|(i, &v)| {
            let ch = i % c;
            (v - mean[ch]) / (var[ch] + eps).sqrt() * gamma[ch] + beta[ch]
        })
        .collect()
}

fn ref_softmax_rows(z: &[f64], k: usize) -> Vec<f64> {
    z.chunks(k)
        .flat_map(|row| {
            let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = row.iter().map(|&v| (v - max).exp()).collect();
            let sum: f64 = e.iter().sum();
            e.into_iter().map(move |v| v / sum)
        })
        .collect()
}

fn ref_xent(z: &[f64], k: usize, labels: &[u32]) -> f64 {
    let p = ref_softmax_rows(z, k);
    labels
        .iter()
        .enumerate()
        .map(|(s, &l)| -p[s * k + l as usize].ln())
        .sum::<f64>()
        / labels.len() as f64
}

// ---------------------------------------------------------------------------------------------
// convolution

/// (input h, w), kernel, strides, padding, batch, cin, cout — including stride-2 `same` on odd
/// and even sizes (symmetric and bottom/right-heavy padding) and widths that exercise every
/// micro-kernel edge case (cout 1, 8, 10, 17; output rows longer than one tile).
const CONV_CASES: &[(WindowCase, usize, usize, usize)] = &[
    (([7, 7], [3, 3], [2, 2], Padding::Same), 2, 3, 5),
    (([6, 8], [3, 3], [2, 2], Padding::Same), 2, 2, 8),
    (([9, 5], [3, 3], [2, 1], Padding::Same), 1, 1, 10),
    (([8, 8], [3, 3], [1, 1], Padding::Valid), 3, 1, 8),
    (([5, 14], [3, 3], [1, 1], Padding::Same), 2, 4, 17),
    (([6, 6], [1, 1], [1, 1], Padding::Valid), 2, 6, 3),
    (([7, 6], [5, 3], [1, 2], Padding::Valid), 1, 2, 1),
    (([4, 4], [2, 2], [2, 2], Padding::Same), 2, 3, 16),
];

#[test]
fn conv2d_forward_matches_naive_loops() {
    for cx in cpus() {
        for (case, &((input, window, strides, padding), n, cin, cout)) in
            CONV_CASES.iter().enumerate()
        {
            let g = geometry(input, window, strides, padding);
            let mut r = rng(case as u64);
            let x = random4(&mut r, [n, input[0], input[1], cin], -1.0, 1.0);
            let k = random4(&mut r, [window[0], window[1], cin, cout], -1.0, 1.0);
            let b = random1(&mut r, cout, -0.5, 0.5);
            let want = ref_conv(
                &g,
                n,
                cin,
                cout,
                &f64s(x.as_slice().unwrap()),
                &f64s(k.as_slice().unwrap()),
                Some(&f64s(b.as_slice().unwrap())),
            );
            let mut ws = Conv2dWorkspace::default();
            let mut y = Array4::zeros((0, 0, 0, 0));
            conv2d_forward(&cx, &g, x.view(), k.view(), Some(b.view()), &mut ws, &mut y);
            assert_eq!(y.dim(), (n, g.out_h, g.out_w, cout));
            assert_close(
                &format!("conv case {case} {:?}", cx.isa()),
                y.as_slice().unwrap(),
                &want,
                1e-6,
                1e-6,
            );
        }
    }
}

#[test]
fn conv2d_gradients_match_finite_differences() {
    let cx = Cpu::new(2).unwrap();
    for (case, &((input, window, strides, padding), n, cin, cout)) in CONV_CASES.iter().enumerate()
    {
        let g = geometry(input, window, strides, padding);
        let mut r = rng(100 + case as u64);
        let x = random4(&mut r, [n, input[0], input[1], cin], -1.0, 1.0);
        let k = random4(&mut r, [window[0], window[1], cin, cout], -1.0, 1.0);
        let b = random1(&mut r, cout, -0.5, 0.5);
        let dy = random4(&mut r, [n, g.out_h, g.out_w, cout], -1.0, 1.0);
        let (xs, ks, bs, dys) = (
            f64s(x.as_slice().unwrap()),
            f64s(k.as_slice().unwrap()),
            f64s(b.as_slice().unwrap()),
            f64s(dy.as_slice().unwrap()),
        );
        let mut ws = Conv2dWorkspace::default();
        let (mut dx, mut dk, mut db) = (
            Array4::zeros((0, 0, 0, 0)),
            Array4::zeros((0, 0, 0, 0)),
            Array1::zeros(0),
        );
        conv2d_backward(
            &cx,
            &g,
            x.view(),
            k.view(),
            dy.view(),
            &mut ws,
            Some(&mut dx),
            &mut dk,
            Some(&mut db),
        );
        let loss =
            |x: &[f64], k: &[f64], b: &[f64]| dot(&ref_conv(&g, n, cin, cout, x, k, Some(b)), &dys);
        let what = format!("conv case {case}");
        assert_grad(
            &format!("{what} dx"),
            dx.as_slice().unwrap(),
            &numeric_grad(&xs, 1e-3, |x| loss(x, &ks, &bs)),
        );
        assert_grad(
            &format!("{what} dkernel"),
            dk.as_slice().unwrap(),
            &numeric_grad(&ks, 1e-3, |k| loss(&xs, k, &bs)),
        );
        assert_grad(
            &format!("{what} dbias"),
            db.as_slice().unwrap(),
            &numeric_grad(&bs, 1e-3, |b| loss(&xs, &ks, b)),
        );
    }
}

#[test]
fn conv2d_parameter_gradients_with_sparse_output_gradients() {
    // Behind a max pool most output-gradient pixels are zero.
    let cx = Cpu::new(2).unwrap();
    for (case, &((input, window, strides, padding), n, cin, cout)) in CONV_CASES.iter().enumerate()
    {
        let g = geometry(input, window, strides, padding);
        let mut r = rng(150 + case as u64);
        let x = random4(&mut r, [n, input[0], input[1], cin], -1.0, 1.0);
        let k = random4(&mut r, [window[0], window[1], cin, cout], -1.0, 1.0);
        let mut dy = random4(&mut r, [n, g.out_h, g.out_w, cout], -1.0, 1.0);
        for (p, mut px) in dy.rows_mut().into_iter().enumerate() {
            if p % 4 != 1 {
                px.fill(0.0);
            }
        }
        let (xs, ks, dys) = (
            f64s(x.as_slice().unwrap()),
            f64s(k.as_slice().unwrap()),
            f64s(dy.as_slice().unwrap()),
        );
        let bs = vec![0.0; cout];
        let mut ws = Conv2dWorkspace::default();
        let (mut dk, mut db) = (Array4::zeros((0, 0, 0, 0)), Array1::zeros(0));
        conv2d_backward(
            &cx,
            &g,
            x.view(),
            k.view(),
            dy.view(),
            &mut ws,
            None,
            &mut dk,
            Some(&mut db),
        );
        let loss = |k: &[f64], b: &[f64]| dot(&ref_conv(&g, n, cin, cout, &xs, k, Some(b)), &dys);
        let what = format!("sparse conv case {case}");
        assert_grad(
            &format!("{what} dkernel"),
            dk.as_slice().unwrap(),
            &numeric_grad(&ks, 1e-3, |k| loss(k, &bs)),
        );
        assert_grad(
            &format!("{what} dbias"),
            db.as_slice().unwrap(),
            &numeric_grad(&bs, 1e-3, |b| loss(&ks, b)),
        );
    }
}

#[test]
fn conv2d_backward_without_input_gradient_gives_the_same_parameter_gradients() {
    let cx = Cpu::new(2).unwrap();
    let g = geometry([10, 10], [3, 3], [1, 1], Padding::Valid);
    let mut r = rng(7);
    let x = random4(&mut r, [4, 10, 10, 1], 0.0, 1.0);
    let k = random4(&mut r, [3, 3, 1, 8], -1.0, 1.0);
    let dy = random4(&mut r, [4, 8, 8, 8], -1.0, 1.0);
    let mut ws = Conv2dWorkspace::default();
    let (mut dx, mut dk1, mut dk2) = (
        Array4::zeros((0, 0, 0, 0)),
        Array4::zeros((0, 0, 0, 0)),
        Array4::zeros((0, 0, 0, 0)),
    );
    conv2d_backward(
        &cx,
        &g,
        x.view(),
        k.view(),
        dy.view(),
        &mut ws,
        Some(&mut dx),
        &mut dk1,
        None,
    );
    conv2d_backward(
        &cx,
        &g,
        x.view(),
        k.view(),
        dy.view(),
        &mut ws,
        None,
        &mut dk2,
        None,
    );
    assert_eq!(dk1, dk2);
}

// ---------------------------------------------------------------------------------------------
// depthwise and separable

const DEPTHWISE_CASES: &[(WindowCase, usize, usize)] = &[
    (([7, 7], [3, 3], [2, 2], Padding::Same), 2, 5),
    (([6, 6], [3, 3], [2, 2], Padding::Same), 1, 16),
    (([5, 6], [3, 3], [1, 1], Padding::Valid), 2, 3),
    (([5, 5], [5, 5], [1, 1], Padding::Same), 1, 9),
];

#[test]
fn depthwise_conv2d_forward_matches_naive_loops() {
    for cx in cpus() {
        for (case, &((input, window, strides, padding), n, c)) in DEPTHWISE_CASES.iter().enumerate()
        {
            let g = geometry(input, window, strides, padding);
            let mut r = rng(200 + case as u64);
            let x = random4(&mut r, [n, input[0], input[1], c], -1.0, 1.0);
            let k = random4(&mut r, [window[0], window[1], c, 1], -1.0, 1.0);
            let b = random1(&mut r, c, -0.5, 0.5);
            let want = ref_depthwise(
                &g,
                n,
                c,
                &f64s(x.as_slice().unwrap()),
                &f64s(k.as_slice().unwrap()),
                Some(&f64s(b.as_slice().unwrap())),
            );
            let mut y = Array4::zeros((0, 0, 0, 0));
            depthwise_conv2d_forward(
                &cx,
                &g,
                x.view(),
                k.view(),
                Some(b.view()),
                &mut DepthwiseWorkspace::default(),
                &mut y,
            );
            assert_close(
                &format!("depthwise case {case}"),
                y.as_slice().unwrap(),
                &want,
                1e-6,
                1e-6,
            );
        }
    }
}

#[test]
fn depthwise_conv2d_gradients_match_finite_differences() {
    let cx = Cpu::new(2).unwrap();
    for (case, &((input, window, strides, padding), n, c)) in DEPTHWISE_CASES.iter().enumerate() {
        let g = geometry(input, window, strides, padding);
        let mut r = rng(300 + case as u64);
        let x = random4(&mut r, [n, input[0], input[1], c], -1.0, 1.0);
        let k = random4(&mut r, [window[0], window[1], c, 1], -1.0, 1.0);
        let b = random1(&mut r, c, -0.5, 0.5);
        let dy = random4(&mut r, [n, g.out_h, g.out_w, c], -1.0, 1.0);
        let (xs, ks, bs, dys) = (
            f64s(x.as_slice().unwrap()),
            f64s(k.as_slice().unwrap()),
            f64s(b.as_slice().unwrap()),
            f64s(dy.as_slice().unwrap()),
        );
        let mut ws = DepthwiseWorkspace::default();
        let (mut dx, mut dk, mut db) = (
            Array4::zeros((0, 0, 0, 0)),
            Array4::zeros((0, 0, 0, 0)),
            Array1::zeros(0),
        );
        depthwise_conv2d_backward(
            &cx,
            &g,
            x.view(),
            k.view(),
            dy.view(),
            &mut ws,
            Some(&mut dx),
            &mut dk,
            Some(&mut db),
        );
        let loss =
            |x: &[f64], k: &[f64], b: &[f64]| dot(&ref_depthwise(&g, n, c, x, k, Some(b)), &dys);
        let what = format!("depthwise case {case}");
        assert_grad(
            &format!("{what} dx"),
            dx.as_slice().unwrap(),
            &numeric_grad(&xs, 1e-3, |x| loss(x, &ks, &bs)),
        );
        assert_grad(
            &format!("{what} dkernel"),
            dk.as_slice().unwrap(),
            &numeric_grad(&ks, 1e-3, |k| loss(&xs, k, &bs)),
        );
        assert_grad(
            &format!("{what} dbias"),
            db.as_slice().unwrap(),
            &numeric_grad(&bs, 1e-3, |b| loss(&xs, &ks, b)),
        );
    }
}

#[test]
fn separable_conv2d_is_depthwise_then_pointwise() {
    // Keras SeparableConv2D(4, 3, strides 2, same) = depthwise (3,3,C,1) then a 1×1 conv.
    let cx = Cpu::new(2).unwrap();
    let mut r = rng(400);
    let (n, c, f) = (2, 3, 4);
    let g = geometry([7, 6], [3, 3], [2, 2], Padding::Same);
    let x = random4(&mut r, [n, 7, 6, c], -1.0, 1.0);
    let dk = random4(&mut r, [3, 3, c, 1], -1.0, 1.0);
    let pk = random4(&mut r, [1, 1, c, f], -1.0, 1.0);
    let b = random1(&mut r, f, -0.5, 0.5);
    let mut mid = Array4::zeros((0, 0, 0, 0));
    depthwise_conv2d_forward(
        &cx,
        &g,
        x.view(),
        dk.view(),
        None,
        &mut DepthwiseWorkspace::default(),
        &mut mid,
    );
    let pg = geometry([g.out_h, g.out_w], [1, 1], [1, 1], Padding::Valid);
    let mut y = Array4::zeros((0, 0, 0, 0));
    conv2d_forward(
        &cx,
        &pg,
        mid.view(),
        pk.view(),
        Some(b.view()),
        &mut Conv2dWorkspace::default(),
        &mut y,
    );
    // Reference: the same separable conv as one Conv2D with kernel dk[ky,kx,ci]·pk[ci,co].
    let mut full = Array4::<f32>::zeros((3, 3, c, f));
    for ((ky, kx, ci, co), v) in full.indexed_iter_mut() {
        *v = dk[[ky, kx, ci, 0]] * pk[[0, 0, ci, co]];
    }
    let want = ref_conv(
        &g,
        n,
        c,
        f,
        &f64s(x.as_slice().unwrap()),
        &f64s(full.as_slice().unwrap()),
        Some(&f64s(b.as_slice().unwrap())),
    );
    assert_close("separable", y.as_slice().unwrap(), &want, 1e-5, 1e-5);
}

// ---------------------------------------------------------------------------------------------
// dense

#[test]
fn dense_forward_and_gradients_match_references() {
    for cx in cpus() {
        for (case, &(n, fin, fout)) in [(1, 1, 1), (5, 13, 10), (37, 40, 17), (130, 300, 8)]
            .iter()
            .enumerate()
        {
            let mut r = rng(500 + case as u64);
            let x = random2(&mut r, [n, fin], -1.0, 1.0);
            let k = random2(&mut r, [fin, fout], -1.0, 1.0);
            let b = random1(&mut r, fout, -0.5, 0.5);
            let dy = random2(&mut r, [n, fout], -1.0, 1.0);
            let (xs, ks, bs, dys) = (
                f64s(x.as_slice().unwrap()),
                f64s(k.as_slice().unwrap()),
                f64s(b.as_slice().unwrap()),
                f64s(dy.as_slice().unwrap()),
            );
            let mut y = Array2::zeros((0, 0));
            dense_forward(&cx, x.view(), k.view(), Some(b.view()), &mut y);
            let what = format!("dense case {case} {:?}", cx.isa());
            assert_close(
                &what,
                y.as_slice().unwrap(),
                &ref_dense(n, fin, fout, &xs, &ks, Some(&bs)),
                1e-6,
                1e-6,
            );

            let (mut dx, mut dk, mut db) = (
                Array2::zeros((0, 0)),
                Array2::zeros((0, 0)),
                Array1::zeros(0),
            );
            dense_backward(
                &cx,
                x.view(),
                k.view(),
                dy.view(),
                &mut DenseWorkspace::default(),
                Some(&mut dx),
                &mut dk,
                Some(&mut db),
            );
            let loss = |x: &[f64], k: &[f64], b: &[f64]| {
                dot(&ref_dense(n, fin, fout, x, k, Some(b)), &dys)
            };
            if n * fin <= 2000 {
                assert_grad(
                    &format!("{what} dx"),
                    dx.as_slice().unwrap(),
                    &numeric_grad(&xs, 1e-3, |x| loss(x, &ks, &bs)),
                );
                assert_grad(
                    &format!("{what} dkernel"),
                    dk.as_slice().unwrap(),
                    &numeric_grad(&ks, 1e-3, |k| loss(&xs, k, &bs)),
                );
            } else {
                // Large case: the analytic gradients of a linear map, in f64.
                let want_dx: Vec<f64> = (0..n * fin)
                    .map(|e| {
                        (0..fout)
                            .map(|o| dys[e / fin * fout + o] * ks[e % fin * fout + o])
                            .sum()
                    })
                    .collect();
                let want_dk: Vec<f64> = (0..fin * fout)
                    .map(|e| {
                        (0..n)
                            .map(|s| xs[s * fin + e / fout] * dys[s * fout + e % fout])
                            .sum()
                    })
                    .collect();
                assert_grad(&format!("{what} dx"), dx.as_slice().unwrap(), &want_dx);
                assert_grad(&format!("{what} dkernel"), dk.as_slice().unwrap(), &want_dk);
            }
            assert_grad(
                &format!("{what} dbias"),
                db.as_slice().unwrap(),
                &numeric_grad(&bs, 1e-3, |b| loss(&xs, &ks, b)),
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// pooling

const POOL_CASES: &[WindowCase] = &[
    ([12, 14], [2, 2], [2, 2], Padding::Valid),
    ([7, 7], [3, 3], [2, 2], Padding::Same),
    ([6, 5], [2, 2], [2, 2], Padding::Same),
    ([5, 5], [3, 3], [1, 1], Padding::Same),
    ([7, 9], [3, 2], [2, 3], Padding::Valid),
    ([6, 9], [3, 3], [3, 3], Padding::Valid),
];

#[test]
fn max_pool2d_matches_reference_and_routes_gradients_to_the_maximum() {
    for cx in cpus() {
        // 11 channels: one 8-lane block and a 3-lane tail; 16: whole blocks only.
        for (case, &(input, window, strides, padding), c) in POOL_CASES
            .iter()
            .enumerate()
            .flat_map(|(case, w)| [11, 16].map(|c| (case, w, c)))
        {
            let g = geometry(input, window, strides, padding);
            let n = 2;
            let mut r = rng(600 + case as u64);
            let x = separated4(&mut r, [n, input[0], input[1], c]);
            let dy = random4(&mut r, [n, g.out_h, g.out_w, c], -1.0, 1.0);
            let xs = f64s(x.as_slice().unwrap());
            let mut y = Array4::zeros((0, 0, 0, 0));
            let mut ws = MaxPool2dWorkspace::default();
            max_pool2d_forward(&cx, &g, x.view(), &mut y, Some(&mut ws));
            let want = ref_pool(&g, n, c, &xs, false);
            assert_close(
                &format!("max pool case {case}"),
                y.as_slice().unwrap(),
                &want,
                0.0,
                0.0,
            );
            let mut y_inference = Array4::zeros((0, 0, 0, 0));
            max_pool2d_forward(&cx, &g, x.view(), &mut y_inference, None);
            assert_eq!(y, y_inference);

            let mut dx = Array4::zeros((0, 0, 0, 0));
            max_pool2d_backward(&cx, &g, dy.view(), &ws, &mut dx);
            let dys = f64s(dy.as_slice().unwrap());
            let fd = numeric_grad(&xs, 1e-3, |x| dot(&ref_pool(&g, n, c, x, false), &dys));
            assert_grad(
                &format!("max pool case {case} dx"),
                dx.as_slice().unwrap(),
                &fd,
            );
        }
    }
}

#[test]
fn max_pool2d_gradient_goes_to_the_first_of_tied_maxima() {
    let cx = Cpu::new(2).unwrap();
    let g = geometry([2, 4], [2, 2], [2, 2], Padding::Valid);
    // Window 0: all equal → element (0, 0). Window 1: maximum 5 at (0, 1) and (1, 0) → (0, 1).
    let x =
        Array4::from_shape_vec((1, 2, 4, 1), vec![1.0, 1.0, 2.0, 5.0, 1.0, 1.0, 5.0, 3.0]).unwrap();
    let dy = Array4::from_shape_vec((1, 1, 2, 1), vec![10.0, 20.0]).unwrap();
    let (mut y, mut dx, mut ws) = (
        Array4::zeros((0, 0, 0, 0)),
        Array4::zeros((0, 0, 0, 0)),
        MaxPool2dWorkspace::default(),
    );
    max_pool2d_forward(&cx, &g, x.view(), &mut y, Some(&mut ws));
    max_pool2d_backward(&cx, &g, dy.view(), &ws, &mut dx);
    assert_eq!(y.as_slice().unwrap(), &[1.0, 5.0]);
    assert_eq!(
        dx.as_slice().unwrap(),
        &[10.0, 0.0, 0.0, 20.0, 0.0, 0.0, 0.0, 0.0]
    );
}

#[test]
fn avg_pool2d_divides_by_real_elements_and_spreads_gradients() {
    for cx in cpus() {
        for (case, &(input, window, strides, padding)) in POOL_CASES.iter().enumerate() {
            let g = geometry(input, window, strides, padding);
            let (n, c) = (2, 11);
            let mut r = rng(700 + case as u64);
            let x = random4(&mut r, [n, input[0], input[1], c], -1.0, 1.0);
            let dy = random4(&mut r, [n, g.out_h, g.out_w, c], -1.0, 1.0);
            let xs = f64s(x.as_slice().unwrap());
            let mut y = Array4::zeros((0, 0, 0, 0));
            avg_pool2d_forward(&cx, &g, x.view(), &mut y);
            assert_close(
                &format!("avg pool case {case}"),
                y.as_slice().unwrap(),
                &ref_pool(&g, n, c, &xs, true),
                1e-6,
                1e-7,
            );
            let mut dx = Array4::zeros((0, 0, 0, 0));
            avg_pool2d_backward(&cx, &g, dy.view(), &mut dx);
            let dys = f64s(dy.as_slice().unwrap());
            let fd = numeric_grad(&xs, 1e-3, |x| dot(&ref_pool(&g, n, c, x, true), &dys));
            assert_grad(
                &format!("avg pool case {case} dx"),
                dx.as_slice().unwrap(),
                &fd,
            );
        }
    }
    // A corner window of a 3×3 `same` pool over 2×2 sees 4 real elements, not 9.
    let cx = Cpu::new(1).unwrap();
    let g = geometry([2, 2], [3, 3], [1, 1], Padding::Same);
    let x = Array4::from_shape_vec((1, 2, 2, 1), vec![1.0, 2.0, 3.0, 6.0]).unwrap();
    let mut y = Array4::zeros((0, 0, 0, 0));
    avg_pool2d_forward(&cx, &g, x.view(), &mut y);
    assert_eq!(y.as_slice().unwrap(), &[3.0; 4]);
}

#[test]
fn global_avg_pool2d_matches_reference() {
    let cx = Cpu::new(2).unwrap();
    let mut r = rng(800);
    let x = random4(&mut r, [3, 4, 5, 6], -1.0, 1.0);
    let dy = random2(&mut r, [3, 6], -1.0, 1.0);
    let xs = f64s(x.as_slice().unwrap());
    let reference = |x: &[f64]| -> Vec<f64> {
        (0..18)
            .map(|e| {
                (0..20)
                    .map(|p| x[(e / 6 * 20 + p) * 6 + e % 6])
                    .sum::<f64>()
                    / 20.0
            })
            .collect()
    };
    let mut y = Array2::zeros((0, 0));
    global_avg_pool2d_forward(&cx, x.view(), &mut y);
    assert_close("gap", y.as_slice().unwrap(), &reference(&xs), 1e-6, 1e-7);
    let mut dx = Array4::zeros((0, 0, 0, 0));
    global_avg_pool2d_backward(&cx, dy.view(), [4, 5], &mut dx);
    let dys = f64s(dy.as_slice().unwrap());
    assert_grad(
        "gap dx",
        dx.as_slice().unwrap(),
        &numeric_grad(&xs, 1e-3, |x| dot(&reference(x), &dys)),
    );
}

// ---------------------------------------------------------------------------------------------
// batch normalization

fn bn_case(
    r: &mut ChaCha8Rng,
    shape: &[usize],
) -> (ArrayD<f32>, Array1<f32>, Array1<f32>, ArrayD<f32>) {
    let c = *shape.last().unwrap();
    let x = ArrayD::from_shape_simple_fn(IxDyn(shape), || r.random_range(-2.0..3.0f32));
    let gamma = random1(r, c, 0.5, 2.0);
    let beta = random1(r, c, -1.0, 1.0);
    let dy = ArrayD::from_shape_simple_fn(IxDyn(shape), || r.random_range(-1.0..1.0f32));
    (x, gamma, beta, dy)
}

#[test]
fn batch_norm_training_forward_and_gradients_match_references() {
    let cx = Cpu::new(2).unwrap();
    for (case, shape) in [vec![2, 3, 4, 5], vec![7, 6], vec![1, 1, 9, 3]]
        .iter()
        .enumerate()
    {
        let mut r = rng(900 + case as u64);
        let (x, gamma, beta, dy) = bn_case(&mut r, shape);
        let c = *shape.last().unwrap();
        let p = BatchNormParams {
            gamma: gamma.view(),
            beta: beta.view(),
            epsilon: 1e-3,
        };
        let (mut mm, mut mv) = (Array1::zeros(c), Array1::ones(c));
        let mut ws = BatchNormWorkspace::default();
        let mut y = ArrayD::zeros(IxDyn(&[0]));
        batch_norm_training(&cx, x.view(), &p, &mut mm, &mut mv, 0.99, &mut ws, &mut y);
        let (xs, gs, bs, dys) = (
            f64s(x.as_slice().unwrap()),
            f64s(gamma.as_slice().unwrap()),
            f64s(beta.as_slice().unwrap()),
            f64s(dy.as_slice().unwrap()),
        );
        let eps = 1e-3f32 as f64;
        let what = format!("batch norm case {case}");
        assert_close(
            &what,
            y.as_slice().unwrap(),
            &ref_batch_norm(&xs, c, &gs, &bs, eps, None),
            1e-5,
            1e-5,
        );

        let (mut dx, mut dg, mut db) = (
            ArrayD::zeros(IxDyn(&[0])),
            Array1::zeros(0),
            Array1::zeros(0),
        );
        batch_norm_backward(
            &cx,
            x.view(),
            dy.view(),
            &p,
            &mut ws,
            &mut dx,
            &mut dg,
            &mut db,
        );
        let loss =
            |x: &[f64], g: &[f64], b: &[f64]| dot(&ref_batch_norm(x, c, g, b, eps, None), &dys);
        assert_grad(
            &format!("{what} dx"),
            dx.as_slice().unwrap(),
            &numeric_grad(&xs, 1e-4, |x| loss(x, &gs, &bs)),
        );
        assert_grad(
            &format!("{what} dgamma"),
            dg.as_slice().unwrap(),
            &numeric_grad(&gs, 1e-4, |g| loss(&xs, g, &bs)),
        );
        assert_grad(
            &format!("{what} dbeta"),
            db.as_slice().unwrap(),
            &numeric_grad(&bs, 1e-4, |b| loss(&xs, &gs, b)),
        );
    }
}

#[test]
fn batch_norm_inference_forward_and_gradients_match_references() {
    let cx = Cpu::new(2).unwrap();
    for (case, shape) in [vec![2, 3, 4, 5], vec![7, 6]].iter().enumerate() {
        let mut r = rng(950 + case as u64);
        let (x, gamma, beta, dy) = bn_case(&mut r, shape);
        let c = *shape.last().unwrap();
        let mean = random1(&mut r, c, -0.5, 0.5);
        let var = random1(&mut r, c, 0.5, 2.0);
        let p = BatchNormParams {
            gamma: gamma.view(),
            beta: beta.view(),
            epsilon: 1e-3,
        };
        let mut y = ArrayD::zeros(IxDyn(&[0]));
        batch_norm_inference(&cx, x.view(), &p, mean.view(), var.view(), &mut y);
        let (xs, gs, bs, dys, ms, vs) = (
            f64s(x.as_slice().unwrap()),
            f64s(gamma.as_slice().unwrap()),
            f64s(beta.as_slice().unwrap()),
            f64s(dy.as_slice().unwrap()),
            f64s(mean.as_slice().unwrap()),
            f64s(var.as_slice().unwrap()),
        );
        let eps = 1e-3f32 as f64;
        let what = format!("batch norm inference case {case}");
        let stats = Some((&ms[..], &vs[..]));
        assert_close(
            &what,
            y.as_slice().unwrap(),
            &ref_batch_norm(&xs, c, &gs, &bs, eps, stats),
            1e-6,
            1e-6,
        );
        let (mut dx, mut dg, mut db) = (
            ArrayD::zeros(IxDyn(&[0])),
            Array1::zeros(0),
            Array1::zeros(0),
        );
        let mut ws = BatchNormWorkspace::default();
        batch_norm_inference_backward(
            &cx,
            x.view(),
            dy.view(),
            &p,
            mean.view(),
            var.view(),
            &mut ws,
            &mut dx,
            &mut dg,
            &mut db,
        );
        let loss =
            |x: &[f64], g: &[f64], b: &[f64]| dot(&ref_batch_norm(x, c, g, b, eps, stats), &dys);
        assert_grad(
            &format!("{what} dx"),
            dx.as_slice().unwrap(),
            &numeric_grad(&xs, 1e-3, |x| loss(x, &gs, &bs)),
        );
        assert_grad(
            &format!("{what} dgamma"),
            dg.as_slice().unwrap(),
            &numeric_grad(&gs, 1e-3, |g| loss(&xs, g, &bs)),
        );
        assert_grad(
            &format!("{what} dbeta"),
            db.as_slice().unwrap(),
            &numeric_grad(&bs, 1e-3, |b| loss(&xs, &gs, b)),
        );
    }
}

#[test]
fn batch_norm_moving_statistics_follow_keras() {
    // 4-D input (fused path): moving variance uses the unbiased batch variance n/(n−1)·σ²;
    // 2-D input (plain path): the biased one. Both with momentum 0.99.
    let cx = Cpu::new(2).unwrap();
    for (shape, unbiased) in [(vec![2, 2, 3, 2], true), (vec![12, 2], false)] {
        let mut r = rng(990);
        let (x, gamma, beta, _) = bn_case(&mut r, &shape);
        let p = BatchNormParams {
            gamma: gamma.view(),
            beta: beta.view(),
            epsilon: 1e-3,
        };
        let (m0, v0) = (0.25f64, 1.5f64);
        let (mut mm, mut mv) = (
            Array1::from_elem(2, m0 as f32),
            Array1::from_elem(2, v0 as f32),
        );
        let mut y = ArrayD::zeros(IxDyn(&[0]));
        batch_norm_training(
            &cx,
            x.view(),
            &p,
            &mut mm,
            &mut mv,
            0.99,
            &mut BatchNormWorkspace::default(),
            &mut y,
        );
        let xs = f64s(x.as_slice().unwrap());
        let n = 12.0;
        for ch in 0..2 {
            let col: Vec<f64> = xs.iter().skip(ch).step_by(2).copied().collect();
            let mean = col.iter().sum::<f64>() / n;
            let biased = col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
            let batch_var = if unbiased {
                biased * n / (n - 1.0)
            } else {
                biased
            };
            let want_mean = 0.99 * m0 + 0.01 * mean;
            let want_var = 0.99 * v0 + 0.01 * batch_var;
            assert!(
                (mm[ch] as f64 - want_mean).abs() < 1e-6,
                "moving mean {} vs {want_mean}",
                mm[ch]
            );
            assert!(
                (mv[ch] as f64 - want_var).abs() < 1e-6,
                "moving variance {} vs {want_var} (shape {shape:?})",
                mv[ch]
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// activations and losses

#[test]
fn relu_forward_and_gradient_follow_keras() {
    let cx = Cpu::new(2).unwrap();
    let mut r = rng(1000);
    // Magnitudes 1.1, 1.3, 1.5, …: at least 0.1 away from the kinks at 0, 4 and 6.
    let x = separated4(&mut r, [2, 5, 5, 4])
        .mapv(|v| v * 20.0 + 0.1 * v.signum())
        .into_dyn();
    let dy = random4(&mut r, [2, 5, 5, 4], -1.0, 1.0).into_dyn();
    let xs = f64s(x.as_slice().unwrap());
    let dys = f64s(dy.as_slice().unwrap());
    for max_value in [None, Some(4.0f32), Some(6.0)] {
        let top = max_value.map_or(f64::INFINITY, |m| m as f64);
        let reference =
            |x: &[f64]| -> Vec<f64> { x.iter().map(|&v| v.max(0.0).min(top)).collect() };
        let mut y = ArrayD::zeros(IxDyn(&[0]));
        relu_forward(&cx, x.view(), max_value, &mut y);
        assert_close("relu", y.as_slice().unwrap(), &reference(&xs), 0.0, 0.0);
        let mut dx = ArrayD::zeros(IxDyn(&[0]));
        relu_backward(&cx, x.view(), dy.view(), max_value, &mut dx);
        assert_grad(
            "relu dx",
            dx.as_slice().unwrap(),
            &numeric_grad(&xs, 1e-3, |x| dot(&reference(x), &dys)),
        );
    }
    // At the kinks: zero passes nothing; `x == max_value` passes through clip_by_value but not
    // through relu6.
    let x = Array1::from(vec![0.0f32, 4.0, 6.0]).into_dyn();
    let dy = Array1::from(vec![1.0f32; 3]).into_dyn();
    let mut dx = ArrayD::zeros(IxDyn(&[0]));
    relu_backward(&cx, x.view(), dy.view(), Some(4.0), &mut dx);
    assert_eq!(dx.as_slice().unwrap(), &[0.0, 1.0, 0.0]);
    relu_backward(&cx, x.view(), dy.view(), Some(6.0), &mut dx);
    assert_eq!(dx.as_slice().unwrap(), &[0.0, 1.0, 0.0]);
    relu_backward(&cx, x.view(), dy.view(), None, &mut dx);
    assert_eq!(dx.as_slice().unwrap(), &[0.0, 1.0, 1.0]);
}

#[test]
fn softmax_and_cross_entropy_match_references() {
    let cx = Cpu::new(2).unwrap();
    let mut r = rng(1100);
    let (n, k) = (9, 10);
    let z = random2(&mut r, [n, k], -4.0, 4.0);
    let dy = random2(&mut r, [n, k], -1.0, 1.0);
    let labels: Vec<u32> = (0..n).map(|_| r.random_range(0..k as u32)).collect();
    let zs = f64s(z.as_slice().unwrap());
    let mut y = Array2::zeros((0, 0));
    softmax_forward(&cx, z.view(), &mut y);
    assert_close(
        "softmax",
        y.as_slice().unwrap(),
        &ref_softmax_rows(&zs, k),
        1e-6,
        1e-7,
    );
    let mut dx = Array2::zeros((0, 0));
    softmax_backward(&cx, y.view(), dy.view(), &mut dx);
    let dys = f64s(dy.as_slice().unwrap());
    assert_grad(
        "softmax dx",
        dx.as_slice().unwrap(),
        &numeric_grad(&zs, 1e-4, |z| dot(&ref_softmax_rows(z, k), &dys)),
    );

    let mut dz = Array2::zeros((0, 0));
    let loss = softmax_cross_entropy(&cx, z.view(), &labels, Some(&mut dz)).unwrap();
    let want = ref_xent(&zs, k, &labels);
    assert!(
        (loss as f64 - want).abs() < 1e-5 * want.abs().max(1.0),
        "loss {loss} vs {want}"
    );
    assert_grad(
        "xent dz",
        dz.as_slice().unwrap(),
        &numeric_grad(&zs, 1e-4, |z| ref_xent(z, k, &labels)),
    );
    assert_eq!(
        softmax_cross_entropy(&cx, z.view(), &labels, None).unwrap(),
        loss
    );

    let bad = [3u32, 10, 0, 0, 0, 0, 0, 0, 0];
    assert_eq!(
        softmax_cross_entropy(&cx, z.view(), &bad, None),
        Err(CpuError::LabelOutOfRange {
            sample: 1,
            label: 10,
            classes: 10
        })
    );
    assert!(count_correct(z.view(), &bad).is_err());
}

#[test]
fn accuracy_counts_first_maxima() {
    let z = Array2::from_shape_vec((3, 3), vec![1.0, 3.0, 3.0, 0.0, 0.0, 0.0, -1.0, -2.0, 5.0])
        .unwrap();
    assert_eq!(count_correct(z.view(), &[1, 0, 2]).unwrap(), 3);
    assert_eq!(count_correct(z.view(), &[2, 1, 2]).unwrap(), 1);
}

#[test]
fn dropout_is_seeded_inverted_and_thread_count_independent() {
    let mut r = rng(1200);
    let x = random4(&mut r, [8, 40, 40, 8], -1.0, 1.0).into_dyn();
    let rate = 0.3f32;
    let run = |threads: usize| {
        let cx = Cpu::new(threads).unwrap();
        let mut g = ChaCha8Rng::seed_from_u64(42);
        let (mut mask, mut y) = (DropoutMask::default(), ArrayD::zeros(IxDyn(&[0])));
        dropout_forward(&cx, x.view(), rate, &mut g, &mut mask, &mut y);
        let mut dx = ArrayD::zeros(IxDyn(&[0]));
        dropout_backward(&cx, x.view(), &mask, &mut dx);
        (y, dx, g.get_word_pos())
    };
    let (y1, dx1, pos1) = run(1);
    let (y3, dx3, pos3) = run(3);
    assert_eq!((&y1, &dx1, pos1), (&y3, &dx3, pos3));
    assert_eq!(pos1, x.len() as u128, "one random word per element");
    let scale = 1.0 / (1.0 - rate);
    let mut kept = 0usize;
    for ((&v, &o), &d) in x.iter().zip(&y1).zip(&dx1) {
        if o != 0.0 {
            kept += 1;
            assert_eq!(o, v * scale);
            assert_eq!(d, v * scale);
        } else {
            assert_eq!(d, 0.0);
        }
    }
    let keep = kept as f64 / x.len() as f64;
    assert!((keep - 0.7).abs() < 0.01, "kept fraction {keep}");
    // Rate 0 is the identity and draws nothing.
    let cx = Cpu::new(2).unwrap();
    let mut g = ChaCha8Rng::seed_from_u64(42);
    let (mut mask, mut y) = (DropoutMask::default(), ArrayD::zeros(IxDyn(&[0])));
    dropout_forward(&cx, x.view(), 0.0, &mut g, &mut mask, &mut y);
    assert_eq!(y, x);
    assert_eq!(g.get_word_pos(), 0);
}

// ---------------------------------------------------------------------------------------------
// optimizers

#[test]
fn adam_follows_the_tf_keras_update() {
    let cx = Cpu::new(2).unwrap();
    let mut opt = Optimizer::new(OptimizerConfig::Adam(AdamConfig::default()));
    let mut w = vec![0.5f32, -1.0, 2.0, 0.0];
    let grads = [
        [0.1f32, -3.0, 0.0, 1e-3],
        [0.2, 1.0, 0.5, -1e-3],
        [-0.4, 2.0, 0.5, 1e-3],
    ];
    // Reference in f64: m += (g−m)(1−β₁); v += (g²−v)(1−β₂);
    // w −= m·lr·√(1−β₂ᵗ)/(1−β₁ᵗ) / (√v + ε).
    let (mut rw, mut m, mut v) = (f64s(&w), [0f64; 4], [0f64; 4]);
    for (t, g) in grads.iter().enumerate() {
        opt.step(
            &cx,
            &mut [ParamMut {
                value: &mut w,
                grad: g,
            }],
        );
        let t = (t + 1) as f64;
        let alpha = 1e-3 * (1.0 - 0.999f64.powf(t)).sqrt() / (1.0 - 0.9f64.powf(t));
        for i in 0..4 {
            let gi = g[i] as f64;
            m[i] += (gi - m[i]) * 0.1;
            v[i] += (gi * gi - v[i]) * 0.001;
            rw[i] -= m[i] * alpha / (v[i].sqrt() + 1e-7);
        }
        assert_close(&format!("adam step {t}"), &w, &rw, 0.0, 2e-7);
    }
    assert_eq!(opt.iterations(), 3);
    // The first step of Adam moves every weight with a large enough gradient by ≈ lr.
    let mut opt = Optimizer::new(OptimizerConfig::Adam(AdamConfig::default()));
    let mut w = vec![1.0f32, 1.0];
    opt.step(
        &cx,
        &mut [ParamMut {
            value: &mut w,
            grad: &[5.0, -0.01],
        }],
    );
    assert!(
        (w[0] - 0.999).abs() < 1e-6 && (w[1] - 1.001).abs() < 1e-6,
        "{w:?}"
    );
}

#[test]
fn sgd_with_momentum_follows_keras() {
    let cx = Cpu::new(1).unwrap();
    for nesterov in [false, true] {
        let config = SgdConfig {
            learning_rate: 0.1,
            momentum: 0.9,
            nesterov,
        };
        let mut opt = Optimizer::new(OptimizerConfig::Sgd(config));
        let (mut w, mut b) = (vec![1.0f32, -2.0], vec![0.5f32]);
        let (mut rw, mut rb, mut vw, mut vb) = (vec![1.0f64, -2.0], 0.5f64, [0f64; 2], 0f64);
        for step in 0..4 {
            let gw = [0.5f32 - step as f32, 1.0];
            let gb = [-0.25f32];
            opt.step(
                &cx,
                &mut [
                    ParamMut {
                        value: &mut w,
                        grad: &gw,
                    },
                    ParamMut {
                        value: &mut b,
                        grad: &gb,
                    },
                ],
            );
            // v = m·v − lr·g; w += v (Nesterov: w += m·v − lr·g).
            for i in 0..2 {
                vw[i] = 0.9 * vw[i] - 0.1 * gw[i] as f64;
                rw[i] += if nesterov {
                    0.9 * vw[i] - 0.1 * gw[i] as f64
                } else {
                    vw[i]
                };
            }
            vb = 0.9 * vb - 0.1 * gb[0] as f64;
            rb += if nesterov {
                0.9 * vb - 0.1 * gb[0] as f64
            } else {
                vb
            };
            assert_close("sgd w", &w, &rw, 0.0, 1e-6);
            assert_close("sgd b", &b, &[rb], 0.0, 1e-6);
        }
    }
    // Keras default: plain gradient descent with learning rate 0.01.
    let mut opt = Optimizer::new(OptimizerConfig::Sgd(SgdConfig::default()));
    let mut w = vec![1.0f32];
    opt.step(
        &cx,
        &mut [ParamMut {
            value: &mut w,
            grad: &[2.0],
        }],
    );
    assert_eq!(w[0], 1.0 - 0.02);
}

// ---------------------------------------------------------------------------------------------
// user mistakes

#[test]
fn impossible_geometry_and_thread_counts_are_errors() {
    assert!(matches!(
        Geometry2d::new([2, 2], [3, 3], [1, 1], Padding::Valid),
        Err(CpuError::EmptyOutput { .. })
    ));
    assert!(matches!(
        Geometry2d::new([4, 4], [3, 3], [0, 1], Padding::Same),
        Err(CpuError::ZeroWindow { .. })
    ));
    assert_eq!(Cpu::new(0).unwrap_err(), CpuError::ZeroThreads);
}

// ---------------------------------------------------------------------------------------------
// the Keras toy model (reference outputs from tests/data/toy_float.npz)

fn npz() -> NpzReader<File> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/toy_float.npz");
    NpzReader::new(File::open(path).expect("toy_float.npz")).expect("a valid npz file")
}

#[test]
fn toy_model_reproduces_every_keras_layer_output() {
    let mut f = npz();
    let mut get =
        |name: &str| -> ArrayD<f32> { f.by_name(name).unwrap_or_else(|e| panic!("{name}: {e}")) };
    let x = get("input_float").into_dimensionality::<Ix4>().unwrap();
    let kernel = get("w__conv2d__kernel")
        .into_dimensionality::<Ix4>()
        .unwrap();
    let bias = get("w__conv2d__bias").into_dimensionality().unwrap();
    let gamma: Array1<f32> = get("w__batch_normalization__gamma")
        .into_dimensionality()
        .unwrap();
    let beta: Array1<f32> = get("w__batch_normalization__beta")
        .into_dimensionality()
        .unwrap();
    let mean: Array1<f32> = get("w__batch_normalization__moving_mean")
        .into_dimensionality()
        .unwrap();
    let var: Array1<f32> = get("w__batch_normalization__moving_variance")
        .into_dimensionality()
        .unwrap();
    let dense_k: Array2<f32> = get("w__dense__kernel").into_dimensionality().unwrap();
    let dense_b: Array1<f32> = get("w__dense__bias").into_dimensionality().unwrap();

    for cx in cpus() {
        let check = |name: &str, got: &[f32], f: &mut dyn FnMut(&str) -> ArrayD<f32>| {
            let want = f(name);
            assert_close(
                &format!("{name} ({:?})", cx.isa()),
                got,
                &f64s(want.as_slice().unwrap()),
                0.0,
                1e-5,
            );
        };
        let mut get = |name: &str| -> ArrayD<f32> { npz().by_name(name).unwrap() };
        let n = x.dim().0;
        let cg = geometry([28, 28], [3, 3], [1, 1], Padding::Valid);
        let mut conv = Array4::zeros((0, 0, 0, 0));
        conv2d_forward(
            &cx,
            &cg,
            x.view(),
            kernel.view(),
            Some(bias.view()),
            &mut Conv2dWorkspace::default(),
            &mut conv,
        );
        check("out__0_conv2d", conv.as_slice().unwrap(), &mut get);
        let pg = geometry([26, 26], [2, 2], [2, 2], Padding::Valid);
        let mut pool = Array4::zeros((0, 0, 0, 0));
        max_pool2d_forward(&cx, &pg, conv.view(), &mut pool, None);
        check("out__1_max_pooling2d", pool.as_slice().unwrap(), &mut get);
        let p = BatchNormParams {
            gamma: gamma.view(),
            beta: beta.view(),
            epsilon: 1e-3,
        };
        let mut bn = Array4::zeros((0, 0, 0, 0));
        batch_norm_inference(&cx, pool.view(), &p, mean.view(), var.view(), &mut bn);
        check(
            "out__2_batch_normalization",
            bn.as_slice().unwrap(),
            &mut get,
        );
        let mut act = Array4::zeros((0, 0, 0, 0));
        relu_forward(&cx, bn.view(), None, &mut act);
        check("out__3_re_lu", act.as_slice().unwrap(), &mut get);
        let flat = act.into_shape_with_order((n, 13 * 13 * 8)).unwrap();
        check("out__4_flatten", flat.as_slice().unwrap(), &mut get);
        let mut logits = Array2::zeros((0, 0));
        dense_forward(
            &cx,
            flat.view(),
            dense_k.view(),
            Some(dense_b.view()),
            &mut logits,
        );
        check("out__5_dense", logits.as_slice().unwrap(), &mut get);
        let mut probs = Array2::zeros((0, 0));
        softmax_forward(&cx, logits.view(), &mut probs);
        check("out__6_softmax", probs.as_slice().unwrap(), &mut get);
    }
}

// ---------------------------------------------------------------------------------------------
// determinism

/// One full training step of the toy model (batch 67, so that every kernel splits its work);
/// returns every output, gradient and updated parameter.
fn toy_training_step(cx: &Cpu) -> Vec<Vec<f32>> {
    let mut r = rng(1300);
    let n = 67;
    let x = random4(&mut r, [n, 28, 28, 1], 0.0, 1.0);
    let labels: Vec<u32> = (0..n).map(|_| r.random_range(0..10)).collect();
    let mut kernel = random4(&mut r, [3, 3, 1, 8], -0.5, 0.5);
    let mut bias = random1(&mut r, 8, -0.1, 0.1);
    let mut gamma = random1(&mut r, 8, 0.5, 1.5);
    let mut beta = random1(&mut r, 8, -0.1, 0.1);
    let (mut mm, mut mv) = (Array1::zeros(8), Array1::ones(8));
    let mut dk = random2(&mut r, [1352, 10], -0.05, 0.05);
    let mut db = random1(&mut r, 10, -0.1, 0.1);
    let cg = geometry([28, 28], [3, 3], [1, 1], Padding::Valid);
    let pg = geometry([26, 26], [2, 2], [2, 2], Padding::Valid);
    let mut opt = Optimizer::new(OptimizerConfig::Adam(AdamConfig::default()));
    let mut out = Vec::new();
    cx.install(|| {
        for _ in 0..2 {
            let (mut conv, mut pool, mut bn, mut act) = (
                Array4::zeros((0, 0, 0, 0)),
                Array4::zeros((0, 0, 0, 0)),
                Array4::zeros((0, 0, 0, 0)),
                Array4::zeros((0, 0, 0, 0)),
            );
            let (mut cws, mut pws, mut bws) = (
                Conv2dWorkspace::default(),
                MaxPool2dWorkspace::default(),
                BatchNormWorkspace::default(),
            );
            conv2d_forward(
                cx,
                &cg,
                x.view(),
                kernel.view(),
                Some(bias.view()),
                &mut cws,
                &mut conv,
            );
            max_pool2d_forward(cx, &pg, conv.view(), &mut pool, Some(&mut pws));
            let p = BatchNormParams {
                gamma: gamma.view(),
                beta: beta.view(),
                epsilon: 1e-3,
            };
            batch_norm_training(
                cx,
                pool.view(),
                &p,
                &mut mm,
                &mut mv,
                0.99,
                &mut bws,
                &mut bn,
            );
            relu_forward(cx, bn.view(), None, &mut act);
            let flat = act.view().into_shape_with_order((n, 1352)).unwrap();
            let mut logits = Array2::zeros((0, 0));
            dense_forward(cx, flat, dk.view(), Some(db.view()), &mut logits);
            let mut dlogits = Array2::zeros((0, 0));
            let loss =
                softmax_cross_entropy(cx, logits.view(), &labels, Some(&mut dlogits)).unwrap();
            let (mut dflat, mut gdk, mut gdb) = (
                Array2::zeros((0, 0)),
                Array2::zeros((0, 0)),
                Array1::zeros(0),
            );
            dense_backward(
                cx,
                flat,
                dk.view(),
                dlogits.view(),
                &mut DenseWorkspace::default(),
                Some(&mut dflat),
                &mut gdk,
                Some(&mut gdb),
            );
            let dact = dflat.into_shape_with_order((n, 13, 13, 8)).unwrap();
            let (mut dbn, mut dpool, mut dconv) = (
                Array4::zeros((0, 0, 0, 0)),
                Array4::zeros((0, 0, 0, 0)),
                Array4::zeros((0, 0, 0, 0)),
            );
            relu_backward(cx, bn.view(), dact.view(), None, &mut dbn);
            let (mut dgamma, mut dbeta) = (Array1::zeros(0), Array1::zeros(0));
            batch_norm_backward(
                cx,
                pool.view(),
                dbn.view(),
                &p,
                &mut bws,
                &mut dpool,
                &mut dgamma,
                &mut dbeta,
            );
            max_pool2d_backward(cx, &pg, dpool.view(), &pws, &mut dconv);
            let (mut gk, mut gb) = (Array4::zeros((0, 0, 0, 0)), Array1::zeros(0));
            conv2d_backward(
                cx,
                &cg,
                x.view(),
                kernel.view(),
                dconv.view(),
                &mut cws,
                None,
                &mut gk,
                Some(&mut gb),
            );
            for a in [
                conv.as_slice(),
                pool.as_slice(),
                bn.as_slice(),
                logits.as_slice(),
                dlogits.as_slice(),
                dpool.as_slice(),
                dconv.as_slice(),
                gk.as_slice(),
                gdk.as_slice(),
            ] {
                out.push(a.unwrap().to_vec());
            }
            out.push(vec![loss]);
            opt.step(
                cx,
                &mut [
                    ParamMut {
                        value: kernel.as_slice_mut().unwrap(),
                        grad: gk.as_slice().unwrap(),
                    },
                    ParamMut {
                        value: bias.as_slice_mut().unwrap(),
                        grad: gb.as_slice().unwrap(),
                    },
                    ParamMut {
                        value: gamma.as_slice_mut().unwrap(),
                        grad: dgamma.as_slice().unwrap(),
                    },
                    ParamMut {
                        value: beta.as_slice_mut().unwrap(),
                        grad: dbeta.as_slice().unwrap(),
                    },
                    ParamMut {
                        value: dk.as_slice_mut().unwrap(),
                        grad: gdk.as_slice().unwrap(),
                    },
                    ParamMut {
                        value: db.as_slice_mut().unwrap(),
                        grad: gdb.as_slice().unwrap(),
                    },
                ],
            );
        }
    });
    for a in [
        kernel.as_slice(),
        bias.as_slice(),
        gamma.as_slice(),
        beta.as_slice(),
        dk.as_slice(),
        db.as_slice(),
        mm.as_slice(),
        mv.as_slice(),
    ] {
        out.push(a.unwrap().to_vec());
    }
    out
}

fn bits(v: &[Vec<f32>]) -> Vec<Vec<u32>> {
    v.iter()
        .map(|a| a.iter().map(|x| x.to_bits()).collect())
        .collect()
}

#[test]
fn training_steps_are_bit_identical_across_runs_and_thread_counts() {
    let two = Cpu::new(2).unwrap();
    let reference = bits(&toy_training_step(&two));
    assert_eq!(
        reference,
        bits(&toy_training_step(&two)),
        "two runs on 2 threads differ"
    );
    for threads in [1, 3] {
        let cx = Cpu::new(threads).unwrap();
        assert_eq!(
            reference,
            bits(&toy_training_step(&cx)),
            "{threads} threads differ from 2"
        );
    }
}
