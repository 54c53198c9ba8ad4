//! Layer 3: named shared-memory segments (the study's package `SharedMemory`).
//!
//! - [`SharedMemory`]: create / open a named segment, read and write it, typed views,
//!   its access lock; the process-wide [`registry`].
//! - [`RemoteSemaphore`] and [`RemoteMutex`]: the sync layer's semaphore and robust
//!   mutex placed in a segment, found by name or by segment + offset.
//! - [`header`]: the byte layout every segment starts with, for other languages.
//! - [`name`]: naming rules; [`admin`]: list, remove and clean segments (from a
//!   per-user index of segments where the system cannot list them: Windows, macOS).
//!
//! # Trust model
//!
//! A segment is memory that other programs write. polyshm divides them into *peers
//! that follow the protocol* and *hostile* ones (buggy, crashed mid-way, or
//! malicious with the same user id: segments are mode 0600, so another user cannot
//! open them at all).
//!
//! **What a protocol peer may do.** Write the bytes the protocol gives it, when the
//! protocol gives them (the team's mailbox: the drone writes the result area between
//! its `to_drone` wait and its `to_master` signal); change the atomics of semaphores
//! and mutexes at any time; die at any moment, holding a lock or in the middle of a
//! write.
//!
//! **How this process reads and writes shared bytes.**
//! - The header is read field by field with atomic loads, the magic first with
//!   acquire ordering (the creator publishes it last with a release store), so a
//!   header that carries the magic is whole; every field is then checked (version,
//!   data offset, `offset + size` against the size of the mapping) before it is
//!   used. See [`header`].
//! - Data is copied: [`SharedMemory::read_at`], [`read_into`](SharedMemory::read_into),
//!   [`copy_out`](SharedMemory::copy_out), [`write_at`](SharedMemory::write_at),
//!   [`write_from`](SharedMemory::write_from). Every length and offset is checked
//!   against the size read once at open, into a local. A copy taken while a peer
//!   writes holds some old and some new bytes. (The copies are plain `memcpy`s, as in
//!   every Rust IPC library until an atomic memcpy exists (RFC 3301); a copy that
//!   races a write yields torn bytes on every platform polyshm supports, and the
//!   values copied are `u8` or `Pod`, valid for any bytes.)
//! - Semaphores and mutexes are atomics only ([`crate::sync`]); their 64-byte blocks
//!   are reserved while their handles live, for every handle of this process to the
//!   segment, and no copy or view of this process may cover them
//!   ([`ShmError::Reserved`]).
//! - A Rust reference (`&[T]`, `&mut [T]`) over shared bytes exists only across a
//!   hand-over the protocol guarantees: [`view`](SharedMemory::view) and
//!   [`view_mut`](SharedMemory::view_mut) are `unsafe` for this reason, and borrow
//!   the handle exclusively, so that inside this process nothing writes under a view.
//!   Another handle of this process to the same segment counts as a peer.
//!
//! **What a hostile peer can make this process do:** see wrong data (any bytes in the
//! areas it may write; a torn copy; a count or a lock word scribbled), get a typed
//! error ([`ShmError::NotPolyshm`], [`ShmError::IncompatibleVersion`],
//! [`ShmError::Corrupt`], [`ShmError::Truncated`], [`ShmError::NotReady`], the team's
//! protocol errors), or wait until the timeout it asked for.
//!
//! **What it cannot make this process do:** access memory out of bounds (every offset
//! and length it wrote is checked before use, against sizes this process fixed), hang
//! without a bound (waits have timeouts or notice a dead peer), or crash on bad bytes
//! (decoders answer errors, never panic, on any input). One wait is the caller's to
//! bound: a peer that stays alive and never answers (it swallowed a signal, or it is
//! simply slow) looks like a long task, and the team waits for it as long as
//! `TeamBuilder::task_timeout` allows, which is for ever by default. Set a task
//! timeout where drones are not trusted.
//!
//! **The one exception: truncation.** A process with write access may shrink the
//! segment's file (`ftruncate` on `/dev/shm/polyshm.<name>`). Every process that maps
//! it, the creator included, then gets `SIGBUS` on its next access past the new end:
//! the kernel drops those pages for every mapper, and no user-space check can run
//! between the check and the access. polyshm checks the size against the header on
//! open ([`ShmError::Truncated`]) and reserves the pages at create (`fallocate`: no
//! `SIGBUS` from a full `/dev/shm`), but it does not catch `SIGBUS`: a peer that
//! truncates a live segment kills its users. Do not share segments with programs you
//! do not trust with that.
//!
//! **A second exception: archives read in place.** An archived reply
//! ([`Team::run_archived`](crate::team::Team::run_archived)) is validated once, then
//! read where it lies across the mailbox hand-over. Its bytes hold relative pointers:
//! a drone that rewrites them after the master validated them (writing its result
//! area outside its turn) can make the reader follow one out of the archive. Where
//! drones are not trusted that far, [`Team::run`](crate::team::Team::run) on the same
//! key validates and decodes a private copy instead.

pub mod admin;
mod error;
pub mod header;
mod index;
pub mod name;
pub mod registry;
mod remote_mutex;
mod remote_semaphore;
mod segment;
mod shared_memory;

pub use error::ShmError;
pub use name::{unique_name, MAX_NAME_LEN};
pub(crate) use remote_mutex::{reserve, Reservation};
pub use remote_mutex::{OwnerDied, RemoteMutex, RemoteMutexGuard, TryLockError};
pub use remote_semaphore::{KnownSemaphore, RemoteSemaphore};
pub use shared_memory::SharedMemory;
