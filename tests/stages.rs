//! RON stage goldens, in the manner of naga's `tests/out/ir`: every example model
//! (`examples/*.q`, `examples/zoo/*.q`) through `cnn2snn.convert`'s pipeline
//! ([`Stage::Converted`]), its IR dumped after every pass (`--dump-after`) and compared with
//! `tests/out/ir/<example>/<model>.after-<pass>.ron`. A change in a pass shows as a reviewed
//! diff of these files; `BLESS=1 cargo test --release stages` rewrites them.

use crate::common::{bless, check_golden, root};
use qnnc::passes::{Dump, PassName};
use qnnc::session::{Options, Session, Stage};
use std::path::{Path, PathBuf};

/// Every pass `--dump-after` takes.
fn every_pass() -> Vec<PassName> {
    use clap::ValueEnum;
    PassName::value_variants().to_vec()
}

fn examples() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in ["examples", "examples/zoo"] {
        for entry in std::fs::read_dir(root().join(dir)).unwrap() {
            let p = entry.unwrap().path();
            if p.extension().is_some_and(|e| e == "q") {
                files.push(p);
            }
        }
    }
    files.sort();
    assert!(files.len() >= 11, "the examples and the zoo: {files:?}");
    files
}

/// `examples/zoo/x.q` → `zoo-x`, `examples/x.q` → `x`.
fn golden_dir(example: &Path) -> PathBuf {
    let stem = example.file_stem().unwrap().to_string_lossy();
    let name = if example.parent().unwrap().ends_with("zoo") {
        format!("zoo-{stem}")
    } else {
        stem.into_owned()
    };
    root().join("tests/out/ir").join(name)
}

#[test]
fn pass_dumps_match_goldens() {
    let mut failures = Vec::new();
    let mut expected_dirs = Vec::new();
    for example in examples() {
        let out = tempfile::tempdir().unwrap();
        let mut session = Session::read(&example).unwrap();
        assert!(!session.has_errors(), "{}", example.display());
        let module = session.module.as_ref().expect("lowered");
        let names: Vec<String> = module.models.iter().map(|m| m.name.clone()).collect();
        for name in names {
            let options = Options {
                dump: Dump {
                    after: every_pass(),
                    dir: out.path().to_path_buf(),
                },
                ..Options::default()
            };
            let job = session.job(Some(&name), None, options).unwrap();
            let t = job.transform(Stage::Converted).unwrap();
            assert!(!t.dumps.is_empty(), "{}: no pass ran", example.display());
        }
        let dir = golden_dir(&example);
        expected_dirs.push(dir.clone());
        if bless() {
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
        }
        let mut written: Vec<PathBuf> = std::fs::read_dir(out.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        written.sort();
        let mut names: Vec<String> = Vec::new();
        for file in &written {
            let name = file.file_name().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(file).unwrap();
            if let Err(diff) = check_golden(&dir.join(&name), &text) {
                failures.push(diff);
            }
            names.push(name);
        }
        // No golden left over from a pass or model that no longer exists.
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries {
                let n = e.unwrap().file_name().to_string_lossy().into_owned();
                if !names.contains(&n) {
                    failures.push(format!("{}: stale golden `{n}`", dir.display()));
                }
            }
        }
    }
    for e in std::fs::read_dir(root().join("tests/out/ir")).unwrap() {
        let p = e.unwrap().path();
        if !expected_dirs.contains(&p) {
            failures.push(format!("stale golden directory `{}`", p.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} stage dump(s) differ (BLESS=1 rewrites):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The dumps are byte-identical from run to run.
#[test]
fn pass_dumps_are_deterministic() {
    let example = root().join("examples/toy_quantized.q");
    let mut texts = Vec::new();
    for _ in 0..2 {
        let out = tempfile::tempdir().unwrap();
        let mut session = Session::read(&example).unwrap();
        let options = Options {
            dump: Dump {
                after: every_pass(),
                dir: out.path().to_path_buf(),
            },
            ..Options::default()
        };
        let t = session
            .job(None, None, options)
            .unwrap()
            .transform(Stage::Converted)
            .unwrap();
        let all: Vec<String> = t
            .dumps
            .iter()
            .map(|(_, p)| std::fs::read_to_string(p).unwrap())
            .collect();
        texts.push(all);
    }
    assert_eq!(texts[0], texts[1]);
}
