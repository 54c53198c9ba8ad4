//! Process identity under hostile process names (Linux: the name is field 2 of
//! `/proc/<pid>/stat`, bytes the process chose itself).
//!
//! The child is this test executable run again: it finds its role in the environment,
//! renames itself, reports its start time and waits until its stdin closes (so it ends
//! with the test, however the test ends). Every wait has a watchdog.
#![cfg(target_os = "linux")]

mod common;

use common::{read_said, say, this_test_again, wait_with_watchdog};
use polyshm_sys as sys;
use std::io::Read;
use std::process::Stdio;
use std::time::Duration;

const ROLE: &str = "POLYSHM_SYS_IDENTITY_ROLE";
/// A name that breaks a parser splitting at the first `)`, at whitespace, or reading
/// UTF-8: `)`, ` (`, words that look like fields, and bytes that are no UTF-8.
const HOSTILE_NAME: &[u8] = b") (\xff\xfe) Z 1 \xc3";

/// Defect 1 of issue 9: a live process whose name holds `) (` and invalid UTF-8 was
/// judged dead (its `/proc/<pid>/stat` was read as UTF-8), so its locks were taken
/// over and its segments cleaned.
#[test]
fn defect_1_renamed_process_is_alive_with_its_start_time() {
    if std::env::var(ROLE).is_ok() {
        let start = sys::current_process().start_time;
        // `/proc/self/comm` names the thread-group leader (this test may run on another
        // thread, for which `prctl(PR_SET_NAME)` would rename only that thread); the
        // kernel stores the bytes as `PR_SET_NAME` does, cut to 15.
        std::fs::write("/proc/self/comm", HOSTILE_NAME).expect("rename this process");
        say(&start.to_string());
        // Wait for the parent to close our stdin (or to die).
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        return;
    }
    let mut child = this_test_again("defect_1_renamed_process_is_alive_with_its_start_time")
        .env(ROLE, "rename")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn the test executable again");
    let said = read_said(&mut child, Duration::from_secs(60));
    let start: u64 = said.parse().expect("a start time");
    let id = sys::ProcessId {
        pid: child.id(),
        start_time: start,
    };
    let comm = std::fs::read(format!("/proc/{}/comm", id.pid)).expect("the child's name");
    let verdicts = (
        start != 0,
        sys::is_alive(id),
        sys::is_alive(sys::ProcessId {
            start_time: start + 1,
            ..id
        }),
    );
    // End the child, then judge it again: dead (a zombie until reaped, then gone).
    drop(child.stdin.take());
    let status = wait_with_watchdog(&mut child, Duration::from_secs(60), "the renamed child");
    assert_eq!(
        comm.strip_suffix(b"\n").unwrap_or(&comm),
        &HOSTILE_NAME[..HOSTILE_NAME.len().min(15)],
        "the child renamed itself"
    );
    assert_eq!(
        verdicts,
        (true, true, false),
        "(start time known, alive with it, alive with another start time)"
    );
    assert!(status.success(), "child failed: {status}");
    assert!(!sys::is_alive(id), "an exited child judged alive");
}
