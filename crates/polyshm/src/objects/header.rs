//! The layout of an object segment, and its header.
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
//! | 256 | 64 | lock news: a death the lock reported to a claim, kept for the next holder |
//! | 320 | 64 × parts | the claim table (see [`claim`](super::claim)) |
//! | after | cells × size | the cells, row-major |
//!
//! The header is written before the segment is published and never changes; an opener
//! copies it once and checks every field against the segment's size before use.

use super::claim::SLOT;
use super::partition::Geometry;
use super::{ElementType, ObjectError, ObjectHandle, Shape};

const MAGIC: [u8; 8] = *b"PSHMOBJ\0";
const VERSION: u32 = 1;
const KIND_ARRAY: u32 = 1;
const KIND_MATRIX: u32 = 2;
const NAME_AT: usize = 88;
/// Bytes of the object header; the lock news follows.
pub(crate) const HEADER_LEN: usize = 256;
/// Where the claim table starts.
pub(crate) const CLAIMS_AT: usize = HEADER_LEN + 64;

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_ne_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Where the claim table and the cells lie, and the segment size they need.
pub(crate) struct Places {
    pub cells_at: usize,
    pub total: usize,
}

pub(crate) fn places(geo: &Geometry, cell_size: usize) -> Option<Places> {
    let cells_at = geo.parts.checked_mul(SLOT)?.checked_add(CLAIMS_AT)?;
    let total = geo.cells().checked_mul(cell_size)?.checked_add(cells_at)?;
    Some(Places { cells_at, total })
}

pub(crate) fn encode(h: &ObjectHandle, geo: &Geometry) -> [u8; HEADER_LEN] {
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
pub(crate) fn decode(segment: &str, b: &[u8; HEADER_LEN]) -> Result<ObjectHandle, ObjectError> {
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
