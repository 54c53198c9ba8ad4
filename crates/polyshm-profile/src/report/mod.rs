//! Reporting: the terminal while a run measures ([`Terminal`]), and the files written
//! after it ([`write()`]): `report.md`, `results.json`, `results.csv` and the SVG plots
//! of the study's Images 1–4.

mod data;
mod format;
mod markdown;
mod plots;
mod terminal;

pub use data::{read_json, write_csv, write_json};
pub use format::{factor, micros, table_of};
pub use markdown::markdown;
pub use plots::{draw_plots, PLOTS};
pub use terminal::Terminal;

use crate::error::ProfileError;
use crate::Outcome;
use std::path::{Path, PathBuf};

/// The files [`write()`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    /// `report.md`.
    pub markdown: PathBuf,
    /// `results.json`.
    pub json: PathBuf,
    /// `results.csv`.
    pub csv: PathBuf,
    /// The SVG plots.
    pub plots: Vec<PathBuf>,
}

/// Write every report file of `outcome` into `dir` (created if missing).
pub fn write(outcome: &Outcome, dir: &Path) -> Result<Written, ProfileError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| ProfileError::io("create the report folder", dir, e))?;
    let rows: Vec<_> = outcome.rows().cloned().collect();
    let json = dir.join("results.json");
    write_json(&rows, &json)?;
    let csv = dir.join("results.csv");
    write_csv(&rows, &csv)?;
    let plots = draw_plots(&rows, dir)?;
    let md = dir.join("report.md");
    std::fs::write(&md, markdown(outcome, &plots))
        .map_err(|e| ProfileError::io("write", &md, e))?;
    Ok(Written {
        markdown: md,
        json,
        csv,
        plots,
    })
}
