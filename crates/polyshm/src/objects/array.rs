//! [`SharedArray`]: a row of plain-old-data cells in a named segment, cut into parts.

use super::grid::{Grid, Locked, Part};
use super::{cache, ArrayHandle, ObjectError, Shape};
use crate::shm::OwnerDied;
use bytemuck::Pod;
use polyshm_sys::ProcessId;
use std::ops::Range;
use std::sync::Arc;

/// An array of `T` cells in a named segment that several processes map, cut into
/// parts of `part_len` cells, each written by one claimant at a time.
///
/// The master [`create`](Self::create)s it (and removes the segment when its value
/// drops); tasks get its [`handle`](Self::handle) and [`open`](Self::open) it (once
/// per process: [`open_cached`](Self::open_cached)). Reads of the whole are copies
/// (snapshots while others write). Writes go through a [`claim`](Self::claim)ed part,
/// or through the [`lock`](Self::lock) for cells no one has claimed.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use polyshm::objects::SharedArray;
/// let name = polyshm::shm::unique_name("doc-array");
/// let master = SharedArray::<u64>::create(&name, 10, 4)?; // parts 0..4, 4..8, 8..10
/// // In a task (another process): open by handle, claim a part, write it.
/// let handle = master.handle();
/// let task = SharedArray::<u64>::open(&handle)?;
/// let mut part = task.claim(1)?;
/// assert_eq!(part.range(), 4..8);
/// part.write(&[40, 50, 60, 70])?;
/// assert!(task.claim(1).is_err(), "one writer per part");
/// drop(part);
/// // Cells no one claimed, under the lock.
/// let locked = master.lock().map_err(|died| died.to_string())?;
/// locked.update(0, |n| n + 1)?;
/// drop(locked);
/// assert_eq!(master.to_vec()?, [1, 0, 0, 0, 40, 50, 60, 70, 0, 0]);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct SharedArray<T> {
    grid: Grid<T>,
}

impl<T: Pod> SharedArray<T> {
    /// Create segment `name` holding `len` zeroed cells in parts of `part_len`,
    /// owned by this process.
    pub fn create(name: &str, len: usize, part_len: usize) -> Result<Self, ObjectError> {
        let shape = Shape::Array { len, part_len };
        Ok(SharedArray {
            grid: Grid::create(name, shape, None)?,
        })
    }

    /// Create segment `name` holding a copy of `data` in parts of `part_len`: the
    /// cells are there before anyone can open it.
    pub fn from_slice(name: &str, data: &[T], part_len: usize) -> Result<Self, ObjectError> {
        let shape = Shape::Array {
            len: data.len(),
            part_len,
        };
        Ok(SharedArray {
            grid: Grid::create(name, shape, Some(data))?,
        })
    }

    /// Open the array `handle` describes. The handle is checked against `T`
    /// ([`ObjectError::HandleType`]), the segment against the handle (kind, cell type,
    /// shape, instance).
    pub fn open(handle: &ArrayHandle<T>) -> Result<Self, ObjectError> {
        Ok(SharedArray {
            grid: Grid::open(handle.object(), "array")?,
        })
    }

    /// [`open`](Self::open), once per process: later calls with the same handle
    /// answer the same mapping (see [`cache`](super::cache)).
    pub fn open_cached(handle: &ArrayHandle<T>) -> Result<Arc<Self>, ObjectError> {
        cache::open_cached(handle.object(), || Self::open(handle))
    }

    /// What a task needs to open the array.
    pub fn handle(&self) -> ArrayHandle<T> {
        ArrayHandle::new_unchecked(self.grid.handle().clone())
    }

    /// The segment's name.
    pub fn name(&self) -> &str {
        self.grid.name()
    }

    /// Whether this value created the segment (and removes it when dropped).
    pub fn is_owner(&self) -> bool {
        self.grid.is_owner()
    }

    /// Cells.
    pub fn len(&self) -> usize {
        self.grid.geo.cols
    }

    /// Whether the array has no cells.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of parts.
    pub fn parts(&self) -> usize {
        self.grid.geo.parts
    }

    /// The cells of part `part`, if there is one.
    pub fn part_range(&self, part: usize) -> Option<Range<usize>> {
        self.grid.geo.tile(part).map(|t| t.col_range())
    }

    fn check(&self, what: &str, start: usize, n: usize) -> Result<(), ObjectError> {
        match start.checked_add(n) {
            Some(end) if end <= self.len() => Ok(()),
            _ => Err(ObjectError::OutOfBounds {
                segment: self.name().into(),
                what: format!(
                    "{what} of cells {start}..{} in an array of {}",
                    start.saturating_add(n),
                    self.len()
                ),
            }),
        }
    }

    /// A copy of cell `i`.
    pub fn get(&self, i: usize) -> Result<T, ObjectError> {
        let mut v = [T::zeroed()];
        self.read_into(i, &mut v)?;
        Ok(v[0])
    }

    /// Copy the cells from `start` into `out`.
    pub fn read_into(&self, start: usize, out: &mut [T]) -> Result<(), ObjectError> {
        self.check("a read", start, out.len())?;
        self.grid.read(start, out)
    }

    /// A copy of every cell.
    pub fn to_vec(&self) -> Result<Vec<T>, ObjectError> {
        let mut v = vec![T::zeroed(); self.len()];
        self.grid.read(0, &mut v)?;
        Ok(v)
    }

    /// Claim part `part`: this process becomes its one writer until the answer drops
    /// (or this process dies: then the next claimant takes it over). A part a live
    /// process holds is refused ([`ObjectError::Claimed`]).
    ///
    /// Takes the array's lock for a moment.
    ///
    /// # Panics
    /// If this thread holds the array's [`lock`](Self::lock) (waiting would deadlock).
    pub fn claim(&self, part: usize) -> Result<ArrayPart<'_, T>, ObjectError> {
        Ok(ArrayPart {
            part: self.grid.claim(part)?,
        })
    }

    /// The live process that holds part `part`, if any.
    pub fn claimant(&self, part: usize) -> Result<Option<ProcessId>, ObjectError> {
        self.grid.claimant(part)
    }

    /// Take the array's lock (the segment's robust [`RemoteMutex`](crate::shm::RemoteMutex)),
    /// for cells no one has claimed. `Err(OwnerDied)` still holds it: its previous
    /// holder died inside, so the cells it guards may be half-written.
    pub fn lock(&self) -> Result<ArrayLock<'_, T>, OwnerDied<ArrayLock<'_, T>>> {
        let wrap = |locked| ArrayLock { locked };
        self.grid.lock().map(wrap).map_err(|d| d.map(wrap))
    }
}

impl<T: Pod> cache::Cached for SharedArray<T> {
    fn is_current(&self) -> bool {
        self.grid.is_current()
    }
    fn description(&self) -> &super::ObjectHandle {
        self.grid.handle()
    }
}

/// A claimed part of a [`SharedArray`]: its cells are written through it only. The
/// claim is dropped with it. Indices are those of the whole array.
#[derive(Debug)]
pub struct ArrayPart<'a, T: Pod> {
    part: Part<'a, T>,
}

impl<T: Pod> ArrayPart<'_, T> {
    /// The part's number.
    pub fn index(&self) -> usize {
        self.part.tile.index
    }

    /// The part's cells.
    pub fn range(&self) -> Range<usize> {
        self.part.tile.col_range()
    }

    /// The dead process this claim was taken over from, if any: the cells may hold
    /// what it half-wrote.
    pub fn taken_from(&self) -> Option<ProcessId> {
        self.part.previous
    }

    /// Copy `data` into the cells from `start` (all in the part).
    pub fn write_at(&mut self, start: usize, data: &[T]) -> Result<(), ObjectError> {
        let first = self.part.cells(0, start, data.len())?;
        self.part.grid.write(first, data)
    }

    /// Copy `data` into the whole part (exactly its length).
    pub fn write(&mut self, data: &[T]) -> Result<(), ObjectError> {
        let r = self.range();
        if data.len() != r.len() {
            return Err(ObjectError::Length {
                segment: self.part.grid.name().into(),
                what: format!("part {} (cells {}..{})", self.index(), r.start, r.end),
                expected: r.len(),
                found: data.len(),
            });
        }
        self.write_at(r.start, data)
    }

    /// Set cell `i` (in the part).
    pub fn set(&mut self, i: usize, v: T) -> Result<(), ObjectError> {
        self.write_at(i, &[v])
    }

    /// Set every cell of the part to `v`.
    pub fn fill(&mut self, v: T) -> Result<(), ObjectError> {
        let data = vec![v; self.range().len()];
        self.write(&data)
    }

    /// A copy of cell `i` (in the part).
    pub fn get(&self, i: usize) -> Result<T, ObjectError> {
        let first = self.part.cells(0, i, 1)?;
        let mut v = [T::zeroed()];
        self.part.grid.read(first, &mut v)?;
        Ok(v[0])
    }

    /// A copy of the part's cells.
    pub fn read(&self) -> Result<Vec<T>, ObjectError> {
        let mut v = vec![T::zeroed(); self.range().len()];
        self.part.grid.read(self.range().start, &mut v)?;
        Ok(v)
    }
}

/// The lock of a [`SharedArray`], held: cells read and written one by one. A write
/// to a cell of a part that a live process has claimed is refused
/// ([`ObjectError::CellClaimed`]). Unlocks on drop; not `Send`.
pub struct ArrayLock<'a, T> {
    locked: Locked<'a, T>,
}

impl<T> std::fmt::Debug for ArrayLock<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ArrayLock({:?})", self.locked.grid.handle().segment)
    }
}

impl<T: Pod> ArrayLock<'_, T> {
    fn check(&self, i: usize) -> Result<(), ObjectError> {
        let len = self.locked.grid.geo.cols;
        if i < len {
            return Ok(());
        }
        Err(ObjectError::OutOfBounds {
            segment: self.locked.grid.name().into(),
            what: format!("cell {i} is outside the array of {len}"),
        })
    }

    /// A copy of cell `i`.
    pub fn get(&self, i: usize) -> Result<T, ObjectError> {
        self.check(i)?;
        self.locked.get(0, i)
    }

    /// Set cell `i` to `v`.
    pub fn set(&self, i: usize, v: T) -> Result<(), ObjectError> {
        self.check(i)?;
        self.locked.set(0, i, v)
    }

    /// Set cell `i` to `f` of its value; answers the new value.
    pub fn update(&self, i: usize, f: impl FnOnce(T) -> T) -> Result<T, ObjectError> {
        let v = f(self.get(i)?);
        self.set(i, v)?;
        Ok(v)
    }
}
