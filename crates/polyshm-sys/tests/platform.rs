//! Conformance tests of the platform layer, run on every backend (Linux natively,
//! Windows under Wine through `scripts/windows-tests.sh`): segments, the parker,
//! pinning, socket waits. Processes (identity, dying with a parent, kills):
//! `processes.rs`.
//!
//! Multi-process tests run this test executable again as a child: the child runs the
//! same test (`--exact <name>`), finds its role in the environment, plays it and
//! exits. Every wait on a child has a watchdog; segment names are unique and removed
//! on drop.

mod common;

use common::{role, spawn_role, wait_with_watchdog};
use polyshm_sys as sys;
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

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
fn pinning_and_cpu_count() {
    assert!(sys::cpu_count() >= 1);
    match sys::pin_current_thread(0) {
        Ok(()) => {}
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::Unsupported, "{e}"),
    }
    assert!(sys::pin_current_thread(100_000).is_err());
    sys::yield_now();
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
