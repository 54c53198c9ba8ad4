//! A robust mutex in shared memory (the study's `accessLock`), in the manner of
//! Linux's robust futexes: the lock word holds the holder's thread id, and a record
//! beside it names the holder's process (pid + start time). A waiter that finds the
//! holder dead takes the lock over and is told so.

use super::atomic::{AtomicU32, AtomicU64, Ordering};
use super::{Deadline, WaitStrategy};
use polyshm_sys::{current_process, current_thread_id, is_alive, Parker, ProcessId};
use std::time::Duration;

/// Set in the lock word when some waiter may be asleep on it.
const WAITERS: u32 = 1 << 31;
/// How often a sleeping waiter wakes to check that the holder is still alive.
pub const LIVENESS_PERIOD: Duration = Duration::from_millis(10);

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
        /// The process that died.
        previous: ProcessId,
    },
    /// This thread already holds the lock: locking again would hang for ever.
    #[error("this thread already holds the lock; locking it again would deadlock")]
    WouldDeadlock,
}

/// The shared words of a robust mutex: 64 bytes, one cache line.
///
/// Any bit pattern is a valid state: a scribbled lock word names some thread id that is
/// (almost certainly) not alive, and the next locker takes the lock over as from a dead
/// holder.
#[repr(C, align(64))]
#[derive(Debug, Default)]
pub struct MutexState {
    /// 0 when free; else the holder's thread id, with [`WAITERS`] possibly set. The
    /// futex word.
    word: AtomicU32,
    /// Thread id the owner record below belongs to (0 while being written).
    owner_tid: AtomicU32,
    /// Holder's pid.
    owner_pid: AtomicU32,
    _pad0: u32,
    /// Holder's start time.
    owner_start: AtomicU64,
    /// How many times a holder was found dead (a statistic).
    deaths: AtomicU32,
    _pad: [u32; 9],
}

const _: () = assert!(std::mem::size_of::<MutexState>() == 64);

impl MutexState {
    /// A free mutex.
    pub const fn new() -> MutexState {
        MutexState {
            word: AtomicU32::new(0),
            owner_tid: AtomicU32::new(0),
            owner_pid: AtomicU32::new(0),
            _pad0: 0,
            owner_start: AtomicU64::new(0),
            deaths: AtomicU32::new(0),
            _pad: [0; 9],
        }
    }

    /// Reset to free (the owner does this at creation).
    pub fn init(&self) {
        self.owner_tid.store(0, Ordering::Relaxed);
        self.owner_pid.store(0, Ordering::Relaxed);
        self.owner_start.store(0, Ordering::Relaxed);
        self.deaths.store(0, Ordering::Relaxed);
        self.word.store(0, Ordering::Release);
    }

    /// How many holders were found dead since creation.
    pub fn deaths(&self) -> u32 {
        self.deaths.load(Ordering::Relaxed)
    }

    /// The current holder, if the lock is held and its record is complete.
    pub fn holder(&self) -> Option<ProcessId> {
        let w = self.word.load(Ordering::Acquire) & !WAITERS;
        if w == 0 {
            return None;
        }
        self.record_for(w)
    }

    fn record_for(&self, tid: u32) -> Option<ProcessId> {
        let pid = self.owner_pid.load(Ordering::Acquire);
        let start_time = self.owner_start.load(Ordering::Acquire);
        (self.owner_tid.load(Ordering::Acquire) == tid && pid != 0)
            .then_some(ProcessId { pid, start_time })
    }

    fn write_record(&self, tid: u32) {
        let me = current_process();
        self.owner_tid.store(0, Ordering::Release);
        self.owner_pid.store(me.pid, Ordering::Release);
        self.owner_start.store(me.start_time, Ordering::Release);
        self.owner_tid.store(tid, Ordering::Release);
    }

    /// Whether the holder named by lock word `w` is certainly dead.
    fn holder_dead(&self, w: u32) -> Option<ProcessId> {
        let tid = w & !WAITERS;
        match self.record_for(tid) {
            Some(p) if !is_alive(p) => Some(p),
            Some(_) => None,
            // Record not written (the holder died between taking the word and writing
            // it, or someone scribbled on the word): judge by the thread id alone, where
            // the platform can (on macOS it cannot, and such a lock is never taken over).
            None if polyshm_sys::THREAD_IDS_CHECKABLE
                && !is_alive(ProcessId {
                    pid: tid,
                    start_time: 0,
                }) =>
            {
                Some(ProcessId {
                    pid: tid,
                    start_time: 0,
                })
            }
            None => None,
        }
    }

    /// Try once to take the lock, without waiting.
    ///
    /// `Ok(true)`: taken; `Ok(false)`: held by a live holder; `Err(OwnerDied)`: taken
    /// over from a dead holder (the caller holds it).
    pub fn try_lock(&self) -> Result<bool, LockError> {
        let tid = current_thread_id();
        self.try_acquire(tid, 0)
    }

    fn try_acquire(&self, tid: u32, extra: u32) -> Result<bool, LockError> {
        let w = self.word.load(Ordering::Relaxed);
        if w == 0 {
            if self
                .word
                .compare_exchange(0, tid | extra, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                self.write_record(tid);
                return Ok(true);
            }
            return Ok(false);
        }
        if w & !WAITERS == tid && self.record_for(tid) == Some(current_process()) {
            return Err(LockError::WouldDeadlock);
        }
        Ok(false)
    }

    /// Take over from a dead holder, if the word still names it.
    fn try_take_over(&self, w: u32, tid: u32) -> Result<(), LockError> {
        if let Some(previous) = self.holder_dead(w) {
            if self
                .word
                .compare_exchange(w, tid | (w & WAITERS), Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                self.write_record(tid);
                self.deaths.fetch_add(1, Ordering::Relaxed);
                return Err(LockError::OwnerDied { previous });
            }
        }
        Ok(())
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
        let tid = current_thread_id();
        if self.try_acquire(tid, 0)? {
            return Ok(());
        }
        let deadline = Deadline::after(timeout);
        let mut got = Ok(false);
        if strategy.spin(deadline, || {
            got = self.try_acquire(tid, 0);
            !matches!(got, Ok(false))
        }) {
            return got.map(|_| ());
        }
        loop {
            let w = self.word.load(Ordering::Relaxed);
            if w == 0 {
                // Having slept, take the lock as "contended": others may sleep too.
                if self.try_acquire(tid, WAITERS)? {
                    return Ok(());
                }
                continue;
            }
            self.try_take_over(w, tid)?;
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
            parker.wait(
                &self.word,
                w | WAITERS,
                deadline.remaining(Some(LIVENESS_PERIOD)),
            );
        }
    }

    /// Release the lock. Enters the kernel only if someone sleeps on it.
    ///
    /// Releasing a lock this thread does not hold is a logic error: it is ignored (the
    /// lock stays with its holder) and reported by the `false` return.
    pub fn unlock(&self, parker: &Parker) -> bool {
        let tid = current_thread_id();
        let w = self.word.load(Ordering::Relaxed);
        if w & !WAITERS != tid {
            return false;
        }
        self.owner_tid.store(0, Ordering::Release);
        let old = self.word.swap(0, Ordering::Release);
        if old & WAITERS != 0 {
            parker.wake(&self.word, 1);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn lock_unlock_and_deadlock_detection() {
        let p = Parker::new("m").unwrap();
        let m = MutexState::new();
        m.lock(&p, WaitStrategy::Block, None).unwrap();
        assert_eq!(m.holder(), Some(current_process()));
        assert_eq!(
            m.lock(&p, WaitStrategy::Block, None),
            Err(LockError::WouldDeadlock)
        );
        assert!(m.unlock(&p));
        assert_eq!(m.holder(), None);
        assert!(!m.unlock(&p));
    }

    #[test]
    fn threads_count_exactly_and_time_out() {
        let m = Arc::new(MutexState::new());
        let counter = Arc::new(AtomicU32::new(0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (m, c) = (m.clone(), counter.clone());
                std::thread::spawn(move || {
                    let p = Parker::new("m").unwrap();
                    for _ in 0..2000 {
                        m.lock(&p, WaitStrategy::default(), None).unwrap();
                        // A non-atomic read-modify-write under the lock.
                        let v = c.load(Ordering::Relaxed);
                        c.store(v + 1, Ordering::Relaxed);
                        assert!(m.unlock(&p));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(counter.load(Ordering::Relaxed), 8000);
        let p = Parker::new("m").unwrap();
        m.lock(&p, WaitStrategy::Block, None).unwrap();
        let m2 = m.clone();
        let r = std::thread::spawn(move || {
            let p = Parker::new("m").unwrap();
            m2.lock(&p, WaitStrategy::Block, Some(Duration::from_millis(20)))
        })
        .join()
        .unwrap();
        assert_eq!(r, Err(LockError::TimedOut(Duration::from_millis(20))));
    }

    #[test]
    fn a_scribbled_word_naming_a_dead_thread_is_taken_over() {
        let p = Parker::new("m").unwrap();
        let m = MutexState::new();
        // A pid above the kernel's pid_max names no thread (on Windows, ids are
        // multiples of 4, and this one is far above any live one).
        m.word.store(4_194_305 | WAITERS, Ordering::Relaxed);
        if !polyshm_sys::THREAD_IDS_CHECKABLE {
            // Documented: where thread ids cannot be checked, such a lock stays held.
            let r = m.lock(&p, WaitStrategy::Block, Some(Duration::from_millis(30)));
            assert_eq!(r, Err(LockError::TimedOut(Duration::from_millis(30))));
            return;
        }
        match m.lock(&p, WaitStrategy::Block, Some(Duration::from_secs(5))) {
            Err(LockError::OwnerDied { previous }) => assert_eq!(previous.pid, 4_194_305),
            other => panic!("expected OwnerDied, got {other:?}"),
        }
        assert_eq!(m.deaths(), 1);
        assert!(m.unlock(&p));
    }
}
