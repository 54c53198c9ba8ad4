//! Listing, removing and cleaning segments from outside (`polyshm shm ls | rm | clean`).

use super::header::{Seen, FLAG_PERSISTENT, UNFINISHED_GRACE};
use super::segment::peek_header;
use super::{name, ShmError};
use polyshm_sys::ProcessId;

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
        }
    }
}

/// Every segment with the polyshm prefix, with its header checked.
pub fn list() -> Result<Vec<SegmentInfo>, ShmError> {
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
                Ok(Seen::Ready(h)) => SegmentInfo {
                    name: n.into(),
                    size: Some(h.size),
                    owner: Some(h.owner),
                    owner_alive: polyshm_sys::is_alive(h.owner),
                    persistent: h.flags & FLAG_PERSISTENT != 0,
                    problem: None,
                    unfinished: false,
                },
                Ok(Seen::Unpublished { owner }) => SegmentInfo::unfinished(n, owner),
                Err(e) => SegmentInfo::problem(n, e.to_string()),
            },
        };
        out.push(info);
    }
    Ok(out)
}

/// Remove the segment `name` (its name goes; processes that mapped it keep their
/// mapping). Refuses a segment that is not polyshm's; takes a damaged or unfinished
/// one.
pub fn remove(name: &str) -> Result<(), ShmError> {
    let os = name::os_name(name)?;
    match polyshm_sys::open_segment(&os) {
        // Unfinished: 0 bytes long.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {}
        Err(e) => return Err(ShmError::from_io(name, "open", e)),
        Ok(map) => match peek_header(name, &map) {
            // A damaged or unfinished polyshm segment may be removed; a foreign one
            // may not.
            Ok(_)
            | Err(
                ShmError::Truncated { .. }
                | ShmError::Corrupt { .. }
                | ShmError::IncompatibleVersion { .. },
            ) => {}
            Err(e) => return Err(e),
        },
    }
    polyshm_sys::unlink_segment(&os).map_err(|e| ShmError::from_io(name, "remove", e))
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

/// Remove every polyshm segment whose owner is dead; answers the names removed.
/// Never touches a live owner's segment, a persistent one (made by `polyshm shm
/// create` or [`SharedMemory::persist`](super::SharedMemory::persist): remove those by
/// name), or a segment that is not polyshm's. A damaged polyshm segment (bad version,
/// truncated, corrupt header) is left too: `remove` takes it by name.
///
/// An unfinished segment (its creator had not published the header) is removed when
/// its creator is known dead: the pid it stamped is dead, or it stamped none and the
/// segment has not changed for [`UNFINISHED_GRACE`]. One being made right now is left.
pub fn clean() -> Result<Vec<String>, ShmError> {
    clean_matching("")
}

/// [`clean`], limited to the names that start with `prefix` (the empty prefix takes
/// every name): what a program (or a test) uses to reclaim only the segments of its
/// own naming, never another program's leftovers.
pub fn clean_matching(prefix: &str) -> Result<Vec<String>, ShmError> {
    let mut removed = Vec::new();
    for s in list()? {
        if !s.name.starts_with(prefix) {
            continue;
        }
        let dead_owner = if s.unfinished {
            abandoned(&s)
        } else {
            s.problem.is_none() && !s.owner_alive && !s.persistent
        };
        if dead_owner {
            // It may have gone meanwhile; that is fine.
            match remove(&s.name) {
                Ok(()) | Err(ShmError::NotFound { .. }) => removed.push(s.name),
                Err(e) => return Err(e),
            }
        }
    }
    Ok(removed)
}
