//! `polyshm`: the command-line face of the library.
//!
//! Every subcommand lives in its own module; `main` maps errors to a one-line reason
//! on stderr and a non-zero exit code.

use clap::{Parser, Subcommand};

mod fractal;
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
    /// The study's Fractal Explorer: a Mandelbrot image computed in tiles over drones.
    Fractal(fractal::FractalArgs),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Shm(cmd) => shm::run(cmd),
        Command::Fractal(args) => fractal::run(args),
    };
    if let Err(e) = result {
        eprintln!("polyshm: {e:#}");
        std::process::exit(1);
    }
}
