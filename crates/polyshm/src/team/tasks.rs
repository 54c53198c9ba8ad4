//! [`Tasks`]: the registry of native tasks, built the same way in master and drones.

use super::call::{builtin, InPlaceTask, PodTask, Task, TaskKind};
use super::pod_out::PodOut;
use super::protocol::Status;
use crate::codec::{self, PodVec};
use serde::{de::DeserializeOwned, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A task's output: bytes lent to the transport without a copy.
pub(crate) type Output = Box<dyn AsRef<[u8]> + Send>;

/// What a task answers: bytes of its own, the request's bytes as it left them, or
/// bytes it wrote into the transport's result area.
pub(crate) enum TaskOutput {
    /// A result of its own.
    Bytes(Output),
    /// The first `n` bytes of the request, changed in place.
    InPlace(usize),
    /// The first `n` bytes of the result area the transport lent the task.
    InResult(usize),
}

/// Why a task gave no result: the reply's status and its message.
pub(crate) struct Refusal {
    pub status: Status,
    pub message: String,
}

impl From<String> for Refusal {
    /// A task that failed (its arguments did not decode, ...).
    fn from(message: String) -> Refusal {
        Refusal {
            status: Status::Failed,
            message,
        }
    }
}

/// A registered task: payload bytes in (it may change them) and the transport's
/// result area (it may write its result there), a result out, or why not.
pub(crate) type TaskFn =
    Arc<dyn Fn(&mut [u8], &mut [u8]) -> Result<TaskOutput, Refusal> + Send + Sync>;

/// The tasks a drone knows, by stable name, and the master's registry of them (the
/// master refuses to send a task its own `Tasks` does not hold). Build it the same way
/// in master and drones: `main` builds it, calls [`drone_main`](super::drone_main)
/// with it first thing, then hands it to [`Team::builder`](super::Team::builder).
///
/// Registering answers a typed key, which every call takes:
///
/// - [`task`](Self::task): any `Deserialize` argument, any `Serialize` result →
///   [`Task<A, R>`](super::Task);
/// - [`pod_task`](Self::pod_task): a `&[T]` read in place, a `Vec<R>` sent as its
///   bytes, no encode step → [`PodTask<T, R>`](super::PodTask);
/// - [`pod_task_into`](Self::pod_task_into): the same key, but the task writes its
///   result straight into the transport's reply area (a [`PodOut`]): the drone copies
///   nothing after the task;
/// - [`in_place_task`](Self::in_place_task): a `&mut [T]` changed where it lies and
///   sent back as it is → [`InPlaceTask<T>`](super::InPlaceTask);
/// - [`archived_task`](Self::archived_task): any structured argument read in place as
///   its archive (validated first), any structured result written once as an archive
///   into the transport's result area → [`ArchivedTask<A, R>`](super::ArchivedTask).
///
/// The built-ins (keys in [`builtin`](super::builtin)) and, with the `script` feature,
/// the script task of [`Team::zip_script`](super::Team::zip_script) come with
/// [`new`](Self::new).
///
/// ```
/// use polyshm::team::{builtin, PodTask, Task, Tasks};
/// let mut tasks = Tasks::new();
/// let add: Task<(i64, i64), i64> = tasks.task("add", |(a, b)| a + b);
/// let double: PodTask<f64, f64> = tasks.pod_task("double", |v| v.iter().map(|x| x * 2.0).collect());
/// assert!(tasks.contains(add.name()) && tasks.contains(double.name()));
/// assert!(tasks.contains(builtin::ECHO_I64.name()));
/// ```
#[derive(Clone)]
pub struct Tasks {
    map: BTreeMap<String, (TaskKind, TaskFn)>,
}

impl std::fmt::Debug for Tasks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.map.keys()).finish()
    }
}

impl Default for Tasks {
    fn default() -> Self {
        Tasks::new()
    }
}

impl Tasks {
    /// The built-in tasks.
    pub fn new() -> Tasks {
        let mut t = Tasks {
            map: BTreeMap::new(),
        };
        t.task(builtin::EMPTY.name(), |(): ()| ());
        t.pod_task_into(builtin::ECHO_BYTES.name(), |v: &[u8], out| {
            out.extend_from_slice(v)
        });
        t.pod_task_into(builtin::ECHO_I64.name(), |v: &[i64], out| {
            out.extend_from_slice(v)
        });
        t.in_place_task(builtin::ECHO_I64_IN_PLACE.name(), |_: &mut [i64]| {});
        t.pod_task_into(builtin::SUM_I64.name(), |v: &[i64], out| {
            out.push(v.iter().fold(0i64, |a, b| a.wrapping_add(*b)))
        });
        t.pod_task_into(builtin::LEN.name(), |v: &[u8], out| {
            out.push(v.len() as u64)
        });
        #[cfg(feature = "script")]
        super::script::engine::register(&mut t);
        t
    }

    /// Register a serde task: the argument `A` decoded from the request, the result
    /// `R` encoded into the reply. A later registration under the same name wins.
    pub fn task<A, R, F>(&mut self, name: &str, f: F) -> Task<A, R>
    where
        A: DeserializeOwned,
        R: Serialize,
        F: Fn(A) -> R + Send + Sync + 'static,
    {
        let owned = name.to_string();
        let run: TaskFn = Arc::new(move |bytes: &mut [u8], _: &mut [u8]| {
            let a: A = codec::decode(bytes).map_err(|e| format!("task `{owned}`: {e}"))?;
            let r = f(a);
            let out = codec::encode(&r).map_err(|e| format!("task `{owned}`: {e}"))?;
            Ok(TaskOutput::Bytes(Box::new(out)))
        });
        self.map.insert(name.into(), (TaskKind::Serde, run));
        Task::named(name)
    }

    /// Register a plain-old-data task: the request's bytes seen as `&[T]` (in place
    /// when aligned, else copied once), the result `Vec<R>` sent as its bytes.
    pub fn pod_task<T, R, F>(&mut self, name: &str, f: F) -> PodTask<T, R>
    where
        T: bytemuck::Pod,
        R: bytemuck::Pod + Send,
        F: Fn(&[T]) -> Vec<R> + Send + Sync + 'static,
    {
        let owned = name.to_string();
        let run: TaskFn = Arc::new(move |bytes: &mut [u8], _: &mut [u8]| {
            let out = with_pod_view(&owned, bytes, &f)?;
            Ok(TaskOutput::Bytes(Box::new(PodVec(out))))
        });
        self.map.insert(name.into(), (TaskKind::Pod, run));
        PodTask::named(name)
    }

    /// Register a plain-old-data task that writes its result where the transport sends
    /// it from (a [`PodOut`]): through [`Transport::Shm`](super::Transport::Shm) that is
    /// the shared memory the master reads the reply from, so the drone copies nothing
    /// after the task (with [`pod_task`](Self::pod_task) the answer's `Vec` is copied
    /// there). The key is an ordinary [`PodTask`]: callers cannot tell the difference,
    /// and the task may answer more values than it got (they then go the longer way).
    pub fn pod_task_into<T, R, F>(&mut self, name: &str, f: F) -> PodTask<T, R>
    where
        T: bytemuck::Pod,
        R: bytemuck::Pod + Send,
        F: Fn(&[T], &mut PodOut<'_, R>) + Send + Sync + 'static,
    {
        let owned = name.to_string();
        let run: TaskFn = Arc::new(move |bytes: &mut [u8], area: &mut [u8]| {
            let mut out = PodOut::new(area);
            with_pod_view(&owned, bytes, |v| f(v, &mut out))?;
            Ok(match out.finish() {
                Ok(n) => TaskOutput::InResult(n),
                Err(v) => TaskOutput::Bytes(Box::new(PodVec(v))),
            })
        });
        self.map.insert(name.into(), (TaskKind::Pod, run));
        PodTask::named(name)
    }

    /// Register a plain-old-data task that works in place: it changes the request's
    /// array, and that array is the result. In [`Transport::Shm`](super::Transport::Shm)
    /// the drone then copies nothing at all: the result is where the master wrote the
    /// request.
    pub fn in_place_task<T, F>(&mut self, name: &str, f: F) -> InPlaceTask<T>
    where
        T: bytemuck::Pod + Send,
        F: Fn(&mut [T]) + Send + Sync + 'static,
    {
        let owned = name.to_string();
        let run: TaskFn = Arc::new(move |bytes: &mut [u8], _: &mut [u8]| {
            let n = bytes.len();
            match codec::pod_view_mut::<T>(bytes) {
                Ok(v) => {
                    f(v);
                    Ok(TaskOutput::InPlace(n))
                }
                Err(codec::CodecError::Misaligned { .. }) => {
                    let mut v = codec::pod_from_bytes::<T>(bytes)
                        .map_err(|e| format!("task `{owned}`: {e}"))?;
                    f(&mut v);
                    Ok(TaskOutput::Bytes(Box::new(PodVec(v))))
                }
                Err(e) => Err(format!("task `{owned}`: {e}").into()),
            }
        });
        self.map.insert(name.into(), (TaskKind::InPlace, run));
        InPlaceTask::named(name)
    }

    /// Register `run` under `name` as a task of `kind` (a later registration wins).
    pub(crate) fn insert(&mut self, name: &str, kind: TaskKind, run: TaskFn) {
        self.map.insert(name.into(), (kind, run));
    }

    /// Whether a task of that name is registered.
    pub fn contains(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    /// The kind a task of that name was registered as.
    pub fn kind(&self, name: &str) -> Option<TaskKind> {
        self.map.get(name).map(|(k, _)| *k)
    }

    /// The registered names, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.map.keys().map(String::as_str).collect()
    }

    pub(crate) fn get(&self, name: &str) -> Option<&TaskFn> {
        self.map.get(name).map(|(_, f)| f)
    }
}

/// `f` of the request's bytes seen as `&[T]`: in place when aligned, else copied once.
fn with_pod_view<T: bytemuck::Pod, O>(
    task: &str,
    bytes: &[u8],
    f: impl FnOnce(&[T]) -> O,
) -> Result<O, String> {
    match codec::pod_view::<T>(bytes) {
        Ok(v) => Ok(f(v)),
        Err(codec::CodecError::Misaligned { .. }) => {
            let v = codec::pod_from_bytes::<T>(bytes).map_err(|e| format!("task `{task}`: {e}"))?;
            Ok(f(&v))
        }
        Err(e) => Err(format!("task `{task}`: {e}")),
    }
}
