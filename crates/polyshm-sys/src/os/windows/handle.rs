//! Owned kernel handles and NUL-terminated UTF-16 strings for Win32 calls.

use std::io;
use windows_sys::Win32::Foundation::{CloseHandle, HANDLE};

/// An owned kernel handle, closed on drop.
#[derive(Debug)]
pub(super) struct Handle(pub(super) HANDLE);

// SAFETY: a kernel handle is a process-wide value that any thread may use; the kernel
// objects behind ours (mappings, semaphores, processes, threads, jobs) are thread-safe.
unsafe impl Send for Handle {}
// SAFETY: as above; `&Handle` only passes the value to thread-safe kernel calls.
unsafe impl Sync for Handle {}

impl Handle {
    /// Wrap a handle returned by a Win32 call that signals failure with null.
    pub(super) fn from_raw(h: HANDLE) -> io::Result<Handle> {
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
pub(super) fn wide(s: &str) -> Vec<u16> {
    s.encode_utf16().chain(std::iter::once(0)).collect()
}
