//! Benchmarks of the CPU kernels on the CNN2SNN tutorial's toy model (Input 28×28×1 →
//! Conv2D 8@3×3 valid → MaxPool 2 → BatchNorm → ReLU → Flatten → Dense 10 → softmax
//! cross-entropy → Adam), run directly on `qnnc::backend::cpu` with 2 threads.
//!
//! `toy/train_epoch` is one epoch the way Keras's `fit` runs it — 60 000 MNIST-sized images
//! (scaled to [0, 1] once, beforehand), shuffled and gathered into 468 batches of 128 and one
//! of 96, batch norm in training mode, an Adam step per batch — so criterion's time is seconds
//! per epoch.
//! `toy/inference_epoch` predicts the 60 000 images in batches of 1000 (batch norm in
//! inference mode); its throughput is images per second. The single-batch benchmarks below
//! them isolate one step. The Keras flow on the same 2-core machine: 0.98 s/epoch and
//! 58 000 images/s.

use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ndarray::{s, Array1, Array2, Array4, ArrayView4};
use qnnc::backend::cpu::*;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const THREADS: usize = 2;
const EPOCH: usize = 60_000;
const BATCH: usize = 128;
const INFERENCE_BATCH: usize = 1000;

/// The toy model's parameters, moving statistics and optimizer.
struct Toy {
    kernel: Array4<f32>,
    bias: Array1<f32>,
    gamma: Array1<f32>,
    beta: Array1<f32>,
    moving_mean: Array1<f32>,
    moving_variance: Array1<f32>,
    dense_kernel: Array2<f32>,
    dense_bias: Array1<f32>,
    optimizer: Optimizer,
    conv: Geometry2d,
    pool: Geometry2d,
}

impl Toy {
    fn new(r: &mut ChaCha8Rng) -> Toy {
        let mut uniform = |n: usize, lim: f32| -> Vec<f32> {
            (0..n).map(|_| r.random_range(-lim..lim)).collect()
        };
        Toy {
            kernel: Array4::from_shape_vec((3, 3, 1, 8), uniform(72, 0.27)).unwrap(),
            bias: Array1::zeros(8),
            gamma: Array1::ones(8),
            beta: Array1::zeros(8),
            moving_mean: Array1::zeros(8),
            moving_variance: Array1::ones(8),
            dense_kernel: Array2::from_shape_vec((1352, 10), uniform(13520, 0.066)).unwrap(),
            dense_bias: Array1::zeros(10),
            optimizer: Optimizer::new(OptimizerConfig::Adam(AdamConfig::default())),
            conv: Geometry2d::new([28, 28], [3, 3], [1, 1], Padding::Valid).unwrap(),
            pool: Geometry2d::new([26, 26], [2, 2], [2, 2], Padding::Valid).unwrap(),
        }
    }
}

/// Every activation, gradient and workspace of one step, kept across batches.
#[derive(Default)]
struct Buffers {
    conv: Array4<f32>,
    pool: Array4<f32>,
    bn: Array4<f32>,
    act: Array4<f32>,
    logits: Array2<f32>,
    probs: Array2<f32>,
    dlogits: Array2<f32>,
    dflat: Array2<f32>,
    dbn: Array4<f32>,
    dpool: Array4<f32>,
    dconv: Array4<f32>,
    dkernel: Array4<f32>,
    dbias: Array1<f32>,
    dgamma: Array1<f32>,
    dbeta: Array1<f32>,
    ddense_kernel: Array2<f32>,
    ddense_bias: Array1<f32>,
    conv_ws: Conv2dWorkspace,
    pool_ws: MaxPool2dWorkspace,
    bn_ws: BatchNormWorkspace,
    dense_ws: DenseWorkspace,
}

/// One training step; returns the batch loss.
fn train_step(
    cx: &Cpu,
    m: &mut Toy,
    b: &mut Buffers,
    x: ArrayView4<'_, f32>,
    labels: &[u32],
) -> f32 {
    let n = x.dim().0;
    conv2d_forward(
        cx,
        &m.conv,
        x,
        m.kernel.view(),
        Some(m.bias.view()),
        &mut b.conv_ws,
        &mut b.conv,
    );
    max_pool2d_forward(
        cx,
        &m.pool,
        b.conv.view(),
        &mut b.pool,
        Some(&mut b.pool_ws),
    );
    let p = BatchNormParams {
        gamma: m.gamma.view(),
        beta: m.beta.view(),
        epsilon: 1e-3,
    };
    batch_norm_training(
        cx,
        b.pool.view(),
        &p,
        &mut m.moving_mean,
        &mut m.moving_variance,
        0.99,
        &mut b.bn_ws,
        &mut b.bn,
    );
    relu_forward(cx, b.bn.view(), None, &mut b.act);
    let flat = b.act.view().into_shape_with_order((n, 1352)).unwrap();
    dense_forward(
        cx,
        flat,
        m.dense_kernel.view(),
        Some(m.dense_bias.view()),
        &mut b.logits,
    );
    let loss = softmax_cross_entropy(cx, b.logits.view(), labels, Some(&mut b.dlogits)).unwrap();

    dense_backward(
        cx,
        flat,
        m.dense_kernel.view(),
        b.dlogits.view(),
        &mut b.dense_ws,
        Some(&mut b.dflat),
        &mut b.ddense_kernel,
        Some(&mut b.ddense_bias),
    );
    let dact = b
        .dflat
        .view()
        .into_shape_with_order((n, 13, 13, 8))
        .unwrap();
    relu_backward(cx, b.bn.view(), dact, None, &mut b.dbn);
    batch_norm_backward(
        cx,
        b.pool.view(),
        b.dbn.view(),
        &p,
        &mut b.bn_ws,
        &mut b.dpool,
        &mut b.dgamma,
        &mut b.dbeta,
    );
    max_pool2d_backward(cx, &m.pool, b.dpool.view(), &b.pool_ws, &mut b.dconv);
    conv2d_backward(
        cx,
        &m.conv,
        x,
        m.kernel.view(),
        b.dconv.view(),
        &mut b.conv_ws,
        None,
        &mut b.dkernel,
        Some(&mut b.dbias),
    );

    m.optimizer.step(
        cx,
        &mut [
            ParamMut {
                value: m.kernel.as_slice_mut().unwrap(),
                grad: b.dkernel.as_slice().unwrap(),
            },
            ParamMut {
                value: m.bias.as_slice_mut().unwrap(),
                grad: b.dbias.as_slice().unwrap(),
            },
            ParamMut {
                value: m.gamma.as_slice_mut().unwrap(),
                grad: b.dgamma.as_slice().unwrap(),
            },
            ParamMut {
                value: m.beta.as_slice_mut().unwrap(),
                grad: b.dbeta.as_slice().unwrap(),
            },
            ParamMut {
                value: m.dense_kernel.as_slice_mut().unwrap(),
                grad: b.ddense_kernel.as_slice().unwrap(),
            },
            ParamMut {
                value: m.dense_bias.as_slice_mut().unwrap(),
                grad: b.ddense_bias.as_slice().unwrap(),
            },
        ],
    );
    loss
}

/// Inference on one batch: class probabilities in `b.probs`.
fn predict(cx: &Cpu, m: &Toy, b: &mut Buffers, x: ArrayView4<'_, f32>) {
    let n = x.dim().0;
    conv2d_forward(
        cx,
        &m.conv,
        x,
        m.kernel.view(),
        Some(m.bias.view()),
        &mut b.conv_ws,
        &mut b.conv,
    );
    max_pool2d_forward(cx, &m.pool, b.conv.view(), &mut b.pool, None);
    let p = BatchNormParams {
        gamma: m.gamma.view(),
        beta: m.beta.view(),
        epsilon: 1e-3,
    };
    batch_norm_inference(
        cx,
        b.pool.view(),
        &p,
        m.moving_mean.view(),
        m.moving_variance.view(),
        &mut b.bn,
    );
    relu_forward(cx, b.bn.view(), None, &mut b.act);
    let flat = b.act.view().into_shape_with_order((n, 1352)).unwrap();
    dense_forward(
        cx,
        flat,
        m.dense_kernel.view(),
        Some(m.dense_bias.view()),
        &mut b.logits,
    );
    softmax_forward(cx, b.logits.view(), &mut b.probs);
}

/// MNIST-sized data: 28×28 images, already scaled to `u8 / 255` as f32 (as the Keras flow
/// prepares `x_train` once before `fit`), and their labels.
struct Data {
    images: Vec<f32>,
    labels: Vec<u32>,
}

/// `n` random images and labels.
fn dataset(r: &mut ChaCha8Rng, n: usize) -> Data {
    Data {
        images: (0..n * 784)
            .map(|_| r.random::<u8>() as f32 / 255.0)
            .collect(),
        labels: (0..n).map(|_| r.random_range(0..10)).collect(),
    }
}

/// Gathers the images `order` into the batch `x` (the input pipeline).
fn load_batch(images: &[f32], order: &[usize], x: &mut Array4<f32>) {
    reshape_buffer(x, ndarray::Ix4(order.len(), 28, 28, 1));
    for (dst, &i) in x.as_slice_mut().unwrap().chunks_exact_mut(784).zip(order) {
        dst.copy_from_slice(&images[i * 784..][..784]);
    }
}

/// Trains one shuffled epoch the way Keras `fit` runs it: gather, scale by 1/255, step.
fn train_epoch(cx: &Cpu, m: &mut Toy, b: &mut Buffers, data: &Data, seed: u64) {
    let mut order: Vec<usize> = (0..EPOCH).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let mut x = Array4::zeros((0, 0, 0, 0));
    let mut batch_labels = Vec::with_capacity(BATCH);
    cx.install(|| {
        for chunk in order.chunks(BATCH) {
            load_batch(&data.images, chunk, &mut x);
            batch_labels.clear();
            batch_labels.extend(chunk.iter().map(|&i| data.labels[i]));
            black_box(train_step(cx, m, b, x.view(), &batch_labels));
        }
    });
}

/// Predicts the whole data set in batches of 1000.
fn inference_epoch(cx: &Cpu, m: &Toy, b: &mut Buffers, data: &Data) {
    let order: Vec<usize> = (0..EPOCH).collect();
    let mut x = Array4::zeros((0, 0, 0, 0));
    cx.install(|| {
        for chunk in order.chunks(INFERENCE_BATCH) {
            load_batch(&data.images, chunk, &mut x);
            predict(cx, m, b, x.view());
            black_box(&b.probs);
        }
    });
}

/// Times `f` per iteration: wall-clock time, or with `QNNC_BENCH_CPU_TIME` set the CPU time of
/// the whole process — steadier on a shared machine, and with `QNNC_BENCH_THREADS=1` the
/// single-thread cost (with more threads it also counts idle workers spinning).
fn measure(bench: &mut criterion::Bencher<'_>, mut f: impl FnMut()) {
    let cpu_time = std::env::var_os("QNNC_BENCH_CPU_TIME").is_some();
    bench.iter_custom(|iters| {
        let (wall, cpu) = (Instant::now(), process_cpu_time());
        for _ in 0..iters {
            f();
        }
        if cpu_time {
            process_cpu_time() - cpu
        } else {
            wall.elapsed()
        }
    });
}

/// CPU time used by the whole process so far (`CLOCK_PROCESS_CPUTIME_ID`).
fn process_cpu_time() -> std::time::Duration {
    #[repr(C)]
    struct Timespec {
        sec: i64,
        nsec: i64,
    }
    extern "C" {
        fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
    }
    const CLOCK_PROCESS_CPUTIME_ID: i32 = 2;
    let mut ts = Timespec { sec: 0, nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime failed");
    std::time::Duration::new(ts.sec as u64, ts.nsec as u32)
}

/// The number of worker threads: 2, or `QNNC_BENCH_THREADS` when set (for profiling).
fn threads() -> usize {
    std::env::var("QNNC_BENCH_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(THREADS)
}

fn toy(c: &mut Criterion) {
    let cx = Cpu::new(threads()).unwrap();
    let mut r = ChaCha8Rng::seed_from_u64(2024);
    let data = dataset(&mut r, EPOCH);
    let mut model = Toy::new(&mut r);
    let mut bufs = Buffers::default();
    eprintln!(
        "toy model on {} threads, {:?} kernels",
        cx.threads(),
        cx.isa()
    );

    let mut group = c.benchmark_group("toy");
    group.sample_size(10);
    // One iteration = one epoch of 60 000 images: the reported time is seconds per epoch and
    // the throughput images per second.
    group.throughput(Throughput::Elements(EPOCH as u64));
    group.bench_function("train_epoch", |bench| {
        let mut seed = 0;
        measure(bench, || {
            seed += 1;
            train_epoch(&cx, &mut model, &mut bufs, &data, seed)
        })
    });
    group.bench_function("inference_epoch", |bench| {
        measure(bench, || inference_epoch(&cx, &model, &mut bufs, &data))
    });

    let mut x = Array4::zeros((0, 0, 0, 0));
    let order: Vec<usize> = (0..INFERENCE_BATCH).collect();
    load_batch(&data.images, &order, &mut x);
    let train_x = x.slice(s![..BATCH, .., .., ..]).to_owned();
    let train_labels = &data.labels[..BATCH];
    group.sample_size(30);
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("train_step_batch128", |bench| {
        measure(bench, || {
            cx.install(|| train_step(&cx, &mut model, &mut bufs, train_x.view(), train_labels));
        })
    });
    group.throughput(Throughput::Elements(INFERENCE_BATCH as u64));
    group.bench_function("inference_batch1000", |bench| {
        measure(bench, || {
            cx.install(|| predict(&cx, &model, &mut bufs, x.view()))
        })
    });
    group.finish();
}

/// Each kernel of one training step (batch 128) on its own, to see where a step's time goes.
fn toy_kernels(c: &mut Criterion) {
    // `QNNC_BENCH_BATCH` changes the batch (e.g. to see what a cache-resident batch costs).
    let batch: usize = std::env::var("QNNC_BENCH_BATCH")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(BATCH);
    let cx = Cpu::new(threads()).unwrap();
    let mut r = ChaCha8Rng::seed_from_u64(7);
    let data = dataset(&mut r, batch);
    let mut m = Toy::new(&mut r);
    let mut b = Buffers::default();
    let mut x = Array4::zeros((0, 0, 0, 0));
    let order: Vec<usize> = (0..batch).collect();
    load_batch(&data.images, &order, &mut x);
    // One full step fills every activation and gradient buffer.
    cx.install(|| train_step(&cx, &mut m, &mut b, x.view(), &data.labels));

    let mut group = c.benchmark_group("toy_kernels");
    group.sample_size(20);
    group.warm_up_time(std::time::Duration::from_millis(500));
    group.measurement_time(std::time::Duration::from_secs(2));
    let p = BatchNormParams {
        gamma: m.gamma.view(),
        beta: m.beta.view(),
        epsilon: 1e-3,
    };
    let flat = b
        .act
        .view()
        .into_shape_with_order((batch, 1352))
        .unwrap()
        .to_owned();
    let mut run = |name: &str, f: &mut (dyn FnMut(&mut Buffers) + Send)| {
        group.bench_function(name, |bench| measure(bench, || cx.install(|| f(&mut b))));
    };
    let (mut mm, mut mv) = (m.moving_mean.clone(), m.moving_variance.clone());
    run("conv_forward", &mut |b| {
        conv2d_forward(
            &cx,
            &m.conv,
            x.view(),
            m.kernel.view(),
            Some(m.bias.view()),
            &mut b.conv_ws,
            &mut b.conv,
        )
    });
    run("max_pool_forward", &mut |b| {
        max_pool2d_forward(
            &cx,
            &m.pool,
            b.conv.view(),
            &mut b.pool,
            Some(&mut b.pool_ws),
        )
    });
    run("batch_norm_training", &mut |b| {
        batch_norm_training(
            &cx,
            b.pool.view(),
            &p,
            &mut mm,
            &mut mv,
            0.99,
            &mut b.bn_ws,
            &mut b.bn,
        )
    });
    run("relu_forward", &mut |b| {
        relu_forward(&cx, b.bn.view(), None, &mut b.act)
    });
    run("dense_forward", &mut |b| {
        dense_forward(
            &cx,
            flat.view(),
            m.dense_kernel.view(),
            Some(m.dense_bias.view()),
            &mut b.logits,
        )
    });
    run("cross_entropy", &mut |b| {
        black_box(
            softmax_cross_entropy(&cx, b.logits.view(), &data.labels, Some(&mut b.dlogits))
                .unwrap(),
        );
    });
    run("dense_backward", &mut |b| {
        dense_backward(
            &cx,
            flat.view(),
            m.dense_kernel.view(),
            b.dlogits.view(),
            &mut b.dense_ws,
            Some(&mut b.dflat),
            &mut b.ddense_kernel,
            Some(&mut b.ddense_bias),
        )
    });
    run("relu_backward", &mut |b| {
        let dact = b
            .dflat
            .view()
            .into_shape_with_order((batch, 13, 13, 8))
            .unwrap();
        relu_backward(&cx, b.bn.view(), dact, None, &mut b.dbn)
    });
    run("batch_norm_backward", &mut |b| {
        batch_norm_backward(
            &cx,
            b.pool.view(),
            b.dbn.view(),
            &p,
            &mut b.bn_ws,
            &mut b.dpool,
            &mut b.dgamma,
            &mut b.dbeta,
        )
    });
    run("max_pool_backward", &mut |b| {
        max_pool2d_backward(&cx, &m.pool, b.dpool.view(), &b.pool_ws, &mut b.dconv)
    });
    run("conv_backward", &mut |b| {
        conv2d_backward(
            &cx,
            &m.conv,
            x.view(),
            m.kernel.view(),
            b.dconv.view(),
            &mut b.conv_ws,
            None,
            &mut b.dkernel,
            Some(&mut b.dbias),
        )
    });
    let mut opt = Optimizer::new(OptimizerConfig::Adam(AdamConfig::default()));
    let (mut k, mut dk) = (m.kernel.clone(), m.dense_kernel.clone());
    run("adam", &mut |b| {
        opt.step(
            &cx,
            &mut [
                ParamMut {
                    value: k.as_slice_mut().unwrap(),
                    grad: b.dkernel.as_slice().unwrap(),
                },
                ParamMut {
                    value: dk.as_slice_mut().unwrap(),
                    grad: b.ddense_kernel.as_slice().unwrap(),
                },
            ],
        )
    });
    group.finish();
}

criterion_group!(benches, toy, toy_kernels);
criterion_main!(benches);
