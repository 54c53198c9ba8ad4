//! Process identity that a reused pid does not fool (pid plus creation time),
//! liveness of processes and threads, and `TerminateProcess`.

use super::handle::Handle;
use crate::ProcessId;
use std::io;
use std::sync::OnceLock;
use windows_sys::Win32::Foundation::{ERROR_ACCESS_DENIED, FILETIME, WAIT_OBJECT_0};
use windows_sys::Win32::System::Threading::{
    GetCurrentProcess, GetCurrentThreadId, GetProcessTimes, OpenProcess, OpenThread,
    TerminateProcess, WaitForSingleObject, PROCESS_QUERY_LIMITED_INFORMATION, PROCESS_SYNCHRONIZE,
    PROCESS_TERMINATE, THREAD_QUERY_LIMITED_INFORMATION, THREAD_SYNCHRONIZE,
};

/// Exit code of a process that [`kill_with_parent`](super::kill_with_parent) ended
/// because its parent died, or that [`kill_process`] ended (137, what a shell reports
/// for a `SIGKILL`ed process).
pub(super) const KILLED_WITH_PARENT: u32 = 137;

/// `GetCurrentThreadId()`: a system-wide unique id of the calling thread (never equal
/// to a live process id: both come from one pool).
pub fn current_thread_id() -> u32 {
    // SAFETY: no preconditions.
    unsafe { GetCurrentThreadId() }
}

/// Creation time of the process behind `h`, in 100 ns units since 1601.
pub(super) fn creation_time(h: &Handle) -> Option<u64> {
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
pub(super) fn has_ended(h: &Handle) -> bool {
    // SAFETY: `h` was opened with SYNCHRONIZE; a zero timeout only polls.
    unsafe { WaitForSingleObject(h.0, 0) == WAIT_OBJECT_0 }
}

/// `OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION | SYNCHRONIZE, pid)`.
pub(super) fn open_process(pid: u32) -> io::Result<Handle> {
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
