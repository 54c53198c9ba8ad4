//! Zero copy both ways: a [`Loan`] is the drone's request area, filled in place and
//! sent; a [`Reply`] is the result where the transport holds it, read in place.
//!
//! Both hold the drone (its lease and its mailbox) while they live, so nobody else can
//! write there: the loaned area cannot be touched after [`Loan::send`] (it consumes the
//! loan), and the reply's memory cannot be reused while the guard lives. Through
//! [`Transport::Shm`](super::Transport::Shm) the loan is the mailbox's request area
//! and the reply its result area (or, for an in-place task, the request area again);
//! over sockets the loan is an ordinary buffer and the reply the link's receive buffer.
//!
//! The memory is shared with the drone: a drone that breaks the protocol (writes while
//! it does not own the mailbox) can change what a guard shows, never make it point
//! outside the area.

use super::call::PodCall;
use super::dispatch::{codec_error, Payload, Session};
use super::error::TeamError;
use std::marker::PhantomData;

/// A request area on loan from a drone: `n` elements of the key's item type to fill in
/// place ([`Deref`](std::ops::Deref) to `[T]`), then [`send`](Self::send).
///
/// Made by [`Team::loan`](super::Team::loan). Dropping it unsent gives the drone back.
pub struct Loan<'t, K: PodCall> {
    session: Session<'t>,
    key: K,
    len: usize,
}

impl<'t, K: PodCall> Loan<'t, K> {
    pub(crate) fn new(mut session: Session<'t>, key: &K, n: usize) -> Result<Self, TeamError> {
        let len = n
            .checked_mul(std::mem::size_of::<K::Item>())
            .ok_or_else(|| TeamError::Arguments(format!("a loan of {n} elements overflows")))?;
        let area = session.loan(key.name(), len)?;
        // Checked once here: the area is the same on every later view.
        crate::codec::pod_view_mut::<K::Item>(area).map_err(codec_error(key.name()))?;
        Ok(Loan {
            session,
            key: key.clone(),
            len,
        })
    }

    /// Send the request and wait for the reply, read in place.
    pub fn send(mut self) -> Result<Reply<'t, K::ReplyItem>, TeamError> {
        let name = self.key.name().to_string();
        self.session
            .exchange(&name, Payload::Loaned(self.len), None)?;
        Reply::new(self.session, &name)
    }
}

impl<K: PodCall> std::ops::Deref for Loan<'_, K> {
    type Target = [K::Item];
    fn deref(&self) -> &[K::Item] {
        bytemuck::cast_slice(self.session.loaned(self.len))
    }
}

impl<K: PodCall> std::ops::DerefMut for Loan<'_, K> {
    fn deref_mut(&mut self) -> &mut [K::Item] {
        bytemuck::cast_slice_mut(self.session.loaned_mut(self.len))
    }
}

impl<K: PodCall> std::fmt::Debug for Loan<'_, K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Loan(`{}`, {} bytes)", self.key.name(), self.len)
    }
}

/// A reply read where the transport holds it: derefs to `[R]`. While it lives its
/// drone serves nobody else, so the memory stays as the drone left it.
pub struct Reply<'t, R: bytemuck::Pod> {
    session: Session<'t>,
    _item: PhantomData<R>,
}

impl<'t, R: bytemuck::Pod> Reply<'t, R> {
    pub(crate) fn new(session: Session<'t>, task: &str) -> Result<Self, TeamError> {
        // Length and alignment checked once; the bytes do not move while the guard lives.
        crate::codec::pod_view::<R>(session.reply()).map_err(codec_error(task))?;
        Ok(Reply {
            session,
            _item: PhantomData,
        })
    }
}

impl<R: bytemuck::Pod> std::ops::Deref for Reply<'_, R> {
    type Target = [R];
    fn deref(&self) -> &[R] {
        bytemuck::cast_slice(self.session.reply())
    }
}

impl<R: bytemuck::Pod + std::fmt::Debug> std::fmt::Debug for Reply<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Reply({} elements)", self.len())
    }
}
