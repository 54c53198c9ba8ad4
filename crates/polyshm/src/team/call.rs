//! Task keys: what registering a task answers, and what every call takes.
//!
//! A key names a task and carries its types, so the name and the types cannot drift
//! apart. Its kind decides the encoding (the [`Call`] trait), so that
//! [`Team::run`](super::Team::run), [`Team::map`](super::Team::map) and
//! [`Team::submit`](super::Team::submit) are one generic method each over every kind:
//!
//! | key | registered with | argument | answer | encoding |
//! |---|---|---|---|---|
//! | [`Task<A, R>`] | [`Tasks::task`](super::Tasks::task) | `&A` | `R` | serde (postcard) |
//! | [`PodTask<T, R>`] | [`Tasks::pod_task`](super::Tasks::pod_task) | `&[T]` | `Vec<R>` | the array's own bytes |
//! | [`InPlaceTask<T>`] | [`Tasks::in_place_task`](super::Tasks::in_place_task) | `&[T]` | `Vec<T>` | the array's own bytes, changed where they lie |
//! | [`ArchivedTask<A, R>`](super::ArchivedTask) | [`Tasks::archived_task`](super::Tasks::archived_task) | `&A` | `R` | archives (rkyv), read in place |
//!
//! The pod kinds also lend the transport's own memory: [`Team::loan`](super::Team::loan)
//! and [`Reply`](super::Reply); the archived kind too:
//! [`Team::run_archived`](super::Team::run_archived) and
//! [`ArchivedReply`](super::ArchivedReply).

use crate::codec::{self, CodecError};
use serde::{de::DeserializeOwned, Serialize};
use std::borrow::Cow;
use std::marker::PhantomData;

/// How a task's request and reply are encoded (fixed by the key's kind).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TaskKind {
    /// Any serde argument and result ([`Task`]).
    Serde,
    /// Plain-old-data arrays in and out ([`PodTask`]).
    Pod,
    /// A plain-old-data array changed in place ([`InPlaceTask`]).
    InPlace,
    /// Archives in and out, read in place ([`ArchivedTask`](super::ArchivedTask)).
    Archived,
}

impl std::fmt::Display for TaskKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TaskKind::Serde => "serde task",
            TaskKind::Pod => "pod task",
            TaskKind::InPlace => "in-place pod task",
            TaskKind::Archived => "archived task",
        })
    }
}

pub(super) mod sealed {
    pub trait Sealed {}
}

/// A task key: its name, its kind, and how its request and reply are encoded.
///
/// Implemented by [`Task`], [`PodTask`], [`InPlaceTask`] and
/// [`ArchivedTask`](super::ArchivedTask) (sealed: the kinds are the crate's).
pub trait Call: sealed::Sealed + Clone + Send + Sync + 'static {
    /// What a call takes (borrowed): `A` for a serde task, `[T]` for a pod task.
    type In: ?Sized;
    /// What a call answers.
    type Out: Send + 'static;
    /// The task's name.
    fn name(&self) -> &str;
    /// The task's kind.
    fn kind(&self) -> TaskKind;
    /// The request bytes of `input` (borrowed where the input is its own bytes).
    #[doc(hidden)]
    fn request<'a>(&self, input: &'a Self::In) -> Result<Cow<'a, [u8]>, CodecError>;
    /// The answer read from the reply bytes.
    #[doc(hidden)]
    fn reply(&self, bytes: &[u8]) -> Result<Self::Out, CodecError>;
}

/// A pod task key: one whose request can be loaned ([`Team::loan`](super::Team::loan))
/// and whose reply can be read in place ([`Reply`](super::Reply)).
pub trait PodCall: Call<In = [Self::Item]> {
    /// The request's element type.
    type Item: bytemuck::Pod + Send;
    /// The reply's element type.
    type ReplyItem: bytemuck::Pod;
}

/// Something a call takes as a `T`: the value itself or a reference to it, and for a
/// slice `[T]` also a `Vec<T>`, an array, or references to them. So
/// `team.run(&add, (1, 2))`, `team.run(&add, &(1, 2))`, `team.run(&echo, &v)` and
/// `team.map(&echo, vec_of_vecs)` all read naturally.
pub trait Input<T: ?Sized> {
    /// The value, borrowed.
    fn input(&self) -> &T;
}

impl<T> Input<T> for T {
    fn input(&self) -> &T {
        self
    }
}

impl<T: ?Sized> Input<T> for &T {
    fn input(&self) -> &T {
        self
    }
}

impl<T> Input<[T]> for Vec<T> {
    fn input(&self) -> &[T] {
        self
    }
}

impl<T> Input<[T]> for &Vec<T> {
    fn input(&self) -> &[T] {
        self
    }
}

impl<T, const N: usize> Input<[T]> for [T; N] {
    fn input(&self) -> &[T] {
        self
    }
}

impl<T, const N: usize> Input<[T]> for &[T; N] {
    fn input(&self) -> &[T] {
        *self
    }
}

impl<T> Input<[T]> for Box<[T]> {
    fn input(&self) -> &[T] {
        self
    }
}

/// The key of a serde task: argument `A`, answer `R` (made by
/// [`Tasks::task`](super::Tasks::task)).
pub struct Task<A, R> {
    name: Cow<'static, str>,
    _types: PhantomData<fn(A) -> R>,
}

/// The key of a plain-old-data task: `&[T]` in, `Vec<R>` out (made by
/// [`Tasks::pod_task`](super::Tasks::pod_task)).
pub struct PodTask<T, R> {
    name: Cow<'static, str>,
    _types: PhantomData<fn(T) -> R>,
}

/// The key of an in-place plain-old-data task: the array it gets is the array it
/// answers, changed where it lies (made by
/// [`Tasks::in_place_task`](super::Tasks::in_place_task)).
pub struct InPlaceTask<T> {
    name: Cow<'static, str>,
    _types: PhantomData<fn(T) -> T>,
}

macro_rules! key_common {
    ($key:ident < $($p:ident),* >) => {
        impl<$($p),*> $key<$($p),*> {
            #[allow(dead_code)] // not every kind has built-in tasks
            pub(crate) const fn builtin(name: &'static str) -> Self {
                $key { name: Cow::Borrowed(name), _types: PhantomData }
            }
            pub(crate) fn named(name: &str) -> Self {
                $key { name: Cow::Owned(name.to_string()), _types: PhantomData }
            }
            /// The task's name.
            pub fn name(&self) -> &str {
                &self.name
            }
        }
        impl<$($p),*> Clone for $key<$($p),*> {
            fn clone(&self) -> Self {
                $key { name: self.name.clone(), _types: PhantomData }
            }
        }
        impl<$($p),*> std::fmt::Debug for $key<$($p),*> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}(`{}`: {})", stringify!($key), self.name,
                    std::any::type_name::<fn($($p),*)>())
            }
        }
        impl<$($p),*> sealed::Sealed for $key<$($p),*> {}
    };
}

pub(super) use key_common;

key_common!(Task<A, R>);
key_common!(PodTask<T, R>);
key_common!(InPlaceTask<T>);

impl<A, R> Call for Task<A, R>
where
    A: Serialize + 'static,
    R: DeserializeOwned + Send + 'static,
{
    type In = A;
    type Out = R;
    fn name(&self) -> &str {
        &self.name
    }
    fn kind(&self) -> TaskKind {
        TaskKind::Serde
    }
    fn request<'a>(&self, input: &'a A) -> Result<Cow<'a, [u8]>, CodecError> {
        codec::encode(input).map(Cow::Owned)
    }
    fn reply(&self, bytes: &[u8]) -> Result<R, CodecError> {
        codec::decode(bytes)
    }
}

impl<T, R> Call for PodTask<T, R>
where
    T: bytemuck::Pod + Send + 'static,
    R: bytemuck::Pod + Send + 'static,
{
    type In = [T];
    type Out = Vec<R>;
    fn name(&self) -> &str {
        &self.name
    }
    fn kind(&self) -> TaskKind {
        TaskKind::Pod
    }
    fn request<'a>(&self, input: &'a [T]) -> Result<Cow<'a, [u8]>, CodecError> {
        Ok(Cow::Borrowed(codec::pod_bytes(input)))
    }
    fn reply(&self, bytes: &[u8]) -> Result<Vec<R>, CodecError> {
        codec::pod_from_bytes(bytes)
    }
}

impl<T, R> PodCall for PodTask<T, R>
where
    T: bytemuck::Pod + Send + 'static,
    R: bytemuck::Pod + Send + 'static,
{
    type Item = T;
    type ReplyItem = R;
}

impl<T> Call for InPlaceTask<T>
where
    T: bytemuck::Pod + Send + 'static,
{
    type In = [T];
    type Out = Vec<T>;
    fn name(&self) -> &str {
        &self.name
    }
    fn kind(&self) -> TaskKind {
        TaskKind::InPlace
    }
    fn request<'a>(&self, input: &'a [T]) -> Result<Cow<'a, [u8]>, CodecError> {
        Ok(Cow::Borrowed(codec::pod_bytes(input)))
    }
    fn reply(&self, bytes: &[u8]) -> Result<Vec<T>, CodecError> {
        codec::pod_from_bytes(bytes)
    }
}

impl<T> PodCall for InPlaceTask<T>
where
    T: bytemuck::Pod + Send + 'static,
{
    type Item = T;
    type ReplyItem = T;
}

/// The tasks every drone knows ([`Tasks::new`](super::Tasks::new) registers them).
pub mod builtin {
    use super::{InPlaceTask, PodTask, Task};

    /// `polyshm.empty`: `()` → `()` (the study's empty task, table 6).
    pub const EMPTY: Task<(), ()> = Task::builtin("polyshm.empty");
    /// `polyshm.echo_bytes`: the same bytes back (copied by the task).
    pub const ECHO_BYTES: PodTask<u8, u8> = PodTask::builtin("polyshm.echo_bytes");
    /// `polyshm.echo_i64`: the same array back (copied by the task).
    pub const ECHO_I64: PodTask<i64, i64> = PodTask::builtin("polyshm.echo_i64");
    /// `polyshm.echo_i64_in_place`: the same array back, left where it lies (through
    /// [`Transport::Shm`](crate::team::Transport::Shm) the drone copies nothing).
    pub const ECHO_I64_IN_PLACE: InPlaceTask<i64> =
        InPlaceTask::builtin("polyshm.echo_i64_in_place");
    /// `polyshm.sum_i64`: `[sum]` of the array (wrapping).
    pub const SUM_I64: PodTask<i64, i64> = PodTask::builtin("polyshm.sum_i64");
    /// `polyshm.len`: `[length in bytes]`, without reading them (a one-way transfer).
    pub const LEN: PodTask<u8, u64> = PodTask::builtin("polyshm.len");
}
