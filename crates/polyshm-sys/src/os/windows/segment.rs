//! Named shared-memory segments: page-file-backed file mappings
//! (`CreateFileMappingW` + `MapViewOfFile`), named `Local\polyshm.<name>`.

use super::handle::{wide, Handle};
use std::io;
use std::ptr::NonNull;
use windows_sys::Win32::Foundation::{
    GetLastError, ERROR_ALREADY_EXISTS, ERROR_COMMITMENT_LIMIT, ERROR_DISK_FULL,
    ERROR_NOT_ENOUGH_MEMORY, ERROR_NO_SYSTEM_RESOURCES, ERROR_OUTOFMEMORY, INVALID_HANDLE_VALUE,
};
use windows_sys::Win32::System::Memory::{
    CreateFileMappingW, MapViewOfFile, OpenFileMappingW, UnmapViewOfFile, VirtualQuery,
    FILE_MAP_READ, FILE_MAP_WRITE, MEMORY_BASIC_INFORMATION, MEMORY_MAPPED_VIEW_ADDRESS,
    PAGE_READWRITE, SEC_COMMIT,
};

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
/// documented Win32 API. polyshm keeps its own per-user index of the segments it makes
/// instead, in [`segment_index_dir`].
pub fn list_segments() -> io::Result<Vec<String>> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "Windows cannot enumerate named file mappings; polyshm lists the segments its \
         creators entered in the per-user index (%LOCALAPPDATA%\\polyshm\\segments)",
    ))
}

/// `%LOCALAPPDATA%\polyshm\segments`, created if missing: the per-user folder where
/// polyshm keeps its index of segments (one file per segment, written by its creator),
/// since Windows cannot enumerate file mappings. `%LOCALAPPDATA%` is the user's own
/// (other users cannot write there by default).
pub fn segment_index_dir() -> io::Result<std::path::PathBuf> {
    let base = std::env::var_os("LOCALAPPDATA").ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            "LOCALAPPDATA is not set; polyshm keeps its index of segments under it: \
             set it to the user's local application-data folder",
        )
    })?;
    let dir = std::path::Path::new(&base).join("polyshm").join("segments");
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
