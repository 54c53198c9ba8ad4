//! [`SocketLink`]: frames over a TCP loopback connection (NODELAY) or a Unix stream
//! socket — Polycephaly's way, the baseline every other transport is measured against.

pub(crate) use super::stream::{read_watched, slow, write_watched, Stream};
use super::{
    check_in_place, default_max_message, fault, DroneLink, LinkError, MasterLink, Receiver, Step,
    Watch,
};
use crate::team::protocol::{Head, Kind, ProtocolError, Status, HEAD_LEN, MAX_NAME};

/// Frames up to this size go out in one write (head, name and payload together).
const COALESCE: usize = 64 * 1024;

/// Write one frame: `head` announcing `len` bytes, then `payload`. With the
/// `failpoints` feature the frame goes out in three writes, with the fault points of
/// [`Step::MidWrite`] (half the frame out) and [`Step::BeforeSignal`] (all but the last
/// byte: on a socket the last byte is the signal) between them.
fn write_frame(
    stream: &mut Stream,
    scratch: &mut Vec<u8>,
    master: bool,
    head: &Head,
    len: u64,
    payload: &[u8],
    watch: &Watch<'_>,
) -> Result<(), LinkError> {
    // A peer that lies about its frame's size (for the tests of the bound).
    let len = if !master && crate::fault_returns!("team.drone.announce_huge") {
        1 << 60
    } else {
        len
    };
    scratch.clear();
    scratch.extend_from_slice(&head.encode(len));
    scratch.extend_from_slice(head.name.as_bytes());
    if cfg!(feature = "failpoints") {
        scratch.extend_from_slice(payload);
        let n = scratch.len();
        write_watched(stream, &scratch[..n / 2], watch)?;
        fault(master, Step::MidWrite);
        write_watched(stream, &scratch[n / 2..n - 1], watch)?;
        fault(master, Step::BeforeSignal);
        write_watched(stream, &scratch[n - 1..], watch)?;
        fault(master, Step::AfterSignal);
        return Ok(());
    }
    if payload.len() <= COALESCE {
        scratch.extend_from_slice(payload);
        write_watched(stream, scratch, watch)
    } else {
        write_watched(stream, scratch, watch)?;
        write_watched(stream, payload, watch)
    }
}

/// A word of the links' buffers: 16 bytes, aligned to 16 (for archives, see
/// [`ARCHIVE_ALIGN`](crate::codec::ARCHIVE_ALIGN)).
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C, align(16))]
pub(crate) struct Word([u8; WORD]);

pub(crate) const WORD: usize = 16;

impl Word {
    pub(crate) const ZERO: Word = Word([0; WORD]);
}

pub(crate) fn words(w: &[Word]) -> &[u8] {
    bytemuck::cast_slice(w)
}

pub(crate) fn words_mut(w: &mut [Word]) -> &mut [u8] {
    bytemuck::cast_slice_mut(w)
}

/// A loaned request of `len` bytes at the start of `buf`, grown to hold it: the loan of
/// the links that keep their frames in an aligned buffer (sockets, MPI messages).
pub(crate) fn loan_words(
    buf: &mut Vec<Word>,
    len: usize,
    max_frame: usize,
) -> Result<&mut [u8], LinkError> {
    if len > max_frame {
        return Err(LinkError::TooLarge {
            what: "a loaned request",
            bytes: len as u64,
            max: max_frame as u64,
        });
    }
    let words = len.div_ceil(WORD);
    if buf.len() < words {
        buf.resize(words, Word::ZERO);
    }
    Ok(&mut words_mut(buf)[..len])
}

/// Frames over a stream socket: see [`protocol`](crate::team::protocol) for the
/// layout. Received payloads land in a reused, 16-byte aligned buffer, so a `&[i64]`
/// or an archive can be read in place.
#[derive(Debug)]
pub(crate) struct SocketLink {
    stream: Stream,
    buf: Vec<Word>,
    /// Length of the last payload received into `buf`.
    last: usize,
    /// A drone's result buffer, lent to the task with each request (words: aligned for
    /// any pod value and for archives); it grows to the largest result sent, as the
    /// mailbox's result area does.
    out: Vec<Word>,
    scratch: Vec<u8>,
    /// Whether this is the master's end (names its fault points).
    master: bool,
    /// Sequence number of the last task sent: a reply must carry it.
    expect: Option<u64>,
    /// Largest payload a received frame may announce.
    max_frame: usize,
}

impl SocketLink {
    /// Wrap a connected, configured stream.
    pub fn new(stream: Stream) -> SocketLink {
        SocketLink {
            stream,
            buf: Vec::new(),
            last: 0,
            out: Vec::new(),
            scratch: Vec::with_capacity(COALESCE + HEAD_LEN + 256),
            master: false,
            expect: None,
            max_frame: default_max_message(),
        }
    }

    /// Mark this as the master's end, refusing received frames that announce more than
    /// `max_frame` payload bytes.
    pub fn into_master(self, max_frame: usize) -> SocketLink {
        let mut link = self.with_max_frame(max_frame);
        link.master = true;
        link
    }

    /// Refuse received frames that announce more than `max_frame` payload bytes
    /// (default [`default_max_message`]), before allocating anything.
    pub fn with_max_frame(mut self, max_frame: usize) -> SocketLink {
        self.max_frame = max_frame;
        self
    }

    /// The last payload received (a task may have changed it in place).
    pub fn last_payload(&self) -> &[u8] {
        &words(&self.buf)[..self.last]
    }

    /// Check that `len` bytes of the last payload exist.
    pub fn check_in_place(&self, len: usize) -> Result<usize, LinkError> {
        check_in_place(len, self.last)
    }

    /// The stream, for the handshake.
    pub fn stream(&mut self) -> &mut Stream {
        &mut self.stream
    }

    /// Send a frame whose length field is `len` but which carries no payload (a
    /// NeedSpace or a hybrid reply whose payload lies in shared memory).
    pub fn send_head(&mut self, head: &Head, len: u64, watch: &Watch<'_>) -> Result<(), LinkError> {
        self.note_sent(head);
        let (stream, scratch) = (&mut self.stream, &mut self.scratch);
        write_frame(stream, scratch, self.master, head, len, &[], watch)
    }

    fn note_sent(&mut self, head: &Head) {
        if head.kind == Kind::Task {
            self.expect = Some(head.seq);
        }
    }

    /// Receive a frame head and name only; answers (head, length field). A reply that
    /// does not carry the sequence number of the last task sent is refused here,
    /// before anyone sees it.
    pub fn recv_head(&mut self, watch: &Watch<'_>) -> Result<(Head, u64), LinkError> {
        fault(self.master, Step::BeforeRead);
        let mut hb = [0u8; HEAD_LEN];
        read_watched(&mut self.stream, &mut hb, watch)?;
        fault(self.master, Step::MidRead);
        let fixed = Head::decode(&hb)?;
        let mut nb = [0u8; MAX_NAME];
        let name = &mut nb[..fixed.name_len];
        read_watched(&mut self.stream, name, watch)?;
        let head = fixed.with_name(name)?;
        if head.kind == Kind::Reply {
            head.check_reply(self.expect)?;
        }
        Ok((head, fixed.len))
    }
}

impl SocketLink {
    /// Send one frame carrying `payload`.
    fn send_frame(
        &mut self,
        head: &Head,
        payload: &[u8],
        watch: &Watch<'_>,
    ) -> Result<(), LinkError> {
        self.note_sent(head);
        let (stream, scratch) = (&mut self.stream, &mut self.scratch);
        let len = payload.len() as u64;
        write_frame(stream, scratch, self.master, head, len, payload, watch)
    }

    /// Receive one frame, its payload into the reused buffer; answers (head, length).
    fn recv_frame(&mut self, watch: &Watch<'_>) -> Result<(Head, usize), LinkError> {
        let (head, len) = self.recv_head(watch)?;
        // Refused before any allocation.
        let len = usize::try_from(len)
            .ok()
            .filter(|l| *l <= self.max_frame && *l <= isize::MAX as usize - WORD)
            .ok_or(LinkError::TooLarge {
                what: "a frame the peer announced",
                bytes: len,
                max: self.max_frame as u64,
            })?;
        let words = len.div_ceil(WORD);
        if self.buf.len() < words {
            self.buf.try_reserve(words - self.buf.len()).map_err(|_| {
                ProtocolError(format!(
                    "the peer announced {len} bytes, more than this process can allocate"
                ))
            })?;
            self.buf.resize(words, Word::ZERO);
        }
        let bytes = &mut words_mut(&mut self.buf)[..len];
        read_watched(&mut self.stream, bytes, watch)?;
        self.last = len;
        Ok((head, len))
    }
}

impl SocketLink {
    /// Drone: receive one frame; answers its head and its payload (in the reused
    /// buffer, to change in place if the task works so).
    pub fn recv_request(&mut self, watch: &Watch<'_>) -> Result<(Head, &mut [u8]), LinkError> {
        let (head, len) = self.recv_frame(watch)?;
        Ok((head, &mut words_mut(&mut self.buf)[..len]))
    }
}

/// The least a socket drone's result buffer holds (it grows to the request's size,
/// as the mailbox's result area does, and is reused).
const RESULT_BUF: usize = 64 * 1024;

/// Hand a received request of `len` bytes in `buf` to the drone's receiver, with the
/// result buffer `out` grown to at least the request's size (and [`RESULT_BUF`]): the
/// drone side of the links that keep frames in aligned buffers (sockets, MPI messages).
pub(crate) fn deliver(
    head: &Head,
    buf: &mut [Word],
    len: usize,
    out: &mut Vec<Word>,
    on: &mut Receiver<'_>,
) {
    let words = len.max(RESULT_BUF).div_ceil(WORD);
    if out.len() < words {
        out.resize(words, Word::ZERO);
    }
    on(head, &mut words_mut(buf)[..len], words_mut(out));
}

impl DroneLink for SocketLink {
    fn recv(&mut self, watch: &Watch<'_>, on: &mut Receiver<'_>) -> Result<(), LinkError> {
        let (head, len) = self.recv_frame(watch)?;
        deliver(&head, &mut self.buf[..], len, &mut self.out, on);
        Ok(())
    }

    fn send(&mut self, head: &Head, payload: &[u8], watch: &Watch<'_>) -> Result<(), LinkError> {
        self.send_frame(head, payload, watch)?;
        // A result that did not fit the buffer fits it next time.
        let words = payload.len().div_ceil(WORD);
        if head.status == Status::Ok && words > self.out.len() && payload.len() <= self.max_frame {
            self.out.resize(words, Word::ZERO);
        }
        Ok(())
    }

    fn send_in_place(
        &mut self,
        head: &Head,
        len: usize,
        watch: &Watch<'_>,
    ) -> Result<(), LinkError> {
        let len = self.check_in_place(len)?;
        self.note_sent(head);
        let bytes = &words(&self.buf)[..len];
        let (stream, scratch) = (&mut self.stream, &mut self.scratch);
        write_frame(stream, scratch, self.master, head, len as u64, bytes, watch)
    }

    fn send_in_result(
        &mut self,
        head: &Head,
        len: usize,
        watch: &Watch<'_>,
    ) -> Result<(), LinkError> {
        self.note_sent(head);
        let all = words(&self.out);
        let bytes = all.get(..len).ok_or_else(|| {
            ProtocolError(format!(
                "a reply of {len} bytes said to lie in a result buffer of {}",
                all.len()
            ))
        })?;
        let (stream, scratch) = (&mut self.stream, &mut self.scratch);
        write_frame(stream, scratch, self.master, head, len as u64, bytes, watch)
    }
}

impl MasterLink for SocketLink {
    fn send(&mut self, head: &Head, payload: &[u8], watch: &Watch<'_>) -> Result<(), LinkError> {
        self.send_frame(head, payload, watch)
    }

    fn recv_reply(&mut self, watch: &Watch<'_>) -> Result<Head, LinkError> {
        let (head, _) = self.recv_frame(watch)?;
        head.check_reply(self.expect)?;
        Ok(head)
    }

    fn reply_payload(&mut self) -> &[u8] {
        self.last_payload()
    }

    fn loan(&mut self, len: usize) -> Result<&mut [u8], LinkError> {
        self.last = 0;
        loan_words(&mut self.buf, len, self.max_frame)
    }

    fn loan_capacity(&self) -> usize {
        self.buf.len() * WORD
    }

    fn send_loaned(&mut self, head: &Head, len: usize, watch: &Watch<'_>) -> Result<(), LinkError> {
        self.note_sent(head);
        let all = words(&self.buf);
        let bytes = all.get(..len).ok_or_else(|| {
            ProtocolError(format!(
                "a loaned request of {len} bytes from a buffer of {}",
                all.len()
            ))
        })?;
        let (stream, scratch) = (&mut self.stream, &mut self.scratch);
        write_frame(stream, scratch, self.master, head, len as u64, bytes, watch)
    }
}
