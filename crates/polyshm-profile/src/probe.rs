//! Measurements over relays that the foundation benchmark and the profile share (study
//! tables 1 and 2): connect times and message/reply roundtrips over any [`RelayLink`].
//!
//! The master drives, a client serves. The client runs [`serve`], which answers the
//! master's requests until told to stop; the master calls [`echo_roundtrips`] (a
//! message and its echo: the study's "mutex roundtrip", a `#waitRemote` sent,
//! processed on the other side, and answered), [`signal_roundtrips`] (a bare signal
//! answered by a bare signal: the semaphore roundtrip), then [`finish`]. Connect times
//! come from [`connect_times`] on the client while the master runs [`accept_many`].
//! Timings are returned raw, one per repetition; statistics belong to the caller.

use polyshm::relay::{Relay, RelayError, RelayLink};
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
/// answers each [`Link::connect_time`](polyshm::relay::Link::connect_time).
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

#[cfg(test)]
mod tests {
    use super::*;
    use polyshm::relay::{RelayOptions, UdpRelay};
    use polyshm::shm::unique_name;

    const PATIENCE: Duration = Duration::from_secs(30);

    /// What a client in [`serve`] did while the master ran its three measurements
    /// and [`finish`]: the client's link comes from `connect` (run in a thread), the
    /// master's from `accept`. Every reply is checked by the probe itself.
    fn served<C: RelayLink, M: RelayLink>(
        connect: impl FnOnce() -> Result<C, RelayError> + Send,
        accept: impl FnOnce() -> M,
    ) -> Served {
        std::thread::scope(|s| {
            let client = s.spawn(|| serve(&connect()?, PATIENCE));
            let link = accept();
            assert_eq!(
                echo_roundtrips(&link, b"payload", 20, PATIENCE)
                    .unwrap()
                    .len(),
                20
            );
            assert_eq!(signal_roundtrips(&link, 30, PATIENCE).unwrap().len(), 30);
            assert_eq!(echo_roundtrips(&link, &[], 5, PATIENCE).unwrap().len(), 5);
            finish(&link, PATIENCE).unwrap();
            client.join().unwrap().unwrap()
        })
    }

    #[test]
    fn serve_answers_echoes_and_signals_until_finish_over_both_relays() {
        let everything = Served {
            echoes: 25,
            signals: 30,
        };
        let relay = Relay::create(&unique_name("probe"), RelayOptions::default()).unwrap();
        let name = relay.name().to_owned();
        let got = served(
            || Relay::connect(&name, PATIENCE),
            || relay.accept(Some(PATIENCE)).unwrap(),
        );
        assert_eq!(got, everything);
        let udp = UdpRelay::bind().unwrap();
        let addr = udp.name().to_owned();
        let got = served(
            || UdpRelay::connect(&addr, PATIENCE),
            || udp.accept(Some(PATIENCE)).unwrap(),
        );
        assert_eq!(got, everything);
    }

    /// A client that gets a request no master sends stops with a protocol error.
    #[test]
    fn serve_rejects_an_unknown_request() {
        let relay = Relay::create(&unique_name("probe-bad"), RelayOptions::default()).unwrap();
        let name = relay.name().to_owned();
        let got = std::thread::scope(|s| {
            let client = s.spawn(|| serve(&Relay::connect(&name, PATIENCE)?, PATIENCE));
            relay.accept(Some(PATIENCE)).unwrap().send(b"?").unwrap();
            client.join().unwrap()
        });
        assert!(matches!(got, Err(RelayError::Protocol { .. })), "{got:?}");
    }

    #[test]
    fn connect_times_pairs_with_accept_many() {
        let relay = Relay::create(&unique_name("probe-conn"), RelayOptions::default()).unwrap();
        let name = relay.name().to_owned();
        let times = std::thread::scope(|s| {
            let client = s.spawn(|| connect_times(&name, 10, PATIENCE));
            accept_many(&relay, 10, PATIENCE).unwrap();
            client.join().unwrap().unwrap()
        });
        assert_eq!(times.len(), 10);
        assert_eq!(relay.accepted(), 10);
    }
}
