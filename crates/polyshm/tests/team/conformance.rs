//! The conformance suite: every transport passes the same trials.

use crate::support::{self, keys, kill9, pids, runs, team, trial, TempPath, Then};
use libtest_mimic::{Failed, Trial};
use polyshm::team::{builtin, wait_any, Task, TaskHandle, Tasks, Team, TeamError, Transport};
use std::time::Duration;

type Case = fn(Transport) -> Result<(), Failed>;

/// The trials for transport `t`, named `<transport>::<case>`.
pub fn trials(t: Transport) -> Vec<Trial> {
    let cases: &[(&str, Case)] = &[
        ("empty_and_serde_tasks", empty_and_serde_tasks),
        ("pod_payloads_of_a_million_and_more", pod_payloads),
        ("result_larger_than_request_grows_the_mailbox", result_grows),
        (
            "pod_task_into_writes_the_reply_area_and_spills_past_it",
            pod_into,
        ),
        ("map_keeps_order_for_every_kind", map_every_kind),
        ("loan_and_reply_in_place_for_every_pod_kind", loan_reply),
        ("wait_any_answers_the_first_to_finish", first_of_many),
        ("zip_script_answers_six_six_six", zip_script),
        ("script_errors_come_back", script_errors),
        ("panic_in_task_comes_back_and_drone_goes_on", panics),
        ("unknown_task_is_refused_by_the_master", unknown_task),
        ("drone_killed_mid_task_is_replaced", drone_killed),
        ("retry_dead_runs_the_task_again", retry_dead),
        ("deadline_kills_and_replaces_the_drone", deadline),
        ("submit_wait_and_cancel", submit_cancel),
        ("version_mismatch_is_refused_at_connect", version_mismatch),
        ("master_killed_leaves_no_live_drone", support::master_killed),
        ("team_drop_leaves_nothing", drop_leaves_nothing),
        ("retry_dead_stops_at_its_limit", retry_limit),
        ("run_and_submit_never_retry", run_submit_never_retry),
        (
            "panics_and_timeouts_are_not_retried",
            panics_timeouts_not_retried,
        ),
        #[cfg(feature = "failpoints")]
        (
            "a_task_whose_reply_arrived_is_not_run_again",
            reply_then_death,
        ),
        ("undecodable_arguments_fail_in_the_drone", failed_in_drone),
        ("cancel_before_start_never_runs", cancel_before_start),
        ("connect_timeout_names_its_cause", connect_timeout),
        ("a_drone_may_not_start_drones", drone_starts_drones),
        ("map_stops_at_the_first_error", map_stops),
    ];
    cases
        .iter()
        .map(|(name, f)| {
            let f = *f;
            trial(format!("{}::{name}", t.id().replace('-', "_")), move || {
                f(t)
            })
        })
        .collect()
}

fn empty_and_serde_tasks(t: Transport) -> Result<(), Failed> {
    let team = team(t, 1);
    let k = keys();
    assert_eq!(team.transport(), t);
    assert_eq!(team.len(), 1);
    team.run(&builtin::EMPTY, ())?;
    assert_eq!(team.run(&k.add, (2, 3))?, 5);
    let pid = team.run(&k.pid, ())?;
    assert_eq!(pids(&team), [pid]);
    assert_ne!(pid, std::process::id());
    // A key whose result type differs from the drone's task (made by registering the
    // same name again elsewhere): a codec error in the master, the drone is fine.
    let wrong: Task<(i64, i64), String> = Tasks::new().task("add", |_: (i64, i64)| String::new());
    let e = team.run(&wrong, (1, 1)).unwrap_err();
    assert!(matches!(e, TeamError::Codec { .. }), "{e}");
    assert_eq!(team.run(&k.pid, ())?, pid);
    Ok(())
}

fn pod_payloads(t: Transport) -> Result<(), Failed> {
    let team = team(t, 1);
    for n in [0usize, 1, 10, 1_000, 1_000_000, 3_000_000] {
        let v: Vec<i64> = (0..n as i64).map(|i| i * 7 - 3).collect();
        let back = team.run(&builtin::ECHO_I64, &v)?;
        assert!(back == v, "echo of {n} i64 differs");
        let sum = team.run(&builtin::SUM_I64, &v)?;
        assert_eq!(sum, [v.iter().sum::<i64>()]);
        let len = team.run(&builtin::LEN, bytemuck_bytes(&v))?;
        assert_eq!(len, [8 * n as u64]);
        let back = team.run(&builtin::ECHO_I64_IN_PLACE, &v)?;
        assert!(back == v, "in-place echo of {n} i64 differs");
        let neg = team.run(&keys().negate_in_place, &v)?;
        assert!(neg.iter().zip(&v).all(|(a, b)| *a == -*b) && neg.len() == n);
    }
    let bytes: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let back = team.run(&builtin::ECHO_BYTES, &bytes)?;
    assert!(back == bytes, "echo of 1,000,000 bytes differs");
    // A smaller payload after the large ones: the grown mailbox is reused.
    assert_eq!(team.run(&keys().double_f64, [1.5, -2.0])?, [3.0, -4.0]);
    Ok(())
}

/// Tasks that write their result into the transport's reply area: answers that fit,
/// answers three times the request (past the inline area and past a grown one: the
/// values spill and the transport makes room), and values of another size.
fn pod_into(t: Transport) -> Result<(), Failed> {
    let team = team(t, 1);
    let k = keys();
    for n in [0usize, 1, 10, 10_000, 30_000, 1_000_000, 10] {
        let v: Vec<u32> = (0..n as u32)
            .map(|i| i.wrapping_mul(2_654_435_761))
            .collect();
        let back = team.run(&k.thrice_into, &v)?;
        let mut want = v.clone();
        want.extend_from_slice(&v);
        want.extend(v.iter().map(|x| x.wrapping_mul(2)));
        assert!(back == want, "thrice_into of {n} u32 differs");
        let w: Vec<u64> = v.iter().map(|x| u64::from(*x) * 65_537).collect();
        let halves = team.run(&k.halves_into, &w)?;
        let want: Vec<u16> = w
            .iter()
            .flat_map(|x| [*x as u16, (*x >> 16) as u16])
            .collect();
        assert!(halves == want, "halves_into of {n} u64 differs");
    }
    // The loaned request and the reply read in place, for a task of this kind.
    let mut loan = team.loan(&k.thrice_into, 3)?;
    loan.copy_from_slice(&[1, 2, 3]);
    let reply = loan.send()?;
    assert_eq!(&reply[..], [1, 2, 3, 1, 2, 3, 2, 4, 6]);
    Ok(())
}

/// The bytes of an `i64` array (for `polyshm.len`, a task on bytes).
fn bytemuck_bytes(v: &[i64]) -> &[u8] {
    polyshm::codec::pod_bytes(v)
}

fn result_grows(t: Transport) -> Result<(), Failed> {
    let team = team(t, 1);
    for n in [100u64, 200_000, 5_000_000, 10] {
        let r = team.run(&keys().grow_u8, [n])?;
        assert_eq!(r.len(), n as usize);
        assert!(r.iter().all(|b| *b == 7));
    }
    Ok(())
}

fn map_every_kind(t: Transport) -> Result<(), Failed> {
    let team = team(t, 2);
    let k = keys();
    // Serde: from an iterator (drawn as drones come free), answers in order.
    let out = team.map(&k.add, (0..50).map(|i| (i, i * i)))?;
    assert_eq!(out, (0..50).map(|i| i + i * i).collect::<Vec<_>>());
    let pairs = vec![(1, 5), (2, 4)];
    assert_eq!(team.map(&k.add, &pairs)?, [6, 6]);
    assert_eq!(
        team.map(&k.add, Vec::<(i64, i64)>::new())?,
        Vec::<i64>::new()
    );
    // Pod: owned arrays and borrowed ones.
    let arrays: Vec<Vec<f64>> = (0..9).map(|i| vec![i as f64; i * 1000]).collect();
    let doubled = team.map(&k.double_f64, &arrays)?;
    for (a, d) in arrays.iter().zip(&doubled) {
        assert!(a.iter().zip(d).all(|(x, y)| x * 2.0 == *y) && a.len() == d.len());
    }
    // In place.
    let negated = team.map(
        &k.negate_in_place,
        arrays
            .iter()
            .map(|a| a.iter().map(|x| *x as i64).collect::<Vec<i64>>()),
    )?;
    for (a, n) in arrays.iter().zip(&negated) {
        assert!(a.iter().zip(n).all(|(x, y)| -(*x as i64) == *y) && a.len() == n.len());
    }
    // The first failure (in input order) wins.
    let e = team
        .map(&k.panic, ["first".to_string(), "second".to_string()])
        .unwrap_err();
    assert!(
        matches!(&e, TeamError::Panicked { message, .. } if message.contains("first")),
        "{e}"
    );
    Ok(())
}

fn loan_reply(t: Transport) -> Result<(), Failed> {
    let team = team(t, 1);
    for n in [0usize, 10, 100_000, 1_000_000] {
        {
            let mut loan = team.loan(&builtin::ECHO_I64_IN_PLACE, n)?;
            assert_eq!(loan.len(), n);
            loan.iter_mut()
                .enumerate()
                .for_each(|(i, x)| *x = i as i64 * 3);
            let reply = loan.send()?;
            assert_eq!(reply.len(), n);
            assert!(reply.iter().enumerate().all(|(i, x)| *x == i as i64 * 3));
        }
        let mut loan = team.loan(&builtin::ECHO_I64, n)?;
        loan.fill(-1);
        let reply = loan.send()?;
        assert!(reply.len() == n && reply.iter().all(|x| *x == -1));
        drop(reply);
        let mut loan = team.loan(&keys().negate_in_place, n)?;
        loan.fill(4);
        assert!(loan.send()?.iter().all(|x| *x == -4));
        let mut loan = team.loan(&builtin::SUM_I64, n)?;
        loan.fill(2);
        assert_eq!(&*loan.send()?, [2 * n as i64]);
    }
    // A loan dropped unsent gives the drone back; the next call works.
    let loan = team.loan(&builtin::ECHO_I64, 10)?;
    drop(loan);
    // A reply that grows past the areas, read in place.
    let mut loan = team.loan(&keys().grow_u8, 1)?;
    loan[0] = 3_000_000;
    let r = loan.send()?;
    assert!(r.len() == 3_000_000 && r.iter().all(|b| *b == 7));
    drop(r);
    assert_eq!(team.run(&keys().add, (1, 1))?, 2);
    Ok(())
}

fn first_of_many(t: Transport) -> Result<(), Failed> {
    let team = team(t, 2);
    let k = keys();
    let mut handles: Vec<TaskHandle<u64>> =
        vec![team.submit(&k.sleep_ms, 3_000), team.submit(&k.sleep_ms, 1)];
    let (i, r) = wait_any(&mut handles).ok_or("two handles")?;
    assert_eq!((i, r?), (1, 1));
    let (i, r) = wait_any(&mut handles).ok_or("one handle left")?;
    assert_eq!((i, r?), (0, 3_000));
    assert!(wait_any(&mut handles).is_none(), "all spent");
    Ok(())
}

fn zip_script(t: Transport) -> Result<(), Failed> {
    let team = team(t, 2);
    let r: Vec<i64> = team.zip_script("|a, b| a + b", [1, 2, 3, 4, 5], [5, 4, 3, 2, 1])?;
    assert_eq!(r, [6, 6, 6, 6, 6]);
    // Rows of three, mixed numbers in, floats out.
    let r: Vec<f64> = team.script("|a, b, c| a * b + c", [(1, 3, 0.5), (2, 4, 1.0)])?;
    assert_eq!(r, [3.5, 9.0]);
    // Any serde value: a struct goes in as a rhai map and comes back as one.
    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Point {
        x: i64,
        y: i64,
    }
    let r: Vec<Point> = team.zip_script(
        "|p, k| #{x: p.x * k, y: p.y * k}",
        [Point { x: 1, y: 2 }, Point { x: -3, y: 0 }],
        [10, 2],
    )?;
    assert_eq!(r, [Point { x: 10, y: 20 }, Point { x: -6, y: 0 }]);
    let r: Vec<String> = team.zip_script("|a, b| a + b", ["x", "y"], ["1", "2"])?;
    assert_eq!(r, ["x1", "y2"]);
    Ok(())
}

fn script_errors(t: Transport) -> Result<(), Failed> {
    let team = team(t, 1);
    let e = team
        .zip_script::<_, _, i64>("|a, b| a +", [1], [2])
        .unwrap_err();
    assert!(
        matches!(&e, TeamError::Script { message, .. } if message.contains("does not compile")),
        "{e}"
    );
    let e = team
        .zip_script::<_, _, i64>("|a, b| a / b", [1, 2], [1, 0])
        .unwrap_err();
    assert!(
        matches!(&e, TeamError::Script { message, .. } if message.contains("row 1")),
        "{e}"
    );
    // An answer that does not read as the type asked for.
    let e = team
        .zip_script::<_, _, i64>("|a, b| `text`", [1], [2])
        .unwrap_err();
    assert!(
        matches!(&e, TeamError::Script { message, .. } if message.contains("does not read as")),
        "{e}"
    );
    let e = team
        .zip_script::<_, _, i64>("|a, b| a", [1], [2, 3])
        .unwrap_err();
    assert!(matches!(e, TeamError::Arguments(_)), "{e}");
    // The drone is still fine.
    assert_eq!(team.zip_script::<_, _, i64>("|a, b| a - b", [3], [1])?, [2]);
    Ok(())
}

fn panics(t: Transport) -> Result<(), Failed> {
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

fn unknown_task(t: Transport) -> Result<(), Failed> {
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

fn drone_killed(t: Transport) -> Result<(), Failed> {
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

fn retry_dead(t: Transport) -> Result<(), Failed> {
    let marker = TempPath::new("once");
    let team = polyshm::team::Team::builder(support::tasks().0)
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

fn deadline(t: Transport) -> Result<(), Failed> {
    let team = polyshm::team::Team::builder(support::tasks().0)
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

fn submit_cancel(t: Transport) -> Result<(), Failed> {
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

fn version_mismatch(t: Transport) -> Result<(), Failed> {
    let e = polyshm::team::Team::builder(support::tasks().0)
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

fn drop_leaves_nothing(t: Transport) -> Result<(), Failed> {
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
    Ok(Team::builder(support::tasks().0)
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
fn retry_limit(t: Transport) -> Result<(), Failed> {
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

fn run_submit_never_retry(t: Transport) -> Result<(), Failed> {
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

fn panics_timeouts_not_retried(t: Transport) -> Result<(), Failed> {
    let team = retrying(t, 1)?;
    let c = TempPath::new("runs");
    let e = team
        .map(&keys().counted, [counted(&c, Then::Panic, 0)])
        .unwrap_err();
    assert!(matches!(e, TeamError::Panicked { .. }), "{e}");
    assert_eq!(runs(&c), 1, "a panic was retried");
    let late = Team::builder(support::tasks().0)
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
fn reply_then_death(t: Transport) -> Result<(), Failed> {
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
fn failed_in_drone(t: Transport) -> Result<(), Failed> {
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
fn cancel_before_start(t: Transport) -> Result<(), Failed> {
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
fn connect_timeout(t: Transport) -> Result<(), Failed> {
    let stall = support::StallProgram::new()?;
    let e = Team::builder(support::tasks().0)
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

fn drone_starts_drones(t: Transport) -> Result<(), Failed> {
    let team = team(t, 1);
    let said = team.run(&keys().start_a_team, ())?;
    assert!(said.starts_with("Config: "), "{said}");
    assert!(said.contains("may not start drones"), "{said}");
    Ok(())
}

/// `map` stops at the first error: the inputs after it never run.
fn map_stops(t: Transport) -> Result<(), Failed> {
    let team = team(t, 1);
    let c = TempPath::new("runs");
    let mut inputs = vec![counted(&c, Then::Panic, 0)];
    inputs.extend((1..6).map(|v| counted(&c, Then::Answer, v)));
    let e = team.map(&keys().counted, inputs).unwrap_err();
    assert!(matches!(e, TeamError::Panicked { .. }), "{e}");
    assert_eq!(runs(&c), 1, "inputs after the failed one ran");
    Ok(())
}
