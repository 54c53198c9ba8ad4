//! Listing, removing and cleaning segments from outside (`polyshm shm ls | rm | clean`).
//!
//! Where the system lists segments (Linux: `/dev/shm`) every segment with the polyshm
//! prefix is seen. Where it cannot (Windows, macOS), the listing is polyshm's per-user
//! index: each creator enters its segment there once made, and removes the entry when
//! it lets the segment go. There, a segment another program made under a polyshm name,
//! or one whose creator died before publishing it, is not listed, and an entry whose
//! segment is gone (its owner died, and on Windows every process holding the segment
//! closed it or exited) is listed as stale until `clean` removes it.
//!
//! Windows cannot delete a segment that some process still holds: it goes when the
//! last holder closes it or exits. There `clean` reports a dead owner's segment still
//! held ([`Cleaned::kept`]) instead of removing it, and `remove` answers
//! [`ShmError::StillHeld`].

use super::header::{Seen, FLAG_PERSISTENT, UNFINISHED_GRACE};
use super::index::{self, Entry};
use super::segment::peek_header;
use super::{name, ShmError};
use polyshm_sys::ProcessId;
use std::path::PathBuf;

/// What [`list`] found under one polyshm name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentInfo {
    /// Name (without the OS prefix).
    pub name: String,
    /// Data bytes, when the header could be read.
    pub size: Option<u64>,
    /// Creator, when the header could be read.
    pub owner: Option<ProcessId>,
    /// Whether the creator still runs.
    pub owner_alive: bool,
    /// Whether the segment is marked persistent ([`FLAG_PERSISTENT`]): made to outlive
    /// its creator, and left alone by [`clean`].
    pub persistent: bool,
    /// `None` for a sound polyshm segment, else why it could not be read.
    pub problem: Option<String>,
    /// Whether its creator has not finished making it (0 bytes long, or no header
    /// yet): being made right now, or its creator died mid-way. `owner` is set when
    /// the creator stamped its pid.
    pub unfinished: bool,
    /// Whether this is an index entry whose segment is gone (see the module docs):
    /// `owner` and `size` are the entry's; `clean` removes it.
    pub stale: bool,
    /// The index file this row comes from, where segments are listed from polyshm's
    /// index (Windows, macOS).
    pub index_entry: Option<PathBuf>,
}

impl SegmentInfo {
    fn problem(name: &str, why: String) -> SegmentInfo {
        SegmentInfo {
            name: name.into(),
            size: None,
            owner: None,
            owner_alive: false,
            persistent: false,
            problem: Some(why),
            unfinished: false,
            stale: false,
            index_entry: None,
        }
    }

    /// The stale index entry `e` (its segment is gone), filed as `path`.
    fn stale(e: Entry, path: PathBuf, why: &str) -> SegmentInfo {
        let owner_alive = polyshm_sys::is_alive(e.owner);
        SegmentInfo {
            name: e.name,
            size: Some(e.size),
            owner: Some(e.owner),
            owner_alive,
            persistent: false,
            problem: Some(format!(
                "stale index entry: {why}; `polyshm shm clean` removes it"
            )),
            unfinished: false,
            stale: true,
            index_entry: Some(path),
        }
    }

    fn unfinished(name: &str, owner: Option<ProcessId>) -> SegmentInfo {
        let owner_alive = owner.is_some_and(polyshm_sys::is_alive);
        SegmentInfo {
            name: name.into(),
            size: None,
            owner,
            owner_alive,
            persistent: false,
            problem: Some(match owner {
                Some(o) if owner_alive => format!("not finished yet: its creator ({o}) is making it"),
                Some(o) => format!("left unfinished: its creator ({o}) died before publishing the header"),
                None => "not finished: no header and no creator stamped yet (being made, or its creator died)".into(),
            }),
            unfinished: true,
            stale: false,
            index_entry: None,
        }
    }
}

/// Every segment with the polyshm prefix, with its header checked (where the system
/// cannot list segments: every entry of polyshm's per-user index, see the module docs).
pub fn list() -> Result<Vec<SegmentInfo>, ShmError> {
    if !polyshm_sys::CAN_LIST_SEGMENTS {
        return list_index();
    }
    let names =
        polyshm_sys::list_segments().map_err(|e| ShmError::from_io("*", "list segments", e))?;
    let mut out = Vec::new();
    for os in names {
        let Some(n) = name::from_os_name(&os) else {
            continue;
        };
        let info = match polyshm_sys::open_segment(&os) {
            // Not sized yet by its creator.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                SegmentInfo::unfinished(n, None)
            }
            Err(e) => SegmentInfo::problem(n, e.to_string()),
            Ok(map) => match peek_header(n, &map) {
                Ok(Seen::Ready(h)) => sound(n, &h),
                Ok(Seen::Unpublished { owner }) => SegmentInfo::unfinished(n, owner),
                Err(e) => SegmentInfo::problem(n, e.to_string()),
            },
        };
        out.push(info);
    }
    Ok(out)
}

/// The row of a sound segment whose header reads `h`.
fn sound(name: &str, h: &super::header::Header) -> SegmentInfo {
    SegmentInfo {
        name: name.into(),
        size: Some(h.size),
        owner: Some(h.owner),
        owner_alive: polyshm_sys::is_alive(h.owner),
        persistent: h.flags & FLAG_PERSISTENT != 0,
        problem: None,
        unfinished: false,
        stale: false,
        index_entry: None,
    }
}

/// [`list`] from polyshm's per-user index: each entry, its segment opened and checked.
fn list_index() -> Result<Vec<SegmentInfo>, ShmError> {
    let dir = index::dir().map_err(|e| match e.kind() {
        std::io::ErrorKind::Unsupported => ShmError::from_io("*", "list segments", e),
        _ => ShmError::Io {
            name: "*".into(),
            op: "find the per-user index of segments",
            source: e,
        },
    })?;
    let found = index::read(&dir).map_err(|e| ShmError::Io {
        name: "*".into(),
        op: "read the index of segments",
        source: std::io::Error::new(e.kind(), format!("{}: {e}", dir.display())),
    })?;
    Ok(found.into_iter().map(look).collect())
}

/// The row of one index file.
fn look(found: index::Found) -> SegmentInfo {
    let path = found.path;
    let e = match found.entry {
        Ok(e) => e,
        Err(why) => {
            let rm = match name::os_name(&found.name_hint) {
                Ok(_) => format!(" (`polyshm shm rm {}` does)", found.name_hint),
                Err(_) => String::new(),
            };
            let mut row = SegmentInfo::problem(
                &found.name_hint,
                format!(
                    "index entry {} is not sound: {why}; remove the file{rm}",
                    path.display()
                ),
            );
            row.index_entry = Some(path);
            return row;
        }
    };
    // Checked when the entry was read.
    let os = name::os_name(&e.name).unwrap_or_default();
    let mut row = match polyshm_sys::open_segment(&os) {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            let why = "its segment is gone (its owner let it go or died, and no process holds it)";
            return SegmentInfo::stale(e, path, why);
        }
        Err(err) => SegmentInfo::problem(&e.name, err.to_string()),
        Ok(map) => match peek_header(&e.name, &map) {
            Ok(Seen::Ready(h)) if h.nonce == e.nonce => sound(&e.name, &h),
            // The entry's segment was published before it was entered: another one
            // holds the name now.
            Ok(_) => {
                let why = "its segment is gone, and another segment holds the name now";
                return SegmentInfo::stale(e, path, why);
            }
            Err(err) => SegmentInfo::problem(&e.name, err.to_string()),
        },
    };
    if row.owner.is_none() {
        row.owner_alive = polyshm_sys::is_alive(e.owner);
        row.owner = Some(e.owner);
    }
    row.index_entry = Some(path);
    row
}

/// The index files that name segment `name` (sound or not); none where the system
/// lists segments itself.
fn index_files_of(name: &str) -> Vec<(PathBuf, Option<Entry>)> {
    if polyshm_sys::CAN_LIST_SEGMENTS {
        return Vec::new();
    }
    let Ok(found) = index::dir().and_then(|d| index::read(&d)) else {
        return Vec::new();
    };
    found
        .into_iter()
        .filter(|f| match &f.entry {
            Ok(e) => e.name == name,
            Err(_) => f.name_hint == name,
        })
        .map(|f| (f.path, f.entry.ok()))
        .collect()
}

/// Remove index files, those already gone included; the first failure is answered.
fn remove_files(name: &str, paths: impl IntoIterator<Item = PathBuf>) -> Result<(), ShmError> {
    for p in paths {
        index::remove(&p).map_err(|e| ShmError::Io {
            name: name.into(),
            op: "remove its index entry",
            source: std::io::Error::new(e.kind(), format!("{}: {e}", p.display())),
        })?;
    }
    Ok(())
}

/// Remove the segment `name` (its name goes; processes that mapped it keep their
/// mapping), and its index entries where there is an index. Refuses a segment that is
/// not polyshm's; takes a damaged or unfinished one.
///
/// On Windows a segment that some process holds cannot be removed: this answers
/// [`ShmError::StillHeld`] (after removing any stale or unsound index entries of the
/// name). A segment that is gone but still has entries: the entries are removed.
pub fn remove(name: &str) -> Result<(), ShmError> {
    let os = name::os_name(name)?;
    let files = index_files_of(name);
    let held = match polyshm_sys::open_segment(&os) {
        // Unfinished: 0 bytes long.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => None,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !files.is_empty() => {
            // Gone already: only its entries are left.
            return remove_files(name, files.into_iter().map(|(p, _)| p));
        }
        Err(e) => return Err(ShmError::from_io(name, "open", e)),
        Ok(map) => match peek_header(name, &map) {
            Ok(Seen::Ready(h)) => Some(h),
            // A damaged or unfinished polyshm segment may be removed; a foreign one
            // may not.
            Ok(Seen::Unpublished { .. })
            | Err(
                ShmError::Truncated { .. }
                | ShmError::Corrupt { .. }
                | ShmError::IncompatibleVersion { .. },
            ) => None,
            Err(e) => return Err(e),
        },
    };
    if !polyshm_sys::SEGMENTS_PERSIST {
        // The name goes only with the last holder: drop the entries that are unsound
        // or name an earlier segment, keep those that may be this one's, so that `ls`
        // shows it until it goes.
        let current = held.as_ref().map(|h| h.nonce);
        let stale = files
            .into_iter()
            .filter(|(_, e)| match (e, current) {
                (None, _) => true,
                (Some(e), Some(now)) => e.nonce != now,
                (Some(_), None) => false,
            })
            .map(|(p, _)| p);
        remove_files(name, stale)?;
        let owner = match held {
            Some(h) if polyshm_sys::is_alive(h.owner) => {
                format!("its creator, {}, is alive", h.owner)
            }
            Some(h) => format!("its creator, {}, has died", h.owner),
            None => "its creator is unknown".into(),
        };
        return Err(ShmError::StillHeld {
            name: name.into(),
            platform: polyshm_sys::PLATFORM,
            owner,
        });
    }
    polyshm_sys::unlink_segment(&os).map_err(|e| ShmError::from_io(name, "remove", e))?;
    remove_files(name, files.into_iter().map(|(p, _)| p))
}

/// Whether an unfinished segment (see [`SegmentInfo::unfinished`]) was left by a dead
/// creator: its stamped creator is dead, or, unstamped, it has not changed for
/// [`UNFINISHED_GRACE`] (a creator stamps within microseconds of sizing it).
fn abandoned(s: &SegmentInfo) -> bool {
    match s.owner {
        Some(_) => !s.owner_alive,
        None => name::os_name(&s.name)
            .ok()
            .and_then(|os| polyshm_sys::segment_modified(&os).ok())
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > UNFINISHED_GRACE),
    }
}

/// What [`clean_report`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cleaned {
    /// The segments removed, and the segments gone whose stale index entries were
    /// removed.
    pub removed: Vec<String>,
    /// Dead owners' segments that could not be removed, each with why: on Windows a
    /// segment that another process still holds (it goes when the last holder closes
    /// it or exits; `clean` takes its entry then).
    pub kept: Vec<(String, String)>,
}

/// Remove every polyshm segment whose owner is dead; answers the names removed.
/// Never touches a live owner's segment, a persistent one (made by `polyshm shm
/// create` or [`SharedMemory::persist`](super::SharedMemory::persist): remove those by
/// name), or a segment that is not polyshm's. A damaged polyshm segment (bad version,
/// truncated, corrupt header) is left too: `remove` takes it by name.
///
/// An unfinished segment (its creator had not published the header) is removed when
/// its creator is known dead: the pid it stamped is dead, or it stamped none and the
/// segment has not changed for [`UNFINISHED_GRACE`]. One being made right now is left.
///
/// Where segments are listed from polyshm's index, the stale entries (their segment
/// gone) are removed too, and the temporary files of entries whose creator died while
/// writing them (older than [`UNFINISHED_GRACE`]); a dead owner's segment that Windows
/// cannot delete is left: see [`clean_report`].
pub fn clean() -> Result<Vec<String>, ShmError> {
    clean_matching("")
}

/// [`clean`], limited to the names that start with `prefix` (the empty prefix takes
/// every name): what a program (or a test) uses to reclaim only the segments of its
/// own naming, never another program's leftovers.
pub fn clean_matching(prefix: &str) -> Result<Vec<String>, ShmError> {
    Ok(clean_report(prefix)?.removed)
}

/// [`clean_matching`], also saying which dead owners' segments it could not remove,
/// and why ([`Cleaned::kept`]).
pub fn clean_report(prefix: &str) -> Result<Cleaned, ShmError> {
    let mut done = Cleaned::default();
    if !polyshm_sys::CAN_LIST_SEGMENTS {
        if let Ok(dir) = index::dir() {
            index::sweep_temporaries(&dir, prefix, UNFINISHED_GRACE);
        }
    }
    for s in list()? {
        if !s.name.starts_with(prefix) {
            continue;
        }
        if s.stale {
            if let Some(p) = &s.index_entry {
                remove_files(&s.name, [p.clone()])?;
                done.removed.push(s.name);
            }
            continue;
        }
        let dead_owner = if s.unfinished {
            abandoned(&s)
        } else {
            s.problem.is_none() && !s.owner_alive && !s.persistent
        };
        if !dead_owner {
            continue;
        }
        // It may have gone meanwhile; that is fine.
        match remove(&s.name) {
            Ok(()) | Err(ShmError::NotFound { .. }) => done.removed.push(s.name),
            Err(e @ ShmError::StillHeld { .. }) => {
                done.kept.push((s.name, e.to_string()));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}
