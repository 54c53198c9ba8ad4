//! Linux backend: POSIX shared memory under `/dev/shm`, futexes, `/proc` for identity.

use crate::{clamp_timeout, ProcessId, WaitOutcome};
use rustix::fd::OwnedFd;
use rustix::thread::futex;
use std::io;
use std::sync::atomic::AtomicU32;
use std::time::Duration;

pub use crate::posix::{
    cpu_count, create_segment, kill_process, open_segment, unlink_segment, wait_socket, yield_now,
    Mapping,
};

/// Platform name, for reports.
pub const PLATFORM: &str = "linux";
/// Longest OS-level segment name, in bytes, including the leading `/`. Linux allows
/// 255, but polyshm keeps to macOS's 31 so that names are portable.
pub const MAX_OS_NAME_LEN: usize = 31;
/// Whether waits can time out (they can, through `FUTEX_WAIT`'s timeout).
pub const HAS_TIMED_WAIT: bool = true;
/// Whether a segment outlives every handle to it (POSIX: yes, until unlinked).
pub const SEGMENTS_PERSIST: bool = true;
/// The directory where segments appear as files, if any (Linux: segments are files in `/dev/shm`, named as the OS name without its `/`). Tests use it
/// to reach a segment as a plain file (to truncate it, or to plant a foreign one).
pub const SEGMENT_DIR: Option<&str> = Some("/dev/shm");
/// Whether [`list_segments`] can enumerate segments (Linux: yes, the files in `/dev/shm`).
pub const CAN_LIST_SEGMENTS: bool = true;
/// Whether the standard library offers Unix-domain sockets here (Linux: yes).
pub const HAS_UNIX_SOCKETS: bool = true;
/// Whether a socket read or write that times out (`SO_RCVTIMEO` / `SO_SNDTIMEO`)
/// reports exactly the bytes it moved, so that bounded blocking I/O keeps a stream in
/// sync. POSIX: yes (a partial transfer returns its count).
pub const TIMED_SOCKET_IO_IS_EXACT: bool = true;
/// Whether [`is_alive`] can judge a *thread* id from [`current_thread_id`] given as
/// `ProcessId { pid: tid, start_time: 0 }` (on Linux it can: `/proc/<tid>` exists for
/// every live thread).
pub const THREAD_IDS_CHECKABLE: bool = true;

/// `fallocate(fd, 0, 0, size)`: reserve the pages now, so that a full `/dev/shm`
/// is an `ENOSPC` from create, never a `SIGBUS` on first touch.
pub(crate) fn reserve(fd: &OwnedFd, size: usize) -> io::Result<()> {
    rustix::fs::fallocate(fd, rustix::fs::FallocateFlags::empty(), 0, size as u64)
        .map_err(Into::into)
}

/// Names of the segments under `/dev/shm` (without the leading `/`).
pub fn list_segments() -> io::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir("/dev/shm")? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            if let Some(n) = entry.file_name().to_str() {
                names.push(n.to_owned());
            }
        }
    }
    names.sort();
    Ok(names)
}

/// Wait/wake on a 32-bit word in shared memory: `FUTEX_WAIT` / `FUTEX_WAKE` without
/// `FUTEX_PRIVATE_FLAG`, so that the word may be mapped in several processes.
///
/// On Linux the key is unused: the futex is found by the physical page. On Windows a
/// named kernel object is derived from it, so both sides must pass the same key.
#[derive(Debug, Default)]
pub struct Parker {
    _priv: (),
}

impl Parker {
    /// A parker for the word identified by `key` (unused on Linux).
    pub fn new(_key: &str) -> io::Result<Parker> {
        Ok(Parker { _priv: () })
    }

    /// `futex(FUTEX_WAIT)`: sleep while `*word == expected`, up to `timeout`.
    pub fn wait(&self, word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> WaitOutcome {
        let ts = timeout.map(|t| {
            let t = clamp_timeout(t);
            rustix::time::Timespec {
                tv_sec: t.as_secs() as i64,
                tv_nsec: t.subsec_nanos() as _,
            }
        });
        match futex::wait(word, futex::Flags::empty(), expected, ts.as_ref()) {
            Err(rustix::io::Errno::TIMEDOUT) => WaitOutcome::TimedOut,
            _ => WaitOutcome::Woken,
        }
    }

    /// `futex(FUTEX_WAKE)`: wake up to `count` waiters; returns how many woke.
    pub fn wake(&self, word: &AtomicU32, count: u32) -> usize {
        futex::wake(word, futex::Flags::empty(), count).unwrap_or(0)
    }
}

/// `gettid()`: a system-wide unique id of the calling thread.
pub fn current_thread_id() -> u32 {
    rustix::thread::gettid().as_raw_nonzero().get() as u32
}

/// Field 22 of `/proc/<pid>/stat` (start time in clock ticks) and field 3 (state).
fn stat_of(pid: u32) -> Option<(u64, char)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    // `rest` starts at field 3; the start time is field 22, i.e. 19 further on.
    let start = fields.nth(18)?.parse().ok()?;
    Some((start, state))
}

/// This process: its pid and its start time from `/proc/self/stat` (read once, and
/// again only if the pid changes, as after a `fork`).
pub fn current_process() -> ProcessId {
    crate::posix::current_process_cached(|pid| stat_of(pid).map_or(0, |s| s.0))
}

/// Whether `id` names a live process. A pid reused by a newer process (different
/// start time) and a zombie (killed, not yet reaped) both count as dead.
pub fn is_alive(id: ProcessId) -> bool {
    if id.pid == 0 {
        return false;
    }
    match stat_of(id.pid) {
        None => false,
        Some((_, 'Z' | 'X' | 'x')) => false,
        Some((start, _)) => id.start_time == 0 || start == id.start_time,
    }
}

/// `sched_setaffinity(0, {cpu})`: pin the calling thread to one CPU.
pub fn pin_current_thread(cpu: usize) -> io::Result<()> {
    let mut set = rustix::thread::CpuSet::new();
    if cpu >= rustix::thread::CpuSet::MAX_CPU {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("no CPU {cpu}"),
        ));
    }
    set.set(cpu);
    rustix::thread::sched_setaffinity(None, &set).map_err(Into::into)
}

/// `prctl(PR_SET_PDEATHSIG, SIGKILL)`: the calling process is killed when the thread
/// that spawned it exits (however it exits, kill -9 included). Call it in a child
/// right after it starts; it returns `Ok(false)` if the parent is already gone.
pub fn kill_with_parent(parent: ProcessId) -> io::Result<bool> {
    rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))?;
    // The parent may have died before the prctl: then it would never fire.
    Ok(is_alive(parent))
}

/// Tie `child` to this process's life (the parent's half of "drones end with the
/// master"). On Linux it does nothing: the child's own [`kill_with_parent`] does the
/// work. On Windows it puts the child in a kill-on-close job object. Call both.
pub fn adopt_child(_child: &std::process::Child) -> io::Result<()> {
    Ok(())
}
