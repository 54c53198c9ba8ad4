//! An archived task's result as the master reads it: validation of a `Vec` of nested
//! structs (strings, vectors, a map, an option, an enum), then every field read and
//! the value decoded (`codec::access`, `codec::decode_archive`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = polyshm::hostile::archive(data);
});
