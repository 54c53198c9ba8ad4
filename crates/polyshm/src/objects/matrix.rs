//! [`SharedMatrix`]: a row-major matrix of plain-old-data cells in a named segment,
//! cut into tiles.

use super::grid::{Grid, Locked, Part};
use super::{cache, MatrixHandle, ObjectError, Shape, Tile, Tiling};
use crate::shm::OwnerDied;
use bytemuck::Pod;
use polyshm_sys::ProcessId;
use std::sync::Arc;

/// A `rows × cols` matrix of `T` cells (row-major) in a named segment that several
/// processes map, cut into tiles (or bands of rows: [`Tiling`]), each written by one
/// claimant at a time.
///
/// The master [`create`](Self::create)s it (and removes the segment when its value
/// drops); tasks get its [`handle`](Self::handle) and a [`Tile`], [`open`](Self::open)
/// it once per process ([`open_cached`](Self::open_cached)), [`claim`](Self::claim)
/// their tile and write it. Reads of the whole are copies. Cells no one claims are
/// written under the [`lock`](Self::lock).
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use polyshm::objects::{SharedMatrix, Tiling};
/// let name = polyshm::shm::unique_name("doc-matrix");
/// let master = SharedMatrix::<u32>::create(&name, 3, 4, Tiling::tiles(2, 2))?;
/// assert_eq!(master.parts(), 4); // 2 × 2 tiles; the bottom ones 1 row high
/// // In a task (another process): the handle and a tile travel as task arguments.
/// let (handle, tile) = (master.handle(), master.tile(3).unwrap());
/// let task = SharedMatrix::<u32>::open_cached(&handle)?;
/// let mut part = task.claim(tile.index)?;
/// for r in tile.row_range() {
///     let row: Vec<u32> = tile.col_range().map(|c| (10 * r + c) as u32).collect();
///     part.write_row(r, &row)?;
/// }
/// drop(part);
/// // Cells no one claims, under the lock.
/// let locked = master.lock().map_err(|died| died.to_string())?;
/// locked.set(0, 0, 7)?;
/// drop(locked);
/// assert_eq!(master.read_row(2)?, [0, 0, 22, 23]);
/// assert_eq!(master.get(0, 0)?, 7);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct SharedMatrix<T> {
    grid: Grid<T>,
}

fn shape(rows: usize, cols: usize, tiling: Tiling) -> Shape {
    Shape::Matrix {
        rows,
        cols,
        tile_rows: tiling.tile_rows,
        // `Tiling::rows`: every column (at least one, so that the tiling is valid).
        tile_cols: tiling.tile_cols.min(cols.max(1)),
    }
}

impl<T: Pod> SharedMatrix<T> {
    /// Create segment `name` holding a `rows × cols` matrix of zeroed cells cut as
    /// `tiling` says, owned by this process.
    pub fn create(
        name: &str,
        rows: usize,
        cols: usize,
        tiling: Tiling,
    ) -> Result<Self, ObjectError> {
        Ok(SharedMatrix {
            grid: Grid::create(name, shape(rows, cols, tiling), None)?,
        })
    }

    /// Create segment `name` holding a copy of `data` (row-major, `rows × cols`
    /// cells): the cells are there before anyone can open it.
    pub fn from_slice(
        name: &str,
        rows: usize,
        cols: usize,
        tiling: Tiling,
        data: &[T],
    ) -> Result<Self, ObjectError> {
        Ok(SharedMatrix {
            grid: Grid::create(name, shape(rows, cols, tiling), Some(data))?,
        })
    }

    /// Open the matrix `handle` describes. The handle is checked against `T`
    /// ([`ObjectError::HandleType`]), the segment against the handle (kind, cell type,
    /// shape, instance).
    pub fn open(handle: &MatrixHandle<T>) -> Result<Self, ObjectError> {
        Ok(SharedMatrix {
            grid: Grid::open(handle.object(), "matrix")?,
        })
    }

    /// [`open`](Self::open), once per process: later calls with the same handle
    /// answer the same mapping (see [`cache`](super::cache)).
    pub fn open_cached(handle: &MatrixHandle<T>) -> Result<Arc<Self>, ObjectError> {
        cache::open_cached(handle.object(), || Self::open(handle))
    }

    /// What a task needs to open the matrix.
    pub fn handle(&self) -> MatrixHandle<T> {
        MatrixHandle::new_unchecked(self.grid.handle().clone())
    }

    /// The segment's name.
    pub fn name(&self) -> &str {
        self.grid.name()
    }

    /// Whether this value created the segment (and removes it when dropped).
    pub fn is_owner(&self) -> bool {
        self.grid.is_owner()
    }

    /// Rows.
    pub fn rows(&self) -> usize {
        self.grid.geo.rows
    }

    /// Columns.
    pub fn cols(&self) -> usize {
        self.grid.geo.cols
    }

    /// Number of tiles (parts).
    pub fn parts(&self) -> usize {
        self.grid.geo.parts
    }

    /// Tile `part`, if there is one.
    pub fn tile(&self, part: usize) -> Option<Tile> {
        self.grid.geo.tile(part)
    }

    /// Every tile, in part order.
    pub fn tiles(&self) -> impl Iterator<Item = Tile> + '_ {
        (0..self.parts()).filter_map(|i| self.tile(i))
    }

    /// A copy of cell (`row`, `col`).
    pub fn get(&self, row: usize, col: usize) -> Result<T, ObjectError> {
        let mut v = [T::zeroed()];
        self.grid
            .read(self.grid.geo.cell(self.name(), row, col)?, &mut v)?;
        Ok(v[0])
    }

    /// A copy of row `row`.
    pub fn read_row(&self, row: usize) -> Result<Vec<T>, ObjectError> {
        if row >= self.rows() {
            return Err(ObjectError::OutOfBounds {
                segment: self.name().into(),
                what: format!("row {row} is outside the {} rows", self.rows()),
            });
        }
        let mut v = vec![T::zeroed(); self.cols()];
        self.grid.read(row * self.cols(), &mut v)?;
        Ok(v)
    }

    /// A copy of the cells of `tile` (row-major).
    pub fn read_tile(&self, tile: &Tile) -> Result<Vec<T>, ObjectError> {
        let fits = tile
            .row
            .checked_add(tile.rows)
            .is_some_and(|e| e <= self.rows())
            && tile
                .col
                .checked_add(tile.cols)
                .is_some_and(|e| e <= self.cols());
        if !fits {
            return Err(ObjectError::OutOfBounds {
                segment: self.name().into(),
                what: format!(
                    "tile {tile} is outside the {} × {} cells",
                    self.rows(),
                    self.cols()
                ),
            });
        }
        let mut v = vec![T::zeroed(); tile.len()];
        if tile.cols > 0 {
            for (r, out) in tile.row_range().zip(v.chunks_mut(tile.cols)) {
                self.grid.read(r * self.cols() + tile.col, out)?;
            }
        }
        Ok(v)
    }

    /// A copy of every cell (row-major).
    pub fn to_vec(&self) -> Result<Vec<T>, ObjectError> {
        let mut v = vec![T::zeroed(); self.grid.geo.cells()];
        self.grid.read(0, &mut v)?;
        Ok(v)
    }

    /// Claim tile `part`: this process becomes its one writer until the answer drops
    /// (or this process dies: then the next claimant takes it over). A tile a live
    /// process holds is refused ([`ObjectError::Claimed`]).
    ///
    /// Takes the matrix's lock for a moment.
    ///
    /// # Panics
    /// If this thread holds the matrix's [`lock`](Self::lock) (waiting would deadlock).
    pub fn claim(&self, part: usize) -> Result<TilePart<'_, T>, ObjectError> {
        Ok(TilePart {
            part: self.grid.claim(part)?,
        })
    }

    /// The live process that holds tile `part`, if any.
    pub fn claimant(&self, part: usize) -> Result<Option<ProcessId>, ObjectError> {
        self.grid.claimant(part)
    }

    /// Take the matrix's lock (the segment's robust
    /// [`RemoteMutex`](crate::shm::RemoteMutex)), for cells no one has claimed.
    /// `Err(OwnerDied)` still holds it: its previous holder died inside, so the cells
    /// it guards may be half-written.
    pub fn lock(&self) -> Result<MatrixLock<'_, T>, OwnerDied<MatrixLock<'_, T>>> {
        let wrap = |locked| MatrixLock { locked };
        self.grid.lock().map(wrap).map_err(|d| d.map(wrap))
    }
}

impl<T: Pod> cache::Cached for SharedMatrix<T> {
    fn is_current(&self) -> bool {
        self.grid.is_current()
    }
    fn description(&self) -> &super::ObjectHandle {
        self.grid.handle()
    }
}

/// A claimed tile of a [`SharedMatrix`]: its cells are written through it only. The
/// claim is dropped with it. Coordinates are those of the whole matrix.
#[derive(Debug)]
pub struct TilePart<'a, T: Pod> {
    part: Part<'a, T>,
}

impl<T: Pod> TilePart<'_, T> {
    /// The tile.
    pub fn tile(&self) -> Tile {
        self.part.tile
    }

    /// The dead process this claim was taken over from, if any: the cells may hold
    /// what it half-wrote.
    pub fn taken_from(&self) -> Option<ProcessId> {
        self.part.previous
    }

    /// Copy `data` into row `row` of the tile (exactly the tile's width).
    pub fn write_row(&mut self, row: usize, data: &[T]) -> Result<(), ObjectError> {
        let t = self.part.tile;
        if data.len() != t.cols {
            return Err(ObjectError::Length {
                segment: self.part.grid.name().into(),
                what: format!("a row of tile {} ({t})", t.index),
                expected: t.cols,
                found: data.len(),
            });
        }
        let first = self.part.cells(row, t.col, data.len())?;
        self.part.grid.write(first, data)
    }

    /// Copy `data` (row-major, exactly the tile's cells) into the whole tile.
    pub fn write(&mut self, data: &[T]) -> Result<(), ObjectError> {
        let t = self.part.tile;
        if data.len() != t.len() {
            return Err(ObjectError::Length {
                segment: self.part.grid.name().into(),
                what: format!("tile {} ({t})", t.index),
                expected: t.len(),
                found: data.len(),
            });
        }
        for (r, row) in t.row_range().zip(data.chunks(t.cols)) {
            self.write_row(r, row)?;
        }
        Ok(())
    }

    /// Set cell (`row`, `col`) (in the tile).
    pub fn set(&mut self, row: usize, col: usize, v: T) -> Result<(), ObjectError> {
        let first = self.part.cells(row, col, 1)?;
        self.part.grid.write(first, &[v])
    }

    /// Set every cell of the tile to `v`.
    pub fn fill(&mut self, v: T) -> Result<(), ObjectError> {
        let row = vec![v; self.part.tile.cols];
        for r in self.part.tile.row_range() {
            self.write_row(r, &row)?;
        }
        Ok(())
    }

    /// A copy of cell (`row`, `col`) (in the tile).
    pub fn get(&self, row: usize, col: usize) -> Result<T, ObjectError> {
        let first = self.part.cells(row, col, 1)?;
        let mut v = [T::zeroed()];
        self.part.grid.read(first, &mut v)?;
        Ok(v[0])
    }

    /// A copy of the tile's cells (row-major).
    pub fn read(&self) -> Result<Vec<T>, ObjectError> {
        let t = self.part.tile;
        let mut v = vec![T::zeroed(); t.len()];
        for (r, out) in t.row_range().zip(v.chunks_mut(t.cols)) {
            self.part
                .grid
                .read(r * self.part.grid.geo.cols + t.col, out)?;
        }
        Ok(v)
    }
}

/// The lock of a [`SharedMatrix`], held: cells read and written one by one. A write
/// to a cell of a tile that a live process has claimed is refused
/// ([`ObjectError::CellClaimed`]). Unlocks on drop; not `Send`.
pub struct MatrixLock<'a, T> {
    locked: Locked<'a, T>,
}

impl<T> std::fmt::Debug for MatrixLock<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MatrixLock({:?})", self.locked.grid.handle().segment)
    }
}

impl<T: Pod> MatrixLock<'_, T> {
    /// A copy of cell (`row`, `col`).
    pub fn get(&self, row: usize, col: usize) -> Result<T, ObjectError> {
        self.locked.get(row, col)
    }

    /// Set cell (`row`, `col`) to `v`.
    pub fn set(&self, row: usize, col: usize, v: T) -> Result<(), ObjectError> {
        self.locked.set(row, col, v)
    }

    /// Set cell (`row`, `col`) to `f` of its value; answers the new value.
    pub fn update(&self, row: usize, col: usize, f: impl FnOnce(T) -> T) -> Result<T, ObjectError> {
        let v = f(self.get(row, col)?);
        self.set(row, col, v)?;
        Ok(v)
    }
}
