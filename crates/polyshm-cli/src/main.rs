//! `polyshm`: the command-line face of the library.
//!
//! Every subcommand lives in its own module; `main` maps errors to a one-line reason
//! on stderr and a non-zero exit code.

use clap::{Parser, Subcommand};

mod profile;
mod shm;

/// Multi-process computing on one host: shared memory, remote semaphores, drones.
#[derive(Parser, Debug)]
#[command(name = "polyshm", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Manage named shared-memory segments (create, read, write, ls, rm, clean).
    #[command(subcommand)]
    Shm(shm::ShmCommand),
    /// Measure the study's tables 1-10 again and write a report beside its figures.
    Profile(profile::ProfileArgs),
}

fn main() {
    // A drone (started by a Team) or a profile helper serves and never returns.
    polyshm::team::drone_main(&polyshm::team::Tasks::new());
    polyshm_profile::helper_main();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Shm(cmd) => shm::run(cmd),
        Command::Profile(args) => profile::run(args),
    };
    if let Err(e) = result {
        eprintln!("polyshm: {e:#}");
        std::process::exit(1);
    }
}
