//! [`EventBasedSemaphore`]: the study's `RemoteSemaphore` subclass that signals by
//! sending OS events (section 6): a pair of mirrored halves, one per process, kept in
//! step by window messages through each side's
//! [`SemaphoreEventRelay`](super::SemaphoreEventRelay).
//!
//! Each half holds the signals it may hand out (`count`, the study's
//! `localSemaphore`) and the signals it owes to a waiter on the other side (`owed`).
//! In the study's words:
//!
//! - `signal` = `#signalRemote` (a [`SIGNAL`] message: the peer's half counts one
//!   more, waking its waiter) then `#signalLocal` (this half pays a debt if it owes
//!   one, else counts one more);
//! - `wait` = `#waitRemote` (a synchronous [`WAIT_REMOTE`] message: the peer's half
//!   gives up one pending signal, or records that its next signal is owed here, so
//!   that its next `#waitLocal` meets a blocked semaphore; the reply says which) then
//!   `#waitLocal` (block until this half counts a signal).
//!
//! A wait that times out sends [`CANCEL_WAIT`]: the peer forgets the debt, or answers
//! that it has paid it already, and then the signal is in this half's count and the
//! wait takes it. So no signal is lost and none is counted twice, whatever the timing
//! (the signaller sends before it counts locally, so "paid" implies "arrived").
//!
//! A pair serves one waiting side and one signalling side, as the mailbox's hand-over
//! does (several waiting threads on that side are fine). Waits on *both* sides at once
//! can each take the other's mirror of one signal and both block: the study's
//! "exception that needs to be handled"; use two pairs instead.

use super::event_messages::{
    BLOCKED, CANCEL_WAIT, CLOSE_PAIR, DONE, OPEN_PAIR, REFUSED, SIGNAL, TOOK, TOO_LATE, WAIT_REMOTE,
};
use super::event_relay::{send, EventError, SemaphoreEventRelay};
use super::{Look, Stop, WaitError, Watch};
use polyshm_sys::{ProcessId, WindowHandle};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// How long a waiter sleeps before it checks that the peer lives.
const SLICE: Duration = Duration::from_millis(50);

/// The other side of a pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Peer {
    relay: WindowHandle,
    pid: u32,
}

#[derive(Debug, Default)]
struct HalfState {
    /// Signals this half may hand out (the study's `localSemaphore`).
    count: u32,
    /// Signals owed to waiters on the other side ([`WAIT_REMOTE`] found none).
    owed: u32,
    peer: Option<Peer>,
    /// The peer closed its half.
    closed: bool,
}

/// One process's half of a pair, in its relay's table.
#[derive(Debug)]
pub(crate) struct Half {
    pub(crate) id: u32,
    state: Mutex<HalfState>,
    changed: Condvar,
}

impl Half {
    fn lock(&self) -> MutexGuard<'_, HalfState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `pid` is this half's peer.
    fn from_peer(s: &HalfState, pid: u32) -> bool {
        s.peer.is_some_and(|p| p.pid == pid)
    }

    /// [`OPEN_PAIR`] from `pid`, whose relay is `relay`.
    pub(crate) fn bind(&self, relay: WindowHandle, pid: u32) -> isize {
        let mut s = self.lock();
        if s.peer.is_some_and(|p| p.pid != pid) || s.closed {
            return REFUSED;
        }
        s.peer = Some(Peer { relay, pid });
        self.changed.notify_all();
        1 + s.count as isize
    }

    /// [`SIGNAL`] from `pid`.
    pub(crate) fn on_signal(&self, pid: u32) -> isize {
        let mut s = self.lock();
        if !Self::from_peer(&s, pid) {
            return REFUSED;
        }
        // The signaller checked for overflow against its own mirror.
        s.count = s.count.saturating_add(1);
        self.changed.notify_all();
        DONE
    }

    /// [`WAIT_REMOTE`] from `pid`.
    pub(crate) fn on_wait_remote(&self, pid: u32) -> isize {
        let mut s = self.lock();
        if !Self::from_peer(&s, pid) {
            return REFUSED;
        }
        if s.count > 0 {
            s.count -= 1;
            TOOK
        } else {
            s.owed = s.owed.saturating_add(1);
            BLOCKED
        }
    }

    /// [`CANCEL_WAIT`] from `pid`.
    pub(crate) fn on_cancel_wait(&self, pid: u32) -> isize {
        let mut s = self.lock();
        if !Self::from_peer(&s, pid) {
            return REFUSED;
        }
        if s.owed > 0 {
            s.owed -= 1;
            DONE
        } else {
            TOO_LATE
        }
    }

    /// [`CLOSE_PAIR`] from `pid`.
    pub(crate) fn on_close(&self, pid: u32) -> isize {
        let mut s = self.lock();
        if !Self::from_peer(&s, pid) {
            return REFUSED;
        }
        s.closed = true;
        self.changed.notify_all();
        DONE
    }

    /// Take a signal from this half's count, waiting at most `slice` for one.
    fn take_within(&self, slice: Duration) -> bool {
        let s = self.lock();
        let (mut s, _) = self
            .changed
            .wait_timeout_while(s, slice, |s| s.count == 0 && !s.closed)
            .unwrap_or_else(|p| p.into_inner());
        if s.count > 0 {
            s.count -= 1;
            return true;
        }
        false
    }
}

/// A counting semaphore shared by two processes through window messages (the study's
/// `EventBasedSemaphore`): the same operations and guarantees as
/// [`RemoteSemaphore`](crate::shm::RemoteSemaphore) — signal, wait, timed wait, a dead
/// peer reported, no signal lost — for one waiting side (see the module docs).
///
/// The owner makes its half with [`create`](Self::create) and tells the other process
/// the pair's [`id`](Self::id) and its relay's handle; that process opens its half with
/// [`open`](Self::open). Windows only.
#[derive(Debug)]
pub struct EventBasedSemaphore {
    relay: SemaphoreEventRelay,
    half: Arc<Half>,
}

impl EventBasedSemaphore {
    /// The owner's half of a new pair with `initial` signals, in `relay`'s table. It
    /// has no peer until the other process [`open`](Self::open)s the pair.
    pub fn create(
        relay: &SemaphoreEventRelay,
        initial: u32,
    ) -> Result<EventBasedSemaphore, EventError> {
        let half = Arc::new(Half {
            id: relay.shared.next_id(),
            state: Mutex::new(HalfState {
                count: initial,
                ..HalfState::default()
            }),
            changed: Condvar::new(),
        });
        relay.shared.add(half.clone());
        Ok(EventBasedSemaphore {
            relay: relay.clone(),
            half,
        })
    }

    /// The other half of pair `id`, whose owner's relay is `owner`: connects `relay`
    /// to it ([`CONNECT`](super::event_messages::CONNECT)), then sends [`OPEN_PAIR`]; this
    /// half starts with the signals pending in the owner's.
    pub fn open(
        relay: &SemaphoreEventRelay,
        owner: WindowHandle,
        id: u32,
    ) -> Result<EventBasedSemaphore, EventError> {
        let pid = relay.connect(owner)?;
        let half = Arc::new(Half {
            id,
            state: Mutex::new(HalfState {
                peer: Some(Peer { relay: owner, pid }),
                ..HalfState::default()
            }),
            changed: Condvar::new(),
        });
        // In the table before the owner learns of it: the owner may signal at once.
        relay.shared.add(half.clone());
        let sem = EventBasedSemaphore {
            relay: relay.clone(),
            half,
        };
        let r = sem.send_to(owner, OPEN_PAIR)?;
        sem.half.lock().count = u32::try_from(r - 1).unwrap_or(u32::MAX);
        Ok(sem)
    }

    /// The pair's id (`wParam` of its messages), to tell the other process.
    pub fn id(&self) -> u32 {
        self.half.id
    }

    /// The peer's pid, once it has opened the pair.
    pub fn peer(&self) -> Option<u32> {
        self.half.lock().peer.map(|p| p.pid)
    }

    /// Signals this half counts now (a snapshot).
    pub fn count(&self) -> u32 {
        self.half.lock().count
    }

    fn send_to(&self, to: WindowHandle, code: u32) -> Result<isize, EventError> {
        let r = match self
            .relay
            .send(to, code, self.half.id as usize, self.half.id)
        {
            Ok(r) => r,
            Err(e) => {
                // A send to a dead peer's relay fails: say that the peer died. Its window
                // goes while the process ends, a little before the process is seen gone
                // (the send then fails with "invalid window", "invalid thread" or, under
                // Wine, "access denied"): a failed send gives it a moment for that.
                let peer = self.half.lock().peer;
                return Err(match peer {
                    Some(p) if peer_ended(p.pid) => EventError::PeerDied(p.pid),
                    _ => e,
                });
            }
        };
        if r == REFUSED {
            return Err(EventError::Refused {
                what: super::event_relay::name(code, self.half.id),
                to,
                id: self.half.id,
            });
        }
        Ok(r)
    }

    /// The peer, unless it has not opened the pair yet or has closed it.
    fn peer_relay(&self) -> Result<Peer, EventError> {
        let s = self.half.lock();
        if s.closed {
            return Err(EventError::PeerClosed(self.half.id));
        }
        s.peer.ok_or(EventError::NotOpened(self.half.id))
    }

    /// `#signalRemote` then `#signalLocal`: the peer's half counts a signal (waking its
    /// waiter), then this half pays a debt or counts one more.
    pub fn signal(&self) -> Result<(), EventError> {
        let peer = self.peer_relay()?;
        {
            let s = self.half.lock();
            if s.count == u32::MAX {
                return Err(EventError::Overflow(s.count));
            }
        }
        self.send_to(peer.relay, SIGNAL)?;
        let mut s = self.half.lock();
        if s.owed > 0 {
            s.owed -= 1;
        } else {
            s.count += 1;
        }
        Ok(())
    }

    /// Wait for a signal as long as it takes; the peer's death (or its closing the
    /// pair) ends the wait with an error.
    pub fn wait(&self) -> Result<(), EventError> {
        self.wait_watched(None)
    }

    /// Wait for a signal at most `timeout`.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<(), EventError> {
        self.wait_watched(Some(timeout))
    }

    /// Take a signal if one is pending (a `#waitRemote` all the same, to keep the
    /// mirror true, and a [`CANCEL_WAIT`] if none was).
    pub fn try_wait(&self) -> Result<bool, EventError> {
        match self.wait_watched(Some(Duration::ZERO)) {
            Ok(()) => Ok(true),
            Err(EventError::TimedOut(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `#waitRemote`, then `#waitLocal` in slices watched by [`Watch`] (the peer's
    /// life, the deadline), then, if no signal came, [`CANCEL_WAIT`].
    fn wait_watched(&self, timeout: Option<Duration>) -> Result<(), EventError> {
        // The owner's half may have no peer yet: wait (watched by time only) until the
        // other process opens the pair.
        let deadline = timeout.map(|t| super::saturating_deadline(std::time::Instant::now(), t));
        let peer = loop {
            match self.peer_relay() {
                Ok(p) => break p,
                Err(EventError::NotOpened(_)) => {}
                Err(e) => return self.pending_or(e),
            }
            let left = deadline.map(|d| d.saturating_duration_since(std::time::Instant::now()));
            if left.is_some_and(|l| l.is_zero()) {
                return Err(EventError::NotOpened(self.half.id));
            }
            let s = self.half.lock();
            let _ =
                self.half
                    .changed
                    .wait_timeout_while(s, left.unwrap_or(SLICE).min(SLICE), |s| s.peer.is_none());
        };
        if let Err(e) = self.send_to(peer.relay, WAIT_REMOTE) {
            // The peer closed or ended after its last signal: that signal is an answer.
            return self.pending_or(e);
        }
        let watch = Watch::peer(
            ProcessId {
                pid: peer.pid,
                start_time: 0,
            },
            SLICE,
        )
        .timeout(timeout);
        let closed = || self.half.lock().closed;
        let got = watch.wait_unless_closed(closed, |look| {
            Ok::<_, EventError>(match look {
                Look::Wait(slice) if timeout != Some(Duration::ZERO) => {
                    self.half.take_within(slice).then_some(())
                }
                _ => self.half.take_within(Duration::ZERO).then_some(()),
            })
        });
        let stop = match got {
            Ok(()) => return Ok(()),
            Err(WaitError::Failed(e)) => return Err(e),
            Err(WaitError::Stopped(stop)) => stop,
        };
        // Take back the #waitRemote. A peer that is gone cannot be asked (nor signal).
        if !matches!(stop, Stop::PeerDied(_) | Stop::PeerClosed) {
            if let Ok(TOO_LATE) = self.send_to(peer.relay, CANCEL_WAIT) {
                // The signal was sent before the cancel: it is in our count.
                if self.half.take_within(Duration::ZERO) {
                    return Ok(());
                }
            }
        }
        Err(match stop {
            Stop::PeerDied(p) => EventError::PeerDied(p.pid),
            Stop::PeerClosed => EventError::PeerClosed(self.half.id),
            Stop::TimedOut(_) | Stop::Cancelled => {
                EventError::TimedOut(timeout.unwrap_or_default())
            }
        })
    }
}

impl EventBasedSemaphore {
    /// A signal already counted here, or else `e` (a signal given just before the
    /// peer closed the pair or ended is an answer, not a loss).
    fn pending_or(&self, e: EventError) -> Result<(), EventError> {
        if self.half.take_within(Duration::ZERO) {
            return Ok(());
        }
        Err(match e {
            // The peer's relay dropped the pair: it closed its half.
            EventError::Refused { id, .. } if self.half.lock().closed => EventError::PeerClosed(id),
            e => e,
        })
    }
}

/// Whether process `pid` has ended, waiting up to [`SLICE`] for the end to show.
fn peer_ended(pid: u32) -> bool {
    let id = ProcessId { pid, start_time: 0 };
    let until = std::time::Instant::now() + SLICE;
    loop {
        if !polyshm_sys::is_alive(id) {
            return true;
        }
        if std::time::Instant::now() >= until {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

impl Drop for EventBasedSemaphore {
    fn drop(&mut self) {
        // Tell the peer first, so that it never finds the pair unknown here before it
        // knows it closed. Best effort: a peer that is gone needs no telling.
        let peer = self.half.lock().peer;
        if let Some(p) = peer {
            let _ = send(p.relay, CLOSE_PAIR, self.half.id as usize);
        }
        self.relay.shared.remove(self.half.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn half() -> Half {
        Half {
            id: 1,
            state: Mutex::new(HalfState {
                peer: Some(Peer {
                    relay: WindowHandle(1),
                    pid: 7,
                }),
                ..HalfState::default()
            }),
            changed: Condvar::new(),
        }
    }

    /// The mirror's arithmetic, message by message: a signal sent before the wait, a
    /// wait before the signal, and a cancelled wait, early and too late.
    #[test]
    fn the_handlers_keep_the_mirror() {
        let h = half();
        // Strangers are refused.
        assert_eq!(h.on_signal(8), REFUSED);
        assert_eq!(h.on_wait_remote(8), REFUSED);
        // The peer waits first: this half owes its next signal.
        assert_eq!(h.on_wait_remote(7), BLOCKED);
        assert_eq!(h.lock().owed, 1);
        // The peer cancels in time: the debt is forgotten; again: too late.
        assert_eq!(h.on_cancel_wait(7), DONE);
        assert_eq!(h.on_cancel_wait(7), TOO_LATE);
        // The peer signals: counted here, and taken by a local wait.
        assert_eq!(h.on_signal(7), DONE);
        assert!(h.take_within(Duration::ZERO));
        assert!(!h.take_within(Duration::ZERO));
        // A pending signal here is given up to the peer's #waitRemote.
        h.lock().count = 2;
        assert_eq!(h.on_wait_remote(7), TOOK);
        assert_eq!(h.lock().count, 1);
        // A close wakes a waiter with nothing to take.
        h.lock().count = 0;
        assert_eq!(h.on_close(7), DONE);
        assert!(!h.take_within(Duration::from_secs(5)));
        assert_eq!(h.bind(WindowHandle(2), 9), REFUSED);
    }
}
