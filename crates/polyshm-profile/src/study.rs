//! The study's own figures, as transcribed once in `data/study_figures.csv` (a copy
//! of the project's `seed/study_figures.csv`) and compiled into the binary. No number
//! of the study is typed anywhere else.

use crate::row::{TableRef, Unit};
use serde::Deserialize;
use std::sync::OnceLock;

/// The transcription, verbatim.
pub const CSV: &str = include_str!("../data/study_figures.csv");

/// One figure the study prints.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Figure {
    /// The study's table: `"1"`..`"11"`, or `"speedup"` for the Mandelbrot speedups
    /// of its section 9.
    pub table: String,
    /// Our scenario id for it.
    pub scenario: String,
    /// A variant within the scenario (`protected`, `unprotected`, an image size), or
    /// empty.
    pub variant: String,
    /// Payload size, if the figure has one.
    pub size: Option<u64>,
    /// `bytes` or `ints`, if the figure has a size.
    pub unit: Option<String>,
    /// The study's time, µs (the mean of 10 repetitions).
    pub study_us: f64,
    /// The study's factor vs its table 7, where printed.
    pub study_factor: Option<f64>,
    /// The study's wording, where the transcription kept it.
    pub note: String,
}

impl Figure {
    /// The table as a [`TableRef`], if it is one of the numbered tables.
    pub fn table_ref(&self) -> Option<TableRef> {
        self.table.parse().ok().map(TableRef::Study)
    }

    /// The unit, if the figure has a known one.
    pub fn unit(&self) -> Option<Unit> {
        match self.unit.as_deref() {
            Some("bytes") => Some(Unit::Bytes),
            Some("ints") => Some(Unit::Ints),
            _ => None,
        }
    }
}

/// Parse a transcription in the format of [`CSV`].
pub fn parse(text: &str) -> Result<Vec<Figure>, csv::Error> {
    csv::Reader::from_reader(text.as_bytes())
        .deserialize()
        .collect()
}

/// Every figure of the study, parsed once.
pub fn figures() -> &'static [Figure] {
    static FIGURES: OnceLock<Vec<Figure>> = OnceLock::new();
    FIGURES.get_or_init(|| {
        // The file is part of the source; a parse failure is a build defect that the
        // unit tests catch.
        parse(CSV).expect("data/study_figures.csv is well-formed (checked by the tests)")
    })
}

/// The study's figure for a point: table, scenario id, size and unit (sizeless
/// points pass `None`).
pub fn lookup(
    table: TableRef,
    scenario: &str,
    size: Option<(u64, Unit)>,
) -> Option<&'static Figure> {
    figures().iter().find(|f| {
        f.table_ref() == Some(table)
            && f.scenario == scenario
            && f.size == size.map(|s| s.0)
            && f.unit() == size.map(|s| s.1)
    })
}

/// The study's scenario id for one of our rows: the window-message rows of table 1
/// measure the study's own mechanism (`SemaphoreEventRelay` over `SendMessage`), so they
/// take its figures; every other row keeps its id.
pub fn alias(scenario: &str) -> &str {
    match scenario {
        "window_connect" => "relay_connect",
        "window_mutex_roundtrip" => "mutex_roundtrip",
        s => s,
    }
}

/// The figures of one table, in the file's order.
pub fn table(table: TableRef) -> impl Iterator<Item = &'static Figure> {
    figures()
        .iter()
        .filter(move |f| f.table_ref() == Some(table))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_transcription_parses_whole() {
        let all = parse(CSV).unwrap();
        // One data line per figure: every line of the file but the header.
        let lines = CSV.lines().filter(|l| !l.trim().is_empty()).count();
        assert_eq!(all.len(), lines - 1);
        for t in 1..=10u8 {
            assert!(
                table(TableRef::Study(t)).count() > 0,
                "table {t} has figures"
            );
        }
    }

    #[test]
    fn lookups_find_the_printed_numbers() {
        let t1 = lookup(TableRef::Study(1), "mutex_roundtrip", None).unwrap();
        assert_eq!(t1.study_us, 117.0);
        let t7 = lookup(
            TableRef::Study(7),
            "socket_request",
            Some((1_000_000, Unit::Ints)),
        )
        .unwrap();
        assert_eq!(t7.study_us, 1_518_115.0);
        let t10 = lookup(TableRef::Study(10), "shm_command", Some((1000, Unit::Ints))).unwrap();
        assert_eq!((t10.study_us, t10.study_factor), (397.0, Some(0.03)));
        let t8 = lookup(TableRef::Study(8), "hybrid_result", Some((1, Unit::Bytes))).unwrap();
        assert_eq!(t8.variant, "protected");
        assert!(lookup(TableRef::Study(7), "socket_request", Some((1, Unit::Ints))).is_none());
        assert!(lookup(TableRef::Ref, "memcpy", Some((10, Unit::Bytes))).is_none());
    }

    /// Table 1's window-message rows take the study's figures (its relay was windows).
    #[test]
    fn window_rows_take_the_studys_relay_figures() {
        let connect = lookup(TableRef::Study(1), alias("window_connect"), None).unwrap();
        assert_eq!(connect.study_us, 123.0);
        let mutex = lookup(TableRef::Study(1), alias("window_mutex_roundtrip"), None).unwrap();
        assert_eq!(mutex.study_us, 117.0);
        assert_eq!(alias("shm_command"), "shm_command");
    }
}
