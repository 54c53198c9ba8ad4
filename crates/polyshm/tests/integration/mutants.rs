//! Behaviour that mutation testing (cargo-mutants over `shm/header.rs` and
//! `shm/shared_memory.rs`, now `shm/header/`, `shm/segment.rs` and
//! `shm/shared_memory.rs`) found unchecked: who removes a segment, what the small
//! accessors answer, and the header checks at their exact boundaries.

use crate::common::{assert_gone, os_name, Cleanup};
use polyshm::shm::header::{Header, DATA_OFFSET, FLAGS_OFFSET, FLAG_PERSISTENT, MAGIC};
use polyshm::shm::registry::Entry;
use polyshm::shm::{admin, unique_name, SharedMemory, ShmError};

/// The header of segment `name` as a fresh mapping of it shows it.
fn header_of(name: &str) -> Header {
    let m = polyshm::sys::open_segment(&os_name(name)).unwrap();
    let mut b = [0u8; DATA_OFFSET];
    // SAFETY: every polyshm segment maps at least DATA_OFFSET bytes (asserted), the
    // mapping lives to the end of the function, and no other thread writes the header
    // of this test's segment meanwhile.
    unsafe {
        assert!(m.len() >= DATA_OFFSET);
        std::ptr::copy_nonoverlapping(m.as_ptr(), b.as_mut_ptr(), DATA_OFFSET);
    }
    Header::parse(name, &b, m.len()).unwrap().unwrap()
}

/// Overwrite bytes of segment `name` through a second mapping, as another process would.
fn scribble(name: &str, at: usize, bytes: &[u8]) {
    let m = polyshm::sys::open_segment(&os_name(name)).unwrap();
    assert!(at + bytes.len() <= m.len());
    // SAFETY: the range lies in the mapping (checked above), which lives to the end of
    // the function; polyshm reads these bytes as untrusted input.
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), m.as_ptr().add(at), bytes.len()) };
}

fn exists(name: &str) -> bool {
    match polyshm::sys::open_segment(&os_name(name)) {
        Ok(_) => true,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => panic!("segment {name}: {e}"),
    }
}

/// A client's handle never removes the segment; the owner's does, and only it.
#[test]
fn only_the_owner_handle_removes_the_segment_on_drop() {
    let name = unique_name("t-mut-own");
    let mut cleanup = Cleanup::default();
    cleanup.segment(&name);
    let owner = SharedMemory::create(&name, 100).unwrap();
    assert!(owner.is_owner());
    let client = SharedMemory::open(&name).unwrap();
    assert!(!client.is_owner());
    drop(client);
    assert!(exists(&name), "a client's drop removed the segment");
    // A second client still opens it and sees the owner's data.
    owner.write_at(0, b"still").unwrap();
    let again = SharedMemory::open(&name).unwrap();
    let mut buf = [0u8; 5];
    again.read_at(0, &mut buf).unwrap();
    assert_eq!(&buf, b"still");
    drop(again);
    drop(owner);
    assert_gone(&name);
    drop(cleanup);
}

/// `persist` sets the flag in the shared header (every handle sees it), gives up
/// ownership, and the owner's drop then leaves the segment.
#[test]
fn persist_sets_the_shared_flag_and_the_owner_drop_leaves_the_segment() {
    let name = unique_name("t-mut-persist");
    let mut cleanup = Cleanup::default();
    cleanup.segment(&name);
    let owner = SharedMemory::create(&name, 64).unwrap();
    let client = SharedMemory::open(&name).unwrap();
    assert!(!owner.is_persistent() && !client.is_persistent());
    assert_eq!(header_of(&name).flags & FLAG_PERSISTENT, 0);
    owner.persist();
    assert!(owner.is_persistent());
    assert!(
        client.is_persistent(),
        "the flag must be in the shared header"
    );
    assert!(!owner.is_owner());
    assert_eq!(header_of(&name).flags & FLAG_PERSISTENT, FLAG_PERSISTENT);
    drop(owner);
    drop(client);
    if polyshm::sys::SEGMENTS_PERSIST {
        assert!(exists(&name), "a persisted segment was removed on drop");
        assert!(SharedMemory::open(&name).unwrap().is_persistent());
        admin::remove(&name).unwrap();
    }
    assert_gone(&name);
    drop(cleanup);
}

/// Other flag bits are ignored: only bit 0 means persistent.
#[test]
fn only_the_persistent_bit_counts() {
    let name = unique_name("t-mut-flags");
    let mut cleanup = Cleanup::default(); // removes it even if a drop fails to
    cleanup.segment(&name);
    let owner = SharedMemory::create(&name, 64).unwrap();
    scribble(&name, FLAGS_OFFSET, &6u32.to_ne_bytes());
    assert!(!owner.is_persistent());
    scribble(&name, FLAGS_OFFSET, &7u32.to_ne_bytes());
    assert!(owner.is_persistent());
    // The owner handle still owns it (persist was not called): its drop removes it.
    drop(owner);
    assert_gone(&name);
}

/// `len`, `is_empty`, `data_offset`, `name` answer what the header says; a header
/// another process rewrote to size 0 opens as an empty segment.
#[test]
fn accessors_follow_the_header() {
    let name = unique_name("t-mut-acc");
    let mut cleanup = Cleanup::default(); // removes it even if a drop fails to
    cleanup.segment(&name);
    let owner = SharedMemory::create(&name, 1).unwrap();
    assert_eq!(owner.name(), name);
    assert_eq!((owner.len(), owner.is_empty()), (1, false));
    assert_eq!(owner.data_offset(), DATA_OFFSET);
    assert_eq!(owner.owner(), polyshm::sys::current_process());
    scribble(&name, 16, &0u64.to_ne_bytes());
    let client = SharedMemory::open(&name).unwrap();
    assert_eq!((client.len(), client.is_empty()), (0, true));
    assert!(matches!(
        client.write_at(0, b"x"),
        Err(ShmError::OutOfBounds { size: 0, .. })
    ));
    drop(client);
    drop(owner);
    assert_gone(&name);
}

/// The registry lists each live handle with its name, size and ownership, and
/// forgets it on drop.
#[test]
fn registry_lists_live_handles() {
    let name = unique_name("t-mut-reg");
    let mut cleanup = Cleanup::default(); // removes it even if a drop fails to
    cleanup.segment(&name);
    let mine = |e: &Entry| e.name == name;
    let owner = SharedMemory::create(&name, 77).unwrap();
    let client = SharedMemory::open(&name).unwrap();
    let mut seen: Vec<Entry> = SharedMemory::registry()
        .into_iter()
        .filter(|e| mine(e))
        .collect();
    seen.sort_by_key(|e| e.owner);
    assert_eq!(
        seen,
        vec![
            Entry {
                name: name.clone(),
                size: 77,
                owner: false
            },
            Entry {
                name: name.clone(),
                size: 77,
                owner: true
            },
        ]
    );
    drop(client);
    let left: Vec<Entry> = SharedMemory::registry()
        .into_iter()
        .filter(|e| mine(e))
        .collect();
    assert_eq!(left.len(), 1);
    assert!(left[0].owner);
    drop(owner);
    assert!(!SharedMemory::registry().iter().any(mine));
    assert_gone(&name);
}

/// Each creation draws a new instance nonce: a segment re-created under the same
/// name is told apart from the old one.
#[test]
fn nonce_differs_between_two_creations_of_one_name() {
    let name = unique_name("t-mut-nonce");
    let mut cleanup = Cleanup::default(); // removes it even if a drop fails to
    cleanup.segment(&name);
    let first = SharedMemory::create(&name, 64).unwrap();
    let a = header_of(&name).nonce;
    drop(first);
    assert_gone(&name);
    let second = SharedMemory::create(&name, 64).unwrap();
    let b = header_of(&name).nonce;
    drop(second);
    assert_gone(&name);
    assert_ne!(a, b, "two creations drew the same nonce");
}

/// A mapping of exactly 8 bytes holding the magic is a truncated polyshm segment
/// (the 8-byte minimum is a boundary, not an off-by-one).
#[test]
fn an_eight_byte_segment_with_the_magic_is_truncated() {
    let name = unique_name("t-mut-eight");
    let mut cleanup = Cleanup::default();
    cleanup.file(&name);
    let m = match polyshm::sys::create_segment(&os_name(&name), 8) {
        Ok(m) => m,
        Err(e) => panic!("create an 8-byte segment: {e}"),
    };
    if m.len() == 8 {
        // SAFETY: the mapping holds 8 bytes, is page-aligned and lives until the end
        // of this block; nothing else maps it yet.
        unsafe { std::ptr::copy_nonoverlapping(MAGIC.as_ptr(), m.as_ptr(), 8) };
        let opened = SharedMemory::open(&name);
        if polyshm::sys::SEGMENT_DIR.is_some() {
            assert!(matches!(opened, Err(ShmError::Truncated { actual: 8, .. })));
        } else {
            // Windows maps whole pages: the opener sees 4096 bytes, of which the header
            // (magic, then zeros) is refused all the same.
            assert!(opened.is_err(), "an 8-byte segment opened: {opened:?}");
        }
    }
    drop(m);
    drop(cleanup);
    assert_gone(&name);
}

/// Child role `nospace-as`: under an address-space limit just above what this process
/// maps already, creating a segment larger than the room left fails in `mmap`
/// (ENOMEM, after the pages were reserved): that is [`ShmError::NoSpace`], not an I/O
/// error, and the half-made segment is gone.
#[cfg(unix)]
pub fn child_no_address_space(name: &str) {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let vm_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmSize:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmSize in /proc/self/status");
    let room = 64 << 20;
    let old = getrlimit(Resource::As);
    setrlimit(
        Resource::As,
        Rlimit {
            current: Some(vm_kb * 1024 + room),
            maximum: old.maximum,
        },
    )
    .expect("setrlimit(RLIMIT_AS)");
    let size = 4 * room as usize;
    match SharedMemory::create(name, size) {
        Err(ShmError::NoSpace { requested, .. }) if requested == size as u64 => {}
        other => panic!("expected NoSpace for {size} bytes under RLIMIT_AS, got {other:?}"),
    }
    assert_gone(name);
}

/// A segment the address space cannot hold (ENOMEM from `mmap`, here under an
/// `RLIMIT_AS` set in a child process) is [`ShmError::NoSpace`], like a full
/// `/dev/shm`. Where there is no `/proc` to size the limit from, skipped.
#[cfg(unix)]
#[test]
fn an_address_space_limit_is_no_space() {
    use crate::common::{spawn_child, Watchdog};
    use std::time::Duration;
    if !std::path::Path::new("/proc/self/status").exists() {
        return;
    }
    let name = unique_name("t-mut-as");
    let dog = Watchdog::new("address space limit", Duration::from_secs(60));
    dog.segment(&name);
    let mut child = spawn_child("nospace-as", &name, 0, &[]);
    dog.child(&child);
    child.expect_success();
    assert_gone(&name);
}
