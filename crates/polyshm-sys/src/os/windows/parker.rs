//! Wait/wake on a 32-bit word in shared memory, through named kernel semaphores.

use super::handle::{wide, Handle};
use crate::{clamp_timeout, WaitOutcome};
use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use windows_sys::Win32::Foundation::{WAIT_OBJECT_0, WAIT_TIMEOUT};
use windows_sys::Win32::System::Threading::{
    CreateSemaphoreW, ReleaseSemaphore, WaitForSingleObject, INFINITE,
};

/// Most wake-ups a [`Parker`]'s semaphore keeps pending (its maximum count).
const MAX_PENDING_WAKES: i32 = 1 << 16;

/// 64-bit FNV-1a of `s`: names a parker's semaphore after its key.
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Wait/wake on a 32-bit word in shared memory, through a named kernel semaphore
/// `Local\polyshm-w.<hash of key>` (`WaitOnAddress` would be the natural choice, but
/// it works only inside one process).
///
/// The word stays the truth, as with a futex: [`wait`](Self::wait) sleeps only if
/// `*word == expected`, and a waker changes the word *before* it calls
/// [`wake`](Self::wake), which releases the semaphore. A wake that lands between the
/// waiter's check and its sleep is not lost: the semaphore keeps the count, and the
/// sleep returns at once.
///
/// Differences from a futex that callers must allow for (polyshm's semaphore and mutex
/// do):
/// - wake-ups may be spurious: a `wake(n)` when fewer than `n` are asleep leaves
///   counts that let later waits return at once (at most 65,536 are kept);
/// - every word needs its own key: words sharing a key share the semaphore, and a wake
///   meant for one may be taken by a waiter on the other (who re-checks and sleeps
///   again) while the right waiter sleeps on until its timeout. Both sides must pass
///   the same key for the same word.
#[derive(Debug)]
pub struct Parker {
    sem: Handle,
}

impl Parker {
    /// `CreateSemaphoreW(0, 65536, "Local\polyshm-w.<hash of key>")`: opens the
    /// semaphore, creating it if this is the first parker for `key`. (`polyshm-w.`
    /// cannot clash with a segment: their names all start `polyshm.`.)
    pub fn new(key: &str) -> io::Result<Parker> {
        let name = wide(&format!("Local\\polyshm-w.{:016x}", fnv1a(key)));
        // SAFETY: `name` is NUL-terminated and outlives the call; default security.
        let raw =
            unsafe { CreateSemaphoreW(std::ptr::null(), 0, MAX_PENDING_WAKES, name.as_ptr()) };
        Ok(Parker {
            sem: Handle::from_raw(raw)?,
        })
    }

    /// Sleep while `*word == expected`, up to `timeout` (rounded up to whole
    /// milliseconds): `WaitForSingleObject` on the semaphore.
    pub fn wait(&self, word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> WaitOutcome {
        if word.load(Ordering::SeqCst) != expected {
            return WaitOutcome::Woken;
        }
        let ms = match timeout {
            None => INFINITE,
            Some(t) => {
                let t = clamp_timeout(t);
                let ms = t.as_millis() + u128::from(!t.subsec_nanos().is_multiple_of(1_000_000));
                u32::try_from(ms).unwrap_or(INFINITE - 1).min(INFINITE - 1)
            }
        };
        // SAFETY: `self.sem` is a valid semaphore handle for the life of `self`.
        match unsafe { WaitForSingleObject(self.sem.0, ms) } {
            WAIT_TIMEOUT => WaitOutcome::TimedOut,
            // WAIT_OBJECT_0, or a failure: the caller re-checks its word either way.
            WAIT_OBJECT_0 => WaitOutcome::Woken,
            _ => WaitOutcome::Woken,
        }
    }

    /// Release the semaphore `count` times (at most 65,536): wakes up to `count`
    /// sleepers, or lets as many later waits return at once. Returns how many
    /// releases were made.
    pub fn wake(&self, _word: &AtomicU32, count: u32) -> usize {
        let n = count.min(MAX_PENDING_WAKES as u32) as i32;
        if n == 0 {
            return 0;
        }
        // SAFETY: valid semaphore handle; a null previous-count pointer is allowed.
        if unsafe { ReleaseSemaphore(self.sem.0, n, std::ptr::null_mut()) } != 0 {
            return n as usize;
        }
        // The maximum count would be passed: as many wakes as fit are pending already.
        let mut done = 0;
        // SAFETY: as above.
        while done < n && unsafe { ReleaseSemaphore(self.sem.0, 1, std::ptr::null_mut()) } != 0 {
            done += 1;
        }
        done as usize
    }
}
