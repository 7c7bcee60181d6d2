//! `qnnc hist`: the tutorial's weight histograms, in SVG and PNG, and its errors.

use crate::common::qnnc;

fn hist(args: &[&str]) -> std::process::Output {
    let mut all = vec![
        "hist",
        "examples/tutorial_custom.q",
        "--weights",
        "docs/data/outliers.npz",
        "--layer",
        "dense",
    ];
    all.extend_from_slice(args);
    qnnc(&all)
}

#[test]
fn outlier_histograms_show_how_many_levels_survive() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("max.svg");
    let out = hist(&["--quantizer", "max(bits: 4)", "-o", svg.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<svg"), "an SVG file");
    // The outliers at 0.5 squeeze the bulk of the weights onto 4 of the 15 levels…
    assert!(
        text.contains("max 4-bit (4 distinct values)"),
        "{text:.300}"
    );
    // …while the tutorial's custom quantizer (the layer's own) keeps 12.
    let png = dir.path().join("custom.png");
    let out = hist(&["-o", png.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("12 distinct values"), "{stdout}");
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    // Same inputs, same bytes.
    let png2 = dir.path().join("again.png");
    assert!(hist(&["-o", png2.to_str().unwrap()]).status.success());
    assert_eq!(bytes, std::fs::read(&png2).unwrap());
}

#[test]
fn hist_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("x.png");
    let p = png.to_str().unwrap();
    let jpg = dir.path().join("x.jpg");
    let cases: [(&[&str], &str); 4] = [
        (
            &["--quantizer", "maxx(bits: 4)", "-o", p],
            "did you mean `max`?",
        ),
        (
            &["--quantizer", "max(bits: 4", "-o", p],
            "close the call with `)`",
        ),
        (&["--variable", "bias", "-o", p], "has no kernel `bias`"),
        (&["-o", jpg.to_str().unwrap()], "`….svg` or `….png`"),
    ];
    for (args, expected) in cases {
        let out = hist(args);
        assert_ne!(out.status.code(), Some(0));
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.contains(expected), "{args:?}: {err}");
        assert!(!png.exists(), "nothing is written on error");
    }
}

#[test]
fn activation_shows_step_threshold_and_levels() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("act.svg");
    let out = qnnc(&[
        "activation",
        "quantized_relu(bits: 4, max_value: 6)",
        "-o",
        svg.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains("15 levels above zero (16 output values), step 0.4 (exactly 0.4000000059604645), threshold 0.2, output 0 to 6"),
        "{stdout}"
    );
    assert!(std::fs::read_to_string(&svg).unwrap().starts_with("<svg"));
    // The discrete ReLU of 3 bits steps by 6/7.
    let out = qnnc(&["activation", "discrete_relu(bits: 3)"]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("step 0.85714287"), "{stdout}");
    // Not an activation, or a bad one: a clear error, nothing written.
    let bad = dir.path().join("bad.svg");
    let out = qnnc(&["activation", "dense(3)", "-o", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a quantized activation"));
    let out = qnnc(&[
        "activation",
        "quantized_relu(bits: 0)",
        "-o",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("greater than zero"));
    assert!(!bad.exists());
}
