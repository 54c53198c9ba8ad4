//! NumPy `.npy` output (format version 1.0): the counts as little-endian `uint32`, shape
//! `(H, W)`, row-major, so that other tools can check or reuse them
//! (`numpy.load("counts.npy")`).
//!
//! Layout: the magic `\x93NUMPY`, version bytes `1, 0`, a little-endian `u16` header
//! length, then the header, a Python dict literal padded with spaces and ended by `\n`
//! so that the data starts at a multiple of 64 bytes; then the data.

use std::io::Write;
use std::path::Path;

use anyhow::{ensure, Context, Result};

/// The magic string every `.npy` file starts with.
pub const MAGIC: &[u8; 6] = b"\x93NUMPY";
/// Alignment of the data start required by the format.
const ALIGN: usize = 64;

/// The header of a `uint32` array of shape `(rows, cols)`: magic, version, length, dict.
pub fn header(rows: usize, cols: usize) -> Vec<u8> {
    let dict = format!("{{'descr': '<u4', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    // magic (6) + version (2) + length (2) + dict + padding + '\n'
    let unpadded = MAGIC.len() + 2 + 2 + dict.len() + 1;
    let total = unpadded.div_ceil(ALIGN) * ALIGN;
    let header_len = total - (MAGIC.len() + 4);
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    let len16 = u16::try_from(header_len).expect("a two-number shape fits a 1.0 header");
    out.extend_from_slice(&len16.to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out.resize(total - 1, b' ');
    out.push(b'\n');
    out
}

/// Write `counts` (row-major, `rows`×`cols`) to `w` as a `.npy` stream.
pub fn write_u32<W: Write>(mut w: W, rows: usize, cols: usize, counts: &[u32]) -> Result<()> {
    ensure!(
        counts.len() == rows * cols,
        "asked to write a {rows}x{cols} array but have {} values",
        counts.len()
    );
    w.write_all(&header(rows, cols))?;
    let mut data = Vec::with_capacity(counts.len() * 4);
    for c in counts {
        data.extend_from_slice(&c.to_le_bytes());
    }
    w.write_all(&data)?;
    w.flush()?;
    Ok(())
}

/// Write `counts` to the file at `path` (created or truncated).
pub fn save_u32(path: &Path, rows: usize, cols: usize, counts: &[u32]) -> Result<()> {
    let file = std::fs::File::create(path)
        .with_context(|| format!("cannot create the counts file {}", path.display()))?;
    write_u32(std::io::BufWriter::new(file), rows, cols, counts)
        .with_context(|| format!("cannot write the counts file {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_aligned_and_says_the_shape() {
        for (r, c) in [(1, 1), (186, 191), (491, 627), (123456, 654321)] {
            let h = header(r, c);
            assert_eq!(h.len() % 64, 0);
            assert_eq!(&h[..8], b"\x93NUMPY\x01\x00");
            let len = u16::from_le_bytes([h[8], h[9]]) as usize;
            assert_eq!(len + 10, h.len());
            let dict = std::str::from_utf8(&h[10..]).unwrap();
            assert!(dict.ends_with('\n'));
            assert!(dict.starts_with(&format!(
                "{{'descr': '<u4', 'fortran_order': False, 'shape': ({r}, {c}), }}"
            )));
        }
    }

    #[test]
    fn data_follows_little_endian() {
        let mut buf = Vec::new();
        write_u32(&mut buf, 2, 2, &[1, 2, 3, 0x0102_0304]).unwrap();
        let data = &buf[header(2, 2).len()..];
        assert_eq!(data, &[1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 3, 2, 1]);
        assert!(write_u32(&mut Vec::new(), 2, 3, &[1]).is_err());
    }
}
