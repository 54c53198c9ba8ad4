//! Starting a drone: spawn this program again (from one long-lived thread, so that the
//! drone dies with the master), connect over the team's transport, run the handshake.

use super::dispatch::{lock, Inner};
use super::drone::{Spec, DRONE_ENV};
use super::error::TeamError;
use super::handshake::{judge, read_framed, write_framed, Verdict};
use super::protocol::{Head, Kind};
use super::transport::hybrid::HybridLink;
use super::transport::mailbox::Mailbox;
use super::transport::shm::ShmLink;
use super::transport::socket::{Listener, SocketLink};
use super::transport::{Link, LinkError, Transport, Watch};
use polyshm_sys::ProcessId;
use std::io;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long the master waits in one go before it checks the drone still lives.
pub(crate) const MASTER_SLICE: Duration = Duration::from_millis(100);

/// A command to run, and where to send the child.
type SpawnOrder = (Command, mpsc::Sender<io::Result<Child>>);

/// A thread that spawns every drone: `PR_SET_PDEATHSIG` fires when the *thread* that
/// spawned a child exits, so drones are spawned from one thread that lives as long as
/// the team, never from a short-lived caller thread.
pub(crate) struct Spawner {
    tx: Mutex<Option<mpsc::Sender<SpawnOrder>>>,
    thread: Option<JoinHandle<()>>,
}

impl Spawner {
    pub(crate) fn start() -> Result<Spawner, TeamError> {
        let (tx, rx) = mpsc::channel::<SpawnOrder>();
        let thread = std::thread::Builder::new()
            .name("polyshm-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            })
            .map_err(|e| TeamError::Spawn {
                drone: 0,
                program: PathBuf::new(),
                detail: format!("cannot start the spawner thread: {e}"),
            })?;
        Ok(Spawner {
            tx: Mutex::new(Some(tx)),
            thread: Some(thread),
        })
    }

    fn spawn(&self, cmd: Command) -> io::Result<Child> {
        let (rtx, rrx) = mpsc::channel();
        lock(&self.tx)
            .as_ref()
            .ok_or_else(|| io::Error::other("the team is shutting down"))?
            .send((cmd, rtx))
            .map_err(|_| io::Error::other("the spawner thread is gone"))?;
        rrx.recv()
            .map_err(|_| io::Error::other("the spawner thread is gone"))?
    }
}

impl Drop for Spawner {
    fn drop(&mut self) {
        lock(&self.tx).take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One live drone, seen from the master.
pub(crate) struct Drone {
    child: Child,
    pub id: ProcessId,
    pub link: Box<dyn Link>,
    pub seq: u64,
}

impl Drone {
    /// Kill (SIGKILL) and reap.
    pub(crate) fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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
        let give_up = Instant::now() + Duration::from_secs(1);
        while Instant::now() < give_up {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        self.kill();
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
        let mut mailbox = match c.transport {
            Transport::Hybrid { .. } | Transport::Shm => {
                let mut mb = Mailbox::create(c.wait).map_err(|e| serr(&e))?;
                mb.set_max(c.max_message);
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
        };
        let mut cmd = Command::new(&self.program);
        cmd.envs(c.env.iter().map(|(k, v)| (k, v)));
        cmd.env(DRONE_ENV, spec.encode()).stdin(Stdio::null());
        let child = self.spawner.spawn(cmd).map_err(|e| serr(&e))?;
        let id = ProcessId {
            pid: child.id(),
            start_time: 0,
        };
        let mut pending = PendingDrone { child: Some(child) };
        // The master's half of "drones end with the master" (a kill-on-close job object
        // on Windows; nothing on Linux, where the drone's kill_with_parent does it). On
        // failure `pending` reaps the drone.
        if let Some(c) = &pending.child {
            polyshm_sys::adopt_child(c)
                .map_err(|e| serr(&format!("cannot tie the drone to this master: {e}")))?;
        }
        let start = Instant::now();
        let watch = Watch {
            peer: id,
            deadline: Some((start, start + c.connect_timeout)),
            cancel: None,
            slice: Duration::from_millis(20),
        };
        let gone = |e: LinkError, pending: &mut PendingDrone| -> TeamError {
            let status = pending.reap();
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
            |hello: &[u8], pending: &mut PendingDrone| match judge(index, id, token, hello) {
                Verdict::Welcome { welcome, id } => Ok((welcome, None, id)),
                Verdict::Refuse { welcome, error } => Ok((welcome, Some(error), id)),
                Verdict::Reject(detail) => {
                    pending.reap_soon();
                    Err(self.spawn_error(index, detail))
                }
            };
        let judged_id;
        let link: Box<dyn Link> = match (c.transport, listener) {
            (Transport::Shm, _) => {
                let mb = mailbox.take_some();
                let r = mb.wait_master(&watch).and_then(|()| mb.read_hello());
                let hello = r.map_err(|e| gone(e, &mut pending))?;
                let (welcome, refusal, judged) = verdict(&hello, &mut pending)?;
                let told = mb.write_hello(&welcome).and_then(|()| mb.signal_drone());
                told.map_err(|e| gone(e, &mut pending))?;
                if let Some(e) = refusal {
                    pending.reap_soon();
                    return Err(e);
                }
                judged_id = judged;
                Box::new(ShmLink::master(mb))
            }
            (t, Some(listener)) => {
                let stream = loop {
                    match listener.try_accept() {
                        Ok(Some(s)) => break s,
                        Ok(None) => {
                            if let Err(e) = watch.check() {
                                return Err(gone(e, &mut pending));
                            }
                            std::thread::sleep(Duration::from_micros(500));
                        }
                        Err(e) => return Err(serr(&e)),
                    }
                };
                drop(listener);
                stream.configure(MASTER_SLICE).map_err(|e| serr(&e))?;
                let mut sock = SocketLink::new(stream).into_master(c.max_message);
                let hello =
                    read_framed(sock.stream(), &watch).map_err(|e| gone(e, &mut pending))?;
                let (welcome, refusal, judged) = verdict(&hello, &mut pending)?;
                write_framed(sock.stream(), &welcome, &watch).map_err(|e| gone(e, &mut pending))?;
                if let Some(e) = refusal {
                    pending.reap_soon();
                    return Err(e);
                }
                judged_id = judged;
                match t {
                    Transport::Hybrid { protected } => {
                        Box::new(HybridLink::master(sock, mailbox.take_some(), protected))
                    }
                    _ => Box::new(sock),
                }
            }
            (_, None) => return Err(serr(&"no listener for a socket transport")),
        };
        let child = pending
            .child
            .take()
            .expect("child present until handed over");
        lock(&self.pids)[index] = Some(judged_id);
        Ok(Drone {
            child,
            id: judged_id,
            link,
            seq: 0,
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

/// A child not yet handed to a [`Drone`]: killed and reaped if the launch fails.
struct PendingDrone {
    child: Option<Child>,
}

impl PendingDrone {
    /// Reap a child that is (or is about to be) dead; describes how it ended.
    fn reap(&mut self) -> String {
        match self.child.as_mut() {
            None => "already reaped".into(),
            Some(c) => {
                let _ = c.kill();
                let s = c.wait().map_or_else(|e| e.to_string(), |s| s.to_string());
                self.child = None;
                s
            }
        }
    }

    /// Give a refused drone a moment to exit on its own, then kill it.
    fn reap_soon(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let give_up = Instant::now() + Duration::from_millis(500);
            while Instant::now() < give_up {
                if let Ok(Some(_)) = c.try_wait() {
                    self.child = None;
                    return;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        self.reap();
    }
}

impl Drop for PendingDrone {
    fn drop(&mut self) {
        self.reap();
    }
}
