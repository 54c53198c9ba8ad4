//! The tasks the `polyshm` binary's drones know. The binary is its own drone: `main`
//! calls `polyshm::team::drone_main(&tasks())` first, so every task a subcommand sends
//! must be registered here (the built-ins, script blocks included, come with
//! `Tasks::new()`; the profile's own with `polyshm_profile::register_tasks`).

use crate::fractal::shared::{self, IntoShared};
use polyshm::team::{PodTask, Task, Tasks};

/// The keys of the binary's own tasks.
#[derive(Clone, Debug)]
pub struct Keys {
    /// One fractal tile: its request words in, its counts out.
    pub tile: PodTask<u64, u32>,
    /// One fractal tile written into the image's shared matrix; only "done" comes back.
    pub tile_into_shared: Task<IntoShared, ()>,
    /// One explorer tile: the fractal tile task, its counts followed by the drone's pid
    /// and the time it computed (see `explore::tiles`).
    pub explore_tile: PodTask<u64, u32>,
    /// The assess tasks: a file whole, or one function of it.
    pub assess: crate::assess::runner::Keys,
}

/// The registry shared by the `polyshm` master and its drones, and its keys.
pub fn tasks() -> (Tasks, Keys) {
    let mut t = Tasks::new();
    let tile = t.pod_task(crate::fractal::tile::TASK, crate::fractal::tile::run_task);
    polyshm_profile::register_tasks(&mut t);
    let tile_into_shared = t.task(shared::TASK, shared::run_task);
    let assess = crate::assess::runner::register(&mut t);
    let explore_tile = t.pod_task(crate::explore::tiles::TASK, crate::explore::tiles::run_task);
    (
        t,
        Keys {
            tile,
            tile_into_shared,
            explore_tile,
            assess,
        },
    )
}
