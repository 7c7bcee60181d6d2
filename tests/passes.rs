//! The model transforms of `cnn2snn.quantize` through `qnnc quantize`, end to end against the
//! reference outputs: BN folding (with pool inversion), gamma clamping, quantizer assignment
//! and the quantizers themselves, bit for bit.

use crate::common::*;
use std::path::Path;

fn quantize(model: &str, weights: &Path, out: &Path, extra: &[&str]) -> String {
    let mut args = vec![
        "quantize",
        model,
        "--weights",
        weights.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = qnnc(&args);
    assert!(
        o.status.success(),
        "qnnc {args:?} failed:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// Compares `LAYER/VAR_{q,sf,int}` and the folded float weights with a reference.
fn compare_layer(
    ours: &qnnc::io::ArrayMap,
    reference: &qnnc::io::ArrayMap,
    layer: &str,
    ours_var: &str,
    ref_var: &str,
) {
    let what = |s: &str| format!("{layer}/{ours_var}_{s}");
    assert_bits_eq(
        &what("q"),
        &f32_array(ours, &format!("{layer}/{ours_var}_q")),
        &f32_array(reference, &format!("q__{layer}__{ref_var}__wq")),
    );
    assert_bits_eq(
        &what("sf"),
        &f32_array(ours, &format!("{layer}/{ours_var}_sf")),
        &f32_array(reference, &format!("q__{layer}__{ref_var}__sf")),
    );
    assert_eq!(
        int_array(ours, &format!("{layer}/{ours_var}_int")),
        int_array(reference, &format!("q__{layer}__{ref_var}__int")),
        "{}",
        what("int")
    );
}

#[test]
fn toy_variants_match_cnn2snn_quantize() {
    let dir = tempfile::tempdir().unwrap();
    let float = reference("toy_float.npz");
    let w = dir.path().join("toy.npz");
    reference_weights(&float, "w", &|l| l.to_string(), &w);
    for (wb, ab, iw) in [(8, 4, 8), (4, 4, 8), (2, 2, 8), (4, 1, 8), (8, 4, 4)] {
        let tag = format!("toy_q_w{wb}_a{ab}_iw{iw}");
        let out = dir.path().join(format!("{tag}.npz"));
        let spec = format!("{wb},{ab},{iw}");
        quantize("examples/toy_quantized.q", &w, &out, &["--quantize", &spec]);
        let ours = qnnc::io::read_npz(&out).unwrap();
        let r = reference(&format!("{tag}.npz"));
        for layer in ["conv2d", "dense"] {
            compare_layer(&ours, &r, layer, "kernel", "kernel");
            for var in ["kernel", "bias"] {
                assert_bits_eq(
                    &format!("{tag} folded {layer}/{var}"),
                    &f32_array(&ours, &format!("{layer}/{var}")),
                    &f32_array(&r, &format!("w__{layer}__{var}")),
                );
            }
        }
        assert!(
            !ours.contains_key("batch_normalization/gamma"),
            "BN is folded away"
        );
    }
}

#[test]
fn separable_model_matches_cnn2snn_quantize() {
    let dir = tempfile::tempdir().unwrap();
    let r = reference("sep_q_w4_a4_iw8.npz");
    let w = dir.path().join("sep.npz");
    reference_weights(&r, "float", &|l| l.to_string(), &w);
    let out = dir.path().join("q.npz");
    quantize("examples/separable_gap.q", &w, &out, &[]);
    let ours = qnnc::io::read_npz(&out).unwrap();
    compare_layer(&ours, &r, "conv0", "kernel", "kernel");
    compare_layer(&ours, &r, "dense", "kernel", "kernel");
    for sep in ["sep1", "sep2"] {
        compare_layer(&ours, &r, sep, "depthwise_kernel", "depthwise");
        compare_layer(&ours, &r, sep, "pointwise_kernel", "pointwise");
        for var in ["depthwise_kernel", "pointwise_kernel", "bias"] {
            assert_bits_eq(
                &format!("folded {sep}/{var}"),
                &f32_array(&ours, &format!("{sep}/{var}")),
                &f32_array(&r, &format!("w__{sep}__{var}")),
            );
        }
    }
}

#[test]
fn gamma_constraint_folding_matches_the_reference() {
    let dir = tempfile::tempdir().unwrap();
    let r = reference("gamma_constraint.npz");
    let w = dir.path().join("g.npz");
    reference_weights(&r, "float", &|l| l.to_string(), &w);
    for (prefix, extra) in [("tiny", vec![]), ("manual", vec!["--gamma-min", "0.01"])] {
        let out = dir.path().join(format!("{prefix}.npz"));
        let report = quantize("tests/data/gamma_model.q", &w, &out, &extra);
        let ours = qnnc::io::read_npz(&out).unwrap();
        assert_bits_eq(
            &format!("{prefix} conv2 kernel"),
            &f32_array(&ours, "conv2/kernel"),
            &f32_array(&r, &format!("{prefix}__conv2_folded_kernel")),
        );
        assert_bits_eq(
            &format!("{prefix} conv2 bias"),
            &f32_array(&ours, "conv2/bias"),
            &f32_array(&r, &format!("{prefix}__conv2_folded_bias")),
        );
        assert_bits_eq(
            &format!("{prefix} conv2 scale factor"),
            &f32_array(&ours, "conv2/kernel_sf"),
            &f32_array(&r, &format!("{prefix}__conv2_scale_factor")),
        );
        if prefix == "tiny" {
            // The scale factor saturates at the [0, 1000] clip.
            assert!(
                f32_array(&ours, "conv2/kernel_sf")
                    .iter()
                    .all(|&s| s == 1000.0),
                "{report}"
            );
        }
    }
}

#[test]
fn tutorial_model_quantizes_without_folding_and_refuses_folding() {
    let dir = tempfile::tempdir().unwrap();
    let r = reference("toy_tutorial_direct.npz");
    let w = dir.path().join("toy.npz");
    let rename = |l: &str| match l {
        "conv2d" => "conv2d_3".to_string(),
        "batch_normalization" => "batch_normalization_3".to_string(),
        "dense" => "dense_2".to_string(),
        other => other.to_string(),
    };
    reference_weights(&r, "w", &rename, &w);
    // `fold_BN=False`: the hand-quantized layers as they are.
    let out = dir.path().join("q.npz");
    quantize("examples/toy.q", &w, &out, &["--no-fold-bn"]);
    let ours = qnnc::io::read_npz(&out).unwrap();
    for (ours_layer, ref_layer) in [("conv2d_3", "conv2d"), ("dense_2", "dense")] {
        assert_bits_eq(
            ours_layer,
            &f32_array(&ours, &format!("{ours_layer}/kernel_q")),
            &f32_array(&r, &format!("q__{ref_layer}__kernel__wq")),
        );
        assert_bits_eq(
            ours_layer,
            &f32_array(&ours, &format!("{ours_layer}/kernel_sf")),
            &f32_array(&r, &format!("q__{ref_layer}__kernel__sf")),
        );
    }
    // Folding the batch norm into the per-tensor quantized conv is refused, as cnn2snn does.
    let o = qnnc(&[
        "quantize",
        "examples/toy.q",
        "--weights",
        w.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8(o.stderr).unwrap();
    assert!(err.contains("fold::per_tensor_quantizer"), "{err}");
    assert!(
        err.contains("batch_normalization_3") && err.contains("conv2d_3"),
        "{err}"
    );
}

#[test]
fn dump_after_writes_the_ir_as_ron() {
    let dir = tempfile::tempdir().unwrap();
    let float = reference("toy_float.npz");
    let w = dir.path().join("toy.npz");
    reference_weights(&float, "w", &|l| l.to_string(), &w);
    let out = dir.path().join("q.npz");
    let d = dir.path().to_str().unwrap();
    quantize(
        "examples/toy_quantized.q",
        &w,
        &out,
        &[
            "--dump-after",
            "invert_bn_pool,fold_bn,quantize_layers",
            "--dump-dir",
            d,
        ],
    );
    let read = |pass: &str| -> qnnc::ir::Model {
        let text =
            std::fs::read_to_string(dir.path().join(format!("toy_quantized.after-{pass}.ron")))
                .unwrap();
        ron::from_str(&text).unwrap()
    };
    let inverted = read("invert_bn_pool");
    let names: Vec<&str> = inverted.layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(
        &names[..3],
        ["conv2d", "batch_normalization", "max_pooling2d"]
    );
    let folded = read("fold_bn");
    assert!(folded.layer("batch_normalization").is_none());
    assert_eq!(folded.layers[0].merged[0].name, "batch_normalization");
    let quantized = read("quantize_layers");
    assert!(matches!(
        quantized.layers[2].op,
        qnnc::ir::Op::QuantizedActivation(qnnc::quant::ActivationSpec::QuantizedRelu {
            bits: 4,
            max_value: None
        })
    ));
}

/// The conversion pipeline (`syncretize`): dropout removed, activation/max-pool swapped,
/// pool/BN inverted and BN folded, shapes kept consistent.
#[test]
fn convert_pipeline_syncretizes() {
    use qnnc::session::{Job, Options, Stage};
    let text = "model m {\n input([8, 8, 1], scale: 255)\n quantize(weights: 4, activations: 2)\n c = conv2d(4, 3, padding: same)\n r = relu()\n p = max_pool(2, padding: same)\n b = batch_norm()\n d = dropout(0.5)\n s = separable_conv2d(8, 3, padding: same)\n g = global_avg_pool()\n b2 = batch_norm()\n r2 = relu()\n f = flatten()\n dense(10)\n}\n";
    let front = qnnc::session::Session::new(qnnc::source::SourceFile::new("m.q", text));
    assert!(!front.has_errors());
    let model = front.module.unwrap().models.remove(0);
    let params = qnnc::params::init(&model, 1);
    let t = Job::new(model, Some(params), Options::default())
        .transform(Stage::Converted)
        .unwrap();
    assert!(!t.has_errors(), "{:?}", t.diagnostics);
    let graph = t.graph;
    let names: Vec<&str> = graph.model.layers.iter().map(|l| l.name.as_str()).collect();
    // As in cnn2snn: quantize() moves `b` before `p` and `b2` before `g` and folds `b2` into
    // `s`; `b` follows the ReLU, so it stays (and conversion will refuse it); the dropout goes.
    assert_eq!(names, ["c", "r", "b", "p", "s", "g", "r2", "f", "dense"]);
    assert_eq!(graph.model.layer("s").unwrap().merged[0].name, "b2");
    assert!(graph.model.layer("c").unwrap().merged.is_empty());
    let params = graph.params.unwrap();
    assert!(params.get("b2", "gamma").is_none() && params.get("b", "gamma").is_some());
    assert!(
        params.get("s", "bias").is_some(),
        "folding gives the layer a bias"
    );

    // Activation then max pooling: the pooling moves first.
    let text = "model m {\n input([8, 8, 1], scale: 255)\n c = conv2d(4, 3, padding: same, quantizer: max_per_axis(bits: 8))\n r = quantized_relu(bits: 2)\n p = max_pool(2, padding: same)\n d = dropout(0.25)\n f = flatten()\n dense(10, quantizer: max(bits: 2))\n}\n";
    let front = qnnc::session::Session::new(qnnc::source::SourceFile::new("m.q", text));
    let model = front.module.unwrap().models.remove(0);
    let t = Job::new(model, None, Options::default())
        .transform(Stage::Converted)
        .unwrap();
    assert!(!t.has_errors());
    let graph = t.graph;
    let names: Vec<&str> = graph.model.layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["c", "p", "r", "f", "dense"]);
    let p = graph.model.layer("p").unwrap();
    assert_eq!(
        (p.input_shape.dims(), p.output_shape.dims()),
        (&[8, 8, 4][..], &[4, 4, 4][..])
    );
    let r = graph.model.layer("r").unwrap();
    assert_eq!(
        (r.input_shape.dims(), r.output_shape.dims()),
        (&[4, 4, 4][..], &[4, 4, 4][..])
    );
}
