//! [`ProfileError`]: everything a profile run can fail with.

use std::path::PathBuf;

/// Why a profile run, a scenario or a report writer failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProfileError {
    /// `--scenario` named nothing the profile knows.
    #[error("unknown scenario `{given}`; known: {known} (or a study table number 1-10, or `ref`)")]
    UnknownScenario {
        /// What was asked for.
        given: String,
        /// The ids that exist.
        known: String,
    },
    /// A shared-memory operation of a scenario failed.
    #[error("scenario `{scenario}`: {what}: {source}")]
    Shm {
        /// The scenario that was measuring.
        scenario: &'static str,
        /// What it was doing.
        what: String,
        /// The library's error.
        #[source]
        source: polyshm::shm::ShmError,
    },
    /// A drone team of a scenario failed.
    #[error("scenario `{scenario}`: {what}: {source}")]
    Team {
        /// The scenario that was measuring.
        scenario: &'static str,
        /// What it was doing.
        what: String,
        /// The team's error.
        #[source]
        source: polyshm::team::TeamError,
    },
    /// Encoding or decoding failed.
    #[error("scenario `{scenario}`: {source}")]
    Codec {
        /// The scenario that was measuring.
        scenario: &'static str,
        /// The codec's error.
        #[source]
        source: polyshm::codec::CodecError,
    },
    /// A scenario's result was wrong (an echo that did not echo): the path it timed is
    /// broken, so its timing would mean nothing.
    #[error("scenario `{scenario}`: {what}: expected {expected}, found {found}")]
    Wrong {
        /// The scenario that was measuring.
        scenario: &'static str,
        /// What was checked.
        what: String,
        /// What should have come back.
        expected: String,
        /// What came back.
        found: String,
    },
    /// A helper process (relay client, UDP peer) failed.
    #[error("scenario `{scenario}`: helper process: {detail}")]
    Helper {
        /// The scenario that needed it.
        scenario: &'static str,
        /// What went wrong, with what to do.
        detail: String,
    },
    /// Reading or writing a file or a socket.
    #[error("{what} `{}`: {source}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file (or address) involved.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Writing `results.json`.
    #[error("writing JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// Writing `results.csv`.
    #[error("writing CSV: {0}")]
    Csv(#[from] csv::Error),
    /// Drawing a plot.
    #[error("drawing `{}`: {message}", path.display())]
    Plot {
        /// The SVG file.
        path: PathBuf,
        /// What plotters said.
        message: String,
    },
}

impl ProfileError {
    /// An I/O error on `path` while doing `what`.
    pub fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ProfileError::Io {
            what,
            path: path.into(),
            source,
        }
    }
}
