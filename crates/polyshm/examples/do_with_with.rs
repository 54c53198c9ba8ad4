//! The study's first example of Polycephaly:
//!
//! ```text
//! drones do: '[:a :b | a + b]' with: #(1 2 3 4 5) with: #(5 4 3 2 1)   "→ #(6 6 6 6 6)"
//! ```
//!
//! Run with `cargo run -p polyshm --example do_with_with [-- TRANSPORT]`. The example is
//! its own drone: `drone_main` comes first in `main`.

use polyshm::team::{drone_main, Task, Tasks, Team, Transport};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut tasks = Tasks::new();
    // The same block as a native task, for comparison.
    let add: Task<(i64, i64), i64> = tasks.task("add", |(a, b)| a + b);
    drone_main(&tasks);
    let transport: Transport = match std::env::args().nth(1) {
        Some(t) => t.parse()?,
        None => Transport::Shm,
    };
    let drones = Team::builder(tasks)
        .drones(2)
        .transport(transport)
        .spawn()?;

    // The block as source text, compiled in the drones (rhai).
    let answer: Vec<i64> = drones.zip_script("|a, b| a + b", [1, 2, 3, 4, 5], [5, 4, 3, 2, 1])?;
    println!("{answer:?}");

    // The same with a native task.
    let native = drones.map(&add, [1, 2, 3, 4, 5].into_iter().zip([5, 4, 3, 2, 1]))?;
    assert_eq!(native, [6, 6, 6, 6, 6]);
    Ok(())
}
