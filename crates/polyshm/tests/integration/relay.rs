//! Relay and UdpRelay across processes: connect, roundtrips, several clients, dead
//! peers, closed peers. Parties that die at each step of the handshake (fault points):
//! `relay_faults.rs`.

use crate::common::{assert_gone, spawn_child, Cleanup, Watchdog, PATIENCE};
use polyshm::relay::{
    Relay, RelayError, RelayLink, RelayOptions, Role, UdpRelay, RELAY_ENV, UDP_RELAY_ENV,
};
use polyshm::shm::unique_name;
use std::time::Duration;

/// Client side of [`exchange`]: echo `n` messages, then answer `n` bare signals.
fn echo(link: &impl RelayLink, n: u64) {
    for _ in 0..n {
        let message = link.recv(Some(PATIENCE)).unwrap();
        link.send(&message).unwrap();
    }
    for _ in 0..n {
        link.wait(Some(PATIENCE)).unwrap();
        link.signal().unwrap();
    }
}

/// Master side of [`echo`]: `n` numbered messages carrying `payload`, each answered by
/// itself, then `n` signals each answered by a signal.
fn exchange(link: &impl RelayLink, payload: &[u8], n: u64) {
    for seq in 0..n {
        let mut message = seq.to_le_bytes().to_vec();
        message.extend_from_slice(payload);
        assert_eq!(link.call(&message, Some(PATIENCE)).unwrap(), message);
    }
    for _ in 0..n {
        link.signal().unwrap();
        link.wait(Some(PATIENCE)).unwrap();
    }
}

/// Child roles of this module.
pub fn child(role: &str, arg: &str, n: u64) {
    match role {
        "relay-echo" => {
            let link = Relay::connect_from_env(PATIENCE).unwrap();
            assert!(link.connect_time().is_some());
            assert_eq!(link.role(), Role::Client);
            echo(&link, n);
        }
        "relay-idle" => {
            let _link = Relay::connect_from_env(PATIENCE).unwrap();
            std::thread::sleep(PATIENCE); // killed here
        }
        "relay-master" => {
            let relay = Relay::create(arg, RelayOptions::default()).unwrap();
            let _link = relay.accept(Some(PATIENCE)).unwrap();
            std::thread::sleep(PATIENCE); // killed here
        }
        "relay-connects" => {
            for _ in 0..n {
                let link = Relay::connect(arg, PATIENCE).unwrap();
                assert!(link.connect_time().is_some());
            }
        }
        "udp-echo" => {
            let link = UdpRelay::connect_from_env(PATIENCE).unwrap();
            echo(&link, n);
        }
        "udp-idle" => {
            let _link = UdpRelay::connect_from_env(PATIENCE).unwrap();
            std::thread::sleep(PATIENCE); // killed here
        }
        other => panic!("unknown child role {other:?}"),
    }
}

/// A relay of `slots` slots of 256-byte messages, named after `stem`.
pub fn new_relay(stem: &str, slots: u32) -> Relay {
    Relay::create(
        &unique_name(stem),
        RelayOptions {
            slots,
            message_capacity: 256,
        },
    )
    .unwrap()
}

#[test]
fn clients_connect_by_environment_and_exchange_messages() {
    let dog = Watchdog::new("relay roundtrips", Duration::from_secs(120));
    let relay = new_relay("t-relay", 4);
    let name = relay.name().to_owned();
    dog.segment(&name);
    {
        let n = 500;
        let mut kids: Vec<_> = (0..3)
            .map(|_| spawn_child("relay-echo", "", n, &[(RELAY_ENV, &name)]))
            .collect();
        for k in &kids {
            dog.child(k);
        }
        let links: Vec<_> = (0..3)
            .map(|_| relay.accept(Some(PATIENCE)).unwrap())
            .collect();
        let mut slots: Vec<_> = links.iter().map(|l| l.slot()).collect();
        slots.sort();
        slots.dedup();
        assert_eq!(slots.len(), 3, "each client has its own slot");
        let mut peers: Vec<_> = links.iter().map(|l| l.peer().pid).collect();
        let mut pids: Vec<_> = kids.iter().map(|k| k.pid()).collect();
        peers.sort();
        pids.sort();
        assert_eq!(peers, pids);
        for l in &links {
            assert_eq!(l.role(), Role::Master);
            assert!(matches!(
                l.send(&[0; 257]),
                Err(RelayError::TooLarge {
                    len: 257,
                    capacity: 256,
                    ..
                })
            ));
            exchange(l, b"payload", n);
        }
        for k in &mut kids {
            k.expect_success();
        }
        assert_eq!(relay.accepted(), 3);
        drop(links);
        drop(relay);
    }
    assert_gone(&name);
}

#[test]
fn repeated_connects_reuse_the_slots() {
    let dog = Watchdog::new("relay connects", Duration::from_secs(60));
    let relay = new_relay("t-reconnect", 2);
    let name = relay.name().to_owned();
    dog.segment(&name);
    let mut child = spawn_child("relay-connects", &name, 50, &[]);
    dog.child(&child);
    for _ in 0..50 {
        assert_eq!(
            relay.accept(Some(PATIENCE)).unwrap().peer().pid,
            child.pid()
        );
    }
    child.expect_success();
    assert_eq!(relay.accepted(), 50);
    drop(relay);
    assert_gone(&name);
}

#[test]
fn a_dead_client_is_noticed_and_its_slot_freed() {
    let dog = Watchdog::new("relay dead client", Duration::from_secs(60));
    let relay = new_relay("t-deadcli", 1);
    let name = relay.name().to_owned();
    dog.segment(&name);
    let mut child = spawn_child("relay-idle", "", 0, &[(RELAY_ENV, &name)]);
    dog.child(&child);
    let link = relay.accept(Some(PATIENCE)).unwrap();
    assert_eq!(link.peer().pid, child.pid());
    child.kill9();
    match link.wait(Some(PATIENCE)) {
        Err(RelayError::PeerDied { peer, .. }) => assert_eq!(peer.pid, child.pid()),
        other => panic!("expected PeerDied, got {other:?}"),
    }
    assert!(matches!(
        link.recv(Some(PATIENCE)),
        Err(RelayError::PeerDied { .. })
    ));
    drop(link);
    // The only slot is free again: another client gets it.
    std::thread::scope(|s| {
        let c = s.spawn(|| Relay::connect(&name, PATIENCE));
        let l = relay.accept(Some(PATIENCE)).unwrap();
        let cl = c.join().unwrap().unwrap();
        assert_eq!((l.slot(), cl.slot()), (0, 0));
    });
    drop(relay);
    assert_gone(&name);
}

#[test]
fn a_dead_master_is_noticed() {
    let dog = Watchdog::new("relay dead master", Duration::from_secs(60));
    let name = unique_name("t-deadmst");
    dog.segment(&name);
    // The master is the child: its segment outlives it, so remove it by name.
    let mut cleanup = Cleanup::default();
    cleanup.segment(&name);
    let mut child = spawn_child("relay-master", &name, 0, &[]);
    dog.child(&child);
    let link = (0..)
        .find_map(|i| match Relay::connect(&name, PATIENCE) {
            Ok(l) => Some(l),
            Err(RelayError::Shm(polyshm::shm::ShmError::NotFound { .. })) if i < 5000 => {
                std::thread::sleep(Duration::from_millis(2));
                None
            }
            Err(e) => panic!("{e}"),
        })
        .unwrap();
    assert_eq!(link.peer().pid, child.pid());
    child.kill9();
    match link.recv(Some(PATIENCE)) {
        Err(RelayError::PeerDied { peer, .. }) => assert_eq!(peer.pid, child.pid()),
        other => panic!("expected PeerDied, got {other:?}"),
    }
    // A new client is refused at once.
    assert!(matches!(
        Relay::connect(&name, PATIENCE),
        Err(RelayError::PeerDied { .. })
    ));
    drop(link);
    drop(cleanup);
    assert_gone(&name);
}

#[test]
fn closing_full_and_timeouts() {
    let dog = Watchdog::new("relay closing", Duration::from_secs(60));
    let relay = new_relay("t-close", 1);
    let name = relay.name().to_owned();
    dog.segment(&name);
    // Nobody accepts: the connect times out and gives its slot back.
    assert!(matches!(
        Relay::connect(&name, Duration::from_millis(30)),
        Err(RelayError::TimedOut { .. })
    ));
    assert!(matches!(
        relay.accept(Some(Duration::from_millis(30))),
        Err(RelayError::TimedOut { .. })
    ));
    std::thread::scope(|s| {
        let c = s.spawn(|| Relay::connect(&name, PATIENCE));
        let master = relay.accept(Some(PATIENCE)).unwrap();
        let client = c.join().unwrap().unwrap();
        // One slot, taken.
        assert!(matches!(
            Relay::connect(&name, PATIENCE),
            Err(RelayError::Full { slots: 1, .. })
        ));
        assert!(matches!(
            client.wait(Some(Duration::from_millis(20))),
            Err(RelayError::TimedOut { .. })
        ));
        // A message sent before closing is still delivered; then the close is seen.
        master.send(b"last").unwrap();
        drop(master);
        assert_eq!(client.recv(Some(PATIENCE)).unwrap(), b"last");
        assert!(matches!(
            client.recv(Some(PATIENCE)),
            Err(RelayError::PeerClosed { .. })
        ));
    });
    // Not a relay: a plain segment.
    let plain_name = unique_name("t-plain");
    let plain = polyshm::shm::SharedMemory::create(&plain_name, 4096).unwrap();
    plain.write_at(0, &[1; 8]).unwrap();
    assert!(matches!(
        Relay::connect(&plain_name, PATIENCE),
        Err(RelayError::NotARelay { .. })
    ));
    drop(plain);
    // A closed relay turns new clients away.
    let keep = {
        let c = std::thread::scope(|s| {
            let c = s.spawn(|| Relay::connect(&name, PATIENCE));
            let m = relay.accept(Some(PATIENCE)).unwrap();
            (c.join().unwrap().unwrap(), m)
        });
        c
    };
    drop(relay);
    assert!(matches!(
        Relay::connect(&name, PATIENCE),
        Err(RelayError::PeerClosed { .. })
    ));
    // Accepted links outlive the relay object.
    keep.1.send(b"still").unwrap();
    assert_eq!(keep.0.recv(Some(PATIENCE)).unwrap(), b"still");
    drop(keep);
    assert_gone(&name);
    assert_gone(&plain_name);
    assert!(matches!(
        Relay::connect(&name, PATIENCE),
        Err(RelayError::Shm(polyshm::shm::ShmError::NotFound { .. }))
    ));
}

#[test]
fn udp_relay_roundtrips_and_a_dead_peer() {
    let dog = Watchdog::new("udp relay", Duration::from_secs(60));
    let relay = UdpRelay::bind().unwrap();
    let addr = relay.name().to_owned();
    let n = 300;
    let mut child = spawn_child("udp-echo", "", n, &[(UDP_RELAY_ENV, &addr)]);
    dog.child(&child);
    let link = relay.accept(Some(PATIENCE)).unwrap();
    assert_eq!(link.peer().pid, child.pid());
    exchange(&link, &[7; 100], n);
    child.expect_success();
    drop(link);

    let mut idle = spawn_child("udp-idle", "", 0, &[(UDP_RELAY_ENV, &addr)]);
    dog.child(&idle);
    let link = relay.accept(Some(PATIENCE)).unwrap();
    assert!(matches!(
        link.wait(Some(Duration::from_millis(20))),
        Err(RelayError::TimedOut { .. })
    ));
    idle.kill9();
    match link.wait(Some(PATIENCE)) {
        Err(RelayError::PeerDied { peer, .. }) => assert_eq!(peer.pid, idle.pid()),
        other => panic!("expected PeerDied, got {other:?}"),
    }
}

#[test]
fn udp_relay_close_and_connect_timeout() {
    let relay = UdpRelay::bind().unwrap();
    let addr = relay.name().to_owned();
    std::thread::scope(|s| {
        let c = s.spawn(|| UdpRelay::connect(&addr, PATIENCE));
        let master = relay.accept(Some(PATIENCE)).unwrap();
        let client = c.join().unwrap().unwrap();
        assert!(client.connect_time().is_some());
        master.send(b"bye").unwrap();
        drop(master);
        assert_eq!(client.recv(Some(PATIENCE)).unwrap(), b"bye");
        assert!(matches!(
            client.recv(Some(PATIENCE)),
            Err(RelayError::PeerClosed { .. })
        ));
    });
    drop(relay);
    // Nobody listens any more.
    assert!(matches!(
        UdpRelay::connect(&addr, Duration::from_millis(50)),
        Err(RelayError::TimedOut { .. }) | Err(RelayError::Io { .. })
    ));
}

/// Defect 10: a timeout of `Duration::MAX` means "for ever" in every relay call (it
/// used to panic adding it to `Instant::now()`).
#[test]
fn defect_10_relay_timeouts_of_duration_max_mean_for_ever() {
    let dog = Watchdog::new("relay Duration::MAX", Duration::from_secs(60));
    let relay = new_relay("t-relay-max", 2);
    let name = relay.name().to_owned();
    dog.segment(&name);
    std::thread::scope(|s| {
        let c = s.spawn(|| {
            let link = Relay::connect(&name, Duration::MAX).unwrap();
            link.send(b"ping").unwrap();
            link.wait(Some(Duration::MAX)).unwrap();
        });
        let link = relay.accept(Some(Duration::MAX)).unwrap();
        assert_eq!(link.recv(Some(Duration::MAX)).unwrap(), b"ping");
        link.signal().unwrap();
        c.join().unwrap();
    });

    let udp = UdpRelay::bind().unwrap();
    let addr = udp.name().to_owned();
    std::thread::scope(|s| {
        let c = s.spawn(|| {
            let link = UdpRelay::connect(&addr, Duration::MAX).unwrap();
            link.send(b"ping").unwrap();
            link.wait(Some(Duration::MAX)).unwrap();
        });
        let link = udp.accept(Some(Duration::MAX)).unwrap();
        assert_eq!(link.recv(Some(Duration::MAX)).unwrap(), b"ping");
        link.signal().unwrap();
        c.join().unwrap();
    });
}
