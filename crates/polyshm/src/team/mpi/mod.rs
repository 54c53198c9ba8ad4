//! A team over MPI ranks (feature `mpi`): `mpirun -n K prog …`, rank 0 the master,
//! ranks 1…K−1 the drones, built with [`TeamBuilder::mpi`](crate::team::TeamBuilder::mpi).
//! Open MPI launches, places and connects the ranks; polyshm adds nothing of its own
//! between hosts.
//!
//! - **Joining.** [`drone_main`](crate::team::drone_main), called first in `main`,
//!   joins the job on every rank (`MPI_Init_thread` with `MPI_THREAD_MULTIPLE`: the
//!   master talks to its drones from several threads). On ranks ≠ 0 it serves and
//!   never returns; on rank 0 it returns and the program builds its teams. MPI is
//!   finalized when the process exits (rank 0 first tells every drone rank the job is
//!   over).
//! - **Placement.** The ranks on rank 0's node (`MPI_Comm_split_type(SHARED)`) are
//!   reached through shared memory, exactly as a spawned drone: a mailbox the master
//!   creates, whose name it sends to the rank in an MPI message. Every other rank is
//!   reached with MPI point-to-point messages ([`link::MpiLink`]). With
//!   [`ALL_REMOTE_ENV`] set (`POLYSHM_MPI_ALL_REMOTE=1`) every rank is treated as
//!   remote, so that both paths run on one machine; [`REMOTE_RANKS_ENV`] names some.
//! - **Sessions.** A drone rank belongs to one team at a time. A team takes free
//!   ranks (`drones(n)`, or all that are free); dropping the team stops each drone's
//!   session and gives its rank back for the next team.
//! - **Faults.** A task that panics or fails comes back as with spawned drones. A rank
//!   cannot be replaced: a drone abandoned mid-task (deadline passed, cancelled, out
//!   of step) is lost to the job, and its slot answers an error naming the rank. A
//!   drone rank that dies ends the job: Open MPI's `mpirun` (without ULFM) aborts
//!   every rank when one exits abnormally and names the dead one ("process rank 1
//!   with PID … exited on signal 9"); the master is sent SIGTERM, and its mailbox
//!   segments are removed by the handler [`teardown`] installs. A master that dies
//!   takes the job down the same way.

mod drone;
mod job;
mod launch;
mod link;
mod teardown;

pub use job::in_mpi_job;
pub(crate) use launch::{team_size, RankLease};

use crate::team::tasks::Tasks;

/// Set to `1` (on rank 0) to reach every drone rank with MPI messages, even those on
/// the master's node: both paths on one machine, for tests and measurements.
pub const ALL_REMOTE_ENV: &str = "POLYSHM_MPI_ALL_REMOTE";

/// A comma-separated list of ranks to reach with MPI messages even when they run on
/// the master's node (`POLYSHM_MPI_REMOTE_RANKS=2`): both paths in one job, side by
/// side (the MPI benchmark uses it).
pub const REMOTE_RANKS_ENV: &str = "POLYSHM_MPI_REMOTE_RANKS";

/// Rank 0 to a drone rank: a session (how to connect) or the end of the job.
const TAG_SESSION: mpi::Tag = 7001;
/// The hello and the welcome over MPI.
const TAG_HELLO: mpi::Tag = 7002;
/// A frame's head and task name.
const TAG_FRAME: mpi::Tag = 7003;
/// A frame's payload.
const TAG_DATA: mpi::Tag = 7004;

/// This process's rank when it is a drone rank of an MPI job.
pub(crate) fn drone_rank() -> Option<i32> {
    job::job().map(|j| j.rank).filter(|r| *r != 0)
}

/// Under an MPI launcher (and not as a spawned drone): join the job; a drone rank
/// serves here and never returns.
pub(crate) fn join_job(tasks: &Tasks) {
    if std::env::var_os(crate::team::DRONE_ENV).is_some() || !in_mpi_job() {
        return;
    }
    let job = match job::join() {
        Ok(j) => j,
        Err(e) => {
            eprintln!("polyshm: cannot join the MPI job: {e}");
            std::process::exit(3);
        }
    };
    teardown::install(job);
    if job.rank != 0 {
        drone::serve_rank(tasks, job);
    }
}
