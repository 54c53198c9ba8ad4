//! [`SemaphoreEventRelay`]: the study's communication centre for semaphore events
//! (section 6), over window messages (`SendMessage`, the study's
//! `Win32MessageSending`).
//!
//! Each process runs one relay: a message-only window on a thread of its own
//! ([`polyshm_sys::MessageWindow`]). The master's relay is the one the others connect
//! to: a drone is told its window handle (on its command line, in the team's spawn
//! spec) or finds it by name ([`SemaphoreEventRelay::find`]), starts its own relay
//! and sends [`CONNECT`] with its own handle. From then on both know each other's
//! address, and the [`EventBasedSemaphore`](super::EventBasedSemaphore) halves of a
//! pair talk through the two relays. The messages and their replies are in
//! [`event_messages`](super::event_messages).

use super::event_messages::{
    CANCEL_WAIT, CLOSE_PAIR, CONNECT, OPEN_PAIR, REFUSED, SIGNAL, WAIT_REMOTE,
};
use super::event_semaphore::Half;
use polyshm_sys::{MessageWindow, WindowHandle};
use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

/// How long a sender waits for a relay's answer. A relay answers in microseconds; one
/// that takes this long is hung, and the operation fails rather than waits on.
pub(crate) const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// Failure of a relay or of an [`EventBasedSemaphore`](super::EventBasedSemaphore)
/// operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// This platform has no window messages.
    #[error("window-message signalling needs Windows (this is {0}); use the shared-memory semaphores (`--signal semaphore`)")]
    Unavailable(&'static str),
    /// Starting the relay window failed.
    #[error("cannot start the semaphore event relay: {0}")]
    Start(io::Error),
    /// `SendMessage` to the peer's relay failed (its window is gone, or it did not
    /// answer within 5 s).
    #[error("cannot send {what} to relay {to}: {source}")]
    Send {
        /// The message.
        what: &'static str,
        /// The relay window addressed.
        to: WindowHandle,
        /// What the system said.
        source: io::Error,
    },
    /// The peer's relay answered [`REFUSED`]: it knows no pair with this id from us.
    #[error("relay {to} refused {what} for pair {id}: it knows no such pair from this process (was the pair created there, and not closed?)")]
    Refused {
        /// The message.
        what: &'static str,
        /// The relay window addressed.
        to: WindowHandle,
        /// The pair.
        id: u32,
    },
    /// The pair's other half has not been opened yet (the owner cannot signal).
    #[error("pair {0} has no peer yet: the other process has not opened its half")]
    NotOpened(u32),
    /// No signal within the timeout.
    #[error("timed out after {0:?} waiting for the semaphore")]
    TimedOut(Duration),
    /// The peer process is gone.
    #[error("the peer (pid {0}) is gone")]
    PeerDied(u32),
    /// The peer closed its half of the pair.
    #[error("the peer closed its half of pair {0}")]
    PeerClosed(u32),
    /// The count would pass `u32::MAX`.
    #[error("semaphore count overflow: it already holds {0} signals nobody took")]
    Overflow(u32),
}

/// What both the relay and its window thread see.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    /// The halves of pairs living in this process, by id.
    halves: Mutex<HashMap<u32, Arc<Half>>>,
    /// Relays that connected here (or that this one connected to), by pid.
    peers: Mutex<HashMap<u32, WindowHandle>>,
    next_id: AtomicU32,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    fn half(&self, id: usize) -> Option<Arc<Half>> {
        let id = u32::try_from(id).ok()?;
        lock(&self.halves).get(&id).cloned()
    }

    /// The window thread's handler: one application message.
    fn handle(&self, code: u32, wparam: usize, lparam: isize) -> isize {
        let Ok(sender) = u32::try_from(lparam) else {
            return REFUSED;
        };
        if code == CONNECT {
            lock(&self.peers).insert(sender, WindowHandle(wparam as u64));
            return std::process::id() as isize;
        }
        let Some(half) = self.half(wparam) else {
            return REFUSED;
        };
        match code {
            OPEN_PAIR => match lock(&self.peers).get(&sender) {
                Some(&hwnd) => half.bind(hwnd, sender),
                None => REFUSED,
            },
            SIGNAL => half.on_signal(sender),
            WAIT_REMOTE => half.on_wait_remote(sender),
            CANCEL_WAIT => half.on_cancel_wait(sender),
            CLOSE_PAIR => half.on_close(sender),
            _ => REFUSED,
        }
    }

    pub(crate) fn add(&self, half: Arc<Half>) {
        lock(&self.halves).insert(half.id, half);
    }

    pub(crate) fn remove(&self, id: u32) {
        lock(&self.halves).remove(&id);
    }

    pub(crate) fn next_id(&self) -> u32 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// This process's end of semaphore events: a message-only window on its own thread
/// and the table of the pair halves that live here (the study's
/// `SemaphoreEventRelay`). Cheap to clone; the window goes with the last clone.
///
/// Windows only: elsewhere [`start`](Self::start) answers [`EventError::Unavailable`].
#[derive(Clone, Debug)]
pub struct SemaphoreEventRelay {
    pub(crate) shared: Arc<Shared>,
    window: Arc<MessageWindow>,
}

impl SemaphoreEventRelay {
    /// Start a relay whose window is titled `name` (how [`find`](Self::find) finds it).
    pub fn start(name: &str) -> Result<SemaphoreEventRelay, EventError> {
        if !polyshm_sys::HAS_WINDOW_MESSAGES {
            return Err(EventError::Unavailable(polyshm_sys::PLATFORM));
        }
        let shared = Arc::new(Shared::default());
        let s = shared.clone();
        let window = MessageWindow::create(name, Arc::new(move |c, w, l| s.handle(c, w, l)))
            .map_err(EventError::Start)?;
        Ok(SemaphoreEventRelay {
            shared,
            window: Arc::new(window),
        })
    }

    /// This process's relay, titled `polyshm.relay.<pid>`, started on first use and
    /// kept for the life of the process.
    pub fn process() -> Result<SemaphoreEventRelay, EventError> {
        static RELAY: Mutex<Option<SemaphoreEventRelay>> = Mutex::new(None);
        static NAME: OnceLock<String> = OnceLock::new();
        let mut r = lock(&RELAY);
        if let Some(relay) = &*r {
            return Ok(relay.clone());
        }
        let name = NAME.get_or_init(|| Self::name_of(std::process::id()));
        let relay = SemaphoreEventRelay::start(name)?;
        *r = Some(relay.clone());
        Ok(relay)
    }

    /// The title of process `pid`'s relay ([`process`](Self::process)).
    pub fn name_of(pid: u32) -> String {
        format!("polyshm.relay.{pid}")
    }

    /// The relay window titled `name`, in any process of this desktop.
    pub fn find(name: &str) -> Result<WindowHandle, EventError> {
        if !polyshm_sys::HAS_WINDOW_MESSAGES {
            return Err(EventError::Unavailable(polyshm_sys::PLATFORM));
        }
        polyshm_sys::find_window(name).map_err(|source| EventError::Send {
            what: "a lookup",
            to: WindowHandle(0),
            source,
        })
    }

    /// This relay's window handle: what a drone is told on its command line.
    pub fn handle(&self) -> WindowHandle {
        self.window.handle()
    }

    /// Connect to the relay at `master`: send [`CONNECT`] with this relay's handle.
    /// Answers the master's pid. Connecting again is harmless.
    pub fn connect(&self, master: WindowHandle) -> Result<u32, EventError> {
        let pid = self.send(master, CONNECT, self.handle().0 as usize, 0)?;
        let pid = u32::try_from(pid)
            .ok()
            .filter(|p| *p != 0)
            .ok_or(EventError::Refused {
                what: "CONNECT",
                to: master,
                id: 0,
            })?;
        lock(&self.shared.peers).insert(pid, master);
        Ok(pid)
    }

    /// `SendMessage(to, code, wParam, this pid)`, with the error named.
    pub(crate) fn send(
        &self,
        to: WindowHandle,
        code: u32,
        wparam: usize,
        what_id: u32,
    ) -> Result<isize, EventError> {
        send(to, code, wparam).map_err(|source| EventError::Send {
            what: name(code, what_id),
            to,
            source,
        })
    }
}

/// `SendMessage(to, code, wParam, this pid)`.
pub(crate) fn send(to: WindowHandle, code: u32, wparam: usize) -> io::Result<isize> {
    polyshm_sys::send_message(to, code, wparam, std::process::id() as isize, SEND_TIMEOUT)
}

/// A message code's name, for errors.
pub(crate) fn name(code: u32, _id: u32) -> &'static str {
    match code {
        CONNECT => "CONNECT",
        OPEN_PAIR => "OPEN_PAIR",
        SIGNAL => "SIGNAL (#signalRemote)",
        WAIT_REMOTE => "WAIT_REMOTE (#waitRemote)",
        CANCEL_WAIT => "CANCEL_WAIT",
        CLOSE_PAIR => "CLOSE_PAIR",
        _ => "a message",
    }
}
