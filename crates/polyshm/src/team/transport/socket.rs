//! [`SocketLink`]: frames over a TCP loopback connection (NODELAY) or a Unix stream
//! socket — Polycephaly's way, the baseline every other transport is measured against.

use super::{
    check_in_place, default_max_message, fault, DroneLink, LinkError, MasterLink, Receiver, Step,
    Watch,
};
use crate::sync::Look;
use crate::team::protocol::{Head, Kind, ProtocolError, HEAD_LEN, MAX_NAME};
use std::io::{self, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// A connected stream socket of either family.
#[derive(Debug)]
pub(crate) enum Stream {
    /// TCP on loopback.
    Tcp(TcpStream),
    /// Unix stream socket.
    #[cfg(unix)]
    Unix(std::os::unix::net::UnixStream),
}

impl Stream {
    /// Bound every blocking read and write by `slice` (so that waits can check the
    /// peer), and switch off Nagle's algorithm on TCP.
    ///
    /// Where a timed-out read or write may lose bytes (Windows: see
    /// [`TIMED_SOCKET_IO_IS_EXACT`](polyshm_sys::TIMED_SOCKET_IO_IS_EXACT)), the TCP
    /// socket is non-blocking instead and waits go through
    /// [`wait_socket`](polyshm_sys::wait_socket), one slice at a time.
    pub fn configure(&self, slice: Duration) -> io::Result<()> {
        match self {
            Stream::Tcp(s) if !polyshm_sys::TIMED_SOCKET_IO_IS_EXACT => {
                s.set_nodelay(true)?;
                s.set_nonblocking(true)
            }
            Stream::Tcp(s) => {
                s.set_nodelay(true)?;
                s.set_nonblocking(false)?;
                s.set_read_timeout(Some(slice))?;
                s.set_write_timeout(Some(slice))
            }
            #[cfg(unix)]
            Stream::Unix(s) => {
                s.set_nonblocking(false)?;
                s.set_read_timeout(Some(slice))?;
                s.set_write_timeout(Some(slice))
            }
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            #[cfg(unix)]
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            #[cfg(unix)]
            Stream::Unix(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn gone(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::BrokenPipe
            | ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::UnexpectedEof
            | ErrorKind::NotConnected
    )
}

pub(crate) fn slow(e: &io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

impl Stream {
    /// After a read or write found the socket not ready: on a non-blocking socket wait
    /// up to `slice` for it (a timed blocking call has already waited its slice).
    fn wait_ready(&self, writable: bool, slice: Duration) -> io::Result<()> {
        match self {
            Stream::Tcp(s) if !polyshm_sys::TIMED_SOCKET_IO_IS_EXACT => {
                polyshm_sys::wait_socket(s, writable, slice).map(drop)
            }
            _ => Ok(()),
        }
    }

    /// One read that does not wait: a socket with timed reads is made non-blocking
    /// for it (a non-blocking one already is).
    fn read_now(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let timed = match self {
            Stream::Tcp(_) => polyshm_sys::TIMED_SOCKET_IO_IS_EXACT,
            #[cfg(unix)]
            Stream::Unix(_) => true,
        };
        let set_nonblocking = |s: &Stream, on: bool| match s {
            Stream::Tcp(t) => t.set_nonblocking(on),
            #[cfg(unix)]
            Stream::Unix(u) => u.set_nonblocking(on),
        };
        if !timed {
            return self.read(buf);
        }
        set_nonblocking(self, true)?;
        let got = self.read(buf);
        set_nonblocking(self, false)?;
        got
    }

    /// One read or write (`io`), retried if interrupted: the bytes it moved, `None`
    /// if the socket was not ready within its timeout; a closed connection (no bytes
    /// moved, or the system says so) is the peer's death.
    fn transfer(
        &mut self,
        mut io: impl FnMut(&mut Stream) -> io::Result<usize>,
        watch: &Watch<'_>,
    ) -> Result<Option<usize>, LinkError> {
        loop {
            return match io(self) {
                Ok(0) => Err(LinkError::PeerDied(watch.peer)),
                Ok(n) => Ok(Some(n)),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if slow(&e) => Ok(None),
                Err(e) if gone(&e) => Err(LinkError::PeerDied(watch.peer)),
                Err(e) => Err(e.into()),
            };
        }
    }
}

/// Fill `buf` from `s`, checking `watch` whenever a bounded read times out.
///
/// A peer found dead is not the end yet: what it wrote before dying is still in the
/// socket, so the watch's last look reads once more (a dead peer's socket answers at
/// once: its bytes, then end of file). Only then is the peer declared dead.
pub(crate) fn read_watched(
    s: &mut Stream,
    buf: &mut [u8],
    watch: &Watch<'_>,
) -> Result<(), LinkError> {
    let mut filled = 0;
    while filled < buf.len() {
        let to = &mut buf[filled..];
        filled += watch.wait(|look| match look {
            Look::Wait(slice) => {
                let n = s.transfer(|s| s.read(to), watch)?;
                if n.is_none() {
                    crate::fault_point!("team.wait.timed_out");
                    s.wait_ready(false, slice)?;
                }
                Ok(n)
            }
            Look::Last => s.transfer(|s| s.read_now(to), watch),
        })?;
    }
    Ok(())
}

/// Write all of `buf` to `s`, checking `watch` whenever a bounded write times out.
pub(crate) fn write_watched(
    s: &mut Stream,
    buf: &[u8],
    watch: &Watch<'_>,
) -> Result<(), LinkError> {
    let mut done = 0;
    while done < buf.len() {
        let from = &buf[done..];
        done += watch.wait(|look| match look {
            Look::Wait(slice) => {
                let n = s.transfer(|s| s.write(from), watch)?;
                if n.is_none() {
                    s.wait_ready(true, slice)?;
                }
                Ok(n)
            }
            // Bytes written after the peer died (or the deadline passed) are no
            // answer: no last write.
            Look::Last => Ok(None),
        })?;
    }
    Ok(())
}

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

/// Frames over a stream socket: see [`protocol`](crate::team::protocol) for the
/// layout. Received payloads land in a reused, 8-byte aligned buffer, so a `&[i64]`
/// can be read in place.
#[derive(Debug)]
pub(crate) struct SocketLink {
    stream: Stream,
    buf: Vec<u64>,
    /// Length of the last payload received into `buf`.
    last: usize,
    /// A drone's result buffer, lent to the task with each request (words: aligned for
    /// any pod value up to 8 bytes).
    out: Vec<u64>,
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
        &bytemuck::cast_slice::<u64, u8>(&self.buf)[..self.last]
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
            .filter(|l| *l <= self.max_frame && *l <= isize::MAX as usize - 8)
            .ok_or(LinkError::TooLarge {
                what: "a frame the peer announced",
                bytes: len,
                max: self.max_frame as u64,
            })?;
        let words = len.div_ceil(8);
        if self.buf.len() < words {
            self.buf.try_reserve(words - self.buf.len()).map_err(|_| {
                ProtocolError(format!(
                    "the peer announced {len} bytes, more than this process can allocate"
                ))
            })?;
            self.buf.resize(words, 0);
        }
        let bytes = &mut bytemuck::cast_slice_mut::<u64, u8>(&mut self.buf)[..len];
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
        Ok((
            head,
            &mut bytemuck::cast_slice_mut::<u64, u8>(&mut self.buf)[..len],
        ))
    }
}

/// The least a socket drone's result buffer holds (it grows to the request's size,
/// as the mailbox's result area does, and is reused).
const RESULT_BUF: usize = 64 * 1024;

impl DroneLink for SocketLink {
    fn recv(&mut self, watch: &Watch<'_>, on: &mut Receiver<'_>) -> Result<(), LinkError> {
        let (head, len) = self.recv_frame(watch)?;
        let words = len.max(RESULT_BUF).div_ceil(8);
        if self.out.len() < words {
            self.out.resize(words, 0);
        }
        on(
            &head,
            &mut bytemuck::cast_slice_mut::<u64, u8>(&mut self.buf)[..len],
            bytemuck::cast_slice_mut::<u64, u8>(&mut self.out),
        );
        Ok(())
    }

    fn send(&mut self, head: &Head, payload: &[u8], watch: &Watch<'_>) -> Result<(), LinkError> {
        self.send_frame(head, payload, watch)
    }

    fn send_in_place(
        &mut self,
        head: &Head,
        len: usize,
        watch: &Watch<'_>,
    ) -> Result<(), LinkError> {
        let len = self.check_in_place(len)?;
        self.note_sent(head);
        let bytes = &bytemuck::cast_slice::<u64, u8>(&self.buf)[..len];
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
        let all = bytemuck::cast_slice::<u64, u8>(&self.out);
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
        if len > self.max_frame {
            return Err(LinkError::TooLarge {
                what: "a loaned request",
                bytes: len as u64,
                max: self.max_frame as u64,
            });
        }
        let words = len.div_ceil(8);
        if self.buf.len() < words {
            self.buf.resize(words, 0);
        }
        self.last = 0;
        Ok(&mut bytemuck::cast_slice_mut::<u64, u8>(&mut self.buf)[..len])
    }

    fn send_loaned(&mut self, head: &Head, len: usize, watch: &Watch<'_>) -> Result<(), LinkError> {
        self.note_sent(head);
        let all = bytemuck::cast_slice::<u64, u8>(&self.buf);
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
