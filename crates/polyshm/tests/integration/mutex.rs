//! RemoteMutex across processes: exact counting, and a holder killed with -9.

use crate::common::{assert_gone, spawn_child, Watchdog, PATIENCE};
use polyshm::shm::{unique_name, RemoteMutex, RemoteSemaphore, SharedMemory, TryLockError};
use std::time::Duration;

const LOCK: usize = 0;
const COUNTER: usize = 64;
const HELD: usize = 128;
const READY: usize = 192;
const GO: usize = 256;

/// Child side: `n` increments of the counter, each a plain read and write under the
/// lock.
pub fn child_count(name: &str, n: u64) {
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
pub fn child_hold(name: &str) {
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
