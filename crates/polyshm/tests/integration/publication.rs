//! Header publication and the create/open race (issue 9, defects 5 and 6).
//!
//! The creator is a child process whose fault points (`shm.create.before_stamp`,
//! `shm.create.before_publish`) pause or kill it in the middle of making a segment, so
//! that the window the race needs is wide on purpose.

use crate::common::{shm_path, Cleanup, PATIENCE};
#[cfg(feature = "failpoints")]
use crate::common::{spawn_child, Watchdog};
use polyshm::shm::{admin, unique_name, RemoteSemaphore, SharedMemory, ShmError};
use std::time::{Duration, Instant};

/// Data bytes of the segments these tests make.
const SIZE: usize = 4096;
/// Exit code of the child that created the segment (the others opened it).
const CREATED: i32 = 10;

/// Child side: `open_or_create` segment `name`; the creator then waits for `peers`
/// signals on the semaphore at offset 0 (one from each process that opened it) and
/// exits with [`CREATED`] after dropping its handles; an opener signals and exits 0.
pub fn child_create(name: &str, peers: u64) {
    let shm = SharedMemory::open_or_create(name, SIZE).expect("open_or_create");
    assert_eq!(shm.len(), SIZE);
    let sem = RemoteSemaphore::in_segment(&shm, 0).expect("the semaphore at 0");
    if shm.is_owner() {
        for _ in 0..peers {
            sem.wait_timeout(PATIENCE).expect("every peer opened");
        }
        drop(sem);
        drop(shm); // removes the segment
        std::process::exit(CREATED);
    }
    sem.signal().expect("signal the creator");
}

/// Defect 5: an opener never takes a half-made header for a whole one. The creator
/// pauses before stamping and again before publishing, longer in all than `open`
/// waits: the opener must answer `NotReady` meanwhile (never `NotPolyshm`, never a
/// header with wrong fields), then open the segment with the creator's values.
#[cfg(feature = "failpoints")]
#[test]
fn defect_5_opener_never_sees_a_half_written_header() {
    let name = unique_name("t-publish");
    let dog = Watchdog::new("defect 5 publication", Duration::from_secs(120));
    dog.segment(&name);
    let mut cleanup = Cleanup::default();
    cleanup.segment(&name);
    let mut child = spawn_child(
        "shm-create",
        &name,
        1,
        &[(
            polyshm::fault::FAULTS_ENV,
            "shm.create.before_stamp=sleep(700);shm.create.before_publish=sleep(700)",
        )],
    );
    dog.child(&child);
    let give_up = Instant::now() + PATIENCE;
    let mut not_ready = 0;
    let shm = loop {
        assert!(Instant::now() < give_up, "the segment never opened");
        match SharedMemory::open(&name) {
            Ok(shm) => break shm,
            Err(ShmError::NotFound { .. }) => std::thread::sleep(Duration::from_millis(1)),
            Err(ShmError::NotReady { .. }) => not_ready += 1,
            Err(e) => panic!("opening a segment being made: {e}"),
        }
    };
    assert!(not_ready > 0, "the opener never met the unpublished header");
    assert_eq!(shm.len(), SIZE);
    assert_eq!(shm.owner().pid, child.pid());
    assert_eq!(shm.data_offset(), polyshm::shm::header::DATA_OFFSET);
    RemoteSemaphore::in_segment(&shm, 0)
        .expect("semaphore")
        .signal()
        .expect("signal");
    assert_eq!(child.wait().code(), Some(CREATED));
}

/// Defect 6: `open_or_create` racing itself in three processes, the creator paused
/// at each step of its window (0 bytes long, sized but unstamped, stamped but
/// unpublished): one creates, the other two open (none sees `NotPolyshm`).
#[cfg(feature = "failpoints")]
#[test]
fn defect_6_open_or_create_racing_itself() {
    let name = unique_name("t-race");
    let dog = Watchdog::new("defect 6 open_or_create race", Duration::from_secs(120));
    dog.segment(&name);
    let mut cleanup = Cleanup::default();
    cleanup.segment(&name);
    let faults = "shm.create.before_size=sleep(300);shm.create.before_stamp=sleep(300);\
                  shm.create.before_publish=sleep(300)";
    let mut children: Vec<_> = (0..3)
        .map(|_| {
            let c = spawn_child(
                "shm-create",
                &name,
                2,
                &[(polyshm::fault::FAULTS_ENV, faults)],
            );
            dog.child(&c);
            c
        })
        .collect();
    let mut codes: Vec<_> = children.iter_mut().map(|c| c.wait().code()).collect();
    codes.sort();
    assert_eq!(codes, [Some(0), Some(0), Some(CREATED)]);
}

/// Defect 6: a segment whose creator has not sized it yet (0 bytes long, as between
/// `shm_open` and `ftruncate`) is `NotReady`, not `NotPolyshm`, and `rm` takes it.
#[test]
fn defect_6_unsized_segment_is_not_ready() {
    let name = unique_name("t-unsized");
    let Some(path) = shm_path(&name) else {
        return; // segments are no files here: none can be planted 0 bytes long
    };
    let mut cleanup = Cleanup::default();
    cleanup.file(&name);
    std::fs::File::create(&path).expect("plant a 0-byte segment");
    assert!(matches!(
        SharedMemory::open(&name),
        Err(ShmError::NotReady { .. })
    ));
    assert!(matches!(
        SharedMemory::open_or_create(&name, 64),
        Err(ShmError::NotReady { .. })
    ));
    admin::remove(&name).expect("rm takes an unfinished segment");
    assert!(!path.exists());
}

/// Defect 6: a creator killed before sizing or stamping (or after stamping, before
/// publishing) leaves a segment that `clean` recognises: at once when the stamped creator is dead,
/// after the grace period when no creator was stamped; never while it is young.
#[cfg(feature = "failpoints")]
#[test]
fn defect_6_creator_killed_before_stamp_is_cleaned() {
    if !polyshm::sys::CAN_LIST_SEGMENTS {
        return; // clean needs a listing; Windows keeps no segment of a dead process
    }
    let dog = Watchdog::new("defect 6 killed creator", Duration::from_secs(120));
    for point in [
        "shm.create.before_size",
        "shm.create.before_stamp",
        "shm.create.before_publish",
    ] {
        let name = unique_name("t-killed");
        dog.segment(&name);
        let mut cleanup = Cleanup::default();
        cleanup.file(&name);
        let mut child = spawn_child(
            "shm-create",
            &name,
            0,
            &[(polyshm::fault::FAULTS_ENV, &format!("{point}=kill"))],
        );
        dog.child(&child);
        assert!(!child.wait().success(), "{point}: the creator was killed");
        assert!(
            matches!(SharedMemory::open(&name), Err(ShmError::NotReady { .. })),
            "{point}"
        );
        let listed = admin::list().expect("list");
        let me = listed.iter().find(|s| s.name == name).expect("listed");
        assert!(me.unfinished && !me.owner_alive, "{point}: {me:?}");
        let stamped = point.ends_with("before_publish");
        assert_eq!(
            me.owner.map(|o| o.pid),
            stamped.then(|| child.pid()),
            "{point}"
        );
        if !stamped {
            // Young and unstamped: it may be a creator at work; left alone.
            assert!(!clean_own(&name).contains(&name), "{point}");
            let path = shm_path(&name).expect("segments are files here");
            std::fs::File::options()
                .write(true)
                .open(&path)
                .expect("open the segment file")
                .set_modified(
                    std::time::SystemTime::now() - polyshm::shm::header::UNFINISHED_GRACE * 2,
                )
                .expect("age the segment");
        }
        assert!(clean_own(&name).contains(&name), "{point}");
        crate::common::assert_gone(&name);
    }
}

/// `clean` limited to this test's segment: a global clean would also reclaim other
/// tests' (and other programs') dead segments while they look at them, and they ours.
#[cfg(feature = "failpoints")]
fn clean_own(name: &str) -> Vec<String> {
    admin::clean_matching(name).expect("clean")
}

/// Child side: create semaphore `name` with `initial` signals, then wait until the
/// parent has taken them all.
pub fn child_sem_create(name: &str, initial: u64) {
    let sem = RemoteSemaphore::create(name, initial as u32).expect("create the semaphore");
    let give_up = Instant::now() + PATIENCE;
    while sem.count() > 0 {
        assert!(
            Instant::now() < give_up,
            "the parent never took the signals"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Defect 5: `RemoteSemaphore::create` sets its initial count before anyone can find
/// it. The creator pauses at the moment it initialises the state: an opener that finds
/// the semaphore sees its initial count, never a zeroed one.
#[cfg(feature = "failpoints")]
#[test]
fn defect_5_semaphore_is_initialised_before_it_is_findable() {
    let name = unique_name("t-seminit");
    let dog = Watchdog::new("defect 5 semaphore init", Duration::from_secs(120));
    dog.segment(&name);
    let mut cleanup = Cleanup::default();
    cleanup.segment(&name);
    let mut child = spawn_child(
        "sem-create",
        &name,
        5,
        &[(
            polyshm::fault::FAULTS_ENV,
            "shm.semaphore.create.before_init=sleep(500)",
        )],
    );
    dog.child(&child);
    let give_up = Instant::now() + PATIENCE;
    let sem = loop {
        assert!(Instant::now() < give_up, "the semaphore never opened");
        match RemoteSemaphore::open(&name) {
            Ok(s) => break s,
            Err(ShmError::NotFound { .. } | ShmError::NotReady { .. }) => {
                std::thread::sleep(Duration::from_millis(1))
            }
            Err(e) => panic!("opening a semaphore being made: {e}"),
        }
    };
    assert_eq!(
        sem.count(),
        5,
        "the opener saw the count before its initialisation"
    );
    for _ in 0..5 {
        assert!(sem.try_wait());
    }
    child.expect_success();
}
