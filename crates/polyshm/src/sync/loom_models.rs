//! Model checks (loom) of the semaphore and the robust mutex, run on the very code the
//! processes run: `sync::atomic` hands out loom's atomics under `--cfg loom`, the
//! [`Parker`] is loom's stand-in, and threads stand in for processes through a
//! [`Host`] of their own, so that a "process" can die between any two steps of the
//! protocol (at its fault points). Run with `scripts/loom.sh`.

use super::host::{Host, Me};
use super::{LockError, MutexState, Parker, SemaphoreState, WaitStrategy};
use loom::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use loom::sync::Arc;
use polyshm_sys::ProcessId;

/// Keeps each model within a couple of minutes.
const PREEMPTIONS: usize = 3;

/// Check model `name` (every interleaving up to the preemption bound; the
/// `LOOM_MAX_PREEMPTIONS` variable overrides it) and print how many were run.
fn model(name: &str, f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(PREEMPTIONS);
    }
    let runs = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = runs.clone();
    b.check(move || {
        counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        f();
    });
    println!(
        "loom model {name}: {} interleavings checked",
        runs.load(std::sync::atomic::Ordering::Relaxed)
    );
}

/// A thread standing in for process `pid` (tid = pid), alive while `alive[pid]`.
struct ModelHost {
    pid: u32,
    alive: Arc<[AtomicBool; 4]>,
    /// The fault point where this "process" dies, if any.
    dies_at: Option<&'static str>,
}

/// The unwinding payload of a "process" dying at its fault point.
struct Died;

impl Host for ModelHost {
    fn me(&self) -> Me {
        Me {
            process: ProcessId {
                pid: self.pid,
                start_time: u64::from(self.pid) * 100,
            },
            tid: self.pid,
        }
    }

    fn is_alive(&self, p: ProcessId) -> bool {
        let i = p.pid as usize;
        i < 4
            && self.alive[i].load(Ordering::SeqCst)
            && (p.start_time == 0 || p.start_time == u64::from(p.pid) * 100)
    }

    fn reach(&self, point: &'static str) {
        if self.dies_at == Some(point) {
            std::panic::resume_unwind(Box::new(Died));
        }
    }
}

impl ModelHost {
    /// Run `f` as this "process"; if it dies at its fault point, mark it dead (as the
    /// OS would once it is gone) and answer `None`.
    fn run<T>(&self, f: impl FnOnce() -> T) -> Option<T> {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
            Ok(v) => Some(v),
            Err(payload) if payload.is::<Died>() => {
                self.alive[self.pid as usize].store(false, Ordering::SeqCst);
                None
            }
            Err(payload) => std::panic::resume_unwind(payload),
        }
    }
}

fn all_alive() -> Arc<[AtomicBool; 4]> {
    Arc::new([
        AtomicBool::new(false),
        AtomicBool::new(true),
        AtomicBool::new(true),
        AtomicBool::new(true),
    ])
}

/// One signal, one untimed waiter whose sleeps never time out: a lost wake-up would
/// leave the waiter asleep for ever, which loom reports as a deadlock. The count ends
/// exact.
#[test]
fn semaphore_one_signal_wakes_the_sleeper() {
    model("semaphore_one_signal_wakes_the_sleeper", || {
        let s = Arc::new(SemaphoreState::new(0));
        let p = Parker::model(false);
        let (s2, p2) = (s.clone(), p.clone());
        let t = loom::thread::spawn(move || s2.signal(&p2).unwrap());
        s.wait(&p, WaitStrategy::Block, None).unwrap();
        t.join().unwrap();
        assert_eq!(s.count(), 0);
        assert_eq!(s.sleepers(), 0);
    });
}

/// Two signals, two waiters, a pre-existing signal taken by `try_wait`: every signal
/// is taken exactly once (timeouts fire here: with two waiters a wake-up may wait for
/// the waiter's next re-check, see `SemaphoreState::signal`).
#[test]
fn semaphore_two_waiters_count_exact() {
    model("semaphore_two_waiters_count_exact", || {
        let s = Arc::new(SemaphoreState::new(1));
        let p = Parker::model(true);
        let signaler = {
            let (s, p) = (s.clone(), p.clone());
            loom::thread::spawn(move || {
                s.signal(&p).unwrap();
                s.signal(&p).unwrap();
            })
        };
        let waiter = {
            let (s, p) = (s.clone(), p.clone());
            loom::thread::spawn(move || s.wait(&p, WaitStrategy::Block, None).unwrap())
        };
        s.wait(&p, WaitStrategy::Block, None).unwrap();
        waiter.join().unwrap();
        signaler.join().unwrap();
        assert!(s.try_wait(), "one signal must be left");
        assert_eq!(s.count(), 0);
    });
}

/// Run `lock`, a critical section that checks it is alone, `unlock`, as `host`.
fn locked_once(
    m: &MutexState,
    p: &Parker,
    inside: &AtomicU32,
    host: &ModelHost,
) -> Result<(), LockError> {
    let r = m.lock_as(host, p, WaitStrategy::Block, None);
    assert!(
        matches!(r, Ok(()) | Err(LockError::OwnerDied { .. })),
        "{r:?}"
    );
    assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two holders");
    inside.fetch_sub(1, Ordering::SeqCst);
    assert!(m.unlock_as(host, p));
    r
}

/// Two "processes" lock and unlock: never two holders, no lost wake-up (sleeps never
/// time out: a waiter left asleep is a deadlock loom reports), the lock ends free.
#[test]
fn mutex_mutual_exclusion_and_no_lost_wake_up() {
    model("mutex_mutual_exclusion_and_no_lost_wake_up", || {
        let m = Arc::new(MutexState::new());
        let p = Parker::model(false);
        let inside = Arc::new(AtomicU32::new(0));
        let alive = all_alive();
        let t = {
            let (m, p, inside, alive) = (m.clone(), p.clone(), inside.clone(), alive.clone());
            loom::thread::spawn(move || {
                let h = ModelHost {
                    pid: 1,
                    alive,
                    dies_at: None,
                };
                assert_eq!(locked_once(&m, &p, &inside, &h), Ok(()));
            })
        };
        let h = ModelHost {
            pid: 2,
            alive,
            dies_at: None,
        };
        assert_eq!(locked_once(&m, &p, &inside, &h), Ok(()));
        t.join().unwrap();
        assert!(m.holder().is_none());
    });
}

/// "Process" 1 dies at fault point `point` of its lock/unlock; "process" 2 locks
/// meanwhile, then "process" 3 after both. Nobody hangs (sleepers' timeouts fire so
/// that they re-check the holder's liveness), never two holders, `OwnerDied` exactly
/// when the dead one held the lock, naming it.
fn takeover_at(point: &'static str) {
    model(point, move || {
        let m = Arc::new(MutexState::new());
        let p = Parker::model(true);
        let inside = Arc::new(AtomicU32::new(0));
        let alive = all_alive();
        let dying = {
            let (m, p, inside, alive) = (m.clone(), p.clone(), inside.clone(), alive.clone());
            loom::thread::spawn(move || {
                let h = ModelHost {
                    pid: 1,
                    alive,
                    dies_at: Some(point),
                };
                h.run(|| locked_once(&m, &p, &inside, &h))
            })
        };
        let h2 = ModelHost {
            pid: 2,
            alive: alive.clone(),
            dies_at: None,
        };
        let r2 = locked_once(&m, &p, &inside, &h2);
        let r1 = dying.join().unwrap();
        let h3 = ModelHost {
            pid: 3,
            alive,
            dies_at: None,
        };
        let r3 = locked_once(&m, &p, &inside, &h3);
        let mut died = 0;
        for r in [r2, r3] {
            if let Err(LockError::OwnerDied { previous }) = r {
                assert_eq!(previous.pid, 1, "{point}: only process 1 died");
                died += 1;
            }
        }
        assert!(
            r1.is_none(),
            "{point}: process 1 never reached its fault point"
        );
        let died_holding = !point.starts_with("mutex.unlock.after");
        assert_eq!(died, u32::from(died_holding), "{point}: OwnerDied reports");
        assert_eq!(m.deaths(), died, "{point}");
        assert!(m.holder().is_none());
    });
}

#[test]
fn mutex_takeover_lock_after_word() {
    takeover_at("mutex.lock.after_word");
}

#[test]
fn mutex_takeover_lock_mid_record() {
    takeover_at("mutex.lock.mid_record");
}

#[test]
fn mutex_takeover_lock_after_record() {
    takeover_at("mutex.lock.after_record");
}

#[test]
fn mutex_takeover_unlock_before_release() {
    takeover_at("mutex.unlock.before_release");
}

#[test]
fn mutex_takeover_unlock_after_release() {
    takeover_at("mutex.unlock.after_release");
}

#[test]
fn mutex_takeover_unlock_after_wake_count() {
    takeover_at("mutex.unlock.after_wake_count");
}

/// The mailbox hand-over of the team's `Shm` transport (study 8.7), on the real
/// semaphores: the master writes the request area and its descriptor and signals
/// `to_drone`; the drone waits, reads them, writes the result area and signals
/// `to_master`; the master waits and reads the result, then reuses the areas for a
/// second request. The areas are loom `UnsafeCell`s, so loom reports any interleaving
/// in which one side touches an area while the other may still use it, and a lost
/// wake-up as a deadlock (the parkers' timeouts never fire here). (The mailbox itself
/// copies through segments, which loom cannot run; this is its protocol, step by
/// step.) On the first version of the defect-7 fix this model found a lost wake-up:
/// a signal's late reset of the sleeper count erased the registration the waiter had
/// made for the next round (see `SemaphoreState::signal`).
#[test]
fn mailbox_hand_over_orders_every_area_access() {
    use loom::cell::UnsafeCell;
    struct Mailbox {
        to_drone: SemaphoreState,
        to_master: SemaphoreState,
        /// (sequence number, request payload): the descriptor and the request area.
        request: UnsafeCell<(u32, u64)>,
        /// (sequence number, result payload).
        result: UnsafeCell<(u32, u64)>,
    }
    // SAFETY: the two threads share the cells on purpose: loom's UnsafeCell checks
    // every access and reports one that the protocol leaves unordered.
    unsafe impl Sync for Mailbox {}
    model("mailbox_hand_over_orders_every_area_access", || {
        let m = Arc::new(Mailbox {
            to_drone: SemaphoreState::new(0),
            to_master: SemaphoreState::new(0),
            request: UnsafeCell::new((0, 0)),
            result: UnsafeCell::new((0, 0)),
        });
        // One parker per semaphore: a futex wakes only the sleepers on its own word.
        let (pd, pm) = (Parker::model(false), Parker::model(false));
        let drone = {
            let (m, pd, pm) = (m.clone(), pd.clone(), pm.clone());
            loom::thread::spawn(move || {
                for _ in 0..2 {
                    m.to_drone.wait(&pd, WaitStrategy::Block, None).unwrap();
                    // SAFETY: loom's cell; the model checks the access.
                    let (seq, x) = m.request.with(|r| unsafe { *r });
                    // SAFETY: as above.
                    m.result.with_mut(|r| unsafe { *r = (seq, x * 10) });
                    m.to_master.signal(&pm).unwrap();
                }
            })
        };
        for seq in 1..=2u32 {
            // SAFETY: loom's cell; the model checks the access.
            m.request
                .with_mut(|r| unsafe { *r = (seq, u64::from(seq) + 6) });
            m.to_drone.signal(&pd).unwrap();
            m.to_master.wait(&pm, WaitStrategy::Block, None).unwrap();
            // SAFETY: as above.
            let reply = m.result.with(|r| unsafe { *r });
            assert_eq!(
                reply,
                (seq, (u64::from(seq) + 6) * 10),
                "the reply to this request"
            );
        }
        drone.join().unwrap();
        assert_eq!((m.to_drone.count(), m.to_master.count()), (0, 0));
    });
}
