//! Tests of handing tasks to drones.

use super::*;
use std::sync::Arc;
use std::time::Duration;

/// Callers take the first free slot (drone 0 first); with every slot taken a caller
/// waits, and takes the slot given back; a cancel ends its wait.
#[test]
fn a_caller_waits_for_a_slot_given_back_or_for_its_cancel() {
    let idle = Arc::new(IdleDrones::new());
    let slots: Arc<Vec<Mutex<()>>> = Arc::new((0..2).map(|_| Mutex::new(())).collect());
    let (a, ga) = idle.take(&slots, "t", None).unwrap();
    let (b, gb) = idle.take(&slots, "t", None).unwrap();
    assert_eq!((a, b), (0, 1));
    let (i2, s2) = (idle.clone(), slots.clone());
    let waiter = std::thread::spawn(move || {
        let (i, _g) = i2.take(&s2, "t", None).unwrap();
        i
    });
    // Until the waiter counts itself, nothing is given back.
    while idle.waiting.load(Ordering::SeqCst) == 0 {
        assert!(
            !waiter.is_finished(),
            "the waiter took a slot held by another"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    drop(gb);
    idle.put();
    assert_eq!(waiter.join().unwrap(), 1, "the slot given back");
    assert_eq!(idle.waiting.load(Ordering::SeqCst), 0);

    // Every slot taken again; a cancel ends the wait.
    let gb = slots[1].lock().unwrap();
    let cancel = Arc::new(AtomicBool::new(false));
    let (i2, s2, c2) = (idle.clone(), slots.clone(), cancel.clone());
    let waiter = std::thread::spawn(move || i2.take(&s2, "t", Some(&c2)).map(|(i, _)| i));
    while idle.waiting.load(Ordering::SeqCst) == 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
    cancel.store(true, Ordering::Release);
    idle.put();
    let e = waiter.join().unwrap().unwrap_err();
    assert!(matches!(e, TeamError::Cancelled { .. }), "{e}");
    // A cancelled caller does not even look.
    drop((ga, gb));
    assert!(idle.take(&slots, "t", Some(&cancel)).is_err());
    assert_eq!(idle.take(&slots, "t", None).unwrap().0, 0);
}
