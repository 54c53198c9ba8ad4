//! Shared arrays and matrices across processes: disjoint tiles written side by side,
//! locked updates that add up, claims refused while their claimant lives and taken
//! over once it is dead, handles of the wrong type or shape (or that lie) refused,
//! and the segment gone when its master ends.

use crate::common::{assert_gone, shm_path, spawn_child, Cleanup, Watchdog, PATIENCE};
use polyshm::objects::{ArrayHandle, MatrixHandle, ObjectError, SharedArray, SharedMatrix, Tiling};
use polyshm::shm::{unique_name, RemoteSemaphore, SharedMemory};
use std::time::Duration;

mod refused;

/// Names the gate segment of a test to its children.
const GATE_ENV: &str = "POLYSHM_TEST_GATE";
/// How many workers share the tiles.
const WORKERS_ENV: &str = "POLYSHM_TEST_WORKERS";

/// Child roles of this module (see `common::run_child`).
pub fn child(role: &str, arg: &str, n: u64) {
    let gate = Gate::open(&std::env::var(GATE_ENV).expect("a gate"));
    match role {
        "objects-tiles" => child_tiles(&gate, arg, n),
        "objects-count" => child_count(&gate, arg, n),
        "objects-hold" => child_hold(&gate, arg, n),
        "objects-master" => child_master(&gate, arg),
        "objects-die-locked" => child_die_locked(&gate, arg),
        other => panic!("unknown child role {other:?}"),
    }
}

/// A segment of two semaphores (children say READY, the parent says GO) and a
/// mailbox for one handle.
struct Gate {
    shm: SharedMemory,
    ready: RemoteSemaphore,
    go: RemoteSemaphore,
}

const MAILBOX: usize = 128;

impl Gate {
    fn wrap(shm: SharedMemory) -> Gate {
        Gate {
            ready: RemoteSemaphore::in_segment(&shm, 0).unwrap(),
            go: RemoteSemaphore::in_segment(&shm, 64).unwrap(),
            shm,
        }
    }
    fn create(name: &str) -> Gate {
        Gate::wrap(SharedMemory::create(name, 4096).unwrap())
    }
    fn open(name: &str) -> Gate {
        Gate::wrap(SharedMemory::open(name).unwrap())
    }
    /// Child side: say ready, wait for GO.
    fn ready_then_wait(&self) {
        self.ready.signal().unwrap();
        self.go.wait_timeout(PATIENCE).unwrap();
    }
    /// Parent side: wait until `n` children are ready.
    fn await_ready(&self, n: usize) {
        for _ in 0..n {
            self.ready.wait_timeout(PATIENCE).unwrap();
        }
    }
    fn go(&self, n: usize) {
        for _ in 0..n {
            self.go.signal().unwrap();
        }
    }
    fn post(&self, bytes: &[u8]) {
        self.shm
            .write_at(MAILBOX, &(bytes.len() as u64).to_ne_bytes())
            .unwrap();
        self.shm.write_at(MAILBOX + 8, bytes).unwrap();
    }
    fn fetch(&self) -> Vec<u8> {
        let n = self.shm.copy_out::<u64>(MAILBOX, 1).unwrap()[0] as usize;
        assert!(n < 2048, "a handle of {n} bytes");
        let mut b = vec![0; n];
        self.shm.read_at(MAILBOX + 8, &mut b).unwrap();
        b
    }
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn encode<H: serde::Serialize>(h: &H) -> String {
    to_hex(&postcard::to_stdvec(h).unwrap())
}

fn decode<H: serde::de::DeserializeOwned>(s: &str) -> H {
    postcard::from_bytes(&from_hex(s)).unwrap()
}

/// What worker tiles write at (`r`, `c`): never 0, different everywhere.
fn cell_value(r: usize, c: usize) -> u64 {
    ((r as u64) << 32) | (c as u64 + 1)
}

/// Child side: write every tile `i` with `i % workers == n`, each under its claim.
fn child_tiles(gate: &Gate, arg: &str, n: u64) {
    let workers: u64 = std::env::var(WORKERS_ENV).unwrap().parse().unwrap();
    let handle: MatrixHandle<u64> = decode(arg);
    let m = SharedMatrix::open_cached(&handle).unwrap();
    assert!(!m.is_owner());
    gate.ready_then_wait();
    for tile in m.tiles().filter(|t| t.index as u64 % workers == n) {
        let mut part = m.claim(tile.index).unwrap_or_else(|e| panic!("{e}"));
        for r in tile.row_range() {
            let row: Vec<u64> = tile.col_range().map(|c| cell_value(r, c)).collect();
            part.write_row(r, &row).unwrap();
            polyshm::sys::yield_now(); // let the other writers in between rows
        }
        assert_eq!(part.read().unwrap().len(), tile.len());
    }
    // The cache answers the same mapping.
    let again = SharedMatrix::open_cached(&handle).unwrap();
    assert!(std::sync::Arc::ptr_eq(&m, &again));
}

/// Child side: `n` increments of cell 0 under the lock.
fn child_count(gate: &Gate, arg: &str, n: u64) {
    let a = SharedArray::<u64>::open(&decode::<ArrayHandle<u64>>(arg)).unwrap();
    gate.ready_then_wait();
    for i in 0..n {
        let locked = a.lock().unwrap_or_else(|e| panic!("{e}"));
        let v = locked.get(0).unwrap();
        if i % 64 == 0 {
            polyshm::sys::yield_now(); // without the lock, increments would be lost
        }
        locked.set(0, v + 1).unwrap();
    }
}

/// Child side: claim tile `n`, fill it with 9s, say READY, release on GO (or die).
fn child_hold(gate: &Gate, arg: &str, n: u64) {
    let m = SharedMatrix::<u64>::open(&decode(arg)).unwrap();
    let mut part = m.claim(n as usize).unwrap_or_else(|e| panic!("{e}"));
    part.fill(9).unwrap();
    gate.ready_then_wait();
    drop(part);
}

/// Child side: take the array's lock, half-update, say READY and wait to be killed.
fn child_die_locked(gate: &Gate, arg: &str) {
    let a = SharedArray::<u64>::open(&decode(arg)).unwrap();
    let locked = a.lock().unwrap_or_else(|e| panic!("{e}"));
    locked.set(0, 41).unwrap();
    gate.ready_then_wait();
    drop(locked);
}

/// Child side: the master of array `name`: post its handle, say READY, end on GO.
fn child_master(gate: &Gate, name: &str) {
    let a = SharedArray::from_slice(name, &[1u32, 2, 3, 4, 5], 2).unwrap();
    assert!(a.is_owner());
    gate.post(&postcard::to_stdvec(&a.handle()).unwrap());
    gate.ready_then_wait();
}

#[test]
fn processes_write_disjoint_tiles_side_by_side() {
    const WORKERS: usize = 4;
    let (name, gate_name) = (unique_name("t-tiles"), unique_name("t-gate"));
    let dog = Watchdog::new("disjoint tiles", Duration::from_secs(120));
    dog.segment(&name);
    dog.segment(&gate_name);
    {
        let gate = Gate::create(&gate_name);
        // 70 × 50 in 16 × 16 tiles: 5 × 4 tiles, those at the edges clipped.
        let m = SharedMatrix::<u64>::create(&name, 70, 50, Tiling::tiles(16, 16)).unwrap();
        assert_eq!(m.parts(), 20);
        let workers = WORKERS.to_string();
        let mut kids: Vec<_> = (0..WORKERS)
            .map(|i| {
                spawn_child(
                    "objects-tiles",
                    &encode(&m.handle()),
                    i as u64,
                    &[(GATE_ENV, &gate_name), (WORKERS_ENV, &workers)],
                )
            })
            .collect();
        for k in &kids {
            dog.child(k);
        }
        gate.await_ready(WORKERS);
        gate.go(WORKERS);
        for k in &mut kids {
            k.expect_success();
        }
        let cells = m.to_vec().unwrap();
        for r in 0..m.rows() {
            for c in 0..m.cols() {
                assert_eq!(cells[r * m.cols() + c], cell_value(r, c), "cell ({r}, {c})");
            }
            assert_eq!(m.read_row(r).unwrap(), cells[r * 50..(r + 1) * 50]);
        }
        let last = m.tile(19).unwrap();
        assert_eq!((last.rows, last.cols), (6, 2));
        assert_eq!(
            m.read_tile(&last).unwrap(),
            [
                cell_value(64, 48),
                cell_value(64, 49),
                cell_value(65, 48),
                cell_value(65, 49),
                cell_value(66, 48),
                cell_value(66, 49),
                cell_value(67, 48),
                cell_value(67, 49),
                cell_value(68, 48),
                cell_value(68, 49),
                cell_value(69, 48),
                cell_value(69, 49),
            ]
        );
        // Every claim was dropped: the master may claim any tile now.
        for t in m.tiles() {
            assert_eq!(m.claimant(t.index).unwrap(), None);
            assert_eq!(m.claim(t.index).unwrap().taken_from(), None);
        }
    }
    assert_gone(&name);
}

#[test]
fn locked_increments_from_several_processes_add_up() {
    const KIDS: usize = 4;
    const EACH: u64 = 2_000;
    let (name, gate_name) = (unique_name("t-locked"), unique_name("t-gate"));
    let dog = Watchdog::new("locked increments", Duration::from_secs(120));
    dog.segment(&name);
    dog.segment(&gate_name);
    {
        let gate = Gate::create(&gate_name);
        let a = SharedArray::<u64>::create(&name, 8, 4).unwrap();
        let mut kids: Vec<_> = (0..KIDS)
            .map(|_| {
                let h = encode(&a.handle());
                spawn_child("objects-count", &h, EACH, &[(GATE_ENV, &gate_name)])
            })
            .collect();
        for k in &kids {
            dog.child(k);
        }
        gate.await_ready(KIDS);
        gate.go(KIDS);
        // The master counts too, on cell 1 and cell 0 alike.
        for _ in 0..EACH {
            let locked = a.lock().unwrap_or_else(|e| panic!("{e}"));
            locked.update(0, |v| v + 1).unwrap();
            locked.update(1, |v| v + 1).unwrap();
        }
        for k in &mut kids {
            k.expect_success();
        }
        assert_eq!(a.get(0).unwrap(), EACH * (KIDS as u64 + 1));
        assert_eq!(a.to_vec().unwrap()[1..], [EACH, 0, 0, 0, 0, 0, 0]);
    }
    assert_gone(&name);
}

#[test]
fn a_live_claim_is_refused_and_a_dead_claimants_part_is_taken_over() {
    let (name, gate_name) = (unique_name("t-claims"), unique_name("t-gate"));
    let dog = Watchdog::new("claims", Duration::from_secs(60));
    dog.segment(&name);
    dog.segment(&gate_name);
    {
        let gate = Gate::create(&gate_name);
        let m = SharedMatrix::<u64>::create(&name, 8, 8, Tiling::rows(2)).unwrap();
        assert_eq!(m.parts(), 4);
        let h = encode(&m.handle());

        // A live claimant: refused to others, released on its drop.
        let env = [(GATE_ENV, gate_name.as_str())];
        let mut holder = spawn_child("objects-hold", &h, 2, &env);
        dog.child(&holder);
        gate.await_ready(1);
        let pid = holder.pid();
        assert_eq!(m.claimant(2).unwrap().map(|p| p.pid), Some(pid));
        match m.claim(2) {
            Err(e @ ObjectError::Claimed { part: 2, by, .. }) => {
                assert_eq!(by.pid, pid);
                assert!(e.to_string().contains("claim another part"), "{e}");
            }
            other => panic!("expected Claimed, got {other:?}"),
        }
        // The lock does not write into a claimed part either.
        let locked = m.lock().unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            locked.set(4, 0, 1),
            Err(ObjectError::CellClaimed {
                part: 2,
                cell: 32,
                ..
            })
        ));
        locked.set(0, 0, 1).unwrap(); // part 0: no one's
        drop(locked);
        gate.go(1);
        holder.expect_success();
        assert_eq!(m.claimant(2).unwrap(), None);
        let part = m.claim(2).unwrap();
        assert_eq!(part.taken_from(), None, "released, not abandoned");
        assert_eq!(part.read().unwrap(), [9; 16]);
        drop(part);

        // A claimant killed while it holds its part: taken over, and named.
        let mut doomed = spawn_child("objects-hold", &h, 3, &env);
        dog.child(&doomed);
        gate.await_ready(1);
        let pid = doomed.pid();
        assert!(matches!(m.claim(3), Err(ObjectError::Claimed { .. })));
        doomed.kill9();
        doomed.wait();
        assert_eq!(
            m.claimant(3).unwrap(),
            None,
            "a dead claimant holds nothing"
        );
        let mut part = m.claim(3).unwrap();
        assert_eq!(part.taken_from().map(|p| p.pid), Some(pid));
        assert_eq!(part.get(6, 7).unwrap(), 9, "what the dead claimant wrote");
        part.fill(3).unwrap();
        assert!(matches!(
            part.set(0, 0, 1),
            Err(ObjectError::OutsidePart { part: 3, .. })
        ));
        drop(part);
        assert_eq!(m.read_row(7).unwrap(), [3; 8]);
    }
    assert_gone(&name);
}

#[test]
fn the_segment_goes_when_its_master_ends_and_not_before() {
    let (name, gate_name) = (unique_name("t-master"), unique_name("t-gate"));
    let dog = Watchdog::new("master ends", Duration::from_secs(60));
    dog.segment(&name);
    dog.segment(&gate_name);
    let mut cleanup = Cleanup::default();
    cleanup.segment(&name);
    let gate = Gate::create(&gate_name);
    let mut master = spawn_child("objects-master", &name, 0, &[(GATE_ENV, &gate_name)]);
    dog.child(&master);
    gate.await_ready(1);
    let handle: ArrayHandle<u32> = postcard::from_bytes(&gate.fetch()).unwrap();
    {
        // A drone's handle only unmaps.
        let drone = SharedArray::open(&handle).unwrap();
        assert!(!drone.is_owner());
        assert_eq!(drone.to_vec().unwrap(), [1, 2, 3, 4, 5]);
    }
    let drone = SharedArray::open(&handle).unwrap();
    if let Some(path) = shm_path(&name) {
        assert!(
            path.exists(),
            "{} is there while the master lives",
            path.display()
        );
    }
    gate.go(1);
    master.expect_success();
    // The mapping of this process stays readable until it drops.
    assert_eq!(drone.get(4).unwrap(), 5);
    if polyshm::sys::SEGMENTS_PERSIST {
        // The master removed the name (where a name lives as long as some process
        // maps the segment, Windows, it goes with the drone's handle below).
        assert_gone(&name);
        assert!(matches!(
            SharedArray::open(&handle),
            Err(ObjectError::Shm(polyshm::shm::ShmError::NotFound { .. }))
        ));
    }
    drop(drone);
    assert_gone(&name);
}

/// A holder that dies under the lock is reported to the next `lock`, even when a
/// claim took the lock first (claims take it for a moment and keep the news).
#[test]
fn a_death_under_the_lock_is_reported_even_after_a_claim() {
    let (name, gate_name) = (unique_name("t-died"), unique_name("t-gate"));
    let dog = Watchdog::new("death under the lock", Duration::from_secs(60));
    dog.segment(&name);
    dog.segment(&gate_name);
    {
        let gate = Gate::create(&gate_name);
        let a = SharedArray::<u64>::create(&name, 4, 2).unwrap();
        let env = [(GATE_ENV, gate_name.as_str())];
        let mut doomed = spawn_child("objects-die-locked", &encode(&a.handle()), 0, &env);
        dog.child(&doomed);
        gate.await_ready(1);
        let pid = doomed.pid();
        doomed.kill9();
        doomed.wait();
        // The claim takes the lock from the dead holder ...
        drop(a.claim(1).unwrap());
        // ... and the next holder hears of the death, once.
        match a.lock() {
            Err(died) => {
                assert_eq!(died.previous().pid, pid);
                let locked = died.into_inner();
                assert_eq!(locked.get(0).unwrap(), 41, "half-written under the lock");
                locked.set(0, 0).unwrap();
            }
            Ok(_) => panic!("the death of the lock's holder went unreported"),
        }
        drop(a.lock().unwrap_or_else(|e| panic!("reported twice: {e}")));
    }
    assert_gone(&name);
}
