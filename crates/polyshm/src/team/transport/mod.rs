//! How frames travel between master and drone: two traits, [`MasterLink`] and
//! [`DroneLink`] (the two sides are different types), and three transports, chosen per
//! team with [`Transport`]:
//!
//! - [`socket::SocketLink`] — request and result over TCP on loopback (NODELAY, as
//!   Polycephaly) or a Unix stream socket (the framing is the same both ways: one type
//!   serves both ends);
//! - [`hybrid::HybridMaster`] / [`hybrid::HybridDrone`] — request over TCP, result
//!   through the drone's mailbox in shared memory, signalled by the mailbox semaphore
//!   (protected) or by a small socket reply (unprotected, study 8.6);
//! - [`shm::ShmMaster`] / [`shm::ShmDrone`] — request and result both through the
//!   mailbox, semaphores for the hand-over (study 8.7).
//!
//! Every wait is a [`Watch::wait`] (the `sync` layer's one bounded wait on a peer): a
//! series of bounded waits; between them the [`Watch`] checks that the peer still
//! lives, that the deadline has not passed and that nobody cancelled.

pub(crate) mod hybrid;
pub(crate) mod listener;
pub(crate) mod mailbox;
pub use mailbox::{Signal, UnknownSignal};
pub(crate) mod shm;
pub(crate) mod socket;
pub(crate) mod stream;

use super::protocol::{Head, ProtocolError, Status};
use crate::shm::ShmError;
pub(crate) use crate::sync::Watch;
use crate::sync::{Stop, WaitError};
use polyshm_sys::ProcessId;
use std::time::Duration;

/// Which transport a team uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Transport {
    /// TCP on loopback with NODELAY (the study's sockets). Id `tcp` (or `socket`).
    Tcp,
    /// A Unix stream socket. Id `unix`.
    Unix,
    /// Request over TCP, result through shared memory. Ids `hybrid` (protected: the
    /// mailbox semaphore says when the result is there) and `hybrid-unprotected` (the
    /// socket reply says so).
    Hybrid {
        /// Whether the result is guarded by the mailbox semaphore.
        protected: bool,
    },
    /// Request and result through a per-drone mailbox in shared memory. Id `shm`.
    Shm,
}

impl Transport {
    /// Every transport, in the order the benchmark reports them.
    pub const ALL: [Transport; 5] = [
        Transport::Tcp,
        Transport::Unix,
        Transport::Hybrid { protected: true },
        Transport::Hybrid { protected: false },
        Transport::Shm,
    ];

    /// Whether this platform has the transport (`unix` needs Unix sockets).
    pub fn is_available(&self) -> bool {
        *self != Transport::Unix || polyshm_sys::HAS_UNIX_SOCKETS
    }

    /// The transports of [`ALL`](Self::ALL) this platform has.
    pub fn available() -> Vec<Transport> {
        Transport::ALL
            .into_iter()
            .filter(Transport::is_available)
            .collect()
    }

    /// The transport's id, as parsed by `FromStr`.
    pub fn id(&self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Unix => "unix",
            Transport::Hybrid { protected: true } => "hybrid",
            Transport::Hybrid { protected: false } => "hybrid-unprotected",
            Transport::Shm => "shm",
        }
    }
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id())
    }
}

/// A transport id that names no transport.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown transport `{0}`; choose one of socket, tcp, unix, hybrid, hybrid-unprotected, shm"
)]
pub struct UnknownTransport(pub String);

impl std::str::FromStr for Transport {
    type Err = UnknownTransport;
    fn from_str(s: &str) -> Result<Transport, UnknownTransport> {
        Ok(match s {
            "socket" | "tcp" => Transport::Tcp,
            "unix" => Transport::Unix,
            "hybrid" => Transport::Hybrid { protected: true },
            "hybrid-unprotected" => Transport::Hybrid { protected: false },
            "shm" => Transport::Shm,
            _ => return Err(UnknownTransport(s.into())),
        })
    }
}

/// Why a frame did not get through.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    /// The peer process is gone (or closed its end).
    #[error("the peer ({0}) is gone")]
    PeerDied(ProcessId),
    /// The deadline passed while waiting.
    #[error("deadline passed after {0:?}")]
    TimedOut(Duration),
    /// The caller cancelled the task.
    #[error("cancelled")]
    Cancelled,
    /// The peer broke the protocol.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// A socket failed.
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
    /// A mailbox segment failed.
    #[error(transparent)]
    Shm(#[from] ShmError),
    /// A frame or an area larger than the configured maximum was asked for; refused
    /// before anything was allocated.
    #[error("{what} of {bytes} bytes is past the maximum message size of {max} bytes")]
    TooLarge {
        /// What was asked for ("a frame announced by the peer", "a result area", ...).
        what: &'static str,
        /// Bytes asked for.
        bytes: u64,
        /// The maximum in force.
        max: u64,
    },
}

/// The default maximum message size (a frame, or a mailbox area): half the memory
/// available now, at least 64 MiB; 1 GiB where the platform does not say.
pub(crate) fn default_max_message() -> usize {
    let half = polyshm_sys::available_memory().map_or(1 << 30, |m| (m / 2).max(64 << 20));
    usize::try_from(half).unwrap_or(usize::MAX)
}

/// A step of the exchange where a fault point sits, on either side (the points are
/// named `team.master.<step>` and `team.drone.<step>`; see [`crate::fault`]).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Step {
    /// The frame is there (or awaited), nothing of it read yet.
    BeforeRead,
    /// Part of the frame read (its head or descriptor), not its payload.
    MidRead,
    /// Part of the frame written (socket: its first half; mailbox: the payload, not the
    /// descriptor).
    MidWrite,
    /// All written but the signal (socket: all but the last byte).
    BeforeSignal,
    /// The frame written and signalled.
    AfterSignal,
}

/// Reach the fault point of `step` on the given side.
pub(crate) fn fault(master: bool, step: Step) {
    match (master, step) {
        (true, Step::BeforeRead) => crate::fault_point!("team.master.before_read"),
        (true, Step::MidRead) => crate::fault_point!("team.master.mid_read"),
        (true, Step::MidWrite) => crate::fault_point!("team.master.mid_write"),
        (true, Step::BeforeSignal) => crate::fault_point!("team.master.before_signal"),
        (true, Step::AfterSignal) => crate::fault_point!("team.master.after_signal"),
        (false, Step::BeforeRead) => crate::fault_point!("team.drone.before_read"),
        (false, Step::MidRead) => crate::fault_point!("team.drone.mid_read"),
        (false, Step::MidWrite) => crate::fault_point!("team.drone.mid_write"),
        (false, Step::BeforeSignal) => crate::fault_point!("team.drone.before_signal"),
        (false, Step::AfterSignal) => crate::fault_point!("team.drone.after_signal"),
    }
}

/// Check that an in-place reply of `len` bytes lies within the request it answers
/// (`request` bytes); answers `len`.
pub(crate) fn check_in_place(len: usize, request: usize) -> Result<usize, LinkError> {
    if len > request {
        return Err(ProtocolError(format!(
            "an in-place reply of {len} bytes from a request of {request}"
        ))
        .into());
    }
    Ok(len)
}

/// The drone's NeedSpace reply to request `seq`, asking for a result area of the
/// reply's length (the fault point `team.drone.need_space_wrong_seq` misnumbers it).
pub(crate) fn need_space(seq: u64) -> Head {
    let seq = if crate::fault_returns!("team.drone.need_space_wrong_seq") {
        seq.wrapping_add(1)
    } else {
        seq
    };
    Head::reply(seq, Status::NeedSpace)
}

impl From<Stop> for LinkError {
    fn from(stop: Stop) -> LinkError {
        match stop {
            Stop::Cancelled => LinkError::Cancelled,
            Stop::PeerDied(p) => LinkError::PeerDied(p),
            Stop::TimedOut(after) => LinkError::TimedOut(after),
            // The team's waits have no close check of their own: a closed socket is
            // a dead peer to them (end of file).
            Stop::PeerClosed => ProtocolError("the peer closed the link".into()).into(),
        }
    }
}

impl From<WaitError<LinkError>> for LinkError {
    fn from(e: WaitError<LinkError>) -> LinkError {
        match e {
            WaitError::Stopped(stop) => stop.into(),
            WaitError::Failed(e) => e,
        }
    }
}

/// The master's end of a connection to one drone: requests out, replies in.
///
/// `send` copies the payload once into the medium; `send_loaned` sends what the caller
/// wrote into the area [`loan`](Self::loan) lent (for [`shm::ShmMaster`]: the mailbox
/// itself, no copy); `recv_reply` waits for the reply to the last request, whose
/// payload [`reply_payload`](Self::reply_payload) then shows where the medium holds it.
/// All wait in bounded slices and consult the [`Watch`].
pub(crate) trait MasterLink: Send {
    /// Send one frame (a task, or a control frame).
    fn send(&mut self, head: &Head, payload: &[u8], watch: &Watch<'_>) -> Result<(), LinkError>;
    /// Send the first `len` bytes of the loaned area as the request's payload (no copy
    /// where the area is the medium).
    fn send_loaned(&mut self, head: &Head, len: usize, watch: &Watch<'_>) -> Result<(), LinkError>;
    /// Wait for the reply to the last task sent (its sequence number checked before
    /// anything acts on it); its payload is then [`reply_payload`](Self::reply_payload).
    fn recv_reply(&mut self, watch: &Watch<'_>) -> Result<Head, LinkError>;
    /// The payload of the last reply received (valid until the next send).
    fn reply_payload(&mut self) -> &[u8];
    /// Make the request area hold `len` bytes and lend it (16-byte aligned): the
    /// mailbox's own request area where the request travels through shared memory,
    /// else a buffer of the link's.
    /// It stays where it is until the link is used again.
    fn loan(&mut self, len: usize) -> Result<&mut [u8], LinkError>;
    /// Bytes a [`loan`](Self::loan) gets now without growing anything (for a request
    /// written before its size is known: it spills when larger).
    fn loan_capacity(&self) -> usize;
}

/// The drone's end of a connection: requests in, replies out.
///
/// `recv` lends the request's payload to `on` in place (for [`shm::ShmDrone`] it is
/// the mailbox itself: no copy); `send` copies the reply's payload once into the
/// medium; `send_in_place` answers with the request's own bytes (for
/// [`shm::ShmDrone`]: no copy at all). All wait in bounded slices and consult the
/// [`Watch`].
pub(crate) trait DroneLink: Send {
    /// Receive one frame and hand it to `on` with the transport's result area (both
    /// valid during the call): `on` may change the payload in place, for
    /// [`send_in_place`](Self::send_in_place), and write a result into the area, for
    /// [`send_in_result`](Self::send_in_result).
    fn recv(&mut self, watch: &Watch<'_>, on: &mut Receiver<'_>) -> Result<(), LinkError>;
    /// Send a reply.
    fn send(&mut self, head: &Head, payload: &[u8], watch: &Watch<'_>) -> Result<(), LinkError>;
    /// Reply with the first `len` bytes of the request just received, as the task left
    /// them (a task that works in place): no copy where the medium allows.
    fn send_in_place(
        &mut self,
        head: &Head,
        len: usize,
        watch: &Watch<'_>,
    ) -> Result<(), LinkError>;
    /// Reply with the first `len` bytes of the result area lent with the request just
    /// received, as the task wrote them: no copy.
    fn send_in_result(
        &mut self,
        head: &Head,
        len: usize,
        watch: &Watch<'_>,
    ) -> Result<(), LinkError>;
}

/// What a drone link hands each frame to: its head, its payload (which may be
/// changed in place) and the result area.
pub(crate) type Receiver<'r> = dyn FnMut(&Head, &mut [u8], &mut [u8]) + 'r;
