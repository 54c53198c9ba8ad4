//! Platform layer of polyshm: the few operating-system services the rest of the
//! library is built on, behind one seam.
//!
//! Every backend (`os/linux.rs`, `os/macos.rs`, `os/windows/`, and `os/stub.rs`
//! for anything else) exports the same items:
//!
//! - [`Mapping`], [`create_segment`] (and [`create_segment_with_hook`]), [`open_segment`], [`unlink_segment`],
//!   [`list_segments`], [`segment_index_dir`], [`segment_modified`]: named shared-memory segments (`shm_open` + `mmap` on POSIX,
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
//!   [`start_failure_is_transient`] says whether a failed child start is worth another
//!   try;
//! - [`MessageWindow`], [`find_window`], [`send_message`]: message-only windows and
//!   `SendMessage` between processes (Windows only, [`HAS_WINDOW_MESSAGES`]), the
//!   study's `Win32MessageSending`;
//! - capability constants: [`MAX_OS_NAME_LEN`], [`HAS_TIMED_WAIT`],
//!   [`SEGMENTS_PERSIST`], [`SEGMENT_DIR`], [`CAN_LIST_SEGMENTS`],
//!   [`THREAD_IDS_CHECKABLE`], [`HAS_UNIX_SOCKETS`], [`TIMED_SOCKET_IO_IS_EXACT`],
//!   [`HAS_WINDOW_MESSAGES`], [`PLATFORM`].
//!
//! | | Linux | Windows | macOS |
//! |---|---|---|---|
//! | segments | `shm_open` + `fallocate` + `mmap` | `CreateFileMappingW` (page file, committed) + `MapViewOfFile` | `shm_open` + `ftruncate` + `mmap` |
//! | a segment outlives its handles | yes, until unlinked | no: it goes with its last handle | yes, until unlinked |
//! | [`list_segments`] | `/dev/shm` | `Unsupported`: polyshm's own per-user index instead ([`segment_index_dir`]) | `Unsupported`: the same index |
//! | [`segment_index_dir`] | `Unsupported` (not needed) | `%LOCALAPPDATA%\polyshm\segments` | `$TMPDIR/polyshm-segments` |
//! | wait / wake | futex | named kernel semaphore per key | `__ulock_wait` / `__ulock_wake` |
//! | process start time | `/proc/<pid>/stat` | `GetProcessTimes` | `proc_pidinfo` |
//! | child dies with parent | `PR_SET_PDEATHSIG` in the child | kill-on-close job ([`adopt_child`]) + watcher thread | `kqueue` watcher thread in the child |
//! | [`pin_current_thread`] | `sched_setaffinity` | `SetThreadAffinityMask` | `Unsupported` |
//! | [`MessageWindow`], [`send_message`] | `Unsupported` | `HWND_MESSAGE` window + `SendMessageTimeoutW` | `Unsupported` |
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

mod cache;
pub use cache::{prefetch_read, prefetch_write};

#[cfg(not(windows))]
mod no_window;
#[cfg(not(windows))]
pub use no_window::{find_window, send_message, MessageHandler, MessageWindow};
#[cfg(windows)]
pub use os::{find_window, send_message, MessageHandler, MessageWindow};

pub use os::{
    adopt_child, cpu_count, create_segment, create_segment_with_hook, current_cpu, current_process,
    current_thread_id, is_alive, kill_process, kill_with_parent, list_segments, open_segment,
    pin_current_thread, segment_index_dir, segment_modified, start_failure_is_transient,
    unlink_segment, wait_socket, yield_now, Mapping, Parker,
};

// Capabilities: what the platform offers, as constants rather than guesses (iceoryx2's
// `support.rs`). Each is documented here, once; every backend gives its value, with
// the reason for it on that platform.

/// Platform name, for reports: `"linux"`, `"windows"`, `"macos"`, or `"unsupported"`.
pub const PLATFORM: &str = os::PLATFORM;

/// Longest OS-level segment name, in bytes, counting the leading `/` as on POSIX.
/// 31 on every platform: macOS's limit (`PSHMNAMLEN`); Linux and Windows allow longer
/// names, but polyshm keeps to macOS's so that a name valid on one platform is valid on
/// all.
pub const MAX_OS_NAME_LEN: usize = os::MAX_OS_NAME_LEN;

/// Whether [`Parker::wait`] can time out.
pub const HAS_TIMED_WAIT: bool = os::HAS_TIMED_WAIT;

/// Whether a segment outlives every handle to it. POSIX: yes, until
/// [`unlink_segment`]. Where it does not (Windows), a segment disappears when the last
/// process holding it closes it or exits, its name cannot be removed earlier, and a
/// crashed process leaves nothing to clean.
pub const SEGMENTS_PERSIST: bool = os::SEGMENTS_PERSIST;

/// The directory where segments appear as files, if any (`None` where they live in no
/// file system). Tests use it to reach a segment as a plain file (to truncate it, or to
/// plant a foreign one); a file there is named as the OS name without its `/`.
pub const SEGMENT_DIR: Option<&str> = os::SEGMENT_DIR;

/// Whether [`list_segments`] can enumerate segments (elsewhere it answers
/// `Unsupported`, and polyshm lists the segments its creators entered in a per-user
/// index, in [`segment_index_dir`]).
pub const CAN_LIST_SEGMENTS: bool = os::CAN_LIST_SEGMENTS;

/// Whether the standard library offers Unix-domain sockets here
/// (`std::os::unix::net`).
pub const HAS_UNIX_SOCKETS: bool = os::HAS_UNIX_SOCKETS;

/// Whether a socket read or write that times out (`SO_RCVTIMEO` / `SO_SNDTIMEO`)
/// reports exactly the bytes it moved, so that bounded blocking I/O keeps a stream in
/// sync. Where it does not, a stream so used loses its framing: use non-blocking
/// sockets and [`wait_socket`] instead.
pub const TIMED_SOCKET_IO_IS_EXACT: bool = os::TIMED_SOCKET_IO_IS_EXACT;

/// Whether [`is_alive`] can judge a *thread* id from [`current_thread_id`] given as
/// `ProcessId { pid: tid, start_time: 0 }` (the robust mutex judges a holder by its
/// thread id while the holder's record is incomplete).
pub const THREAD_IDS_CHECKABLE: bool = os::THREAD_IDS_CHECKABLE;

/// Whether [`MessageWindow`], [`find_window`] and [`send_message`] work: message-only
/// windows (`HWND_MESSAGE`) and `SendMessage`, the study's `Win32MessageSending`. Only
/// Windows has them; elsewhere each answers `Unsupported`.
pub const HAS_WINDOW_MESSAGES: bool = cfg!(windows);

/// The first application-defined message code (`WM_APP`); codes up to 0xBFFF are the
/// application's. [`MessageWindow`] hands these, and only these, to its handler.
pub const FIRST_APP_MESSAGE: u32 = 0x8000;

/// A window's handle (`HWND`) as a number: valid in every process of one desktop, so
/// that it can be written on a command line and sent in a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct WindowHandle(pub u64);

impl std::fmt::Display for WindowHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

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
