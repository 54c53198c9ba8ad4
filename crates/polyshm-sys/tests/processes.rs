//! Conformance tests of the platform layer's processes, run on every backend:
//! identity (this process, its threads, a child alive and exited), a child that dies
//! with its parent (each mechanism alone and both together), and killing a process by
//! its identity.
//!
//! Multi-process tests run this test executable again as a child: the child runs the
//! same test (`--exact <name>`), finds its role in the environment, plays it and
//! exits. Every wait on a child has a watchdog.

mod common;

use common::{read_said, role, role_command, say, spawn_role, wait_with_watchdog};
use polyshm_sys as sys;
use std::process::Stdio;
use std::time::{Duration, Instant};

#[test]
fn identity_of_this_process_thread_and_a_child() {
    if let Some((role, _)) = role() {
        if role == "exit" {
            say(&format!("{}", sys::current_process().start_time));
        }
        return;
    }
    let me = sys::current_process();
    assert_eq!(me.pid, std::process::id());
    assert_ne!(me.start_time, 0);
    assert!(sys::is_alive(me));
    assert!(!sys::is_alive(sys::ProcessId {
        pid: me.pid,
        start_time: me.start_time + 1
    }));
    assert!(!sys::is_alive(sys::ProcessId::default()));
    assert_ne!(sys::current_thread_id(), 0);
    assert_eq!(sys::current_thread_id() & (1 << 31), 0);

    // A thread id judged as a "pid" with no start time (the robust mutex's fallback).
    let (tx, rx) = std::sync::mpsc::channel();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let t = std::thread::spawn(move || {
        tx.send(sys::current_thread_id()).unwrap();
        let _ = go_rx.recv();
    });
    let tid = rx.recv().unwrap();
    let as_pid = sys::ProcessId {
        pid: tid,
        start_time: 0,
    };
    if sys::THREAD_IDS_CHECKABLE {
        assert!(sys::is_alive(as_pid), "live thread {tid} judged dead");
    }
    go_tx.send(()).unwrap();
    t.join().unwrap();
    if sys::THREAD_IDS_CHECKABLE {
        assert!(!sys::is_alive(as_pid), "ended thread {tid} judged alive");
    }

    // A child: alive while it runs, dead once it has exited (even before it is reaped).
    let mut child = spawn_role(
        "identity_of_this_process_thread_and_a_child",
        "exit",
        "",
        Stdio::piped(),
    );
    let start: u64 = read_said(&mut child, Duration::from_secs(60))
        .parse()
        .expect("a start time");
    let id = sys::ProcessId {
        pid: child.id(),
        start_time: start,
    };
    let give_up = Instant::now() + Duration::from_secs(60);
    while sys::is_alive(id) {
        assert!(Instant::now() < give_up, "watchdog: child still alive");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(wait_with_watchdog(&mut child, Duration::from_secs(60), "child").success());
    assert!(!sys::is_alive(id));
}

/// The master (this test) starts a middle process; the middle spawns a leaf (adopting
/// it unless `mechanism` is "child-side") and reports the leaf's identity; the leaf
/// ties itself to the middle with `kill_with_parent` (unless `mechanism` is
/// "parent-side") and sleeps. Killing the middle must end the leaf.
fn die_with_parent(test: &str, mechanism: &str) {
    match role() {
        Some((role, arg)) if role == "middle" => {
            let me = sys::current_process();
            let mut leaf = role_command(test, "leaf", &arg)
                .env(MIDDLE, format!("{} {}", me.pid, me.start_time))
                .stdout(Stdio::piped())
                .spawn()
                .expect("spawn the leaf");
            if arg != "child-side" {
                sys::adopt_child(&leaf).expect("adopt_child");
            }
            let said = read_said(&mut leaf, Duration::from_secs(60));
            say(&said);
            // Wait to be killed (bounded: never an orphan for long).
            std::thread::sleep(Duration::from_secs(60));
        }
        Some((role, arg)) if role == "leaf" => {
            if arg != "parent-side" {
                let v = std::env::var(MIDDLE).expect("middle identity");
                let (pid, start) = v.split_once(' ').expect("pid start");
                let parent = sys::ProcessId {
                    pid: pid.parse().expect("pid"),
                    start_time: start.parse().expect("start time"),
                };
                assert!(sys::kill_with_parent(parent).expect("kill_with_parent"));
            }
            let me = sys::current_process();
            say(&format!("{} {}", me.pid, me.start_time));
            std::thread::sleep(Duration::from_secs(60));
        }
        Some(_) => {}
        None => {
            let mut middle = role_command(test, "middle", mechanism)
                .stdout(Stdio::piped())
                .spawn()
                .expect("spawn the middle");
            let said = read_said(&mut middle, Duration::from_secs(60));
            let (pid, start) = said.split_once(' ').expect("pid start");
            let leaf = sys::ProcessId {
                pid: pid.parse().expect("pid"),
                start_time: start.parse().expect("start time"),
            };
            assert!(sys::is_alive(leaf));
            middle.kill().expect("kill the middle process");
            let _ = middle.wait();
            let give_up = Instant::now() + Duration::from_secs(30);
            while sys::is_alive(leaf) {
                assert!(
                    Instant::now() < give_up,
                    "watchdog: the leaf outlived its parent by 30 s ({mechanism})"
                );
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// Where the middle process passes its identity to the leaf.
const MIDDLE: &str = "POLYSHM_SYS_TEST_MIDDLE";

#[test]
fn a_child_dies_with_its_parent() {
    // Both halves, as a team uses them.
    die_with_parent("a_child_dies_with_its_parent", "both");
}

#[test]
fn a_child_dies_with_its_parent_by_its_own_watch() {
    // Only the child's half (PR_SET_PDEATHSIG; a watcher thread on Windows and macOS).
    die_with_parent(
        "a_child_dies_with_its_parent_by_its_own_watch",
        "child-side",
    );
}

#[cfg(windows)]
#[test]
fn a_child_dies_with_its_parent_by_the_job_object() {
    // Only the parent's half: the kill-on-close job object.
    die_with_parent(
        "a_child_dies_with_its_parent_by_the_job_object",
        "parent-side",
    );
}

#[test]
fn kill_process_ends_a_live_process_and_spares_a_stale_identity() {
    if let Some((role, _)) = role() {
        if role == "sleeper" {
            let me = sys::current_process();
            say(&format!("{} {}", me.pid, me.start_time));
            std::thread::sleep(Duration::from_secs(60));
        }
        return;
    }
    let mut child = spawn_role(
        "kill_process_ends_a_live_process_and_spares_a_stale_identity",
        "sleeper",
        "",
        Stdio::piped(),
    );
    let said = read_said(&mut child, Duration::from_secs(60));
    let (pid, start) = said.split_once(' ').expect("pid start");
    let id = sys::ProcessId {
        pid: pid.parse().expect("pid"),
        start_time: start.parse().expect("start time"),
    };
    // The same pid with another start time names some other (older or newer) process.
    let stale = sys::ProcessId {
        start_time: id.start_time + 1,
        ..id
    };
    assert_eq!(
        sys::kill_process(stale).unwrap_err().kind(),
        std::io::ErrorKind::NotFound
    );
    assert!(sys::is_alive(id), "the stale kill hit the live process");
    sys::kill_process(id).expect("kill the sleeper");
    let status = wait_with_watchdog(&mut child, Duration::from_secs(30), "killed sleeper");
    assert!(!status.success());
    assert!(!sys::is_alive(id));
    assert_eq!(
        sys::kill_process(id).unwrap_err().kind(),
        std::io::ErrorKind::NotFound
    );
}
