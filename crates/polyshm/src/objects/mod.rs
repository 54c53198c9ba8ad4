//! Objects in shared memory: [`SharedArray`] and [`SharedMatrix`] of plain-old-data
//! cells (the study's "shared matrix with simple data cells", §10).
//!
//! - The master creates the object in a named segment; tasks get its handle
//!   ([`ArrayHandle`] / [`MatrixHandle`]: segment name, instance, shape and the
//!   [`ElementType`] fingerprint, as serde data) and open it once per process
//!   ([`SharedMatrix::open_cached`]; [`cache`] holds them).
//! - Opening checks the handle against the cell type asked for, then the segment's
//!   own header against the handle: the wrong `T`, the wrong shape, or a handle that
//!   lies is a typed [`ObjectError`], never a misread.
//! - The cells are cut into parts ([`partition`]: ranges of an array, rows or tiles
//!   of a matrix). A task [`claim`](SharedMatrix::claim)s its part and is its one
//!   writer: the claim table in the segment holds one word per part naming the
//!   claimant; a part held by a live process is refused, one left by a dead process is
//!   taken over. Parts are written without locks, side by side.
//! - Cells outside any claimed part are written under the segment's robust
//!   [`RemoteMutex`](crate::shm::RemoteMutex): [`SharedMatrix::lock`].
//! - The segment goes when the creator's value drops; the others only unmap.
//!
//! Reads and writes are copies (`read_row`, `to_vec`, `write_row`, ...): another
//! process writes these cells, so a read while a part is being written is a snapshot
//! that may hold some old and some new cells (see the trust model in
//! [`shm`](crate::shm)). Read the whole once its writers are done (the team's reply
//! says so). No Rust reference over the cells is handed out.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use polyshm::objects::{MatrixHandle, ObjectError, SharedMatrix, Tiling};
//! let name = polyshm::shm::unique_name("doc-objects");
//! let counts = SharedMatrix::<u32>::create(&name, 64, 64, Tiling::tiles(16, 16))?;
//! // The handle is what travels to the drones (any serde format).
//! let bytes = postcard::to_stdvec(&counts.handle())?;
//! let handle: MatrixHandle<u32> = postcard::from_bytes(&bytes)?;
//! // A drone: open once, claim its tile, write it.
//! let m = SharedMatrix::open_cached(&handle)?;
//! let tile = m.tile(5).unwrap();
//! let mut part = m.claim(tile.index)?;
//! part.fill(1)?;
//! drop(part);
//! assert_eq!(counts.to_vec()?.iter().sum::<u32>(), 16 * 16);
//! // The wrong cell type is refused, whatever the handle was deserialised as.
//! let wrong: MatrixHandle<f32> = postcard::from_bytes(&bytes)?;
//! assert!(matches!(SharedMatrix::open(&wrong), Err(ObjectError::HandleType { .. })));
//! # Ok(()) }
//! ```

mod array;
pub mod cache;
mod claim;
mod error;
mod grid;
mod handle;
mod header;
mod matrix;
pub mod partition;

pub use array::{ArrayLock, ArrayPart, SharedArray};
pub use error::ObjectError;
pub use handle::{ArrayHandle, ElementType, MatrixHandle, ObjectHandle, Shape};
pub use matrix::{MatrixLock, SharedMatrix, TilePart};
pub use partition::{Tile, Tiling};
