//! The header's tests: publication against snapshots, and each check of `parse` at
//! its boundary.

use super::*;

fn good() -> Vec<u8> {
    let h = Header {
        version: LAYOUT_VERSION,
        data_offset: 128,
        size: 100,
        owner: ProcessId {
            pid: 7,
            start_time: 9,
        },
        nonce: 5,
        flags: FLAG_PERSISTENT,
    };
    let mut b = h.encode_body().to_vec();
    b[..8].copy_from_slice(&MAGIC);
    b.resize(128, 0);
    b
}

/// The creator's field-by-field publication and the reader's snapshot agree, on a
/// heap buffer (runs under miri): before the magic the reader sees an unpublished
/// segment with its stamped owner, after it the whole header.
#[test]
fn publish_then_snapshot_round_trips() {
    let h = Header {
        version: LAYOUT_VERSION,
        data_offset: DATA_OFFSET as u32,
        size: 100,
        owner: ProcessId {
            pid: 4242,
            start_time: 77,
        },
        nonce: 0x1234_5678_9abc_def0,
        flags: 0,
    };
    let mut buf = [0u64; DATA_OFFSET / 8 + 16];
    let base = buf.as_mut_ptr().cast::<u8>();
    let total = std::mem::size_of_val(&buf);
    let mut seen_between = None;
    // SAFETY: `buf` is 8-aligned, longer than DATA_OFFSET, and only reached through
    // `base` until the end of the test.
    unsafe {
        publish(base, &h, || {
            let (b, n) = snapshot(base, total);
            seen_between = Some(Seen::parse("x", &b[..n], total).unwrap());
        })
    };
    assert_eq!(
        seen_between,
        Some(Seen::Unpublished {
            owner: Some(h.owner)
        })
    );
    // SAFETY: as above.
    let (b, n) = unsafe { snapshot(base, total) };
    assert_eq!(Seen::parse("x", &b[..n], total).unwrap(), Seen::Ready(h));
    // A mapping too short for the fields leaves them zero, and is refused.
    // SAFETY: as above; 7 bytes is within the buffer.
    let (b, n) = unsafe { snapshot(base, 7) };
    assert_eq!(n, 7);
    assert!(matches!(
        Seen::parse("x", &b[..n], 7),
        Err(ShmError::NotPolyshm { .. })
    ));
    // Shorter than the header words, yet long enough for a version: the magic and
    // the version still tell a segment cut short from one of another layout.
    // SAFETY: as above; 20 bytes are within the buffer.
    let (b, n) = unsafe { snapshot(base, 20) };
    assert!(matches!(
        Seen::parse("x", &b[..n], 20),
        Err(ShmError::Truncated { actual: 20, .. })
    ));
    // SAFETY: the version word lies in the buffer, 4-aligned; no reference covers it.
    unsafe { base.add(8).cast::<u32>().write(1) };
    // SAFETY: as above.
    let (b, n) = unsafe { snapshot(base, 20) };
    assert!(matches!(
        Seen::parse("x", &b[..n], 20),
        Err(ShmError::IncompatibleVersion { found: 1, .. })
    ));
    // Unstamped and unpublished: no owner.
    let zero = [0u8; DATA_OFFSET];
    assert_eq!(
        Seen::parse("x", &zero, total).unwrap(),
        Seen::Unpublished { owner: None }
    );
}

#[test]
fn round_trip_and_every_rejection() {
    let b = good();
    let h = Header::parse("x", &b, 228).unwrap().unwrap();
    assert_eq!(
        (h.size, h.owner.pid, h.owner.start_time, h.nonce, h.flags),
        (100, 7, 9, 5, FLAG_PERSISTENT)
    );
    assert!(matches!(
        Header::parse("x", &b, 200),
        Err(ShmError::Truncated {
            needed: 228,
            actual: 200,
            ..
        })
    ));
    let mut foreign = b.clone();
    foreign[0] = b'X';
    assert!(matches!(
        Header::parse("x", &foreign, 228),
        Err(ShmError::NotPolyshm { .. })
    ));
    // Layout version 1 (its lock words mean something else) and a future one.
    for other in [1u8, 3] {
        let mut v = b.clone();
        v[8] = other;
        assert!(matches!(
            Header::parse("x", &v, 228),
            Err(ShmError::IncompatibleVersion { found, .. }) if found == u32::from(other)
        ));
    }
    let mut off = b.clone();
    off[12] = 100;
    assert!(matches!(
        Header::parse("x", &off, 228),
        Err(ShmError::Corrupt { .. })
    ));
    let mut huge = b.clone();
    huge[16..24].copy_from_slice(&u64::MAX.to_ne_bytes());
    assert!(matches!(
        Header::parse("x", &huge, 228),
        Err(ShmError::Corrupt { .. })
    ));
    assert!(matches!(Header::parse("x", &[0; 128], 228), Ok(None)));
    assert!(matches!(
        Header::parse("x", &b[..4], 4),
        Err(ShmError::NotPolyshm { .. })
    ));
}

/// Each length check of `parse` rejects at its boundary exactly: one byte short is
/// refused with the error of that check, the boundary itself passes on to the next.
#[test]
fn parse_length_checks_reject_at_each_boundary_exactly() {
    // Fewer than 8 bytes: not polyshm; 8 bytes of magic: a truncated polyshm header.
    let b = good();
    assert!(matches!(
        Header::parse("x", &b[..7], 7),
        Err(ShmError::NotPolyshm { .. })
    ));
    assert!(matches!(
        Header::parse("x", &b[..8], 8),
        Err(ShmError::Truncated {
            needed: 128,
            actual: 8,
            ..
        })
    ));
    // 15 bytes (magic and a wrong version): truncated before the version is read;
    // 16 bytes: the version is read, and refused.
    let mut v1 = good();
    v1[8..12].copy_from_slice(&1u32.to_ne_bytes());
    assert!(matches!(
        Header::parse("x", &v1[..15], 15),
        Err(ShmError::Truncated { actual: 15, .. })
    ));
    assert!(matches!(
        Header::parse("x", &v1[..16], 16),
        Err(ShmError::IncompatibleVersion { found: 1, .. })
    ));
    // 127 bytes of a good header: truncated; 128 (with the data): accepted.
    assert!(matches!(
        Header::parse("x", &b[..127], 127),
        Err(ShmError::Truncated {
            needed: 128,
            actual: 127,
            ..
        })
    ));
    assert!(matches!(Header::parse("x", &b, 228), Ok(Some(_))));
    // The segment must hold data_offset + size bytes: one fewer is truncated.
    assert!(matches!(
        Header::parse("x", &b, 227),
        Err(ShmError::Truncated {
            needed: 228,
            actual: 227,
            ..
        })
    ));
}

/// All-zero first bytes mean "being made" only in a segment long enough for a
/// header (128 bytes); a shorter one is not polyshm.
#[test]
fn zero_magic_is_unpublished_only_from_128_bytes() {
    let zero = [0u8; DATA_OFFSET];
    assert!(matches!(Header::parse("x", &zero, 128), Ok(None)));
    assert!(matches!(
        Header::parse("x", &zero[..127], 127),
        Err(ShmError::NotPolyshm { .. })
    ));
    // A foreign first word is not polyshm whatever the length.
    let mut foreign = zero;
    foreign[3] = 1;
    assert!(matches!(
        Header::parse("x", &foreign, 4096),
        Err(ShmError::NotPolyshm { .. })
    ));
}

/// The data offset must be at least 128 and a multiple of 64: 64 (a multiple, too
/// small) and 129 (large enough, not a multiple) are corrupt, 192 is accepted and
/// read back.
#[test]
fn data_offset_bounds() {
    let with_offset = |off: u32| {
        let mut b = good();
        b[12..16].copy_from_slice(&off.to_ne_bytes());
        b
    };
    for bad in [0u32, 64, 127, 129, 160] {
        assert!(
            matches!(
                Header::parse("x", &with_offset(bad), 4096),
                Err(ShmError::Corrupt { .. })
            ),
            "data offset {bad} accepted"
        );
    }
    let h = Header::parse("x", &with_offset(192), 292).unwrap().unwrap();
    assert_eq!((h.data_offset, h.size), (192, 100));
    assert!(matches!(
        Header::parse("x", &with_offset(192), 291),
        Err(ShmError::Truncated { needed: 292, .. })
    ));
}

/// Two draws differ (a constant would make every nonce the same, and a segment
/// re-created under the same name indistinguishable from the old one).
#[test]
fn random_u64_varies() {
    let draws: Vec<u64> = (0..4).map(|_| random_u64()).collect();
    assert!(
        draws.windows(2).all(|w| w[0] != w[1]),
        "repeated draws: {draws:?}"
    );
    assert!(draws.iter().all(|&d| d > 1), "degenerate draws: {draws:?}");
}
