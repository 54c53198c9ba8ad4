//! [`Grid`]: the typed core that arrays and matrices wrap (create, open and check,
//! cell copies, claims, the lock), over the layout of [`header`](super::header).

use super::claim::{ClaimSlot, SLOT};
use super::header::{decode, encode, places, CLAIMS_AT, HEADER_LEN};
use super::partition::Geometry;
use super::{ElementType, ObjectError, ObjectHandle, Shape};
use crate::shm::{OwnerDied, RemoteMutexGuard, Reservation, SharedMemory};
use bytemuck::Pod;
use polyshm_sys::ProcessId;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};

/// A shared grid of `T` cells: the segment, its checked description and geometry.
pub(crate) struct Grid<T> {
    shm: SharedMemory,
    handle: ObjectHandle,
    pub(crate) geo: Geometry,
    cells_at: usize,
    /// The lock news and the claim table, reserved: no copy of this process covers
    /// their atomics.
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
        // SAFETY: the claim table lies in the data region at CLAIMS_AT, `parts`
        // slots of SLOT bytes before `cells_at` (checked against the segment size at
        // create / open), so slot `part` is in bounds; CLAIMS_AT and SLOT are
        // multiples of 64 and the data region is 64-aligned, so it is aligned for
        // `ClaimSlot`; `ClaimSlot` is atomics only, valid for any bytes, and other
        // processes change it only through atomics; no copy of this process covers
        // it (reserved in `wrap`); the mapping lives as long as `self.shm`.
        unsafe { &*(self.shm.as_ptr().add(CLAIMS_AT + part * SLOT) as *const ClaimSlot) }
    }

    fn news(&self) -> &LockNews {
        // SAFETY: the lock news lies in the data region at HEADER_LEN, 64 bytes before
        // CLAIMS_AT <= `cells_at` (checked against the segment size at create / open);
        // HEADER_LEN is a multiple of 64 in the 64-aligned data region; `LockNews` is
        // atomics only, valid for any bytes; no copy of this process covers it
        // (reserved in `wrap`); the mapping lives as long as `self.shm`.
        unsafe { &*(self.shm.as_ptr().add(HEADER_LEN) as *const LockNews) }
    }

    /// Take the segment's lock for the object's own bookkeeping (a claim): a death
    /// the lock reports is kept in the lock news for the next [`lock`](Self::lock).
    fn lock_quietly(&self) -> RemoteMutexGuard<'_> {
        self.shm.lock().unwrap_or_else(|died| {
            self.news().keep(died.previous());
            died.into_inner()
        })
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
        // the claim table: the claim goes on, and the next `lock` hears of it.
        let _locked = self.lock_quietly();
        let (word, previous) = self.slot(part).claim(self.name(), part)?;
        Ok(Part {
            grid: self,
            tile,
            word,
            previous,
        })
    }

    /// Take the object's lock: `Err(OwnerDied)` if a holder died inside since the
    /// last `lock` (noticed now, or by a claim meanwhile).
    pub(crate) fn lock(&self) -> Result<Locked<'_, T>, OwnerDied<Locked<'_, T>>> {
        let wrap = |guard| Locked {
            grid: self,
            _guard: guard,
        };
        match self.shm.lock() {
            Ok(guard) => match self.news().take() {
                None => Ok(wrap(guard)),
                Some(previous) => Err(OwnerDied::new(wrap(guard), previous)),
            },
            Err(died) => {
                self.news().take();
                Err(died.map(wrap))
            }
        }
    }
}

/// A death of a lock holder that a claim learnt of, kept for the next holder. Read
/// and written under the lock.
#[repr(C, align(64))]
struct LockNews {
    /// 1: a death is kept (any other value: none).
    kept: AtomicU64,
    pid: AtomicU64,
    start_time: AtomicU64,
    _pad: [u64; 5],
}

const _: () = assert!(std::mem::size_of::<LockNews>() == 64);

impl LockNews {
    fn keep(&self, p: ProcessId) {
        self.pid.store(u64::from(p.pid), Ordering::Relaxed);
        self.start_time.store(p.start_time, Ordering::Relaxed);
        self.kept.store(1, Ordering::Relaxed);
    }

    fn take(&self) -> Option<ProcessId> {
        if self.kept.swap(0, Ordering::Relaxed) != 1 {
            return None;
        }
        Some(ProcessId {
            pid: self.pid.load(Ordering::Relaxed) as u32,
            start_time: self.start_time.load(Ordering::Relaxed),
        })
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
