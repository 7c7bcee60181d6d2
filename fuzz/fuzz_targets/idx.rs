//! Fuzz target `idx`: the IDX reader (plain and gzipped, stream and file) and the dataset loader on arbitrary bytes.
//! The harness is `qnnc::fuzz_entry::idx`, which `tests/regression.rs` replays too.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(init: qnnc::fuzz_entry::init(), |data: &[u8]| {
    qnnc::fuzz_entry::idx(data);
});
