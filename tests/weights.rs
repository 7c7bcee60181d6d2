//! `qnnc init` and the weights loader: Keras initialisers, names, determinism.

use crate::common::qnnc;
use qnnc::io::{read_npz, Array};

#[test]
fn init_writes_keras_defaults_deterministically() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.npz");
    let b = dir.path().join("b.npz");
    let c = dir.path().join("c.npz");
    for (path, seed) in [(&a, "3"), (&b, "3"), (&c, "4")] {
        let out = qnnc(&[
            "init",
            "examples/separable_gap.q",
            "-o",
            path.to_str().unwrap(),
            "--seed",
            seed,
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let bytes = |p: &std::path::Path| std::fs::read(p).unwrap();
    assert_eq!(bytes(&a), bytes(&b), "same seed, same bytes");
    assert_ne!(bytes(&a), bytes(&c), "another seed, other weights");

    let w = read_npz(&a).unwrap();
    let f32s = |name: &str| match &w[name] {
        Array::F32(x) => x.clone(),
        other => panic!("{name} is {:?}", other.dtype()),
    };
    // Names and Keras layouts.
    assert_eq!(f32s("conv0/kernel").shape(), &[3, 3, 1, 8]);
    assert_eq!(f32s("sep1/depthwise_kernel").shape(), &[3, 3, 8, 1]);
    assert_eq!(f32s("sep1/pointwise_kernel").shape(), &[1, 1, 8, 16]);
    assert!(!w.contains_key("sep1/bias"), "use_bias: false has no bias");
    assert_eq!(f32s("dense/kernel").shape(), &[32, 10]);
    // Initialisers.
    assert!(f32s("conv0/bias").iter().all(|&v| v == 0.0));
    assert!(f32s("bn0/gamma").iter().all(|&v| v == 1.0));
    assert!(f32s("bn0/beta").iter().all(|&v| v == 0.0));
    assert!(f32s("bn0/moving_mean").iter().all(|&v| v == 0.0));
    assert!(f32s("bn0/moving_variance").iter().all(|&v| v == 1.0));
    // Glorot uniform: |w| < sqrt(6 / (fan_in + fan_out)), and not degenerate.
    let k = f32s("conv0/kernel");
    let limit = (6.0f32 / (9.0 + 72.0)).sqrt();
    assert!(k.iter().all(|&v| v.abs() < limit));
    let mean_abs = k.iter().map(|v| v.abs()).sum::<f32>() / k.len() as f32;
    assert!(
        mean_abs > limit * 0.3,
        "values should spread over the range"
    );
    let d = f32s("dense/kernel");
    let limit = (6.0f32 / (32.0 + 10.0)).sqrt();
    assert!(d.iter().all(|&v| v.abs() < limit));
}

#[test]
fn init_output_is_checked_against_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path().join("w.npz");
    let out = qnnc(&["init", "examples/toy.q", "-o", w.to_str().unwrap()]);
    assert!(out.status.success());
    let out = qnnc(&["check", "examples/toy.q", "--weights", w.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The same weights do not fit another model.
    let out = qnnc(&[
        "check",
        "examples/separable_gap.q",
        "--weights",
        w.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("weights::missing") && err.contains("weights::unexpected"),
        "{err}"
    );
}

#[test]
fn init_refuses_to_overwrite_its_input() {
    let out = qnnc(&["init", "examples/toy.q", "-o", "examples/toy.q"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("io::output_is_input"));
}
