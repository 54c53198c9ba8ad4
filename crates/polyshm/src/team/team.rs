//! [`Team`]: the master's side — spawn drones, hand them tasks, get results back
//! (the study's `VirtualMachines new: N` and `drones do: … with: …`).

use super::builder::TeamBuilder;
use super::call::{Call, Input, PodCall};
use super::dispatch::{codec_error, Inner};
use super::error::TeamError;
use super::handle::{ring, TaskHandle};
use super::loan::Loan;
use super::tasks::Tasks;
use super::transport::Transport;
use crate::sync::WaitStrategy;
use polyshm_sys::ProcessId;
use std::sync::atomic::AtomicBool;
use std::sync::{mpsc, Arc};

/// A team of drones: N processes that run tasks for this one (the study's
/// `VirtualMachines new: N`).
///
/// Drones are this executable run again with a drone marker in the environment (its
/// `main` must call [`drone_main`](super::drone_main) first), or another program
/// ([`TeamBuilder::program`]). They end when the team drops, and when the master ends
/// in any other way (kill -9 included): each is tied to the master's spawner thread by
/// `PR_SET_PDEATHSIG`, and checks that the master lives whenever a wait times out.
///
/// One call family over every kind of task key ([`Task`](super::Task),
/// [`PodTask`](super::PodTask), [`InPlaceTask`](super::InPlaceTask)): [`run`](Self::run)
/// (one), [`map`](Self::map) (many, spread over the drones, answers in order),
/// [`submit`](Self::submit) (start now, wait later); and for pod keys
/// [`loan`](Self::loan), the zero-copy path. Calls may come from several threads:
/// each takes an idle drone for the duration of its roundtrip.
///
/// ```no_run
/// use polyshm::team::{builtin, drone_main, PodTask, Task, Tasks, Team, Transport};
/// fn main() -> Result<(), polyshm::team::TeamError> {
///     let mut tasks = Tasks::new();
///     let add: Task<(i64, i64), i64> = tasks.task("add", |(a, b)| a + b);
///     let double: PodTask<f64, f64> = tasks.pod_task("double", |v| v.iter().map(|x| x * 2.0).collect());
///     drone_main(&tasks);
///     let team = Team::builder(tasks).drones(2).transport(Transport::Shm).spawn()?;
///     assert_eq!(team.run(&add, (2, 3))?, 5);
///     let sums = team.map(&add, [(1, 5), (2, 4), (3, 3)])?;
///     assert_eq!(sums, [6, 6, 6]);
///     assert_eq!(team.run(&double, &[1.5, 2.0])?, [3.0, 4.0]);
///     // Zero copy: fill the drone's request area, read the reply where it lies.
///     let mut loan = team.loan(&builtin::ECHO_I64_IN_PLACE, 1_000)?;
///     loan.iter_mut().enumerate().for_each(|(i, x)| *x = i as i64);
///     let reply = loan.send()?;
///     assert_eq!(reply[999], 999);
///     Ok(())
/// }
/// ```
pub struct Team {
    pub(super) inner: Arc<Inner>,
}

impl std::fmt::Debug for Team {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Team")
            .field("len", &self.len())
            .field("transport", &self.transport())
            .field("pids", &self.pids())
            .finish()
    }
}

impl Team {
    /// Start building a team that serves `tasks` (the drones must build the same).
    pub fn builder(tasks: Tasks) -> TeamBuilder {
        TeamBuilder::new(tasks)
    }

    pub(crate) fn from_inner(inner: Arc<Inner>) -> Team {
        Team { inner }
    }

    /// Run the task of `key` on one drone: `team.run(&add, (1, 2))`,
    /// `team.run(&echo, &v)`.
    pub fn run<K: Call>(&self, key: &K, input: impl Input<K::In>) -> Result<K::Out, TeamError> {
        self.inner.check_key(key)?;
        let bytes = key
            .request(input.input())
            .map_err(codec_error(key.name()))?;
        self.inner
            .call(key.name(), &bytes, None, false, &|b| key.reply(b))
    }

    /// Run the task of `key` once per input, spread over the drones; answers in input
    /// order. Inputs are drawn as drones come free (one in flight per drone), so a long
    /// iterator is never held whole. The first error wins: inputs not yet drawn are
    /// not run. With [`TeamBuilder::retry_dead`], a task whose drone died is tried
    /// again on its replacement.
    pub fn map<K, I>(&self, key: &K, inputs: I) -> Result<Vec<K::Out>, TeamError>
    where
        K: Call,
        I: IntoIterator,
        I::IntoIter: Send,
        I::Item: Input<K::In> + Send,
    {
        self.inner.check_key(key)?;
        self.inner.map(key, inputs)
    }

    /// Start the task of `key` on a drone and return at once; the handle waits for the
    /// result, or cancels ([`wait_any`](super::wait_any) waits for the first of many).
    pub fn submit<K: Call>(&self, key: &K, input: impl Input<K::In>) -> TaskHandle<K::Out> {
        let (tx, rx) = mpsc::channel();
        let cancel = Arc::new(AtomicBool::new(false));
        let bytes = self.inner.check_key(key).and_then(|()| {
            key.request(input.input())
                .map(|b| b.into_owned())
                .map_err(codec_error(key.name()))
        });
        let bytes = match bytes {
            Ok(b) => b,
            Err(e) => {
                let _ = tx.send(Err(e));
                return TaskHandle::new(rx, cancel);
            }
        };
        let inner = self.inner.clone();
        let flag = cancel.clone();
        let key = key.clone();
        let tx2 = tx.clone();
        let spawned = std::thread::Builder::new()
            .name("polyshm-submit".into())
            .spawn(move || {
                let r = inner.call(key.name(), &bytes, Some(&flag), false, &|b| key.reply(b));
                let _ = tx.send(r);
                ring();
            });
        if let Err(e) = spawned {
            let _ = tx2.send(Err(TeamError::Config(format!(
                "cannot start a thread for the task: {e}"
            ))));
        }
        TaskHandle::new(rx, cancel)
    }

    /// Borrow the request area of an idle drone for `n` elements of the pod key's
    /// item type: fill it in place, then [`send`](Loan::send) it, and read the
    /// [`Reply`](super::Reply) where it lies. Through [`Transport::Shm`] the area is
    /// the drone's mailbox (the request is never copied); over sockets an ordinary
    /// buffer. The drone is held until the loan, and then the reply, drop: like a
    /// `MutexGuard`, so another call that needs that drone (any call on a one-drone
    /// team) waits until they drop — drop the reply before calling again from the
    /// same thread.
    pub fn loan<K: PodCall>(&self, key: &K, n: usize) -> Result<Loan<'_, K>, TeamError> {
        self.inner.check_key(key)?;
        let session = self.inner.checkout(key.name(), None)?;
        Loan::new(session, key, n)
    }

    /// Number of drones.
    pub fn len(&self) -> usize {
        self.inner.slots.len()
    }

    /// Whether the team has no drones (never: a team has at least one).
    pub fn is_empty(&self) -> bool {
        self.inner.slots.is_empty()
    }

    /// The drones now serving, by slot (a replaced drone has a new id; `None` for a
    /// slot whose replacement could not start yet).
    pub fn pids(&self) -> Vec<Option<ProcessId>> {
        super::dispatch::lock(&self.inner.pids).clone()
    }

    /// The transport in use.
    pub fn transport(&self) -> Transport {
        self.inner.config.transport
    }

    /// How the mailbox hand-over is signalled.
    pub fn signal(&self) -> super::Signal {
        self.inner.config.signal
    }

    /// The wait strategy in use.
    pub fn wait_strategy(&self) -> WaitStrategy {
        self.inner.config.wait
    }

    /// The tasks this team serves.
    pub fn tasks(&self) -> &Tasks {
        &self.inner.tasks
    }
}

#[cfg(feature = "script")]
impl Team {
    /// Run a script block (source text, as Polycephaly ships blocks) on every row,
    /// spread over the drones: a row is any serde value that serializes to a sequence
    /// (a tuple, an array, a `Vec`), whose elements are the block's arguments; each
    /// answer is read as `R` (any serde type; rhai's serde support does both ways).
    /// The block is compiled once in the master (a block that does not compile, or
    /// takes another number of arguments, is an error before any drone works) and
    /// once per drone and call.
    pub fn script<Row, R>(
        &self,
        block: &str,
        rows: impl IntoIterator<Item = Row>,
    ) -> Result<Vec<R>, TeamError>
    where
        Row: serde::Serialize,
        R: serde::de::DeserializeOwned,
    {
        use super::script::engine::{check_block, from_wire, to_wire, TASK};
        use super::script::Wire;
        let err = |message: String| TeamError::Script {
            block: block.into(),
            message,
        };
        let rows: Vec<Wire> = rows
            .into_iter()
            .map(|r| to_wire(&r))
            .collect::<Result<_, _>>()
            .map_err(err)?;
        let arity = |w: &Wire| match w {
            Wire::Array(a) => a.len(),
            _ => 1,
        };
        let columns = rows.first().map_or(0, arity);
        if let Some(r) = rows.iter().find(|r| arity(r) != columns) {
            return Err(TeamError::Arguments(format!(
                "rows of {columns} and {} values: give every row the same length",
                arity(r)
            )));
        }
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        check_block(block, columns)?;
        let n = rows.len();
        let per = n.div_ceil(self.len()).max(1);
        let mut rows = rows.into_iter();
        let chunks: Vec<_> = (0..n.div_ceil(per))
            .map(|i| {
                (
                    block.to_string(),
                    (i * per) as u64,
                    rows.by_ref().take(per).collect(),
                )
            })
            .collect();
        let parts = self.map(&TASK, chunks)?;
        let mut out = Vec::with_capacity(n);
        for p in parts {
            for w in p.map_err(err)? {
                out.push(from_wire(w).map_err(err)?);
            }
        }
        Ok(out)
    }

    /// Run a script block on `(a[i], b[i])` for every `i`: the study's
    /// `drones do: '[:a :b | a + b]' with: #(1 2 3 4 5) with: #(5 4 3 2 1)` is
    /// `team.zip_script("|a, b| a + b", [1, 2, 3, 4, 5], [5, 4, 3, 2, 1])`.
    /// Any serde values in, any serde type out (see [`script`](Self::script)).
    pub fn zip_script<A, B, R>(
        &self,
        block: &str,
        a: impl IntoIterator<Item = A>,
        b: impl IntoIterator<Item = B>,
    ) -> Result<Vec<R>, TeamError>
    where
        A: serde::Serialize,
        B: serde::Serialize,
        R: serde::de::DeserializeOwned,
    {
        let a: Vec<A> = a.into_iter().collect();
        let b: Vec<B> = b.into_iter().collect();
        if a.len() != b.len() {
            return Err(TeamError::Arguments(format!(
                "zip of {} and {} values: give both the same length",
                a.len(),
                b.len()
            )));
        }
        self.script(block, a.into_iter().zip(b))
    }
}

/// Compile a script block in this process and check that it is a closure taking
/// `arity` arguments (what [`Team::script`] does before any drone works).
#[cfg(feature = "script")]
pub fn check_script(block: &str, arity: usize) -> Result<(), TeamError> {
    super::script::engine::check_block(block, arity)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn teams_and_handles_cross_threads_and_bad_configs_are_refused() {
        fn send_sync<T: Send + Sync>() {}
        fn send<T: Send>() {}
        send_sync::<Team>();
        send::<TaskHandle<Vec<i64>>>();
        let e = Team::builder(Tasks::new()).drones(0).spawn().unwrap_err();
        assert!(matches!(e, TeamError::Config(_)), "{e}");
        let e = Team::builder(Tasks::new())
            .drones(1)
            .program("/nonexistent/polyshm-drone")
            .spawn()
            .unwrap_err();
        assert!(matches!(e, TeamError::Spawn { .. }), "{e}");
    }
}
