//! Linux backend: POSIX shared memory under `/dev/shm`, futexes, `/proc` for identity.

use crate::{clamp_timeout, ProcessId, WaitOutcome};
use rustix::fd::OwnedFd;
use rustix::thread::futex;
use std::io;
use std::sync::atomic::AtomicU32;
use std::time::Duration;

pub use crate::posix::{
    cpu_count, create_segment, create_segment_with_hook, kill_process, open_segment,
    segment_modified, start_failure_is_transient, unlink_segment, wait_socket, yield_now, Mapping,
};

// Capabilities: the values for this platform; what each means is documented once, in
// lib.rs (`crate::PLATFORM` and the constants after it).
pub(crate) const PLATFORM: &str = "linux";
/// Linux allows 255 bytes; polyshm keeps to macOS's 31.
pub(crate) const MAX_OS_NAME_LEN: usize = 31;
/// `FUTEX_WAIT` takes a timeout.
pub(crate) const HAS_TIMED_WAIT: bool = true;
/// POSIX: a segment stays until unlinked.
pub(crate) const SEGMENTS_PERSIST: bool = true;
/// Segments are files in `/dev/shm` (a tmpfs).
pub(crate) const SEGMENT_DIR: Option<&str> = Some("/dev/shm");
/// The files in `/dev/shm`.
pub(crate) const CAN_LIST_SEGMENTS: bool = true;
/// `std::os::unix::net`.
pub(crate) const HAS_UNIX_SOCKETS: bool = true;
/// POSIX: a partial transfer returns its count.
pub(crate) const TIMED_SOCKET_IO_IS_EXACT: bool = true;
/// `/proc/<tid>` exists for every live thread.
pub(crate) const THREAD_IDS_CHECKABLE: bool = true;

/// `fallocate(fd, 0, 0, size)`: reserve the pages now, so that a full `/dev/shm`
/// is an `ENOSPC` from create, never a `SIGBUS` on first touch. Where the file system
/// cannot (`EOPNOTSUPP`) the segment keeps the size `ftruncate` gave it and its pages
/// are committed on first touch.
pub(crate) fn reserve(fd: &OwnedFd, size: usize) -> io::Result<()> {
    reserve_with(|| rustix::fs::fallocate(fd, rustix::fs::FallocateFlags::empty(), 0, size as u64))
}

/// [`reserve`] with the `fallocate` call given, so that a test can inject its errno.
fn reserve_with(fallocate: impl FnOnce() -> rustix::io::Result<()>) -> io::Result<()> {
    match fallocate() {
        // The file system cannot reserve (EOPNOTSUPP), or the kernel lacks the call
        // (ENOSYS): `ftruncate` has sized the segment already; its pages are then
        // committed on first touch, as on macOS.
        Err(rustix::io::Errno::OPNOTSUPP | rustix::io::Errno::NOSYS) => Ok(()),
        other => other.map_err(Into::into),
    }
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

/// `Unsupported`: Linux needs no index of segments, [`list_segments`] reads them from
/// `/dev/shm`.
pub fn segment_index_dir() -> io::Result<std::path::PathBuf> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "Linux keeps no index of segments: they are listed from /dev/shm",
    ))
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
fn stat_of(pid: u32) -> Option<(u64, u8)> {
    // Bytes, not text: the name in field 2 is whatever the process chose.
    let line = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&line)
}

/// Parse a `/proc/<pid>/stat` line, as bytes: (field 22, the start time; field 3, the
/// state).
///
/// Field 2 is the process name in parentheses: up to 15 bytes the process chose
/// (`prctl(PR_SET_NAME)`, or the file name it was started from, cut by the kernel
/// anywhere, even inside a UTF-8 sequence). It may hold `)`, `(`, spaces, newlines and
/// words that look like fields, and no UTF-8 at all. Every later field is a number or a
/// letter the kernel writes, so the fields start after the *last* `)`.
pub(crate) fn parse_stat(line: &[u8]) -> Option<(u64, u8)> {
    let close = line.iter().rposition(|&b| b == b')')?;
    let mut fields = line[close + 1..]
        .split(|b| b.is_ascii_whitespace())
        .filter(|f| !f.is_empty());
    let state = *fields.next()?.first()?;
    // The fields after the name start at field 3; the start time is field 22, i.e. 19
    // further on.
    let start = std::str::from_utf8(fields.nth(18)?).ok()?.parse().ok()?;
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
        Some((_, b'Z' | b'X' | b'x')) => false,
        Some((start, _)) => id.start_time == 0 || start == id.start_time,
    }
}

/// The CPU the calling thread runs on at this instant (`getcpu` through the vDSO: tens
/// of nanoseconds, no system call). The answer may be stale the moment it returns; it
/// is a hint, e.g. for a waiter deciding whether its peer runs beside it.
pub fn current_cpu() -> Option<usize> {
    Some(rustix::thread::sched_getcpu())
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

#[cfg(test)]
mod tests {
    use super::{parse_stat, reserve_with};
    use rustix::io::Errno;

    /// Defect 6 of issue 9: a file system without `fallocate` (`EOPNOTSUPP`, as some
    /// tmpfs-like mounts and containers answer) made every create fail. The segment is
    /// already sized by `ftruncate`: it falls back to committing pages on first touch.
    /// A full file system is still an error.
    #[test]
    fn defect_6_fallocate_unsupported_falls_back() {
        assert!(reserve_with(|| Err(Errno::OPNOTSUPP)).is_ok());
        assert!(reserve_with(|| Err(Errno::NOSYS)).is_ok());
        assert!(reserve_with(|| Ok(())).is_ok());
        let full = reserve_with(|| Err(Errno::NOSPC)).unwrap_err();
        assert_eq!(full.raw_os_error(), Some(Errno::NOSPC.raw_os_error()));
    }

    /// A stat line of a process named `comm` (as the kernel prints it), started at tick
    /// 4242, in state `state`.
    fn line(comm: &[u8], state: u8) -> Vec<u8> {
        let mut l = b"1234 (".to_vec();
        l.extend_from_slice(comm);
        l.extend_from_slice(b") ");
        l.push(state);
        // Fields 4..=21, then 22 (the start time), then a few more.
        l.extend_from_slice(b" 1 1234 1234 0 -1 4194560 100 0 0 0 3 1 0 0 20 0 1 0 4242 9000 300 18446744073709551615\n");
        l
    }

    /// Defect 1 of issue 9: the name is bytes the process chose (`prctl(PR_SET_NAME)`),
    /// 15 of them at most, cut by the kernel anywhere, even inside a UTF-8 sequence; it
    /// may hold `)`, `(`, spaces and words that look like fields.
    #[test]
    fn defect_1_stat_with_paren_and_invalid_utf8() {
        let names: [&[u8]; 7] = [
            b"polyshm",
            b"rechenzentrum-\xc3", // "rechenzentrum-über" cut by the kernel at 15 bytes
            b") (\xff\xfe) Z 1 2",
            b"a) R 7 (b",
            b")",
            b"",
            b"x\n) Z 99 9",
        ];
        for name in names {
            for state in [b'R', b'S', b'Z'] {
                assert_eq!(
                    parse_stat(&line(name, state)),
                    Some((4242, state)),
                    "name {:?}",
                    String::from_utf8_lossy(name)
                );
            }
        }
        // Lines that are not stat lines answer None, never a wrong value or a panic.
        for bad in [
            &b""[..],
            b"1234 (no closing paren R 1 2 3",
            b"1234 (x) R 1 2 3",
            b"1234 (x) R 1 1234 1234 0 -1 4194560 100 0 0 0 3 1 0 0 20 0 1 0 notanumber",
            b"1234 (x) ",
        ] {
            assert_eq!(parse_stat(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
