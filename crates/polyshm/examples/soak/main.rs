//! Soak: many roundtrips through every transport, with task panics and drone deaths
//! mixed in, checking that no result is lost, duplicated or corrupted, and that memory
//! and shared-memory segments stay flat.
//!
//! ```text
//! cargo run --release -p polyshm --example soak -- --roundtrips 100000 [--drones 4] [--seed S]
//!     [--transports shm,hybrid,...] [--faults PER_MILLE]
//! ```
//!
//! Every payload carries a sequence number, an operation and a checksum. The drone
//! task checks the checksum, marks the payload as verified and echoes it; the master
//! checks the sequence number, the mark, the checksum and every byte against what it
//! sent. Operations other than "echo" (each `--faults` per mille, default 2):
//!
//! - panic: the task panics; the master must get `TeamError::Panicked`;
//! - die: the task ends its drone's process; `run` must answer `TeamError::DroneDied`
//!   and the team must replace the drone;
//! - die-once (inside a `map` batch, with `retry_dead`): the task ends its drone the
//!   first time it sees that payload and echoes it on the retry; the batch must come
//!   back complete.
//!
//! The program exits with status 1 on any lost, duplicated or corrupted result, on a
//! segment of this run left behind, or if the master's resident memory grew past its
//! warmed-up size by more than 64 MiB plus 50 %.

mod footprint;
mod payload;

use footprint::{all_segments, our_segments, percentile, rss_kib, show_kib};
use payload::{
    check_reply, op, soak_task, Counts, Payloads, MARKS_ENV, OP_DIE, OP_DIE_ONCE, OP_ECHO,
    OP_PANIC, PANIC_TEXT,
};
use polyshm::team::{drone_main, PodTask, Tasks, Team, TeamError, Transport};
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// The soak's task registry and its echo key.
fn tasks() -> (Tasks, PodTask<u8, u8>) {
    let mut t = Tasks::new();
    let echo = t.pod_task("soak.echo", |p: &[u8]| soak_task(p));
    (t, echo)
}

/// The pids of the drones now serving.
fn drone_pids(team: &Team) -> Vec<u32> {
    team.pids().iter().flatten().map(|p| p.pid).collect()
}

struct Args {
    roundtrips: u64,
    drones: usize,
    seed: u64,
    transports: Vec<Transport>,
    faults: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        roundtrips: 10_000,
        drones: 4,
        seed: polyshm::shm::unique_name("s")
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
            }),
        transports: Transport::available(),
        faults: 2,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        let num = |v: String| {
            v.replace('_', "")
                .parse::<f64>()
                .map_err(|e| format!("{flag} {v}: {e}"))
        };
        match flag.as_str() {
            "--roundtrips" => a.roundtrips = num(value()?)? as u64,
            "--drones" => a.drones = num(value()?)? as usize,
            "--seed" => a.seed = num(value()?)? as u64,
            "--faults" => a.faults = num(value()?)? as u64,
            "--transports" => {
                a.transports = value()?
                    .split(',')
                    .map(|t| t.parse().map_err(|e| format!("{e}")))
                    .collect::<Result<_, String>>()?
            }
            "-h" | "--help" => {
                return Err("usage: soak --roundtrips N [--drones 4] [--seed S] [--transports shm,tcp,...] [--faults PER_MILLE]".into())
            }
            other => return Err(format!("unknown argument `{other}`; try --help")),
        }
    }
    a.seed = a.seed.max(1);
    Ok(a)
}

/// `quota` roundtrips over a team of `drones` on transport `t`: what became of them,
/// and the times of the single calls that succeeded. The pids of every drone it had
/// join `pids`.
fn run_transport(
    t: Transport,
    quota: u64,
    drones: usize,
    payloads: &mut Payloads,
    pids: &mut HashSet<u32>,
    started: Instant,
    last_progress: &mut Instant,
) -> Result<(Counts, Vec<Duration>), TeamError> {
    let (tasks, echo) = tasks();
    let mut b = Team::builder(tasks)
        .drones(drones)
        .transport(t)
        .retry_dead(true);
    if polyshm::sys::cpu_count() >= 2 {
        b = b.pin_drones(vec![0, 1]);
    }
    let team = b.spawn()?;
    pids.extend(drone_pids(&team));
    let mut c = Counts::default();
    let mut seen = HashSet::new();
    let mut lat = Vec::new();
    while c.roundtrips < quota {
        let before: HashSet<u32> = drone_pids(&team).into_iter().collect();
        if payloads.pick(&[true, false]) {
            // One call, `run` (never retried).
            let op = if payloads.fault() {
                payloads.pick(&[OP_PANIC, OP_DIE])
            } else {
                OP_ECHO
            };
            let p = payloads.next(op);
            c.roundtrips += 1;
            let t0 = Instant::now();
            let r: Result<Vec<u8>, TeamError> = team.run(&echo, &p);
            let dt = t0.elapsed();
            match (op, r) {
                (OP_ECHO, Ok(v)) => {
                    lat.push(dt);
                    check_reply(&p, &v, &mut seen, &mut c);
                }
                (OP_PANIC, Err(TeamError::Panicked { message, .. }))
                    if message.contains(PANIC_TEXT) =>
                {
                    c.panics += 1
                }
                (OP_DIE, Err(TeamError::DroneDied { .. })) => c.died += 1,
                (op, Ok(_)) => {
                    c.lost += 1;
                    eprintln!("LOST: operation {op} answered a result instead of its fault");
                }
                (op, Err(e)) => {
                    c.lost += 1;
                    eprintln!("LOST: operation {op} (seq {}): {e}", payloads.seq());
                }
            }
        } else {
            // A batch over the drones, `map` with retry_dead: one may die once.
            let n = drones.max(1) * 2;
            let batch: Vec<Vec<u8>> = (0..n)
                .map(|_| {
                    let op = if payloads.fault() {
                        OP_DIE_ONCE
                    } else {
                        OP_ECHO
                    };
                    payloads.next(op)
                })
                .collect();
            let die_once = batch.iter().filter(|p| op(p) == OP_DIE_ONCE).count() as u64;
            c.roundtrips += n as u64;
            match team.map(&echo, &batch) {
                Ok(out) => {
                    if out.len() != batch.len() {
                        c.lost += batch.len().abs_diff(out.len()) as u64;
                        eprintln!("LOST: {} results for {} inputs", out.len(), batch.len());
                    }
                    for (p, v) in batch.iter().zip(&out) {
                        check_reply(p, v, &mut seen, &mut c);
                    }
                    c.died_retried += die_once;
                }
                Err(e) => {
                    c.lost += n as u64;
                    eprintln!("LOST: a batch of {n} failed: {e}");
                }
            }
        }
        let after: Vec<u32> = drone_pids(&team);
        c.replaced += after.iter().filter(|p| !before.contains(p)).count() as u64;
        pids.extend(after);
        if last_progress.elapsed() >= Duration::from_secs(5) {
            *last_progress = Instant::now();
            println!(
                "  [{:>6.0} s] {t}: {c}, rss {}",
                started.elapsed().as_secs_f64(),
                show_kib(rss_kib())
            );
        }
    }
    drop(team);
    println!("{t}: {c}");
    Ok((c, lat))
}

fn main() {
    // Quiet the requested panics (in the drones); show any other.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if !msg.starts_with(PANIC_TEXT) {
            default_hook(info);
        }
    }));
    drone_main(&tasks().0);

    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let marks = std::env::temp_dir().join(polyshm::shm::unique_name("soak-marks"));
    if let Err(e) = std::fs::create_dir_all(&marks) {
        eprintln!("cannot make {}: {e}", marks.display());
        std::process::exit(2);
    }
    // The drones inherit it.
    std::env::set_var(MARKS_ENV, &marks);

    let me = std::process::id();
    let mut pids: HashSet<u32> = [me].into();
    let seg_start = our_segments(&pids).map(|v| v.len());
    let all_start = all_segments();
    let rss_start = rss_kib();
    println!(
        "soak: {} roundtrips over {} ({} drones, faults {}‰, seed {}), master pid {me}",
        args.roundtrips,
        args.transports
            .iter()
            .map(|t| t.id())
            .collect::<Vec<_>>()
            .join(", "),
        args.drones,
        args.faults,
        args.seed
    );

    let mut payloads = Payloads::new(args.seed, args.faults);
    let started = Instant::now();
    let mut last_progress = Instant::now();
    let mut total = Counts::default();
    let mut rss_warm = None;
    let mut failed_teams = 0;
    let mut summary = Vec::new();
    let k = args.transports.len().max(1) as u64;
    for (i, &t) in args.transports.iter().enumerate() {
        let quota = args.roundtrips / k + u64::from((i as u64) < args.roundtrips % k);
        let t0 = Instant::now();
        match run_transport(
            t,
            quota,
            args.drones,
            &mut payloads,
            &mut pids,
            started,
            &mut last_progress,
        ) {
            Ok((c, mut lat)) => {
                total.add(&c);
                lat.sort();
                summary.push(format!(
                    "  {:<20} median {:>10.1?}  p99 {:>10.1?}  ({} single calls timed, {:.1} s)",
                    t.id(),
                    percentile(&lat, 0.5),
                    percentile(&lat, 0.99),
                    lat.len(),
                    t0.elapsed().as_secs_f64()
                ));
            }
            Err(e) => {
                failed_teams += 1;
                eprintln!("{t}: the team did not start: {e}");
            }
        }
        rss_warm.get_or_insert(rss_kib());
    }
    let _ = std::fs::remove_dir_all(&marks);
    let rss_end = rss_kib();
    let left = our_segments(&pids);
    let seg_end = left.as_ref().map(|v| v.len());
    let all_end = all_segments();
    let elapsed = started.elapsed();

    println!("roundtrip times (single calls; payloads of every size):");
    for s in &summary {
        println!("{s}");
    }
    let show = |n: Option<usize>| n.map_or("n/a".into(), |n| n.to_string());
    println!("total, in {:.1} s: {total}", elapsed.as_secs_f64());
    println!(
        "master RSS: start {}, after the first transport {}, end {}",
        show_kib(rss_start),
        show_kib(rss_warm.flatten()),
        show_kib(rss_end)
    );
    println!(
        "polyshm segments of this run: start {}, end {}  (all polyshm segments on the machine, other programs included: start {}, end {})",
        show(seg_start),
        show(seg_end),
        show(all_start),
        show(all_end)
    );
    let mut bad = Vec::new();
    if total.lost + total.duplicated + total.corrupted > 0 {
        bad.push("lost, duplicated or corrupted results".to_string());
    }
    if failed_teams > 0 {
        bad.push(format!("{failed_teams} team(s) did not start"));
    }
    if let (Some(a), Some(b)) = (seg_start, seg_end) {
        if b > a {
            bad.push(format!(
                "segments left behind: {:?}",
                left.unwrap_or_default()
            ));
        }
    }
    if let (Some(w), Some(e)) = (rss_warm.flatten(), rss_end) {
        if e > w + 64 * 1024 + w / 2 {
            bad.push(format!("master RSS grew from {w} KiB to {e} KiB"));
        }
    }
    if bad.is_empty() {
        println!("soak: OK");
    } else {
        println!("soak: FAILED: {}", bad.join("; "));
        std::process::exit(1);
    }
}
