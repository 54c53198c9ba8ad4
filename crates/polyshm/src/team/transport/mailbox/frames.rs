//! The mailbox's frames: the request and reply descriptors, and the payload areas
//! they describe, as each side writes and reads them (every field read is checked).

use super::{proto, Mailbox, IN_REQUEST, NAME, REQ_DESC, RES_DESC};
use crate::team::protocol::{Head, Status, HEAD_LEN, MAX_NAME};
use crate::team::transport::{fault, LinkError, Step};

impl Mailbox {
    /// A descriptor is laid out as a frame head on a socket ([`Head::encode`]), its
    /// reserved bytes holding the flag at [`IN_REQUEST`] (cleared here).
    fn write_desc(&self, at: usize, head: &Head, len: u64) -> Result<(), LinkError> {
        self.ctl.write_at(at, &head.encode(len))?;
        Ok(())
    }

    fn read_desc(&self, at: usize, cap: usize) -> Result<(Head, usize), LinkError> {
        let mut b = [0u8; HEAD_LEN];
        self.ctl.read_at(at, &mut b)?;
        let fixed = Head::decode(&b)?;
        let len = usize::try_from(fixed.len).unwrap_or(usize::MAX);
        // NeedSpace asks for more room than there is: that is its point.
        if len > cap && fixed.status != Status::NeedSpace {
            return Err(proto(format!(
                "the mailbox says {len} bytes, its area holds {cap}"
            )));
        }
        let mut nb = [0u8; MAX_NAME];
        let name = &mut nb[..fixed.name_len];
        self.ctl.read_at(NAME, name)?;
        Ok((fixed.with_name(name)?, len))
    }

    /// Master: put a request in the mailbox (growing it if the payload needs), one copy.
    pub fn write_request(&mut self, head: &Head, payload: &[u8]) -> Result<(), LinkError> {
        // An echo-like task answers with as much as it got: grow both areas at once.
        self.grow(payload.len(), payload.len())?;
        self.ctl.write_at(NAME, head.name.as_bytes())?;
        let (seg, req, _) = self.areas();
        seg.write_at(req, payload)?;
        fault(true, Step::MidWrite);
        self.write_desc(REQ_DESC, head, payload.len() as u64)
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
        self.ctl.write_at(NAME, head.name.as_bytes())?;
        fault(true, Step::MidWrite);
        self.write_desc(REQ_DESC, head, len as u64)
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
        self.refresh()?;
        self.read_desc(REQ_DESC, self.req_cap)
    }

    /// Drone: the request payload, in place (the task may change it).
    pub fn request(&mut self, len: usize) -> Result<&mut [u8], LinkError> {
        if len > self.req_cap {
            return Err(proto(format!(
                "{len} request bytes, the area holds {}",
                self.req_cap
            )));
        }
        let (seg, req, _) = self.areas_mut();
        // SAFETY: the mailbox hand-over: the drone reads the request after `to_drone`
        // was signalled, and the master does not touch the request area again until
        // the drone signals `to_master`.
        Ok(unsafe { seg.view_mut::<u8>(req, len)? })
    }

    /// Drone: describe a reply whose payload is the first `len` bytes of the request
    /// area (left there by a task that works in place).
    pub fn write_reply_in_place(&self, head: &Head, len: usize) -> Result<(), LinkError> {
        self.write_desc(RES_DESC, head, len as u64)?;
        self.ctl.write_at(RES_DESC + IN_REQUEST, &[1])?;
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
        self.write_desc(RES_DESC, head, len as u64)
    }

    /// Master: the reply's head, its length, and whether its payload lies in the
    /// request area (an in-place reply); the length is checked against that area.
    pub fn read_reply(&self) -> Result<(Head, usize, bool), LinkError> {
        let mut flag = [0u8; 1];
        self.ctl.read_at(RES_DESC + IN_REQUEST, &mut flag)?;
        let in_request = flag[0] == 1;
        let cap = if in_request {
            self.req_cap
        } else {
            self.res_cap
        };
        let (head, len) = self.read_desc(RES_DESC, cap)?;
        Ok((head, len, in_request))
    }
}
