//! The layout of an object segment, and [`Grid`]: the typed core that arrays and
//! matrices wrap (create, open and check, cell copies, claims, the lock).
//!
//! The segment's data region holds, in the machine's byte order:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic `b"PSHMOBJ\0"` |
//! | 8 | 4 | object layout version, `1` |
//! | 12 | 4 | kind: 1 array, 2 matrix |
//! | 16 | 8 | instance (random, drawn by the creator) |
//! | 24 | 32 | rows, cols, tile rows, tile cols (u64 each; an array is 1 × len in 1 × part_len) |
//! | 56 | 8 | cell size |
//! | 64 | 8 | cell alignment |
//! | 72 | 8 | FNV-1a hash of the cell type's name |
//! | 80 | 4 | length of the name kept below |
//! | 88 | 168 | the cell type's name (UTF-8, cut at 168 bytes) |
//! | 256 | 64 × parts | the claim table (see [`claim`](super::claim)) |
//! | after | cells × size | the cells, row-major |
//!
//! The header is written before the segment is published and never changes; an opener
//! copies it once and checks every field against the segment's size before use.

use super::claim::{ClaimSlot, SLOT};
use super::partition::Geometry;
use super::{ElementType, ObjectError, ObjectHandle, Shape};
use crate::shm::{OwnerDied, RemoteMutexGuard, Reservation, SharedMemory};
use bytemuck::Pod;
use polyshm_sys::ProcessId;
use std::marker::PhantomData;

const MAGIC: [u8; 8] = *b"PSHMOBJ\0";
const VERSION: u32 = 1;
const KIND_ARRAY: u32 = 1;
const KIND_MATRIX: u32 = 2;
const NAME_AT: usize = 88;
/// Bytes of the object header; the claim table follows.
pub(crate) const HEADER_LEN: usize = 256;

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_ne_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Where the claim table and the cells lie, and the segment size they need.
struct Places {
    cells_at: usize,
    total: usize,
}

fn places(geo: &Geometry, cell_size: usize) -> Option<Places> {
    let cells_at = geo.parts.checked_mul(SLOT)?.checked_add(HEADER_LEN)?;
    let total = geo.cells().checked_mul(cell_size)?.checked_add(cells_at)?;
    Some(Places { cells_at, total })
}

fn encode(h: &ObjectHandle, geo: &Geometry) -> [u8; HEADER_LEN] {
    let mut b = [0u8; HEADER_LEN];
    let kind = match h.shape {
        Shape::Array { .. } => KIND_ARRAY,
        Shape::Matrix { .. } => KIND_MATRIX,
    };
    b[0..8].copy_from_slice(&MAGIC);
    b[8..12].copy_from_slice(&VERSION.to_ne_bytes());
    b[12..16].copy_from_slice(&kind.to_ne_bytes());
    let words = [
        h.instance,
        geo.rows as u64,
        geo.cols as u64,
        geo.tile_rows as u64,
        geo.tile_cols as u64,
        h.element.size,
        h.element.align,
        h.element.hash,
    ];
    for (i, w) in words.iter().enumerate() {
        b[16 + 8 * i..24 + 8 * i].copy_from_slice(&w.to_ne_bytes());
    }
    let name = h.element.name.as_bytes();
    let n = name.len().min(HEADER_LEN - NAME_AT);
    b[80..84].copy_from_slice(&(n as u32).to_ne_bytes());
    b[NAME_AT..NAME_AT + n].copy_from_slice(&name[..n]);
    b
}

/// The description a header holds (untrusted bytes another process wrote).
fn decode(segment: &str, b: &[u8; HEADER_LEN]) -> Result<ObjectHandle, ObjectError> {
    let corrupt = |what: String| ObjectError::Corrupt {
        segment: segment.into(),
        what,
    };
    if b[0..8] != MAGIC {
        return Err(ObjectError::NotAnObject {
            segment: segment.into(),
        });
    }
    let version = u32_at(b, 8);
    if version != VERSION {
        return Err(corrupt(format!(
            "object layout version {version}, this polyshm reads version {VERSION} (use the same polyshm on both sides)"
        )));
    }
    let dim = |at: usize| usize::try_from(u64_at(b, at)).unwrap_or(usize::MAX);
    let (rows, cols, tile_rows, tile_cols) = (dim(24), dim(32), dim(40), dim(48));
    let shape = match u32_at(b, 12) {
        KIND_ARRAY if rows == 1 && tile_rows == 1 => Shape::Array {
            len: cols,
            part_len: tile_cols,
        },
        KIND_MATRIX => Shape::Matrix {
            rows,
            cols,
            tile_rows,
            tile_cols,
        },
        k => {
            return Err(corrupt(format!(
                "kind {k} with {rows} rows in tiles of {tile_rows}"
            )))
        }
    };
    let n = (u32_at(b, 80) as usize).min(HEADER_LEN - NAME_AT);
    Ok(ObjectHandle {
        segment: segment.into(),
        instance: u64_at(b, 16),
        shape,
        element: ElementType {
            size: u64_at(b, 56),
            align: u64_at(b, 64),
            name: String::from_utf8_lossy(&b[NAME_AT..NAME_AT + n]).into_owned(),
            hash: u64_at(b, 72),
        },
    })
}

/// A shared grid of `T` cells: the segment, its checked description and geometry.
pub(crate) struct Grid<T> {
    shm: SharedMemory,
    handle: ObjectHandle,
    pub(crate) geo: Geometry,
    cells_at: usize,
    /// The claim table, reserved: no copy of this process covers its atomics.
    _claims: Reservation,
    _cells: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for Grid<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grid")
            .field("handle", &self.handle)
            .field("owner", &self.shm.is_owner())
            .finish()
    }
}

impl<T: Pod> Grid<T> {
    /// Make segment `segment` holding `shape` (zeroed cells, or `init`'s).
    pub(crate) fn create(
        segment: &str,
        shape: Shape,
        init: Option<&[T]>,
    ) -> Result<Grid<T>, ObjectError> {
        let bad = |what: String| ObjectError::BadShape {
            segment: segment.into(),
            what,
        };
        let element = ElementType::of::<T>();
        if element.size == 0 {
            return Err(bad(format!(
                "cells of {element} take no room; use a type of at least one byte"
            )));
        }
        let geo = Geometry::of(shape).ok_or_else(|| {
            bad(format!(
                "{shape} cannot be made: parts need at least one cell each way, and the cell count must fit in memory"
            ))
        })?;
        let places = places(&geo, element.size as usize)
            .ok_or_else(|| bad(format!("{shape} of {element} does not fit in memory")))?;
        if let Some(data) = init {
            if data.len() != geo.cells() {
                return Err(ObjectError::Length {
                    segment: segment.into(),
                    what: format!("{shape}"),
                    expected: geo.cells(),
                    found: data.len(),
                });
            }
        }
        let handle = ObjectHandle {
            segment: segment.into(),
            instance: crate::shm::header::random_u64(),
            shape,
            element,
        };
        let header = encode(&handle, &geo);
        let cells: &[u8] = init.map_or(&[], bytemuck::cast_slice);
        let cells_at = places.cells_at;
        let shm = SharedMemory::create_initialised(segment, places.total, |data| {
            // SAFETY: `data` is the start of the data region, `places.total` zeroed
            // bytes that no other process can see yet (the header is unpublished) and
            // no reference covers; the header (256 bytes) and the cells (`cells_at`
            // plus `cells.len()`, which is `geo.cells() * size`) lie within
            // `places.total` by construction; the sources are this process's own
            // memory, so nothing overlaps.
            unsafe {
                std::ptr::copy_nonoverlapping(header.as_ptr(), data, HEADER_LEN);
                std::ptr::copy_nonoverlapping(cells.as_ptr(), data.add(cells_at), cells.len());
            }
        })?;
        Ok(Self::wrap(shm, handle, geo, places.cells_at))
    }

    fn wrap(shm: SharedMemory, handle: ObjectHandle, geo: Geometry, cells_at: usize) -> Grid<T> {
        let claims = crate::shm::reserve(&shm, HEADER_LEN, cells_at - HEADER_LEN);
        Grid {
            shm,
            handle,
            geo,
            cells_at,
            _claims: claims,
            _cells: PhantomData,
        }
    }

    /// Open the object `want` describes, as a `T` object of its kind: the handle is
    /// checked against `T`, then the segment's header against the handle.
    pub(crate) fn open(want: &ObjectHandle, kind: &'static str) -> Result<Grid<T>, ObjectError> {
        want.check::<T>(kind)?;
        let segment = want.segment.as_str();
        let shm = SharedMemory::open(segment)?;
        let mut header = [0u8; HEADER_LEN];
        if shm.len() < HEADER_LEN {
            return Err(ObjectError::NotAnObject {
                segment: segment.into(),
            });
        }
        shm.read_at(0, &mut header)?;
        let found = decode(segment, &header)?;
        if found.shape.kind() != kind {
            return Err(ObjectError::WrongKind {
                segment: segment.into(),
                found: found.shape.kind(),
                wanted: kind,
            });
        }
        if !found.element.matches(&want.element) {
            return Err(ObjectError::SegmentType {
                segment: segment.into(),
                found: found.element.to_string(),
                wanted: want.element.to_string(),
            });
        }
        if found.shape != want.shape {
            return Err(ObjectError::SegmentShape {
                segment: segment.into(),
                found: found.shape.to_string(),
                wanted: want.shape.to_string(),
            });
        }
        if found.instance != want.instance {
            return Err(ObjectError::Instance {
                segment: segment.into(),
                found: found.instance,
                wanted: want.instance,
            });
        }
        // The segment says what the handle says, and the handle what `T` is: from here
        // on the geometry is this process's own, checked once against the size.
        let corrupt = |what: String| ObjectError::Corrupt {
            segment: segment.into(),
            what,
        };
        let geo = Geometry::of(found.shape)
            .ok_or_else(|| corrupt(format!("{} cannot exist", found.shape)))?;
        let places = places(&geo, std::mem::size_of::<T>())
            .filter(|p| p.total <= shm.len())
            .ok_or_else(|| {
                corrupt(format!(
                    "{} of {} needs more than the {} bytes the segment holds",
                    found.shape,
                    found.element,
                    shm.len()
                ))
            })?;
        Ok(Self::wrap(shm, found, geo, places.cells_at))
    }
}

impl<T> Grid<T> {
    pub(crate) fn name(&self) -> &str {
        self.shm.name()
    }

    pub(crate) fn handle(&self) -> &ObjectHandle {
        &self.handle
    }

    pub(crate) fn is_owner(&self) -> bool {
        self.shm.is_owner()
    }

    pub(crate) fn is_current(&self) -> bool {
        self.shm.is_current()
    }
}

impl<T: Pod> Grid<T> {
    fn span_error(&self, what: &str, first: usize, n: usize) -> ObjectError {
        ObjectError::OutOfBounds {
            segment: self.name().into(),
            what: format!(
                "{what} of {n} cells from cell {first} goes past the {} cells",
                self.geo.cells()
            ),
        }
    }

    /// Byte offset of cells `first .. first + n` (row-major), checked.
    fn offset(&self, what: &str, first: usize, n: usize) -> Result<usize, ObjectError> {
        match first.checked_add(n) {
            Some(end) if end <= self.geo.cells() => {
                Ok(self.cells_at + first * std::mem::size_of::<T>())
            }
            _ => Err(self.span_error(what, first, n)),
        }
    }

    /// Copy cells `first ..` into `out` (a snapshot: see the trust model of `shm`).
    pub(crate) fn read(&self, first: usize, out: &mut [T]) -> Result<(), ObjectError> {
        let at = self.offset("a read", first, out.len())?;
        Ok(self.shm.read_into(at, out)?)
    }

    /// Copy `data` into cells `first ..`.
    pub(crate) fn write(&self, first: usize, data: &[T]) -> Result<(), ObjectError> {
        let at = self.offset("a write", first, data.len())?;
        Ok(self.shm.write_from(at, data)?)
    }

    fn slot(&self, part: usize) -> &ClaimSlot {
        assert!(part < self.geo.parts, "part {part} checked by the caller");
        // SAFETY: the claim table lies in the data region at HEADER_LEN, `parts`
        // slots of SLOT bytes before `cells_at` (checked against the segment size at
        // create / open), so slot `part` is in bounds; HEADER_LEN and SLOT are
        // multiples of 64 and the data region is 64-aligned, so it is aligned for
        // `ClaimSlot`; `ClaimSlot` is atomics only, valid for any bytes, and other
        // processes change it only through atomics; no copy of this process covers
        // it (reserved in `wrap`); the mapping lives as long as `self.shm`.
        unsafe { &*(self.shm.as_ptr().add(HEADER_LEN + part * SLOT) as *const ClaimSlot) }
    }

    /// The live process holding part `part`, if any.
    pub(crate) fn claimant(&self, part: usize) -> Result<Option<ProcessId>, ObjectError> {
        self.geo.check_part(self.name(), part)?;
        Ok(self.slot(part).live_claimant())
    }

    /// Claim part `part` for this process (under the lock, for a moment).
    pub(crate) fn claim(&self, part: usize) -> Result<Part<'_, T>, ObjectError> {
        let tile = self.geo.check_part(self.name(), part)?;
        // A holder that died in its critical section leaves cells half-written, not
        // the claim table: the claim goes on.
        let _locked = self.shm.lock().unwrap_or_else(OwnerDied::into_inner);
        let (word, previous) = self.slot(part).claim(self.name(), part)?;
        Ok(Part {
            grid: self,
            tile,
            word,
            previous,
        })
    }

    /// Take the object's lock.
    pub(crate) fn lock(&self) -> Result<Locked<'_, T>, OwnerDied<Locked<'_, T>>> {
        let wrap = |guard| Locked {
            grid: self,
            _guard: guard,
        };
        self.shm.lock().map(wrap).map_err(|d| d.map(wrap))
    }
}

/// A claimed part: the tile it covers, its claim released on drop.
#[derive(Debug)]
pub(crate) struct Part<'a, T: Pod> {
    pub(crate) grid: &'a Grid<T>,
    pub(crate) tile: super::Tile,
    word: u64,
    pub(crate) previous: Option<ProcessId>,
}

impl<T: Pod> Part<'_, T> {
    /// Check that `n` cells from (`row`, `col`) along the row lie in the part; answers
    /// the row-major index of the first.
    pub(crate) fn cells(&self, row: usize, col: usize, n: usize) -> Result<usize, ObjectError> {
        let t = &self.tile;
        if t.contains(row, col) && n <= t.col + t.cols - col {
            return Ok(row * self.grid.geo.cols + col);
        }
        Err(ObjectError::OutsidePart {
            segment: self.grid.name().into(),
            part: t.index,
            part_is: t.to_string(),
            what: format!("{n} cells from ({row}, {col})"),
        })
    }
}

impl<T: Pod> Drop for Part<'_, T> {
    fn drop(&mut self) {
        self.grid.slot(self.tile.index).release(self.word);
    }
}

/// The object's lock held: single cells read and written, a write refused in a part a
/// live process has claimed.
pub(crate) struct Locked<'a, T> {
    pub(crate) grid: &'a Grid<T>,
    _guard: RemoteMutexGuard<'a>,
}

impl<T: Pod> Locked<'_, T> {
    pub(crate) fn get(&self, row: usize, col: usize) -> Result<T, ObjectError> {
        let g = self.grid;
        let mut v = [T::zeroed()];
        g.read(g.geo.cell(g.name(), row, col)?, &mut v)?;
        Ok(v[0])
    }

    pub(crate) fn set(&self, row: usize, col: usize, v: T) -> Result<(), ObjectError> {
        let g = self.grid;
        let cell = g.geo.cell(g.name(), row, col)?;
        let part = g.geo.part_of(row, col);
        // Claims are taken under this lock, so none starts before the write ends.
        if let Some(by) = g.slot(part).live_claimant() {
            return Err(ObjectError::CellClaimed {
                segment: g.name().into(),
                cell,
                part,
                by,
            });
        }
        g.write(cell, &[v])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handle(shape: Shape) -> ObjectHandle {
        ObjectHandle {
            segment: "s".into(),
            instance: 0x1234,
            shape,
            element: ElementType::of::<[u16; 3]>(),
        }
    }

    #[test]
    fn headers_round_trip() {
        for shape in [
            Shape::Array {
                len: 10,
                part_len: 3,
            },
            Shape::Matrix {
                rows: 4,
                cols: 6,
                tile_rows: 2,
                tile_cols: 5,
            },
        ] {
            let h = handle(shape);
            let b = encode(&h, &Geometry::of(shape).unwrap());
            let back = decode("s", &b).unwrap();
            assert_eq!(back, h);
            assert_eq!(back.element.name, h.element.name);
        }
    }

    #[test]
    fn scribbled_headers_are_refused() {
        let shape = Shape::Array {
            len: 10,
            part_len: 3,
        };
        let good = encode(&handle(shape), &Geometry::of(shape).unwrap());
        let mut b = good;
        b[0] ^= 1;
        assert!(matches!(
            decode("s", &b),
            Err(ObjectError::NotAnObject { .. })
        ));
        let mut b = good;
        b[8] = 9;
        assert!(matches!(decode("s", &b), Err(ObjectError::Corrupt { .. })));
        let mut b = good;
        b[12] = 7;
        assert!(matches!(decode("s", &b), Err(ObjectError::Corrupt { .. })));
        // An array of two rows is no array.
        let mut b = good;
        b[24] = 2;
        assert!(matches!(decode("s", &b), Err(ObjectError::Corrupt { .. })));
        // A name length past the header is cut, never read out of bounds.
        let mut b = good;
        b[80..84].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert_eq!(
            decode("s", &b).unwrap().element.name.len(),
            HEADER_LEN - NAME_AT
        );
        // A huge size needs more than any segment holds.
        let geo = Geometry::of(Shape::Matrix {
            rows: usize::MAX / 2,
            cols: 1,
            tile_rows: 1,
            tile_cols: 1,
        })
        .unwrap();
        assert!(places(&geo, 1).is_none());
    }
}
