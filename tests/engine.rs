//! The simulator at the corners of the akida engine's integer arithmetic: small models built
//! with akida's own API and run by its engine (`python -m qnnc_akida.engine_refs`, see
//! `tests/data/SOURCE.md`), imported here from their `Model.to_json()` and simulated. Each
//! case pins one rule of `docs/engine-arithmetic.md`.

use crate::common::root;
use ndarray::{ArrayD, Ix4};
use ndarray_npy::NpzReader;
use qnnc::backend::nsoc::{LayerOutput, Simulator};
use qnnc::target::bridge::program_from_json;
use std::fs::File;
use std::io::Read;

fn cases() -> Vec<std::path::PathBuf> {
    let dir = root().join("tests/data/engine");
    let cases = crate::common::files_with_ext(&dir, "npz");
    assert!(
        cases.len() >= 14,
        "the engine references are in {}",
        dir.display()
    );
    cases
}

#[test]
fn simulator_equals_the_akida_engine_at_its_corners() {
    for path in cases() {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let mut npz = NpzReader::new(File::open(&path).unwrap()).unwrap();
        let gz: ndarray::Array1<u8> = npz.by_name("model_json_gz").unwrap();
        let mut json = String::new();
        flate2::read::GzDecoder::new(gz.as_slice().unwrap())
            .read_to_string(&mut json)
            .unwrap();
        let program = program_from_json(&json, &name, name.as_bytes())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let input: ArrayD<u8> = npz.by_name("input").unwrap();
        let input = input.into_dimensionality::<Ix4>().unwrap();
        for sim in [
            Simulator::new(&program).unwrap(),
            Simulator::new_portable(&program).unwrap(),
        ] {
            match sim.run(input.view()).unwrap() {
                LayerOutput::Potentials(p) => {
                    let expected: ArrayD<i32> = npz.by_name("forward").unwrap();
                    assert_eq!(p.into_dyn(), expected, "{name}: forward");
                    let predict: ArrayD<f32> = npz.by_name("predict").unwrap();
                    let ours = sim.predict(input.view()).unwrap().into_dyn();
                    let same = ours
                        .iter()
                        .zip(predict.iter())
                        .all(|(a, b)| a.to_bits() == b.to_bits());
                    assert!(same, "{name}: predict\n{ours:?}\n{predict:?}");
                }
                LayerOutput::Levels(l) => {
                    let expected: ArrayD<u8> = npz.by_name("forward").unwrap();
                    assert_eq!(l.into_dyn(), expected, "{name}: forward");
                }
            }
        }
    }
}
