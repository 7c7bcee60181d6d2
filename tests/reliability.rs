//! Reliability of what qnnc writes: atomic outputs under SIGKILL, permissions, leftover
//! temporary files, `train --resume` (bit-identical to an uninterrupted run), determinism
//! (repeated runs, `.npz` member order, locale), and the memory budget on models and programs.
//!
//! The kill tests spawn the real binary and SIGKILL it after seeded, varied delays; each runs 20
//! iterations (about 30 s together in release mode).

use crate::bad_input::{qnnc_in, words};
use qnnc::io::{Array, ArrayMap};
use rand::{Rng, SeedableRng};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn run(dir: &Path, args: &str) -> Output {
    qnnc_in(dir, &words(args), &[])
}

fn run_env(dir: &Path, args: &str, env: &[(&str, &str)]) -> Output {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    qnnc_in(dir, &words(args), &env)
}

fn ok(dir: &Path, args: &str) -> Output {
    let out = run(dir, args);
    assert!(
        out.status.success(),
        "`qnnc {args}` failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> Vec<u8> {
    fs::read(path).unwrap_or_else(|e| panic!("read `{}`: {e}", path.display()))
}

/// The names in `dir` other than `known`, sorted.
fn others(dir: &Path, known: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !known.contains(&n.as_str()))
        .collect();
    names.sort();
    names
}

/// Whether `name` is the temporary file of a write of `target` by process `pid`.
fn is_temporary_of(name: &str, target: &str, pid: u32) -> bool {
    name.starts_with(&format!(".{target}.qnnc-{pid}.")) && name.ends_with(".tmp")
}

// ---------------------------------------------------------------------------------------------
// data and models

/// The first `n` training and `n_test` test images of the shipped MNIST as plain IDX files.
fn mnist_subset(dir: &Path, n: usize, n_test: usize) {
    fs::create_dir_all(dir).unwrap();
    let mnist = root().join("examples/data/mnist");
    for (stem, count) in [("train", n), ("t10k", n_test)] {
        let images =
            qnnc::io::read_idx_images(&mnist.join(format!("{stem}-images-idx3-ubyte.gz"))).unwrap();
        let labels =
            qnnc::io::read_idx_labels(&mnist.join(format!("{stem}-labels-idx1-ubyte.gz"))).unwrap();
        let pixels: Vec<u8> = images.iter().take(count * 784).copied().collect();
        let classes: Vec<u8> = labels.iter().take(count).copied().collect();
        fs::write(
            dir.join(format!("{stem}-images-idx3-ubyte")),
            crate::bad_input::idx(8, &[count as u32, 28, 28], &pixels),
        )
        .unwrap();
        fs::write(
            dir.join(format!("{stem}-labels-idx1-ubyte")),
            crate::bad_input::idx(8, &[count as u32], &classes),
        )
        .unwrap();
    }
}

/// A quantized model with batch norm and dropout: training uses every kind of state.
const DROPOUT_MODEL: &str = "model drop {
    input([28, 28, 1], scale: 255)
    quantize(weights: 4, activations: 4, input_weights: 8)
    conv2d(8, 3)
    max_pool(2)
    batch_norm()
    relu()
    dropout(0.3)
    flatten()
    dense(10)
    softmax()
}
";

/// A model whose program is about 7 MB, so that writing it takes a moment.
const BIG_MODEL: &str = "model big {
    input([32, 32, 3], scale: 255)
    quantize(weights: 4, activations: 4, input_weights: 8)
    conv2d(32, 3)
    relu()
    max_pool(2)
    flatten()
    dense(1024)
    relu()
    dense(10)
}
";

/// A training directory: `drop.q`, `data/` (1024 + 128 MNIST images).
fn training_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("drop.q"), DROPOUT_MODEL).unwrap();
    mnist_subset(&dir.path().join("data"), 1024, 128);
    dir
}

const TRAIN: &str = "train drop.q --data data --batch-size 64 --threads 2 --seed 5 --no-validation";

// ---------------------------------------------------------------------------------------------
// atomic writes: permissions and leftovers

#[cfg(unix)]
fn umask() -> u32 {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Umask:"))
        .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
        .unwrap_or(0o022)
}

#[cfg(unix)]
#[test]
fn new_outputs_get_the_usual_permissions_and_rewrites_keep_theirs() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let expected = 0o666 & !umask();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // The library function, and every kind of file through the binary.
    qnnc::io::write_atomic(&d.join("lib.bin"), |w| std::io::Write::write_all(w, b"x")).unwrap();
    assert_eq!(mode(&d.join("lib.bin")), expected, "write_atomic");
    fs::copy(root().join("examples/toy_quantized.q"), d.join("t.q")).unwrap();
    ok(d, "init t.q -o w.npz");
    ok(d, "compile t.q --weights w.npz -o m.nsoc");
    ok(d, "hist t.q --weights w.npz --layer dense -o h.svg");
    for file in ["w.npz", "m.nsoc", "h.svg"] {
        assert_eq!(mode(&d.join(file)), expected, "{file}");
    }
    // A rewritten file keeps its mode: `fmt` on a 0640 file, `compile` over a 0600 program.
    fs::write(d.join("ugly.q"), "model u{input([4]) dense(2)}\n").unwrap();
    fs::set_permissions(d.join("ugly.q"), fs::Permissions::from_mode(0o640)).unwrap();
    ok(d, "fmt ugly.q");
    assert!(read(&d.join("ugly.q")).starts_with(b"model u {"));
    assert_eq!(mode(&d.join("ugly.q")), 0o640, "fmt");
    fs::set_permissions(d.join("m.nsoc"), fs::Permissions::from_mode(0o600)).unwrap();
    ok(d, "compile t.q --weights w.npz -o m.nsoc");
    assert_eq!(
        mode(&d.join("m.nsoc")),
        0o600,
        "compile over an existing file"
    );
    assert!(others(d, &["lib.bin", "t.q", "w.npz", "m.nsoc", "h.svg", "ugly.q"]).is_empty());
}

#[test]
fn leftover_temporaries_of_dead_processes_are_removed_by_the_next_write() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A process id above Linux's largest, so it cannot run; process 1 always runs.
    let dead = ".out.npz.qnnc-4294967.Ab12Cd.tmp";
    let alive = ".out.npz.qnnc-1.Ef34Gh.tmp";
    let other_target = ".other.npz.qnnc-4294967.Ij56Kl.tmp";
    let unrelated = ".out.npz.backup.tmp";
    for name in [dead, alive, other_target, unrelated] {
        fs::write(d.join(name), b"partial").unwrap();
    }
    qnnc::io::write_atomic(&d.join("out.npz"), |w| std::io::Write::write_all(w, b"new")).unwrap();
    assert_eq!(read(&d.join("out.npz")), b"new");
    let left = others(d, &["out.npz"]);
    if Path::new("/proc/self").exists() {
        assert_eq!(left, vec![other_target, unrelated, alive], "{left:?}");
    } else {
        assert_eq!(left.len(), 4, "{left:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// kill tests

/// Spawns `qnnc ARGS` in `dir` with its output discarded.
fn spawn(dir: &Path, args: &str) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_qnnc"))
        .args(words(args))
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the qnnc binary starts")
}

/// Runs `args` to completion twice and returns the shorter time (the first run may be slowed
/// by cold caches, which would put the kills' delays past the end of later runs).
fn timed(dir: &Path, args: &str) -> Duration {
    (0..2)
        .map(|_| {
            let start = Instant::now();
            ok(dir, args);
            start.elapsed()
        })
        .min()
        .expect("two runs")
}

/// Kills `child` with SIGKILL after `delay` (unless it has finished) and reaps it; returns its
/// process id.
fn kill_after(mut child: std::process::Child, delay: Duration) -> u32 {
    let pid = child.id();
    std::thread::sleep(delay);
    if !matches!(child.try_wait(), Ok(Some(_))) {
        child.kill().expect("SIGKILL");
    }
    child.wait().expect("reap the child");
    pid
}

/// Kills `child` with SIGKILL `delay` after its temporary file for `target` in `dir` appears
/// (or when it has finished without one) and reaps it; returns its process id.
fn kill_while_writing(
    mut child: std::process::Child,
    dir: &Path,
    target: &str,
    delay: Duration,
) -> u32 {
    let pid = child.id();
    let start = Instant::now();
    loop {
        let writing = fs::read_dir(dir)
            .unwrap()
            .flatten()
            .any(|e| is_temporary_of(&e.file_name().to_string_lossy(), target, pid));
        if writing || matches!(child.try_wait(), Ok(Some(_))) {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "no write began");
        std::thread::sleep(Duration::from_micros(200));
    }
    kill_after(child, delay)
}

#[test]
fn sigkill_during_compile_leaves_the_old_program_or_the_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::write(d.join("big.q"), BIG_MODEL).unwrap();
    ok(d, "init big.q -o w.npz --seed 0");
    ok(d, "init big.q -o old_w.npz --seed 1");
    ok(d, "compile big.q --weights old_w.npz -o old.nsoc");
    let args = "compile big.q --weights w.npz -o out.nsoc";
    let full = timed(d, args);
    let new = read(&d.join("out.nsoc"));
    let old = read(&d.join("old.nsoc"));
    assert_ne!(new, old);
    let known = ["big.q", "w.npz", "old_w.npz", "old.nsoc", "out.nsoc"];
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(20);
    let (mut kept_old, mut got_new, mut mid_write) = (0, 0, 0);
    // A killed run's temporary stays until a later run gets as far as writing.
    let mut killed = Vec::new();
    for i in 0..20 {
        fs::copy(d.join("old.nsoc"), d.join("out.nsoc")).unwrap();
        // Half the kills anywhere in the run, half within a few milliseconds of the start of
        // the write (the program is encoded first, then written, flushed and renamed).
        let (delay, pid) = if i % 2 == 0 {
            let delay = full.mul_f64(rng.random_range(0.0..1.2));
            (delay, kill_after(spawn(d, args), delay))
        } else {
            let delay = Duration::from_micros(rng.random_range(0..4000));
            (
                delay,
                kill_while_writing(spawn(d, args), d, "out.nsoc", delay),
            )
        };
        killed.push(pid);
        let now = read(&d.join("out.nsoc"));
        if now == old {
            kept_old += 1;
        } else if now == new {
            got_new += 1;
        } else {
            panic!(
                "iteration {i} (killed {delay:?} after the start, or after the write began): `out.nsoc` is neither the old nor the new program ({} bytes)",
                now.len()
            );
        }
        let left = others(d, &known);
        if left
            .iter()
            .any(|name| is_temporary_of(name, "out.nsoc", pid))
        {
            mid_write += 1;
        }
        for name in &left {
            assert!(
                killed
                    .iter()
                    .any(|&pid| is_temporary_of(name, "out.nsoc", pid)),
                "iteration {i}: stray file `{name}`"
            );
        }
    }
    // The next run writes the program and removes the temporaries of the killed runs.
    ok(d, args);
    assert_eq!(read(&d.join("out.nsoc")), new);
    assert!(others(d, &known).is_empty(), "{:?}", others(d, &known));
    eprintln!(
        "compile kill test: {kept_old} old, {got_new} new, {mid_write} killed while writing (a run takes {full:?})"
    );
}

/// Checks that `path` is either `old` or complete weights of `model` (every array present,
/// well-shaped and finite).
fn assert_old_or_complete_weights(path: &Path, old: &[u8], model: &qnnc::ir::Model, what: &str) {
    let bytes = read(path);
    if bytes == old {
        return;
    }
    let (params, problems) = qnnc::params::load(path, model)
        .unwrap_or_else(|e| panic!("{what}: `{}` is damaged: {e}", path.display()));
    assert!(
        params.is_some() && problems.is_empty(),
        "{what}: {problems:?}"
    );
}

fn model_of(dir: &Path, file: &str) -> qnnc::ir::Model {
    let src = qnnc::session::Session::read_source(&dir.join(file)).unwrap();
    let front = qnnc::session::Session::new(src);
    assert!(!front.has_errors());
    front.model(None).unwrap().clone()
}

#[test]
fn sigkill_during_training_then_resume_gives_the_uninterrupted_weights() {
    let dir = training_dir();
    let d = dir.path();
    let args = format!("{TRAIN} --epochs 6 --schedule cosine -o w.npz");
    let full = timed(d, &args);
    let reference = read(&d.join("w.npz"));
    let reference_ckpt = read(&d.join("w.ckpt.npz"));
    ok(d, "init drop.q -o old.npz --seed 9");
    let old = read(&d.join("old.npz"));
    let model = model_of(d, "drop.q");
    let known = ["drop.q", "data", "old.npz", "w.npz", "w.ckpt.npz"];
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(6);
    let (mut resumed, mut restarted) = (0, 0);
    for i in 0..20 {
        fs::copy(d.join("old.npz"), d.join("w.npz")).unwrap();
        let _ = fs::remove_file(d.join("w.ckpt.npz"));
        // Most kills anywhere in the run; every fourth within two milliseconds of the start of
        // the first write of the checkpoint or of the weights.
        let (pid, what) = if i % 4 == 3 {
            let target = if i % 8 == 3 { "w.ckpt.npz" } else { "w.npz" };
            let delay = Duration::from_micros(rng.random_range(0..2000));
            let pid = kill_while_writing(spawn(d, &args), d, target, delay);
            (
                pid,
                format!("iteration {i} (killed {delay:?} after writing `{target}` began)"),
            )
        } else {
            let delay = full.mul_f64(rng.random_range(0.0..1.2));
            let pid = kill_after(spawn(d, &args), delay);
            (pid, format!("iteration {i} (killed after {delay:?})"))
        };
        assert_old_or_complete_weights(&d.join("w.npz"), &old, &model, &what);
        let has_checkpoint = d.join("w.ckpt.npz").exists();
        if has_checkpoint {
            qnnc::commands::checkpoint::load(&d.join("w.ckpt.npz"))
                .unwrap_or_else(|e| panic!("{what}: damaged checkpoint: {e}"));
        }
        for name in others(d, &known) {
            assert!(
                is_temporary_of(&name, "w.npz", pid) || is_temporary_of(&name, "w.ckpt.npz", pid),
                "{what}: stray file `{name}`"
            );
        }
        // Continue (or start over when no epoch was finished).
        if has_checkpoint {
            ok(d, &format!("{args} --resume"));
            resumed += 1;
        } else {
            ok(d, &args);
            restarted += 1;
        }
        assert!(
            read(&d.join("w.npz")) == reference,
            "{what}: the weights after resuming differ from the uninterrupted run"
        );
        assert!(
            read(&d.join("w.ckpt.npz")) == reference_ckpt,
            "{what}: checkpoint differs"
        );
        assert!(
            others(d, &known).is_empty(),
            "{what}: {:?}",
            others(d, &known)
        );
    }
    eprintln!("train kill test: {resumed} resumed, {restarted} restarted (run took {full:?})");
}

// ---------------------------------------------------------------------------------------------
// resume

#[test]
fn resume_after_an_epoch_is_bit_identical_to_an_uninterrupted_run() {
    let dir = training_dir();
    let d = dir.path();
    ok(d, &format!("{TRAIN} --epochs 2 -o full.npz"));
    ok(d, &format!("{TRAIN} --epochs 1 -o part.npz"));
    let out = ok(d, &format!("{TRAIN} --epochs 2 -o part.npz --resume"));
    assert!(stderr(&out).contains("resuming `drop` from `part.ckpt.npz` after epoch 1"));
    assert!(read(&d.join("full.npz")) == read(&d.join("part.npz")));
    assert!(read(&d.join("full.ckpt.npz")) == read(&d.join("part.ckpt.npz")));
    // SGD keeps one moment per weight; an explicit checkpoint path.
    let sgd = format!("{TRAIN} --optimizer sgd --momentum 0.8");
    ok(d, &format!("{sgd} --epochs 2 -o s_full.npz"));
    ok(
        d,
        &format!("{sgd} --epochs 1 -o s_part.npz --checkpoint c.npz"),
    );
    ok(
        d,
        &format!("{sgd} --epochs 2 -o s_part.npz --checkpoint c.npz --resume"),
    );
    assert!(read(&d.join("s_full.npz")) == read(&d.join("s_part.npz")));
    // Fine-tuning from weights resumes the same way.
    ok(d, "init drop.q -o init.npz --seed 3");
    ok(
        d,
        &format!("{TRAIN} --weights init.npz --epochs 2 -o f_full.npz"),
    );
    ok(
        d,
        &format!("{TRAIN} --weights init.npz --epochs 1 -o f_part.npz"),
    );
    ok(
        d,
        &format!("{TRAIN} --weights init.npz --epochs 2 -o f_part.npz --resume"),
    );
    assert!(read(&d.join("f_full.npz")) == read(&d.join("f_part.npz")));
}

#[test]
fn resume_after_a_kill_at_an_epoch_boundary_with_a_cosine_schedule() {
    let dir = training_dir();
    let d = dir.path();
    let args = format!("{TRAIN} --epochs 3 --schedule cosine -o w.npz");
    ok(d, &args.replace("-o w.npz", "-o full.npz"));
    // Kill as soon as the first checkpoint appears.
    let mut child = spawn(d, &args);
    let start = Instant::now();
    while !d.join("w.ckpt.npz").exists() {
        assert!(start.elapsed() < Duration::from_secs(60), "no checkpoint");
        std::thread::sleep(Duration::from_millis(1));
    }
    child.kill().expect("SIGKILL");
    child.wait().unwrap();
    let epochs_done = qnnc::commands::checkpoint::load(&d.join("w.ckpt.npz"))
        .unwrap()
        .meta
        .epochs_done;
    assert!((1..=3).contains(&epochs_done));
    ok(d, &format!("{args} --resume"));
    assert!(read(&d.join("w.npz")) == read(&d.join("full.npz")));
    // Resuming a finished run writes its weights again and trains no more.
    fs::remove_file(d.join("w.npz")).unwrap();
    let out = ok(d, &format!("{args} --resume"));
    assert!(stderr(&out).contains("already holds all 3 epoch(s)"));
    assert!(read(&d.join("w.npz")) == read(&d.join("full.npz")));
}

#[test]
fn resume_extends_a_constant_schedule_and_warns_on_other_threads() {
    let dir = training_dir();
    let d = dir.path();
    ok(d, &format!("{TRAIN} --epochs 3 -o full.npz"));
    ok(d, &format!("{TRAIN} --epochs 2 -o w.npz"));
    ok(d, &format!("{TRAIN} --epochs 3 -o w.npz --resume"));
    assert!(read(&d.join("w.npz")) == read(&d.join("full.npz")));
    ok(d, &format!("{TRAIN} --epochs 1 -o t.npz"));
    let out = ok(
        d,
        &format!("{TRAIN} --epochs 2 -o t.npz --resume").replace("--threads 2", "--threads 1"),
    );
    let err = stderr(&out);
    assert!(
        err.contains("cli::threads_changed")
            && err.contains("the checkpoint was written with 2 thread(s), this run uses 1"),
        "{err}"
    );
}

/// Runs a failing `qnnc` command and checks exit code 1, the message, and that `watched`
/// files are unchanged.
fn refused(dir: &Path, args: &str, expect: &[&str], watched: &[&str]) {
    let before: Vec<Option<Vec<u8>>> = watched.iter().map(|f| fs::read(dir.join(f)).ok()).collect();
    let out = run_env(dir, &format!("--message-format short {args}"), &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "`{args}`: {err}");
    assert!(
        err.lines().any(|l| expect.iter().all(|e| l.contains(e))),
        "`{args}`: expected {expect:?} on one line of:\n{err}"
    );
    assert!(!err.contains("panicked"));
    let after: Vec<Option<Vec<u8>>> = watched.iter().map(|f| fs::read(dir.join(f)).ok()).collect();
    assert!(before == after, "`{args}` changed one of {watched:?}");
}

#[test]
fn resume_refuses_checkpoints_of_other_runs_and_damaged_ones() {
    let dir = training_dir();
    let d = dir.path();
    let base = format!("{TRAIN} --epochs 2 -o w.npz");
    ok(d, &base.replace("--epochs 2", "--epochs 1"));
    let watched = ["w.npz", "w.ckpt.npz"];
    let resume = format!("{base} --resume");
    // Another model (same name, another layer size).
    fs::write(
        d.join("other.q"),
        DROPOUT_MODEL.replace("conv2d(8, 3)", "conv2d(6, 3)"),
    )
    .unwrap();
    refused(
        d,
        &resume.replace("drop.q", "other.q"),
        &[
            "io::mismatch",
            "w.ckpt.npz",
            "the checkpoint is of model `drop`",
        ],
        &watched,
    );
    // Other options.
    refused(
        d,
        &format!("{resume} --lr 0.01"),
        &["io::mismatch", "`--lr 0.001`, not `--lr 0.01`"],
        &watched,
    );
    refused(
        d,
        &resume.replace("--seed 5", "--seed 6"),
        &["io::mismatch", "`--seed 5`, not `--seed 6`"],
        &watched,
    );
    refused(
        d,
        &format!("{resume} --schedule cosine"),
        &[
            "io::mismatch",
            "`--schedule constant`, not `--schedule cosine`",
        ],
        &watched,
    );
    refused(
        d,
        &resume
            .replace("--epochs 2", "--epochs 3")
            .replace("--no-validation", "--no-validation --schedule cosine"),
        &["io::mismatch"],
        &watched,
    );
    // Other data.
    mnist_subset(&d.join("data2"), 512, 128);
    refused(
        d,
        &resume.replace("--data data", "--data data2"),
        &["io::mismatch", "other data"],
        &watched,
    );
    // No checkpoint, a weights file given as a checkpoint, a damaged one, a NaN in one.
    refused(
        d,
        &format!("{resume} --checkpoint none.npz"),
        &["io::not_found", "none.npz", "no checkpoint"],
        &watched,
    );
    refused(
        d,
        &format!("{resume} --checkpoint w.npz").replace("-o w.npz", "-o x.npz"),
        &["w.npz", "not a qnnc checkpoint"],
        &watched,
    );
    let ckpt = read(&d.join("w.ckpt.npz"));
    fs::write(d.join("cut.npz"), &ckpt[..ckpt.len() * 2 / 3]).unwrap();
    refused(
        d,
        &format!("{resume} --checkpoint cut.npz"),
        &["cut.npz", "error[io::"],
        &watched,
    );
    let mut arrays: ArrayMap = qnnc::io::read_npz(&d.join("w.ckpt.npz")).unwrap();
    let mut kernel = arrays["params/dense/kernel"].get::<f32>().unwrap().clone();
    kernel[[10, 4]] = f32::NAN;
    arrays.insert("params/dense/kernel".into(), Array::F32(kernel));
    qnnc::io::write_npz(&d.join("nan.npz"), &arrays).unwrap();
    refused(
        d,
        &format!("{resume} --checkpoint nan.npz"),
        &["nan.npz", "params/dense/kernel", "NaN", "[10, 4]"],
        &watched,
    );
    let mut meta: serde_json::Value = {
        let a = qnnc::io::read_npz(&d.join("w.ckpt.npz")).unwrap();
        let bytes: Vec<u8> = a["meta"].get::<u8>().unwrap().iter().copied().collect();
        serde_json::from_slice(&bytes).unwrap()
    };
    meta["version"] = serde_json::json!(99);
    let text = serde_json::to_vec(&meta).unwrap();
    let mut arrays: ArrayMap = qnnc::io::read_npz(&d.join("w.ckpt.npz")).unwrap();
    arrays.insert(
        "meta".into(),
        Array::U8(ndarray::ArrayD::from_shape_vec(vec![text.len()], text).unwrap()),
    );
    qnnc::io::write_npz(&d.join("v99.npz"), &arrays).unwrap();
    refused(
        d,
        &format!("{resume} --checkpoint v99.npz"),
        &["io::bad_version", "v99.npz", "checkpoint version 99"],
        &watched,
    );
}

// ---------------------------------------------------------------------------------------------
// determinism

/// `from` rewritten with its zip entries in reverse order (raw copies, nothing recompressed).
fn reverse_zip(from: &Path, to: &Path) {
    let mut archive = zip::ZipArchive::new(fs::File::open(from).unwrap()).unwrap();
    let mut writer = zip::ZipWriter::new(fs::File::create(to).unwrap());
    let names: Vec<String> = archive.file_names().map(str::to_string).collect();
    for i in (0..archive.len()).rev() {
        writer
            .raw_copy_file(archive.by_index_raw(i).unwrap())
            .unwrap();
    }
    writer.finish().unwrap();
    let reversed: Vec<String> = zip::ZipArchive::new(fs::File::open(to).unwrap())
        .unwrap()
        .file_names()
        .map(str::to_string)
        .collect();
    assert!(names.len() > 1);
    assert_eq!(
        reversed,
        names.iter().rev().cloned().collect::<Vec<_>>(),
        "the copy holds the entries in reverse order"
    );
}

#[test]
fn same_inputs_give_the_same_bytes() {
    let dir = training_dir();
    let d = dir.path();
    fs::copy(root().join("examples/toy_quantized.q"), d.join("t.q")).unwrap();
    ok(d, "init t.q -o w.npz --seed 4");
    ok(d, "compile t.q --weights w.npz -o a.nsoc");
    ok(d, "compile t.q --weights w.npz -o b.nsoc");
    assert!(
        read(&d.join("a.nsoc")) == read(&d.join("b.nsoc")),
        "compile"
    );
    ok(d, &format!("{TRAIN} --epochs 2 -o t1.npz"));
    ok(d, &format!("{TRAIN} --epochs 2 -o t2.npz"));
    assert!(read(&d.join("t1.npz")) == read(&d.join("t2.npz")), "train");
    // The order of an archive's members does not matter.
    reverse_zip(&d.join("w.npz"), &d.join("rev.npz"));
    assert!(read(&d.join("w.npz")) != read(&d.join("rev.npz")));
    ok(d, "compile t.q --weights rev.npz -o rev.nsoc");
    assert!(
        read(&d.join("a.nsoc")) == read(&d.join("rev.nsoc")),
        "compile, reversed npz"
    );
    let images: Vec<u8> = (0..3 * 784).map(|i| (i * 7 % 256) as u8).collect();
    qnnc::io::write_npy(
        &d.join("x.npy"),
        &Array::U8(ndarray::ArrayD::from_shape_vec(vec![3, 28, 28, 1], images).unwrap()),
    )
    .unwrap();
    ok(d, "predict t.q --weights w.npz --input x.npy -o p.npy");
    ok(
        d,
        "predict t.q --weights rev.npz --input x.npy -o p_rev.npy",
    );
    assert!(
        read(&d.join("p.npy")) == read(&d.join("p_rev.npy")),
        "predict, reversed npz"
    );
    ok(
        d,
        "train t.q --weights rev.npz --data data --epochs 1 --threads 2 -o tr_rev.npz",
    );
    ok(
        d,
        "train t.q --weights w.npz --data data --epochs 1 --threads 2 -o tr.npz",
    );
    assert!(
        read(&d.join("tr.npz")) == read(&d.join("tr_rev.npz")),
        "train, reversed npz"
    );
}

#[test]
fn the_locale_does_not_change_any_output() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::copy(root().join("examples/toy_quantized.q"), d.join("t.q")).unwrap();
    fs::copy(root().join("examples/toy.q"), d.join("toy.q")).unwrap();
    mnist_subset(&d.join("data"), 256, 64);
    ok(d, "init t.q -o w.npz --seed 2");
    let images: Vec<u8> = (0..2 * 784).map(|i| (i * 13 % 256) as u8).collect();
    qnnc::io::write_npy(
        &d.join("x.npy"),
        &Array::U8(ndarray::ArrayD::from_shape_vec(vec![2, 28, 28, 1], images).unwrap()),
    )
    .unwrap();
    let commands = [
        ("summary toy.q", None),
        ("check t.q --weights w.npz", None),
        ("quantize t.q --weights w.npz -o {}q.npz", Some("q.npz")),
        ("compile t.q --weights w.npz -o {}m.nsoc", Some("m.nsoc")),
        ("inspect {}m.nsoc", None),
        (
            "run {}m.nsoc --input x.npy -o {}r.npy --dequantize",
            Some("r.npy"),
        ),
        (
            "predict t.q --weights w.npz --input x.npy -o {}p.npy",
            Some("p.npy"),
        ),
        ("eval t.q --weights w.npz --data data --threads 2", None),
        (
            "hist t.q --weights w.npz --layer dense -o {}h.svg",
            Some("h.svg"),
        ),
        (
            "train t.q --data data --epochs 1 --threads 2 -o {}t.npz --no-validation",
            Some("t.npz"),
        ),
    ];
    for (cmd, file) in commands {
        let plain = run_env(
            d,
            &cmd.replace("{}", "c_"),
            &[("LC_ALL", "C"), ("LANG", "C")],
        );
        let german = run_env(
            d,
            &cmd.replace("{}", "de_"),
            &[
                ("LC_ALL", "de_DE.UTF-8"),
                ("LANG", "de_DE.UTF-8"),
                ("LC_NUMERIC", "de_DE.UTF-8"),
            ],
        );
        assert!(plain.status.success(), "{cmd}: {}", stderr(&plain));
        assert_eq!(plain.status.code(), german.status.code(), "{cmd}");
        // Timings differ from run to run; everything else must be the same text.
        let normalise = |o: &Output| {
            let text = String::from_utf8_lossy(&o.stdout).replace("de_", "c_");
            text.lines()
                .map(|l| match l.find(" in ") {
                    Some(at) if l.starts_with("compiled") => l[..at].to_string(),
                    _ => l.to_string(),
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(normalise(&plain), normalise(&german), "{cmd}: stdout");
        if let Some(file) = file {
            assert!(
                read(&d.join(format!("c_{file}"))) == read(&d.join(format!("de_{file}"))),
                "{cmd}: {file}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// the memory budget

#[test]
fn huge_models_are_refused_fast() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cases = [
        (
            "input([100000, 100000, 3])\n    conv2d(8, 3)",
            "the input has 30,000,000,000 elements",
        ),
        (
            "input([4294967296, 4294967296, 4294967296])\n    conv2d(8, 3)",
            "`shape` must be between 1 and 1048576",
        ),
        (
            "input([1048576, 1048576, 1048576])\n    conv2d(1048576, 1048575)",
            "elements",
        ),
        (
            "input([16384, 16384, 1])\n    conv2d(1048576, 3)\n    flatten()\n    dense(1048576)",
            "more than the limit",
        ),
    ];
    for (body, expect) in cases {
        fs::write(d.join("m.q"), format!("model m {{\n    {body}\n}}\n")).unwrap();
        for cmd in [
            "check m.q",
            "init m.q -o w.npz",
            "train m.q --data d -o w.npz",
        ] {
            let start = Instant::now();
            let out = run(d, &format!("--message-format short {cmd}"));
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "{cmd} took {:?}",
                start.elapsed()
            );
            assert_eq!(out.status.code(), Some(1), "{body}: {}", stderr(&out));
            assert!(stderr(&out).contains(expect), "{body}: {}", stderr(&out));
            assert!(!d.join("w.npz").exists());
        }
    }
}

/// A model within the front end's limits whose activations need about 1 GiB per image.
const WIDE_MODEL: &str = "model wide {
    input([64, 64, 1], scale: 255)
    quantize(weights: 4, activations: 4, input_weights: 8)
    conv2d(16384, 3)
    global_avg_pool()
    relu()
    dense(10)
}
";

/// A program whose one layer outputs about 60 MiB of levels per image.
const TALL_MODEL: &str = "model tall {
    input([64, 64, 1], scale: 255)
    quantize(weights: 4, activations: 4, input_weights: 8)
    conv2d(16384, 3)
    relu()
}
";

#[test]
fn models_and_programs_over_the_budget_are_refused_before_allocating() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::write(d.join("wide.q"), WIDE_MODEL).unwrap();
    ok(d, "init wide.q -o w.npz");
    let images: Vec<u8> = (0..4 * 4096).map(|i| (i % 251) as u8).collect();
    qnnc::io::write_npy(
        &d.join("x.npy"),
        &Array::U8(ndarray::ArrayD::from_shape_vec(vec![4, 64, 64, 1], images).unwrap()),
    )
    .unwrap();
    let data = d.join("data");
    fs::create_dir(&data).unwrap();
    for stem in ["train", "t10k"] {
        fs::write(
            data.join(format!("{stem}-images-idx3-ubyte")),
            crate::bad_input::idx(8, &[4, 64, 64], &crate::bad_input::bytes(4 * 4096, 2)),
        )
        .unwrap();
        fs::write(
            data.join(format!("{stem}-labels-idx1-ubyte")),
            crate::bad_input::idx(8, &[4], &[1, 2, 3, 4]),
        )
        .unwrap();
    }
    // About 240 MiB of activations per image for the executor (the convolution's output),
    // twice that when training or keeping every layer: 4 images need about 1 GiB.
    let over = "for its weights and activations, more than the memory budget of 512.0 MiB";
    let checks = [
        (
            "predict wide.q --weights w.npz --input x.npy -o p.npy",
            over,
        ),
        ("eval wide.q --weights w.npz --data data", over),
        ("train wide.q --data data -o t.npz", over),
        ("diff wide.q --weights w.npz --input x.npy", over),
    ];
    for (cmd, expect) in checks {
        for (flag, env) in [
            ("--memory-budget 512M ", None),
            ("", Some(("QNNC_MEMORY_BUDGET", "512M"))),
        ] {
            let start = Instant::now();
            let out = run_env(
                d,
                &format!("--message-format short {flag}{cmd}"),
                env.as_slice(),
            );
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "{cmd}: {:?}",
                start.elapsed()
            );
            assert_eq!(out.status.code(), Some(1), "{cmd}: {}", stderr(&out));
            let err = stderr(&out);
            assert!(
                err.lines().any(|l| l.contains("error[io::too_large]")
                    && l.contains("model `wide` needs")
                    && l.contains(expect)),
                "{cmd}: {err}"
            );
        }
    }
    // The integer simulator: the program is small, its maps are not (62 × 62 × 16384 levels
    // per image).
    fs::write(d.join("tall.q"), TALL_MODEL).unwrap();
    ok(d, "init tall.q -o tw.npz");
    ok(d, "compile tall.q --weights tw.npz -o m.nsoc");
    let out = run(
        d,
        "--message-format short --memory-budget 512M run m.nsoc --input x.npy -o r.npy",
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("program `tall` needs"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out)
            .contains("the activations of 4 image(s), more than the memory budget of 512.0 MiB"),
        "{}",
        stderr(&out)
    );
    // `run --data` checks the same before it simulates the test split.
    let out = run(
        d,
        "--message-format short --memory-budget 512M run m.nsoc --data data",
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("program `tall` needs")
            && stderr(&out).contains("more than the memory budget of 512.0 MiB"),
        "{}",
        stderr(&out)
    );
    for f in ["p.npy", "t.npz", "r.npy"] {
        assert!(!d.join(f).exists(), "{f}");
    }
}
