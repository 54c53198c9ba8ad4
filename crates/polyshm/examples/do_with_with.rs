//! The study's first example of Polycephaly:
//!
//! ```text
//! drones do: '[:a :b | a + b]' with: #(1 2 3 4 5) with: #(5 4 3 2 1)   "→ #(6 6 6 6 6)"
//! ```
//!
//! Run with `cargo run -p polyshm --example do_with_with [-- TRANSPORT]`. The example is
//! its own drone: `drone_main` comes first in `main`.

use polyshm::team::{drone_main, Tasks, Team, Transport, Value};

fn tasks() -> Tasks {
    // The same block as a native task, for comparison.
    Tasks::new().task("add", |(a, b): (i64, i64)| a + b)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    drone_main(&tasks());
    let transport: Transport = match std::env::args().nth(1) {
        Some(t) => t.parse()?,
        None => Transport::Shm,
    };
    let drones = Team::builder(tasks())
        .drones(2)
        .transport(transport)
        .spawn()?;

    // The block as source text, compiled in the drones (rhai).
    let a: Vec<Value> = [1i64, 2, 3, 4, 5].map(Value::Int).into();
    let b: Vec<Value> = [5i64, 4, 3, 2, 1].map(Value::Int).into();
    let answer = drones.zip_script("|a, b| a + b", a, b)?;
    println!("{}", Value::Array(answer));

    // The same with a native task.
    let native: Vec<i64> = drones.zip("add", vec![1i64, 2, 3, 4, 5], vec![5i64, 4, 3, 2, 1])?;
    assert_eq!(native, [6, 6, 6, 6, 6]);
    Ok(())
}
