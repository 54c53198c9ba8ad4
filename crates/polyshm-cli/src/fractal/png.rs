//! PNG output: the counts coloured by a [`Palette`], 8-bit RGB.

use std::path::Path;

use anyhow::{ensure, Context, Result};

use super::palette::Palette;

/// Encode `counts` (row-major, `width`×`height`) as a PNG into `w`, coloured by
/// `palette`.
pub fn write<W: std::io::Write>(
    w: W,
    width: u32,
    height: u32,
    counts: &[u32],
    max_iter: u32,
    palette: Palette,
) -> Result<()> {
    ensure!(
        counts.len() == width as usize * height as usize,
        "asked for a {width}x{height} picture but have {} counts",
        counts.len()
    );
    let mut rgb = Vec::with_capacity(counts.len() * 3);
    for &c in counts {
        rgb.extend_from_slice(&palette.colour(c, max_iter));
    }
    let mut encoder = ::png::Encoder::new(w, width, height);
    encoder.set_color(::png::ColorType::Rgb);
    encoder.set_depth(::png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&rgb)?;
    writer.finish()?;
    Ok(())
}

/// Write the picture to the file at `path` (created or truncated).
pub fn save(
    path: &Path,
    width: u32,
    height: u32,
    counts: &[u32],
    max_iter: u32,
    palette: Palette,
) -> Result<()> {
    let file = std::fs::File::create(path)
        .with_context(|| format!("cannot create the picture {}", path.display()))?;
    write(
        std::io::BufWriter::new(file),
        width,
        height,
        counts,
        max_iter,
        palette,
    )
    .with_context(|| format!("cannot write the picture {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_and_decodes() {
        let counts = [1, 2, 3, 10, 10, 10];
        let mut buf = Vec::new();
        write(&mut buf, 3, 2, &counts, 10, Palette::Classic).unwrap();
        let decoder = ::png::Decoder::new(std::io::Cursor::new(buf));
        let mut reader = decoder.read_info().unwrap();
        let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut pixels).unwrap();
        assert_eq!((info.width, info.height), (3, 2));
        assert_eq!(&pixels[9..12], &super::super::palette::INSIDE);
        assert_eq!(&pixels[0..3], &Palette::Classic.colour(1, 10));
        assert!(write(&mut Vec::new(), 3, 3, &counts, 10, Palette::Classic).is_err());
    }
}
