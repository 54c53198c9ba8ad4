//! A counting semaphore in shared memory (the study's `RemoteSemaphore`).
//!
//! The study keeps a pair of mirrored semaphores, one per image, and sends
//! `#signalRemote` / `#waitRemote` messages between them because its VM has one
//! thread. Here both processes see one shared counter, so the pair is one object:
//! `signal` is `#signalLocal` + `#signalRemote`, `wait` is `#waitRemote` + `#waitLocal`.

use super::atomic::{AtomicU32, Ordering};
use super::{Deadline, Parker, WaitStrategy};
use std::time::Duration;

/// Longest single sleep of a waiter before it re-checks the count: bounds the delay
/// after a signaler that died between its increment and its wake-up.
pub const RECHECK_PERIOD: Duration = Duration::from_millis(50);

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

/// The shared words of a counting semaphore: 64 bytes, one cache line: the count and
/// the sleepers (8 bytes), then a [note](SemaphoreState::write_note) of
/// [`NOTE_LEN`] bytes that travels with the signal.
///
/// Any bit pattern is a valid state (the count is whatever the words say), so a
/// scribbled-on semaphore misbehaves but never causes undefined behaviour.
#[repr(C, align(64))]
#[derive(Debug, Default)]
pub struct SemaphoreState {
    /// Signals not yet taken. Also the futex word.
    count: AtomicU32,
    /// Low 16 bits: waiters asleep (or about to sleep) on `count`. High 16 bits: a
    /// generation, moved by every waiter that counts itself, so that a signal's reset
    /// of a stale count cannot erase a newer registration (see [`SemaphoreState::signal`]).
    sleepers: AtomicU32,
    /// The note: the rest of the cache line, as words written and read whole (std's
    /// atomics even under loom: the models do not use the note).
    note: [std::sync::atomic::AtomicU64; NOTE_WORDS],
}

/// Bytes of a semaphore's note: what its cache line holds besides the count and the
/// sleepers.
pub const NOTE_LEN: usize = 56;
const NOTE_WORDS: usize = NOTE_LEN / 8;

/// Where the note lies in a [`SemaphoreState`] (bytes from its start).
pub const NOTE_OFFSET: usize = 8;

#[cfg(not(loom))]
const _: () = assert!(
    std::mem::size_of::<SemaphoreState>() == 64
        && std::mem::offset_of!(SemaphoreState, note) == NOTE_OFFSET
        && NOTE_OFFSET + NOTE_LEN == 64
);

/// The sleeper count's bits in `SemaphoreState::sleepers` (the high 16 bits are a
/// generation, moved by every waiter that counts itself).
const SLEEPERS_MASK: u32 = 0xffff;
/// One step of the generation in `SemaphoreState::sleepers` (it wraps).
const SLEEPERS_GENERATION: u32 = 1 << 16;

impl SemaphoreState {
    /// A state with `initial` signals.
    #[cfg(not(loom))]
    pub const fn new(initial: u32) -> SemaphoreState {
        SemaphoreState {
            count: AtomicU32::new(initial),
            sleepers: AtomicU32::new(0),
            note: [const { std::sync::atomic::AtomicU64::new(0) }; NOTE_WORDS],
        }
    }

    /// A state with `initial` signals (loom's atomics have no `const` constructor).
    #[cfg(loom)]
    pub fn new(initial: u32) -> SemaphoreState {
        SemaphoreState {
            count: AtomicU32::new(initial),
            sleepers: AtomicU32::new(0),
            note: [const { std::sync::atomic::AtomicU64::new(0) }; NOTE_WORDS],
        }
    }

    /// Reset to `initial` signals and no sleepers (the owner does this at creation).
    pub fn init(&self, initial: u32) {
        self.sleepers.store(0, Ordering::Relaxed);
        self.count.store(initial, Ordering::Release);
    }

    /// Write the note: up to [`NOTE_LEN`] bytes that travel with the next signal, on
    /// the cache line the waiter is already watching (a small message needs no line
    /// of its own: one transfer between CPUs fewer per hand-over). Write it, then
    /// [`signal`](Self::signal); the waiter reads it with [`read_note`](Self::read_note)
    /// after its wait returned. The signal orders it (its increment is a release, the
    /// taking of it an acquire).
    ///
    /// The note is as untrusted as any shared byte: another process may write it at
    /// any time, so a reader checks what it read. Each 8-byte word is written whole.
    pub fn write_note(&self, note: &[u8; NOTE_LEN]) {
        for (word, bytes) in self.note.iter().zip(note.chunks_exact(8)) {
            let mut b = [0u8; 8];
            b.copy_from_slice(bytes);
            word.store(u64::from_ne_bytes(b), std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// A copy of the note (see [`write_note`](Self::write_note)).
    pub fn read_note(&self) -> [u8; NOTE_LEN] {
        let mut note = [0u8; NOTE_LEN];
        for (word, bytes) in self.note.iter().zip(note.chunks_exact_mut(8)) {
            bytes.copy_from_slice(
                &word
                    .load(std::sync::atomic::Ordering::Relaxed)
                    .to_ne_bytes(),
            );
        }
        note
    }

    /// Signals currently pending (a snapshot).
    pub fn count(&self) -> u32 {
        self.count.load(Ordering::Acquire)
    }

    /// Waiters counted as asleep (or about to sleep) now: a snapshot, for diagnostics.
    pub fn sleepers(&self) -> u32 {
        self.sleepers.load(Ordering::Relaxed) & SLEEPERS_MASK
    }

    /// Add one signal; enters the kernel only when a waiter sleeps.
    ///
    /// The count of sleepers is a hint, kept honest by the signals: a wake that finds
    /// nobody asleep resets it (a waiter that died counted would otherwise cost every
    /// later signal a system call). With two or more waiters on one semaphore, such a
    /// reset can leave a live waiter asleep uncounted; it then takes its signal at its
    /// next re-check, at most [`RECHECK_PERIOD`] later. Nothing is ever lost.
    pub fn signal(&self, parker: &Parker) -> Result<(), SemaphoreError> {
        crate::fault_point!("semaphore.signal.before_increment");
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
        crate::fault_point!("semaphore.signal.after_increment");
        // Read `sleepers` with a read-modify-write: the waiter counts itself with one
        // too, so the two are ordered in `sleepers`' modification order. If ours comes
        // first, the waiter's acquires our increment of the count (it sees the signal);
        // if the waiter's comes first, we see the sleeper. (Plain SeqCst loads would
        // need the store-buffering guarantee of SeqCst, which loom cannot check.)
        let sleepers = self.sleepers.fetch_add(0, Ordering::SeqCst);
        if sleepers & SLEEPERS_MASK != 0 && self.wake_one(parker) == 0 {
            // Counted sleepers, yet none asleep on the word: they are about to sleep
            // (and will see the new count, which the sleep compares against), or they
            // died counted. Forget the count, so that a dead waiter does not make every
            // later signal pay a system call; a live one counts itself again on its next
            // turn (sleeps are bounded, see `wait`).
            // Only while our signal is still pending: a counted waiter that lives then
            // sees it before it sleeps (the sleep compares the count against 0). Once
            // the count is 0 the sleeper we read may be one that already took our
            // signal and counted itself again for the next (this read can come that
            // late): erasing it would leave it asleep uncounted, its next signal
            // unannounced. The generation in `sleepers` makes the reset fail if any
            // waiter left or counted itself since the read. Both found by the loom
            // model `mailbox_hand_over_orders_every_area_access`.
            if self.count.load(Ordering::SeqCst) != 0 {
                let _ = self.sleepers.compare_exchange(
                    sleepers,
                    sleepers & !SLEEPERS_MASK,
                    Ordering::SeqCst,
                    Ordering::Relaxed,
                );
            }
        }
        Ok(())
    }

    /// Wake one waiter asleep on the count; answers how many woke (see
    /// [`Parker::wake`]). The only system call of [`SemaphoreState::signal`].
    fn wake_one(&self, parker: &Parker) -> usize {
        crate::fault_point!("semaphore.signal.before_wake");
        parker.wake(&self.count, 1)
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
    /// `strategy` says. A sleeping waiter re-checks the count at least every
    /// [`RECHECK_PERIOD`].
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
            self.enter();
            crate::fault_point!("semaphore.wait.after_sleepers_inc");
            if self.try_wait() {
                self.leave();
                return Ok(());
            }
            // Never an unbounded sleep: a signaler that died between its increment and
            // its wake leaves a count nobody announces, found on the next turn.
            parker.wait(&self.count, 0, deadline.remaining(Some(RECHECK_PERIOD)));
            self.leave();
            if self.try_wait() {
                return Ok(());
            }
            if deadline.passed() {
                return Err(SemaphoreError::TimedOut(timeout.unwrap_or_default()));
            }
        }
    }

    /// Count this waiter as a sleeper, and move the generation.
    fn enter(&self) {
        self.sleepers
            .fetch_add(1 + SLEEPERS_GENERATION, Ordering::SeqCst);
    }

    /// Stop counting this waiter as a sleeper (never below 0: a signal may have
    /// forgotten the count already).
    fn leave(&self) {
        let _ = self
            .sleepers
            .fetch_update(Ordering::SeqCst, Ordering::Relaxed, |n| {
                (n & SLEEPERS_MASK != 0).then(|| n - 1)
            });
    }
}

#[cfg(all(test, not(loom)))]
mod tests;
