//! [`RemoteSemaphore`]: a counting semaphore placed in a segment, found by name or by
//! segment + offset, and the registry of known semaphores (the study's
//! `KnownSemaphores`).

use super::remote_mutex::{place, Reservation};
use super::segment::Segment;
use super::SharedMemory;
use super::ShmError;
use crate::sync::{Parker, SemaphoreError, SemaphoreState, WaitStrategy};
use std::ptr::NonNull;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A counting semaphore in shared memory, shared by every process that maps it (the
/// study's `RemoteSemaphore`; `signal` = `#signalRemote` + `#signalLocal`, `wait` =
/// `#waitRemote` + `#waitLocal`).
///
/// `signal` makes a system call only when a waiter sleeps. Waiters spin for a bounded
/// time and then sleep, as the [`WaitStrategy`] says.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use polyshm::shm::RemoteSemaphore;
/// let name = polyshm::shm::unique_name("doc-sem");
/// let sem = RemoteSemaphore::create(&name, 0)?;
/// sem.signal()?;
/// assert!(sem.try_wait());
/// assert!(sem.wait_timeout(std::time::Duration::from_millis(1)).is_err());
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct RemoteSemaphore {
    seg: Arc<Segment>,
    /// The semaphore's bytes, reserved in the data region.
    _reserved: Reservation,
    state: NonNull<SemaphoreState>,
    parker: Parker,
    strategy: WaitStrategy,
    known_id: u64,
}

// SAFETY: the state is atomics in shared memory, the mapping is kept alive by `seg`,
// the reservation is a segment handle plus an id (its table sits behind a mutex), and
// the parker is a handle usable from any thread.
unsafe impl Send for RemoteSemaphore {}
// SAFETY: as above; all methods take `&self` and go through atomics.
unsafe impl Sync for RemoteSemaphore {}

impl RemoteSemaphore {
    /// The semaphore in `shm`'s data region at `offset` (a multiple of 64). Zeroed
    /// memory is a semaphore with no signals.
    pub fn in_segment(shm: &SharedMemory, offset: usize) -> Result<RemoteSemaphore, ShmError> {
        let reserved = place(shm, offset)?;
        let key = format!("{}@{}", shm.seg.os_name, shm.data_offset() + offset);
        let parker = Parker::new(&key)
            .map_err(|e| ShmError::from_io(shm.name(), "open the wake object", e))?;
        // SAFETY: `place` checked that 64 bytes at `offset` lie in the data region,
        // 64-aligned; the pointer is non-null because the mapping is.
        let state =
            unsafe { NonNull::new_unchecked(shm.as_ptr().add(offset).cast::<SemaphoreState>()) };
        let known_id = known::add(shm.name(), offset);
        Ok(RemoteSemaphore {
            seg: shm.seg.clone(),
            _reserved: reserved,
            state,
            parker,
            strategy: WaitStrategy::default(),
            known_id,
        })
    }

    /// Create a segment named `name` holding one semaphore with `initial` signals.
    /// The count is set before the segment can be opened: no opener sees another.
    pub fn create(name: &str, initial: u32) -> Result<RemoteSemaphore, ShmError> {
        let shm = SharedMemory::create_initialised(name, 64, |data| {
            crate::fault_point!("shm.semaphore.create.before_init");
            // SAFETY: `data` is the start of the fresh data region: 64 bytes, 64-byte
            // aligned, unpublished (no other process can open it yet) and covered by
            // no reference; `SemaphoreState` is 64 bytes of atomics.
            unsafe { (*data.cast::<SemaphoreState>()).init(initial) };
        })?;
        RemoteSemaphore::in_segment(&shm, 0)
    }

    /// Open the semaphore made by [`create`](Self::create).
    pub fn open(name: &str) -> Result<RemoteSemaphore, ShmError> {
        RemoteSemaphore::in_segment(&SharedMemory::open(name)?, 0)
    }

    fn state(&self) -> &SemaphoreState {
        // SAFETY: in bounds and aligned (checked at construction); the mapping lives
        // as long as `self.seg`; the state is atomics, valid for any bytes.
        unsafe { self.state.as_ref() }
    }

    /// Choose how waiters wait.
    pub fn set_wait_strategy(&mut self, strategy: WaitStrategy) {
        self.strategy = strategy;
    }

    /// The wait strategy in use.
    pub fn wait_strategy(&self) -> WaitStrategy {
        self.strategy
    }

    /// Add a signal, waking one waiter if any sleeps.
    pub fn signal(&self) -> Result<(), SemaphoreError> {
        self.state().signal(&self.parker)
    }

    /// Wait for a signal, as long as it takes.
    pub fn wait(&self) {
        // Without a deadline the only error would be a timeout.
        let _ = self.state().wait(&self.parker, self.strategy, None);
    }

    /// Wait for a signal at most `timeout`.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<(), SemaphoreError> {
        self.state()
            .wait(&self.parker, self.strategy, Some(timeout))
    }

    /// Take a signal if one is pending.
    pub fn try_wait(&self) -> bool {
        self.state().try_wait()
    }

    /// Write the note: [`NOTE_LEN`](crate::sync::NOTE_LEN) bytes on the semaphore's
    /// own cache line that travel with the next [`signal`](Self::signal) (see
    /// [`SemaphoreState::write_note`]). As untrusted as any byte of the segment.
    pub fn write_note(&self, note: &[u8; crate::sync::NOTE_LEN]) {
        self.state().write_note(note)
    }

    /// A copy of the note, read after a wait returned (see [`write_note`](Self::write_note)).
    pub fn read_note(&self) -> [u8; crate::sync::NOTE_LEN] {
        self.state().read_note()
    }

    /// Signals pending now (a snapshot).
    pub fn count(&self) -> u32 {
        self.state().count()
    }

    /// Waiters counted as asleep (or about to sleep) now: a snapshot, for diagnostics.
    pub fn sleepers(&self) -> u32 {
        self.state().sleepers()
    }

    /// Name of the segment the semaphore lives in.
    pub fn segment_name(&self) -> &str {
        &self.seg.name
    }

    /// Every semaphore handle live in this process (the study's `KnownSemaphores`).
    pub fn known() -> Vec<KnownSemaphore> {
        known::entries()
    }
}

impl Drop for RemoteSemaphore {
    fn drop(&mut self) {
        known::remove(self.known_id);
    }
}

/// An entry of [`RemoteSemaphore::known`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KnownSemaphore {
    /// Segment holding the semaphore.
    pub segment: String,
    /// Offset in the segment's data region.
    pub offset: usize,
}

mod known {
    use super::*;
    static KNOWN: Mutex<Vec<(u64, KnownSemaphore)>> = Mutex::new(Vec::new());
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

    fn table() -> std::sync::MutexGuard<'static, Vec<(u64, KnownSemaphore)>> {
        KNOWN.lock().unwrap_or_else(|p| p.into_inner())
    }
    pub(super) fn add(segment: &str, offset: usize) -> u64 {
        let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        table().push((
            id,
            KnownSemaphore {
                segment: segment.into(),
                offset,
            },
        ));
        id
    }
    pub(super) fn remove(id: u64) {
        table().retain(|(i, _)| *i != id);
    }
    pub(super) fn entries() -> Vec<KnownSemaphore> {
        table().iter().map(|(_, k)| k.clone()).collect()
    }
}
