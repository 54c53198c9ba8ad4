//! Cache hints: ask the CPU to start moving a cache line here before it is needed.
//!
//! A hint never faults and changes no memory, whatever the address (an unmapped one
//! is ignored), so callers need not prove anything about the pointer. On a CPU
//! without these instructions the functions do nothing.

/// Start moving the cache line holding `p` here, to be read.
#[inline]
pub fn prefetch_read(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    hint::<{ std::arch::x86_64::_MM_HINT_T0 }>(p);
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Start moving the cache line holding `p` here, to be written (`prefetchw` where the
/// CPU has it; a read hint elsewhere).
#[inline]
pub fn prefetch_write(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    hint::<{ std::arch::x86_64::_MM_HINT_ET0 }>(p);
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// The prefetch instruction `STRATEGY` names (`_MM_HINT_T0`: `prefetcht0`;
/// `_MM_HINT_ET0`: `prefetchw`, a no-op on CPUs without it).
#[cfg(target_arch = "x86_64")]
#[inline]
fn hint<const STRATEGY: i32>(p: *const u8) {
    // SAFETY: the prefetch instructions are part of SSE, which every x86-64 CPU has
    // (the baseline the target is built for); a prefetch only hints, it never
    // dereferences `p` in the language's sense and never faults, even on an unmapped
    // address.
    unsafe { std::arch::x86_64::_mm_prefetch::<STRATEGY>(p.cast()) };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hints change nothing, on memory of this process or on an address mapped to
    /// nothing.
    #[test]
    fn hints_change_nothing_and_never_fault() {
        let v = [7u8; 256];
        for at in [0, 63, 64, 255] {
            prefetch_read(&v[at]);
            prefetch_write(&v[at]);
        }
        assert!(v.iter().all(|&b| b == 7));
        prefetch_read(std::ptr::null());
        prefetch_write(std::ptr::without_provenance(8));
    }
}
