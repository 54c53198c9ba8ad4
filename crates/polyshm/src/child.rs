//! Start this program (or another) as a child process that dies with this one: the
//! one way the team's drones, the profile's helpers, the benchmarks' and the tests'
//! children are started.
//!
//! - [`Spawn::this_program`] / [`Spawn::program`] build the command; [`Spawn::start`]
//!   runs it from one long-lived thread of this process (on Linux `PR_SET_PDEATHSIG`
//!   fires when the *thread* that spawned a child ends, so no short-lived caller thread
//!   may spawn), ties it to this process where the platform does that from the parent
//!   (a kill-on-close job object on Windows), and names this process to the child in
//!   [`PARENT_ENV`].
//! - The child calls [`tie_to_parent`] first thing: it then dies when this process
//!   does, however it ends (kill -9 included).
//! - The [`ChildProcess`] guard kills and reaps the child when dropped, so a failing
//!   caller leaves no process behind.
//!
//! ```no_run
//! # fn main() -> std::io::Result<()> {
//! use polyshm::child::{tie_to_parent, Spawn};
//! if std::env::var_os("ROLE").is_some() {
//!     tie_to_parent()?; // the child: ends with its parent
//!     return Ok(());
//! }
//! let mut child = Spawn::this_program()?.env("ROLE", "child").start()?;
//! assert!(child.wait()?.success());
//! # Ok(()) }
//! ```

use polyshm_sys::ProcessId;
use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The environment variable in which [`Spawn::start`] names the parent to the child
/// (`pid:start_time`); [`tie_to_parent`] reads it.
pub const PARENT_ENV: &str = "POLYSHM_PARENT";

/// A command to run, and where to send the child.
type Order = (Command, mpsc::Sender<io::Result<Child>>);

/// The thread that spawns every child of this process: it lives as long as the
/// process, so `PR_SET_PDEATHSIG` fires only when the process ends.
fn spawner() -> &'static Mutex<mpsc::Sender<Order>> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<Order>>> = OnceLock::new();
    SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Order>();
        let started = std::thread::Builder::new()
            .name("polyshm-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let started = retry_transient(
                        || cmd.spawn(),
                        polyshm_sys::start_failure_is_transient,
                        START_PAUSE,
                    );
                    let _ = reply.send(started);
                }
            });
        // Without the thread every order fails below ("the spawner thread is gone").
        drop(started);
        Mutex::new(tx)
    })
}

/// How many times in all a child start that failed for a passing reason is tried.
const START_ATTEMPTS: u32 = 4;

/// The pause before the second try; the third waits twice as long, and so on.
const START_PAUSE: Duration = Duration::from_millis(20);

/// Run `attempt` until it succeeds, fails for a reason that `transient` does not call
/// passing, or has been tried [`START_ATTEMPTS`] times, pausing `pause`, `2 × pause`, …
/// between tries. A child start is worth another try only when the platform says its
/// failure passes ([`polyshm_sys::start_failure_is_transient`]: Wine's "internal error"
/// when the new process ended during its start-up, `EAGAIN` from `fork`): nothing of the
/// child ran, so the second start cannot do anything twice.
fn retry_transient<T>(
    mut attempt: impl FnMut() -> io::Result<T>,
    transient: impl Fn(&io::Error) -> bool,
    pause: Duration,
) -> io::Result<T> {
    let mut tries = 1;
    loop {
        match attempt() {
            Err(e) if transient(&e) && tries < START_ATTEMPTS => {
                std::thread::sleep(pause * tries);
                tries += 1;
            }
            Err(e) if transient(&e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!(
                        "{e} (tried {tries} times, each failure one the system calls passing: \
                         the machine may be short of processes or memory; try again later)"
                    ),
                ))
            }
            done => return done,
        }
    }
}

/// A child process to start: this program again, or another.
#[derive(Debug)]
pub struct Spawn {
    cmd: Command,
}

impl Spawn {
    /// Start this executable again.
    pub fn this_program() -> io::Result<Spawn> {
        Ok(Spawn::program(std::env::current_exe()?))
    }

    /// Start `program`.
    pub fn program(program: impl AsRef<Path>) -> Spawn {
        let mut cmd = Command::new(program.as_ref());
        // A child never reads the parent's terminal unless asked to.
        cmd.stdin(Stdio::null());
        Spawn { cmd }
    }

    /// Set an environment variable for the child.
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Spawn {
        self.cmd.env(key, value);
        self
    }

    /// Set several environment variables.
    pub fn envs<K: AsRef<OsStr>, V: AsRef<OsStr>>(
        mut self,
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Spawn {
        self.cmd.envs(vars);
        self
    }

    /// Add command-line arguments.
    pub fn args<S: AsRef<OsStr>>(mut self, args: impl IntoIterator<Item = S>) -> Spawn {
        self.cmd.args(args);
        self
    }

    /// The child's standard input (default: none, `Stdio::null`).
    pub fn stdin(mut self, s: Stdio) -> Spawn {
        self.cmd.stdin(s);
        self
    }

    /// The child's standard output (default: inherited).
    pub fn stdout(mut self, s: Stdio) -> Spawn {
        self.cmd.stdout(s);
        self
    }

    /// The child's standard error (default: inherited).
    pub fn stderr(mut self, s: Stdio) -> Spawn {
        self.cmd.stderr(s);
        self
    }

    /// The command itself, for anything else (run it as another user, ...).
    pub fn command(&mut self) -> &mut Command {
        &mut self.cmd
    }

    /// The program it runs.
    pub fn get_program(&self) -> PathBuf {
        PathBuf::from(self.cmd.get_program())
    }

    /// Start the child (from the process's spawner thread), name this process to it in
    /// [`PARENT_ENV`], and tie it to this process where the parent does that.
    pub fn start(mut self) -> io::Result<ChildProcess> {
        let me = polyshm_sys::current_process();
        self.cmd
            .env(PARENT_ENV, format!("{}:{}", me.pid, me.start_time));
        let (rtx, rrx) = mpsc::channel();
        let gone = || io::Error::other("the polyshm spawner thread is gone");
        spawner()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send((self.cmd, rtx))
            .map_err(|_| gone())?;
        let child = ChildProcess {
            child: rrx.recv().map_err(|_| gone())??,
        };
        // On failure `child` drops: killed and reaped.
        polyshm_sys::adopt_child(&child.child)?;
        Ok(child)
    }
}

/// A child started by [`Spawn::start`]; killed (SIGKILL / `TerminateProcess`) and
/// reaped when dropped.
#[derive(Debug)]
pub struct ChildProcess {
    child: Child,
}

impl ChildProcess {
    /// The child's pid.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The child's identity for `polyshm_sys::is_alive` (start time unknown: 0).
    pub fn process_id(&self) -> ProcessId {
        ProcessId {
            pid: self.child.id(),
            start_time: 0,
        }
    }

    /// Take the child's standard output (if it was piped).
    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.child.stdout.take()
    }

    /// Take the child's standard error (if it was piped).
    pub fn take_stderr(&mut self) -> Option<ChildStderr> {
        self.child.stderr.take()
    }

    /// Take the child's standard input (if it was piped).
    pub fn take_stdin(&mut self) -> Option<ChildStdin> {
        self.child.stdin.take()
    }

    /// Kill the child (it stays to be reaped by a wait or the drop).
    pub fn kill(&mut self) -> io::Result<()> {
        self.child.kill()
    }

    /// Whether it has exited, without waiting.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        self.child.try_wait()
    }

    /// Wait for it to exit.
    pub fn wait(&mut self) -> io::Result<ExitStatus> {
        self.child.wait()
    }

    /// Wait at most `timeout` for it to exit: `None` if it still runs.
    pub fn wait_timeout(&mut self, timeout: Duration) -> io::Result<Option<ExitStatus>> {
        let end = Instant::now() + timeout;
        loop {
            if let Some(s) = self.child.try_wait()? {
                return Ok(Some(s));
            }
            if Instant::now() >= end {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Give the child `grace` to exit on its own, then kill it; reap it either way.
    /// Answers how it ended.
    pub fn end_within(&mut self, grace: Duration) -> String {
        if let Ok(Some(s)) = self.wait_timeout(grace) {
            return s.to_string();
        }
        let _ = self.child.kill();
        self.child
            .wait()
            .map_or_else(|e| e.to_string(), |s| s.to_string())
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The parent named in [`PARENT_ENV`] (set by [`Spawn::start`]), if any.
pub fn parent() -> Option<ProcessId> {
    let v = std::env::var(PARENT_ENV).ok()?;
    let (pid, start) = v.split_once(':')?;
    Some(ProcessId {
        pid: pid.parse().ok()?,
        start_time: start.parse().ok()?,
    })
}

/// In a child started by [`Spawn::start`]: die when the parent does, however it ends
/// (`PR_SET_PDEATHSIG` on Linux; a watcher thread elsewhere). Answers `false` if the
/// parent is already gone (the child should exit now), `true` otherwise, also in a
/// process that was not started so (nothing to tie).
pub fn tie_to_parent() -> io::Result<bool> {
    match parent() {
        Some(p) => polyshm_sys::kill_with_parent(p),
        None => Ok(true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_is_killed_and_reaped_on_drop_and_a_bad_program_is_an_error() {
        let e = Spawn::program("/nonexistent/polyshm-child").start();
        assert!(e.is_err());
        // `sleep` stands in for a child that would outlive us.
        let Ok(child) = Spawn::program("sleep").args(["30"]).start() else {
            return; // no `sleep` here (Windows): nothing to check
        };
        let id = child.process_id();
        assert!(polyshm_sys::is_alive(id));
        drop(child);
        assert!(!polyshm_sys::is_alive(id), "killed and reaped on drop");
    }

    fn transient(e: &io::Error) -> bool {
        e.kind() == io::ErrorKind::Interrupted
    }

    #[test]
    fn a_start_that_fails_for_a_passing_reason_is_tried_again() {
        let mut calls = 0;
        let r = retry_transient(
            || {
                calls += 1;
                match calls {
                    1 | 2 => Err(io::Error::from(io::ErrorKind::Interrupted)),
                    n => Ok(n),
                }
            },
            transient,
            Duration::ZERO,
        );
        assert_eq!(r.unwrap(), 3, "succeeded on the third try");
        assert_eq!(calls, 3);
    }

    #[test]
    fn a_start_that_fails_for_good_is_not_tried_again() {
        let mut calls = 0;
        let r: io::Result<()> = retry_transient(
            || {
                calls += 1;
                Err(io::Error::from(io::ErrorKind::NotFound))
            },
            transient,
            Duration::ZERO,
        );
        assert_eq!(r.unwrap_err().kind(), io::ErrorKind::NotFound);
        assert_eq!(calls, 1);
    }

    #[test]
    fn a_start_that_keeps_failing_gives_up_and_says_so() {
        let mut calls = 0;
        let r: io::Result<()> = retry_transient(
            || {
                calls += 1;
                Err(io::Error::from(io::ErrorKind::Interrupted))
            },
            transient,
            Duration::ZERO,
        );
        assert_eq!(calls, START_ATTEMPTS);
        let e = r.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::Interrupted);
        assert!(
            e.to_string()
                .contains(&format!("tried {START_ATTEMPTS} times")),
            "{e}"
        );
    }

    #[test]
    fn the_platform_names_its_passing_start_failures() {
        // Wine's answer when a new process ends during its start-up (seen in CI).
        let internal = io::Error::from_raw_os_error(1359);
        assert_eq!(
            polyshm_sys::start_failure_is_transient(&internal),
            cfg!(windows)
        );
        let missing = io::Error::from(io::ErrorKind::NotFound);
        assert!(!polyshm_sys::start_failure_is_transient(&missing));
        let again = io::Error::from(io::ErrorKind::WouldBlock);
        assert_eq!(polyshm_sys::start_failure_is_transient(&again), cfg!(unix));
    }
}
