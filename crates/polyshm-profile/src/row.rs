//! The result data model: one [`Row`] per measured point, as written to
//! `results.json` and `results.csv`.

use crate::stats::Summary;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Which table of the study a row belongs to, or a reference row the study does not
/// have (the Unix-socket transport, memcpy).
///
/// In JSON a study table is its number and a reference row the string `"ref"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TableRef {
    /// The study's table N (1..=10).
    Study(u8),
    /// A reference row measured beside the study's scenarios.
    Ref,
}

impl fmt::Display for TableRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TableRef::Study(n) => write!(f, "{n}"),
            TableRef::Ref => f.write_str("ref"),
        }
    }
}

impl Serialize for TableRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            TableRef::Study(n) => s.serialize_u8(*n),
            TableRef::Ref => s.serialize_str("ref"),
        }
    }
}

impl<'de> Deserialize<'de> for TableRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u8),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(TableRef::Study(n)),
            Raw::S(s) if s == "ref" => Ok(TableRef::Ref),
            // CSV carries every field as text.
            Raw::S(s) => s.parse().map(TableRef::Study).map_err(|_| {
                serde::de::Error::custom(format!(
                    "table `{s}`: expected a study table number or \"ref\""
                ))
            }),
        }
    }
}

/// What a row's `size` counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    /// A byte payload of `size` bytes.
    Bytes,
    /// An array of `size` 64-bit integers (8 × `size` bytes).
    Ints,
    /// `size` structured records (the "Structured encoding" table's: a name of 10–17
    /// characters, an id, a score, four tags; about [`RECORD_BYTES`] bytes each as an
    /// archive, fewer with postcard).
    Records,
}

/// About how many bytes one record of [`Unit::Records`] takes as an archive.
pub const RECORD_BYTES: u64 = 64;

impl Unit {
    /// The id used in JSON and CSV.
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Bytes => "bytes",
            Unit::Ints => "ints",
            Unit::Records => "records",
        }
    }

    /// Bytes in a payload of `size` of this unit.
    pub fn payload_bytes(self, size: u64) -> u64 {
        match self {
            Unit::Bytes => size,
            Unit::Ints => size * 8,
            Unit::Records => size * RECORD_BYTES,
        }
    }
}

/// Where master and drone ran during a measurement (see [`crate::placement`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Placement {
    /// Master and drone pinned to the same CPU.
    Same,
    /// Master and drone pinned to different CPUs.
    Cross,
    /// One process only (codec, raw shared memory, memcpy); pinned to the master's CPU.
    Single,
}

impl Placement {
    /// The id used in JSON, CSV and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Placement::Same => "same",
            Placement::Cross => "cross",
            Placement::Single => "single",
        }
    }
}

impl fmt::Display for Placement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One measured point.
///
/// `table`, `scenario`, `transport`, `size`, `unit` and `placement` identify it; the
/// `*_us` fields are ours, in microseconds; `study_*` are the study's figures for the
/// same point (null where the study has none); the factors are ratios.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// The study's table number, or `"ref"`.
    pub table: TableRef,
    /// Stable snake_case id of what was timed (the README lists them).
    pub scenario: String,
    /// The path the data took: `tcp`, `unix`, `hybrid`, `hybrid-unprotected`, `shm`,
    /// `shm-raw`, `futex`, `udp`, `codec-pod`, `codec-serde`, `memcpy`.
    pub transport: String,
    /// Payload size in `unit`s; null for sizeless points (connect, roundtrip).
    pub size: Option<u64>,
    /// What `size` counts; null for sizeless points.
    pub unit: Option<Unit>,
    /// Median of the samples, µs.
    pub median_us: f64,
    /// 99th percentile (nearest rank), µs.
    pub p99_us: f64,
    /// Mean, µs (the study's statistic).
    pub mean_us: f64,
    /// Fastest sample, µs.
    pub min_us: f64,
    /// Number of samples.
    pub count: usize,
    /// Calls per sample (1 unless a very short operation was timed in batches; a
    /// sample is then the mean of the batch).
    pub batch: usize,
    /// The study's figure for this point, µs (the mean of 10), or null.
    pub study_us: Option<f64>,
    /// Our median divided by the study's figure, or null.
    pub factor_vs_study: Option<f64>,
    /// Tables 8–10 and the reference transports: our median divided by our own TCP
    /// socket request (table 7) of the same size, unit and placement, measured in the
    /// same run; null elsewhere.
    pub factor_vs_socket: Option<f64>,
    /// The study's own factor vs its table 7, where it prints one.
    pub study_factor: Option<f64>,
    /// `same`, `cross` or `single` (see the report for why they differ).
    pub placement: Placement,
}

impl Row {
    /// A row for a measured point, with no study figure or factor yet.
    pub fn measured(
        table: TableRef,
        scenario: &str,
        transport: &str,
        size: Option<(u64, Unit)>,
        placement: Placement,
        summary: Summary,
        batch: usize,
    ) -> Row {
        Row {
            table,
            scenario: scenario.into(),
            transport: transport.into(),
            size: size.map(|s| s.0),
            unit: size.map(|s| s.1),
            median_us: summary.median_us,
            p99_us: summary.p99_us,
            mean_us: summary.mean_us,
            min_us: summary.min_us,
            count: summary.count,
            batch,
            study_us: None,
            factor_vs_study: None,
            factor_vs_socket: None,
            study_factor: None,
            placement,
        }
    }

    /// Payload bytes of this point (0 for sizeless points).
    pub fn payload_bytes(&self) -> u64 {
        match (self.size, self.unit) {
            (Some(s), Some(u)) => u.payload_bytes(s),
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_ref_round_trips_through_json() {
        let v = serde_json::to_string(&[TableRef::Study(7), TableRef::Ref]).unwrap();
        assert_eq!(v, r#"[7,"ref"]"#);
        let back: Vec<TableRef> = serde_json::from_str(&v).unwrap();
        assert_eq!(back, vec![TableRef::Study(7), TableRef::Ref]);
        let text: TableRef = serde_json::from_str(r#""10""#).unwrap();
        assert_eq!(text, TableRef::Study(10));
        assert!(serde_json::from_str::<TableRef>(r#""seven""#).is_err());
    }

    #[test]
    fn payload_bytes_counts_ints_as_eight() {
        assert_eq!(Unit::Ints.payload_bytes(1000), 8000);
        assert_eq!(Unit::Bytes.payload_bytes(1000), 1000);
    }
}
