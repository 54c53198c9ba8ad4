//! The conformance cases where something fails, for every transport: a task that
//! panics or cannot decode its arguments, an unknown task, a drone killed or late
//! (replaced; retried with `retry_dead`, within its limit, and never after a reply
//! arrived), cancels, and teams that cannot start.

use crate::support::{self, keys, kill9, pids, runs, team, TempPath, Then};
use libtest_mimic::Failed;
use polyshm::team::{builtin, Task, Tasks, Team, TeamError, Transport};
use std::time::Duration;

pub fn panics(t: Transport) -> Result<(), Failed> {
    let team = team(t, 1);
    let pid = pids(&team)[0];
    let e = team
        .run(&keys().panic, "the sky fell".to_string())
        .unwrap_err();
    match &e {
        TeamError::Panicked { task, message, .. } => {
            assert_eq!(task, "panic");
            assert!(message.contains("the sky fell"), "{message}");
        }
        e => return Err(format!("expected Panicked, got {e}").into()),
    }
    assert_eq!(team.run(&keys().add, (1, 1))?, 2);
    assert_eq!(pids(&team), [pid], "the drone went on");
    Ok(())
}

pub fn unknown_task(t: Transport) -> Result<(), Failed> {
    let team = team(t, 1);
    // A key the master's Tasks does not hold: refused before anything is sent.
    let stranger: Task<(), ()> = Tasks::new().task("no.such.task", |()| ());
    let e = team.run(&stranger, ()).unwrap_err();
    assert!(
        matches!(&e, TeamError::UnknownTask { task, detail } if task == "no.such.task" && detail.contains("polyshm.echo_i64")),
        "{e}"
    );
    let e = team.submit(&stranger, ()).wait().unwrap_err();
    assert!(matches!(e, TeamError::UnknownTask { .. }), "{e}");
    // A key of another kind under a known name.
    let mut other = Tasks::new();
    let pod_add = other.pod_task("add", |v: &[i64]| v.to_vec());
    let e = team.run(&pod_add, [1i64]).unwrap_err();
    assert!(
        matches!(&e, TeamError::UnknownTask { detail, .. } if detail.contains("serde task")),
        "{e}"
    );
    assert_eq!(team.run(&keys().add, (1, 1))?, 2);
    Ok(())
}

/// Run `mark_and_sleep` on some drone, wait for its mark, answer (handle, pid).
fn start_marked(
    team: &Team,
    mark: &TempPath,
) -> Result<(polyshm::team::TaskHandle<u64>, u32), Failed> {
    let h = team.submit(&keys().mark_and_sleep, (mark.as_string(), 30_000));
    for _ in 0..2000 {
        if let Ok(s) = std::fs::read_to_string(&mark.0) {
            if let Ok(pid) = s.parse() {
                return Ok((h, pid));
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Err("the task never started".into())
}

pub fn drone_killed(t: Transport) -> Result<(), Failed> {
    let team = team(t, 2);
    let before = pids(&team);
    let mark = TempPath::new("mark");
    let (h, victim) = start_marked(&team, &mark)?;
    let other = *before.iter().find(|p| **p != victim).expect("two drones");
    // The other drone keeps working while one is busy.
    assert_eq!(team.run(&keys().pid, ())?, other);
    kill9(victim);
    match h.wait() {
        Err(TeamError::DroneDied { drone, pid, task }) => {
            assert_eq!(pid, victim);
            assert_eq!(task, "mark_and_sleep");
            assert!(drone < 2);
        }
        r => return Err(format!("expected DroneDied, got {r:?}").into()),
    }
    let after = pids(&team);
    assert!(after.contains(&other), "the other drone is untouched");
    assert!(
        !after.contains(&victim) && !after.contains(&0),
        "replaced: {after:?}"
    );
    let sums = team.map(&keys().add, vec![(1, 2); 6])?;
    assert_eq!(sums, [3; 6]);
    Ok(())
}

pub fn retry_dead(t: Transport) -> Result<(), Failed> {
    let marker = TempPath::new("once");
    let team = support::builder()
        .drones(2)
        .transport(t)
        .retry_dead(true)
        .spawn()?;
    let out = team.map(&keys().die_once, [(marker.as_string(), 4)])?;
    assert_eq!(out, [40]);
    // Without retry the same death is an error naming the task.
    let marker2 = TempPath::new("once");
    let plain = support::team(t, 1);
    let e = plain
        .map(&keys().die_once, [(marker2.as_string(), 4)])
        .unwrap_err();
    assert!(
        matches!(&e, TeamError::DroneDied { task, .. } if task == "die_once"),
        "{e}"
    );
    Ok(())
}

pub fn deadline(t: Transport) -> Result<(), Failed> {
    let team = support::builder()
        .drones(1)
        .transport(t)
        .task_timeout(Duration::from_secs(2))
        .spawn()?;
    let pid = pids(&team)[0];
    assert_eq!(team.run(&keys().sleep_ms, 1)?, 1);
    let e = team.run(&keys().sleep_ms, 60_000).unwrap_err();
    match &e {
        TeamError::TimedOut { task, pid: p, .. } => {
            assert_eq!(task, "sleep_ms");
            assert_eq!(*p, pid);
        }
        e => return Err(format!("expected TimedOut, got {e}").into()),
    }
    assert!(
        support::wait_dead(pid, Duration::from_secs(5)),
        "late drone killed"
    );
    assert_ne!(pids(&team)[0], pid, "replaced");
    assert_eq!(team.run(&keys().add, (1, 1))?, 2);
    Ok(())
}

pub fn submit_cancel(t: Transport) -> Result<(), Failed> {
    let team = team(t, 1);
    let h = team.submit(&keys().add, (20, 22));
    assert_eq!(h.wait()?, 42);
    let mut h = team.submit(&keys().sleep_ms, 1);
    assert_eq!(
        h.wait_timeout(Duration::from_secs(60)).transpose()?,
        Some(1)
    );
    // A task known to run (it marked its start) and to sleep 30 s: wait_timeout
    // answers None, then the cancel.
    let mark = TempPath::new("mark");
    let (mut h, victim) = start_marked(&team, &mark)?;
    assert!(h.wait_timeout(Duration::from_millis(20)).is_none());
    let e = h.cancel().unwrap_err();
    assert!(matches!(e, TeamError::Cancelled { .. }), "{e}");
    assert!(support::wait_dead(victim, Duration::from_secs(5)));
    assert_eq!(team.run(&keys().add, (1, 1))?, 2);
    Ok(())
}

pub fn version_mismatch(t: Transport) -> Result<(), Failed> {
    let e = support::builder()
        .drones(1)
        .transport(t)
        .drones_claim_protocol(999)
        .spawn()
        .unwrap_err();
    match &e {
        TeamError::VersionMismatch {
            drone_protocol,
            master_protocol,
            ..
        } => assert_eq!((*drone_protocol, *master_protocol), (999, 1)),
        e => return Err(format!("expected VersionMismatch, got {e}").into()),
    }
    assert!(e.to_string().contains("same version"), "{e}");
    Ok(())
}

pub fn drop_leaves_nothing(t: Transport) -> Result<(), Failed> {
    let team = team(t, 2);
    let pids = pids(&team);
    team.run(&builtin::ECHO_I64, vec![5i64; 100_000])?;
    drop(team);
    for p in pids {
        assert!(
            support::wait_dead(p, Duration::from_secs(3)),
            "drone {p} outlived the team"
        );
    }
    Ok(())
}

/// A team with `retry_dead` on.
fn retrying(t: Transport, drones: usize) -> Result<Team, Failed> {
    Ok(support::builder()
        .drones(drones)
        .transport(t)
        .retry_dead(true)
        .spawn()?)
}

/// Arguments of the `counted` task.
fn counted(c: &TempPath, then: Then, v: u64) -> (String, Then, u64) {
    (c.as_string(), then, v)
}

/// A task that always kills its drone runs 4 times (3 retries, see
/// `TeamBuilder::retry_dead`), then the caller gets `DroneDied`.
pub fn retry_limit(t: Transport) -> Result<(), Failed> {
    let team = retrying(t, 1)?;
    let c = TempPath::new("runs");
    let e = team
        .map(&keys().counted, [counted(&c, Then::Die, 0)])
        .unwrap_err();
    assert!(
        matches!(&e, TeamError::DroneDied { task, .. } if task == "counted"),
        "{e}"
    );
    assert_eq!(runs(&c), 4, "one run and 3 retries");
    // The team goes on, on a fresh drone.
    assert_eq!(team.run(&keys().add, (1, 1))?, 2);
    Ok(())
}

pub fn run_submit_never_retry(t: Transport) -> Result<(), Failed> {
    let team = retrying(t, 1)?;
    let c = TempPath::new("runs");
    let e = team
        .run(&keys().counted, counted(&c, Then::Die, 0))
        .unwrap_err();
    assert!(matches!(e, TeamError::DroneDied { .. }), "{e}");
    assert_eq!(runs(&c), 1, "run retried");
    let c = TempPath::new("runs");
    let e = team
        .submit(&keys().counted, counted(&c, Then::Die, 0))
        .wait()
        .unwrap_err();
    assert!(matches!(e, TeamError::DroneDied { .. }), "{e}");
    assert_eq!(runs(&c), 1, "submit retried");
    Ok(())
}

pub fn panics_timeouts_not_retried(t: Transport) -> Result<(), Failed> {
    let team = retrying(t, 1)?;
    let c = TempPath::new("runs");
    let e = team
        .map(&keys().counted, [counted(&c, Then::Panic, 0)])
        .unwrap_err();
    assert!(matches!(e, TeamError::Panicked { .. }), "{e}");
    assert_eq!(runs(&c), 1, "a panic was retried");
    let late = support::builder()
        .drones(1)
        .transport(t)
        .retry_dead(true)
        .task_timeout(Duration::from_secs(3))
        .spawn()?;
    let c = TempPath::new("runs");
    let e = late
        .map(&keys().counted, [counted(&c, Then::Sleep, 60_000)])
        .unwrap_err();
    assert!(matches!(e, TeamError::TimedOut { .. }), "{e}");
    assert_eq!(runs(&c), 1, "a timed-out task was retried");
    Ok(())
}

/// Each drone dies right after sending its reply: every reply is a result, no task
/// runs twice, and the next task (sent to the dead drone) is retried on a fresh one.
#[cfg(feature = "failpoints")]
pub fn reply_then_death(t: Transport) -> Result<(), Failed> {
    let team = retrying(t, 2)?;
    let before = pids(&team);
    let c = TempPath::new("runs");
    let inputs: Vec<_> = (0..6)
        .map(|v| counted(&c, Then::DieAfterReply, v))
        .collect();
    let out = team.map(&keys().counted, inputs)?;
    assert_eq!(out, [0, 1, 2, 3, 4, 5]);
    assert_eq!(runs(&c), 6, "a task whose reply arrived ran again");
    for p in before {
        assert!(
            support::wait_dead(p, Duration::from_secs(5)),
            "drone {p} did not die after its reply"
        );
    }
    Ok(())
}

/// `TeamError::Failed`: arguments the task cannot decode, a pod payload whose length
/// is not a whole number of elements. The drone goes on.
pub fn failed_in_drone(t: Transport) -> Result<(), Failed> {
    let team = team(t, 1);
    let pid = pids(&team)[0];
    // A key whose argument type differs from the drone's task.
    let wrong: Task<String, i64> = Tasks::new().task("add", |_: String| 0);
    let e = team.run(&wrong, "not two numbers".to_string()).unwrap_err();
    match &e {
        TeamError::Failed { task, message, .. } => {
            assert_eq!(task, "add");
            assert!(message.contains("task `add`"), "{message}");
        }
        e => return Err(format!("expected Failed, got {e}").into()),
    }
    let bytes: polyshm::team::PodTask<u8, f64> =
        Tasks::new().pod_task("double_f64", |_: &[u8]| Vec::new());
    let e = team.run(&bytes, [1u8, 2, 3]).unwrap_err();
    match &e {
        TeamError::Failed { task, message, .. } => {
            assert_eq!(task, "double_f64");
            assert!(message.contains('3'), "names the length: {message}");
        }
        e => return Err(format!("expected Failed, got {e}").into()),
    }
    assert_eq!(team.run(&keys().add, (1, 1))?, 2);
    assert_eq!(pids(&team), [pid], "the drone went on");
    Ok(())
}

/// A task cancelled while it waits for a drone never runs.
pub fn cancel_before_start(t: Transport) -> Result<(), Failed> {
    let team = team(t, 1);
    let mark = TempPath::new("mark");
    let (busy, _) = start_marked(&team, &mark)?;
    let c = TempPath::new("runs");
    let queued = team.submit(&keys().counted, counted(&c, Then::Answer, 1));
    let e = queued.cancel().unwrap_err();
    assert!(matches!(e, TeamError::Cancelled { .. }), "{e}");
    assert!(matches!(busy.cancel(), Err(TeamError::Cancelled { .. })));
    // The drone is free again and has run the queued task never.
    assert_eq!(team.run(&keys().add, (1, 1))?, 2);
    assert_eq!(runs(&c), 0, "a cancelled task ran");
    Ok(())
}

/// A drone program that never connects: `Spawn` after the connect timeout, with the
/// hint to call `drone_main` first.
pub fn connect_timeout(t: Transport) -> Result<(), Failed> {
    let stall = support::StallProgram::new()?;
    let e = support::builder()
        .drones(1)
        .transport(t)
        .program(&stall.0 .0)
        .connect_timeout(Duration::from_millis(500))
        .spawn()
        .unwrap_err();
    match &e {
        TeamError::Spawn { detail, .. } => {
            assert!(detail.contains("did not connect within"), "{detail}");
            assert!(detail.contains("drone_main first"), "{detail}");
        }
        e => return Err(format!("expected Spawn, got {e}").into()),
    }
    Ok(())
}

pub fn drone_starts_drones(t: Transport) -> Result<(), Failed> {
    let team = team(t, 1);
    let said = team.run(&keys().start_a_team, ())?;
    assert!(said.starts_with("Config: "), "{said}");
    assert!(said.contains("may not start drones"), "{said}");
    Ok(())
}

/// `map` stops at the first error: the inputs after it never run.
pub fn map_stops(t: Transport) -> Result<(), Failed> {
    let team = team(t, 1);
    let c = TempPath::new("runs");
    let mut inputs = vec![counted(&c, Then::Panic, 0)];
    inputs.extend((1..6).map(|v| counted(&c, Then::Answer, v)));
    let e = team.map(&keys().counted, inputs).unwrap_err();
    assert!(matches!(e, TeamError::Panicked { .. }), "{e}");
    assert_eq!(runs(&c), 1, "inputs after the failed one ran");
    Ok(())
}
