//! Errors of shared arrays and matrices.

use crate::shm::ShmError;
use polyshm_sys::ProcessId;

/// Failure of a [`SharedArray`](super::SharedArray) or
/// [`SharedMatrix`](super::SharedMatrix) operation. Each message says what was asked,
/// what was found, and what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ObjectError {
    /// The segment itself failed (not found, no space, bad name, ...).
    #[error(transparent)]
    Shm(#[from] ShmError),
    /// A shape that cannot be made: a part of 0 cells, or more cells than memory
    /// can address.
    #[error("shared object {segment:?}: {what}")]
    BadShape {
        /// The segment name given.
        segment: String,
        /// What is wrong with the shape.
        what: String,
    },
    /// The handle describes cells of another type than the one asked for.
    #[error("the handle of {segment:?} is for cells of {handle}, but it was opened with cells of {wanted}; open it with the element type it was created with")]
    HandleType {
        /// The segment the handle names.
        segment: String,
        /// The element type the handle describes.
        handle: String,
        /// The element type it was opened with.
        wanted: String,
    },
    /// The segment is not a shared array or matrix (it has no object header).
    #[error("segment {segment:?} is not a shared array or matrix (no object header at the start of its data); check the name, or make it with SharedArray::create / SharedMatrix::create")]
    NotAnObject {
        /// The segment name.
        segment: String,
    },
    /// The object header holds values no polyshm writes.
    #[error("shared object {segment:?} has a corrupt header: {what}; another process may have written over it: remove it and create it again")]
    Corrupt {
        /// The segment name.
        segment: String,
        /// What is wrong.
        what: String,
    },
    /// The segment holds an array where a matrix was asked for, or the reverse.
    #[error("segment {segment:?} holds a shared {found}, but it was opened as a shared {wanted}; open it with the type it was created as")]
    WrongKind {
        /// The segment name.
        segment: String,
        /// What it holds (`array` or `matrix`).
        found: &'static str,
        /// What was asked for.
        wanted: &'static str,
    },
    /// The segment holds cells of another type than the handle says.
    #[error("segment {segment:?} holds cells of {found}, but the handle says {wanted}; the handle does not describe this segment: get a fresh handle from the object's creator")]
    SegmentType {
        /// The segment name.
        segment: String,
        /// The element type the segment holds.
        found: String,
        /// The element type the handle describes.
        wanted: String,
    },
    /// The segment has another shape than the handle says.
    #[error("segment {segment:?} holds {found}, but the handle says {wanted}; the handle does not describe this segment: get a fresh handle from the object's creator")]
    SegmentShape {
        /// The segment name.
        segment: String,
        /// The shape the segment holds.
        found: String,
        /// The shape the handle describes.
        wanted: String,
    },
    /// The name now refers to another object than the one the handle was made for.
    #[error("segment {segment:?} was made again since the handle was made (the handle names instance {wanted:#x}, the segment is instance {found:#x}): the object the handle describes is gone; get a fresh handle from the object's creator")]
    Instance {
        /// The segment name.
        segment: String,
        /// The instance the segment is.
        found: u64,
        /// The instance the handle names.
        wanted: u64,
    },
    /// A cell, row or range outside the object.
    #[error("shared object {segment:?}: {what}")]
    OutOfBounds {
        /// The segment name.
        segment: String,
        /// What was asked and how large the object is.
        what: String,
    },
    /// A part number the object does not have.
    #[error(
        "shared object {segment:?} has {parts} parts (numbered from 0); there is no part {part}"
    )]
    NoSuchPart {
        /// The segment name.
        segment: String,
        /// The part asked for.
        part: usize,
        /// How many parts the object has.
        parts: usize,
    },
    /// The part is claimed by a live process (perhaps this one).
    #[error("part {part} of shared object {segment:?} is claimed by {by}, which is alive; a part has one writer at a time: claim another part, or wait until its claim is dropped")]
    Claimed {
        /// The segment name.
        segment: String,
        /// The part asked for.
        part: usize,
        /// The process that holds the claim.
        by: ProcessId,
    },
    /// The part's claim word kept changing while this process tried to claim it:
    /// another process writes it outside the claim protocol.
    #[error("part {part} of shared object {segment:?} changed hands {tries} times while this process tried to claim it; another process writes its claim word outside the protocol: find it and stop it")]
    ClaimContended {
        /// The segment name.
        segment: String,
        /// The part asked for.
        part: usize,
        /// How many times the claim was tried.
        tries: u32,
    },
    /// A write through a part to a cell outside it.
    #[error("shared object {segment:?}: {what} lies outside part {part} ({part_is}); a claimed part writes only its own cells")]
    OutsidePart {
        /// The segment name.
        segment: String,
        /// The part written through.
        part: usize,
        /// The part's extent.
        part_is: String,
        /// The write asked for.
        what: String,
    },
    /// A write under the lock to a cell of a part a live process has claimed.
    #[error("shared object {segment:?}: cell {cell} lies in part {part}, claimed by {by}; cells of a claimed part are written by its claimant only: write it through the part, or after the claim is dropped")]
    CellClaimed {
        /// The segment name.
        segment: String,
        /// The cell written (row-major index).
        cell: usize,
        /// Its part.
        part: usize,
        /// The process that holds the part.
        by: ProcessId,
    },
    /// A buffer of the wrong length for the cells it is to fill or come from.
    #[error("shared object {segment:?}: {what} takes {expected} cells, {found} were given")]
    Length {
        /// The segment name.
        segment: String,
        /// The operation.
        what: String,
        /// Cells it takes.
        expected: usize,
        /// Cells given.
        found: usize,
    },
}
