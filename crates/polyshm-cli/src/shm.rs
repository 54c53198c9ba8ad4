//! `polyshm shm …`: manage named segments from the shell.

use anyhow::Result;
use clap::Subcommand;
use polyshm::shm::admin;

/// Subcommands of `polyshm shm`.
#[derive(Subcommand, Debug)]
pub enum ShmCommand {
    /// List polyshm segments: name, size, owner pid, whether the owner lives.
    Ls {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// Run one `polyshm shm` subcommand.
pub fn run(cmd: ShmCommand) -> Result<()> {
    match cmd {
        ShmCommand::Ls { json } => ls(json),
    }
}

fn ls(json: bool) -> Result<()> {
    let list = admin::list()?;
    if json {
        let rows: Vec<_> = list
            .iter()
            .map(|s| {
                serde_json::json!({
                    "name": s.name,
                    "size": s.size,
                    "owner_pid": s.owner.map(|o| o.pid),
                    "owner_alive": s.owner_alive,
                    "problem": s.problem,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    println!(
        "{:<24} {:>14} {:>9} {:>6}  problem",
        "name", "size", "owner", "alive"
    );
    for s in list {
        println!(
            "{:<24} {:>14} {:>9} {:>6}  {}",
            s.name,
            s.size.map_or("-".into(), |v| v.to_string()),
            s.owner.map_or("-".into(), |o| o.pid.to_string()),
            if s.owner_alive { "yes" } else { "no" },
            s.problem.as_deref().unwrap_or("")
        );
    }
    Ok(())
}
