//! polyshm: multi-process computing on one host, through named shared memory guarded
//! by cross-process semaphores — the Rust implementation of the study "Shared Memory
//! Management for VisualWorks", carried past it.
//!
//! A master starts a [`Team`](team::Team) of drones (this program run again), hands
//! them tasks by typed key, and gets the results back over sockets or through each
//! drone's mailbox in shared memory:
//!
//! ```no_run
//! use polyshm::team::{builtin, drone_main, Task, Tasks, Team, Transport};
//! fn main() -> Result<(), polyshm::team::TeamError> {
//!     let mut tasks = Tasks::new();
//!     let add: Task<(i64, i64), i64> = tasks.task("add", |(a, b)| a + b);
//!     drone_main(&tasks); // in a drone: serve tasks, never return
//!     let team = Team::builder(tasks).drones(2).transport(Transport::Shm).spawn()?;
//!     assert_eq!(team.run(&add, (1, 2))?, 3);
//!     assert_eq!(team.map(&add, [(1, 5), (2, 4), (3, 3)])?, [6, 6, 6]);
//!     // The study's `drones do: '[:a :b | a + b]' with: … with: …`:
//!     let sums: Vec<i64> = team.zip_script("|a, b| a + b", [1, 2, 3], [5, 4, 3])?;
//!     assert_eq!(sums, [6, 6, 6]);
//!     // Zero copy: fill the drone's mailbox in place, read the answer where it lies.
//!     let mut request = team.loan(&builtin::ECHO_I64_IN_PLACE, 1_000_000)?;
//!     request.iter_mut().enumerate().for_each(|(i, x)| *x = i as i64);
//!     let reply = request.send()?;
//!     assert_eq!(reply[999_999], 999_999);
//!     Ok(())
//! }
//! ```
//!
//! The layers, each using only those below it:
//!
//! - [`sync`]: [`SemaphoreState`](sync::SemaphoreState) and a robust
//!   [`MutexState`](sync::MutexState) on a few words of shared memory;
//! - [`shm`]: [`SharedMemory`](shm::SharedMemory) segments, and
//!   [`RemoteSemaphore`](shm::RemoteSemaphore) / [`RemoteMutex`](shm::RemoteMutex)
//!   placed in them;
//! - [`codec`]: plain-old-data arrays as their own bytes, serde values, and archived
//!   values (rkyv) read in place after validation;
//! - siblings above `shm`: [`relay`], the rendezvous a client connects to by name
//!   (the study's `SemaphoreEventRelay`: [`Relay`](relay::Relay), and
//!   [`UdpRelay`](relay::UdpRelay)); [`team`], the drones, whose per-drone mailbox
//!   segment is its own rendezvous (the drone gets its name in the environment); and
//!   [`objects`], arrays and matrices of plain-old-data cells in a named segment,
//!   written by many processes side by side
//!   ([`SharedMatrix`](objects::SharedMatrix)).
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

pub mod child;
pub mod codec;
pub mod fault;
#[doc(hidden)]
pub mod hostile;
pub mod objects;
pub mod relay;
pub mod shm;
pub mod sync;
pub mod team;

pub use polyshm_sys as sys;
/// rkyv 0.8, the archive format of [`codec::archive`](mod@codec::archive) and of archived tasks: derive
/// with `#[rkyv(crate = polyshm::rkyv)]` to use polyshm's own.
pub use rkyv;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;
