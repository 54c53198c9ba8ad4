//! Listing, removing and cleaning segments from outside (`polyshm shm ls | rm | clean`).

use super::header::FLAG_PERSISTENT;
use super::shared_memory::read_header;
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
            Err(e) => SegmentInfo {
                name: n.into(),
                size: None,
                owner: None,
                owner_alive: false,
                persistent: false,
                problem: Some(e.to_string()),
            },
            Ok(map) => match read_header(n, &map) {
                Ok(h) => SegmentInfo {
                    name: n.into(),
                    size: Some(h.size),
                    owner: Some(h.owner),
                    owner_alive: polyshm_sys::is_alive(h.owner),
                    persistent: h.flags & FLAG_PERSISTENT != 0,
                    problem: None,
                },
                Err(e) => SegmentInfo {
                    name: n.into(),
                    size: None,
                    owner: None,
                    owner_alive: false,
                    persistent: false,
                    problem: Some(e.to_string()),
                },
            },
        };
        out.push(info);
    }
    Ok(out)
}

/// Remove the segment `name` (its name goes; processes that mapped it keep their
/// mapping). Refuses a segment that is not polyshm's.
pub fn remove(name: &str) -> Result<(), ShmError> {
    let os = name::os_name(name)?;
    let map = polyshm_sys::open_segment(&os).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => ShmError::NotPolyshm { name: name.into() },
        _ => ShmError::from_io(name, "open", e),
    })?;
    match read_header(name, &map) {
        // A damaged polyshm segment may be removed; a foreign one may not.
        Ok(_)
        | Err(
            ShmError::Truncated { .. }
            | ShmError::Corrupt { .. }
            | ShmError::IncompatibleVersion { .. },
        ) => {}
        Err(e) => return Err(e),
    }
    polyshm_sys::unlink_segment(&os).map_err(|e| ShmError::from_io(name, "remove", e))
}

/// Remove every polyshm segment whose owner is dead; answers the names removed.
/// Never touches a live owner's segment, a persistent one (made by `polyshm shm
/// create` or [`SharedMemory::persist`](super::SharedMemory::persist): remove those by
/// name), or a segment that is not polyshm's. A damaged polyshm segment (bad version,
/// truncated, corrupt header) is left too: `remove` takes it by name.
pub fn clean() -> Result<Vec<String>, ShmError> {
    clean_matching("")
}

/// [`clean`], limited to the names that start with `prefix` (the empty prefix takes
/// every name): what a program (or a test) uses to reclaim only the segments of its
/// own naming, never another program's leftovers.
pub fn clean_matching(prefix: &str) -> Result<Vec<String>, ShmError> {
    let mut removed = Vec::new();
    for s in list()? {
        if s.name.starts_with(prefix) && s.problem.is_none() && !s.owner_alive && !s.persistent {
            // It may have gone meanwhile; that is fine.
            match remove(&s.name) {
                Ok(()) | Err(ShmError::NotFound { .. }) => removed.push(s.name),
                Err(e) => return Err(e),
            }
        }
    }
    Ok(removed)
}
