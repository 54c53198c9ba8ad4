//! [`Team`]: the master's side — spawn drones, hand them tasks, get results back
//! (the study's `VirtualMachines new: N` and `drones do: … with: …`).

use super::drone::{Spec, DRONE_ENV};
use super::error::TeamError;
use super::protocol::{check_name, Head, Hello, Kind, Status, HELLO_MAGIC, WELCOME_MAGIC};
use super::tasks::Tasks;
use super::transport::hybrid::HybridLink;
use super::transport::mailbox::Mailbox;
use super::transport::shm::ShmLink;
use super::transport::socket::{read_watched, write_watched, Listener, SocketLink, Stream};
use super::transport::{Link, LinkError, Transport, Watch};
use crate::codec;
use crate::sync::{saturating_deadline, WaitStrategy};
use polyshm_sys::ProcessId;
use serde::{de::DeserializeOwned, Serialize};
use std::io;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long the master waits in one go before it checks the drone still lives.
const MASTER_SLICE: Duration = Duration::from_millis(100);
/// How often a task whose drone died is tried again when `retry_dead` is on.
const RETRIES: usize = 3;

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
struct Config {
    drones: usize,
    transport: Transport,
    wait: WaitStrategy,
    pins: Vec<usize>,
    program: Option<PathBuf>,
    task_timeout: Option<Duration>,
    retry_dead: bool,
    connect_timeout: Duration,
    claim_protocol: Option<u32>,
    env: Vec<(std::ffi::OsString, std::ffi::OsString)>,
    max_message: usize,
}

/// Builds a [`Team`]: `Team::builder(tasks).drones(4).transport(Transport::Shm).spawn()`.
#[derive(Debug)]
pub struct TeamBuilder {
    tasks: Tasks,
    config: Config,
}

impl TeamBuilder {
    /// Number of drones (default: the number of CPUs, at least 1).
    pub fn drones(mut self, n: usize) -> Self {
        self.config.drones = n;
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

    /// Let `map`, `map_pod` and `zip` try a task again (on the replacement drone) when
    /// its drone died: only for idempotent tasks. A task is run at most 4 times in
    /// all (3 retries); after the 4th death the caller gets [`TeamError::DroneDied`].
    /// `run*` and `submit` never retry; a panic, a passed deadline or any other error is
    /// never retried, and neither is a task whose reply arrived.
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

    /// Make the drones claim another protocol version (for tests of the check).
    #[doc(hidden)]
    pub fn drones_claim_protocol(mut self, v: u32) -> Self {
        self.config.claim_protocol = Some(v);
        self
    }

    /// Start the drones and connect to each.
    pub fn spawn(self) -> Result<Team, TeamError> {
        let c = &self.config;
        if std::env::var_os(DRONE_ENV).is_some() {
            return Err(TeamError::Config(format!(
                "this process was started as a drone ({DRONE_ENV} is set) but its main did not call polyshm::team::drone_main first; a drone may not start drones of its own"
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
            _tasks: self.tasks,
            slots: (0..c.drones).map(|_| Mutex::new(None)).collect(),
            pids: Mutex::new(vec![0; c.drones]),
            idle: Mutex::new((0..c.drones).rev().collect()),
            idle_cv: Condvar::new(),
            spawner: Spawner::start()?,
        });
        for i in 0..c.drones {
            let d = inner.launch(i)?;
            *inner.slot(i) = Some(d);
        }
        Ok(Team { inner })
    }
}

/// A command to run, and where to send the child.
type SpawnOrder = (Command, mpsc::Sender<io::Result<Child>>);

/// A thread that spawns every drone: `PR_SET_PDEATHSIG` fires when the *thread* that
/// spawned a child exits, so drones are spawned from one thread that lives as long as
/// the team, never from a short-lived caller thread.
struct Spawner {
    tx: Mutex<Option<mpsc::Sender<SpawnOrder>>>,
    thread: Option<JoinHandle<()>>,
}

impl Spawner {
    fn start() -> Result<Spawner, TeamError> {
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

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One live drone, seen from the master.
struct Drone {
    child: Child,
    id: ProcessId,
    link: Box<dyn Link>,
    seq: u64,
}

impl Drone {
    /// Kill (SIGKILL) and reap.
    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Ask the drone to stop, wait a little, then kill it.
    fn shut_down(mut self) {
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

struct Inner {
    config: Config,
    program: PathBuf,
    _tasks: Tasks,
    slots: Vec<Mutex<Option<Drone>>>,
    pids: Mutex<Vec<u32>>,
    idle: Mutex<Vec<usize>>,
    idle_cv: Condvar,
    spawner: Spawner,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for s in &self.slots {
            if let Some(d) = lock(s).take() {
                d.shut_down();
            }
        }
    }
}

/// Gives a drone back to the idle list when dropped.
struct Lease<'a> {
    inner: &'a Inner,
    index: usize,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        lock(&self.inner.idle).push(self.index);
        self.inner.idle_cv.notify_one();
    }
}

impl Inner {
    fn slot(&self, i: usize) -> MutexGuard<'_, Option<Drone>> {
        lock(&self.slots[i])
    }

    fn spawn_error(&self, drone: usize, detail: String) -> TeamError {
        TeamError::Spawn {
            drone,
            program: self.program.clone(),
            detail,
        }
    }

    /// Start drone `index` and connect to it (with the version handshake).
    fn launch(&self, index: usize) -> Result<Drone, TeamError> {
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
            deadline: Some((start, saturating_deadline(start, c.connect_timeout))),
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
        let link: Box<dyn Link> = match (c.transport, listener) {
            (Transport::Shm, _) => {
                let mb = mailbox.take_some();
                let r = mb.wait_master(&watch).and_then(|()| mb.read_hello());
                let hello = r.map_err(|e| gone(e, &mut pending))?;
                let welcome = self.judge(index, id, token, &hello, &mut pending)?;
                let told = mb.write_hello(&welcome.0).and_then(|()| mb.signal_drone());
                told.map_err(|e| gone(e, &mut pending))?;
                if let Some(e) = welcome.1 {
                    pending.reap_soon();
                    return Err(e);
                }
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
                let welcome = self.judge(index, id, token, &hello, &mut pending)?;
                let mut framed = (welcome.0.len() as u32).to_le_bytes().to_vec();
                framed.extend_from_slice(&welcome.0);
                write_watched(sock.stream(), &framed, &watch).map_err(|e| gone(e, &mut pending))?;
                if let Some(e) = welcome.1 {
                    pending.reap_soon();
                    return Err(e);
                }
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
        lock(&self.pids)[index] = id.pid;
        Ok(Drone {
            child,
            id,
            link,
            seq: 0,
        })
    }

    /// Check a drone's hello; answers the welcome to send and, if the drone is refused,
    /// the error to return.
    fn judge(
        &self,
        index: usize,
        id: ProcessId,
        token: u64,
        hello: &[u8],
        pending: &mut PendingDrone,
    ) -> Result<(Vec<u8>, Option<TeamError>), TeamError> {
        let h = match Hello::decode(HELLO_MAGIC, hello) {
            Ok(h) => h,
            Err(e) => {
                pending.reap_soon();
                return Err(self.spawn_error(index, e.to_string()));
            }
        };
        if h.token != token || h.pid != id.pid {
            pending.reap_soon();
            return Err(self.spawn_error(
                index,
                format!(
                    "a process (pid {}) connected with the wrong token; another team's drone?",
                    h.pid
                ),
            ));
        }
        let mut me = Hello::me(token);
        me.accepted = h.compatible();
        let refusal = (!me.accepted).then(|| TeamError::VersionMismatch {
            drone: index,
            pid: id.pid,
            drone_version: h.crate_version.clone(),
            drone_protocol: h.protocol,
            master_version: me.crate_version.clone(),
            master_protocol: me.protocol,
        });
        Ok((me.encode(WELCOME_MAGIC), refusal))
    }

    /// Wait for an idle drone (or a cancel).
    fn acquire(&self, cancel: Option<&AtomicBool>, task: &str) -> Result<Lease<'_>, TeamError> {
        let mut idle = lock(&self.idle);
        loop {
            if cancel.is_some_and(|c| c.load(Ordering::Acquire)) {
                return Err(TeamError::Cancelled { task: task.into() });
            }
            if let Some(index) = idle.pop() {
                return Ok(Lease { inner: self, index });
            }
            idle = self
                .idle_cv
                .wait_timeout(idle, MASTER_SLICE)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// One roundtrip: `payload` to task `task` on an idle drone, the reply's payload to
    /// `on`. A dead, late or misbehaving drone is replaced before this returns.
    fn call(
        &self,
        task: &str,
        payload: &[u8],
        cancel: Option<&AtomicBool>,
        on: &mut dyn FnMut(&[u8]) -> Result<(), TeamError>,
    ) -> Result<(), TeamError> {
        check_name(task).map_err(|e| TeamError::Arguments(e.0))?;
        if payload.len() > self.config.max_message {
            return Err(TeamError::TooLarge {
                task: task.into(),
                what: "a request",
                bytes: payload.len() as u64,
                max: self.config.max_message as u64,
            });
        }
        let lease = self.acquire(cancel, task)?;
        let index = lease.index;
        let mut slot = self.slot(index);
        if slot.is_none() {
            *slot = Some(self.launch(index)?);
        }
        let drone = slot.as_mut().expect("launched above");
        drone.seq += 1;
        let seq = drone.seq;
        let start = Instant::now();
        let watch = Watch {
            peer: drone.id,
            deadline: self
                .config
                .task_timeout
                .map(|t| (start, saturating_deadline(start, t))),
            cancel,
            slice: MASTER_SLICE,
        };
        let mut answer: Option<(Head, Result<(), TeamError>)> = None;
        let sent = drone.link.send(&Head::task(seq, task), payload, &watch);
        let r = sent.and_then(|()| {
            drone.link.recv(&watch, &mut |head, bytes| {
                // User code sees only the reply to this request (the links check too).
                if head.seq != seq {
                    answer = Some((head.clone(), Ok(())));
                    return;
                }
                let r = match head.status {
                    Status::Ok => on(bytes),
                    s => Err(self.failure(s, task, index, bytes)),
                };
                answer = Some((head.clone(), r));
            })
        });
        let pid = drone.id.pid;
        let err = match (r, answer) {
            (Ok(()), Some((head, r))) if head.seq == seq => return r,
            (Ok(()), Some((head, _))) => TeamError::Transport {
                drone: index,
                task: task.into(),
                detail: format!("reply to request {} where {seq} was expected", head.seq),
            },
            (Ok(()), None) => TeamError::Transport {
                drone: index,
                task: task.into(),
                detail: "the transport delivered no reply".into(),
            },
            (Err(e), _) => match e {
                LinkError::PeerDied(_) => TeamError::DroneDied {
                    drone: index,
                    pid,
                    task: task.into(),
                },
                LinkError::TimedOut(after) => TeamError::TimedOut {
                    drone: index,
                    pid,
                    task: task.into(),
                    after,
                },
                LinkError::Cancelled => TeamError::Cancelled { task: task.into() },
                LinkError::TooLarge { what, bytes, max } => TeamError::TooLarge {
                    task: task.into(),
                    what,
                    bytes,
                    max,
                },
                e => TeamError::Transport {
                    drone: index,
                    task: task.into(),
                    detail: e.to_string(),
                },
            },
        };
        // The drone is dead, late, cancelled mid-task or out of step: replace it. If the
        // replacement cannot start now, the next call on this slot tries again.
        if let Some(d) = slot.take() {
            d.kill();
        }
        lock(&self.pids)[index] = 0;
        *slot = self.launch(index).ok();
        drop(slot);
        drop(lease);
        Err(err)
    }

    fn failure(&self, status: Status, task: &str, drone: usize, bytes: &[u8]) -> TeamError {
        let message = String::from_utf8_lossy(bytes).into_owned();
        match status {
            Status::UnknownTask => TeamError::UnknownTask {
                task: task.into(),
                detail: message,
            },
            Status::Panicked => TeamError::Panicked {
                task: task.into(),
                drone,
                message,
            },
            _ => TeamError::Failed {
                task: task.into(),
                drone,
                message,
            },
        }
    }

    /// `call` with the team's retry policy for dead drones.
    fn call_retrying(
        &self,
        task: &str,
        payload: &[u8],
        on: &mut dyn FnMut(&[u8]) -> Result<(), TeamError>,
    ) -> Result<(), TeamError> {
        let mut tries = 0;
        loop {
            match self.call(task, payload, None, on) {
                Err(TeamError::DroneDied { .. }) if self.config.retry_dead && tries < RETRIES => {
                    tries += 1;
                }
                r => return r,
            }
        }
    }

    /// Run `task` on every payload, spread over the drones (each takes the next input
    /// when it is free); results in input order.
    fn spread<R: Send>(
        &self,
        task: &str,
        payloads: &[&[u8]],
        decode: &(dyn Fn(&[u8]) -> Result<R, TeamError> + Sync),
    ) -> Result<Vec<R>, TeamError> {
        let n = payloads.len();
        let one = |i: usize| -> Result<R, TeamError> {
            let mut out = None;
            self.call_retrying(task, payloads[i], &mut |b| {
                out = Some(decode(b)?);
                Ok(())
            })?;
            Ok(out.expect("set on success"))
        };
        let workers = self.slots.len().min(n);
        if workers <= 1 {
            return (0..n).map(one).collect();
        }
        let next = AtomicUsize::new(0);
        let failed = AtomicBool::new(false);
        let results: Vec<Mutex<Option<Result<R, TeamError>>>> =
            (0..n).map(|_| Mutex::new(None)).collect();
        std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(|| loop {
                    if failed.load(Ordering::Relaxed) {
                        return;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return;
                    }
                    let r = one(i);
                    if r.is_err() {
                        failed.store(true, Ordering::Relaxed);
                    }
                    *lock(&results[i]) = Some(r);
                });
            }
        });
        let mut out = Vec::with_capacity(n);
        let mut first_err = None;
        for r in results {
            match r.into_inner().unwrap_or_else(|p| p.into_inner()) {
                Some(Ok(v)) => out.push(v),
                Some(Err(e)) => {
                    first_err.get_or_insert(e);
                }
                None => {}
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(out),
        }
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

fn read_framed(s: &mut Stream, watch: &Watch<'_>) -> Result<Vec<u8>, LinkError> {
    let mut lb = [0u8; 4];
    read_watched(s, &mut lb, watch)?;
    let len = u32::from_le_bytes(lb) as usize;
    if len > 256 {
        return Err(super::protocol::ProtocolError(format!("hello of {len} bytes")).into());
    }
    let mut b = vec![0u8; len];
    read_watched(s, &mut b, watch)?;
    Ok(b)
}

/// A team of drones: N processes that run tasks for this one (the study's
/// `VirtualMachines new: N`).
///
/// Drones are this executable run again with a drone marker in the environment (its
/// `main` must call [`drone_main`](super::drone_main) first), or another program
/// ([`TeamBuilder::program`]). They end when the team drops, and when the master ends
/// in any other way (kill -9 included): each is tied to the master's spawner thread by
/// `PR_SET_PDEATHSIG`, and checks that the master lives whenever a wait times out.
///
/// `run*` calls may come from several threads: each takes an idle drone for the
/// duration of the roundtrip, on the calling thread.
///
/// ```no_run
/// use polyshm::team::{drone_main, Tasks, Team, Transport};
/// fn main() -> Result<(), polyshm::team::TeamError> {
///     let tasks = Tasks::new().task("add", |(a, b): (i64, i64)| a + b);
///     drone_main(&tasks);
///     let team = Team::builder(tasks).drones(2).transport(Transport::Shm).spawn()?;
///     let sums: Vec<i64> = team.zip("add", vec![1i64, 2, 3, 4, 5], vec![5i64, 4, 3, 2, 1])?;
///     assert_eq!(sums, [6, 6, 6, 6, 6]);
///     let v: Vec<i64> = team.run_pod("polyshm.echo_i64", &[1i64, 2, 3])?;
///     assert_eq!(v, [1, 2, 3]);
///     Ok(())
/// }
/// ```
pub struct Team {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Team {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Team")
            .field("drones", &self.drones())
            .field("transport", &self.transport())
            .field("pids", &self.drone_pids())
            .finish()
    }
}

impl Team {
    /// Start building a team that knows `tasks` (the drones must build the same).
    pub fn builder(tasks: Tasks) -> TeamBuilder {
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
            },
        }
    }

    /// Run a serde task on one drone.
    pub fn run<A: Serialize, R: DeserializeOwned>(
        &self,
        task: &str,
        args: &A,
    ) -> Result<R, TeamError> {
        let bytes = encode_for(task, args)?;
        let mut out = None;
        self.inner.call(task, &bytes, None, &mut |b| {
            out = Some(decode_for::<R>(task, b)?);
            Ok(())
        })?;
        Ok(out.expect("set on success"))
    }

    /// Run a plain-old-data task on one drone: `args` goes as its own bytes, the result
    /// comes back as `Vec<R>` (one copy out of the transport).
    pub fn run_pod<T: bytemuck::Pod, R: bytemuck::Pod>(
        &self,
        task: &str,
        args: &[T],
    ) -> Result<Vec<R>, TeamError> {
        let mut out = None;
        self.inner
            .call(task, codec::pod_bytes(args), None, &mut |b| {
                out = Some(pod_for::<R>(task, b)?);
                Ok(())
            })?;
        Ok(out.expect("set on success"))
    }

    /// [`run_pod`](Self::run_pod), but `f` reads the result where the transport holds
    /// it (the mailbox itself for [`Transport::Shm`] and the hybrids) instead of a
    /// copy; answers what `f` answers. The result must be aligned for `R` (it is, for
    /// every transport, up to 8-byte alignment).
    pub fn run_pod_with<T: bytemuck::Pod, R: bytemuck::Pod, X>(
        &self,
        task: &str,
        args: &[T],
        f: impl FnOnce(&[R]) -> X,
    ) -> Result<X, TeamError> {
        let mut f = Some(f);
        let mut out = None;
        self.inner
            .call(task, codec::pod_bytes(args), None, &mut |b| {
                let v = codec::pod_view::<R>(b).map_err(|source| TeamError::Codec {
                    task: task.into(),
                    source,
                })?;
                let f = f.take().expect("one reply per call");
                out = Some(f(v));
                Ok(())
            })?;
        Ok(out.expect("set on success"))
    }

    /// Run a serde task once per input, spread over the drones; results in input
    /// order. The first error wins (inputs not yet started are not run).
    pub fn map<A: Serialize, R: DeserializeOwned + Send>(
        &self,
        task: &str,
        inputs: Vec<A>,
    ) -> Result<Vec<R>, TeamError> {
        let enc: Vec<Vec<u8>> = inputs
            .iter()
            .map(|a| encode_for(task, a))
            .collect::<Result<_, _>>()?;
        let refs: Vec<&[u8]> = enc.iter().map(Vec::as_slice).collect();
        self.inner
            .spread(task, &refs, &|b| decode_for::<R>(task, b))
    }

    /// [`map`](Self::map) for plain-old-data arrays.
    pub fn map_pod<T: bytemuck::Pod, R: bytemuck::Pod + Send>(
        &self,
        task: &str,
        inputs: Vec<Vec<T>>,
    ) -> Result<Vec<Vec<R>>, TeamError> {
        let refs: Vec<&[u8]> = inputs.iter().map(|v| codec::pod_bytes(v)).collect();
        self.inner.spread(task, &refs, &|b| pod_for::<R>(task, b))
    }

    /// Run `task` on `(a[i], b[i])` for every `i`, spread over the drones (the study's
    /// `drones do: [:a :b | …] with: a with: b`).
    pub fn zip<A: Serialize, B: Serialize, R: DeserializeOwned + Send>(
        &self,
        task: &str,
        a: Vec<A>,
        b: Vec<B>,
    ) -> Result<Vec<R>, TeamError> {
        if a.len() != b.len() {
            return Err(TeamError::Arguments(format!(
                "zip of {} and {} values: give both the same length",
                a.len(),
                b.len()
            )));
        }
        self.map(task, a.into_iter().zip(b).collect())
    }

    /// Start `task` on a drone and return at once; the handle waits for the result.
    pub fn submit<A: Serialize, R: DeserializeOwned + Send + 'static>(
        &self,
        task: &str,
        args: A,
    ) -> TaskHandle<R> {
        let (tx, rx) = mpsc::channel();
        let cancel = Arc::new(AtomicBool::new(false));
        match encode_for(task, &args) {
            Err(e) => {
                let _ = tx.send(Err(e));
            }
            Ok(bytes) => {
                let inner = self.inner.clone();
                let flag = cancel.clone();
                let task = task.to_string();
                let spawned = std::thread::Builder::new()
                    .name("polyshm-submit".into())
                    .spawn(move || {
                        let mut out = None;
                        let r = inner
                            .call(&task, &bytes, Some(&flag), &mut |b| {
                                out = Some(decode_for::<R>(&task, b)?);
                                Ok(())
                            })
                            .map(|()| out.expect("set on success"));
                        let _ = tx.send(r);
                    });
                if let Err(e) = spawned {
                    let (tx2, rx2) = mpsc::channel();
                    let _ = tx2.send(Err(TeamError::Config(format!(
                        "cannot start a thread for the task: {e}"
                    ))));
                    return TaskHandle { rx: rx2, cancel };
                }
            }
        }
        TaskHandle { rx, cancel }
    }

    /// Number of drones.
    pub fn drones(&self) -> usize {
        self.inner.slots.len()
    }

    /// Pids of the drones now serving (a replaced drone has a new pid; 0 for a slot
    /// whose replacement could not start yet).
    pub fn drone_pids(&self) -> Vec<u32> {
        lock(&self.inner.pids).clone()
    }

    /// The transport in use.
    pub fn transport(&self) -> Transport {
        self.inner.config.transport
    }

    /// The wait strategy in use.
    pub fn wait_strategy(&self) -> WaitStrategy {
        self.inner.config.wait
    }

    /// Run a script block on columns of values, row by row, spread over the drones
    /// (`zip_script` with any number of columns).
    #[cfg(feature = "script")]
    pub fn zip_script_n(
        &self,
        block: &str,
        columns: Vec<Vec<super::script::Value>>,
    ) -> Result<Vec<super::script::Value>, TeamError> {
        super::script::check_block(block, columns.len())?;
        let n = columns.first().map_or(0, Vec::len);
        if let Some(c) = columns.iter().find(|c| c.len() != n) {
            return Err(TeamError::Arguments(format!(
                "columns of {n} and {} values: give every column the same length",
                c.len()
            )));
        }
        let mut cols: Vec<_> = columns.into_iter().map(Vec::into_iter).collect();
        let rows: Vec<Vec<super::script::Value>> = (0..n)
            .map(|_| {
                cols.iter_mut()
                    .map(|c| c.next().expect("checked length"))
                    .collect()
            })
            .collect();
        let per = n.div_ceil(self.drones()).max(1);
        let chunks: Vec<(String, u64, Vec<Vec<super::script::Value>>)> = rows
            .chunks(per)
            .enumerate()
            .map(|(i, c)| (block.to_string(), (i * per) as u64, c.to_vec()))
            .collect();
        let parts: Vec<Result<Vec<super::script::Value>, String>> =
            self.map(super::script::TASK, chunks)?;
        let mut out = Vec::with_capacity(n);
        for p in parts {
            out.extend(p.map_err(|message| TeamError::Script {
                block: block.into(),
                message,
            })?);
        }
        Ok(out)
    }

    /// Run a script block (source text, as Polycephaly ships blocks) on `(a[i], b[i])`
    /// for every `i`: `team.zip_script("|a, b| a + b", a, b)`. The block is compiled
    /// once in the master (a block that does not compile is an error before any drone
    /// works) and once per drone and call.
    #[cfg(feature = "script")]
    pub fn zip_script(
        &self,
        block: &str,
        a: Vec<super::script::Value>,
        b: Vec<super::script::Value>,
    ) -> Result<Vec<super::script::Value>, TeamError> {
        if a.len() != b.len() {
            return Err(TeamError::Arguments(format!(
                "zip of {} and {} values: give both the same length",
                a.len(),
                b.len()
            )));
        }
        self.zip_script_n(block, vec![a, b])
    }
}

fn encode_for<A: Serialize + ?Sized>(task: &str, a: &A) -> Result<Vec<u8>, TeamError> {
    codec::encode(a).map_err(|source| TeamError::Codec {
        task: task.into(),
        source,
    })
}

fn decode_for<R: DeserializeOwned>(task: &str, b: &[u8]) -> Result<R, TeamError> {
    codec::decode(b).map_err(|source| TeamError::Codec {
        task: task.into(),
        source,
    })
}

fn pod_for<R: bytemuck::Pod>(task: &str, b: &[u8]) -> Result<Vec<R>, TeamError> {
    codec::pod_from_bytes(b).map_err(|source| TeamError::Codec {
        task: task.into(),
        source,
    })
}

/// A task started with [`Team::submit`].
#[derive(Debug)]
pub struct TaskHandle<R> {
    rx: mpsc::Receiver<Result<R, TeamError>>,
    cancel: Arc<AtomicBool>,
}

impl<R> TaskHandle<R> {
    /// Wait for the result (the task's own waits are bounded: a dead drone or a passed
    /// deadline ends it).
    pub fn wait(self) -> Result<R, TeamError> {
        self.rx.recv().unwrap_or_else(|_| {
            Err(TeamError::Config(
                "the task's thread ended without an answer".into(),
            ))
        })
    }

    /// Wait at most `timeout`: `None` if the task is still running (ask again later).
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<Result<R, TeamError>> {
        match self.rx.recv_timeout(timeout) {
            Ok(r) => Some(r),
            Err(mpsc::RecvTimeoutError::Timeout) => None,
            Err(mpsc::RecvTimeoutError::Disconnected) => Some(Err(TeamError::Config(
                "the task's thread ended without an answer".into(),
            ))),
        }
    }

    /// Cancel the task: if it has not started it never will; if a drone runs it, that
    /// drone is killed and replaced. Answers how the task ended (`Cancelled`, or its
    /// result if it finished first).
    pub fn cancel(self) -> Result<R, TeamError> {
        self.cancel.store(true, Ordering::Release);
        self.wait()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn teams_and_handles_cross_threads_and_bad_configs_are_refused() {
        fn send_sync<T: Send + Sync>() {}
        fn send<T: Send>() {}
        send_sync::<Team>();
        send::<TaskHandle<Vec<i64>>>();
        let e = Team::builder(Tasks::new()).drones(0).spawn().unwrap_err();
        assert!(matches!(e, TeamError::Config(_)), "{e}");
        let e = Team::builder(Tasks::new())
            .drones(1)
            .program("/nonexistent/polyshm-drone")
            .spawn()
            .unwrap_err();
        assert!(matches!(e, TeamError::Spawn { .. }), "{e}");
    }
}
