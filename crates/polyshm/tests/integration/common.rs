//! Child processes, watchdogs and clean-up guards shared by the tests.

use polyshm::child::{tie_to_parent, ChildProcess, Spawn};
use polyshm::shm::{admin, ShmError};
use std::process::{Command, ExitStatus};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Names the role of a child process.
pub const CHILD_ENV: &str = "POLYSHM_TEST_CHILD";
/// The child's main argument (usually a segment or relay name).
pub const ARG_ENV: &str = "POLYSHM_TEST_ARG";
/// A count for the child.
pub const N_ENV: &str = "POLYSHM_TEST_N";
/// Time any single wait in a test may take before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Run the child role named in the environment (called by `child_entry`).
pub fn run_child() {
    let Ok(role) = std::env::var(CHILD_ENV) else {
        eprintln!("child_entry: not a child process ({CHILD_ENV} unset); nothing to do");
        return;
    };
    // Die with the test process that spawned us, however it ends.
    assert!(polyshm::child::parent().is_some(), "started by Spawn");
    assert!(tie_to_parent().expect("tie to the parent"), "parent gone");
    let arg = std::env::var(ARG_ENV).unwrap_or_default();
    let n: u64 = std::env::var(N_ENV)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    match role.as_str() {
        "shm-create" => crate::publication::child_create(&arg, n),
        "sem-create" => crate::publication::child_sem_create(&arg, n),
        "perm-open" => crate::errors::child_open_denied(&arg),
        #[cfg(unix)]
        "nospace-as" => crate::mutants::child_no_address_space(&arg),
        r if r.starts_with("mutex-") => crate::mutex::child(r, &arg, n),
        r if r.starts_with("objects-") => crate::objects::child(r, &arg, n),
        r if r.starts_with("sem-") => crate::semaphore::child(r, &arg, n),
        r if r.starts_with("event-") => crate::event_semaphore::child(r, &arg, n),
        r if r.starts_with("index-") => crate::index::child(r, &arg, n),
        #[cfg(feature = "failpoints")]
        r if r.starts_with("relay-fault-") => crate::relay_faults::child(r, &arg),
        other => crate::relay::child(other, &arg, n),
    }
}

/// A child process re-running this test executable in `role`. Killed (and reaped)
/// on drop if still running.
pub struct ChildProc {
    child: ChildProcess,
    role: String,
}

impl ChildProc {
    /// The child's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Wait at most [`PATIENCE`] for the child to exit.
    pub fn wait(&mut self) -> ExitStatus {
        let until = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < until,
                "child {:?} (pid {}) did not exit within {PATIENCE:?}",
                self.role,
                self.pid()
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// The child's exit status, if it has exited (does not wait).
    #[cfg(feature = "failpoints")]
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("try_wait")
    }

    /// Wait for the child and assert it succeeded.
    pub fn expect_success(&mut self) {
        let status = self.wait();
        assert!(status.success(), "child {:?} failed: {status}", self.role);
    }

    /// `kill -9` the child (it becomes a zombie until reaped: dead to `is_alive`).
    pub fn kill9(&mut self) {
        self.child.kill().expect("kill -9");
    }
}

/// Start this executable as a child in `role`, with `arg` and `n` for it and any
/// extra environment.
pub fn spawn_child(role: &str, arg: &str, n: u64, env: &[(&str, &str)]) -> ChildProc {
    let exe = std::env::current_exe().expect("current_exe");
    spawn_child_with(&exe, role, arg, n, env, |_| {})
}

/// As [`spawn_child`], running `exe` (this test executable or a copy of it) and
/// letting `setup` adjust the command (e.g. run it as another user).
pub fn spawn_child_with(
    exe: &std::path::Path,
    role: &str,
    arg: &str,
    n: u64,
    env: &[(&str, &str)],
    setup: impl FnOnce(&mut Command),
) -> ChildProc {
    let mut spawn = Spawn::program(exe);
    let cmd = spawn.command();
    cmd.args([
        "child_entry",
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
        "-q",
    ])
    .env(CHILD_ENV, role)
    .env(ARG_ENV, arg)
    .env(N_ENV, n.to_string())
    .stdout(std::process::Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    setup(cmd);
    ChildProc {
        // Killed and reaped on drop if still running.
        child: spawn.start().expect("spawn child"),
        role: role.into(),
    }
}

/// Removes segments by name on drop (for segments a child or a scribble made that
/// their owner's handle will not remove), and checks they are gone.
#[derive(Default)]
pub struct Cleanup {
    names: Vec<String>,
    files: Vec<String>,
}

impl Cleanup {
    /// Remove the polyshm segment `name` at the end.
    pub fn segment(&mut self, name: &str) {
        self.names.push(name.into());
    }
    /// Remove the OS-level segment `polyshm.<name>` at the end, whatever it holds
    /// (foreign segments).
    pub fn file(&mut self, name: &str) {
        self.files.push(name.into());
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for n in &self.names {
            match admin::remove(n) {
                Ok(()) | Err(ShmError::NotFound { .. }) => {}
                Err(e) => eprintln!("cleanup of {n}: {e}"),
            }
        }
        for n in &self.files {
            let _ = polyshm::sys::unlink_segment(&os_name(n));
        }
    }
}

/// The OS-level name of segment `name` (`polyshm.<name>`).
pub fn os_name(name: &str) -> String {
    polyshm::shm::name::os_name(name).expect("a valid name")
}

/// The file segment `name` is, where segments are files (`/dev/shm` on Linux; see
/// `polyshm::sys::SEGMENT_DIR`).
pub fn shm_path(name: &str) -> Option<std::path::PathBuf> {
    polyshm::sys::SEGMENT_DIR.map(|dir| std::path::Path::new(dir).join(os_name(name)))
}

/// Assert that no segment named `name` exists any more.
pub fn assert_gone(name: &str) {
    match polyshm::sys::open_segment(&os_name(name)) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => panic!("segment {name}: {e}"),
        Ok(_) => panic!("segment {name} was left behind"),
    }
}

/// Fails the test run if the test it guards takes longer than its limit: kills the
/// registered children, removes the registered segments, and exits the test binary
/// with an error (a hung thread cannot be unwound, and CI must never stall).
pub struct Watchdog {
    state: Arc<(Mutex<WatchState>, Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[derive(Default)]
struct WatchState {
    done: bool,
    pids: Vec<u32>,
    segments: Vec<String>,
}

impl Watchdog {
    /// Start watching the test `what` for at most `limit`.
    pub fn new(what: &'static str, limit: Duration) -> Watchdog {
        let state = Arc::new((Mutex::new(WatchState::default()), Condvar::new()));
        let s = state.clone();
        let thread = std::thread::spawn(move || {
            let (lock, cv) = &*s;
            let until = Instant::now() + limit;
            let mut st = lock.lock().unwrap_or_else(|p| p.into_inner());
            while !st.done {
                let left = until.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    eprintln!("watchdog: test {what} still running after {limit:?}: it hung; killing its children and failing the run");
                    for &pid in &st.pids {
                        let _ = polyshm::sys::kill_process(polyshm::sys::ProcessId {
                            pid,
                            start_time: 0,
                        });
                    }
                    for n in &st.segments {
                        let _ = admin::remove(n);
                    }
                    std::process::exit(99);
                }
                st = cv
                    .wait_timeout(st, left)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
        });
        Watchdog {
            state,
            thread: Some(thread),
        }
    }

    /// Kill this child if the test hangs.
    pub fn child(&self, c: &ChildProc) {
        self.state.0.lock().unwrap().pids.push(c.pid());
    }

    /// Remove this segment if the test hangs.
    pub fn segment(&self, name: &str) {
        self.state.0.lock().unwrap().segments.push(name.into());
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.state.0.lock().unwrap_or_else(|p| p.into_inner()).done = true;
        self.state.1.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The calling thread, as a test can watch it from another thread: its
/// `/proc/<pid>/task/<tid>` directory where the OS has one (Linux), else `None`.
pub fn this_thread() -> Option<std::path::PathBuf> {
    std::fs::read_link("/proc/thread-self")
        .ok()
        .map(|p| std::path::Path::new("/proc").join(p))
}

/// The hand-shake "that thread sleeps in the kernel on a futex": wait (at most
/// [`PATIENCE`]) until the kernel reports `thread` (from [`this_thread`]) waiting in a
/// futex call. Answers false at once where the OS cannot tell (no `/proc`): the caller
/// then only knows the thread was about to wait.
pub fn wait_until_asleep_on_futex(thread: Option<&std::path::Path>) -> bool {
    let Some(dir) = thread else {
        return false;
    };
    let until = Instant::now() + PATIENCE;
    loop {
        let wchan = std::fs::read_to_string(dir.join("wchan")).unwrap_or_default();
        if wchan.contains("futex") {
            return true;
        }
        assert!(
            Instant::now() < until,
            "thread {} never slept on a futex within {PATIENCE:?} (last in {wchan:?})",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}
