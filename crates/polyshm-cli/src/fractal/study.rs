//! The study's own figures for the Fractal Explorer, read from the profile crate's
//! transcription of `study_figures.csv` (never retyped): table 11 (image size, time, result arrays,
//! average and total size) and the Mandelbrot speedup of section 1.3.

use anyhow::{bail, Context, Result};
use polyshm_profile::study::{self, Figure};

/// One row of the study's table 11.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Table11Row {
    /// Image width in pixels.
    pub width: u32,
    /// Image height in pixels.
    pub height: u32,
    /// Time in seconds.
    pub seconds: f64,
    /// Number of result arrays (tiles).
    pub result_arrays: u64,
    /// Average result array size (integers), total / arrays rounded.
    pub average_size: u64,
    /// Total size of the results (integers).
    pub total_size: u64,
}

/// One row of the study's speedup table (section 1.3).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SpeedupRow {
    /// The study's setup name (`single_image`, `1_drone`, `8_drones`).
    pub setup: String,
    /// Drones used; 0 for the single image.
    pub drones: usize,
    /// Execution time in seconds.
    pub seconds: f64,
}

/// The study's figures of one table, from the profile crate's transcription.
fn rows(table: &'static str) -> impl Iterator<Item = &'static Figure> {
    study::figures().iter().filter(move |f| f.table == table)
}

/// Table 11 of the study, smallest image first.
pub fn table11() -> Result<Vec<Table11Row>> {
    let mut out = Vec::new();
    for f in rows("11") {
        let (w, h) = parse_size(&f.variant).context("table 11 variant")?;
        let total = f.size.context("table 11 total size")?;
        let us = f.study_us;
        // the count of arrays is only in the note: "…; 16 result arrays; …"
        let arrays = f
            .note
            .split(';')
            .find_map(|part| {
                part.trim()
                    .strip_suffix(" result arrays")?
                    .parse::<u64>()
                    .ok()
            })
            .with_context(|| format!("table 11 note without result arrays: {}", f.note))?;
        out.push(Table11Row {
            width: w,
            height: h,
            seconds: us / 1e6,
            result_arrays: arrays,
            average_size: (total as f64 / arrays as f64).round() as u64,
            total_size: total,
        });
    }
    if out.is_empty() {
        bail!("the study's figures hold no table 11 rows");
    }
    Ok(out)
}

/// The study's speedup rows: single image, 1 drone, 8 drones.
pub fn speedup() -> Result<Vec<SpeedupRow>> {
    let mut out = Vec::new();
    for f in rows("speedup") {
        let setup = f.variant.clone();
        let drones = if setup == "single_image" {
            0
        } else {
            setup
                .split('_')
                .next()
                .and_then(|n| n.parse().ok())
                .with_context(|| format!("speedup setup {setup} does not start with a count"))?
        };
        let us = f.study_us;
        out.push(SpeedupRow {
            setup,
            drones,
            seconds: us / 1e6,
        });
    }
    if out.len() < 2 || out[0].drones != 0 {
        bail!("the study's figures lack the single-image speedup row first");
    }
    Ok(out)
}

/// Parse `WxH` (also `W@H` and `W×H`, the study's spellings).
pub fn parse_size(s: &str) -> Result<(u32, u32)> {
    let s = s.trim();
    let (w, h) = s
        .split_once(['x', 'X', '@', '×'])
        .with_context(|| format!("size `{s}` is not WxH (e.g. 627x491)"))?;
    let w = w
        .trim()
        .parse()
        .with_context(|| format!("width in `{s}`"))?;
    let h = h
        .trim()
        .parse()
        .with_context(|| format!("height in `{s}`"))?;
    Ok((w, h))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table11_holds_the_three_images() {
        let t = table11().unwrap();
        let sizes: Vec<_> = t.iter().map(|r| (r.width, r.height)).collect();
        assert_eq!(sizes, [(191, 186), (385, 324), (627, 491)]);
        assert_eq!(t[2].result_arrays, 180);
        assert_eq!(t[2].average_size, 1794);
        assert_eq!(t[0].average_size, 2316);
        assert_eq!(t[1].seconds, 40.0);
    }

    #[test]
    fn speedup_rows() {
        let s = speedup().unwrap();
        let d: Vec<_> = s.iter().map(|r| r.drones).collect();
        assert_eq!(d, [0, 1, 8]);
        assert!((s[0].seconds / s[2].seconds - 7.73).abs() < 0.01);
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("627x491").unwrap(), (627, 491));
        assert_eq!(parse_size("191 @ 186").unwrap(), (191, 186));
        assert!(parse_size("627").is_err());
        assert!(parse_size("ax3").is_err());
    }
}
