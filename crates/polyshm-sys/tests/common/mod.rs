//! Children of the platform-layer tests: this test executable run again for one test
//! (in a role, given in the environment), what a child says to its parent, and bounded waits on a child (a watchdog kills and
//! reaps it, then fails the test).
//!
//! The crates above use `polyshm::child` for this; the platform layer's own tests
//! cannot, since that facility is built on what they test (`kill_with_parent`,
//! `adopt_child`), so each of its test binaries includes this module.

// Each test binary that includes this module uses part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Marker of the lines a child prints for its parent (libtest prints its own lines).
pub const SAYS: &str = "CHILD-SAYS ";

/// This test executable again, running test `test` alone (`--exact`, one thread,
/// output shown), its stdin null. The caller sets the child's role in its environment.
pub fn this_test_again(test: &str) -> Command {
    let mut c = Command::new(std::env::current_exe().expect("current exe"));
    c.args(["--exact", test, "--nocapture", "--test-threads", "1"])
        .stdin(Stdio::null());
    c
}

/// Environment variable: the role a child plays (see [`role`]).
pub const ROLE: &str = "POLYSHM_SYS_TEST_ROLE";
/// Environment variable: the argument of that role.
pub const ARG: &str = "POLYSHM_SYS_TEST_ARG";

/// The role this process plays, if it is a child of a test.
pub fn role() -> Option<(String, String)> {
    Some((
        std::env::var(ROLE).ok()?,
        std::env::var(ARG).unwrap_or_default(),
    ))
}

/// This test executable again, to run test `test` in role `role`.
pub fn role_command(test: &str, role: &str, arg: &str) -> Command {
    let mut c = this_test_again(test);
    c.env(ROLE, role).env(ARG, arg);
    c
}

/// Start this test executable again, running test `test` in role `role`.
pub fn spawn_role(test: &str, role: &str, arg: &str, stdout: Stdio) -> Child {
    role_command(test, role, arg)
        .stdout(stdout)
        .spawn()
        .expect("spawn the test executable again")
}

/// In a child: say `s` to the parent (a line after [`SAYS`]; see [`read_said`]).
pub fn say(s: &str) {
    let mut out = std::io::stdout();
    writeln!(out, "{SAYS}{s}").expect("say");
    out.flush().expect("flush");
}

/// The first thing `child` (its stdout piped) says, within `limit`; the watchdog kills
/// and reaps it and fails the test if it says nothing.
pub fn read_said(child: &mut Child, limit: Duration) -> String {
    let out = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // Read to the end, so that the child never writes into a closed pipe.
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            // libtest may print "test <name> ... " on the same line first.
            if let Some(at) = line.find(SAYS) {
                let _ = tx.send(line[at + SAYS.len()..].trim().to_owned());
            }
        }
    });
    match rx.recv_timeout(limit) {
        Ok(s) => s,
        Err(_) => {
            kill_and_reap(child);
            panic!("watchdog: the child said nothing within {limit:?}");
        }
    }
}

/// Wait for `child` to exit; after `limit` the watchdog kills and reaps it and fails
/// the test, naming it `what`.
pub fn wait_with_watchdog(child: &mut Child, limit: Duration, what: &str) -> ExitStatus {
    let give_up = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() > give_up {
            kill_and_reap(child);
            panic!("watchdog: {what} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Kill `child` (if it still runs) and reap it.
fn kill_and_reap(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}
