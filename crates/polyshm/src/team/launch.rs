//! Starting a drone: spawn this program again (from one long-lived thread, so that the
//! drone dies with the master), connect over the team's transport, run the handshake.

use super::dispatch::{lock, Inner};
use super::drone::{Spec, DRONE_ENV};
use super::error::TeamError;
use super::handshake::{judge, read_framed, write_framed, Verdict};
use super::protocol::{Head, Kind};
use super::transport::hybrid::HybridMaster;
use super::transport::listener::Listener;
use super::transport::mailbox::Mailbox;
use super::transport::shm::ShmMaster;
use super::transport::socket::SocketLink;
use super::transport::{LinkError, MasterLink, Signal, Transport, Watch};
use crate::child::{ChildProcess, Spawn};
use crate::sync::{saturating_deadline, Look, WaitError};
use polyshm_sys::ProcessId;
use std::time::{Duration, Instant};

/// How long the master waits in one go before it checks the drone still lives.
pub(crate) const MASTER_SLICE: Duration = Duration::from_millis(100);
/// How long a refused drone gets to exit on its own before it is killed.
const REFUSED_GRACE: Duration = Duration::from_millis(500);

/// What ends a drone: its child process, or (feature `mpi`) the lease on its rank.
pub(crate) enum Keeper {
    Child(ChildProcess),
    #[cfg(feature = "mpi")]
    Rank(super::mpi::RankLease),
}

impl Keeper {
    /// End it within `grace` (zero: at once).
    fn end_within(&mut self, grace: Duration) {
        match self {
            Keeper::Child(c) => {
                c.end_within(grace);
            }
            // A rank told to stop goes back to the job; one abandoned is lost.
            #[cfg(feature = "mpi")]
            Keeper::Rank(r) => r.end(!grace.is_zero()),
        }
    }
}

/// One live drone, seen from the master.
pub(crate) struct Drone {
    pub(crate) child: Keeper,
    pub id: ProcessId,
    pub link: Box<dyn MasterLink>,
    pub seq: u64,
    /// The head of the request being sent (kept: its name's allocation is reused).
    pub head: Head,
}

impl Drone {
    /// Kill (SIGKILL) and reap.
    pub(crate) fn kill(mut self) {
        self.child.end_within(Duration::ZERO);
    }

    /// Ask the drone to stop, wait a little, then kill it.
    pub(crate) fn shut_down(mut self) {
        let watch = Watch {
            peer: self.id,
            deadline: Some((Instant::now(), Instant::now() + Duration::from_millis(500))),
            cancel: None,
            slice: Duration::from_millis(20),
        };
        let _ = self
            .link
            .send(&Head::control(Kind::Shutdown, self.seq + 1), &[], &watch);
        self.child.end_within(Duration::from_secs(1));
    }
}

impl Inner {
    pub(crate) fn spawn_error(&self, drone: usize, detail: String) -> TeamError {
        TeamError::Spawn {
            drone,
            program: self.program.clone(),
            detail,
        }
    }

    /// Start drone `index` and connect to it (with the version handshake).
    pub(crate) fn launch(&self, index: usize) -> Result<Drone, TeamError> {
        let c = &self.config;
        #[cfg(feature = "mpi")]
        if c.mpi {
            return self.launch_mpi(index);
        }
        let token = crate::shm::header::random_u64();
        let serr = |e: &dyn std::fmt::Display| self.spawn_error(index, e.to_string());
        let listener = match c.transport {
            Transport::Tcp | Transport::Hybrid { .. } => Some(Listener::tcp()),
            Transport::Unix => Some(Listener::unix(&format!(
                "polyshm-{}-{token:016x}",
                std::process::id()
            ))),
            Transport::Shm => None,
        }
        .transpose()
        .map_err(|e| serr(&e))?;
        let mut signal = None;
        let mut mailbox = match c.transport {
            Transport::Hybrid { .. } | Transport::Shm => {
                let mut mb = Mailbox::create(c.wait).map_err(|e| serr(&e))?;
                mb.set_max(c.max_message);
                if c.signal == Signal::Window {
                    signal = Some(mb.use_window_signals().map_err(|e| serr(&e))?);
                }
                Some(mb)
            }
            _ => None,
        };
        let spec = Spec {
            transport: c.transport,
            addr: match &listener {
                Some(l) => l.addr().map_err(|e| serr(&e))?,
                None => String::new(),
            },
            mailbox: mailbox.as_ref().map_or(String::new(), |m| m.name().into()),
            master: polyshm_sys::current_process(),
            token,
            wait: c.wait,
            cpu: (!c.pins.is_empty()).then(|| c.pins[index % c.pins.len()]),
            index,
            claim_protocol: c.claim_protocol,
            max_message: c.max_message,
            signal,
        };
        // The drone ends with the master: spawned from the process's spawner thread and
        // tied to it (a job object on Windows; the drone's own kill_with_parent on
        // Linux). Until it is handed to a `Drone`, dropping `pending` kills and reaps it.
        let mut pending = Spawn::program(&self.program)
            .envs(c.env.iter().map(|(k, v)| (k, v)))
            .env(DRONE_ENV, spec.encode())
            .start()
            .map_err(|e| serr(&e))?;
        let id = pending.process_id();
        let start = Instant::now();
        let watch = Watch {
            peer: id,
            deadline: Some((start, saturating_deadline(start, c.connect_timeout))),
            cancel: None,
            slice: Duration::from_millis(20),
        };
        let gone = |e: LinkError, pending: &mut ChildProcess| -> TeamError {
            let status = pending.end_within(Duration::ZERO);
            let detail = match e {
                LinkError::PeerDied(_) => format!(
                    "the drone exited ({status}) before it connected (its stderr says why); does its main call polyshm::team::drone_main first?"
                ),
                LinkError::TimedOut(d) => format!(
                    "the drone did not connect within {d:?}; does its main call polyshm::team::drone_main first?"
                ),
                e => format!("handshake: {e}"),
            };
            self.spawn_error(index, detail)
        };
        // The welcome to send, the error if the drone is refused, and the drone's id.
        let verdict =
            |hello: &[u8], pending: &mut ChildProcess| match judge(index, id, token, hello) {
                Verdict::Welcome { welcome, id } => Ok((welcome, None, id)),
                Verdict::Refuse { welcome, error } => Ok((welcome, Some(error), id)),
                Verdict::Reject(detail) => {
                    pending.end_within(REFUSED_GRACE);
                    Err(self.spawn_error(index, detail))
                }
            };
        let judged_id;
        let link: Box<dyn MasterLink> = match (c.transport, listener) {
            (Transport::Shm, _) => {
                let mb = mailbox.take_some();
                let r = mb.wait_master(&watch).and_then(|()| mb.read_hello());
                let hello = r.map_err(|e| gone(e, &mut pending))?;
                let (welcome, refusal, judged) = verdict(&hello, &mut pending)?;
                let told = mb.write_hello(&welcome).and_then(|()| mb.signal_drone());
                told.map_err(|e| gone(e, &mut pending))?;
                if let Some(e) = refusal {
                    pending.end_within(REFUSED_GRACE);
                    return Err(e);
                }
                judged_id = judged;
                Box::new(ShmMaster::new(mb))
            }
            (t, Some(listener)) => {
                // A listener has no timed accept: it is polled every 500 µs.
                let accepted = watch.wait(|look| {
                    let s = listener.try_accept()?;
                    if s.is_none() && look != Look::Last {
                        std::thread::sleep(Duration::from_micros(500));
                    }
                    Ok::<_, std::io::Error>(s)
                });
                let stream = match accepted {
                    Ok(s) => s,
                    Err(WaitError::Stopped(stop)) => return Err(gone(stop.into(), &mut pending)),
                    Err(WaitError::Failed(e)) => return Err(serr(&e)),
                };
                drop(listener);
                stream.configure(MASTER_SLICE).map_err(|e| serr(&e))?;
                let mut sock = SocketLink::new(stream).into_master(c.max_message);
                let hello =
                    read_framed(sock.stream(), &watch).map_err(|e| gone(e, &mut pending))?;
                let (welcome, refusal, judged) = verdict(&hello, &mut pending)?;
                write_framed(sock.stream(), &welcome, &watch).map_err(|e| gone(e, &mut pending))?;
                if let Some(e) = refusal {
                    pending.end_within(REFUSED_GRACE);
                    return Err(e);
                }
                judged_id = judged;
                match t {
                    Transport::Hybrid { protected } => {
                        Box::new(HybridMaster::new(sock, mailbox.take_some(), protected))
                    }
                    _ => Box::new(sock),
                }
            }
            (_, None) => return Err(serr(&"no listener for a socket transport")),
        };
        let child = Keeper::Child(pending);
        lock(&self.pids)[index] = Some(judged_id);
        Ok(Drone {
            child,
            id: judged_id,
            link,
            seq: 0,
            head: Head::control(Kind::Task, 0),
        })
    }
}

trait TakeSome<T> {
    fn take_some(&mut self) -> T;
}
impl<T> TakeSome<T> for Option<T> {
    fn take_some(&mut self) -> T {
        self.take().expect("created for this transport")
    }
}
