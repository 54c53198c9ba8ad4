//! Layer 5: how values become bytes and back (pure: no I/O).
//!
//! - [`pod`]: plain-old-data arrays (`&[i64]`, `&[f64]`, `&[u8]`, any
//!   [`bytemuck::Pod`]) are their own bytes — the study's "simple encoding" made free:
//!   [`pod_bytes`] is a cast, not a copy.
//! - [`general`]: any serde type (the study's BOSS), via postcard: [`encode`] and
//!   [`decode`].
//! - [`archive`](mod@archive): any rkyv type, written once ([`archive_into`] a lent area) and read
//!   in place after validation ([`access`]): the objects the study could not put in
//!   shared memory.
//!
//! ```
//! # fn main() -> Result<(), polyshm::codec::CodecError> {
//! use polyshm::codec::{decode, encode, pod_bytes, pod_from_bytes};
//! let v = [1i64, 2, 3];
//! assert_eq!(pod_bytes(&v).len(), 24);
//! assert_eq!(pod_from_bytes::<i64>(pod_bytes(&v))?, v);
//! let b = encode(&("six", 6u32))?;
//! assert_eq!(decode::<(String, u32)>(&b)?, ("six".to_string(), 6));
//! # Ok(()) }
//! ```

pub mod archive;
pub mod general;
pub mod pod;

pub use archive::{
    access, aligned_copy, archive, archive_into, decode_archive, FromArchive, Placed, ReadArchive,
    ToArchive, ARCHIVE_ALIGN,
};
pub use general::{decode, encode};
pub use pod::{pod_bytes, pod_from_bytes, pod_view, pod_view_mut, PodVec};

/// Why bytes could not become a value (or a value bytes).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CodecError {
    /// A plain-old-data array was asked from a byte count that is not a multiple of
    /// the element size.
    #[error("{len} bytes do not hold a whole number of {type_name} ({elem} bytes each); the sender and receiver disagree on the element type")]
    Length {
        /// Bytes given.
        len: usize,
        /// Size of one element.
        elem: usize,
        /// The element type asked for.
        type_name: &'static str,
    },
    /// A zero-copy view was asked of bytes not aligned for the element type.
    #[error("bytes at address {addr:#x} are not aligned to {align} for {type_name}; copy them with pod_from_bytes instead")]
    Misaligned {
        /// Address of the first byte.
        addr: usize,
        /// Alignment the element type needs.
        align: usize,
        /// The element type asked for.
        type_name: &'static str,
    },
    /// A serde value could not be encoded.
    #[error("cannot encode {type_name}: {detail}")]
    Encode {
        /// The type being encoded.
        type_name: &'static str,
        /// What serde / postcard said.
        detail: String,
    },
    /// Bytes are not a valid archive of the type asked for (bytecheck refused them):
    /// another process wrote something else, or changed them.
    #[error("{len} bytes are not a valid archive of {type_name}: {detail}; the writer wrote another type, or the bytes were changed after it wrote them")]
    InvalidArchive {
        /// The type asked for.
        type_name: &'static str,
        /// Bytes given.
        len: usize,
        /// What the validation found.
        detail: String,
    },
    /// Bytes did not decode as the type asked for.
    #[error("cannot decode {len} bytes as {type_name}: {detail}; the task's argument or result type differs between master and drone")]
    Decode {
        /// The type asked for.
        type_name: &'static str,
        /// Bytes given.
        len: usize,
        /// What serde / postcard said.
        detail: String,
    },
}
