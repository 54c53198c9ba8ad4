//! [`MpiLink`]: frames as MPI point-to-point messages, for a drone rank on another
//! node (or any rank, with [`ALL_REMOTE_ENV`](super::ALL_REMOTE_ENV)). One type serves
//! both ends, as [`SocketLink`](crate::team::transport::socket::SocketLink) does.
//!
//! A frame is one message of tag [`TAG_FRAME`] (the 24-byte head and the task name,
//! as on a socket) and its payload in messages of tag [`TAG_DATA`], at most 1 GiB each
//! (MPI counts are C ints). Received payloads land in a reused, 16-byte aligned
//! buffer, so a `&[i64]` or an archive is read in place.
//!
//! Waiting: a frame is looked for with `MPI_Improbe` (never a blocking receive, which
//! in Open MPI spins a CPU at full speed): first in a spin that yields the CPU on each
//! turn, for [`SPIN`], then in naps that grow to [`NAP`]; each slice consults the
//! [`Watch`] (deadline, cancel). The payload that follows a head is received at once.
//! So a frame waits at most [`NAP`] for its reader, and an idle drone rank costs a
//! wake-up every [`NAP`], where a blocking MPI call would keep a CPU busy all along
//! (the shm path instead sleeps in the kernel until its peer wakes it).
//! A remote rank's life is not a pid this host can check: a rank that dies ends the
//! whole job (MPI's abort; see the [module docs](super)).

use super::{TAG_DATA, TAG_FRAME};
use crate::sync::{Look, WaitError};
use crate::team::protocol::{Head, Kind, ProtocolError, HEAD_LEN, MAX_NAME};
use crate::team::transport::socket::{deliver, loan_words, words, words_mut, Word, WORD};
use crate::team::transport::{
    check_in_place, fault, DroneLink, LinkError, MasterLink, Receiver, Step, Watch,
};
use mpi::datatype::Equivalence;
use mpi::point_to_point::{Destination, Message, Source};
use mpi::topology::{Communicator, SimpleCommunicator};
use mpi::Tag;
use std::time::{Duration, Instant};

/// The longest payload message (MPI counts are C ints).
const CHUNK: usize = 1 << 30;
/// How long a waiter polls, yielding on each turn, before it naps.
pub(crate) const SPIN: Duration = Duration::from_micros(50);
/// The longest nap between two polls.
pub(crate) const NAP: Duration = Duration::from_micros(200);

/// Wait within `watch` for a message of `tag` from rank `from`; answers it with its
/// length in bytes (to be received, or MPI complains at drop).
pub(crate) fn probe(from: i32, tag: Tag, watch: &Watch<'_>) -> Result<(Message, usize), LinkError> {
    let world = SimpleCommunicator::world();
    let peer = world.process_at_rank(from);
    let poll = || {
        peer.immediate_matched_probe_with_tag(tag)
            .map(|(m, s)| (m, s.count(u8::equivalent_datatype()).max(0) as usize))
    };
    let start = Instant::now();
    let r = watch.wait(|look| {
        let end = match look {
            Look::Wait(d) => Instant::now() + d,
            Look::Last => Instant::now(),
        };
        let mut nap = Duration::from_micros(20);
        loop {
            if let Some(m) = poll() {
                return Ok::<_, LinkError>(Some(m));
            }
            let now = Instant::now();
            if now >= end {
                return Ok(None);
            }
            if now - start < SPIN {
                std::thread::yield_now();
            } else {
                std::thread::sleep(nap.min(end - now));
                nap = (nap * 2).min(NAP);
            }
        }
    });
    r.map_err(|e| match e {
        WaitError::Stopped(s) => s.into(),
        WaitError::Failed(e) => e,
    })
}

/// Receive the payload of `len` bytes that follows a head from `from` into `buf`.
fn recv_payload(from: i32, buf: &mut [u8]) -> Result<(), LinkError> {
    let world = SimpleCommunicator::world();
    let peer = world.process_at_rank(from);
    for part in buf.chunks_mut(CHUNK) {
        let (msg, status) = peer.matched_probe_with_tag(TAG_DATA);
        let n = status.count(u8::equivalent_datatype()).max(0) as usize;
        if n != part.len() {
            let mut sink = vec![0u8; n];
            msg.matched_receive_into(&mut sink[..]);
            return Err(ProtocolError(format!(
                "a payload message of {n} bytes where {} were due",
                part.len()
            ))
            .into());
        }
        msg.matched_receive_into(part);
    }
    Ok(())
}

/// Frames over MPI messages with one peer rank.
#[derive(Debug)]
pub(crate) struct MpiLink {
    peer: i32,
    buf: Vec<Word>,
    /// Length of the last payload received into `buf`.
    last: usize,
    /// A drone's result buffer, lent to the task with each request.
    out: Vec<Word>,
    scratch: Vec<u8>,
    master: bool,
    /// Sequence number of the last task sent: a reply must carry it.
    expect: Option<u64>,
    /// Largest payload a received frame may announce.
    max_frame: usize,
}

impl MpiLink {
    /// The master's end of a link to drone rank `peer`, or a drone's end (`peer` 0).
    pub fn new(peer: i32, master: bool, max_frame: usize) -> MpiLink {
        MpiLink {
            peer,
            buf: Vec::new(),
            last: 0,
            out: Vec::new(),
            scratch: Vec::with_capacity(HEAD_LEN + MAX_NAME),
            master,
            expect: None,
            max_frame,
        }
    }

    fn send_frame(&mut self, head: &Head, payload: Option<&[u8]>) -> Result<(), LinkError> {
        if head.kind == Kind::Task {
            self.expect = Some(head.seq);
        }
        let bytes = match payload {
            Some(p) => p,
            None => &words(&self.buf)[..0],
        };
        self.scratch.clear();
        self.scratch
            .extend_from_slice(&head.encode(bytes.len() as u64));
        self.scratch.extend_from_slice(head.name.as_bytes());
        let world = SimpleCommunicator::world();
        let peer = world.process_at_rank(self.peer);
        peer.send_with_tag(&self.scratch[..], TAG_FRAME);
        fault(self.master, Step::MidWrite);
        for part in bytes.chunks(CHUNK) {
            peer.send_with_tag(part, TAG_DATA);
        }
        fault(self.master, Step::AfterSignal);
        Ok(())
    }

    /// Send `len` bytes of `buf` (a loan, or a request answered in place).
    fn send_buf(&mut self, head: &Head, len: usize, what: &str) -> Result<(), LinkError> {
        let all = words(&self.buf);
        if len > all.len() {
            return Err(ProtocolError(format!(
                "{what} of {len} bytes from a buffer of {}",
                all.len()
            ))
            .into());
        }
        let buf = std::mem::take(&mut self.buf);
        let r = self.send_frame(head, Some(&words(&buf)[..len]));
        self.buf = buf;
        r
    }

    /// Receive one frame, its payload into the reused buffer; answers (head, length).
    fn recv_frame(&mut self, watch: &Watch<'_>) -> Result<(Head, usize), LinkError> {
        fault(self.master, Step::BeforeRead);
        let (msg, n) = probe(self.peer, TAG_FRAME, watch)?;
        let mut hb = vec![0u8; n];
        msg.matched_receive_into(&mut hb[..]);
        fault(self.master, Step::MidRead);
        if n < HEAD_LEN {
            return Err(ProtocolError(format!("a frame head of {n} bytes")).into());
        }
        let fixed = Head::decode(hb[..HEAD_LEN].try_into().expect("HEAD_LEN bytes"))?;
        let head = fixed.with_name(&hb[HEAD_LEN..])?;
        if head.kind == Kind::Reply {
            head.check_reply(self.expect)?;
        }
        let len = usize::try_from(fixed.len)
            .ok()
            .filter(|l| *l <= self.max_frame && *l <= isize::MAX as usize - WORD)
            .ok_or(LinkError::TooLarge {
                what: "a frame the peer announced",
                bytes: fixed.len,
                max: self.max_frame as u64,
            })?;
        let w = len.div_ceil(WORD);
        if self.buf.len() < w {
            self.buf.try_reserve(w - self.buf.len()).map_err(|_| {
                ProtocolError(format!(
                    "the peer announced {len} bytes, more than this process can allocate"
                ))
            })?;
            self.buf.resize(w, Word::ZERO);
        }
        recv_payload(self.peer, &mut words_mut(&mut self.buf)[..len])?;
        self.last = len;
        Ok((head, len))
    }
}

impl DroneLink for MpiLink {
    fn recv(&mut self, watch: &Watch<'_>, on: &mut Receiver<'_>) -> Result<(), LinkError> {
        let (head, len) = self.recv_frame(watch)?;
        deliver(&head, &mut self.buf[..], len, &mut self.out, on);
        Ok(())
    }

    fn send(&mut self, head: &Head, payload: &[u8], _watch: &Watch<'_>) -> Result<(), LinkError> {
        self.send_frame(head, Some(payload))
    }

    fn send_in_place(
        &mut self,
        head: &Head,
        len: usize,
        _watch: &Watch<'_>,
    ) -> Result<(), LinkError> {
        let len = check_in_place(len, self.last)?;
        self.send_buf(head, len, "an in-place reply")
    }

    fn send_in_result(
        &mut self,
        head: &Head,
        len: usize,
        _watch: &Watch<'_>,
    ) -> Result<(), LinkError> {
        let out = std::mem::take(&mut self.out);
        let r = match words(&out).get(..len) {
            Some(bytes) => self.send_frame(head, Some(bytes)),
            None => Err(ProtocolError(format!(
                "a reply of {len} bytes said to lie in a result buffer of {}",
                out.len() * WORD
            ))
            .into()),
        };
        self.out = out;
        r
    }
}

impl MasterLink for MpiLink {
    fn send(&mut self, head: &Head, payload: &[u8], _watch: &Watch<'_>) -> Result<(), LinkError> {
        self.send_frame(head, Some(payload))
    }

    fn send_loaned(
        &mut self,
        head: &Head,
        len: usize,
        _watch: &Watch<'_>,
    ) -> Result<(), LinkError> {
        self.send_buf(head, len, "a loaned request")
    }

    fn recv_reply(&mut self, watch: &Watch<'_>) -> Result<Head, LinkError> {
        let (head, _) = self.recv_frame(watch)?;
        head.check_reply(self.expect)?;
        Ok(head)
    }

    fn reply_payload(&mut self) -> &[u8] {
        &words(&self.buf)[..self.last]
    }

    fn loan(&mut self, len: usize) -> Result<&mut [u8], LinkError> {
        self.last = 0;
        loan_words(&mut self.buf, len, self.max_frame)
    }

    fn loan_capacity(&self) -> usize {
        self.buf.len() * WORD
    }
}
