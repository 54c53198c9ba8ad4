//! The mutex's unit tests, in one process: locking, deadlock detection, take-over of
//! a dead holder, the waiters bit and the wake counter, and the tag, against the words.

use super::*;
use polyshm_sys::current_process;
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
    m.lock(&p, WaitStrategy::Block, None).unwrap();
    assert_eq!(m.word.load(Ordering::Acquire) & BIT_63, 0);
    let m2 = m.clone();
    let waiter = std::thread::spawn(move || {
        let p = Parker::new("m").unwrap();
        m2.lock(&p, WaitStrategy::Block, Some(Duration::from_secs(30)))
            .unwrap();
        assert!(m2.unlock(&p));
    });
    // Watchdog bound, not a timing assertion: the waiter marks the word before its
    // first sleep.
    let give_up = std::time::Instant::now() + Duration::from_secs(20);
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
        m.lock(&p, WaitStrategy::Block, None).unwrap();
        assert_eq!(m.word.load(Ordering::Acquire), tag << 32 | me);
        assert!(m.unlock(&p));
        assert_eq!(m.word.load(Ordering::Acquire), tag << 32);
    }
    m.word.store(0x7FFF_FFFF << 32, Ordering::Release);
    m.lock(&p, WaitStrategy::Block, None).unwrap();
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
    assert_eq!(m.lock(&p, WaitStrategy::Block, None), Ok(()));
    assert!(m.unlock(&p));
}
