//! Doors for hostile bytes: each function puts bytes of the caller's choosing where a
//! peer could have written them, then runs the crate's own decoder on them, so that
//! the fuzz targets (`fuzz/`) and the property tests exercise the real code.
//!
//! The property every door must keep: whatever the bytes, the answer is `Ok` or a typed
//! error — never a panic, an out-of-bounds access or a hang. Where a decoder answers
//! `Ok`, the door also checks what the caller may then rely on (a length that fits its
//! area) and panics if that breaks, so a fuzzer reports it.
//!
//! Not a stable API: for polyshm's own tests.

use crate::relay::{Relay, RelayError, RelayLink, RelayOptions};
use crate::shm::header::{Header, DATA_OFFSET};
use crate::shm::{unique_name, SharedMemory, ShmError};
use crate::sync::{WaitStrategy, NOTE_LEN};
use crate::team::transport::socket::{SocketLink, Stream};
use crate::team::transport::Watch;

// The team's wire types, private to the team, shown here to polyshm's own tests and
// fuzz targets only.
pub use crate::team::protocol::{
    Fixed, Head, Hello, Kind, ProtocolError, Status, CRATE_VERSION, HEAD_LEN, HELLO_MAGIC,
    MAX_NAME, PROTOCOL_VERSION, WELCOME_MAGIC,
};
pub use crate::team::transport::mailbox::Mailbox;
pub use crate::team::transport::LinkError;
use std::time::Duration;

/// Parse `bytes` as the first bytes of a segment of `total` bytes
/// ([`Header::parse`]).
pub fn segment_header(bytes: &[u8], total: usize) -> Result<Option<Header>, ShmError> {
    let h = Header::parse("hostile", bytes, total)?;
    if let Some(h) = &h {
        // What a mapper relies on: the data region lies inside the segment.
        let end = (h.data_offset as u64).checked_add(h.size);
        assert!(
            end.is_some_and(|e| e <= total as u64) && h.data_offset as usize >= DATA_OFFSET,
            "header accepted with data {}+{} in {total} bytes",
            h.data_offset,
            h.size
        );
    }
    Ok(h)
}

/// The bytes of a valid segment header ([`Header::encode_body`] with the magic).
pub fn encode_segment_header(h: &Header) -> Vec<u8> {
    let mut b = h.encode_body().to_vec();
    b[..8].copy_from_slice(&crate::shm::header::MAGIC);
    b.resize(DATA_OFFSET, 0);
    b
}

/// A frame head as decoded: (kind, status, name, seq, payload length).
pub type FrameHead = (Kind, Status, String, u64, u64);

/// Decode a frame head and its name from `bytes` (the first [`HEAD_LEN`] bytes, then
/// the name), as the socket link reads them.
pub fn frame_head(bytes: &[u8]) -> Result<FrameHead, ProtocolError> {
    let hb: &[u8; HEAD_LEN] = bytes
        .get(..HEAD_LEN)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| ProtocolError(format!("{} bytes, a head has {HEAD_LEN}", bytes.len())))?;
    let fixed = Head::decode(hb)?;
    let nl = fixed.name_len;
    assert!(nl <= MAX_NAME, "a name of {nl} bytes accepted");
    let name = bytes
        .get(HEAD_LEN..HEAD_LEN + nl)
        .ok_or_else(|| ProtocolError("the name is cut short".into()))?;
    let head = fixed.with_name(name)?;
    Ok((head.kind, head.status, head.name, head.seq, fixed.len))
}

/// Decode a hello or welcome ([`Hello::decode`]).
pub fn hello(magic: [u8; 8], bytes: &[u8]) -> Result<Hello, ProtocolError> {
    Hello::decode(magic, bytes)
}

/// Send `bytes` down a loopback TCP connection and receive one frame from it with
/// the socket link's `recv`; answers the frame's name, sequence number and payload.
/// The sender closes after the bytes, so a frame cut short ends in an error.
pub fn socket_frame(bytes: &[u8]) -> Result<(String, u64, Vec<u8>), LinkError> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    let mut tx = std::net::TcpStream::connect(listener.local_addr()?)?;
    let (rx, _) = listener.accept()?;
    let rx = Stream::Tcp(rx);
    rx.configure(Duration::from_millis(20))?;
    std::io::Write::write_all(&mut tx, bytes)?;
    tx.shutdown(std::net::Shutdown::Write)?;
    let mut link = SocketLink::new(rx);
    let watch = Watch::peer(polyshm_sys::current_process(), Duration::from_millis(20));
    let (h, p) = link.recv_request(&watch)?;
    Ok((h.name.clone(), h.seq, p.to_vec()))
}

/// A live mailbox (master and drone ends) and a third mapping of its control segment
/// through which hostile bytes are written. Dropping it removes the segments.
#[derive(Debug)]
pub struct MailboxProbe {
    master: Mailbox,
    drone: Mailbox,
    raw: SharedMemory,
}

/// What the mailbox decoders answered for one set of bytes.
#[derive(Debug)]
pub struct MailboxOutcome {
    /// The drone's [`Mailbox::read_request`]: (task name, seq, payload length).
    pub request: Result<(String, u64, usize), LinkError>,
    /// The master's [`Mailbox::read_reply`]: (status, seq, length, in place).
    pub reply: Result<(Status, u64, usize, bool), LinkError>,
    /// The drone's [`Mailbox::read_hello`], then [`Hello::decode`].
    pub hello: Result<Hello, LinkError>,
}

/// The relay layout version this build writes (to craft relay segments).
pub const RELAY_VERSION: u32 = crate::relay::RELAY_VERSION;

/// Where the hostile bytes go in the control segment: the descriptors (the
/// semaphores' notes, with the `to_master` semaphore's words between them), the
/// areas field, the hello and the task name (from the request descriptor to the end
/// of the fields, 72 to 896).
pub const MAILBOX_SCRIBBLE_AT: usize = mailbox_layout::REQUEST;
/// How many bytes from [`MAILBOX_SCRIBBLE_AT`] a probe writes.
pub const MAILBOX_SCRIBBLE_LEN: usize = mailbox_layout::CONTROL_LEN - MAILBOX_SCRIBBLE_AT;
/// Where the reply descriptor starts in a probe's bytes.
const SCRIBBLE_REPLY: usize = mailbox_layout::REPLY - MAILBOX_SCRIBBLE_AT;
/// Where the fields after the descriptors start: in the segment, in a probe's bytes.
const SCRIBBLE_REST_AT: usize = mailbox_layout::AREAS;
const SCRIBBLE_REST: usize = SCRIBBLE_REST_AT - MAILBOX_SCRIBBLE_AT;
const _: () = assert!(SCRIBBLE_REPLY >= NOTE_LEN && SCRIBBLE_REST >= SCRIBBLE_REPLY + NOTE_LEN);

/// The mailbox control segment's layout, taken from the library's own layout types
/// (offsets from the segment's data region; integers in machine byte order), for tests
/// that write into live mailboxes. The table is in the mailbox's `layout` module.
pub mod mailbox_layout {
    use crate::team::transport::mailbox::layout as l;

    /// The magic, 8 bytes.
    pub const IDENT: usize = l::IDENT.offset;
    /// The layout version (u32), from [`IDENT`].
    pub const IDENT_LAYOUT: usize = l::IDENT_LAYOUT;
    /// The layout version this build writes and reads.
    pub const LAYOUT: u32 = l::LAYOUT;
    /// The master's semaphore to wake the drone (its count, a u32, first).
    pub const TO_DRONE: usize = l::TO_DRONE;
    /// The drone's semaphore to wake the master (its count, a u32, first).
    pub const TO_MASTER: usize = l::TO_MASTER;
    /// The request descriptor (the `to_drone` semaphore's note).
    pub const REQUEST: usize = l::REQUEST;
    /// The reply descriptor (the `to_master` semaphore's note).
    pub const REPLY: usize = l::REPLY;
    /// In a descriptor: the kind (u8).
    pub const DESC_KIND: usize = l::DESC_KIND;
    /// In a descriptor: the status (u8).
    pub const DESC_STATUS: usize = l::DESC_STATUS;
    /// In a descriptor: the task name's length (u16).
    pub const DESC_NAME_LEN: usize = l::DESC_NAME_LEN;
    /// In a descriptor: the sequence number (u64).
    pub const DESC_SEQ: usize = l::DESC_SEQ;
    /// In a descriptor: the payload length (u64).
    pub const DESC_LEN: usize = l::DESC_LEN;
    /// The areas field (64 bytes).
    pub const AREAS: usize = l::AREAS.offset;
    /// In the areas field: the generation (u64).
    pub const AREAS_GEN: usize = l::AREAS_GEN;
    /// In the areas field: the request area's capacity (u64).
    pub const AREAS_REQ_CAP: usize = l::AREAS_REQ_CAP;
    /// In the areas field: the result area's capacity (u64).
    pub const AREAS_RES_CAP: usize = l::AREAS_RES_CAP;
    /// In the areas field: the data segment name's length (u8).
    pub const AREAS_NAME_LEN: usize = l::AREAS_NAME_LEN;
    /// In the areas field: the data segment name.
    pub const AREAS_NAME: usize = l::AREAS_NAME;
    /// The hello: its length (u32), then its bytes.
    pub const HELLO: usize = l::HELLO.offset;
    /// Bytes of fields before the inline areas.
    pub const CONTROL_LEN: usize = l::CONTROL_LEN;
    /// Capacity of each inline area.
    pub const INLINE_CAP: usize = l::INLINE_CAP;
}

impl MailboxProbe {
    /// A fresh mailbox.
    pub fn new() -> Result<MailboxProbe, LinkError> {
        let master = Mailbox::create(WaitStrategy::Block)?;
        let drone = Mailbox::open(master.name(), WaitStrategy::Block)?;
        let raw = SharedMemory::open(master.name())?;
        Ok(MailboxProbe { master, drone, raw })
    }

    /// The control segment's name.
    pub fn name(&self) -> &str {
        self.master.name()
    }

    /// The master end (to write valid requests with the real encoder).
    pub fn master(&mut self) -> &mut Mailbox {
        &mut self.master
    }

    /// The drone end (to write valid replies with the real encoder).
    pub fn drone(&mut self) -> &mut Mailbox {
        &mut self.drone
    }

    /// The bytes now at [`MAILBOX_SCRIBBLE_AT`] (the `to_master` semaphore's words
    /// between the descriptors read as zeros: they are not scribbled).
    pub fn snapshot(&self) -> Result<Vec<u8>, ShmError> {
        let mut b = vec![0u8; MAILBOX_SCRIBBLE_LEN];
        let [request, reply] = self.master.desc_bytes();
        b[..NOTE_LEN].copy_from_slice(&request);
        b[SCRIBBLE_REPLY..][..NOTE_LEN].copy_from_slice(&reply);
        self.raw
            .read_at(SCRIBBLE_REST_AT, &mut b[SCRIBBLE_REST..])?;
        Ok(b)
    }

    /// Write `bytes` (at most [`MAILBOX_SCRIBBLE_LEN`], the rest zero) over the
    /// descriptors, areas field, hello and name, then run every decoder. The 8 bytes
    /// that lie on the `to_master` semaphore's words (count and sleepers, between the
    /// two descriptors) are left alone.
    pub fn decode(&mut self, bytes: &[u8]) -> Result<MailboxOutcome, ShmError> {
        let mut b = vec![0u8; MAILBOX_SCRIBBLE_LEN];
        let n = bytes.len().min(b.len());
        b[..n].copy_from_slice(&bytes[..n]);
        let note = |at: usize| -> [u8; NOTE_LEN] {
            b[at..at + NOTE_LEN].try_into().expect("a note's bytes")
        };
        self.master.scribble_descs(&[note(0), note(SCRIBBLE_REPLY)]);
        self.raw.write_at(SCRIBBLE_REST_AT, &b[SCRIBBLE_REST..])?;
        Ok(self.decode_in_place())
    }

    /// Run every decoder on what the mailbox holds now.
    pub fn decode_in_place(&mut self) -> MailboxOutcome {
        let request = self.drone.read_request().and_then(|(h, len)| {
            // What the drone relies on: the payload it was promised exists.
            let got = self.drone.request_and_result(len)?.0.len();
            assert_eq!(got, len, "request of {len} bytes lent as {got}");
            Ok((h.name, h.seq, len))
        });
        let reply = self.master.read_reply().and_then(|(h, len, in_place)| {
            if h.status != Status::NeedSpace {
                let got = self.master.reply_view(len, in_place)?.len();
                assert_eq!(got, len, "result of {len} bytes lent as {got}");
            }
            Ok((h.status, h.seq, len, in_place))
        });
        let hello = self.drone.read_hello().and_then(|b| {
            Hello::decode(crate::team::protocol::HELLO_MAGIC, &b).map_err(LinkError::from)
        });
        MailboxOutcome {
            request,
            reply,
            hello,
        }
    }
}

/// Bytes of a relay segment's data region offered to [`Relay::connect`]: a segment of
/// `bytes.len()` bytes (at least 1) holding them is made, and a client connects to it
/// with a zero timeout. The master (this process) never accepts: the connect ends in a
/// typed error, or `Ok` if the bytes already carry the master's answer.
pub fn relay_connect(bytes: &[u8]) -> Result<(), RelayError> {
    let shm = SharedMemory::create(&unique_name("hrel"), bytes.len().max(1))?;
    shm.write_at(0, bytes)?;
    let link = Relay::connect(shm.name(), Duration::ZERO)?;
    assert!(
        link.message_capacity() <= shm.len(),
        "a message area past the segment"
    );
    Ok(())
}

/// Bytes written over slot 0 of a live relay (`slots` slots of `capacity`-byte
/// areas), then the master accepts (zero timeout) and, if a link comes of it,
/// receives one message (zero timeout). Answers the message, if any.
pub fn relay_slot(slots: u32, capacity: u32, bytes: &[u8]) -> Result<Option<Vec<u8>>, RelayError> {
    let relay = Relay::create(
        &unique_name("hslot"),
        RelayOptions {
            slots,
            message_capacity: capacity,
        },
    )?;
    let raw = SharedMemory::open(relay.name())?;
    let slot0 = 128;
    let n = bytes.len().min(raw.len().saturating_sub(slot0));
    raw.write_at(slot0, &bytes[..n])?;
    let link = match relay.accept(Some(Duration::ZERO)) {
        Ok(link) => link,
        Err(RelayError::TimedOut { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut buf = Vec::new();
    link.recv_into(&mut buf, Some(Duration::ZERO))?;
    assert!(
        buf.len() <= relay.message_capacity(),
        "a message past its area"
    );
    Ok(Some(buf))
}

/// The structured value [`archive`] reads: nested enum, vector, string, map, option,
/// as an archived task's result would hold them.
#[derive(Clone, Debug, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct ArchiveProbe {
    /// A name.
    pub name: String,
    /// An id.
    pub id: u64,
    /// A score.
    pub score: f64,
    /// Tags.
    pub tags: Vec<u32>,
    /// Entries by name.
    pub index: std::collections::BTreeMap<String, i64>,
    /// A note, maybe.
    pub note: Option<String>,
    /// A kind.
    pub kind: ProbeKind,
}

/// The enum of [`ArchiveProbe`].
#[derive(Clone, Debug, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub enum ProbeKind {
    /// No data.
    Plain,
    /// Named fields.
    Span {
        /// From.
        from: u32,
        /// To.
        to: u32,
    },
    /// A string.
    Label(String),
}

/// Bytes offered to an archived task's reader as a `Vec<ArchiveProbe>` (copied to an
/// aligned buffer first, as the reader would find them in a mailbox): validation
/// ([`codec::access`](crate::codec::access)), then — if it passed — every field of
/// every element read, and the value turned into an owned one. Answers a digest of
/// what was read.
pub fn archive(bytes: &[u8]) -> Result<u64, crate::codec::CodecError> {
    let copy = crate::codec::aligned_copy(bytes);
    let v = crate::codec::access::<Vec<ArchiveProbe>>(&copy)?;
    let mut h = 0u64;
    for p in v.iter() {
        h = h
            .wrapping_add(p.name.len() as u64)
            .wrapping_add(p.id.to_native() ^ p.score.to_native().to_bits())
            .wrapping_add(p.tags.iter().map(|t| u64::from(t.to_native())).sum::<u64>());
        for (k, x) in p.index.iter() {
            h = h.wrapping_add(k.as_str().len() as u64 ^ x.to_native() as u64);
        }
        h = h.wrapping_add(p.note.as_ref().map_or(0, |n| n.as_str().len() as u64));
        h = h.wrapping_add(match &p.kind {
            ArchivedProbeKind::Plain => 1,
            ArchivedProbeKind::Span { from, to } => u64::from(from.to_native() ^ to.to_native()),
            ArchivedProbeKind::Label(l) => l.as_str().len() as u64,
        });
    }
    // What validation promised: the value converts to an owned one.
    let owned = crate::codec::decode_archive::<Vec<ArchiveProbe>>(&copy)?;
    assert_eq!(
        owned.len(),
        v.len(),
        "a validated archive of {} decoded as {}",
        v.len(),
        owned.len()
    );
    Ok(h)
}

/// A valid archive for [`archive`] (the fuzz target's seed).
pub fn archive_seed() -> Vec<u8> {
    let probes: Vec<ArchiveProbe> = (0..3u32)
        .map(|i| ArchiveProbe {
            name: format!("function_{i}"),
            id: u64::from(i) * 1_000_003,
            score: f64::from(i) / 3.0,
            tags: vec![i, 2, 3, 4],
            index: [(format!("k{i}"), -i64::from(i))].into_iter().collect(),
            note: (i == 1).then(|| "a note longer than eight".to_string()),
            kind: [
                ProbeKind::Plain,
                ProbeKind::Span { from: i, to: 9 },
                ProbeKind::Label("label".into()),
            ][i as usize % 3]
                .clone(),
        })
        .collect();
    crate::codec::archive(&probes)
        .map(|v| v.to_vec())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The seed passes, and every cut of it is a value or a typed error.
    #[test]
    fn archive_door_reads_the_seed_and_refuses_cuts() {
        let seed = archive_seed();
        assert!(!seed.is_empty());
        assert!(archive(&seed).is_ok());
        for cut in 0..seed.len() {
            let _ = archive(&seed[..cut]);
        }
        let mut bad = seed.clone();
        let n = bad.len();
        bad[n - 8..].fill(0xFF);
        assert!(archive(&bad).is_err());
    }
}
