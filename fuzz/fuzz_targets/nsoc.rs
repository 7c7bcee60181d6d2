//! Fuzz target `nsoc`: the `.nsoc` loader on arbitrary bytes, then `inspect` rendering and one simulator run.
//! The harness is `qnnc::fuzz_entry::nsoc`, which `tests/regression.rs` replays too.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(init: qnnc::fuzz_entry::init(), |data: &[u8]| {
    qnnc::fuzz_entry::nsoc(data);
});
