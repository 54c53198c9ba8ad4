//! `polyshm do '|a, b| a + b' --with 1,2,3,4,5 --with 5,4,3,2,1`: the study's
//! `drones do: '[:a :b | a + b]' with: #(1 2 3 4 5) with: #(5 4 3 2 1)` from the shell.

use anyhow::{bail, Context, Result};
use clap::Args;
use polyshm::team::{check_script, Signal, Team, Transport};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
    /// The drones are the ranks of the MPI job (`mpirun -n K polyshm do --mpi …`; every
    /// rank but 0, --drones and --transport aside). Needs a build with `--features mpi`.
    #[arg(long)]
    pub mpi: bool,
    /// How the mailbox hand-over is signalled: semaphore, or window (the study's window
    /// messages; Windows only; shm and hybrid transports).
    #[arg(long, default_value = "semaphore")]
    pub signal: Signal,
}

/// A value typed on the command line, or answered by a block: whatever it is
/// (serde's untagged form: it travels as the value itself).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Cell {
    /// Nothing (rhai's `()`).
    Unit(()),
    /// A boolean.
    Bool(bool),
    /// A 64-bit integer.
    Int(i64),
    /// A 64-bit float.
    Float(f64),
    /// A string.
    Str(String),
    /// An array.
    Array(Vec<Cell>),
    /// A map (a rhai object map).
    Map(BTreeMap<String, Cell>),
}

impl Cell {
    /// Read a value as typed on a command line: an integer, a float, `true`/`false`,
    /// else a string.
    pub fn parse(s: &str) -> Cell {
        let t = s.trim();
        if let Ok(i) = t.parse::<i64>() {
            Cell::Int(i)
        } else if let Ok(f) = t.parse::<f64>() {
            Cell::Float(f)
        } else if t == "true" || t == "false" {
            Cell::Bool(t == "true")
        } else {
            Cell::Str(t.to_string())
        }
    }
}

impl std::fmt::Display for Cell {
    /// As the study prints arrays: `[6, 6, 6]`; floats keep a decimal point, strings
    /// are quoted.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cell::Unit(()) => f.write_str("()"),
            Cell::Bool(b) => write!(f, "{b}"),
            Cell::Int(i) => write!(f, "{i}"),
            Cell::Float(x) => write!(f, "{x:?}"),
            Cell::Str(s) => write!(f, "{s:?}"),
            Cell::Array(a) => {
                f.write_str("[")?;
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            Cell::Map(m) => {
                f.write_str("#{")?;
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k}: {v}")?;
                }
                f.write_str("}")
            }
        }
    }
}

fn column(list: &str) -> Vec<Cell> {
    if list.trim().is_empty() {
        return Vec::new();
    }
    list.split(',').map(Cell::parse).collect()
}

/// Run the block in the drones and print the answers as `[6, 6, 6, 6, 6]`.
pub fn run(args: DoArgs) -> Result<()> {
    let columns: Vec<Vec<Cell>> = args.with.iter().map(|l| column(l)).collect();
    let n = columns[0].len();
    if let Some(c) = columns.iter().find(|c| c.len() != n) {
        bail!(
            "the --with lists hold {n} and {} values: give them all the same length",
            c.len()
        );
    }
    // A block that does not compile fails here, before any drone starts.
    check_script(&args.block, columns.len())?;
    let builder = Team::builder(crate::tasks::tasks().0);
    let builder = match args.mpi {
        true => builder.mpi(),
        false => builder.drones(args.drones).transport(args.transport),
    };
    let team = builder
        .signal(args.signal)
        .spawn()
        .context("starting the drones")?;
    let rows: Vec<Vec<Cell>> = (0..n)
        .map(|i| columns.iter().map(|c| c[i].clone()).collect())
        .collect();
    let answers: Vec<Cell> = team.script(&args.block, rows)?;
    println!("{}", Cell::Array(answers));
    Ok(())
}
