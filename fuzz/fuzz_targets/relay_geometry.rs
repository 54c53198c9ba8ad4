//! A segment that may or may not be a relay: the input is its data region, and a
//! client runs `Relay::connect` on it (zero timeout; nobody accepts).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = polyshm::hostile::relay_connect(data);
});
