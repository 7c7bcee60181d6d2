//! No input makes the front end panic: random text, mutated example files, and pathological
//! nesting all end in diagnostics.

use crate::common::{files_with_ext, qnnc, root};
use proptest::prelude::*;
use qnnc::session::Session;
use qnnc::source::SourceFile;

fn render(front: &Session, opts: qnnc::diag::RenderOptions) -> String {
    let diags = front
        .diagnostics
        .iter()
        .map(|e| e as &dyn miette::Diagnostic);
    qnnc::diag::render_all(&front.src, diags, opts)
}

fn check_no_panic(text: &str) {
    let src = SourceFile::new("fuzz.q", text);
    let result = std::panic::catch_unwind(|| {
        let front = Session::new(src);
        // Rendering must not panic either (spans must lie inside the text).
        let opts = qnnc::diag::RenderOptions::plain(qnnc::diag::MessageFormat::Human);
        let _ = render(&front, opts);
        let opts = qnnc::diag::RenderOptions::plain(qnnc::diag::MessageFormat::Short);
        let _ = render(&front, opts);
        if let Some(file) = &front.file {
            let _ = qnnc::syntax::print::format(file, front.src.text());
        }
    });
    assert!(result.is_ok(), "the front end panicked on:\n{text}");
}

fn corpus() -> Vec<String> {
    let mut files = files_with_ext(&root().join("examples"), "q");
    files.extend(files_with_ext(&root().join("tests/ui/ok"), "q"));
    files
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

/// Characters that make up `.q` text, so random strings reach deep into the grammar.
fn token_soup() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "model",
        "quantizer",
        "m",
        " ",
        "\n",
        "{",
        "}",
        "(",
        ")",
        "[",
        "]",
        ",",
        ":",
        "=",
        "-",
        "+",
        "*",
        "/",
        "8",
        "3",
        "0.5",
        "1e9",
        "conv2d",
        "dense",
        "input",
        "quantize",
        "max",
        "bits",
        "w",
        "kmax",
        "padding",
        "same",
        "true",
        "//c\n",
        "/*",
        "*/",
        "é",
        "\"",
    ]);
    prop::collection::vec(pieces, 0..80).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

    #[test]
    fn random_token_soup(text in token_soup()) {
        check_no_panic(&text);
    }

    #[test]
    fn random_bytes_as_text(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        check_no_panic(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn mutated_examples(index in 0usize..64, cut in 0usize..4096, len in 0usize..64, insert in token_soup()) {
        let corpus = corpus();
        let text = &corpus[index % corpus.len()];
        let mut cut = cut % (text.len() + 1);
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        let mut end = (cut + len).min(text.len());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let mutated = format!("{}{}{}", &text[..cut], insert, &text[end..]);
        check_no_panic(&mutated);
    }
}

/// Pathological nesting is refused with a diagnostic, in a separate process so that a stack
/// overflow (an abort, not a panic) would show as a failed command rather than kill the tests.
#[test]
fn deep_nesting_is_a_diagnostic() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        format!(
            "model m {{\n input([4], scale: {}1)\n dense(2)\n}}\n",
            "-".repeat(100_000)
        ),
        format!(
            "model m {{\n input([4], scale: {}1{})\n dense(2)\n}}\n",
            "(".repeat(100_000),
            ")".repeat(100_000)
        ),
        format!(
            "model m {{\n input([4], scale: {}1)\n dense(2)\n}}\n",
            "1+".repeat(100_000)
        ),
        format!(
            "model m {{\n input({}4{})\n dense(2)\n}}\n",
            "[".repeat(100_000),
            "]".repeat(100_000)
        ),
    ];
    for (i, text) in cases.iter().enumerate() {
        let path = dir.path().join(format!("deep{i}.q"));
        std::fs::write(&path, text).unwrap();
        let out = qnnc(&["check", path.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "case {i}: {err}");
        assert!(err.contains("syntax::too_deep"), "case {i}: {err}");
    }
}

/// A huge file of ordinary statements is fine (no quadratic blow-up, no recursion).
#[test]
fn many_statements_are_fine() {
    let mut text = String::from("model m {\n input([8, 8, 1])\n");
    for _ in 0..2000 {
        text.push_str(" relu()\n");
    }
    text.push_str("}\n");
    let src = SourceFile::new("many.q", text);
    let front = Session::new(src);
    assert!(!front.has_errors());
    assert_eq!(front.module.unwrap().models[0].layers.len(), 2000);
}
