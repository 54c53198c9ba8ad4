//! EventBasedSemaphore across processes, over window messages (Windows; under Wine in
//! CI): connect by handle and by name, ping-pong with sequence numbers, timed waits, a
//! peer killed mid-wait, many pairs on one relay. Elsewhere: the relay is refused with
//! a clear error.

use crate::common::{assert_gone, spawn_child, Watchdog, PATIENCE};
use polyshm::shm::{unique_name, SharedMemory};
use polyshm::sync::{EventBasedSemaphore, EventError, SemaphoreEventRelay};
use polyshm::sys::WindowHandle;
use std::time::Duration;

// Layout of the ping-pong segment's data region.
const PING_SEQ: usize = 0;
const PONG_SEQ: usize = 8;

fn read_u64(shm: &SharedMemory, at: usize) -> u64 {
    let mut b = [0u8; 8];
    shm.read_at(at, &mut b).unwrap();
    u64::from_ne_bytes(b)
}

/// Child roles of this module (see `common::run_child`).
pub fn child(role: &str, arg: &str, n: u64) {
    match role {
        "event-pong" => child_pong(arg, n),
        "event-hold" => child_hold(arg),
        other => panic!("unknown child role {other:?}"),
    }
}

/// `<segment> <master relay handle> <ping id> <pong id>`.
fn parse(arg: &str) -> (String, WindowHandle, u32, u32) {
    let f: Vec<&str> = arg.split(' ').collect();
    let num = |s: &str| s.parse::<u64>().unwrap();
    (
        f[0].to_string(),
        WindowHandle(num(f[1])),
        num(f[2]) as u32,
        num(f[3]) as u32,
    )
}

/// Child side: open both pairs by the master's handle (as a drone told it on its
/// command line), then answer `n` pings, each carrying the next sequence number.
fn child_pong(arg: &str, n: u64) {
    let (seg, master, ping_id, pong_id) = parse(arg);
    let shm = SharedMemory::open(&seg).unwrap();
    let relay = SemaphoreEventRelay::process().unwrap();
    let ping = EventBasedSemaphore::open(&relay, master, ping_id).unwrap();
    let pong = EventBasedSemaphore::open(&relay, master, pong_id).unwrap();
    for i in 1..=n {
        ping.wait_timeout(PATIENCE)
            .unwrap_or_else(|e| panic!("ping {i}: {e}"));
        assert_eq!(ping.count(), 0, "ping {i}: a duplicated signal");
        assert_eq!(read_u64(&shm, PING_SEQ), i, "ping {i}: lost or reordered");
        shm.write_at(PONG_SEQ, &i.to_ne_bytes()).unwrap();
        pong.signal().unwrap();
    }
}

/// Child side: find the master's relay by name, open the pair, and hold it (until
/// killed).
fn child_hold(arg: &str) {
    let master_pid: u32 = arg.split(' ').next().unwrap().parse().unwrap();
    let id: u32 = arg.split(' ').nth(1).unwrap().parse().unwrap();
    let master = SemaphoreEventRelay::find(&SemaphoreEventRelay::name_of(master_pid)).unwrap();
    let relay = SemaphoreEventRelay::process().unwrap();
    assert_eq!(relay.connect(master).unwrap(), master_pid);
    let _held = EventBasedSemaphore::open(&relay, master, id).unwrap();
    std::thread::sleep(PATIENCE * 2);
}

/// Wait (at most [`PATIENCE`]) until the child has opened its half of `sem`.
fn opened(sem: &EventBasedSemaphore) {
    let until = std::time::Instant::now() + PATIENCE;
    while sem.peer().is_none() {
        assert!(
            std::time::Instant::now() < until,
            "the child did not open pair {} within {PATIENCE:?}",
            sem.id()
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
#[cfg_attr(not(windows), ignore = "window messages exist only on Windows")]
fn ping_pong_100k_over_window_messages_loses_and_duplicates_nothing() {
    let n = 100_000;
    let name = unique_name("t-evping");
    let dog = Watchdog::new("event ping-pong", Duration::from_secs(600));
    dog.segment(&name);
    {
        let shm = SharedMemory::create(&name, 4096).unwrap();
        let relay = SemaphoreEventRelay::process().unwrap();
        let ping = EventBasedSemaphore::create(&relay, 0).unwrap();
        let pong = EventBasedSemaphore::create(&relay, 0).unwrap();
        let arg = format!("{name} {} {} {}", relay.handle().0, ping.id(), pong.id());
        let mut child = spawn_child("event-pong", &arg, n, &[]);
        dog.child(&child);
        for i in 1..=n {
            shm.write_at(PING_SEQ, &i.to_ne_bytes()).unwrap();
            if i == 1 {
                opened(&ping);
            }
            ping.signal().unwrap();
            pong.wait_timeout(PATIENCE)
                .unwrap_or_else(|e| panic!("pong {i}: {e}"));
            assert_eq!(pong.count(), 0, "pong {i}: a duplicated signal");
            assert_eq!(read_u64(&shm, PONG_SEQ), i, "pong {i}: lost or reordered");
        }
        child.expect_success();
        // Both mirrors end empty: nothing pending, nothing owed.
        assert_eq!((ping.count(), pong.count()), (0, 0));
    }
    assert_gone(&name);
}

#[test]
#[cfg_attr(not(windows), ignore = "window messages exist only on Windows")]
fn a_peer_killed_mid_wait_ends_the_wait_with_peer_died() {
    let dog = Watchdog::new("event peer killed", Duration::from_secs(60));
    let relay = SemaphoreEventRelay::process().unwrap();
    let sem = EventBasedSemaphore::create(&relay, 0).unwrap();
    let arg = format!("{} {}", std::process::id(), sem.id());
    let mut child = spawn_child("event-hold", &arg, 0, &[]);
    dog.child(&child);
    let pid = child.pid();
    // The child found the relay by name, connected and opened the pair.
    opened(&sem);
    assert_eq!(sem.peer(), Some(pid));
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        child.kill9();
        child
    });
    // No timeout: only the peer's death ends this wait.
    match sem.wait() {
        Err(EventError::PeerDied(p)) => assert_eq!(p, pid),
        other => panic!("expected PeerDied({pid}), got {other:?}"),
    }
    drop(killer.join().unwrap());
    // Signalling a dead peer fails, and says why.
    match sem.signal() {
        Err(EventError::PeerDied(p)) => assert_eq!(p, pid),
        other => panic!("expected PeerDied({pid}), got {other:?}"),
    }
}

/// Two relays in one process stand in for two processes (each relay has its own
/// window, thread and table).
fn two_relays() -> (SemaphoreEventRelay, SemaphoreEventRelay) {
    let a = SemaphoreEventRelay::start(&unique_name("relay-a")).unwrap();
    let b = SemaphoreEventRelay::start(&unique_name("relay-b")).unwrap();
    (a, b)
}

#[test]
#[cfg_attr(not(windows), ignore = "window messages exist only on Windows")]
fn timed_waits_time_out_and_keep_a_later_signal() {
    let _dog = Watchdog::new("event timed wait", Duration::from_secs(60));
    let (a, b) = two_relays();
    let owner = EventBasedSemaphore::create(&a, 0).unwrap();
    // The owner cannot signal before the other half is opened.
    assert!(matches!(owner.signal(), Err(EventError::NotOpened(_))));
    let other = EventBasedSemaphore::open(&b, a.handle(), owner.id()).unwrap();
    for _ in 0..3 {
        match other.wait_timeout(Duration::from_millis(20)) {
            Err(EventError::TimedOut(d)) => assert_eq!(d, Duration::from_millis(20)),
            r => panic!("expected a timeout, got {r:?}"),
        }
        assert!(!other.try_wait().unwrap());
    }
    // The timed-out waits left no debt: this signal is pending, in both mirrors.
    owner.signal().unwrap();
    assert_eq!((owner.count(), other.count()), (1, 1));
    other.wait_timeout(Duration::from_millis(20)).unwrap();
    assert_eq!((owner.count(), other.count()), (0, 0));
    // A signal given while the other side waits wakes it.
    let t = std::thread::spawn(move || {
        other.wait_timeout(PATIENCE).unwrap();
        other
    });
    std::thread::sleep(Duration::from_millis(50));
    owner.signal().unwrap();
    let other = t.join().unwrap();
    assert_eq!((owner.count(), other.count()), (0, 0));
    // Signals from the opening side reach the owner the same way.
    other.signal().unwrap();
    owner.wait_timeout(PATIENCE).unwrap();
    // Dropping one half tells the other: its wait ends at once.
    drop(other);
    assert!(matches!(
        owner.wait_timeout(PATIENCE),
        Err(EventError::PeerClosed(_))
    ));
}

#[test]
#[cfg_attr(not(windows), ignore = "window messages exist only on Windows")]
fn many_pairs_on_one_relay_keep_their_own_counts() {
    let _dog = Watchdog::new("event many pairs", Duration::from_secs(120));
    let (a, b) = two_relays();
    let owners: Vec<_> = (0..64)
        .map(|_| EventBasedSemaphore::create(&a, 0).unwrap())
        .collect();
    let others: Vec<_> = owners
        .iter()
        .map(|o| EventBasedSemaphore::open(&b, a.handle(), o.id()).unwrap())
        .collect();
    // Pair i gets i % 5 signals.
    for (i, o) in owners.iter().enumerate() {
        for _ in 0..i % 5 {
            o.signal().unwrap();
        }
    }
    for (i, other) in others.iter().enumerate() {
        assert_eq!(other.count(), (i % 5) as u32, "pair {i}");
    }
    // Each waiter takes exactly its pair's signals, in threads at once.
    std::thread::scope(|s| {
        for (i, other) in others.iter().enumerate() {
            s.spawn(move || {
                for _ in 0..i % 5 {
                    other.wait_timeout(PATIENCE).unwrap();
                }
                assert!(!other.try_wait().unwrap(), "pair {i}: a signal too many");
            });
        }
    });
    for (o, other) in owners.iter().zip(&others) {
        assert_eq!((o.count(), other.count()), (0, 0));
    }
}

#[test]
#[cfg_attr(windows, ignore = "this platform has window messages")]
fn without_window_messages_the_relay_is_refused_clearly() {
    let e = SemaphoreEventRelay::start("x").unwrap_err();
    assert!(matches!(e, EventError::Unavailable(_)));
    assert!(e.to_string().contains("--signal semaphore"), "{e}");
    assert!(matches!(
        SemaphoreEventRelay::process(),
        Err(EventError::Unavailable(_))
    ));
}
