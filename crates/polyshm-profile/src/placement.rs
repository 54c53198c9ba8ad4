//! Where master and drone run: pinned to the same CPU, or to different CPUs.
//!
//! Placement decides the small-message figures more than anything else. On one CPU a
//! hand-over is a context switch: the master blocks, the scheduler runs the drone at
//! once, and a roundtrip costs a few microseconds. On different CPUs the peer's CPU is
//! usually idle, and an idle (virtual) CPU halts: every blocking hand-over must wake
//! it, which costs tens of microseconds on a VM, unless the waiter is still spinning
//! when the reply comes. Large payloads gain from two CPUs (both sides copy at once);
//! small ones lose. The profile therefore measures every two-process point both ways
//! (`--placement both`, the default) and labels each row.

use crate::row::Placement;
use std::fmt;
use std::str::FromStr;
use std::sync::mpsc;

/// The `--placement` choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PlacementChoice {
    /// Master and drone on the same CPU only.
    Same,
    /// Master and drone on different CPUs only.
    Cross,
    /// Both, each point measured twice (the default).
    #[default]
    Both,
}

impl FromStr for PlacementChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "same" => Ok(PlacementChoice::Same),
            "cross" => Ok(PlacementChoice::Cross),
            "both" => Ok(PlacementChoice::Both),
            other => Err(format!(
                "placement `{other}`: expected `same`, `cross` or `both`"
            )),
        }
    }
}

impl fmt::Display for PlacementChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PlacementChoice::Same => "same",
            PlacementChoice::Cross => "cross",
            PlacementChoice::Both => "both",
        })
    }
}

/// The placements a run will measure, and why any asked-for one was left out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Two-process placements to measure, in order.
    pub placements: Vec<Placement>,
    /// Notes for the report (a skipped placement and why).
    pub notes: Vec<String>,
}

/// Which placements to measure for `choice` on a machine with `cpus` CPUs: cross is
/// skipped, with a note, when there is only one CPU.
pub fn plan(choice: PlacementChoice, cpus: usize) -> Plan {
    let wanted: &[Placement] = match choice {
        PlacementChoice::Same => &[Placement::Same],
        PlacementChoice::Cross => &[Placement::Cross],
        PlacementChoice::Both => &[Placement::Same, Placement::Cross],
    };
    let mut notes = Vec::new();
    let placements = wanted
        .iter()
        .copied()
        .filter(|p| {
            if *p == Placement::Cross && cpus < 2 {
                notes.push(format!(
                    "placement `cross` skipped: this machine has {cpus} CPU, so master and drone cannot run on different CPUs"
                ));
                false
            } else {
                true
            }
        })
        .collect();
    Plan { placements, notes }
}

/// The CPU the master runs on.
pub const MASTER_CPU: usize = 0;

/// The CPUs of master and drone for a placement: (master, drone).
pub fn cpus(placement: Placement) -> (usize, usize) {
    match placement {
        Placement::Same | Placement::Single => (MASTER_CPU, MASTER_CPU),
        Placement::Cross => (MASTER_CPU, MASTER_CPU + 1),
    }
}

/// Pin the calling (master) thread to `cpu`. Threads it starts afterwards inherit the
/// pinning. An error means the machine refused (a CPU outside this process's set):
/// the caller notes it and measures unpinned.
pub fn pin_master(cpu: usize) -> std::io::Result<()> {
    polyshm::sys::pin_current_thread(cpu)
}

/// A thread started before the master pins itself, so that it keeps the process's
/// full CPU set: work that must not inherit the master's pinning runs there (a drone
/// team checks its drones' CPUs against the CPUs its caller may use, and its spawner
/// thread passes the caller's set on to the drones).
#[derive(Debug)]
pub struct Unpinned {
    tx: Option<mpsc::Sender<Job>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

type Job = Box<dyn FnOnce() + Send>;

impl Unpinned {
    /// Start the thread (call before pinning the caller).
    pub fn start() -> std::io::Result<Unpinned> {
        let (tx, rx) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("polyshm-profile-unpinned".into())
            .spawn(move || {
                for job in rx {
                    job();
                }
            })?;
        Ok(Unpinned {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// Run `f` on the unpinned thread and wait for its answer; `None` if the thread is
    /// gone (a previous job panicked).
    pub fn run<R: Send + 'static>(&self, f: impl FnOnce() -> R + Send + 'static) -> Option<R> {
        let (rtx, rrx) = mpsc::channel();
        self.tx
            .as_ref()?
            .send(Box::new(move || {
                let _ = rtx.send(f());
            }))
            .ok()?;
        rrx.recv().ok()
    }
}

impl Drop for Unpinned {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_measures_same_then_cross() {
        let p = plan(PlacementChoice::Both, 2);
        assert_eq!(p.placements, vec![Placement::Same, Placement::Cross]);
        assert!(p.notes.is_empty());
    }

    #[test]
    fn cross_is_skipped_with_a_note_on_one_cpu() {
        let p = plan(PlacementChoice::Both, 1);
        assert_eq!(p.placements, vec![Placement::Same]);
        assert_eq!(p.notes.len(), 1);
        assert!(p.notes[0].contains("1 CPU"));
        let only_cross = plan(PlacementChoice::Cross, 1);
        assert!(only_cross.placements.is_empty());
    }

    #[test]
    fn choice_parses_and_prints() {
        for s in ["same", "cross", "both"] {
            assert_eq!(s.parse::<PlacementChoice>().unwrap().to_string(), s);
        }
        assert!("elsewhere".parse::<PlacementChoice>().is_err());
    }

    #[test]
    fn unpinned_runs_jobs_and_answers() {
        let u = Unpinned::start().unwrap();
        let here = std::thread::current().id();
        let there = u.run(|| std::thread::current().id()).unwrap();
        assert_ne!(here, there);
        assert_eq!(u.run(|| 6 * 7), Some(42));
    }

    #[test]
    fn cross_uses_two_cpus() {
        let (m, d) = cpus(Placement::Cross);
        assert_ne!(m, d);
        let (m, d) = cpus(Placement::Same);
        assert_eq!(m, d);
    }
}
