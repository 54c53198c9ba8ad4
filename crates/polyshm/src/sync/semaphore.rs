//! A counting semaphore in shared memory (the study's `RemoteSemaphore`).
//!
//! The study keeps a pair of mirrored semaphores, one per image, and sends
//! `#signalRemote` / `#waitRemote` messages between them because its VM has one
//! thread. Here both processes see one shared counter, so the pair is one object:
//! `signal` is `#signalLocal` + `#signalRemote`, `wait` is `#waitRemote` + `#waitLocal`.

use super::atomic::{AtomicU32, Ordering};
use super::{Deadline, Parker, WaitStrategy};
use polyshm_sys::WaitOutcome;
use std::time::Duration;

/// Failure of a semaphore operation.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SemaphoreError {
    /// No signal arrived within the timeout.
    #[error("timed out after {0:?} waiting for the semaphore")]
    TimedOut(Duration),
    /// The count would pass `u32::MAX` (someone signals without anyone waiting, or
    /// another process scribbled on the counter).
    #[error("semaphore count overflow: it already holds {0} signals nobody took")]
    Overflow(u32),
}

/// The shared words of a counting semaphore: 64 bytes, one cache line.
///
/// Any bit pattern is a valid state (the count is whatever the words say), so a
/// scribbled-on semaphore misbehaves but never causes undefined behaviour.
#[repr(C, align(64))]
#[derive(Debug, Default)]
pub struct SemaphoreState {
    /// Signals not yet taken. Also the futex word.
    count: AtomicU32,
    /// Processes asleep (or about to sleep) on `count`.
    sleepers: AtomicU32,
    _pad: [u32; 14],
}

const _: () = assert!(std::mem::size_of::<SemaphoreState>() == 64);

impl SemaphoreState {
    /// A state with `initial` signals.
    pub const fn new(initial: u32) -> SemaphoreState {
        SemaphoreState {
            count: AtomicU32::new(initial),
            sleepers: AtomicU32::new(0),
            _pad: [0; 14],
        }
    }

    /// Reset to `initial` signals and no sleepers (the owner does this at creation).
    pub fn init(&self, initial: u32) {
        self.sleepers.store(0, Ordering::Relaxed);
        self.count.store(initial, Ordering::Release);
    }

    /// Signals currently pending (a snapshot).
    pub fn count(&self) -> u32 {
        self.count.load(Ordering::Acquire)
    }

    /// Add one signal; enters the kernel only when a waiter sleeps.
    pub fn signal(&self, parker: &Parker) -> Result<(), SemaphoreError> {
        let mut c = self.count.load(Ordering::Relaxed);
        loop {
            if c == u32::MAX {
                return Err(SemaphoreError::Overflow(c));
            }
            match self
                .count
                .compare_exchange_weak(c, c + 1, Ordering::SeqCst, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(now) => c = now,
            }
        }
        // SeqCst on both sides (count RMW here, sleepers RMW in `wait`) makes sure
        // that either the sleeper sees the new count or we see the sleeper.
        if self.sleepers.load(Ordering::SeqCst) != 0 {
            parker.wake(&self.count, 1);
        }
        Ok(())
    }

    /// Take a signal if one is pending.
    pub fn try_wait(&self) -> bool {
        let mut c = self.count.load(Ordering::Relaxed);
        while c != 0 {
            match self
                .count
                .compare_exchange_weak(c, c - 1, Ordering::SeqCst, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(now) => c = now,
            }
        }
        false
    }

    /// Wait for a signal, for at most `timeout` (`None`: for ever), spinning first as
    /// `strategy` says.
    pub fn wait(
        &self,
        parker: &Parker,
        strategy: WaitStrategy,
        timeout: Option<Duration>,
    ) -> Result<(), SemaphoreError> {
        if self.try_wait() {
            return Ok(());
        }
        let deadline = Deadline::after(timeout);
        if strategy.spin(deadline, || self.try_wait()) {
            return Ok(());
        }
        loop {
            self.sleepers.fetch_add(1, Ordering::SeqCst);
            if self.try_wait() {
                self.sleepers.fetch_sub(1, Ordering::SeqCst);
                return Ok(());
            }
            let outcome = parker.wait(&self.count, 0, deadline.remaining(None));
            self.sleepers.fetch_sub(1, Ordering::SeqCst);
            if self.try_wait() {
                return Ok(());
            }
            if outcome == WaitOutcome::TimedOut || deadline.passed() {
                return Err(SemaphoreError::TimedOut(timeout.unwrap_or_default()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn counts_and_times_out() {
        let p = Parker::new("t").unwrap();
        let s = SemaphoreState::new(2);
        assert!(s.try_wait());
        s.wait(&p, WaitStrategy::Block, Some(Duration::from_millis(1)))
            .unwrap();
        assert!(!s.try_wait());
        let e = s.wait(&p, WaitStrategy::default(), Some(Duration::from_millis(5)));
        assert_eq!(e, Err(SemaphoreError::TimedOut(Duration::from_millis(5))));
        s.signal(&p).unwrap();
        assert_eq!(s.count(), 1);
    }

    #[test]
    fn overflow_is_an_error() {
        let p = Parker::new("t").unwrap();
        let s = SemaphoreState::new(u32::MAX);
        assert_eq!(s.signal(&p), Err(SemaphoreError::Overflow(u32::MAX)));
    }

    #[test]
    fn wakes_a_sleeping_thread() {
        let s = Arc::new(SemaphoreState::new(0));
        let s2 = s.clone();
        let t = std::thread::spawn(move || {
            let p = Parker::new("t").unwrap();
            for _ in 0..1000 {
                s2.wait(&p, WaitStrategy::Block, Some(Duration::from_secs(10)))
                    .unwrap();
            }
        });
        let p = Parker::new("t").unwrap();
        for _ in 0..1000 {
            s.signal(&p).unwrap();
        }
        t.join().unwrap();
        assert_eq!(s.count(), 0);
    }
}
