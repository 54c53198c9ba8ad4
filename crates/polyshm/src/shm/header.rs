//! The header at the start of every polyshm segment (layout version 2).
//!
//! All integers are in the machine's byte order (little-endian on every platform
//! polyshm supports). A program in another language finds the data like this: check
//! the magic, check the version, read `data_offset` (u32 at byte 12) and `size`
//! (u64 at byte 16); the data is `size` bytes from `data_offset`.
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic `b"POLYSHM\0"`, published last by the creator (one 8-byte release store) |
//! | 8 | 4 | layout version, `2` |
//! | 12 | 4 | `data_offset`: where the data region starts (128 in versions 1 and 2; always a multiple of 64) |
//! | 16 | 8 | `size`: bytes in the data region, as requested at creation |
//! | 24 | 4 | owner pid |
//! | 28 | 4 | flags: bit 0 = [`FLAG_PERSISTENT`] (kept until removed by name; `clean` leaves it); other bits zero, ignored when read |
//! | 32 | 8 | owner start time (Linux: clock ticks since boot, field 22 of `/proc/<pid>/stat`; Windows: creation time in 100 ns units since 1601; macOS: µs since 1970) |
//! | 40 | 8 | instance nonce (random, tells two segments of the same name apart) |
//! | 48 | 16 | reserved, zero |
//! | 64 | 64 | the access lock: a [`MutexState`] (lock word = holder pid + tag, its pid part 0 when free) |
//! | 128 | `size` | data |
//!
//! **Publication.** The creator makes the segment (`shm_open(O_EXCL)`, then sizes
//! it: until then it is 0 bytes long), then *stamps* it (owner start time, then owner
//! pid with a release store: a reader that sees the pid sees the start time), then
//! writes the rest of the body, and *publishes* it last by storing the magic with
//! release ordering. A reader loads the magic with acquire ordering before it reads
//! any other field, so a header with the magic is whole. Every field is read and
//! written as an aligned atomic of its own size (other processes may write the flags
//! word and the lock meanwhile).
//!
//! A segment that is 0 bytes long, or whose magic is still zero, is being made (or its
//! creator died mid-way): opening it waits a bounded time, then answers
//! [`ShmError::NotReady`]. `clean` removes such a segment once its stamped creator is
//! dead, or, unstamped, once it has not changed for [`UNFINISHED_GRACE`].

use super::ShmError;
#[cfg_attr(loom, allow(unused_imports))] // used by the size check below, off under loom
use crate::sync::MutexState;
use polyshm_sys::ProcessId;

/// The first eight bytes of every polyshm segment.
pub const MAGIC: [u8; 8] = *b"POLYSHM\0";
/// Layout version this build writes and reads. Version 2: the access lock's words
/// hold a 64-bit lock word (holder pid + tag) and a seqlocked holder record, which a
/// version-1 build would misread; the byte offsets are those of version 1.
pub const LAYOUT_VERSION: u32 = 2;
/// Where the data region starts (layout versions 1 and 2).
pub const DATA_OFFSET: usize = 128;
/// Offset of the access lock.
pub const LOCK_OFFSET: usize = 64;
/// Offset of the flags word (a u32, changed atomically after creation).
pub const FLAGS_OFFSET: usize = 28;
/// Flag bit: the segment was made to outlive its creator (`polyshm shm create`, or
/// [`SharedMemory::persist`](super::SharedMemory::persist)). It stays until removed by
/// name (`polyshm shm rm`, [`admin::remove`](super::admin::remove)); `clean` leaves it
/// alone although its creator is dead.
pub const FLAG_PERSISTENT: u32 = 1;

/// Offset of the owner pid (u32), the stamp a creator writes first.
pub const OWNER_PID_OFFSET: usize = 24;
/// Offset of the owner start time (u64).
pub const OWNER_START_OFFSET: usize = 32;
/// How long a segment with no header (0 bytes long, or all zero) must have stayed
/// unchanged before `clean` takes its creator for dead: creators stamp their pid
/// within microseconds of sizing the segment.
pub const UNFINISHED_GRACE: std::time::Duration = std::time::Duration::from_secs(30);
/// How long `open` waits for a creator to publish its header before answering
/// [`ShmError::NotReady`].
pub const READY_PATIENCE: std::time::Duration = std::time::Duration::from_secs(1);

// (Under `--cfg loom` the sync types hold loom's atomics and are larger.)
#[cfg(not(loom))]
const _: () = assert!(LOCK_OFFSET + std::mem::size_of::<MutexState>() == DATA_OFFSET);

/// The magic as the one u64 the creator stores last.
pub(crate) const MAGIC_WORD: u64 = u64::from_ne_bytes(MAGIC);

/// Where each header field lies and how wide it is, in the order a reader loads them
/// (the magic first, the owner pid before its start time).
const FIELDS: [(usize, usize); 10] = [
    (0, 8),
    (8, 4),
    (12, 4),
    (16, 8),
    (OWNER_PID_OFFSET, 4),
    (FLAGS_OFFSET, 4),
    (OWNER_START_OFFSET, 8),
    (40, 8),
    (48, 8),
    (56, 8),
];

/// Copy the header bytes (0..64) of a mapping of `len` bytes at `base` into a local
/// buffer, each field by an atomic load of its own width: the magic with acquire
/// ordering first, then the rest (the owner pid with acquire, before its start time).
/// Fields past `len` stay zero. The bytes are untrusted: parse them with
/// [`Header::parse`]. Answers the buffer and how many of its bytes the mapping holds.
///
/// # Safety
/// `base` must be 8-byte aligned and point to `len` bytes that stay mapped during the
/// call; other processes may write them, but only with atomics or plain stores (no
/// Rust reference of this process may cover them).
pub(crate) unsafe fn snapshot(base: *const u8, len: usize) -> ([u8; DATA_OFFSET], usize) {
    use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
    let mut b = [0u8; DATA_OFFSET];
    for (at, width) in FIELDS {
        if at + width > len {
            continue;
        }
        let order = if at == 0 || at == OWNER_PID_OFFSET {
            Ordering::Acquire
        } else {
            Ordering::Relaxed
        };
        // SAFETY: `at + width <= len` bytes are mapped (caller); `at` is a multiple of
        // `width` and `base` is 8-aligned, so the atomic is aligned; atomics accept any
        // bytes, and every polyshm writer of these bytes uses atomics of the same width.
        unsafe {
            if width == 8 {
                let v = (*base.add(at).cast::<AtomicU64>()).load(order);
                b[at..at + 8].copy_from_slice(&v.to_ne_bytes());
            } else {
                let v = (*base.add(at).cast::<AtomicU32>()).load(order);
                b[at..at + 4].copy_from_slice(&v.to_ne_bytes());
            }
        }
    }
    (b, len.min(DATA_OFFSET))
}

/// Write header `h` into a fresh mapping at `base`, in publication order: the stamp
/// (owner start time, then pid with release), the body, `between` (the caller's
/// initialisation of the access lock, and a fault point), then the magic with release.
///
/// # Safety
/// `base` must be 8-byte aligned and point to at least [`DATA_OFFSET`] mapped bytes
/// that no Rust reference of this process covers.
pub(crate) unsafe fn publish(base: *mut u8, h: &Header, between: impl FnOnce()) {
    use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
    let w32 = |at: usize, v: u32, o: Ordering| {
        // SAFETY: `at` is a multiple of 4 below DATA_OFFSET and `base` is 8-aligned
        // with DATA_OFFSET mapped bytes (caller): an aligned atomic in the mapping,
        // which no reference of this process covers.
        unsafe { (*base.add(at).cast::<AtomicU32>()).store(v, o) }
    };
    let w64 = |at: usize, v: u64, o: Ordering| {
        // SAFETY: as for `w32`, with `at` a multiple of 8.
        unsafe { (*base.add(at).cast::<AtomicU64>()).store(v, o) }
    };
    w64(OWNER_START_OFFSET, h.owner.start_time, Ordering::Relaxed);
    w32(OWNER_PID_OFFSET, h.owner.pid, Ordering::Release);
    w32(8, h.version, Ordering::Relaxed);
    w32(12, h.data_offset, Ordering::Relaxed);
    w64(16, h.size, Ordering::Relaxed);
    w32(FLAGS_OFFSET, h.flags, Ordering::Relaxed);
    w64(40, h.nonce, Ordering::Relaxed);
    between();
    w64(0, MAGIC_WORD, Ordering::Release);
}

/// What a look at a segment's header found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Seen {
    /// A published, well-formed header.
    Ready(Header),
    /// Not published yet: the creator is mid-way or died. `owner` when it stamped.
    Unpublished { owner: Option<ProcessId> },
}

impl Seen {
    /// Parse a [`snapshot`] of a mapping of `total` bytes.
    pub(crate) fn parse(name: &str, bytes: &[u8], total: usize) -> Result<Seen, ShmError> {
        match Header::parse(name, bytes, total)? {
            Some(h) => Ok(Seen::Ready(h)),
            None => {
                let pid = u32_at(bytes, OWNER_PID_OFFSET);
                Ok(Seen::Unpublished {
                    owner: (pid != 0).then(|| ProcessId {
                        pid,
                        start_time: u64_at(bytes, OWNER_START_OFFSET),
                    }),
                })
            }
        }
    }
}

/// A header as read from (untrusted) shared memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Layout version.
    pub version: u32,
    /// Start of the data region.
    pub data_offset: u32,
    /// Size of the data region.
    pub size: u64,
    /// Who created the segment.
    pub owner: ProcessId,
    /// Random instance id.
    pub nonce: u64,
    /// Flag bits ([`FLAG_PERSISTENT`]).
    pub flags: u32,
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_ne_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

impl Header {
    /// Encode everything but the magic (which the creator writes last), as bytes 0..64
    /// with the magic left zero. (The creator itself stores field by field, see the
    /// module docs; this is the layout for tests and other languages.)
    pub fn encode_body(&self) -> [u8; 64] {
        let mut b = [0u8; 64];
        b[8..12].copy_from_slice(&self.version.to_ne_bytes());
        b[12..16].copy_from_slice(&self.data_offset.to_ne_bytes());
        b[16..24].copy_from_slice(&self.size.to_ne_bytes());
        b[24..28].copy_from_slice(&self.owner.pid.to_ne_bytes());
        b[28..32].copy_from_slice(&self.flags.to_ne_bytes());
        b[32..40].copy_from_slice(&self.owner.start_time.to_ne_bytes());
        b[40..48].copy_from_slice(&self.nonce.to_ne_bytes());
        b
    }

    /// Parse and check a header, given the first bytes of a segment of `total` bytes.
    /// `Ok(None)` when the magic is still all zero (a creator may be mid-way).
    pub fn parse(name: &str, bytes: &[u8], total: usize) -> Result<Option<Header>, ShmError> {
        if bytes.len() < 8 {
            return Err(ShmError::NotPolyshm { name: name.into() });
        }
        if bytes[..8] != MAGIC {
            if bytes[..8] == [0; 8] && total >= DATA_OFFSET {
                return Ok(None);
            }
            return Err(ShmError::NotPolyshm { name: name.into() });
        }
        if bytes.len() < 16 {
            return Err(ShmError::Truncated {
                name: name.into(),
                needed: DATA_OFFSET as u64,
                actual: total as u64,
            });
        }
        let version = u32_at(bytes, 8);
        if version != LAYOUT_VERSION {
            return Err(ShmError::IncompatibleVersion {
                name: name.into(),
                found: version,
                expected: LAYOUT_VERSION,
            });
        }
        if bytes.len() < DATA_OFFSET {
            return Err(ShmError::Truncated {
                name: name.into(),
                needed: DATA_OFFSET as u64,
                actual: total as u64,
            });
        }
        let data_offset = u32_at(bytes, 12);
        if (data_offset as usize) < DATA_OFFSET || !data_offset.is_multiple_of(64) {
            return Err(ShmError::Corrupt {
                name: name.into(),
                what: format!("data offset {data_offset} (version 1 puts data at {DATA_OFFSET} or later, on a multiple of 64)"),
            });
        }
        let size = u64_at(bytes, 16);
        let needed = (data_offset as u64)
            .checked_add(size)
            .ok_or_else(|| ShmError::Corrupt {
                name: name.into(),
                what: format!("size {size} overflows"),
            })?;
        if needed > total as u64 {
            return Err(ShmError::Truncated {
                name: name.into(),
                needed,
                actual: total as u64,
            });
        }
        Ok(Some(Header {
            version,
            data_offset,
            size,
            owner: ProcessId {
                pid: u32_at(bytes, 24),
                start_time: u64_at(bytes, 32),
            },
            nonce: u64_at(bytes, 40),
            flags: u32_at(bytes, 28),
        }))
    }
}

/// 64 random bits (from the standard library's randomly seeded hasher).
pub fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

#[cfg(test)]
mod tests {
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
}
