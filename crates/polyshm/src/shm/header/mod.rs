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
//! word and the lock meanwhile): the header's first 64 bytes are a `#[repr(C)]`
//! struct of atomics in place, mirrored by a plain one for the copies a reader
//! parses, both checked against the table above at compile time.
//!
//! A segment that is 0 bytes long, or whose magic is still zero, is being made (or its
//! creator died mid-way): opening it waits a bounded time, then answers
//! [`ShmError::NotReady`]. `clean` removes such a segment once its stamped creator is
//! dead, or, unstamped, once it has not changed for [`UNFINISHED_GRACE`].

use super::ShmError;
#[cfg_attr(loom, allow(unused_imports))] // used by the size check below, off under loom
use crate::sync::MutexState;
use bytemuck::{Pod, Zeroable};
use polyshm_sys::ProcessId;
use std::mem::{offset_of, size_of};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

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
pub const FLAGS_OFFSET: usize = offset_of!(HeaderWords, flags);
/// Flag bit: the segment was made to outlive its creator (`polyshm shm create`, or
/// [`SharedMemory::persist`](super::SharedMemory::persist)). It stays until removed by
/// name (`polyshm shm rm`, [`admin::remove`](super::admin::remove)); `clean` leaves it
/// alone although its creator is dead.
pub const FLAG_PERSISTENT: u32 = 1;

/// Offset of the owner pid (u32), the stamp a creator writes first.
pub const OWNER_PID_OFFSET: usize = offset_of!(HeaderWords, owner_pid);
/// Offset of the owner start time (u64).
pub const OWNER_START_OFFSET: usize = offset_of!(HeaderWords, owner_start);
/// How long a segment with no header (0 bytes long, or all zero) must have stayed
/// unchanged before `clean` takes its creator for dead: creators stamp their pid
/// within microseconds of sizing the segment.
pub const UNFINISHED_GRACE: std::time::Duration = std::time::Duration::from_secs(30);
/// How long `open` waits for a creator to publish its header before answering
/// [`ShmError::NotReady`].
pub const READY_PATIENCE: std::time::Duration = std::time::Duration::from_secs(1);

// (Under `--cfg loom` the sync types hold loom's atomics and are larger.)
#[cfg(not(loom))]
const _: () = assert!(LOCK_OFFSET + size_of::<MutexState>() == DATA_OFFSET);

/// The magic as the one u64 the creator stores last.
pub(crate) const MAGIC_WORD: u64 = u64::from_ne_bytes(MAGIC);

/// The header's first 64 bytes in place, each field an aligned atomic of its own
/// width: how every polyshm process reads and writes them (other processes may write
/// the flags meanwhile, and a creator publishes field by field).
#[repr(C)]
pub(crate) struct HeaderWords {
    magic: AtomicU64,
    version: AtomicU32,
    data_offset: AtomicU32,
    size: AtomicU64,
    owner_pid: AtomicU32,
    pub(crate) flags: AtomicU32,
    owner_start: AtomicU64,
    nonce: AtomicU64,
    reserved: [AtomicU64; 2],
}

/// A copy of the same 64 bytes: what [`snapshot`] answers and [`Header::parse`]
/// checks (untrusted: any bytes).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct HeaderFields {
    magic: [u8; 8],
    version: u32,
    data_offset: u32,
    size: u64,
    owner_pid: u32,
    flags: u32,
    owner_start: u64,
    nonce: u64,
    reserved: [u64; 2],
}

/// The table in the module docs, checked: field `$f` lies at `$at` in place and in
/// the copy.
macro_rules! header_field_at {
    ($($f:ident @ $at:expr),* $(,)?) => {
        $(const _: () = assert!(
            offset_of!(HeaderWords, $f) == $at && offset_of!(HeaderFields, $f) == $at
        );)*
    };
}
header_field_at!(
    magic @ 0,
    version @ 8,
    data_offset @ 12,
    size @ 16,
    owner_pid @ 24,
    flags @ 28,
    owner_start @ 32,
    nonce @ 40,
    reserved @ 48,
);
const _: () = assert!(size_of::<HeaderWords>() == LOCK_OFFSET);
const _: () = assert!(size_of::<HeaderFields>() == LOCK_OFFSET);

impl HeaderWords {
    /// The header words of a mapping at `base`.
    ///
    /// # Safety
    /// `base` must be 8-byte aligned and point to at least 64 bytes that stay mapped
    /// for `'a`; other processes may write them, but only with atomics or plain
    /// stores (no Rust `&mut` of this process may cover them).
    pub(crate) unsafe fn at<'a>(base: *const u8) -> &'a HeaderWords {
        // SAFETY: aligned (`HeaderWords` needs 8) and in bounds (caller); atomics
        // accept any bytes, and a shared reference to them allows the writes of
        // other processes and of other atomics of this one.
        unsafe { &*base.cast::<HeaderWords>() }
    }

    /// A copy, each field by an atomic load: the magic with acquire ordering first,
    /// then the rest (the owner pid with acquire, before its start time).
    fn load(&self) -> HeaderFields {
        let magic = self.magic.load(Ordering::Acquire).to_ne_bytes();
        let version = self.version.load(Ordering::Relaxed);
        let data_offset = self.data_offset.load(Ordering::Relaxed);
        let size = self.size.load(Ordering::Relaxed);
        let owner_pid = self.owner_pid.load(Ordering::Acquire);
        let flags = self.flags.load(Ordering::Relaxed);
        let owner_start = self.owner_start.load(Ordering::Relaxed);
        let nonce = self.nonce.load(Ordering::Relaxed);
        let reserved = self.reserved.each_ref().map(|r| r.load(Ordering::Relaxed));
        HeaderFields {
            magic,
            version,
            data_offset,
            size,
            owner_pid,
            flags,
            owner_start,
            nonce,
            reserved,
        }
    }
}

impl HeaderFields {
    /// The fields in the first bytes of `b` (zero past its end).
    fn read(b: &[u8]) -> HeaderFields {
        let mut f = HeaderFields::zeroed();
        let n = b.len().min(size_of::<HeaderFields>());
        bytemuck::bytes_of_mut(&mut f)[..n].copy_from_slice(&b[..n]);
        f
    }
}

/// Copy the header bytes (0..64) of a mapping of `len` bytes at `base` into a local
/// buffer, each field by an atomic load of its own width: the magic with acquire
/// ordering first, then the rest (the owner pid with acquire, before its start time).
/// A mapping shorter than 64 bytes is no header (not polyshm, or cut short): only its
/// magic and version are loaded, the rest stays zero. The bytes are untrusted: parse
/// them with [`Header::parse`]. Answers the buffer and how many of its bytes the
/// mapping holds.
///
/// # Safety
/// `base` must be 8-byte aligned and point to `len` bytes that stay mapped during the
/// call; other processes may write them, but only with atomics or plain stores (no
/// Rust reference of this process may cover them).
pub(crate) unsafe fn snapshot(base: *const u8, len: usize) -> ([u8; DATA_OFFSET], usize) {
    let mut f = HeaderFields::zeroed();
    if len >= size_of::<HeaderWords>() {
        // SAFETY: 8-aligned with 64 mapped bytes (caller); other writers use atomics
        // or plain stores and no reference of this process covers them (caller).
        f = unsafe { HeaderWords::at(base) }.load();
    } else {
        let version = offset_of!(HeaderWords, version);
        if len >= size_of::<u64>() {
            // SAFETY: the first 8 of `len` mapped bytes, 8-aligned (caller): an aligned
            // atomic, which accepts any bytes; polyshm writers store it as one.
            let magic = unsafe { &*base.cast::<AtomicU64>() };
            f.magic = magic.load(Ordering::Acquire).to_ne_bytes();
        }
        if len >= version + size_of::<u32>() {
            // SAFETY: as for the magic: `version` (8) is a multiple of 4 and the 4
            // bytes from it are mapped.
            let v = unsafe { &*base.add(version).cast::<AtomicU32>() };
            f.version = v.load(Ordering::Relaxed);
        }
    }
    let mut b = [0u8; DATA_OFFSET];
    b[..size_of::<HeaderFields>()].copy_from_slice(bytemuck::bytes_of(&f));
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
    // SAFETY: 8-aligned with DATA_OFFSET (> 64) mapped bytes, covered by no reference
    // of this process (caller); `between` writes past the header words only.
    let w = unsafe { HeaderWords::at(base) };
    w.owner_start.store(h.owner.start_time, Ordering::Relaxed);
    w.owner_pid.store(h.owner.pid, Ordering::Release);
    w.version.store(h.version, Ordering::Relaxed);
    w.data_offset.store(h.data_offset, Ordering::Relaxed);
    w.size.store(h.size, Ordering::Relaxed);
    w.flags.store(h.flags, Ordering::Relaxed);
    w.nonce.store(h.nonce, Ordering::Relaxed);
    between();
    w.magic.store(MAGIC_WORD, Ordering::Release);
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
                let f = HeaderFields::read(bytes);
                Ok(Seen::Unpublished {
                    owner: (f.owner_pid != 0).then_some(ProcessId {
                        pid: f.owner_pid,
                        start_time: f.owner_start,
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

impl Header {
    /// Encode everything but the magic (which the creator writes last), as bytes 0..64
    /// with the magic left zero. (The creator itself stores field by field, see the
    /// module docs; this is the layout for tests and other languages.)
    pub fn encode_body(&self) -> [u8; 64] {
        bytemuck::cast(HeaderFields {
            magic: [0; 8],
            version: self.version,
            data_offset: self.data_offset,
            size: self.size,
            owner_pid: self.owner.pid,
            flags: self.flags,
            owner_start: self.owner.start_time,
            nonce: self.nonce,
            reserved: [0; 2],
        })
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
        let f = HeaderFields::read(bytes);
        let version = f.version;
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
        let data_offset = f.data_offset;
        if (data_offset as usize) < DATA_OFFSET || !data_offset.is_multiple_of(64) {
            return Err(ShmError::Corrupt {
                name: name.into(),
                what: format!("data offset {data_offset} (version 1 puts data at {DATA_OFFSET} or later, on a multiple of 64)"),
            });
        }
        let size = f.size;
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
                pid: f.owner_pid,
                start_time: f.owner_start,
            },
            nonce: f.nonce,
            flags: f.flags,
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
mod tests;
