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
        other => panic!("unknown child role {other:?}"),
    }
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
