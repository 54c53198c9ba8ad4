//! [`Stream`]: a connected TCP or Unix stream socket, and reads and writes on it that
//! wait in bounded slices, checking the peer between them (what [`SocketLink`]
//! frames go through).
//!
//! [`SocketLink`]: super::socket::SocketLink

use super::{LinkError, Watch};
use crate::sync::Look;
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
