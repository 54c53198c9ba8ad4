//! Tests of the shared-memory semaphore's words and note.

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

/// Each signal carries the note written before it: a waiter on another thread
/// reads, after each wait, exactly the note of the signal it took, and writing the
/// note touches neither the count nor the sleepers.
#[test]
fn a_note_travels_with_its_signal() {
    let to_waiter = Arc::new(SemaphoreState::new(0));
    let back = Arc::new(SemaphoreState::new(0));
    let (w, b) = (to_waiter.clone(), back.clone());
    let t = std::thread::spawn(move || {
        let p = Parker::new("t").unwrap();
        for i in 0..1000u64 {
            w.wait(&p, WaitStrategy::default(), Some(Duration::from_secs(10)))
                .unwrap();
            let note = w.read_note();
            let want: Vec<u8> = (0..NOTE_LEN).map(|k| (i as usize + k) as u8).collect();
            assert_eq!(note[..], want[..], "signal {i}");
            b.signal(&p).unwrap();
        }
    });
    let p = Parker::new("t").unwrap();
    for i in 0..1000u64 {
        let mut note = [0u8; NOTE_LEN];
        note.iter_mut()
            .enumerate()
            .for_each(|(k, b)| *b = (i as usize + k) as u8);
        to_waiter.write_note(&note);
        to_waiter.signal(&p).unwrap();
        back.wait(&p, WaitStrategy::default(), Some(Duration::from_secs(10)))
            .unwrap();
    }
    t.join().unwrap();
    let s = SemaphoreState::new(4);
    s.write_note(&[0xff; NOTE_LEN]);
    assert_eq!(
        (s.count(), s.sleepers(), s.read_note()),
        (4, 0, [0xff; NOTE_LEN])
    );
}

/// The signal orders the note: a taker that polls (no sleep, so that Miri, whose
/// weak-memory emulation checks the orderings, can run it: `scripts/miri.sh`)
/// reads the note of the signal it took, never an older one.
#[test]
fn a_note_is_ordered_by_its_signal() {
    let s = Arc::new(SemaphoreState::new(0));
    let back = Arc::new(SemaphoreState::new(0));
    let (s2, b2) = (s.clone(), back.clone());
    const ROUNDS: u8 = 50;
    let t = std::thread::spawn(move || {
        let p = Parker::new("t").unwrap();
        for i in 1..=ROUNDS {
            while !s2.try_wait() {
                std::thread::yield_now();
            }
            assert_eq!(s2.read_note(), [i; NOTE_LEN], "round {i}");
            b2.signal(&p).unwrap();
        }
    });
    let p = Parker::new("t").unwrap();
    for i in 1..=ROUNDS {
        s.write_note(&[i; NOTE_LEN]);
        s.signal(&p).unwrap();
        while !back.try_wait() {
            std::thread::yield_now();
        }
    }
    t.join().unwrap();
}

/// `init` resets the count and forgets counted sleepers; a signal that finds
/// sleepers counted but none asleep (a waiter that died counted) forgets them too.
#[test]
fn init_and_signal_reset_stale_sleepers() {
    let p = Parker::new("t").unwrap();
    let s = SemaphoreState::new(3);
    s.sleepers.store(5, Ordering::Relaxed);
    s.init(2);
    assert_eq!((s.count(), s.sleepers()), (2, 0));
    s.sleepers.store(4, Ordering::Relaxed);
    s.signal(&p).unwrap();
    // Where a wake says how many slept (a futex), the stale count is forgotten;
    // where it cannot (Windows' named semaphores never report zero), it stays, and
    // costs only system calls.
    let exact = p.wake(&AtomicU32::new(0), 1) == 0;
    assert_eq!((s.count(), s.sleepers()), (3, if exact { 0 } else { 4 }));
    assert!(s.try_wait());
    assert_eq!(s.count(), 2);
}

/// The bound of every wait below that expects a signal: a broken signal fails the
/// test instead of hanging it (a watchdog, not a timing assertion).
const PATIENCE: Duration = Duration::from_secs(20);

/// Every way out of `wait` leaves no sleeper counted: a pending signal, a timeout
/// (again and again), a wake by another thread's signal. `sleepers()` answers the
/// count alone, never the generation the waiters moved.
#[test]
fn every_wait_path_leaves_no_sleeper_counted() {
    let p = Parker::new("t").unwrap();
    let ms = Duration::from_millis;
    let s = SemaphoreState::new(1);
    s.wait(&p, WaitStrategy::Block, Some(ms(1))).unwrap();
    assert!(!s.try_wait());
    assert_eq!(s.sleepers(), 0);
    for turn in 1..=3 {
        let e = s.wait(&p, WaitStrategy::Block, Some(ms(1)));
        assert_eq!(e, Err(SemaphoreError::TimedOut(ms(1))));
        assert_eq!(s.sleepers(), 0, "timeout {turn} left its waiter counted");
    }
    assert_ne!(
        s.sleepers.load(Ordering::Relaxed),
        0,
        "the timed-out waiters never counted themselves (no generation moved)"
    );
    std::thread::scope(|scope| {
        let waiter = scope.spawn(|| {
            let p = Parker::new("t").unwrap();
            s.wait(&p, WaitStrategy::Block, Some(PATIENCE))
        });
        let until = std::time::Instant::now() + PATIENCE;
        while s.sleepers() == 0 {
            assert!(!waiter.is_finished(), "the waiter ended without a signal");
            assert!(std::time::Instant::now() < until, "the waiter never slept");
            std::thread::yield_now();
        }
        assert_eq!(s.sleepers(), 1);
        s.signal(&p).unwrap();
        assert_eq!(waiter.join().unwrap(), Ok(()));
    });
    assert_eq!((s.count(), s.sleepers()), (0, 0));
}

/// Thread-scoped actions at fault points: the process-wide `fail` callback of a
/// point runs whatever the current thread registered, so the tests of this binary,
/// which run side by side, never see each other's hooks.
#[cfg(feature = "failpoints")]
mod hooks {
    use std::cell::RefCell;
    use std::collections::HashMap;

    type Hook = Box<dyn FnMut()>;

    const POINTS: [&str; 2] = [
        "semaphore.wait.after_sleepers_inc",
        "semaphore.signal.before_wake",
    ];

    thread_local! {
        static HOOKS: RefCell<HashMap<&'static str, Hook>> = RefCell::default();
    }

    /// The hook of one point on this thread, removed on drop.
    pub struct Hooked(&'static str);

    impl Drop for Hooked {
        fn drop(&mut self) {
            HOOKS.with(|h| h.borrow_mut().remove(self.0));
        }
    }

    /// Run `f` whenever this thread reaches fault point `point`.
    pub fn on(point: &'static str, f: impl FnMut() + 'static) -> Hooked {
        static INSTALL: std::sync::Once = std::sync::Once::new();
        INSTALL.call_once(|| {
            for p in POINTS {
                fail::cfg_callback(p, move || run(p)).unwrap();
            }
        });
        assert!(POINTS.contains(&point), "no dispatcher for {point}");
        HOOKS.with(|h| h.borrow_mut().insert(point, Box::new(f)));
        Hooked(point)
    }

    fn run(point: &'static str) {
        // Taken out while it runs: a hook may reach another hooked point.
        let Some(mut f) = HOOKS.with(|h| h.borrow_mut().remove(point)) else {
            return;
        };
        f();
        HOOKS.with(|h| {
            h.borrow_mut().entry(point).or_insert(f);
        });
    }
}

/// A signal that lands after a waiter counted itself and before it sleeps: the
/// waiter takes it without sleeping and the count returns to 0. Where a wake says
/// how many slept, that signal found nobody asleep and forgot the count before the
/// waiter left: the waiter's leave must not take it below 0.
#[cfg(feature = "failpoints")]
#[test]
fn a_signal_between_counting_and_sleeping_is_taken_and_leaves_no_count() {
    let p = Parker::new("t").unwrap();
    let s = Arc::new(SemaphoreState::new(0));
    let signals = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let _hook = hooks::on("semaphore.wait.after_sleepers_inc", {
        let (s, signals) = (s.clone(), signals.clone());
        move || {
            assert_eq!(s.sleepers(), 1, "the waiter did not count itself");
            s.signal(&Parker::new("t").unwrap()).unwrap();
            signals.fetch_add(1, Ordering::SeqCst);
        }
    });
    s.wait(&p, WaitStrategy::Block, Some(PATIENCE)).unwrap();
    assert_eq!(signals.load(Ordering::SeqCst), 1);
    assert_eq!((s.count(), s.sleepers()), (0, 0));
}

/// `signal` enters the kernel only when it finds a waiter counted. A counted
/// waiter that is not asleep (about to sleep, or dead) costs that one wake; where
/// a wake says how many slept, the count is then forgotten and the next signal
/// costs nothing again.
#[cfg(feature = "failpoints")]
#[test]
fn a_signal_wakes_only_when_a_sleeper_is_counted() {
    let p = Parker::new("t").unwrap();
    let s = SemaphoreState::new(0);
    let wakes = std::rc::Rc::new(std::cell::Cell::new(0));
    let _hook = hooks::on("semaphore.signal.before_wake", {
        let wakes = wakes.clone();
        move || wakes.set(wakes.get() + 1)
    });
    s.signal(&p).unwrap();
    assert_eq!(
        (wakes.get(), s.count()),
        (0, 1),
        "a wake with nobody counted"
    );
    s.enter();
    s.signal(&p).unwrap();
    assert_eq!(
        (wakes.get(), s.count()),
        (1, 2),
        "a counted sleeper not woken"
    );
    let exact = p.wake(&AtomicU32::new(0), 1) == 0;
    if exact {
        assert_eq!(
            s.sleepers(),
            0,
            "a count with nobody asleep outlived a wake"
        );
        s.signal(&p).unwrap();
        assert_eq!(wakes.get(), 1, "a forgotten sleeper still costs wakes");
    } else {
        assert_eq!(s.sleepers(), 1);
        s.leave();
    }
    assert_eq!(s.sleepers(), 0);
}

/// A signal forgets the count it read only if nothing moved since: when the
/// waiter it read leaves and another counts itself before the reset (the count is
/// the same, the generation is not), the new waiter stays counted and its next
/// signal wakes it.
#[cfg(feature = "failpoints")]
#[test]
fn a_signal_never_forgets_a_sleeper_counted_after_its_read() {
    let p = Parker::new("t").unwrap();
    let s = Arc::new(SemaphoreState::new(0));
    s.enter();
    let _hook = hooks::on("semaphore.signal.before_wake", {
        let s = s.clone();
        let mut first = true;
        move || {
            if std::mem::take(&mut first) {
                s.leave();
                s.enter();
            }
        }
    });
    s.signal(&p).unwrap();
    assert_eq!(
        s.sleepers(),
        1,
        "the signal erased a waiter that counted itself after its read"
    );
    s.leave();
    assert_eq!((s.count(), s.sleepers()), (1, 0));
}
