//! `polyshm do '|a, b| a + b' --with 1,2,3,4,5 --with 5,4,3,2,1`: the study's
//! `drones do: '[:a :b | a + b]' with: #(1 2 3 4 5) with: #(5 4 3 2 1)` from the shell.

use anyhow::{bail, Context, Result};
use clap::Args;
use polyshm::team::{script, Team, Transport, Value};

/// Arguments of `polyshm do`.
#[derive(Args, Debug)]
pub struct DoArgs {
    /// The block, a closure in rhai syntax: `|a, b| a + b`.
    pub block: String,
    /// One comma-separated list per block argument; the lists are zipped.
    #[arg(long = "with", value_name = "LIST", required = true)]
    pub with: Vec<String>,
    /// Number of drones.
    #[arg(long, default_value_t = 2)]
    pub drones: usize,
    /// socket (= tcp), unix, hybrid, hybrid-unprotected or shm.
    #[arg(long, default_value = "shm")]
    pub transport: Transport,
}

fn column(list: &str) -> Vec<Value> {
    if list.trim().is_empty() {
        return Vec::new();
    }
    list.split(',').map(Value::parse).collect()
}

/// Run the block in the drones and print the answers as `[6, 6, 6, 6, 6]`.
pub fn run(args: DoArgs) -> Result<()> {
    let columns: Vec<Vec<Value>> = args.with.iter().map(|l| column(l)).collect();
    let n = columns[0].len();
    if let Some(c) = columns.iter().find(|c| c.len() != n) {
        bail!(
            "the --with lists hold {n} and {} values: give them all the same length",
            c.len()
        );
    }
    // A block that does not compile fails here, before any drone starts.
    script::check_block(&args.block, columns.len())?;
    let team = Team::builder(crate::tasks::tasks())
        .drones(args.drones)
        .transport(args.transport)
        .spawn()
        .context("starting the drones")?;
    let answers = team.zip_script_n(&args.block, columns)?;
    println!("{}", Value::Array(answers));
    Ok(())
}
