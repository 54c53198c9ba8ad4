//! [`ShmLink`]: request and result both through the drone's
//! [`mailbox`](super::mailbox), semaphores for the hand-over (study 8.7).
//!
//! The master copies the request payload into the request area once; the drone reads
//! it in place; the drone copies its result into the result area once (or, for a task
//! that works in place, leaves it where the request was: no copy); the master reads it
//! in place. A signal enters the kernel only when the peer sleeps.

use super::mailbox::Mailbox;
use super::{fault, Link, LinkError, Step, Watch};
use crate::team::protocol::{Head, Kind, ProtocolError, Status};

/// One end of a shared-memory link.
#[derive(Debug)]
pub(crate) struct ShmLink {
    mb: Mailbox,
    master: bool,
    /// The last reply received (master): its length and whether it lies in the
    /// request area.
    reply: (usize, bool),
    /// Length of the last request received (drone).
    last: usize,
    /// Sequence number of the last task sent (master): a reply must carry it.
    expect: u64,
}

impl ShmLink {
    /// The master's end (the mailbox is the master's).
    pub fn master(mb: Mailbox) -> ShmLink {
        ShmLink {
            mb,
            master: true,
            reply: (0, false),
            last: 0,
            expect: 0,
        }
    }

    /// The drone's end.
    pub fn drone(mb: Mailbox) -> ShmLink {
        ShmLink {
            mb,
            master: false,
            reply: (0, false),
            last: 0,
            expect: 0,
        }
    }

    /// Signal the peer that a frame is complete (with the fault points around it).
    fn signal(&self) -> Result<(), LinkError> {
        fault(self.master, Step::BeforeSignal);
        if self.master {
            self.mb.signal_drone()?;
        } else {
            self.mb.signal_master()?;
        }
        fault(self.master, Step::AfterSignal);
        Ok(())
    }
}

impl Link for ShmLink {
    fn send(&mut self, head: &Head, payload: &[u8], watch: &Watch<'_>) -> Result<(), LinkError> {
        if self.master {
            self.expect = head.seq;
            self.mb.write_request(head, payload)?;
            return self.signal();
        }
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

    fn recv(
        &mut self,
        watch: &Watch<'_>,
        on: &mut dyn FnMut(&Head, &mut [u8]),
    ) -> Result<(), LinkError> {
        if self.master {
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
                let bytes = if in_request {
                    self.mb.result_in_request(len)?
                } else {
                    self.mb.result(len)?
                };
                on(&head, bytes);
                self.reply = (len, in_request);
                return Ok(());
            }
        }
        self.mb.wait_drone(watch)?;
        fault(false, Step::BeforeRead);
        let (head, len) = self.mb.read_request()?;
        fault(false, Step::MidRead);
        self.last = len;
        on(&head, self.mb.request(len)?);
        Ok(())
    }

    fn send_in_place(
        &mut self,
        head: &Head,
        len: usize,
        _watch: &Watch<'_>,
    ) -> Result<(), LinkError> {
        if self.master || len > self.last {
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

    fn reply_payload(&self) -> &[u8] {
        let (len, in_request) = self.reply;
        // Checked against the area when the reply came; the areas only grow.
        self.mb.reply_view(len, in_request).unwrap_or(&[])
    }

    fn loan(&mut self, len: usize) -> Result<&mut [u8], LinkError> {
        self.mb.request_area(len)
    }

    fn loaned(&self, len: usize) -> &[u8] {
        // Prepared by `loan` (the areas only grow).
        self.mb.request_view(len).unwrap_or(&[])
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
}
