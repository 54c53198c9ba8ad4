//! Running the built `polyshm` binary from a test: its standard streams drained while
//! it runs, under a watchdog.

// Each test crate that includes this module uses part of it.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Run `cmd` with `stdin` fed to it, its stdout and stderr read by threads while it runs
/// (a child writing more than a pipe holds never blocks), killing it and failing the
/// test if it outlives `limit`. Answers its status and everything it wrote.
pub fn run(cmd: Command, stdin: &[u8], limit: Duration) -> Output {
    run_pid(cmd, stdin, limit).0
}

/// [`run`], also answering the child's pid.
pub fn run_pid(mut cmd: Command, stdin: &[u8], limit: Duration) -> (Output, u32) {
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {what}: {e}"));
    let pid = child.id();
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut b = Vec::new();
            let _ = r.read_to_end(&mut b);
            b
        })
    };
    let out_t = drain(Box::new(child.stdout.take().expect("piped")));
    let err_t = drain(Box::new(child.stderr.take().expect("piped")));
    // Fed by a thread too: a child that writes before it reads must not block us.
    let mut input = child.stdin.take().expect("piped");
    let stdin = stdin.to_vec();
    let in_t = std::thread::spawn(move || {
        // A child that exits without reading its input closes the pipe: not our error.
        let _ = input.write_all(&stdin);
    });
    let until = Instant::now() + limit;
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        if Instant::now() > until {
            let _ = child.kill();
            let _ = child.wait();
            panic!("watchdog: {what} still ran after {limit:?}: killed");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let _ = in_t.join();
    let out = Output {
        status,
        stdout: out_t.join().expect("stdout reader"),
        stderr: err_t.join().expect("stderr reader"),
    };
    (out, pid)
}
