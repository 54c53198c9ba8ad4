//! Fallback backend for platforms polyshm does not support: every operation answers
//! `ErrorKind::Unsupported`, so the crates above still compile.

use crate::{ProcessId, WaitOutcome};
use std::io;
use std::sync::atomic::AtomicU32;
use std::time::Duration;

// Capabilities: the values for this platform; what each means is documented once, in
// lib.rs (`crate::PLATFORM` and the constants after it).
pub(crate) const PLATFORM: &str = "unsupported";
/// As everywhere.
pub(crate) const MAX_OS_NAME_LEN: usize = 31;
/// [`Parker::new`] answers `Unsupported`: nothing waits here.
pub(crate) const HAS_TIMED_WAIT: bool = false;
/// No segments here.
pub(crate) const SEGMENTS_PERSIST: bool = false;
/// No segments here.
pub(crate) const SEGMENT_DIR: Option<&str> = None;
/// [`list_segments`] answers `Unsupported`.
pub(crate) const CAN_LIST_SEGMENTS: bool = false;
/// The standard library has them on any Unix.
pub(crate) const HAS_UNIX_SOCKETS: bool = cfg!(unix);
/// Unknown, so the safe answer.
pub(crate) const TIMED_SOCKET_IO_IS_EXACT: bool = false;
/// [`is_alive`] knows only this process.
pub(crate) const THREAD_IDS_CHECKABLE: bool = false;

fn unsupported() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "polyshm does not support this platform",
    )
}

/// A mapped segment (never made on this platform).
#[derive(Debug)]
pub struct Mapping {
    _never: std::convert::Infallible,
}

impl Mapping {
    /// Start of the mapped bytes.
    pub fn as_ptr(&self) -> *mut u8 {
        match self._never {}
    }
    /// Number of mapped bytes.
    pub fn len(&self) -> usize {
        match self._never {}
    }
    /// Whether the mapping is empty.
    pub fn is_empty(&self) -> bool {
        match self._never {}
    }
    /// Whether two mappings show the same segment.
    pub fn same_segment(&self, _other: &Mapping) -> Option<bool> {
        match self._never {}
    }
}

/// Unsupported.
pub fn create_segment(_name: &str, _size: usize) -> io::Result<Mapping> {
    Err(unsupported())
}
/// Unsupported.
pub fn create_segment_with_hook(
    _name: &str,
    _size: usize,
    _hook: impl FnOnce(),
) -> io::Result<Mapping> {
    Err(unsupported())
}
/// Unsupported.
pub fn open_segment(_name: &str) -> io::Result<Mapping> {
    Err(unsupported())
}
/// Unsupported.
pub fn segment_modified(_name: &str) -> io::Result<std::time::SystemTime> {
    Err(unsupported())
}
/// Unsupported.
pub fn unlink_segment(_name: &str) -> io::Result<()> {
    Err(unsupported())
}
/// Unsupported.
pub fn list_segments() -> io::Result<Vec<String>> {
    Err(unsupported())
}
/// Unsupported.
pub fn segment_index_dir() -> io::Result<std::path::PathBuf> {
    Err(unsupported())
}

/// Wait/wake (unsupported).
#[derive(Debug)]
pub struct Parker {
    _priv: (),
}

impl Parker {
    /// Unsupported.
    pub fn new(_key: &str) -> io::Result<Parker> {
        Err(unsupported())
    }
    /// Returns at once.
    pub fn wait(&self, _w: &AtomicU32, _e: u32, _t: Option<Duration>) -> WaitOutcome {
        WaitOutcome::Woken
    }
    /// Wakes nobody.
    pub fn wake(&self, _w: &AtomicU32, _n: u32) -> usize {
        0
    }
}

/// The process id, start time unknown.
pub fn current_process() -> ProcessId {
    ProcessId {
        pid: std::process::id(),
        start_time: 0,
    }
}
/// 0: unknown.
pub fn current_thread_id() -> u32 {
    0
}
/// Only this process is known to be alive.
pub fn is_alive(id: ProcessId) -> bool {
    id.pid == std::process::id()
}
/// Unknown here: `None`.
pub fn current_cpu() -> Option<usize> {
    None
}
/// Unsupported.
pub fn pin_current_thread(_cpu: usize) -> io::Result<()> {
    Err(unsupported())
}
/// One.
pub fn cpu_count() -> usize {
    1
}
/// `std::thread::yield_now`.
pub fn yield_now() {
    std::thread::yield_now()
}
/// Unsupported.
pub fn kill_with_parent(_parent: ProcessId) -> io::Result<bool> {
    Err(unsupported())
}
/// Unsupported.
pub fn adopt_child(_child: &std::process::Child) -> io::Result<()> {
    Err(unsupported())
}
/// Never: processes cannot be started here.
pub fn start_failure_is_transient(_e: &io::Error) -> bool {
    false
}
/// Unsupported.
pub fn kill_process(_id: ProcessId) -> io::Result<()> {
    Err(unsupported())
}
/// Unsupported.
pub fn wait_socket(
    _socket: &std::net::TcpStream,
    _writable: bool,
    _timeout: Duration,
) -> io::Result<bool> {
    Err(unsupported())
}
