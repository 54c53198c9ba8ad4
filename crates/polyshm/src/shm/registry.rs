//! The process-wide registry of live [`SharedMemory`](super::SharedMemory) handles
//! (the study's shared variable `Registry`).

use std::sync::{Mutex, MutexGuard};
#[cfg(any(feature = "mpi", all(test, feature = "failpoints")))]
use std::{sync::TryLockError, time::Duration};

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

/// Held while this process makes or unmakes a segment, so that the OS object and its
/// registry entry change together, and by [`remove_owned_then`] until the process
/// ends: a teardown then finds every segment that exists, and none appears after it.
static LIFE: Mutex<()> = Mutex::new(());

/// How long [`remove_owned_then`] waits for a segment being made or unmade.
#[cfg(any(feature = "mpi", all(test, feature = "failpoints")))]
const LIFE_PATIENCE: Duration = Duration::from_secs(2);
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

/// Hold back every other thread's making and unmaking of segments (see [`LIFE`]).
pub(crate) fn life() -> MutexGuard<'static, ()> {
    LIFE.lock().unwrap_or_else(|p| p.into_inner())
}

/// Remove every segment this process made whose name starts with `prefix` (`""`: all
/// of them), then run `end` (which ends the process, or
/// looks at what is left), holding back meanwhile any thread that makes or unmakes a
/// segment: one being made is finished and listed first, one being unmade is gone
/// first. A thread stopped in the middle for longer than [`LIFE_PATIENCE`] (a fault
/// point's pause) does not stop the teardown: it goes on without the lock then.
// Its user is the MPI teardown (a process that ends on SIGTERM).
#[cfg(any(feature = "mpi", all(test, feature = "failpoints")))]
pub(crate) fn remove_owned_then<R>(prefix: &str, end: impl FnOnce() -> R) -> R {
    let start = std::time::Instant::now();
    let held = loop {
        match LIFE.try_lock() {
            Ok(g) => break Some(g),
            Err(TryLockError::Poisoned(p)) => break Some(p.into_inner()),
            Err(TryLockError::WouldBlock) if start.elapsed() >= LIFE_PATIENCE => break None,
            Err(TryLockError::WouldBlock) => std::thread::sleep(Duration::from_millis(1)),
        }
    };
    for e in entries() {
        if e.owner && e.name.starts_with(prefix) {
            let _ = super::admin::remove(&e.name);
        }
    }
    let r = end();
    drop(held);
    r
}

/// A snapshot of the registry.
pub fn entries() -> Vec<Entry> {
    table().iter().map(|(_, e)| e.clone()).collect()
}

#[cfg(all(test, feature = "failpoints"))]
mod tests {
    use super::*;
    use crate::shm::{unique_name, SharedMemory};
    use std::sync::mpsc;

    fn exists(name: &str) -> bool {
        let os = crate::shm::name::os_name(name).unwrap();
        polyshm_sys::open_segment(&os).is_ok()
    }

    /// Run `act` on a thread of its own held at fault point `point`, and meanwhile a
    /// teardown of segments named `name`: whether `name` existed at the teardown's end,
    /// where the process would exit. The other tests reach the same points: only the
    /// thread named here stops.
    fn teardown_while_held(
        point: &'static str,
        name: &str,
        act: impl FnOnce() + Send + 'static,
    ) -> bool {
        let (reached_tx, reached) = mpsc::channel::<()>();
        let (go, go_rx) = mpsc::channel::<()>();
        let (reached_tx, go_rx) = (Mutex::new(reached_tx), Mutex::new(go_rx));
        let me = format!("held-{name}");
        let who = me.clone();
        fail::cfg_callback(point, move || {
            if std::thread::current().name() == Some(who.as_str()) {
                let _ = reached_tx.lock().unwrap().send(());
                let _ = go_rx.lock().unwrap().recv_timeout(Duration::from_secs(30));
            }
        })
        .unwrap();
        let actor = std::thread::Builder::new().name(me).spawn(act).unwrap();
        reached.recv_timeout(Duration::from_secs(30)).unwrap();
        let (done_tx, done) = mpsc::channel();
        let n = name.to_string();
        let teardown = std::thread::spawn(move || {
            // Only this test's segment: the other tests' are theirs.
            let left = remove_owned_then(&n, || exists(&n));
            let _ = done_tx.send(left);
        });
        // A teardown that does not wait for the held thread ends at once; one that
        // waits ends once that thread goes on.
        let early = done.recv_timeout(Duration::from_millis(300)).ok();
        go.send(()).unwrap();
        let left = early.unwrap_or_else(|| done.recv_timeout(Duration::from_secs(30)).unwrap());
        actor.join().unwrap();
        teardown.join().unwrap();
        fail::remove(point);
        left
    }

    /// Defect (an MPI job's segment left once in CI): a teardown that ran while
    /// another thread dropped a segment found it gone from the registry but still in
    /// the system, and the process ended before the drop unlinked it.
    #[test]
    fn a_teardown_meets_no_segment_half_dropped() {
        let name = unique_name("half-dropped");
        let shm = SharedMemory::create(&name, 4096).unwrap();
        let left = teardown_while_held("shm.drop.before_unlink", &name, move || drop(shm));
        assert!(
            !left,
            "the process would have ended with `{name}` left behind"
        );
        assert!(!exists(&name));
    }

    /// The same on the way in: a segment made but not yet in the registry when the
    /// teardown looked would outlive the process.
    #[test]
    fn a_teardown_meets_no_segment_half_made() {
        let name = unique_name("half-made");
        let n = name.clone();
        let left = teardown_while_held("shm.create.before_stamp", &name, move || {
            // Made after the teardown: the process would be gone by then. Dropped here.
            drop(SharedMemory::create(&n, 4096));
        });
        assert!(
            !left,
            "the process would have ended with `{name}` left behind"
        );
        assert!(!exists(&name));
    }
}
