//! A drone rank (any rank but 0): it waits for rank 0 to open a session (a team
//! taking it), connects the way it is told, serves tasks with the same loop as a
//! spawned drone until the team lets it go, and waits again, until rank 0 says the
//! job is over.

use super::job::{Job, QUIT};
use super::link::{probe, MpiLink};
use super::{TAG_HELLO, TAG_SESSION};
use crate::team::drone::{connect, serve_link, Spec, DRONE_SLICE};
use crate::team::handshake::{check_welcome, hello};
use crate::team::tasks::Tasks;
use crate::team::transport::{DroneLink, LinkError, Watch};
use mpi::datatype::Equivalence;
use mpi::point_to_point::Destination;
use mpi::point_to_point::Source;
use mpi::topology::{Communicator, SimpleCommunicator};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How often a drone rank in a session looks for the end of the job.
const QUIT_LOOK: Duration = Duration::from_millis(50);

/// How long an idle drone rank waits in one go (it has no peer to check: a slice is
/// only how often it looks up from its probes).
const IDLE_SLICE: Duration = Duration::from_secs(1);

/// How a session reaches this rank: the first byte of the session message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Place {
    /// Through the mailbox named in the spec (a rank on the master's node).
    Local,
    /// Through MPI messages.
    Remote,
}

impl Place {
    pub(crate) fn byte(self) -> u8 {
        match self {
            Place::Local => b'L',
            Place::Remote => b'R',
        }
    }
}

/// Receive one message of `tag` from `from` (within `watch`), whole.
pub(crate) fn recv_bytes(
    from: i32,
    tag: mpi::Tag,
    watch: &Watch<'_>,
) -> Result<Vec<u8>, LinkError> {
    let (msg, n) = probe(from, tag, watch)?;
    let mut b = vec![0u8; n];
    msg.matched_receive_into(&mut b[..]);
    Ok(b)
}

/// Serve sessions until rank 0 says the job is over; then exit (MPI is finalized at
/// exit).
pub(crate) fn serve_rank(tasks: &Tasks, job: &Job) -> ! {
    let me = polyshm_sys::current_process();
    loop {
        let idle = Watch::peer(me, IDLE_SLICE);
        let msg = match recv_bytes(0, TAG_SESSION, &idle) {
            Ok(m) => m,
            Err(e) => fail(job, &format!("waiting for a session: {e}")),
        };
        if msg == QUIT {
            std::process::exit(0);
        }
        let (place, spec) = match parse_session(&msg) {
            Ok(p) => p,
            Err(e) => fail(job, &e),
        };
        let connected = match place {
            Place::Local => connect(&spec),
            Place::Remote => connect_remote(&spec),
        };
        let mut link = match connected {
            Ok(l) => l,
            // Refused, or the master gave up: it knows; wait for the next session.
            Err(e) => {
                eprintln!("polyshm drone (MPI rank {}): {e}", job.rank);
                continue;
            }
        };
        let watched = match place {
            Place::Local => spec.master,
            Place::Remote => me,
        };
        let quit = AtomicBool::new(false);
        let done = AtomicBool::new(false);
        let served = std::thread::scope(|s| {
            s.spawn(|| watch_for_quit(job, &quit, &done));
            let watch = Watch {
                peer: watched,
                deadline: None,
                cancel: Some(&quit),
                slice: DRONE_SLICE,
            };
            let r = serve_link(tasks, &mut *link, &watch);
            // The session is over (the link closed) but the quit watcher still looks:
            // a pause here lets rank 0's next session message arrive while it does.
            crate::fault_point!("mpi.drone.before_session_end");
            done.store(true, Ordering::Release);
            r
        });
        if quit.load(Ordering::Acquire) {
            std::process::exit(0);
        }
        if let Err(e) = served {
            eprintln!("polyshm drone (MPI rank {}): {e}", job.rank);
        }
    }
}

/// During a session: the job may end without the team letting this rank go (a
/// team that abandoned it past a deadline, or one still alive when rank 0 exits).
/// Look for rank 0's "job over" every [`QUIT_LOOK`] and cancel the session's waits.
///
/// Only "job over" is taken here. A session message that arrives meanwhile is the
/// next team's: rank 0 took this rank back when the last team dropped, which sends the
/// link's close before it, but on another tag, so it can be seen here before the
/// serving loop has read the close. It is left for that loop, which reads it once this
/// session has ended (a "job over" behind it is seen in that next session). The
/// fault point `mpi.drone.before_session_end` holds a session's end open so that the
/// test meets this case every time (`teams_follow_each_other`, scripts/mpi-tests.sh).
fn watch_for_quit(job: &Job, quit: &AtomicBool, done: &AtomicBool) {
    let world = SimpleCommunicator::world();
    let master = world.process_at_rank(0);
    while !done.load(Ordering::Acquire) {
        if let Some(status) = master.immediate_probe_with_tag(TAG_SESSION) {
            let n = status.count(u8::equivalent_datatype()).max(0) as usize;
            if n == QUIT.len() {
                // Only this thread receives on this tag during a session.
                let (b, _) = master.receive_vec_with_tag::<u8>(TAG_SESSION);
                if b != QUIT {
                    fail(job, "a one-byte session message that is not \"job over\"");
                }
                quit.store(true, Ordering::Release);
                return;
            }
        }
        std::thread::sleep(QUIT_LOOK);
    }
}

fn parse_session(msg: &[u8]) -> Result<(Place, Spec), String> {
    let (first, rest) = msg.split_first().ok_or("an empty session message")?;
    let place = match first {
        b'L' => Place::Local,
        b'R' => Place::Remote,
        b => return Err(format!("a session message of kind {b}")),
    };
    let text = std::str::from_utf8(rest).map_err(|_| "a session spec that is not UTF-8")?;
    Ok((place, Spec::parse(text)?))
}

/// Say hello to rank 0 in MPI messages and read its welcome.
fn connect_remote(spec: &Spec) -> Result<Box<dyn DroneLink>, String> {
    let world = SimpleCommunicator::world();
    world
        .process_at_rank(0)
        .send_with_tag(&hello(spec)[..], TAG_HELLO);
    let watch = Watch::peer(polyshm_sys::current_process(), DRONE_SLICE)
        .timeout(Some(Duration::from_secs(60)));
    let w = recv_bytes(0, TAG_HELLO, &watch).map_err(|e| format!("handshake: {e}"))?;
    check_welcome(spec, &w)?;
    Ok(Box::new(MpiLink::new(0, false, spec.max_message)))
}

/// A drone rank that cannot go on ends the whole job, naming itself.
fn fail(job: &Job, why: &str) -> ! {
    eprintln!(
        "polyshm drone (MPI rank {}): {why}; aborting the job",
        job.rank
    );
    SimpleCommunicator::world().abort(3)
}
