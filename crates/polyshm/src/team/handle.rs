//! [`TaskHandle`]: a task started with [`Team::submit`](super::Team::submit), and
//! [`wait_any`] for the first of many.

use super::error::TeamError;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Rung whenever any submitted task of this process finishes (what [`wait_any`]
/// sleeps on): a generation count and its condition variable.
static BELL: (Mutex<u64>, Condvar) = (Mutex::new(0), Condvar::new());

/// Ring the bell: a task finished.
pub(crate) fn ring() {
    let mut g = BELL.0.lock().unwrap_or_else(|p| p.into_inner());
    *g = g.wrapping_add(1);
    BELL.1.notify_all();
}

/// A task started with [`Team::submit`](super::Team::submit).
#[derive(Debug)]
pub struct TaskHandle<R> {
    rx: mpsc::Receiver<Result<R, TeamError>>,
    cancel: Arc<AtomicBool>,
    /// Whether its result was already taken (by [`wait_any`]).
    taken: bool,
}

fn gone() -> TeamError {
    TeamError::Config("the task's thread ended without an answer".into())
}

impl<R> TaskHandle<R> {
    pub(crate) fn new(rx: mpsc::Receiver<Result<R, TeamError>>, cancel: Arc<AtomicBool>) -> Self {
        TaskHandle {
            rx,
            cancel,
            taken: false,
        }
    }

    /// Wait for the result (the task's own waits are bounded: a dead drone or a passed
    /// deadline ends it).
    pub fn wait(self) -> Result<R, TeamError> {
        if self.taken {
            return Err(taken());
        }
        self.rx.recv().unwrap_or_else(|_| Err(gone()))
    }

    /// Wait at most `timeout`: `None` if the task is still running (ask again later).
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<Result<R, TeamError>> {
        if self.taken {
            return Some(Err(taken()));
        }
        match self.rx.recv_timeout(timeout) {
            Ok(r) => Some(r),
            Err(mpsc::RecvTimeoutError::Timeout) => None,
            Err(mpsc::RecvTimeoutError::Disconnected) => Some(Err(gone())),
        }
    }

    /// Cancel the task: if it has not started it never will; if a drone runs it, that
    /// drone is killed and replaced. Answers how the task ended (`Cancelled`, or its
    /// result if it finished first).
    pub fn cancel(self) -> Result<R, TeamError> {
        self.cancel.store(true, Ordering::Release);
        self.wait()
    }

    /// The result if the task has finished, without waiting.
    fn try_take(&mut self) -> Option<Result<R, TeamError>> {
        if self.taken {
            return None;
        }
        let r = match self.rx.try_recv() {
            Ok(r) => r,
            Err(mpsc::TryRecvError::Empty) => return None,
            Err(mpsc::TryRecvError::Disconnected) => Err(gone()),
        };
        self.taken = true;
        Some(r)
    }
}

fn taken() -> TeamError {
    TeamError::Arguments("the result of this task was already taken by wait_any".into())
}

/// Wait for the first of `handles` to finish: answers its index and result (that
/// handle is spent: waiting on it again is an error), or `None` if every handle is
/// spent (or there are none). Handles of several teams may be mixed.
///
/// ```no_run
/// # fn main() -> Result<(), polyshm::team::TeamError> {
/// use polyshm::team::{wait_any, Task, Tasks, Team};
/// let mut tasks = Tasks::new();
/// let slow: Task<u64, u64> = tasks.task("slow", |ms| { std::thread::sleep(std::time::Duration::from_millis(ms)); ms });
/// polyshm::team::drone_main(&tasks);
/// let team = Team::builder(tasks).drones(2).spawn()?;
/// let mut handles = vec![team.submit(&slow, 500), team.submit(&slow, 10)];
/// let (first, r) = wait_any(&mut handles).expect("two handles");
/// assert_eq!((first, r?), (1, 10));
/// # Ok(()) }
/// ```
pub fn wait_any<R>(handles: &mut [TaskHandle<R>]) -> Option<(usize, Result<R, TeamError>)> {
    loop {
        let generation = *BELL.0.lock().unwrap_or_else(|p| p.into_inner());
        if handles.iter().all(|h| h.taken) {
            return None;
        }
        for (i, h) in handles.iter_mut().enumerate() {
            if let Some(r) = h.try_take() {
                return Some((i, r));
            }
        }
        // Sleep until some task finishes (a ring after the look above changed the
        // generation: no lost wake-up); bounded, so a missed ring costs a slice only.
        let g = BELL.0.lock().unwrap_or_else(|p| p.into_inner());
        let end = Instant::now() + Duration::from_millis(100);
        let _ = BELL
            .1
            .wait_timeout_while(g, end.saturating_duration_since(Instant::now()), |g| {
                *g == generation
            });
    }
}
