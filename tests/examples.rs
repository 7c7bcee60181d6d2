//! The shipped examples: every `examples/NAME.q` has trained weights `examples/NAME.npz`, the
//! commands that trained them in its header, and compiles with them at once; the header's
//! integer-program accuracy is what `qnnc run --data` gives (the simulator is exact, so any
//! change of the compiler or the simulator that moves a single prediction shows here).

use crate::common::{files_with_ext, qnnc, root};

/// The `// … : NN.NN % on the MNIST test set` figure of a header, and whether the header asks
/// for `--target akd1000`.
fn header(text: &str) -> (Option<String>, bool) {
    let comments: Vec<&str> = text.lines().take_while(|l| l.starts_with("//")).collect();
    let acc = comments.iter().find_map(|l| {
        let (_, rest) = l.split_once("integer program")?;
        let (_, rest) = rest.split_once(": ")?;
        Some(rest.split(' ').next()?.to_string())
    });
    let akd = comments.iter().any(|l| l.contains("--target akd1000"));
    (acc, akd)
}

#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "runs the integer programs on all of MNIST's test set; run with --release"
)]
fn every_example_ships_trained_weights_that_compile_and_run() {
    // `examples/zoo/` holds architectures without trained weights (tests/summary.rs checks them).
    let examples: Vec<_> = files_with_ext(&root().join("examples"), "q")
        .into_iter()
        .filter(|q| q.parent() == Some(root().join("examples").as_path()))
        .collect();
    assert!(examples.len() >= 5, "{examples:?}");
    let dir = tempfile::tempdir().unwrap();
    for q in examples {
        let name = q.file_stem().unwrap().to_str().unwrap().to_string();
        let text = std::fs::read_to_string(&q).unwrap();
        let weights = q.with_extension("npz");
        assert!(weights.is_file(), "`{name}` has no `{}`", weights.display());
        assert!(
            text.lines()
                .take_while(|l| l.starts_with("//"))
                .any(|l| l.contains("qnnc train") && l.contains(&format!("examples/{name}.npz"))),
            "the header of `{name}.q` does not say how `{name}.npz` was trained"
        );
        let (acc, akd) = header(&text);
        let acc = acc.unwrap_or_else(|| panic!("the header of `{name}.q` gives no accuracy"));
        let program = dir.path().join(format!("{name}.nsoc"));
        let (q, w, p) = (
            format!("examples/{name}.q"),
            format!("examples/{name}.npz"),
            program.to_str().unwrap().to_string(),
        );
        let mut args = vec!["compile", &q, "--weights", &w, "-o", &p];
        if akd {
            args.extend(["--target", "akd1000"]);
        }
        let o = qnnc(&args);
        assert!(
            o.status.success(),
            "`qnnc {}` failed:\n{}",
            args.join(" "),
            String::from_utf8_lossy(&o.stderr)
        );
        let o = qnnc(&["run", &p, "--data", "examples/data/mnist"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            out.contains(&format!("accuracy {acc}%")),
            "`{name}`: the header says {acc} %, `qnnc run --data` says `{out}`"
        );
    }
}

/// GXNOR maps on the chip: `check --target akd1000` with its weights passes.
#[test]
fn gxnor_passes_the_akd1000_check() {
    let o = qnnc(&[
        "check",
        "--target",
        "akd1000",
        "examples/gxnor_mnist.q",
        "--weights",
        "examples/gxnor_mnist.npz",
    ]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() && out.contains("maps on the AKD1000"),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
