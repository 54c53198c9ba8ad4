//! POSIX pieces shared by Linux and macOS: `shm_open`, `ftruncate`, `mmap`.

use rustix::fd::OwnedFd;
use rustix::fs::Mode;
use rustix::mm::{MapFlags, ProtFlags};
use rustix::shm;
use std::io;
use std::ptr::NonNull;
use std::time::Duration;

/// A mapped view of a named segment. Unmapped on drop.
#[derive(Debug)]
pub struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
    _fd: OwnedFd,
}

// SAFETY: the mapping is plain memory owned by this value; sharing the pointer between
// threads is as safe as sharing it between processes, which is the point of it. All
// access goes through raw pointers whose users uphold the data-race rules.
unsafe impl Send for Mapping {}
// SAFETY: as above; `&Mapping` hands out only raw pointers and the length.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Start of the mapped bytes.
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }
    /// Number of mapped bytes (the segment's size when it was mapped).
    pub fn len(&self) -> usize {
        self.len
    }
    /// Whether the mapping is empty (never true for a mapping this crate made).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `fstat` both: whether two mappings show the same segment (same device and
    /// inode), which tells a segment from another made later under the same name.
    /// `None` when the system cannot say.
    pub fn same_segment(&self, other: &Mapping) -> Option<bool> {
        let a = rustix::fs::fstat(&self._fd).ok()?;
        let b = rustix::fs::fstat(&other._fd).ok()?;
        Some(a.st_dev == b.st_dev && a.st_ino == b.st_ino)
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly what `mmap` returned and nothing else unmaps
        // them. After this no access may happen: the crates above reach the pointer
        // only through the value that owns this mapping (a segment kept alive by an
        // `Arc` in every handle placed in it), so none is left when it drops.
        unsafe {
            let _ = rustix::mm::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
}

pub(crate) fn os_name(name: &str) -> String {
    format!("/{name}")
}

fn map(fd: OwnedFd, len: usize, flags: MapFlags) -> io::Result<Mapping> {
    if len == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "zero-length segment",
        ));
    }
    // SAFETY: a fresh shared mapping chosen by the kernel (null hint) over a file
    // descriptor we own; it aliases no Rust object.
    let ptr = unsafe {
        rustix::mm::mmap(
            std::ptr::null_mut(),
            len,
            ProtFlags::READ | ProtFlags::WRITE,
            flags,
            &fd,
            0,
        )?
    };
    let ptr =
        NonNull::new(ptr.cast::<u8>()).ok_or_else(|| io::Error::other("mmap returned null"))?;
    Ok(Mapping { ptr, len, _fd: fd })
}

#[cfg(target_os = "linux")]
fn populate_flags() -> MapFlags {
    MapFlags::SHARED | MapFlags::POPULATE
}
#[cfg(not(target_os = "linux"))]
fn populate_flags() -> MapFlags {
    MapFlags::SHARED
}

/// `shm_open(O_CREAT | O_EXCL | O_RDWR, 0600)` + `ftruncate` + reserve + `mmap`.
///
/// Fails with `AlreadyExists` if the name is taken, and with `StorageFull` (ENOSPC)
/// when the pages cannot be reserved; the half-made segment is then unlinked.
pub fn create_segment(name: &str, size: usize) -> io::Result<Mapping> {
    create_segment_with_hook(name, size, || {})
}

/// [`create_segment`], running `hook` once the name exists and before the segment is
/// sized (between `shm_open` and `ftruncate`: the segment is 0 bytes long meanwhile).
/// For fault injection: a test pauses or kills a creator there.
pub fn create_segment_with_hook(
    name: &str,
    size: usize,
    hook: impl FnOnce(),
) -> io::Result<Mapping> {
    let os = os_name(name);
    let fd = shm::open(
        os.as_str(),
        shm::OFlags::CREATE | shm::OFlags::EXCL | shm::OFlags::RDWR,
        Mode::from_bits_truncate(0o600),
    )?;
    hook();
    let made = (|| {
        rustix::fs::ftruncate(&fd, size as u64)?;
        crate::os::reserve(&fd, size)?;
        map(fd, size, populate_flags())
    })();
    if made.is_err() {
        let _ = shm::unlink(os.as_str());
    }
    made
}

/// `shm_open(O_RDWR)` + `fstat` + `mmap` of the whole segment (pages are mapped on
/// first touch; the creator's mapping is pre-populated).
pub fn open_segment(name: &str) -> io::Result<Mapping> {
    let fd = shm::open(os_name(name).as_str(), shm::OFlags::RDWR, Mode::empty())?;
    let st = rustix::fs::fstat(&fd)?;
    let len = usize::try_from(st.st_size).map_err(|_| io::Error::other("negative size"))?;
    if len == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "segment is empty",
        ));
    }
    map(fd, len, MapFlags::SHARED)
}

/// `shm_open(O_RDONLY)` + `fstat`: when the segment's size or bytes last changed
/// (`st_mtime`), without mapping it. Tells a segment whose creator died before it
/// could write a header (it stays empty or all zero) from one being made right now.
pub fn segment_modified(name: &str) -> io::Result<std::time::SystemTime> {
    let fd = shm::open(os_name(name).as_str(), shm::OFlags::RDONLY, Mode::empty())?;
    let st = rustix::fs::fstat(&fd)?;
    let since_epoch = Duration::new(
        u64::try_from(st.st_mtime).unwrap_or(0),
        u32::try_from(st.st_mtime_nsec)
            .unwrap_or(0)
            .min(999_999_999),
    );
    Ok(std::time::UNIX_EPOCH + since_epoch)
}

/// `shm_unlink`: the name goes away; mappings stay valid until unmapped.
pub fn unlink_segment(name: &str) -> io::Result<()> {
    shm::unlink(os_name(name).as_str()).map_err(Into::into)
}

/// `sched_yield`.
pub fn yield_now() {
    rustix::thread::sched_yield();
}

/// Number of CPUs this process may run on.
pub fn cpu_count() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Whether a failed process start (`Command::spawn`) may succeed if tried again:
/// `EAGAIN` from `fork` (a process or memory limit reached for a moment).
pub fn start_failure_is_transient(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

/// `kill(pid, SIGKILL)`: end process `id` at once, as `kill -9` does. Answers
/// `NotFound` if `id` is not alive (a pid reused by a newer process is left alone).
pub fn kill_process(id: crate::ProcessId) -> io::Result<()> {
    let pid = i32::try_from(id.pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
        .filter(|_| crate::os::is_alive(id))
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no live process {id}")))?;
    rustix::process::kill_process(pid, rustix::process::Signal::KILL).map_err(Into::into)
}

/// `poll(2)`: wait at most `timeout` until `socket` is readable (or, with `writable`,
/// writable); answers whether it is. An error or hang-up counts as ready (the next
/// read or write reports it).
pub fn wait_socket(
    socket: &std::net::TcpStream,
    writable: bool,
    timeout: std::time::Duration,
) -> io::Result<bool> {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let flags = if writable {
        PollFlags::OUT
    } else {
        PollFlags::IN
    };
    let t = crate::clamp_timeout(timeout);
    let ts = Timespec {
        tv_sec: t.as_secs() as _,
        tv_nsec: t.subsec_nanos() as _,
    };
    let mut fds = [PollFd::new(socket, flags)];
    match poll(&mut fds, Some(&ts)) {
        Ok(n) => Ok(n > 0),
        Err(rustix::io::Errno::INTR) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// This process's identity, its start time computed by `start_of` once, and again only
/// if the pid changes (as after a `fork`).
pub(crate) fn current_process_cached(start_of: impl FnOnce(u32) -> u64) -> crate::ProcessId {
    use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
    static CACHE: AtomicU64 = AtomicU64::new(0);
    static CACHED_PID: AtomicU32 = AtomicU32::new(0);
    let pid = std::process::id();
    if CACHED_PID.load(Ordering::Acquire) == pid {
        return crate::ProcessId {
            pid,
            start_time: CACHE.load(Ordering::Relaxed),
        };
    }
    let start_time = start_of(pid);
    CACHE.store(start_time, Ordering::Relaxed);
    CACHED_PID.store(pid, Ordering::Release);
    crate::ProcessId { pid, start_time }
}
