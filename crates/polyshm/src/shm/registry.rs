//! The process-wide registry of live [`SharedMemory`](super::SharedMemory) handles
//! (the study's shared variable `Registry`).

use std::sync::Mutex;

/// One live segment handle in this process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Segment name.
    pub name: String,
    /// Data bytes.
    pub size: usize,
    /// Whether this process created it.
    pub owner: bool,
}

static REGISTRY: Mutex<Vec<(u64, Entry)>> = Mutex::new(Vec::new());
static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn table() -> std::sync::MutexGuard<'static, Vec<(u64, Entry)>> {
    REGISTRY.lock().unwrap_or_else(|p| p.into_inner())
}

pub(crate) fn add(name: &str, size: usize, owner: bool) -> u64 {
    let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    table().push((
        id,
        Entry {
            name: name.into(),
            size,
            owner,
        },
    ));
    id
}

pub(crate) fn remove(id: u64) {
    table().retain(|(i, _)| *i != id);
}

/// A snapshot of the registry.
pub fn entries() -> Vec<Entry> {
    table().iter().map(|(_, e)| e.clone()).collect()
}
