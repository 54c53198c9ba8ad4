//! The mailbox's own tests: names, sizes and every field the peer may scribble on.

use super::*;
use crate::team::protocol::Head;

/// A task name travels in the descriptor (the `to_drone` semaphore's note) up to 32
/// bytes, in the name field past that; either way the drone reads the name the
/// master wrote, and a long name after a short one (or the reverse) leaves nothing
/// of the other behind.
#[test]
fn short_and_long_task_names_arrive_whole() {
    let mut master = Mailbox::create(WaitStrategy::Block).unwrap();
    let mut drone = Mailbox::open(master.name(), WaitStrategy::Block).unwrap();
    let long = "n".repeat(crate::team::protocol::MAX_NAME);
    let names = [
        "t".to_string(),
        "s".repeat(layout::SHORT_NAME),
        "l".repeat(layout::SHORT_NAME + 1),
        long,
        "short.again".to_string(),
    ];
    // One head on each side, reused as the team reuses them: no name is left
    // behind in the allocation a longer one made.
    let mut sent = Head::reply(0, crate::team::protocol::Status::Ok);
    let mut h = Head::reply(0, crate::team::protocol::Status::Ok);
    for (seq, name) in names.iter().enumerate() {
        sent.set_task(seq as u64, name);
        assert_eq!(sent, Head::task(seq as u64, name));
        master.write_request(&sent, &[7]).unwrap();
        let len = drone.read_request_into(&mut h).unwrap();
        assert_eq!(h, Head::task(seq as u64, name));
        assert_eq!(len, 1);
    }
    // A long name's bytes scribbled into something that is not UTF-8.
    master
        .write_request(&Head::task(9, &"x".repeat(60)), &[])
        .unwrap();
    master.ctl.write_at(layout::NAME, &[0xff]).unwrap();
    assert!(matches!(drone.read_request(), Err(LinkError::Protocol(_))));
}

/// A segment that starts like a mailbox but is too small to hold one is refused
/// before any field past its end could be touched.
#[test]
fn a_segment_too_small_for_a_mailbox_is_refused() {
    let small =
        SharedMemory::create(&unique_name("small-mbx"), INLINE + INLINE_CAP + PAGE).unwrap();
    let ident = Ident {
        magic: MAGIC,
        layout: LAYOUT,
    };
    IDENT.store(&small, &ident).unwrap();
    let e = Mailbox::open(small.name(), WaitStrategy::Block).unwrap_err();
    assert!(e.to_string().contains("a mailbox needs"), "{e}");
}

/// Whatever the peer scribbles into the mailbox comes back as an error, never a
/// crash or a read past an area.
#[test]
fn untrusted_fields_are_checked() {
    let mut master = Mailbox::create(WaitStrategy::Block).unwrap();
    let mut drone = Mailbox::open(master.name(), WaitStrategy::Block).unwrap();
    master
        .write_request(&Head::task(1, "t"), &[1, 2, 3])
        .unwrap();
    let (h, len) = drone.read_request().unwrap();
    assert_eq!((h.name.as_str(), h.seq, len), ("t", 1, 3));
    assert_eq!(drone.request_and_result(len).unwrap().0, [1, 2, 3]);

    // A length past the area.
    let mut desc = master.to_drone.read_desc();
    desc.len = u64::MAX;
    master.to_drone.write_desc(&desc);
    assert!(matches!(drone.read_request(), Err(LinkError::Protocol(_))));
    // An unknown kind, a name too long.
    desc.len = 3;
    desc.kind = 99;
    master.to_drone.write_desc(&desc);
    assert!(matches!(drone.read_request(), Err(LinkError::Protocol(_))));
    desc.kind = 1;
    desc.name_len = u16::MAX;
    master.to_drone.write_desc(&desc);
    assert!(matches!(drone.read_request(), Err(LinkError::Protocol(_))));
    // A result length past the area, seen by the master.
    drone
        .write_reply(
            &Head::reply(1, crate::team::protocol::Status::Ok),
            INLINE_CAP + 1,
        )
        .unwrap();
    assert!(master.read_reply().is_err());
    assert!(master.reply_view(INLINE_CAP + 1, false).is_err());

    // Growth: the drone follows to the new segment; then a forged area descriptor
    // (a new generation naming a segment too small) is refused.
    master.grow(1 << 20, 1 << 20).unwrap();
    drone.refresh().unwrap();
    assert_eq!(drone.res_cap(), 1 << 20);
    // What the master lends as a whole area (an archive's loan) is the grown one.
    assert_eq!((master.req_cap(), drone.req_cap()), (1 << 20, 1 << 20));
    let small = SharedMemory::create(&unique_name("forged"), 4096).unwrap();
    let mut forged = Areas {
        gen: 99,
        req_cap: 1 << 40,
        res_cap: 1 << 40,
        name_len: small.name().len() as u8,
        _pad: [0; 7],
        name: [0; DATA_NAME_MAX],
    };
    forged.name[..small.name().len()].copy_from_slice(small.name().as_bytes());
    AREAS.store(&master.ctl, &forged).unwrap();
    assert!(matches!(drone.refresh(), Err(LinkError::Protocol(_))));
    forged.name_len = 200;
    AREAS.store(&master.ctl, &forged).unwrap();
    assert!(matches!(drone.refresh(), Err(LinkError::Protocol(_))));
    // A hello length past its area.
    let mut hello = HELLO.load(&master.ctl).unwrap();
    hello.len = u32::MAX;
    HELLO.store(&master.ctl, &hello).unwrap();
    assert!(drone.read_hello().is_err());
}
