//! The team over MPI ranks (feature `mpi`), when this binary runs under mpirun
//! (`scripts/mpi-tests.sh`: `mpirun -n 3`, once with the ranks of this node reached
//! through shared memory, once with `POLYSHM_MPI_ALL_REMOTE=1`: MPI messages).
//!
//! Ranks ≠ 0 are drones (`drone_main` serves there). Rank 0 runs the conformance
//! cases that apply to ranks — the same functions as for every transport, their teams
//! built with `.mpi()` ([`support::use_mpi`]) — and the MPI cases below, one at a time
//! (the job has two drone ranks). The conformance cases left out kill, replace or
//! abandon a drone, or start a drone program of their own: an MPI rank cannot be
//! replaced (see `polyshm::team` over MPI in the README).
//!
//! The script runs [`teams_follow_each_other`] once more in each placement with the
//! drone ranks pausing at [`SESSION_END_POINT`] (`POLYSHM_FAULTS`, feature
//! `failpoints`): the race of a drone rank's quit watcher with the next team, its
//! window widened on purpose.
//!
//! With [`KILL_ENV`] set, rank 0 kills a drone rank mid-task instead (`master`: kills
//! itself, its mailboxes mapped by the drone ranks); the script checks that mpirun
//! names the dead rank, that the job ends, and that no segment is left.

use crate::support::{self, keys, pids, segments_of, trial, TempPath};
use libtest_mimic::{Arguments, Failed, Trial};
use polyshm::fault::FAULTS_ENV;
use polyshm::team::{builtin, TeamError, Transport, ALL_REMOTE_ENV};
use std::io::Write;
use std::time::Duration;

/// Rank 0 kills a drone rank mid-task (`1`), or itself (`master`).
pub const KILL_ENV: &str = "POLYSHM_TEST_MPI_KILL";

/// Where a drone rank's session has ended (its link closed) while its quit watcher
/// still looks for "job over": the fault point that widens the window of
/// [`teams_follow_each_other`].
pub const SESSION_END_POINT: &str = "mpi.drone.before_session_end";

/// Teams built one right after the other in [`teams_follow_each_other`].
const ROUNDS: i64 = 8;

/// The conformance cases that apply to MPI ranks.
const APPLY: &[&str] = &[
    "empty_and_serde_tasks",
    "pod_payloads_of_a_million_and_more",
    "result_larger_than_request_grows_the_mailbox",
    "pod_task_into_writes_the_reply_area_and_spills_past_it",
    "map_keeps_order_for_every_kind",
    "loan_and_reply_in_place_for_every_pod_kind",
    "wait_any_answers_the_first_to_finish",
    "zip_script_answers_six_six_six",
    "script_errors_come_back",
    "panic_in_task_comes_back_and_drone_goes_on",
    "unknown_task_is_refused_by_the_master",
    "version_mismatch_is_refused_at_connect",
    "undecodable_arguments_fail_in_the_drone",
    "a_drone_may_not_start_drones",
    "map_stops_at_the_first_error",
    "archived_values_of_nested_types_roundtrip",
    "archives_past_the_areas_grow_them",
    "an_invalid_request_archive_is_refused_by_the_drone",
];

fn remote() -> bool {
    std::env::var_os(ALL_REMOTE_ENV).is_some_and(|v| v != "0" && !v.is_empty())
}

/// A case of the MPI launcher alone.
type MpiCase = fn() -> Result<(), Failed>;

/// Rank 0 under mpirun: run the MPI trials (or the kill) and exit.
pub fn main() -> ! {
    support::use_mpi();
    if std::env::var_os(KILL_ENV).is_some() {
        kill_a_rank();
    }
    let mut args = Arguments::from_args();
    // The job's two drone ranks go to one team at a time.
    args.test_threads = Some(1);
    let kind = if remote() { "mpi-messages" } else { "mpi-shm" };
    let mut trials: Vec<Trial> = crate::conformance::trials(Transport::Shm)
        .into_iter()
        .filter(|t| APPLY.iter().any(|a| t.name().ends_with(&format!("::{a}"))))
        .collect();
    let cases: &[(&str, MpiCase)] = &[
        ("placement_follows_the_node", placement),
        ("ranks_come_back_after_a_team", ranks_come_back),
        ("teams_follow_each_other", teams_follow_each_other),
        ("more_drones_than_ranks_is_refused", too_many),
        ("a_lost_rank_is_an_error_naming_it", lost_rank),
    ];
    trials.extend(cases.iter().map(|(n, f)| trial(format!("mpi::{n}"), *f)));
    let trials = trials.into_iter().map(|t| t.with_kind(kind)).collect();
    let conclusion = libtest_mimic::run(&args, trials);
    let left = segments_of(std::process::id());
    if !left.is_empty() {
        eprintln!("segments left behind by the MPI tests: {left:?}");
        std::process::exit(101);
    }
    // `exit` finalizes MPI (the drone ranks are told the job is over first).
    conclusion.exit()
}

/// Ranks on this node get a mailbox each; remote ones none. Either way the drones
/// are the other ranks, and a million i64 go there and back.
fn placement() -> Result<(), Failed> {
    let me = std::process::id();
    let team = support::builder().spawn()?;
    assert_eq!(team.len(), 2, "every drone rank of mpirun -n 3");
    let p = pids(&team);
    assert!(p.iter().all(|p| *p != 0 && *p != me), "{p:?}");
    let mailboxes = segments_of(me)
        .iter()
        .filter(|s| s.starts_with("mbx"))
        .count();
    let want = if remote() { 0 } else { 2 };
    assert_eq!(
        mailboxes,
        want,
        "mailboxes of a team whose ranks are {}",
        if remote() { "remote" } else { "on this node" }
    );
    let v: Vec<i64> = (0..1_000_000).map(|i| i * 3 - 7).collect();
    for _ in 0..2 {
        assert!(team.run(&builtin::ECHO_I64, &v)? == v);
    }
    let mut served: Vec<u32> = team.map(&keys().pid, vec![(); 20])?;
    served.sort_unstable();
    served.dedup();
    assert!(
        served.iter().all(|s| p.contains(s)),
        "{served:?} not in {p:?}"
    );
    Ok(())
}

/// A dropped team gives its ranks back (the next team gets the same processes), and
/// leaves no segment.
fn ranks_come_back() -> Result<(), Failed> {
    let team = support::builder().spawn()?;
    let mut first = pids(&team);
    assert_eq!(team.run(&keys().add, (2, 3))?, 5);
    drop(team);
    let left = segments_of(std::process::id());
    assert!(left.is_empty(), "segments after the team: {left:?}");
    let team = support::builder().drones(1).spawn()?;
    assert_eq!(team.run(&keys().add, (4, 3))?, 7);
    let again = support::builder().drones(1).spawn()?;
    let mut second = [pids(&team), pids(&again)].concat();
    first.sort_unstable();
    second.sort_unstable();
    assert_eq!(first, second, "the same ranks serve the next teams");
    Ok(())
}

/// Team after team at once, every answer checked: each time a team drops, rank 0
/// closes each drone rank's link and at once sends it the next team's session
/// message, on another tag; the rank's quit watcher, still looking for "job over"
/// until its serving loop has read the close, may see that message first. It must
/// leave it to the serving loop (one that took it aborted the job: commit 82b16fc).
/// With [`SESSION_END_POINT`] set to a pause of several of the watcher's looks (50 ms
/// each) on the drone ranks, the watcher looks while the next message waits, each round
/// (without the fix of 82b16fc the job aborts).
fn teams_follow_each_other() -> Result<(), Failed> {
    let widened = std::env::var(FAULTS_ENV).is_ok_and(|f| f.contains(SESSION_END_POINT));
    if widened && !cfg!(feature = "failpoints") {
        return Err(format!(
            "{FAULTS_ENV} names {SESSION_END_POINT}, but this binary was built without the \
             failpoints feature (the pause would not happen): build with \
             --features mpi,failpoints"
        )
        .into());
    }
    let me = std::process::id();
    let mut ranks: Option<Vec<u32>> = None;
    for round in 0..ROUNDS {
        let team = support::builder().spawn()?;
        let mut p = pids(&team);
        p.sort_unstable();
        let first = ranks.get_or_insert_with(|| p.clone());
        assert_eq!(
            *first, p,
            "round {round}: the same two drone ranks serve every team"
        );
        let args: Vec<(i64, i64)> = (0..16).map(|i| (round * 1000 + i, i * i)).collect();
        let want: Vec<i64> = args.iter().map(|(a, b)| a + b).collect();
        assert_eq!(team.map(&keys().add, args)?, want, "round {round}");
        // Dropped here; the next round's team is built at once.
    }
    let left = segments_of(me);
    assert!(left.is_empty(), "segments after the teams: {left:?}");
    Ok(())
}

/// Three drones from a job of two drone ranks: an error that says why, and the two
/// ranks taken meanwhile are given back.
fn too_many() -> Result<(), Failed> {
    let e = support::builder()
        .drones(3)
        .connect_timeout(Duration::from_millis(300))
        .spawn()
        .unwrap_err();
    assert!(
        matches!(&e, TeamError::Config(m) if m.contains("no free MPI rank") && m.contains("mpirun -n 3")),
        "{e}"
    );
    let team = support::builder().spawn()?;
    assert_eq!(team.len(), 2);
    Ok(())
}

/// A drone past its deadline cannot be killed and replaced as a spawned drone is:
/// its rank is lost to the job, and the slot's next call says so. Run last (the
/// rank stays lost), with a task that ends soon after the deadline.
fn lost_rank() -> Result<(), Failed> {
    let team = support::builder()
        .drones(1)
        .task_timeout(Duration::from_millis(200))
        .connect_timeout(Duration::from_millis(300))
        .spawn()?;
    let e = team.run(&keys().sleep_ms, 1_000).unwrap_err();
    assert!(matches!(e, TeamError::TimedOut { .. }), "{e}");
    // The other rank took the slot.
    assert_eq!(team.run(&keys().add, (1, 2))?, 3);
    let e = team.run(&keys().sleep_ms, 1_000).unwrap_err();
    assert!(matches!(e, TeamError::TimedOut { .. }), "{e}");
    let e = team.run(&keys().add, (1, 2)).unwrap_err();
    assert!(
        matches!(&e, TeamError::Config(m) if m.contains("no free MPI rank")),
        "{e}"
    );
    Ok(())
}

/// Rank 0 starts a team, makes a drone rank busy and kills it with -9, then waits
/// for its answer: it says on stdout what it did; mpirun ends the job.
fn kill_a_rank() -> ! {
    let say = |line: String| {
        println!("{line}");
        let _ = std::io::stdout().flush();
    };
    say(format!("master {}", std::process::id()));
    let team = support::builder()
        .spawn()
        .unwrap_or_else(|e| panic!("a team over the ranks: {e}"));
    // A large echo first: the mailboxes (or the MPI buffers) have grown.
    let v = vec![1i64; 1_000_000];
    assert!(team.run(&builtin::ECHO_I64, &v).expect("echo") == v);
    // What must be gone after the job (the script checks).
    say(format!(
        "segments {}",
        segments_of(std::process::id()).len()
    ));
    if std::env::var(KILL_ENV).is_ok_and(|v| v == "master") {
        say(format!("killing {}", std::process::id()));
        support::kill9(std::process::id());
    }
    let mark = TempPath::new("mpi-kill");
    let h = team.submit(&keys().mark_and_sleep, (mark.as_string(), 30_000));
    let victim = (0..2000)
        .find_map(|_| {
            std::thread::sleep(Duration::from_millis(10));
            std::fs::read_to_string(&mark.0).ok()?.parse::<u32>().ok()
        })
        .expect("the task marked its start");
    say(format!("killing {victim}"));
    support::kill9(victim);
    match h.wait() {
        Err(e) => say(format!("answer: {e}")),
        Ok(v) => say(format!("answer: Ok({v}) from a killed rank")),
    }
    // Until mpirun ends the job.
    std::thread::sleep(Duration::from_secs(60));
    say("mpirun did not end the job within 60 s".into());
    std::process::exit(1)
}
