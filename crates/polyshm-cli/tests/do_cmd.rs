//! `polyshm do`: the study's example from the shell, over every transport, and its
//! failures (exit code, message, nothing left behind). Each run has a watchdog.

mod common;

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Run `polyshm` with `args`, its output drained while it runs, killing it if it takes
/// longer than a minute; answers its output and pid.
fn polyshm(args: &[&str]) -> (Output, u32) {
    common::run_pid(common::polyshm(args), b"", Duration::from_secs(60))
}

use common::segments_of;

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
        if t == "unix" && !polyshm::sys::HAS_UNIX_SOCKETS {
            continue;
        }
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
        if t == "unix" && !polyshm::sys::HAS_UNIX_SOCKETS {
            continue;
        }
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
        // Regression: rhai's message spans two lines; the reason must stay one line.
        assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
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
    use polyshm::team::{builtin, Tasks, Team, Transport};
    for t in [Transport::Shm, Transport::Unix] {
        if !t.is_available() {
            continue;
        }
        let team = Team::builder(Tasks::new())
            .program(env!("CARGO_BIN_EXE_polyshm"))
            .drones(1)
            .transport(t)
            .task_timeout(Duration::from_secs(60))
            .spawn()
            .expect("spawn polyshm as drone");
        let v: Vec<i64> = (0..100_000).collect();
        let back = team.run(&builtin::ECHO_I64, &v).expect("echo");
        assert_eq!(back, v);
    }
}

/// The master (`polyshm do`) killed with -9 mid-task: its drones exit within a few
/// seconds, and `polyshm shm clean` removes the mailboxes it left.
#[test]
fn master_killed_mid_task_leaves_nothing_clean_cannot_remove() {
    // Finds the drones with `pgrep` and the mailboxes with the segment listing; where
    // segments cannot be listed (Windows) a killed master leaves none, and its drones'
    // end is tested by the team suite (master_killed_leaves_no_live_drone).
    if !polyshm::sys::CAN_LIST_SEGMENTS {
        return;
    }
    // A block that runs for a long while (it is killed long before it ends).
    let block = "|a, b| { let s = 0; for i in 0..2000000000 { s += i; } s + a + b }";
    // Killed and reaped when `child` drops, the watchdog's panic included.
    let mut child = common::polyshm([
        "do", block, "--with", "1,2", "--with", "3,4", "--drones", "2",
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .start()
    .expect("run polyshm do");
    let master = child.id();
    // Wait (bounded) until both drones run and both mailboxes exist.
    let end = Instant::now() + Duration::from_secs(30);
    let drones = loop {
        let out = Command::new("pgrep")
            .args(["-P", &master.to_string()])
            .output()
            .expect("pgrep");
        let pids: Vec<u32> = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
        if pids.len() == 2 && segments_of(master).len() >= 2 {
            break pids;
        }
        if Instant::now() > end {
            panic!("watchdog: the drones of polyshm do never all started");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    std::thread::sleep(Duration::from_millis(200));
    child.kill().expect("kill -9 the master");
    child.wait().expect("reap the master");
    for pid in drones {
        let id = polyshm::sys::ProcessId { pid, start_time: 0 };
        let end = Instant::now() + Duration::from_secs(3);
        while polyshm::sys::is_alive(id) {
            assert!(
                Instant::now() < end,
                "drone {pid} outlived its killed master"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    let left = segments_of(master);
    assert!(!left.is_empty(), "a killed master leaves its mailboxes");
    // Only this master's segments: a global clean would also take other test runs'
    // leftovers (and hide them from the CI's leak check).
    let mut args = vec!["shm", "clean"];
    args.extend(left.iter().map(String::as_str));
    let (out, _) = polyshm(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    for s in &left {
        assert!(
            said.contains(s.as_str()),
            "clean did not report {s}: {said}"
        );
    }
    assert!(segments_of(master).is_empty(), "left after clean");
}

/// `--mpi` outside an MPI job: built without the feature, it says to build with it;
/// built with it, it says to run under mpirun. Either way before any drone starts.
#[test]
fn do_mpi_says_what_it_needs() {
    let (out, _) = polyshm(&["do", "|a| a", "--with", "1", "--mpi"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let want = if cfg!(feature = "mpi") {
        "run under mpirun"
    } else {
        "build with `--features mpi`"
    };
    assert!(err.contains(want), "{err}");
}
