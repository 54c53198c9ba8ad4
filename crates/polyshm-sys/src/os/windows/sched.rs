//! Scheduling helpers for drones: CPU pinning, CPU count, yielding.

use std::io;
use windows_sys::Win32::System::Threading::{GetCurrentThread, SetThreadAffinityMask};

/// `GetCurrentProcessorNumber`: the CPU (in the thread's processor group) the calling
/// thread runs on at this instant; a hint, stale as soon as it returns.
pub fn current_cpu() -> Option<usize> {
    // SAFETY: no arguments, no memory touched; it only reads the current processor.
    Some(unsafe { windows_sys::Win32::System::Threading::GetCurrentProcessorNumber() } as usize)
}

/// `SetThreadAffinityMask(GetCurrentThread(), 1 << cpu)`: pin the calling thread to
/// one CPU (of the first 64, the processor group Windows starts a process in).
pub fn pin_current_thread(cpu: usize) -> io::Result<()> {
    if cpu >= usize::BITS as usize || cpu >= cpu_count() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("no CPU {cpu}"),
        ));
    }
    // SAFETY: the pseudo-handle of the current thread is always valid.
    if unsafe { SetThreadAffinityMask(GetCurrentThread(), 1usize << cpu) } == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Number of CPUs this process may run on.
pub fn cpu_count() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// `SwitchToThread` (through `std::thread::yield_now`).
pub fn yield_now() {
    std::thread::yield_now();
}
