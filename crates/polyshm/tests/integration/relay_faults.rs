//! Defect 8: a relay client killed by its own fault point at each step of the
//! handshake, and a master whose link setup fails, leave a relay whose slot the next
//! client gets within a bounded time (built with the `failpoints` feature only).

use super::relay::new_relay;
use crate::common::{assert_gone, spawn_child, Cleanup, Watchdog, PATIENCE};
use polyshm::relay::{Relay, RelayError, RelayLink, RelayOptions, RELAY_ENV};
use polyshm::shm::unique_name;
use std::time::Duration;

/// Child roles of this module.
pub fn child(role: &str, arg: &str) {
    match role {
        "relay-fault-client" => {
            // Killed by its own fault point (POLYSHM_FAULTS) somewhere in here.
            if let Ok(link) = Relay::connect_from_env(PATIENCE) {
                let _ = link.recv(Some(PATIENCE));
            }
            std::thread::sleep(PATIENCE);
        }
        "relay-fault-master" => {
            // Its first link setup fails (POLYSHM_FAULTS); the second serves.
            let relay = Relay::create(
                arg,
                RelayOptions {
                    slots: 1,
                    message_capacity: 256,
                },
            )
            .unwrap();
            assert!(
                relay.accept(Some(PATIENCE)).is_err(),
                "the setup should fail"
            );
            let link = relay.accept(Some(PATIENCE)).unwrap();
            link.send(b"hello").unwrap();
            assert!(matches!(
                link.recv(Some(PATIENCE)),
                Err(RelayError::PeerClosed { .. })
            ));
        }
        other => panic!("unknown child role {other:?}"),
    }
}

/// Defect 8: a relay client killed (by its own fault point) in slot state `point`
/// leaves a slot that a new client gets within a bounded time; the master never hangs
/// and never hands out a link to the dead client.
fn client_dies_at(point: &str) {
    let dog = Watchdog::new("relay client dies", Duration::from_secs(90));
    let relay = new_relay("t-d8", 1);
    let name = relay.name().to_owned();
    dog.segment(&name);
    let faults = format!("{point}=kill");
    let mut child = spawn_child(
        "relay-fault-client",
        "",
        0,
        &[(RELAY_ENV, &name), (polyshm::fault::FAULTS_ENV, &faults)],
    );
    dog.child(&child);
    match point {
        "relay.client.connected" => {
            let link = relay.accept(Some(PATIENCE)).unwrap();
            assert_eq!(link.peer().pid, child.pid());
            match link.recv(Some(PATIENCE)) {
                Err(RelayError::PeerDied { peer, .. }) => assert_eq!(peer.pid, child.pid()),
                other => panic!("expected PeerDied, got {other:?}"),
            }
        }
        "relay.client.peer_closed" => {
            let link = relay.accept(Some(PATIENCE)).unwrap();
            assert_eq!(link.peer().pid, child.pid());
            // The master closes first; the client dies when it sees the close.
            drop(link);
        }
        _ => {}
    }
    let status = child.wait();
    assert!(!status.success(), "the client should have died at {point}");
    let me = std::process::id();
    std::thread::scope(|s| {
        let c = s.spawn(|| Relay::connect(&name, PATIENCE));
        let master = relay.accept(Some(PATIENCE));
        let client = c.join().unwrap();
        let client = client.unwrap_or_else(|e| panic!("after a client died at {point}: {e}"));
        let master = master.unwrap_or_else(|e| panic!("after a client died at {point}: {e}"));
        assert_eq!(
            master.peer().pid,
            me,
            "a link to the dead client was accepted"
        );
        assert_eq!((master.slot(), client.slot()), (0, 0));
        master.send(b"again").unwrap();
        assert_eq!(client.recv(Some(PATIENCE)).unwrap(), b"again");
    });
    drop(relay);
    assert_gone(&name);
}

#[test]
fn defect_8_relay_client_dies_claimed() {
    client_dies_at("relay.client.claimed");
}

#[test]
fn defect_8_relay_client_dies_requested() {
    client_dies_at("relay.client.requested");
}

#[test]
fn defect_8_relay_client_dies_connected() {
    client_dies_at("relay.client.connected");
}

#[test]
fn defect_8_relay_client_dies_after_master_closed() {
    client_dies_at("relay.client.peer_closed");
}

/// Defect 8: a master whose link setup fails closes its end, so the waiting client
/// hears it at once (not at its timeout) and the slot is free for the next client.
#[test]
fn defect_8_relay_failed_link_setup_frees_the_slot() {
    let dog = Watchdog::new("relay failed setup", Duration::from_secs(90));
    let name = unique_name("t-d8setup");
    dog.segment(&name);
    let mut cleanup = Cleanup::default();
    cleanup.segment(&name);
    let mut child = spawn_child(
        "relay-fault-master",
        &name,
        0,
        &[(
            polyshm::fault::FAULTS_ENV,
            "relay.master.setup_fails=1*return",
        )],
    );
    dog.child(&child);
    let connect = || loop {
        match Relay::connect(&name, PATIENCE) {
            Err(RelayError::Shm(polyshm::shm::ShmError::NotFound { .. }))
            | Err(RelayError::NotARelay { .. }) => std::thread::sleep(Duration::from_millis(2)),
            other => return other,
        }
    };
    match connect() {
        Err(RelayError::PeerClosed { .. }) => {}
        other => panic!("expected PeerClosed after the master's setup failed, got {other:?}"),
    }
    let link = connect().expect("the only slot is free again");
    assert_eq!(link.slot(), 0);
    assert_eq!(link.recv(Some(PATIENCE)).unwrap(), b"hello");
    drop(link);
    child.expect_success();
    drop(cleanup);
    assert_gone(&name);
}
