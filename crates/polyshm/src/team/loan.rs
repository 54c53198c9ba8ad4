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
use std::ptr::NonNull;

/// A request area on loan from a drone: `n` elements of the key's item type to fill in
/// place ([`Deref`](std::ops::Deref) to `[T]`), then [`send`](Self::send).
///
/// Made by [`Team::loan`](super::Team::loan). Dropping it unsent gives the drone back.
pub struct Loan<'t, K: PodCall> {
    session: Session<'t>,
    key: K,
    /// The lent area (`n` elements): the drone's request area or the link's buffer.
    area: NonNull<K::Item>,
    n: usize,
}

// SAFETY: `area` points into memory owned by the drone's link, which `session` holds
// exclusively; moving the loan to another thread moves that exclusive access with it.
unsafe impl<K: PodCall> Send for Loan<'_, K> {}

impl<'t, K: PodCall> Loan<'t, K> {
    pub(crate) fn new(mut session: Session<'t>, key: &K, n: usize) -> Result<Self, TeamError> {
        let len = n
            .checked_mul(std::mem::size_of::<K::Item>())
            .ok_or_else(|| TeamError::Arguments(format!("a loan of {n} elements overflows")))?;
        let bytes = session.loan(key.name(), len)?;
        // Length and alignment checked here, once.
        let items =
            crate::codec::pod_view_mut::<K::Item>(bytes).map_err(codec_error(key.name()))?;
        let area = NonNull::from(items).cast::<K::Item>();
        Ok(Loan {
            session,
            key: key.clone(),
            area,
            n,
        })
    }

    /// Send the request and wait for the reply, read in place.
    pub fn send(mut self) -> Result<Reply<'t, K::ReplyItem>, TeamError> {
        let name = self.key.name().to_string();
        let len = self.n * std::mem::size_of::<K::Item>();
        self.session.exchange(&name, Payload::Loaned(len), None)?;
        Reply::new(self.session, &name)
    }
}

impl<K: PodCall> std::ops::Deref for Loan<'_, K> {
    type Target = [K::Item];
    fn deref(&self) -> &[K::Item] {
        // SAFETY: `area` is `n` aligned elements lent by the link (checked in `new`);
        // the memory stays where it is and nobody else touches it while `session` holds
        // the drone exclusively and the link is not used (only `send`, which consumes
        // the loan, uses it again); the drone does not touch its mailbox until a
        // request is signalled; any bytes are a valid `Pod`.
        unsafe { std::slice::from_raw_parts(self.area.as_ptr(), self.n) }
    }
}

impl<K: PodCall> std::ops::DerefMut for Loan<'_, K> {
    fn deref_mut(&mut self) -> &mut [K::Item] {
        // SAFETY: as in `deref`; `&mut self` makes this the only view of the area.
        unsafe { std::slice::from_raw_parts_mut(self.area.as_ptr(), self.n) }
    }
}

impl<K: PodCall> std::fmt::Debug for Loan<'_, K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Loan(`{}`, {} elements)", self.key.name(), self.n)
    }
}

/// A reply read where the transport holds it: derefs to `[R]`. While it lives its
/// drone serves nobody else, so the memory stays as the drone left it.
pub struct Reply<'t, R: bytemuck::Pod> {
    _session: Session<'t>,
    /// The reply's payload, where the link holds it.
    data: NonNull<R>,
    n: usize,
}

// SAFETY: `data` points into memory owned by the drone's link, which the session holds
// exclusively, and the reply only reads it; `R: Pod` values are plain bytes.
unsafe impl<R: bytemuck::Pod> Send for Reply<'_, R> {}
// SAFETY: as for `Send`: shared access only reads.
unsafe impl<R: bytemuck::Pod> Sync for Reply<'_, R> {}

impl<'t, R: bytemuck::Pod> Reply<'t, R> {
    pub(crate) fn new(mut session: Session<'t>, task: &str) -> Result<Self, TeamError> {
        // Length and alignment checked once; the bytes do not move while the guard lives.
        let items = crate::codec::pod_view::<R>(session.reply()).map_err(codec_error(task))?;
        let (data, n) = (NonNull::from(items).cast::<R>(), items.len());
        Ok(Reply {
            _session: session,
            data,
            n,
        })
    }
}

impl<R: bytemuck::Pod> std::ops::Deref for Reply<'_, R> {
    type Target = [R];
    fn deref(&self) -> &[R] {
        // SAFETY: `data` is `n` aligned values of the reply's payload (checked in
        // `new`), in memory of the drone's link (the mailbox's result or request area,
        // or the socket link's buffer), which stays where it is while the session holds
        // the drone exclusively and the link is not used again (the guard never uses
        // it); the drone does not write its mailbox until the next request; any bytes
        // are a valid `Pod`.
        unsafe { std::slice::from_raw_parts(self.data.as_ptr(), self.n) }
    }
}

impl<R: bytemuck::Pod> std::fmt::Debug for Reply<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Reply({} elements)", self.n)
    }
}
