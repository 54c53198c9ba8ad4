//! Rank 0 taking a drone rank for a team: the session message (how to connect), the
//! hello / welcome handshake over the mailbox (a rank on this node) or over MPI
//! messages (any other), and the lease that gives the rank back when the team lets
//! it go.

use super::drone::{recv_bytes, Place};
use super::job::{job, Job};
use super::link::MpiLink;
use super::{TAG_HELLO, TAG_SESSION};
use crate::sync::saturating_deadline;
use crate::team::dispatch::{lock, Inner};
use crate::team::drone::Spec;
use crate::team::error::TeamError;
use crate::team::handshake::{judge, Verdict};
use crate::team::launch::{Drone, Keeper};
use crate::team::protocol::{Hello, HELLO_MAGIC};
use crate::team::transport::mailbox::Mailbox;
use crate::team::transport::shm::ShmMaster;
use crate::team::transport::{LinkError, MasterLink, Transport, Watch};
use mpi::point_to_point::Destination;
use mpi::topology::{Communicator, SimpleCommunicator};
use polyshm_sys::ProcessId;
use std::time::{Duration, Instant};

/// Longest hello a drone rank may send.
const MAX_HELLO: usize = 256;

/// A drone rank held by a team: given back to the job when it drops after a clean
/// stop; kept out for good (lost) after a kill, since a rank that may still be busy
/// with a task cannot be ended without ending the job.
#[derive(Debug)]
pub(crate) struct RankLease {
    rank: i32,
    back: bool,
}

impl RankLease {
    /// The drone rank was told to stop (`stopped`), or abandoned mid-task.
    pub(crate) fn end(&mut self, stopped: bool) {
        self.back = stopped;
    }
}

impl Drop for RankLease {
    fn drop(&mut self) {
        if self.back {
            if let Some(j) = job() {
                j.give_back(self.rank);
            }
        }
    }
}

/// The error of a launch that failed: it names the drone and its rank.
fn failed(inner: &Inner, index: usize, rank: i32, detail: impl std::fmt::Display) -> TeamError {
    inner.spawn_error(index, format!("MPI rank {rank}: {detail}"))
}

impl Inner {
    /// Take a free drone rank for drone `index` and connect to it.
    pub(crate) fn launch_mpi(&self, index: usize) -> Result<Drone, TeamError> {
        let c = &self.config;
        let job = job().ok_or_else(|| {
            TeamError::Config(
                "Team::builder(..).mpi() needs the MPI job: run under mpirun, and call polyshm::team::drone_main first in main (it joins the job)".into(),
            )
        })?;
        let rank = job.take(index, c.connect_timeout)?;
        // Lost unless the handshake ends cleanly.
        let mut lease = RankLease { rank, back: false };
        let local = job.is_local(rank);
        let mut mailbox = if local {
            let mut mb = Mailbox::create(c.wait).map_err(|e| failed(self, index, rank, e))?;
            mb.set_max(c.max_message);
            Some(mb)
        } else {
            None
        };
        let spec = Spec {
            transport: Transport::Shm,
            addr: String::new(),
            mailbox: mailbox.as_ref().map_or(String::new(), |m| m.name().into()),
            master: polyshm_sys::current_process(),
            token: crate::shm::header::random_u64(),
            wait: c.wait,
            cpu: None,
            index,
            claim_protocol: c.claim_protocol,
            max_message: c.max_message,
            // Window messages need Windows, where this launcher is not built.
            signal: None,
        };
        let place = if local { Place::Local } else { Place::Remote };
        let mut session = vec![place.byte()];
        session.extend_from_slice(spec.encode().as_bytes());
        SimpleCommunicator::world()
            .process_at_rank(rank)
            .send_with_tag(&session[..], TAG_SESSION);
        // A rank on this node is watched by its pid; a remote rank's life is MPI's to
        // watch (its death ends the job), so the watch checks this process.
        let me = polyshm_sys::current_process();
        let watched = job.pid_of(rank).filter(|_| local).unwrap_or(me);
        let start = Instant::now();
        let watch = Watch {
            peer: watched,
            deadline: Some((start, saturating_deadline(start, c.connect_timeout))),
            cancel: None,
            slice: Duration::from_millis(20),
        };
        let gone = |e: LinkError| failed(self, index, rank, format!("handshake: {e}"));
        let hello = match &mailbox {
            Some(mb) => mb
                .wait_master(&watch)
                .and_then(|()| mb.read_hello())
                .map_err(gone)?,
            None => recv_bytes(rank, TAG_HELLO, &watch).map_err(gone)?,
        };
        if hello.len() > MAX_HELLO {
            return Err(failed(self, index, rank, "a hello of more than 256 bytes"));
        }
        let pid = match job.pid_of(rank).filter(|_| local) {
            Some(p) => p,
            None => ProcessId {
                pid: Hello::decode(HELLO_MAGIC, &hello)
                    .map_err(|e| failed(self, index, rank, e))?
                    .pid,
                start_time: 0,
            },
        };
        let (welcome, refusal, id) = match judge(index, pid, spec.token, &hello) {
            Verdict::Welcome { welcome, id } => (welcome, None, id),
            Verdict::Refuse { welcome, error } => (welcome, Some(error), pid),
            Verdict::Reject(detail) => return Err(failed(self, index, rank, detail)),
        };
        let link: Box<dyn MasterLink> = match mailbox.take() {
            Some(mb) => {
                mb.write_hello(&welcome)
                    .and_then(|()| mb.signal_drone())
                    .map_err(gone)?;
                Box::new(ShmMaster::new(mb))
            }
            None => {
                SimpleCommunicator::world()
                    .process_at_rank(rank)
                    .send_with_tag(&welcome[..], TAG_HELLO);
                Box::new(MpiLink::new(rank, true, c.max_message))
            }
        };
        // The drone rank read the welcome: refused, it waits for the next session.
        lease.end(true);
        if let Some(e) = refusal {
            return Err(e);
        }
        lock(&self.pids)[index] = Some(id);
        Ok(Drone {
            child: Keeper::Rank(lease),
            id: if local { id } else { me },
            link,
            seq: 0,
            head: crate::team::protocol::Head::control(crate::team::protocol::Kind::Task, 0),
        })
    }
}

/// The number of drones of an MPI team: `asked`, or every free drone rank.
pub(crate) fn team_size(asked: Option<usize>) -> Result<usize, TeamError> {
    let job: &Job = job().ok_or_else(|| {
        TeamError::Config(
            "Team::builder(..).mpi() needs the MPI job: run under mpirun (mpirun -n K, K ≥ 2), and call polyshm::team::drone_main first in main (it joins the job)".into(),
        )
    })?;
    if job.rank != 0 {
        return Err(TeamError::Config(format!(
            "MPI rank {} is a drone; only rank 0 builds teams",
            job.rank
        )));
    }
    if job.size < 2 {
        return Err(TeamError::Config(
            "an MPI team needs at least one drone rank: run under mpirun -n K with K ≥ 2 (rank 0 is the master)".into(),
        ));
    }
    let n = asked.unwrap_or(job.free_ranks());
    if n == 0 {
        return Err(TeamError::Config(format!(
            "no free MPI rank for a team: the job's {} drone ranks are held by other teams or lost",
            job.size - 1
        )));
    }
    Ok(n)
}
