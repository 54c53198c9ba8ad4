//! Layer 4: relays, the rendezvous between a master and its clients (the study's
//! `SemaphoreEventRelay`, section 6, and its UDP twin, section 8.2).
//!
//! - [`Relay`]: the master opens a relay, a small segment of slots. A client started
//!   with the relay's name on its command line (`--relay NAME`) or in the environment
//!   variable [`RELAY_ENV`] (`POLYSHM_RELAY`) connects with [`Relay::connect`] (or
//!   [`Relay::connect_from_env`]); the master takes it with [`Relay::accept`]. After
//!   the handshake both sides hold a [`Link`]: a pair of
//!   [`RemoteSemaphore`](crate::shm::RemoteSemaphore)s (`to_client`, `to_master`) and
//!   a message area in each direction. Several clients share one relay, one slot each.
//! - [`UdpRelay`]: the same protocol over UDP on loopback ([`UdpLink`]), kept for the
//!   study's table 2. Its address goes in [`UDP_RELAY_ENV`] (`POLYSHM_UDP_RELAY`).
//! - [`RelayLink`]: what both links offer — `signal` / `wait` (the study's
//!   `#signalRemote` / `#waitRemote`), `send` / `recv` / `call` for small messages.
//!
//! A dead peer is noticed: every wait is cut into slices of
//! [`LIVENESS_PERIOD`](crate::sync::LIVENESS_PERIOD), and between slices the waiter
//! checks that the peer (pid + start time, recorded at the handshake) still runs. A
//! wait on a link whose peer died ends in [`RelayError::PeerDied`], never a hang; a
//! peer that closed its end properly gives [`RelayError::PeerClosed`].
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use polyshm::relay::{Relay, RelayLink, RelayOptions};
//! use std::time::Duration;
//! let relay = Relay::create(&polyshm::shm::unique_name("doc-relay"), RelayOptions::default())?;
//! // A client would run in another process, given `relay.name()`.
//! let name = relay.name().to_owned();
//! let client = std::thread::spawn(move || -> Result<Vec<u8>, polyshm::relay::RelayError> {
//!     let link = Relay::connect(&name, Duration::from_secs(10))?;
//!     let request = link.recv(Some(Duration::from_secs(10)))?;
//!     link.send(&[request[0] + 1])?;
//!     Ok(request)
//! });
//! let link = relay.accept(Some(Duration::from_secs(10)))?;
//! assert_eq!(link.call(&[41], Some(Duration::from_secs(10)))?, vec![42]);
//! assert_eq!(client.join().unwrap()?, vec![41]);
//! # Ok(()) }
//! ```

#[allow(clippy::module_inception)]
mod relay;
mod udp;

pub(crate) use relay::RELAY_VERSION;
pub use relay::{Link, Relay, RelayOptions, Role};
pub use udp::{UdpLink, UdpRelay};

use crate::shm::ShmError;
use crate::sync::{SemaphoreError, Stop};
use polyshm_sys::ProcessId;
use std::time::Duration;

/// Environment variable that carries a relay's name to a client process.
pub const RELAY_ENV: &str = "POLYSHM_RELAY";
/// Environment variable that carries a UDP relay's address (`127.0.0.1:PORT`).
pub const UDP_RELAY_ENV: &str = "POLYSHM_UDP_RELAY";
/// Command-line option that carries a relay's name (`--relay NAME` or `--relay=NAME`).
pub const RELAY_ARG: &str = "--relay";

/// Failure of a relay operation. Each message says what was asked, what was found,
/// and what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RelayError {
    /// The relay's segment could not be created or opened.
    #[error("relay: {0}")]
    Shm(#[from] ShmError),
    /// The segment exists but holds no relay (its relay magic is wrong).
    #[error("segment {name:?} is not a polyshm relay (no relay magic after the segment header); check the name passed in {RELAY_ENV} or {RELAY_ARG}")]
    NotARelay {
        /// Name given.
        name: String,
    },
    /// Made by a polyshm with another relay layout.
    #[error("relay {name:?} has layout version {found}, this polyshm reads version {expected}; run the same polyshm on both sides")]
    IncompatibleVersion {
        /// Name given.
        name: String,
        /// Version found.
        found: u32,
        /// Version this build reads.
        expected: u32,
    },
    /// The relay's shared words hold values no polyshm writes.
    #[error("relay {name:?} is corrupt: {what}; another process wrote over it: close it and open a new one")]
    Corrupt {
        /// Name of the relay.
        name: String,
        /// What is wrong.
        what: String,
    },
    /// Every slot of the relay is taken.
    #[error("relay {name:?}: all {slots} slots are taken; open the relay with more slots (RelayOptions::slots) or close idle clients")]
    Full {
        /// Name of the relay.
        name: String,
        /// Slots the relay has.
        slots: u32,
    },
    /// Nothing arrived within the timeout; the link is still usable.
    #[error("relay {name:?}: timed out after {after:?} waiting for {what}; the peer is alive but did not answer")]
    TimedOut {
        /// Name of the relay (or the UDP address).
        name: String,
        /// What was awaited.
        what: &'static str,
        /// The timeout.
        after: Duration,
    },
    /// The peer process died (or its pid now names another process).
    #[error(
        "relay {name:?}: the peer ({peer}) died; drop this link (and restart the peer if needed)"
    )]
    PeerDied {
        /// Name of the relay.
        name: String,
        /// The dead peer.
        peer: ProcessId,
    },
    /// The peer closed its end of the link (or the master closed the relay).
    #[error("relay {name:?}: the peer closed the link; drop it")]
    PeerClosed {
        /// Name of the relay.
        name: String,
    },
    /// A message larger than the link's message area.
    #[error("relay {name:?}: a message of {len} bytes does not fit the {capacity}-byte message area; open the relay with a larger RelayOptions::message_capacity, or pass large data through a SharedMemory segment")]
    TooLarge {
        /// Name of the relay.
        name: String,
        /// Bytes offered.
        len: usize,
        /// Bytes that fit.
        capacity: usize,
    },
    /// A client was asked to connect without a relay name.
    #[error("no relay name: pass {RELAY_ARG} NAME on the command line or set {RELAY_ENV}")]
    NoRelayName,
    /// A semaphore of the link overflowed (signals sent that nobody takes).
    #[error("relay {name:?}: {source}")]
    Semaphore {
        /// Name of the relay.
        name: String,
        /// What the semaphore said.
        source: SemaphoreError,
    },
    /// A socket operation of the UDP relay failed.
    #[error("UDP relay {name:?}: {op} failed: {source}")]
    Io {
        /// Address of the relay.
        name: String,
        /// What was being done.
        op: &'static str,
        /// The system's error.
        source: std::io::Error,
    },
    /// The UDP peer sent a datagram the protocol does not know.
    #[error(
        "UDP relay {name:?}: unexpected datagram: {what}; is another program sending to this port?"
    )]
    Protocol {
        /// Address of the relay.
        name: String,
        /// What arrived.
        what: String,
    },
}

impl RelayError {
    /// The error of a watched wait for `what` on relay `name` that stopped.
    fn stopped(
        stop: Stop,
        name: &str,
        what: &'static str,
        timeout: Option<Duration>,
    ) -> RelayError {
        let name = name.into();
        match stop {
            Stop::PeerDied(peer) => RelayError::PeerDied { name, peer },
            Stop::PeerClosed => RelayError::PeerClosed { name },
            // A relay's waits carry no cancel flag; had one been given, giving up
            // before the answer came would be a timeout to the caller.
            Stop::TimedOut(_) | Stop::Cancelled => RelayError::TimedOut {
                name,
                what,
                after: timeout.unwrap_or_default(),
            },
        }
    }
}

/// One end of a connected relay: what [`Link`] (shared memory) and [`UdpLink`] (UDP)
/// both offer, so that a measurement or a drone loop runs over either.
///
/// `signal` / `wait` are the study's `#signalRemote` / `#waitRemote`: a counting
/// signal to the peer, no payload. `send` / `recv` carry a small message and one
/// signal. Do not mix the two on the same direction: a `recv` consumes a plain
/// `signal` too and reads whatever the message area holds.
pub trait RelayLink {
    /// Signal the peer once.
    fn signal(&self) -> Result<(), RelayError>;
    /// Wait for one signal from the peer, at most `timeout` (`None`: as long as the
    /// peer lives).
    fn wait(&self, timeout: Option<Duration>) -> Result<(), RelayError>;
    /// Send a message to the peer (and one signal).
    fn send(&self, message: &[u8]) -> Result<(), RelayError>;
    /// Wait for a message from the peer, at most `timeout`; it replaces `buf`'s
    /// contents.
    fn recv_into(&self, buf: &mut Vec<u8>, timeout: Option<Duration>) -> Result<(), RelayError>;
    /// The process at the other end.
    fn peer(&self) -> ProcessId;
    /// Largest message [`send`](Self::send) accepts.
    fn message_capacity(&self) -> usize;

    /// Wait for a message from the peer, at most `timeout`.
    fn recv(&self, timeout: Option<Duration>) -> Result<Vec<u8>, RelayError> {
        let mut buf = Vec::new();
        self.recv_into(&mut buf, timeout)?;
        Ok(buf)
    }

    /// Send `request` and wait at most `timeout` for the reply (a synchronous
    /// message/reply pair, the study's roundtrip).
    fn call(&self, request: &[u8], timeout: Option<Duration>) -> Result<Vec<u8>, RelayError> {
        self.send(request)?;
        self.recv(timeout)
    }
}

/// The relay name given to this process: `--relay NAME` or `--relay=NAME` among the
/// command-line arguments, else the environment variable [`RELAY_ENV`].
pub fn relay_name_from_args_or_env() -> Option<String> {
    relay_name_in(std::env::args().skip(1)).or_else(|| std::env::var(RELAY_ENV).ok())
}

/// The value of `--relay` in `args`, if any.
pub fn relay_name_in(args: impl IntoIterator<Item = String>) -> Option<String> {
    let mut args = args.into_iter();
    while let Some(a) = args.next() {
        if a == RELAY_ARG {
            return args.next();
        }
        if let Some(v) = a.strip_prefix(RELAY_ARG).and_then(|r| r.strip_prefix('=')) {
            return Some(v.to_owned());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_name_from_arguments() {
        let args = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(relay_name_in(args(&["--relay", "r1"])), Some("r1".into()));
        assert_eq!(
            relay_name_in(args(&["x", "--relay=r2", "y"])),
            Some("r2".into())
        );
        assert_eq!(relay_name_in(args(&["--relayx", "r"])), None);
        assert_eq!(relay_name_in(args(&["--relay"])), None);
    }
}
