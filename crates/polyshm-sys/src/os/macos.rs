//! macOS backend: POSIX shared memory (shared with Linux in `posix.rs`), `__ulock_wait`
//! / `__ulock_wake` for the sleep/wake path, `proc_pidinfo` for identity, a `kqueue`
//! watcher for "die with the parent".
//!
//! This backend compiles (`cargo check --target x86_64-apple-darwin` runs in CI) but
//! has never been run: the project has no macOS machine. Where macOS differs:
//!
//! - names are at most 31 bytes (`PSHMNAMLEN`), which is why polyshm names are short;
//! - POSIX shared memory has no file system, so [`list_segments`] answers
//!   `Unsupported`, and there is no `fallocate`: the pages are committed lazily;
//! - there is no `PR_SET_PDEATHSIG` and no CPU pinning (see [`kill_with_parent`],
//!   [`pin_current_thread`]);
//! - a thread id cannot be checked without its process
//!   ([`THREAD_IDS_CHECKABLE`](crate::THREAD_IDS_CHECKABLE) is `false`).

use crate::{clamp_timeout, ProcessId, WaitOutcome};
use rustix::fd::OwnedFd;
use std::ffi::c_void;
use std::io;
use std::sync::atomic::AtomicU32;
use std::time::Duration;

pub use crate::posix::{
    cpu_count, create_segment, create_segment_with_hook, kill_process, open_segment,
    segment_modified, start_failure_is_transient, unlink_segment, wait_socket, yield_now, Mapping,
};

// Capabilities: the values for this platform; what each means is documented once, in
// lib.rs (`crate::PLATFORM` and the constants after it).
pub(crate) const PLATFORM: &str = "macos";
/// `PSHMNAMLEN`.
pub(crate) const MAX_OS_NAME_LEN: usize = 31;
/// `__ulock_wait` takes a timeout in µs.
pub(crate) const HAS_TIMED_WAIT: bool = true;
/// POSIX: a segment stays until unlinked.
pub(crate) const SEGMENTS_PERSIST: bool = true;
/// POSIX shared memory lives in no file system on macOS.
pub(crate) const SEGMENT_DIR: Option<&str> = None;
/// macOS offers no way to enumerate POSIX shared-memory names.
pub(crate) const CAN_LIST_SEGMENTS: bool = false;
/// `std::os::unix::net`.
pub(crate) const HAS_UNIX_SOCKETS: bool = true;
/// POSIX: a partial transfer returns its count.
pub(crate) const TIMED_SOCKET_IO_IS_EXACT: bool = true;
/// Thread ids (`pthread_threadid_np`) are not pids, and a thread cannot be looked up
/// without its process.
pub(crate) const THREAD_IDS_CHECKABLE: bool = false;

/// Pages are not reserved on macOS: its POSIX shared memory is anonymous memory
/// committed on first touch (there is no tmpfs to fill and no `fallocate`); a size the
/// system cannot back at all fails at `ftruncate` or `mmap`.
pub(crate) fn reserve(_fd: &OwnedFd, _size: usize) -> io::Result<()> {
    Ok(())
}

/// `Unsupported`: macOS offers no way to enumerate POSIX shared-memory names. polyshm
/// keeps its own per-user index of the segments it makes instead, in
/// [`segment_index_dir`].
pub fn list_segments() -> io::Result<Vec<String>> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "macOS cannot list POSIX shared-memory segments (they live in no file system); \
         polyshm lists the segments its creators entered in the per-user index",
    ))
}

/// `$TMPDIR/polyshm-segments` (mode 0700), created if missing: the per-user folder
/// where polyshm keeps its index of segments, since macOS cannot enumerate POSIX
/// shared-memory names. macOS gives each user a `$TMPDIR` of their own.
pub fn segment_index_dir() -> io::Result<std::path::PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = std::env::temp_dir().join("polyshm-segments");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)?;
    Ok(dir)
}

/// Compare the 32-bit word at `addr` with `value`, and sleep if they are equal; the
/// word may be mapped in several processes.
const UL_COMPARE_AND_WAIT_SHARED: u32 = 3;
/// `__ulock_wake`: wake every waiter rather than one.
const ULF_WAKE_ALL: u32 = 0x0000_0100;
/// Return `-errno` instead of setting `errno`.
const ULF_NO_ERRNO: u32 = 0x0100_0000;

extern "C" {
    /// Private but stable since macOS 10.12 (libc++ and the Rust standard library
    /// use it). `timeout_us == 0` waits for ever.
    fn __ulock_wait(operation: u32, addr: *mut c_void, value: u64, timeout_us: u32) -> i32;
    /// Wakes one waiter on `addr` (all with `ULF_WAKE_ALL`); `-ENOENT` when none.
    fn __ulock_wake(operation: u32, addr: *mut c_void, wake_value: u64) -> i32;
}

/// Wait/wake on a 32-bit word in shared memory: `__ulock_wait` / `__ulock_wake` with
/// `UL_COMPARE_AND_WAIT_SHARED`, macOS's futex. The key is unused (the kernel finds the
/// word by its physical page), as on Linux.
#[derive(Debug, Default)]
pub struct Parker {
    _priv: (),
}

impl Parker {
    /// A parker for the word identified by `key` (unused on macOS).
    pub fn new(_key: &str) -> io::Result<Parker> {
        Ok(Parker { _priv: () })
    }

    /// `__ulock_wait`: sleep while `*word == expected`, up to `timeout` (rounded up to
    /// whole microseconds; waits longer than `u32::MAX` µs, about 71 minutes, end
    /// early as a spurious wake-up).
    pub fn wait(&self, word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> WaitOutcome {
        let (us, capped) = match timeout {
            None => (0, false),
            Some(t) if t.is_zero() => {
                return if word.load(std::sync::atomic::Ordering::SeqCst) == expected {
                    WaitOutcome::TimedOut
                } else {
                    WaitOutcome::Woken
                };
            }
            Some(t) => {
                let t = clamp_timeout(t);
                let us = t.as_micros() + u128::from(!t.subsec_nanos().is_multiple_of(1_000));
                match u32::try_from(us) {
                    Ok(us) => (us, false),
                    Err(_) => (u32::MAX, true),
                }
            }
        };
        // SAFETY: `word` is a live, aligned 32-bit atomic for the whole call; the
        // kernel only reads it (compare) and sleeps on its address.
        let r = unsafe {
            __ulock_wait(
                UL_COMPARE_AND_WAIT_SHARED | ULF_NO_ERRNO,
                word.as_ptr().cast(),
                u64::from(expected),
                us,
            )
        };
        if r == -libc::ETIMEDOUT && !capped {
            WaitOutcome::TimedOut
        } else {
            WaitOutcome::Woken
        }
    }

    /// `__ulock_wake`: wake one waiter (`count == 1`) or all of them (`count > 1`);
    /// returns 1 if some waiter was woken, else 0.
    pub fn wake(&self, word: &AtomicU32, count: u32) -> usize {
        if count == 0 {
            return 0;
        }
        let all = if count > 1 { ULF_WAKE_ALL } else { 0 };
        // SAFETY: `word` is a live atomic; waking on its address touches no memory.
        let r = unsafe {
            __ulock_wake(
                UL_COMPARE_AND_WAIT_SHARED | ULF_NO_ERRNO | all,
                word.as_ptr().cast(),
                0,
            )
        };
        usize::from(r >= 0)
    }
}

/// `pthread_threadid_np`, folded to 31 bits (the robust mutex keeps bit 31 for its
/// "waiters" flag) and never 0. Unique among the threads of one process in practice;
/// not a pid (see [`THREAD_IDS_CHECKABLE`](crate::THREAD_IDS_CHECKABLE)).
pub fn current_thread_id() -> u32 {
    let mut id: u64 = 0;
    // SAFETY: `pthread_self()` is the calling thread; `id` is a writable u64.
    unsafe { libc::pthread_threadid_np(libc::pthread_self(), &mut id) };
    ((id ^ (id >> 31)) as u32 & 0x7fff_ffff).max(1)
}

/// `proc_pidinfo(PROC_PIDTBSDINFO)`: (start time in µs since 1970, whether a zombie),
/// or the errno.
fn bsd_info(pid: u32) -> Result<(u64, bool), i32> {
    let pid = i32::try_from(pid).map_err(|_| libc::ESRCH)?;
    // SAFETY: a plain-old-data struct for which all zeroes is a valid value.
    let mut info: libc::proc_bsdinfo = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::proc_bsdinfo>() as i32;
    // SAFETY: `info` is a writable buffer of `size` bytes.
    let n = unsafe {
        libc::proc_pidinfo(
            pid,
            libc::PROC_PIDTBSDINFO,
            0,
            (&mut info as *mut libc::proc_bsdinfo).cast(),
            size,
        )
    };
    if n != size {
        return Err(io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::ESRCH));
    }
    let start = info.pbi_start_tvsec * 1_000_000 + info.pbi_start_tvusec;
    Ok((start, info.pbi_status == libc::SZOMB))
}

/// This process: its pid and start time (`proc_pidinfo`, µs since 1970), read once and
/// again only if the pid changes (after a `fork`).
pub fn current_process() -> ProcessId {
    crate::posix::current_process_cached(|pid| bsd_info(pid).map_or(0, |i| i.0))
}

/// Whether `id` names a live process. A pid reused by a newer process (different
/// start time) and a zombie both count as dead; a process we may not inspect (`EPERM`)
/// counts as alive.
pub fn is_alive(id: ProcessId) -> bool {
    if id.pid == 0 {
        return false;
    }
    match bsd_info(id.pid) {
        Ok((_, true)) => false,
        Ok((start, false)) => id.start_time == 0 || start == id.start_time,
        Err(e) => e == libc::EPERM,
    }
}

/// Not known on macOS (it has no cheap `getcpu`): `None`.
pub fn current_cpu() -> Option<usize> {
    None
}

/// `Unsupported`: macOS has no way to pin a thread to a CPU (its affinity tags are
/// hints to keep threads together, not a placement).
pub fn pin_current_thread(_cpu: usize) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "macOS cannot pin a thread to a CPU",
    ))
}

/// End the calling process when `parent` ends, however it ends (kill -9 included).
///
/// macOS has no parent-death signal: this registers `EVFILT_PROC` / `NOTE_EXIT` for the
/// parent on a `kqueue` and starts a thread that waits on it and then sends `SIGKILL`
/// to this process. Call it in a child right after it starts; it returns `Ok(false)`
/// if the parent is already gone.
pub fn kill_with_parent(parent: ProcessId) -> io::Result<bool> {
    if !is_alive(parent) {
        return Ok(false);
    }
    // SAFETY: plain call; the result is checked.
    let kq = unsafe { libc::kqueue() };
    if kq < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `kq` is a fresh descriptor that nothing else owns.
    let kq = unsafe { <OwnedFd as rustix::fd::FromRawFd>::from_raw_fd(kq) };
    let change = libc::kevent {
        ident: parent.pid as usize,
        filter: libc::EVFILT_PROC,
        flags: libc::EV_ADD | libc::EV_ONESHOT,
        fflags: libc::NOTE_EXIT,
        data: 0,
        udata: std::ptr::null_mut(),
    };
    // SAFETY: one valid change record in, no events out, no timeout.
    let r = unsafe {
        libc::kevent(
            rustix::fd::AsRawFd::as_raw_fd(&kq),
            &change,
            1,
            std::ptr::null_mut(),
            0,
            std::ptr::null(),
        )
    };
    if r < 0 {
        let e = io::Error::last_os_error();
        return if e.raw_os_error() == Some(libc::ESRCH) {
            Ok(false)
        } else {
            Err(e)
        };
    }
    // The pid may have been reused between the first check and the registration.
    if !is_alive(parent) {
        return Ok(false);
    }
    std::thread::Builder::new()
        .name("polyshm-parent-watch".into())
        .spawn(move || loop {
            // SAFETY: a zeroed kevent is a valid out-buffer.
            let mut ev: libc::kevent = unsafe { std::mem::zeroed() };
            // SAFETY: `kq` lives in this thread; one writable event, no timeout.
            let n = unsafe {
                libc::kevent(
                    rustix::fd::AsRawFd::as_raw_fd(&kq),
                    std::ptr::null(),
                    0,
                    &mut ev,
                    1,
                    std::ptr::null(),
                )
            };
            if n > 0 {
                // SAFETY: sending SIGKILL to ourselves.
                unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
            }
        })?;
    Ok(true)
}

/// Tie `child` to this process's life (the parent's half of "drones end with the
/// master"). On macOS it does nothing: the child's own [`kill_with_parent`] does the
/// work. Call both.
pub fn adopt_child(_child: &std::process::Child) -> io::Result<()> {
    Ok(())
}
