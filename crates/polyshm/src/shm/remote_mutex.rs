//! [`RemoteMutex`]: a robust mutex placed in a segment.

use super::segment::{Segment, SYNC_BLOCK};
use super::SharedMemory;
use super::ShmError;
use crate::sync::{LockError, MutexState, Parker, WaitStrategy};
use polyshm_sys::ProcessId;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::Arc;
use std::time::Duration;

/// The lock was taken from a holder that died holding it. The guard inside holds the
/// lock; the data it protects may be half-written (like std's `PoisonError`).
#[derive(Debug)]
pub struct OwnerDied<G> {
    guard: G,
    previous: ProcessId,
}

impl<G> OwnerDied<G> {
    /// The guard: the caller holds the lock.
    pub fn into_inner(self) -> G {
        self.guard
    }
    /// The process that died holding the lock.
    pub fn previous(&self) -> ProcessId {
        self.previous
    }
    /// The news that `previous` died holding the lock `guard` now holds (for a type
    /// that learnt of the death earlier and reports it to a later holder).
    pub(crate) fn new(guard: G, previous: ProcessId) -> OwnerDied<G> {
        OwnerDied { guard, previous }
    }
    /// The same news about another guard made from this one (the guard of a type
    /// that wraps the lock).
    pub(crate) fn map<H>(self, f: impl FnOnce(G) -> H) -> OwnerDied<H> {
        OwnerDied {
            guard: f(self.guard),
            previous: self.previous,
        }
    }
}

impl<G> std::fmt::Display for OwnerDied<G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the previous holder ({}) died holding the lock; the data it guards may be inconsistent", self.previous)
    }
}

impl<G: std::fmt::Debug> std::error::Error for OwnerDied<G> {}

/// Why [`RemoteMutex::lock_timeout`] or [`RemoteMutex::try_lock`] did not simply succeed.
#[derive(Debug)]
#[non_exhaustive]
pub enum TryLockError<G> {
    /// Not free in time (for `try_lock`: not free now). The caller does not hold it.
    TimedOut(Duration),
    /// Taken over from a dead holder: the caller holds it.
    OwnerDied(OwnerDied<G>),
}

impl<G> std::fmt::Display for TryLockError<G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TryLockError::TimedOut(d) => write!(f, "the lock was not free within {d:?}"),
            TryLockError::OwnerDied(o) => o.fmt(f),
        }
    }
}

impl<G: std::fmt::Debug> std::error::Error for TryLockError<G> {}

/// A robust mutex in shared memory (the study's `accessLock`). It records its holder
/// (pid + start time); when the holder dies holding it, the next locker gets the lock
/// with [`OwnerDied`] instead of hanging, and a waiter notices the death within
/// [`LIVENESS_PERIOD`](crate::sync::LIVENESS_PERIOD).
///
/// The guard must be dropped by the thread that locked (it is not `Send`).
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use polyshm::shm::RemoteMutex;
/// let name = polyshm::shm::unique_name("doc-mutex");
/// let m = RemoteMutex::create(&name)?;
/// {
///     let _guard = m.lock().map_err(|died| died.to_string())?;
///     // ... critical section ...
/// }
/// assert!(m.holder().is_none());
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct RemoteMutex {
    seg: Arc<Segment>,
    /// The mutex's bytes, reserved in the data region (none for the access lock in
    /// the header, which no byte access can reach).
    _reserved: Option<Reservation>,
    state: NonNull<MutexState>,
    parker: Parker,
    strategy: WaitStrategy,
}

// SAFETY: the state is made of atomics in shared memory that any thread may touch;
// `seg` keeps the mapping alive; `Parker` is a handle usable from any thread.
unsafe impl Send for RemoteMutex {}
// SAFETY: as above; every method takes `&self` and works through atomics.
unsafe impl Sync for RemoteMutex {}

impl RemoteMutex {
    /// # Safety
    /// `ptr` must point into `seg`'s mapping, 64-byte aligned, with 64 bytes behind it;
    /// `map_offset` is its offset from the start of the mapping (names the parker).
    pub(crate) unsafe fn at(
        seg: Arc<Segment>,
        ptr: *mut u8,
        map_offset: usize,
    ) -> Result<RemoteMutex, ShmError> {
        let parker = Parker::new(&format!("{}@{map_offset}", seg.os_name))
            .map_err(|e| ShmError::from_io(&seg.name, "open the wake object", e))?;
        let state = NonNull::new(ptr.cast::<MutexState>()).expect("pointer into a mapping");
        Ok(RemoteMutex {
            seg,
            _reserved: None,
            state,
            parker,
            strategy: WaitStrategy::default(),
        })
    }

    /// A mutex in `shm`'s data region at `offset` (a multiple of 64). Zeroed memory
    /// is a free mutex, so a fresh segment needs no initialisation.
    pub fn in_segment(shm: &SharedMemory, offset: usize) -> Result<RemoteMutex, ShmError> {
        let reserved = place(shm, offset)?;
        let map_offset = shm.data_offset() + offset;
        // SAFETY: `place` checked bounds and alignment; `seg` is kept alive by the clone.
        let mut m =
            unsafe { RemoteMutex::at(shm.seg.clone(), shm.as_ptr().add(offset), map_offset)? };
        m._reserved = Some(reserved);
        Ok(m)
    }

    /// Create a segment named `name` holding one free mutex.
    pub fn create(name: &str) -> Result<RemoteMutex, ShmError> {
        let shm = SharedMemory::create(name, 64)?;
        RemoteMutex::in_segment(&shm, 0)
    }

    /// Open the mutex made by [`create`](Self::create).
    pub fn open(name: &str) -> Result<RemoteMutex, ShmError> {
        let shm = SharedMemory::open(name)?;
        RemoteMutex::in_segment(&shm, 0)
    }

    fn state(&self) -> &MutexState {
        // SAFETY: checked at construction (in bounds, aligned); the mapping lives as
        // long as `self.seg`; `MutexState` is atomics only, valid for any bytes.
        unsafe { self.state.as_ref() }
    }

    /// Choose how lockers wait (default: a short bounded spin, then sleep).
    pub fn set_wait_strategy(&mut self, strategy: WaitStrategy) {
        self.strategy = strategy;
    }

    fn guard(&self) -> RemoteMutexGuard<'_> {
        RemoteMutexGuard {
            mutex: self,
            _not_send: PhantomData,
        }
    }

    fn lock_inner(
        &self,
        timeout: Option<Duration>,
    ) -> Result<RemoteMutexGuard<'_>, TryLockError<RemoteMutexGuard<'_>>> {
        match self.state().lock(&self.parker, self.strategy, timeout) {
            Ok(()) => Ok(self.guard()),
            Err(LockError::OwnerDied { previous }) => Err(TryLockError::OwnerDied(OwnerDied { guard: self.guard(), previous })),
            Err(LockError::TimedOut(d)) => Err(TryLockError::TimedOut(d)),
            Err(LockError::WouldDeadlock) => panic!(
                "RemoteMutex in segment {:?}: this thread already holds it; locking again would deadlock",
                self.seg.name
            ),
        }
    }

    /// Take the lock, waiting as long as it takes.
    ///
    /// # Panics
    /// If this thread already holds the lock (it would otherwise hang for ever).
    pub fn lock(&self) -> Result<RemoteMutexGuard<'_>, OwnerDied<RemoteMutexGuard<'_>>> {
        match self.lock_inner(None) {
            Ok(g) => Ok(g),
            Err(TryLockError::OwnerDied(d)) => Err(d),
            Err(TryLockError::TimedOut(_)) => unreachable!("no timeout was given"),
        }
    }

    /// Take the lock, waiting at most `timeout`.
    pub fn lock_timeout(
        &self,
        timeout: Duration,
    ) -> Result<RemoteMutexGuard<'_>, TryLockError<RemoteMutexGuard<'_>>> {
        self.lock_inner(Some(timeout))
    }

    /// Take the lock if it is free now (or its holder is dead).
    pub fn try_lock(&self) -> Result<RemoteMutexGuard<'_>, TryLockError<RemoteMutexGuard<'_>>> {
        match self.state().try_lock() {
            Ok(true) => Ok(self.guard()),
            Ok(false) => {
                // A dead holder is found by the slow path; one short look costs little.
                self.lock_inner(Some(Duration::ZERO))
            }
            Err(LockError::OwnerDied { previous }) => Err(TryLockError::OwnerDied(OwnerDied {
                guard: self.guard(),
                previous,
            })),
            Err(_) => Err(TryLockError::TimedOut(Duration::ZERO)),
        }
    }

    /// The process holding the lock now, if any.
    pub fn holder(&self) -> Option<ProcessId> {
        self.state().holder()
    }

    /// How many holders were found dead since the mutex was made.
    pub fn deaths(&self) -> u32 {
        self.state().deaths()
    }
}

/// Holds a [`RemoteMutex`]; unlocks on drop. Not `Send`: the locking thread unlocks.
#[derive(Debug)]
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct RemoteMutexGuard<'a> {
    mutex: &'a RemoteMutex,
    _not_send: PhantomData<*const ()>,
}

impl Drop for RemoteMutexGuard<'_> {
    fn drop(&mut self) {
        self.mutex.state().unlock(&self.mutex.parker);
    }
}

/// Check that a 64-byte sync block fits at `offset` of `shm`'s data region, and
/// reserve it there: while the answer lives, no byte access of this process (views,
/// `read_at`, `write_at`) may cover it.
pub(crate) fn place(shm: &SharedMemory, offset: usize) -> Result<Reservation, ShmError> {
    shm.seg.check_range(offset, SYNC_BLOCK)?;
    if !offset.is_multiple_of(SYNC_BLOCK) {
        return Err(ShmError::Misaligned {
            name: shm.name().into(),
            offset,
            align: SYNC_BLOCK,
        });
    }
    Ok(reserve(shm, offset, SYNC_BLOCK))
}

/// Reserve the `len` bytes at `offset` of `shm`'s data region (in bounds: checked by
/// the caller) for atomics: while the answer lives, no byte access of this process
/// may cover them.
pub(crate) fn reserve(shm: &SharedMemory, offset: usize, len: usize) -> Reservation {
    Reservation {
        id: shm.seg.reserve(offset, len),
        seg: shm.seg.clone(),
    }
}

/// A sync block reserved in a segment's data region; released on drop.
#[derive(Debug)]
pub(crate) struct Reservation {
    seg: Arc<Segment>,
    id: u64,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.seg.release(self.id);
    }
}
