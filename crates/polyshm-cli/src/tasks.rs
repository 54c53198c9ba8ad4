//! The tasks the `polyshm` binary's drones know. The binary is its own drone: `main`
//! calls `polyshm::team::drone_main(&tasks())` first, so every task a subcommand sends
//! must be registered here (the built-ins, script blocks included, come with
//! `Tasks::new()`).

use polyshm::team::{PodTask, Tasks};

/// The keys of the binary's own tasks.
#[derive(Clone, Debug)]
pub struct Keys {
    /// One fractal tile: its request words in, its counts out.
    pub tile: PodTask<u64, u32>,
}

/// The registry shared by the `polyshm` master and its drones, and its keys.
pub fn tasks() -> (Tasks, Keys) {
    let mut t = Tasks::new();
    let tile = t.pod_task(crate::fractal::tile::TASK, crate::fractal::tile::run_task);
    (t, Keys { tile })
}
