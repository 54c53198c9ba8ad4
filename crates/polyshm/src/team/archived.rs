//! Archived tasks: any structured argument and result (nested structs, enums, `Vec`,
//! `String`, maps, options) written once as an rkyv archive and read by the other side
//! where it lies, as its archived type, without decoding (see
//! [`codec::archive`](mod@crate::codec::archive)).
//!
//! - [`Tasks::archived_task`] registers the task: the drone validates the request's
//!   archive where the transport put it (the mailbox over [`Shm`](super::Transport::Shm),
//!   the link's buffer over sockets) and hands the task `&Archived<A>`; the task's
//!   answer is written as an archive straight into the transport's result area (the
//!   mailbox's, over `Shm` and the hybrids), once.
//! - [`Team::run_archived`] writes the argument's archive straight into the drone's
//!   request area (a loan: over `Shm` the mailbox itself), and answers an
//!   [`ArchivedReply`] that derefs to `Archived<R>` where the transport holds the
//!   result, validated once before the first access.
//! - [`Team::run`], [`map`](Team::map) and [`submit`](Team::submit) take the same key
//!   and answer an owned `R` (decoded from a private copy of the reply).
//!
//! Validation is never skipped (there is no unchecked variant): the bytes were written
//! by another process, and a corrupt archive is [`TeamError::InvalidArchive`] naming
//! the task — `"request"` when the drone found it, `"result"` when the master did —
//! never undefined behaviour. What it costs: one pass over the archive, no allocation,
//! no copy; for 100,000 records of a name, an id, a score and four tags, about as long
//! as reading every field once after it, and a twentieth to a fortieth of a postcard
//! decode of the same records (the profile's "Structured encoding" table measures
//! both).
//!
//! ```no_run
//! use polyshm::rkyv::{Archive, Archived, Deserialize, Serialize};
//! use polyshm::team::{drone_main, ArchivedTask, Tasks, Team, Transport};
//!
//! #[derive(Archive, Serialize, Deserialize)]
//! #[rkyv(crate = polyshm::rkyv)]
//! struct Function { name: String, id: u64, score: f64, tags: Vec<u32> }
//!
//! fn main() -> Result<(), polyshm::team::TeamError> {
//!     let mut tasks = Tasks::new();
//!     let assess: ArchivedTask<u32, Vec<Function>> = tasks.archived_task("assess", |n: &Archived<u32>| {
//!         (0..n.to_native())
//!             .map(|i| Function { name: format!("function_{i}"), id: i.into(), score: 0.5, tags: vec![i; 4] })
//!             .collect::<Vec<_>>()
//!     });
//!     drone_main(&tasks);
//!     let team = Team::builder(tasks).drones(2).transport(Transport::Shm).spawn()?;
//!     let reply = team.run_archived(&assess, 1000)?; // validated, read in the mailbox
//!     let total: f64 = reply.iter().map(|f| f.score.to_native()).sum();
//!     assert_eq!((reply.len(), reply[7].name.as_str(), total), (1000, "function_7", 500.0));
//!     Ok(())
//! }
//! ```
//!
//! The guard reads shared memory the drone wrote: like every in-place reply it relies
//! on the mailbox hand-over (the drone does not touch its mailbox until the next
//! request, which cannot come while the guard holds the drone). Unlike a pod
//! [`Reply`](super::Reply), an archive holds relative pointers: a drone that breaks
//! the protocol and rewrites the result *after* the master validated it could make
//! the guard follow a pointer out of its bytes. Where drones are not trusted that far,
//! use [`Team::run`], which validates and decodes a private copy. (The drone reads its
//! request in place the same way, trusting the master not to write the request area
//! while the task runs.)

use super::call::{key_common, sealed, Call, Input, TaskKind};
use super::dispatch::{codec_error, Payload, Session};
use super::error::TeamError;
use super::protocol::Status;
use super::tasks::{Refusal, TaskFn, TaskOutput, Tasks};
use super::team::Team;
use crate::codec::archive::is_aligned;
use crate::codec::{self, CodecError, FromArchive, Placed, ReadArchive, ToArchive};
use rkyv::util::AlignedVec;
use std::borrow::{Borrow, Cow};
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::Arc;

/// The key of an archived task: argument `A`, answer `R`, both travelling as rkyv
/// archives (made by [`Tasks::archived_task`]).
pub struct ArchivedTask<A, R> {
    name: Cow<'static, str>,
    _types: PhantomData<fn(A) -> R>,
}

key_common!(ArchivedTask<A, R>);

impl<A, R> Call for ArchivedTask<A, R>
where
    A: ToArchive + 'static,
    R: FromArchive + Send + 'static,
{
    type In = A;
    type Out = R;
    fn name(&self) -> &str {
        &self.name
    }
    fn kind(&self) -> TaskKind {
        TaskKind::Archived
    }
    fn request<'a>(&self, input: &'a A) -> Result<Cow<'a, [u8]>, CodecError> {
        codec::archive(input).map(|v| Cow::Owned(v.to_vec()))
    }
    /// The reply may lie in shared memory the drone could still write: it is copied
    /// out first, then validated and decoded (the guard of
    /// [`Team::run_archived`] reads it in place instead).
    fn reply(&self, bytes: &[u8]) -> Result<R, CodecError> {
        codec::decode_archive(&codec::aligned_copy(bytes))
    }
}

/// Overwrite the root of the archive in `bytes` (its last `root` bytes) with `0xFF`:
/// the fault point `team.drone.archive_corrupt` makes a drone answer so.
fn corrupt(bytes: &mut [u8], root: usize) {
    let from = bytes.len().saturating_sub(root.max(1));
    bytes[from..].fill(0xFF);
}

impl Tasks {
    /// Register an archived task: the request read in place as `&Archived<A>` (after
    /// validation; an invalid one is refused with
    /// [`TeamError::InvalidArchive`] before the task runs), the answer written as an
    /// archive of `R` straight into the transport's result area (into a vector first
    /// only when the area is too small; the transport then makes it larger, so the
    /// next answer of that size lands in place).
    ///
    /// The task's parameter is `&Archived<A>` (name it: the compiler cannot infer a
    /// closure's parameter from an archived type). It answers an `R`, or anything that borrows as one (`&'static R`,
    /// `Arc<R>`, ...): a result the drone keeps is written without a clone. A later
    /// registration under the same name wins.
    pub fn archived_task<A, R, V, F>(&mut self, name: &str, f: F) -> ArchivedTask<A, R>
    where
        A: ReadArchive,
        R: ToArchive,
        V: Borrow<R>,
        F: Fn(&A::Archived) -> V + Send + Sync + 'static,
    {
        let owned = name.to_string();
        let run: TaskFn = Arc::new(move |bytes: &mut [u8], area: &mut [u8]| {
            let copy;
            let request: &[u8] = if is_aligned(bytes) {
                bytes
            } else {
                copy = codec::aligned_copy(bytes);
                &copy
            };
            let a = codec::access::<A>(request).map_err(|e| Refusal {
                status: Status::InvalidArchive,
                message: e.to_string(),
            })?;
            let answer = f(a);
            let placed = codec::archive_into(answer.borrow(), area)
                .map_err(|e| format!("task `{owned}`: {e}"))?;
            // The archive is written, the reply not yet sent.
            crate::fault_point!("team.drone.archive_written");
            let root = std::mem::size_of::<R::Archived>();
            let corrupted = crate::fault_returns!("team.drone.archive_corrupt");
            Ok(match placed {
                Placed::Area(n) => {
                    if corrupted {
                        corrupt(&mut area[..n], root);
                    }
                    TaskOutput::InResult(n)
                }
                Placed::Spilled(mut v) => {
                    if corrupted {
                        corrupt(&mut v, root);
                    }
                    TaskOutput::Bytes(Box::new(v))
                }
            })
        });
        self.insert(name, TaskKind::Archived, run);
        ArchivedTask::named(name)
    }
}

impl Team {
    /// Run an archived task on one drone and read its answer where the transport holds
    /// it: the argument's archive is written straight into the drone's request area
    /// (over [`Shm`](super::Transport::Shm) its mailbox: no copy), and the reply
    /// derefs to `Archived<R>` in the drone's result area (or the link's buffer),
    /// validated once, before the first access. An invalid archive is
    /// [`TeamError::InvalidArchive`].
    ///
    /// Like a [`Loan`](super::Loan), the reply holds its drone until it drops: drop it
    /// before calling again from the same thread on a one-drone team.
    pub fn run_archived<A, R>(
        &self,
        key: &ArchivedTask<A, R>,
        input: impl Input<A>,
    ) -> Result<ArchivedReply<'_, R>, TeamError>
    where
        A: ToArchive,
        R: ReadArchive,
    {
        let name = key.name();
        self.inner.check_kind(name, TaskKind::Archived)?;
        let mut session = self.inner.checkout(name, None)?;
        let spilled: AlignedVec;
        let area = session.loan_area(name)?;
        let payload = match codec::archive_into(input.input(), area).map_err(codec_error(name))? {
            Placed::Area(n) => Payload::Loaned(n),
            Placed::Spilled(v) => {
                spilled = v;
                Payload::Bytes(&spilled)
            }
        };
        session.exchange(name, payload, None)?;
        ArchivedReply::new(session, name)
    }
}

/// An archived task's answer, read where the transport holds it: derefs to
/// `Archived<R>`, validated once when the reply came. While it lives its drone serves
/// nobody else, so the bytes stay as the drone left them (see the module docs for
/// what that relies on).
pub struct ArchivedReply<'t, R: ReadArchive> {
    _session: Session<'t>,
    /// The validated root, in the link's memory (or in `_copy`).
    root: NonNull<R::Archived>,
    /// The reply, copied: only if the link held it at an address not aligned for
    /// archives (never with polyshm's own transports).
    _copy: Option<AlignedVec>,
    /// Bytes of the archive.
    len: usize,
}

impl<'t, R: ReadArchive> ArchivedReply<'t, R> {
    fn new(mut session: Session<'t>, task: &str) -> Result<Self, TeamError> {
        let bytes = session.reply();
        let len = bytes.len();
        let (root, copy) = if is_aligned(bytes) {
            let root = codec::access::<R>(bytes).map_err(codec_error(task))?;
            (NonNull::from(root), None)
        } else {
            let copy = codec::aligned_copy(bytes);
            let root = codec::access::<R>(&copy).map_err(codec_error(task))?;
            // The vector's bytes stay where they are when the vector moves.
            (NonNull::from(root), Some(copy))
        };
        Ok(ArchivedReply {
            _session: session,
            root,
            _copy: copy,
            len,
        })
    }

    /// Bytes of the archive.
    pub fn archive_len(&self) -> usize {
        self.len
    }
}

impl<R: ReadArchive> std::ops::Deref for ArchivedReply<'_, R> {
    type Target = R::Archived;
    fn deref(&self) -> &R::Archived {
        // SAFETY: `root` was validated by `codec::access` in `new` (bytecheck: every
        // pointer it reaches lies within the reply's bytes, aligned, every value
        // valid). The bytes are the reply's payload in the drone's link (the mailbox's
        // result area, or the socket link's buffer), which stays where it is while the
        // session holds the drone exclusively and the link is not used again (the
        // guard never uses it), or the guard's own copy; the drone does not write its
        // mailbox until the next request, which cannot be sent while the guard holds
        // the session.
        unsafe { self.root.as_ref() }
    }
}

impl<R: ReadArchive> std::fmt::Debug for ArchivedReply<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ArchivedReply({}, {} bytes)",
            std::any::type_name::<R>(),
            self.len
        )
    }
}
