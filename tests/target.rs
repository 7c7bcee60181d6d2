//! The AKD1000's limits exist once, as the table `target::akd1000::AKD1000`, and every check
//! reads it: the same model judged against a changed table gets the changed verdict, for the
//! structural rules, the numeric rules and act_step equalization; and no other source file
//! writes the chip's numbers.

use crate::common::{files_with_ext, root};
use qnnc::backend::nsoc::LayerKind;
use qnnc::session::{hardware_rules, Job, Options, Session};
use qnnc::source::SourceFile;
use qnnc::target::akd1000::{check_structure, Akd1000, AKD1000};
use qnnc::target::equalize::equalize;
use qnnc::target::form_blocks;

fn model(text: &str) -> qnnc::ir::Model {
    let s = Session::new(SourceFile::new("t.q", text));
    assert!(!s.has_errors(), "{:?}", s.diagnostics);
    s.model(None).unwrap().clone()
}

fn codes(errs: &[qnnc::target::HwError]) -> Vec<String> {
    use miette::Diagnostic;
    errs.iter()
        .map(|e| e.code().map(|c| c.to_string()).unwrap_or_default())
        .collect()
}

/// A 9×9 convolution breaks the kernel rule of the table; a table that takes 9×9 kernels
/// accepts it; a table without 4-bit weights refuses the weights instead.
#[test]
fn structural_rules_read_the_table() {
    let m = model(
        "model m {\n input([16, 16, 1], scale: 255)\n quantize(weights: 4, activations: 4, input_weights: 8)\n conv2d(8, 3, padding: same)\n relu()\n conv2d(8, 9, padding: same)\n relu()\n}\n",
    );
    let graph = Job::new(m, None, Options::default())
        .transform(qnnc::session::Stage::Converted)
        .unwrap()
        .graph;
    let blocks = form_blocks(&graph.model).unwrap();
    let chip = check_structure(&AKD1000, &graph.model, &blocks);
    assert_eq!(codes(&chip), ["akd1000::unsupported_geometry"]);
    assert!(chip[0].to_string().contains("9×9"), "{}", chip[0]);

    let mut wider = AKD1000;
    wider.convolutional.kernels = &[1, 3, 5, 7, 9];
    assert!(check_structure(&wider, &graph.model, &blocks).is_empty());

    let mut narrow = wider;
    narrow.convolutional.weight_bits = &[1, 2];
    assert_eq!(
        codes(&check_structure(&narrow, &graph.model, &blocks)),
        ["akd1000::bit_width"]
    );
}

/// The threshold and act_step registers of the table decide the numeric verdict.
#[test]
fn numeric_rules_read_the_table() {
    let text = "model m {\n input([8, 8, 1], scale: 255)\n conv2d(4, 3, padding: same, quantizer: max_per_axis(bits: 8))\n quantized_relu(bits: 4, max_value: 6)\n conv2d(4, 3, padding: same, quantizer: max_per_axis(bits: 4))\n quantized_relu(bits: 4, max_value: 6)\n}\n";
    let m = model(text);
    let params = qnnc::params::init(&m, 3);
    let job = Job::new(m, Some(params.clone()), Options::default());
    let c = job.compile(text).unwrap_or_else(|_| panic!("compiles"));
    let rules = |hw: &Akd1000| {
        codes(&hardware_rules(
            hw,
            &c.program,
            &c.graph.model,
            &c.blocks,
            &c.traces,
            Some(&params),
        ))
    };
    assert!(rules(&AKD1000).is_empty(), "{:?}", rules(&AKD1000));
    let conv = &c.program.layers[1];
    let largest_step = conv.act_steps.iter().copied().fold(0f32, f32::max);
    let largest_threshold = conv
        .thresholds
        .iter()
        .map(|t| t.unsigned_abs())
        .max()
        .unwrap();

    let mut small_steps = AKD1000;
    small_steps.convolutional.act_step_max = (largest_step as u32).saturating_sub(1).max(1);
    assert_eq!(rules(&small_steps), ["akd1000::act_step_overflow"]);

    let mut small_thresholds = AKD1000;
    let bits = 64 - u64::from(largest_threshold).leading_zeros(); // the threshold needs bits + 1
    small_thresholds.convolutional.threshold_bits = bits;
    assert_eq!(rules(&small_thresholds), ["akd1000::threshold_overflow"]);
}

/// act_step equalization lowers act_steps to the table's register limit.
#[test]
fn equalization_reads_the_table() {
    let text = "model m {\n input([8, 8, 1], scale: 255)\n conv2d(4, 3, padding: same, quantizer: max_per_axis(bits: 8))\n quantized_relu(bits: 4, max_value: 6)\n conv2d(4, 3, padding: same, quantizer: max_per_axis(bits: 4))\n}\n";
    let m = model(text);
    let params = qnnc::params::init(&m, 5);
    let c = Job::new(m, Some(params), Options::default())
        .compile(text)
        .unwrap_or_else(|_| panic!("compiles"));
    let mut program = c.program.clone();
    assert!(equalize(&mut program, &AKD1000).is_empty());
    let first = &c.program.layers[0];
    assert_eq!(first.kind, LayerKind::InputConvolutional);
    let mut low = AKD1000;
    low.input.act_step_max = 10;
    let mut program = c.program.clone();
    let changes = equalize(&mut program, &low);
    assert!(!changes.is_empty());
    assert!(program.layers[0].act_steps.iter().all(|&s| s <= 10.0));
}

/// No source file but the table writes the AKD1000's register widths or its fully-connected
/// input limit.
#[test]
fn the_limits_are_written_once() {
    let table = root().join("src/target/akd1000.rs");
    let numbers = [
        "(1 << 16) - 1",
        "(1u32 << 16) - 1",
        "(1 << 20) - 1",
        "(1u32 << 20) - 1",
        "65535",
        "1048575",
        "57334",
        "(1 << 23) - 1",
    ];
    for f in files_with_ext(&root().join("src"), "rs") {
        if f == table {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        for n in numbers {
            assert!(
                !text.contains(n),
                "{} writes an AKD1000 limit ({n}); read it from `target::akd1000::AKD1000`",
                f.display()
            );
        }
    }
}

/// The program runtime (`src/backend/nsoc`) knows nothing of the compiler: no module of it
/// names the IR, the passes, the session, the quantizers or the target (which depends on it).
#[test]
fn the_runtime_does_not_import_the_compiler() {
    let compiler = [
        "crate::target",
        "crate::ir",
        "crate::passes",
        "crate::session",
        "crate::quant",
        "crate::params",
        "crate::syntax",
        "crate::commands",
    ];
    let mut found = Vec::new();
    for file in files_with_ext(&root().join("src/backend/nsoc"), "rs") {
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            for c in compiler {
                if code.contains(c) {
                    found.push(format!("{}:{}: {code}", file.display(), n + 1));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "the runtime imports the compiler:\n{}",
        found.join("\n")
    );
}
