//! Every `ShmError` kind, produced for real and asserted by kind.

use crate::common::{assert_gone, os_name, shm_path, Cleanup};
use polyshm::shm::header::{DATA_OFFSET, LAYOUT_VERSION};
use polyshm::shm::{admin, unique_name, SharedMemory, ShmError, MAX_NAME_LEN};

/// Overwrite bytes of segment `name` through a second mapping of the same pages, as
/// another process would.
fn scribble(name: &str, at: usize, bytes: &[u8]) {
    let m = polyshm::sys::open_segment(&os_name(name)).unwrap();
    assert!(at + bytes.len() <= m.len());
    // SAFETY: the range lies in the mapping (checked above), which lives to the end of
    // the function; polyshm reads these bytes as untrusted input.
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), m.as_ptr().add(at), bytes.len()) };
}

/// How many bytes a fresh mapping of segment `name` shows (Windows rounds up to whole
/// pages).
fn mapped_len(name: &str) -> u64 {
    polyshm::sys::open_segment(&os_name(name)).unwrap().len() as u64
}

#[test]
fn not_found_and_already_exists() {
    let name = unique_name("t-exists");
    assert!(matches!(
        SharedMemory::open(&name),
        Err(ShmError::NotFound { name: n }) if n == name
    ));
    assert!(matches!(
        admin::remove(&name),
        Err(ShmError::NotFound { .. })
    ));
    {
        let _owner = SharedMemory::create(&name, 100).unwrap();
        assert!(matches!(
            SharedMemory::create(&name, 100),
            Err(ShmError::AlreadyExists { .. })
        ));
        // open_or_create opens it, and refuses to pretend it is larger.
        assert_eq!(SharedMemory::open_or_create(&name, 100).unwrap().len(), 100);
        assert!(matches!(
            SharedMemory::open_or_create(&name, 101),
            Err(ShmError::TooSmall {
                requested: 101,
                found: 100,
                ..
            })
        ));
    }
    assert_gone(&name);
}

#[test]
fn a_foreign_segment_is_not_polyshm_and_is_left_alone() {
    let name = unique_name("t-foreign");
    let mut cleanup = Cleanup::default();
    cleanup.file(&name);
    // Another program's segment under a polyshm name: 4096 bytes, no polyshm magic.
    let foreign = polyshm::sys::create_segment(&os_name(&name), 4096).unwrap();
    // SAFETY: the 4096 bytes are mapped and nothing else refers to them.
    unsafe { std::ptr::write_bytes(foreign.as_ptr(), 0xab, 4096) };
    assert!(matches!(
        SharedMemory::open(&name),
        Err(ShmError::NotPolyshm { .. })
    ));
    assert!(matches!(
        SharedMemory::create(&name, 10),
        Err(ShmError::AlreadyExists { .. })
    ));
    // Neither rm nor clean touch another program's segment.
    assert!(matches!(
        admin::remove(&name),
        Err(ShmError::NotPolyshm { .. })
    ));
    if polyshm::sys::CAN_LIST_SEGMENTS {
        let listed = admin::list().unwrap();
        let me = listed.iter().find(|s| s.name == name).unwrap();
        assert!(me.problem.is_some() && me.size.is_none());
        assert!(!admin::clean_matching(&name).unwrap().contains(&name));
    }
    assert!(polyshm::sys::open_segment(&os_name(&name)).is_ok());
    // Emptied (where segments are files), it looks like a segment whose creator has
    // not sized it yet: not ready, never taken for a sound one (defect 6 of issue 9).
    if let Some(path) = shm_path(&name) {
        std::fs::write(path, b"").unwrap();
        assert!(matches!(
            SharedMemory::open(&name),
            Err(ShmError::NotReady { .. })
        ));
    }
    drop(foreign);
    drop(cleanup);
    assert_gone(&name);
}

#[test]
fn a_scribbled_header_is_reported_by_kind() {
    let name = unique_name("t-scribble");
    let mut cleanup = Cleanup::default();
    cleanup.segment(&name);
    let owner = SharedMemory::create(&name, 4096).unwrap();
    let good_version = LAYOUT_VERSION.to_ne_bytes();

    scribble(&name, 8, &7u32.to_ne_bytes());
    assert!(matches!(
        SharedMemory::open(&name),
        Err(ShmError::IncompatibleVersion {
            found: 7,
            expected: LAYOUT_VERSION,
            ..
        })
    ));
    scribble(&name, 8, &good_version);

    // A size larger than the segment holds.
    scribble(&name, 16, &1_000_000u64.to_ne_bytes());
    let seen = mapped_len(&name);
    assert!(seen >= 4096 + DATA_OFFSET as u64);
    assert!(matches!(
        SharedMemory::open(&name),
        Err(ShmError::Truncated {
            needed,
            actual,
            ..
        }) if needed == 1_000_000 + DATA_OFFSET as u64 && actual == seen
    ));
    scribble(&name, 16, &4096u64.to_ne_bytes());

    // A data offset no polyshm writes.
    scribble(&name, 12, &100u32.to_ne_bytes());
    assert!(matches!(
        SharedMemory::open(&name),
        Err(ShmError::Corrupt { .. })
    ));
    // Regression: the owner's handle used to recognise its segment by the header's
    // nonce, so a scribbled header made it leave the segment behind. It still removes
    // it.
    drop(owner);
    assert_gone(&name);
    drop(cleanup);

    // Where a segment outlives its handles: a damaged segment whose owner is gone
    // can be removed by name.
    if polyshm::sys::SEGMENTS_PERSIST {
        let orphan = unique_name("t-damaged");
        let mut cleanup = Cleanup::default();
        cleanup.segment(&orphan);
        SharedMemory::create(&orphan, 64).unwrap().persist();
        scribble(&orphan, 8, &9u32.to_ne_bytes());
        if polyshm::sys::CAN_LIST_SEGMENTS {
            assert!(!admin::clean_matching(&orphan).unwrap().contains(&orphan));
        }
        admin::remove(&orphan).unwrap();
        assert_gone(&orphan);
        drop(cleanup);
    }

    // A segment cut shorter than its header: the file truncated under a fresh name
    // (where segments are files).
    let short = unique_name("t-short");
    if let Some(path) = shm_path(&short) {
        let mut cleanup = Cleanup::default();
        cleanup.segment(&short);
        let s = SharedMemory::create(&short, 64).unwrap();
        s.persist(); // its handle must not reopen it on drop; the cleanup removes it
        drop(s);
        std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .unwrap()
            .set_len(100)
            .unwrap();
        assert!(matches!(
            SharedMemory::open(&short),
            Err(ShmError::Truncated { actual: 100, .. })
        ));
        drop(cleanup);
        assert_gone(&short);
    }
}

#[test]
fn zero_size_and_no_space() {
    let name = unique_name("t-size");
    assert!(matches!(
        SharedMemory::create(&name, 0),
        Err(ShmError::ZeroSize { .. })
    ));
    // Far more than any /dev/shm holds: refused at create, and nothing left behind.
    assert!(matches!(
        SharedMemory::create(&name, 1 << 50),
        Err(ShmError::NoSpace { requested, .. }) if requested == 1 << 50
    ));
    assert!(matches!(
        SharedMemory::create(&name, usize::MAX - 10),
        Err(ShmError::NoSpace { .. })
    ));
    assert_gone(&name);
}

#[test]
fn invalid_names() {
    for bad in [
        "",
        ".hidden",
        "a/b",
        "sp ace",
        "é",
        &"x".repeat(MAX_NAME_LEN + 1),
    ] {
        assert!(
            matches!(
                SharedMemory::create(bad, 10),
                Err(ShmError::InvalidName { .. })
            ),
            "{bad:?}"
        );
        assert!(
            matches!(SharedMemory::open(bad), Err(ShmError::InvalidName { .. })),
            "{bad:?}"
        );
    }
}

#[test]
fn out_of_bounds_and_misaligned() {
    let name = unique_name("t-bounds");
    {
        let mut shm = SharedMemory::create(&name, 100).unwrap();
        let mut buf = [0u8; 10];
        assert!(matches!(
            shm.read_at(95, &mut buf),
            Err(ShmError::OutOfBounds {
                offset: 95,
                len: 10,
                size: 100,
                ..
            })
        ));
        assert!(matches!(
            shm.write_at(usize::MAX, &buf),
            Err(ShmError::OutOfBounds { .. })
        ));
        shm.write_at(90, &buf).unwrap();
        // SAFETY: no other process maps this segment (every view in the block).
        unsafe {
            assert!(matches!(
                shm.view::<u64>(1, 1),
                Err(ShmError::Misaligned { align: 8, .. })
            ));
            assert!(matches!(
                shm.view::<u64>(96, 1),
                Err(ShmError::OutOfBounds { .. })
            ));
            assert!(matches!(
                shm.view_mut::<f64>(4, 2),
                Err(ShmError::Misaligned { .. })
            ));
            assert!(matches!(
                shm.view::<u8>(0, usize::MAX),
                Err(ShmError::OutOfBounds { .. })
            ));
            assert!(matches!(
                shm.view::<u64>(0, usize::MAX),
                Err(ShmError::OutOfBounds { .. })
            ));
        }
        assert!(matches!(
            polyshm::shm::RemoteSemaphore::in_segment(&shm, 32),
            Err(ShmError::Misaligned { align: 64, .. })
        ));
        // SAFETY: as above.
        unsafe { shm.view_mut::<u64>(8, 2) }
            .unwrap()
            .copy_from_slice(&[1, 2]);
        // SAFETY: as above.
        assert_eq!(unsafe { shm.view::<u64>(8, 2) }.unwrap(), &[1, 2]);
        // The safe copies, at any offset.
        assert_eq!(shm.copy_out::<u64>(8, 2).unwrap(), [1, 2]);
        shm.write_from::<u32>(3, &[0xdead_beef]).unwrap();
        let mut got = [0u32; 1];
        shm.read_into(3, &mut got).unwrap();
        assert_eq!(got, [0xdead_beef]);
        assert!(matches!(
            shm.copy_out::<u64>(96, 1),
            Err(ShmError::OutOfBounds { .. })
        ));
        assert!(matches!(
            shm.copy_out::<u64>(0, usize::MAX),
            Err(ShmError::OutOfBounds { .. })
        ));
    }
    assert_gone(&name);
}

/// Child side: opening the (root-owned, mode 0600) segment must be refused.
pub fn child_open_denied(name: &str) {
    match SharedMemory::open(name) {
        Err(ShmError::PermissionDenied { .. }) => {}
        other => panic!("expected PermissionDenied, got {other:?}"),
    }
}

/// POSIX permissions (mode 0600, another uid); Windows mappings take the creator's
/// default security descriptor and are not tested here.
#[cfg(unix)]
#[test]
fn permission_denied() {
    use crate::common::{spawn_child_with, Watchdog};
    use std::time::Duration;
    let name = unique_name("t-perm");
    let dog = Watchdog::new("permission denied", Duration::from_secs(60));
    dog.segment(&name);
    {
        let shm = SharedMemory::create(&name, 64).unwrap();
        if rustix::process::geteuid().is_root() {
            // Root passes every permission check: ask a child running as `nobody`,
            // from a copy of this executable that `nobody` may run wherever the
            // checkout lives.
            use std::os::unix::fs::PermissionsExt;
            struct RmDir(std::path::PathBuf);
            impl Drop for RmDir {
                fn drop(&mut self) {
                    let _ = std::fs::remove_dir_all(&self.0);
                }
            }
            let dir = RmDir(std::env::temp_dir().join(format!("polyshm-perm-{name}")));
            std::fs::create_dir_all(&dir.0).unwrap();
            std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o755)).unwrap();
            let exe = dir.0.join("tests");
            std::fs::copy(std::env::current_exe().unwrap(), &exe).unwrap();
            std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
            let mut child = spawn_child_with(&exe, "perm-open", &name, 0, &[], |cmd| {
                std::os::unix::process::CommandExt::uid(cmd, 65534);
                std::os::unix::process::CommandExt::gid(cmd, 65534);
            });
            dog.child(&child);
            child.expect_success();
        } else {
            // Take our own permission away.
            use std::os::unix::fs::PermissionsExt;
            let path = shm_path(&name).expect("segments are files here");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
            assert!(matches!(
                SharedMemory::open(&name),
                Err(ShmError::PermissionDenied { .. })
            ));
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        drop(shm);
    }
    assert_gone(&name);
}

/// Defect 3 of issue 9: the bytes of a `RemoteSemaphore` or `RemoteMutex` placed with
/// `in_segment` are atomics that other processes change at any time. No view, copy or
/// write of this process may cover them while the handle lives (`Reserved`); around
/// them, and after the handle is gone, everything works.
#[test]
fn defect_3_views_and_copies_over_a_placed_semaphore_are_refused() {
    use polyshm::shm::{RemoteMutex, RemoteSemaphore};
    let name = unique_name("t-reserved");
    {
        let mut shm = SharedMemory::create(&name, 512).unwrap();
        let sem = RemoteSemaphore::in_segment(&shm, 64).unwrap();
        let mutex = RemoteMutex::in_segment(&shm, 256).unwrap();
        sem.signal().unwrap();
        let mut buf = [0u8; 8];
        let refused = |r: Result<(), ShmError>, at: usize| match r {
            Err(ShmError::Reserved { reserved_at, .. }) => assert_eq!(reserved_at, at),
            other => panic!("expected Reserved at {at}, got {other:?}"),
        };
        refused(shm.write_at(120, &buf), 64);
        refused(shm.read_at(60, &mut buf), 64);
        refused(shm.write_at(300, &buf), 256);
        // SAFETY: no other process maps this segment.
        refused(unsafe { shm.view_mut::<u8>(0, 512) }.map(|_| ()), 64);
        // SAFETY: as above.
        refused(unsafe { shm.view::<u64>(256, 1) }.map(|_| ()), 256);
        // Around them all is allowed.
        shm.write_at(128, &buf).unwrap();
        shm.read_at(56, &mut buf).unwrap();
        // SAFETY: as above.
        unsafe { shm.view_mut::<u8>(128, 128) }.unwrap().fill(7);
        assert_eq!(sem.count(), 1, "the semaphore's words were not touched");
        assert!(mutex.holder().is_none());
        drop(sem);
        drop(mutex);
        // SAFETY: as above.
        unsafe { shm.view_mut::<u8>(0, 512) }.unwrap().fill(0);
    }
    assert_gone(&name);
}

/// Defect 3 of issue 9, with two handles: a second handle of this process to the same
/// segment (another mapping of the same pages) must respect the semaphore the first
/// one placed, or a safe `write_at` would race the semaphore's atomics in this very
/// process.
#[test]
fn defect_3_a_second_handle_respects_the_first_ones_semaphore() {
    use polyshm::shm::RemoteSemaphore;
    let name = unique_name("t-reserved2");
    {
        let first = SharedMemory::create(&name, 256).unwrap();
        let second = SharedMemory::open(&name).unwrap();
        let sem = RemoteSemaphore::in_segment(&first, 128).unwrap();
        assert!(matches!(
            second.write_at(100, &[0u8; 64]),
            Err(ShmError::Reserved {
                reserved_at: 128,
                ..
            })
        ));
        second.write_at(0, &[1u8; 128]).unwrap();
        drop(sem);
        second.write_at(100, &[0u8; 64]).unwrap();
    }
    assert_gone(&name);
}

/// `clean_matching` takes the dead owners' segments under its prefix and nothing
/// else: what lets a test reclaim its own leftovers without taking other runs'.
#[test]
fn clean_matching_takes_only_its_prefix() {
    if !(polyshm::sys::SEGMENTS_PERSIST && polyshm::sys::CAN_LIST_SEGMENTS) {
        return; // a segment goes with its last handle: nothing is ever left to clean
    }
    let run = unique_name("tcm");
    let (inside, outside, live) = (format!("{run}a"), unique_name("tcmout"), format!("{run}l"));
    let mut cleanup = Cleanup::default();
    for n in [&inside, &outside, &live] {
        cleanup.segment(n);
    }
    // Two orphans: made here, their owner pid rewritten to one no process can have
    // (above the kernel's pid_max), as if their creator had died.
    let orphans: Vec<SharedMemory> = [&inside, &outside]
        .iter()
        .map(|n| {
            let s = SharedMemory::create(n, 64).unwrap();
            scribble(n, 24, &4_194_305u32.to_ne_bytes());
            s
        })
        .collect();
    let _live = SharedMemory::create(&live, 64).unwrap();
    assert_eq!(admin::clean_matching(&run).unwrap(), [inside.as_str()]);
    assert_gone(&inside);
    assert!(polyshm::sys::open_segment(&os_name(&outside)).is_ok());
    assert!(polyshm::sys::open_segment(&os_name(&live)).is_ok());
    assert_eq!(admin::clean_matching(&outside).unwrap(), [outside.as_str()]);
    assert_gone(&outside);
    drop(orphans);
    drop(cleanup);
}
