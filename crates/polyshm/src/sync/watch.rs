//! The one bounded wait on another process: [`Watch::wait`].
//!
//! Every wait for a peer (a semaphore signal, bytes on a socket, a datagram) is cut
//! into slices. Between two slices the waiter checks, in this order, that nobody
//! cancelled, that the peer still lives, that it has not closed its end (where the
//! caller can tell) and that the deadline has not passed: the first that fails ends
//! the wait with a [`Stop`] saying which. A dead peer is reported before a passed
//! deadline: it is why the answer did not come, and waiting longer would not help.
//!
//! Before giving up, the waiter takes one last look without waiting: a signal given
//! just before the peer died (or the deadline passed, or the caller cancelled) is an
//! answer, not a loss.
//!
//! What a slice waits on is the caller's: a closure that is handed a [`Look`]. The
//! errors stay the callers' too: the closure's own error passes through
//! ([`WaitError::Failed`]), and each caller maps a [`Stop`] to its own error type.

use super::host::{Host, OsHost};
use polyshm_sys::ProcessId;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The shortest slice a near deadline leaves (a zero-length wait would spin).
const MIN_SLICE: Duration = Duration::from_micros(100);

/// What a bounded wait checks between slices: the peer's life, the deadline, a
/// cancel flag; and how long one slice lasts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Watch<'a> {
    /// The process at the other end.
    pub peer: ProcessId,
    /// When the wait started and when it must be over (`None`: no deadline).
    pub deadline: Option<(Instant, Instant)>,
    /// Set by another thread to give up.
    pub cancel: Option<&'a AtomicBool>,
    /// Longest single wait before the checks run again.
    pub slice: Duration,
}

/// What the closure of [`Watch::wait`] is asked to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Look {
    /// Wait for the answer, at most this long (the slice, or less if the deadline is
    /// nearer; never zero).
    Wait(Duration),
    /// A check failed: look once more without waiting.
    Last,
}

/// Why a watched wait ended without an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    /// The cancel flag was set.
    Cancelled,
    /// The peer process is gone.
    PeerDied(ProcessId),
    /// The caller's own check said the peer closed its end.
    PeerClosed,
    /// The deadline passed; the wait lasted this long.
    TimedOut(Duration),
}

/// Why [`Watch::wait`] answered nothing.
#[derive(Debug)]
pub(crate) enum WaitError<E> {
    /// A check between slices ended the wait (after the last look).
    Stopped(Stop),
    /// The closure failed.
    Failed(E),
}

impl<'a> Watch<'a> {
    /// Watch `peer` only (no deadline, no cancel flag).
    pub fn peer(peer: ProcessId, slice: Duration) -> Watch<'a> {
        Watch {
            peer,
            deadline: None,
            cancel: None,
            slice,
        }
    }

    /// The same watch with a deadline `timeout` from now (`None`: none). A timeout
    /// too long to add to now (such as `Duration::MAX`) is a century.
    pub fn timeout(self, timeout: Option<Duration>) -> Watch<'a> {
        let now = Instant::now();
        Watch {
            deadline: timeout.map(|t| (now, super::saturating_deadline(now, t))),
            ..self
        }
    }

    /// The next slice's length: the slice, or less if the deadline is nearer (but at
    /// least 100 µs, so that a wait never spins).
    pub fn next_slice(&self) -> Duration {
        match self.deadline {
            Some((_, end)) => self
                .slice
                .min(end.saturating_duration_since(Instant::now()))
                .max(MIN_SLICE),
            None => self.slice,
        }
    }

    /// Whether the wait must end now, and why (see the module docs for the order).
    fn check_on(&self, host: &impl Host, closed: &mut impl FnMut() -> bool) -> Result<(), Stop> {
        if self.cancel.is_some_and(|c| c.load(Ordering::Acquire)) {
            return Err(Stop::Cancelled);
        }
        if !host.is_alive(self.peer) {
            return Err(Stop::PeerDied(self.peer));
        }
        if closed() {
            return Err(Stop::PeerClosed);
        }
        if let Some((start, end)) = self.deadline {
            let now = Instant::now();
            if now >= end {
                return Err(Stop::TimedOut(now - start));
            }
        }
        Ok(())
    }

    /// Wait for what `look` answers: slice after slice (`Look::Wait`) with the checks
    /// between them, and one last look (`Look::Last`) before a failed check ends the
    /// wait. `look` answers `Ok(None)` when its slice ended with nothing.
    ///
    /// The caller's fast path (a poll, a bounded spin) goes before: the checks cost a
    /// system call and run only once a slice has passed.
    pub fn wait<T, E>(
        &self,
        look: impl FnMut(Look) -> Result<Option<T>, E>,
    ) -> Result<T, WaitError<E>> {
        self.wait_on(&OsHost, || false, look)
    }

    /// [`wait`](Self::wait), where `closed` also tells whether the peer closed its end
    /// (checked after its life: a dead peer is `PeerDied` even if it closed first).
    pub fn wait_unless_closed<T, E>(
        &self,
        closed: impl FnMut() -> bool,
        look: impl FnMut(Look) -> Result<Option<T>, E>,
    ) -> Result<T, WaitError<E>> {
        self.wait_on(&OsHost, closed, look)
    }

    /// The wait, with `host` telling whether the peer lives.
    fn wait_on<T, E>(
        &self,
        host: &impl Host,
        mut closed: impl FnMut() -> bool,
        mut look: impl FnMut(Look) -> Result<Option<T>, E>,
    ) -> Result<T, WaitError<E>> {
        loop {
            if let Some(t) = look(Look::Wait(self.next_slice())).map_err(WaitError::Failed)? {
                return Ok(t);
            }
            if let Err(stop) = self.check_on(host, &mut closed) {
                // An answer given just before the check failed is an answer.
                return match look(Look::Last).map_err(WaitError::Failed)? {
                    Some(t) => Ok(t),
                    None => Err(WaitError::Stopped(stop)),
                };
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::super::host::Me;
    use super::*;
    use std::cell::{Cell, RefCell};

    /// A host whose peer lives for the first `lives` liveness checks, then is dead.
    struct FakeHost {
        lives: Cell<u32>,
        checks: Cell<u32>,
    }

    impl FakeHost {
        fn dies_after(lives: u32) -> FakeHost {
            FakeHost {
                lives: Cell::new(lives),
                checks: Cell::new(0),
            }
        }
    }

    impl Host for FakeHost {
        fn me(&self) -> Me {
            Me {
                process: PEER,
                tid: 1,
            }
        }
        fn is_alive(&self, p: ProcessId) -> bool {
            assert_eq!(p, PEER, "the watch checks its peer");
            self.checks.set(self.checks.get() + 1);
            let left = self.lives.get();
            self.lives.set(left.saturating_sub(1));
            left > 0
        }
        fn reach(&self, _point: &'static str) {}
    }

    const PEER: ProcessId = ProcessId {
        pid: 4242,
        start_time: 7,
    };
    const SLICE: Duration = Duration::from_millis(5);
    /// Far enough never to pass during a test.
    const HOUR: Duration = Duration::from_secs(3600);

    /// A closure that never answers during a slice, answers `last` to the last look,
    /// and records the looks it was asked for.
    fn silent(
        seen: &RefCell<Vec<Look>>,
        last: Option<u32>,
    ) -> impl FnMut(Look) -> Result<Option<u32>, ()> + '_ {
        move |l| {
            seen.borrow_mut().push(l);
            Ok(match l {
                Look::Wait(_) => None,
                Look::Last => last,
            })
        }
    }

    #[test]
    fn a_peer_that_dies_mid_wait_ends_it_after_one_last_look() {
        let host = FakeHost::dies_after(2);
        let seen = RefCell::new(Vec::new());
        let w = Watch::peer(PEER, SLICE);
        let r = w.wait_on(&host, || false, silent(&seen, None));
        assert!(matches!(r, Err(WaitError::Stopped(Stop::PeerDied(PEER)))));
        let w3 = Look::Wait(SLICE);
        assert_eq!(*seen.borrow(), [w3, w3, w3, Look::Last]);
        assert_eq!(host.checks.get(), 3);
    }

    /// "A signal given just before the peer died is an answer, not a loss."
    #[test]
    fn an_answer_given_just_before_death_is_an_answer() {
        let host = FakeHost::dies_after(0);
        let seen = RefCell::new(Vec::new());
        let r = Watch::peer(PEER, SLICE).wait_on(&host, || false, silent(&seen, Some(42)));
        assert_eq!(r.unwrap(), 42);
        assert_eq!(*seen.borrow(), [Look::Wait(SLICE), Look::Last]);
    }

    /// The fast path: an answer within the first slice costs no check at all.
    #[test]
    fn an_answer_within_a_slice_needs_no_check() {
        let host = FakeHost::dies_after(0);
        let r = Watch::peer(PEER, SLICE).wait_on(&host, || false, |_| Ok::<_, ()>(Some(7)));
        assert_eq!(r.unwrap(), 7);
        assert_eq!(host.checks.get(), 0);
    }

    #[test]
    fn a_passed_deadline_times_out_after_the_last_look() {
        let host = FakeHost::dies_after(u32::MAX);
        let start = Instant::now();
        let w = Watch {
            deadline: Some((start, start)),
            ..Watch::peer(PEER, SLICE)
        };
        let seen = RefCell::new(Vec::new());
        let r = w.wait_on(&host, || false, silent(&seen, None));
        assert!(matches!(r, Err(WaitError::Stopped(Stop::TimedOut(_)))));
        // The slice shrinks to the deadline, but never to nothing.
        assert_eq!(*seen.borrow(), [Look::Wait(MIN_SLICE), Look::Last]);
        // The last look answers even so.
        let r = w.wait_on(&host, || false, silent(&seen, Some(1)));
        assert_eq!(r.unwrap(), 1);
    }

    #[test]
    fn a_distant_deadline_leaves_the_slice_whole() {
        let w = Watch::peer(PEER, SLICE).timeout(Some(HOUR));
        assert_eq!(w.next_slice(), SLICE);
        assert_eq!(Watch::peer(PEER, SLICE).timeout(None).next_slice(), SLICE);
        // A timeout too long to add to now is no panic.
        let w = Watch::peer(PEER, SLICE).timeout(Some(Duration::MAX));
        assert_eq!(w.next_slice(), SLICE);
    }

    #[test]
    fn cancel_ends_the_wait_between_slices() {
        let host = FakeHost::dies_after(u32::MAX);
        let cancel = AtomicBool::new(false);
        let w = Watch {
            cancel: Some(&cancel),
            ..Watch::peer(PEER, SLICE)
        };
        let mut looks = Vec::new();
        let r = w.wait_on(
            &host,
            || false,
            |l| {
                looks.push(l);
                if looks.len() == 2 {
                    cancel.store(true, Ordering::Release);
                }
                Ok::<Option<()>, ()>(None)
            },
        );
        assert!(matches!(r, Err(WaitError::Stopped(Stop::Cancelled))));
        assert_eq!(looks, [Look::Wait(SLICE), Look::Wait(SLICE), Look::Last]);
    }

    /// The order of the checks: cancel, death, close, deadline.
    #[test]
    fn the_checks_come_in_their_order() {
        let cancel = AtomicBool::new(true);
        let start = Instant::now();
        let all = Watch {
            peer: PEER,
            deadline: Some((start, start)),
            cancel: Some(&cancel),
            slice: SLICE,
        };
        let stop = |w: &Watch<'_>, lives: u32, closed: bool| match w.wait_on(
            &FakeHost::dies_after(lives),
            || closed,
            |_| Ok::<Option<()>, ()>(None),
        ) {
            Err(WaitError::Stopped(s)) => s,
            other => panic!("expected a stop, got {other:?}"),
        };
        assert_eq!(stop(&all, 0, true), Stop::Cancelled);
        cancel.store(false, Ordering::Release);
        assert_eq!(stop(&all, 0, true), Stop::PeerDied(PEER));
        assert_eq!(stop(&all, 1, true), Stop::PeerClosed);
        assert!(matches!(stop(&all, 1, false), Stop::TimedOut(_)));
    }

    #[test]
    fn a_closed_peer_ends_the_wait_after_the_last_look() {
        let host = FakeHost::dies_after(u32::MAX);
        let closes = Cell::new(3u32);
        let closed = || {
            closes.set(closes.get().saturating_sub(1));
            closes.get() == 0
        };
        let seen = RefCell::new(Vec::new());
        let r = Watch::peer(PEER, SLICE).wait_on(&host, closed, silent(&seen, None));
        assert!(matches!(r, Err(WaitError::Stopped(Stop::PeerClosed))));
        assert_eq!(seen.borrow().len(), 4);
        assert_eq!(seen.borrow().last(), Some(&Look::Last));
    }

    /// The closure's own error passes through at once, unchecked and unmapped.
    #[test]
    fn the_closures_error_is_the_callers() {
        let host = FakeHost::dies_after(0);
        let mut calls = 0;
        let r = Watch::peer(PEER, SLICE).wait_on(
            &host,
            || false,
            |_| {
                calls += 1;
                Err::<Option<()>, _>("the socket broke")
            },
        );
        assert!(matches!(r, Err(WaitError::Failed("the socket broke"))));
        assert_eq!((calls, host.checks.get()), (1, 0));
    }
}
