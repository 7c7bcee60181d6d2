//! Quantization numerics against the CNN2SNN reference data (`tests/data/*.npz`): weight
//! quantizers (values, scale factors, integers, gradients), the `linear` formula quantizer,
//! quantized activations, BatchNormalization folding, the quantized toy/separable models,
//! the gamma-constraint models and the worked examples of `docs/conversion.md` §11.

use ndarray::{arr1, Array1, ArrayD, IxDyn};
use ndarray_npy::{NpzReader, ReadableElement};
use qnnc::quant::bn::{self, BatchNorm};
use qnnc::quant::{
    build, quant_stats, BinOp, LinearQuantizer, MaxQuantizer, QuantizedActivation, QuantizerKind,
    QuantizerSpec, ScaleExpr, ScaleFactor, ScaleFn, StdQuantizer, WeightQuantizer,
};
use std::fs::File;

// ---------------------------------------------------------------------------------------------
// helpers

/// An open reference file and its name (for messages).
struct Npz(NpzReader<File>, String);

fn npz(name: &str) -> Npz {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    let file = File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
    Npz(NpzReader::new(file).expect("a valid npz"), name.to_string())
}

impl Npz {
    fn get<T: ReadableElement>(&mut self, key: &str) -> ArrayD<T> {
        self.0
            .by_name::<ndarray::OwnedRepr<T>, IxDyn>(key)
            .unwrap_or_else(|e| panic!("{}: {key}: {e}", self.1))
    }

    fn f32(&mut self, key: &str) -> ArrayD<f32> {
        self.get(key)
    }

    fn vec1(&mut self, key: &str) -> Array1<f32> {
        self.f32(key)
            .into_dimensionality()
            .unwrap_or_else(|e| panic!("{key} is not a vector: {e}"))
    }

    fn names(&mut self) -> Vec<String> {
        self.0.names().expect("npz names")
    }
}

/// Bitwise equality of f32 arrays (so `-0 ≠ +0` and NaN = NaN); returns the first mismatch.
fn bit_diff(got: &ArrayD<f32>, want: &ArrayD<f32>) -> Option<String> {
    if got.shape() != want.shape() {
        return Some(format!("shape {:?} vs {:?}", got.shape(), want.shape()));
    }
    got.iter()
        .zip(want.iter())
        .enumerate()
        .find(|(_, (a, b))| a.to_bits() != b.to_bits())
        .map(|(i, (a, b))| format!("element {i}: got {a:e}, want {b:e}"))
}

fn assert_bits_eq(got: &ArrayD<f32>, want: &ArrayD<f32>, what: &str) {
    if let Some(d) = bit_diff(got, want) {
        panic!("{what}: {d}");
    }
}

fn sf_array(sf: &ScaleFactor) -> ArrayD<f32> {
    sf.to_array()
}

fn num(v: f64) -> ScaleExpr {
    ScaleExpr::Num(v)
}

fn call(f: ScaleFn, x: ScaleExpr) -> ScaleExpr {
    ScaleExpr::Call(f, Box::new(x))
}

fn bin(op: BinOp, a: ScaleExpr, b: ScaleExpr) -> ScaleExpr {
    ScaleExpr::Bin(op, Box::new(a), Box::new(b))
}

fn clip(x: ScaleExpr, lo: ScaleExpr, hi: ScaleExpr) -> ScaleExpr {
    ScaleExpr::Clip(Box::new(x), Box::new(lo), Box::new(hi))
}

/// `kmax / (2 * std(w))`: the tutorial's `CustomStdQuantizer`.
fn tutorial_std() -> ScaleExpr {
    bin(
        BinOp::Div,
        ScaleExpr::Kmax,
        bin(BinOp::Mul, num(2.0), call(ScaleFn::Std, ScaleExpr::W)),
    )
}

/// `clip(kmax / max(abs(w)), 0, 1000)`: `max` as a formula.
fn max_formula() -> ScaleExpr {
    clip(
        bin(
            BinOp::Div,
            ScaleExpr::Kmax,
            call(ScaleFn::Max, call(ScaleFn::Abs, ScaleExpr::W)),
        ),
        num(0.0),
        num(1000.0),
    )
}

const TENSORS: [&str; 7] = [
    "conv_3x3x1x8",
    "dense_1352x10",
    "depthwise_3x3x16x1",
    "dense_outliers_1352x10",
    "conv_zero_filter_3x3x1x8",
    "conv_tiny_3x3x1x8",
    "ties_8x1",
];

const QUANTIZERS: [&str; 6] = [
    "MaxQuantizer",
    "MaxPerAxisQuantizer",
    "StdWeightQuantizer",
    "StdPerAxisQuantizer",
    "StdWeightQuantizer_t2",
    "TutorialCustomStd",
];

fn reference_quantizer(name: &str, bits: u32) -> Box<dyn WeightQuantizer> {
    let kind = match name {
        "MaxQuantizer" => QuantizerKind::Max,
        "MaxPerAxisQuantizer" => QuantizerKind::MaxPerAxis,
        "StdWeightQuantizer" => QuantizerKind::Std { threshold: 3.0 },
        "StdPerAxisQuantizer" => QuantizerKind::StdPerAxis { threshold: 3.0 },
        "StdWeightQuantizer_t2" => QuantizerKind::Std { threshold: 2.0 },
        "TutorialCustomStd" => QuantizerKind::Linear {
            scale: tutorial_std(),
            per_axis: false,
        },
        other => panic!("unknown reference quantizer {other}"),
    };
    build(&QuantizerSpec { kind, bits })
}

/// Gradient check. Every case is bit-exact except `StdPerAxisQuantizer`, where up to ~1 % of
/// the elements differ by a few ulps (at most 1.2e-7 relative to `max(1, |want|)`): there the
/// gradient of `w` adds three paths (`w · sf`, `w − mean`, `mean(w)`) and the mean path is a
/// sum of nearly cancelling terms, so its value depends on an accumulation order inside TF's
/// autodiff that the per-tensor cases do not pin down. The tolerance for that quantizer is
/// `1e-6 · max(1, |want|)`; NaN must appear exactly where TF has NaN.
fn grad_check(got: &ArrayD<f32>, want: &ArrayD<f32>, exact: bool) -> Result<f32, String> {
    if exact {
        return bit_diff(got, want).map_or(Ok(0.0), Err);
    }
    let mut worst = 0.0f32;
    for (i, (&a, &b)) in got.iter().zip(want.iter()).enumerate() {
        if a.is_nan() || b.is_nan() {
            if a.is_nan() != b.is_nan() {
                return Err(format!("element {i}: got {a:e}, want {b:e} (NaN mismatch)"));
            }
            continue;
        }
        let err = (a - b).abs() / b.abs().max(1.0);
        if err > 1e-6 {
            return Err(format!("element {i}: got {a:e}, want {b:e}"));
        }
        worst = worst.max(err);
    }
    Ok(worst)
}

// ---------------------------------------------------------------------------------------------
// weight quantizers

#[test]
fn every_quantizer_case_matches_the_reference() {
    let mut z = npz("quantizers.npz");
    let mut failures = Vec::new();
    let mut cases = 0;
    let mut worst_grad = 0.0f32;
    for t in TENSORS {
        let w = z.f32(&format!("{t}__w"));
        let up = z.f32(&format!("{t}__upstream"));
        for qn in QUANTIZERS {
            for bits in [2u32, 4, 8] {
                cases += 1;
                let key = format!("{t}__{qn}__b{bits}");
                let q = reference_quantizer(qn, bits);
                let got = q.quantize_all(w.view());
                let checks = [
                    (
                        "sf",
                        bit_diff(&sf_array(&got.sf), &z.f32(&format!("{key}__sf"))),
                    ),
                    ("q", bit_diff(&got.q, &z.f32(&format!("{key}__q")))),
                    (
                        "int",
                        (got.int != z.get::<i32>(&format!("{key}__int")))
                            .then(|| "integers differ".to_string()),
                    ),
                ];
                for (what, d) in checks {
                    if let Some(d) = d {
                        failures.push(format!("{key} {what}: {d}"));
                    }
                }
                let grad = q.backward(w.view(), up.view());
                let exact = qn != "StdPerAxisQuantizer";
                match grad_check(&grad, &z.f32(&format!("{key}__grad")), exact) {
                    Ok(e) => worst_grad = worst_grad.max(e),
                    Err(d) => failures.push(format!("{key} grad: {d}")),
                }
            }
        }
    }
    assert_eq!(cases, 126);
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!("worst relative gradient difference (std_per_axis): {worst_grad:e}");
}

#[test]
fn zero_filter_std_per_axis_gradient_is_nan_like_tf() {
    // TF divides by σ = 0 in the gradient of the (clipped) scale factor: 0 · (−inf) = NaN.
    let mut z = npz("quantizers.npz");
    let w = z.f32("conv_zero_filter_3x3x1x8__w");
    let up = z.f32("conv_zero_filter_3x3x1x8__upstream");
    let g = StdQuantizer::per_axis(4, 3.0).backward(w.view(), up.view());
    let nan_cols: Vec<usize> = g
        .indexed_iter()
        .filter(|(_, v)| v.is_nan())
        .map(|(ix, _)| ix[3])
        .collect();
    assert_eq!(nan_cols, vec![3; 9]);
}

#[test]
fn max_formula_is_the_max_quantizer() {
    let mut z = npz("quantizers.npz");
    for t in TENSORS {
        let w = z.f32(&format!("{t}__w"));
        let up = z.f32(&format!("{t}__upstream"));
        for bits in [2u32, 4, 8] {
            let formula = LinearQuantizer::new(bits, max_formula(), false);
            let max = MaxQuantizer::new(bits);
            let (a, b) = (formula.quantize_all(w.view()), max.quantize_all(w.view()));
            assert_eq!(a.sf, b.sf, "{t} b{bits} sf");
            assert_bits_eq(&a.q, &b.q, &format!("{t} b{bits} q"));
            assert_eq!(a.int, b.int, "{t} b{bits} int");
            let (ga, gb) = (
                formula.backward(w.view(), up.view()),
                max.backward(w.view(), up.view()),
            );
            assert_bits_eq(&ga, &gb, &format!("{t} b{bits} grad"));
        }
    }
}

#[test]
fn per_axis_and_std_formulas_are_the_builtin_quantizers() {
    // MaxPerAxis: clip(kmax / clip(max(abs(w)), 1e-10, f32::MAX), 0, 1000) per axis.
    let max_per_axis = clip(
        bin(
            BinOp::Div,
            ScaleExpr::Kmax,
            clip(
                call(ScaleFn::Max, call(ScaleFn::Abs, ScaleExpr::W)),
                num(1e-10),
                num(f32::MAX as f64),
            ),
        ),
        num(0.0),
        num(1000.0),
    );
    let std_of = |t: f64| {
        clip(
            bin(
                BinOp::Div,
                ScaleExpr::Kmax,
                bin(BinOp::Mul, call(ScaleFn::Std, ScaleExpr::W), num(t)),
            ),
            num(0.0),
            num(1000.0),
        )
    };
    let mut z = npz("quantizers.npz");
    for t in TENSORS {
        let w = z.f32(&format!("{t}__w"));
        let up = z.f32(&format!("{t}__upstream"));
        let pairs: [(LinearQuantizer, Box<dyn WeightQuantizer>, &str); 3] = [
            (
                LinearQuantizer::new(4, max_per_axis.clone(), true),
                Box::new(MaxQuantizer::per_axis(4)),
                "max_per_axis",
            ),
            (
                LinearQuantizer::new(4, std_of(3.0), false),
                Box::new(StdQuantizer::new(4, 3.0)),
                "std",
            ),
            (
                LinearQuantizer::new(4, std_of(2.0), true),
                Box::new(StdQuantizer::per_axis(4, 2.0)),
                "std_per_axis",
            ),
        ];
        for (formula, builtin, name) in pairs {
            let (a, b) = (
                formula.quantize_all(w.view()),
                builtin.quantize_all(w.view()),
            );
            assert_eq!(a.sf, b.sf, "{t} {name} sf");
            assert_bits_eq(&a.q, &b.q, &format!("{t} {name} q"));
            let (ga, gb) = (
                formula.backward(w.view(), up.view()),
                builtin.backward(w.view(), up.view()),
            );
            assert_bits_eq(&ga, &gb, &format!("{t} {name} grad"));
        }
    }
}

#[test]
fn quantizer_stats() {
    // Std with threshold 1 on the worked-example vector: sf = 7 / σ saturates 0.5.
    let w = arr1(&[0.1f32, -0.25, 0.05, 0.5]).into_dyn();
    let q = StdQuantizer::new(4, 1.0);
    let s = quant_stats(&q, w.view());
    let quantized = q.quantize(w.view());
    let ints: Vec<i32> = q.integers(w.view()).iter().copied().collect();
    assert_eq!(ints, vec![3, -7, 1, 7]);
    assert_eq!(s.bits, 4);
    assert_eq!(s.sf_min, s.sf_max);
    assert_eq!(s.levels_used, 4);
    assert_eq!(s.saturated, 1);
    assert_eq!(s.count, 4);
    assert_eq!(s.saturated_fraction(), 0.25);
    let max_err = w
        .iter()
        .zip(quantized.iter())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert_eq!(s.max_abs_error, max_err);
    assert!(s.max_abs_error > 0.2, "0.5 is clipped to 7 / sf");

    // Ties round to even, so 7.5 → 8 saturates while 6.5 → 6 does not.
    let w = arr1(&[7.0f32, 7.5, 6.5, -7.5]).into_dyn();
    let s = quant_stats(&LinearQuantizer::new(4, num(1.0), false), w.view());
    assert_eq!((s.saturated, s.levels_used), (2, 3));
    assert_eq!((s.sf_min, s.sf_max), (1.0, 1.0));

    // Per-axis factors: min and max over the channels.
    let w = ndarray::arr2(&[[1.0f32, 0.5], [-0.5, 0.25]]).into_dyn();
    let s = quant_stats(&MaxQuantizer::per_axis(4), w.view());
    assert_eq!((s.sf_min, s.sf_max), (7.0, 14.0));
}

// ---------------------------------------------------------------------------------------------
// TF's reduction order on varied shapes (`tests/data/reduce`, see `make_reduce_refs.py`)

/// `(bitwidth, threshold)` of the Std quantizers in `reduce/reduce_refs.npz`.
const REDUCE_QUANT: [(u32, f64, &str); 3] =
    [(4, 1.5, "b4_t1.5"), (2, 3.0, "b2_t3"), (8, 2.0, "b8_t2")];

/// The value generator of `make_reduce_refs.py` (splitmix64 of the index).
fn generated(n: usize, seed: u64) -> Vec<f32> {
    (0..n as u64)
        .map(|i| {
            let mut h = i.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(seed);
            h ^= h >> 30;
            h = h.wrapping_mul(0xBF58_476D_1CE4_E5B9);
            h ^= h >> 27;
            h = h.wrapping_mul(0x94D0_49BB_1331_11EB);
            h ^= h >> 31;
            let (mant, exp) = (h & 0x7F_FFFF, 121 + (h >> 23) % 13);
            let sign = u64::from((h >> 40) % 4 == 0);
            f32::from_bits(((sign << 31) | (exp << 23) | mant) as u32)
        })
        .collect()
}

/// The number of stored tensors `m{k}__x` of `reduce/reduce_refs.npz` (the last one is the
/// `s1_case_0048` kernel).
fn stored_reduce_tensors(z: &mut Npz) -> usize {
    let names = z.names();
    let has = |key: String| {
        names
            .iter()
            .any(|n| *n == key || *n == format!("{key}.npy"))
    };
    (0..).take_while(|k| has(format!("m{k}__x"))).count()
}

/// `mean(w)` or `std(w)` through a `linear` formula quantizer's scale factor.
fn formula_reduction(f: ScaleFn, w: &ArrayD<f32>, per_axis: bool) -> ArrayD<f32> {
    let q = LinearQuantizer::new(4, call(f, ScaleExpr::W), per_axis);
    sf_array(&q.scale_factor(w.view()))
}

/// Reshapes a per-tensor result to the reference's `(1,)`.
fn as_vec1(a: ArrayD<f32>) -> ArrayD<f32> {
    a.into_shape_with_order(IxDyn(&[1])).expect("a scalar")
}

#[test]
fn std_scale_factors_match_tf_on_varied_shapes() {
    // Every tensor here has fewer than 108 388 values, so TF's pool size does not matter.
    let mut z = npz("reduce/reduce_refs.npz");
    let count = stored_reduce_tensors(&mut z);
    assert!(count >= 38, "only {count} stored tensors");
    let mut failures = Vec::new();
    let mut cases = 0;
    for k in 0..count {
        let w = z.f32(&format!("m{k}__x"));
        let mut compare = |z: &mut Npz, key: String, got: ArrayD<f32>| {
            cases += 1;
            if let Some(d) = bit_diff(&got, &z.f32(&key)) {
                failures.push(format!("{key} {:?}: {d}", w.shape()));
            }
        };
        for (bits, t, tag) in REDUCE_QUANT {
            let sf = StdQuantizer::new(bits, t).scale_factor(w.view());
            compare(
                &mut z,
                format!("m{k}__sf_tensor__{tag}"),
                as_vec1(sf_array(&sf)),
            );
            if w.ndim() > 1 {
                let sf = StdQuantizer::per_axis(bits, t).scale_factor(w.view());
                compare(&mut z, format!("m{k}__sf_axis__{tag}"), sf_array(&sf));
            }
        }
        for (f, name) in [(ScaleFn::Mean, "mean"), (ScaleFn::Std, "std")] {
            let flat = as_vec1(formula_reduction(f, &w, false));
            compare(&mut z, format!("m{k}__f{name}"), flat);
            if w.ndim() > 1 {
                compare(
                    &mut z,
                    format!("m{k}__{name}"),
                    formula_reduction(f, &w, true),
                );
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {cases} differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn s1_case_0048_kernel_std_per_axis_is_exact() {
    // The (7, 7, 3, 12) kernel whose StdPerAxisQuantizer(4, 1.5) factors once differed by an
    // ulp in channels 3 and 4 (147 rows: the 3 rows past the unrolled loop are added after
    // Eigen combines its four accumulators).
    let mut z = npz("reduce/reduce_refs.npz");
    let k = stored_reduce_tensors(&mut z) - 1;
    let w = z.f32(&format!("m{k}__x"));
    assert_eq!(w.shape(), &[7, 7, 3, 12]);
    let sf = StdQuantizer::per_axis(4, 1.5).scale_factor(w.view());
    assert_bits_eq(
        &sf_array(&sf),
        &z.f32(&format!("m{k}__sf_axis__b4_t1.5")),
        "s1_case_0048 sf",
    );
}

#[test]
fn large_per_axis_std_matches_tf() {
    // 3×3×256×256 and 3×3×512×256 kernels: per-axis reductions never depend on TF's threads.
    let mut z = npz("reduce/reduce_refs.npz");
    let mut checked = 0;
    for k in 0.. {
        let Ok(shape) =
            z.0.by_name::<ndarray::OwnedRepr<i64>, IxDyn>(&format!("g{k}__shape"))
        else {
            break;
        };
        if shape.len() < 2 {
            continue;
        }
        let shape: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
        let seed = z.get::<i64>(&format!("g{k}__seed"))[[0]] as u64;
        let w = ArrayD::from_shape_vec(IxDyn(&shape), generated(shape.iter().product(), seed))
            .expect("generated values fill the shape");
        for (f, name) in [(ScaleFn::Mean, "mean"), (ScaleFn::Std, "std")] {
            let got = formula_reduction(f, &w, true);
            assert_bits_eq(
                &got,
                &z.f32(&format!("g{k}__{name}")),
                &format!("g{k} {name}"),
            );
        }
        checked += 1;
    }
    assert_eq!(checked, 2);
}

// ---------------------------------------------------------------------------------------------
// worked examples (docs/conversion.md §11)

#[test]
fn worked_example_a_weight_quantizers() {
    let w = arr1(&[0.1f32, -0.25, 0.05, 0.5]).into_dyn();
    let max = MaxQuantizer::new(4);
    let r = max.quantize_all(w.view());
    assert_eq!(r.sf, ScaleFactor::Scalar(14.0));
    assert_eq!(r.int.iter().copied().collect::<Vec<_>>(), vec![1, -4, 1, 7]);
    assert_eq!(
        r.q.iter().copied().collect::<Vec<_>>(),
        vec![0.071428575f32, -0.2857143, 0.071428575, 0.5]
    );
    // A (4, 1) Dense kernel with MaxPerAxis gives the same.
    let w41 = w.clone().into_shape_with_order(IxDyn(&[4, 1])).unwrap();
    let r41 = MaxQuantizer::per_axis(4).quantize_all(w41.view());
    assert_eq!(r41.sf, ScaleFactor::PerAxis(arr1(&[14.0])));
    assert_eq!(
        r41.int.iter().copied().collect::<Vec<_>>(),
        vec![1, -4, 1, 7]
    );

    // Tie-breaking: half to even.
    let ties = arr1(&[0.625f32, -0.375, 0.125, 1.75]).into_dyn();
    let r = max.quantize_all(ties.view());
    assert_eq!(r.sf, ScaleFactor::Scalar(4.0));
    assert_eq!(r.int.iter().copied().collect::<Vec<_>>(), vec![2, -2, 0, 7]);
    assert_eq!(
        r.q.iter().copied().collect::<Vec<_>>(),
        vec![0.5, -0.5, 0.0, 1.75]
    );

    // StdWeightQuantizer(3, 4).
    let r = StdQuantizer::new(4, 3.0).quantize_all(w.view());
    assert_eq!(r.sf, ScaleFactor::Scalar(8.741468));
    assert_eq!(r.int.iter().copied().collect::<Vec<_>>(), vec![1, -2, 0, 4]);
    assert_eq!(
        r.q.iter().copied().collect::<Vec<_>>(),
        vec![0.11439726f32, -0.22879452, 0.0, 0.45758903]
    );

    // MaxPerAxis on the 1-D vector itself: one factor per element.
    let r = MaxQuantizer::per_axis(4).quantize_all(w.view());
    assert_eq!(r.sf, ScaleFactor::PerAxis(arr1(&[70.0, 28.0, 140.0, 14.0])));
    assert_eq!(r.int.iter().copied().collect::<Vec<_>>(), vec![7, -7, 7, 7]);
}

#[test]
fn worked_example_b_quantized_relu() {
    let a = QuantizedActivation::quantized_relu(4, Some(6.0));
    assert_eq!((a.levels, a.step, a.threshold), (15.0, 0.4f32, 0.2f32));
    assert_eq!(a.step as f64, 0.4000000059604645);
    let table: [(f32, u32); 13] = [
        (-1.0, 0),
        (0.0, 0),
        (0.1, 0),
        (0.2, 0),
        (0.21, 1),
        (0.5, 1),
        (0.6, 2),
        (1.0, 2),
        (2.9, 7),
        (5.8, 15),
        (5.9, 15),
        (6.0, 15),
        (7.5, 15),
    ];
    for (x, n) in table {
        assert_eq!(a.level(x), n, "x = {x}");
        assert_eq!(a.apply(x), 0.4f32 * n as f32, "x = {x}");
    }
    assert_eq!(a.apply(0.6), 0.8f32);
    let b1 = QuantizedActivation::quantized_relu(1, None);
    assert_eq!((b1.step, b1.threshold), (1.0, 0.5));
    assert_eq!((b1.apply(0.5), b1.apply(0.5000001)), (0.0, 1.0));
}

#[test]
fn worked_example_d_batch_norm_folding() {
    let (gamma, beta, mean, var) = (
        arr1(&[1.0f32]),
        arr1(&[0.1f32]),
        arr1(&[0.3f32]),
        arr1(&[0.249f32]),
    );
    let norm = BatchNorm {
        gamma: gamma.view(),
        beta: beta.view(),
        moving_mean: mean.view(),
        moving_variance: var.view(),
        epsilon: bn::DEFAULT_EPSILON,
    };
    let kernel = arr1(&[0.1f32, -0.25, 0.05, 0.5])
        .into_shape_with_order(IxDyn(&[4, 1]))
        .unwrap();
    let f = bn::fold(kernel.view(), Some(arr1(&[0.05f32]).view()), &norm);
    assert_eq!(
        f.kernel.iter().copied().collect::<Vec<_>>(),
        vec![0.2, -0.5, 0.1, 1.0]
    );
    assert!((f.bias[0] - -0.4).abs() < 1e-7);
    let r = MaxQuantizer::new(4).quantize_all(f.kernel.view());
    assert_eq!(r.sf, ScaleFactor::Scalar(7.0));
    assert_eq!(r.int.iter().copied().collect::<Vec<_>>(), vec![1, -4, 1, 7]);
}

// ---------------------------------------------------------------------------------------------
// activations

fn activation_named(name: &str) -> QuantizedActivation {
    let parts: Vec<&str> = name.split("__").collect();
    let bits: u32 = parts[1][1..].parse().expect("b<bits>");
    match parts[0] {
        "QuantizedReLU" => {
            let mv = match parts[2] {
                "mvNone" => None,
                s => Some(s[2..].parse::<f64>().expect("mv<value>")),
            };
            QuantizedActivation::quantized_relu(bits, mv)
        }
        "ActivationDiscreteRelu" => QuantizedActivation::discrete_relu(bits),
        other => panic!("unknown activation {other}"),
    }
}

#[test]
fn activations_match_the_reference() {
    let mut z = npz("activations.npz");
    let mut configs: Vec<String> = z
        .names()
        .into_iter()
        .filter_map(|n| n.strip_suffix("__step").map(str::to_string))
        .collect();
    configs.sort();
    assert_eq!(configs.len(), 14);
    let x = z.f32("x");
    for name in &configs {
        let a = activation_named(name);
        let scalar = |z: &mut Npz, v: &str| z.f32(&format!("{name}__{v}"))[IxDyn(&[])];
        assert_eq!(
            a.step.to_bits(),
            scalar(&mut z, "step").to_bits(),
            "{name} step"
        );
        assert_eq!(
            a.threshold.to_bits(),
            scalar(&mut z, "threshold").to_bits(),
            "{name} threshold"
        );
        assert_eq!(a.levels, scalar(&mut z, "levels"), "{name} levels");
        let edges = z.f32(&format!("{name}__x_edges"));
        for (input, suffix) in [(&x, ""), (&edges, "_edges")] {
            let xs = input.as_slice().expect("contiguous");
            let mut y = vec![0.0f32; xs.len()];
            a.forward_slice(xs, &mut y);
            let y = ArrayD::from_shape_vec(input.raw_dim(), y).unwrap();
            assert_bits_eq(
                &y,
                &z.f32(&format!("{name}__y{suffix}")),
                &format!("{name} y{suffix}"),
            );
            let ones = vec![1.0f32; xs.len()];
            let mut dydx = vec![0.0f32; xs.len()];
            a.backward_slice(xs, &ones, &mut dydx);
            let dydx = ArrayD::from_shape_vec(input.raw_dim(), dydx).unwrap();
            assert_bits_eq(
                &dydx,
                &z.f32(&format!("{name}__dydx{suffix}")),
                &format!("{name} dydx{suffix}"),
            );
            // The integer level times the step is the output.
            let mut n = vec![0u32; xs.len()];
            a.levels_slice(xs, &mut n);
            for (&n, &yv) in n.iter().zip(y.iter()) {
                assert_eq!(a.step * n as f32, yv, "{name} level");
            }
        }
    }
}

#[test]
fn activation_in_place_variants_agree() {
    let a = QuantizedActivation::discrete_relu(4);
    let x: Vec<f32> = (0..200).map(|i| i as f32 * 0.037 - 1.0).collect();
    let g: Vec<f32> = (0..200).map(|i| (i as f32 * 0.7).sin()).collect();
    let mut y = vec![0.0; x.len()];
    a.forward_slice(&x, &mut y);
    let mut y2 = x.clone();
    a.forward_in_place(&mut y2);
    assert_eq!(y, y2);
    let mut dx = vec![0.0; x.len()];
    a.backward_slice(&x, &g, &mut dx);
    let mut dx2 = g.clone();
    a.backward_in_place(&x, &mut dx2);
    assert_eq!(dx, dx2);
    assert!(dx.contains(&0.0) && dx.iter().any(|&v| v != 0.0));
}

// ---------------------------------------------------------------------------------------------
// BatchNormalization folding and the quantized reference models

fn batch_norm<'a>(
    gamma: &'a Array1<f32>,
    beta: &'a Array1<f32>,
    mean: &'a Array1<f32>,
    var: &'a Array1<f32>,
) -> BatchNorm<'a> {
    BatchNorm {
        gamma: gamma.view(),
        beta: beta.view(),
        moving_mean: mean.view(),
        moving_variance: var.view(),
        epsilon: bn::DEFAULT_EPSILON,
    }
}

/// Folds `float/<bn>` into `<layer>/<kernel_var>` (+ optional bias) of `src`, with gammas
/// optionally replaced.
fn fold_from(
    src: &mut Npz,
    prefix: &str,
    layer: &str,
    kernel_var: &str,
    has_bias: bool,
    bn_name: &str,
    gamma: Option<Array1<f32>>,
) -> bn::Folded {
    let kernel = src.f32(&format!("{prefix}__{layer}__{kernel_var}"));
    let bias = has_bias.then(|| src.vec1(&format!("{prefix}__{layer}__bias")));
    let gamma = gamma.unwrap_or_else(|| src.vec1(&format!("{prefix}__{bn_name}__gamma")));
    let beta = src.vec1(&format!("{prefix}__{bn_name}__beta"));
    let mean = src.vec1(&format!("{prefix}__{bn_name}__moving_mean"));
    let var = src.vec1(&format!("{prefix}__{bn_name}__moving_variance"));
    bn::fold(
        kernel.view(),
        bias.as_ref().map(|b| b.view()),
        &batch_norm(&gamma, &beta, &mean, &var),
    )
}

#[test]
fn toy_batch_norm_folding_matches_cnn2snn() {
    let mut float = npz("toy_float.npz");
    let mut folded = npz("toy_float_folded.npz");
    let f = fold_from(
        &mut float,
        "w",
        "conv2d",
        "kernel",
        true,
        "batch_normalization",
        None,
    );
    assert_bits_eq(&f.kernel, &folded.f32("w__conv2d__kernel"), "folded kernel");
    assert_bits_eq(
        &f.bias.clone().into_dyn(),
        &folded.f32("w__conv2d__bias"),
        "folded bias",
    );
    assert_eq!(f.null_scales(), 0);
    // Every quantized toy holds the same folded weights.
    for tag in [
        "w8_a4_iw8",
        "w4_a4_iw8",
        "w2_a2_iw8",
        "w4_a1_iw8",
        "w8_a4_iw4",
    ] {
        let mut q = npz(&format!("toy_q_{tag}.npz"));
        assert_bits_eq(&f.kernel, &q.f32("w__conv2d__kernel"), tag);
    }
}

#[test]
fn separable_batch_norm_folding_matches_cnn2snn() {
    let mut z = npz("sep_q_w4_a4_iw8.npz");
    for (layer, kernel_var, has_bias, bn_name) in [
        ("conv0", "kernel", true, "bn0"),
        ("sep1", "pointwise_kernel", false, "bn1"),
        ("sep2", "pointwise_kernel", false, "bn2"),
    ] {
        let f = fold_from(&mut z, "float", layer, kernel_var, has_bias, bn_name, None);
        let what = format!("{layer} {kernel_var}");
        assert_bits_eq(
            &f.kernel,
            &z.f32(&format!("w__{layer}__{kernel_var}")),
            &what,
        );
        assert_bits_eq(
            &f.bias.into_dyn(),
            &z.f32(&format!("w__{layer}__bias")),
            &what,
        );
    }
    // Depthwise kernels are not folded.
    for layer in ["sep1", "sep2"] {
        let key = format!("{layer}__depthwise_kernel");
        assert_bits_eq(
            &z.f32(&format!("float__{key}")),
            &z.f32(&format!("w__{key}")),
            &key,
        );
    }
}

/// Checks `q__<layer>__<part>__{wq,sf,int}` of a quantized model file.
fn check_quantized_layer(
    z: &mut Npz,
    layer: &str,
    part: &str,
    weight: &str,
    q: &dyn WeightQuantizer,
) {
    let w = z.f32(&format!("w__{layer}__{weight}"));
    let r = q.quantize_all(w.view());
    let key = format!("{} q__{layer}__{part}", z.1);
    assert_bits_eq(
        &r.q,
        &z.f32(&format!("q__{layer}__{part}__wq")),
        &format!("{key} wq"),
    );
    assert_bits_eq(
        &sf_array(&r.sf),
        &z.f32(&format!("q__{layer}__{part}__sf")),
        &format!("{key} sf"),
    );
    let want: ArrayD<i8> = z.get(&format!("q__{layer}__{part}__int"));
    assert_eq!(r.int, want.mapv(i32::from), "{key} int");
}

#[test]
fn quantized_toy_models_match_cnn2snn() {
    for (wq, aq, iwq) in [(8, 4, 8), (4, 4, 8), (2, 2, 8), (4, 1, 8), (8, 4, 4)] {
        let mut z = npz(&format!("toy_q_w{wq}_a{aq}_iw{iwq}.npz"));
        check_quantized_layer(
            &mut z,
            "conv2d",
            "kernel",
            "kernel",
            &MaxQuantizer::per_axis(iwq),
        );
        check_quantized_layer(
            &mut z,
            "dense",
            "kernel",
            "kernel",
            &MaxQuantizer::per_axis(wq),
        );
    }
}

#[test]
fn quantized_separable_model_matches_cnn2snn() {
    let mut z = npz("sep_q_w4_a4_iw8.npz");
    check_quantized_layer(
        &mut z,
        "conv0",
        "kernel",
        "kernel",
        &MaxQuantizer::per_axis(8),
    );
    for layer in ["sep1", "sep2"] {
        check_quantized_layer(
            &mut z,
            layer,
            "depthwise",
            "depthwise_kernel",
            &MaxQuantizer::new(4),
        );
        check_quantized_layer(
            &mut z,
            layer,
            "pointwise",
            "pointwise_kernel",
            &MaxQuantizer::per_axis(4),
        );
    }
    check_quantized_layer(
        &mut z,
        "dense",
        "kernel",
        "kernel",
        &MaxQuantizer::per_axis(4),
    );
}

#[test]
fn gamma_constraint_models_match_cnn2snn() {
    let mut z = npz("gamma_constraint.npz");
    let gamma = z.vec1("float__bn2__gamma");
    let clamped = bn::clamp_gamma(gamma.view(), bn::DEFAULT_GAMMA_MIN);
    assert_bits_eq(
        &clamped.clone().into_dyn(),
        &z.f32("manual__gamma"),
        "clamped gammas",
    );
    for (prefix, g) in [("tiny", None), ("manual", Some(clamped))] {
        let f = fold_from(&mut z, "float", "conv2", "kernel", true, "bn2", g);
        assert_bits_eq(
            &f.kernel,
            &z.f32(&format!("{prefix}__conv2_folded_kernel")),
            prefix,
        );
        assert_bits_eq(
            &f.bias.into_dyn(),
            &z.f32(&format!("{prefix}__conv2_folded_bias")),
            prefix,
        );
        let sf = MaxQuantizer::per_axis(4).scale_factor(f.kernel.view());
        assert_bits_eq(
            &sf.to_array(),
            &z.f32(&format!("{prefix}__conv2_scale_factor")),
            prefix,
        );
    }
    // The tiny gammas saturate the scale factor at 1000; the clamped ones do not.
    let tiny = z.f32("tiny__conv2_scale_factor");
    assert!(tiny.iter().all(|&s| s == 1000.0));
    assert!(z
        .f32("manual__conv2_scale_factor")
        .iter()
        .all(|&s| s < 1000.0));
}

// ---------------------------------------------------------------------------------------------
// properties

mod props {
    use super::*;
    use proptest::prelude::*;

    fn kernel() -> impl Strategy<Value = ArrayD<f32>> {
        (
            prop::collection::vec(1usize..6, 1..4),
            prop::sample::select(vec![1usize, 3, 8, 10, 17]),
        )
            .prop_flat_map(|(mut lead, last)| {
                lead.push(last);
                let n: usize = lead.iter().product();
                prop::collection::vec(-2.0f32..2.0, n)
                    .prop_map(move |v| ArrayD::from_shape_vec(IxDyn(&lead), v).unwrap())
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            failure_persistence: None,
            ..ProptestConfig::with_cases(64)
        })]

        #[test]
        fn quantized_values_are_on_the_integer_grid(w in kernel(), bits in 2u32..9) {
            for q in [
                Box::new(MaxQuantizer::per_axis(bits)) as Box<dyn WeightQuantizer>,
                Box::new(StdQuantizer::new(bits, 3.0)),
                Box::new(StdQuantizer::per_axis(bits, 2.0)),
            ] {
                let r = q.quantize_all(w.view());
                let kmax = q.kmax() as i32;
                prop_assert!(r.int.iter().all(|&k| (-kmax..=kmax).contains(&k)));
                let s = r.sf.per_column(*w.shape().last().unwrap());
                for (row_q, row_i) in r.q.as_slice().unwrap().chunks(s.len())
                    .zip(r.int.as_slice().unwrap().chunks(s.len()))
                {
                    for ((&qv, &k), &f) in row_q.iter().zip(row_i).zip(&s) {
                        prop_assert_eq!(qv, k as f32 / f);
                    }
                }
            }
        }

        #[test]
        fn max_per_axis_uses_the_full_range(w in kernel(), bits in 2u32..9) {
            // Every channel whose factor is not clipped at 1000 reaches ±kmax; a clipped one
            // stays below.
            let q = MaxQuantizer::per_axis(bits);
            let r = q.quantize_all(w.view());
            let cols = *w.shape().last().unwrap();
            let kmax = q.kmax() as i32;
            for c in 0..cols {
                let col: Vec<i32> = r.int.as_slice().unwrap().iter().skip(c).step_by(cols).copied().collect();
                let wcol: Vec<f32> = w.as_slice().unwrap().iter().skip(c).step_by(cols).copied().collect();
                let top = col.iter().map(|k| k.abs()).max().unwrap();
                let range = wcol.iter().fold(0.0f32, |m, v| m.max(v.abs()));
                if range * 1000.0 > kmax as f32 {
                    prop_assert_eq!(top, kmax);
                } else {
                    prop_assert!(top <= kmax);
                }
            }
        }

        #[test]
        fn formulas_agree_with_builtins(w in kernel()) {
            let up = w.mapv(|v| (v * 3.7).sin());
            let formula = LinearQuantizer::new(4, max_formula(), false);
            let builtin = MaxQuantizer::new(4);
            prop_assert_eq!(formula.scale_factor(w.view()), builtin.scale_factor(w.view()));
            let (ga, gb) = (formula.backward(w.view(), up.view()), builtin.backward(w.view(), up.view()));
            prop_assert!(bit_diff(&ga, &gb).is_none());
            let tut = LinearQuantizer::new(4, tutorial_std(), true);
            let sf = tut.scale_factor(w.view());
            let sigma_sf = StdQuantizer::per_axis(4, 2.0).scale_factor(w.view());
            // Without the clip the tutorial formula equals std_per_axis(threshold 2) below 1000.
            for (a, b) in sf.as_slice().iter().zip(sigma_sf.as_slice()) {
                if *a < 1000.0 {
                    prop_assert_eq!(a, b);
                }
            }
        }
    }
}
