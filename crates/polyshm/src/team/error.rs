//! [`TeamError`]: everything that can go wrong between a master and its drones.

use crate::codec::CodecError;
use std::path::PathBuf;
use std::time::Duration;

/// Why a team could not be built or a task did not come back with a result.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TeamError {
    /// The builder was given something that cannot work.
    #[error("bad team configuration: {0}")]
    Config(String),
    /// A drone could not be started or did not connect.
    #[error("cannot start drone {drone} ({program}): {detail}")]
    Spawn {
        /// Index of the drone in the team.
        drone: usize,
        /// The program run as drone.
        program: PathBuf,
        /// What went wrong, and what to do.
        detail: String,
    },
    /// Master and drone were built from different versions.
    #[error("drone {drone} (pid {pid}) runs polyshm {drone_version} with protocol {drone_protocol}, the master polyshm {master_version} with protocol {master_protocol}: build both from the same version")]
    VersionMismatch {
        /// Index of the drone.
        drone: usize,
        /// Its pid.
        pid: u32,
        /// The drone's crate version.
        drone_version: String,
        /// The drone's protocol version.
        drone_protocol: u32,
        /// The master's crate version.
        master_version: String,
        /// The master's protocol version.
        master_protocol: u32,
    },
    /// The drone died while it ran the task (it has been replaced).
    #[error("drone {drone} (pid {pid}) died while running task `{task}`; it has been replaced")]
    DroneDied {
        /// Index of the drone.
        drone: usize,
        /// Pid of the dead drone.
        pid: u32,
        /// The task it ran.
        task: String,
    },
    /// The task ran past the team's task timeout: its drone was killed and replaced.
    #[error("task `{task}` on drone {drone} (pid {pid}) passed its deadline after {after:?}; the drone was killed and replaced")]
    TimedOut {
        /// Index of the drone.
        drone: usize,
        /// Pid of the killed drone.
        pid: u32,
        /// The task.
        task: String,
        /// How long it had run.
        after: Duration,
    },
    /// The caller cancelled the task (if it was running, its drone was replaced).
    #[error("task `{task}` was cancelled")]
    Cancelled {
        /// The task.
        task: String,
    },
    /// No drone knows a task of that name.
    #[error("unknown task `{task}`: {detail}")]
    UnknownTask {
        /// The name asked for.
        task: String,
        /// What the drone said (the names it knows).
        detail: String,
    },
    /// The task panicked in the drone (the drone goes on).
    #[error("task `{task}` panicked in drone {drone}: {message}")]
    Panicked {
        /// The task.
        task: String,
        /// Index of the drone.
        drone: usize,
        /// The panic message.
        message: String,
    },
    /// The task failed in the drone (its arguments did not decode, ...).
    #[error("task `{task}` failed in drone {drone}: {message}")]
    Failed {
        /// The task.
        task: String,
        /// Index of the drone.
        drone: usize,
        /// What the drone said.
        message: String,
    },
    /// A script block did not compile or failed while running.
    #[error("script block `{block}`: {message}")]
    Script {
        /// The block's source.
        block: String,
        /// What went wrong.
        message: String,
    },
    /// The arguments of a call do not fit together (zip of unequal lengths, ...).
    #[error("bad arguments: {0}")]
    Arguments(String),
    /// The connection to a drone failed (it has been replaced).
    #[error(
        "transport to drone {drone} failed during task `{task}`: {detail}; the drone was replaced"
    )]
    Transport {
        /// Index of the drone.
        drone: usize,
        /// The task.
        task: String,
        /// What failed.
        detail: String,
    },
    /// A request, a result, or a frame a drone announced is larger than the team's
    /// maximum message size ([`TeamBuilder::max_message`](super::TeamBuilder::max_message)).
    /// Refused before anything was allocated; if a drone asked, it was replaced.
    #[error("task `{task}`: {what} of {bytes} bytes is past the team's maximum message size of {max} bytes; raise it with TeamBuilder::max_message or send less")]
    TooLarge {
        /// The task.
        task: String,
        /// What was too large.
        what: &'static str,
        /// Bytes asked for.
        bytes: u64,
        /// The maximum in force.
        max: u64,
    },
    /// An archived task's request or result is not a valid archive of its type
    /// (bytecheck refused it before anything read it): the bytes were changed after
    /// they were written, or master and drone disagree on the type. Nothing was read
    /// from them; the drone goes on.
    #[error("task `{task}`: the {what} is not a valid archive: {detail}")]
    InvalidArchive {
        /// The task.
        task: String,
        /// `"request"` (found by the drone) or `"result"` (found by the master).
        what: &'static str,
        /// What the validation found.
        detail: String,
    },
    /// Arguments or result could not be encoded or decoded in the master.
    #[error("task `{task}`: {source}")]
    Codec {
        /// The task.
        task: String,
        /// The codec's error.
        source: CodecError,
    },
}
