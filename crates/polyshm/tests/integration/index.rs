//! `admin::list`, `clean` and `remove` with segments made by other processes: a live
//! owner's segment listed with its owner, a killed owner's cleaned, one still held by
//! another process after its owner died, two creators at once, and (where segments
//! are listed from polyshm's per-user index: Windows, macOS) unsound index entries.
//!
//! The same tests run where the system lists segments (Linux) and where polyshm's
//! index does (Windows, under Wine in CI); they differ where the platforms do: a
//! killed owner's segment outlives it on Linux (`clean` unlinks it) and goes with its
//! last holder on Windows (`clean` removes its stale entry).

use crate::common::{spawn_child, ChildProc, Cleanup, Watchdog, PATIENCE};
use polyshm::shm::admin::{self, SegmentInfo};
use polyshm::shm::{unique_name, SharedMemory, ShmError};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Child side (`index-hold`): create segments `<prefix>0` … `<prefix>{n-1}` (4096
/// bytes each) and hold them until killed.
pub fn child(_role: &str, prefix: &str, n: u64) {
    let held: Vec<SharedMemory> = (0..n)
        .map(|i| SharedMemory::create(&format!("{prefix}{i}"), 4096).expect("create"))
        .collect();
    // Until the test kills this process (or its parent ends, which ends it too).
    loop {
        std::thread::sleep(Duration::from_secs(1));
        assert!(!held.is_empty());
    }
}

/// Whether `admin::list` works here (it does on Linux, Windows and macOS).
fn listable() -> bool {
    match admin::list() {
        Ok(_) => true,
        Err(ShmError::Unsupported { .. }) => false,
        Err(e) => panic!("list: {e}"),
    }
}

/// The rows named `<prefix>…`.
fn rows(prefix: &str) -> Vec<SegmentInfo> {
    let mut r: Vec<_> = admin::list()
        .expect("list")
        .into_iter()
        .filter(|s| s.name.starts_with(prefix))
        .collect();
    r.sort_by(|a, b| a.name.cmp(&b.name));
    r
}

/// Wait (at most [`PATIENCE`]) until the rows under `prefix` satisfy `ok`; answers
/// them.
fn rows_until(prefix: &str, what: &str, ok: impl Fn(&[SegmentInfo]) -> bool) -> Vec<SegmentInfo> {
    let until = Instant::now() + PATIENCE;
    loop {
        let r = rows(prefix);
        if ok(&r) {
            return r;
        }
        assert!(
            Instant::now() < until,
            "never {what} within {PATIENCE:?}: {r:#?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Start a child holding `n` segments under `prefix`, watched by `dog`; answers it
/// once every segment is listed with it as their live owner.
fn holder(dog: &Watchdog, prefix: &str, n: u64) -> ChildProc {
    let c = spawn_child("index-hold", prefix, n, &[]);
    dog.child(&c);
    let pid = c.pid();
    let of_child = |r: &[SegmentInfo]| {
        r.iter()
            .filter(|s| s.owner.is_some_and(|o| o.pid == pid))
            .count()
    };
    rows_until(prefix, "listed with the child as owner", |r| {
        of_child(r) == n as usize
    });
    c
}

/// Kill `c` and wait for it to be gone.
fn kill(c: &mut ChildProc) {
    c.kill9();
    c.wait();
}

#[test]
fn a_live_owner_is_listed_and_a_killed_owners_segment_cleaned() {
    if !listable() {
        return;
    }
    let dog = Watchdog::new("index: killed owner", Duration::from_secs(120));
    let prefix = unique_name("ti-kill");
    let name = format!("{prefix}0");
    dog.segment(&name);
    let mut cleanup = Cleanup::default();
    cleanup.segment(&name);
    let mut c = holder(&dog, &prefix, 1);
    let row = &rows(&name)[0];
    assert!(
        row.owner_alive && row.problem.is_none() && !row.stale,
        "{row:?}"
    );
    assert_eq!(row.size, Some(4096));
    if let Some(p) = &row.index_entry {
        assert!(p.is_file(), "its index entry {}", p.display());
    }
    // A live owner's segment is left alone.
    assert!(admin::clean_matching(&name).unwrap().is_empty());
    let pid = c.pid();
    kill(&mut c);
    // Linux: the segment outlives its owner. Windows: it went with its only holder,
    // and its index entry is stale.
    let row = rows_until(&name, "seen with its owner dead", |r| {
        r.len() == 1 && !r[0].owner_alive && (polyshm::sys::SEGMENTS_PERSIST || r[0].stale)
    })
    .remove(0);
    assert_eq!(row.owner.map(|o| o.pid), Some(pid));
    let done = admin::clean_report(&name).unwrap();
    assert_eq!(done.removed, [name.as_str()]);
    assert!(done.kept.is_empty(), "{done:?}");
    assert!(rows(&name).is_empty());
    if let Some(p) = &row.index_entry {
        assert!(!p.exists(), "the entry {} was left", p.display());
    }
    drop(cleanup);
}

#[test]
fn a_dead_owners_segment_still_held_is_kept_and_said_where_it_cannot_go() {
    if !listable() {
        return;
    }
    let dog = Watchdog::new("index: held after owner died", Duration::from_secs(120));
    let prefix = unique_name("ti-held");
    let name = format!("{prefix}0");
    dog.segment(&name);
    let mut cleanup = Cleanup::default();
    cleanup.segment(&name);
    let mut c = holder(&dog, &prefix, 1);
    let held = SharedMemory::open(&name).unwrap();
    kill(&mut c);
    let row = rows_until(&prefix, "seen with its owner dead", |r| {
        r.len() == 1 && !r[0].owner_alive
    })
    .remove(0);
    assert!(row.problem.is_none() && !row.stale, "{row:?}");
    let done = admin::clean_report(&prefix).unwrap();
    if polyshm::sys::SEGMENTS_PERSIST {
        // Linux: the name goes; this process keeps its mapping.
        assert_eq!(done.removed, [name.as_str()]);
        held.write_at(0, b"still mapped").unwrap();
    } else {
        // Windows: it cannot be deleted while held, and both clean and rm say so.
        assert!(done.removed.is_empty(), "{done:?}");
        assert_eq!(done.kept.len(), 1, "{done:?}");
        assert_eq!(done.kept[0].0, name);
        assert!(done.kept[0]
            .1
            .contains("cannot be removed while a process holds it"));
        let e = admin::remove(&name).unwrap_err();
        assert!(matches!(e, ShmError::StillHeld { .. }), "{e}");
        assert!(e.to_string().contains("has died"), "{e}");
        assert_eq!(rows(&prefix).len(), 1, "rm kept its entry: still listed");
        // Its last holder lets go: the segment is gone, its entry stale, then cleaned.
        drop(held);
        rows_until(&prefix, "stale", |r| r.len() == 1 && r[0].stale);
        assert_eq!(admin::clean_matching(&prefix).unwrap(), [name.as_str()]);
    }
    assert!(rows(&prefix).is_empty());
    drop(cleanup);
}

#[test]
fn two_processes_create_segments_at_once() {
    if !listable() {
        return;
    }
    const EACH: u64 = 16;
    let dog = Watchdog::new("index: two creators", Duration::from_secs(180));
    let run = unique_name("ti2");
    let prefixes = [format!("{run}a"), format!("{run}b")];
    let mut cleanup = Cleanup::default();
    for p in &prefixes {
        for i in 0..EACH {
            dog.segment(&format!("{p}{i}"));
            cleanup.segment(&format!("{p}{i}"));
        }
    }
    // Both start before either is waited for: their creations overlap.
    let mut kids: Vec<ChildProc> = prefixes
        .iter()
        .map(|p| {
            let c = spawn_child("index-hold", p, EACH, &[]);
            dog.child(&c);
            c
        })
        .collect();
    let all = rows_until(&run, "all listed", |r| {
        r.len() == 2 * EACH as usize && r.iter().all(|s| s.owner_alive)
    });
    for (p, c) in prefixes.iter().zip(&kids) {
        let mine = all.iter().filter(|s| s.name.starts_with(p.as_str()));
        assert!(
            mine.clone().count() == EACH as usize
                && mine
                    .clone()
                    .all(|s| s.owner.map(|o| o.pid) == Some(c.pid())),
            "{all:#?}"
        );
    }
    assert!(all
        .iter()
        .all(|s| s.problem.is_none() && s.size == Some(4096)));
    for c in &mut kids {
        kill(c);
    }
    rows_until(&run, "seen with their owners dead", |r| {
        r.len() == 2 * EACH as usize && r.iter().all(|s| !s.owner_alive)
    });
    // On Windows the segments go with their owners: wait for every entry to be stale.
    if !polyshm::sys::SEGMENTS_PERSIST {
        rows_until(&run, "stale", |r| r.iter().all(|s| s.stale));
    }
    let mut removed = admin::clean_matching(&run).unwrap();
    removed.sort();
    assert_eq!(removed.len(), 2 * EACH as usize, "{removed:?}");
    assert!(rows(&run).is_empty());
    drop(cleanup);
}

/// Removes planted files and folders on drop.
struct Planted(Vec<PathBuf>);

impl Drop for Planted {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
            let _ = std::fs::remove_dir(p);
        }
    }
}

/// An index entry as a creator writes it (the format of `shm/index.rs`).
fn entry_text(name: &str, pid: u32) -> String {
    format!(
        "polyshm segment index 1\nname={name}\npid={pid}\nstart_time=0\nnonce=00000000000000ab\nsize=4096\ncreated=0\n"
    )
}

#[test]
fn an_unsound_index_entry_is_a_row_of_its_own_and_never_fatal() {
    let Ok(dir) = polyshm::sys::segment_index_dir() else {
        return; // the system lists segments itself (Linux): there is no index
    };
    let run = unique_name("tibad");
    let at = |n: &str, tail: &str| dir.join(format!("{run}{n}@{tail}"));
    let (scribbled, cut, huge, folder, misfiled, gone) = (
        at("s", "1-0-ab"),
        at("c", "1-0-ab"),
        at("h", "1-0-ab"),
        at("d", "1-0-ab"),
        at("m", "1-0-ab"),
        at("g", "1-0-ab"),
    );
    let planted = Planted(vec![
        scribbled.clone(),
        cut.clone(),
        huge.clone(),
        folder.clone(),
        misfiled.clone(),
        gone.clone(),
    ]);
    std::fs::write(&scribbled, [0xff, 0xfe, 0, 7, 42]).unwrap();
    let whole = entry_text(&format!("{run}c"), 1);
    std::fs::write(&cut, &whole[..whole.find("nonce").unwrap()]).unwrap();
    std::fs::write(&huge, "x".repeat(100_000)).unwrap();
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(&misfiled, entry_text("someone-else", 1)).unwrap();
    // A sound entry whose segment never existed: stale.
    std::fs::write(&gone, entry_text(&format!("{run}g"), 1)).unwrap();
    // What a creator that died between writing its entry and renaming it into place
    // leaves (an hour old), and what one at work has (just written).
    let (old_tmp, young_tmp) = (
        dir.join(format!(".{run}o@1-0-ab.tmp")),
        dir.join(format!(".{run}y@1-0-ab.tmp")),
    );
    let _tmps = Planted(vec![old_tmp.clone(), young_tmp.clone()]);
    let hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::create(&old_tmp)
        .and_then(|f| f.set_modified(hour_ago))
        .unwrap();
    std::fs::write(&young_tmp, b"polyshm segment index 1\n").unwrap();

    let r = rows(&run);
    let says = |suffix: &str, what: &str, path: &Path| {
        let row = r
            .iter()
            .find(|s| s.name == format!("{run}{suffix}"))
            .unwrap_or_else(|| panic!("no row for {suffix}: {r:#?}"));
        let problem = row.problem.as_deref().unwrap_or_default();
        assert!(problem.contains(what), "{suffix}: {problem}");
        assert_eq!(row.index_entry.as_deref(), Some(path));
        row.stale
    };
    assert!(!says("s", "not UTF-8", &scribbled));
    assert!(!says("c", "\"nonce\" is missing", &cut));
    assert!(!says("h", "at most 512", &huge));
    assert!(!says("d", "not a regular file", &folder));
    assert!(!says("m", "its file name does not", &misfiled));
    assert!(says("g", "stale index entry", &gone));
    assert_eq!(r.len(), 6, "temporary files are no rows: {r:#?}");
    // clean takes the stale entry and the old temporary file, and leaves the unsound
    // entries (not known to be polyshm's leftovers) to `rm` or the user.
    assert_eq!(admin::clean_matching(&run).unwrap(), [format!("{run}g")]);
    assert!(!gone.exists() && scribbled.exists() && cut.exists() && huge.exists());
    assert!(!old_tmp.exists() && young_tmp.exists());
    // rm takes an unsound entry by its name.
    admin::remove(&format!("{run}s")).unwrap();
    admin::remove(&format!("{run}c")).unwrap();
    assert!(!scribbled.exists() && !cut.exists());
    drop(planted);
    assert!(rows(&run).is_empty());
}
