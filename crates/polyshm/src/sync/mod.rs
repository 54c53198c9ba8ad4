//! Layer 2: cross-process synchronisation on a few words of shared memory.
//!
//! [`SemaphoreState`] (the study's `RemoteSemaphore` counter) and [`MutexState`] (a
//! robust mutex that notices a dead holder) are `#[repr(C)]` blocks that live in
//! memory several processes map. They know nothing of segments: the caller hands them
//! a place and a [`Parker`] for the sleep/wake path. The
//! [`shm`](crate::shm) layer wraps them in named, owned handles.
//!
//! Every wait is bounded: a [`WaitStrategy`] spins for at most a fixed time (yielding
//! the CPU each turn) and then sleeps in the kernel. A wait on another process (on a
//! semaphore, a socket, a datagram) is a `Watch::wait`: slices of waiting with checks
//! between them that the peer lives, that the deadline has not passed and that nobody
//! cancelled, and a last look before giving up.
//!
//! On Windows the study's own signalling sits beside them: [`EventBasedSemaphore`], a
//! pair of mirrored halves kept in step by window messages through each process's
//! [`SemaphoreEventRelay`] (message codes and replies documented there).

mod atomic;
pub mod event_messages;
mod event_relay;
mod event_semaphore;
mod host;
#[cfg(all(test, loom))]
mod loom_models;
mod mutex;
mod parker;
mod semaphore;
mod strategy;
mod watch;

pub use event_relay::{EventError, SemaphoreEventRelay};
pub use event_semaphore::EventBasedSemaphore;
pub use mutex::{LockError, MutexState, LIVENESS_PERIOD};
pub use parker::Parker;
pub use semaphore::{SemaphoreError, SemaphoreState, NOTE_LEN, NOTE_OFFSET, RECHECK_PERIOD};
pub use strategy::{
    saturating_deadline, Deadline, PeerPlace, WaitStrategy, COOL_OFF_FIRST, COOL_OFF_MAX,
    PREEMPTED, UNYIELDING_SPIN,
};
pub(crate) use watch::{Look, Stop, WaitError, Watch};
