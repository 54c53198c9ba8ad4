//! The version handshake: a drone's hello and the master's welcome (`Hello::decode`).
#![no_main]
use libfuzzer_sys::fuzz_target;
use polyshm::hostile::{HELLO_MAGIC, WELCOME_MAGIC};

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = polyshm::hostile::hello(HELLO_MAGIC, data) {
        // What decodes re-encodes and decodes the same (versions longer than 64 bytes
        // are cut by the encoder).
        if h.crate_version.len() <= 64 {
            let again = polyshm::hostile::hello(HELLO_MAGIC, &h.encode(HELLO_MAGIC));
            assert_eq!(again.as_ref(), Ok(&h));
        }
    }
    let _ = polyshm::hostile::hello(WELCOME_MAGIC, data);
});
