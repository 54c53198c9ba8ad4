//! `results.json` (one array of row objects) and `results.csv` (one line per row,
//! the same fields).

use crate::error::ProfileError;
use crate::row::Row;
use std::path::Path;

/// Write `rows` as one pretty-printed JSON array.
pub fn write_json(rows: &[Row], path: &Path) -> Result<(), ProfileError> {
    let text = serde_json::to_string_pretty(rows)?;
    std::fs::write(path, text + "\n").map_err(|e| ProfileError::io("write", path, e))
}

/// Read rows written by [`write_json`].
pub fn read_json(path: &Path) -> Result<Vec<Row>, ProfileError> {
    let text = std::fs::read_to_string(path).map_err(|e| ProfileError::io("read", path, e))?;
    Ok(serde_json::from_str(&text)?)
}

/// Write `rows` as CSV with a header line; empty cells where JSON has null.
pub fn write_csv(rows: &[Row], path: &Path) -> Result<(), ProfileError> {
    let mut w = csv::Writer::from_path(path)?;
    if rows.is_empty() {
        // serde writes the header with the first record; an empty run still gets one.
        w.write_record(CSV_HEADER)?;
    }
    for r in rows {
        w.serialize(r)?;
    }
    w.flush().map_err(|e| ProfileError::io("write", path, e))
}

/// The CSV columns, in order (the fields of [`Row`]).
pub const CSV_HEADER: &[&str] = &[
    "table",
    "scenario",
    "transport",
    "size",
    "unit",
    "median_us",
    "p99_us",
    "mean_us",
    "min_us",
    "count",
    "batch",
    "study_us",
    "factor_vs_study",
    "factor_vs_socket",
    "study_factor",
    "placement",
];
