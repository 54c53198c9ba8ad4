//! Layer 6: the drone team (the study's Polycephaly and "SharedMemory-ExampleApp").
//!
//! A master builds a [`Team`]: N drones, each this executable run again (the user's
//! `main` calls [`drone_main`] first; a drone never returns from it), connected by one
//! of the [`Transport`]s. Tasks are registered by name in [`Tasks`], the same in master
//! and drones: serde tasks, plain-old-data tasks on a fast path with no encode step,
//! and (feature `script`) script blocks shipped as text.
//!
//! - [`Team::run`] / [`Team::run_pod`]: one task on one drone;
//! - [`Team::map`] / [`Team::map_pod`] / [`Team::zip`]: spread over the drones;
//! - [`Team::zip_script`]: the study's `drones do: '[:a :b | a + b]' with: … with: …`;
//! - [`Team::submit`]: a [`TaskHandle`] with `wait`, `wait_timeout`, `cancel`.
//!
//! Faults come back as [`TeamError`]s: a panic in the drone, a drone that died (it is
//! replaced; `retry_dead` tries again), a task past its deadline (its drone is killed
//! and replaced), an unknown task, a drone of another version.
//!
//! ```no_run
//! use polyshm::team::{drone_main, Tasks, Team, Value};
//! fn main() -> Result<(), polyshm::team::TeamError> {
//!     let tasks = Tasks::new();
//!     drone_main(&tasks);
//!     let drones = Team::builder(tasks).drones(2).spawn()?;
//!     let a: Vec<Value> = [1i64, 2, 3, 4, 5].map(Value::Int).into();
//!     let b: Vec<Value> = [5i64, 4, 3, 2, 1].map(Value::Int).into();
//!     let sums = drones.zip_script("|a, b| a + b", a, b)?;
//!     assert_eq!(Value::Array(sums).to_string(), "[6, 6, 6, 6, 6]");
//!     Ok(())
//! }
//! ```

mod drone;
mod error;
pub mod measure;
pub mod protocol;
pub mod script;
mod tasks;
#[allow(clippy::module_inception)]
mod team;
pub mod transport;

pub use drone::{drone_main, DRONE_ENV};
pub use error::TeamError;
pub use script::Value;
pub use tasks::{Output, Tasks};
pub use team::{TaskHandle, Team, TeamBuilder, DEFAULT_WAIT};
pub use transport::{Transport, UnknownTransport};
