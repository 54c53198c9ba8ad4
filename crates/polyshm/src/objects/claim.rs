//! The claim table: one 64-byte slot of atomics per part, saying which process writes
//! the part.
//!
//! # Protocol
//!
//! A slot's **word** holds the claimant's pid (low 32 bits, 0 when the part is free)
//! and a tag (high 32 bits) that every claim advances. Claiming is one
//! compare-and-swap from the word seen to the caller's pid with the next tag, taken
//! under the object's lock (so that a locked write, which checks the table under the
//! same lock, never writes a cell whose part is being claimed). After it the claimant
//! publishes a record: its process start time (`rec_start`), then the word it wrote
//! (`rec_key`), both release stores. A reader that finds `rec_key` equal to the word
//! (and the word unchanged after reading `rec_start`) judges the claimant by pid and
//! start time; otherwise (the record not written yet, or left by an earlier claimant,
//! whose tag was another) by the pid alone, which may take a reused pid for a live
//! claimant: a refusal, never two writers.
//!
//! A part whose claimant is alive is refused ([`ObjectError::Claimed`]); one whose
//! claimant is dead is taken over, with the same compare-and-swap. Dropping a claim
//! sets the pid to 0 with a compare-and-swap from the caller's own word, so a claim
//! that was taken over can never free its successor's.
//!
//! Any bits in a slot are a valid state: another process may scribble on the table
//! and then parts are wrongly refused or taken over (wrong data), never accessed out
//! of bounds.

use super::ObjectError;
use polyshm_sys::ProcessId;
use std::sync::atomic::{AtomicU64, Ordering};

/// Bytes of one slot: a cache line, so that claimants do not share one.
pub(crate) const SLOT: usize = 64;

/// How many times a claim is tried while the word changes under it.
const TRIES: u32 = 64;

/// One part's slot in the segment (see the module docs).
#[repr(C, align(64))]
pub(crate) struct ClaimSlot {
    /// Claimant's pid (low 32 bits; 0: free) and tag (high 32 bits).
    word: AtomicU64,
    /// The word the claimant's record belongs to.
    rec_key: AtomicU64,
    /// The claimant's process start time.
    rec_start: AtomicU64,
    _pad: [u64; 5],
}

const _: () = assert!(std::mem::size_of::<ClaimSlot>() == SLOT);

fn pid_of(w: u64) -> u32 {
    w as u32
}

/// The word that claims `w` for `pid`: the next tag.
fn taken(w: u64, pid: u32) -> u64 {
    ((w >> 32).wrapping_add(1) << 32) | u64::from(pid)
}

impl ClaimSlot {
    /// The claimant named by word `w` (pid not 0), with its start time if its record
    /// is there; `None` if the word changed meanwhile (look again).
    fn claimant(&self, w: u64) -> Option<ProcessId> {
        let start_time = if self.rec_key.load(Ordering::Acquire) == w {
            let s = self.rec_start.load(Ordering::Acquire);
            // A later claimant writes `rec_start` only after moving the word on: if
            // the word is still `w`, `s` is the record of `w`'s claimant.
            if self.word.load(Ordering::Acquire) != w {
                return None;
            }
            s
        } else {
            0
        };
        Some(ProcessId {
            pid: pid_of(w),
            start_time,
        })
    }

    /// The live process that holds this part, if any (a dead claimant holds nothing).
    pub(crate) fn live_claimant(&self) -> Option<ProcessId> {
        for _ in 0..TRIES {
            let w = self.word.load(Ordering::Acquire);
            if pid_of(w) == 0 {
                return None;
            }
            if let Some(p) = self.claimant(w) {
                return polyshm_sys::is_alive(p).then_some(p);
            }
        }
        // The word keeps changing: someone holds or takes it; count it as held.
        Some(ProcessId {
            pid: pid_of(self.word.load(Ordering::Acquire)),
            start_time: 0,
        })
    }

    /// Claim the part for this process (the caller holds the object's lock).
    /// Answers the word written and the dead claimant taken over, if any.
    pub(crate) fn claim(
        &self,
        segment: &str,
        part: usize,
    ) -> Result<(u64, Option<ProcessId>), ObjectError> {
        let me = polyshm_sys::current_process();
        for _ in 0..TRIES {
            let w = self.word.load(Ordering::Acquire);
            let previous = if pid_of(w) == 0 {
                None
            } else {
                let Some(p) = self.claimant(w) else { continue };
                if polyshm_sys::is_alive(p) {
                    return Err(ObjectError::Claimed {
                        segment: segment.into(),
                        part,
                        by: p,
                    });
                }
                Some(p)
            };
            let mine = taken(w, me.pid);
            if self
                .word
                .compare_exchange(w, mine, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                self.rec_start.store(me.start_time, Ordering::Release);
                self.rec_key.store(mine, Ordering::Release);
                return Ok((mine, previous));
            }
        }
        Err(ObjectError::ClaimContended {
            segment: segment.into(),
            part,
            tries: TRIES,
        })
    }

    /// Drop the claim that wrote `mine` (nothing if it was taken over since).
    pub(crate) fn release(&self, mine: u64) {
        let free = mine & !0xFFFF_FFFF;
        let _ = self
            .word
            .compare_exchange(mine, free, Ordering::AcqRel, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot() -> Box<ClaimSlot> {
        Box::new(ClaimSlot {
            word: AtomicU64::new(0),
            rec_key: AtomicU64::new(0),
            rec_start: AtomicU64::new(0),
            _pad: [0; 5],
        })
    }

    /// A pid that no process has (above Linux's `pid_max` limit of 2^22).
    const NO_SUCH_PID: u32 = (1 << 22) + 12_345;

    #[test]
    fn claim_refuse_release_and_claim_again() {
        let s = slot();
        let me = polyshm_sys::current_process();
        let (mine, prev) = s.claim("t", 0).unwrap();
        assert_eq!(prev, None);
        assert_eq!(pid_of(mine), me.pid);
        assert_eq!(s.live_claimant(), Some(me), "judged with its record");
        match s.claim("t", 0) {
            Err(ObjectError::Claimed { by, part: 0, .. }) => assert_eq!(by, me),
            other => panic!("expected Claimed, got {other:?}"),
        }
        s.release(mine);
        assert_eq!(s.live_claimant(), None);
        let (again, _) = s.claim("t", 0).unwrap();
        assert_ne!(again, mine, "the tag moved on");
        // The old claim's release cannot free the new one.
        s.release(mine);
        assert_eq!(s.live_claimant(), Some(me));
    }

    #[test]
    fn a_dead_claimant_is_taken_over_and_named() {
        let s = slot();
        let dead = (5 << 32) | u64::from(NO_SUCH_PID);
        s.word.store(dead, Ordering::Relaxed);
        assert_eq!(s.live_claimant(), None);
        let (_, prev) = s.claim("t", 3).unwrap();
        assert_eq!(prev.map(|p| p.pid), Some(NO_SUCH_PID));
    }

    #[test]
    fn a_record_of_an_earlier_claimant_is_not_used() {
        let s = slot();
        let me = polyshm_sys::current_process();
        // Claimed by this (live) process, record missing: judged by pid alone.
        s.word
            .store((9 << 32) | u64::from(me.pid), Ordering::Relaxed);
        s.rec_key
            .store(8 << 32 | u64::from(me.pid), Ordering::Relaxed);
        s.rec_start.store(1, Ordering::Relaxed); // a wrong start time, ignored
        assert_eq!(
            s.live_claimant(),
            Some(ProcessId {
                pid: me.pid,
                start_time: 0
            })
        );
    }
}
