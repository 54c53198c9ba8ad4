//! The mailbox's frames: the request and reply descriptors, and the payload areas
//! they describe, as each side writes and reads them (every field read is checked).

use super::hand::HandOver;
use super::layout::{Desc, NAME, SHORT_NAME};
use super::{proto, Mailbox};
use crate::team::protocol::{parse_name_into, Head, Kind, Status, MAX_NAME};
use crate::team::transport::{fault, LinkError, Step};

impl Mailbox {
    /// Write a descriptor, whole, into the note of the hand-over that signals it
    /// (`in_request`: the payload lies in the request area).
    fn write_desc(
        &self,
        at: &HandOver,
        head: &Head,
        len: u64,
        in_request: bool,
    ) -> Result<(), LinkError> {
        let name = head.name.as_bytes();
        let mut desc = Desc {
            kind: head.kind as u8,
            status: head.status as u8,
            name_len: name.len() as u16,
            in_request: u8::from(in_request),
            _pad: [0; 3],
            seq: head.seq,
            len,
            short_name: [0; SHORT_NAME],
        };
        match desc.short_name.get_mut(..name.len()) {
            Some(short) => short.copy_from_slice(name),
            None => self.ctl.write_at(NAME, name)?,
        }
        at.write_desc(&desc);
        Ok(())
    }

    /// Check a descriptor the peer wrote (a copy of it), its length against `cap`;
    /// answers its length, its head put in `head` (whose name keeps its allocation).
    fn check_desc(&self, d: &Desc, cap: usize, head: &mut Head) -> Result<usize, LinkError> {
        let kind = Kind::from_u8(d.kind)?;
        let status = Status::from_u8(d.status)?;
        let nl = d.name_len as usize;
        if nl > MAX_NAME {
            return Err(proto(format!("task name of {nl} bytes in the mailbox")));
        }
        let seq = d.seq;
        let len = usize::try_from(d.len).unwrap_or(usize::MAX);
        // NeedSpace asks for more room than there is: that is its point.
        if len > cap && status != Status::NeedSpace {
            return Err(proto(format!(
                "the mailbox says {len} bytes, its area holds {cap}"
            )));
        }
        match d.short_name.get(..nl) {
            Some(short) => parse_name_into(short, &mut head.name)?,
            None => {
                let mut nb = [0u8; MAX_NAME];
                self.ctl.read_at(NAME, &mut nb[..nl])?;
                parse_name_into(&nb[..nl], &mut head.name)?
            }
        }
        (head.kind, head.status, head.seq) = (kind, status, seq);
        Ok(len)
    }

    /// Master: put a request in the mailbox (growing it if the payload needs), one copy.
    pub fn write_request(&mut self, head: &Head, payload: &[u8]) -> Result<(), LinkError> {
        // An echo-like task answers with as much as it got: grow both areas at once.
        self.grow(payload.len(), payload.len())?;
        let (seg, req, _) = self.areas();
        seg.write_at(req, payload)?;
        fault(true, Step::MidWrite);
        self.write_desc(&self.to_drone, head, payload.len() as u64, false)
    }

    /// Master: lend the request area, grown to hold `len` bytes (and the result area
    /// as many, for an echo-like answer), to be filled in place.
    pub fn request_area(&mut self, len: usize) -> Result<&mut [u8], LinkError> {
        self.grow(len, len)?;
        let (seg, req, _) = self.areas_mut();
        // SAFETY: the mailbox hand-over: between the drone's reply (signalled on
        // `to_master`) and the next request (signalled on `to_drone`) the drone does
        // not touch the areas; the master lends the request area only then.
        Ok(unsafe { seg.view_mut::<u8>(req, len)? })
    }

    /// Master: describe a request whose `len` payload bytes the caller already wrote
    /// into the request area (a loan): no copy.
    pub fn write_loaned_request(&mut self, head: &Head, len: usize) -> Result<(), LinkError> {
        if len > self.req_cap {
            return Err(proto(format!(
                "a loaned request of {len} bytes in an area of {}",
                self.req_cap
            )));
        }
        fault(true, Step::MidWrite);
        self.write_desc(&self.to_drone, head, len as u64, false)
    }

    /// Master: a reply's payload, read-only: in the result area, or for an in-place
    /// reply in the request area (`len` must fit the area).
    pub fn reply_view(&mut self, len: usize, in_request: bool) -> Result<&[u8], LinkError> {
        let (req_cap, res_cap) = (self.req_cap, self.res_cap);
        let (seg, req, res) = self.areas_mut();
        let (at, cap) = if in_request {
            (req, req_cap)
        } else {
            (res, res_cap)
        };
        if len > cap {
            return Err(proto(format!(
                "the drone says {len} result bytes, the area holds {cap}"
            )));
        }
        // SAFETY: the mailbox hand-over: the master reads the reply after `to_master`
        // was signalled, and the drone does not touch the areas again until the next
        // request is signalled on `to_drone`.
        Ok(unsafe { seg.view::<u8>(at, len)? })
    }

    /// Drone: the request's head and payload length (checked).
    pub fn read_request(&mut self) -> Result<(Head, usize), LinkError> {
        let mut head = Head::control(Kind::Task, 0);
        let len = self.read_request_into(&mut head)?;
        Ok((head, len))
    }

    /// Drone: the request's payload length (checked), its head put in `head` (whose
    /// name keeps its allocation: the drone reads one per request).
    pub fn read_request_into(&mut self, head: &mut Head) -> Result<usize, LinkError> {
        self.refresh()?;
        let desc = self.to_drone.read_desc();
        self.check_desc(&desc, self.req_cap, head)
    }

    /// Drone: the request payload, in place (the task may change it), and the whole
    /// result area (the task may write its result there).
    pub fn request_and_result(&mut self, len: usize) -> Result<(&mut [u8], &mut [u8]), LinkError> {
        if len > self.req_cap {
            return Err(proto(format!(
                "{len} request bytes, the area holds {}",
                self.req_cap
            )));
        }
        let res_cap = self.res_cap;
        let (seg, req, res) = self.areas_mut();
        // SAFETY: the mailbox hand-over: the drone reads the request and writes the
        // result after `to_drone` was signalled, and the master touches neither area
        // again until the drone signals `to_master`. The two areas are one span of the
        // segment (the result area follows the request area), split below into two
        // slices that do not overlap.
        let span = unsafe { seg.view_mut::<u8>(req, res - req + res_cap)? };
        let (request, result) = span.split_at_mut(res - req);
        Ok((&mut request[..len], result))
    }

    /// Drone: describe a reply whose payload is the first `len` bytes of the request
    /// area (left there by a task that works in place).
    pub fn write_reply_in_place(&self, head: &Head, len: usize) -> Result<(), LinkError> {
        self.write_desc(&self.to_master, head, len as u64, true)
    }

    /// Drone: the whole result area, for a task to write its result into.
    pub fn result_area(&mut self) -> Result<&mut [u8], LinkError> {
        let res_cap = self.res_cap;
        let (seg, _, res) = self.areas_mut();
        // SAFETY: the mailbox hand-over: the drone writes the result area only between
        // the master's request and its own reply signal (`to_master`), and the master
        // reads it only after that signal.
        Ok(unsafe { seg.view_mut::<u8>(res, res_cap)? })
    }

    /// Drone: check that a reply said to lie in the result area fits it.
    pub fn check_in_result(&self, len: usize) -> Result<(), LinkError> {
        if len > self.res_cap {
            return Err(proto(format!(
                "a reply of {len} bytes said to lie in a result area of {}",
                self.res_cap
            )));
        }
        Ok(())
    }

    /// Drone: copy a result into the result area (it must fit; see NeedSpace).
    pub fn write_result(&self, payload: &[u8]) -> Result<(), LinkError> {
        let (seg, _, res) = self.areas();
        if payload.len() > self.res_cap {
            return Err(proto(format!(
                "result of {} bytes for an area of {}",
                payload.len(),
                self.res_cap
            )));
        }
        seg.write_at(res, payload)?;
        Ok(())
    }

    /// Drone: describe the reply (its payload already in the result area, or a
    /// NeedSpace with the bytes needed).
    pub fn write_reply(&self, head: &Head, len: usize) -> Result<(), LinkError> {
        self.write_desc(&self.to_master, head, len as u64, false)
    }

    /// Master: the reply's head, its length, and whether its payload lies in the
    /// request area (an in-place reply); the length is checked against that area.
    pub fn read_reply(&self) -> Result<(Head, usize, bool), LinkError> {
        // One copy: the flag and the length it is checked with come from the same read.
        let desc = self.to_master.read_desc();
        let in_request = desc.in_request == 1;
        let cap = if in_request {
            self.req_cap
        } else {
            self.res_cap
        };
        // A reply has no name: nothing is allocated.
        let mut head = Head::reply(0, Status::Ok);
        let len = self.check_desc(&desc, cap, &mut head)?;
        Ok((head, len, in_request))
    }
}

#[cfg(test)]
mod tests {
    use super::super::layout::{HELLO_MAX, INLINE, INLINE_CAP};
    use super::*;
    use crate::sync::WaitStrategy;
    use crate::team::protocol::Head;

    fn pair() -> (Mailbox, Mailbox) {
        let master = Mailbox::create(WaitStrategy::Block).unwrap();
        let drone = Mailbox::open(master.name(), WaitStrategy::Block).unwrap();
        (master, drone)
    }

    fn refused<T: std::fmt::Debug>(r: Result<T, LinkError>) -> bool {
        matches!(r, Err(LinkError::Protocol(_)))
    }

    /// Every area check lets a payload that fills its area exactly through, and refuses
    /// one byte more as a protocol error, before anything reads or writes past the
    /// area (the inline areas lie side by side: one byte past the request area is the
    /// result area's first).
    #[test]
    fn an_area_holds_its_capacity_and_not_a_byte_more() {
        let (mut master, mut drone) = pair();
        // A request that fills the request area.
        let full = vec![5u8; INLINE_CAP];
        master.write_request(&Head::task(1, "t"), &full).unwrap();
        let (_, len) = drone.read_request().unwrap();
        assert_eq!(len, INLINE_CAP);
        let (request, result) = drone.request_and_result(INLINE_CAP).unwrap();
        assert_eq!((request.len(), result.len()), (INLINE_CAP, INLINE_CAP));
        assert!(refused(drone.request_and_result(INLINE_CAP + 1)));

        // A loaned request: the area's size, not more.
        master
            .write_loaned_request(&Head::task(2, "t"), INLINE_CAP)
            .unwrap();
        assert!(refused(
            master.write_loaned_request(&Head::task(3, "t"), INLINE_CAP + 1)
        ));

        // The drone's result: the result area's size, not more.
        drone.write_result(&full).unwrap();
        assert!(refused(drone.write_result(&vec![0u8; INLINE_CAP + 1])));
        drone.check_in_result(INLINE_CAP).unwrap();
        assert!(refused(drone.check_in_result(INLINE_CAP + 1)));

        // The handshake bytes: as many as the field holds, not one more.
        master.write_hello(&[9u8; HELLO_MAX]).unwrap();
        assert_eq!(drone.read_hello().unwrap(), [9u8; HELLO_MAX]);
        assert!(refused(master.write_hello(&[9u8; HELLO_MAX + 1])));

        // The control segment is exactly what a drone requires of one.
        assert_eq!(master.ctl.len(), INLINE + 2 * INLINE_CAP);

        // The master's view of a reply, in either area.
        for in_request in [false, true] {
            assert_eq!(
                master.reply_view(INLINE_CAP, in_request).unwrap().len(),
                INLINE_CAP
            );
            assert!(refused(master.reply_view(INLINE_CAP + 1, in_request)));
        }
    }

    /// The maximum message size bounds the areas: a grow to exactly the maximum is
    /// made, one byte more is refused as too large before anything is allocated.
    #[test]
    fn areas_grow_to_the_maximum_and_no_further() {
        let (mut master, _drone) = pair();
        let max = 4 * INLINE_CAP;
        master.set_max(max);
        master.grow(max, max).unwrap();
        assert_eq!((master.req_cap(), master.res_cap()), (max, max));
        for (req, res) in [(max + 1, 0), (0, max + 1)] {
            let e = master.grow(req, res).unwrap_err();
            assert!(
                matches!(e, LinkError::TooLarge { bytes, max: m, .. } if bytes == max as u64 + 1 && m == max as u64),
                "{e}"
            );
        }
    }
}
