//! A bounded wait for a TCP socket to be readable or writable (`WSAPoll`).

use crate::clamp_timeout;
use std::io;
use std::time::Duration;

/// `WSAPoll`: wait at most `timeout` (rounded up to whole milliseconds) until `socket`
/// is readable (or, with `writable`, writable); answers whether it is. An error or
/// hang-up counts as ready (the next read or write reports it).
pub fn wait_socket(
    socket: &std::net::TcpStream,
    writable: bool,
    timeout: Duration,
) -> io::Result<bool> {
    use std::os::windows::io::AsRawSocket;
    use windows_sys::Win32::Networking::WinSock::{WSAPoll, POLLRDNORM, POLLWRNORM, WSAPOLLFD};
    let t = clamp_timeout(timeout);
    let ms = t.as_millis() + u128::from(!t.subsec_nanos().is_multiple_of(1_000_000));
    let mut fd = WSAPOLLFD {
        fd: socket.as_raw_socket() as usize,
        events: if writable { POLLWRNORM } else { POLLRDNORM },
        revents: 0,
    };
    // SAFETY: one valid WSAPOLLFD for a socket `socket` keeps open during the call.
    let n = unsafe { WSAPoll(&mut fd, 1, i32::try_from(ms).unwrap_or(i32::MAX)) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n > 0)
}
