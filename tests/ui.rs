//! Golden diagnostics. Each `tests/ui/**/NAME.q` is checked with `qnnc check` (or the command
//! in a `//@ cmd: …` first line, where `{dir}` is the file's directory and `{tmp}` a temporary
//! directory for outputs) and its stderr must equal `NAME.stderr`; when a `NAME.stdout` exists, stdout must equal it too (JSON
//! diagnostics go to stdout). The exit code must be 1 when an error is reported and 0
//! otherwise.
//! `BLESS=1 cargo test` rewrites the goldens.

use crate::common::{check_golden, files_with_ext, qnnc, root};
use std::collections::BTreeSet;

fn command_for(q: &std::path::Path, rel: &str, tmp: &std::path::Path) -> Vec<String> {
    let text = std::fs::read_to_string(q).expect("ui test file is readable");
    let dir = std::path::Path::new(rel)
        .parent()
        .expect("ui files live in a directory")
        .display()
        .to_string();
    match text.lines().next().and_then(|l| l.strip_prefix("//@ cmd:")) {
        Some(cmd) => cmd
            .split_whitespace()
            .map(|w| {
                w.replace("{dir}", &dir)
                    .replace("{file}", rel)
                    .replace("{tmp}", &tmp.display().to_string())
            })
            .collect(),
        None => vec!["check".to_string(), rel.to_string()],
    }
}

#[test]
fn ui_goldens() {
    let root = root();
    let cases = files_with_ext(&root.join("tests/ui"), "q");
    assert!(
        cases.len() >= 40,
        "expected at least 40 ui cases, found {}",
        cases.len()
    );
    let mut failures = Vec::new();
    // Where commands that write (`compile -o {tmp}/…`) put their output.
    let tmp = tempfile::tempdir().expect("a temporary directory");
    for q in &cases {
        let rel = q
            .strip_prefix(&root)
            .expect("under the root")
            .display()
            .to_string();
        let args = command_for(q, &rel, tmp.path());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = qnnc(&args);
        let stderr = String::from_utf8(out.stderr).expect("utf-8 diagnostics");
        if let Err(d) = check_golden(&q.with_extension("stderr"), &stderr) {
            failures.push(d);
        }
        let stdout = String::from_utf8(out.stdout).expect("utf-8 output");
        let stdout_golden = q.with_extension("stdout");
        if stdout_golden.exists() {
            if let Err(d) = check_golden(&stdout_golden, &stdout) {
                failures.push(d);
            }
        }
        let has_error = stderr
            .lines()
            .any(|l| l.starts_with("  × ") || l.contains(" error"))
            || stdout.contains("\"severity\":\"error\"");
        let code = out.status.code();
        let expected = if has_error { Some(1) } else { Some(0) };
        if code != expected && !stderr.contains("cli::usage") {
            failures.push(format!("{rel}: exit code {code:?}, expected {expected:?}"));
        }
        if stderr.contains("panicked") {
            failures.push(format!("{rel}: qnnc panicked"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every diagnostic code declared in the sources appears in at least one golden file.
#[test]
fn every_code_has_a_golden() {
    let root = root();
    let mut declared = BTreeSet::new();
    for f in files_with_ext(&root.join("src"), "rs") {
        let text = std::fs::read_to_string(&f).expect("source is readable");
        for part in text.split("code(").skip(1) {
            let code: String = part
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == ':' || *c == '_')
                .collect();
            // Only namespaced codes of user diagnostics (`stage::name`); CLI errors are covered
            // by command tests.
            let other = ["cli::", "cpu::", "nsoc::"];
            if code.contains("::") && !other.iter().any(|o| code.starts_with(o)) {
                declared.insert(code);
            }
        }
    }
    let mut seen = String::new();
    for f in files_with_ext(&root.join("tests/ui"), "stderr") {
        seen.push_str(&std::fs::read_to_string(&f).expect("golden is readable"));
    }
    let missing: Vec<&String> = declared
        .iter()
        .filter(|c| !seen.contains(c.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "codes without a golden test: {missing:?}"
    );
}
