//! Request and result both through the drone's [`mailbox`](super::mailbox),
//! semaphores for the hand-over (study 8.7): [`ShmMaster`] and [`ShmDrone`].
//!
//! The master copies the request payload into the request area once (or the caller
//! wrote it there, a loan: no copy); the drone reads it in place; the drone copies its
//! result into the result area once (or, for a task that works in place, leaves it
//! where the request was: no copy); the master reads it in place. A signal enters the
//! kernel only when the peer sleeps.

use super::mailbox::Mailbox;
use super::{
    check_in_place, fault, need_space, DroneLink, LinkError, MasterLink, Receiver, Step, Watch,
};
use crate::team::protocol::{Head, Kind, Status};

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
            let (head, len, in_request) = next_reply(&self.mb, watch)?;
            // Checked before anything acts on the reply, NeedSpace included.
            head.check_reply(Some(self.expect))?;
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

    fn loan_capacity(&self) -> usize {
        self.mb.req_cap()
    }
}

/// Master: wait for the drone's signal and read its reply descriptor: (head, length,
/// whether the payload lies in the request area), with the fault points around the
/// read.
pub(crate) fn next_reply(
    mb: &Mailbox,
    watch: &Watch<'_>,
) -> Result<(Head, usize, bool), LinkError> {
    mb.wait_master(watch)?;
    fault(true, Step::BeforeRead);
    let reply = mb.read_reply()?;
    fault(true, Step::MidRead);
    Ok(reply)
}

/// The drone's end of a shared-memory link.
#[derive(Debug)]
pub(crate) struct ShmDrone {
    mb: Mailbox,
    /// Length of the last request received.
    last: usize,
    /// The head of the last request received (kept: its name's allocation is reused).
    head: Head,
}

impl ShmDrone {
    pub fn new(mb: Mailbox) -> ShmDrone {
        ShmDrone {
            mb,
            last: 0,
            head: Head::control(Kind::Task, 0),
        }
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
    fn recv(&mut self, watch: &Watch<'_>, on: &mut Receiver<'_>) -> Result<(), LinkError> {
        self.mb.wait_drone(watch)?;
        fault(false, Step::BeforeRead);
        let len = self.mb.read_request_into(&mut self.head)?;
        fault(false, Step::MidRead);
        self.last = len;
        let (request, result) = self.mb.request_and_result(len)?;
        on(&self.head, request, result);
        Ok(())
    }

    fn send(&mut self, head: &Head, payload: &[u8], watch: &Watch<'_>) -> Result<(), LinkError> {
        self.mb.refresh()?;
        if payload.len() > self.mb.res_cap() {
            // Ask the master for room, wait until it has made it.
            self.mb.write_reply(&need_space(head.seq), payload.len())?;
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
        let len = check_in_place(len, self.last)?;
        // The result is where the request was: nothing to copy.
        fault(false, Step::MidWrite);
        self.mb.write_reply_in_place(head, len)?;
        self.signal()
    }

    fn send_in_result(
        &mut self,
        head: &Head,
        len: usize,
        _watch: &Watch<'_>,
    ) -> Result<(), LinkError> {
        self.mb.check_in_result(len)?;
        // The task wrote the result where the master reads it: nothing to copy.
        fault(false, Step::MidWrite);
        self.mb.write_reply(head, len)?;
        self.signal()
    }
}
