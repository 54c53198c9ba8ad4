//! The MPI job this process belongs to: joined once (in [`drone_main`](crate::team::drone_main)),
//! finalized when the process exits. It knows this rank, the world's size, which ranks
//! share this node (`MPI_Comm_split_type(MPI_COMM_TYPE_SHARED)`, with their pids), and,
//! on rank 0, which drone ranks are free for a team.
//!
//! Threads: the master calls MPI from every thread that talks to a drone (a team's
//! `map` runs one thread per drone), so MPI is started with `MPI_THREAD_MULTIPLE`;
//! a library that does not provide it is refused with an error that says so. Each
//! drone rank is used by one thread at a time (the team's lease), so the messages
//! between rank 0 and one drone never interleave.

use super::{ALL_REMOTE_ENV, REMOTE_RANKS_ENV, TAG_SESSION};
use crate::team::error::TeamError;
use mpi::environment::{Threading, Universe};
use mpi::point_to_point::Destination;
use mpi::topology::{Communicator, SimpleCommunicator};
use mpi::traits::CommunicatorCollectives;
use polyshm_sys::ProcessId;
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The session message that tells a drone rank the job is over.
pub(crate) const QUIT: &[u8] = b"Q";

/// This process's place in the MPI job.
pub(crate) struct Job {
    /// This rank.
    pub rank: i32,
    /// Ranks in the world.
    pub size: i32,
    /// For each world rank: its pid when it runs on this node.
    pub local: Vec<Option<ProcessId>>,
    /// Whether every other rank is treated as remote ([`ALL_REMOTE_ENV`]).
    pub all_remote: bool,
    /// Ranks treated as remote ([`REMOTE_RANKS_ENV`]).
    pub remote_ranks: Vec<i32>,
    /// Rank 0: the drone ranks no team holds (lost ranks are in neither list).
    free: Mutex<Vec<i32>>,
    freed: Condvar,
}

static JOB: OnceLock<Job> = OnceLock::new();
/// Kept until the process exits, when it finalizes MPI.
static UNIVERSE: Mutex<Option<Universe>> = Mutex::new(None);

/// Set by a rank when it joins (its pid): a process the rank starts inherits the
/// launcher's variables but is no rank, and must not join.
const RANK_PID_ENV: &str = "POLYSHM_MPI_RANK_PID";

/// Whether this process is a rank of a job an MPI launcher started (`mpirun`,
/// `mpiexec`, `srun`: Open MPI, MPICH and PMIx all say so in the environment), and
/// not a process such a rank started.
pub fn in_mpi_job() -> bool {
    let launched = ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"]
        .iter()
        .any(|v| std::env::var_os(v).is_some());
    let child_of_rank =
        std::env::var(RANK_PID_ENV).is_ok_and(|pid| pid != std::process::id().to_string());
    launched && !child_of_rank
}

/// The job, once joined.
pub(crate) fn job() -> Option<&'static Job> {
    JOB.get()
}

/// Join the MPI job: start MPI (`MPI_THREAD_MULTIPLE`), find the ranks of this node,
/// and make sure MPI is finalized when the process exits.
pub(crate) fn join() -> Result<&'static Job, String> {
    if let Some(j) = JOB.get() {
        return Ok(j);
    }
    // Before MPI (or polyshm) starts any thread (see RANK_PID_ENV).
    std::env::set_var(RANK_PID_ENV, std::process::id().to_string());
    let (universe, threading) = mpi::initialize_with_threading(Threading::Multiple)
        .ok_or("MPI was started already, not by polyshm; let polyshm::team::drone_main start it (call it first in main)")?;
    let world = universe.world();
    let (rank, size) = (world.rank(), world.size());
    *UNIVERSE.lock().unwrap_or_else(|p| p.into_inner()) = Some(universe);
    // SAFETY: `finish` is a plain `extern "C" fn()` with no arguments, as atexit wants.
    if unsafe { libc::atexit(finish) } != 0 {
        return Err("cannot register MPI_Finalize to run at exit (atexit failed)".into());
    }
    if threading != Threading::Multiple {
        return Err(format!(
            "this MPI library provides the thread level {threading:?}, polyshm needs Multiple (a team talks to its drones from several threads); build Open MPI with thread support"
        ));
    }
    // The ranks of this node, each with its pid (one collective, on every rank).
    let node = world.split_shared(rank);
    let mine = [
        i64::from(rank),
        i64::from(polyshm_sys::current_process().pid),
    ];
    let mut all = vec![0i64; 2 * node.size() as usize];
    node.all_gather_into(&mine[..], &mut all[..]);
    let mut local = vec![None; size as usize];
    for pair in all.chunks_exact(2) {
        let (r, pid) = (pair[0] as usize, pair[1] as u32);
        if let Some(slot) = local.get_mut(r) {
            *slot = Some(ProcessId { pid, start_time: 0 });
        }
    }
    let all_remote = std::env::var_os(ALL_REMOTE_ENV).is_some_and(|v| v != "0" && !v.is_empty());
    let remote_ranks = match std::env::var(REMOTE_RANKS_ENV) {
        Ok(list) => list
            .split(',')
            .filter(|r| !r.trim().is_empty())
            .map(|r| {
                r.trim().parse::<i32>().map_err(|_| {
                    format!("{REMOTE_RANKS_ENV}=`{list}`: `{r}` is not a rank; give ranks as 1,2")
                })
            })
            .collect::<Result<Vec<_>, _>>()?,
        Err(_) => Vec::new(),
    };
    let job = Job {
        rank,
        size,
        local,
        all_remote,
        remote_ranks,
        free: Mutex::new((1..size).rev().collect()),
        freed: Condvar::new(),
    };
    Ok(JOB.get_or_init(|| job))
}

/// At exit: rank 0 tells every drone rank the job is over; every rank finalizes MPI.
extern "C" fn finish() {
    let Some(universe) = UNIVERSE.lock().unwrap_or_else(|p| p.into_inner()).take() else {
        return;
    };
    if let Some(job) = JOB.get() {
        if job.rank == 0 {
            let world = SimpleCommunicator::world();
            for r in 1..job.size {
                world.process_at_rank(r).send_with_tag(QUIT, TAG_SESSION);
            }
        }
    }
    // Dropping the universe calls MPI_Finalize.
    drop(universe);
}

impl Job {
    /// Whether world rank `r` is reached through shared memory: it runs on this node,
    /// [`ALL_REMOTE_ENV`] is not set and [`REMOTE_RANKS_ENV`] does not name it.
    pub fn is_local(&self, r: i32) -> bool {
        !self.all_remote && !self.remote_ranks.contains(&r) && self.pid_of(r).is_some()
    }

    /// The pid of world rank `r` if it runs on this node.
    pub fn pid_of(&self, r: i32) -> Option<ProcessId> {
        self.local.get(r as usize).copied().flatten()
    }

    /// Drone ranks no team holds now.
    pub fn free_ranks(&self) -> usize {
        self.free.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Take a free drone rank, waiting up to `timeout` for another team to give one
    /// back.
    pub fn take(&self, drone: usize, timeout: Duration) -> Result<i32, TeamError> {
        let end = Instant::now() + timeout;
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(r) = free.pop() {
                return Ok(r);
            }
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(TeamError::Config(format!(
                    "drone {drone}: no free MPI rank within {timeout:?}: the job has {} drone ranks (mpirun -n {}), all held by teams or lost to a task that timed out; start the job with more ranks or drop a team first",
                    self.size - 1,
                    self.size
                )));
            }
            free = self
                .freed
                .wait_timeout(free, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Give drone rank `r` back (it is idle again, waiting for a session).
    pub fn give_back(&self, r: i32) {
        self.free.lock().unwrap_or_else(|p| p.into_inner()).push(r);
        self.freed.notify_one();
    }
}
