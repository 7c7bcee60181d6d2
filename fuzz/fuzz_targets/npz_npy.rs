//! Fuzz target `npz_npy`: the `.npy` and `.npz` readers on arbitrary bytes, then the weights checks against `examples/toy.q`.
//! The harness is `qnnc::fuzz_entry::npz_npy`, which `tests/regression.rs` replays too.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(init: qnnc::fuzz_entry::init(), |data: &[u8]| {
    qnnc::fuzz_entry::npz_npy(data);
});
