//! Errors of the shared-memory layer.

use crate::sync::LockError;

/// Failure of a [`SharedMemory`](super::SharedMemory) operation. Each message says
/// what was asked, what was found, and what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShmError {
    /// The name breaks the naming rules (see [`shm::name`](super::name)).
    #[error("bad segment name {name:?}: {reason}")]
    InvalidName {
        /// The name given.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No segment has this name.
    #[error("no shared-memory segment named {name:?}; check the name, or create it first (`polyshm shm ls` lists them)")]
    NotFound {
        /// The name given.
        name: String,
    },
    /// `create` found the name taken.
    #[error("a segment named {name:?} already exists; open it, pick another name, or remove it (`polyshm shm rm {name}`)")]
    AlreadyExists {
        /// The name given.
        name: String,
    },
    /// The segment exists but was not made by polyshm (its magic is wrong).
    #[error("segment {name:?} is not a polyshm segment (it does not start with the polyshm magic); it belongs to another program: leave it alone or choose another name")]
    NotPolyshm {
        /// The name given.
        name: String,
    },
    /// The segment exists but its creator has not finished making it: it is still 0
    /// bytes long or has no header yet (its creator is mid-way, or died mid-way).
    #[error("segment {name:?} exists but its creator has not finished making it (no polyshm header after waiting {waited:?}); try again, or, if its creator died, `polyshm shm clean` removes it once it has been left unfinished for 30 s")]
    NotReady {
        /// The name given.
        name: String,
        /// How long this call waited for the header.
        waited: std::time::Duration,
    },
    /// Made by a polyshm with another layout.
    #[error("segment {name:?} has layout version {found}, this polyshm reads version {expected}; use the same polyshm version on both sides")]
    IncompatibleVersion {
        /// The name given.
        name: String,
        /// Version in the header.
        found: u32,
        /// Version this build reads.
        expected: u32,
    },
    /// The mapping is shorter than its header says.
    #[error("segment {name:?} holds {actual} bytes, but its header says it needs {needed}; it was truncated or its header overwritten: remove it and create it again")]
    Truncated {
        /// The name given.
        name: String,
        /// Bytes the header promises (data offset + size).
        needed: u64,
        /// Bytes actually there.
        actual: u64,
    },
    /// The header holds values no polyshm writes.
    #[error("segment {name:?} has a corrupt header: {what}; another process may have written over it: remove it and create it again")]
    Corrupt {
        /// The name given.
        name: String,
        /// What is wrong.
        what: String,
    },
    /// A size of zero was asked for.
    #[error("segment {name:?}: a size of 0 bytes was asked for; ask for at least 1")]
    ZeroSize {
        /// The name given.
        name: String,
    },
    /// There is no room for a segment of this size.
    #[error("segment {name:?}: no room for {requested} bytes of shared memory ({detail}); ask for less, or free space (`polyshm shm clean`, or remove old segments)")]
    NoSpace {
        /// The name given.
        name: String,
        /// Bytes asked for.
        requested: u64,
        /// What the system said.
        detail: String,
    },
    /// The operating system refused access.
    #[error("segment {name:?}: permission denied; it belongs to another user (polyshm segments are mode 0600)")]
    PermissionDenied {
        /// The name given.
        name: String,
    },
    /// An access past the end of the data region.
    #[error("segment {name:?} holds {size} bytes; an access of {len} bytes at offset {offset} does not fit: create it larger or let the team grow it")]
    OutOfBounds {
        /// The name.
        name: String,
        /// Offset asked for.
        offset: usize,
        /// Length asked for.
        len: usize,
        /// Size of the data region.
        size: usize,
    },
    /// An access that covers the words of a [`RemoteSemaphore`](super::RemoteSemaphore)
    /// or [`RemoteMutex`](super::RemoteMutex) this process placed in the segment with
    /// `in_segment`, or the claim table of a shared array or matrix
    /// ([`objects`](crate::objects)) open in this process: those are atomics that
    /// other processes change at any time.
    #[error("segment {name:?}: the access of {len} bytes at offset {offset} covers the semaphore, mutex or claim table placed at offset {reserved_at} (atomics other processes change at any time); read and write around it, or drop its handle first")]
    Reserved {
        /// The name.
        name: String,
        /// Offset asked for.
        offset: usize,
        /// Length asked for.
        len: usize,
        /// Offset of the semaphore or mutex in the way.
        reserved_at: usize,
    },
    /// A typed view at an offset the type cannot sit at.
    #[error("segment {name:?}: offset {offset} is not a multiple of {align}, the alignment of the element type")]
    Misaligned {
        /// The name.
        name: String,
        /// Offset asked for.
        offset: usize,
        /// Alignment the type needs.
        align: usize,
    },
    /// `open_or_create` found an existing segment smaller than asked for.
    #[error("segment {name:?} exists with {found} bytes, smaller than the {requested} asked for; remove it or ask for at most {found}")]
    TooSmall {
        /// The name.
        name: String,
        /// Size asked for.
        requested: usize,
        /// Size found.
        found: usize,
    },
    /// The access lock could not be taken (it timed out).
    #[error("segment {name:?}: {source}")]
    Lock {
        /// The name.
        name: String,
        /// Why.
        source: LockError,
    },
    /// The segment cannot be removed while processes hold it: on Windows a segment
    /// goes only when the last process holding it closes it or exits, and its name
    /// cannot be taken away earlier.
    #[error("segment {name:?} cannot be removed while a process holds it: on {platform} a segment goes only when the last process holding it closes it or exits ({owner}); end the processes that use it, then `polyshm shm clean` drops its index entry")]
    StillHeld {
        /// The name given.
        name: String,
        /// The platform (`"windows"`).
        platform: &'static str,
        /// Its creator, and whether it lives (`"its creator, pid 42, has died"`).
        owner: String,
    },
    /// The platform cannot do this at all (e.g. list segments on Windows or macOS).
    #[error("{op} is not possible on this platform: {detail}")]
    Unsupported {
        /// What was being done.
        op: &'static str,
        /// What the platform layer said.
        detail: String,
    },
    /// Some other operating-system error.
    #[error("segment {name:?}: {op} failed: {source}")]
    Io {
        /// The name.
        name: String,
        /// What was being done.
        op: &'static str,
        /// The system's error.
        source: std::io::Error,
    },
}

impl ShmError {
    pub(crate) fn from_io(name: &str, op: &'static str, e: std::io::Error) -> ShmError {
        use std::io::ErrorKind as K;
        let name = name.to_owned();
        match e.kind() {
            K::NotFound => ShmError::NotFound { name },
            K::AlreadyExists => ShmError::AlreadyExists { name },
            K::PermissionDenied => ShmError::PermissionDenied { name },
            K::Unsupported => ShmError::Unsupported {
                op,
                detail: e.to_string(),
            },
            _ => ShmError::Io {
                name,
                op,
                source: e,
            },
        }
    }
}
