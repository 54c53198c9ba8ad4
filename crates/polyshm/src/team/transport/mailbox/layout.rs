//! The control segment's layout: `#[repr(C)]` types whose offsets and sizes are
//! checked against this table at compile time, so the table and the code cannot
//! drift. Offsets are from the segment's data region; integers in machine byte order
//! (little-endian on every platform polyshm supports: the bytes of layout 1 as it was
//! first written).
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 64 | [`Ident`]: magic `b"PSHMMBX1"`, layout version (u32) @8 |
//! | 64 | 8 | `to_drone`: a semaphore's count and sleepers ([`SemaphoreState`](crate::sync::SemaphoreState)) |
//! | 72 | 56 | request [`Desc`], the `to_drone` semaphore's note (on the cache line the drone watches: the descriptor moves with the signal): kind u8, status u8, name length u16 @2, seq u64 @8, length u64 @16, and @24 the task name when it has at most 32 bytes |
//! | 128 | 8 | `to_master`: a semaphore's count and sleepers |
//! | 136 | 56 | reply [`Desc`], the `to_master` semaphore's note: the same layout, and at @4 a flag: 1 = the payload lies in the request area (an in-place reply); for NeedSpace the length is the bytes needed |
//! | 192 | 64 | [`Areas`]: generation u64, request capacity u64 @8, result capacity u64 @16, data segment name length u8 @24, name @32 (≤ 32 bytes) |
//! | 256 | 256 | [`HelloBox`]: length u32, then the bytes of a [`Hello`](crate::team::protocol::Hello) @4 |
//! | 512 | 256 | task name of the request, when it has more than 32 bytes |
//! | 768 | 64 | master CPU: the CPU the master last ran on, plus one (u32; 0: unknown), a hint for the drone's spin |
//! | 832 | 64 | drone CPU: the CPU the drone last ran on, plus one (u32; 0: unknown), a hint for the master's spin |
//! | 4096 | 64 KiB | inline request area (generation 0) |
//! | 4096 + 64 KiB | 64 KiB | inline result area (generation 0) |
//!
//! Access is by whole copies ([`At::load`], [`At::store`]: the segment's `read_at` /
//! `write_at`; the descriptors: the semaphores' notes, written and read as whole
//! words), never by a reference into the segment: the peer may write anything at any
//! time, so each side checks every field of its copy before use. The two semaphores
//! are reached through [`RemoteSemaphore::in_segment`](crate::shm::RemoteSemaphore::in_segment)
//! (their atomics), never copied.

use crate::shm::{SharedMemory, ShmError};
use crate::team::protocol::MAX_NAME;
use bytemuck::{Pod, Zeroable};
use std::marker::PhantomData;
use std::mem::{offset_of, size_of};

/// The first bytes of the control segment.
pub(crate) const MAGIC: [u8; 8] = *b"PSHMMBX1";
/// Mailbox layout version this build writes and reads.
pub(crate) const LAYOUT: u32 = 4;
/// Where the inline request area starts (the result area follows it).
pub(crate) const INLINE: usize = 4096;
/// Capacity of each inline area.
pub(crate) const INLINE_CAP: usize = 64 * 1024;
/// The largest hello the mailbox holds.
pub(crate) const HELLO_MAX: usize = 252;
/// The longest data segment name the areas field holds.
pub(crate) const DATA_NAME_MAX: usize = 32;

/// Who the segment is.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub(crate) struct Ident {
    pub magic: [u8; 8],
    pub layout: u32,
}

/// The longest task name a descriptor holds itself; a longer one lies in the name
/// field.
pub(crate) const SHORT_NAME: usize = 32;

/// A request or reply descriptor: a semaphore's note (see the table).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub(crate) struct Desc {
    pub kind: u8,
    pub status: u8,
    pub name_len: u16,
    /// Replies: 1 = the payload lies in the request area (an in-place reply).
    pub in_request: u8,
    pub _pad: [u8; 3],
    pub seq: u64,
    /// Payload bytes (for NeedSpace: the bytes needed).
    pub len: u64,
    /// The task name, if it has at most [`SHORT_NAME`] bytes.
    pub short_name: [u8; SHORT_NAME],
}

/// Where the areas are now: generation 0 inline, later a data segment of their own.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub(crate) struct Areas {
    pub gen: u64,
    pub req_cap: u64,
    pub res_cap: u64,
    pub name_len: u8,
    pub _pad: [u8; 7],
    pub name: [u8; DATA_NAME_MAX],
}

/// The handshake bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub(crate) struct HelloBox {
    pub len: u32,
    pub bytes: [u8; HELLO_MAX],
}

/// One cache line holding a `T` (padded to 64 bytes).
#[repr(C, align(64))]
struct Line<T>(T);

/// A signal's cache line: a semaphore ([`SemaphoreState`](crate::sync::SemaphoreState),
/// 64 bytes of atomics outside loom) whose note is a descriptor.
#[repr(C)]
struct SignalLine {
    semaphore: [u32; 2],
    desc: Desc,
}

/// The control segment up to the inline areas: a map only, never made or referenced
/// (its fields are reached by offset, through copies or the semaphores' atomics).
#[repr(C)]
struct Control {
    ident: Line<Ident>,
    to_drone: Line<SignalLine>,
    to_master: Line<SignalLine>,
    areas: Line<Areas>,
    hello: HelloBox,
    name: [u8; 256],
    master_cpu: Line<u32>,
    drone_cpu: Line<u32>,
}

/// Where a `T` lies in the control segment's data region.
#[derive(Debug)]
pub(crate) struct At<T> {
    /// Offset from the data region.
    pub(crate) offset: usize,
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for At<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for At<T> {}

impl<T: Pod> At<T> {
    const fn new(offset: usize) -> At<T> {
        At {
            offset,
            _t: PhantomData,
        }
    }

    /// A copy of the value (a snapshot: the peer may have written anything there,
    /// even meanwhile; check every field before use).
    pub(crate) fn load(self, ctl: &SharedMemory) -> Result<T, ShmError> {
        let mut v = T::zeroed();
        ctl.read_into(self.offset, std::slice::from_mut(&mut v))?;
        Ok(v)
    }

    /// Write the value, whole.
    pub(crate) fn store(self, ctl: &SharedMemory, v: &T) -> Result<(), ShmError> {
        ctl.write_from(self.offset, std::slice::from_ref(v))
    }
}

pub(crate) const IDENT: At<Ident> = At::new(offset_of!(Control, ident));
pub(crate) const TO_DRONE: usize = offset_of!(Control, to_drone);
pub(crate) const TO_MASTER: usize = offset_of!(Control, to_master);
/// Where the request descriptor lies (the `to_drone` semaphore's note).
pub(crate) const REQUEST: usize = TO_DRONE + offset_of!(SignalLine, desc);
/// Where the reply descriptor lies (the `to_master` semaphore's note).
pub(crate) const REPLY: usize = TO_MASTER + offset_of!(SignalLine, desc);
pub(crate) const AREAS: At<Areas> = At::new(offset_of!(Control, areas));
pub(crate) const HELLO: At<HelloBox> = At::new(offset_of!(Control, hello));
/// Where the request's task name lies (its length is in the request descriptor).
pub(crate) const NAME: usize = offset_of!(Control, name);
/// Where the master notes its CPU (plus one; 0: unknown), for the drone's spin.
pub(crate) const MASTER_CPU: At<u32> = At::new(offset_of!(Control, master_cpu));
/// Where the drone notes its CPU (plus one; 0: unknown), for the master's spin.
pub(crate) const DRONE_CPU: At<u32> = At::new(offset_of!(Control, drone_cpu));
/// Bytes of the control segment before the inline areas that hold fields.
pub(crate) const CONTROL_LEN: usize = size_of::<Control>();

// Offsets inside a descriptor and the areas field, for the hostile tests (the doors in
// `crate::hostile`).
pub(crate) const DESC_KIND: usize = offset_of!(Desc, kind);
pub(crate) const DESC_STATUS: usize = offset_of!(Desc, status);
pub(crate) const DESC_NAME_LEN: usize = offset_of!(Desc, name_len);
pub(crate) const DESC_IN_REQUEST: usize = offset_of!(Desc, in_request);
pub(crate) const DESC_SEQ: usize = offset_of!(Desc, seq);
pub(crate) const DESC_LEN: usize = offset_of!(Desc, len);
pub(crate) const DESC_SHORT_NAME: usize = offset_of!(Desc, short_name);
pub(crate) const IDENT_LAYOUT: usize = offset_of!(Ident, layout);
pub(crate) const AREAS_GEN: usize = offset_of!(Areas, gen);
pub(crate) const AREAS_REQ_CAP: usize = offset_of!(Areas, req_cap);
pub(crate) const AREAS_RES_CAP: usize = offset_of!(Areas, res_cap);
pub(crate) const AREAS_NAME_LEN: usize = offset_of!(Areas, name_len);
pub(crate) const AREAS_NAME: usize = offset_of!(Areas, name);

// The table above, checked.
const _: () = assert!(IDENT.offset == 0 && IDENT_LAYOUT == 8 && size_of::<Ident>() == 12);
const _: () = assert!(TO_DRONE == 64 && TO_MASTER == 128);
const _: () = assert!(REQUEST == 72 && REPLY == 136);
const _: () = assert!(AREAS.offset == 192 && HELLO.offset == 256 && NAME == 512);
const _: () = assert!(MASTER_CPU.offset == 768 && DRONE_CPU.offset == 832);
const _: () = assert!(CONTROL_LEN == 896 && CONTROL_LEN <= INLINE);
const _: () = assert!(size_of::<Line<SignalLine>>() == 64);
// The descriptor is exactly the semaphore's note.
const _: () = assert!(
    offset_of!(SignalLine, desc) == crate::sync::NOTE_OFFSET
        && size_of::<Desc>() == crate::sync::NOTE_LEN
);
const _: () = assert!(
    size_of::<Desc>() == 56
        && DESC_SHORT_NAME == 24
        && DESC_KIND == 0
        && DESC_STATUS == 1
        && DESC_NAME_LEN == 2
        && DESC_IN_REQUEST == 4
        && DESC_SEQ == 8
        && DESC_LEN == 16
);
const _: () = assert!(
    size_of::<Areas>() == 64
        && AREAS_GEN == 0
        && AREAS_REQ_CAP == 8
        && AREAS_RES_CAP == 16
        && AREAS_NAME_LEN == 24
        && AREAS_NAME == 32
);
const _: () = assert!(size_of::<HelloBox>() == 256 && offset_of!(HelloBox, bytes) == 4);
// Every name a request may carry fits its field; every segment name the areas field.
const _: () = assert!(MAX_NAME <= 256);
const _: () = assert!(crate::shm::MAX_NAME_LEN <= DATA_NAME_MAX);
// Under loom the sync types hold loom's atomics and are larger.
#[cfg(not(loom))]
const _: () = assert!(size_of::<crate::sync::SemaphoreState>() == size_of::<SignalLine>());
