//! The documents run: every `$ qnnc …` (and `$ cat …`) in the ```console blocks of
//! `docs/tutorial.md` and the README is executed and its output compared with the text under it,
//! so the documents cannot go stale.
//!
//! The commands run in a scratch copy of `examples/` and `docs/` (MNIST is linked, not copied),
//! with `NO_COLOR=1` and `COLUMNS=100`. Expected output is stderr then stdout. In expected text,
//! `[..]` matches any part of a line and a line `...` any number of lines (the `trycmd`
//! conventions); in lines that report an accuracy, numbers may differ by 2 %, as training on
//! another processor rounds differently. A command ending in `# exit code N` must exit with N,
//! the others with 0.
//! Figures the tutorial writes into `docs/` must equal the committed ones byte for byte.
//! `BLESS=1` rewrites the expected text of commands that do not match (keeping the
//! documents' wildcards elsewhere).

use crate::common::{bless, root};
use std::path::{Path, PathBuf};
use std::process::Command;

/// One command of a document and where its expected output sits (line indices).
struct Case {
    /// The line holding `$ …`.
    line: usize,
    args: Vec<String>,
    exit: i32,
    /// Lines `[start, end)` of expected output.
    expected: (usize, usize),
}

/// Splits a command line like a shell does for the quoting used in the documents.
fn split_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for c in text.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    assert!(quote.is_none(), "unterminated quote in `{text}`");
    if in_word {
        words.push(word);
    }
    words
}

/// The commands of every ```console block of `lines`.
fn cases(lines: &[&str]) -> Vec<Case> {
    let mut out = Vec::new();
    let mut in_console = false;
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i];
        if l.starts_with("```") {
            in_console = !in_console && l.trim_start_matches('`').starts_with("console");
            i += 1;
            continue;
        }
        if in_console {
            if let Some(cmd) = l.strip_prefix("$ ") {
                let (cmd, exit) = match cmd.split_once("# exit code ") {
                    Some((c, n)) => (c, n.trim().parse().expect("an exit code")),
                    None => (cmd, 0),
                };
                let start = i + 1;
                let mut end = start;
                while end < lines.len()
                    && !lines[end].starts_with("$ ")
                    && !lines[end].starts_with("```")
                {
                    end += 1;
                }
                out.push(Case {
                    line: i,
                    args: split_words(cmd),
                    exit,
                    expected: (start, end),
                });
                i = end;
                continue;
            }
        }
        i += 1;
    }
    out
}

/// A piece of an expected line.
#[derive(Debug)]
enum Piece {
    Text(String),
    /// `[..]`.
    Any,
    /// A number, compared within 2 % in accuracy lines.
    Number(f64),
}

/// Reads the number at the start of `s`: its value and length.
fn leading_number(s: &str) -> Option<(f64, usize)> {
    let len = s
        .bytes()
        .take_while(|b| b.is_ascii_digit() || *b == b'.')
        .count();
    let text = s[..len].trim_end_matches('.');
    (!text.is_empty() && text.as_bytes()[0].is_ascii_digit())
        .then(|| text.parse().ok().map(|v| (v, text.len())))
        .flatten()
}

fn pieces(expected: &str, numbers: bool) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut rest = expected;
    let mut text = String::new();
    while let Some(c) = rest.chars().next() {
        if rest.starts_with("[..]") {
            out.push(Piece::Text(std::mem::take(&mut text)));
            out.push(Piece::Any);
            rest = &rest[4..];
        } else if let Some((v, len)) = leading_number(rest).filter(|_| numbers) {
            out.push(Piece::Text(std::mem::take(&mut text)));
            out.push(Piece::Number(v));
            rest = &rest[len..];
        } else {
            text.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out.push(Piece::Text(text));
    out
}

fn pieces_match(pieces: &[Piece], actual: &str) -> bool {
    match pieces.split_first() {
        None => actual.is_empty(),
        Some((Piece::Text(t), rest)) => actual
            .strip_prefix(t.as_str())
            .is_some_and(|a| pieces_match(rest, a)),
        Some((Piece::Any, rest)) => actual
            .char_indices()
            .map(|(i, _)| i)
            .chain([actual.len()])
            .any(|i| pieces_match(rest, &actual[i..])),
        Some((Piece::Number(e), rest)) => leading_number(actual).is_some_and(|(a, len)| {
            (e - a).abs() <= 0.02 * e.abs().max(a.abs()) && pieces_match(rest, &actual[len..])
        }),
    }
}

/// Whether `actual` matches the pattern line `expected` (`[..]` matches anything). In lines
/// that report an accuracy, numbers may differ by 2 % (training rounds differently on other
/// processors).
fn line_matches(expected: &str, actual: &str) -> bool {
    pieces_match(&pieces(expected, false), actual)
        || (expected.contains("accuracy") && pieces_match(&pieces(expected, true), actual))
}

/// Whether the actual lines match the expected ones, with `...` lines matching any run.
fn matches(expected: &[&str], actual: &[&str]) -> bool {
    match expected.split_first() {
        None => actual.is_empty(),
        Some((&"...", rest)) => (0..=actual.len()).any(|k| matches(rest, &actual[k..])),
        Some((e, rest)) => actual
            .split_first()
            .is_some_and(|(a, arest)| line_matches(e, a) && matches(rest, arest)),
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if src.is_dir() {
            copy_dir(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

/// A scratch working directory: `examples/` (with its MNIST linked) and `docs/`.
fn scratch() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = root();
    std::fs::create_dir_all(dir.path().join("examples")).unwrap();
    for entry in std::fs::read_dir(root.join("examples")).unwrap() {
        let entry = entry.unwrap();
        let dst = dir.path().join("examples").join(entry.file_name());
        if entry.file_name() == "data" {
            std::os::unix::fs::symlink(entry.path(), dst).unwrap();
        } else if entry.path().is_file() {
            std::fs::copy(entry.path(), dst).unwrap();
        }
    }
    copy_dir(&root.join("docs"), &dir.path().join("docs"));
    dir
}

/// Runs the commands of the document at `rel`; returns the failures.
fn run_document(rel: &str) -> Vec<String> {
    let path: PathBuf = root().join(rel);
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let cases = cases(&lines);
    assert!(!cases.is_empty(), "{rel} has no commands");
    let dir = scratch();
    let mut failures = Vec::new();
    let mut rewrites: Vec<(usize, usize, String)> = Vec::new();
    for case in &cases {
        let (program, args) = case.args.split_first().expect("a command");
        let (actual, code) = match program.as_str() {
            "qnnc" => {
                let out = Command::new(env!("CARGO_BIN_EXE_qnnc"))
                    .args(args)
                    .current_dir(dir.path())
                    .env("NO_COLOR", "1")
                    .env("COLUMNS", "100")
                    .output()
                    .expect("qnnc runs");
                let text = String::from_utf8_lossy(&out.stderr).into_owned()
                    + &String::from_utf8_lossy(&out.stdout);
                (text, out.status.code().unwrap_or(-1))
            }
            "cat" => {
                let text = args
                    .iter()
                    .map(|a| {
                        std::fs::read_to_string(dir.path().join(a))
                            .unwrap_or_else(|e| panic!("{rel}: cat {a}: {e}"))
                    })
                    .collect::<String>();
                (text, 0)
            }
            other => panic!(
                "{rel}:{}: `{other}` is not a command the documents may run",
                case.line + 1
            ),
        };
        let expected = &lines[case.expected.0..case.expected.1];
        // A blank line closing the output belongs to the document, not the command.
        let expected: Vec<&str> = {
            let mut e = expected.to_vec();
            while e.last().is_some_and(|l| l.is_empty()) {
                e.pop();
            }
            e
        };
        let actual_lines: Vec<&str> = actual.lines().map(str::trim_end).collect();
        let expected_trimmed: Vec<&str> = expected.iter().map(|l| l.trim_end()).collect();
        let ok = matches(&expected_trimmed, &actual_lines) && code == case.exit;
        if !ok {
            if bless() {
                let end = case.expected.0 + expected.len();
                rewrites.push((case.expected.0, end, actual_lines.join("\n")));
            }
            failures.push(format!(
                "{rel}:{}: `{}` exited {code} (expected {}) and printed:\n{}\n--- expected:\n{}",
                case.line + 1,
                case.args.join(" "),
                case.exit,
                actual,
                expected.join("\n")
            ));
        }
    }
    if bless() && !rewrites.is_empty() {
        let mut out: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
        for (start, end, text) in rewrites.into_iter().rev() {
            let new: Vec<String> = if text.is_empty() {
                vec![]
            } else {
                text.lines().map(str::to_string).collect()
            };
            out.splice(start..end, new);
        }
        std::fs::write(&path, out.join("\n") + "\n").unwrap();
        return Vec::new();
    }
    // Figures written by the document must be the committed ones.
    for entry in std::fs::read_dir(dir.path().join("docs")).unwrap() {
        let p = entry.unwrap().path();
        if p.is_file() {
            let name = p.file_name().unwrap();
            let shipped = root().join("docs").join(name);
            if std::fs::read(&p).ok() != std::fs::read(&shipped).ok() {
                failures.push(format!(
                    "docs/{} differs from what {rel} writes: regenerate it with the command in {rel}",
                    name.to_string_lossy()
                ));
            }
        }
    }
    failures
}

#[test]
fn tutorial_commands_give_the_shown_output() {
    let failures = run_document("docs/tutorial.md");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn readme_commands_give_the_shown_output() {
    let failures = run_document("README.md");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn expected_output_patterns() {
    assert!(line_matches(
        "epoch 1/1: loss [..], [..] s",
        "epoch 1/1: loss 0.2, 1.5 s"
    ));
    assert!(!line_matches("epoch [..] s", "epoch 1 ms"));
    assert!(line_matches("[..]", "anything"));
    assert!(line_matches(
        "epoch 1/1: loss 0.3500, accuracy 89.72%, [..] s",
        "epoch 1/1: loss 0.3490, accuracy 89.90%, 3.1 s"
    ));
    assert!(!line_matches(
        "epoch 1/1: loss 0.3500, accuracy 89.72%",
        "epoch 1/1: loss 0.3500, accuracy 79.72%"
    ));
    assert!(!line_matches("threshold -742500", "threshold -742000"));
    assert!(matches(&["a", "...", "z"], &["a", "b", "c", "z"]));
    assert!(matches(&["a", "...", "z"], &["a", "z"]));
    assert!(!matches(&["a", "...", "z"], &["a", "b"]));
    assert_eq!(
        split_words(r#"qnnc activation "quantized_relu(bits: 4)" -o 'a b.svg'"#),
        [
            "qnnc",
            "activation",
            "quantized_relu(bits: 4)",
            "-o",
            "a b.svg"
        ]
    );
}
