//! Partitions: how an object's cells are cut into parts, each written by one claimant.
//!
//! Both kinds of object are a grid of `rows × cols` cells cut into tiles: a matrix in
//! the tiles its [`Tiling`] asks for, an array as one row in parts of `part_len`.
//! Parts are numbered row-major over the tiles: part `i` lies in tile row
//! `i / across`, tile column `i % across`.

use super::{ObjectError, Shape};
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// How a [`SharedMatrix`](super::SharedMatrix) is cut into parts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tiling {
    /// Rows per tile.
    pub tile_rows: usize,
    /// Columns per tile (`usize::MAX`: every column).
    pub tile_cols: usize,
}

impl Tiling {
    /// Bands of `n` whole rows.
    pub fn rows(n: usize) -> Tiling {
        Tiling {
            tile_rows: n,
            tile_cols: usize::MAX,
        }
    }

    /// Tiles of `rows × cols` cells.
    pub fn tiles(rows: usize, cols: usize) -> Tiling {
        Tiling {
            tile_rows: rows,
            tile_cols: cols,
        }
    }
}

/// One part of a matrix: the cells of rows `row .. row + rows`, columns
/// `col .. col + cols` (tiles at the right and bottom edges may be smaller than the
/// tiling's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Tile {
    /// The part's number (what [`SharedMatrix::claim`](super::SharedMatrix::claim)
    /// takes).
    pub index: usize,
    /// First row.
    pub row: usize,
    /// First column.
    pub col: usize,
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
}

impl Tile {
    /// The tile's rows.
    pub fn row_range(&self) -> Range<usize> {
        self.row..self.row + self.rows
    }

    /// The tile's columns.
    pub fn col_range(&self) -> Range<usize> {
        self.col..self.col + self.cols
    }

    /// Cells in the tile.
    pub fn len(&self) -> usize {
        self.rows * self.cols
    }

    /// Whether the tile has no cells (never, for a tile of a matrix).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether cell (`row`, `col`) lies in the tile.
    pub fn contains(&self, row: usize, col: usize) -> bool {
        self.row_range().contains(&row) && self.col_range().contains(&col)
    }
}

impl std::fmt::Display for Tile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "rows {}..{}, columns {}..{}",
            self.row,
            self.row + self.rows,
            self.col,
            self.col + self.cols
        )
    }
}

/// A grid of cells and its tiles, every product checked at construction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Geometry {
    pub rows: usize,
    pub cols: usize,
    pub tile_rows: usize,
    pub tile_cols: usize,
    /// Tiles per tile row.
    pub across: usize,
    /// Tiles in all.
    pub parts: usize,
}

impl Geometry {
    /// The grid of `shape`: an array is one row. `None` if a tile dimension is 0 or
    /// the cell count overflows.
    pub fn of(shape: Shape) -> Option<Geometry> {
        let (rows, cols, tile_rows, tile_cols) = match shape {
            Shape::Array { len, part_len } => (1, len, 1, part_len),
            Shape::Matrix {
                rows,
                cols,
                tile_rows,
                tile_cols,
            } => (rows, cols, tile_rows, tile_cols),
        };
        if tile_rows == 0 || tile_cols == 0 {
            return None;
        }
        rows.checked_mul(cols)?;
        let across = cols.div_ceil(tile_cols);
        let down = rows.div_ceil(tile_rows);
        Some(Geometry {
            rows,
            cols,
            tile_rows,
            tile_cols,
            across,
            parts: across.checked_mul(down)?,
        })
    }

    /// Cells in all (checked in [`of`](Self::of)).
    pub fn cells(&self) -> usize {
        self.rows * self.cols
    }

    /// Tile `index`, if there is one.
    pub fn tile(&self, index: usize) -> Option<Tile> {
        if index >= self.parts {
            return None;
        }
        let (row, col) = (
            (index / self.across) * self.tile_rows,
            (index % self.across) * self.tile_cols,
        );
        Some(Tile {
            index,
            row,
            col,
            rows: self.tile_rows.min(self.rows - row),
            cols: self.tile_cols.min(self.cols - col),
        })
    }

    /// The part that cell (`row`, `col`) lies in (the cell must be in the grid).
    pub fn part_of(&self, row: usize, col: usize) -> usize {
        (row / self.tile_rows) * self.across + col / self.tile_cols
    }

    /// Row-major index of cell (`row`, `col`), or an error naming the grid.
    pub fn cell(&self, segment: &str, row: usize, col: usize) -> Result<usize, ObjectError> {
        if row < self.rows && col < self.cols {
            Ok(row * self.cols + col)
        } else {
            Err(ObjectError::OutOfBounds {
                segment: segment.into(),
                what: format!(
                    "cell ({row}, {col}) is outside the {} × {} cells",
                    self.rows, self.cols
                ),
            })
        }
    }

    /// The part number `part`, or [`ObjectError::NoSuchPart`].
    pub fn check_part(&self, segment: &str, part: usize) -> Result<Tile, ObjectError> {
        self.tile(part).ok_or_else(|| ObjectError::NoSuchPart {
            segment: segment.into(),
            part,
            parts: self.parts,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matrix(rows: usize, cols: usize, t: Tiling) -> Geometry {
        Geometry::of(Shape::Matrix {
            rows,
            cols,
            tile_rows: t.tile_rows,
            tile_cols: t.tile_cols.min(cols.max(1)),
        })
        .unwrap()
    }

    /// Every cell lies in exactly one tile, and `part_of` names it.
    #[test]
    fn tiles_cover_every_cell_once() {
        for (rows, cols, t) in [
            (7, 5, Tiling::tiles(3, 2)),
            (4, 4, Tiling::tiles(2, 2)),
            (5, 9, Tiling::rows(2)),
            (1, 1, Tiling::tiles(8, 8)),
        ] {
            let g = matrix(rows, cols, t);
            let mut seen = vec![0u32; rows * cols];
            for i in 0..g.parts {
                let tile = g.tile(i).unwrap();
                assert!(!tile.is_empty());
                for r in tile.row_range() {
                    for c in tile.col_range() {
                        seen[r * cols + c] += 1;
                        assert_eq!(g.part_of(r, c), i, "cell ({r}, {c})");
                        assert!(tile.contains(r, c));
                    }
                }
            }
            assert!(
                seen.iter().all(|&n| n == 1),
                "{rows}×{cols} {t:?}: {seen:?}"
            );
            assert!(g.tile(g.parts).is_none());
        }
    }

    #[test]
    fn edge_tiles_are_clipped_and_arrays_are_one_row() {
        let g = matrix(7, 5, Tiling::tiles(3, 2));
        assert_eq!((g.across, g.parts), (3, 9));
        let last = g.tile(8).unwrap();
        assert_eq!((last.row, last.col, last.rows, last.cols), (6, 4, 1, 1));
        assert_eq!(last.to_string(), "rows 6..7, columns 4..5");
        let a = Geometry::of(Shape::Array {
            len: 10,
            part_len: 4,
        })
        .unwrap();
        assert_eq!(a.parts, 3);
        assert_eq!(a.tile(2).unwrap().col_range(), 8..10);
    }

    #[test]
    fn degenerate_shapes() {
        let zero_tile = Shape::Array {
            len: 10,
            part_len: 0,
        };
        assert!(Geometry::of(zero_tile).is_none());
        let huge = Shape::Matrix {
            rows: usize::MAX,
            cols: 2,
            tile_rows: 1,
            tile_cols: 1,
        };
        assert!(Geometry::of(huge).is_none());
        let empty = Geometry::of(Shape::Array {
            len: 0,
            part_len: 4,
        })
        .unwrap();
        assert_eq!((empty.parts, empty.cells()), (0, 0));
        assert!(matches!(
            empty.check_part("e", 0),
            Err(ObjectError::NoSuchPart { parts: 0, .. })
        ));
    }
}
