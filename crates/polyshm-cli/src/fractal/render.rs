//! Computing an image: in this process alone, or tile by tile over a drone team.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use super::tile::{self, TileRequest};
use super::view::View;

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
    /// Time to compute and assemble the image.
    pub elapsed: Duration,
}

/// Who computes: this process alone, or a team of drones.
pub enum Runner {
    /// The study's "single image": this process computes every tile in turn.
    Local,
}

impl Runner {
    /// Start a runner: `drones` = 0 computes in this process; otherwise a team of that
    /// many drones over `transport` (default: socket).
    pub fn start(drones: usize, transport: Option<&str>) -> Result<Runner> {
        if drones == 0 {
            return Ok(Runner::Local);
        }
        bail!(
            "drones ({drones} asked, transport {}) need the drone team, which this build \
             does not have yet; use --drones 0",
            transport.unwrap_or("socket")
        )
    }

    /// `one-process`, or the transport's name.
    pub fn setup(&self) -> String {
        match self {
            Runner::Local => "one-process".to_string(),
        }
    }

    /// Number of drones (0: one process).
    pub fn drones(&self) -> usize {
        match self {
            Runner::Local => 0,
        }
    }

    /// Time it took to start the drones.
    pub fn spawn_time(&self) -> Duration {
        match self {
            Runner::Local => Duration::ZERO,
        }
    }

    /// Compute `view` in tiles of `side`×`side`.
    pub fn render(&self, view: &View, side: u32) -> Result<Rendered> {
        let tiles = tile::tiles(view.width, view.height, side);
        let start = Instant::now();
        let mut counts = vec![0u32; view.pixels()];
        let mut total_size = 0;
        match self {
            Runner::Local => {
                for t in &tiles {
                    let result = TileRequest {
                        view: *view,
                        tile: *t,
                    }
                    .compute();
                    total_size += result.len();
                    tile::place(&mut counts, view.width, t, &result)?;
                }
            }
        }
        Ok(Rendered {
            counts,
            tile: side,
            result_arrays: tiles.len(),
            total_size,
            elapsed: start.elapsed(),
        })
    }
}

/// The names of every transport, in the team's order.
pub fn transports() -> Vec<String> {
    ["socket", "unix", "hybrid", "hybrid-unprotected", "shm"]
        .map(String::from)
        .to_vec()
}
