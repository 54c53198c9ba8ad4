//! `polyshm shm …` driven as a user would: the built binary, its exit codes, its
//! standard streams.

mod common;

use polyshm::shm::{admin, unique_name, SharedMemory, ShmError};
use std::io::{Seek, SeekFrom, Write};
use std::process::Output;
use std::time::Duration;

/// Removes the named segments on drop, whatever happened.
struct Cleanup(Vec<String>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for n in &self.0 {
            match admin::remove(n) {
                Ok(()) | Err(ShmError::NotFound { .. }) => {}
                Err(e) => eprintln!("cleanup of {n}: {e}"),
            }
        }
    }
}

/// Run `polyshm args…` with `stdin`, its output drained while it runs, killing it if
/// it runs longer than 30 s (the watchdog: a hang fails the test).
fn polyshm(args: &[&str], stdin: &[u8]) -> Output {
    common::run(common::polyshm(args), stdin, Duration::from_secs(30))
}

fn ok(args: &[&str], stdin: &[u8]) -> Vec<u8> {
    common::succeeded(args, polyshm(args, stdin)).stdout
}

/// Run a command that must fail: non-zero exit, one line on stderr; answers it.
fn fails(args: &[&str]) -> String {
    fails_with(args, b"")
}

/// As [`fails`], with `stdin`.
fn fails_with(args: &[&str], stdin: &[u8]) -> String {
    let out = polyshm(args, stdin);
    assert!(!out.status.success(), "polyshm {args:?} succeeded");
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err:?}");
    assert!(err.starts_with("polyshm: "), "{err:?}");
    err
}

fn listed(name: &str) -> Option<serde_json::Value> {
    let rows: serde_json::Value =
        serde_json::from_slice(&ok(&["shm", "ls", "--json"], b"")).unwrap();
    rows.as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .cloned()
}

fn exists(name: &str) -> bool {
    let os = polyshm::shm::name::os_name(name).unwrap();
    polyshm::sys::open_segment(&os).is_ok()
}

/// Whether segments outlive the command that made them and can be listed: what
/// `polyshm shm create` and these tests of it need (Linux; not Windows, see polyshm-sys).
fn shell_segments() -> bool {
    polyshm::sys::SEGMENTS_PERSIST && polyshm::sys::CAN_LIST_SEGMENTS
}

#[test]
fn where_segments_cannot_outlive_a_command_create_says_so() {
    let name = unique_name("t-clino");
    if polyshm::sys::SEGMENTS_PERSIST {
        let _cleanup = Cleanup(vec![name.clone()]);
        ok(&["shm", "create", &name, "--size", "100"], b"");
        ok(&["shm", "rm", &name], b"");
    } else {
        let e = fails(&["shm", "create", &name, "--size", "100"]);
        assert!(e.contains("cannot leave one behind"), "{e}");
        assert!(!exists(&name));
    }
    // Listed everywhere: from /dev/shm on Linux, from polyshm's index elsewhere.
    ok(&["shm", "ls"], b"");
    ok(&["shm", "clean", &name], b"");
}

#[test]
fn create_write_read_ls_rm() {
    if !shell_segments() {
        return; // see where_segments_cannot_outlive_a_command_create_says_so
    }
    let name = unique_name("t-cli");
    let _cleanup = Cleanup(vec![name.clone()]);
    ok(&["shm", "create", &name, "--size", "64K"], b"");
    // The creating process has exited; the segment stays, marked persistent.
    let row = listed(&name).expect("listed");
    assert_eq!(row["size"], 65536);
    assert_eq!(row["persistent"], true);
    assert_eq!(row["owner_alive"], false);
    assert_eq!(row["unfinished"], false);
    assert!(row["problem"].is_null());

    ok(
        &["shm", "write", &name, "--offset", "1K"],
        b"hello, segment",
    );
    assert_eq!(
        ok(
            &["shm", "read", &name, "--offset", "1024", "--len", "14"],
            b""
        ),
        b"hello, segment"
    );
    // Without --len: to the end of the data region.
    let tail = ok(&["shm", "read", &name, "--offset", "65530"], b"");
    assert_eq!(tail, vec![0u8; 6]);
    // The library sees the same bytes.
    let shm = SharedMemory::open(&name).unwrap();
    let mut b = [0u8; 5];
    shm.read_at(1024, &mut b).unwrap();
    assert_eq!(&b, b"hello");
    assert!(shm.is_persistent() && !shm.is_owner());
    drop(shm);

    // Out of range, in both directions.
    let e = fails_with(&["shm", "write", &name, "--offset", "65535"], b"ab");
    assert!(e.contains("65536 bytes"), "{e}");
    // An empty write at the very end fits.
    ok(&["shm", "write", &name, "--offset", "65536"], b"");
    fails(&["shm", "read", &name, "--offset", "65000", "--len", "1000"]);
    fails(&["shm", "read", &name, "--offset", "70000"]);

    ok(&["shm", "rm", &name], b"");
    assert!(!exists(&name));
    let e = fails(&["shm", "rm", &name]);
    assert!(e.contains("no shared-memory segment"), "{e}");
    fails(&["shm", "read", &name]);
}

#[test]
fn bad_input_fails_with_one_line() {
    if !shell_segments() {
        return; // see where_segments_cannot_outlive_a_command_create_says_so
    }
    let name = unique_name("t-clibad");
    let _cleanup = Cleanup(vec![name.clone()]);
    assert!(fails(&["shm", "create", "bad/name", "--size", "1"]).contains("bad segment name"));
    assert!(fails(&["shm", "create", &name, "--size", "0"]).contains("size of 0"));
    assert!(fails(&["shm", "create", &name, "--size", "1T"]).contains("no room"));
    assert!(!exists(&name));
    // clap rejects a malformed size before anything happens.
    let out = polyshm(&["shm", "create", &name, "--size", "12Q"], b"");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown unit"));
    ok(&["shm", "create", &name, "--size", "4096"], b"");
    assert!(fails(&["shm", "create", &name, "--size", "4096"]).contains("already exists"));
    ok(&["shm", "rm", &name], b"");
}

#[test]
fn clean_removes_only_dead_owners_segments() {
    // Plants files in the segment directory (`/dev/shm`).
    let Some(dir) = polyshm::sys::SEGMENT_DIR.filter(|_| shell_segments()) else {
        return;
    };
    // One prefix for the four, so that `shm clean PREFIX` sees them all and nothing
    // of other test runs (a global clean would take their leftovers too).
    let run = unique_name("tcl");
    let (dead, live, kept, foreign) = (
        format!("{run}d"),
        format!("{run}l"),
        format!("{run}k"),
        format!("{run}f"),
    );
    let _cleanup = Cleanup(vec![dead.clone(), live.clone(), kept.clone()]);
    let foreign_path = format!("{dir}/polyshm.{foreign}");
    struct RmFile(String);
    impl Drop for RmFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    let _rm = RmFile(foreign_path.clone());

    // A segment whose creator died without removing it: made here, then its owner
    // pid rewritten to one no process can have (above the kernel's pid_max).
    let orphan = SharedMemory::create(&dead, 100).unwrap();
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(format!("{dir}/polyshm.{dead}"))
        .unwrap();
    f.seek(SeekFrom::Start(24)).unwrap();
    f.write_all(&4_194_305u32.to_ne_bytes()).unwrap();
    drop(f);
    // A live owner's (this process's), a persistent one, another program's.
    let live_shm = SharedMemory::create(&live, 100).unwrap();
    ok(&["shm", "create", &kept, "--size", "100"], b"");
    std::fs::write(&foreign_path, b"not polyshm").unwrap();

    assert_eq!(listed(&dead).unwrap()["owner_alive"], false);
    assert_eq!(listed(&live).unwrap()["owner_alive"], true);
    let out = String::from_utf8(ok(&["shm", "clean", &run], b"")).unwrap();
    assert_eq!(out, format!("removed {dead}\n"));
    assert!(!exists(&dead));
    assert!(exists(&live) && exists(&kept));
    assert!(std::path::Path::new(&foreign_path).exists());
    assert!(fails(&["shm", "rm", &foreign]).contains("not a polyshm segment"));
    // The table form lists them too.
    let table = String::from_utf8(ok(&["shm", "ls"], b"")).unwrap();
    assert!(table.contains(&live) && table.contains(&kept) && table.contains(&foreign));

    drop(orphan); // its name is gone already: nothing to do
    drop(live_shm);
    assert!(!exists(&live));
    ok(&["shm", "rm", &kept], b"");
    assert!(!exists(&kept));
}

/// Regression (test helper): the helper used to wait for the child before it read the
/// child's pipes, so a command writing more than a pipe holds (64 KiB on Linux) blocked
/// forever. A 1 MiB `shm read` must come back whole.
#[test]
fn defect_helper_drains_output_larger_than_a_pipe() {
    let name = unique_name("t-clibig");
    let _cleanup = Cleanup(vec![name.clone()]);
    let shm = SharedMemory::create(&name, 1 << 20).unwrap();
    let pattern: Vec<u8> = (0..1u32 << 20).map(|i| (i % 251) as u8).collect();
    shm.write_at(0, &pattern).unwrap();
    let out = ok(&["shm", "read", &name], b"");
    assert!(
        out == pattern,
        "{} bytes back, not the 1 MiB written",
        out.len()
    );
}

/// `shm ls --json` says which segments are unfinished (made, but their header not yet
/// published: being made now, or their creator died mid-way), as `admin::list` does.
#[test]
fn ls_json_marks_an_unfinished_segment() {
    if !shell_segments() {
        return; // see where_segments_cannot_outlive_a_command_create_says_so
    }
    let name = unique_name("t-cli-unf");
    let _cleanup = Cleanup(vec![name.clone()]);
    // A segment with no header at all: what a creator killed before stamping leaves.
    let os = polyshm::shm::name::os_name(&name).unwrap();
    let raw = polyshm::sys::create_segment(&os, 4096).unwrap();
    let row = listed(&name).expect("listed");
    assert_eq!(row["unfinished"], true, "{row}");
    drop(raw);
}

/// `shm ls` shows a segment of a live process with its owner, on every platform (on
/// Windows from polyshm's index); `shm rm` removes it where a name can be removed, and
/// on Windows says it cannot while the segment is held. The owner's handle takes it
/// out of the listing when it drops.
#[test]
fn ls_shows_a_live_owner_and_rm_says_what_it_cannot_do() {
    let name = unique_name("t-cli-own");
    let _cleanup = Cleanup(vec![name.clone()]);
    let shm = SharedMemory::create(&name, 4096).unwrap();
    let row = listed(&name).expect("listed");
    assert_eq!(row["owner_pid"], std::process::id(), "{row}");
    assert_eq!(row["owner_alive"], true, "{row}");
    assert_eq!(row["stale"], false, "{row}");
    assert_eq!(row["size"], 4096, "{row}");
    assert!(row["problem"].is_null(), "{row}");
    let table = String::from_utf8(ok(&["shm", "ls"], b"")).unwrap();
    assert!(table.contains(&name), "{table}");
    if polyshm::sys::SEGMENTS_PERSIST {
        ok(&["shm", "rm", &name], b"");
        assert!(!exists(&name) && listed(&name).is_none());
    } else {
        let e = fails(&["shm", "rm", &name]);
        assert!(
            e.contains("cannot be removed while a process holds it") && e.contains("is alive"),
            "{e}"
        );
        assert!(exists(&name) && listed(&name).is_some());
    }
    drop(shm);
    assert!(listed(&name).is_none(), "listed after its owner let it go");
}

/// Where segments are listed from polyshm's per-user index (Windows, macOS): an
/// unsound entry is a row of its own and never fails `ls` or `clean`, `clean` takes a
/// stale entry (its segment gone), and `rm NAME` takes an unsound entry of that name.
#[test]
fn ls_and_clean_survive_an_unsound_index_entry() {
    let Ok(dir) = polyshm::sys::segment_index_dir() else {
        return; // the system lists segments itself (Linux): there is no index
    };
    let run = unique_name("tclix");
    let (stale, bad) = (format!("{run}g"), format!("{run}s"));
    let files = [
        dir.join(format!("{stale}@1-0-ab")),
        dir.join(format!("{bad}@1-0-ab")),
    ];
    struct RmFiles(Vec<std::path::PathBuf>);
    impl Drop for RmFiles {
        fn drop(&mut self) {
            for f in &self.0 {
                let _ = std::fs::remove_file(f);
            }
        }
    }
    let _rm = RmFiles(files.to_vec());
    std::fs::write(
        &files[0],
        format!("polyshm segment index 1\nname={stale}\npid=1\nstart_time=0\nnonce=00000000000000ab\nsize=4096\ncreated=0\n"),
    )
    .unwrap();
    std::fs::write(&files[1], b"polyshm segment index 1\nname=").unwrap();
    let row = listed(&stale).expect("the stale entry listed");
    assert_eq!(row["stale"], true, "{row}");
    let row = listed(&bad).expect("the unsound entry listed");
    let problem = row["problem"].as_str().unwrap_or_default();
    assert!(
        problem.contains("index entry") && problem.contains("not sound"),
        "{row}"
    );
    let table = String::from_utf8(ok(&["shm", "ls"], b"")).unwrap();
    assert!(table.contains(&stale) && table.contains(&bad), "{table}");
    let out = String::from_utf8(ok(&["shm", "clean", &run], b"")).unwrap();
    assert_eq!(out, format!("removed {stale}\n"));
    assert!(!files[0].exists() && files[1].exists());
    ok(&["shm", "rm", &bad], b"");
    assert!(!files[1].exists() && listed(&bad).is_none());
}
