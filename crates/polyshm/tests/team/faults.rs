//! Faults at every protocol step (issue 9, part 2), and defect 9 (mailbox and team),
//! for every transport.
//!
//! The table: for each transport, a drone killed by its own fault point at each step of
//! the exchange (`team.drone.<step>`: before it reads the request, mid-read, mid-write
//! of the result, after writing and before signalling, after signalling), once with
//! `run` (the caller gets `DroneDied` naming drone and task, or the result if the reply
//! was complete) and once with `map` and `retry_dead` (the caller gets the result; a
//! task whose reply arrived never runs twice); and the master killed at the same steps
//! (`team.master.<step>`): its drone dies with it and its segments, removed by owner,
//! are all that is removed.
//!
//! Every case runs a small team in a child process, the "fault master" (this binary
//! again, chosen by [`FAULT_MASTER_ENV`]), so that the fault points of one case never
//! touch another. A drone's faults fire once per case (the first drone to start takes
//! a marker file, see [`fault_once`]), so its replacement serves normally.

use crate::support::{self, segments_of, trial, wait_dead, TempPath};
use libtest_mimic::{Failed, Trial};
use polyshm::child::Spawn;
use polyshm::fault::FAULTS_ENV;
use polyshm::team::{builtin, Team, TeamError, Transport, DRONE_ENV};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::Stdio;
use std::time::Duration;

/// Selects the fault-master role of this binary; the value is the case (see
/// [`fault_master`]).
pub const FAULT_MASTER_ENV: &str = "POLYSHM_TEST_FAULT_MASTER";
/// A drone given this path keeps its `POLYSHM_FAULTS` only if it is the first to create
/// the file.
pub const ONCE_ENV: &str = "POLYSHM_TEST_FAULT_ONCE";

/// The steps, as named in the fault points (`team.drone.<step>`, `team.master.<step>`).
pub const STEPS: [&str; 5] = [
    "before_read",
    "mid_read",
    "mid_write",
    "before_signal",
    "after_signal",
];

/// In a drone given [`ONCE_ENV`]: drop the fault configuration unless this is the
/// first drone of the case. Called first thing in `main`, before any fault point.
pub fn fault_once() {
    if std::env::var_os(DRONE_ENV).is_none() {
        return;
    }
    let Some(path) = std::env::var_os(ONCE_ENV).filter(|p| !p.is_empty()) else {
        return;
    };
    let first = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .is_ok();
    if !first {
        // Single-threaded here (start of main): nothing reads the environment meanwhile.
        std::env::remove_var(FAULTS_ENV);
    }
}

/// One case for the fault master.
struct Case<'a> {
    transport: Transport,
    /// `run` or `retry` (`map` with `retry_dead`).
    mode: &'a str,
    /// `POLYSHM_FAULTS` of the master itself.
    master_faults: &'a str,
    /// `POLYSHM_FAULTS` of its drones.
    drone_faults: &'a str,
    /// How long the task sleeps before it answers.
    task_ms: u64,
}

/// The fault master: a team of one drone, one task, the outcome on stdout
/// (`drones PID`, then `ok V`, `died DRONE PID TASK` or `error MESSAGE`). Ends itself
/// after a minute whatever happens, so that a hang cannot outlive the test.
pub fn fault_master(spec: &str) -> ! {
    std::thread::spawn(|| {
        std::thread::sleep(Duration::from_secs(60));
        std::process::exit(4);
    });
    let f: Vec<&str> = spec.split('|').collect();
    let t: Transport = f[0].parse().expect("transport");
    let (mode, count, once, drone_faults) = (f[1], f[2], f[3], f[4]);
    let ms: u64 = f[5].parse().expect("task ms");
    let team = Team::builder(support::tasks().0)
        .drones(1)
        .transport(t)
        .retry_dead(mode == "retry")
        .env(FAULTS_ENV, drone_faults)
        .env(ONCE_ENV, once)
        .spawn();
    let mut out = std::io::stdout();
    let team = match team {
        Ok(team) => team,
        Err(e) => {
            let _ = writeln!(out, "error {e}");
            std::process::exit(3);
        }
    };
    let _ = writeln!(out, "drones {}", support::pids(&team)[0]);
    let _ = out.flush();
    let args = (count.to_string(), ms, 20i64, 22i64);
    let r = match mode {
        "run" => team.run(&support::keys().count_add, &args),
        _ => team.map(&support::keys().count_add, [args]).map(|v| v[0]),
    };
    let _ = match r {
        Ok(v) => writeln!(out, "ok {v}"),
        Err(TeamError::DroneDied { drone, pid, task }) => {
            writeln!(out, "died {drone} {pid} {task}")
        }
        Err(e) => writeln!(out, "error {e}"),
    };
    let _ = out.flush();
    drop(team);
    std::process::exit(0);
}

/// What a fault master did.
struct Outcome {
    master_pid: u32,
    exited_normally: bool,
    drone: u32,
    /// The outcome line (`ok 42`, `died …`, `error …`), if the master got that far.
    result: Option<String>,
    /// How many times the task ran.
    runs: usize,
    stderr: String,
}

fn run_case(c: &Case<'_>) -> Result<Outcome, Failed> {
    let count = TempPath::new("count");
    let once = TempPath::new("once");
    let spec = [
        c.transport.id(),
        c.mode,
        &count.as_string(),
        &once.as_string(),
        c.drone_faults,
        &c.task_ms.to_string(),
    ]
    .join("|");
    // Killed and reaped when `reap` drops, whatever happens here.
    let mut reap = Spawn::this_program()?
        .env(FAULT_MASTER_ENV, spec)
        .env(FAULTS_ENV, c.master_faults)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .start()?;
    let master_pid = reap.id();
    let stdout = reap.take_stdout().expect("piped");
    let mut stderr = reap.take_stderr().expect("piped");
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    // The master ends itself within a minute: these reads end.
    let lines: Vec<String> = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .collect();
    let status = reap.wait()?;
    let stderr = err_reader.join().unwrap_or_default();
    let drone = lines
        .iter()
        .find_map(|l| l.strip_prefix("drones "))
        .and_then(|p| p.trim().parse().ok())
        .ok_or_else(|| format!("the fault master said {lines:?}; stderr: {stderr}"))?;
    let result = lines.iter().find(|l| !l.starts_with("drones ")).cloned();
    let runs = std::fs::read_to_string(&count.0)
        .map(|s| s.lines().count())
        .unwrap_or(0);
    Ok(Outcome {
        master_pid,
        exited_normally: status.success(),
        drone,
        result,
        runs,
        stderr,
    })
}

/// A drone killed at `step`: `run` gets `DroneDied` (or the result, after the signal).
fn drone_killed_run(t: Transport, step: &'static str) -> Result<(), Failed> {
    let faults = format!("team.drone.{step}=kill");
    let o = run_case(&Case {
        transport: t,
        mode: "run",
        master_faults: "",
        drone_faults: &faults,
        task_ms: 0,
    })?;
    check_master_finished(&o)?;
    let result = o.result.as_deref().unwrap_or("");
    let (want, runs) = match step {
        "after_signal" => ("ok 42".to_string(), 1),
        "before_read" | "mid_read" => (format!("died 0 {} count_add", o.drone), 0),
        _ => (format!("died 0 {} count_add", o.drone), 1),
    };
    if result != want || o.runs != runs {
        return Err(format!(
            "drone killed at {step} on {t}: got `{result}` after {} runs, expected `{want}` after {runs}; master stderr: {}",
            o.runs, o.stderr
        )
        .into());
    }
    Ok(())
}

/// A drone killed at `step`, `map` with `retry_dead`: the result, and the task ran
/// again only if its reply had not arrived.
fn drone_killed_retry(t: Transport, step: &'static str) -> Result<(), Failed> {
    let faults = format!("team.drone.{step}=kill");
    let o = run_case(&Case {
        transport: t,
        mode: "retry",
        master_faults: "",
        drone_faults: &faults,
        task_ms: 0,
    })?;
    check_master_finished(&o)?;
    let runs = match step {
        "before_read" | "mid_read" | "after_signal" => 1,
        _ => 2,
    };
    let result = o.result.as_deref().unwrap_or("");
    if result != "ok 42" || o.runs != runs {
        return Err(format!(
            "drone killed at {step} on {t} with retry_dead: got `{result}` after {} runs, expected `ok 42` after {runs}; master stderr: {}",
            o.runs, o.stderr
        )
        .into());
    }
    Ok(())
}

/// The master ended normally: its drones are gone and so are its segments.
fn check_master_finished(o: &Outcome) -> Result<(), Failed> {
    if !o.exited_normally {
        return Err(format!("the fault master failed; stderr: {}", o.stderr).into());
    }
    if !wait_dead(o.drone, Duration::from_secs(5)) {
        return Err(format!("drone {} outlived its master by 5 s", o.drone).into());
    }
    let left = segments_of(o.master_pid);
    if !left.is_empty() {
        return Err(format!("segments left by the master: {left:?}").into());
    }
    Ok(())
}

/// The master killed at `step`: its drone dies with it (parent death), and removing the
/// dead master's segments (found by owner) removes its mailboxes and nothing else.
fn master_killed(t: Transport, step: &'static str) -> Result<(), Failed> {
    let faults = format!("team.master.{step}=kill");
    let o = run_case(&Case {
        transport: t,
        mode: "run",
        master_faults: &faults,
        drone_faults: "",
        task_ms: 0,
    })?;
    if o.exited_normally || o.result.is_some() {
        return Err(format!(
            "the master should have died at {step}, it said {:?}; stderr: {}",
            o.result, o.stderr
        )
        .into());
    }
    if !wait_dead(o.drone, Duration::from_secs(5)) {
        return Err(format!("drone {} outlived its killed master by 5 s", o.drone).into());
    }
    if !polyshm::sys::SEGMENTS_PERSIST {
        return Ok(());
    }
    let before = segments_of(o.master_pid);
    if matches!(t, Transport::Shm | Transport::Hybrid { .. }) && before.is_empty() {
        return Err("a master killed mid-task leaves its mailbox for clean".into());
    }
    let removed = clean_dead_owner(o.master_pid)?;
    let mut want = before.clone();
    want.sort();
    if removed != want {
        return Err(
            format!("clean of the dead master removed {removed:?}, it owned {want:?}").into(),
        );
    }
    let after = segments_of(o.master_pid);
    if !after.is_empty() {
        return Err(format!("left after clean: {after:?}").into());
    }
    Ok(())
}

/// `polyshm shm clean`, scoped to one dead owner: remove every sound, non-persistent
/// segment whose owner is `pid` and dead; answers the names removed, sorted.
fn clean_dead_owner(pid: u32) -> Result<Vec<String>, Failed> {
    let mut removed = Vec::new();
    for s in polyshm::shm::admin::list()? {
        let mine = s.owner.is_some_and(|o| o.pid == pid);
        if mine && s.problem.is_none() && !s.owner_alive && !s.persistent {
            polyshm::shm::admin::remove(&s.name)?;
            removed.push(s.name);
        }
    }
    removed.sort();
    Ok(removed)
}

/// Defect 9: a reply signalled just before the drone died is a result, not
/// `DroneDied`, and with `retry_dead` the task does not run twice. The window is
/// widened: the master pauses 300 ms after each timed-out wait slice (100 ms) before
/// it checks the drone; the task answers after 150 ms and its drone dies right after
/// signalling, inside that pause.
fn defect_9_reply_signalled_before_death(t: Transport) -> Result<(), Failed> {
    let mut wrong = Vec::new();
    for mode in ["run", "retry"] {
        let o = run_case(&Case {
            transport: t,
            mode,
            master_faults: "team.wait.timed_out=sleep(300)",
            drone_faults: "team.drone.after_signal=kill",
            task_ms: 150,
        })?;
        check_master_finished(&o)?;
        let result = o.result.as_deref().unwrap_or("");
        if result != "ok 42" || o.runs != 1 {
            wrong.push(format!(
                "{mode} on {t}: a reply signalled before the drone died came back as `{result}` after {} runs (expected `ok 42` after 1); stderr: {}",
                o.runs, o.stderr
            ));
        }
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(wrong.join("\n").into())
    }
}

/// A team of one drone on `t` whose drones run with `drone_faults`.
fn faulty_team(t: Transport, drone_faults: &str) -> polyshm::team::TeamBuilder {
    Team::builder(support::tasks().0)
        .drones(1)
        .transport(t)
        .env(FAULTS_ENV, drone_faults)
}

/// Defect 9: a reply carrying another request's sequence number never reaches user
/// code; the caller gets a transport error and the drone is replaced.
fn defect_9_wrong_seq_never_reaches_user_code(t: Transport) -> Result<(), Failed> {
    let team = faulty_team(t, "team.drone.wrong_seq=return").spawn()?;
    // User code would see the reply through the guard; there must be none.
    let r = team.loan(&builtin::ECHO_I64, 2).and_then(|mut loan| {
        loan.copy_from_slice(&[1, 2]);
        loan.send().map(|reply| reply.to_vec())
    });
    match r {
        Err(TeamError::Transport { task, detail, .. }) => {
            assert_eq!(task, "polyshm.echo_i64");
            assert!(detail.contains("expected"), "{detail}");
        }
        other => return Err(format!("expected a transport error, got {other:?}").into()),
    }
    Ok(())
}

/// Defect 9: a NeedSpace carrying another request's sequence number is refused before
/// the master grows anything (mailbox transports).
fn defect_9_need_space_with_wrong_seq_is_refused(t: Transport) -> Result<(), Failed> {
    let team = faulty_team(t, "team.drone.need_space_wrong_seq=return").spawn()?;
    match team.run(&support::keys().grow_u8, [200_000]) {
        Err(TeamError::Transport { detail, .. }) if detail.contains("expected") => Ok(()),
        other => Err(format!(
            "expected a transport error, got {:?}",
            other.map(|v| v.len())
        )
        .into()),
    }
}

/// Defect 9: past the team's maximum message size, a request is refused before it is
/// sent and a result (a grow request, or a frame's announced length) before anything
/// is allocated; the team goes on working.
fn defect_9_grow_past_max_message_is_refused(t: Transport) -> Result<(), Failed> {
    let max = 1usize << 20;
    let team = faulty_team(t, "").max_message(max).spawn()?;
    match team.run(&support::keys().grow_u8, [2 << 20]) {
        Err(TeamError::TooLarge {
            task,
            bytes,
            max: m,
            ..
        }) => {
            assert_eq!((task.as_str(), m), ("grow_u8", max as u64));
            assert!(bytes >= 2 << 20, "{bytes}");
        }
        other => {
            let other = other.map(|v| v.len());
            return Err(format!("expected TooLarge for the result, got {other:?}").into());
        }
    }
    match team.run(&builtin::LEN, vec![0u8; 2 << 20]) {
        Err(TeamError::TooLarge { what, .. }) => assert_eq!(what, "a request"),
        other => return Err(format!("expected TooLarge for the request, got {other:?}").into()),
    }
    // Under the maximum all is well (the drone was replaced after its refused result).
    let back = team.run(&support::keys().grow_u8, [100_000])?;
    assert_eq!(back.len(), 100_000);
    Ok(())
}

/// Defect 9: a drone whose reply announces 2^60 bytes gets a typed error; the master
/// allocates nothing and does not abort (socket transports).
fn defect_9_frame_announcing_2_60_bytes_is_refused(t: Transport) -> Result<(), Failed> {
    let team = faulty_team(t, "team.drone.announce_huge=return").spawn()?;
    match team.run(&support::keys().add, (1, 2)) {
        Err(TeamError::TooLarge { bytes, .. }) if bytes == 1 << 60 => Ok(()),
        other => Err(format!("expected TooLarge of 2^60 bytes, got {other:?}").into()),
    }
}

type CaseFn = fn(Transport) -> Result<(), Failed>;

/// The trials for transport `t`, named `faults::<transport>::...`: the table of
/// [`STEPS`] × {drone with `run`, drone with `retry_dead`, master}, the widened
/// signalled-before-death case, and the defect 9 checks that apply to `t`.
/// Defect 10: a task or connect timeout of `Duration::MAX` means "no timeout" (adding
/// it to the start time used to panic in the master).
fn defect_10_team_timeouts_of_duration_max(t: Transport) -> Result<(), Failed> {
    let team = Team::builder(support::tasks().0)
        .drones(1)
        .transport(t)
        .connect_timeout(Duration::MAX)
        .task_timeout(Duration::MAX)
        .spawn()?;
    let sum = team.run(&support::keys().add, (2, 3))?;
    assert_eq!(sum, 5);
    Ok(())
}

pub fn trials(t: Transport) -> Vec<Trial> {
    let tid = t.id().replace('-', "_");
    let mut out = Vec::new();
    for step in STEPS {
        out.push(trial(
            format!("faults::{tid}::drone_{step}_run"),
            move || drone_killed_run(t, step),
        ));
        out.push(trial(
            format!("faults::{tid}::drone_{step}_retry_dead"),
            move || drone_killed_retry(t, step),
        ));
        out.push(trial(format!("faults::{tid}::master_{step}"), move || {
            master_killed(t, step)
        }));
    }
    let mailbox = matches!(t, Transport::Shm | Transport::Hybrid { .. });
    let socket = matches!(t, Transport::Tcp | Transport::Unix);
    let mut defects: Vec<(&str, CaseFn)> = vec![
        (
            "defect_10_team_timeouts_of_duration_max",
            defect_10_team_timeouts_of_duration_max,
        ),
        (
            "defect_9_reply_signalled_before_death_is_a_result",
            defect_9_reply_signalled_before_death,
        ),
        (
            "defect_9_wrong_seq_never_reaches_user_code",
            defect_9_wrong_seq_never_reaches_user_code,
        ),
        (
            "defect_9_grow_past_max_message_is_refused",
            defect_9_grow_past_max_message_is_refused,
        ),
    ];
    if mailbox {
        defects.push((
            "defect_9_need_space_with_wrong_seq_is_refused",
            defect_9_need_space_with_wrong_seq_is_refused,
        ));
    }
    if socket {
        defects.push((
            "defect_9_frame_announcing_2_60_bytes_is_refused",
            defect_9_frame_announcing_2_60_bytes_is_refused,
        ));
    }
    for (name, f) in defects {
        out.push(trial(format!("faults::{tid}::{name}"), move || f(t)));
    }
    out
}
