//! Integer inference throughput of the NSoC simulator (images/s), on two programs:
//!
//! - `toy`: the CNN2SNN tutorial model as BrainChip's flow converted it
//!   (`tests/data/toy_q_w4_a4_iw8_akida.json`): 28×28×1 → InputConvolutional 3×3×8 valid + max
//!   pool 2 → FullyConnected 1352→10. BrainChip's akida engine: 25 100 images/s on this machine.
//! - `large`: a synthetic 32×32×3 program of about one million weights (2 convolutions,
//!   7 separable convolutions, 2 fully-connected layers, 4-bit activations), thresholds calibrated
//!   so that half of every channel's activations are zero. BrainChip's engine: 498 images/s.
//!
//! Run with `cargo bench --bench nsoc`. The setup prints parameter and MAC counts and the
//! measured activation density of the large program.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use qnnc::backend::nsoc::synth::{LayerSpec, Recipe};
use qnnc::backend::nsoc::{Dims, LayerKind, LayerOutput, Pooling, Program, Simulator};
use qnnc::target::bridge as akida;
use std::time::Duration;

fn toy_program() -> Program {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/toy_q_w4_a4_iw8_akida.json"
    );
    let json = std::fs::read_to_string(path).expect("reference dump is in the repository");
    akida::program_from_json(&json, "toy", json.as_bytes()).expect("reference dump imports")
}

/// 32×32×3 → 2 conv + 7 separable + 2 dense, 947 872 weights.
fn large_recipe() -> Recipe {
    use LayerKind::*;
    let pool = Pooling::Max {
        size: [2, 2],
        stride: [2, 2],
    };
    let sep = |name: &str, filters| LayerSpec::conv(name, SeparableConvolutional, filters, 3);
    Recipe {
        model_name: "large".into(),
        input: Dims::new(32, 32, 3),
        layers: vec![
            LayerSpec::conv("conv_0", InputConvolutional, 32, 3).pooled(pool),
            LayerSpec::conv("conv_1", Convolutional, 64, 3).pooled(pool),
            sep("separable_2", 128),
            sep("separable_3", 128),
            sep("separable_4", 256).pooled(pool),
            sep("separable_5", 256),
            sep("separable_6", 512),
            sep("separable_7", 512),
            sep("separable_8", 512).pooled(Pooling::GlobalAverage),
            LayerSpec::dense("dense_9", 256),
            LayerSpec::dense("dense_10", 10),
        ],
        seed: 2024,
        calibration_images: 8,
        zero_fraction: 0.5,
        last_activation: false,
    }
}

fn describe(name: &str, program: &Program, sim: &Simulator, images: &ndarray::Array4<u8>) {
    let macs: u64 = program.layers.iter().map(|l| l.mac_count()).sum();
    eprintln!(
        "{name}: {} weights, {:.2} M MACs per image",
        program.parameter_count(),
        macs as f64 / 1e6
    );
    let outputs = sim.run_all(images.view()).expect("benchmark input fits");
    for (layer, output) in program.layers.iter().zip(&outputs) {
        if let LayerOutput::Levels(levels) = output {
            let nonzero = levels.iter().filter(|&&v| v != 0).count();
            eprintln!(
                "  {:<12} {:>6.2} M MACs, {:>5.1} % non-zero outputs",
                layer.name,
                layer.mac_count() as f64 / 1e6,
                100.0 * nonzero as f64 / levels.len() as f64
            );
        }
    }
}

fn throughput(c: &mut Criterion) {
    let toy = toy_program();
    let toy_sim = Simulator::new(&toy).expect("valid program");
    let recipe = large_recipe();
    let large = recipe.build().expect("synthetic program builds");
    let large_sim = Simulator::new(&large).expect("valid program");
    let toy_images = Recipe {
        input: toy.input,
        ..large_recipe()
    }
    .random_images(4096, 1);
    let large_images = recipe.random_images(256, 2);
    describe(
        "toy",
        &toy,
        &toy_sim,
        &toy_images.slice_move(ndarray::s![..64, .., .., ..]),
    );
    describe("large", &large, &large_sim, &large_images);
    let toy_images = Recipe {
        input: toy.input,
        ..large_recipe()
    }
    .random_images(4096, 1);

    let mut group = c.benchmark_group("nsoc");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Elements(toy_images.shape()[0] as u64));
    group.bench_function("toy", |b| {
        b.iter(|| toy_sim.run(toy_images.view()).unwrap())
    });
    group.throughput(Throughput::Elements(large_images.shape()[0] as u64));
    group.bench_function("large", |b| {
        b.iter(|| large_sim.run(large_images.view()).unwrap())
    });
    group.finish();
}

criterion_group!(benches, throughput);
criterion_main!(benches);
