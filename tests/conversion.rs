//! qnnc against BrainChip's own conversion flow, on random models.
//!
//! `tests/data/conversion/case_NNNN.npz` (made by `python/make_conversion_refs.py` with
//! tf_keras 2.19, cnn2snn 2.19.3 and akida 2.19.3; see `tests/data/SOURCE.md`) hold random
//! `.q` models, their float weights and uint8 inputs, and what BrainChip's flow did with them:
//! the Keras quantized model's output, `cnn2snn.quantize` / `cnn2snn.convert` refusals, and on
//! conversion the akida model (`Model.to_json()`) with its `forward` and `predict`. For every
//! case, the `qnnc` binary must
//!
//! - compile what cnn2snn converts, into exactly the converted model: kinds, geometry, integer
//!   weights, thresholds and act_steps (bitwise), layer by layer;
//! - run it to exactly akida's `forward`, and with `--dequantize` to akida's `predict` bit for bit;
//! - refuse (exit 1) what `cnn2snn.quantize` or `cnn2snn.convert` refuses, except where one of
//!   qnnc's documented extensions applies ([`EXTENSIONS`]);
//! - `predict` the Keras quantized model's output within 1e-4 of its largest magnitude.
//!
//! The same checks run on `tests/data/disagreements/` (random models where qnnc and the
//! original flow once disagreed; for its `akd1000-*` folders only the forward and predict
//! parts). A failing check fails the test unless [`KNOWN`] lists it with its cause, and a
//! [`KNOWN`] entry that no longer fails fails the test too.

use crate::common;
use qnnc::backend::nsoc::{self, Program};
use qnnc::io::{Array, ArrayMap};
use qnnc::target::bridge as akida;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// What one check compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Check {
    /// `qnnc compile`'s verdict (compiles / refuses) against cnn2snn's.
    Verdict,
    /// The compiled program against the converted akida model.
    Program,
    /// `qnnc run` against akida `forward`.
    Forward,
    /// `qnnc run --dequantize` against akida `predict`.
    Dequantize,
    /// `qnnc predict` against the Keras quantized model.
    Predict,
}

/// Failures that are known and explained: `(case, check, cause)`. The case is the file stem
/// (`case_0123`) or the disagreement folder (`bitexact-mismatch/s2_case_0005`). None today.
const KNOWN: &[(&str, Check, &str)] = &[];

/// qnnc's documented extensions of what cnn2snn converts: `(name, warning code, the cnn2snn
/// refusal it lifts)`. Where cnn2snn refuses with that message and `qnnc compile` compiles
/// with that warning, the compile verdict agrees.
///
/// Both are listed, with their reasons, in `docs/fidelity.md`.
const EXTENSIONS: &[(&str, &str, &str)] = &[
    (
        "a batch norm after a per-tensor quantized layer is kept in the thresholds",
        "fold::bn_in_thresholds",
        "can only be folded into a quantized layer that uses a quantizer per axis",
    ),
    (
        // cnn2snn 2.19.3's post-conversion act_step equalization (`fix_v1_activation_variables`)
        // broadcasts its per-channel ratio (1, 1, C, 1) against a dense layer's flattened
        // (1, 1, H·W·C, N) weights and raises NumPy's broadcasting error; qnnc divides every
        // flattened row of channel c by that channel's ratio (with cnn2snn's step patched to do
        // the same, akida's model, `forward` and `predict` equal qnnc's: cases 0020, 0062, 0140).
        "act_step equalization before a flatten and a dense layer",
        "convert::equalized",
        "operands could not be broadcast together",
    ),
];

/// Relative tolerance of `qnnc predict` against Keras: `|q − k| ≤ T·max|k| + T·|k|`.
const PREDICT_TOLERANCE: f32 = 1e-4;

/// What the Python side did with a case.
struct Reference {
    /// `case_0123` or `FOLDER/CASE`.
    id: String,
    /// The `.q` text.
    source: String,
    /// Float weights, `LAYER/VAR`.
    weights: ArrayMap,
    /// uint8 inputs.
    input: Array,
    /// The Keras quantized model's output, where Keras built and quantized the model.
    keras: Option<Array>,
    /// `cnn2snn.quantize`'s or `cnn2snn.convert`'s refusal: the stage (`quantize` or
    /// `convert`) and `Type: message`.
    refusal: Option<(&'static str, String)>,
    /// Whether cnn2snn converted the model.
    converted: bool,
    /// `Model.to_json()` of the converted model (conversion corpus only).
    akida_json: Option<String>,
    /// akida `forward` and `predict` on the inputs.
    forward: Option<Array>,
    predict: Option<Array>,
    /// Whether the compile verdict is checked (not for the AKD1000 disagreement folders).
    check_verdict: bool,
}

/// A case's verdicts and failed checks.
#[derive(Default)]
struct Outcome {
    id: String,
    /// `converted`, `quantize_refused`, `convert_refused` or `keras_failed` (the Python side).
    reference: &'static str,
    /// `compiled`, `refused` or `crashed` (`qnnc compile`).
    qnnc: &'static str,
    /// The extension under which qnnc compiled what cnn2snn refused.
    extension: Option<&'static str>,
    /// The checks that ran and passed.
    passed: Vec<Check>,
    /// The checks that ran and failed, with what differs.
    failed: Vec<(Check, String)>,
}

fn text(a: &Array) -> String {
    match a {
        Array::U8(bytes) => String::from_utf8(bytes.iter().copied().collect()).unwrap(),
        other => panic!("a text member is {}, not uint8", other.dtype().name()),
    }
}

fn gunzip(a: &Array) -> String {
    use std::io::Read;
    let Array::U8(bytes) = a else {
        panic!("akida_json_gz is not uint8")
    };
    let bytes: Vec<u8> = bytes.iter().copied().collect();
    let mut out = String::new();
    flate2::read::GzDecoder::new(&bytes[..])
        .read_to_string(&mut out)
        .expect("akida_json_gz is gzipped UTF-8");
    out
}

/// Loads `tests/data/conversion/case_NNNN.npz`.
fn conversion_case(path: &Path) -> Reference {
    let mut map = qnnc::io::read_npz(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut take = |key: &str| map.remove(key);
    let source = text(&take("model_q").expect("model_q"));
    let input = take("input").expect("input");
    let keras = take("keras_output");
    let refusal = take("quantize_error")
        .map(|a| ("quantize", text(&a)))
        .or_else(|| take("convert_error").map(|a| ("convert", text(&a))));
    let akida_json = take("akida_json_gz").map(|a| gunzip(&a));
    let forward = take("akida_forward");
    let predict = take("akida_predict");
    let weights = map
        .into_iter()
        .filter_map(|(k, v)| k.strip_prefix("w/").map(|k| (k.to_owned(), v)))
        .collect();
    Reference {
        id: path.file_stem().unwrap().to_string_lossy().into_owned(),
        source,
        weights,
        input,
        keras,
        converted: akida_json.is_some(),
        refusal,
        akida_json,
        forward,
        predict,
        check_verdict: true,
    }
}

/// Loads a folder of `tests/data/disagreements/`.
fn disagreement_case(dir: &Path) -> Reference {
    let read_npy = |name: &str| {
        let p = dir.join(name);
        p.exists()
            .then(|| qnnc::io::read_npy(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
    };
    let side: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("python_side.json")).unwrap())
            .unwrap();
    let error = |key: &str| {
        side.get(key).filter(|v| !v.is_null()).map(|v| {
            format!(
                "{}: {}",
                v["exception_type"].as_str().unwrap_or("?"),
                v["message"].as_str().unwrap_or("?")
            )
        })
    };
    let folder = dir.parent().unwrap().file_name().unwrap().to_string_lossy();
    Reference {
        id: format!("{folder}/{}", dir.file_name().unwrap().to_string_lossy()),
        source: std::fs::read_to_string(dir.join("model.q")).unwrap(),
        weights: qnnc::io::read_npz(&dir.join("weights.npz")).unwrap(),
        input: read_npy("input.npy").expect("input.npy"),
        keras: read_npy("keras_quant.npy"),
        refusal: error("quantize_error")
            .map(|e| ("quantize", e))
            .or_else(|| error("convert_error").map(|e| ("convert", e))),
        converted: side["converts"].as_bool() == Some(true),
        akida_json: None,
        forward: read_npy("akida_forward.npy"),
        predict: read_npy("akida_predict.npy"),
        check_verdict: !folder.starts_with("akd1000-"),
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

/// Runs `qnnc` with short diagnostics; (exit code, stderr).
fn qnnc(args: &[&str]) -> (Option<i32>, String) {
    let mut all = vec!["--message-format", "short"];
    all.extend_from_slice(args);
    let out = common::qnnc(&all);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The first line of a diagnostic output, for messages.
fn first_line(s: &str) -> &str {
    s.lines().find(|l| !l.trim().is_empty()).unwrap_or("")
}

/// Integer array values with their shape and dtype name.
fn integers(a: &Array) -> Option<(Vec<usize>, &'static str, Vec<i64>)> {
    let v: Vec<i64> = match a {
        Array::U8(x) => x.iter().map(|&v| v.into()).collect(),
        Array::I8(x) => x.iter().map(|&v| v.into()).collect(),
        Array::I32(x) => x.iter().map(|&v| v.into()).collect(),
        Array::I64(x) => x.iter().copied().collect(),
        _ => return None,
    };
    Some((a.shape().to_vec(), a.dtype().name(), v))
}

fn floats(a: &Array) -> Option<(Vec<usize>, Vec<f32>)> {
    match a {
        Array::F32(x) => Some((x.shape().to_vec(), x.iter().copied().collect())),
        _ => None,
    }
}

/// `qnnc run` (integers) against akida `forward`: same dtype, shape and values.
fn compare_forward(ours: &Array, theirs: &Array) -> Result<(), String> {
    let (Some((so, to, vo)), Some((st, tt, vt))) = (integers(ours), integers(theirs)) else {
        return Err(format!(
            "dtypes {} (qnnc) and {} (akida) are not both integer",
            ours.dtype().name(),
            theirs.dtype().name()
        ));
    };
    if so != st || to != tt {
        return Err(format!("qnnc gives {to} {so:?}, akida {tt} {st:?}"));
    }
    let diffs: Vec<usize> = (0..vo.len()).filter(|&i| vo[i] != vt[i]).collect();
    match diffs.first() {
        None => Ok(()),
        Some(&i) => Err(format!(
            "{} of {} values differ; first at flat index {i}: qnnc {} vs akida {}",
            diffs.len(),
            vo.len(),
            vo[i],
            vt[i]
        )),
    }
}

/// `qnnc run --dequantize` against akida `predict`: bitwise.
fn compare_dequantize(ours: &Array, theirs: &Array) -> Result<(), String> {
    let (Some((so, vo)), Some((st, vt))) = (floats(ours), floats(theirs)) else {
        return Err("dequantized outputs are not both float32".into());
    };
    if so != st {
        return Err(format!("shapes {so:?} (qnnc) and {st:?} (akida)"));
    }
    let diffs: Vec<usize> = (0..vo.len())
        .filter(|&i| vo[i].to_bits() != vt[i].to_bits())
        .collect();
    match diffs.first() {
        None => Ok(()),
        Some(&i) => Err(format!(
            "{} of {} values differ; first at flat index {i}: qnnc {:e} vs akida {:e}",
            diffs.len(),
            vo.len(),
            vo[i],
            vt[i]
        )),
    }
}

/// `qnnc predict` against Keras, within [`PREDICT_TOLERANCE`] of Keras' largest magnitude.
fn compare_predict(ours: &Array, keras: &Array) -> Result<(), String> {
    let (Some((so, vo)), Some((sk, vk))) = (floats(ours), floats(keras)) else {
        return Err("outputs are not both float32".into());
    };
    if so != sk {
        return Err(format!("shapes {so:?} (qnnc) and {sk:?} (Keras)"));
    }
    let largest = vk.iter().fold(0f32, |m, v| m.max(v.abs()));
    let atol = PREDICT_TOLERANCE * largest;
    let bad: Vec<usize> = (0..vo.len())
        .filter(|&i| {
            let close = (vo[i] - vk[i]).abs() <= atol + PREDICT_TOLERANCE * vk[i].abs();
            let both_nan = vo[i].is_nan() && vk[i].is_nan();
            !(close || both_nan)
        })
        .collect();
    match bad.first() {
        None => Ok(()),
        Some(&i) => {
            let worst = bad
                .iter()
                .map(|&j| (vo[j] - vk[j]).abs())
                .fold(0f32, f32::max);
            Err(format!(
                "{} of {} values beyond tolerance (max|Keras| = {largest:e}, largest error \
                 {worst:e}); first at flat index {i}: qnnc {:e} vs Keras {:e}",
                bad.len(),
                vo.len(),
                vo[i],
                vk[i]
            ))
        }
    }
}

/// The first index where two slices differ, formatted.
fn first_difference<T: PartialEq + std::fmt::Debug>(a: &[T], b: &[T]) -> Option<String> {
    if a.len() != b.len() {
        return Some(format!(
            "lengths {} (qnnc) and {} (akida)",
            a.len(),
            b.len()
        ));
    }
    let diffs: Vec<usize> = (0..a.len()).filter(|&i| a[i] != b[i]).collect();
    diffs.first().map(|&i| {
        format!(
            "{} of {} differ; first at index {i}: qnnc {:?} vs akida {:?}",
            diffs.len(),
            a.len(),
            a[i],
            b[i]
        )
    })
}

/// The compiled program against the converted model, field by field.
fn compare_programs(ours: &Program, theirs: &Program) -> Result<(), String> {
    if ours.input != theirs.input {
        return Err(format!(
            "input dims: qnnc {} vs akida {}",
            ours.input, theirs.input
        ));
    }
    let names = |p: &Program| p.layers.iter().map(|l| l.name.clone()).collect::<Vec<_>>();
    if ours.layers.len() != theirs.layers.len() {
        return Err(format!(
            "{} layers {:?} (qnnc) vs {} {:?} (akida)",
            ours.layers.len(),
            names(ours),
            theirs.layers.len(),
            names(theirs)
        ));
    }
    for (k, (a, b)) in ours.layers.iter().zip(&theirs.layers).enumerate() {
        let at =
            |field: &str, what: String| Err(format!("layer {k} `{}`: {field}: {what}", b.name));
        macro_rules! same {
            ($field:ident) => {
                if a.$field != b.$field {
                    return at(
                        stringify!($field),
                        format!("qnnc {:?} vs akida {:?}", a.$field, b.$field),
                    );
                }
            };
        }
        same!(name);
        same!(kind);
        same!(input_dims);
        same!(output_dims);
        same!(kernel);
        same!(strides);
        same!(padding);
        same!(padding_value);
        same!(pooling);
        same!(weights_bits);
        same!(act_bits);
        same!(activation);
        if let Some(d) = first_difference(&a.weights, &b.weights) {
            return at("weights", d);
        }
        if let Some(d) = first_difference(&a.weights_pw, &b.weights_pw) {
            return at("weights_pw", d);
        }
        if let Some(d) = first_difference(&a.thresholds, &b.thresholds) {
            return at("thresholds", d);
        }
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        if first_difference(&bits(&a.act_steps), &bits(&b.act_steps)).is_some() {
            let i = (0..a.act_steps.len().min(b.act_steps.len()))
                .find(|&i| a.act_steps[i].to_bits() != b.act_steps[i].to_bits())
                .unwrap_or(0);
            return at(
                "act_steps",
                format!(
                    "lengths {}/{}; first difference at index {i}: qnnc {:e} ({:#010x}) vs \
                     akida {:e} ({:#010x})",
                    a.act_steps.len(),
                    b.act_steps.len(),
                    a.act_steps.get(i).copied().unwrap_or(f32::NAN),
                    a.act_steps.get(i).map_or(0, |x| x.to_bits()),
                    b.act_steps.get(i).copied().unwrap_or(f32::NAN),
                    b.act_steps.get(i).map_or(0, |x| x.to_bits()),
                ),
            );
        }
    }
    if ours.layers != theirs.layers {
        return Err("the layers differ in a field not compared above".into());
    }
    Ok(())
}

/// Runs every check of one case in `dir`.
fn check(r: &Reference, dir: &Path) -> Outcome {
    let mut o = Outcome {
        id: r.id.clone(),
        reference: match (r.converted, &r.refusal) {
            (true, _) => "converted",
            (false, Some(("quantize", _))) => "quantize_refused",
            (false, Some(_)) => "convert_refused",
            (false, None) => "keras_failed",
        },
        ..Outcome::default()
    };
    let (q, w, x) = (dir.join("m.q"), dir.join("w.npz"), dir.join("x.npy"));
    std::fs::write(&q, &r.source).unwrap();
    qnnc::io::write_npz(&w, &r.weights).unwrap();
    qnnc::io::write_npy(&x, &r.input).unwrap();
    let (p, y) = (dir.join("p.nsoc"), dir.join("y.npy"));
    let (code, stderr) = qnnc(&[
        "compile",
        path_str(&q),
        "--weights",
        path_str(&w),
        "-o",
        path_str(&p),
    ]);
    o.qnnc = match code {
        Some(0) => "compiled",
        Some(1) => "refused",
        _ => "crashed",
    };
    let result = |o: &mut Outcome, check: Check, r: Result<(), String>| match r {
        Ok(()) => o.passed.push(check),
        Err(e) => o.failed.push((check, e)),
    };

    // The verdict (none where Keras could not build the model: there is nothing to compare).
    if r.check_verdict && (r.converted || r.refusal.is_some()) {
        let verdict = match (&r.refusal, o.qnnc) {
            (_, "crashed") => Err(format!("qnnc compile crashed ({code:?}): {stderr}")),
            (None, "compiled") => Ok(()),
            (None, _) => Err(format!(
                "cnn2snn converts, qnnc refuses: {}",
                first_line(&stderr)
            )),
            (Some(_), "refused") => Ok(()),
            (Some((_, refusal)), _) => {
                let extension = EXTENSIONS.iter().find(|(_, code, message)| {
                    refusal.contains(message) && stderr.contains(&format!("warning[{code}]"))
                });
                match extension {
                    Some((name, _, _)) => {
                        o.extension = Some(name);
                        Ok(())
                    }
                    None => Err(format!("cnn2snn refuses ({refusal}), qnnc compiles")),
                }
            }
        };
        result(&mut o, Check::Verdict, verdict);
    }

    // The program and its outputs.
    if o.qnnc == "compiled" && (r.converted || r.forward.is_some()) {
        if let Some(json) = &r.akida_json {
            let ours = nsoc::read_file(&p).unwrap();
            let theirs = akida::program_from_json(json, &ours.model_name, r.source.as_bytes())
                .map_err(|e| format!("the akida model does not import: {e}"));
            result(
                &mut o,
                Check::Program,
                theirs.and_then(|t| compare_programs(&ours, &t)),
            );
        }
        if let Some(forward) = &r.forward {
            let (code, stderr) = qnnc(&[
                "run",
                path_str(&p),
                "--input",
                path_str(&x),
                "-o",
                path_str(&y),
            ]);
            let cmp = if code == Some(0) {
                compare_forward(&qnnc::io::read_npy(&y).unwrap(), forward)
            } else {
                Err(format!("qnnc run failed: {}", first_line(&stderr)))
            };
            result(&mut o, Check::Forward, cmp);
        }
        if let Some(predict) = &r.predict {
            let (code, stderr) = qnnc(&[
                "run",
                path_str(&p),
                "--input",
                path_str(&x),
                "-o",
                path_str(&y),
                "--dequantize",
            ]);
            let cmp = if code == Some(0) {
                compare_dequantize(&qnnc::io::read_npy(&y).unwrap(), predict)
            } else {
                Err(format!(
                    "qnnc run --dequantize failed: {}",
                    first_line(&stderr)
                ))
            };
            result(&mut o, Check::Dequantize, cmp);
        }
    } else if r.forward.is_some() && !r.check_verdict {
        // An AKD1000 folder whose model qnnc no longer compiles: its outputs cannot be compared.
        result(
            &mut o,
            Check::Forward,
            Err(format!("qnnc compile refused: {}", first_line(&stderr))),
        );
    }

    // The Keras quantized model.
    if let Some(keras) = &r.keras {
        let (code, stderr) = qnnc(&[
            "predict",
            path_str(&q),
            "--weights",
            path_str(&w),
            "--input",
            path_str(&x),
            "-o",
            path_str(&y),
        ]);
        let cmp = if code == Some(0) {
            compare_predict(&qnnc::io::read_npy(&y).unwrap(), keras)
        } else {
            Err(format!("qnnc predict failed: {}", first_line(&stderr)))
        };
        result(&mut o, Check::Predict, cmp);
    }
    o
}

/// Runs `check` on every reference, on all cores.
fn check_all(references: Vec<Box<dyn Fn() -> Reference + Send + Sync>>) -> Vec<Outcome> {
    let next = AtomicUsize::new(0);
    let outcomes = Mutex::new(Vec::new());
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(load) = references.get(i) else {
                    break;
                };
                let r = load();
                let dir = tempfile::tempdir().unwrap();
                let o = check(&r, dir.path());
                outcomes.lock().unwrap().push((i, o));
            });
        }
    });
    let mut outcomes = outcomes.into_inner().unwrap();
    outcomes.sort_by_key(|(i, _)| *i);
    outcomes.into_iter().map(|(_, o)| o).collect()
}

/// Counts, known failures, and the unexplained ones (which fail the test).
fn report(title: &str, outcomes: &[Outcome]) -> (String, Vec<String>) {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut bump = |k: String| *counts.entry(k).or_default() += 1;
    let mut problems = Vec::new();
    let (mut known, mut causes) = (Vec::new(), Vec::new());
    for o in outcomes {
        bump(format!("python {} / qnnc {}", o.reference, o.qnnc));
        if let Some(e) = o.extension {
            bump(format!("extension: {e}"));
        }
        for c in &o.passed {
            bump(format!("{c:?} agrees"));
        }
        for (c, what) in &o.failed {
            bump(format!("{c:?} differs"));
            match KNOWN.iter().find(|(id, k, _)| *id == o.id && k == c) {
                Some((_, _, why)) => {
                    if !causes.contains(why) {
                        causes.push(*why);
                    }
                    let n = causes.iter().position(|c| c == why).unwrap() + 1;
                    known.push(format!("{} {c:?}: {what} [cause {n}]", o.id));
                }
                None => problems.push(format!("{} {c:?}: {what}", o.id)),
            }
        }
    }
    let mut summary = format!("{title}: {} cases\n", outcomes.len());
    for (k, n) in &counts {
        let _ = writeln!(summary, "  {n:5}  {k}");
    }
    for k in &known {
        let _ = writeln!(summary, "  known: {k}");
    }
    for (n, why) in causes.iter().enumerate() {
        let _ = writeln!(summary, "  cause {}: {why}", n + 1);
    }
    (summary, problems)
}

/// Fails with the counts when a check failed that [`KNOWN`] does not list, or a listed one
/// passed.
fn conclude(title: &str, outcomes: &[Outcome], ids: &dyn Fn(&str) -> bool) {
    let (summary, mut problems) = report(title, outcomes);
    for (id, check, _) in KNOWN.iter().filter(|(id, _, _)| ids(id)) {
        let still = outcomes
            .iter()
            .any(|o| o.id == *id && o.failed.iter().any(|(c, _)| c == check));
        if !still {
            problems.push(format!(
                "{id} {check:?}: listed in KNOWN but no longer fails: remove the entry"
            ));
        }
    }
    if problems.is_empty() {
        eprintln!("{summary}");
    } else {
        let shown = problems.len().min(40);
        panic!(
            "{summary}{} unexplained failure(s){}:\n  {}",
            problems.len(),
            if shown < problems.len() {
                format!(" (first {shown})")
            } else {
                String::new()
            },
            problems[..shown].join("\n  ")
        );
    }
}

fn data(sub: &str) -> PathBuf {
    common::root().join("tests/data").join(sub)
}

/// Every case of the conversion corpus.
#[test]
fn conversion_corpus_matches_cnn2snn_and_akida() {
    let files = common::files_with_ext(&data("conversion"), "npz");
    assert!(
        files.len() >= 300,
        "tests/data/conversion holds {} cases; regenerate it with python/make_conversion_refs.py",
        files.len()
    );
    let loaders: Vec<Box<dyn Fn() -> Reference + Send + Sync>> = files
        .into_iter()
        .map(|f| Box::new(move || conversion_case(&f)) as Box<_>)
        .collect();
    let outcomes = check_all(loaders);
    let converted = outcomes
        .iter()
        .filter(|o| o.reference == "converted")
        .count();
    assert!(converted >= 250, "only {converted} converted cases");
    conclude("conversion corpus", &outcomes, &|id| {
        id.starts_with("case_")
    });
}

/// Every folder of `tests/data/disagreements/` that holds a model, weights and inputs.
#[test]
fn conversion_disagreement_folders() {
    let mut dirs: Vec<PathBuf> = common::files_with_ext(&data("disagreements"), "q")
        .into_iter()
        .filter_map(|q| {
            let d = q.parent()?.to_path_buf();
            (d.join("weights.npz").exists() && d.join("input.npy").exists()).then_some(d)
        })
        .collect();
    dirs.sort();
    assert!(!dirs.is_empty(), "no disagreement folders");
    let loaders: Vec<Box<dyn Fn() -> Reference + Send + Sync>> = dirs
        .into_iter()
        .map(|d| Box::new(move || disagreement_case(&d)) as Box<_>)
        .collect();
    let outcomes = check_all(loaders);
    conclude("disagreement folders", &outcomes, &|id| {
        !id.starts_with("case_")
    });
}

/// The comparisons catch a one-ulp act_step, a threshold off by one and one potential off by
/// one (so that the corpus test fails when qnnc regresses that little).
#[test]
fn conversion_checks_catch_the_smallest_change() {
    let r = common::files_with_ext(&data("conversion"), "npz")
        .iter()
        .map(|f| conversion_case(f))
        .find(|r| r.converted && r.forward.is_some())
        .expect("a converted case");
    let theirs = akida::program_from_json(r.akida_json.as_ref().unwrap(), "m", b"").unwrap();
    assert_eq!(compare_programs(&theirs, &theirs.clone()), Ok(()));
    let mut ours = theirs.clone();
    let last = ours.layers.len() - 1;
    let step = &mut ours.layers[last].act_steps[0];
    *step = f32::from_bits(step.to_bits() + 1);
    let e = compare_programs(&ours, &theirs).unwrap_err();
    assert!(e.contains("act_steps") && e.contains("index 0"), "{e}");
    let mut ours = theirs.clone();
    ours.layers[0].thresholds[0] += 1;
    let e = compare_programs(&ours, &theirs).unwrap_err();
    assert!(e.starts_with("layer 0 ") && e.contains("thresholds"), "{e}");
    let forward = r.forward.as_ref().unwrap();
    let mut changed = forward.clone();
    match &mut changed {
        Array::I32(a) => a.iter_mut().for_each(|v| *v ^= 1),
        Array::U8(a) => a.iter_mut().for_each(|v| *v ^= 1),
        other => panic!("forward is {}", other.dtype().name()),
    }
    assert_eq!(compare_forward(forward, forward), Ok(()));
    assert!(compare_forward(&changed, forward).is_err());
}
