//! A robust mutex in shared memory (the study's `accessLock`).
//!
//! # Protocol
//!
//! The lock word is 64 bits: the holder's **pid** (low 32 bits, 0 when free), a
//! **tag** (31 bits, advanced by every acquisition) and the [`WAITERS`] bit. Taking
//! the lock is one compare-and-swap that puts the caller's pid into the word, so the
//! holder's process is known from the moment it holds the lock, on every OS: a waiter
//! judges the holder's liveness from the word itself, and never needs a thread id.
//!
//! The holder then publishes a record under a sequence lock: the word's pid + tag (the
//! record's *key*), its process start time (so that a reused pid is not taken for the
//! holder) and its thread id (so that a thread of the same process is not taken for
//! the holder). A record counts only when it is consistent and its key equals the
//! word's pid + tag: a record left by an earlier holder never matches (the tag moved
//! on), so it cannot be paired with a new holder. Without a matching record the holder
//! is judged by its pid alone.
//!
//! Releasing is a compare-and-swap from the caller's own word (pid + tag) to free, so
//! a caller that lost the lock (its holder record taken over) can never release the
//! next holder. Sleepers sleep on a separate wake counter that every release with
//! [`WAITERS`] advances, and wake every [`LIVENESS_PERIOD`] to re-check the holder:
//! a holder that dies at any step (before or after each store) is noticed, and a free
//! word is always taken, whatever bits a scribbler left in it.

use super::atomic::{fence, AtomicU32, AtomicU64, Ordering};
use super::host::{Host, Me, OsHost};
use super::{Deadline, Parker, WaitStrategy};
use polyshm_sys::ProcessId;
use std::time::Duration;

/// Set in the lock word when some waiter may be asleep on the lock.
const WAITERS: u64 = 1 << 63;
/// The pid part of the lock word.
const PID_MASK: u64 = 0xFFFF_FFFF;
/// The tag part of the lock word.
const TAG_MASK: u64 = 0x7FFF_FFFF << 32;
/// How often a sleeping waiter wakes to check that the holder is still alive.
pub const LIVENESS_PERIOD: Duration = Duration::from_millis(10);

/// The holder's pid in lock word `w` (0: free).
fn pid_of(w: u64) -> u32 {
    (w & PID_MASK) as u32
}

/// Lock word `w` without the waiters bit: the holder's pid + tag.
fn key_of(w: u64) -> u64 {
    w & !WAITERS
}

/// The word that takes lock word `w` for `pid`: the next tag, the waiters bit if asked.
fn taken(w: u64, pid: u32, waiters: bool) -> u64 {
    let tag = (w & TAG_MASK).wrapping_add(1 << 32) & TAG_MASK;
    tag | u64::from(pid) | if waiters { WAITERS } else { 0 }
}

/// The word that releases lock word `w`: free, the tag kept, no waiters.
fn released(w: u64) -> u64 {
    w & TAG_MASK
}

/// Why a lock attempt did not end in plain success.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum LockError {
    /// The lock was not free within the timeout; the caller does not hold it.
    #[error("timed out after {0:?} waiting for the lock")]
    TimedOut(Duration),
    /// The holder died holding the lock. **The caller now holds the lock**, but the
    /// data it guards may be half-written: check or repair it before unlocking.
    #[error("the previous holder ({previous}) died holding the lock; the data it guards may be inconsistent")]
    OwnerDied {
        /// The process that died (its pid; its start time when it had published it,
        /// else 0).
        previous: ProcessId,
    },
    /// This thread already holds the lock: locking again would hang for ever.
    #[error("this thread already holds the lock; locking it again would deadlock")]
    WouldDeadlock,
}

/// The shared words of a robust mutex: 64 bytes, one cache line (see the module docs
/// for the protocol).
///
/// Any bit pattern is a valid state: a word naming a pid that is not alive is taken
/// over as from a dead holder, a word with no pid is free (whatever its other bits),
/// and a record that is inconsistent or does not match the word is ignored.
#[repr(C, align(64))]
#[derive(Debug, Default)]
pub struct MutexState {
    /// The lock word: holder pid (0: free), tag, [`WAITERS`].
    word: AtomicU64,
    /// Advanced by each release that found [`WAITERS`]: the futex word sleepers wait on.
    wake: AtomicU32,
    /// Sequence lock of the record below: odd while the holder writes it.
    seq: AtomicU32,
    /// The lock word (pid + tag, no waiters bit) of the holder that wrote the record.
    rec_key: AtomicU64,
    /// That holder's process start time.
    rec_start: AtomicU64,
    /// That holder's thread id.
    rec_tid: AtomicU32,
    /// How many times a holder was found dead (a statistic).
    deaths: AtomicU32,
    _pad: [u32; 6],
}

#[cfg(not(loom))]
const _: () = assert!(std::mem::size_of::<MutexState>() == 64);

impl MutexState {
    /// A free mutex.
    #[cfg(not(loom))]
    pub const fn new() -> MutexState {
        MutexState {
            word: AtomicU64::new(0),
            wake: AtomicU32::new(0),
            seq: AtomicU32::new(0),
            rec_key: AtomicU64::new(0),
            rec_start: AtomicU64::new(0),
            rec_tid: AtomicU32::new(0),
            deaths: AtomicU32::new(0),
            _pad: [0; 6],
        }
    }

    /// A free mutex (loom's atomics have no `const` constructor).
    #[cfg(loom)]
    pub fn new() -> MutexState {
        MutexState::default()
    }

    /// Reset to free (the owner does this at creation).
    pub fn init(&self) {
        self.seq.store(0, Ordering::Relaxed);
        self.rec_key.store(0, Ordering::Relaxed);
        self.rec_start.store(0, Ordering::Relaxed);
        self.rec_tid.store(0, Ordering::Relaxed);
        self.deaths.store(0, Ordering::Relaxed);
        self.wake.store(0, Ordering::Relaxed);
        self.word.store(0, Ordering::Release);
    }

    /// How many holders were found dead since creation.
    pub fn deaths(&self) -> u32 {
        self.deaths.load(Ordering::Relaxed)
    }

    /// The current holder, if the lock is held: its pid, and its start time once it
    /// has published it (else 0).
    pub fn holder(&self) -> Option<ProcessId> {
        let w = self.word.load(Ordering::Acquire);
        (pid_of(w) != 0).then(|| self.identity(w, &OsHost).0)
    }

    /// Publish the record of the holder of lock word `key` (the caller).
    fn publish(&self, key: u64, me: &Me, host: &impl Host) {
        // Only the holder writes; a holder that died mid-write left `seq` odd, and it
        // stays odd until the end of this write.
        let odd = self.seq.load(Ordering::Relaxed) | 1;
        self.seq.store(odd, Ordering::Relaxed);
        fence(Ordering::Release);
        self.rec_key.store(key, Ordering::Relaxed);
        host.reach("mutex.lock.mid_record");
        self.rec_start
            .store(me.process.start_time, Ordering::Relaxed);
        self.rec_tid.store(me.tid, Ordering::Relaxed);
        self.seq.store(odd.wrapping_add(1), Ordering::Release);
    }

    /// The record, if consistent: (key, start time, thread id).
    fn read_record(&self, host: &impl Host) -> Option<(u64, u64, u32)> {
        let s1 = self.seq.load(Ordering::Acquire);
        if s1 & 1 == 1 {
            return None;
        }
        let key = self.rec_key.load(Ordering::Relaxed);
        host.reach("mutex.record.mid_read");
        let start = self.rec_start.load(Ordering::Relaxed);
        let tid = self.rec_tid.load(Ordering::Relaxed);
        fence(Ordering::Acquire);
        (self.seq.load(Ordering::Relaxed) == s1).then_some((key, start, tid))
    }

    /// The holder named by held lock word `w`: its process (start time 0 unless its
    /// record is published) and its thread id (if published).
    fn identity(&self, w: u64, host: &impl Host) -> (ProcessId, Option<u32>) {
        let pid = pid_of(w);
        match self.read_record(host) {
            Some((key, start_time, tid)) if key == key_of(w) => {
                (ProcessId { pid, start_time }, Some(tid))
            }
            _ => (ProcessId { pid, start_time: 0 }, None),
        }
    }

    /// Whether held lock word `w` is the caller's.
    fn held_by(&self, w: u64, me: &Me, host: &impl Host) -> bool {
        pid_of(w) == me.process.pid && self.identity(w, host) == (me.process, Some(me.tid))
    }

    /// Try once to take the lock, without waiting.
    ///
    /// `Ok(true)`: taken; `Ok(false)`: held by a live holder; `Err(OwnerDied)`: taken
    /// over from a dead holder (the caller holds it).
    pub fn try_lock(&self) -> Result<bool, LockError> {
        self.try_acquire(&OsHost, &OsHost.me(), false)
    }

    /// Take the lock if the word is free (keeping or setting [`WAITERS`]).
    fn try_acquire(&self, host: &impl Host, me: &Me, waiters: bool) -> Result<bool, LockError> {
        let w = self.word.load(Ordering::Relaxed);
        if pid_of(w) != 0 {
            if self.held_by(w, me, host) {
                return Err(LockError::WouldDeadlock);
            }
            return Ok(false);
        }
        host.reach("mutex.lock.before_word");
        let mine = taken(w, me.process.pid, waiters || w & WAITERS != 0);
        if self
            .word
            .compare_exchange(w, mine, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return Ok(false);
        }
        host.reach("mutex.lock.after_word");
        self.publish(key_of(mine), me, host);
        host.reach("mutex.lock.after_record");
        Ok(true)
    }

    /// Take over from the holder named by held lock word `w` if it is dead and the word
    /// still names it.
    fn try_take_over(&self, w: u64, me: &Me, host: &impl Host) -> Result<(), LockError> {
        let (previous, _) = self.identity(w, host);
        if host.is_alive(previous) {
            return Ok(());
        }
        let mine = taken(w, me.process.pid, w & WAITERS != 0);
        if self
            .word
            .compare_exchange(w, mine, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return Ok(());
        }
        // Counted at once, so that a taker that dies in turn does not hide the death.
        self.deaths.fetch_add(1, Ordering::Relaxed);
        host.reach("mutex.takeover.after_word");
        self.publish(key_of(mine), me, host);
        Err(LockError::OwnerDied { previous })
    }

    /// Take the lock, waiting at most `timeout` (`None`: for ever).
    ///
    /// `Ok(())`: the caller holds the lock. `Err(OwnerDied)`: the caller holds the lock,
    /// taken from a holder that died. `Err(TimedOut)`, `Err(WouldDeadlock)`: it does not.
    ///
    /// A sleeping waiter checks every [`LIVENESS_PERIOD`] that the holder lives.
    pub fn lock(
        &self,
        parker: &Parker,
        strategy: WaitStrategy,
        timeout: Option<Duration>,
    ) -> Result<(), LockError> {
        self.lock_as(&OsHost, parker, strategy, timeout)
    }

    /// [`lock`](Self::lock) for the caller `host` describes.
    pub(crate) fn lock_as(
        &self,
        host: &impl Host,
        parker: &Parker,
        strategy: WaitStrategy,
        timeout: Option<Duration>,
    ) -> Result<(), LockError> {
        let me = host.me();
        if self.try_acquire(host, &me, false)? {
            return Ok(());
        }
        let deadline = Deadline::after(timeout);
        let mut got = Ok(false);
        if strategy.spin(deadline, || {
            got = self.try_acquire(host, &me, false);
            !matches!(got, Ok(false))
        }) {
            return got.map(|_| ());
        }
        loop {
            // The wake counter first: a release after this load changes it, and the
            // sleep below then returns at once.
            let seen = self.wake.load(Ordering::Acquire);
            let w = self.word.load(Ordering::Acquire);
            if pid_of(w) == 0 {
                // Having slept, take the lock as "contended": others may sleep too.
                if self.try_acquire(host, &me, true)? {
                    return Ok(());
                }
                continue;
            }
            self.try_take_over(w, &me, host)?;
            if w & WAITERS == 0
                && self
                    .word
                    .compare_exchange(w, w | WAITERS, Ordering::Relaxed, Ordering::Relaxed)
                    .is_err()
            {
                continue;
            }
            if deadline.passed() {
                return Err(LockError::TimedOut(timeout.unwrap_or_default()));
            }
            parker.wait(&self.wake, seen, deadline.remaining(Some(LIVENESS_PERIOD)));
        }
    }

    /// Release the lock. Enters the kernel only if someone sleeps on it.
    ///
    /// Releasing a lock this thread does not hold is a logic error: it is ignored (the
    /// lock stays with its holder) and reported by the `false` return.
    pub fn unlock(&self, parker: &Parker) -> bool {
        self.unlock_as(&OsHost, parker)
    }

    /// [`unlock`](Self::unlock) for the caller `host` describes.
    pub(crate) fn unlock_as(&self, host: &impl Host, parker: &Parker) -> bool {
        let me = host.me();
        let mut w = self.word.load(Ordering::Relaxed);
        loop {
            if pid_of(w) == 0 || !self.held_by(w, &me, host) {
                return false;
            }
            host.reach("mutex.unlock.before_release");
            // From this caller's own word only: a waiter may have set WAITERS meanwhile
            // (then retry with it), but nobody else's lock is ever released.
            match self
                .word
                .compare_exchange(w, released(w), Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(now) => w = now,
            }
        }
        host.reach("mutex.unlock.after_release");
        let waiters = w & WAITERS != 0;
        if waiters {
            self.wake.fetch_add(1, Ordering::Release);
        }
        host.reach("mutex.unlock.after_wake_count");
        if waiters {
            parker.wake(&self.wake, 1);
        }
        true
    }
}

#[cfg(all(test, not(loom)))]
mod tests;
