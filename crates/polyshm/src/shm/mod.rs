//! Layer 3: named shared-memory segments (the study's package `SharedMemory`).
//!
//! - [`SharedMemory`]: create / open a named segment, read and write it, typed views,
//!   its access lock; the process-wide [`registry`].
//! - [`RemoteSemaphore`] and [`RemoteMutex`]: the sync layer's semaphore and robust
//!   mutex placed in a segment, found by name or by segment + offset.
//! - [`header`]: the byte layout every segment starts with, for other languages.
//! - [`name`]: naming rules; [`admin`]: list, remove and clean segments.

pub mod admin;
mod error;
pub mod header;
pub mod name;
pub mod registry;
mod remote_mutex;
mod remote_semaphore;
mod shared_memory;

pub use error::ShmError;
pub use name::{unique_name, MAX_NAME_LEN};
pub use remote_mutex::{OwnerDied, RemoteMutex, RemoteMutexGuard, TryLockError};
pub use remote_semaphore::{KnownSemaphore, RemoteSemaphore};
pub use shared_memory::SharedMemory;
