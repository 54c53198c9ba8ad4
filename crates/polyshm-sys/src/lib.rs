//! Platform layer of polyshm: the few operating-system services the rest of the
//! library is built on, behind one seam.
//!
//! Every backend (`os/linux.rs`, `os/macos.rs`, `os/windows/`, and `os/stub.rs`
//! for anything else) exports the same items:
//!
//! - [`Mapping`], [`create_segment`] (and [`create_segment_with_hook`]), [`open_segment`], [`unlink_segment`],
//!   [`list_segments`], [`segment_modified`]: named shared-memory segments (`shm_open` + `mmap` on POSIX,
//!   `CreateFileMappingW` + `MapViewOfFile` on Windows);
//! - [`Parker`]: wait and wake on a 32-bit word in shared memory (a futex on Linux);
//! - [`ProcessId`], [`current_process`], [`is_alive`], [`current_thread_id`],
//!   [`kill_process`]: process identity that a reused pid does not fool (pid plus
//!   start time);
//! - [`pin_current_thread`], [`cpu_count`], [`yield_now`]: scheduling helpers for drones;
//! - [`wait_socket`]: a bounded wait for a TCP socket to be readable or writable (for
//!   platforms where timed socket I/O is not exact, [`TIMED_SOCKET_IO_IS_EXACT`]);
//! - [`kill_with_parent`] (called in the child) and [`adopt_child`] (called in the
//!   parent on each child it spawns): a child ends when its parent ends, however the
//!   parent ends. Call both: each platform does its work in one of them;
//! - capability constants: [`MAX_OS_NAME_LEN`], [`HAS_TIMED_WAIT`],
//!   [`SEGMENTS_PERSIST`], [`SEGMENT_DIR`], [`CAN_LIST_SEGMENTS`],
//!   [`THREAD_IDS_CHECKABLE`], [`HAS_UNIX_SOCKETS`], [`TIMED_SOCKET_IO_IS_EXACT`],
//!   [`PLATFORM`].
//!
//! | | Linux | Windows | macOS |
//! |---|---|---|---|
//! | segments | `shm_open` + `fallocate` + `mmap` | `CreateFileMappingW` (page file, committed) + `MapViewOfFile` | `shm_open` + `ftruncate` + `mmap` |
//! | a segment outlives its handles | yes, until unlinked | no: it goes with its last handle | yes, until unlinked |
//! | [`list_segments`] | `/dev/shm` | `Unsupported` | `Unsupported` |
//! | wait / wake | futex | named kernel semaphore per key | `__ulock_wait` / `__ulock_wake` |
//! | process start time | `/proc/<pid>/stat` | `GetProcessTimes` | `proc_pidinfo` |
//! | child dies with parent | `PR_SET_PDEATHSIG` in the child | kill-on-close job ([`adopt_child`]) + watcher thread | `kqueue` watcher thread in the child |
//! | [`pin_current_thread`] | `sched_setaffinity` | `SetThreadAffinityMask` | `Unsupported` |
//!
//! No `cfg(target_os)` appears outside this crate.
//!
//! ```
//! # fn main() -> std::io::Result<()> {
//! use polyshm_sys as sys;
//! let me = sys::current_process();
//! assert!(sys::is_alive(me));
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

use std::time::Duration;

#[cfg_attr(target_os = "linux", path = "os/linux.rs")]
#[cfg_attr(target_os = "macos", path = "os/macos.rs")]
#[cfg_attr(windows, path = "os/windows/mod.rs")]
#[cfg_attr(
    not(any(target_os = "linux", target_os = "macos", windows)),
    path = "os/stub.rs"
)]
mod os;

#[cfg(unix)]
mod posix;

pub use os::{
    adopt_child, cpu_count, create_segment, create_segment_with_hook, current_process,
    current_thread_id, is_alive, kill_process, kill_with_parent, list_segments, open_segment,
    pin_current_thread, segment_modified, unlink_segment, wait_socket, yield_now, Mapping, Parker,
    CAN_LIST_SEGMENTS, HAS_TIMED_WAIT, HAS_UNIX_SOCKETS, MAX_OS_NAME_LEN, PLATFORM,
    SEGMENTS_PERSIST, SEGMENT_DIR, THREAD_IDS_CHECKABLE, TIMED_SOCKET_IO_IS_EXACT,
};

/// Identity of a process that survives pid reuse: the pid plus the time the process
/// started (clock ticks since boot on Linux, creation time in 100 ns units since 1601
/// on Windows, microseconds since 1970 on macOS).
///
/// A `start_time` of 0 means "unknown": [`is_alive`] then checks the pid alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct ProcessId {
    /// Operating-system process id.
    pub pid: u32,
    /// Start time of the process, in platform units; 0 when unknown.
    pub start_time: u64,
}

impl std::fmt::Display for ProcessId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pid {}", self.pid)
    }
}

/// How a [`Parker::wait`] ended. Callers must re-check their condition either way:
/// spurious wake-ups are allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitOutcome {
    /// Woken, or the word no longer held the expected value, or interrupted.
    Woken,
    /// The timeout passed.
    TimedOut,
}

/// Clamp a timeout so that platform calls never see an absurd value.
pub(crate) fn clamp_timeout(t: Duration) -> Duration {
    t.min(Duration::from_secs(24 * 3600))
}

/// Bytes of memory available to new allocations without swapping, as far as the
/// platform tells (Linux: `MemAvailable` in `/proc/meminfo`); `None` where unknown.
/// Callers use it for default bounds on sizes another process asks for.
pub fn available_memory() -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        let info = std::fs::read_to_string("/proc/meminfo").ok()?;
        let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        kib.checked_mul(1024)
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}
