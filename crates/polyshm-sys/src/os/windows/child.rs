//! A child ends when its parent ends, however the parent ends: a watcher thread in the
//! child ([`kill_with_parent`]) and a kill-on-close job object in the parent
//! ([`adopt_child`]).

use super::handle::Handle;
use super::process::{creation_time, has_ended, open_process, KILLED_WITH_PARENT};
use crate::ProcessId;
use std::io;
use std::sync::OnceLock;
use windows_sys::Win32::Foundation::{
    ERROR_ACCESS_DENIED, ERROR_INTERNAL_ERROR, HANDLE, WAIT_OBJECT_0,
};
use windows_sys::Win32::System::JobObjects::{
    AssignProcessToJobObject, CreateJobObjectW, JobObjectExtendedLimitInformation,
    SetInformationJobObject, JOBOBJECT_EXTENDED_LIMIT_INFORMATION,
    JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
};
use windows_sys::Win32::System::Threading::{
    GetCurrentProcess, TerminateProcess, WaitForSingleObject, INFINITE,
};

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

/// Whether a failed process start (`CreateProcessW`) may succeed if tried again:
/// `ERROR_INTERNAL_ERROR` (1359), which Wine answers when the new process ended before
/// its start-up finished (its `get_new_process_info` reports no success and no exit
/// code), before any of the child's own code ran. Seen in CI under Wine 8.0 on a loaded
/// machine; a second start of the same command succeeded.
pub fn start_failure_is_transient(e: &io::Error) -> bool {
    e.raw_os_error() == Some(ERROR_INTERNAL_ERROR as i32)
}
