//! Fuzz target `q_check`: `qnnc check --target akd1000` on arbitrary `.q` bytes, and every rendering of its diagnostics.
//! The harness is `qnnc::fuzz_entry::q_check`, which `tests/regression.rs` replays too.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(init: qnnc::fuzz_entry::init(), |data: &[u8]| {
    qnnc::fuzz_entry::q_check(data);
});
