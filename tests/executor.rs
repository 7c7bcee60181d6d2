//! The CPU executor (`qnnc predict`) against the reference outputs of Keras + CNN2SNN: the
//! float toy model within 1e-5, the quantized models with the same activation levels and
//! logits within 1e-4.

use crate::common::*;
use qnnc::io::{read_npy, write_npy};
use std::path::Path;

/// Runs `qnnc predict` and returns the output and every layer's output by index.
fn predict(
    model: &str,
    weights: &Path,
    input: &Path,
    extra: &[&str],
    dir: &Path,
) -> (ndarray::ArrayD<f32>, Vec<ndarray::ArrayD<f32>>) {
    let layers = dir.join(format!("layers{}", extra.join("_").replace(['-', ','], "")));
    std::fs::create_dir_all(&layers).unwrap();
    let out = dir.join("out.npy");
    let mut args = vec![
        "predict",
        model,
        "--weights",
        weights.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--layers",
        layers.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = qnnc(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut files: Vec<_> = std::fs::read_dir(&layers)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort_by_key(|p| {
        p.file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .split('_')
            .next()
            .unwrap()
            .parse::<usize>()
            .unwrap()
    });
    let get = |p: &Path| match read_npy(p).unwrap() {
        qnnc::io::Array::F32(a) => a,
        other => panic!("{} is {:?}", p.display(), other.dtype()),
    };
    (get(&out), files.iter().map(|p| get(p)).collect())
}

fn max_diff(a: &ndarray::ArrayD<f32>, b: &ndarray::ArrayD<f32>) -> f32 {
    assert_eq!(a.shape(), b.shape());
    a.iter()
        .zip(b.iter())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn write_input(r: &qnnc::io::ArrayMap, dir: &Path) -> std::path::PathBuf {
    let p = dir.join("input.npy");
    write_npy(&p, &r["input_uint8"]).unwrap();
    p
}

#[test]
fn float_toy_matches_keras_layer_by_layer() {
    let dir = tempfile::tempdir().unwrap();
    let r = reference("toy_float.npz");
    let w = dir.path().join("w.npz");
    reference_weights(&r, "w", &|l| l.to_string(), &w);
    let input = write_input(&r, dir.path());
    let (out, layers) = predict(
        "examples/toy_quantized.q",
        &w,
        &input,
        &["--float"],
        dir.path(),
    );
    let names = [
        "conv2d",
        "max_pooling2d",
        "batch_normalization",
        "re_lu",
        "flatten",
        "dense",
        "softmax",
    ];
    for (i, name) in names.iter().enumerate() {
        let d = max_diff(&layers[i], &f32_array(&r, &format!("out__{i}_{name}")));
        assert!(d <= 1e-5, "{name}: {d}");
    }
    assert!(max_diff(&out, &f32_array(&r, "output_softmax")) <= 1e-5);
    // Logits.
    let (logits, _) = predict(
        "examples/toy_quantized.q",
        &w,
        &input,
        &["--float", "--logits"],
        dir.path(),
    );
    assert!(max_diff(&logits, &f32_array(&r, "output_logits")) <= 1e-5);
}

/// Quantized activations: the same levels (step · n) everywhere; logits within 1e-4.
fn check_quantized(
    out: &ndarray::ArrayD<f32>,
    layers: &[ndarray::ArrayD<f32>],
    r: &qnnc::io::ArrayMap,
    names: &[&str],
    tag: &str,
) {
    for (i, name) in names.iter().enumerate() {
        let expected = f32_array(r, &format!("out__{i}_{name}"));
        if name.contains("re_lu") || name.contains("relu") {
            let differ = layers[i]
                .iter()
                .zip(expected.iter())
                .filter(|(a, b)| a != b)
                .count();
            assert_eq!(differ, 0, "{tag} {name}: {differ} activation levels differ");
        } else {
            let d = max_diff(&layers[i], &expected);
            assert!(d <= 1e-4, "{tag} {name}: {d}");
        }
    }
    assert!(
        max_diff(out, &f32_array(r, "output_logits")) <= 1e-4,
        "{tag} logits"
    );
}

#[test]
fn quantized_toy_variants_match_cnn2snn() {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path().join("w.npz");
    reference_weights(&reference("toy_float.npz"), "w", &|l| l.to_string(), &w);
    for (wb, ab, iw) in [(8, 4, 8), (4, 4, 8), (2, 2, 8), (4, 1, 8), (8, 4, 4)] {
        let tag = format!("toy_q_w{wb}_a{ab}_iw{iw}");
        let r = reference(&format!("{tag}.npz"));
        let input = write_input(&r, dir.path());
        let spec = format!("{wb},{ab},{iw}");
        let (out, layers) = predict(
            "examples/toy_quantized.q",
            &w,
            &input,
            &["--quantize", &spec, "--logits"],
            dir.path(),
        );
        check_quantized(
            &out,
            &layers,
            &r,
            &["conv2d", "max_pooling2d", "re_lu", "flatten", "dense"],
            &tag,
        );
    }
}

#[test]
fn separable_model_matches_cnn2snn() {
    let dir = tempfile::tempdir().unwrap();
    let r = reference("sep_q_w4_a4_iw8.npz");
    let w = dir.path().join("w.npz");
    reference_weights(&r, "float", &|l| l.to_string(), &w);
    let input = write_input(&r, dir.path());
    let (out, layers) = predict("examples/separable_gap.q", &w, &input, &[], dir.path());
    let names = [
        "conv0", "relu0", "sep1", "pool1", "relu1", "sep2", "gap2", "relu2", "dense",
    ];
    check_quantized(&out, &layers, &r, &names, "sep");
    // The float model as written (batch norms not folded) matches Keras's float output.
    let (float, _) = predict(
        "examples/separable_gap.q",
        &w,
        &input,
        &["--float"],
        dir.path(),
    );
    assert!(max_diff(&float, &f32_array(&r, "float_output")) <= 1e-4);
}

#[test]
fn tutorial_model_matches_cnn2snn() {
    let dir = tempfile::tempdir().unwrap();
    let r = reference("toy_tutorial_direct.npz");
    let w = dir.path().join("w.npz");
    let rename = |l: &str| match l {
        "conv2d" => "conv2d_3".to_string(),
        "batch_normalization" => "batch_normalization_3".to_string(),
        "dense" => "dense_2".to_string(),
        other => other.to_string(),
    };
    reference_weights(&r, "w", &rename, &w);
    let input = write_input(&reference("toy_float.npz"), dir.path());
    let (out, layers) = predict(
        "tests/data/toy_tutorial_direct.q",
        &w,
        &input,
        &[],
        dir.path(),
    );
    let names = [
        "conv2d",
        "max_pooling2d",
        "batch_normalization",
        "re_lu",
        "flatten",
        "dense",
        "softmax",
    ];
    for (i, name) in names.iter().enumerate() {
        let expected = f32_array(&r, &format!("out__{i}_{name}"));
        let d = max_diff(&layers[i], &expected);
        let tol = if *name == "re_lu" { 0.0 } else { 1e-4 };
        assert!(d <= tol, "{name}: {d}");
    }
    assert!(max_diff(&out, &f32_array(&r, "output_softmax")) <= 1e-5);
}

#[test]
fn predict_rejects_bad_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path().join("w.npz");
    reference_weights(&reference("toy_float.npz"), "w", &|l| l.to_string(), &w);
    let bad = dir.path().join("bad.npy");
    write_npy(
        &bad,
        &qnnc::io::Array::U8(ndarray::ArrayD::zeros(vec![2, 27, 28, 1])),
    )
    .unwrap();
    let out = dir.path().join("o.npy");
    let o = qnnc(&[
        "predict",
        "examples/toy_quantized.q",
        "--weights",
        w.to_str().unwrap(),
        "--input",
        bad.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8(o.stderr).unwrap();
    assert!(err.contains("(batch, 28, 28, 1)"), "{err}");
    assert!(!out.exists());
}
