//! Archived tasks under faults (feature `failpoints`): a drone that writes a corrupt
//! archive, a drone killed while it writes one, and a scribbling process that
//! changes a result in the mailbox between the drone's write and the master's read.

use super::{records, Record};
use crate::support::{self, pids, TempPath};
use libtest_mimic::Failed;
use polyshm::child::Spawn;
use polyshm::fault::FAULTS_ENV;
use polyshm::shm::SharedMemory;
use polyshm::team::{Team, TeamError, Transport};
use std::time::{Duration, Instant};

/// Selects the scribbler role of this binary: `segment|pattern file|go file`.
pub const SCRIBBLER_ENV: &str = "POLYSHM_TEST_ARCHIVE_SCRIBBLER";

/// A one-drone team on `t` whose drones run with `faults`.
fn faulty_team(t: Transport, faults: &str, once: Option<&TempPath>) -> Team {
    let mut b = Team::builder(support::tasks().0)
        .drones(1)
        .transport(t)
        .env(FAULTS_ENV, faults);
    if let Some(once) = once {
        b = b.env(crate::faults::ONCE_ENV, once.as_string());
    }
    b.spawn()
        .unwrap_or_else(|e| panic!("spawn a team on {t}: {e}"))
}

/// Check that `e` is `InvalidArchive` of the result of `archived.records`.
fn invalid_result(e: &TeamError) -> Result<(), Failed> {
    match e {
        TeamError::InvalidArchive { task, what, .. }
            if task == "archived.records" && *what == "result" =>
        {
            Ok(())
        }
        _ => Err(format!("expected InvalidArchive of the result, got {e}").into()),
    }
}

/// A drone that overwrites the root of every archive it writes (fault point
/// `team.drone.archive_corrupt`): the master refuses each one, in place and in a
/// copy, and the drone goes on serving other tasks.
pub fn corrupt(t: Transport) -> Result<(), Failed> {
    let team = faulty_team(t, "team.drone.archive_corrupt=return", None);
    let k = support::keys();
    let pid = team.run(&k.pid, ())?;
    for n in [3u32, 20_000] {
        invalid_result(&team.run_archived(&k.archived.records, n).unwrap_err())?;
        invalid_result(&team.run(&k.archived.records, n).unwrap_err())?;
    }
    assert_eq!(pids(&team), [pid], "a corrupt archive is not a dead drone");
    assert_eq!(team.run(&k.add, (20, 22))?, 42);
    Ok(())
}

/// A drone killed after the first part of its archive is written (fault point
/// `archive.mid_write`, once): `DroneDied`, the drone replaced, the next call answered.
pub fn killed(t: Transport) -> Result<(), Failed> {
    let once = TempPath::new("once");
    let team = faulty_team(t, "archive.mid_write=kill", Some(&once));
    let k = support::keys();
    let before = pids(&team);
    match team.run_archived(&k.archived.records, 500) {
        Err(TeamError::DroneDied { task, pid, .. }) => {
            assert_eq!(task, "archived.records");
            assert_eq!([pid], before[..]);
        }
        r => return Err(format!("expected DroneDied, got {r:?}").into()),
    }
    let after = pids(&team);
    assert!(
        after != before && after != [0],
        "replaced: {before:?} → {after:?}"
    );
    let reply = team.run_archived(&k.archived.records, 500)?;
    let want = records(500);
    assert_eq!(reply.len(), 500);
    assert_eq!(reply[499].name.as_str(), want[499].name);
    Ok(())
}

/// A third process changes the result in the mailbox after the drone wrote it and
/// before the master reads it (the drone waits at `team.drone.archive_written` until
/// the scribbler says go): the master refuses it; once the scribbler is done the same
/// call answers correctly.
pub fn scribbled(t: Transport) -> Result<(), Failed> {
    if !polyshm::sys::SEGMENTS_PERSIST {
        // Opening the drone's mailbox by name from a third process needs named
        // segments that outlive a handle (not Windows).
        return Ok(());
    }
    let go = TempPath::new("go");
    let faults = format!("team.drone.archive_written=wait_file({})", go.as_string());
    let team = faulty_team(t, &faults, None);
    let k = support::keys();
    let mailbox = team.run(&k.archived.mailbox, ())?;
    assert!(!mailbox.is_empty(), "a {t} drone has a mailbox");
    let want: Vec<Record> = records(40);
    let pattern = TempPath::new("pattern");
    std::fs::write(&pattern.0, &polyshm::codec::archive(&want)?[..])?;
    let spec = format!("{mailbox}|{}|{}", pattern.as_string(), go.as_string());
    let mut scribbler = Spawn::this_program()?.env(SCRIBBLER_ENV, spec).start()?;
    let e = team.run_archived(&k.archived.records, 40).map(|r| r.len());
    let status = scribbler.wait()?;
    if !status.success() {
        return Err(format!(
            "the scribbler found no archive to change ({status}); the master got {e:?}"
        )
        .into());
    }
    invalid_result(&e.unwrap_err())?;
    // The scribbling is over (and `go` exists: the drone no longer waits).
    let reply = team.run_archived(&k.archived.records, 40)?;
    assert_eq!(reply.len(), 40);
    assert_eq!(reply[39].name.as_str(), want[39].name);
    Ok(())
}

/// The scribbler: find the archive (the bytes of the pattern file) in the mailbox
/// segment, overwrite its root (its last 8 bytes) with 0xFF, then create the go file.
/// Exits 0 if it changed the archive, 2 if it found none within 30 s (and lets the
/// drone go on all the same).
pub fn scribbler(spec: &str) -> ! {
    let f: Vec<&str> = spec.split('|').collect();
    let (segment, pattern, go) = (f[0], f[1], f[2]);
    let pattern = std::fs::read(pattern).expect("the pattern file");
    let end = Instant::now() + Duration::from_secs(30);
    let mut changed = false;
    if let Ok(seg) = SharedMemory::open(segment) {
        let mut all = vec![0u8; seg.len()];
        while !changed && Instant::now() < end {
            if seg.read_at(0, &mut all).is_ok() {
                if let Some(at) = all.windows(pattern.len()).position(|w| w == pattern) {
                    let root = at + pattern.len() - 8;
                    changed = seg.write_at(root, &[0xFF; 8]).is_ok();
                }
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    std::fs::write(go, b"go").expect("the go file");
    std::process::exit(if changed { 0 } else { 2 });
}
