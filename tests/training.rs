//! Training: gradients of whole networks against finite differences, determinism, and the
//! MNIST accuracy of the tutorial's toy model (float, then quantized fine-tuning).

use crate::common::qnnc;
use qnnc::backend::cpu::network::{Mode, Network};
use qnnc::backend::cpu::Cpu;
use qnnc::source::SourceFile;
use rand::{Rng, SeedableRng};

fn model(text: &str) -> qnnc::ir::Model {
    let front = qnnc::session::Session::new(SourceFile::new("t.q", text));
    assert!(!front.has_errors(), "{:?}", front.diagnostics);
    front.module.unwrap().models.remove(0)
}

/// Every parameter gradient of a float network with every layer kind (training mode: batch
/// statistics) matches centred finite differences of the loss.
#[test]
fn network_gradients_match_finite_differences() {
    let m = model(
        "model g {\n input([7, 7, 2])\n c = conv2d(3, 3, strides: 2, padding: same)\n b = batch_norm()\n r = relu(max_value: 4)\n s = separable_conv2d(4, 3, padding: same)\n p = max_pool(2, padding: same)\n a = avg_pool(1)\n f = flatten()\n d1 = dense(6)\n b2 = batch_norm()\n r2 = relu()\n d2 = dense(3)\n softmax()\n}\n",
    );
    let mut params = qnnc::params::init(&m, 3);
    // Non-trivial batch-norm parameters and biases.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
    for name in [
        "b/gamma", "b/beta", "b2/gamma", "b2/beta", "c/bias", "d1/bias", "s/bias",
    ] {
        let (l, v) = name.split_once('/').unwrap();
        let a = params.get_mut(l, v).unwrap();
        a.mapv_inplace(|x| x + rng.random_range(-0.3..0.3f32));
    }
    let mut net = Network::new(Cpu::new(1).unwrap(), &m, &params, 0).unwrap();
    let x: Vec<f32> = (0..5 * 7 * 7 * 2)
        .map(|_| rng.random_range(-1.0..1.0f32))
        .collect();
    let x = ndarray::ArrayD::from_shape_vec(vec![5, 7, 7, 2], x).unwrap();
    let labels = [0u32, 2, 1, 1, 0];
    net.set_input_f32(x.view());
    net.train_step_gradients(&labels).unwrap();
    let grads: Vec<(String, ndarray::ArrayD<f32>)> = net
        .parameters()
        .iter()
        .filter(|p| p.trainable)
        .map(|p| (format!("{}/{}", p.layer, p.var), p.grad.clone()))
        .collect();
    let loss_at = |net: &mut Network| -> f64 {
        net.set_input_f32(x.view());
        net.train_step_gradients(&labels).unwrap().0 as f64
    };
    let mut checked = 0;
    for (name, grad) in &grads {
        let n = grad.len();
        for k in [0, n / 2, n - 1] {
            // Small enough to stay clear of the kinks of ReLU and max pooling.
            let h = 1e-3f32;
            let idx = net
                .parameters()
                .iter()
                .position(|p| format!("{}/{}", p.layer, p.var) == *name)
                .unwrap();
            let orig = net.parameters()[idx].value.as_slice().unwrap()[k];
            net.parameters_mut()[idx].value.as_slice_mut().unwrap()[k] = orig + h;
            let up = loss_at(&mut net);
            net.parameters_mut()[idx].value.as_slice_mut().unwrap()[k] = orig - h;
            let down = loss_at(&mut net);
            net.parameters_mut()[idx].value.as_slice_mut().unwrap()[k] = orig;
            let numeric = (up - down) / (2.0 * h as f64);
            let analytic = grad.as_slice().unwrap()[k] as f64;
            let tol = 2e-3 + 3e-2 * numeric.abs().max(analytic.abs());
            assert!(
                (numeric - analytic).abs() <= tol,
                "{name}[{k}]: numeric {numeric:e}, analytic {analytic:e}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 30, "{checked} gradients checked");
    let _ = Mode::Inference;
}

/// Writes a small random `.npy` dataset: 8×8×1 images whose class is the brighter half.
fn tiny_dataset(dir: &std::path::Path) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    for (split, n) in [("train", 512usize), ("test", 128)] {
        let mut images = ndarray::Array4::<u8>::zeros((n, 8, 8, 1));
        let mut labels = ndarray::Array1::<u8>::zeros(n);
        for i in 0..n {
            let class: u8 = rng.random_range(0..2);
            labels[i] = class;
            for y in 0..8 {
                for x in 0..8 {
                    let bright = (x < 4) == (class == 0);
                    let base: u8 = if bright { 160 } else { 40 };
                    images[[i, y, x, 0]] = base.saturating_add(rng.random_range(0..60));
                }
            }
        }
        qnnc::io::write_npy(
            &dir.join(format!("x_{split}.npy")),
            &qnnc::io::Array::U8(images.into_dyn()),
        )
        .unwrap();
        qnnc::io::write_npy(
            &dir.join(format!("y_{split}.npy")),
            &qnnc::io::Array::U8(labels.into_dyn()),
        )
        .unwrap();
    }
}

const TINY: &str = "model tiny {\n input([8, 8, 1], scale: 255)\n quantize(weights: 4, activations: 2, input_weights: 8)\n conv2d(4, 3)\n max_pool(2)\n batch_norm(gamma_min: 0.01)\n relu()\n dropout(0.25)\n flatten()\n dense(2)\n softmax()\n}\n";

/// Trains the model file `q` on the tiny dataset of `dir` (batches of 32, lr 0.01) into
/// `dir/out` with the `extra` arguments; panics unless it succeeds; returns its stdout.
fn train_tiny(dir: &std::path::Path, q: &std::path::Path, out: &str, extra: &[&str]) -> String {
    let o = dir.join(out);
    let mut args = vec![
        "train",
        q.to_str().unwrap(),
        "--data",
        dir.to_str().unwrap(),
        "-o",
        o.to_str().unwrap(),
        "--batch-size",
        "32",
        "--lr",
        "0.01",
    ];
    args.extend_from_slice(extra);
    let r = qnnc(&args);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    String::from_utf8(r.stdout).unwrap()
}

#[test]
fn training_is_deterministic_and_learns() {
    let dir = tempfile::tempdir().unwrap();
    tiny_dataset(dir.path());
    let q = dir.path().join("tiny.q");
    std::fs::write(&q, TINY).unwrap();
    let run = |out: &str, seed: &str, threads: &str, extra: &[&str]| -> String {
        let mut args = vec!["--epochs", "3", "--seed", seed, "--threads", threads];
        args.extend_from_slice(extra);
        train_tiny(dir.path(), &q, out, &args)
    };
    let report = run("a.npz", "7", "2", &[]);
    run("b.npz", "7", "2", &[]);
    run("c.npz", "8", "2", &[]);
    let bytes = |f: &str| std::fs::read(dir.path().join(f)).unwrap();
    assert_eq!(
        bytes("a.npz"),
        bytes("b.npz"),
        "same seed and threads, same weights"
    );
    assert_ne!(bytes("a.npz"), bytes("c.npz"));
    // It learned the task (quantized, with dropout and the gamma constraint).
    let acc: f64 = report
        .split("test accuracy ")
        .nth(1)
        .and_then(|s| s.split('%').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no accuracy in {report}"));
    assert!(acc >= 90.0, "{report}");
    // The weights are those of the model as written, and evaluate to the same accuracy.
    let w = dir.path().join("a.npz");
    let o = qnnc(&[
        "eval",
        q.to_str().unwrap(),
        "--weights",
        w.to_str().unwrap(),
        "--data",
        dir.path().to_str().unwrap(),
    ]);
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.contains(&format!("{acc:.2}%")), "{text} vs {report}");
    // Float training too, and SGD with momentum.
    run("f.npz", "7", "1", &["--float", "--optimizer", "sgd"]);
}

#[test]
fn train_rejects_mismatched_data() {
    let dir = tempfile::tempdir().unwrap();
    tiny_dataset(dir.path());
    let out = dir.path().join("w.npz");
    let o = qnnc(&[
        "train",
        "examples/toy_quantized.q",
        "--data",
        dir.path().to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--epochs",
        "1",
    ]);
    // A bad input file, not a command-line mistake: exit 1 (docs/reliability.md).
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8(o.stderr).unwrap();
    assert!(err.contains("8×8×1") && err.contains("28×28×1"), "{err}");
    assert!(!out.exists());
}

/// `--no-fold-bn` (cnn2snn `quantize(fold_BN=False)`) trains the quantized model with its batch
/// norms in place, and `--dump-after` shows the IR that `train` and `eval` run; the program
/// compiled from such weights folds them at conversion.
#[test]
fn training_without_folding_keeps_the_batch_norms() {
    let dir = tempfile::tempdir().unwrap();
    tiny_dataset(dir.path());
    let q = dir.path().join("tiny.q");
    std::fs::write(&q, TINY).unwrap();
    let dumps = |flag: Option<&str>, sub: &str| -> String {
        let d = dir.path().join(sub);
        std::fs::create_dir(&d).unwrap();
        let w = dir.path().join(format!("{sub}.npz"));
        let mut args = vec![
            "--epochs",
            "2",
            "--dump-after",
            "quantize_layers",
            "--dump-dir",
            d.to_str().unwrap(),
        ];
        args.extend(flag);
        train_tiny(dir.path(), &q, &format!("{sub}.npz"), &args);
        let files: Vec<_> = std::fs::read_dir(&d).unwrap().collect();
        assert_eq!(files.len(), 1, "one dump in {}", d.display());
        let program = dir.path().join(format!("{sub}.nsoc"));
        let o = qnnc(&[
            "compile",
            q.to_str().unwrap(),
            "--weights",
            w.to_str().unwrap(),
            "-o",
            program.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        std::fs::read_to_string(files[0].as_ref().unwrap().path()).unwrap()
    };
    let kept = dumps(Some("--no-fold-bn"), "kept");
    let folded = dumps(None, "folded");
    assert!(kept.contains("BatchNorm"), "{kept}");
    assert!(!folded.contains("BatchNorm"), "{folded}");
}
