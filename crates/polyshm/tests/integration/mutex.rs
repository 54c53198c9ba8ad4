//! RemoteMutex across processes: exact counting, a holder killed with -9, the
//! interleaving that once gave two holders, and a holder killed at each step of the
//! lock and unlock protocol (fault points).

use crate::common::{assert_gone, spawn_child, Watchdog, PATIENCE};
use polyshm::shm::{unique_name, RemoteMutex, RemoteSemaphore, SharedMemory, TryLockError};
use polyshm::sync::WaitStrategy;
use std::time::Duration;

const LOCK: usize = 0;
const COUNTER: usize = 64;
const HELD: usize = 128;
const READY: usize = 192;
const GO: usize = 256;
/// 1 while some process is inside the critical section: a second holder sees it.
const INSIDE: usize = 320;

/// Child roles of this module (see `common::run_child`).
pub fn child(role: &str, arg: &str, n: u64) {
    match role {
        "mutex-count" => child_count(arg, n),
        "mutex-hold" => child_hold(arg),
        "mutex-lock-release" => child_lock_release(arg),
        "mutex-race-holder" => child_race_holder(arg),
        "mutex-racer" => child_racer(arg),
        "mutex-die" => child_die(arg),
        "mutex-probe" => child_probe(arg),
        other => panic!("unknown child role {other:?}"),
    }
}

fn read_u64(shm: &SharedMemory, at: usize) -> u64 {
    let mut b = [0u8; 8];
    shm.read_at(at, &mut b).unwrap();
    u64::from_ne_bytes(b)
}

/// The critical section of the two-holder tests: whoever finds another process inside
/// has proved two holders.
fn critical(shm: &SharedMemory, hold: Duration) {
    assert_eq!(
        read_u64(shm, INSIDE),
        0,
        "two holders: another process is inside the critical section (pid {})",
        std::process::id()
    );
    shm.write_at(INSIDE, &1u64.to_ne_bytes()).unwrap();
    std::thread::sleep(hold);
    shm.write_at(INSIDE, &0u64.to_ne_bytes()).unwrap();
}

fn open_blocking(shm: &SharedMemory) -> RemoteMutex {
    let mut m = RemoteMutex::in_segment(shm, LOCK).unwrap();
    m.set_wait_strategy(WaitStrategy::Block);
    m
}

/// Child side: take the lock, release it, exit (leaves the record of a dead holder).
fn child_lock_release(name: &str) {
    let shm = SharedMemory::open(name).unwrap();
    let m = open_blocking(&shm);
    drop(m.lock_timeout(PATIENCE).unwrap_or_else(|e| panic!("{e}")));
}

/// Exit code of `mutex-probe` when the lock is held.
const PROBE_HELD: i32 = 3;

/// Child side: exit 0 if the lock is free (taking and releasing it, so that the record
/// left behind is of a dead process), [`PROBE_HELD`] if a live process holds it.
fn child_probe(name: &str) {
    let shm = SharedMemory::open(name).unwrap();
    let m = open_blocking(&shm);
    match m.try_lock() {
        Ok(g) => drop(g),
        Err(TryLockError::TimedOut(_)) => std::process::exit(PROBE_HELD),
        Err(e) => panic!("{e}"),
    };
}

/// Child side: take the lock (its fault point pauses it after the lock word and
/// before anything else), stay inside for a while, release.
fn child_race_holder(name: &str) {
    let shm = SharedMemory::open(name).unwrap();
    let m = open_blocking(&shm);
    let _g = m.lock_timeout(PATIENCE).unwrap_or_else(|e| panic!("{e}"));
    critical(&shm, Duration::from_millis(4000));
}

/// Child side: on GO, take the lock while another holds it (its fault point pauses it
/// in the middle of reading the holder's record); it must wait for a plain release.
fn child_racer(name: &str) {
    let shm = SharedMemory::open(name).unwrap();
    let m = open_blocking(&shm);
    RemoteSemaphore::in_segment(&shm, READY)
        .unwrap()
        .signal()
        .unwrap();
    RemoteSemaphore::in_segment(&shm, GO)
        .unwrap()
        .wait_timeout(PATIENCE)
        .unwrap();
    match m.lock_timeout(PATIENCE) {
        Ok(_g) => critical(&shm, Duration::ZERO),
        Err(TryLockError::OwnerDied(d)) => {
            let _g = d.into_inner();
            critical(&shm, Duration::ZERO);
            panic!("took the lock over from a holder reported dead although it lives");
        }
        Err(e) => panic!("{e}"),
    };
}

/// Child side: lock, say HELD, wait for GO, unlock; a fault point may kill it anywhere.
fn child_die(name: &str) {
    let shm = SharedMemory::open(name).unwrap();
    let m = open_blocking(&shm);
    let g = m.lock_timeout(PATIENCE).unwrap_or_else(|e| panic!("{e}"));
    critical(&shm, Duration::ZERO);
    RemoteSemaphore::in_segment(&shm, HELD)
        .unwrap()
        .signal()
        .unwrap();
    RemoteSemaphore::in_segment(&shm, GO)
        .unwrap()
        .wait_timeout(PATIENCE)
        .unwrap();
    drop(g);
}

/// Child side: `n` increments of the counter, each a plain read and write under the
/// lock.
fn child_count(name: &str, n: u64) {
    let shm = SharedMemory::open(name).unwrap();
    let m = RemoteMutex::in_segment(&shm, LOCK).unwrap();
    // Start together with the others, so that the processes really contend.
    RemoteSemaphore::in_segment(&shm, READY)
        .unwrap()
        .signal()
        .unwrap();
    RemoteSemaphore::in_segment(&shm, GO)
        .unwrap()
        .wait_timeout(PATIENCE)
        .unwrap();
    for i in 0..n {
        let _g = m.lock_timeout(PATIENCE).unwrap_or_else(|e| panic!("{e}"));
        let mut b = [0u8; 8];
        shm.read_at(COUNTER, &mut b).unwrap();
        if i % 64 == 0 {
            // Widen the window between read and write: without mutual exclusion,
            // increments would now be lost.
            polyshm::sys::yield_now();
        }
        let v = u64::from_ne_bytes(b) + 1;
        shm.write_at(COUNTER, &v.to_ne_bytes()).unwrap();
    }
}

/// Child side: take the lock, say so, and hold it until killed.
fn child_hold(name: &str) {
    let shm = SharedMemory::open(name).unwrap();
    let m = RemoteMutex::in_segment(&shm, LOCK).unwrap();
    let held = RemoteSemaphore::in_segment(&shm, HELD).unwrap();
    let _g = m.lock_timeout(PATIENCE).unwrap_or_else(|e| panic!("{e}"));
    held.signal().unwrap();
    // The parent kills us here; PATIENCE bounds the wait if it does not.
    std::thread::sleep(PATIENCE);
}

#[test]
fn four_processes_count_exactly_under_the_mutex() {
    let name = unique_name("t-count");
    let dog = Watchdog::new("mutex counting", Duration::from_secs(120));
    dog.segment(&name);
    {
        let shm = SharedMemory::create(&name, 4096).unwrap();
        let m = RemoteMutex::in_segment(&shm, LOCK).unwrap();
        let mut kids: Vec<_> = (0..4)
            .map(|_| spawn_child("mutex-count", &name, 10_000, &[]))
            .collect();
        for k in &kids {
            dog.child(k);
        }
        let ready = RemoteSemaphore::in_segment(&shm, READY).unwrap();
        let go = RemoteSemaphore::in_segment(&shm, GO).unwrap();
        for _ in &kids {
            ready.wait_timeout(PATIENCE).unwrap();
        }
        for _ in &kids {
            go.signal().unwrap();
        }
        for k in &mut kids {
            k.expect_success();
        }
        let _g = m.lock_timeout(PATIENCE).unwrap_or_else(|e| panic!("{e}"));
        let mut b = [0u8; 8];
        shm.read_at(COUNTER, &mut b).unwrap();
        assert_eq!(u64::from_ne_bytes(b), 40_000);
        assert_eq!(m.deaths(), 0);
    }
    assert_gone(&name);
}

fn holder_killed(waiting: bool) {
    let name = unique_name("t-kill9");
    let dog = Watchdog::new("kill -9 of the lock holder", Duration::from_secs(60));
    dog.segment(&name);
    {
        let shm = SharedMemory::create(&name, 4096).unwrap();
        let m = RemoteMutex::in_segment(&shm, LOCK).unwrap();
        let held = RemoteSemaphore::in_segment(&shm, HELD).unwrap();
        let mut child = spawn_child("mutex-hold", &name, 0, &[]);
        dog.child(&child);
        held.wait_timeout(PATIENCE).unwrap();
        let pid = child.pid();
        assert_eq!(m.holder().map(|h| h.pid), Some(pid));
        assert!(matches!(m.try_lock(), Err(TryLockError::TimedOut(_))));
        let result = if waiting {
            // Kill the holder while we are asleep on the lock: the hand-shake is the
            // kernel saying the locker sleeps on a futex (where it can tell).
            std::thread::scope(|s| {
                let (tx, rx) = std::sync::mpsc::channel();
                let m = &m;
                let locker = s.spawn(move || {
                    tx.send(crate::common::this_thread()).unwrap();
                    match m.lock_timeout(PATIENCE) {
                        Err(TryLockError::OwnerDied(d)) => d.previous(),
                        Ok(_) => panic!("the lock was free although its holder never released it"),
                        Err(e) => panic!("{e}"),
                    }
                });
                let thread = rx.recv_timeout(PATIENCE).expect("the locker started");
                crate::common::wait_until_asleep_on_futex(thread.as_deref());
                child.kill9();
                locker.join().unwrap()
            })
        } else {
            child.kill9();
            match m.lock() {
                Err(died) => {
                    let previous = died.previous();
                    let _guard = died.into_inner();
                    assert_eq!(m.holder(), Some(polyshm::sys::current_process()));
                    previous
                }
                Ok(_) => panic!("the lock was free although its holder never released it"),
            }
        };
        assert_eq!(result.pid, pid);
        assert_eq!(m.deaths(), 1);
        // Released by the guard's drop: free and plain again.
        assert!(m.holder().is_none());
        drop(m.try_lock().unwrap_or_else(|e| panic!("{e}")));
    }
    assert_gone(&name);
}

#[test]
fn kill_9_of_the_holder_gives_the_next_locker_owner_died() {
    holder_killed(false);
}

#[test]
fn a_sleeping_waiter_notices_the_holder_died() {
    holder_killed(true);
}

/// Defect 2 (issue 9): the holder's record was read as three words, never cleared on
/// unlock. A waiter read the pid of a holder that had released and died, paused (fault
/// point), then read the thread id of the new holder, paired them, judged the live new
/// holder dead and took the lock over: two holders. Here the new holder pauses after
/// taking the lock word (before its record is written) and the waiter pauses in the
/// middle of reading the record, so that the bad pairing is certain on the old code.
#[cfg(feature = "failpoints")]
#[test]
fn defect_2_a_waiter_never_pairs_a_new_holder_with_an_old_record() {
    let name = unique_name("t-2holders");
    let dog = Watchdog::new("two holders race", Duration::from_secs(90));
    dog.segment(&name);
    {
        let shm = SharedMemory::create(&name, 4096).unwrap();
        let m = open_blocking(&shm);
        // A holder that released properly and is dead: its record stays behind.
        spawn_child("mutex-lock-release", &name, 0, &[]).expect_success();
        let mut racer = spawn_child(
            "mutex-racer",
            &name,
            0,
            &[("POLYSHM_FAULTS", "mutex.record.mid_read=sleep(2500)")],
        );
        dog.child(&racer);
        RemoteSemaphore::in_segment(&shm, READY)
            .unwrap()
            .wait_timeout(PATIENCE)
            .unwrap();
        let mut holder = spawn_child(
            "mutex-race-holder",
            &name,
            0,
            &[("POLYSHM_FAULTS", "mutex.lock.after_word=sleep(1500)")],
        );
        dog.child(&holder);
        // Wait until the holder has the lock word (it pauses right after taking it).
        // Probe from short-lived processes: a probe that finds the lock free takes and
        // releases it, so the record left behind is always of a dead process.
        while spawn_child("mutex-probe", &name, 0, &[]).wait().code() != Some(PROBE_HELD) {}
        RemoteSemaphore::in_segment(&shm, GO)
            .unwrap()
            .signal()
            .unwrap();
        holder.expect_success();
        racer.expect_success();
        assert_eq!(m.deaths(), 0, "a live holder was taken for dead");
        assert_eq!(read_u64(&shm, INSIDE), 0);
    }
    assert_gone(&name);
}

/// What the survivor must get when the holder is killed at a fault point.
#[cfg(feature = "failpoints")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// The killed process never held the lock, or had released it.
    Free,
    /// The killed process held the lock: the survivor gets it with `OwnerDied`.
    OwnerDied,
}

/// A holder killed at fault point `point` (before or after a store of the lock or
/// unlock protocol): the survivor gets the lock (with `OwnerDied` where the dead
/// process held it), never hangs (watchdog), and is alone inside.
#[cfg(feature = "failpoints")]
fn holder_killed_at(point: &str, expect: Expect) {
    let name = unique_name("t-mxkill");
    let dog = Watchdog::new(
        "mutex holder killed at a fault point",
        Duration::from_secs(60),
    );
    dog.segment(&name);
    {
        let shm = SharedMemory::create(&name, 4096).unwrap();
        let m = open_blocking(&shm);
        let held = RemoteSemaphore::in_segment(&shm, HELD).unwrap();
        let go = RemoteSemaphore::in_segment(&shm, GO).unwrap();
        let faults = format!("{point}=kill");
        let mut child = spawn_child("mutex-die", &name, 0, &[("POLYSHM_FAULTS", &faults)]);
        dog.child(&child);
        let pid = child.pid();
        // Either the child holds the lock (then we wait on it while it unlocks and
        // dies), or it died taking it.
        let got = loop {
            if held.try_wait() {
                go.signal().unwrap();
                break m.lock_timeout(PATIENCE);
            }
            if let Some(status) = child.try_wait() {
                assert!(!status.success(), "{point}: the child was not killed");
                break m.lock_timeout(PATIENCE);
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        let guard = match (got, expect) {
            (Ok(g), Expect::Free) => g,
            (Err(TryLockError::OwnerDied(d)), Expect::OwnerDied) => {
                assert_eq!(
                    d.previous().pid,
                    pid,
                    "{point}: OwnerDied names the dead process"
                );
                d.into_inner()
            }
            (Ok(_), Expect::OwnerDied) => {
                panic!("{point}: the lock was free although its holder died holding it")
            }
            (Err(e), _) => panic!("{point}: {e}"),
        };
        assert_eq!(m.holder(), Some(polyshm::sys::current_process()));
        critical(&shm, Duration::ZERO);
        assert_eq!(m.deaths(), u32::from(expect == Expect::OwnerDied));
        let status = child.wait();
        assert!(
            !status.success(),
            "{point}: the fault point was never reached"
        );
        drop(guard);
        assert!(m.holder().is_none());
    }
    assert_gone(&name);
}

#[cfg(feature = "failpoints")]
mod killed_at {
    use super::{holder_killed_at, Expect};

    #[test]
    fn lock_before_word() {
        holder_killed_at("mutex.lock.before_word", Expect::Free);
    }
    #[test]
    fn lock_after_word() {
        holder_killed_at("mutex.lock.after_word", Expect::OwnerDied);
    }
    #[test]
    fn lock_mid_record() {
        holder_killed_at("mutex.lock.mid_record", Expect::OwnerDied);
    }
    #[test]
    fn lock_after_record() {
        holder_killed_at("mutex.lock.after_record", Expect::OwnerDied);
    }
    #[test]
    fn unlock_before_release() {
        holder_killed_at("mutex.unlock.before_release", Expect::OwnerDied);
    }
    #[test]
    fn unlock_after_release() {
        holder_killed_at("mutex.unlock.after_release", Expect::Free);
    }
    #[test]
    fn unlock_after_wake_count() {
        holder_killed_at("mutex.unlock.after_wake_count", Expect::Free);
    }
}

/// A process that takes the lock over from a dead holder and is killed right after
/// taking the lock word: the next locker takes it over from that one in turn.
#[cfg(feature = "failpoints")]
#[test]
fn a_process_killed_during_its_takeover_is_taken_over_in_turn() {
    let name = unique_name("t-mxtake");
    let dog = Watchdog::new("mutex takeover killed", Duration::from_secs(60));
    dog.segment(&name);
    {
        let shm = SharedMemory::create(&name, 4096).unwrap();
        let m = open_blocking(&shm);
        let held = RemoteSemaphore::in_segment(&shm, HELD).unwrap();
        let mut first = spawn_child("mutex-hold", &name, 0, &[]);
        dog.child(&first);
        held.wait_timeout(PATIENCE).unwrap();
        first.kill9();
        first.wait();
        let mut second = spawn_child(
            "mutex-die",
            &name,
            0,
            &[("POLYSHM_FAULTS", "mutex.takeover.after_word=kill")],
        );
        dog.child(&second);
        assert!(
            !second.wait().success(),
            "the taker was not killed at its fault point"
        );
        match m.lock_timeout(PATIENCE) {
            Err(TryLockError::OwnerDied(d)) => {
                assert_eq!(d.previous().pid, second.pid());
                let _g = d.into_inner();
                critical(&shm, Duration::ZERO);
                assert_eq!(m.deaths(), 2);
            }
            Ok(_) => panic!("the lock was free although its taker died holding it"),
            Err(e) => panic!("{e}"),
        }
        assert!(m.holder().is_none());
    }
    assert_gone(&name);
}
