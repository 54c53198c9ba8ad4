//! [`TeamBuilder`]: how many drones, over which transport, with which limits.

use super::dispatch::{IdleDrones, Inner};
use super::drone::DRONE_ENV;
use super::error::TeamError;
use super::tasks::Tasks;
use super::team::Team;
use super::transport::{Signal, Transport};
use crate::sync::WaitStrategy;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The default wait strategy of a team: poll (a few polls, then yield the CPU, on
/// each turn) for 50 µs, then sleep.
///
/// Chosen by the sweep in `benches/team.rs` (shm, echo of 10 i64, medians, 2-vCPU VM):
/// master and drone on different CPUs — blocking 43–65 µs (a halted CPU must be woken),
/// 2 µs budget 32–40 µs (too short to catch the reply), 10 µs 1.0–5.2 µs (misses
/// under load), 50 µs and 200 µs 1.0–1.1 µs; on the same CPU every budget costs
/// 1.7 µs against 2.3 µs blocking, since each turn yields to the peer. 50 µs
/// catches a quick reply from the other CPU with margin, and bounds the spin when the
/// reply is slow.
pub const DEFAULT_WAIT: WaitStrategy = WaitStrategy::SpinThenBlock {
    budget: Duration::from_micros(50),
};

#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub drones: usize,
    pub transport: Transport,
    pub wait: WaitStrategy,
    pub pins: Vec<usize>,
    pub program: Option<PathBuf>,
    pub task_timeout: Option<Duration>,
    pub retry_dead: bool,
    pub connect_timeout: Duration,
    pub claim_protocol: Option<u32>,
    pub env: Vec<(std::ffi::OsString, std::ffi::OsString)>,
    pub max_message: usize,
    /// Whether `drones(n)` was called (an MPI team otherwise takes every free rank).
    pub drones_given: bool,
    /// Drones are MPI ranks (feature `mpi`).
    pub mpi: bool,
    pub signal: Signal,
}

/// Builds a [`Team`]: `Team::builder(tasks).drones(4).transport(Transport::Shm).spawn()`.
#[derive(Debug)]
pub struct TeamBuilder {
    tasks: Tasks,
    config: Config,
}

impl TeamBuilder {
    pub(crate) fn new(tasks: Tasks) -> TeamBuilder {
        TeamBuilder {
            tasks,
            config: Config {
                drones: polyshm_sys::cpu_count().max(1),
                transport: Transport::Shm,
                wait: DEFAULT_WAIT,
                pins: Vec::new(),
                program: None,
                task_timeout: None,
                retry_dead: false,
                env: Vec::new(),
                max_message: super::transport::default_max_message(),
                connect_timeout: Duration::from_secs(10),
                claim_protocol: None,
                drones_given: false,
                mpi: false,
                signal: Signal::Semaphore,
            },
        }
    }

    /// Number of drones (default: the number of CPUs, at least 1).
    pub fn drones(mut self, n: usize) -> Self {
        self.config.drones = n;
        self.config.drones_given = true;
        self
    }

    /// The transport (default [`Transport::Shm`]).
    pub fn transport(mut self, t: Transport) -> Self {
        self.config.transport = t;
        self
    }

    /// How both sides wait for each other in shared memory (default [`DEFAULT_WAIT`]).
    /// Socket transports block in the kernel as Polycephaly did.
    pub fn wait_strategy(mut self, w: WaitStrategy) -> Self {
        self.config.wait = w;
        self
    }

    /// Pin drone `i` to CPU `cpus[i % cpus.len()]` (empty: no pinning).
    pub fn pin_drones(mut self, cpus: Vec<usize>) -> Self {
        self.config.pins = cpus;
        self
    }

    /// Run another program as drone (it must call [`drone_main`](super::drone_main)
    /// first, with the same tasks). Default: this executable again.
    pub fn program(mut self, path: impl Into<PathBuf>) -> Self {
        self.config.program = Some(path.into());
        self
    }

    /// A deadline per task: past it the drone is killed and replaced and the caller
    /// gets [`TeamError::TimedOut`].
    pub fn task_timeout(mut self, d: Duration) -> Self {
        self.config.task_timeout = Some(d);
        self
    }

    /// Let [`Team::map`] try a task again (on the replacement drone) when its drone
    /// died: only for idempotent tasks. A task is run at most 4 times in all (3
    /// retries); after the 4th death the caller gets [`TeamError::DroneDied`].
    /// `run`, `submit` and loans never retry; a panic, a passed deadline or any other
    /// error is never retried, and neither is a task whose reply arrived.
    pub fn retry_dead(mut self, yes: bool) -> Self {
        self.config.retry_dead = yes;
        self
    }

    /// How long a drone may take to start and connect (default 10 s).
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.config.connect_timeout = d;
        self
    }

    /// Set an environment variable for every drone this team starts (replacements
    /// included), on top of the master's environment.
    pub fn env(
        mut self,
        key: impl AsRef<std::ffi::OsStr>,
        value: impl AsRef<std::ffi::OsStr>,
    ) -> Self {
        self.config
            .env
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    /// The largest request or result, in bytes (default: half the memory available
    /// when the team is built, at least 64 MiB). A larger request is refused before it
    /// is sent; a drone that asks for a larger result area, or announces a larger frame,
    /// is refused before anything is allocated: [`TeamError::TooLarge`].
    pub fn max_message(mut self, bytes: usize) -> Self {
        self.config.max_message = bytes;
        self
    }

    /// Drones are the ranks of the MPI job this program runs in (`mpirun -n K`; rank 0
    /// is the master): every free drone rank, or `drones(n)` of them. Ranks on the
    /// master's node are reached through shared memory, the others with MPI messages;
    /// see the module docs of `team::mpi` (README, "Across hosts (MPI)"). Needs the
    /// feature `mpi`; without it, `spawn` says to build with `--features mpi`.
    pub fn mpi(mut self) -> Self {
        self.config.mpi = true;
        self
    }

    /// How the mailbox hand-over is signalled (default [`Signal::Semaphore`]);
    /// [`Signal::Window`] is the study's window messages, Windows only, for the
    /// transports whose mailbox hand-over is signalled (`shm`, `hybrid`; not
    /// `hybrid-unprotected`, whose socket reply is the signal).
    pub fn signal(mut self, s: Signal) -> Self {
        self.config.signal = s;
        self
    }

    /// Make the drones claim another protocol version (for tests of the check).
    #[doc(hidden)]
    pub fn drones_claim_protocol(mut self, v: u32) -> Self {
        self.config.claim_protocol = Some(v);
        self
    }

    /// Start the drones and connect to each.
    pub fn spawn(self) -> Result<Team, TeamError> {
        let drones = self.team_size()?;
        self.spawn_sized(drones)
    }

    /// How many drones to start: as configured, or for an MPI team the ranks it gets.
    fn team_size(&self) -> Result<usize, TeamError> {
        let c = &self.config;
        if !c.mpi {
            return Ok(c.drones);
        }
        #[cfg(not(feature = "mpi"))]
        return Err(TeamError::Config(
            "this polyshm was built without MPI: build with `--features mpi` (needs Open MPI: libopenmpi-dev, openmpi-bin) to run a team over MPI ranks".into(),
        ));
        #[cfg(feature = "mpi")]
        super::mpi::team_size(c.drones_given.then_some(c.drones))
    }

    fn spawn_sized(mut self, drones: usize) -> Result<Team, TeamError> {
        self.config.drones = drones;
        let c = &self.config;
        if std::env::var_os(DRONE_ENV).is_some() {
            return Err(TeamError::Config(format!(
                "this process was started as a drone ({DRONE_ENV} is set) but its main did not call polyshm::team::drone_main first; a drone may not start drones of its own"
            )));
        }
        #[cfg(feature = "mpi")]
        if let Some(rank) = super::mpi::drone_rank() {
            return Err(TeamError::Config(format!(
                "this process is MPI rank {rank}, a drone of rank 0's teams; a drone may not start drones of its own"
            )));
        }
        if !c.signal.is_available() {
            return Err(TeamError::Config(format!(
                "signal `{}` needs Windows (this is {}); use `semaphore`",
                c.signal,
                polyshm_sys::PLATFORM
            )));
        }
        if c.signal == Signal::Window
            && !matches!(
                c.transport,
                Transport::Shm | Transport::Hybrid { protected: true }
            )
        {
            return Err(TeamError::Config(format!(
                "signal `window` applies to the transports whose hand-over is signalled (shm, hybrid), not {}{}",
                c.transport,
                if c.transport == (Transport::Hybrid { protected: false }) {
                    " (its socket reply is the signal); use hybrid or shm, or `--signal semaphore`"
                } else {
                    ""
                }
            )));
        }
        if c.drones == 0 {
            return Err(TeamError::Config("a team needs at least one drone".into()));
        }
        let program = match &c.program {
            Some(p) => p.clone(),
            None => std::env::current_exe().map_err(|e| TeamError::Spawn {
                drone: 0,
                program: PathBuf::from("<current executable>"),
                detail: e.to_string(),
            })?,
        };
        let inner = Arc::new(Inner {
            config: self.config.clone(),
            program,
            tasks: self.tasks,
            slots: (0..c.drones).map(|_| Mutex::new(None)).collect(),
            pids: Mutex::new(vec![None; c.drones]),
            idle: IdleDrones::new(),
        });
        for i in 0..c.drones {
            let d = inner.launch(i)?;
            *inner.slot(i) = Some(d);
        }
        Ok(Team::from_inner(inner))
    }
}
