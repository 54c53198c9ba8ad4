//! Tasks, watchdog and helpers shared by the trials.

use libtest_mimic::{Failed, Trial};
use polyshm::team::{Tasks, Team, Transport, Value};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Selects the "doomed master" role of this binary.
pub const MASTER_ENV: &str = "POLYSHM_TEST_MASTER";

/// Longest a trial may take before the watchdog fails it.
const WATCHDOG: Duration = Duration::from_secs(120);

/// The tasks master and drones of these tests know.
pub fn tasks() -> Tasks {
    Tasks::new()
        .task("add", |(a, b): (i64, i64)| a + b)
        .task("pid", |(): ()| std::process::id())
        .task("panic", |msg: String| -> () { panic!("{msg}") })
        .task("sleep_ms", |ms: u64| {
            std::thread::sleep(Duration::from_millis(ms));
            ms
        })
        // Writes its pid to `path`, then sleeps: the test kills it meanwhile.
        .task("mark_and_sleep", |(path, ms): (String, u64)| {
            std::fs::write(&path, std::process::id().to_string()).expect("write mark");
            std::thread::sleep(Duration::from_millis(ms));
            ms
        })
        // Dies (kill -9 of itself) the first time it sees `path` missing.
        .task("die_once", |(path, v): (String, i64)| {
            if std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .is_ok()
            {
                kill9(std::process::id());
            }
            v * 10
        })
        .pod_task("double_f64", |v: &[f64]| {
            v.iter().map(|x| x * 2.0).collect()
        })
        .pod_task("grow_u8", |v: &[u64]| vec![7u8; v[0] as usize])
        .pod_task_in_place("negate_in_place", |v: &mut [i64]| {
            v.iter_mut().for_each(|x| *x = -*x)
        })
}

/// A trial run under a watchdog: a hang fails it instead of stalling the run.
pub fn trial(
    name: impl Into<String>,
    f: impl FnOnce() -> Result<(), Failed> + Send + 'static,
) -> Trial {
    let name = name.into();
    let n2 = name.clone();
    Trial::test(name, move || {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name(n2.clone())
            .spawn(move || {
                let r =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|p| {
                        Err(p
                            .downcast_ref::<String>()
                            .cloned()
                            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                            .unwrap_or_else(|| "panic".into())
                            .into())
                    });
                let _ = tx.send(r);
            })
            .expect("thread");
        rx.recv_timeout(WATCHDOG)
            .unwrap_or_else(|_| Err(format!("watchdog: `{n2}` hung for {WATCHDOG:?}").into()))
    })
}

/// A team of `n` drones on `t` for the tests.
pub fn team(t: Transport, n: usize) -> Team {
    Team::builder(tasks())
        .drones(n)
        .transport(t)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn a team on {t}: {e}"))
}

/// Polyshm segments whose owner is `pid`.
pub fn segments_of(pid: u32) -> Vec<String> {
    polyshm::shm::admin::list()
        .unwrap_or_default()
        .into_iter()
        .filter(|s| s.owner.is_some_and(|o| o.pid == pid))
        .map(|s| s.name)
        .collect()
}

/// A temporary file path, removed on drop.
pub struct TempPath(pub std::path::PathBuf);

impl TempPath {
    pub fn new(stem: &str) -> TempPath {
        TempPath(std::env::temp_dir().join(polyshm::shm::unique_name(stem)))
    }
    pub fn as_string(&self) -> String {
        self.0.to_string_lossy().into_owned()
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `kill -9 pid` (`TerminateProcess` on Windows).
pub fn kill9(pid: u32) {
    let id = polyshm::sys::ProcessId { pid, start_time: 0 };
    if let Err(e) = polyshm::sys::kill_process(id) {
        panic!("kill -9 {pid} failed: {e}");
    }
}

/// Wait (bounded) until `pid` is no longer alive; answers whether it died in time.
pub fn wait_dead(pid: u32, within: Duration) -> bool {
    let id = polyshm::sys::ProcessId { pid, start_time: 0 };
    let end = Instant::now() + within;
    while Instant::now() < end {
        if !polyshm::sys::is_alive(id) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

/// The doomed master: start a team, tell the test its drones and segments, wait to
/// be killed (at most a minute).
pub fn doomed_master(transport: &str) -> ! {
    let t: Transport = transport.parse().expect("transport");
    let team = team(t, 2);
    // One roundtrip, so that the mailboxes are in use.
    let _: i64 = team.run("add", &(1i64, 2i64)).expect("add");
    let pids: Vec<String> = team.drone_pids().iter().map(u32::to_string).collect();
    println!("drones {}", pids.join(" "));
    std::thread::sleep(Duration::from_secs(60));
    std::process::exit(2);
}

/// Run the doomed master on `t`, kill it with -9, check its drones die and its
/// segments are all reclaimable by `clean`.
pub fn master_killed(t: Transport) -> Result<(), Failed> {
    let mut child = Command::new(std::env::current_exe()?)
        .env(MASTER_ENV, t.id())
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()?;
    struct Reap(std::process::Child);
    impl Drop for Reap {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let master_pid = child.id();
    let out = child.stdout.take().expect("piped");
    let mut reap = Reap(child);
    let mut line = String::new();
    BufReader::new(out).read_line(&mut line)?;
    let pids: Vec<u32> = line
        .strip_prefix("drones ")
        .ok_or_else(|| format!("doomed master said `{line}`"))?
        .split_whitespace()
        .map(|p| p.parse().expect("pid"))
        .collect();
    assert_eq!(pids.len(), 2);
    kill9(master_pid);
    let _ = reap.0.wait();
    for p in &pids {
        if !wait_dead(*p, Duration::from_secs(3)) {
            return Err(format!("drone {p} outlived its master (killed -9) by 3 s").into());
        }
    }
    if !polyshm::sys::SEGMENTS_PERSIST {
        // Windows: a segment goes with its last handle; master and drones are dead, so
        // nothing is left, and there is nothing to list or clean.
        return Ok(());
    }
    let left = segments_of(master_pid);
    if t == Transport::Shm || matches!(t, Transport::Hybrid { .. }) {
        assert!(
            !left.is_empty(),
            "a killed master leaves its mailboxes for clean"
        );
    }
    // Only what this master left: a global clean would also take the leftovers of
    // other test runs, and hide them from the CI's leak check.
    let mut cleaned = Vec::new();
    for s in &left {
        cleaned.extend(polyshm::shm::admin::clean_matching(s)?);
    }
    for s in &left {
        assert!(cleaned.contains(s), "clean did not remove {s}");
    }
    let after = segments_of(master_pid);
    assert!(after.is_empty(), "left after clean: {after:?}");
    drop(reap);
    Ok(())
}

/// Values survive the codec.
pub fn values_round_trip() -> Result<(), Failed> {
    let v = Value::Array(vec![
        Value::Int(1),
        Value::Float(2.5),
        "x".into(),
        Value::Bool(true),
    ]);
    let b = polyshm::codec::encode(&v)?;
    assert_eq!(polyshm::codec::decode::<Value>(&b)?, v);
    Ok(())
}
