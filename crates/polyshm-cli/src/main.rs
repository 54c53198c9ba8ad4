//! `polyshm`: the command-line face of the library.
//!
//! Every subcommand lives in its own module; `main` maps errors to a one-line reason
//! on stderr and a non-zero exit code.

use clap::{Parser, Subcommand};

mod assess;
mod do_cmd;
mod explore;
mod fractal;
mod profile;
mod shm;
mod tasks;

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
    /// Run a block in drones over zipped lists: `polyshm do '|a, b| a + b' --with 1,2 --with 3,4`.
    Do(do_cmd::DoArgs),
    /// The study's Fractal Explorer: a Mandelbrot image computed in tiles over drones.
    Fractal(fractal::FractalArgs),
    /// The Fractal Explorer as an interactive page on 127.0.0.1, tiles rendered live by drones.
    Explore(explore::ExploreArgs),
    /// The study's code assessment: metrics of every Rust function, duplicates, XML.
    Assess(assess::AssessArgs),
    /// Measure the study's tables 1-10 again and write a report beside its figures.
    Profile(profile::ProfileArgs),
}

fn main() {
    // A drone (this binary run again by a team) serves tasks here and never returns.
    polyshm::team::drone_main(&tasks::tasks().0);
    // So does a profile helper (the relay and UDP peer of tables 1 and 2).
    polyshm_profile::helper_main();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Shm(cmd) => shm::run(cmd),
        Command::Do(args) => do_cmd::run(args),
        Command::Fractal(args) => fractal::run(args),
        Command::Explore(args) => explore::run(args),
        Command::Profile(args) => profile::run(args),
        Command::Assess(args) => assess::run(args),
    };
    if let Err(e) = result {
        // One line, even when a cause (a script engine's, say) spans several.
        let reason = format!("{e:#}");
        eprintln!(
            "polyshm: {}",
            reason.split_whitespace().collect::<Vec<_>>().join(" ")
        );
        std::process::exit(1);
    }
}
