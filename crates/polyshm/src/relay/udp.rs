//! [`UdpRelay`]: the relay protocol over UDP on loopback (the study's section 8.2,
//! table 2), kept for the comparison with the shared-memory [`Relay`](super::Relay).
//!
//! # Protocol
//!
//! Every datagram starts with a one-byte tag:
//!
//! | tag | name | rest |
//! |---|---|---|
//! | 1 | connect | client pid (u32), client start time (u64), little-endian |
//! | 2 | accept | master pid (u32), master start time (u64) |
//! | 3 | message | the payload (empty for a plain signal) |
//! | 4 | close | nothing |
//!
//! The master listens on the relay address; a client sends `connect` there. For each
//! client the master opens a socket of its own and answers `accept` from it; from then
//! on the two link sockets talk only to each other (both are `connect`ed). A datagram
//! is one signal. Loopback UDP does not lose datagrams unless a receive buffer
//! overflows, which a message/reply exchange never does; a lost `connect` would show as
//! a [`RelayError::TimedOut`].

use super::{RelayError, RelayLink};
use crate::sync::{saturating_deadline, Look, WaitError, Watch, LIVENESS_PERIOD};
use polyshm_sys::{current_process, is_alive, ProcessId};
use std::cell::RefCell;
use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

const CONNECT: u8 = 1;
const ACCEPT: u8 = 2;
const MESSAGE: u8 = 3;
const CLOSE: u8 = 4;
/// Largest UDP payload on IPv4, less the tag byte.
const MAX_MESSAGE: usize = 65_507 - 1;

fn identity_datagram(tag: u8, id: ProcessId) -> [u8; 13] {
    let mut d = [0u8; 13];
    d[0] = tag;
    d[1..5].copy_from_slice(&id.pid.to_le_bytes());
    d[5..13].copy_from_slice(&id.start_time.to_le_bytes());
    d
}

fn parse_identity(d: &[u8]) -> Option<ProcessId> {
    (d.len() == 13).then(|| ProcessId {
        pid: u32::from_le_bytes(d[1..5].try_into().expect("4 bytes")),
        start_time: u64::from_le_bytes(d[5..13].try_into().expect("8 bytes")),
    })
}

fn io_err<'a>(name: &'a str, op: &'static str) -> impl FnOnce(std::io::Error) -> RelayError + 'a {
    move |source| RelayError::Io {
        name: name.into(),
        op,
        source,
    }
}

fn timed_out(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// The master's UDP relay: a socket on `127.0.0.1` that clients send `connect` to.
#[derive(Debug)]
pub struct UdpRelay {
    socket: UdpSocket,
    name: String,
}

impl UdpRelay {
    /// Open a UDP relay on a free loopback port.
    pub fn bind() -> Result<UdpRelay, RelayError> {
        let socket =
            UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).map_err(io_err("127.0.0.1:0", "bind"))?;
        let name = socket
            .local_addr()
            .map_err(io_err("127.0.0.1:0", "local_addr"))?
            .to_string();
        Ok(UdpRelay { socket, name })
    }

    /// The relay's address (`127.0.0.1:PORT`): hand it to clients, e.g. in
    /// [`UDP_RELAY_ENV`](super::UDP_RELAY_ENV).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Wait at most `timeout` (`None`: for ever) for a client's `connect`, and answer
    /// it from a new socket that becomes this end of the link.
    pub fn accept(&self, timeout: Option<Duration>) -> Result<UdpLink, RelayError> {
        let deadline = timeout.map(|t| saturating_deadline(Instant::now(), t));
        let mut buf = [0u8; 64];
        loop {
            let slice = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => Duration::from_secs(3600),
            };
            if slice.is_zero() {
                return Err(RelayError::TimedOut {
                    name: self.name.clone(),
                    what: "a client to connect",
                    after: timeout.unwrap_or_default(),
                });
            }
            self.socket
                .set_read_timeout(Some(slice))
                .map_err(io_err(&self.name, "set_read_timeout"))?;
            let (n, from) = match self.socket.recv_from(&mut buf) {
                Ok(r) => r,
                Err(e) if timed_out(&e) || e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_err(&self.name, "recv_from")(e)),
            };
            let Some(peer) = (buf[0] == CONNECT)
                .then(|| parse_identity(&buf[..n]))
                .flatten()
            else {
                // Not ours: ignore it and keep listening.
                continue;
            };
            let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
                .map_err(io_err(&self.name, "bind a link socket"))?;
            socket
                .connect(from)
                .map_err(io_err(&self.name, "connect the link socket"))?;
            socket
                .send(&identity_datagram(ACCEPT, current_process()))
                .map_err(io_err(&self.name, "send accept"))?;
            return UdpLink::new(socket, self.name.clone(), peer, None);
        }
    }

    /// Connect to the UDP relay at `addr` (`127.0.0.1:PORT`), waiting at most
    /// `timeout` for the master's answer.
    pub fn connect(addr: &str, timeout: Duration) -> Result<UdpLink, RelayError> {
        let started = Instant::now();
        let master: SocketAddr = addr.parse().map_err(|e| RelayError::Io {
            name: addr.into(),
            op: "parse the address",
            source: std::io::Error::new(ErrorKind::InvalidInput, e),
        })?;
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).map_err(io_err(addr, "bind"))?;
        socket
            .send_to(&identity_datagram(CONNECT, current_process()), master)
            .map_err(io_err(addr, "send connect"))?;
        let deadline = saturating_deadline(started, timeout);
        let mut buf = [0u8; 64];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(RelayError::TimedOut {
                    name: addr.into(),
                    what: "the master to accept",
                    after: timeout,
                });
            }
            socket
                .set_read_timeout(Some(left))
                .map_err(io_err(addr, "set_read_timeout"))?;
            let (n, from) = match socket.recv_from(&mut buf) {
                Ok(r) => r,
                Err(e) if timed_out(&e) || e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_err(addr, "recv_from")(e)),
            };
            if !from.ip().is_loopback() || buf[0] != ACCEPT {
                continue;
            }
            let peer = parse_identity(&buf[..n]).ok_or_else(|| RelayError::Protocol {
                name: addr.into(),
                what: format!("an accept datagram of {n} bytes"),
            })?;
            socket
                .connect(from)
                .map_err(io_err(addr, "connect the link socket"))?;
            return UdpLink::new(socket, addr.into(), peer, Some(started.elapsed()));
        }
    }

    /// Connect to the UDP relay whose address is in
    /// [`UDP_RELAY_ENV`](super::UDP_RELAY_ENV).
    pub fn connect_from_env(timeout: Duration) -> Result<UdpLink, RelayError> {
        let addr = std::env::var(super::UDP_RELAY_ENV).map_err(|_| RelayError::NoRelayName)?;
        UdpRelay::connect(&addr, timeout)
    }
}

/// One end of a UDP relay link. Dropping it sends `close` to the peer. It may move
/// between threads but is used by one at a time (`Send`, not `Sync`).
#[derive(Debug)]
pub struct UdpLink {
    socket: UdpSocket,
    name: String,
    peer: ProcessId,
    connect_time: Option<Duration>,
    /// One datagram's worth of buffer, reused by `recv_into`.
    scratch: RefCell<Vec<u8>>,
}

impl UdpLink {
    fn new(
        socket: UdpSocket,
        name: String,
        peer: ProcessId,
        connect_time: Option<Duration>,
    ) -> Result<UdpLink, RelayError> {
        socket
            .set_read_timeout(Some(LIVENESS_PERIOD))
            .map_err(io_err(&name, "set_read_timeout"))?;
        Ok(UdpLink {
            socket,
            name,
            peer,
            connect_time,
            scratch: RefCell::new(Vec::new()),
        })
    }

    /// For a client: how long [`UdpRelay::connect`] took. `None` on the master's end.
    pub fn connect_time(&self) -> Option<Duration> {
        self.connect_time
    }

    /// Receive one datagram from the peer into `buf` (which must be at least one byte
    /// long); answers the payload length. Checks every [`LIVENESS_PERIOD`] that the
    /// peer lives.
    fn receive(&self, buf: &mut [u8], timeout: Option<Duration>) -> Result<usize, RelayError> {
        let watch = Watch::peer(self.peer, LIVENESS_PERIOD).timeout(timeout);
        let got = watch.wait(|look| self.receive_once(buf, look));
        got.map_err(|e| match e {
            WaitError::Failed(e) => e,
            WaitError::Stopped(stop) => {
                RelayError::stopped(stop, &self.name, "a message from the peer", timeout)
            }
        })
    }

    /// One receive, as `look` says: with the slice as its timeout (the socket's own is
    /// the liveness period: only a shorter slice, a near deadline, sets another), or
    /// without waiting. `None`: nothing came (or an empty datagram, no tag, not ours).
    fn receive_once(&self, buf: &mut [u8], look: Look) -> Result<Option<usize>, RelayError> {
        let err = |op| io_err(&self.name, op);
        let got = match look {
            Look::Wait(slice) if slice == LIVENESS_PERIOD => self.socket.recv(buf),
            Look::Wait(slice) => {
                let set = |t| self.socket.set_read_timeout(Some(t));
                set(slice).map_err(err("set_read_timeout"))?;
                let got = self.socket.recv(buf);
                set(LIVENESS_PERIOD).map_err(err("set_read_timeout"))?;
                got
            }
            Look::Last => {
                let set = |on| self.socket.set_nonblocking(on);
                set(true).map_err(err("set_nonblocking"))?;
                let got = self.socket.recv(buf);
                set(false).map_err(err("set_nonblocking"))?;
                got
            }
        };
        match got {
            Ok(0) => Ok(None),
            Ok(n) => match buf[0] {
                MESSAGE => Ok(Some(n - 1)),
                CLOSE => Err(RelayError::PeerClosed {
                    name: self.name.clone(),
                }),
                tag => Err(RelayError::Protocol {
                    name: self.name.clone(),
                    what: format!("tag {tag} on an open link"),
                }),
            },
            Err(e) if timed_out(&e) || e.kind() == ErrorKind::Interrupted => Ok(None),
            // On Linux a connected UDP socket learns of a closed peer port.
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => Err(if is_alive(self.peer) {
                RelayError::PeerClosed {
                    name: self.name.clone(),
                }
            } else {
                RelayError::PeerDied {
                    name: self.name.clone(),
                    peer: self.peer,
                }
            }),
            Err(e) => Err(io_err(&self.name, "recv")(e)),
        }
    }

    fn send_tagged(&self, tag: u8, payload: &[u8]) -> Result<(), RelayError> {
        if payload.len() > MAX_MESSAGE {
            return Err(RelayError::TooLarge {
                name: self.name.clone(),
                len: payload.len(),
                capacity: MAX_MESSAGE,
            });
        }
        let sent = if payload.is_empty() {
            self.socket.send(&[tag])
        } else {
            let mut d = Vec::with_capacity(payload.len() + 1);
            d.push(tag);
            d.extend_from_slice(payload);
            self.socket.send(&d)
        };
        match sent {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => Err(RelayError::PeerClosed {
                name: self.name.clone(),
            }),
            Err(e) => Err(io_err(&self.name, "send")(e)),
        }
    }
}

impl RelayLink for UdpLink {
    fn signal(&self) -> Result<(), RelayError> {
        self.send_tagged(MESSAGE, &[])
    }

    fn wait(&self, timeout: Option<Duration>) -> Result<(), RelayError> {
        // The payload, if any, is dropped: a signal carries none.
        let mut buf = [0u8; 64];
        self.receive(&mut buf, timeout).map(|_| ())
    }

    fn send(&self, message: &[u8]) -> Result<(), RelayError> {
        self.send_tagged(MESSAGE, message)
    }

    fn recv_into(&self, buf: &mut Vec<u8>, timeout: Option<Duration>) -> Result<(), RelayError> {
        let mut scratch = self.scratch.borrow_mut();
        if scratch.len() < MAX_MESSAGE + 1 {
            scratch.resize(MAX_MESSAGE + 1, 0);
        }
        let n = self.receive(&mut scratch, timeout)?;
        buf.clear();
        buf.extend_from_slice(&scratch[1..1 + n]);
        Ok(())
    }

    fn peer(&self) -> ProcessId {
        self.peer
    }

    fn message_capacity(&self) -> usize {
        MAX_MESSAGE
    }
}

impl Drop for UdpLink {
    fn drop(&mut self) {
        let _ = self.socket.send(&[CLOSE]);
    }
}
