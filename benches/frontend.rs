//! Front-end speed: parse + lower + shape inference of a 200-layer model (issue target: under
//! 5 ms).

use criterion::{criterion_group, criterion_main, Criterion};
use qnnc::source::SourceFile;

/// A 200-layer model: 40 blocks of separable conv + batch norm + relu + conv + relu, with
/// named and unnamed layers, quantizers and comments.
fn model_200() -> String {
    let mut s = String::from(
        "// a 200-layer benchmark model\nquantizer q4 = max_per_axis(bits: 4)\nquantizer q2 = linear(bits: 2, scale: kmax / (2 * std(w)))\n\nmodel deep {\n    input([64, 64, 3], scale: 255)\n    quantize(weights: 4, activations: 4, input_weights: 8)\n",
    );
    for i in 0..40 {
        s.push_str(&format!(
            "    sep{i} = separable_conv2d(32, 3, padding: same, quantizer: q4)  // block {i}\n    batch_norm(epsilon: 1e-3)\n    relu(max_value: 6)\n    conv{i} = conv2d(32, [1, 1], strides: 1, padding: same, quantizer: q2)\n    relu()\n"
        ));
    }
    s.push_str("}\n");
    s
}

fn bench(c: &mut Criterion) {
    let text = model_200();
    let src = SourceFile::new("deep.q", text);
    let front = qnnc::session::Session::new(src.clone());
    assert!(!front.has_errors());
    assert_eq!(front.module.as_ref().unwrap().models[0].layers.len(), 200);
    c.bench_function("parse+lower 200 layers", |b| {
        b.iter(|| {
            let f = qnnc::session::Session::new(src.clone());
            std::hint::black_box(f.module);
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
