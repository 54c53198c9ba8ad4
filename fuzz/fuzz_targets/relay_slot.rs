//! Slot 0 of a live relay: the first byte chooses the slot count and the second the
//! message capacity, the rest is written over the slot; the master then runs
//! `accept` and `recv_into` (zero timeouts).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let slots = 1 + u32::from(data[0] % 4);
    let capacity = 64 * (1 + u32::from(data[1] % 64));
    let _ = polyshm::hostile::relay_slot(slots, capacity, &data[2..]);
});
