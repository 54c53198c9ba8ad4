//! The tasks the `polyshm` binary's drones know. The binary is its own drone: `main`
//! calls `polyshm::team::drone_main(&tasks())` first, so every task a subcommand sends
//! must be registered here (the built-ins, script blocks included, come with
//! `Tasks::new()`).

use polyshm::team::Tasks;

/// The registry shared by the `polyshm` master and its drones.
pub fn tasks() -> Tasks {
    Tasks::new().pod_task(crate::fractal::tile::TASK, crate::fractal::tile::run_task)
}
