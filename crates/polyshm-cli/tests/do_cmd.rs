//! `polyshm do`: the study's example from the shell, over every transport, and its
//! failures (exit code, message, nothing left behind). Each run has a watchdog.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Run `polyshm` with `args`, killing it if it takes longer than a minute.
fn polyshm(args: &[&str]) -> (Output, u32) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_polyshm"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run polyshm");
    let pid = child.id();
    let end = Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            panic!("watchdog: polyshm {args:?} hung");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    (child.wait_with_output().expect("output"), pid)
}

/// Segments whose owner was `pid` (there must be none once it has exited).
fn segments_of(pid: u32) -> Vec<String> {
    polyshm::shm::admin::list()
        .expect("list segments")
        .into_iter()
        .filter(|s| s.owner.is_some_and(|o| o.pid == pid))
        .map(|s| s.name)
        .collect()
}

#[test]
fn do_answers_six_six_six_on_every_transport() {
    for t in [
        "socket",
        "tcp",
        "unix",
        "hybrid",
        "hybrid-unprotected",
        "shm",
    ] {
        let (out, pid) = polyshm(&[
            "do",
            "|a, b| a + b",
            "--with",
            "1,2,3,4,5",
            "--with",
            "5,4,3,2,1",
            "--transport",
            t,
            "--drones",
            "3",
        ]);
        assert!(
            out.status.success(),
            "{t}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "[6, 6, 6, 6, 6]\n",
            "{t}"
        );
        assert!(segments_of(pid).is_empty(), "{t} left segments");
    }
}

#[test]
fn do_default_transport_and_three_columns() {
    let (out, _) = polyshm(&[
        "do",
        "|a, b, c| a * b + c",
        "--with",
        "1,2",
        "--with",
        "3,4",
        "--with",
        "0.5,1",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "[3.5, 9]\n");
}

#[test]
fn a_block_that_does_not_compile_exits_non_zero() {
    let (out, pid) = polyshm(&["do", "|a, b| a +", "--with", "1", "--with", "2"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("does not compile"), "{err}");
    assert!(out.stdout.is_empty());
    assert!(segments_of(pid).is_empty());
}

#[test]
fn a_block_that_fails_exits_non_zero_and_leaves_nothing() {
    for t in ["shm", "unix"] {
        let (out, pid) = polyshm(&[
            "do",
            "|a, b| a / b",
            "--with",
            "1,2,3",
            "--with",
            "1,0,1",
            "--transport",
            t,
        ]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("row 1") && err.contains("Division by zero"),
            "{err}"
        );
        assert!(segments_of(pid).is_empty(), "{t} left segments");
    }
}

#[test]
fn bad_arguments_are_refused() {
    let (out, _) = polyshm(&["do", "|a, b| a + b", "--with", "1,2", "--with", "1"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("same length"));
    let (out, _) = polyshm(&["do", "|a| a", "--with", "1", "--transport", "pigeon"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown transport"));
}

/// `TeamBuilder::program`: the `polyshm` binary serves as drone for another master
/// (this test), since its main calls `drone_main` first with the built-in tasks.
#[test]
fn the_polyshm_binary_is_a_drone_for_other_masters() {
    use polyshm::team::{Tasks, Team, Transport};
    for t in [Transport::Shm, Transport::Unix] {
        let team = Team::builder(Tasks::new())
            .program(env!("CARGO_BIN_EXE_polyshm"))
            .drones(1)
            .transport(t)
            .task_timeout(Duration::from_secs(60))
            .spawn()
            .expect("spawn polyshm as drone");
        let v: Vec<i64> = (0..100_000).collect();
        let back: Vec<i64> = team.run_pod("polyshm.echo_i64", &v).expect("echo");
        assert_eq!(back, v);
    }
}
