//! Computing an image: in this process alone, or tile by tile over a drone team; the
//! counts sent back as result arrays, or written into a shared matrix
//! ([`Delivery`]).

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use polyshm::team::{Signal, Team, Transport};

use super::shared::{self, Delivery};
use super::tile::{self, TileRequest};
use super::view::View;
use crate::tasks::Keys;

/// A computed image and what it took.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// Counts, row-major, `W·H`.
    pub counts: Vec<u32>,
    /// Tile side used.
    pub tile: u32,
    /// Number of result arrays (one per tile).
    pub result_arrays: usize,
    /// Total integers in the result arrays.
    pub total_size: usize,
    /// Where the counts went.
    pub into: Delivery,
    /// Integers that travelled back with the replies: `total_size` when results are
    /// sent back, 0 when they are written into the shared matrix.
    pub sent_back: usize,
    /// Time to compute and assemble the image.
    pub elapsed: Duration,
}

/// Who computes: this process alone, or a team of drones.
pub enum Runner {
    /// The study's "single image": this process computes every tile in turn.
    Local,
    /// A drone team: each free drone takes the next tile.
    Drones {
        /// The team.
        team: Team,
        /// The tile tasks' keys.
        keys: Keys,
        /// How long starting it took.
        spawn: Duration,
    },
}

impl Runner {
    /// Start a runner: `drones` = 0 computes in this process; otherwise a team of that
    /// many drones over `transport` (default: socket), which retries a tile whose drone
    /// died on another drone.
    pub fn start(drones: usize, transport: Option<&str>) -> Result<Runner> {
        Runner::start_with(drones, transport, Signal::Semaphore)
    }

    /// [`start`](Self::start), the mailbox hand-over signalled by `signal`.
    pub fn start_with(drones: usize, transport: Option<&str>, signal: Signal) -> Result<Runner> {
        if drones == 0 {
            return Ok(Runner::Local);
        }
        let name = transport.unwrap_or("socket");
        let transport: Transport = name
            .parse()
            .with_context(|| format!("--transport {name}"))?;
        let started = Instant::now();
        let (tasks, keys) = crate::tasks::tasks();
        let team = Team::builder(tasks)
            .drones(drones)
            .transport(transport)
            .retry_dead(true)
            .signal(signal)
            .spawn()
            .with_context(|| format!("cannot start {drones} drones over {transport}"))?;
        Ok(Runner::Drones {
            team,
            keys,
            spawn: started.elapsed(),
        })
    }

    /// A team over the ranks of the MPI job (`mpirun -n K polyshm fractal --mpi`).
    pub fn start_mpi() -> Result<Runner> {
        let started = Instant::now();
        let (tasks, keys) = crate::tasks::tasks();
        let team = Team::builder(tasks)
            .mpi()
            .spawn()
            .context("cannot start a team over the MPI ranks")?;
        Ok(Runner::Drones {
            team,
            keys,
            spawn: started.elapsed(),
        })
    }

    /// `one-process`, or the transport's name.
    pub fn setup(&self) -> String {
        match self {
            Runner::Local => "one-process".to_string(),
            Runner::Drones { team, .. } => team.transport().to_string(),
        }
    }

    /// Number of drones (0: one process).
    pub fn drones(&self) -> usize {
        match self {
            Runner::Local => 0,
            Runner::Drones { team, .. } => team.len(),
        }
    }

    /// Time it took to start the drones.
    pub fn spawn_time(&self) -> Duration {
        match self {
            Runner::Local => Duration::ZERO,
            Runner::Drones { spawn, .. } => *spawn,
        }
    }

    /// Compute `view` in tiles of `side`×`side`, the counts going `into` the image as
    /// result arrays or into a shared matrix.
    pub fn render(&self, view: &View, side: u32, into: Delivery) -> Result<Rendered> {
        let tiles = tile::tiles(view.width, view.height, side);
        let start = Instant::now();
        let (counts, sent_back) = match into {
            Delivery::Reply => {
                let counts = self.render_reply(view, &tiles)?;
                (counts, view.pixels())
            }
            Delivery::Shared => (self.render_shared(view, side)?, 0),
        };
        Ok(Rendered {
            counts,
            tile: side,
            result_arrays: tiles.len(),
            total_size: view.pixels(),
            into,
            sent_back,
            elapsed: start.elapsed(),
        })
    }

    /// Each tile's counts come back as an array; the master places it in the image.
    fn render_reply(&self, view: &View, tiles: &[tile::Tile]) -> Result<Vec<u32>> {
        let mut counts = vec![0u32; view.pixels()];
        match self {
            Runner::Local => {
                for t in tiles {
                    let result = TileRequest {
                        view: *view,
                        tile: *t,
                    }
                    .compute();
                    tile::place(&mut counts, view.width, t, &result)?;
                }
            }
            Runner::Drones { team, keys, .. } => {
                let requests = tiles.iter().map(|t| {
                    TileRequest {
                        view: *view,
                        tile: *t,
                    }
                    .to_words()
                });
                let results = team
                    .map(&keys.tile, requests)
                    .with_context(|| format!("tiles over {} drones", team.len()))?;
                for (t, result) in tiles.iter().zip(&results) {
                    tile::place(&mut counts, view.width, t, result)?;
                }
            }
        }
        Ok(counts)
    }

    /// Each tile is written into one shared matrix of counts (by this process alone, or
    /// by the drones); "done" comes back; the master copies the matrix out once.
    fn render_shared(&self, view: &View, side: u32) -> Result<Vec<u32>> {
        let matrix = shared::create(&polyshm::shm::unique_name("fractal"), view, side)?;
        let tasks = shared::requests(&matrix, view, side)?;
        match self {
            Runner::Local => {
                for task in &tasks {
                    shared::write_tile(&matrix, task, || {})?;
                }
            }
            Runner::Drones { team, keys, .. } => {
                team.map(&keys.tile_into_shared, &tasks).with_context(|| {
                    format!(
                        "tiles into shared matrix `{}` over {} drones",
                        matrix.name(),
                        team.len()
                    )
                })?;
            }
        }
        shared::counts(&matrix)
    }
}

/// The names of every transport, in the team's order.
pub fn transports() -> Vec<String> {
    Transport::available()
        .iter()
        .map(ToString::to_string)
        .collect()
}
