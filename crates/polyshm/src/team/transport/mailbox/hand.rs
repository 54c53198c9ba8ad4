//! How the mailbox's hand-over is signalled: the [`Signal`] a team chooses, and the
//! [`HandOver`] each of the mailbox's two directions (`to_drone`, `to_master`) uses.
//!
//! - [`Signal::Semaphore`] (the default): the two [`RemoteSemaphore`]s in the control
//!   segment (a futex on Linux, a named kernel semaphore on Windows; spin first, then
//!   sleep).
//! - [`Signal::Window`]: the study's own signalling, an
//!   [`EventBasedSemaphore`] pair per direction over window messages (Windows only).
//!   The master's process relay owns both pairs; the drone is told the relay's window
//!   handle and the two pair ids in its spawn spec (its command line), connects and
//!   opens its halves before its hello. Nothing spins: each wait is a `#waitRemote`
//!   message, then a sleep until the `#signalRemote` message arrives.

use super::super::LinkError;
use super::layout::Desc;
use crate::shm::RemoteSemaphore;
use crate::sync::{EventBasedSemaphore, EventError, SemaphoreError};
use crate::team::protocol::ProtocolError;
use polyshm_sys::{ProcessId, WindowHandle};
use std::time::Duration;

/// How a team's mailboxes signal the hand-over between master and drone.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Signal {
    /// Semaphores in the mailbox segment. Id `semaphore`.
    #[default]
    Semaphore,
    /// Window messages, the study's `EventBasedSemaphore` (Windows only). Id `window`.
    Window,
}

impl Signal {
    /// Whether this platform has the signal (`window` needs Windows).
    pub fn is_available(&self) -> bool {
        *self != Signal::Window || polyshm_sys::HAS_WINDOW_MESSAGES
    }

    /// The signal's id, as parsed by `FromStr`.
    pub fn id(&self) -> &'static str {
        match self {
            Signal::Semaphore => "semaphore",
            Signal::Window => "window",
        }
    }
}

impl std::fmt::Display for Signal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id())
    }
}

/// A signal id that names no signal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown signal `{0}`; choose semaphore or window")]
pub struct UnknownSignal(pub String);

impl std::str::FromStr for Signal {
    type Err = UnknownSignal;
    fn from_str(s: &str) -> Result<Signal, UnknownSignal> {
        match s {
            "semaphore" => Ok(Signal::Semaphore),
            "window" => Ok(Signal::Window),
            _ => Err(UnknownSignal(s.into())),
        }
    }
}

/// What a drone is told about window signalling: the master's relay window and the
/// ids of the `to_drone` and `to_master` pairs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct WindowPairs {
    pub relay: WindowHandle,
    pub to_drone: u32,
    pub to_master: u32,
}

impl WindowPairs {
    /// `<relay>:<to_drone>:<to_master>`, all decimal.
    pub fn encode(&self) -> String {
        format!("{}:{}:{}", self.relay.0, self.to_drone, self.to_master)
    }

    /// The inverse of [`encode`](Self::encode).
    pub fn parse(s: &str) -> Option<WindowPairs> {
        let mut f = s.split(':').map(|v| v.parse::<u64>().ok());
        let (relay, d, m) = (f.next()??, f.next()??, f.next()??);
        Some(WindowPairs {
            relay: WindowHandle(relay),
            to_drone: u32::try_from(d).ok()?,
            to_master: u32::try_from(m).ok()?,
        })
    }
}

/// One direction of the hand-over: its line in the control segment (a semaphore whose
/// note holds the direction's descriptor) and, with window signalling, the pair that
/// signals instead of the line's semaphore.
#[derive(Debug)]
pub(crate) struct HandOver {
    line: RemoteSemaphore,
    window: Option<EventBasedSemaphore>,
}

fn window_error(e: EventError) -> LinkError {
    match e {
        EventError::PeerDied(pid) => LinkError::PeerDied(ProcessId { pid, start_time: 0 }),
        e => LinkError::Protocol(ProtocolError(format!("window signal: {e}"))),
    }
}

impl HandOver {
    /// Signalled by the line's semaphore.
    pub fn semaphore(line: RemoteSemaphore) -> HandOver {
        HandOver { line, window: None }
    }

    /// Signal by this window-message pair instead (the line still holds the
    /// descriptor).
    pub fn use_window(&mut self, pair: EventBasedSemaphore) {
        self.window = Some(pair);
    }

    /// Whether a waiter may poll it in a spin (a window wait costs two messages).
    pub fn spins(&self) -> bool {
        self.window.is_none()
    }

    /// Write the direction's descriptor (before the signal).
    pub fn write_desc(&self, desc: &Desc) {
        self.line.write_note(&bytemuck::cast(*desc));
    }

    /// A copy of the direction's descriptor (after the wait): check every field.
    pub fn read_desc(&self) -> Desc {
        bytemuck::cast(self.line.read_note())
    }

    pub fn signal(&self) -> Result<(), LinkError> {
        match &self.window {
            None => self
                .line
                .signal()
                .map_err(|e| LinkError::Protocol(ProtocolError(e.to_string()))),
            Some(s) => s.signal().map_err(window_error),
        }
    }

    /// Take a signal, waiting at most `slice`: `Ok(false)` if none came.
    pub fn wait_timeout(&self, slice: Duration) -> Result<bool, LinkError> {
        match &self.window {
            None => match self.line.wait_timeout(slice) {
                Ok(()) => Ok(true),
                Err(SemaphoreError::TimedOut(_)) => Ok(false),
                Err(e) => Err(LinkError::Protocol(ProtocolError(e.to_string()))),
            },
            Some(s) => match s.wait_timeout(slice) {
                Ok(()) => Ok(true),
                // The drone has not opened its halves yet: as a timeout, the watch
                // decides (it checks the drone lives, and the connect deadline).
                Err(EventError::TimedOut(_) | EventError::NotOpened(_)) => Ok(false),
                Err(e) => Err(window_error(e)),
            },
        }
    }

    /// Take a signal if one is pending.
    pub fn try_wait(&self) -> Result<bool, LinkError> {
        match &self.window {
            None => Ok(self.line.try_wait()),
            Some(s) => match s.try_wait() {
                Err(EventError::NotOpened(_)) => Ok(false),
                r => r.map_err(window_error),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each signal's id is the word the CLI takes (`--signal semaphore|window`), parses
    /// back to it and is how it prints; any other word is refused, naming the choices.
    #[test]
    fn signal_ids_are_the_words_the_cli_takes() {
        assert_eq!(Signal::default(), Signal::Semaphore);
        for (signal, id) in [(Signal::Semaphore, "semaphore"), (Signal::Window, "window")] {
            assert_eq!(signal.id(), id);
            assert_eq!(signal.to_string(), id);
            assert_eq!(id.parse::<Signal>(), Ok(signal));
        }
        let e = "futex".parse::<Signal>().unwrap_err();
        assert_eq!(e, UnknownSignal("futex".into()));
        assert!(e.to_string().contains("semaphore or window"), "{e}");
        assert!(Signal::Semaphore.is_available());
        assert_eq!(
            Signal::Window.is_available(),
            polyshm_sys::HAS_WINDOW_MESSAGES
        );
    }

    /// What the drone is told about window signalling parses back whole; anything
    /// else on its command line is no pairs at all, never a guess.
    #[test]
    fn window_pairs_parse_back_and_nothing_else_does() {
        let pairs = WindowPairs {
            relay: WindowHandle(0x1_0000_2345),
            to_drone: 7,
            to_master: u32::MAX,
        };
        assert_eq!(WindowPairs::parse(&pairs.encode()), Some(pairs));
        for bad in ["", "1", "1:2", "x:2:3", "1:2:4294967296", "1:-2:3", "1::3"] {
            assert_eq!(WindowPairs::parse(bad), None, "{bad:?}");
        }
    }
}
