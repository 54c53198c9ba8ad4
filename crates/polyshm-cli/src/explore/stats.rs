//! The live panel's figures: per drone, tiles done, time per tile (in the drone, and the
//! whole roundtrip), bytes moved each way, its transport; drones that died, and tiles
//! thrown away because their view had changed.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::Serialize;

use crate::fractal::render::Runner;

/// One drone's figures (or this process's, with no drones).
#[derive(Debug, Clone, Default, Serialize)]
pub struct DroneStats {
    /// Its process id.
    pub pid: u32,
    /// Its slot in the team (`None`: no longer serving, it died).
    pub slot: Option<usize>,
    /// Tiles it computed.
    pub tiles: u64,
    /// Microseconds it spent computing them.
    pub compute_micros: u64,
    /// Microseconds from handing each tile over to having its counts back, summed.
    pub roundtrip_micros: u64,
    /// Request bytes sent to it.
    pub bytes_in: u64,
    /// Result bytes it sent back.
    pub bytes_out: u64,
}

/// What the panel shows of the whole team.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    /// The transport's name (`one-process` with no drones).
    pub transport: String,
    /// Number of drones (0: this process computes).
    pub drones: usize,
    /// Every drone seen since the team started, serving ones first.
    pub per_drone: Vec<DroneStats>,
    /// Drones that died while computing a tile (each replaced by the team).
    pub deaths: u64,
    /// Queued tiles dropped because their view had changed before a drone took them.
    pub skipped: u64,
    /// Tiles computed for a view that had changed meanwhile, thrown away.
    pub discarded: u64,
}

#[derive(Debug, Default)]
struct Counts {
    per_pid: BTreeMap<u32, DroneStats>,
    deaths: u64,
    skipped: u64,
    discarded: u64,
}

/// The team's live figures, updated by the workers.
#[derive(Debug)]
pub struct Stats {
    transport: String,
    drones: usize,
    counts: Mutex<Counts>,
}

impl Stats {
    /// Figures for a team that has just started.
    pub fn new(runner: &Runner, transport: &str) -> Stats {
        Stats {
            transport: match runner {
                Runner::Local => "one-process".to_string(),
                Runner::Drones { .. } => transport.to_string(),
            },
            drones: runner.drones(),
            counts: Mutex::new(Counts::default()),
        }
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A tile computed by `pid`.
    pub fn note_tile(&self, pid: u32, compute: u64, roundtrip: u64, bytes_in: usize, out: usize) {
        let mut c = self.counts();
        let d = c.per_pid.entry(pid).or_insert_with(|| DroneStats {
            pid,
            ..DroneStats::default()
        });
        d.tiles += 1;
        d.compute_micros += compute;
        d.roundtrip_micros += roundtrip;
        d.bytes_in += bytes_in as u64;
        d.bytes_out += out as u64;
    }

    /// The drone `pid` died under a tile.
    pub fn note_death(&self, pid: u32) {
        self.counts().deaths += 1;
        eprintln!("polyshm explore: drone {pid} died under a tile; the team replaced it");
    }

    /// `n` queued tiles of an old view were dropped.
    pub fn note_skipped(&self, n: usize) {
        self.counts().skipped += n as u64;
    }

    /// A computed tile of an old view was thrown away.
    pub fn note_discarded(&self) {
        self.counts().discarded += 1;
    }

    /// The figures now, with each drone's slot taken from the team's current pids.
    pub fn snapshot(&self, runner: &Runner) -> Snapshot {
        let serving: Vec<Option<u32>> = match runner {
            Runner::Local => vec![Some(std::process::id())],
            Runner::Drones { team, .. } => {
                team.pids().into_iter().map(|p| p.map(|p| p.pid)).collect()
            }
        };
        let c = self.counts();
        let mut per_drone: Vec<DroneStats> = c.per_pid.values().cloned().collect();
        for d in &mut per_drone {
            d.slot = serving.iter().position(|&p| p == Some(d.pid));
        }
        // Drones that serve but have no tile yet are listed too.
        for (slot, pid) in serving.iter().enumerate() {
            if let Some(pid) = *pid {
                if !c.per_pid.contains_key(&pid) {
                    per_drone.push(DroneStats {
                        pid,
                        slot: Some(slot),
                        ..DroneStats::default()
                    });
                }
            }
        }
        per_drone.sort_by_key(|d| (d.slot.is_none(), d.slot, d.pid));
        Snapshot {
            transport: self.transport.clone(),
            drones: self.drones,
            per_drone,
            deaths: c.deaths,
            skipped: c.skipped,
            discarded: c.discarded,
        }
    }
}
