//! Handing tasks to drones: the master's shared state ([`Inner`]), a drone taken for
//! one exchange ([`Session`]), the exchange itself with its fault handling (a dead,
//! late or misbehaving drone is replaced before the caller hears of it), and the
//! spreading of many inputs over the drones.

use super::builder::Config;
use super::call::{Call, Input, TaskKind};
use super::error::TeamError;
use super::launch::{Drone, MASTER_SLICE};
use super::protocol::{check_name, Status};
use super::tasks::Tasks;
use super::transport::{LinkError, Watch};
use crate::sync::saturating_deadline;
use polyshm_sys::ProcessId;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, TryLockError};
use std::time::Instant;

/// An answer and the index of its input.
type Numbered<T> = (usize, Result<T, TeamError>);

/// How often a task whose drone died is tried again when `retry_dead` is on.
const RETRIES: usize = 3;

/// The least request area [`Session::loan_area`] lends (what a mailbox holds inline).
const LOAN_AREA: usize = 64 * 1024;

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What a team shares between its handles and threads.
pub(crate) struct Inner {
    pub config: Config,
    pub program: PathBuf,
    /// The registry of what the drones serve (the master checks keys against it).
    pub tasks: Tasks,
    pub slots: Vec<Mutex<Option<Drone>>>,
    pub pids: Mutex<Vec<Option<ProcessId>>>,
    pub idle: IdleDrones,
}

/// How a caller finds a drone on no task: a drone is idle while its slot is unlocked,
/// so a caller takes the first slot it can lock (drone 0 first) with one atomic
/// operation and gives it back by unlocking it. Only when every slot is taken does a
/// caller count itself here and wait to be told of one freed.
pub(crate) struct IdleDrones {
    /// Callers waiting for a slot (changed under `state`).
    waiting: AtomicUsize,
    state: Mutex<()>,
    freed: Condvar,
}

/// A slot taken by a caller: its index and its lock.
type Taken<'a, T> = (usize, MutexGuard<'a, T>);

/// The first slot nobody holds, locked.
fn first_free<T>(slots: &[Mutex<T>]) -> Option<Taken<'_, T>> {
    slots
        .iter()
        .enumerate()
        .find_map(|(i, s)| match s.try_lock() {
            Ok(g) => Some((i, g)),
            Err(TryLockError::Poisoned(p)) => Some((i, p.into_inner())),
            Err(TryLockError::WouldBlock) => None,
        })
}

impl IdleDrones {
    pub(crate) fn new() -> IdleDrones {
        IdleDrones {
            waiting: AtomicUsize::new(0),
            state: Mutex::new(()),
            freed: Condvar::new(),
        }
    }

    /// A slot was given back (its lock already released). The waiters are told only
    /// when there are some: a notification is a system call (`futex` wake) even with
    /// no one to wake, and this is on every roundtrip's path.
    fn put(&self) {
        // Read with a read-modify-write, as the waiter counts itself with one: the two
        // are ordered in `waiting`'s modification order. If the waiter's comes first,
        // this sees it; if this comes first, the waiter's acquires it, and with it the
        // unlock before it, so the waiter's next look finds the slot free.
        if self.waiting.fetch_add(0, Ordering::SeqCst) > 0 {
            // Taken so that a waiter between its look and its wait is waiting when told.
            drop(lock(&self.state));
            self.freed.notify_one();
        }
    }

    /// Take a slot, waiting for one (or for a cancel).
    fn take<'a, T>(
        &self,
        slots: &'a [Mutex<T>],
        task: &str,
        cancel: Option<&AtomicBool>,
    ) -> Result<Taken<'a, T>, TeamError> {
        let cancelled = || cancel.is_some_and(|c| c.load(Ordering::Acquire));
        if cancelled() {
            return Err(TeamError::Cancelled { task: task.into() });
        }
        if let Some(taken) = first_free(slots) {
            return Ok(taken);
        }
        let mut s = lock(&self.state);
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let taken = loop {
            if cancelled() {
                break Err(TeamError::Cancelled { task: task.into() });
            }
            if let Some(taken) = first_free(slots) {
                break Ok(taken);
            }
            // Bounded: a notification missed would cost one slice, never a hang.
            s = self
                .freed
                .wait_timeout(s, MASTER_SLICE)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        };
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        taken
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        for s in &self.slots {
            if let Some(d) = lock(s).take() {
                d.shut_down();
            }
        }
    }
}

/// Tells waiting callers of a drone given back, once its slot is unlocked.
struct Lease<'a> {
    inner: &'a Inner,
    index: usize,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        self.inner.idle.put();
    }
}

/// The request of one exchange.
#[derive(Clone, Copy)]
pub(crate) enum Payload<'a> {
    /// These bytes (copied once into the medium).
    Bytes(&'a [u8]),
    /// The first `n` bytes of the loaned request area, already in place.
    Loaned(usize),
}

/// One drone, taken for an exchange: nobody else can use it (or its mailbox) until
/// this drops. Fields drop in order: the slot first (the drone is free again), then
/// the lease that tells waiting callers.
pub(crate) struct Session<'t> {
    slot: MutexGuard<'t, Option<Drone>>,
    lease: Lease<'t>,
    inner: &'t Inner,
}

impl<'t> Session<'t> {
    fn drone(&mut self) -> &mut Drone {
        self.slot.as_mut().expect("a session holds a live drone")
    }

    /// The payload of the last reply (valid until the next exchange).
    pub(crate) fn reply(&mut self) -> &[u8] {
        self.drone().link.reply_payload()
    }

    /// Lend the request area for `len` bytes (it stays where it is until the next
    /// exchange).
    pub(crate) fn loan(&mut self, task: &str, len: usize) -> Result<&mut [u8], TeamError> {
        self.inner.check_size(task, len)?;
        let index = self.lease.index;
        self.drone()
            .link
            .loan(len)
            .map_err(|e| TeamError::Transport {
                drone: index,
                task: task.into(),
                detail: e.to_string(),
            })
    }

    /// Lend the whole request area as it is now (at least [`LOAN_AREA`] bytes, at most
    /// the team's maximum message size), for a request whose size is not known before
    /// it is written (an archive). It stays where it is until the next exchange.
    pub(crate) fn loan_area(&mut self, task: &str) -> Result<&mut [u8], TeamError> {
        let cap = self
            .drone()
            .link
            .loan_capacity()
            .max(LOAN_AREA)
            .min(self.inner.config.max_message);
        self.loan(task, cap)
    }

    /// One roundtrip: the request to `task`, its reply left in the link (see
    /// [`reply`](Self::reply)). A task that failed in the drone is an error and the
    /// drone goes on; a dead, late, cancelled or misbehaving drone is replaced before
    /// this returns its error.
    pub(crate) fn exchange(
        &mut self,
        task: &str,
        payload: Payload<'_>,
        cancel: Option<&AtomicBool>,
    ) -> Result<(), TeamError> {
        check_name(task).map_err(|e| TeamError::Arguments(e.0))?;
        match payload {
            Payload::Bytes(b) => self.inner.check_size(task, b.len())?,
            Payload::Loaned(n) => self.inner.check_size(task, n)?,
        }
        let index = self.lease.index;
        let task_timeout = self.inner.config.task_timeout;
        let drone = self.drone();
        drone.seq += 1;
        let seq = drone.seq;
        let watch = Watch {
            peer: drone.id,
            // Without a task timeout no look at the clock (this is every call's path).
            deadline: task_timeout.map(|t| {
                let start = Instant::now();
                (start, saturating_deadline(start, t))
            }),
            cancel,
            slice: MASTER_SLICE,
        };
        drone.head.set_task(seq, task);
        let head = &drone.head;
        let sent = match payload {
            Payload::Bytes(b) => drone.link.send(head, b, &watch),
            Payload::Loaned(n) => drone.link.send_loaned(head, n, &watch),
        };
        let answer = sent.and_then(|()| drone.link.recv_reply(&watch));
        let pid = drone.id.pid;
        let err = match answer {
            // User code sees only the reply to this request (the links check it too).
            Ok(head) if head.seq == seq => {
                return match head.status {
                    Status::Ok => Ok(()),
                    s => Err(failure(s, task, index, self.reply())),
                }
            }
            Ok(head) => TeamError::Transport {
                drone: index,
                task: task.into(),
                detail: format!("reply to request {} where {seq} was expected", head.seq),
            },
            Err(e) => link_error(e, task, index, pid),
        };
        // The drone is dead, late, cancelled mid-task or out of step: replace it. If the
        // replacement cannot start now, the next call on this slot tries again.
        if let Some(d) = self.slot.take() {
            d.kill();
        }
        lock(&self.inner.pids)[index] = None;
        *self.slot = self.inner.launch(index).ok();
        Err(err)
    }
}

fn link_error(e: LinkError, task: &str, drone: usize, pid: u32) -> TeamError {
    match e {
        LinkError::PeerDied(_) => TeamError::DroneDied {
            drone,
            pid,
            task: task.into(),
        },
        LinkError::TimedOut(after) => TeamError::TimedOut {
            drone,
            pid,
            task: task.into(),
            after,
        },
        LinkError::Cancelled => TeamError::Cancelled { task: task.into() },
        LinkError::TooLarge { what, bytes, max } => TeamError::TooLarge {
            task: task.into(),
            what,
            bytes,
            max,
        },
        e => TeamError::Transport {
            drone,
            task: task.into(),
            detail: e.to_string(),
        },
    }
}

fn failure(status: Status, task: &str, drone: usize, bytes: &[u8]) -> TeamError {
    let message = String::from_utf8_lossy(bytes).into_owned();
    match status {
        Status::UnknownTask => TeamError::UnknownTask {
            task: task.into(),
            detail: message,
        },
        Status::InvalidArchive => TeamError::InvalidArchive {
            task: task.into(),
            what: "request",
            detail: message,
        },
        Status::Panicked => TeamError::Panicked {
            task: task.into(),
            drone,
            message,
        },
        _ => TeamError::Failed {
            task: task.into(),
            drone,
            message,
        },
    }
}

/// A codec error of `task`, in the master (an archive that fails its validation is a
/// result the master read: [`TeamError::InvalidArchive`]).
pub(crate) fn codec_error(task: &str) -> impl FnOnce(crate::codec::CodecError) -> TeamError + '_ {
    move |source| match source {
        e @ crate::codec::CodecError::InvalidArchive { .. } => TeamError::InvalidArchive {
            task: task.into(),
            what: "result",
            detail: e.to_string(),
        },
        source => TeamError::Codec {
            task: task.into(),
            source,
        },
    }
}

impl Inner {
    pub(crate) fn slot(&self, i: usize) -> MutexGuard<'_, Option<Drone>> {
        lock(&self.slots[i])
    }

    fn check_size(&self, task: &str, len: usize) -> Result<(), TeamError> {
        if len > self.config.max_message {
            return Err(TeamError::TooLarge {
                task: task.into(),
                what: "a request",
                bytes: len as u64,
                max: self.config.max_message as u64,
            });
        }
        Ok(())
    }

    /// Refuse a key the master's registry does not hold (or holds as another kind),
    /// before anything is sent.
    pub(crate) fn check_key<K: Call>(&self, key: &K) -> Result<(), TeamError> {
        self.check_kind(key.name(), key.kind())
    }

    /// Refuse a task the master's registry does not hold as a `kind`.
    pub(crate) fn check_kind(&self, name: &str, kind: TaskKind) -> Result<(), TeamError> {
        match self.tasks.kind(name) {
            Some(k) if k == kind => Ok(()),
            Some(k) => Err(TeamError::UnknownTask {
                task: name.into(),
                detail: format!(
                    "the master's Tasks holds it as a {k}, the key is a {kind}; register each name once"
                ),
            }),
            None => Err(TeamError::UnknownTask {
                task: name.into(),
                detail: format!(
                    "the master's Tasks does not hold it (it holds {}); register it in the Tasks that master and drones build",
                    self.tasks.names().join(", ")
                ),
            }),
        }
    }

    /// Take an idle drone (waiting for one, or for a cancel), starting it if its slot
    /// is empty.
    pub(crate) fn checkout(
        &self,
        task: &str,
        cancel: Option<&AtomicBool>,
    ) -> Result<Session<'_>, TeamError> {
        let (index, mut slot) = self.idle.take(&self.slots, task, cancel)?;
        let lease = Lease { inner: self, index };
        if slot.is_none() {
            *slot = Some(self.launch(lease.index)?);
        }
        Ok(Session {
            slot,
            lease,
            inner: self,
        })
    }

    /// One task on one drone: `bytes` in, the reply decoded by `decode`; with
    /// `retry`, a task whose drone died is tried again (the team's `retry_dead`).
    pub(crate) fn call<T>(
        &self,
        task: &str,
        bytes: &[u8],
        cancel: Option<&AtomicBool>,
        retry: bool,
        decode: &dyn Fn(&[u8]) -> Result<T, crate::codec::CodecError>,
    ) -> Result<T, TeamError> {
        let mut tries = 0;
        loop {
            let mut session = self.checkout(task, cancel)?;
            match session.exchange(task, Payload::Bytes(bytes), cancel) {
                Ok(()) => return decode(session.reply()).map_err(codec_error(task)),
                Err(TeamError::DroneDied { .. })
                    if retry && self.config.retry_dead && tries < RETRIES =>
                {
                    tries += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Run `key` on every input, spread over the drones: each drone takes the next
    /// input when it is free (inputs are drawn only then: one in flight per drone);
    /// answers in input order. The first error (in input order) wins; inputs not yet
    /// drawn are not run.
    pub(crate) fn map<K, I>(&self, key: &K, inputs: I) -> Result<Vec<K::Out>, TeamError>
    where
        K: Call,
        I: IntoIterator,
        I::IntoIter: Send,
        I::Item: Input<K::In> + Send,
    {
        let one = |item: I::Item| -> Result<K::Out, TeamError> {
            let bytes = key.request(item.input()).map_err(codec_error(key.name()))?;
            self.call(key.name(), &bytes, None, true, &|b| key.reply(b))
        };
        let mut iter = inputs.into_iter();
        if self.slots.len() == 1 {
            return iter.map(one).collect();
        }
        let source = Mutex::new(iter.by_ref().enumerate());
        let failed = AtomicBool::new(false);
        let results: Mutex<Vec<Numbered<K::Out>>> = Mutex::new(Vec::new());
        std::thread::scope(|s| {
            for _ in 0..self.slots.len() {
                s.spawn(|| loop {
                    if failed.load(Ordering::Relaxed) {
                        return;
                    }
                    let Some((i, item)) = lock(&source).next() else {
                        return;
                    };
                    let r = one(item);
                    if r.is_err() {
                        failed.store(true, Ordering::Relaxed);
                    }
                    lock(&results).push((i, r));
                });
            }
        });
        let mut results = results.into_inner().unwrap_or_else(|p| p.into_inner());
        results.sort_unstable_by_key(|(i, _)| *i);
        results.into_iter().map(|(_, r)| r).collect()
    }
}

#[cfg(test)]
mod tests;
