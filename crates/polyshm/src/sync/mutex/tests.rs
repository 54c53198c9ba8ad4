//! The mutex's unit tests, in one process: locking, deadlock detection, take-over of
//! a dead holder, the waiters bit and the wake counter, and the tag, against the words;
//! and, with hosts that stand in for other processes (`FakeHost`), what another
//! process sees while a step of the protocol is half done.

use super::*;
use polyshm_sys::current_process;
use std::sync::Arc;

/// The bound of every lock below: a lock that is never released fails the test
/// instead of hanging it (a watchdog, not a timing assertion).
const PATIENCE: Option<Duration> = Some(Duration::from_secs(15));

#[test]
fn lock_unlock_and_deadlock_detection() {
    let p = Parker::new("m").unwrap();
    let m = MutexState::new();
    m.lock(&p, WaitStrategy::Block, PATIENCE).unwrap();
    assert_eq!(m.holder(), Some(current_process()));
    assert_eq!(
        m.lock(&p, WaitStrategy::Block, PATIENCE),
        Err(LockError::WouldDeadlock)
    );
    assert!(m.unlock(&p));
    assert_eq!(m.holder(), None);
    assert!(!m.unlock(&p));
}

/// `try_lock` takes a free lock, refuses this thread's own, and answers "held" for
/// another thread's (a mutant answering `Ok(false)` survived without this).
#[test]
fn try_lock_takes_a_free_lock_only() {
    let p = Parker::new("m").unwrap();
    let m = Arc::new(MutexState::new());
    assert_eq!(m.try_lock(), Ok(true));
    assert_eq!(m.holder(), Some(current_process()));
    assert_eq!(m.try_lock(), Err(LockError::WouldDeadlock));
    let m2 = m.clone();
    assert_eq!(
        std::thread::spawn(move || m2.try_lock()).join().unwrap(),
        Ok(false)
    );
    assert!(m.unlock(&p));
    let m2 = m.clone();
    assert_eq!(
        std::thread::spawn(move || {
            let r = m2.try_lock();
            let p = Parker::new("m").unwrap();
            (r, m2.unlock(&p))
        })
        .join()
        .unwrap(),
        (Ok(true), true)
    );
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
                    m.lock(&p, WaitStrategy::default(), PATIENCE).unwrap();
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
    m.lock(&p, WaitStrategy::Block, PATIENCE).unwrap();
    let m2 = m.clone();
    let r = std::thread::spawn(move || {
        let p = Parker::new("m").unwrap();
        m2.lock(&p, WaitStrategy::Block, Some(Duration::from_millis(20)))
    })
    .join()
    .unwrap();
    assert_eq!(r, Err(LockError::TimedOut(Duration::from_millis(20))));
}

/// Defect 2 (issue 9): a lock word scribbled to "waiters, no holder" is a free
/// lock, on every OS: the locker gets it plainly, without a made-up dead holder.
#[test]
fn defect_2_a_scribbled_waiters_bit_without_holder_is_a_free_lock() {
    let p = Parker::new("m").unwrap();
    let m = MutexState::new();
    m.word.store(WAITERS | (7 << 32), Ordering::Relaxed);
    assert_eq!(
        m.lock(&p, WaitStrategy::Block, Some(Duration::from_secs(5))),
        Ok(())
    );
    assert_eq!(m.holder(), Some(current_process()));
    assert_eq!(m.deaths(), 0);
    assert!(m.unlock(&p));
    assert_eq!(m.holder(), None);
}

#[test]
fn a_scribbled_word_naming_a_dead_process_is_taken_over() {
    let p = Parker::new("m").unwrap();
    let m = MutexState::new();
    // A pid above the kernel's pid_max names no process (on Windows, ids are
    // multiples of 4, and this one is far above any live one). Judged from the
    // pid, on every OS.
    m.word.store(4_194_305 | WAITERS, Ordering::Relaxed);
    match m.lock(&p, WaitStrategy::Block, Some(Duration::from_secs(5))) {
        Err(LockError::OwnerDied { previous }) => assert_eq!(previous.pid, 4_194_305),
        other => panic!("expected OwnerDied, got {other:?}"),
    }
    assert_eq!(m.deaths(), 1);
    assert!(m.unlock(&p));
}

/// A waiter that goes to sleep marks the lock word with the waiters bit (bit 63 of
/// the documented word layout, which other languages read), and the release that
/// finds the bit advances the wake counter the sleepers wait on. (Without them a
/// release would never wake a sleeper: it would wait for its liveness period.)
#[test]
fn a_sleeping_waiter_sets_bit_63_and_the_release_advances_the_wake_counter() {
    const BIT_63: u64 = 1 << 63;
    let p = Parker::new("m").unwrap();
    let m = Arc::new(MutexState::new());
    m.lock(&p, WaitStrategy::Block, PATIENCE).unwrap();
    assert_eq!(m.word.load(Ordering::Acquire) & BIT_63, 0);
    let m2 = m.clone();
    let waiter = std::thread::spawn(move || {
        let p = Parker::new("m").unwrap();
        m2.lock(&p, WaitStrategy::Block, PATIENCE).unwrap();
        assert!(m2.unlock(&p));
    });
    // Watchdog bound, not a timing assertion: the waiter marks the word before its
    // first sleep.
    let give_up = std::time::Instant::now() + PATIENCE.unwrap();
    while m.word.load(Ordering::Acquire) & BIT_63 == 0 {
        assert!(
            std::time::Instant::now() < give_up,
            "the waiter never set the waiters bit"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(
        pid_of(m.word.load(Ordering::Acquire)),
        current_process().pid
    );
    let wake_before = m.wake.load(Ordering::Acquire);
    assert!(m.unlock(&p));
    assert!(m.wake.load(Ordering::Acquire) > wake_before);
    waiter.join().unwrap();
    let w = m.word.load(Ordering::Acquire);
    assert_eq!(
        (pid_of(w), w & BIT_63),
        (0, 0),
        "word {w:#x} after the last release"
    );
}

/// Every acquisition advances the 31-bit tag in bits 32..63 of the word (so that a
/// record left by an earlier holder never matches a later one of the same pid), a
/// release frees the word but keeps the tag, and the tag wraps without touching
/// the waiters bit.
#[test]
fn every_acquisition_advances_the_tag_and_a_release_keeps_it() {
    let p = Parker::new("m").unwrap();
    let m = MutexState::new();
    let me = u64::from(current_process().pid);
    for tag in 1..=3u64 {
        m.lock(&p, WaitStrategy::Block, PATIENCE).unwrap();
        assert_eq!(m.word.load(Ordering::Acquire), tag << 32 | me);
        assert!(m.unlock(&p));
        assert_eq!(m.word.load(Ordering::Acquire), tag << 32);
    }
    m.word.store(0x7FFF_FFFF << 32, Ordering::Release);
    m.lock(&p, WaitStrategy::Block, PATIENCE).unwrap();
    assert_eq!(m.word.load(Ordering::Acquire), me, "the tag wraps to 0");
    assert!(m.unlock(&p));
    assert_eq!(m.word.load(Ordering::Acquire), 0);
    // Nobody ever waited: no release advanced the wake counter.
    assert_eq!(m.wake.load(Ordering::Acquire), 0);
}

/// `init` resets whatever a previous user (or a scribbler) left: a free word, no
/// record, no deaths, the wake counter at zero.
#[test]
fn init_resets_every_word() {
    let p = Parker::new("m").unwrap();
    let m = MutexState::new();
    m.word.store(4_194_305 | (9 << 32), Ordering::Relaxed);
    m.deaths.store(5, Ordering::Relaxed);
    m.wake.store(3, Ordering::Relaxed);
    m.seq.store(7, Ordering::Relaxed);
    m.init();
    assert_eq!(m.holder(), None);
    assert_eq!((m.deaths(), m.wake.load(Ordering::Relaxed)), (0, 0));
    assert_eq!(m.seq.load(Ordering::Relaxed), 0);
    assert_eq!(m.lock(&p, WaitStrategy::Block, PATIENCE), Ok(()));
    assert!(m.unlock(&p));
}

/// A caller of the lock protocol other than this thread: its identity, which processes
/// live, and an action at each step (the steps it reaches, and each liveness check).
struct FakeHost<'a> {
    me: Me,
    live: &'a [ProcessId],
    at: &'a dyn Fn(&'static str),
}

impl Host for FakeHost<'_> {
    fn me(&self) -> Me {
        self.me
    }

    fn is_alive(&self, p: ProcessId) -> bool {
        (self.at)("is_alive");
        self.live
            .iter()
            .any(|l| l.pid == p.pid && (p.start_time == 0 || p.start_time == l.start_time))
    }

    fn reach(&self, point: &'static str) {
        (self.at)(point);
    }
}

fn fake<'a>(me: Me, live: &'a [ProcessId], at: &'a dyn Fn(&'static str)) -> FakeHost<'a> {
    FakeHost { me, live, at }
}

fn me(pid: u32, start_time: u64, tid: u32) -> Me {
    Me {
        process: ProcessId { pid, start_time },
        tid,
    }
}

const QUIET: &dyn Fn(&'static str) = &|_| {};

/// A new holder is never paired with the record of the one before. Between its
/// compare-and-swap of the word and the end of its record, a holder leaves the
/// previous holder's record in place (whole, before its first store; with the new key
/// beside the old start time and thread id, halfway): a waiter of another process
/// must not pair the new holder's pid with the old start time (it would judge a live
/// holder dead and take the lock over), nor may the previous holder, a thread of the
/// same process, take the old thread id for its own (it would refuse with
/// `WouldDeadlock` a lock it does not hold).
#[test]
fn a_new_holder_is_never_paired_with_the_previous_record() {
    let p = Parker::new("m").unwrap();
    let m = MutexState::new();
    let (a, b, c) = (me(100, 1, 7), me(200, 2, 8), me(300, 3, 9));
    let a_other_thread = me(100, 1, 70);
    let live = [a.process, b.process, c.process];
    for holder in [b, a_other_thread] {
        // A takes and releases the lock: its record stays behind.
        assert_eq!(m.try_acquire(&fake(a, &live, QUIET), &a, false), Ok(true));
        assert!(m.unlock_as(&fake(a, &live, QUIET), &p));
        let seen = std::cell::RefCell::new(Vec::new());
        let look = |point: &'static str| {
            if point == "mutex.lock.after_word" || point == "mutex.lock.mid_record" {
                let c_lock =
                    m.lock_as(&fake(c, &live, QUIET), &p, WaitStrategy::Block, Some(ms(1)));
                let a_try = m.try_acquire(&fake(a, &live, QUIET), &a, false);
                seen.borrow_mut().push((c_lock, a_try));
            }
        };
        assert_eq!(
            m.try_acquire(&fake(holder, &live, &look), &holder, false),
            Ok(true)
        );
        assert_eq!(
            seen.take(),
            [0, 1].map(|_| (Err(LockError::TimedOut(ms(1))), Ok(false))),
            "while {holder:?} took the word and wrote its record"
        );
        assert_eq!(m.deaths(), 0);
        assert_eq!(pid_of(m.word.load(Ordering::Acquire)), holder.process.pid);
        assert!(m.unlock_as(&fake(holder, &live, QUIET), &p));
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Only the holder releases: another process, or another thread of the holder's
/// process, that calls unlock is told `false` and the lock stays held.
#[test]
fn unlock_by_anyone_but_the_holder_is_refused() {
    let p = Parker::new("m").unwrap();
    let m = MutexState::new();
    let (a, b, a_other_thread) = (me(100, 1, 7), me(200, 2, 8), me(100, 1, 70));
    let live = [a.process, b.process];
    let host = |me| fake(me, &live, QUIET);
    assert!(!m.unlock_as(&host(a), &p), "a free lock was released");
    assert_eq!(m.try_acquire(&host(a), &a, false), Ok(true));
    let word = m.word.load(Ordering::Acquire);
    for other in [b, a_other_thread] {
        assert!(
            !m.unlock_as(&host(other), &p),
            "{other:?} released a's lock"
        );
        assert_eq!(m.word.load(Ordering::Acquire), word);
    }
    assert!(m.unlock_as(&host(a), &p));
}

/// A waiter that took the lock after it found it held takes it as contended (the
/// waiters bit set): others may still sleep, and its release must advance the wake
/// counter they sleep on. Here the holder releases while the waiter checks that it
/// lives, before the waiter marked the word.
#[test]
fn a_waiter_that_found_the_lock_held_takes_it_as_contended() {
    let p = Parker::new("m").unwrap();
    let m = MutexState::new();
    let (h, w) = (me(100, 1, 7), me(200, 2, 8));
    let live = [h.process, w.process];
    assert_eq!(m.try_acquire(&fake(h, &live, QUIET), &h, false), Ok(true));
    let released = std::cell::Cell::new(false);
    let release_once = |point: &'static str| {
        if point == "is_alive" && !released.replace(true) {
            assert!(m.unlock_as(&fake(h, &live, QUIET), &p));
        }
    };
    let waiter = fake(w, &live, &release_once);
    assert_eq!(
        m.lock_as(&waiter, &p, WaitStrategy::Block, Some(ms(5000))),
        Ok(())
    );
    assert!(released.get(), "the waiter never checked the holder");
    let word = m.word.load(Ordering::Acquire);
    assert_eq!((pid_of(word), word & WAITERS), (w.process.pid, WAITERS));
    let wake = m.wake.load(Ordering::Acquire);
    assert!(m.unlock_as(&waiter, &p));
    assert_eq!(m.wake.load(Ordering::Acquire), wake + 1);
}

/// A takeover from a dead holder keeps the waiters bit its word had (others sleep:
/// the new holder's release wakes them) and adds none (nobody sleeps: its release
/// stays out of the kernel).
#[test]
fn a_takeover_keeps_the_waiters_bit_it_found_and_adds_none() {
    let p = Parker::new("m").unwrap();
    let (dead, taker) = (4_194_305u64, me(200, 2, 8));
    let live = [taker.process];
    let host = fake(taker, &live, QUIET);
    for bit in [0, WAITERS] {
        let m = MutexState::new();
        m.word.store(dead | (5 << 32) | bit, Ordering::Relaxed);
        match m.lock_as(&host, &p, WaitStrategy::Block, Some(ms(5000))) {
            Err(LockError::OwnerDied { previous }) => assert_eq!(previous.pid, 4_194_305),
            other => panic!("expected OwnerDied, got {other:?}"),
        }
        let word = m.word.load(Ordering::Acquire);
        assert_eq!((pid_of(word), word & WAITERS), (taker.process.pid, bit));
        assert!(m.unlock_as(&host, &p));
        let woke = m.wake.load(Ordering::Acquire);
        assert_eq!(woke, u32::from(bit != 0), "wake counter after the release");
    }
}
