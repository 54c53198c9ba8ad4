//! Measurements over relays that the benchmark and the profile share (study tables 1
//! and 2): connect times and message/reply roundtrips over any [`RelayLink`].
//!
//! The master drives, a client serves. The client runs [`serve`], which answers the
//! master's requests until told to stop; the master calls [`echo_roundtrips`] (a
//! message and its echo: the study's "mutex roundtrip", a `#waitRemote` sent,
//! processed on the other side, and answered), [`signal_roundtrips`] (a bare signal
//! answered by a bare signal: the semaphore roundtrip), then [`finish`]. Connect times
//! come from [`connect_times`] on the client while the master runs [`accept_many`].
//! Timings are returned raw, one per repetition; statistics belong to the caller.

use super::{Relay, RelayError, RelayLink, UdpRelay};
use std::time::{Duration, Instant};

const ECHO: u8 = b'E';
const SIGNALS: u8 = b'S';
const QUIT: u8 = b'Q';

fn unexpected(what: String) -> RelayError {
    RelayError::Protocol {
        name: "probe".into(),
        what,
    }
}

/// What [`serve`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Served {
    /// Messages echoed.
    pub echoes: u64,
    /// Bare signals answered.
    pub signals: u64,
}

/// Client side: answer the master until it sends [`finish`]. Each wait lasts at most
/// `timeout`.
pub fn serve(link: &impl RelayLink, timeout: Duration) -> Result<Served, RelayError> {
    let mut served = Served::default();
    let mut buf = Vec::new();
    loop {
        link.recv_into(&mut buf, Some(timeout))?;
        match buf.first() {
            Some(&ECHO) => {
                link.send(&buf)?;
                served.echoes += 1;
            }
            Some(&SIGNALS) if buf.len() == 9 => {
                let n = u64::from_le_bytes(buf[1..9].try_into().expect("8 bytes"));
                link.send(&[SIGNALS])?;
                for _ in 0..n {
                    link.wait(Some(timeout))?;
                    link.signal()?;
                }
                served.signals += n;
            }
            Some(&QUIT) => {
                link.send(&[QUIT])?;
                return Ok(served);
            }
            _ => return Err(unexpected(format!("a {}-byte request", buf.len()))),
        }
    }
}

/// Master side: `count` timed message/reply roundtrips, each carrying `payload` (plus
/// one tag byte) both ways. Every reply is checked against its request.
pub fn echo_roundtrips(
    link: &impl RelayLink,
    payload: &[u8],
    count: usize,
    timeout: Duration,
) -> Result<Vec<Duration>, RelayError> {
    let mut request = Vec::with_capacity(payload.len() + 9);
    let mut reply = Vec::new();
    let mut times = Vec::with_capacity(count);
    for seq in 0..count as u64 {
        request.clear();
        request.push(ECHO);
        request.extend_from_slice(&seq.to_le_bytes());
        request.extend_from_slice(payload);
        let t = Instant::now();
        link.send(&request)?;
        link.recv_into(&mut reply, Some(timeout))?;
        times.push(t.elapsed());
        if reply != request {
            return Err(unexpected(format!("the echo of request {seq} differs")));
        }
    }
    Ok(times)
}

/// Master side: `count` timed roundtrips of a bare signal answered by a bare signal.
pub fn signal_roundtrips(
    link: &impl RelayLink,
    count: usize,
    timeout: Duration,
) -> Result<Vec<Duration>, RelayError> {
    let mut request = vec![SIGNALS];
    request.extend_from_slice(&(count as u64).to_le_bytes());
    if link.call(&request, Some(timeout))? != [SIGNALS] {
        return Err(unexpected("no acknowledgement of a signal run".into()));
    }
    let mut times = Vec::with_capacity(count);
    for _ in 0..count {
        let t = Instant::now();
        link.signal()?;
        link.wait(Some(timeout))?;
        times.push(t.elapsed());
    }
    Ok(times)
}

/// Master side: tell a client in [`serve`] to return.
pub fn finish(link: &impl RelayLink, timeout: Duration) -> Result<(), RelayError> {
    match link.call(&[QUIT], Some(timeout))?.as_slice() {
        [QUIT] => Ok(()),
        other => Err(unexpected(format!("a {}-byte answer to quit", other.len()))),
    }
}

/// Master side: accept `count` connections one after another, closing each at once
/// (the partner of [`connect_times`]).
pub fn accept_many(relay: &Relay, count: usize, timeout: Duration) -> Result<(), RelayError> {
    for _ in 0..count {
        drop(relay.accept(Some(timeout))?);
    }
    Ok(())
}

/// Client side: connect to the relay `name` `count` times, closing each link at once;
/// answers each [`Link::connect_time`](super::Link::connect_time).
pub fn connect_times(
    name: &str,
    count: usize,
    timeout: Duration,
) -> Result<Vec<Duration>, RelayError> {
    (0..count)
        .map(|_| {
            let link = Relay::connect(name, timeout)?;
            Ok(link.connect_time().unwrap_or_default())
        })
        .collect()
}

/// Master side for UDP: accept `count` connections, closing each at once.
pub fn udp_accept_many(
    relay: &UdpRelay,
    count: usize,
    timeout: Duration,
) -> Result<(), RelayError> {
    for _ in 0..count {
        drop(relay.accept(Some(timeout))?);
    }
    Ok(())
}

/// Client side for UDP: connect `count` times to `addr`; answers each connect time.
pub fn udp_connect_times(
    addr: &str,
    count: usize,
    timeout: Duration,
) -> Result<Vec<Duration>, RelayError> {
    (0..count)
        .map(|_| {
            let link = UdpRelay::connect(addr, timeout)?;
            Ok(link.connect_time().unwrap_or_default())
        })
        .collect()
}
