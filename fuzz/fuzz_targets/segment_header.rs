//! The segment header (`shm::header::Header::parse`): the first two bytes of the input
//! choose the segment's total size, the rest is its first bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let total = match data[0] {
        // Mostly near the header's own size, sometimes anything.
        0..=200 => 128 + u16::from_le_bytes([data[1], data[0]]) as usize,
        _ => usize::MAX >> (data[1] % 64),
    };
    let _ = polyshm::hostile::segment_header(&data[2..], total);
});
