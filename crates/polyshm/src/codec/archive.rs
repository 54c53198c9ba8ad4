//! Archived values (rkyv 0.8): any structured type — nested structs, enums, `Vec`,
//! `String`, maps, options — written once as an archive and read where it lies, as its
//! archived type, without decoding.
//!
//! A type takes part by deriving `rkyv::Archive` and `rkyv::Serialize` (and
//! `rkyv::Deserialize` to get an owned value back); polyshm re-exports the crate as
//! [`polyshm::rkyv`](crate::rkyv), so `#[rkyv(crate = polyshm::rkyv)]` avoids a
//! dependency of your own. The bounds are spelled once here: [`ToArchive`] (can be
//! written), [`ReadArchive`] (can be validated and read in place), [`FromArchive`] (can
//! be turned back into an owned value).
//!
//! Writing: [`archive_into`] writes the archive straight into an area it is lent (a
//! mailbox's request or result area); when the area is full, what is written moves to
//! a vector of its own and the rest follows it there ([`Placed::Spilled`]), so the
//! value is serialized once whatever the area's size. [`archive`] writes into a vector.
//!
//! Reading: [`access`] validates the bytes (bytecheck) and answers a reference to the
//! archived value in them. The bytes come from another process, so validation is never
//! skipped: a corrupt archive is [`CodecError::InvalidArchive`], never undefined
//! behaviour. It costs one pass over the archive — every relative pointer checked to
//! lie inside the bytes, every length, every `str` checked as UTF-8, every enum tag —
//! without allocating or copying; `polyshm profile --scenario structured` measures it
//! beside a postcard decode of the same records. Nothing in polyshm skips it; the
//! bytes an archive lies in must be aligned to [`ARCHIVE_ALIGN`] (polyshm's mailboxes
//! and socket buffers are; [`aligned_copy`] makes bytes that are not).
//!
//! ```
//! # fn main() -> Result<(), polyshm::codec::CodecError> {
//! use polyshm::codec::{access, archive, archive_into, decode_archive, Placed};
//! use polyshm::rkyv::{Archive, Deserialize, Serialize};
//! #[derive(Archive, Serialize, Deserialize, Debug, PartialEq)]
//! #[rkyv(crate = polyshm::rkyv)]
//! struct Function { name: String, id: u64, tags: Vec<u32> }
//!
//! let f = Function { name: "function_12345".into(), id: 7, tags: vec![1, 2, 3, 4] };
//! let bytes = archive(&f)?;
//! let seen = access::<Function>(&bytes)?; // validated, read in place
//! assert_eq!((seen.name.as_str(), seen.id.to_native()), ("function_12345", 7));
//! assert_eq!(decode_archive::<Function>(&bytes)?, f);
//! // Into an area someone lends (16-byte aligned), once.
//! let mut area = polyshm::rkyv::util::AlignedVec::<16>::with_capacity(256);
//! area.resize(256, 0);
//! let Placed::Area(n) = archive_into(&f, &mut area)? else { panic!("fits") };
//! assert_eq!(access::<Function>(&area[..n])?.tags.len(), 4);
//! # Ok(()) }
//! ```

use super::CodecError;
use rkyv::api::high::{HighDeserializer, HighSerializer, HighValidator};
use rkyv::bytecheck::CheckBytes;
use rkyv::rancor;
use rkyv::ser::allocator::ArenaHandle;
use rkyv::ser::{Positional, Writer};
use rkyv::util::AlignedVec;
use rkyv::{Archive, Deserialize, Serialize};

/// The alignment the bytes of an archive must have to be read in place: rkyv's own
/// (that of [`AlignedVec`]), enough for every archived primitive, `u128` included.
pub const ARCHIVE_ALIGN: usize = AlignedVec::<16>::ALIGNMENT;

/// A type that can be written as an archive: derive `rkyv::Archive` and
/// `rkyv::Serialize`.
pub trait ToArchive:
    for<'a, 'b> Serialize<HighSerializer<ArchiveWriter<'b>, ArenaHandle<'a>, rancor::Error>>
{
}

impl<T> ToArchive for T where
    T: for<'a, 'b> Serialize<HighSerializer<ArchiveWriter<'b>, ArenaHandle<'a>, rancor::Error>>
{
}

/// A type whose archive can be validated and read in place: derive `rkyv::Archive`
/// (with rkyv's `bytecheck` support, on in polyshm).
pub trait ReadArchive:
    Archive<Archived: for<'a> CheckBytes<HighValidator<'a, rancor::Error>>>
{
}

impl<T> ReadArchive for T where
    T: Archive<Archived: for<'a> CheckBytes<HighValidator<'a, rancor::Error>>>
{
}

/// A type whose archive can be turned back into an owned value: derive
/// `rkyv::Deserialize` too.
pub trait FromArchive:
    Sized + ReadArchive<Archived: Deserialize<Self, HighDeserializer<rancor::Error>>>
{
}

impl<T> FromArchive for T where
    T: ReadArchive<Archived: Deserialize<T, HighDeserializer<rancor::Error>>>
{
}

/// Where [`archive_into`] put the archive.
#[derive(Debug)]
pub enum Placed {
    /// In the first `n` bytes of the area it was lent.
    Area(usize),
    /// In a vector of its own: the area was too small (or not aligned).
    Spilled(AlignedVec),
}

/// The writer archives go through: into a lent area while it has room, then into a
/// vector (public because the [`ToArchive`] bound names it; made by [`archive_into`]).
pub struct ArchiveWriter<'a> {
    /// The lent area (empty if it was not aligned).
    area: &'a mut [u8],
    /// Bytes written so far (in the area, or in `spill`).
    pos: usize,
    /// Every byte written, once the area was full.
    spill: Option<AlignedVec>,
}

impl std::fmt::Debug for ArchiveWriter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchiveWriter")
            .field("area", &self.area.len())
            .field("pos", &self.pos)
            .field("spilled", &self.spill.is_some())
            .finish()
    }
}

impl Positional for ArchiveWriter<'_> {
    fn pos(&self) -> usize {
        self.pos
    }
}

impl<E> Writer<E> for ArchiveWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> Result<(), E> {
        let first = self.pos == 0;
        let end = self.pos.saturating_add(bytes.len());
        match &mut self.spill {
            None if end <= self.area.len() => self.area[self.pos..end].copy_from_slice(bytes),
            None => {
                let mut v = AlignedVec::with_capacity(end.saturating_mul(2));
                v.extend_from_slice(&self.area[..self.pos]);
                v.extend_from_slice(bytes);
                self.spill = Some(v);
            }
            Some(v) => v.extend_from_slice(bytes),
        }
        self.pos = end;
        if first && !bytes.is_empty() {
            // Part of an archive is written, not all of it (the root comes last).
            crate::fault_point!("archive.mid_write");
        }
        Ok(())
    }
}

fn type_name<T: ?Sized>() -> &'static str {
    std::any::type_name::<T>()
}

/// Write `value` as an archive into `area`, once: answers where it went. The area's
/// first byte must be aligned to [`ARCHIVE_ALIGN`] for the archive to stay there
/// (else it goes to a vector); the archive's root is its last bytes, so the archive
/// is exactly the first `n` bytes of the area.
pub fn archive_into<T: ToArchive>(value: &T, area: &mut [u8]) -> Result<Placed, CodecError> {
    let area = if is_aligned(area) { area } else { &mut [] };
    let writer = ArchiveWriter {
        area,
        pos: 0,
        spill: None,
    };
    let w = rkyv::api::high::to_bytes_in::<_, rancor::Error>(value, writer).map_err(|e| {
        CodecError::Encode {
            type_name: type_name::<T>(),
            detail: e.to_string(),
        }
    })?;
    Ok(match w.spill {
        Some(v) => Placed::Spilled(v),
        None => Placed::Area(w.pos),
    })
}

/// Write `value` as an archive into a vector of its own.
pub fn archive<T: ToArchive>(value: &T) -> Result<AlignedVec, CodecError> {
    match archive_into(value, &mut [])? {
        Placed::Spilled(v) => Ok(v),
        // An empty archive (a unit, an empty struct) never spills.
        Placed::Area(_) => Ok(AlignedVec::new()),
    }
}

/// Whether `bytes` start at an address aligned to [`ARCHIVE_ALIGN`].
pub fn is_aligned(bytes: &[u8]) -> bool {
    (bytes.as_ptr() as usize).is_multiple_of(ARCHIVE_ALIGN)
}

/// A copy of `bytes` aligned to [`ARCHIVE_ALIGN`] (for bytes that are not, or that
/// another process could change while they are read).
pub fn aligned_copy(bytes: &[u8]) -> AlignedVec {
    let mut v = AlignedVec::with_capacity(bytes.len());
    v.extend_from_slice(bytes);
    v
}

/// Validate `bytes` as an archive of `T` and answer its archived value, read in
/// place. `bytes` must be aligned to [`ARCHIVE_ALIGN`] ([`CodecError::Misaligned`]
/// otherwise: see [`aligned_copy`]); bytes that are not a valid archive of `T` are
/// [`CodecError::InvalidArchive`].
pub fn access<T: ReadArchive>(bytes: &[u8]) -> Result<&T::Archived, CodecError> {
    if !is_aligned(bytes) {
        return Err(CodecError::Misaligned {
            addr: bytes.as_ptr() as usize,
            align: ARCHIVE_ALIGN,
            type_name: type_name::<T::Archived>(),
        });
    }
    rkyv::access::<T::Archived, rancor::Error>(bytes).map_err(|e| CodecError::InvalidArchive {
        type_name: type_name::<T>(),
        len: bytes.len(),
        detail: e.to_string(),
    })
}

/// Validate `bytes` as an archive of `T` and turn it into an owned `T` (bytes that
/// are not aligned are copied first).
pub fn decode_archive<T: FromArchive>(bytes: &[u8]) -> Result<T, CodecError> {
    let copy;
    let bytes = if is_aligned(bytes) {
        bytes
    } else {
        copy = aligned_copy(bytes);
        &copy[..]
    };
    let archived = access::<T>(bytes)?;
    rkyv::deserialize::<T, rancor::Error>(archived).map_err(|e| CodecError::Decode {
        type_name: type_name::<T>(),
        len: bytes.len(),
        detail: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[derive(Archive, Serialize, Deserialize, Debug, PartialEq, Clone)]
    #[rkyv(derive(Debug))]
    enum Shape {
        Dot,
        Line { from: (i32, i32), to: (i32, i32) },
        Named(String),
    }

    #[derive(Archive, Serialize, Deserialize, Debug, PartialEq, Clone)]
    #[rkyv(derive(Debug))]
    struct Scene {
        title: String,
        shapes: Vec<Shape>,
        index: BTreeMap<String, u64>,
        note: Option<String>,
        big: u128,
    }

    fn scene(n: usize) -> Scene {
        Scene {
            title: "a scene with a title longer than an inline string".into(),
            shapes: (0..n)
                .map(|i| match i % 3 {
                    0 => Shape::Dot,
                    1 => Shape::Line {
                        from: (i as i32, -1),
                        to: (2, i as i32),
                    },
                    _ => Shape::Named(format!("shape_{i}")),
                })
                .collect(),
            index: (0..n as u64).map(|i| (format!("k{i}"), i * i)).collect(),
            note: n.is_multiple_of(2).then(|| "even".to_string()),
            big: u128::MAX - n as u128,
        }
    }

    /// Written once into an area that holds it, the archive stays there; into one
    /// too small it spills, whole and in order; both read back the same.
    #[test]
    fn writes_into_the_area_or_spills_whole() {
        let s = scene(50);
        let whole = archive(&s).unwrap();
        let mut area = AlignedVec::<16>::with_capacity(whole.len() + 64);
        area.resize(whole.len() + 64, 0xAA);
        let Placed::Area(n) = archive_into(&s, &mut area).unwrap() else {
            panic!("an area larger than the archive holds it")
        };
        assert_eq!(&area[..n], &whole[..]);
        assert_eq!(decode_archive::<Scene>(&area[..n]).unwrap(), s);
        let seen = access::<Scene>(&area[..n]).unwrap();
        assert_eq!(seen.shapes.len(), 50);
        assert_eq!(seen.index.get("k7").map(|v| v.to_native()), Some(49));
        assert_eq!(seen.note.as_ref().map(|n| n.as_str()), Some("even"));

        let mut small = AlignedVec::<16>::with_capacity(100);
        small.resize(100, 0);
        let Placed::Spilled(v) = archive_into(&s, &mut small).unwrap() else {
            panic!("100 bytes cannot hold the scene")
        };
        assert_eq!(&v[..], &whole[..]);
        // An area that is not aligned is not used.
        let Placed::Spilled(v) = archive_into(&s, &mut area[1..]).unwrap() else {
            panic!("a misaligned area is not written")
        };
        assert_eq!(&v[..], &whole[..]);
    }

    /// Bytes that are not an archive of the type, or misaligned, are typed errors.
    #[test]
    fn corrupt_or_misaligned_bytes_are_refused() {
        let s = scene(10);
        let mut bytes = archive(&s).unwrap();
        let root = bytes.len() - std::mem::size_of::<ArchivedScene>();
        for b in &mut bytes[root..] {
            *b = 0xFF;
        }
        let e = access::<Scene>(&bytes).unwrap_err();
        assert!(matches!(e, CodecError::InvalidArchive { .. }), "{e}");
        assert!(e.to_string().contains("Scene"), "{e}");
        assert!(decode_archive::<Scene>(&bytes).is_err());
        assert!(access::<Scene>(&[]).is_err());

        let good = archive(&s).unwrap();
        let mut shifted = AlignedVec::<16>::new();
        shifted.push(0);
        shifted.extend_from_slice(&good);
        let e = access::<Scene>(&shifted[1..]).unwrap_err();
        assert!(matches!(e, CodecError::Misaligned { align: 16, .. }), "{e}");
        assert_eq!(decode_archive::<Scene>(&shifted[1..]).unwrap(), s);
    }

    /// Whatever one byte of an archive is changed to, reading it is a value or a
    /// typed error (never a crash).
    #[test]
    fn every_single_byte_change_is_a_value_or_an_error() {
        let good = archive(&scene(4)).unwrap();
        let mut bad = 0;
        for i in 0..good.len() {
            for x in [0x01, 0x7F, 0x80, 0xFF] {
                let mut b = aligned_copy(&good);
                b[i] ^= x;
                if access::<Scene>(&b).is_err() {
                    bad += 1;
                }
            }
        }
        assert!(bad > 0, "some changes must be caught");
    }
}
