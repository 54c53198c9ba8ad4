//! Shared objects refused: handles of the wrong cell type, shape, kind or instance,
//! handles that lie, scribbled headers, bad shapes and coordinates.

use crate::common::assert_gone;
use polyshm::objects::{
    ArrayHandle, MatrixHandle, ObjectError, ObjectHandle, Shape, SharedArray, SharedMatrix, Tiling,
};
use polyshm::shm::{unique_name, SharedMemory};

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
