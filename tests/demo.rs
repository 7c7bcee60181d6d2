//! `qnnc demo`, the README's main job: its table on the shipped example and MNIST. This is also
//! where the MNIST targets of the toy model are held (98 % float after 5 epochs, 98 % after
//! quantization to 4/4/8 and 2 epochs of fine-tuning), since the demo trains exactly that.

use crate::common::qnnc;

/// The value of the table row whose first cell starts with `label`, up to the first space
/// (`98.26 %` → 98.26).
fn row(table: &str, label: &str) -> f64 {
    let line = table
        .lines()
        .find(|l| l.starts_with(&format!("| {label}")))
        .unwrap_or_else(|| panic!("no row `{label}` in\n{table}"));
    let cell = line.split('|').nth(2).expect("a value cell").trim();
    cell.split(' ')
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no number in `{line}`"))
}

/// The demo trains, fine-tunes, compiles and runs the integer program, and prints the table
/// the README shows; the files it names exist. Release builds only (about 30 s there).
#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "trains on all of MNIST; run with --release"
)]
fn demo_prints_the_table_with_the_targets_met() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo-out");
    let o = qnnc(&["demo", "--out", out.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{}\n{stdout}",
        String::from_utf8_lossy(&o.stderr)
    );
    let float = row(&stdout, "float accuracy");
    let quant = row(&stdout, "quantized accuracy");
    let int = row(&stdout, "integer-program accuracy");
    let agree = row(&stdout, "quantized executor and program agree");
    assert!(float >= 98.0, "float toy: {float} %");
    assert!(quant >= 98.0, "quantized toy: {quant} %");
    assert!(int >= 97.5, "integer program: {int} %");
    assert!(agree >= 99.0, "agreement: {agree} %");
    assert!(row(&stdout, "compile time") > 0.0);
    for name in ["toy_float.npz", "toy_quantized.npz", "toy.nsoc"] {
        assert!(out.join(name).is_file(), "{name} was not written");
    }
    // The program it wrote runs on its own and gives the accuracy of the table.
    let o = qnnc(&[
        "run",
        out.join("toy.nsoc").to_str().unwrap(),
        "--data",
        "examples/data/mnist",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains(&format!("{int:.2}")),
        "`qnnc run --data` says `{text}`, the demo {int:.2} %"
    );
}
