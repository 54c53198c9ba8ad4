//! [`Segment`]: one mapped segment as this process holds it, shared by every handle
//! placed in it ([`SharedMemory`](super::SharedMemory), its semaphores and mutexes):
//! making and opening it (header published last, or awaited), the bounds and the
//! reserved sync blocks every byte access is checked against, and removing its name
//! when the owner lets go.

use super::header::{
    publish, random_u64, snapshot, Header, Seen, DATA_OFFSET, LAYOUT_VERSION, LOCK_OFFSET,
    READY_PATIENCE,
};
use super::{index, name, registry, ShmError};
use polyshm_sys::Mapping;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Size of a sync block (a semaphore or mutex state) placed with `in_segment`.
pub(crate) const SYNC_BLOCK: usize = 64;

/// A mapped segment, shared by the handles placed in it (the segment itself, its
/// semaphores and mutexes). Unlinked on drop if this process created it.
#[derive(Debug)]
pub(crate) struct Segment {
    pub(crate) name: String,
    pub(crate) os_name: String,
    pub(crate) map: Mapping,
    pub(crate) header: Header,
    /// Whether this process created the segment and still owns it (cleared by
    /// [`SharedMemory::persist`](super::SharedMemory::persist)).
    pub(crate) owner: AtomicBool,
    registry_id: u64,
    /// This segment's entry in the per-user index (see [`index`]), where the system
    /// cannot list segments and this process made it; removed with the name.
    index_entry: Option<std::path::PathBuf>,
    /// The sync blocks reserved in this segment, shared by every handle of this
    /// process to the same segment (same name and nonce), whichever mapping it uses.
    reserved: Arc<Reservations>,
}

/// The 64-byte sync blocks placed with `in_segment` (and the claim tables of
/// [`objects`](crate::objects)) in one segment whose handles live in this process: no
/// byte access of this process may cover them.
#[derive(Debug)]
pub(crate) struct Reservations {
    /// (reservation id, offset in the data region, length).
    table: Mutex<Vec<(u64, usize, usize)>>,
    /// The span `[start, end)` of the data region that holds every reserved block
    /// (`start >= end` when none is reserved): an access outside it needs no lock.
    span: (AtomicUsize, AtomicUsize),
}

impl Reservations {
    /// The table of segment `os_name` instance `nonce`, shared with every other live
    /// handle of this process to it.
    fn of(os_name: &str, nonce: u64) -> Arc<Reservations> {
        type Known = Vec<(String, u64, std::sync::Weak<Reservations>)>;
        static KNOWN: Mutex<Known> = Mutex::new(Vec::new());
        let mut known = KNOWN.lock().unwrap_or_else(|p| p.into_inner());
        known.retain(|(_, _, w)| w.strong_count() > 0);
        if let Some(r) = known
            .iter()
            .find(|(n, x, _)| n == os_name && *x == nonce)
            .and_then(|(_, _, w)| w.upgrade())
        {
            return r;
        }
        let r = Arc::new(Reservations {
            table: Mutex::new(Vec::new()),
            span: (AtomicUsize::new(usize::MAX), AtomicUsize::new(0)),
        });
        known.push((os_name.to_owned(), nonce, Arc::downgrade(&r)));
        r
    }
}

impl Segment {
    /// Start of the data region.
    pub(crate) fn data_ptr(&self) -> *mut u8 {
        // SAFETY: `Header::parse` (or `create`) checked data_offset + size <= map.len().
        unsafe { self.map.as_ptr().add(self.header.data_offset as usize) }
    }

    /// Size of the data region.
    pub(crate) fn data_len(&self) -> usize {
        self.header.size as usize
    }

    /// Check that `len` bytes at `offset` lie in the data region and cover no sync
    /// block placed with `in_segment` ([`ShmError::Reserved`]). A block counts from
    /// the moment `in_segment` returns: an access that another thread of this process
    /// began before that is not stopped (place sync blocks before sharing the handle
    /// between threads).
    pub(crate) fn check_access(&self, offset: usize, len: usize) -> Result<(), ShmError> {
        self.check_range(offset, len)?;
        let end = offset + len; // checked by check_range
                                // Outside the span of every reserved block (or nothing reserved): no lock.
        let (lo, hi) = (
            self.reserved.span.0.load(Ordering::Acquire),
            self.reserved.span.1.load(Ordering::Acquire),
        );
        if len == 0 || end <= lo || offset >= hi {
            return Ok(());
        }
        let table = self
            .reserved
            .table
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match table
            .iter()
            .filter(|&&(_, at, n)| at < end && offset < at + n)
            .map(|&(_, at, _)| at)
            .min()
        {
            None => Ok(()),
            Some(reserved_at) => Err(ShmError::Reserved {
                name: self.name.clone(),
                offset,
                len,
                reserved_at,
            }),
        }
    }

    /// Reserve the `len` bytes at `offset` of the data region (a 64-byte sync block,
    /// or a table of atomics; in bounds, checked by the caller) until the returned id
    /// is released.
    pub(crate) fn reserve(&self, offset: usize, len: usize) -> u64 {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        let mut table = self
            .reserved
            .table
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        table.push((id, offset, len));
        self.store_span(&table);
        id
    }

    /// Publish the span of the blocks in `table` (called with the table locked).
    fn store_span(&self, table: &[(u64, usize, usize)]) {
        let lo = table
            .iter()
            .map(|&(_, at, _)| at)
            .min()
            .unwrap_or(usize::MAX);
        let hi = table.iter().map(|&(_, at, n)| at + n).max().unwrap_or(0);
        self.reserved.span.0.store(lo, Ordering::Release);
        self.reserved.span.1.store(hi, Ordering::Release);
    }

    /// Release a reservation made by [`reserve`](Self::reserve).
    pub(crate) fn release(&self, id: u64) {
        let mut table = self
            .reserved
            .table
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        table.retain(|&(i, _, _)| i != id);
        self.store_span(&table);
    }

    /// Check that `len` bytes at `offset` lie in the data region.
    pub(crate) fn check_range(&self, offset: usize, len: usize) -> Result<(), ShmError> {
        match offset.checked_add(len) {
            Some(end) if end <= self.data_len() => Ok(()),
            _ => Err(ShmError::OutOfBounds {
                name: self.name.clone(),
                offset,
                len,
                size: self.data_len(),
            }),
        }
    }

    /// Make segment `name`; `init` gets the start of the data region (`size` zeroed
    /// bytes no one else can see yet) to initialise before the header is published.
    pub(super) fn create(
        name: &str,
        size: usize,
        init: impl FnOnce(*mut u8),
    ) -> Result<Segment, ShmError> {
        let os_name = name::os_name(name)?;
        if size == 0 {
            return Err(ShmError::ZeroSize { name: name.into() });
        }
        let total = size
            .checked_add(DATA_OFFSET)
            .filter(|t| *t <= isize::MAX as usize)
            .ok_or_else(|| ShmError::NoSpace {
                name: name.into(),
                requested: size as u64,
                detail: "larger than the address space".into(),
            })?;
        // Made and entered in the registry with other threads' teardowns held back
        // (`registry::remove_owned_then`): none runs between the two.
        let _life = registry::life();
        let map = polyshm_sys::create_segment_with_hook(&os_name, total, || {
            crate::fault_point!("shm.create.before_size");
        })
        .map_err(|e| match e.raw_os_error() {
            // ENOSPC, EFBIG, ENOMEM, EINVAL (ftruncate beyond limits)
            Some(28 | 27 | 12 | 22) => ShmError::NoSpace {
                name: name.into(),
                requested: size as u64,
                detail: e.to_string(),
            },
            // The platform layer's "cannot commit that much" (Windows).
            _ if e.kind() == std::io::ErrorKind::StorageFull => ShmError::NoSpace {
                name: name.into(),
                requested: size as u64,
                detail: e.to_string(),
            },
            _ => ShmError::from_io(name, "create", e),
        })?;
        let header = Header {
            version: LAYOUT_VERSION,
            data_offset: DATA_OFFSET as u32,
            size: size as u64,
            owner: polyshm_sys::current_process(),
            nonce: random_u64(),
            flags: 0,
        };
        crate::fault_point!("shm.create.before_stamp");
        // SAFETY: the mapping is fresh, page-aligned, at least DATA_OFFSET bytes long,
        // and no Rust reference covers it; until the magic is stored it is not a
        // polyshm segment to anyone else. The access lock is initialised before the
        // magic is published, through its atomics.
        unsafe {
            publish(map.as_ptr(), &header, || {
                (*(map.as_ptr().add(LOCK_OFFSET) as *const crate::sync::MutexState)).init();
                init(map.as_ptr().add(DATA_OFFSET));
                crate::fault_point!("shm.create.before_publish");
            });
        }
        let mut seg = Segment::mapped(name, os_name, map, header, true);
        if !polyshm_sys::CAN_LIST_SEGMENTS {
            let h = &seg.header;
            seg.index_entry = index::register(name, h.owner, h.nonce, h.size);
        }
        Ok(seg)
    }

    /// Open segment `name`, waiting up to `READY_PATIENCE` for its creator to publish
    /// the header.
    pub(crate) fn open(name: &str) -> Result<Segment, ShmError> {
        let os_name = name::os_name(name)?;
        let give_up = Instant::now() + READY_PATIENCE;
        let (map, header) = loop {
            // A segment 0 bytes long has not been sized by its creator yet: map it
            // again once it has (a mapping keeps the size it was made with).
            let waited = match polyshm_sys::open_segment(&os_name) {
                Ok(map) => match peek_header(name, &map)? {
                    Seen::Ready(h) => break (map, h),
                    Seen::Unpublished { .. } => true,
                },
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => true,
                Err(e) => return Err(ShmError::from_io(name, "open", e)),
            };
            if waited && Instant::now() >= give_up {
                return Err(ShmError::NotReady {
                    name: name.into(),
                    waited: READY_PATIENCE,
                });
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        Ok(Segment::mapped(name, os_name, map, header, false))
    }

    /// The segment `name` mapped as `map` with header `header`, entered in the registry
    /// and joined to this process's reservations for it; `owner` if this process made
    /// it.
    fn mapped(name: &str, os_name: String, map: Mapping, header: Header, owner: bool) -> Segment {
        let registry_id = registry::add(name, header.size as usize, owner);
        let reserved = Reservations::of(&os_name, header.nonce);
        Segment {
            name: name.into(),
            os_name,
            map,
            header,
            owner: AtomicBool::new(owner),
            registry_id,
            index_entry: None,
            reserved,
        }
    }
}

/// Look at the header of a mapping once: published and well-formed, not published
/// yet, or an error saying what is wrong with it.
pub(crate) fn peek_header(name: &str, map: &Mapping) -> Result<Seen, ShmError> {
    if map.len() < 8 {
        return Err(ShmError::NotPolyshm { name: name.into() });
    }
    // SAFETY: the mapping is page-aligned and `map.len()` bytes long while `map` is
    // borrowed; this process holds no reference over its header (the header is only
    // ever read through `snapshot`, and written through atomics).
    let (bytes, n) = unsafe { snapshot(map.as_ptr(), map.len()) };
    Seen::parse(name, &bytes[..n], map.len())
}

impl Segment {
    /// Whether the name still refers to this segment: someone may have removed it
    /// and created another of the same name since. The file identity decides (a
    /// header another process scribbled on must not make the owner leak its segment);
    /// the nonce where the system cannot tell.
    pub(crate) fn is_current(&self) -> bool {
        match polyshm_sys::open_segment(&self.os_name) {
            Ok(m) => m.same_segment(&self.map).unwrap_or_else(|| {
                // One look, no waiting: a segment not published yet is not ours.
                matches!(peek_header(&self.name, &m),
                    Ok(Seen::Ready(h)) if h.nonce == self.header.nonce)
            }),
            Err(_) => false,
        }
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        // The segment goes before its registry entry, with other threads' teardowns
        // held back: one that reads the registry meanwhile finds it still listed.
        let _life = registry::life();
        crate::fault_point!("shm.drop.before_unlink");
        let owner = self.owner.load(Ordering::Acquire);
        // Unlink only if the name still refers to our segment.
        if owner && self.is_current() {
            let _ = polyshm_sys::unlink_segment(&self.os_name);
        }
        // The index entry names this segment alone (its file name holds the nonce).
        // It stays for a persisted segment where segments outlive their handles; on
        // Windows, where `persist` cannot keep a segment, it goes as it would without.
        if owner || !polyshm_sys::SEGMENTS_PERSIST {
            if let Some(path) = &self.index_entry {
                let _ = index::remove(path);
            }
        }
        registry::remove(self.registry_id);
    }
}
