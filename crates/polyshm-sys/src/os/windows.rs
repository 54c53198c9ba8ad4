//! Windows backend: page-file-backed named file mappings, named kernel semaphores for
//! the sleep/wake path, process handles for identity, a job object for drones.
//!
//! Where Windows differs from POSIX, and what this backend does about it:
//!
//! - **A segment disappears with its last handle.** A named file mapping lives while
//!   some process holds a handle to it (or maps a view of it), and no longer: there is
//!   no way to keep one alive without a process, and no way to remove the name while
//!   handles remain. [`SEGMENTS_PERSIST`] is `false`; [`unlink_segment`] can only
//!   check that the segment exists (the name goes when the last handle closes);
//!   [`list_segments`] answers `Unsupported` (see there).
//! - **`WaitOnAddress` works only inside one process**, so [`Parker`] sleeps on a
//!   named kernel semaphore derived from its key, while the word in shared memory
//!   stays the truth (see [`Parker`]).
//! - **No parent-death signal**: [`kill_with_parent`] starts a watcher thread in the
//!   child, and [`adopt_child`] puts a child in the parent's kill-on-close job object.
//!
//! Names live in the session namespace (`Local\polyshm.<name>`), and objects get the
//! creator's default security descriptor (the creating user, SYSTEM and
//! administrators may open them), the closest Windows has to POSIX mode 0600. Windows
//! compares object names without regard to case: `polyshm.A` and `polyshm.a` are two
//! segments on Linux and macOS, one on Windows.

use crate::{clamp_timeout, ProcessId, WaitOutcome};
use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::Duration;
use windows_sys::Win32::Foundation::{
    CloseHandle, GetLastError, ERROR_ACCESS_DENIED, ERROR_ALREADY_EXISTS, ERROR_COMMITMENT_LIMIT,
    ERROR_DISK_FULL, ERROR_NOT_ENOUGH_MEMORY, ERROR_NO_SYSTEM_RESOURCES, ERROR_OUTOFMEMORY,
    FILETIME, HANDLE, INVALID_HANDLE_VALUE, WAIT_OBJECT_0, WAIT_TIMEOUT,
};
use windows_sys::Win32::System::JobObjects::{
    AssignProcessToJobObject, CreateJobObjectW, JobObjectExtendedLimitInformation,
    SetInformationJobObject, JOBOBJECT_EXTENDED_LIMIT_INFORMATION,
    JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
};
use windows_sys::Win32::System::Memory::{
    CreateFileMappingW, MapViewOfFile, OpenFileMappingW, UnmapViewOfFile, VirtualQuery,
    FILE_MAP_READ, FILE_MAP_WRITE, MEMORY_BASIC_INFORMATION, MEMORY_MAPPED_VIEW_ADDRESS,
    PAGE_READWRITE, SEC_COMMIT,
};
use windows_sys::Win32::System::Threading::{
    CreateSemaphoreW, GetCurrentProcess, GetCurrentThread, GetCurrentThreadId, GetProcessTimes,
    OpenProcess, OpenThread, ReleaseSemaphore, SetThreadAffinityMask, TerminateProcess,
    WaitForSingleObject, INFINITE, PROCESS_QUERY_LIMITED_INFORMATION, PROCESS_SYNCHRONIZE,
    PROCESS_TERMINATE, THREAD_QUERY_LIMITED_INFORMATION, THREAD_SYNCHRONIZE,
};

/// Platform name, for reports.
pub const PLATFORM: &str = "windows";
/// Longest OS-level segment name, in bytes, counting a leading `/` as on POSIX.
/// Windows allows far longer object names; polyshm keeps to macOS's 31 so that a name
/// valid on one platform is valid on all.
pub const MAX_OS_NAME_LEN: usize = 31;
/// Whether waits can time out (they can: `WaitForSingleObject` takes a timeout).
pub const HAS_TIMED_WAIT: bool = true;
/// Whether a segment outlives every handle to it. On Windows it does not: a named file
/// mapping disappears when the last process holding it closes it or exits, and its
/// name cannot be removed earlier.
pub const SEGMENTS_PERSIST: bool = false;
/// The directory where segments appear as files, if any (Windows: none, file mappings live in the object manager). Tests use it
/// to reach a segment as a plain file (to truncate it, or to plant a foreign one).
pub const SEGMENT_DIR: Option<&str> = None;
/// Whether [`list_segments`] can enumerate segments (Windows: no (see [`list_segments`])).
pub const CAN_LIST_SEGMENTS: bool = false;
/// Whether the standard library offers Unix-domain sockets here. Windows 10 has
/// `AF_UNIX`, but Rust's standard library does not expose it (nor does Wine).
pub const HAS_UNIX_SOCKETS: bool = false;
/// Whether a socket read or write that times out (`SO_RCVTIMEO` / `SO_SNDTIMEO`)
/// reports exactly the bytes it moved. Windows: no. Winsock documents that after a
/// timeout "an application has no guarantees as to how much data was actually sent or
/// received", and a stream so used loses its framing: use non-blocking sockets and
/// [`wait_socket`] instead.
pub const TIMED_SOCKET_IO_IS_EXACT: bool = false;
/// Whether [`is_alive`] can judge a *thread* id from [`current_thread_id`] given as
/// `ProcessId { pid: tid, start_time: 0 }`. On Windows it can (`OpenThread`): process
/// and thread ids come from one pool, so an id is never both.
pub const THREAD_IDS_CHECKABLE: bool = true;

/// Exit code of a process that [`kill_with_parent`] ended because its parent died, or
/// that [`kill_process`] ended (137, what a shell reports for a `SIGKILL`ed process).
const KILLED_WITH_PARENT: u32 = 137;

/// Most wake-ups a [`Parker`]'s semaphore keeps pending (its maximum count).
const MAX_PENDING_WAKES: i32 = 1 << 16;

/// An owned kernel handle, closed on drop.
#[derive(Debug)]
struct Handle(HANDLE);

// SAFETY: a kernel handle is a process-wide value that any thread may use; the kernel
// objects behind ours (mappings, semaphores, processes, threads, jobs) are thread-safe.
unsafe impl Send for Handle {}
// SAFETY: as above; `&Handle` only passes the value to thread-safe kernel calls.
unsafe impl Sync for Handle {}

impl Handle {
    /// Wrap a handle returned by a Win32 call that signals failure with null.
    fn from_raw(h: HANDLE) -> io::Result<Handle> {
        if h.is_null() {
            Err(io::Error::last_os_error())
        } else {
            Ok(Handle(h))
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: `self.0` is a valid handle this value owns; nothing else closes it.
        unsafe { CloseHandle(self.0) };
    }
}

/// A NUL-terminated UTF-16 copy of `s`.
fn wide(s: &str) -> Vec<u16> {
    s.encode_utf16().chain(std::iter::once(0)).collect()
}

/// `Local\<name>`: the caller passes `polyshm.<name>`.
fn os_name(name: &str) -> Vec<u16> {
    wide(&format!("Local\\{name}"))
}

/// A mapped view of a named file mapping. Unmapped (and its handle closed) on drop.
#[derive(Debug)]
pub struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
    /// The name given at create or open (`polyshm.<name>`).
    name: String,
    _handle: Handle,
}

// SAFETY: the view is plain memory owned by this value; sharing the pointer between
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
    /// Number of mapped bytes: the size asked for at create; for a segment opened by
    /// name, the size of the view rounded up to whole pages (Windows does not keep
    /// the requested size, so polyshm's header does).
    pub fn len(&self) -> usize {
        self.len
    }
    /// Whether the mapping is empty (never true for a mapping this crate made).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether two mappings show the same segment. On Windows a name cannot be given
    /// to a new segment while a handle to the old one exists, and both mappings hold
    /// one: they show the same segment exactly when they were made under the same
    /// name (compared without regard to ASCII case, as Windows compares names).
    pub fn same_segment(&self, other: &Mapping) -> Option<bool> {
        Some(self.name.eq_ignore_ascii_case(&other.name))
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr` is the base address `MapViewOfFile` returned and nothing else
        // unmaps it; users of the pointer borrow `self`, so none outlive this drop.
        unsafe {
            UnmapViewOfFile(MEMORY_MAPPED_VIEW_ADDRESS {
                Value: self.ptr.as_ptr().cast(),
            })
        };
    }
}

/// `MapViewOfFile` of `len` bytes (0: the whole mapping) with read and write access.
fn map_view(handle: Handle, len: usize) -> io::Result<(NonNull<u8>, Handle)> {
    // SAFETY: `handle` is a valid file-mapping handle we own; the kernel picks the
    // address, so the view aliases no Rust object.
    let view = unsafe { MapViewOfFile(handle.0, FILE_MAP_READ | FILE_MAP_WRITE, 0, 0, len) };
    let ptr = NonNull::new(view.Value.cast::<u8>()).ok_or_else(io::Error::last_os_error)?;
    Ok((ptr, handle))
}

/// `CreateFileMappingW(INVALID_HANDLE_VALUE, PAGE_READWRITE | SEC_COMMIT, size,
/// "Local\<name>")` + `MapViewOfFile`: a new segment backed by the page file.
///
/// The whole size is committed against the system's commit limit now, so a segment
/// too large for the machine fails here with `StorageFull`, never later on first touch.
/// Fails with `AlreadyExists` if the name is taken (by a live segment: on Windows a
/// segment nobody holds no longer exists).
pub fn create_segment(name: &str, size: usize) -> io::Result<Mapping> {
    create_segment_with_hook(name, size, || {})
}

/// [`create_segment`], running `hook` once the mapping exists and before it is mapped
/// here (on Windows a mapping is sized when it is made: no opener sees it 0 bytes
/// long). For fault injection.
pub fn create_segment_with_hook(
    name: &str,
    size: usize,
    hook: impl FnOnce(),
) -> io::Result<Mapping> {
    if size == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "zero-length segment",
        ));
    }
    let wname = os_name(name);
    let size64 = size as u64;
    // SAFETY: `wname` is NUL-terminated and outlives the call; a null security
    // attribute pointer means "default, not inheritable".
    let (raw, err) = unsafe {
        let raw = CreateFileMappingW(
            INVALID_HANDLE_VALUE,
            std::ptr::null(),
            PAGE_READWRITE | SEC_COMMIT,
            (size64 >> 32) as u32,
            size64 as u32,
            wname.as_ptr(),
        );
        (raw, GetLastError())
    };
    if raw.is_null() {
        let os = io::Error::from_raw_os_error(err as i32);
        return Err(match err {
            ERROR_COMMITMENT_LIMIT
            | ERROR_NOT_ENOUGH_MEMORY
            | ERROR_OUTOFMEMORY
            | ERROR_DISK_FULL
            | ERROR_NO_SYSTEM_RESOURCES => io::Error::new(
                io::ErrorKind::StorageFull,
                format!("cannot commit {size} bytes of page-file-backed memory: {os}"),
            ),
            _ => os,
        });
    }
    let handle = Handle(raw);
    if err == ERROR_ALREADY_EXISTS {
        // The handle names the existing segment; dropping it leaves that one alone.
        return Err(io::Error::from_raw_os_error(ERROR_ALREADY_EXISTS as i32));
    }
    hook();
    let (ptr, handle) = map_view(handle, size)?;
    Ok(Mapping {
        ptr,
        len: size,
        name: name.to_owned(),
        _handle: handle,
    })
}

/// `Unsupported`: a Windows mapping has no modification time, and none outlives its
/// last handle (there are no leftovers to judge by age).
pub fn segment_modified(_name: &str) -> io::Result<std::time::SystemTime> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "Windows file mappings have no modification time",
    ))
}

/// `OpenFileMappingW` + `MapViewOfFile` of the whole mapping; the size comes from
/// `VirtualQuery` and is the mapping's size rounded up to whole pages.
pub fn open_segment(name: &str) -> io::Result<Mapping> {
    let wname = os_name(name);
    // SAFETY: `wname` is NUL-terminated and outlives the call.
    let handle = Handle::from_raw(unsafe {
        OpenFileMappingW(FILE_MAP_READ | FILE_MAP_WRITE, 0, wname.as_ptr())
    })?;
    let (ptr, handle) = map_view(handle, 0)?;
    // SAFETY: a plain-old-data struct for which all zeroes is a valid value.
    let mut info: MEMORY_BASIC_INFORMATION = unsafe { std::mem::zeroed() };
    // SAFETY: `info` is a writable buffer of the size we pass; `ptr` is our view.
    let got = unsafe {
        VirtualQuery(
            ptr.as_ptr().cast(),
            &mut info,
            std::mem::size_of::<MEMORY_BASIC_INFORMATION>(),
        )
    };
    let len = if got == 0 { 0 } else { info.RegionSize };
    let mapping = Mapping {
        ptr,
        len,
        name: name.to_owned(),
        _handle: handle,
    };
    if len == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "segment is empty (or its size cannot be queried)",
        ));
    }
    Ok(mapping)
}

/// On Windows a segment's name cannot be removed: it goes when the last handle to the
/// segment closes (each [`Mapping`] closes its own on drop). This only checks that the
/// segment exists: `Ok(())` if it does, `NotFound` if it does not.
pub fn unlink_segment(name: &str) -> io::Result<()> {
    let wname = os_name(name);
    // SAFETY: `wname` is NUL-terminated and outlives the call.
    Handle::from_raw(unsafe { OpenFileMappingW(FILE_MAP_READ, 0, wname.as_ptr()) }).map(drop)
}

/// `Unsupported` on Windows: named file mappings cannot be enumerated through the
/// documented Win32 API, and a segment whose owner has gone no longer exists, so there
/// is nothing left over to list or clean. Open a segment by name to inspect it.
pub fn list_segments() -> io::Result<Vec<String>> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "Windows cannot list named shared-memory segments; a segment exists only while \
         some process holds it, so none is ever left over: open one by name to inspect it",
    ))
}

/// 64-bit FNV-1a of `s`: names a parker's semaphore after its key.
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Wait/wake on a 32-bit word in shared memory, through a named kernel semaphore
/// `Local\polyshm-w.<hash of key>` (`WaitOnAddress` would be the natural choice, but
/// it works only inside one process).
///
/// The word stays the truth, as with a futex: [`wait`](Self::wait) sleeps only if
/// `*word == expected`, and a waker changes the word *before* it calls
/// [`wake`](Self::wake), which releases the semaphore. A wake that lands between the
/// waiter's check and its sleep is not lost: the semaphore keeps the count, and the
/// sleep returns at once.
///
/// Differences from a futex that callers must allow for (polyshm's semaphore and mutex
/// do):
/// - wake-ups may be spurious: a `wake(n)` when fewer than `n` are asleep leaves
///   counts that let later waits return at once (at most 65,536 are kept);
/// - every word needs its own key: words sharing a key share the semaphore, and a wake
///   meant for one may be taken by a waiter on the other (who re-checks and sleeps
///   again) while the right waiter sleeps on until its timeout. Both sides must pass
///   the same key for the same word.
#[derive(Debug)]
pub struct Parker {
    sem: Handle,
}

impl Parker {
    /// `CreateSemaphoreW(0, 65536, "Local\polyshm-w.<hash of key>")`: opens the
    /// semaphore, creating it if this is the first parker for `key`. (`polyshm-w.`
    /// cannot clash with a segment: their names all start `polyshm.`.)
    pub fn new(key: &str) -> io::Result<Parker> {
        let name = wide(&format!("Local\\polyshm-w.{:016x}", fnv1a(key)));
        // SAFETY: `name` is NUL-terminated and outlives the call; default security.
        let raw =
            unsafe { CreateSemaphoreW(std::ptr::null(), 0, MAX_PENDING_WAKES, name.as_ptr()) };
        Ok(Parker {
            sem: Handle::from_raw(raw)?,
        })
    }

    /// Sleep while `*word == expected`, up to `timeout` (rounded up to whole
    /// milliseconds): `WaitForSingleObject` on the semaphore.
    pub fn wait(&self, word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> WaitOutcome {
        if word.load(Ordering::SeqCst) != expected {
            return WaitOutcome::Woken;
        }
        let ms = match timeout {
            None => INFINITE,
            Some(t) => {
                let t = clamp_timeout(t);
                let ms = t.as_millis() + u128::from(!t.subsec_nanos().is_multiple_of(1_000_000));
                u32::try_from(ms).unwrap_or(INFINITE - 1).min(INFINITE - 1)
            }
        };
        // SAFETY: `self.sem` is a valid semaphore handle for the life of `self`.
        match unsafe { WaitForSingleObject(self.sem.0, ms) } {
            WAIT_TIMEOUT => WaitOutcome::TimedOut,
            // WAIT_OBJECT_0, or a failure: the caller re-checks its word either way.
            WAIT_OBJECT_0 => WaitOutcome::Woken,
            _ => WaitOutcome::Woken,
        }
    }

    /// Release the semaphore `count` times (at most 65,536): wakes up to `count`
    /// sleepers, or lets as many later waits return at once. Returns how many
    /// releases were made.
    pub fn wake(&self, _word: &AtomicU32, count: u32) -> usize {
        let n = count.min(MAX_PENDING_WAKES as u32) as i32;
        if n == 0 {
            return 0;
        }
        // SAFETY: valid semaphore handle; a null previous-count pointer is allowed.
        if unsafe { ReleaseSemaphore(self.sem.0, n, std::ptr::null_mut()) } != 0 {
            return n as usize;
        }
        // The maximum count would be passed: as many wakes as fit are pending already.
        let mut done = 0;
        // SAFETY: as above.
        while done < n && unsafe { ReleaseSemaphore(self.sem.0, 1, std::ptr::null_mut()) } != 0 {
            done += 1;
        }
        done as usize
    }
}

/// `GetCurrentThreadId()`: a system-wide unique id of the calling thread (never equal
/// to a live process id: both come from one pool).
pub fn current_thread_id() -> u32 {
    // SAFETY: no preconditions.
    unsafe { GetCurrentThreadId() }
}

/// Creation time of the process behind `h`, in 100 ns units since 1601.
fn creation_time(h: &Handle) -> Option<u64> {
    let zero = FILETIME {
        dwLowDateTime: 0,
        dwHighDateTime: 0,
    };
    let (mut created, mut exited, mut kernel, mut user) = (zero, zero, zero, zero);
    // SAFETY: `h` is a process handle with query rights; the four out-pointers are
    // distinct, writable FILETIMEs.
    let ok = unsafe { GetProcessTimes(h.0, &mut created, &mut exited, &mut kernel, &mut user) };
    (ok != 0).then(|| u64::from(created.dwHighDateTime) << 32 | u64::from(created.dwLowDateTime))
}

/// Whether the process or thread object behind `h` has ended (its handle signals).
fn has_ended(h: &Handle) -> bool {
    // SAFETY: `h` was opened with SYNCHRONIZE; a zero timeout only polls.
    unsafe { WaitForSingleObject(h.0, 0) == WAIT_OBJECT_0 }
}

/// `OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION | SYNCHRONIZE, pid)`.
fn open_process(pid: u32) -> io::Result<Handle> {
    // SAFETY: plain call; the result is checked for null.
    Handle::from_raw(unsafe {
        OpenProcess(
            PROCESS_QUERY_LIMITED_INFORMATION | PROCESS_SYNCHRONIZE,
            0,
            pid,
        )
    })
}

/// `TerminateProcess(id, 137)`: end process `id` at once (Windows' `kill -9`).
/// Answers `NotFound` if `id` is not alive (a pid reused by a newer process, or a
/// process that has ended, is left alone).
pub fn kill_process(id: ProcessId) -> io::Result<()> {
    let not_found = || io::Error::new(io::ErrorKind::NotFound, format!("no live process {id}"));
    // SAFETY: plain call; the result is checked for null.
    let h = Handle::from_raw(unsafe {
        OpenProcess(
            PROCESS_TERMINATE | PROCESS_QUERY_LIMITED_INFORMATION | PROCESS_SYNCHRONIZE,
            0,
            id.pid,
        )
    })
    .map_err(|e| match e.kind() {
        io::ErrorKind::PermissionDenied => e,
        _ => not_found(),
    })?;
    if id.pid == 0
        || has_ended(&h)
        || (id.start_time != 0 && creation_time(&h).is_some_and(|t| t != id.start_time))
    {
        return Err(not_found());
    }
    // SAFETY: `h` was opened with PROCESS_TERMINATE.
    if unsafe { TerminateProcess(h.0, KILLED_WITH_PARENT) } == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// This process: its pid and its creation time (`GetProcessTimes`, 100 ns units since
/// 1601), read once.
pub fn current_process() -> ProcessId {
    static ME: OnceLock<ProcessId> = OnceLock::new();
    *ME.get_or_init(|| {
        // The pseudo-handle of the current process needs no closing: wrap it only
        // for the query and forget the wrapper.
        // SAFETY: GetCurrentProcess has no preconditions.
        let me = std::mem::ManuallyDrop::new(Handle(unsafe { GetCurrentProcess() }));
        ProcessId {
            pid: std::process::id(),
            start_time: creation_time(&me).unwrap_or(0),
        }
    })
}

/// Whether `id` names a live process: it can be opened, has not ended (a process
/// object outlives its process while handles to it remain), and was created at
/// `id.start_time` (a reused pid belongs to a newer process and counts as dead).
///
/// With `start_time == 0` the id may also be a *thread* id from
/// [`current_thread_id`] (the robust mutex judges a holder by its thread id while the
/// holder's record is incomplete): an id that names no process but a live thread
/// counts as alive. A process that exists but may not be opened (another user's)
/// counts as alive.
pub fn is_alive(id: ProcessId) -> bool {
    if id.pid == 0 {
        return false;
    }
    match open_process(id.pid) {
        Ok(h) => {
            !has_ended(&h)
                && (id.start_time == 0 || creation_time(&h).is_none_or(|t| t == id.start_time))
        }
        Err(e) if e.raw_os_error() == Some(ERROR_ACCESS_DENIED as i32) => true,
        Err(_) if id.start_time == 0 => thread_alive(id.pid),
        Err(_) => false,
    }
}

/// Whether a thread with id `tid` exists and has not ended.
fn thread_alive(tid: u32) -> bool {
    // SAFETY: plain call; the result is checked for null.
    let raw = unsafe {
        OpenThread(
            THREAD_QUERY_LIMITED_INFORMATION | THREAD_SYNCHRONIZE,
            0,
            tid,
        )
    };
    match Handle::from_raw(raw) {
        Ok(h) => !has_ended(&h),
        Err(e) => e.raw_os_error() == Some(ERROR_ACCESS_DENIED as i32),
    }
}

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

/// End the calling process when `parent` ends, however it ends (killed included).
///
/// Windows has no parent-death signal: this opens the parent (checking its creation
/// time) and starts a thread that waits on its handle and then calls
/// `TerminateProcess` on this process (exit code 137). Call it in a child right after
/// it starts; it returns `Ok(false)` if the parent is already gone.
///
/// The parent should also call [`adopt_child`] on the child, which covers the moment
/// before the child gets this far (and children the child starts itself).
pub fn kill_with_parent(parent: ProcessId) -> io::Result<bool> {
    let h = match open_process(parent.pid) {
        Ok(h) => h,
        Err(e) if e.raw_os_error() == Some(ERROR_ACCESS_DENIED as i32) => return Err(e),
        Err(_) => return Ok(false),
    };
    if has_ended(&h)
        || (parent.start_time != 0 && creation_time(&h).is_some_and(|t| t != parent.start_time))
    {
        return Ok(false);
    }
    std::thread::Builder::new()
        .name("polyshm-parent-watch".into())
        .spawn(move || {
            let h = h; // own the whole handle (closed if the wait ever fails)
                       // SAFETY: `h` is a process handle opened with SYNCHRONIZE, owned by this
                       // thread; INFINITE waits until the parent ends.
            if unsafe { WaitForSingleObject(h.0, INFINITE) } == WAIT_OBJECT_0 {
                // SAFETY: terminating our own process through its pseudo-handle.
                unsafe { TerminateProcess(GetCurrentProcess(), KILLED_WITH_PARENT) };
            }
        })?;
    Ok(true)
}

/// The job object this process puts its children in: `JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE`,
/// its one handle never inherited and never closed, so that when this process ends,
/// however it ends, the kernel closes the handle and kills every process in the job.
fn kill_on_close_job() -> io::Result<&'static Handle> {
    static JOB: OnceLock<Handle> = OnceLock::new();
    if let Some(job) = JOB.get() {
        return Ok(job);
    }
    // SAFETY: null attributes (not inheritable) and no name: a private job object.
    let job = Handle::from_raw(unsafe { CreateJobObjectW(std::ptr::null(), std::ptr::null()) })?;
    // SAFETY: a plain-old-data struct for which all zeroes is a valid value.
    let mut info: JOBOBJECT_EXTENDED_LIMIT_INFORMATION = unsafe { std::mem::zeroed() };
    info.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
    // SAFETY: `info` is the structure this information class expects, with its size.
    let ok = unsafe {
        SetInformationJobObject(
            job.0,
            JobObjectExtendedLimitInformation,
            (&info as *const JOBOBJECT_EXTENDED_LIMIT_INFORMATION).cast(),
            std::mem::size_of::<JOBOBJECT_EXTENDED_LIMIT_INFORMATION>() as u32,
        )
    };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    // Two threads may race here: the loser's job is closed unused.
    Ok(JOB.get_or_init(|| job))
}

/// Tie `child` to this process's life: the parent's half of "drones end with the
/// master". Call it right after spawning each drone.
///
/// On Windows it assigns the child to a job object with
/// `JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE` that this process holds: when this process
/// ends, however it ends, every process in the job is killed, and so are processes the
/// child starts (they join its job). On Linux and macOS it does nothing: the child's
/// own [`kill_with_parent`] does the work there. Call both.
pub fn adopt_child(child: &std::process::Child) -> io::Result<()> {
    use std::os::windows::io::AsRawHandle;
    let job = kill_on_close_job()?;
    // SAFETY: both handles are valid: the job is ours for ever, and `child` owns its
    // process handle for the duration of the borrow.
    if unsafe { AssignProcessToJobObject(job.0, child.as_raw_handle() as HANDLE) } == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `WSAPoll`: wait at most `timeout` (rounded up to whole milliseconds) until `socket`
/// is readable (or, with `writable`, writable); answers whether it is. An error or
/// hang-up counts as ready (the next read or write reports it).
pub fn wait_socket(
    socket: &std::net::TcpStream,
    writable: bool,
    timeout: Duration,
) -> io::Result<bool> {
    use std::os::windows::io::AsRawSocket;
    use windows_sys::Win32::Networking::WinSock::{WSAPoll, POLLRDNORM, POLLWRNORM, WSAPOLLFD};
    let t = clamp_timeout(timeout);
    let ms = t.as_millis() + u128::from(!t.subsec_nanos().is_multiple_of(1_000_000));
    let mut fd = WSAPOLLFD {
        fd: socket.as_raw_socket() as usize,
        events: if writable { POLLWRNORM } else { POLLRDNORM },
        revents: 0,
    };
    // SAFETY: one valid WSAPOLLFD for a socket `socket` keeps open during the call.
    let n = unsafe { WSAPoll(&mut fd, 1, i32::try_from(ms).unwrap_or(i32::MAX)) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n > 0)
}
