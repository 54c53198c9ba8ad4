//! The drone side: [`drone_main`], the spawn spec a drone finds in its environment, and
//! the drone loop (receive a request, run the task, send the reply, until the master
//! says stop or is gone).

use super::handshake::{check_welcome, hello, read_framed, write_framed};
use super::protocol::{Head, Kind, Status};
use super::tasks::{TaskOutput, Tasks};
use super::transport::hybrid::HybridDrone;
use super::transport::mailbox::{Mailbox, WindowPairs};
use super::transport::shm::ShmDrone;
use super::transport::socket::{SocketLink, Stream};
use super::transport::{DroneLink, LinkError, Transport, Watch};
use crate::sync::WaitStrategy;
use polyshm_sys::ProcessId;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

/// The environment variable that marks a process as a drone; its value is the spawn
/// spec (transport, where to connect, who the master is).
pub const DRONE_ENV: &str = "POLYSHM_DRONE";

/// How long a drone waits for a request before it checks that its master lives.
pub(crate) const DRONE_SLICE: Duration = Duration::from_millis(250);

const SEP: char = '\u{1f}';

/// What the master tells a drone it spawns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Spec {
    pub transport: Transport,
    /// `host:port` (TCP, hybrid) or a socket path (Unix); empty for shm.
    pub addr: String,
    /// Mailbox segment (shm, hybrid); empty otherwise.
    pub mailbox: String,
    pub master: ProcessId,
    pub token: u64,
    pub wait: WaitStrategy,
    pub cpu: Option<usize>,
    pub index: usize,
    /// Protocol version the drone claims (tests of the version check only).
    pub claim_protocol: Option<u32>,
    /// The team's maximum message size (a request frame past it is refused).
    pub max_message: usize,
    /// Window signalling: the master's relay and the pair ids (`None`: semaphores).
    pub signal: Option<WindowPairs>,
}

impl Spec {
    pub(crate) fn encode(&self) -> String {
        let wait = match self.wait {
            WaitStrategy::Block => "block".to_string(),
            WaitStrategy::SpinThenBlock { budget } => format!("spin:{}", budget.as_nanos()),
        };
        let fields = [
            "v=1".to_string(),
            format!("transport={}", self.transport),
            format!("addr={}", self.addr),
            format!("mailbox={}", self.mailbox),
            format!("pid={}", self.master.pid),
            format!("start={}", self.master.start_time),
            format!("token={}", self.token),
            format!("wait={wait}"),
            format!("cpu={}", self.cpu.map_or("-".into(), |c| c.to_string())),
            format!("index={}", self.index),
            format!(
                "claim={}",
                self.claim_protocol.map_or("-".into(), |c| c.to_string())
            ),
            format!("max={}", self.max_message),
            match &self.signal {
                None => "signal=semaphore".into(),
                Some(p) => format!("signal=window:{}", p.encode()),
            },
        ];
        fields.join(&SEP.to_string())
    }

    pub(crate) fn parse(s: &str) -> Result<Spec, String> {
        let bad = |what: &str| format!("bad {DRONE_ENV} ({what}): `{s}`");
        let mut spec = Spec {
            transport: Transport::Tcp,
            addr: String::new(),
            mailbox: String::new(),
            master: ProcessId::default(),
            token: 0,
            wait: WaitStrategy::default(),
            cpu: None,
            index: 0,
            claim_protocol: None,
            max_message: super::transport::default_max_message(),
            signal: None,
        };
        let num = |v: &str, what: &str| v.parse::<u64>().map_err(|_| bad(what));
        let mut version = false;
        for field in s.split(SEP) {
            let (k, v) = field
                .split_once('=')
                .ok_or_else(|| bad("field without ="))?;
            match k {
                "v" => version = v == "1",
                "transport" => spec.transport = v.parse().map_err(|_| bad("transport"))?,
                "addr" => spec.addr = v.into(),
                "mailbox" => spec.mailbox = v.into(),
                "pid" => spec.master.pid = num(v, "pid")? as u32,
                "start" => spec.master.start_time = num(v, "start")?,
                "token" => spec.token = num(v, "token")?,
                "wait" => {
                    spec.wait = match v {
                        "block" => WaitStrategy::Block,
                        _ => WaitStrategy::SpinThenBlock {
                            budget: Duration::from_nanos(num(
                                v.strip_prefix("spin:").ok_or_else(|| bad("wait"))?,
                                "wait",
                            )?),
                        },
                    }
                }
                "cpu" if v == "-" => spec.cpu = None,
                "cpu" => spec.cpu = Some(num(v, "cpu")? as usize),
                "index" => spec.index = num(v, "index")? as usize,
                "claim" if v == "-" => spec.claim_protocol = None,
                "claim" => spec.claim_protocol = Some(num(v, "claim")? as u32),
                "signal" if v == "semaphore" => spec.signal = None,
                "signal" => {
                    let pairs = v.strip_prefix("window:").and_then(WindowPairs::parse);
                    spec.signal = Some(pairs.ok_or_else(|| bad("signal"))?);
                }
                "max" => spec.max_message = usize::try_from(num(v, "max")?).unwrap_or(usize::MAX),
                _ => {}
            }
        }
        if !version {
            return Err(bad(
                "spec version is not 1; master and drone differ in version",
            ));
        }
        Ok(spec)
    }
}

/// Call this first thing in `main`, with the same tasks the master registers.
///
/// In a drone (a process the [`Team`](super::Team) spawned, marked by the
/// [`DRONE_ENV`] variable) it connects to the master, serves tasks until the master
/// says stop or is gone, and exits: it never returns. In any other process it returns
/// at once.
///
/// With the feature `mpi`, in a process started by an MPI launcher (`mpirun -n K`), it
/// first joins the MPI job (`MPI_THREAD_MULTIPLE`): ranks other than 0 serve the teams
/// rank 0 builds with [`TeamBuilder::mpi`](super::TeamBuilder::mpi) and never return;
/// rank 0 returns, and MPI is finalized when it exits.
///
/// ```no_run
/// use polyshm::team::{drone_main, Task, Tasks, Team};
/// fn main() -> Result<(), polyshm::team::TeamError> {
///     let mut tasks = Tasks::new();
///     let add: Task<(i64, i64), i64> = tasks.task("add", |(a, b)| a + b);
///     drone_main(&tasks); // a drone serves here and never returns
///     let team = Team::builder(tasks).drones(2).spawn()?;
///     assert_eq!(team.run(&add, (2, 3))?, 5);
///     Ok(())
/// }
/// ```
pub fn drone_main(tasks: &Tasks) {
    // Under mpirun: ranks other than 0 serve here and never return.
    #[cfg(feature = "mpi")]
    super::mpi::join_job(tasks);
    let Some(spec) = std::env::var_os(DRONE_ENV) else {
        return;
    };
    let code = match Spec::parse(&spec.to_string_lossy()).and_then(|s| serve(tasks, &s)) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("polyshm drone (pid {}): {e}", std::process::id());
            3
        }
    };
    std::process::exit(code);
}

fn connect_socket(spec: &Spec, watch: &Watch<'_>) -> Result<SocketLink, String> {
    let stream = match spec.transport {
        Transport::Unix => Stream::connect_unix(&spec.addr),
        _ => std::net::TcpStream::connect(&spec.addr).map(Stream::Tcp),
    }
    .map_err(|e| format!("connect to {}: {e}", spec.addr))?;
    stream.configure(DRONE_SLICE).map_err(|e| e.to_string())?;
    let mut link = SocketLink::new(stream).with_max_frame(spec.max_message);
    let s = link.stream();
    write_framed(s, &hello(spec), watch).map_err(|e| format!("handshake: {e}"))?;
    let w = read_framed(s, watch).map_err(|e| format!("handshake: {e}"))?;
    check_welcome(spec, &w)?;
    Ok(link)
}

pub(crate) fn connect(spec: &Spec) -> Result<Box<dyn DroneLink>, String> {
    let watch = Watch::peer(spec.master, DRONE_SLICE);
    let open_mailbox = || {
        let mut mb =
            Mailbox::open(&spec.mailbox, spec.wait).map_err(|e| format!("mailbox: {e}"))?;
        if let Some(pairs) = spec.signal {
            mb.open_window_signals(pairs)
                .map_err(|e| format!("mailbox: {e}"))?;
        }
        Ok::<_, String>(mb)
    };
    Ok(match spec.transport {
        Transport::Tcp | Transport::Unix => Box::new(connect_socket(spec, &watch)?),
        Transport::Hybrid { protected } => {
            let mb = open_mailbox()?;
            Box::new(HybridDrone::new(
                connect_socket(spec, &watch)?,
                mb,
                protected,
            ))
        }
        Transport::Shm => {
            let mb = open_mailbox()?;
            mb.write_hello(&hello(spec)).map_err(|e| e.to_string())?;
            mb.signal_master().map_err(|e| e.to_string())?;
            mb.wait_drone(&watch)
                .map_err(|e| format!("handshake: {e}"))?;
            check_welcome(spec, &mb.read_hello().map_err(|e| e.to_string())?)?;
            Box::new(ShmDrone::new(mb))
        }
    })
}

fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_string()
    }
}

fn run_task(tasks: &Tasks, name: &str, payload: &mut [u8], area: &mut [u8]) -> Ran {
    let Some(f) = tasks.get(name) else {
        let msg = format!(
            "drone (pid {}) knows no task `{name}`; it knows {}. Register it in the Tasks that both master and drone build",
            std::process::id(),
            tasks.names().join(", ")
        );
        return (
            Status::UnknownTask,
            TaskOutput::Bytes(Box::new(msg.into_bytes())),
        );
    };
    match catch_unwind(AssertUnwindSafe(|| f(payload, area))) {
        Ok(Ok(out)) => (Status::Ok, out),
        Ok(Err(refusal)) => (
            refusal.status,
            TaskOutput::Bytes(Box::new(refusal.message.into_bytes())),
        ),
        Err(p) => (
            Status::Panicked,
            TaskOutput::Bytes(Box::new(panic_message(p).into_bytes())),
        ),
    }
}

/// The drone loop.
fn serve(tasks: &Tasks, spec: &Spec) -> Result<(), String> {
    // Die with the master's spawning thread, however it ends.
    match polyshm_sys::kill_with_parent(spec.master) {
        Ok(true) => {}
        Ok(false) => return Ok(()),
        Err(e) => return Err(format!("cannot tie this drone to its master: {e}")),
    }
    if let Some(cpu) = spec.cpu {
        polyshm_sys::pin_current_thread(cpu).map_err(|e| format!("pin to CPU {cpu}: {e}"))?;
    }
    let mut link = connect(spec)?;
    serve_link(tasks, &mut *link, &Watch::peer(spec.master, DRONE_SLICE))
}

/// How a task ended, and its output.
type Ran = (Status, TaskOutput);

/// Serve tasks on a connected link until the master says stop (or is gone).
pub(crate) fn serve_link(
    tasks: &Tasks,
    link: &mut dyn DroneLink,
    watch: &Watch<'_>,
) -> Result<(), String> {
    loop {
        // The kind and sequence number of the frame (its name is not needed past the
        // task: no copy of it per request).
        let mut got: Option<(Kind, u64, Option<Ran>)> = None;
        match link.recv(watch, &mut |head, payload, area| {
            let out = match head.kind {
                Kind::Task => Some(run_task(tasks, &head.name, payload, area)),
                _ => None,
            };
            got = Some((head.kind, head.seq, out));
        }) {
            Ok(()) => {}
            // The master is gone (killed, or closed its end): nothing left to do.
            Err(LinkError::PeerDied(_)) => return Ok(()),
            Err(e) => return Err(e.to_string()),
        }
        let Some((kind, seq, out)) = got else {
            return Err("the transport delivered no frame".into());
        };
        match (kind, out) {
            (Kind::Task, Some((status, out))) => {
                let seq = if crate::fault_returns!("team.drone.wrong_seq") {
                    seq.wrapping_add(1)
                } else {
                    seq
                };
                let reply = Head::reply(seq, status);
                let sent = match out {
                    TaskOutput::Bytes(b) => link.send(&reply, (*b).as_ref(), watch),
                    TaskOutput::InPlace(n) => link.send_in_place(&reply, n, watch),
                    TaskOutput::InResult(n) => link.send_in_result(&reply, n, watch),
                };
                match sent {
                    // The reply is out: a drone that dies from here on has delivered.
                    Ok(()) => crate::fault_point!("team.drone.after_reply"),
                    Err(LinkError::PeerDied(_)) => return Ok(()),
                    Err(e) => return Err(e.to_string()),
                }
            }
            (Kind::Shutdown, _) => return Ok(()),
            (k, _) => {
                return Err(format!(
                    "the master sent a {k:?} frame where a task belongs"
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_round_trips() {
        let s = Spec {
            transport: Transport::Hybrid { protected: false },
            addr: "/tmp/a b.sock".into(),
            mailbox: "mbx-1".into(),
            master: ProcessId {
                pid: 12,
                start_time: 34,
            },
            token: 56,
            wait: WaitStrategy::SpinThenBlock {
                budget: Duration::from_micros(20),
            },
            cpu: Some(1),
            index: 3,
            claim_protocol: None,
            max_message: 1 << 20,
            signal: None,
        };
        assert_eq!(Spec::parse(&s.encode()).unwrap(), s);
        // Window signalling: the master's relay and both pair ids survive the trip.
        let w = Spec {
            signal: Some(WindowPairs {
                relay: polyshm_sys::WindowHandle(0x1_0048),
                to_drone: 7,
                to_master: 8,
            }),
            ..s.clone()
        };
        assert_eq!(Spec::parse(&w.encode()).unwrap(), w);
        let bad = w.encode().replace("window:65608:7:8", "window:65608:x");
        assert!(Spec::parse(&bad).unwrap_err().contains("signal"));
        assert!(Spec::parse("garbage").is_err());
        assert!(Spec::parse("v=2").is_err());
    }
}
