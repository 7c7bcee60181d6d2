//! Quantizing every kernel of a ~1-million-parameter model (2 convs, 7 separable convs, 2 dense
//! layers on a 32×32×3 input): `max_per_axis` 4-bit (the depthwise kernels with `max`, as
//! `cnn2snn.quantize` does) and `std` 4-bit.
//!
//! Run: `cargo bench --bench quant`.

use criterion::{criterion_group, criterion_main, Criterion};
use ndarray::{ArrayD, IxDyn};
use qnnc::quant::{MaxQuantizer, StdQuantizer, WeightQuantizer};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;

/// A kernel and whether it is a depthwise kernel.
struct Kernel {
    w: ArrayD<f32>,
    depthwise: bool,
}

fn model_kernels() -> Vec<Kernel> {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut kernels = Vec::new();
    let mut add = |shape: &[usize], depthwise: bool| {
        let n: usize = shape.iter().product();
        let v: Vec<f32> = (0..n).map(|_| rng.random_range(-0.2f32..0.2)).collect();
        let w = ArrayD::from_shape_vec(IxDyn(shape), v).expect("shape matches");
        kernels.push(Kernel { w, depthwise });
    };
    add(&[3, 3, 3, 32], false);
    add(&[3, 3, 32, 64], false);
    for (cin, cout) in [
        (64, 128),
        (128, 128),
        (128, 256),
        (256, 256),
        (256, 512),
        (512, 512),
        (512, 512),
    ] {
        add(&[3, 3, cin, 1], true);
        add(&[1, 1, cin, cout], false);
    }
    add(&[512, 384], false);
    add(&[384, 10], false);
    kernels
}

fn bench_quantize(c: &mut Criterion) {
    let kernels = model_kernels();
    let params: usize = kernels.iter().map(|k| k.w.len()).sum();
    let per_axis = MaxQuantizer::per_axis(4);
    let per_tensor = MaxQuantizer::new(4);
    let std = StdQuantizer::new(4, 3.0);
    c.bench_function(
        &format!("quantize max_per_axis 4-bit, {params} params"),
        |b| {
            b.iter(|| {
                for k in &kernels {
                    let q: &dyn WeightQuantizer = if k.depthwise { &per_tensor } else { &per_axis };
                    black_box(q.quantize(black_box(k.w.view())));
                }
            })
        },
    );
    c.bench_function(&format!("quantize std 4-bit, {params} params"), |b| {
        b.iter(|| {
            for k in &kernels {
                black_box(std.quantize(black_box(k.w.view())));
            }
        })
    });
}

criterion_group!(benches, bench_quantize);
criterion_main!(benches);
