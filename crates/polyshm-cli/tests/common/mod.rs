//! Running the built `polyshm` binary from a test: started through `polyshm::child`
//! (killed and reaped if the test fails), its standard streams drained while it runs,
//! under a watchdog.

// Each test crate that includes this module uses part of it.
#![allow(dead_code)]

use polyshm::child::Spawn;
use std::io::{Read, Write};
use std::process::{Output, Stdio};
use std::time::Duration;

/// The built `polyshm` binary, to run with `args`.
pub fn polyshm<S: AsRef<std::ffi::OsStr>>(args: impl IntoIterator<Item = S>) -> Spawn {
    Spawn::program(env!("CARGO_BIN_EXE_polyshm")).args(args)
}

/// Run `spawn` with `stdin` fed to it, its stdout and stderr read by threads while it
/// runs (a child writing more than a pipe holds never blocks), killing it and failing
/// the test if it outlives `limit`. Answers its status and everything it wrote.
pub fn run(spawn: Spawn, stdin: &[u8], limit: Duration) -> Output {
    run_pid(spawn, stdin, limit).0
}

/// [`run`], also answering the child's pid.
pub fn run_pid(spawn: Spawn, stdin: &[u8], limit: Duration) -> (Output, u32) {
    let what = format!("{spawn:?}");
    // Killed and reaped when `child` drops, the watchdog's panic included.
    let mut child = spawn
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .start()
        .unwrap_or_else(|e| panic!("spawn {what}: {e}"));
    let pid = child.id();
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut b = Vec::new();
            let _ = r.read_to_end(&mut b);
            b
        })
    };
    let out_t = drain(Box::new(child.take_stdout().expect("piped")));
    let err_t = drain(Box::new(child.take_stderr().expect("piped")));
    // Fed by a thread too: a child that writes before it reads must not block us.
    let mut input = child.take_stdin().expect("piped");
    let stdin = stdin.to_vec();
    let in_t = std::thread::spawn(move || {
        // A child that exits without reading its input closes the pipe: not our error.
        let _ = input.write_all(&stdin);
    });
    let Some(status) = child.wait_timeout(limit).expect("wait for the child") else {
        drop(child);
        panic!("watchdog: {what} still ran after {limit:?}: killed");
    };
    let _ = in_t.join();
    let out = Output {
        status,
        stdout: out_t.join().expect("stdout reader"),
        stderr: err_t.join().expect("stderr reader"),
    };
    (out, pid)
}

/// `out` of `polyshm args…`, failing the test with its status and both streams if the
/// run did not succeed.
pub fn succeeded(args: &[&str], out: Output) -> Output {
    assert!(
        out.status.success(),
        "polyshm {args:?} failed: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Segments whose owner was `pid` (there must be none once it has exited). Where
/// segments cannot be listed (Windows) none can be left either: a segment goes with
/// the last process that holds it.
pub fn segments_of(pid: u32) -> Vec<String> {
    if !polyshm::sys::CAN_LIST_SEGMENTS {
        return Vec::new();
    }
    polyshm::shm::admin::list()
        .expect("list segments")
        .into_iter()
        .filter(|s| !s.stale && s.owner.is_some_and(|o| o.pid == pid))
        .map(|s| s.name)
        .collect()
}
