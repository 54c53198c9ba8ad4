//! polyshm: multi-process computing on one host, through named shared memory guarded
//! by cross-process semaphores — the Rust implementation of the study "Shared Memory
//! Management for VisualWorks", carried past it.
//!
//! The layers, each using only those below it:
//!
//! - [`sync`]: [`SemaphoreState`](sync::SemaphoreState) and a robust
//!   [`MutexState`](sync::MutexState) on a few words of shared memory;
//! - [`shm`]: [`SharedMemory`](shm::SharedMemory) segments, and
//!   [`RemoteSemaphore`](shm::RemoteSemaphore) / [`RemoteMutex`](shm::RemoteMutex)
//!   placed in them;
//! - [`relay`]: [`Relay`](relay::Relay), the rendezvous a client connects to by name
//!   (the study's `SemaphoreEventRelay`), and [`UdpRelay`](relay::UdpRelay).
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use polyshm::shm::{SharedMemory, unique_name};
//! let shm = SharedMemory::create(&unique_name("example"), 1 << 20)?;
//! shm.write_at(0, &42i64.to_ne_bytes())?;
//! assert_eq!(shm.copy_out::<i64>(0, 1)?[0], 42);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod codec;
pub mod fault;
#[doc(hidden)]
pub mod hostile;
pub mod relay;
pub mod shm;
pub mod sync;
pub mod team;

pub use polyshm_sys as sys;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;
