//! [`Tasks`]: the registry of native tasks, built the same way in master and drones.

use crate::codec::{self, PodVec};
use serde::{de::DeserializeOwned, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A task's output: bytes lent to the transport without a copy.
pub type Output = Box<dyn AsRef<[u8]> + Send>;

/// What a task answers: bytes of its own, or the request's bytes as it left them.
pub(crate) enum TaskOutput {
    /// A result of its own.
    Bytes(Output),
    /// The first `n` bytes of the request, changed in place.
    InPlace(usize),
}

/// A registered task: payload bytes in (it may change them), a result out, or a
/// message saying why not.
pub(crate) type TaskFn = Arc<dyn Fn(&mut [u8]) -> Result<TaskOutput, String> + Send + Sync>;

/// The tasks a drone knows, by stable name (the same registry is built in the master,
/// which calls [`drone_main`](super::drone_main) with it first thing).
///
/// Two kinds: serde tasks ([`task`](Self::task): any `Deserialize` argument, any
/// `Serialize` result) and plain-old-data tasks ([`pod_task`](Self::pod_task): a `&[T]`
/// read in place, a `Vec<R>` sent as its bytes — no encode step).
///
/// Built-ins every drone knows: `polyshm.empty` (`()` → `()`), `polyshm.echo_bytes`
/// (pod `u8`), `polyshm.echo_i64` (pod `i64`, the same array back, copied by the
/// task), `polyshm.echo_i64_in_place` (the same, as an in-place task: the drone copies
/// nothing), `polyshm.sum_i64`
/// (pod `i64` → `[sum]`, wrapping), `polyshm.len` (any bytes → `[length as u64]`,
/// without reading them: a one-way transfer), and with the `script` feature `polyshm.script`
/// (script blocks, see [`Team::zip_script`](super::Team::zip_script)).
///
/// ```
/// use polyshm::team::Tasks;
/// let tasks = Tasks::new()
///     .task("add", |(a, b): (i64, i64)| a + b)
///     .pod_task("double", |v: &[f64]| v.iter().map(|x| x * 2.0).collect());
/// assert!(tasks.contains("add") && tasks.contains("polyshm.echo_i64"));
/// ```
#[derive(Clone)]
pub struct Tasks {
    map: BTreeMap<String, TaskFn>,
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
        let t = Tasks {
            map: BTreeMap::new(),
        }
        .task("polyshm.empty", |(): ()| ())
        .pod_task("polyshm.echo_bytes", |v: &[u8]| v.to_vec())
        .pod_task("polyshm.echo_i64", |v: &[i64]| v.to_vec())
        .pod_task_in_place("polyshm.echo_i64_in_place", |_: &mut [i64]| {})
        .pod_task("polyshm.sum_i64", |v: &[i64]| {
            vec![v.iter().fold(0i64, |a, b| a.wrapping_add(*b))]
        })
        .pod_task("polyshm.len", |v: &[u8]| vec![v.len() as u64]);
        #[cfg(feature = "script")]
        let t = super::script::register(t);
        t
    }

    /// Register a serde task: the argument `A` decoded from the request, the result
    /// `R` encoded into the reply. A later registration under the same name wins.
    pub fn task<A, R, F>(mut self, name: &str, f: F) -> Tasks
    where
        A: DeserializeOwned,
        R: Serialize,
        F: Fn(A) -> R + Send + Sync + 'static,
    {
        let owned = name.to_string();
        let run: TaskFn = Arc::new(move |bytes: &mut [u8]| {
            let a: A = codec::decode(bytes).map_err(|e| format!("task `{owned}`: {e}"))?;
            let r = f(a);
            let out = codec::encode(&r).map_err(|e| format!("task `{owned}`: {e}"))?;
            Ok(TaskOutput::Bytes(Box::new(out)))
        });
        self.map.insert(name.into(), run);
        self
    }

    /// Register a plain-old-data task: the request's bytes seen as `&[T]` (in place
    /// when aligned, else copied once), the result `Vec<R>` sent as its bytes.
    pub fn pod_task<T, R, F>(mut self, name: &str, f: F) -> Tasks
    where
        T: bytemuck::Pod,
        R: bytemuck::Pod + Send,
        F: Fn(&[T]) -> Vec<R> + Send + Sync + 'static,
    {
        let owned = name.to_string();
        let run: TaskFn = Arc::new(move |bytes: &mut [u8]| {
            let out = match codec::pod_view::<T>(bytes) {
                Ok(v) => f(v),
                Err(codec::CodecError::Misaligned { .. }) => {
                    let v = codec::pod_from_bytes::<T>(bytes)
                        .map_err(|e| format!("task `{owned}`: {e}"))?;
                    f(&v)
                }
                Err(e) => return Err(format!("task `{owned}`: {e}")),
            };
            Ok(TaskOutput::Bytes(Box::new(PodVec(out))))
        });
        self.map.insert(name.into(), run);
        self
    }

    /// Register a plain-old-data task that works in place: it changes the request's
    /// array, and that array is the result. In [`Transport::Shm`](super::Transport::Shm)
    /// the drone then copies nothing at all: the result is where the master wrote the
    /// request.
    pub fn pod_task_in_place<T, F>(mut self, name: &str, f: F) -> Tasks
    where
        T: bytemuck::Pod + Send,
        F: Fn(&mut [T]) + Send + Sync + 'static,
    {
        let owned = name.to_string();
        let run: TaskFn = Arc::new(move |bytes: &mut [u8]| {
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
                Err(e) => Err(format!("task `{owned}`: {e}")),
            }
        });
        self.map.insert(name.into(), run);
        self
    }

    /// Whether a task of that name is registered.
    pub fn contains(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    /// The registered names, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.map.keys().map(String::as_str).collect()
    }

    pub(crate) fn get(&self, name: &str) -> Option<&TaskFn> {
        self.map.get(name)
    }
}
