//! Tiles for the page: the drone's task (the fractal tile task, its counts followed by
//! who computed them and how long it took), and the [`Pool`] that feeds the team one
//! tile per drone at a time and hands each finished tile to the page that asked for it.
//!
//! Cancelling: every page has a [`Ticket`] whose generation moves on when its view
//! changes. Tiles wait in the pool's queue until a worker draws them; a worker drops a
//! tile whose ticket has moved on instead of sending it, and a new view removes the old
//! view's queued tiles at once. A tile already on a drone (at most one per drone)
//! finishes — a tile takes milliseconds, less than replacing a drone would — and its
//! answer is thrown away.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use polyshm::team::TeamError;
use tokio::sync::mpsc::UnboundedSender;

use super::stats::Stats;
use crate::fractal::render::Runner;
use crate::fractal::tile::{self, Tile, TileRequest};
use crate::fractal::view::View;

/// Name of the explorer's tile task in the task registry.
pub const TASK: &str = "polyshm.explore.tile";

/// Words the explorer's task adds after the counts: the drone's pid, and the
/// microseconds it spent computing the tile (saturated at `u32::MAX`).
pub const TRAILER: usize = 2;

/// How often a tile whose drone died is tried again (on the team's replacement).
const RETRIES: usize = 3;

/// The explorer's tile task as drones run it: [`tile::run_task`] (the fractal's own,
/// fault hook included), then the pid and the compute time.
pub fn run_task(words: &[u64]) -> Vec<u32> {
    let start = Instant::now();
    let mut counts = tile::run_task(words);
    let micros = u32::try_from(start.elapsed().as_micros()).unwrap_or(u32::MAX);
    counts.push(std::process::id());
    counts.push(micros);
    counts
}

/// A page's claim on the pool: tiles carry the generation they were asked under, and
/// count only while it is still the ticket's.
#[derive(Debug, Default)]
pub struct Ticket(AtomicU64);

impl Ticket {
    /// Move on to a new view: every tile of the old one is void. Answers the new
    /// generation.
    pub fn next(&self) -> u64 {
        self.0.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// Whether `generation` is still the current one.
    pub fn is_current(&self, generation: u64) -> bool {
        self.0.load(Ordering::Acquire) == generation
    }
}

/// A finished tile, or why the view cannot be finished.
#[derive(Debug)]
pub enum Done {
    /// A tile's counts.
    Tile {
        /// Generation of the view it belongs to.
        generation: u64,
        /// Where it goes.
        tile: Tile,
        /// Its counts, row-major.
        counts: Vec<u32>,
        /// Microseconds the drone (or this process) spent computing it.
        compute_micros: u64,
    },
    /// A tile failed for good.
    Failed {
        /// Generation of the view it belongs to.
        generation: u64,
        /// What went wrong, for the page.
        message: String,
    },
}

/// One tile to compute for one page.
struct Job {
    ticket: Arc<Ticket>,
    generation: u64,
    view: View,
    tile: Tile,
    reply: UnboundedSender<Done>,
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    closed: bool,
}

/// The team (or this process alone) and the workers that feed it: one worker per
/// drone, each taking the next tile of any page as soon as its previous one is back.
pub struct Pool {
    runner: Arc<Runner>,
    queue: Arc<(Mutex<Queue>, Condvar)>,
    workers: Vec<std::thread::JoinHandle<()>>,
    stats: Arc<Stats>,
}

impl Pool {
    /// Start the team: `drones` drones over `transport` (0: this process computes).
    pub fn start(drones: usize, transport: &str) -> Result<Pool> {
        let runner = Arc::new(Runner::start(drones, Some(transport))?);
        let stats = Arc::new(Stats::new(&runner, transport));
        let queue = Arc::new((Mutex::new(Queue::default()), Condvar::new()));
        let workers = (0..drones.max(1))
            .map(|k| {
                let (runner, queue, stats) = (runner.clone(), queue.clone(), stats.clone());
                std::thread::Builder::new()
                    .name(format!("explore-worker-{k}"))
                    .spawn(move || work(&runner, &queue, &stats))
                    .context("cannot start a tile worker thread")
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Pool {
            runner,
            queue,
            workers,
            stats,
        })
    }

    /// The team's live figures.
    pub fn stats(&self) -> &Arc<Stats> {
        &self.stats
    }

    /// Who computes (for saving a view through the same team).
    pub fn runner(&self) -> &Arc<Runner> {
        &self.runner
    }

    /// Queue every tile of `view` (cut `side`×`side`) for the page holding `ticket`,
    /// under generation `generation`; the old generation's queued tiles go at once.
    pub fn render(
        &self,
        ticket: &Arc<Ticket>,
        generation: u64,
        view: View,
        side: u32,
        reply: &UnboundedSender<Done>,
    ) -> usize {
        let tiles = tile::tiles(view.width, view.height, side);
        let n = tiles.len();
        let mut q = lock(&self.queue.0);
        let queued = q.jobs.len();
        q.jobs
            .retain(|j| !Arc::ptr_eq(&j.ticket, ticket) || ticket.is_current(j.generation));
        self.stats.note_skipped(queued - q.jobs.len());
        q.jobs.extend(tiles.into_iter().map(|tile| Job {
            ticket: ticket.clone(),
            generation,
            view,
            tile,
            reply: reply.clone(),
        }));
        drop(q);
        self.queue.1.notify_all();
        n
    }

    /// Drop every queued tile of `ticket` (its page went away).
    pub fn forget(&self, ticket: &Arc<Ticket>) {
        let mut q = lock(&self.queue.0);
        let queued = q.jobs.len();
        q.jobs.retain(|j| !Arc::ptr_eq(&j.ticket, ticket));
        self.stats.note_skipped(queued - q.jobs.len());
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        lock(&self.queue.0).closed = true;
        self.queue.1.notify_all();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A worker: draw the next live tile, compute it on a drone, send it to its page.
fn work(runner: &Runner, queue: &(Mutex<Queue>, Condvar), stats: &Stats) {
    loop {
        let job = {
            let mut q = lock(&queue.0);
            loop {
                if q.closed {
                    return;
                }
                match q.jobs.pop_front() {
                    Some(j) if j.ticket.is_current(j.generation) => break j,
                    Some(_) => stats.note_skipped(1),
                    None => q = queue.1.wait(q).unwrap_or_else(|p| p.into_inner()),
                }
            }
        };
        let done = match compute(runner, &job, stats) {
            Ok((counts, compute_micros)) => Done::Tile {
                generation: job.generation,
                tile: job.tile,
                counts,
                compute_micros,
            },
            Err(e) => Done::Failed {
                generation: job.generation,
                message: format!("{e:#}"),
            },
        };
        if job.ticket.is_current(job.generation) {
            // A page that closed meanwhile has dropped its receiver: nothing to do.
            let _ = job.reply.send(done);
        } else {
            stats.note_discarded();
        }
    }
}

/// One tile on one drone (or here), tried again on the replacement if its drone dies.
fn compute(runner: &Runner, job: &Job, stats: &Stats) -> Result<(Vec<u32>, u64)> {
    let request = TileRequest {
        view: job.view,
        tile: job.tile,
    };
    let (team, keys) = match runner {
        Runner::Local => {
            let start = Instant::now();
            let counts = request.compute();
            let micros = start.elapsed().as_micros() as u64;
            stats.note_tile(std::process::id(), micros, micros, 0, 0);
            return Ok((counts, micros));
        }
        Runner::Drones { team, keys, .. } => (team, keys),
    };
    let words = request.to_words();
    let mut tries = 0;
    loop {
        let start = Instant::now();
        match team.run(&keys.explore_tile, &words) {
            Ok(mut counts) => {
                let roundtrip = start.elapsed();
                let (pid, micros) = split_trailer(&mut counts, &job.tile)?;
                stats.note_tile(
                    pid,
                    micros,
                    micros_of(roundtrip),
                    std::mem::size_of_val(words.as_slice()),
                    std::mem::size_of_val(counts.as_slice()) + TRAILER * 4,
                );
                return Ok((counts, micros));
            }
            Err(TeamError::DroneDied { pid, .. }) if tries < RETRIES => {
                stats.note_death(pid);
                tries += 1;
            }
            Err(e) => {
                return Err(e).with_context(|| {
                    format!(
                        "tile at ({}, {}) over {} drones",
                        job.tile.x0,
                        job.tile.y0,
                        team.len()
                    )
                })
            }
        }
    }
}

fn micros_of(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Take the pid and compute time off the end of a tile's answer, checking its length.
fn split_trailer(counts: &mut Vec<u32>, tile: &Tile) -> Result<(u32, u64)> {
    anyhow::ensure!(
        counts.len() == tile.pixels() + TRAILER,
        "tile at ({}, {}) came back with {} words, expected {} counts and {TRAILER} more",
        tile.x0,
        tile.y0,
        counts.len(),
        tile.pixels()
    );
    let micros = counts.pop().unwrap_or_default();
    let pid = counts.pop().unwrap_or_default();
    Ok((pid, u64::from(micros)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_task_answers_the_fractal_counts_then_pid_and_time() {
        let request = TileRequest {
            view: View::new(20, 10),
            tile: Tile {
                x0: 3,
                y0: 2,
                w: 7,
                h: 5,
            },
        };
        let mut answer = run_task(&request.to_words());
        let (pid, _) = split_trailer(&mut answer, &request.tile).unwrap();
        assert_eq!(pid, std::process::id());
        assert_eq!(answer, request.compute());
        assert!(split_trailer(&mut vec![1, 2], &request.tile).is_err());
    }

    #[test]
    fn a_ticket_voids_old_generations() {
        let t = Ticket::default();
        let g1 = t.next();
        assert!(t.is_current(g1));
        let g2 = t.next();
        assert!(!t.is_current(g1) && t.is_current(g2));
    }
}
