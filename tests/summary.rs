//! `qnnc summary`: the Keras table, checked against the tutorial's figures.

use crate::common::qnnc;

#[test]
fn toy_summary_matches_the_tutorial() {
    let out = qnnc(&["summary", "examples/toy.q"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<(&str, &str, &str)> = text
        .lines()
        .filter(|l| l.starts_with(" ") && l.contains("(None"))
        .map(|l| {
            let name = l.split_whitespace().next().unwrap();
            let shape_start = l.find("(None").unwrap();
            let shape_end = shape_start + l[shape_start..].find(')').unwrap() + 1;
            let params = l[shape_end..].split_whitespace().next().unwrap();
            (name, &l[shape_start..shape_end], params)
        })
        .collect();
    let expected = [
        ("conv2d_3", "(None, 26, 26, 8)", "80"),
        ("max_pooling2d", "(None, 13, 13, 8)", "0"),
        ("batch_normalization_3", "(None, 13, 13, 8)", "32"),
        ("re_lu_3", "(None, 13, 13, 8)", "0"),
        ("flatten_2", "(None, 1352)", "0"),
        ("dense_2", "(None, 10)", "13530"),
        ("softmax", "(None, 10)", "0"),
    ];
    assert_eq!(rows, expected, "{text}");
    assert!(text.contains("Total params: 13,642"), "{text}");
    assert!(text.contains("Trainable params: 13,626"), "{text}");
    assert!(text.contains("Non-trainable params: 16"), "{text}");
}

#[test]
fn summary_needs_model_choice_when_several() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("two.q");
    std::fs::write(
        &f,
        "model a { input([4]) dense(2) }\nmodel b { input([4]) dense(3) }\n",
    )
    .unwrap();
    let out = qnnc(&["summary", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("defines several models") && err.contains("--model"),
        "{err}"
    );
    let out = qnnc(&["summary", f.to_str().unwrap(), "--model", "b"]);
    assert!(out.status.success());
    assert!(String::from_utf8(out.stdout).unwrap().contains("(None, 3)"));
}

#[test]
fn automatic_names_follow_keras() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("auto.q");
    std::fs::write(
        &f,
        "model m {\n input([8, 8, 3])\n conv2d(4, 3)\n relu()\n conv2d(4, 3, padding: same)\n relu()\n separable_conv2d(8, 3)\n global_avg_pool()\n dense(10)\n softmax()\n}\n",
    )
    .unwrap();
    let out = qnnc(&["summary", f.to_str().unwrap()]);
    let text = String::from_utf8(out.stdout).unwrap();
    for name in [
        "conv2d (Conv2D)",
        "re_lu (ReLU)",
        "conv2d_1 (Conv2D)",
        "re_lu_1 (ReLU)",
        "separable_conv2d (SeparableConv2D)",
        "global_average_pooling2d",
        "dense (Dense)",
        "softmax (Softmax)",
    ] {
        assert!(text.contains(name), "missing `{name}` in\n{text}");
    }
    // valid 3×3: 8→6; same: 6; separable valid: 4; GAP → 8 channels
    assert!(
        text.contains("(None, 6, 6, 4)")
            && text.contains("(None, 4, 4, 8)")
            && text.contains("(None, 8) "),
        "{text}"
    );
}

#[test]
fn summary_reports_akd1000_resources() {
    let out = qnnc(&["summary", "--target", "akd1000", "examples/separable_gap.q"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let row = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{text}"))
            .to_string()
    };
    // conv0: 3·3·1·8 = 72 8-bit weights on the input block; 28·28·72 MACs.
    assert!(
        row("conv0").contains("InputConvolutional")
            && row("conv0").contains("56,448")
            && row("conv0").contains("HRC"),
        "{text}"
    );
    // sep1: 3·3·8 + 8·16 = 200 4-bit weights, 28·28·200 MACs.
    let sep1 = row("sep1");
    assert!(
        sep1.contains("SeparableConvolutional")
            && sep1.contains(" 200 ")
            && sep1.contains("800")
            && sep1.contains("156,800"),
        "{sep1}"
    );
    assert!(text.contains("of the 80 neural processors"), "{text}");
}

#[test]
fn summary_with_target_lists_what_does_not_map() {
    let out = qnnc(&[
        "summary",
        "--target",
        "akd1000",
        "tests/ui/akd1000/five_violations.q",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("akd1000::unsupported_geometry"), "{err}");
}

/// `examples/zoo/*.q` against the Keras tables of akida_models' Akida 1.0 zoo
/// (`examples/zoo/keras_summary.txt`, written by `python/zoo_check.py --expected`): per layer
/// the name, output shape and parameter count, and the totals; and each model maps on the
/// AKD1000 (`check --target akd1000`, structure only).
#[test]
fn zoo_summaries_match_keras() {
    let expected = std::fs::read_to_string("examples/zoo/keras_summary.txt").unwrap();
    /// name, total and trainable parameters, (layer, shape, parameters) rows
    type Table = (String, u64, u64, Vec<(String, String, String)>);
    let mut models: Vec<Table> = Vec::new();
    for line in expected
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        if let Some(rest) = line.strip_prefix("model ") {
            let f: Vec<&str> = rest.split_whitespace().collect();
            models.push((
                f[0].to_string(),
                f[2].parse().unwrap(),
                f[4].parse().unwrap(),
                vec![],
            ));
        } else {
            let f: Vec<&str> = line.split('\t').collect();
            let rows = &mut models.last_mut().unwrap().3;
            rows.push((f[0].to_string(), f[1].to_string(), f[2].to_string()));
        }
    }
    assert_eq!(models.len(), 6);
    for (name, total, trainable, rows_expected) in &models {
        let path = format!("examples/zoo/{name}.q");
        let out = qnnc(&["summary", &path]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let rows: Vec<(String, String, String)> = text
            .lines()
            .filter(|l| l.starts_with(' ') && l.contains("(None"))
            .map(|l| {
                let name = l.split_whitespace().next().unwrap().to_string();
                let shape_start = l.find("(None").unwrap();
                let shape_end = shape_start + l[shape_start..].find(')').unwrap() + 1;
                let params = l[shape_end..]
                    .split_whitespace()
                    .next()
                    .unwrap()
                    .to_string();
                (name, l[shape_start..shape_end].to_string(), params)
            })
            .collect();
        assert_eq!(&rows, rows_expected, "{path}\n{text}");
        let thousands = |n: u64| qnnc::ir::summary::thousands(n);
        assert!(
            text.contains(&format!("Total params: {}\n", thousands(*total))),
            "{text}"
        );
        assert!(
            text.contains(&format!("Trainable params: {}\n", thousands(*trainable))),
            "{text}"
        );
        let out = qnnc(&["check", &path, "--target", "akd1000"]);
        assert!(
            out.status.success(),
            "{path}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
