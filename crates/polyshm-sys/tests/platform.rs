//! Conformance tests of the platform layer, run on every backend (Linux natively,
//! Windows under Wine through `scripts/windows-tests.sh`).
//!
//! Multi-process tests run this test executable again as a child: the child runs the
//! same test (`--exact <name>`), finds its role in the environment, plays it and
//! exits. Every wait on a child has a watchdog; segment names are unique and removed
//! on drop.

mod common;

use common::{read_said, say, this_test_again, wait_with_watchdog};
use polyshm_sys as sys;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const ROLE: &str = "POLYSHM_SYS_TEST_ROLE";
const ARG: &str = "POLYSHM_SYS_TEST_ARG";

/// The role this process plays, if it is a child of a test.
fn role() -> Option<(String, String)> {
    Some((
        std::env::var(ROLE).ok()?,
        std::env::var(ARG).unwrap_or_default(),
    ))
}

/// This test executable again, to run test `test` in role `role`.
fn role_command(test: &str, role: &str, arg: &str) -> Command {
    let mut c = this_test_again(test);
    c.env(ROLE, role).env(ARG, arg);
    c
}

/// Start this test executable again, running test `test` in role `role`.
fn spawn_role(test: &str, role: &str, arg: &str, stdout: Stdio) -> Child {
    role_command(test, role, arg)
        .stdout(stdout)
        .spawn()
        .expect("spawn the test executable again")
}

/// A unique OS-level name (`polyshm.<...>`, within the 31-byte limit).
fn unique(stem: &str) -> String {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let n = format!(
        "polyshm.{stem}{:x}{:x}{:x}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed),
        nanos & 0xfff
    );
    assert!(n.len() < sys::MAX_OS_NAME_LEN, "{n}");
    n
}

/// Removes the name on drop where names outlive their handles.
struct Unlink(String);
impl Drop for Unlink {
    fn drop(&mut self) {
        if sys::SEGMENTS_PERSIST {
            let _ = sys::unlink_segment(&self.0);
        }
    }
}

fn word(m: &sys::Mapping, offset: usize) -> &AtomicU32 {
    assert!(offset + 4 <= m.len() && offset.is_multiple_of(4));
    // SAFETY: in bounds and aligned (checked above, the mapping is page-aligned); an
    // AtomicU32 is valid for any bytes; the borrow of `m` keeps the mapping alive.
    unsafe { &*m.as_ptr().add(offset).cast::<AtomicU32>() }
}

#[test]
fn segments_create_open_and_errors() {
    let name = unique("seg");
    let _unlink = Unlink(name.clone());
    let a = sys::create_segment(&name, 10_000).expect("create");
    assert_eq!(a.len(), 10_000);
    // SAFETY: 10,000 bytes mapped; nothing else refers to them yet.
    unsafe { a.as_ptr().add(9_999).write(42) };
    let b = sys::open_segment(&name).expect("open");
    // A segment opened by name is at least as long as asked (Windows rounds to pages).
    assert!(b.len() >= 10_000, "{}", b.len());
    // SAFETY: in bounds of b's mapping (checked above).
    assert_eq!(unsafe { b.as_ptr().add(9_999).read() }, 42);
    let again = sys::create_segment(&name, 100).unwrap_err();
    assert_eq!(again.kind(), std::io::ErrorKind::AlreadyExists);
    let missing = sys::open_segment(&unique("none")).unwrap_err();
    assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
    assert_eq!(
        sys::unlink_segment(&unique("none")).unwrap_err().kind(),
        std::io::ErrorKind::NotFound
    );
    drop((a, b));
    // With every handle gone, a segment persists only where the platform says so.
    let reopened = sys::open_segment(&name);
    assert_eq!(
        reopened.is_ok(),
        sys::SEGMENTS_PERSIST,
        "segment after its last handle closed: {reopened:?}"
    );
    if let Err(e) = reopened {
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
    }
}

#[test]
fn listing_segments_finds_ours_or_says_unsupported() {
    let name = unique("ls");
    let _unlink = Unlink(name.clone());
    let _m = sys::create_segment(&name, 64).expect("create");
    let listed = sys::list_segments();
    assert_eq!(listed.is_ok(), sys::CAN_LIST_SEGMENTS, "{listed:?}");
    match listed {
        Ok(names) => assert!(names.contains(&name), "{name} not in {names:?}"),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::Unsupported, "{e}"),
    }
    if let Some(dir) = sys::SEGMENT_DIR {
        assert!(std::path::Path::new(dir).join(&name).exists());
    }
}

#[test]
fn a_size_beyond_memory_fails_at_create() {
    let name = unique("big");
    let _unlink = Unlink(name.clone());
    // 2^46 bytes (64 TiB): more than this machine (or any CI runner) can back. On
    // macOS pages are committed lazily, so create may succeed there.
    match sys::create_segment(&name, 1 << 46) {
        Err(e) => assert!(
            matches!(
                e.kind(),
                std::io::ErrorKind::StorageFull
                    | std::io::ErrorKind::OutOfMemory
                    | std::io::ErrorKind::FileTooLarge
                    | std::io::ErrorKind::InvalidInput
            ),
            "{e:?}"
        ),
        Ok(_) => assert_eq!(sys::PLATFORM, "macos", "64 TiB segment was created"),
    }
}

#[test]
fn parker_times_out_and_returns_at_once_on_a_changed_word() {
    let p = sys::Parker::new(&unique("pk")).expect("parker");
    let w = AtomicU32::new(7);
    assert_eq!(
        p.wait(&w, 7, Some(Duration::from_millis(20))),
        sys::WaitOutcome::TimedOut
    );
    assert_eq!(
        p.wait(&w, 7, Some(Duration::ZERO)),
        sys::WaitOutcome::TimedOut
    );
    // The word no longer holds the expected value: no sleep, however long the timeout.
    assert_eq!(p.wait(&w, 8, None), sys::WaitOutcome::Woken);
}

/// One side of the ping-pong: wait for `word` to reach (at least) `value`, announcing sleep in
/// `sleeping` first (as polyshm's semaphore does), so that the waker calls `wake` only
/// when someone may sleep: that is where a wake-up could be lost.
fn await_value(p: &sys::Parker, word: &AtomicU32, sleeping: &AtomicU32, value: u32) {
    loop {
        let now = word.load(Ordering::SeqCst);
        if now >= value {
            return;
        }
        sleeping.store(1, Ordering::SeqCst);
        let now = word.load(Ordering::SeqCst);
        if now >= value {
            sleeping.store(0, Ordering::SeqCst);
            return;
        }
        let r = p.wait(word, now, Some(Duration::from_secs(20)));
        sleeping.store(0, Ordering::SeqCst);
        assert_ne!(
            r,
            sys::WaitOutcome::TimedOut,
            "lost wake-up: waited 20 s for {value}, the word holds {}",
            word.load(Ordering::SeqCst)
        );
    }
}

fn publish(p: &sys::Parker, word: &AtomicU32, sleeping: &AtomicU32, value: u32) {
    word.store(value, Ordering::SeqCst);
    if sleeping.load(Ordering::SeqCst) != 0 {
        p.wake(word, 1);
    }
}

const PINGS: u32 = 20_000;

/// Words of the ping-pong segment: ping, ping's sleeper flag, pong, pong's flag.
fn ping_pong_parts(m: &sys::Mapping, name: &str) -> [(sys::Parker, usize, usize); 2] {
    let _ = m;
    [
        (
            sys::Parker::new(&format!("{name}@0")).expect("parker"),
            0,
            64,
        ),
        (
            sys::Parker::new(&format!("{name}@128")).expect("parker"),
            128,
            192,
        ),
    ]
}

#[test]
fn parker_ping_pong_between_processes_loses_no_wake_up() {
    if let Some((role, name)) = role() {
        if role == "pong" {
            let m = sys::open_segment(&name).expect("child opens");
            let [(pp, ping, ping_s), (qp, pong, pong_s)] = ping_pong_parts(&m, &name);
            for i in 1..=PINGS {
                await_value(&pp, word(&m, ping), word(&m, ping_s), i);
                publish(&qp, word(&m, pong), word(&m, pong_s), i);
            }
        }
        return;
    }
    let name = unique("pp");
    let _unlink = Unlink(name.clone());
    let m = sys::create_segment(&name, 4096).expect("create");
    let [(pp, ping, ping_s), (qp, pong, pong_s)] = ping_pong_parts(&m, &name);
    let mut child = spawn_role(
        "parker_ping_pong_between_processes_loses_no_wake_up",
        "pong",
        &name,
        Stdio::null(),
    );
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        s.spawn(|| {
            for i in 1..=PINGS {
                publish(&pp, word(&m, ping), word(&m, ping_s), i);
                await_value(&qp, word(&m, pong), word(&m, pong_s), i);
            }
            let _ = tx.send(());
        });
        let status = wait_with_watchdog(&mut child, Duration::from_secs(120), "the pong child");
        assert!(status.success(), "pong child failed: {status}");
        rx.recv_timeout(Duration::from_secs(10))
            .expect("the ping side finished");
    });
    assert_eq!(word(&m, pong).load(Ordering::SeqCst), PINGS);
}

#[test]
fn parker_wakes_a_sleeping_thread_many_times() {
    let name = unique("pt");
    let key = format!("{name}@0");
    let word = AtomicU32::new(0);
    let sleeping = AtomicU32::new(0);
    std::thread::scope(|s| {
        s.spawn(|| {
            let p = sys::Parker::new(&key).expect("parker");
            for i in 1..=5_000 {
                await_value(&p, &word, &sleeping, i);
            }
        });
        let p = sys::Parker::new(&key).expect("parker");
        for i in 1..=5_000 {
            publish(&p, &word, &sleeping, i);
            // Let the other thread fall asleep now and then.
            if i % 64 == 0 {
                std::thread::sleep(Duration::from_micros(200));
            }
        }
    });
}

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

#[test]
fn pinning_and_cpu_count() {
    assert!(sys::cpu_count() >= 1);
    match sys::pin_current_thread(0) {
        Ok(()) => {}
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::Unsupported, "{e}"),
    }
    assert!(sys::pin_current_thread(100_000).is_err());
    sys::yield_now();
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

#[test]
fn wait_socket_waits_for_data_and_room() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("bind");
    let mut a = std::net::TcpStream::connect(listener.local_addr().unwrap()).expect("connect");
    let (mut b, _) = listener.accept().expect("accept");
    // Nothing sent yet: not readable within the timeout; room to write at once.
    assert!(!sys::wait_socket(&b, false, Duration::from_millis(20)).unwrap());
    assert!(sys::wait_socket(&a, true, Duration::from_secs(20)).unwrap());
    a.write_all(b"x").unwrap();
    assert!(sys::wait_socket(&b, false, Duration::from_secs(20)).unwrap());
    let mut got = [0u8; 1];
    b.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"x");
    // A closed peer counts as readable (the read then reports the end).
    drop(a);
    assert!(sys::wait_socket(&b, false, Duration::from_secs(20)).unwrap());
    assert_eq!(b.read(&mut got).unwrap(), 0);
}
