//! Shared arrays and matrices across processes: disjoint tiles written side by side,
//! locked updates that add up, claims refused while their claimant lives and taken
//! over once it is dead, handles of the wrong type or shape (or that lie) refused,
//! and the segment gone when its master ends.

use crate::common::{assert_gone, shm_path, spawn_child, Cleanup, Watchdog, PATIENCE};
use polyshm::objects::{
    ArrayHandle, MatrixHandle, ObjectError, ObjectHandle, Shape, SharedArray, SharedMatrix, Tiling,
};
use polyshm::shm::{unique_name, RemoteSemaphore, SharedMemory};
use std::time::Duration;

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
    assert_gone(&name);
    // The mapping of this process stays readable until it drops.
    assert_eq!(drone.get(4).unwrap(), 5);
    assert!(matches!(
        SharedArray::open(&handle),
        Err(ObjectError::Shm(polyshm::shm::ShmError::NotFound { .. }))
    ));
}

/// A scribbler's byte in the object header of segment `name` at `at`.
fn scribble(name: &str, at: usize, byte: u8) {
    SharedMemory::open(name)
        .unwrap()
        .write_at(at, &[byte])
        .unwrap();
}

#[test]
fn wrong_types_shapes_and_lying_handles_are_refused() {
    let name = unique_name("t-wrong");
    {
        let m = SharedMatrix::<u32>::create(&name, 6, 4, Tiling::tiles(3, 2)).unwrap();
        let honest = m.handle();
        let bytes = postcard::to_stdvec(&honest).unwrap();

        // Deserialised as another cell type: the handle's fingerprint says so.
        let as_f32: MatrixHandle<f32> = postcard::from_bytes(&bytes).unwrap();
        match SharedMatrix::open(&as_f32) {
            Err(e @ ObjectError::HandleType { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains("`u32`") && msg.contains("`f32`"), "{msg}");
            }
            other => panic!("expected HandleType, got {other:?}"),
        }
        // Same size and alignment, another type: still refused.
        let as_i32: MatrixHandle<i32> = postcard::from_bytes(&bytes).unwrap();
        assert!(matches!(
            SharedMatrix::open(&as_i32),
            Err(ObjectError::HandleType { .. })
        ));

        // A handle that lies about the cell type: the segment's header refuses it.
        let mut lie: ObjectHandle = honest.clone().into();
        lie.element = polyshm::objects::ElementType::of::<f32>();
        let lying = MatrixHandle::<f32>::from_untyped(lie).unwrap();
        match SharedMatrix::open(&lying) {
            Err(e @ ObjectError::SegmentType { .. }) => {
                assert!(e.to_string().contains("holds cells of `u32`"), "{e}")
            }
            other => panic!("expected SegmentType, got {other:?}"),
        }
        // ... about the shape.
        let mut lie: ObjectHandle = honest.clone().into();
        lie.shape = Shape::Matrix {
            rows: 60,
            cols: 4,
            tile_rows: 3,
            tile_cols: 2,
        };
        let lying = MatrixHandle::<u32>::from_untyped(lie.clone()).unwrap();
        match SharedMatrix::open(&lying) {
            Err(e @ ObjectError::SegmentShape { .. }) => {
                assert!(e.to_string().contains("holds a 6 × 4 matrix"), "{e}")
            }
            other => panic!("expected SegmentShape, got {other:?}"),
        }
        // ... about the kind.
        let mut lie: ObjectHandle = honest.clone().into();
        lie.shape = Shape::Array {
            len: 24,
            part_len: 2,
        };
        let lying = ArrayHandle::<u32>::from_untyped(lie).unwrap();
        assert!(matches!(
            SharedArray::open(&lying),
            Err(ObjectError::WrongKind {
                found: "matrix",
                wanted: "array",
                ..
            })
        ));
        // ... about the instance.
        let mut lie: ObjectHandle = honest.clone().into();
        lie.instance ^= 1;
        let lying = MatrixHandle::<u32>::from_untyped(lie).unwrap();
        assert!(matches!(
            SharedMatrix::open(&lying),
            Err(ObjectError::Instance { .. })
        ));
        // The honest handle opens, and the cache refuses liars too.
        assert_eq!(SharedMatrix::open(&honest).unwrap().rows(), 6);
        let cached = SharedMatrix::open_cached(&honest).unwrap();
        assert!(matches!(
            SharedMatrix::open_cached(&lying),
            Err(ObjectError::Instance { .. })
        ));
        assert!(std::sync::Arc::ptr_eq(
            &cached,
            &SharedMatrix::open_cached(&honest).unwrap()
        ));
        assert!(polyshm::objects::cache::forget(&name));
        drop(cached);

        // A header scribbled over: a version no polyshm writes.
        scribble(&name, 8, 99);
        match SharedMatrix::open(&honest) {
            Err(e @ ObjectError::Corrupt { .. }) => {
                assert!(e.to_string().contains("version 99"), "{e}")
            }
            other => panic!("expected Corrupt, got {other:?}"),
        }
        scribble(&name, 8, 1);
        // A header that promises more rows than the segment holds, with a handle
        // that says the same.
        scribble(&name, 24, 60);
        let lying = MatrixHandle::<u32>::from_untyped(lie_rows(&honest, 60)).unwrap();
        match SharedMatrix::open(&lying) {
            Err(e @ ObjectError::Corrupt { .. }) => {
                assert!(e.to_string().contains("needs more than"), "{e}")
            }
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }
    assert_gone(&name);

    // The same name made again: an old handle names an object that is gone.
    let first = SharedArray::<u8>::create(&name, 4, 4).unwrap();
    let old = first.handle();
    drop(first);
    let second = SharedArray::<u8>::create(&name, 4, 4).unwrap();
    assert!(matches!(
        SharedArray::open(&old),
        Err(ObjectError::Instance { .. })
    ));
    assert_eq!(SharedArray::open(&second.handle()).unwrap().len(), 4);
    drop(second);

    // Not an object at all, or too small for a header.
    for size in [4096, 16] {
        let plain = SharedMemory::create(&name, size).unwrap();
        let h = ArrayHandle::<u8>::from_untyped(old.clone().into()).unwrap();
        assert!(matches!(
            SharedArray::open(&h),
            Err(ObjectError::NotAnObject { .. })
        ));
        drop(plain);
    }
    assert_gone(&name);
}

fn lie_rows(h: &MatrixHandle<u32>, rows: usize) -> ObjectHandle {
    let mut o: ObjectHandle = h.clone().into();
    if let Shape::Matrix { rows: r, .. } = &mut o.shape {
        *r = rows;
    }
    o
}

#[test]
fn bad_shapes_and_bad_coordinates_are_errors() {
    let name = unique_name("t-bad");
    for (r, what) in [
        (
            SharedArray::<u64>::create(&name, 10, 0).map(|_| ()),
            "part of 0",
        ),
        (
            SharedMatrix::<u64>::create(&name, 4, 4, Tiling::tiles(0, 2)).map(|_| ()),
            "tile of 0",
        ),
        (
            SharedMatrix::<u8>::create(&name, usize::MAX, 2, Tiling::rows(1)).map(|_| ()),
            "too large",
        ),
        (
            SharedArray::<()>::create(&name, 10, 2).map(|_| ()),
            "zero-sized cells",
        ),
        (
            SharedArray::<u8>::from_slice(&name, &[1, 2], 0).map(|_| ()),
            "part of 0",
        ),
        (
            SharedMatrix::<u8>::from_slice(&name, 2, 2, Tiling::rows(1), &[1, 2, 3]).map(|_| ()),
            "short data",
        ),
    ] {
        assert!(
            matches!(
                r,
                Err(ObjectError::BadShape { .. } | ObjectError::Length { .. })
            ),
            "{what}: {r:?}"
        );
    }
    assert_gone(&name);
    let m = SharedMatrix::<u16>::create(&name, 3, 3, Tiling::tiles(2, 2)).unwrap();
    assert!(matches!(m.get(3, 0), Err(ObjectError::OutOfBounds { .. })));
    assert!(matches!(
        m.read_row(3),
        Err(ObjectError::OutOfBounds { .. })
    ));
    assert!(matches!(
        m.claim(4),
        Err(ObjectError::NoSuchPart { parts: 4, .. })
    ));
    let mut part = m.claim(3).unwrap();
    assert_eq!(part.tile().len(), 1);
    assert!(matches!(
        part.write(&[1, 2]),
        Err(ObjectError::Length { expected: 1, .. })
    ));
    assert!(matches!(
        part.write_row(2, &[1, 2]),
        Err(ObjectError::Length { .. })
    ));
    part.write(&[7]).unwrap();
    drop(part);
    assert_eq!(m.get(2, 2).unwrap(), 7);
    let a = SharedArray::<u16>::create(&unique_name("t-bad-a"), 5, 2).unwrap();
    assert!(matches!(a.get(5), Err(ObjectError::OutOfBounds { .. })));
    let mut p = a.claim(2).unwrap();
    assert_eq!(p.range(), 4..5);
    assert!(matches!(
        p.write_at(3, &[1, 2]),
        Err(ObjectError::OutsidePart { .. })
    ));
    assert!(matches!(p.write(&[1, 2]), Err(ObjectError::Length { .. })));
    assert!(matches!(
        a.lock().unwrap().set(4, 1),
        Err(ObjectError::CellClaimed { .. })
    ));
    p.set(4, 1).unwrap();
    drop(p);
    a.lock().unwrap().set(4, 2).unwrap();
    assert_eq!(a.to_vec().unwrap(), [0, 0, 0, 0, 2]);
}
