//! What travels between master and drone: frame heads, statuses, the version
//! handshake. Every transport carries the same frames; only the medium differs.
//!
//! A frame is a [`Head`] (kind, status, sequence number, task name) and a payload of
//! bytes. On a socket it goes as a fixed 24-byte head, the name, then the payload:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 1 | kind ([`Kind`]) |
//! | 1 | 1 | status ([`Status`]) |
//! | 2 | 2 | name length (≤ [`MAX_NAME`]) |
//! | 4 | 4 | reserved, zero |
//! | 8 | 8 | sequence number |
//! | 16 | 8 | payload length (for [`Status::NeedSpace`]: the bytes the drone needs) |
//!
//! Everything a peer sends is checked before use: a name longer than [`MAX_NAME`] or
//! not UTF-8, an unknown kind or status, a length past what the receiver can hold, is
//! a [`ProtocolError`], never a crash or a silent truncation.

/// Version of the frames and the handshake; master and drone must agree.
pub const PROTOCOL_VERSION: u32 = 1;
/// Version of the crate that built this program; master and drone must agree.
pub const CRATE_VERSION: &str = env!("CARGO_PKG_VERSION");
/// Longest task name, in bytes.
pub const MAX_NAME: usize = 255;
/// Size of a frame head on a socket.
pub const HEAD_LEN: usize = 24;
/// First bytes of a drone's hello.
pub const HELLO_MAGIC: [u8; 8] = *b"PSHMHELO";
/// First bytes of the master's answer to a hello.
pub const WELCOME_MAGIC: [u8; 8] = *b"PSHMWELC";

/// What a frame asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// Master → drone: run the named task on the payload.
    Task = 1,
    /// Drone → master: the answer to a task.
    Reply = 2,
    /// Master → drone: the areas moved to a larger segment (hybrid transports).
    Grown = 3,
    /// Master → drone: finish the loop and exit.
    Shutdown = 4,
}

impl Kind {
    /// Parse a kind byte read from a peer.
    pub fn from_u8(b: u8) -> Result<Kind, ProtocolError> {
        Ok(match b {
            1 => Kind::Task,
            2 => Kind::Reply,
            3 => Kind::Grown,
            4 => Kind::Shutdown,
            _ => return Err(ProtocolError(format!("unknown frame kind {b}"))),
        })
    }
}

/// How a task ended (in a [`Kind::Reply`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Status {
    /// The payload is the result.
    Ok = 0,
    /// The task panicked; the payload is the panic message (UTF-8).
    Panicked = 1,
    /// The drone knows no task of that name; the payload says which tasks it knows.
    UnknownTask = 2,
    /// The task failed (bad arguments, script error); the payload is the message.
    Failed = 3,
    /// The result does not fit the result area; the length field says how many bytes
    /// the drone needs (the master grows the mailbox and answers).
    NeedSpace = 4,
    /// The request is not a valid archive of the task's argument type (an archived
    /// task); the payload says what the validation found.
    InvalidArchive = 5,
}

impl Status {
    /// Parse a status byte read from a peer.
    pub fn from_u8(b: u8) -> Result<Status, ProtocolError> {
        Ok(match b {
            0 => Status::Ok,
            1 => Status::Panicked,
            2 => Status::UnknownTask,
            3 => Status::Failed,
            4 => Status::NeedSpace,
            5 => Status::InvalidArchive,
            _ => return Err(ProtocolError(format!("unknown reply status {b}"))),
        })
    }
}

/// A frame head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    /// What the frame asks for.
    pub kind: Kind,
    /// How the task ended (replies only).
    pub status: Status,
    /// Sequence number: a reply carries its request's.
    pub seq: u64,
    /// Task name (requests only).
    pub name: String,
}

impl Head {
    /// A request to run `name`.
    pub fn task(seq: u64, name: &str) -> Head {
        Head {
            kind: Kind::Task,
            status: Status::Ok,
            seq,
            name: name.into(),
        }
    }

    /// Make this head a request to run `name`, keeping the name's allocation (a
    /// master sends one per call: no allocation once the name fits).
    pub fn set_task(&mut self, seq: u64, name: &str) {
        self.kind = Kind::Task;
        self.status = Status::Ok;
        self.seq = seq;
        self.name.clear();
        self.name.push_str(name);
    }

    /// A reply.
    pub fn reply(seq: u64, status: Status) -> Head {
        Head {
            kind: Kind::Reply,
            status,
            seq,
            name: String::new(),
        }
    }

    /// A control frame (no name, no payload).
    pub fn control(kind: Kind, seq: u64) -> Head {
        Head {
            kind,
            status: Status::Ok,
            seq,
            name: String::new(),
        }
    }

    /// The fixed 24 bytes of the head for a payload of `len` bytes.
    pub fn encode(&self, len: u64) -> [u8; HEAD_LEN] {
        let mut b = [0u8; HEAD_LEN];
        b[0] = self.kind as u8;
        b[1] = self.status as u8;
        b[2..4].copy_from_slice(&(self.name.len() as u16).to_le_bytes());
        b[8..16].copy_from_slice(&self.seq.to_le_bytes());
        b[16..24].copy_from_slice(&len.to_le_bytes());
        b
    }

    /// Parse the fixed head; the name is still to be read ([`Fixed::with_name`]).
    pub fn decode(b: &[u8; HEAD_LEN]) -> Result<Fixed, ProtocolError> {
        let kind = Kind::from_u8(b[0])?;
        let status = Status::from_u8(b[1])?;
        let name_len = u16::from_le_bytes([b[2], b[3]]) as usize;
        if name_len > MAX_NAME {
            return Err(ProtocolError(format!(
                "task name of {name_len} bytes (at most {MAX_NAME})"
            )));
        }
        let seq = u64::from_le_bytes(b[8..16].try_into().expect("8 bytes"));
        let len = u64::from_le_bytes(b[16..24].try_into().expect("8 bytes"));
        Ok(Fixed {
            kind,
            status,
            name_len,
            seq,
            len,
        })
    }

    /// Refuse a frame that is not the reply to request `expected` (`None`: to any
    /// request): another kind of frame, or a reply that carries another sequence
    /// number. Checked before anything acts on a reply, NeedSpace included.
    pub fn check_reply(&self, expected: Option<u64>) -> Result<(), ProtocolError> {
        if self.kind != Kind::Reply {
            return Err(ProtocolError(format!(
                "a {:?} frame where a reply belongs",
                self.kind
            )));
        }
        match expected {
            Some(e) if e != self.seq => Err(ProtocolError(format!(
                "a reply to request {} where {e} was expected",
                self.seq
            ))),
            _ => Ok(()),
        }
    }
}

/// A frame head as its fixed bytes give it (checked), before its name is read: on a
/// socket the name follows the fixed head, in a mailbox it has a place of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fixed {
    /// What the frame asks for.
    pub kind: Kind,
    /// How the task ended (replies only).
    pub status: Status,
    /// Bytes of the name (at most [`MAX_NAME`]).
    pub name_len: usize,
    /// Sequence number.
    pub seq: u64,
    /// Payload length (for [`Status::NeedSpace`]: the bytes the drone needs).
    pub len: u64,
}

impl Fixed {
    /// The head, with `name`: the `name_len` bytes read from the peer (checked).
    pub fn with_name(&self, name: &[u8]) -> Result<Head, ProtocolError> {
        if name.len() != self.name_len {
            return Err(ProtocolError(format!(
                "a name of {} bytes where the head announced {}",
                name.len(),
                self.name_len
            )));
        }
        Ok(Head {
            kind: self.kind,
            status: self.status,
            seq: self.seq,
            name: parse_name(name)?,
        })
    }
}

/// Check a task name before sending it.
pub fn check_name(name: &str) -> Result<(), ProtocolError> {
    if name.is_empty() || name.len() > MAX_NAME {
        return Err(ProtocolError(format!(
            "task name `{name}` has {} bytes; names have 1..={MAX_NAME}",
            name.len()
        )));
    }
    Ok(())
}

/// Turn a name read from a peer into a `String`.
pub fn parse_name(b: &[u8]) -> Result<String, ProtocolError> {
    let mut name = String::new();
    parse_name_into(b, &mut name)?;
    Ok(name)
}

/// Put a name read from a peer into `name`, keeping its allocation (a drone reads one
/// per request: no allocation once the name fits). On an error `name` is left empty.
pub fn parse_name_into(b: &[u8], name: &mut String) -> Result<(), ProtocolError> {
    name.clear();
    let s = std::str::from_utf8(b).map_err(|_| ProtocolError("task name is not UTF-8".into()))?;
    name.push_str(s);
    Ok(())
}

/// A peer broke the protocol (bad bytes on the wire or in the mailbox).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("protocol error: {0}")]
pub struct ProtocolError(pub String);

/// Who is at the other end: exchanged once, at connect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hello {
    /// [`PROTOCOL_VERSION`] of the sender.
    pub protocol: u32,
    /// [`CRATE_VERSION`] of the sender.
    pub crate_version: String,
    /// The token the master gave this drone (master: echoed back).
    pub token: u64,
    /// Sender's pid.
    pub pid: u32,
    /// Sender's start time (see `polyshm_sys::ProcessId`).
    pub start_time: u64,
    /// Master's answer: whether the drone was accepted (drone: always true).
    pub accepted: bool,
}

impl Hello {
    /// This process, with `token`.
    pub fn me(token: u64) -> Hello {
        let me = polyshm_sys::current_process();
        Hello {
            protocol: PROTOCOL_VERSION,
            crate_version: CRATE_VERSION.into(),
            token,
            pid: me.pid,
            start_time: me.start_time,
            accepted: true,
        }
    }

    /// Whether the peer speaks our versions.
    pub fn compatible(&self) -> bool {
        self.protocol == PROTOCOL_VERSION && self.crate_version == CRATE_VERSION
    }

    /// Bytes: magic (8), protocol (4, fixed so that every version can read it),
    /// accepted (1), version length (1), version, token (8), pid (4), start time (8).
    pub fn encode(&self, magic: [u8; 8]) -> Vec<u8> {
        let v = self.crate_version.as_bytes();
        let v = &v[..v.len().min(64)];
        let mut b = Vec::with_capacity(34 + v.len());
        b.extend_from_slice(&magic);
        b.extend_from_slice(&self.protocol.to_le_bytes());
        b.push(self.accepted as u8);
        b.push(v.len() as u8);
        b.extend_from_slice(v);
        b.extend_from_slice(&self.token.to_le_bytes());
        b.extend_from_slice(&self.pid.to_le_bytes());
        b.extend_from_slice(&self.start_time.to_le_bytes());
        b
    }

    /// Parse bytes made by [`encode`](Self::encode) with `magic`.
    pub fn decode(magic: [u8; 8], b: &[u8]) -> Result<Hello, ProtocolError> {
        let bad = |what: &str| ProtocolError(format!("bad handshake: {what}"));
        if b.len() < 14 || b[..8] != magic {
            return Err(bad("the peer is not a polyshm drone or master"));
        }
        let protocol = u32::from_le_bytes(b[8..12].try_into().expect("4 bytes"));
        let accepted = b[12] != 0;
        let vl = b[13] as usize;
        if b.len() != 14 + vl + 20 {
            return Err(bad(&format!(
                "{} bytes (protocol {protocol}, version of {vl} bytes)",
                b.len()
            )));
        }
        let crate_version =
            String::from_utf8(b[14..14 + vl].to_vec()).map_err(|_| bad("version not UTF-8"))?;
        let r = &b[14 + vl..];
        Ok(Hello {
            protocol,
            crate_version,
            token: u64::from_le_bytes(r[..8].try_into().expect("8 bytes")),
            pid: u32::from_le_bytes(r[8..12].try_into().expect("4 bytes")),
            start_time: u64::from_le_bytes(r[12..20].try_into().expect("8 bytes")),
            accepted,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_and_hellos_round_trip_and_reject_garbage() {
        let h = Head::task(7, "polyshm.echo_i64");
        let b = h.encode(800);
        let fixed = Head::decode(&b).unwrap();
        assert_eq!(
            (
                fixed.kind,
                fixed.status,
                fixed.name_len,
                fixed.seq,
                fixed.len
            ),
            (Kind::Task, Status::Ok, 16, 7, 800)
        );
        assert_eq!(fixed.with_name(h.name.as_bytes()).unwrap(), h);
        assert!(fixed.with_name(b"polyshm.echo_i6").is_err());
        assert!(fixed.with_name(&[0xff; 16]).is_err());
        // Replies: only the awaited one passes.
        let r = Head::reply(7, Status::Ok);
        assert!(r.check_reply(Some(7)).is_ok() && r.check_reply(None).is_ok());
        assert!(r.check_reply(Some(8)).is_err());
        assert!(h.check_reply(Some(7)).is_err());
        let mut bad = b;
        bad[0] = 99;
        assert!(Head::decode(&bad).is_err());
        let mut bad = b;
        bad[2..4].copy_from_slice(&300u16.to_le_bytes());
        assert!(Head::decode(&bad).is_err());
        assert!(check_name("").is_err() && check_name(&"x".repeat(256)).is_err());

        let me = Hello::me(42);
        let enc = me.encode(HELLO_MAGIC);
        assert_eq!(Hello::decode(HELLO_MAGIC, &enc).unwrap(), me);
        assert!(me.compatible());
        assert!(Hello::decode(WELCOME_MAGIC, &enc).is_err());
        assert!(Hello::decode(HELLO_MAGIC, &enc[..enc.len() - 1]).is_err());
    }

    /// Garbage from a peer is an error, never a panic (a cheap fuzz with a fixed seed).
    #[test]
    fn garbage_never_panics() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let good = Hello::me(1).encode(HELLO_MAGIC);
        for _ in 0..20_000 {
            let mut b = [0u8; HEAD_LEN];
            b.iter_mut().for_each(|v| *v = next() as u8);
            if let Ok(fixed) = Head::decode(&b) {
                assert!(fixed.name_len <= MAX_NAME);
            }
            let mut h = good.clone();
            let at = next() as usize % h.len();
            h[at] = next() as u8;
            h.truncate(next() as usize % (good.len() + 1));
            let _ = Hello::decode(HELLO_MAGIC, &h);
        }
    }
}
