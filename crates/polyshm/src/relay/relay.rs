//! [`Relay`]: the master's rendezvous segment, and [`Link`], one connected slot.
//!
//! One file, over 800 lines, on purpose: the slot word (phase, close bits, generation
//! and the client's pid in one 64-bit value), its compare-and-swap transitions and both
//! ends of a link (the master's `accept`, the client's `connect`, the link's release)
//! are one state machine over private layout types; split, every transition would
//! have to be made visible crate-wide to the other half. The layout table below is
//! its map.
//!
//! # Layout (relay layout version 2), inside the data region of the relay's segment
//!
//! All offsets are from the start of the data region (see [`shm::header`](crate::shm::header)
//! for where that is); integers in machine byte order.
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | relay magic `b"PSRELAY\0"`, written last by the master |
//! | 8 | 4 | relay layout version, `2` |
//! | 12 | 4 | `slots`: number of client slots |
//! | 16 | 4 | `capacity`: bytes of each message area (a multiple of 64) |
//! | 20 | 4 | `closed`: 1 once the master closed the relay |
//! | 24 | 8 | connections accepted so far (a statistic) |
//! | 64 | 64 | the accept semaphore: a client signals it after claiming a slot |
//! | 128 + i × slot_size | slot_size | slot `i` (below), slot_size = 192 + 2 × (64 + capacity) |
//!
//! A slot:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | the slot word: phase in bits 0–7 (0 free, 1 claimed, 2 requested, 3 connected), bit 8 = master closed its end, bit 9 = client closed its end, the slot's generation in bits 16–31, the client's pid in bits 32–63 |
//! | 8 | 8 | client start time |
//! | 16 | 4 | the generation (low 16 bits) the start time was written for |
//! | 64 | 64 | `to_client` semaphore |
//! | 128 | 64 | `to_master` semaphore |
//! | 192 | 64 + capacity | to-client message area: the message length (u32), 4 bytes unused, then the message bytes from offset 8 |
//! | 256 + capacity | 64 + capacity | to-master message area, likewise |
//!
//! A small message and its length share one cache line, so a message/reply moves as
//! few lines between CPUs as possible.
//!
//! # Handshake
//!
//! Every change of a slot is one compare-and-swap of its slot word. The client claims
//! a free slot by swapping in phase 1, the next generation and its own pid at once: the
//! claim is never visible without the claimant's identity. It then writes its start
//! time (tagged with the generation; until then a reader checks the pid alone), sets
//! phase 2 and signals the accept semaphore; the master's [`Relay::accept`] finds the
//! slot, sets phase 3 and signals `to_client`; the client's wait on `to_client` ends
//! the handshake. Connect time is measured by the client from before it opens the
//! segment until that signal arrives ([`Link::connect_time`]). Each side closing its
//! end sets its bit; the second to close frees the slot.
//!
//! A client that dies leaves its slot to be reclaimed: in phase 1 or 2, or after the
//! master closed its end, by the master's next [`Relay::accept`] or by a client that
//! finds no free slot; while the master's end is open, by the master's [`Link`] when
//! it drops. A link changes its slot only while the slot word still carries the
//! link's generation, so a stale link never touches the slot's next occupant.

use super::{RelayError, RelayLink};
use crate::shm::{RemoteSemaphore, SharedMemory, ShmError};
use crate::sync::{
    saturating_deadline, Look, Stop, WaitError, WaitStrategy, Watch, LIVENESS_PERIOD,
};
use polyshm_sys::{current_process, is_alive, ProcessId};
use std::convert::Infallible;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The relay magic, at the start of the data region.
const RELAY_MAGIC: u64 = u64::from_ne_bytes(*b"PSRELAY\0");
/// Relay layout version this build writes and reads.
pub(crate) const RELAY_VERSION: u32 = 2;
const ACCEPT_SEM: usize = 64;
const SLOTS_AT: usize = 128;
const TO_CLIENT_SEM: usize = 64;
const TO_MASTER_SEM: usize = 128;
const TO_CLIENT_AREA: usize = 192;
/// Where the bytes start in a message area (after the length word).
const AREA_DATA: usize = 8;
/// Largest slot count a client accepts (a sanity bound on untrusted input).
const MAX_SLOTS: u32 = 4096;
/// Largest message capacity a client accepts (a sanity bound on untrusted input).
const MAX_CAPACITY: u32 = 64 << 20;
/// Most signals a slot's previous occupant can have left unconsumed (one message in
/// flight per direction, and a handshake); more means the count was scribbled.
const STALE_SIGNALS: u32 = 64;

const FREE: u64 = 0;
const CLAIMED: u64 = 1;
const REQUESTED: u64 = 2;
const CONNECTED: u64 = 3;
const MASTER_GONE: u64 = 1 << 8;
const CLIENT_GONE: u64 = 1 << 9;
const PHASE: u64 = 0xff;
const GEN_SHIFT: u32 = 16;
const PID_SHIFT: u32 = 32;

/// The generation in a slot word.
fn gen_of(w: u64) -> u16 {
    (w >> GEN_SHIFT) as u16
}

/// The client pid in a slot word.
fn pid_of(w: u64) -> u32 {
    (w >> PID_SHIFT) as u32
}

/// A slot word.
fn slot_word(phase: u64, gen: u16, pid: u32) -> u64 {
    phase | (u64::from(gen) << GEN_SHIFT) | (u64::from(pid) << PID_SHIFT)
}

/// The relay's first 64 bytes.
#[repr(C, align(64))]
struct RelayHeader {
    magic: AtomicU64,
    version: AtomicU32,
    slots: AtomicU32,
    capacity: AtomicU32,
    closed: AtomicU32,
    accepted: AtomicU64,
    _pad: [u64; 4],
}
const _: () = assert!(std::mem::size_of::<RelayHeader>() == 64);

/// The first 64 bytes of a slot.
#[repr(C, align(64))]
struct SlotControl {
    /// Phase, close bits, generation and client pid (see the module docs).
    state: AtomicU64,
    client_start: AtomicU64,
    /// Generation `client_start` belongs to (low 16 bits used).
    start_gen: AtomicU32,
    _pad0: u32,
    _pad: [u64; 5],
}

impl SlotControl {
    /// Who holds the slot whose word is `w`: the pid from the word, the start time if
    /// it was written for this generation (else 0: the pid alone is checked).
    fn occupant(&self, w: u64) -> ProcessId {
        let tagged = self.start_gen.load(Ordering::Acquire) == u32::from(gen_of(w));
        ProcessId {
            pid: pid_of(w),
            start_time: if tagged {
                self.client_start.load(Ordering::Acquire)
            } else {
                0
            },
        }
    }

    /// Whether the slot whose word is `w` belongs to a client that died where nobody
    /// else will free it: claimed or requested, or connected after the master closed
    /// its end. (A slot the master's end still holds is freed when that link drops.)
    fn abandoned(&self, w: u64) -> bool {
        let phase = w & PHASE;
        if phase == FREE {
            return false;
        }
        let left_to_us = phase != CONNECTED || w & MASTER_GONE != 0;
        left_to_us && (pid_of(w) == 0 || !is_alive(self.occupant(w)))
    }

    /// Free the slot if its client died and nobody else will (see `abandoned`);
    /// answers whether it did.
    fn reclaim(&self) -> bool {
        let w = self.state.load(Ordering::Acquire);
        self.abandoned(w)
            && self
                .state
                .compare_exchange(
                    w,
                    slot_word(FREE, gen_of(w), 0),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_ok()
    }

    /// Try to claim the slot for `me`: answers the claimed word.
    fn claim(&self, me: ProcessId) -> Option<u64> {
        let w = self.state.load(Ordering::Acquire);
        if w & !(0xffff << GEN_SHIFT) != FREE {
            return None;
        }
        let mine = slot_word(CLAIMED, gen_of(w).wrapping_add(1), me.pid);
        self.state
            .compare_exchange(w, mine, Ordering::AcqRel, Ordering::Relaxed)
            .ok()?;
        Some(mine)
    }
}
const _: () = assert!(std::mem::size_of::<SlotControl>() == 64);

/// How a master lays out a new relay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RelayOptions {
    /// Client slots (at most this many clients connected at once). Default 16.
    pub slots: u32,
    /// Bytes of each message area, one per direction per slot (rounded up to a
    /// multiple of 64). Default 4096.
    pub message_capacity: u32,
}

impl Default for RelayOptions {
    fn default() -> Self {
        RelayOptions {
            slots: 16,
            message_capacity: 4096,
        }
    }
}

/// Geometry of a relay, validated.
#[derive(Clone, Copy, Debug)]
struct Geometry {
    slots: u32,
    capacity: usize,
}

impl Geometry {
    fn slot_size(&self) -> usize {
        TO_CLIENT_AREA + 2 * (64 + self.capacity)
    }
    fn slot_at(&self, i: u32) -> usize {
        SLOTS_AT + i as usize * self.slot_size()
    }
    fn total(&self) -> Option<usize> {
        (self.slots as usize)
            .checked_mul(self.slot_size())?
            .checked_add(SLOTS_AT)
    }
}

/// The master's relay: a rendezvous segment that clients connect to (the study's
/// master `SemaphoreEventRelay`). Dropping it closes the relay to new clients (they
/// get [`RelayError::PeerClosed`]); links already accepted go on working and keep the
/// segment mapped; the name is removed when the relay and its last link are gone.
#[derive(Debug)]
pub struct Relay {
    shm: Arc<SharedMemory>,
    geometry: Geometry,
    accept: RemoteSemaphore,
}

/// Which end of a link this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The master's end (made by [`Relay::accept`]).
    Master,
    /// A client's end (made by [`Relay::connect`]).
    Client,
}

/// One end of a connected relay slot: a pair of [`RemoteSemaphore`]s and a message
/// area in each direction. Dropping it closes this end.
///
/// The protocol is a conversation: one message in flight per direction. `send`
/// overwrites the outgoing area, so a second `send` before the peer's `recv` replaces
/// the first message's bytes (its signal still counts); let one thread at a time
/// send on a link.
#[derive(Debug)]
pub struct Link {
    shm: Arc<SharedMemory>,
    name: String,
    role: Role,
    slot: u32,
    slot_at: usize,
    /// Generation of the slot word this link was made for.
    gen: u16,
    capacity: usize,
    peer: ProcessId,
    to_client: RemoteSemaphore,
    to_master: RemoteSemaphore,
    connect_time: Option<Duration>,
}

fn control_of(shm: &SharedMemory, slot_at: usize) -> &SlotControl {
    // SAFETY: `slot_at` + 64 lies inside the data region (the geometry was checked
    // against `shm.len()` before any slot offset was made), the data region starts on a
    // multiple of 64 in a page-aligned mapping and `slot_at` is a multiple of 64, so
    // the pointer is aligned; `SlotControl` is atomics only, valid for any bytes, and
    // the mapping lives as long as the borrow of `shm`.
    unsafe { &*(shm.as_ptr().add(slot_at) as *const SlotControl) }
}

fn header_of(shm: &SharedMemory) -> &RelayHeader {
    // SAFETY: every relay segment holds at least SLOTS_AT (128) data bytes (checked at
    // create and open before this is called); offset 0 of the data region is 64-byte
    // aligned; `RelayHeader` is atomics only; the mapping outlives the borrow.
    unsafe { &*(shm.as_ptr() as *const RelayHeader) }
}

impl Relay {
    /// Open a new relay named `name` (a segment this process owns, removed when the
    /// relay and all its links drop).
    pub fn create(name: &str, options: RelayOptions) -> Result<Relay, RelayError> {
        let capacity = (options.message_capacity.max(1) as usize).next_multiple_of(64);
        let geometry = Geometry {
            slots: options.slots.clamp(1, MAX_SLOTS),
            capacity: capacity.min(MAX_CAPACITY as usize),
        };
        let total = geometry.total().ok_or_else(|| ShmError::NoSpace {
            name: name.into(),
            requested: u64::MAX,
            detail: "slots × message capacity overflows".into(),
        })?;
        let shm = SharedMemory::create(name, total)?;
        // A fresh segment is zeroed: every slot is free, every semaphore empty.
        let accept = RemoteSemaphore::in_segment(&shm, ACCEPT_SEM)?;
        let h = header_of(&shm);
        h.version.store(RELAY_VERSION, Ordering::Relaxed);
        h.slots.store(geometry.slots, Ordering::Relaxed);
        h.capacity
            .store(geometry.capacity as u32, Ordering::Relaxed);
        h.magic.store(RELAY_MAGIC, Ordering::Release);
        Ok(Relay {
            shm: Arc::new(shm),
            geometry,
            accept,
        })
    }

    /// The relay's name: hand it to clients (in [`RELAY_ENV`](super::RELAY_ENV) or as
    /// `--relay NAME`).
    pub fn name(&self) -> &str {
        self.shm.name()
    }

    /// Number of client slots.
    pub fn slots(&self) -> u32 {
        self.geometry.slots
    }

    /// Bytes each message area holds.
    pub fn message_capacity(&self) -> usize {
        self.geometry.capacity
    }

    /// Connections accepted since the relay was opened.
    pub fn accepted(&self) -> u64 {
        header_of(&self.shm).accepted.load(Ordering::Relaxed)
    }

    /// Wait at most `timeout` (`None`: for ever) for a client to connect, and finish
    /// its handshake. Slots left by clients that died while connecting are freed here.
    pub fn accept(&self, timeout: Option<Duration>) -> Result<Link, RelayError> {
        let deadline = timeout.map(|t| saturating_deadline(Instant::now(), t));
        loop {
            if let Some(link) = self.take_request()? {
                return Ok(link);
            }
            let left = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => LIVENESS_PERIOD,
            };
            if left.is_zero() {
                return Err(RelayError::TimedOut {
                    name: self.name().into(),
                    what: "a client to connect",
                    after: timeout.unwrap_or_default(),
                });
            }
            // Wake at least every LIVENESS_PERIOD to free slots of dead clients.
            let _ = self.accept.wait_timeout(left.min(LIVENESS_PERIOD));
        }
    }

    /// Scan the slots for a connect request; accept the first found. Slots of dead
    /// clients are freed on the way.
    fn take_request(&self) -> Result<Option<Link>, RelayError> {
        for i in 0..self.geometry.slots {
            let slot_at = self.geometry.slot_at(i);
            let c = control_of(&self.shm, slot_at);
            let w = c.state.load(Ordering::Acquire);
            if w & PHASE != REQUESTED {
                c.reclaim();
                continue;
            }
            if c.abandoned(w) {
                // Requested, then died: never hand out a link to a dead client.
                c.reclaim();
                continue;
            }
            let peer = c.occupant(w);
            let connected = (w & !PHASE) | CONNECTED;
            if c.state
                .compare_exchange(w, connected, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
            {
                continue; // the client gave up meanwhile
            }
            let made = if crate::fault_returns!("relay.master.setup_fails") {
                Err(RelayError::Corrupt {
                    name: self.name().into(),
                    what: "link setup failed (fault point relay.master.setup_fails)".into(),
                })
            } else {
                Link::new(
                    self.shm.clone(),
                    Role::Master,
                    i,
                    slot_at,
                    gen_of(w),
                    self.geometry.capacity,
                    peer,
                )
            };
            let link = match made {
                Ok(link) => link,
                Err(e) => {
                    // Tell the waiting client, which then frees the slot.
                    let _ = c.state.compare_exchange(
                        connected,
                        connected | MASTER_GONE,
                        Ordering::AcqRel,
                        Ordering::Relaxed,
                    );
                    return Err(e);
                }
            };
            header_of(&self.shm)
                .accepted
                .fetch_add(1, Ordering::Relaxed);
            // The handshake's answer. On failure `link` drops and closes the
            // master's end: the client sees PeerClosed.
            link.to_client
                .signal()
                .map_err(|source| RelayError::Semaphore {
                    name: self.name().into(),
                    source,
                })?;
            return Ok(Some(link));
        }
        Ok(None)
    }

    /// Connect to the relay `name` as a client, waiting at most `timeout` for the
    /// master to accept. The returned link knows how long that took
    /// ([`Link::connect_time`]).
    pub fn connect(name: &str, timeout: Duration) -> Result<Link, RelayError> {
        let started = Instant::now();
        let deadline = saturating_deadline(started, timeout);
        let shm = Arc::new(SharedMemory::open(name)?);
        let geometry = read_geometry(&shm, deadline)?;
        let master = shm.owner();
        if header_of(&shm).closed.load(Ordering::Acquire) != 0 {
            return Err(RelayError::PeerClosed { name: name.into() });
        }
        if !is_alive(master) {
            return Err(RelayError::PeerDied {
                name: name.into(),
                peer: master,
            });
        }
        let me = current_process();
        let claim_one = || {
            (0..geometry.slots).find_map(|i| {
                let at = geometry.slot_at(i);
                control_of(&shm, at).claim(me).map(|w| (i, at, w))
            })
        };
        let claimed = claim_one().or_else(|| {
            // None free: take back the slots of dead clients, then try once more.
            let freed = (0..geometry.slots)
                .filter(|&i| control_of(&shm, geometry.slot_at(i)).reclaim())
                .count();
            (freed > 0).then(claim_one).flatten()
        });
        let (slot, slot_at, word) = claimed.ok_or_else(|| RelayError::Full {
            name: name.into(),
            slots: geometry.slots,
        })?;
        crate::fault_point!("relay.client.claimed");
        let c = control_of(&shm, slot_at);
        let gen = gen_of(word);
        c.client_start.store(me.start_time, Ordering::Relaxed);
        c.start_gen.store(u32::from(gen), Ordering::Release);
        let mut link = match Link::new(
            shm.clone(),
            Role::Client,
            slot,
            slot_at,
            gen,
            geometry.capacity,
            master,
        ) {
            Ok(link) => link,
            Err(e) => {
                // A failed setup gives the slot back (if it is still this claim).
                let _ = c.state.compare_exchange(
                    word,
                    slot_word(FREE, gen, 0),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                );
                return Err(e);
            }
        };
        // Fresh counts and areas: a previous occupant may have left signals behind (a
        // few; a count past STALE_SIGNALS was scribbled, and draining it one by one
        // would spin for minutes).
        let scribbled = [&link.to_client, &link.to_master]
            .iter()
            .any(|sem| (0..=STALE_SIGNALS).all(|_| sem.try_wait()));
        if scribbled {
            // `link` drops and gives the slot back.
            return Err(RelayError::Corrupt {
                name: name.into(),
                what: format!(
                    "slot {slot} holds more than {STALE_SIGNALS} stale signals; remove the relay and start its master again"
                ),
            });
        }
        link.area(true).0.store(0, Ordering::Relaxed);
        link.area(false).0.store(0, Ordering::Relaxed);
        let requested = (word & !PHASE) | REQUESTED;
        if c.state
            .compare_exchange(word, requested, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            // Only a client judged dead loses its claim; `link` drops harmlessly
            // (its generation no longer matches).
            return Err(RelayError::Corrupt {
                name: name.into(),
                what: format!("slot {slot} was taken from this live client while it connected"),
            });
        }
        let accept = RemoteSemaphore::in_segment(&shm, ACCEPT_SEM)?;
        accept.signal().map_err(|source| RelayError::Semaphore {
            name: name.into(),
            source,
        })?;
        crate::fault_point!("relay.client.requested");
        // On failure, `link` drops and gives the slot back (see `Link::drop`).
        link.wait_for_peer(
            Some(deadline.saturating_duration_since(Instant::now())),
            "the master to accept",
        )?;
        link.connect_time = Some(started.elapsed());
        crate::fault_point!("relay.client.connected");
        Ok(link)
    }

    /// Connect to the relay named on the command line (`--relay NAME`) or in
    /// [`RELAY_ENV`](super::RELAY_ENV).
    pub fn connect_from_env(timeout: Duration) -> Result<Link, RelayError> {
        let name = super::relay_name_from_args_or_env().ok_or(RelayError::NoRelayName)?;
        Relay::connect(&name, timeout)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        header_of(&self.shm).closed.store(1, Ordering::Release);
    }
}

/// Read and check the relay header, waiting briefly (until `deadline`, at most
/// 200 ms) for a master that has not yet published its magic.
fn read_geometry(shm: &SharedMemory, deadline: Instant) -> Result<Geometry, RelayError> {
    let name = shm.name();
    if shm.len() < SLOTS_AT {
        return Err(RelayError::NotARelay { name: name.into() });
    }
    let h = header_of(shm);
    let give_up = deadline.min(Instant::now() + Duration::from_millis(200));
    loop {
        match h.magic.load(Ordering::Acquire) {
            RELAY_MAGIC => break,
            0 if Instant::now() < give_up => std::thread::sleep(Duration::from_millis(1)),
            _ => return Err(RelayError::NotARelay { name: name.into() }),
        }
    }
    let version = h.version.load(Ordering::Relaxed);
    if version != RELAY_VERSION {
        return Err(RelayError::IncompatibleVersion {
            name: name.into(),
            found: version,
            expected: RELAY_VERSION,
        });
    }
    let slots = h.slots.load(Ordering::Relaxed);
    let capacity = h.capacity.load(Ordering::Relaxed);
    if !(1..=MAX_SLOTS).contains(&slots) || capacity > MAX_CAPACITY || !capacity.is_multiple_of(64)
    {
        return Err(RelayError::Corrupt {
            name: name.into(),
            what: format!("{slots} slots of {capacity}-byte message areas"),
        });
    }
    let g = Geometry {
        slots,
        capacity: capacity as usize,
    };
    match g.total() {
        Some(t) if t <= shm.len() => Ok(g),
        _ => Err(RelayError::Corrupt {
            name: name.into(),
            what: format!(
                "{slots} slots of {capacity}-byte message areas do not fit its {} bytes",
                shm.len()
            ),
        }),
    }
}

impl Link {
    fn new(
        shm: Arc<SharedMemory>,
        role: Role,
        slot: u32,
        slot_at: usize,
        gen: u16,
        capacity: usize,
        peer: ProcessId,
    ) -> Result<Link, RelayError> {
        let to_client = RemoteSemaphore::in_segment(&shm, slot_at + TO_CLIENT_SEM)?;
        let to_master = RemoteSemaphore::in_segment(&shm, slot_at + TO_MASTER_SEM)?;
        Ok(Link {
            name: shm.name().into(),
            shm,
            role,
            slot,
            slot_at,
            gen,
            capacity,
            peer,
            to_client,
            to_master,
            connect_time: None,
        })
    }

    fn control(&self) -> &SlotControl {
        control_of(&self.shm, self.slot_at)
    }

    /// Which end this is.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The slot this link occupies in the relay.
    pub fn slot(&self) -> u32 {
        self.slot
    }

    /// Name of the relay.
    pub fn relay_name(&self) -> &str {
        &self.name
    }

    /// For a client: how long [`Relay::connect`] took, from opening the segment to the
    /// master's answer. `None` on the master's end.
    pub fn connect_time(&self) -> Option<Duration> {
        self.connect_time
    }

    /// The semaphore the master signals and the client waits on.
    pub fn to_client(&self) -> &RemoteSemaphore {
        &self.to_client
    }

    /// The semaphore the client signals and the master waits on.
    pub fn to_master(&self) -> &RemoteSemaphore {
        &self.to_master
    }

    /// Choose how this end waits (both semaphores of this handle).
    pub fn set_wait_strategy(&mut self, strategy: WaitStrategy) {
        self.to_client.set_wait_strategy(strategy);
        self.to_master.set_wait_strategy(strategy);
    }

    fn outgoing(&self) -> &RemoteSemaphore {
        match self.role {
            Role::Master => &self.to_client,
            Role::Client => &self.to_master,
        }
    }

    fn incoming(&self) -> &RemoteSemaphore {
        match self.role {
            Role::Master => &self.to_master,
            Role::Client => &self.to_client,
        }
    }

    /// (length word, offset of the bytes) of the area this end writes / reads.
    fn area(&self, outgoing: bool) -> (&AtomicU32, usize) {
        let to_client = (self.role == Role::Master) == outgoing;
        let at = if to_client {
            self.slot_at + TO_CLIENT_AREA
        } else {
            self.slot_at + TO_CLIENT_AREA + 64 + self.capacity
        };
        // SAFETY: `at` + 64 + capacity lies inside the slot, inside the data region
        // (the geometry was checked against `shm.len()`); `at` is a multiple of 64
        // (slot offsets and the capacity are), so the u32 is aligned; an AtomicU32
        // accepts any bytes; the mapping lives as long as `self.shm`.
        let len = unsafe { &*(self.shm.as_ptr().add(at) as *const AtomicU32) };
        (len, at + AREA_DATA)
    }

    /// Whether the peer has closed its end (or, for a client still waiting to be
    /// accepted, the master closed its relay).
    fn peer_closed(&self) -> bool {
        let state = self.control().state.load(Ordering::Acquire);
        if gen_of(state) != self.gen || state & PHASE == FREE {
            return true; // the slot is no longer this link's
        }
        let bit = match self.role {
            Role::Master => CLIENT_GONE,
            Role::Client => MASTER_GONE,
        };
        state & bit != 0
            || (self.role == Role::Client
                && state & PHASE != CONNECTED
                && header_of(&self.shm).closed.load(Ordering::Acquire) != 0)
    }

    /// Wait for one signal on the incoming semaphore, checking every
    /// [`LIVENESS_PERIOD`] that the peer lives and has not closed.
    fn wait_for_peer(
        &self,
        timeout: Option<Duration>,
        what: &'static str,
    ) -> Result<(), RelayError> {
        let sem = self.incoming();
        if sem.try_wait() {
            return Ok(());
        }
        let watch = Watch::peer(self.peer, LIVENESS_PERIOD).timeout(timeout);
        let got = watch.wait_unless_closed(
            || self.peer_closed(),
            |look| {
                let signalled = match look {
                    Look::Wait(slice) => sem.wait_timeout(slice).is_ok(),
                    Look::Last => sem.try_wait(),
                };
                Ok::<_, Infallible>(signalled.then_some(()))
            },
        );
        match got {
            Ok(()) => Ok(()),
            Err(WaitError::Failed(never)) => match never {},
            Err(WaitError::Stopped(stop)) => {
                if stop == Stop::PeerClosed && self.role == Role::Client {
                    crate::fault_point!("relay.client.peer_closed");
                }
                Err(RelayError::stopped(stop, &self.name, what, timeout))
            }
        }
    }
}

impl RelayLink for Link {
    fn signal(&self) -> Result<(), RelayError> {
        self.outgoing()
            .signal()
            .map_err(|source| RelayError::Semaphore {
                name: self.name.clone(),
                source,
            })
    }

    fn wait(&self, timeout: Option<Duration>) -> Result<(), RelayError> {
        self.wait_for_peer(timeout, "a signal from the peer")
    }

    fn send(&self, message: &[u8]) -> Result<(), RelayError> {
        if message.len() > self.capacity {
            return Err(RelayError::TooLarge {
                name: self.name.clone(),
                len: message.len(),
                capacity: self.capacity,
            });
        }
        let (len, at) = self.area(true);
        self.shm.write_at(at, message)?;
        len.store(message.len() as u32, Ordering::Release);
        // The semaphore's read-modify-write publishes the bytes to the waiter.
        self.signal()
    }

    fn recv_into(&self, buf: &mut Vec<u8>, timeout: Option<Duration>) -> Result<(), RelayError> {
        self.wait_for_peer(timeout, "a message from the peer")?;
        let (len, at) = self.area(false);
        let n = len.load(Ordering::Acquire) as usize;
        if n > self.capacity {
            return Err(RelayError::Corrupt {
                name: self.name.clone(),
                what: format!(
                    "slot {} announces a {n}-byte message in a {}-byte area",
                    self.slot, self.capacity
                ),
            });
        }
        buf.resize(n, 0);
        self.shm.read_at(at, buf)?;
        Ok(())
    }

    fn peer(&self) -> ProcessId {
        self.peer
    }

    fn message_capacity(&self) -> usize {
        self.capacity
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        let c = self.control();
        let (mine, theirs) = match self.role {
            Role::Master => (MASTER_GONE, CLIENT_GONE),
            Role::Client => (CLIENT_GONE, MASTER_GONE),
        };
        let mut state = c.state.load(Ordering::Acquire);
        loop {
            if gen_of(state) != self.gen || state & PHASE == FREE {
                return; // already freed (and perhaps reused): not this link's to touch
            }
            let phase = state & PHASE;
            // A client that never got accepted (timed out, master gone) takes back its
            // claim outright; so does whoever closes second, or the survivor of a
            // dead peer.
            let free = (self.role == Role::Client && phase != CONNECTED)
                || state & theirs != 0
                || !is_alive(self.peer);
            let next = if free {
                slot_word(FREE, self.gen, 0)
            } else {
                state | mine
            };
            match c
                .state
                .compare_exchange(state, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => break,
                Err(now) => state = now,
            }
        }
    }
}
