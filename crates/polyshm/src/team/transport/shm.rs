//! Request and result both through the drone's [`mailbox`](super::mailbox),
//! semaphores for the hand-over (study 8.7): [`ShmMaster`] and [`ShmDrone`].
//!
//! The master copies the request payload into the request area once (or the caller
//! wrote it there, a loan: no copy); the drone reads it in place; the drone copies its
//! result into the result area once (or, for a task that works in place, leaves it
//! where the request was: no copy); the master reads it in place. A signal enters the
//! kernel only when the peer sleeps.

use super::mailbox::Mailbox;
use super::{fault, DroneLink, LinkError, MasterLink, Step, Watch};
use crate::team::protocol::{Head, Kind, ProtocolError, Status};

/// The master's end of a shared-memory link (the mailbox is the master's).
#[derive(Debug)]
pub(crate) struct ShmMaster {
    mb: Mailbox,
    /// The last reply received: its length and whether it lies in the request area.
    reply: (usize, bool),
    /// Sequence number of the last task sent: a reply must carry it.
    expect: u64,
}

impl ShmMaster {
    pub fn new(mb: Mailbox) -> ShmMaster {
        ShmMaster {
            mb,
            reply: (0, false),
            expect: 0,
        }
    }

    /// Wake the drone: the request is complete (with the fault points around it).
    fn signal(&self) -> Result<(), LinkError> {
        fault(true, Step::BeforeSignal);
        self.mb.signal_drone()?;
        fault(true, Step::AfterSignal);
        Ok(())
    }
}

impl MasterLink for ShmMaster {
    fn send(&mut self, head: &Head, payload: &[u8], _watch: &Watch<'_>) -> Result<(), LinkError> {
        self.expect = head.seq;
        self.mb.write_request(head, payload)?;
        self.signal()
    }

    fn send_loaned(
        &mut self,
        head: &Head,
        len: usize,
        _watch: &Watch<'_>,
    ) -> Result<(), LinkError> {
        self.expect = head.seq;
        self.mb.write_loaned_request(head, len)?;
        self.signal()
    }

    fn recv_reply(&mut self, watch: &Watch<'_>) -> Result<Head, LinkError> {
        loop {
            self.mb.wait_master(watch)?;
            fault(true, Step::BeforeRead);
            let (head, len, in_request) = self.mb.read_reply()?;
            fault(true, Step::MidRead);
            if head.kind != Kind::Reply {
                return Err(ProtocolError(format!(
                    "a {:?} frame where a reply belongs",
                    head.kind
                ))
                .into());
            }
            // Checked before anything acts on the reply, NeedSpace included.
            if head.seq != self.expect {
                return Err(ProtocolError(format!(
                    "a reply to request {} where {} was expected",
                    head.seq, self.expect
                ))
                .into());
            }
            if head.status == Status::NeedSpace {
                self.mb.grow(0, len)?;
                self.mb.signal_drone()?;
                continue;
            }
            // Checked against its area now; the areas only grow.
            self.mb.reply_view(len, in_request)?;
            self.reply = (len, in_request);
            return Ok(head);
        }
    }

    fn reply_payload(&mut self) -> &[u8] {
        let (len, in_request) = self.reply;
        // Checked when the reply came (`recv_reply`).
        self.mb.reply_view(len, in_request).unwrap_or(&[])
    }

    fn loan(&mut self, len: usize) -> Result<&mut [u8], LinkError> {
        self.mb.request_area(len)
    }
}

/// The drone's end of a shared-memory link.
#[derive(Debug)]
pub(crate) struct ShmDrone {
    mb: Mailbox,
    /// Length of the last request received.
    last: usize,
}

impl ShmDrone {
    pub fn new(mb: Mailbox) -> ShmDrone {
        ShmDrone { mb, last: 0 }
    }

    /// Wake the master: the reply is complete (with the fault points around it).
    fn signal(&self) -> Result<(), LinkError> {
        fault(false, Step::BeforeSignal);
        self.mb.signal_master()?;
        fault(false, Step::AfterSignal);
        Ok(())
    }
}

impl DroneLink for ShmDrone {
    fn recv(
        &mut self,
        watch: &Watch<'_>,
        on: &mut dyn FnMut(&Head, &mut [u8]),
    ) -> Result<(), LinkError> {
        self.mb.wait_drone(watch)?;
        fault(false, Step::BeforeRead);
        let (head, len) = self.mb.read_request()?;
        fault(false, Step::MidRead);
        self.last = len;
        on(&head, self.mb.request(len)?);
        Ok(())
    }

    fn send(&mut self, head: &Head, payload: &[u8], watch: &Watch<'_>) -> Result<(), LinkError> {
        self.mb.refresh()?;
        if payload.len() > self.mb.res_cap() {
            // Ask the master for room, wait until it has made it.
            let seq = if crate::fault_returns!("team.drone.need_space_wrong_seq") {
                head.seq.wrapping_add(1)
            } else {
                head.seq
            };
            self.mb
                .write_reply(&Head::reply(seq, Status::NeedSpace), payload.len())?;
            self.mb.signal_master()?;
            self.mb.wait_drone(watch)?;
            self.mb.refresh()?;
        }
        self.mb.write_result(payload)?;
        fault(false, Step::MidWrite);
        self.mb.write_reply(head, payload.len())?;
        self.signal()
    }

    fn send_in_place(
        &mut self,
        head: &Head,
        len: usize,
        _watch: &Watch<'_>,
    ) -> Result<(), LinkError> {
        if len > self.last {
            return Err(ProtocolError(format!(
                "an in-place reply of {len} bytes from a request of {}",
                self.last
            ))
            .into());
        }
        // The result is where the request was: nothing to copy.
        fault(false, Step::MidWrite);
        self.mb.write_reply_in_place(head, len)?;
        self.signal()
    }
}
