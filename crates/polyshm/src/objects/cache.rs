//! The per-process cache of opened objects: a drone maps each object once.
//!
//! `SharedArray::open_cached` / `SharedMatrix::open_cached` answer the object this
//! process opened before for an equal handle, without looking at the segment again:
//! a hit costs a lock and a comparison, no system call. So a cached object whose
//! master has ended is still answered (its cells are memory no one else reads any
//! more) until the process opens another object, which drops the entries whose
//! segment is gone, or calls [`forget`] / [`clear`]. Where a segment's name lives as
//! long as some process maps it (Windows: see
//! [`SEGMENTS_PERSIST`](polyshm_sys::SEGMENTS_PERSIST)), only `forget` and `clear`
//! drop an entry, and the entry keeps the segment alive.

use super::{ObjectError, ObjectHandle};
use std::any::Any;
use std::sync::{Arc, Mutex};

/// An object the cache can hold.
pub(crate) trait Cached: Any + Send + Sync {
    /// Whether its segment's name still refers to it.
    fn is_current(&self) -> bool;
    /// What it is, as read from its segment.
    fn description(&self) -> &ObjectHandle;
}

struct Entry {
    object: Arc<dyn Any + Send + Sync>,
    /// The same object, for the questions of [`Cached`].
    cached: Arc<dyn Cached>,
}

static CACHE: Mutex<Vec<Entry>> = Mutex::new(Vec::new());

fn cache() -> std::sync::MutexGuard<'static, Vec<Entry>> {
    CACHE.lock().unwrap_or_else(|p| p.into_inner())
}

/// The object `handle` describes, from the cache or opened by `open` (and cached).
///
/// A cached object answers only for a handle equal to its own description (same
/// segment, instance, shape and cell type) and of its own Rust type; any other handle
/// is opened afresh, which gives the error that says what is wrong, or (a segment made
/// again under the same name) replaces the entry.
pub(crate) fn open_cached<O: Cached>(
    handle: &ObjectHandle,
    open: impl FnOnce() -> Result<O, ObjectError>,
) -> Result<Arc<O>, ObjectError> {
    let hit = cache()
        .iter()
        .filter(|e| e.cached.description() == handle)
        .find_map(|e| e.object.clone().downcast::<O>().ok());
    if let Some(o) = hit {
        return Ok(o);
    }
    let o = Arc::new(open()?);
    let mut cache = cache();
    // Entries of segments that are gone (or made again) only hold memory.
    cache.retain(|e| e.cached.description().segment != handle.segment && e.cached.is_current());
    cache.push(Entry {
        object: o.clone(),
        cached: o.clone(),
    });
    Ok(o)
}

/// Drop this process's cached object of segment `segment`, if any (its mapping goes
/// when the last `Arc` of it does). Answers whether there was one.
pub fn forget(segment: &str) -> bool {
    let mut cache = cache();
    let before = cache.len();
    cache.retain(|e| e.cached.description().segment != segment);
    cache.len() != before
}

/// Drop every cached object of this process.
pub fn clear() {
    cache().clear();
}

/// The segments of the objects this process has cached.
pub fn cached() -> Vec<String> {
    cache()
        .iter()
        .map(|e| e.cached.description().segment.clone())
        .collect()
}
