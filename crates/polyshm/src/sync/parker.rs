//! The sleep/wake path of the sync layer: the platform's [`Parker`] (a futex on
//! Linux), or, in the loom models (`--cfg loom`), a stand-in built on loom's own
//! `Mutex` and `Condvar` that loom can see.

#[cfg(not(loom))]
pub use polyshm_sys::Parker;

#[cfg(loom)]
pub use model::Parker;

#[cfg(loom)]
mod model {
    use super::super::atomic::{AtomicU32, Ordering};
    use loom::sync::{Arc, Condvar, Mutex};
    use polyshm_sys::WaitOutcome;
    use std::time::Duration;

    /// A futex for the model: `wait` sleeps on a condition variable while the word
    /// holds the expected value, checked under the mutex `wake` takes after its
    /// caller's store, so no wake-up is lost that a futex would not lose.
    ///
    /// With `timeouts_fire` off, a timed wait sleeps like an untimed one: a protocol
    /// that needs its timeout to make progress then deadlocks, and loom reports it.
    /// With it on, a timed wait whose word still holds the value yields and returns
    /// `TimedOut` (the timeout "passed").
    #[derive(Debug, Clone)]
    pub struct Parker {
        inner: Arc<(Mutex<u32>, Condvar)>,
        timeouts_fire: bool,
    }

    impl Parker {
        /// A stand-in with timeouts that never fire (`key` is unused).
        pub fn new(_key: &str) -> std::io::Result<Parker> {
            Ok(Parker::model(false))
        }

        /// A stand-in; `timeouts_fire` as described on the type.
        pub fn model(timeouts_fire: bool) -> Parker {
            Parker {
                inner: Arc::new((Mutex::new(0), Condvar::new())),
                timeouts_fire,
            }
        }

        /// Sleep while `*word == expected` (see the type).
        pub fn wait(
            &self,
            word: &AtomicU32,
            expected: u32,
            timeout: Option<Duration>,
        ) -> WaitOutcome {
            let (lock, cv) = &*self.inner;
            let mut sleeping = lock.lock().unwrap();
            if word.load(Ordering::SeqCst) != expected {
                return WaitOutcome::Woken;
            }
            if timeout.is_some() && self.timeouts_fire {
                drop(sleeping);
                loom::thread::yield_now();
                return WaitOutcome::TimedOut;
            }
            *sleeping += 1;
            let mut sleeping = cv.wait(sleeping).unwrap();
            *sleeping -= 1;
            WaitOutcome::Woken
        }

        /// Wake up to `count` sleepers; answers how many slept.
        pub fn wake(&self, _word: &AtomicU32, count: u32) -> usize {
            let (lock, cv) = &*self.inner;
            let sleeping = lock.lock().unwrap();
            let n = (*sleeping).min(count);
            for _ in 0..n {
                cv.notify_one();
            }
            n as usize
        }
    }
}
