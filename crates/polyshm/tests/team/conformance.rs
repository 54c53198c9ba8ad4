//! The conformance suite: every transport passes the same trials. Here what every
//! task kind answers; what happens when a task or a drone fails: `failures.rs`.

mod failures;

use crate::support::{self, keys, pids, team, trial};
use libtest_mimic::{Failed, Trial};
use polyshm::team::{builtin, wait_any, Signal, Task, TaskHandle, Tasks, TeamError, Transport};

type Case = fn(Transport) -> Result<(), Failed>;

/// The trials for transport `t`, named `<transport>::<case>`.
pub fn trials(t: Transport) -> Vec<Trial> {
    let mut trials = trials_with(t, Signal::Semaphore);
    trials.extend(crate::archived::trials(t));
    trials
}

/// The trials for transport `t` with the mailbox hand-over signalled by `s`, named
/// `<transport>::<case>` (`<transport>_<signal>::<case>` for a signal other than the
/// default).
pub fn trials_with(t: Transport, s: Signal) -> Vec<Trial> {
    let prefix = match s {
        Signal::Semaphore => t.id().replace('-', "_"),
        s => format!("{}_{s}", t.id().replace('-', "_")),
    };
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
        (
            "panic_in_task_comes_back_and_drone_goes_on",
            failures::panics,
        ),
        (
            "unknown_task_is_refused_by_the_master",
            failures::unknown_task,
        ),
        ("drone_killed_mid_task_is_replaced", failures::drone_killed),
        ("retry_dead_runs_the_task_again", failures::retry_dead),
        ("deadline_kills_and_replaces_the_drone", failures::deadline),
        ("submit_wait_and_cancel", failures::submit_cancel),
        (
            "version_mismatch_is_refused_at_connect",
            failures::version_mismatch,
        ),
        ("master_killed_leaves_no_live_drone", support::master_killed),
        ("team_drop_leaves_nothing", failures::drop_leaves_nothing),
        ("retry_dead_stops_at_its_limit", failures::retry_limit),
        (
            "run_and_submit_never_retry",
            failures::run_submit_never_retry,
        ),
        (
            "panics_and_timeouts_are_not_retried",
            failures::panics_timeouts_not_retried,
        ),
        #[cfg(feature = "failpoints")]
        (
            "a_task_whose_reply_arrived_is_not_run_again",
            failures::reply_then_death,
        ),
        (
            "undecodable_arguments_fail_in_the_drone",
            failures::failed_in_drone,
        ),
        (
            "cancel_before_start_never_runs",
            failures::cancel_before_start,
        ),
        ("connect_timeout_names_its_cause", failures::connect_timeout),
        (
            "a_drone_may_not_start_drones",
            failures::drone_starts_drones,
        ),
        ("map_stops_at_the_first_error", failures::map_stops),
    ];
    cases
        .iter()
        .map(|(name, f)| {
            let f = *f;
            trial(format!("{prefix}::{name}"), move || {
                support::with_signal(s, || f(t))
            })
        })
        .collect()
}

/// `--signal window` where it cannot work is refused before anything starts, saying
/// why: on a platform without window messages, or with a transport without a mailbox.
pub fn signal_refusals() -> Result<(), Failed> {
    let refused = |t: Transport| match support::builder()
        .drones(1)
        .transport(t)
        .signal(Signal::Window)
        .spawn()
    {
        Err(TeamError::Config(m)) => Ok(m),
        Err(e) => Err(format!("expected a Config error, got {e}")),
        Ok(_) => Err("a team started".to_string()),
    };
    if Signal::Window.is_available() {
        let m = refused(Transport::Tcp)?;
        assert!(m.contains("hand-over is signalled (shm, hybrid)"), "{m}");
        // The unprotected hybrid's drone answers by socket: no signal to replace.
        let m = refused(Transport::Hybrid { protected: false })?;
        assert!(
            m.contains("socket reply is the signal") && m.contains("use hybrid or shm"),
            "{m}"
        );
    } else {
        let m = refused(Transport::Shm)?;
        assert!(
            m.contains("needs Windows") && m.contains("semaphore"),
            "{m}"
        );
    }
    assert_eq!("window".parse::<Signal>(), Ok(Signal::Window));
    assert!("smoke"
        .parse::<Signal>()
        .unwrap_err()
        .to_string()
        .contains("semaphore or window"));
    Ok(())
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
