//! The formatter keeps meaning and comments: for every `.q` file of the repository that parses,
//! `parse(fmt(x))` is the same tree as `parse(x)`, formatting is idempotent, and every comment
//! survives.

use crate::common::{files_with_ext, qnnc, root};
use qnnc::source::SourceFile;
use qnnc::syntax::{parse, print::format};

fn all_q_files() -> Vec<std::path::PathBuf> {
    let root = root();
    let mut files = files_with_ext(&root.join("examples"), "q");
    files.extend(files_with_ext(&root.join("tests"), "q"));
    files.extend(files_with_ext(&root.join("docs"), "q"));
    files
}

#[test]
fn fmt_roundtrip_on_every_file() {
    let mut checked = 0;
    for path in all_q_files() {
        let text = std::fs::read_to_string(&path).unwrap();
        let src = SourceFile::new(path.display().to_string(), text);
        let Ok(tree) = parse(&src) else { continue };
        let formatted = format(&tree, src.text());
        let src2 = SourceFile::new("formatted", formatted.clone());
        let tree2 = parse(&src2).unwrap_or_else(|e| {
            panic!(
                "{}: formatted text does not parse: {e}\n{formatted}",
                path.display()
            )
        });
        assert!(
            tree.same_tree(&tree2),
            "{}: tree changed by fmt\n{formatted}",
            path.display()
        );
        let again = format(&tree2, &formatted);
        assert_eq!(
            again,
            formatted,
            "{}: fmt is not idempotent",
            path.display()
        );
        let before: Vec<&str> = tree.comments.iter().map(|c| c.text.as_str()).collect();
        let after: Vec<&str> = tree2.comments.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(
            before,
            after,
            "{}: comments lost or reordered",
            path.display()
        );
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} files checked");
}

#[test]
fn examples_are_formatted() {
    let files: Vec<String> = files_with_ext(&root().join("examples"), "q")
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let mut args = vec!["fmt", "--check"];
    args.extend(files.iter().map(String::as_str));
    let out = qnnc(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn fmt_moves_comments_but_keeps_them() {
    let text = "/* head */ quantizer q = max(bits: 4) // q\n\n\n// lead\nmodel m { // open\n  input([4, 4, 1])\n  x = conv2d(8, /* inner */ 3, quantizer: q)  // trail\n\n\n  // before end\n}\n// tail\n";
    let src = SourceFile::new("t.q", text);
    let formatted = format(&parse(&src).unwrap(), text);
    let expected = "/* head */\nquantizer q = max(bits: 4)  // q\n\n// lead\nmodel m {  // open\n    input([4, 4, 1])\n    /* inner */\n    x = conv2d(8, 3, quantizer: q)  // trail\n\n    // before end\n}\n\n// tail\n";
    assert_eq!(formatted, expected);
}

#[test]
fn fmt_parenthesises_only_where_needed() {
    let text = "quantizer q = linear(bits: 4, scale: (kmax / (2 * std(w))) - (1 - 2) + -(-3) * (4 + 5))\nmodel m { input([4]) dense(2, quantizer: q) }\n";
    let src = SourceFile::new("t.q", text);
    let tree = parse(&src).unwrap();
    let formatted = format(&tree, text);
    assert!(
        formatted.contains("scale: kmax / (2 * std(w)) - (1 - 2) + -(-3) * (4 + 5)"),
        "{formatted}"
    );
}
