//! Layer 2: cross-process synchronisation on a few words of shared memory.
//!
//! [`SemaphoreState`] (the study's `RemoteSemaphore` counter) and [`MutexState`] (a
//! robust mutex that notices a dead holder) are `#[repr(C)]` blocks that live in
//! memory several processes map. They know nothing of segments: the caller hands them
//! a place and a [`Parker`] for the sleep/wake path. The
//! [`shm`](crate::shm) layer wraps them in named, owned handles.
//!
//! Every wait is bounded: a [`WaitStrategy`] spins for at most a fixed time (yielding
//! the CPU each turn) and then sleeps in the kernel.

mod atomic;
mod host;
#[cfg(all(test, loom))]
mod loom_models;
mod mutex;
mod parker;
mod semaphore;
mod strategy;

pub use mutex::{LockError, MutexState, LIVENESS_PERIOD};
pub use parker::Parker;
pub use semaphore::{SemaphoreError, SemaphoreState, RECHECK_PERIOD};
pub use strategy::{saturating_deadline, Deadline, WaitStrategy};
