//! RemoteSemaphore across processes: ping-pong without lost or duplicated signals,
//! timeouts.

use crate::common::{assert_gone, spawn_child, Watchdog, PATIENCE};
use polyshm::shm::{unique_name, RemoteSemaphore, SharedMemory};
use polyshm::sync::{SemaphoreError, WaitStrategy};
use std::time::Duration;

// Layout of the ping-pong segment's data region.
const PING: usize = 0;
const PONG: usize = 64;
const PING_SEQ: usize = 128;
const PONG_SEQ: usize = 136;

fn read_u64(shm: &SharedMemory, at: usize) -> u64 {
    let mut b = [0u8; 8];
    shm.read_at(at, &mut b).unwrap();
    u64::from_ne_bytes(b)
}

fn strategy(block: bool) -> WaitStrategy {
    if block {
        WaitStrategy::Block
    } else {
        WaitStrategy::default()
    }
}

/// Child roles of this module (see `common::run_child`).
pub fn child(role: &str, arg: &str, n: u64) {
    match role {
        "sem-pong" => child_pong(arg, n),
        "sem-signal" => child_signal(arg),
        "sem-wait" => child_wait(arg),
        other => panic!("unknown child role {other:?}"),
    }
}

// Layout of the fault-point tests' segment.
const TARGET: usize = 0;
const GO: usize = 64;

/// Child side: on GO, signal TARGET once (fault points may pause or kill it).
fn child_signal(name: &str) {
    let shm = SharedMemory::open(name).unwrap();
    let target = RemoteSemaphore::in_segment(&shm, TARGET).unwrap();
    RemoteSemaphore::in_segment(&shm, GO)
        .unwrap()
        .wait_timeout(PATIENCE)
        .unwrap();
    target.signal().unwrap();
}

/// Child side: wait on TARGET with blocking waits (a fault point kills it).
fn child_wait(name: &str) {
    let shm = SharedMemory::open(name).unwrap();
    let mut target = RemoteSemaphore::in_segment(&shm, TARGET).unwrap();
    target.set_wait_strategy(WaitStrategy::Block);
    target.wait_timeout(PATIENCE).unwrap();
}

/// Child side: answer `n` pings, each carrying the next sequence number.
fn child_pong(name: &str, n: u64) {
    let block = std::env::var("POLYSHM_TEST_BLOCK").is_ok();
    let shm = SharedMemory::open(name).unwrap();
    let mut ping = RemoteSemaphore::in_segment(&shm, PING).unwrap();
    let pong = RemoteSemaphore::in_segment(&shm, PONG).unwrap();
    ping.set_wait_strategy(strategy(block));
    for i in 1..=n {
        ping.wait_timeout(PATIENCE).unwrap();
        assert_eq!(ping.count(), 0, "ping {i}: a duplicated signal");
        assert_eq!(read_u64(&shm, PING_SEQ), i, "ping {i}: lost or reordered");
        shm.write_at(PONG_SEQ, &i.to_ne_bytes()).unwrap();
        pong.signal().unwrap();
    }
}

fn ping_pong(n: u64, block: bool) {
    let name = unique_name("t-pingpong");
    let dog = Watchdog::new("semaphore ping-pong", Duration::from_secs(300));
    dog.segment(&name);
    {
        let shm = SharedMemory::create(&name, 4096).unwrap();
        let ping = RemoteSemaphore::in_segment(&shm, PING).unwrap();
        let mut pong = RemoteSemaphore::in_segment(&shm, PONG).unwrap();
        pong.set_wait_strategy(strategy(block));
        let env: &[(&str, &str)] = if block {
            &[("POLYSHM_TEST_BLOCK", "1")]
        } else {
            &[]
        };
        let mut child = spawn_child("sem-pong", &name, n, env);
        dog.child(&child);
        for i in 1..=n {
            shm.write_at(PING_SEQ, &i.to_ne_bytes()).unwrap();
            ping.signal().unwrap();
            pong.wait_timeout(PATIENCE)
                .unwrap_or_else(|e| panic!("pong {i}: {e}"));
            assert_eq!(pong.count(), 0, "pong {i}: a duplicated signal");
            assert_eq!(read_u64(&shm, PONG_SEQ), i, "pong {i}: lost or reordered");
        }
        child.expect_success();
        assert_eq!((ping.count(), pong.count()), (0, 0));
        assert!(!ping.try_wait() && !pong.try_wait());
    }
    assert_gone(&name);
}

#[test]
fn ping_pong_100k_between_two_processes_loses_and_duplicates_nothing() {
    ping_pong(100_000, false);
}

#[test]
fn ping_pong_with_blocking_waits() {
    ping_pong(10_000, true);
}

#[test]
fn wait_timeout_times_out_and_a_later_signal_is_kept() {
    let name = unique_name("t-timeout");
    {
        let mut sem = RemoteSemaphore::create(&name, 0).unwrap();
        for s in [WaitStrategy::Block, WaitStrategy::default()] {
            sem.set_wait_strategy(s);
            assert_eq!(
                sem.wait_timeout(Duration::from_millis(20)),
                Err(SemaphoreError::TimedOut(Duration::from_millis(20)))
            );
            assert!(!sem.try_wait());
        }
        // The timed-out waits took nothing: a signal sent now is there to take.
        sem.signal().unwrap();
        assert_eq!(sem.count(), 1);
        sem.wait_timeout(Duration::from_millis(20)).unwrap();
        assert_eq!(sem.count(), 0);
        // Found by name from a second handle, it is the same counter.
        let other = RemoteSemaphore::open(&name).unwrap();
        other.signal().unwrap();
        assert!(sem.try_wait());
        assert!(RemoteSemaphore::known()
            .iter()
            .any(|k| k.segment == name && k.offset == 0));
    }
    assert_gone(&name);
}

/// Defect 7 (issue 9), first half: a signaler killed between its increment and its
/// wake left an untimed waiter asleep for ever on a count that was already 1. The
/// waiter is put to sleep first (the signaler pauses before its increment), then the
/// signaler increments and is killed before waking anyone.
#[cfg(feature = "failpoints")]
#[test]
fn defect_7_an_untimed_wait_survives_a_signaler_killed_before_its_wake() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let name = unique_name("t-semkill");
    let dog = Watchdog::new("semaphore signaler killed", Duration::from_secs(60));
    dog.segment(&name);
    {
        let shm = SharedMemory::create(&name, 4096).unwrap();
        let mut target = RemoteSemaphore::in_segment(&shm, TARGET).unwrap();
        target.set_wait_strategy(WaitStrategy::Block);
        let go = RemoteSemaphore::in_segment(&shm, GO).unwrap();
        let mut child = spawn_child(
            "sem-signal",
            &name,
            0,
            &[(
                "POLYSHM_FAULTS",
                "semaphore.signal.before_increment=sleep(500);semaphore.signal.after_increment=kill",
            )],
        );
        dog.child(&child);
        let done = AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                go.signal().unwrap();
                target.wait();
                done.store(true, Ordering::SeqCst);
            });
            let status = child.wait();
            assert!(
                !status.success(),
                "the signaler was not killed at its fault point"
            );
            // The signal is counted; the waiter must take it although nobody woke it.
            let until = std::time::Instant::now() + PATIENCE;
            while !done.load(Ordering::SeqCst) {
                if std::time::Instant::now() > until {
                    // Let the scope end: hand the stuck waiter a wake-up it will take.
                    target.signal().unwrap();
                    target.signal().unwrap();
                    panic!("the untimed wait slept on past a pending signal");
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        assert_eq!(target.count(), 0);
    }
    assert_gone(&name);
}

/// Defect 7 (issue 9), second half: a waiter killed while counted as a sleeper left
/// `sleepers` at 1 for ever (every later signal then paid a system call). The next
/// signal finds nobody asleep and forgets the dead count.
#[cfg(feature = "failpoints")]
#[test]
fn defect_7_a_waiter_killed_while_counted_as_sleeper_is_forgotten() {
    let name = unique_name("t-semdead");
    let dog = Watchdog::new("semaphore sleeper killed", Duration::from_secs(60));
    dog.segment(&name);
    {
        let shm = SharedMemory::create(&name, 4096).unwrap();
        let mut target = RemoteSemaphore::in_segment(&shm, TARGET).unwrap();
        target.set_wait_strategy(WaitStrategy::Block);
        let mut child = spawn_child(
            "sem-wait",
            &name,
            0,
            &[("POLYSHM_FAULTS", "semaphore.wait.after_sleepers_inc=kill")],
        );
        dog.child(&child);
        assert!(
            !child.wait().success(),
            "the waiter was not killed at its fault point"
        );
        assert_eq!(target.sleepers(), 1, "the dead waiter is counted");
        target.signal().unwrap();
        assert_eq!(
            target.sleepers(),
            0,
            "the dead waiter's count outlived a signal"
        );
        target.wait_timeout(PATIENCE).unwrap();
        // And the semaphore still works both ways for live waiters.
        std::thread::scope(|s| {
            s.spawn(|| target.wait_timeout(PATIENCE).unwrap());
            target.signal().unwrap();
        });
        assert_eq!((target.count(), target.sleepers()), (0, 0));
    }
    assert_gone(&name);
}

/// Defect 10 (issue 9, the sync part): a timeout of `Duration::MAX` (any overflow of
/// `Instant + Duration`) means "for ever", never a panic. The signal is sent only once
/// the waiter counts itself as a sleeper, i.e. after it computed its deadline.
#[test]
fn defect_10_wait_timeout_of_duration_max_means_for_ever() {
    let name = unique_name("t-durmax");
    {
        let mut sem = RemoteSemaphore::create(&name, 0).unwrap();
        for s in [WaitStrategy::Block, WaitStrategy::default()] {
            sem.set_wait_strategy(s);
            std::thread::scope(|scope| {
                let waiter = scope.spawn(|| sem.wait_timeout(Duration::MAX));
                let until = std::time::Instant::now() + PATIENCE;
                while sem.sleepers() == 0 && !waiter.is_finished() {
                    assert!(std::time::Instant::now() < until, "the waiter never slept");
                    std::thread::sleep(Duration::from_millis(1));
                }
                sem.signal().unwrap();
                assert_eq!(waiter.join().expect("the wait panicked"), Ok(()));
            });
        }
    }
    assert_gone(&name);
}
