//! [`HybridMaster`] and [`HybridDrone`]: the request over a socket, the result through the drone's
//! [`mailbox`](super::mailbox) (study 8.6).
//!
//! Protected: the drone writes the result, then its reply descriptor, then signals the
//! mailbox's `to_master` semaphore, on which the master waits. Unprotected: the drone
//! writes the result and then sends a small socket reply (head and length only); the
//! socket reply is the signal. A result larger than the area: the drone asks for room
//! (NeedSpace, by the same path its reply would take) and the master answers over the
//! socket with a Grown frame once the mailbox is larger.

use super::mailbox::Mailbox;
use super::shm::next_reply;
use super::socket::SocketLink;
use super::{fault, need_space, DroneLink, LinkError, MasterLink, Receiver, Step, Watch};
use crate::team::protocol::{Head, Kind, ProtocolError, Status};

/// The master's end of a hybrid link.
#[derive(Debug)]
pub(crate) struct HybridMaster {
    sock: SocketLink,
    mb: Mailbox,
    protected: bool,
    /// Sequence number of the last task sent: a reply must carry it.
    expect: u64,
    /// Length of the last reply received, in the result area.
    reply: usize,
}

impl HybridMaster {
    pub fn new(sock: SocketLink, mb: Mailbox, protected: bool) -> HybridMaster {
        HybridMaster {
            sock,
            mb,
            protected,
            expect: 0,
            reply: 0,
        }
    }

    /// The next reply's head and length, by the path this link's replies take.
    fn reply_in(&mut self, watch: &Watch<'_>) -> Result<(Head, usize), LinkError> {
        if self.protected {
            let (head, len, in_request) = next_reply(&self.mb, watch)?;
            if in_request {
                // The request travelled by socket: the request area holds nothing.
                return Err(ProtocolError(
                    "an in-place reply on a hybrid link, whose requests are not in the mailbox"
                        .into(),
                )
                .into());
            }
            return Ok((head, len));
        }
        let (head, len) = self.sock.recv_head(watch)?;
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        if len > self.mb.res_cap() && head.status != Status::NeedSpace {
            return Err(ProtocolError(format!(
                "the drone says {len} result bytes, the area holds {}",
                self.mb.res_cap()
            ))
            .into());
        }
        Ok((head, len))
    }
}

impl MasterLink for HybridMaster {
    fn send(&mut self, head: &Head, payload: &[u8], watch: &Watch<'_>) -> Result<(), LinkError> {
        self.expect = head.seq;
        MasterLink::send(&mut self.sock, head, payload, watch)
    }

    fn send_loaned(&mut self, head: &Head, len: usize, watch: &Watch<'_>) -> Result<(), LinkError> {
        self.expect = head.seq;
        self.sock.send_loaned(head, len, watch)
    }

    fn recv_reply(&mut self, watch: &Watch<'_>) -> Result<Head, LinkError> {
        loop {
            let (head, len) = self.reply_in(watch)?;
            // Checked before anything acts on the reply, NeedSpace included (the
            // socket checks its own replies; the mailbox's are checked here).
            head.check_reply(Some(self.expect))?;
            if head.status == Status::NeedSpace {
                self.mb.grow(0, len)?;
                self.sock
                    .send_head(&Head::control(Kind::Grown, head.seq), 0, watch)?;
                continue;
            }
            self.mb.reply_view(len, false)?;
            self.reply = len;
            return Ok(head);
        }
    }

    fn reply_payload(&mut self) -> &[u8] {
        // Checked when the reply came (`recv_reply`); the areas only grow.
        self.mb.reply_view(self.reply, false).unwrap_or(&[])
    }

    fn loan(&mut self, len: usize) -> Result<&mut [u8], LinkError> {
        // The request travels by socket: an ordinary buffer.
        self.sock.loan(len)
    }

    fn loan_capacity(&self) -> usize {
        self.sock.loan_capacity()
    }
}

/// The drone's end of a hybrid link.
#[derive(Debug)]
pub(crate) struct HybridDrone {
    sock: SocketLink,
    mb: Mailbox,
    protected: bool,
}

impl HybridDrone {
    pub fn new(sock: SocketLink, mb: Mailbox, protected: bool) -> HybridDrone {
        HybridDrone {
            sock,
            mb,
            protected,
        }
    }

    fn reply_out(&mut self, head: &Head, len: usize, watch: &Watch<'_>) -> Result<(), LinkError> {
        if self.protected {
            self.mb.write_reply(head, len)?;
            fault(false, Step::BeforeSignal);
            self.mb.signal_master()?;
            fault(false, Step::AfterSignal);
            Ok(())
        } else {
            // The socket reply is the signal (its fault points are the socket's).
            self.sock.send_head(head, len as u64, watch)
        }
    }

    /// Make sure the result area holds `len` bytes (ask the master if not).
    fn make_room(&mut self, seq: u64, len: usize, watch: &Watch<'_>) -> Result<(), LinkError> {
        self.mb.refresh()?;
        if len > self.mb.res_cap() {
            self.reply_out(&need_space(seq), len, watch)?;
            let (grown, _) = self.sock.recv_head(watch)?;
            if grown.kind != Kind::Grown {
                return Err(
                    ProtocolError(format!("a {:?} frame where Grown belongs", grown.kind)).into(),
                );
            }
            self.mb.refresh()?;
        }
        Ok(())
    }
}

impl DroneLink for HybridDrone {
    fn recv(&mut self, watch: &Watch<'_>, on: &mut Receiver<'_>) -> Result<(), LinkError> {
        let (head, request) = self.sock.recv_request(watch)?;
        // The master may have grown the mailbox since the last reply.
        self.mb.refresh()?;
        on(&head, request, self.mb.result_area()?);
        Ok(())
    }

    fn send(&mut self, head: &Head, payload: &[u8], watch: &Watch<'_>) -> Result<(), LinkError> {
        self.make_room(head.seq, payload.len(), watch)?;
        self.mb.write_result(payload)?;
        fault(false, Step::MidWrite);
        self.reply_out(head, payload.len(), watch)
    }

    fn send_in_place(
        &mut self,
        head: &Head,
        len: usize,
        watch: &Watch<'_>,
    ) -> Result<(), LinkError> {
        // The request came by socket: one copy of it into the result area.
        let len = self.sock.check_in_place(len)?;
        self.make_room(head.seq, len, watch)?;
        self.mb.write_result(&self.sock.last_payload()[..len])?;
        fault(false, Step::MidWrite);
        self.reply_out(head, len, watch)
    }

    fn send_in_result(
        &mut self,
        head: &Head,
        len: usize,
        watch: &Watch<'_>,
    ) -> Result<(), LinkError> {
        self.mb.check_in_result(len)?;
        // The task wrote the result where the master reads it: nothing to copy.
        fault(false, Step::MidWrite);
        self.reply_out(head, len, watch)
    }
}
