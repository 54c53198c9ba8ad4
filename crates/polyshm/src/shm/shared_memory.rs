//! [`SharedMemory`]: the study's class of the same name, a handle on a [`Segment`].

use super::header::{HeaderWords, FLAG_PERSISTENT, LOCK_OFFSET};
use super::remote_mutex::{OwnerDied, RemoteMutex, RemoteMutexGuard, TryLockError};
use super::segment::Segment;
use super::{registry, ShmError};
use crate::sync::WaitStrategy;
use polyshm_sys::ProcessId;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A named segment of shared memory that several processes map (the study's
/// `SharedMemory`: name, size, accessLock, baseAddress, handle).
///
/// The creator ([`create`](Self::create)) owns the segment and removes its name when
/// the handle drops; clients ([`open`](Self::open)) never do. The data region holds
/// [`len`](Self::len) bytes after a header (see [`header`](super::header)).
/// [`read_at`](Self::read_at) and [`write_at`](Self::write_at) are unprotected, as in
/// the study; [`lock`](Self::lock) takes the segment's access lock, a robust
/// [`RemoteMutex`] in the header.
///
/// Other processes may write the bytes at any time: treat everything read as
/// untrusted, and guard shared updates with the lock.
///
/// ```
/// # fn main() -> Result<(), polyshm::shm::ShmError> {
/// use polyshm::shm::SharedMemory;
/// let name = polyshm::shm::unique_name("doc");
/// let owner = SharedMemory::create(&name, 4096)?;
/// owner.write_at(0, b"hello")?;
/// let client = SharedMemory::open(&name)?;
/// let mut buf = [0u8; 5];
/// client.read_at(0, &mut buf)?;
/// assert_eq!(&buf, b"hello");
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct SharedMemory {
    pub(crate) seg: Arc<Segment>,
    access_lock: RemoteMutex,
}

impl SharedMemory {
    fn wrap(seg: Segment) -> Result<SharedMemory, ShmError> {
        let seg = Arc::new(seg);
        // SAFETY: LOCK_OFFSET is inside the header (checked at create/open), 64-aligned
        // in a page-aligned mapping, and `seg` is kept alive by the mutex handle.
        let access_lock = unsafe {
            RemoteMutex::at(seg.clone(), seg.map.as_ptr().add(LOCK_OFFSET), LOCK_OFFSET)?
        };
        Ok(SharedMemory { seg, access_lock })
    }

    /// Create a segment of `size` data bytes, owned by this process (mode 0600).
    ///
    /// The pages are reserved now: a full `/dev/shm` is a [`ShmError::NoSpace`] here,
    /// never a crash later. Where the system cannot list segments (Windows, macOS) the
    /// segment is entered in polyshm's per-user index until this process lets it go
    /// (see [`admin`](super::admin)).
    pub fn create(name: &str, size: usize) -> Result<SharedMemory, ShmError> {
        Self::wrap(Segment::create(name, size, |_| {})?)
    }

    /// [`create`](Self::create), with `init` run on the start of the data region
    /// (`size` zeroed bytes, 64-byte aligned) before the segment can be opened by
    /// anyone: what `init` writes is there when an opener first sees the segment.
    pub(crate) fn create_initialised(
        name: &str,
        size: usize,
        init: impl FnOnce(*mut u8),
    ) -> Result<SharedMemory, ShmError> {
        Self::wrap(Segment::create(name, size, init)?)
    }

    /// Open an existing segment as a client; checks its header.
    pub fn open(name: &str) -> Result<SharedMemory, ShmError> {
        Self::wrap(Segment::open(name)?)
    }

    /// Open the segment if it exists (it must hold at least `size` bytes), else
    /// create it.
    pub fn open_or_create(name: &str, size: usize) -> Result<SharedMemory, ShmError> {
        match Self::create(name, size) {
            Err(ShmError::AlreadyExists { .. }) => {
                let m = Self::open(name)?;
                if m.len() < size {
                    return Err(ShmError::TooSmall {
                        name: name.into(),
                        requested: size,
                        found: m.len(),
                    });
                }
                Ok(m)
            }
            other => other,
        }
    }

    /// Whether the segment's name still refers to this segment (not removed, nor
    /// made again since): one `open` of the name, no waiting.
    pub(crate) fn is_current(&self) -> bool {
        self.seg.is_current()
    }

    /// The segment's name (without the OS prefix).
    pub fn name(&self) -> &str {
        &self.seg.name
    }

    /// Bytes in the data region.
    pub fn len(&self) -> usize {
        self.seg.data_len()
    }

    /// Whether the data region is empty (never: sizes are at least 1).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether this handle created the segment (and will remove it on drop, unless
    /// [`persist`](Self::persist) was called).
    pub fn is_owner(&self) -> bool {
        self.seg.owner.load(Ordering::Acquire)
    }

    fn flags_word(&self) -> &AtomicU32 {
        // SAFETY: every mapping holds the header (checked at create/open), 64 bytes of
        // words in a page-aligned mapping that outlives `&self`; other processes and
        // this one write them only through atomics.
        &unsafe { HeaderWords::at(self.seg.map.as_ptr()) }.flags
    }

    /// Make the segment outlive this process: set [`FLAG_PERSISTENT`] in its header
    /// and give up ownership, so that no handle removes it on drop. It then stays
    /// until removed by name (`polyshm shm rm`, [`admin::remove`](super::admin::remove));
    /// [`admin::clean`](super::admin::clean) leaves it alone although its creator is
    /// dead. `polyshm shm create` uses this.
    ///
    /// Where segments do not outlive their handles (Windows: see
    /// [`SEGMENTS_PERSIST`](polyshm_sys::SEGMENTS_PERSIST)), it only gives up ownership:
    /// the segment still goes when the last process that maps it closes it.
    pub fn persist(&self) {
        self.flags_word()
            .fetch_or(FLAG_PERSISTENT, Ordering::AcqRel);
        self.seg.owner.store(false, Ordering::Release);
    }

    /// Whether the segment is marked persistent (see [`persist`](Self::persist)).
    pub fn is_persistent(&self) -> bool {
        self.flags_word().load(Ordering::Acquire) & FLAG_PERSISTENT != 0
    }

    /// The process that created the segment.
    pub fn owner(&self) -> ProcessId {
        self.seg.header.owner
    }

    /// Offset of the data region from the start of the mapping (128 in layout 1).
    pub fn data_offset(&self) -> usize {
        self.seg.header.data_offset as usize
    }

    /// Copy `buf.len()` bytes from the data region at `offset` (unprotected).
    ///
    /// The bytes are a snapshot: another process may be writing them meanwhile, and
    /// then some are old and some new (see the trust model in [`shm`](super)).
    /// Refuses a range that covers a semaphore or mutex placed with `in_segment`
    /// ([`ShmError::Reserved`]).
    pub fn read_at(&self, offset: usize, buf: &mut [u8]) -> Result<(), ShmError> {
        self.seg.check_access(offset, buf.len())?;
        // SAFETY: the range is inside the data region (checked) and the mapping lives
        // as long as `self`; `buf` is this process's own memory, so they do not
        // overlap. No Rust reference of this process covers the source: views borrow
        // `self` exclusively, and sync blocks are refused above. Another process may
        // write the bytes meanwhile; the copy then holds some mix of old and new bytes,
        // which `u8` can hold (the trust model: wrong data, never UB in this process's
        // references).
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.seg.data_ptr().add(offset),
                buf.as_mut_ptr(),
                buf.len(),
            )
        };
        Ok(())
    }

    /// Copy `data` into the data region at `offset` (unprotected). Refuses a range
    /// that covers a semaphore or mutex placed with `in_segment`
    /// ([`ShmError::Reserved`]).
    pub fn write_at(&self, offset: usize, data: &[u8]) -> Result<(), ShmError> {
        self.seg.check_access(offset, data.len())?;
        // SAFETY: in bounds and not overlapping `data` (this process's own memory), as
        // in `read_at`. No Rust reference of this process covers the destination:
        // `view`/`view_mut` borrow `self` exclusively, so none lives during this
        // `&self` call, and the atomics of sync blocks are refused above.
        unsafe {
            std::ptr::copy_nonoverlapping(
                data.as_ptr(),
                self.seg.data_ptr().add(offset),
                data.len(),
            )
        };
        Ok(())
    }

    /// Copy `out.len()` values of plain-old-data type `T` from `offset` (any offset:
    /// no alignment needed). A safe typed read, as [`read_at`](Self::read_at).
    pub fn read_into<T: bytemuck::Pod>(
        &self,
        offset: usize,
        out: &mut [T],
    ) -> Result<(), ShmError> {
        self.read_at(offset, bytemuck::cast_slice_mut(out))
    }

    /// `count` values of plain-old-data type `T` copied out from `offset`.
    pub fn copy_out<T: bytemuck::Pod>(
        &self,
        offset: usize,
        count: usize,
    ) -> Result<Vec<T>, ShmError> {
        let bytes = count.saturating_mul(std::mem::size_of::<T>());
        self.seg.check_access(offset, bytes)?;
        let mut out = vec![T::zeroed(); count];
        self.read_into(offset, &mut out)?;
        Ok(out)
    }

    /// Copy the values `data` to `offset` (any offset). A safe typed write, as
    /// [`write_at`](Self::write_at).
    pub fn write_from<T: bytemuck::Pod>(&self, offset: usize, data: &[T]) -> Result<(), ShmError> {
        self.write_at(offset, bytemuck::cast_slice(data))
    }

    fn check_view<T: bytemuck::Pod>(
        &self,
        offset: usize,
        count: usize,
    ) -> Result<*mut T, ShmError> {
        let bytes =
            count
                .checked_mul(std::mem::size_of::<T>())
                .ok_or_else(|| ShmError::OutOfBounds {
                    name: self.seg.name.clone(),
                    offset,
                    len: usize::MAX,
                    size: self.seg.data_len(),
                })?;
        self.seg.check_access(offset, bytes)?;
        let align = std::mem::align_of::<T>();
        let ptr = self.seg.data_ptr().wrapping_add(offset);
        if !(ptr as usize).is_multiple_of(align) {
            return Err(ShmError::Misaligned {
                name: self.seg.name.clone(),
                offset,
                align,
            });
        }
        Ok(ptr.cast())
    }

    /// A view in place of `count` values of plain-old-data type `T` at `offset`: a
    /// hand-over from the protocol (see the trust model in [`shm`](super)). Copy with
    /// [`read_into`](Self::read_into) / [`copy_out`](Self::copy_out) when there is
    /// none.
    ///
    /// Inside this process the view is safe by construction: it borrows the handle
    /// exclusively (no `write_at` through it while the view lives), and a range that
    /// covers a semaphore or mutex placed with `in_segment` is refused
    /// ([`ShmError::Reserved`]).
    ///
    /// # Safety
    /// While the view lives, no other process, and no other handle of this process to
    /// the same segment, may write these bytes: the protocol must hand them over (as
    /// the team's mailbox does after its semaphore). A write meanwhile is a data race
    /// under a Rust reference: undefined behaviour, not merely a torn value.
    pub unsafe fn view<T: bytemuck::Pod>(
        &mut self,
        offset: usize,
        count: usize,
    ) -> Result<&[T], ShmError> {
        let ptr = self.check_view::<T>(offset, count)?;
        // SAFETY: in bounds, aligned and clear of sync blocks (checked); the mapping
        // outlives the borrow of `self`, which is exclusive, so no write of this handle
        // happens while the slice lives; `T: Pod` accepts any bytes; other writers are
        // excluded by the caller's hand-over (the function's contract).
        Ok(unsafe { std::slice::from_raw_parts(ptr, count) })
    }

    /// A mutable view in place of `count` values of plain-old-data type `T` at
    /// `offset`: a hand-over from the protocol, as [`view`](Self::view). Copy with
    /// [`write_from`](Self::write_from) when there is none.
    ///
    /// # Safety
    /// While the view lives, no other process, and no other handle of this process to
    /// the same segment, may read or write these bytes (the protocol hands them over).
    pub unsafe fn view_mut<T: bytemuck::Pod>(
        &mut self,
        offset: usize,
        count: usize,
    ) -> Result<&mut [T], ShmError> {
        let ptr = self.check_view::<T>(offset, count)?;
        // SAFETY: as in `view`; `&mut self` makes this the only access of this handle
        // while the slice lives, and other accessors are excluded by the contract.
        Ok(unsafe { std::slice::from_raw_parts_mut(ptr, count) })
    }

    /// Raw pointer to the first data byte, for code that manages its own layout (the
    /// team's mailboxes). Valid while `self` lives; [`len`](Self::len) bytes. Other
    /// processes write these bytes: go through atomics or copies, and form a reference
    /// only across a hand-over (see the trust model in [`shm`](super)).
    pub fn as_ptr(&self) -> *mut u8 {
        self.seg.data_ptr()
    }

    /// Take the access lock (the study's `accessLock`), waiting as long as it takes.
    ///
    /// `Err(OwnerDied)` still holds the lock: the previous holder died in its critical
    /// section, so the data may be half-written.
    pub fn lock(&self) -> Result<RemoteMutexGuard<'_>, OwnerDied<RemoteMutexGuard<'_>>> {
        self.access_lock.lock()
    }

    /// Take the access lock, waiting at most `timeout`.
    pub fn lock_timeout(
        &self,
        timeout: Duration,
    ) -> Result<RemoteMutexGuard<'_>, TryLockError<RemoteMutexGuard<'_>>> {
        self.access_lock.lock_timeout(timeout)
    }

    /// Choose how lockers of this handle wait.
    pub fn set_wait_strategy(&mut self, strategy: WaitStrategy) {
        self.access_lock.set_wait_strategy(strategy);
    }

    /// Everything the process-wide registry knows (the study's `Registry`).
    pub fn registry() -> Vec<registry::Entry> {
        registry::entries()
    }
}
