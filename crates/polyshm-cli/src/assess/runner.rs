//! Who assesses the files: this process alone, or drones, with one result message per
//! file or per function.
//!
//! `--granularity item` is *one task per function*, as the study sent each method as its
//! own task: the task `assess-item` takes (file, k) and answers function k of the file
//! alone (the file's header rides with function 0, so a file sends max(1, functions)
//! messages). The drone parses a file once and keeps its results until asked about
//! another file; so that every function of a file goes to the drone that parsed it, the
//! master runs N one-drone teams (the team API deals tasks to whichever drone is free)
//! and deals files to the teams as they come free, as `Team::map` deals tasks.
//! `--granularity file` is one task, `assess-file`, and one message per file.
//! Each team retries a task whose drone died on its replacement (`retry_dead`), which
//! parses the file again.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use polyshm::team::{Task, Tasks, Team, Transport};

use super::units::{assess_path, FileHeader, FileReport, Function};
use super::walk::Source;

/// The file task's name.
pub const FILE_TASK: &str = "assess-file";
/// The item task's name.
pub const ITEM_TASK: &str = "assess-item";
/// Fault injection for tests: `K:MARKER` makes the first drone to reach its K-th task
/// (and to create the file MARKER) die without answering.
pub const ABORT_ENV: &str = "POLYSHM_ASSESS_ABORT_TASK";

/// What one function message carries: the file's header with function 0, and function k.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct ItemReply {
    /// The file's header (with k = 0 only).
    pub header: Option<FileHeader>,
    /// Function k, if the file has one.
    pub function: Option<Function>,
}

/// The keys of the assess tasks.
#[derive(Clone, Debug)]
pub struct Keys {
    /// One file, whole.
    pub file: Task<PathBuf, FileReport>,
    /// One function of a file.
    pub item: Task<(PathBuf, u32), ItemReply>,
}

/// Register the assess tasks.
pub fn register(t: &mut Tasks) -> Keys {
    let file = t.task(FILE_TASK, |path: PathBuf| {
        abort_hook();
        assess_path(&path)
    });
    let item = t.task(ITEM_TASK, |(path, k): (PathBuf, u32)| {
        abort_hook();
        static LAST: Mutex<Option<(PathBuf, Arc<FileReport>)>> = Mutex::new(None);
        let mut last = LAST.lock().unwrap_or_else(|p| p.into_inner());
        let report = match &*last {
            Some((p, r)) if *p == path => r.clone(),
            _ => {
                let r = Arc::new(assess_path(&path));
                *last = Some((path, r.clone()));
                r
            }
        };
        ItemReply {
            header: (k == 0).then(|| report.header.clone()),
            function: report.functions.get(k as usize).cloned(),
        }
    });
    Keys { file, item }
}

fn abort_hook() {
    static RUN: AtomicU64 = AtomicU64::new(0);
    let Ok(spec) = std::env::var(ABORT_ENV) else {
        return;
    };
    let run = RUN.fetch_add(1, Ordering::Relaxed) + 1;
    let Some((k, marker)) = spec.split_once(':') else {
        return;
    };
    if k.parse::<u64>().ok() == Some(run)
        && std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(marker)
            .is_ok()
    {
        eprintln!(
            "polyshm drone {}: {ABORT_ENV} kills this drone on its task {run}",
            std::process::id()
        );
        std::process::exit(101);
    }
}

/// One result message per file or per function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Granularity {
    /// One task and one message per file.
    File,
    /// One task and one message per function.
    Item,
}

impl std::fmt::Display for Granularity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Granularity::File => "file",
            Granularity::Item => "item",
        })
    }
}

/// The files assessed, in the order given, and what it took.
#[derive(Debug)]
pub struct Assessed {
    /// One report per source.
    pub reports: Vec<FileReport>,
    /// Result messages that came back (0 in one process).
    pub messages: u64,
    /// Time from the first task to the last result.
    pub elapsed: Duration,
}

/// This process alone, or N one-drone teams.
pub struct Runner {
    teams: Vec<Team>,
    keys: Keys,
    transport: Option<Transport>,
    spawn: Duration,
}

impl Runner {
    /// `drones` = 0: this process; else that many drones over `transport` (default shm).
    pub fn start(drones: usize, transport: Option<&str>) -> Result<Runner> {
        let (tasks, keys) = crate::tasks::tasks();
        let keys = keys.assess;
        if drones == 0 {
            return Ok(Runner {
                teams: Vec::new(),
                keys,
                transport: None,
                spawn: Duration::ZERO,
            });
        }
        let name = transport.unwrap_or("shm");
        let t: Transport = name
            .parse()
            .with_context(|| format!("--transport {name}"))?;
        let started = Instant::now();
        let teams = (0..drones)
            .map(|_| {
                Team::builder(tasks.clone())
                    .drones(1)
                    .transport(t)
                    .retry_dead(true)
                    .spawn()
                    .with_context(|| format!("cannot start {drones} drones over {t}"))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Runner {
            teams,
            keys,
            transport: Some(t),
            spawn: started.elapsed(),
        })
    }

    /// One-drone teams over the ranks of the MPI job, one per drone rank
    /// (`mpirun -n K polyshm assess --mpi`). The drones open the files by their paths:
    /// across hosts the paths must name the same files on every host.
    pub fn start_mpi() -> Result<Runner> {
        let (tasks, keys) = crate::tasks::tasks();
        let started = Instant::now();
        let mpi = || Team::builder(tasks.clone()).mpi();
        // A team of every drone rank says how many there are; each gets its own team.
        let ranks = mpi()
            .spawn()
            .context("cannot start a team over the MPI ranks")?
            .len();
        let teams = (0..ranks)
            .map(|_| {
                mpi()
                    .drones(1)
                    .spawn()
                    .context("cannot start a team over an MPI rank")
            })
            .collect::<Result<Vec<_>>>()?;
        let transport = teams.first().map(|t| t.transport());
        Ok(Runner {
            teams,
            keys: keys.assess,
            transport,
            spawn: started.elapsed(),
        })
    }

    /// `one-process`, or the transport's name.
    pub fn setup(&self) -> String {
        self.transport
            .map_or("one-process".into(), |t| t.to_string())
    }

    /// Drones (0: one process).
    pub fn drones(&self) -> usize {
        self.teams.len()
    }

    /// Time taken to start the drones.
    pub fn spawn_time(&self) -> Duration {
        self.spawn
    }

    /// Assess `sources`; `done(functions)` is called after each file.
    pub fn assess(
        &self,
        sources: &[Source],
        granularity: Granularity,
        done: &(dyn Fn(u64) + Sync),
    ) -> Result<Assessed> {
        let start = Instant::now();
        if self.teams.is_empty() {
            let reports = sources
                .iter()
                .map(|s| {
                    let r = assess_path(&s.open);
                    done(r.functions.len() as u64);
                    r
                })
                .collect();
            return Ok(Assessed {
                reports,
                messages: 0,
                elapsed: start.elapsed(),
            });
        }
        let next = AtomicUsize::new(0);
        let failed = AtomicBool::new(false);
        let messages = AtomicU64::new(0);
        let results: Mutex<Vec<(usize, Result<FileReport>)>> = Mutex::new(Vec::new());
        std::thread::scope(|s| {
            for team in &self.teams {
                s.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= sources.len() || failed.load(Ordering::Relaxed) {
                        return;
                    }
                    let r = self.one(team, &sources[i], granularity);
                    match &r {
                        Ok((report, m)) => {
                            messages.fetch_add(*m, Ordering::Relaxed);
                            done(report.functions.len() as u64);
                        }
                        Err(_) => failed.store(true, Ordering::Relaxed),
                    }
                    let r = r.map(|(report, _)| report);
                    results
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push((i, r));
                });
            }
        });
        let mut results = results.into_inner().unwrap_or_else(|p| p.into_inner());
        results.sort_by_key(|(i, _)| *i);
        let reports = results
            .into_iter()
            .map(|(_, r)| r)
            .collect::<Result<Vec<_>>>()?;
        Ok(Assessed {
            reports,
            messages: messages.into_inner(),
            elapsed: start.elapsed(),
        })
    }

    /// One file on one team: its report and the result messages it took.
    fn one(&self, team: &Team, s: &Source, g: Granularity) -> Result<(FileReport, u64)> {
        let what = || format!("{} over {}", s.shown, team.transport());
        match g {
            Granularity::File => {
                let r = team
                    .map(&self.keys.file, [s.open.clone()])
                    .with_context(what)?;
                let report = r.into_iter().next().ok_or_else(|| anyhow!("no reply"))?;
                Ok((report, 1))
            }
            Granularity::Item => {
                let first = team
                    .map(&self.keys.item, [(s.open.clone(), 0)])
                    .with_context(what)?
                    .into_iter()
                    .next()
                    .ok_or_else(|| anyhow!("no reply"))?;
                let header = first
                    .header
                    .ok_or_else(|| anyhow!("{}: function 0 came without the header", s.shown))?;
                let n = header.functions;
                let mut functions = Vec::with_capacity(n as usize);
                functions.extend(first.function);
                if n > 1 {
                    let rest = team
                        .map(&self.keys.item, (1..n).map(|k| (s.open.clone(), k)))
                        .with_context(what)?;
                    for (k, r) in (1..n).zip(rest) {
                        functions.push(r.function.ok_or_else(|| {
                            anyhow!("{}: function {k} of {n} did not come", s.shown)
                        })?);
                    }
                }
                if functions.len() != n as usize {
                    return Err(anyhow!(
                        "{}: {} functions came, the header says {n}",
                        s.shown,
                        functions.len()
                    ));
                }
                Ok((FileReport { header, functions }, u64::from(n.max(1))))
            }
        }
    }
}

/// The master's peak resident memory in bytes, where the system reports it
/// (`VmHWM` in `/proc/self/status`).
pub fn peak_memory() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
