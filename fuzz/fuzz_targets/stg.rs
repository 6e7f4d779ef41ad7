//! Fuzz target `stg`: see harness.rs for what it checks.
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(init: harness::one_thread(), |data: &[u8]| {
    let _ = harness::stg(data);
});
