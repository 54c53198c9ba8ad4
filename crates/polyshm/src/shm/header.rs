//! The header at the start of every polyshm segment (layout version 1).
//!
//! All integers are in the machine's byte order (little-endian on every platform
//! polyshm supports). A program in another language finds the data like this: check
//! the magic, check the version, read `data_offset` (u32 at byte 12) and `size`
//! (u64 at byte 16); the data is `size` bytes from `data_offset`.
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic `b"POLYSHM\0"`, written last by the creator |
//! | 8 | 4 | layout version, `1` |
//! | 12 | 4 | `data_offset`: where the data region starts (128 in version 1; always a multiple of 64) |
//! | 16 | 8 | `size`: bytes in the data region, as requested at creation |
//! | 24 | 4 | owner pid |
//! | 28 | 4 | flags: bit 0 = [`FLAG_PERSISTENT`] (kept until removed by name; `clean` leaves it); other bits zero, ignored when read |
//! | 32 | 8 | owner start time (Linux: clock ticks since boot, field 22 of `/proc/<pid>/stat`; Windows: creation time in 100 ns units since 1601; macOS: µs since 1970) |
//! | 40 | 8 | instance nonce (random, tells two segments of the same name apart) |
//! | 48 | 16 | reserved, zero |
//! | 64 | 64 | the access lock: a [`MutexState`] (lock word = holder pid + tag, its pid part 0 when free) |
//! | 128 | `size` | data |

use super::ShmError;
#[cfg_attr(loom, allow(unused_imports))] // used by the size check below, off under loom
use crate::sync::MutexState;
use polyshm_sys::ProcessId;

/// The first eight bytes of every polyshm segment.
pub const MAGIC: [u8; 8] = *b"POLYSHM\0";
/// Layout version this build writes and reads.
pub const LAYOUT_VERSION: u32 = 1;
/// Where the data region starts in layout version 1.
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

// (Under `--cfg loom` the sync types hold loom's atomics and are larger.)
#[cfg(not(loom))]
const _: () = assert!(LOCK_OFFSET + std::mem::size_of::<MutexState>() == DATA_OFFSET);

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
    /// Encode everything but the magic (which the creator writes last).
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
            version: 1,
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
        let mut v2 = b.clone();
        v2[8] = 2;
        assert!(matches!(
            Header::parse("x", &v2, 228),
            Err(ShmError::IncompatibleVersion { found: 2, .. })
        ));
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
}
