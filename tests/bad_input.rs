//! The bad-input battery: the real `qnnc` binary on every failure class × file kind × command.
//!
//! Every case starts from a copy of a directory of valid inputs (a model, its weights, a
//! program, images, IDX and `.npy` datasets), spoils one file (or gives a bad path), runs one
//! command, and checks that it
//! - exits with the expected code (1 for a bad input, 2 for command-line misuse, as clap does),
//! - prints the cause on one line together with its context (the file, and the array inside an
//!   archive) — checked with `--message-format short`, where a diagnostic is one line,
//! - writes nothing: the directory is byte for byte what it was (no output, no temporary file,
//!   inputs untouched),
//! - never panics (checked in the short and the human formats).
//!
//! The cases are generated from tables: for each file kind, its failure classes × the commands
//! that read that kind. A failing battery lists every failing case with its output.

use qnnc::io::{Array, ArrayMap};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, OnceLock};

/// Prepares the spoiled file(s) in a case's directory.
type Setup = Arc<dyn Fn(&Path) + Send + Sync>;

/// One run of `qnnc` on bad input.
struct Case {
    name: String,
    setup: Setup,
    args: Vec<String>,
    env: Vec<(String, String)>,
    code: i32,
    /// Fragments that must all appear on one line of stderr (with `--message-format short`).
    expect: Vec<String>,
}

fn no_setup() -> Setup {
    Arc::new(|_: &Path| {})
}

pub(crate) fn words(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_string).collect()
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

// ---------------------------------------------------------------------------------------------
// the valid inputs

const IMAGES: usize = 96;
const TEST_IMAGES: usize = 16;

/// The directory of valid inputs, built once per test run.
fn base() -> &'static Path {
    static BASE: OnceLock<PathBuf> = OnceLock::new();
    BASE.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bad_input_base");
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        build_base(&dir);
        dir
    })
}

pub(crate) fn qnnc_in(dir: &Path, args: &[String], env: &[(String, String)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_qnnc"));
    cmd.args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("COLUMNS", "80")
        .env_remove("QNNC_MEMORY_BUDGET");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("the qnnc binary runs")
}

fn must_succeed(dir: &Path, args: &str) {
    let out = qnnc_in(dir, &words(args), &[]);
    assert!(
        out.status.success(),
        "`qnnc {args}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Deterministic pseudo-random bytes.
pub(crate) fn bytes(n: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

/// An IDX file: type byte, dims, payload.
pub(crate) fn idx(type_byte: u8, dims: &[u32], payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, type_byte, dims.len() as u8];
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(payload);
    out
}

fn labels(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 10) as u8).collect()
}

fn u8_array(shape: &[usize], values: Vec<u8>) -> Array {
    Array::U8(ndarray::ArrayD::from_shape_vec(shape.to_vec(), values).unwrap())
}

fn write_npy(path: &Path, array: &Array) {
    qnnc::io::write_npy(path, array).unwrap();
}

fn build_base(dir: &Path) {
    fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/toy_quantized.q"),
        dir.join("t.q"),
    )
    .unwrap();
    must_succeed(dir, "init t.q -o w.npz");
    must_succeed(dir, "compile t.q --weights w.npz -o m.nsoc");
    write_npy(
        &dir.join("x.npy"),
        &u8_array(&[2, 28, 28, 1], bytes(2 * 784, 1)),
    );
    let data = dir.join("data");
    fs::create_dir(&data).unwrap();
    for (stem, n) in [("train", IMAGES), ("t10k", TEST_IMAGES)] {
        fs::write(
            data.join(format!("{stem}-images-idx3-ubyte")),
            idx(8, &[n as u32, 28, 28], &bytes(n * 784, n as u32)),
        )
        .unwrap();
        fs::write(
            data.join(format!("{stem}-labels-idx1-ubyte")),
            idx(8, &[n as u32], &labels(n)),
        )
        .unwrap();
    }
    let npy = dir.join("npydata");
    fs::create_dir(&npy).unwrap();
    for (split, n) in [("train", IMAGES), ("test", TEST_IMAGES)] {
        write_npy(
            &npy.join(format!("x_{split}.npy")),
            &u8_array(&[n, 28, 28, 1], bytes(n * 784, 7)),
        );
        write_npy(
            &npy.join(format!("y_{split}.npy")),
            &u8_array(&[n], labels(n)),
        );
    }
    must_succeed(dir, "check t.q --weights w.npz");
}

// ---------------------------------------------------------------------------------------------
// running the cases

/// Every file under `dir` (relative path → contents; `None` for directories).
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(dir).unwrap().to_path_buf();
            if path.is_dir() {
                out.insert(rel, None);
                stack.push(path);
            } else {
                out.insert(rel, Some(fs::read(&path).unwrap()));
            }
        }
    }
    out
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let dest = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &dest);
        } else {
            fs::copy(&path, &dest).unwrap();
        }
    }
}

fn describe_changes(
    before: &BTreeMap<PathBuf, Option<Vec<u8>>>,
    after: &BTreeMap<PathBuf, Option<Vec<u8>>>,
) -> Vec<String> {
    let mut changes = Vec::new();
    for (path, contents) in after {
        match before.get(path) {
            None => changes.push(format!("created `{}`", path.display())),
            Some(old) if old != contents => changes.push(format!("changed `{}`", path.display())),
            _ => {}
        }
    }
    for path in before.keys().filter(|p| !after.contains_key(*p)) {
        changes.push(format!("removed `{}`", path.display()));
    }
    changes
}

/// Runs one case in both message formats; returns what went wrong (empty when all is well).
fn run_case(case: &Case) -> Vec<String> {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("case");
    copy_dir(base(), &dir);
    (case.setup)(&dir);
    let mut problems = Vec::new();
    for short in [true, false] {
        let mut args = Vec::new();
        if short {
            args.extend(strings(&["--message-format", "short"]));
        }
        args.extend(case.args.iter().cloned());
        let before = snapshot(&dir);
        let out = qnnc_in(&dir, &args, &case.env);
        let after = snapshot(&dir);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let format = if short { "short" } else { "human" };
        let mut fail = |what: String| {
            problems.push(format!(
                "{} [{format}]: {what}\n  $ qnnc {}\n  stderr: {}\n  stdout: {}",
                case.name,
                args.join(" "),
                stderr.trim_end().replace('\n', "\n          "),
                stdout.trim_end()
            ))
        };
        if stderr.contains("panicked") || out.status.code() == Some(101) {
            fail("panicked".to_string());
        }
        if out.status.code() != Some(case.code) {
            fail(format!(
                "exit code {:?}, expected {}",
                out.status.code(),
                case.code
            ));
        }
        let changes = describe_changes(&before, &after);
        if !changes.is_empty() {
            fail(format!("wrote something: {}", changes.join(", ")));
        }
        if short
            && !stderr
                .lines()
                .any(|line| case.expect.iter().all(|e| line.contains(e.as_str())))
        {
            fail(format!("no line of stderr holds all of {:?}", case.expect));
        }
    }
    problems
}

fn run_all(cases: Vec<Case>) {
    assert!(!cases.is_empty());
    let count = cases.len();
    let problems: Vec<String> = cases.iter().flat_map(run_case).collect();
    assert!(
        problems.is_empty(),
        "{} of {count} bad-input cases failed:\n\n{}",
        problems.len(),
        problems.join("\n\n")
    );
}

/// The cross product of failure classes and commands: `{F}` in a command is the spoiled file.
struct Class {
    name: &'static str,
    /// The path that replaces `{F}`.
    file: &'static str,
    setup: Setup,
    /// Fragments of the one-line cause (besides the file, which is always expected).
    expect: &'static [&'static str],
}

fn class(
    name: &'static str,
    file: &'static str,
    expect: &'static [&'static str],
    setup: impl Fn(&Path) + Send + Sync + 'static,
) -> Class {
    Class {
        name,
        file,
        setup: Arc::new(setup),
        expect,
    }
}

fn cross(kind: &str, classes: &[Class], commands: &[&str], code: i32) -> Vec<Case> {
    let mut cases = Vec::new();
    for c in classes {
        for cmd in commands {
            let args = words(&cmd.replace("{F}", c.file));
            let mut expect = vec![c.file.to_string()];
            expect.extend(strings(c.expect));
            cases.push(Case {
                name: format!("{kind} / {} / {}", c.name, args[0]),
                setup: c.setup.clone(),
                args,
                env: Vec::new(),
                code,
                expect,
            });
        }
    }
    cases
}

/// The first `keep` bytes of `from`, written to `to`.
fn truncated(dir: &Path, from: &str, to: &str, keep: impl Fn(usize) -> usize) {
    let bytes = fs::read(dir.join(from)).unwrap();
    let n = keep(bytes.len());
    fs::write(dir.join(to), &bytes[..n]).unwrap();
}

/// The weights of the base directory, changed by `edit`, written to `bad.npz`.
fn weights_with(dir: &Path, edit: impl Fn(&mut ArrayMap)) {
    let mut map = qnnc::io::read_npz(&dir.join("w.npz")).unwrap();
    edit(&mut map);
    qnnc::io::write_npz(&dir.join("bad.npz"), &map).unwrap();
}

fn f32_kernel(map: &ArrayMap) -> ndarray::ArrayD<f32> {
    map["dense/kernel"].get::<f32>().unwrap().clone()
}

// ---------------------------------------------------------------------------------------------
// model files (`.q`)

const MODEL_COMMANDS: &[&str] = &[
    "check {F}",
    "summary {F}",
    "init {F} -o out.npz",
    "compile {F} --weights w.npz -o out.nsoc",
    "train {F} --data data -o out.npz --epochs 1",
    "predict {F} --weights w.npz --input x.npy -o out.npy",
    "quantize {F} --weights w.npz -o out.npz",
    "eval {F} --weights w.npz --data data",
    "diff {F} --weights w.npz --input x.npy",
    "hist {F} --weights w.npz --layer dense -o out.svg",
];

#[test]
fn bad_model_files() {
    let classes = [
        class("missing file", "missing.q", &["no such file"], |_| {}),
        class("directory", "data", &["directory"], |_| {}),
        class("empty file", "empty.q", &["defines no model"], |d| {
            fs::write(d.join("empty.q"), "").unwrap()
        }),
        class("truncated", "cut.q", &["error[syntax::"], |d| {
            truncated(d, "t.q", "cut.q", |n| n - 40) // inside the model, past the header comments
        }),
        class("not utf-8 (wrong magic)", "bin.q", &["UTF-8"], |d| {
            fs::write(d.join("bin.q"), [0x89, b'P', b'N', b'G', 0xff, 0xfe, 0]).unwrap()
        }),
        class(
            "no layers",
            "nolayers.q",
            &["model `m` has no layers"],
            |d| {
                fs::write(
                    d.join("nolayers.q"),
                    "model m {\n    input([28, 28, 1])\n}\n",
                )
                .unwrap()
            },
        ),
        class(
            "huge input shape",
            "huge.q",
            &["input has 30,000,000,000 elements"],
            |d| {
                fs::write(
                    d.join("huge.q"),
                    "model m {\n    input([100000, 100000, 3])\n    conv2d(8, 3)\n}\n",
                )
                .unwrap()
            },
        ),
        class(
            "shape product overflow",
            "overflow.q",
            &["`shape` must be between"],
            |d| {
                fs::write(
                    d.join("overflow.q"),
                    "model m {\n    input([4294967296, 4294967296, 4294967296])\n    conv2d(8, 3)\n}\n",
                )
                .unwrap()
            },
        ),
    ];
    let mut cases = cross("model", &classes, MODEL_COMMANDS, 1);
    // `fmt` parses only: the classes it can see.
    cases.extend(cross(
        "model",
        &[
            class("missing file", "missing.q", &["no such file"], |_| {}),
            class("truncated", "cut.q", &["error[syntax::"], |d| {
                truncated(d, "t.q", "cut.q", |n| n - 40) // inside the model, past the header comments
            }),
            class("not utf-8 (wrong magic)", "bin.q", &["UTF-8"], |d| {
                fs::write(d.join("bin.q"), [0x89, b'P', b'N', b'G', 0xff, 0xfe, 0]).unwrap()
            }),
        ],
        &["fmt {F}", "fmt --check {F}"],
        1,
    ));
    run_all(cases);
}

// ---------------------------------------------------------------------------------------------
// weights (`.npz`)

const WEIGHTS_COMMANDS: &[&str] = &[
    "check t.q --weights {F}",
    "quantize t.q --weights {F} -o out.npz",
    "compile t.q --weights {F} -o out.nsoc",
    "predict t.q --weights {F} --input x.npy -o out.npy",
    "eval t.q --weights {F} --data data",
    "diff t.q --weights {F} --input x.npy",
    "hist t.q --weights {F} --layer dense -o out.svg",
    "train t.q --weights {F} --data data -o out.npz --epochs 1",
];

#[test]
fn bad_weights_files() {
    let classes = [
        class("missing file", "missing.npz", &["io::not_found"], |_| {}),
        class("directory", "data", &["directory"], |_| {}),
        class("empty file", "bad.npz", &["io::empty"], |d| {
            fs::write(d.join("bad.npz"), b"").unwrap()
        }),
        class("truncated", "bad.npz", &["error[io::"], |d| {
            truncated(d, "w.npz", "bad.npz", |n| n / 2)
        }),
        class("wrong magic", "bad.npz", &["io::bad_magic"], |d| {
            fs::write(d.join("bad.npz"), b"conv2d/kernel = [1, 2, 3]\n").unwrap()
        }),
        class(
            "member with a wrong npy version",
            "bad.npz",
            &["io::bad_version", "dense/kernel"],
            |d| {
                let mut map = qnnc::io::read_npz(&d.join("w.npz")).unwrap();
                let kernel = map.remove("dense/kernel").unwrap();
                let mut npy = Vec::new();
                qnnc::io::npy::encode_npy(&mut npy, &kernel).unwrap();
                npy[6] = 9;
                let mut cursor = std::io::Cursor::new(Vec::new());
                qnnc::io::npz::encode_npz(&mut cursor, &map).unwrap();
                // Rebuild the archive with the damaged member added by hand.
                let mut zip = zip::ZipWriter::new_append(&mut cursor).unwrap();
                zip.start_file(
                    "dense/kernel.npy",
                    zip::write::SimpleFileOptions::default()
                        .compression_method(zip::CompressionMethod::Stored),
                )
                .unwrap();
                std::io::Write::write_all(&mut zip, &npy).unwrap();
                zip.finish().unwrap();
                fs::write(d.join("bad.npz"), cursor.into_inner()).unwrap();
            },
        ),
        class(
            "wrong dtype",
            "bad.npz",
            &["weights::dtype", "dense/kernel", "float64"],
            |d| {
                weights_with(d, |m| {
                    let k = f32_kernel(m).mapv(f64::from);
                    m.insert("dense/kernel".into(), Array::F64(k));
                })
            },
        ),
        class(
            "wrong shape",
            "bad.npz",
            &["weights::shape", "dense/kernel", "(10, 1352)"],
            |d| {
                weights_with(d, |m| {
                    let k = f32_kernel(m)
                        .reversed_axes()
                        .as_standard_layout()
                        .to_owned();
                    m.insert("dense/kernel".into(), Array::F32(k));
                })
            },
        ),
        class(
            "missing array",
            "bad.npz",
            &["weights::missing", "dense/kernel"],
            |d| {
                weights_with(d, |m| {
                    m.remove("dense/kernel");
                })
            },
        ),
        class(
            "NaN weight",
            "bad.npz",
            &["weights::non_finite", "dense/kernel", "NaN", "[700, 3]"],
            |d| {
                weights_with(d, |m| {
                    let mut k = f32_kernel(m);
                    k[[700, 3]] = f32::NAN;
                    k[[900, 1]] = f32::NAN;
                    m.insert("dense/kernel".into(), Array::F32(k));
                })
            },
        ),
        class(
            "infinite weight",
            "bad.npz",
            &["weights::non_finite", "conv2d/bias", "infinite", "[5]"],
            |d| {
                weights_with(d, |m| {
                    let mut b = m["conv2d/bias"].get::<f32>().unwrap().clone();
                    b[[5]] = f32::NEG_INFINITY;
                    m.insert("conv2d/bias".into(), Array::F32(b));
                })
            },
        ),
    ];
    run_all(cross("weights", &classes, WEIGHTS_COMMANDS, 1));
}

// ---------------------------------------------------------------------------------------------
// datasets (IDX and `.npy`)

const DATA_COMMANDS: &[&str] = &[
    "train t.q --data {F} -o out.npz --epochs 1",
    "eval t.q --weights w.npz --data {F}",
    "run m.nsoc --data {F}",
];

/// Replaces `name` in the base `data/` with `bytes`.
fn spoil_idx(dir: &Path, name: &str, bytes: Vec<u8>) {
    fs::write(dir.join("data").join(name), bytes).unwrap();
}

#[test]
fn bad_idx_datasets() {
    const TI: &str = "t10k-images-idx3-ubyte";
    const TL: &str = "t10k-labels-idx1-ubyte";
    let n = TEST_IMAGES as u32;
    let classes = [
        class("missing directory", "nodata", &["io::not_found"], |_| {}),
        class(
            "a file, not a directory",
            "x.npy",
            &["not a directory"],
            |_| {},
        ),
        class("missing labels file", "data", &["t10k-labels"], |d| {
            fs::remove_file(d.join("data").join(TL)).unwrap()
        }),
        class("empty images", "data", &[TI, "io::empty"], |d| {
            spoil_idx(d, TI, Vec::new())
        }),
        class(
            "truncated images",
            "data",
            &[TI, "io::truncated"],
            move |d| spoil_idx(d, TI, idx(8, &[n, 28, 28], &bytes(700, 3))),
        ),
        class("wrong magic", "data", &[TI, "io::bad_magic"], |d| {
            spoil_idx(d, TI, b"P5 28 28 255\n".to_vec())
        }),
        class(
            "wrong dtype (float32 images)",
            "data",
            &[TI, "float32"],
            move |d| spoil_idx(d, TI, idx(0x0D, &[n, 28, 28], &bytes(16 * 784 * 4, 3))),
        ),
        class(
            "wrong shape (rank 2 images)",
            "data",
            &[TI, "io::wrong_shape"],
            move |d| spoil_idx(d, TI, idx(8, &[n, 784], &bytes(16 * 784, 3))),
        ),
        class(
            "images of the wrong size",
            "data",
            &[TI, "32×32×1", "28×28×1"],
            move |d| spoil_idx(d, TI, idx(8, &[n, 32, 32], &bytes(16 * 1024, 3))),
        ),
        class(
            "labels out of range",
            "data",
            &[TL, "io::bad_value", "label 5 is 12", "10 classes"],
            |d| {
                let mut l = labels(TEST_IMAGES);
                l[5] = 12;
                spoil_idx(d, TL, idx(8, &[TEST_IMAGES as u32], &l))
            },
        ),
        class(
            "image and label counts differ",
            "data",
            &["io::count_mismatch"],
            |d| spoil_idx(d, TL, idx(8, &[3], &[1, 2, 3])),
        ),
    ];
    run_all(cross("idx data", &classes, DATA_COMMANDS, 1));
}

fn spoil_npy_data(dir: &Path, name: &str, bytes: Vec<u8>) {
    fs::write(dir.join("npydata").join(name), bytes).unwrap();
}

#[test]
fn bad_npy_datasets() {
    let classes = [
        class(
            "empty images",
            "npydata",
            &["x_test.npy", "io::empty"],
            |d| spoil_npy_data(d, "x_test.npy", Vec::new()),
        ),
        class(
            "truncated images",
            "npydata",
            &["x_test.npy", "io::truncated"],
            |d| {
                let bytes = fs::read(d.join("npydata/x_test.npy")).unwrap();
                spoil_npy_data(d, "x_test.npy", bytes[..bytes.len() - 100].to_vec())
            },
        ),
        class(
            "wrong magic",
            "npydata",
            &["x_test.npy", "io::bad_magic"],
            |d| spoil_npy_data(d, "x_test.npy", b"not numpy at all".to_vec()),
        ),
        class(
            "wrong version",
            "npydata",
            &["x_test.npy", "io::bad_version"],
            |d| {
                let mut bytes = fs::read(d.join("npydata/x_test.npy")).unwrap();
                bytes[6] = 7;
                spoil_npy_data(d, "x_test.npy", bytes)
            },
        ),
        class(
            "wrong dtype (float32 images)",
            "npydata",
            &["x_test.npy", "float32"],
            |d| {
                let a = Array::F32(ndarray::ArrayD::zeros(vec![TEST_IMAGES, 28, 28, 1]));
                write_npy(&d.join("npydata/x_test.npy"), &a)
            },
        ),
        class(
            "wrong shape (rank 2 images)",
            "npydata",
            &["x_test.npy"],
            |d| {
                let a = u8_array(&[TEST_IMAGES, 784], vec![0; TEST_IMAGES * 784]);
                write_npy(&d.join("npydata/x_test.npy"), &a)
            },
        ),
        class(
            "images of the wrong size",
            "npydata",
            &["x_test.npy", "32×32×3", "28×28×1"],
            |d| {
                let a = u8_array(&[TEST_IMAGES, 32, 32, 3], vec![0; TEST_IMAGES * 3072]);
                write_npy(&d.join("npydata/x_test.npy"), &a)
            },
        ),
        class(
            "labels out of range",
            "npydata",
            &["y_test.npy", "label 2 is 10", "10 classes"],
            |d| {
                let mut l = labels(TEST_IMAGES);
                l[2] = 10;
                write_npy(&d.join("npydata/y_test.npy"), &u8_array(&[TEST_IMAGES], l))
            },
        ),
        class(
            "labels above 255",
            "npydata",
            &["y_test.npy", "io::bad_value"],
            |d| {
                let mut l: Vec<i32> = labels(TEST_IMAGES).into_iter().map(i32::from).collect();
                l[0] = 300;
                let a = Array::I32(ndarray::ArrayD::from_shape_vec(vec![TEST_IMAGES], l).unwrap());
                write_npy(&d.join("npydata/y_test.npy"), &a)
            },
        ),
    ];
    run_all(cross("npy data", &classes, DATA_COMMANDS, 1));
}

// ---------------------------------------------------------------------------------------------
// input arrays (`--input X.npy`)

#[test]
fn bad_input_arrays() {
    let all = &[
        "predict t.q --weights w.npz --input {F} -o out.npy",
        "run m.nsoc --input {F} -o out.npy",
        "diff t.q --weights w.npz --input {F}",
    ];
    let classes = [
        class("missing file", "missing.npy", &["io::not_found"], |_| {}),
        class("empty file", "bad.npy", &["io::empty"], |d| {
            fs::write(d.join("bad.npy"), b"").unwrap()
        }),
        class("truncated", "bad.npy", &["io::truncated"], |d| {
            truncated(d, "x.npy", "bad.npy", |n| n - 10)
        }),
        class("wrong magic", "bad.npy", &["io::bad_magic"], |d| {
            truncated(d, "w.npz", "bad.npy", |n| n)
        }),
        class("wrong version", "bad.npy", &["io::bad_version"], |d| {
            let mut bytes = fs::read(d.join("x.npy")).unwrap();
            bytes[6] = 4;
            fs::write(d.join("bad.npy"), bytes).unwrap()
        }),
        class("wrong dtype (bool)", "bad.npy", &["bool"], |d| {
            let a = Array::Bool(ndarray::ArrayD::from_elem(vec![1, 28, 28, 1], true));
            write_npy(&d.join("bad.npy"), &a)
        }),
        class("images of the wrong size", "bad.npy", &["32, 32, 1"], |d| {
            write_npy(
                &d.join("bad.npy"),
                &u8_array(&[2, 32, 32, 1], vec![0; 2 * 1024]),
            )
        }),
    ];
    let mut cases = cross("input", &classes, all, 1);
    let uint8_only = &[
        "run m.nsoc --input {F} -o out.npy",
        "diff t.q --weights w.npz --input {F}",
    ];
    cases.extend(cross(
        "input",
        &[class(
            "float images for the integer program",
            "bad.npy",
            &["io::wrong_dtype", "float32"],
            |d| {
                let a = Array::F32(ndarray::ArrayD::zeros(vec![1, 28, 28, 1]));
                write_npy(&d.join("bad.npy"), &a)
            },
        )],
        uint8_only,
        1,
    ));
    cases.extend(cross(
        "input",
        &[class(
            "values outside 0..=255",
            "bad.npy",
            &["300", "uint8 range"],
            |d| {
                let mut v = vec![0i32; 784];
                v[17] = 300;
                let a = Array::I32(ndarray::ArrayD::from_shape_vec(vec![1, 28, 28, 1], v).unwrap());
                write_npy(&d.join("bad.npy"), &a)
            },
        )],
        &["run m.nsoc --input {F} -o out.npy"],
        1,
    ));
    run_all(cases);
}

// ---------------------------------------------------------------------------------------------
// programs (`.nsoc`)

#[test]
fn bad_programs() {
    let commands = &["inspect {F}", "run {F} --input x.npy -o out.npy"];
    let patched = |offset: usize, value: u8| {
        move |d: &Path| {
            let mut bytes = fs::read(d.join("m.nsoc")).unwrap();
            bytes[offset] = value;
            fs::write(d.join("bad.nsoc"), bytes).unwrap()
        }
    };
    let classes = [
        class("missing file", "missing.nsoc", &["io::not_found"], |_| {}),
        class("directory", "data", &["is a directory"], |_| {}),
        class("empty file", "bad.nsoc", &["io::empty"], |d| {
            fs::write(d.join("bad.nsoc"), b"").unwrap()
        }),
        class(
            "truncated header",
            "bad.nsoc",
            &["truncated file", "header"],
            |d| truncated(d, "m.nsoc", "bad.nsoc", |_| 13),
        ),
        class(
            "truncated payload",
            "bad.nsoc",
            &["truncated file", "payload"],
            |d| truncated(d, "m.nsoc", "bad.nsoc", |n| n / 2),
        ),
        class("wrong magic", "bad.nsoc", &["not an nsoc program"], |d| {
            truncated(d, "w.npz", "bad.nsoc", |n| n)
        }),
        class(
            "wrong version",
            "bad.nsoc",
            &["format version 2"],
            patched(8, 2),
        ),
        class(
            "damaged byte",
            "bad.nsoc",
            &["checksum mismatch"],
            patched(400, 0x5a),
        ),
        class("trailing bytes", "bad.nsoc", &["trailing"], |d| {
            let mut bytes = fs::read(d.join("m.nsoc")).unwrap();
            bytes.extend_from_slice(b"junk");
            fs::write(d.join("bad.nsoc"), bytes).unwrap()
        }),
    ];
    run_all(cross("program", &classes, commands, 1));
}

// ---------------------------------------------------------------------------------------------
// output paths

#[test]
fn bad_output_paths() {
    let writers = [
        ("init t.q -o {O}", "npz"),
        ("compile t.q --weights w.npz -o {O}", "nsoc"),
        ("train t.q --data data -o {O} --epochs 1", "npz"),
        ("predict t.q --weights w.npz --input x.npy -o {O}", "npy"),
        ("quantize t.q --weights w.npz -o {O}", "npz"),
        ("run m.nsoc --input x.npy -o {O}", "npy"),
        ("hist t.q --weights w.npz --layer dense -o {O}", "svg"),
        ("activation quantized_relu(bits:4) -o {O}", "svg"),
    ];
    let mut cases = Vec::new();
    for (cmd, ext) in writers {
        let name = cmd.split(' ').next().unwrap();
        let dir_name = format!("outdir.{ext}");
        let dir_for_setup = dir_name.clone();
        cases.push(Case {
            name: format!("output / a directory / {name}"),
            setup: Arc::new(move |d: &Path| fs::create_dir(d.join(&dir_for_setup)).unwrap()),
            args: words(&cmd.replace("{O}", &dir_name)),
            env: Vec::new(),
            code: 1,
            expect: strings(&["io::output_is_directory", &dir_name]),
        });
        let missing = format!("nodir/out.{ext}");
        cases.push(Case {
            name: format!("output / in a missing directory / {name}"),
            setup: no_setup(),
            args: words(&cmd.replace("{O}", &missing)),
            env: Vec::new(),
            code: 1,
            expect: strings(&["io::not_found", "nodir"]),
        });
    }
    let same = [
        ("init t.q -o t.q", "t.q"),
        ("compile t.q --weights w.npz -o w.npz", "w.npz"),
        ("compile t.q --weights w.npz -o ./t.q", "t.q"),
        (
            "train t.q --weights w.npz --data data -o w.npz --epochs 1",
            "w.npz",
        ),
        (
            "train t.q --data data -o out.npz --checkpoint out.npz",
            "out.npz",
        ),
        ("train t.q --data data -o out.npz --checkpoint t.q", "t.q"),
        (
            "predict t.q --weights w.npz --input x.npy -o x.npy",
            "x.npy",
        ),
        ("quantize t.q --weights w.npz -o w.npz", "w.npz"),
        ("run m.nsoc --input x.npy -o m.nsoc", "m.nsoc"),
        ("run m.nsoc --input x.npy -o x.npy", "x.npy"),
    ];
    for (cmd, input) in same {
        cases.push(Case {
            name: format!("output / same as an input / {cmd}"),
            setup: no_setup(),
            args: words(cmd),
            env: Vec::new(),
            code: 1,
            expect: strings(&["io::output_is_input", input]),
        });
    }
    // A hard link is the same file under another name.
    cases.push(Case {
        name: "output / hard link to an input / compile".to_string(),
        setup: Arc::new(|d: &Path| fs::hard_link(d.join("w.npz"), d.join("link.npz")).unwrap()),
        args: words("compile t.q --weights w.npz -o link.npz"),
        env: Vec::new(),
        code: 1,
        expect: strings(&["io::output_is_input", "link.npz"]),
    });
    // `--layers` must be a directory.
    for cmd in [
        "predict t.q --weights w.npz --input x.npy -o out.npy --layers {L}",
        "run m.nsoc --input x.npy -o out.npy --layers {L}",
    ] {
        for (what, path, expect) in [
            ("missing", "nolayers", "no such directory"),
            ("a file", "x.npy", "not a directory"),
        ] {
            cases.push(Case {
                name: format!(
                    "output / --layers {what} / {}",
                    cmd.split(' ').next().unwrap()
                ),
                setup: no_setup(),
                args: words(&cmd.replace("{L}", path)),
                env: Vec::new(),
                code: 1,
                expect: strings(&[path, expect]),
            });
        }
    }
    run_all(cases);
}

// ---------------------------------------------------------------------------------------------
// command-line misuse (exit 2) and the memory budget (exit 1)

#[test]
fn command_line_misuse_exits_2() {
    let env = |k: &str, v: &str| vec![(k.to_string(), v.to_string())];
    let cases = [
        ("no model", "check", vec![], "required"),
        (
            "unknown command",
            "frobnicate t.q",
            vec![],
            "unrecognized subcommand",
        ),
        (
            "unknown flag",
            "check t.q --wieghts w.npz",
            vec![],
            "unexpected argument",
        ),
        ("missing --data", "train t.q -o out.npz", vec![], "--data"),
        (
            "zero batch",
            "train t.q --data data -o out.npz --batch-size 0",
            vec![],
            "--batch-size",
        ),
        (
            "zero epochs",
            "train t.q --data data -o out.npz --epochs 0",
            vec![],
            "--epochs",
        ),
        (
            "bad number",
            "init t.q -o out.npz --seed minus-one",
            vec![],
            "--seed",
        ),
        (
            "zero threads",
            "predict t.q --weights w.npz --input x.npy -o out.npy --threads 0",
            vec![],
            "thread",
        ),
        (
            "bad budget flag",
            "check t.q --memory-budget lots",
            vec![],
            "`lots` is not a size",
        ),
        (
            "zero budget flag",
            "check t.q --memory-budget 0",
            vec![],
            "at least one byte",
        ),
        (
            "bad budget variable",
            "check t.q",
            env("QNNC_MEMORY_BUDGET", "12 parsecs"),
            "QNNC_MEMORY_BUDGET",
        ),
    ]
    .into_iter()
    .map(|(name, args, env, expect)| Case {
        name: format!("command line / {name}"),
        setup: no_setup(),
        args: words(args),
        env,
        code: 2,
        expect: strings(&[expect]),
    })
    .collect();
    run_all(cases);
}

#[test]
fn memory_budget_refusals_exit_1() {
    let cases = [
        (
            "init: the model's weights",
            "--memory-budget 8K init t.q -o out.npz",
            &[
                "model `toy_quantized` needs 53.3 KiB for its weights",
                "memory budget of 8.0 KiB",
            ][..],
        ),
        (
            "predict: weights and activations",
            "--memory-budget 80K predict t.q --weights w.npz --input x.npy -o out.npy",
            &[
                "model `toy_quantized` needs",
                "weights and activations",
                "memory budget of 80.0 KiB",
            ],
        ),
        (
            "train: weights, gradients, optimizer",
            "--memory-budget 200K train t.q --data data -o out.npz --epochs 1",
            &["model `toy_quantized` needs", "memory budget of 200.0 KiB"],
        ),
        (
            "weights file",
            "--memory-budget 20K check t.q --weights w.npz",
            &["w.npz", "memory budget is 20.0 KiB"],
        ),
        (
            "program file",
            "--memory-budget 4K inspect m.nsoc",
            &["m.nsoc", "the program file needs"],
        ),
        (
            "simulator",
            "--memory-budget 20K run m.nsoc --input x.npy -o out.npy",
            &["program `toy_quantized` needs", "2 image(s)"],
        ),
        (
            "dataset file",
            "--memory-budget 60K eval t.q --weights w.npz --data data",
            &["train-images-idx3-ubyte", "memory budget is 60.0 KiB"],
        ),
        (
            "npy dataset file",
            "--memory-budget 60K eval t.q --weights w.npz --data npydata",
            &["x_train.npy", "memory budget is 60.0 KiB"],
        ),
    ]
    .into_iter()
    .map(|(name, args, expect)| Case {
        name: format!("budget / {name}"),
        setup: no_setup(),
        args: words(args),
        env: Vec::new(),
        code: 1,
        expect: strings(expect),
    })
    .collect();
    run_all(cases);
}

#[test]
fn memory_budget_from_the_environment() {
    let case = Case {
        name: "budget / QNNC_MEMORY_BUDGET".to_string(),
        setup: no_setup(),
        args: words("init t.q -o out.npz"),
        env: vec![("QNNC_MEMORY_BUDGET".to_string(), "8K".to_string())],
        code: 1,
        expect: strings(&["needs 53.3 KiB", "memory budget of 8.0 KiB"]),
    };
    run_all(vec![case]);
}
