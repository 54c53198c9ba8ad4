//! A drone's mailbox: the shared memory behind the [`shm`](super::shm) and
//! [`hybrid`](super::hybrid) transports (study 8.7; the layout DESIGN.md sketches).
//!
//! One control segment per drone, created and owned by the master (its `Drop` unlinks
//! it; after a master killed with -9, `polyshm shm clean` removes it since the owner is
//! dead). Its layout, the descriptors, the areas field, the hello and the task name,
//! then the inline areas, is the table in [`layout`], checked there at compile time.
//!
//! A payload larger than its area never gets truncated: the master moves both areas to a
//! new, larger data segment (request area at 0, result area at the request capacity
//! rounded up to 4 KiB), writes its name and a new generation into the areas field,
//! and drops the old one. A drone whose result does not fit asks for room with a
//! NeedSpace reply and waits for the master to grow the mailbox. Capacities only grow,
//! so a mailbox is reused, its pages already faulted in.
//!
//! Every length, capacity and name read from the mailbox is checked against what the
//! reader knows before use: the other process may have written anything there. The
//! master grows the areas only up to its maximum message size ([`Mailbox::set_max`]):
//! a NeedSpace past it is refused with [`LinkError::TooLarge`] before anything is
//! allocated, and a reply (NeedSpace included) whose sequence number is not the
//! request's is refused by the links before anything acts on it.

use super::{default_max_message, LinkError, Watch};
use crate::shm::{unique_name, RemoteSemaphore, SharedMemory};
use crate::sync::{
    Deadline, EventBasedSemaphore, Look, PeerPlace, SemaphoreEventRelay, WaitStrategy,
};
use crate::team::protocol::ProtocolError;

mod frames;
mod hand;
pub(crate) mod layout;

use hand::HandOver;
pub(crate) use hand::WindowPairs;
pub use hand::{Signal, UnknownSignal};
pub(crate) use layout::INLINE_CAP;
use layout::{Areas, HelloBox, Ident, AREAS, DATA_NAME_MAX, HELLO, HELLO_MAX, IDENT, INLINE};
use layout::{At, DRONE_CPU, LAYOUT, MAGIC, MASTER_CPU, TO_DRONE, TO_MASTER};
use std::sync::atomic::{AtomicU32, Ordering};
const PAGE: usize = 4096;
/// Bytes at the start of each area asked for as a wait ends (see `prefetch_areas`).
const PREFETCH: usize = 128;

fn proto(msg: String) -> LinkError {
    LinkError::Protocol(ProtocolError(msg))
}

/// One drone's mailbox, seen from the master (owner) or the drone (client).
#[derive(Debug)]
pub struct Mailbox {
    ctl: SharedMemory,
    to_drone: HandOver,
    to_master: HandOver,
    strategy: WaitStrategy,
    data: Option<SharedMemory>,
    gen: u64,
    req_cap: usize,
    res_cap: usize,
    /// Largest area the master makes (a grow past it is refused).
    max: usize,
    /// The CPU hint this side last wrote (plus one; 0: none yet): written again only
    /// when it changes, so that its cache line stays shared with the peer instead of
    /// moving to it on every hand-over.
    published_cpu: AtomicU32,
}

impl Mailbox {
    fn wrap(ctl: SharedMemory, strategy: WaitStrategy) -> Result<Mailbox, LinkError> {
        // The mailbox spins itself (see `wait`); the semaphores only block.
        let mut to_drone = RemoteSemaphore::in_segment(&ctl, TO_DRONE)?;
        let mut to_master = RemoteSemaphore::in_segment(&ctl, TO_MASTER)?;
        to_drone.set_wait_strategy(WaitStrategy::Block);
        to_master.set_wait_strategy(WaitStrategy::Block);
        Ok(Mailbox {
            ctl,
            to_drone: HandOver::semaphore(to_drone),
            to_master: HandOver::semaphore(to_master),
            strategy,
            data: None,
            gen: 0,
            req_cap: INLINE_CAP,
            res_cap: INLINE_CAP,
            max: default_max_message(),
            published_cpu: AtomicU32::new(0),
        })
    }

    /// Master: create a mailbox (its pages are faulted in at creation).
    pub fn create(strategy: WaitStrategy) -> Result<Mailbox, LinkError> {
        let ctl = SharedMemory::create(&unique_name("mbx"), INLINE + 2 * INLINE_CAP)?;
        let ident = Ident {
            magic: MAGIC,
            layout: LAYOUT,
        };
        IDENT.store(&ctl, &ident)?;
        let mb = Mailbox::wrap(ctl, strategy)?;
        mb.write_areas(0, "")?;
        Ok(mb)
    }

    /// Drone: open the mailbox the master named.
    pub fn open(name: &str, strategy: WaitStrategy) -> Result<Mailbox, LinkError> {
        let ctl = SharedMemory::open(name)?;
        if ctl.len() < INLINE + 2 * INLINE_CAP {
            return Err(proto(format!(
                "mailbox `{name}` holds {} bytes, a mailbox needs {}",
                ctl.len(),
                INLINE + 2 * INLINE_CAP
            )));
        }
        let Ident { magic, layout } = IDENT.load(&ctl)?;
        if magic != MAGIC {
            return Err(proto(format!("segment `{name}` is not a polyshm mailbox")));
        }
        if layout != LAYOUT {
            return Err(proto(format!(
                "mailbox `{name}` has layout {layout}, this drone reads layout {LAYOUT}; build master and drone from the same version"
            )));
        }
        Mailbox::wrap(ctl, strategy)
    }

    /// Master: signal the hand-over by window messages instead of the semaphores: two
    /// pairs owned by this process's relay. Answers what the drone must be told.
    pub(crate) fn use_window_signals(&mut self) -> Result<WindowPairs, LinkError> {
        let err = |e: crate::sync::EventError| proto(e.to_string());
        let relay = SemaphoreEventRelay::process().map_err(err)?;
        let to_drone = EventBasedSemaphore::create(&relay, 0).map_err(err)?;
        let to_master = EventBasedSemaphore::create(&relay, 0).map_err(err)?;
        let pairs = WindowPairs {
            relay: relay.handle(),
            to_drone: to_drone.id(),
            to_master: to_master.id(),
        };
        self.to_drone.use_window(to_drone);
        self.to_master.use_window(to_master);
        Ok(pairs)
    }

    /// Drone: signal by window messages, as the master said: start this process's
    /// relay, connect to the master's and open both pairs.
    pub(crate) fn open_window_signals(&mut self, pairs: WindowPairs) -> Result<(), LinkError> {
        let err = |e: crate::sync::EventError| proto(e.to_string());
        let relay = SemaphoreEventRelay::process().map_err(err)?;
        let to_drone = EventBasedSemaphore::open(&relay, pairs.relay, pairs.to_drone);
        let to_master = EventBasedSemaphore::open(&relay, pairs.relay, pairs.to_master);
        self.to_drone.use_window(to_drone.map_err(err)?);
        self.to_master.use_window(to_master.map_err(err)?);
        Ok(())
    }

    /// Master: refuse to grow either area past `max` bytes (default
    /// `default_max_message()`: half the memory available, at least 64 MiB).
    pub fn set_max(&mut self, max: usize) {
        self.max = max;
    }

    /// The control segment's name (what the drone opens).
    pub fn name(&self) -> &str {
        self.ctl.name()
    }

    /// Bytes the request area holds now.
    pub fn req_cap(&self) -> usize {
        self.req_cap
    }

    /// Bytes the result area holds now.
    pub fn res_cap(&self) -> usize {
        self.res_cap
    }

    fn write_areas(&self, gen: u64, data_name: &str) -> Result<(), LinkError> {
        // Every segment name fits (checked in `layout`); a longer one is refused, not cut.
        let mut name = [0u8; DATA_NAME_MAX];
        name.get_mut(..data_name.len())
            .ok_or_else(|| proto(format!("a data segment name of {} bytes", data_name.len())))?
            .copy_from_slice(data_name.as_bytes());
        let areas = Areas {
            gen,
            req_cap: self.req_cap as u64,
            res_cap: self.res_cap as u64,
            name_len: data_name.len() as u8,
            _pad: [0; 7],
            name,
        };
        AREAS.store(&self.ctl, &areas)?;
        Ok(())
    }

    fn res_off(req_cap: usize) -> usize {
        req_cap.div_ceil(PAGE) * PAGE
    }

    /// (segment, request offset, result offset) of the current areas.
    fn areas(&self) -> (&SharedMemory, usize, usize) {
        match &self.data {
            None => (&self.ctl, INLINE, INLINE + INLINE_CAP),
            Some(d) => (d, 0, Self::res_off(self.req_cap)),
        }
    }

    /// Master: make the request area hold `req` bytes and the result area `res`,
    /// moving both to a new data segment if they do not already.
    ///
    /// A size past the maximum ([`set_max`](Self::set_max)) is refused with
    /// [`LinkError::TooLarge`] before anything is allocated.
    pub fn grow(&mut self, req: usize, res: usize) -> Result<(), LinkError> {
        if req <= self.req_cap && res <= self.res_cap {
            return Ok(());
        }
        for (what, bytes) in [("a request area", req), ("a result area", res)] {
            if bytes > self.max {
                return Err(LinkError::TooLarge {
                    what,
                    bytes: bytes as u64,
                    max: self.max as u64,
                });
            }
        }
        // Room to grow into, but never past the maximum.
        let round = |n: usize| {
            n.checked_next_power_of_two()
                .unwrap_or(n)
                .min(self.max)
                .max(n)
        };
        let req_cap = self.req_cap.max(round(req));
        let res_cap = self.res_cap.max(round(res));
        let total = Self::res_off(req_cap)
            .checked_add(res_cap)
            .ok_or_else(|| proto(format!("a mailbox of {req_cap} + {res_cap} bytes")))?;
        let data = SharedMemory::create(&unique_name("mbd"), total)?;
        self.req_cap = req_cap;
        self.res_cap = res_cap;
        self.gen += 1;
        self.write_areas(self.gen, data.name())?;
        // The old data segment (if any) goes now; a drone that still maps it keeps its
        // mapping until it moves to the new one.
        self.data = Some(data);
        Ok(())
    }

    /// Drone: follow the master to the current areas, checking what it wrote.
    pub fn refresh(&mut self) -> Result<(), LinkError> {
        let a = AREAS.load(&self.ctl)?;
        let gen = a.gen;
        if gen == self.gen {
            return Ok(());
        }
        let req_cap = usize::try_from(a.req_cap).unwrap_or(usize::MAX);
        let res_cap = usize::try_from(a.res_cap).unwrap_or(usize::MAX);
        let nl = a.name_len as usize;
        if nl == 0 || nl > DATA_NAME_MAX {
            return Err(proto(format!("mailbox data segment name of {nl} bytes")));
        }
        let name = std::str::from_utf8(&a.name[..nl])
            .map_err(|_| proto("mailbox data segment name is not UTF-8".into()))?;
        let data = SharedMemory::open(name)?;
        let need = req_cap
            .checked_next_multiple_of(PAGE)
            .and_then(|o| o.checked_add(res_cap));
        if need.is_none_or(|n| n > data.len()) {
            return Err(proto(format!(
                "mailbox data segment `{name}` holds {} bytes, the areas say {req_cap} + {res_cap}",
                data.len()
            )));
        }
        self.req_cap = req_cap;
        self.res_cap = res_cap;
        self.gen = gen;
        self.data = Some(data);
        Ok(())
    }

    /// (segment, request offset, result offset) of the current areas, mutably.
    fn areas_mut(&mut self) -> (&mut SharedMemory, usize, usize) {
        let res = Self::res_off(self.req_cap);
        match &mut self.data {
            None => (&mut self.ctl, INLINE, INLINE + INLINE_CAP),
            Some(d) => (d, 0, res),
        }
    }

    /// Store handshake bytes.
    pub fn write_hello(&self, bytes: &[u8]) -> Result<(), LinkError> {
        let mut hello: HelloBox = bytemuck::Zeroable::zeroed();
        hello
            .bytes
            .get_mut(..bytes.len())
            .ok_or_else(|| proto(format!("hello of {} bytes", bytes.len())))?
            .copy_from_slice(bytes);
        hello.len = bytes.len() as u32;
        HELLO.store(&self.ctl, &hello)?;
        Ok(())
    }

    /// Read handshake bytes (length checked).
    pub fn read_hello(&self) -> Result<Vec<u8>, LinkError> {
        let hello = HELLO.load(&self.ctl)?;
        let len = hello.len as usize;
        if len > HELLO_MAX {
            return Err(proto(format!("hello of {len} bytes in the mailbox")));
        }
        Ok(hello.bytes[..len].to_vec())
    }

    /// Where the peer whose CPU slot is `peer` last ran, seen from `here`, after noting
    /// `here` in this side's slot `mine` for the peer's next wait. Both are hints: any
    /// value the peer may have scribbled decides only how the bounded spin polls, never
    /// whether the wait ends. Done as a wait begins, off the hand-over's path: the
    /// other side is working then (a signal goes out without them).
    fn places(&self, mine: At<u32>, peer: At<u32>) -> PeerPlace {
        let here = polyshm_sys::current_cpu();
        let cpu = here.map_or(0, |c| c as u32 + 1);
        // Written again only when it changes: the line stays shared with the peer
        // instead of moving to it on every hand-over. If the write fails the peer spins
        // as if the CPU were unknown.
        // (A load and a store, not a swap: this side alone writes it, and a
        // read-modify-write would cost a locked instruction on every wait.)
        if self.published_cpu.load(Ordering::Relaxed) != cpu {
            self.published_cpu.store(cpu, Ordering::Relaxed);
            let _ = mine.store(&self.ctl, &cpu);
        }
        let Ok(seen) = peer.load(&self.ctl) else {
            return PeerPlace::Unknown;
        };
        PeerPlace::of(here, seen.checked_sub(1).map(|c| c as usize))
    }

    /// Ask the CPU for the first lines of the areas the waiter touches once the
    /// signal came: the drone reads the request and writes the result, the master
    /// reads the result. Asked for the moment the spin sees the signal, they move
    /// while the waiter reads and checks the descriptor instead of after.
    fn prefetch_areas(&self, drone: bool) {
        let (seg, req, res) = self.areas();
        let base = seg.as_ptr().cast_const();
        for line in (0..PREFETCH).step_by(64) {
            if drone {
                polyshm_sys::prefetch_read(base.wrapping_add(req + line));
                polyshm_sys::prefetch_write(base.wrapping_add(res + line));
            } else {
                polyshm_sys::prefetch_read(base.wrapping_add(res + line));
            }
        }
    }

    fn wait(
        &self,
        sem: &HandOver,
        peer: PeerPlace,
        watch: &Watch<'_>,
        drone: bool,
    ) -> Result<(), LinkError> {
        // The strategy's bounded spin (beside a peer on another CPU it polls; on a
        // shared CPU each turn yields the CPU; for at most the budget), the one `sync`
        // gives every waiter; then the watched wait: bounded sleeps that check the
        // peer between them, and a last look before giving up.
        if sem.spins()
            && self.strategy.spin_for(Deadline::NEVER, peer, || {
                let got = sem.try_wait().unwrap_or(false);
                if got {
                    self.prefetch_areas(drone);
                }
                got
            })
        {
            return Ok(());
        }
        let got = watch.wait(|look| match look {
            Look::Wait(slice) => {
                if sem.wait_timeout(slice)? {
                    return Ok(Some(()));
                }
                crate::fault_point!("team.wait.timed_out");
                Ok(None)
            }
            Look::Last => Ok(sem.try_wait()?.then_some(())),
        });
        got.map_err(LinkError::from)
    }

    /// Wait until the drone signals.
    pub(crate) fn wait_master(&self, watch: &Watch<'_>) -> Result<(), LinkError> {
        self.wait(
            &self.to_master,
            self.places(MASTER_CPU, DRONE_CPU),
            watch,
            false,
        )
    }

    /// Wait until the master signals.
    pub(crate) fn wait_drone(&self, watch: &Watch<'_>) -> Result<(), LinkError> {
        self.wait(
            &self.to_drone,
            self.places(DRONE_CPU, MASTER_CPU),
            watch,
            true,
        )
    }

    /// The request and reply descriptors' bytes (the semaphores' notes), as they lie
    /// now: for the hostile doors, which cannot reach them as bytes of the segment
    /// (this process reserves the semaphores' lines).
    pub(crate) fn desc_bytes(&self) -> [[u8; crate::sync::NOTE_LEN]; 2] {
        // A descriptor is exactly a note (checked in `layout`).
        [self.to_drone.read_desc(), self.to_master.read_desc()].map(bytemuck::cast)
    }

    /// Overwrite the request and reply descriptors with any bytes (the hostile doors).
    pub(crate) fn scribble_descs(&self, bytes: &[[u8; crate::sync::NOTE_LEN]; 2]) {
        // Any bytes are a descriptor (it is `Pod`): its reader checks every field.
        self.to_drone.write_desc(&bytemuck::cast(bytes[0]));
        self.to_master.write_desc(&bytemuck::cast(bytes[1]));
    }

    /// Wake the drone.
    pub fn signal_drone(&self) -> Result<(), LinkError> {
        self.to_drone.signal()
    }

    /// Wake the master.
    pub fn signal_master(&self) -> Result<(), LinkError> {
        self.to_master.signal()
    }
}

#[cfg(test)]
mod tests;
