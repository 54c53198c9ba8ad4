//! Numbers and tables as people read them; shared by the terminal and `report.md`.

use crate::row::{Row, Unit};
use comfy_table::{presets, CellAlignment, ContentArrangement, Table};

/// Microseconds with sensible precision: `0.042`, `3.61`, `45.2`, `1,234`.
pub fn micros(us: f64) -> String {
    if !us.is_finite() {
        return "-".into();
    }
    if us <= 0.0 {
        "0".into()
    } else if us < 1.0 {
        // Three significant digits: 0.423, 0.0421, 0.00137.
        let digits = (2 - us.log10().floor() as i32).clamp(3, 9) as usize;
        format!("{us:.digits$}")
    } else if us < 10.0 {
        format!("{us:.2}")
    } else if us < 100.0 {
        format!("{us:.1}")
    } else {
        thousands(us.round() as u64)
    }
}

/// An integer with thousands separators: `1,000,000`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A factor with three significant digits (`0.0312`, `1.45`, `27.3`), or `-`.
pub fn factor(f: Option<f64>) -> String {
    match f {
        Some(f) if f.is_finite() && f > 0.0 => {
            let digits = (2 - f.log10().floor() as i32).clamp(0, 6) as usize;
            format!("{f:.digits$}")
        }
        _ => "-".into(),
    }
}

fn size_cell(r: &Row) -> String {
    match (r.size, r.unit) {
        (Some(s), Some(Unit::Bytes)) => format!("{} B", thousands(s)),
        (Some(s), Some(Unit::Ints)) => format!("{} ints", thousands(s)),
        (Some(s), Some(Unit::Records)) => format!("{} records", thousands(s)),
        _ => "-".into(),
    }
}

/// The display order of rows: by scenario, transport, unit and size as first seen,
/// then placement.
fn ordered(rows: &[Row]) -> Vec<&Row> {
    let first =
        |f: &dyn Fn(&Row) -> String, r: &Row| rows.iter().position(|x| f(x) == f(r)).unwrap_or(0);
    let mut v: Vec<&Row> = rows.iter().collect();
    v.sort_by_key(|r| {
        (
            first(&|x: &Row| x.scenario.clone(), r),
            first(&|x: &Row| x.transport.clone(), r),
            r.unit.map(|u| u as u8),
            r.size,
            r.placement,
        )
    });
    v
}

/// The column headers of a results table.
pub const COLUMNS: &[&str] = &[
    "scenario",
    "transport",
    "size",
    "placement",
    "median µs",
    "p99 µs",
    "min µs",
    "n",
    "study µs",
    "ours ÷ study",
    "ours ÷ our tcp",
    "study's factor",
];

/// A table of `rows` (one line each), for the terminal (`markdown == false`) or
/// Markdown.
pub fn table_of(rows: &[Row], markdown: bool) -> Table {
    let mut t = Table::new();
    if markdown {
        t.load_style(presets::ASCII_MARKDOWN);
        t.set_content_arrangement(ContentArrangement::Disabled);
    } else {
        t.load_style(presets::UTF8_FULL_CONDENSED);
        t.set_content_arrangement(ContentArrangement::Dynamic);
    }
    t.set_header(COLUMNS.iter().copied());
    for r in ordered(rows) {
        t.add_row(vec![
            r.scenario.clone(),
            r.transport.clone(),
            size_cell(r),
            r.placement.to_string(),
            micros(r.median_us),
            micros(r.p99_us),
            micros(r.min_us),
            r.count.to_string(),
            r.study_us.map_or("-".into(), micros),
            factor(r.factor_vs_study),
            factor(r.factor_vs_socket),
            factor(r.study_factor),
        ]);
    }
    for i in 4..COLUMNS.len() {
        if let Some(c) = t.column_mut(i) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(micros(0.0421), "0.0421");
        assert_eq!(micros(0.4234), "0.423");
        assert_eq!(micros(0.001374), "0.00137");
        assert_eq!(micros(0.0), "0");
        assert_eq!(micros(3.614), "3.61");
        assert_eq!(micros(45.23), "45.2");
        assert_eq!(micros(1234.4), "1,234");
        assert_eq!(micros(1_518_115.0), "1,518,115");
        assert_eq!(thousands(100), "100");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(factor(Some(0.03123)), "0.0312");
        assert_eq!(factor(Some(1.456)), "1.46");
        assert_eq!(factor(Some(27.34)), "27.3");
        assert_eq!(factor(Some(1234.6)), "1235");
        assert_eq!(factor(None), "-");
    }
}
