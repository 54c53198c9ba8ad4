//! Archived tasks: a structured result — 100,000 records of a name, an id, a score and
//! four tags — written once by the drone into its mailbox and read there by the master,
//! validated, without decoding.
//!
//! Run with `cargo run --release -p polyshm --example archived [-- TRANSPORT]`. The
//! example is its own drone: `drone_main` comes first in `main`.

use polyshm::rkyv::{Archive, Archived, Deserialize, Serialize};
use polyshm::team::{drone_main, ArchivedTask, Tasks, Team, Transport};
use std::time::Instant;

#[derive(Archive, Serialize, Deserialize, Debug, PartialEq)]
#[rkyv(crate = polyshm::rkyv)]
struct Function {
    name: String,
    id: u64,
    score: f64,
    tags: Vec<u32>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut tasks = Tasks::new();
    let assess: ArchivedTask<Vec<String>, Vec<Function>> =
        tasks.archived_task("assess", |names: &Archived<Vec<String>>| {
            names
                .iter()
                .enumerate()
                .map(|(i, n)| Function {
                    name: n.to_string(),
                    id: i as u64,
                    score: (i % 100) as f64 / 100.0,
                    tags: vec![i as u32, 2, 3, 4],
                })
                .collect::<Vec<_>>()
        });
    drone_main(&tasks);
    let transport: Transport = match std::env::args().nth(1) {
        Some(t) => t.parse()?,
        None => Transport::Shm,
    };
    let team = Team::builder(tasks)
        .drones(1)
        .transport(transport)
        .spawn()?;
    let names: Vec<String> = (0..100_000).map(|i| format!("function_{i}")).collect();
    for round in 0..3 {
        let start = Instant::now();
        // The argument's archive goes straight into the drone's request area; the reply
        // is read where the drone wrote it, validated first.
        let result = team.run_archived(&assess, &names)?;
        let total: f64 = result.iter().map(|f| f.score.to_native()).sum();
        println!(
            "round {round} over {transport}: {} functions ({} bytes of archive), `{}` the 7th, total score {total:.1}, {:?}",
            result.len(),
            result.archive_len(),
            result[7].name,
            start.elapsed()
        );
        assert_eq!(result[99_999].id.to_native(), 99_999);
    }
    // The same key through `run`: an owned answer, decoded from a private copy.
    let owned: Vec<Function> = team.run(&assess, names[..3].to_vec())?;
    assert_eq!(owned[2].name, "function_2");
    Ok(())
}
