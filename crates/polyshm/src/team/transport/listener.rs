//! Where a drone connects: a [`Listener`] on TCP loopback or a Unix socket path, and
//! the drone's side of the Unix connect.

use super::socket::{slow, Stream};
use std::io::{self, ErrorKind};

impl Stream {
    /// Connect to a Unix stream socket at `path`.
    pub fn connect_unix(path: &str) -> io::Result<Stream> {
        #[cfg(unix)]
        return Ok(Stream::Unix(std::os::unix::net::UnixStream::connect(path)?));
        #[cfg(not(unix))]
        Err(io::Error::new(
            ErrorKind::Unsupported,
            format!("Unix sockets are not available here ({path})"),
        ))
    }
}

/// A listening socket waiting for one drone: TCP on loopback, or a Unix socket whose
/// path is removed when the listener drops.
#[derive(Debug)]
pub(crate) enum Listener {
    /// TCP on 127.0.0.1, an ephemeral port.
    Tcp(std::net::TcpListener),
    /// A Unix socket at a path in the temporary directory.
    #[cfg(unix)]
    Unix(std::os::unix::net::UnixListener, std::path::PathBuf),
}

impl Listener {
    /// Listen on loopback TCP.
    pub fn tcp() -> io::Result<Listener> {
        let l = std::net::TcpListener::bind(("127.0.0.1", 0))?;
        l.set_nonblocking(true)?;
        Ok(Listener::Tcp(l))
    }

    /// Listen on a fresh Unix socket path.
    pub fn unix(stem: &str) -> io::Result<Listener> {
        #[cfg(unix)]
        {
            let path = std::env::temp_dir().join(format!("{stem}.sock"));
            let l = std::os::unix::net::UnixListener::bind(&path)?;
            l.set_nonblocking(true)?;
            Ok(Listener::Unix(l, path))
        }
        #[cfg(not(unix))]
        Err(io::Error::new(
            ErrorKind::Unsupported,
            format!("Unix sockets are not available here ({stem})"),
        ))
    }

    /// The address a drone connects to.
    pub fn addr(&self) -> io::Result<String> {
        match self {
            Listener::Tcp(l) => Ok(l.local_addr()?.to_string()),
            #[cfg(unix)]
            Listener::Unix(_, p) => Ok(p.to_string_lossy().into_owned()),
        }
    }

    /// Accept one connection if one waits (`Ok(None)` if none yet).
    pub fn try_accept(&self) -> io::Result<Option<Stream>> {
        let r = match self {
            Listener::Tcp(l) => l.accept().map(|(s, _)| Stream::Tcp(s)),
            #[cfg(unix)]
            Listener::Unix(l, _) => l.accept().map(|(s, _)| Stream::Unix(s)),
        };
        match r {
            Ok(s) => Ok(Some(s)),
            Err(e) if slow(&e) || e.kind() == ErrorKind::Interrupted => Ok(None),
            Err(e) => Err(e),
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Listener::Unix(_, p) = self {
            let _ = std::fs::remove_file(p);
        }
    }
}
