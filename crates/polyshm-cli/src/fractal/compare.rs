//! `polyshm fractal --compare`: the study's speedup table (section 1.3: 1,423 s in one
//! image, 591 s with 1 drone, 184 s with 8) beside ours — the same image in one process,
//! with 1 drone and with N drones, over each transport; every run must produce the same
//! counts.
//!
//! Each drone setup runs twice over the same team: results sent back as arrays
//! (`reply`) and written into one shared matrix (`shared`, [`super::shared`]), so that
//! the difference is what moving the result arrays costs (the study's table 11
//! question). `--into` keeps one of the two.
//!
//! Setups run round-robin, `--repeat` times each, so that a slow spell of the machine
//! falls on every setup alike; each time is the compute-and-assemble time with the
//! drones already started, and the table quotes the median (and the p99, which with few
//! repetitions is the slowest run).

use anyhow::{bail, Result};

use super::render::{transports, Runner};
use super::shared::Delivery;
use super::study;
use super::view::View;
use super::FractalArgs;

/// One setup's measured times and its speedup over one process.
#[derive(Debug, serde::Serialize)]
pub struct Row {
    /// `one-process`, or the transport's name.
    pub setup: String,
    /// Drones (0: one process).
    pub drones: usize,
    /// Where the drones' results went (none for one process, which keeps them in its
    /// own memory).
    pub into: Option<Delivery>,
    /// For `shared`: the median of the same transport and drones with results sent back
    /// / this median (above 1: writing in place was faster).
    pub vs_reply: Option<f64>,
    /// Every run's time, seconds, in run order.
    pub seconds: Vec<f64>,
    /// Median time, seconds.
    pub median_s: f64,
    /// 99th percentile (nearest rank) time, seconds.
    pub p99_s: f64,
    /// Median time of one process / median time of this setup.
    pub speedup: f64,
    /// Speedup divided by the number of drones (1.0 = perfect scaling); none for one process.
    pub per_drone: Option<f64>,
    /// Time to start the drones, seconds.
    pub spawn_s: f64,
    /// The study's time for the same number of drones (0 or 1) or for its largest team.
    pub study_s: Option<f64>,
    /// The study's drone count for `study_s`.
    pub study_drones: Option<usize>,
    /// The study's speedup over its single image for that row.
    pub study_speedup: Option<f64>,
}

/// The whole comparison.
#[derive(Debug, serde::Serialize)]
pub struct Comparison {
    /// Image width.
    pub width: u32,
    /// Image height.
    pub height: u32,
    /// Iteration limit.
    pub max_iter: u32,
    /// Tile side.
    pub tile: u32,
    /// Number of tiles (result arrays) per image.
    pub result_arrays: usize,
    /// Sum of the counts of the image (the iterations the definition asks for).
    pub iterations: u64,
    /// CPUs on this machine.
    pub cpus: usize,
    /// Repetitions per setup.
    pub repeat: usize,
    /// Whether every run produced exactly the one-process counts.
    pub identical: bool,
    /// The machine's 1-minute load average before and after the runs, where the system
    /// reports one (`/proc/loadavg`). Before: above ~0.5, others were using the CPUs;
    /// after: this run's own drones count too (up to N on an otherwise quiet machine).
    pub load: Option<(f64, f64)>,
    /// The setups, one process first.
    pub rows: Vec<Row>,
}

/// Run the comparison and print it; returns the counts every run produced.
pub fn run(args: &FractalArgs, view: &View) -> Result<Vec<u32>> {
    let cpus = polyshm::sys::cpu_count();
    let n = args.drones.unwrap_or(cpus).max(1);
    let repeat = args.repeat.max(1);
    let names: Vec<String> = match &args.transport {
        Some(t) => vec![t.clone()],
        None => transports(),
    };
    let mut drone_counts = vec![1];
    if n > 1 {
        drone_counts.push(n);
    }
    let deliveries: Vec<Delivery> = match args.into {
        Some(d) => vec![d],
        None => Delivery::ALL.to_vec(),
    };
    let mut runners = vec![Runner::start(0, None)?];
    for name in &names {
        for &d in &drone_counts {
            // Only the transports with a mailbox have a hand-over to signal.
            let mailbox = name == "shm" || name.starts_with("hybrid");
            let signal = if mailbox {
                args.signal
            } else {
                Default::default()
            };
            runners.push(Runner::start_with(d, Some(name), signal)?);
        }
    }
    // (runner, where its results go): one process first, then each team both ways
    let setups: Vec<(&Runner, Delivery)> = std::iter::once((&runners[0], Delivery::Reply))
        .chain(
            runners[1..]
                .iter()
                .flat_map(|r| deliveries.iter().map(move |&d| (r, d))),
        )
        .collect();
    let load_before = load_average();
    let mut times = vec![Vec::with_capacity(repeat); setups.len()];
    let mut reference: Option<Vec<u32>> = None;
    let (mut result_arrays, mut iterations) = (0, 0);
    for rep in 0..repeat {
        for (k, &(runner, into)) in setups.iter().enumerate() {
            let r = runner.render(view, args.tile, into)?;
            if !args.json {
                eprintln!(
                    "run {}/{repeat}: {:<20} {:>2} drones  {:<6} {:.3} s",
                    rep + 1,
                    runner.setup(),
                    runner.drones(),
                    if runner.drones() == 0 {
                        "-"
                    } else {
                        into.name()
                    },
                    r.elapsed.as_secs_f64()
                );
            }
            match &reference {
                None => {
                    result_arrays = r.result_arrays;
                    iterations = r.counts.iter().map(|&c| u64::from(c)).sum();
                    reference = Some(r.counts);
                }
                Some(want) if *want != r.counts => {
                    let differ = want.iter().zip(&r.counts).filter(|(a, b)| a != b).count();
                    bail!(
                        "{} with {} drones, --into {into}, produced different counts from \
                         one process ({differ} of {} pixels differ): a transport or tile bug",
                        runner.setup(),
                        runner.drones(),
                        want.len()
                    );
                }
                Some(_) => {}
            }
            times[k].push(r.elapsed.as_secs_f64());
        }
    }
    let study = study::speedup()?;
    let study_alone = study[0].seconds;
    let base = median(&times[0]);
    let medians: Vec<f64> = times.iter().map(|t| median(t)).collect();
    let rows = setups
        .iter()
        .zip(&times)
        .zip(&medians)
        .map(|((&(runner, into), t), &med)| {
            let drones = runner.drones();
            // the same team with results sent back
            let reply = setups
                .iter()
                .zip(&medians)
                .find(|((r, d), _)| std::ptr::eq(*r, runner) && *d == Delivery::Reply)
                .map(|(_, &m)| m);
            // the study's row with the same drones, or its largest team for our N
            let s = study
                .iter()
                .find(|s| s.drones == drones)
                .or_else(|| (drones > 1).then(|| study.last()).flatten());
            Row {
                setup: runner.setup(),
                drones,
                into: (drones > 0).then_some(into),
                vs_reply: reply
                    .filter(|_| drones > 0 && into == Delivery::Shared)
                    .map(|r| r / med),
                seconds: t.clone(),
                median_s: med,
                p99_s: percentile(t, 0.99),
                speedup: base / med,
                per_drone: (drones > 0).then(|| base / med / drones as f64),
                spawn_s: runner.spawn_time().as_secs_f64(),
                study_s: s.map(|s| s.seconds),
                study_drones: s.map(|s| s.drones),
                study_speedup: s.map(|s| study_alone / s.seconds),
            }
        })
        .collect();
    let cmp = Comparison {
        width: view.width,
        height: view.height,
        max_iter: view.max_iter,
        tile: args.tile,
        result_arrays,
        iterations,
        cpus,
        repeat,
        identical: true,
        load: load_before.zip(load_average()),
        rows,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&cmp)?);
    } else {
        print(&cmp);
    }
    Ok(reference.unwrap_or_default())
}

fn print(c: &Comparison) {
    println!(
        "Speedup: {}x{}, max-iter {}, tile {} ({} result arrays), sum of counts {}, {} CPUs, \
         {} run{} per setup; counts identical in every run",
        c.width,
        c.height,
        c.max_iter,
        c.tile,
        c.result_arrays,
        c.iterations,
        c.cpus,
        c.repeat,
        if c.repeat == 1 { "" } else { "s" }
    );
    if let Some((before, after)) = c.load {
        println!(
            "load average (1 min) before {before:.2} (others), after {after:.2} (ours included)"
        );
    }
    let mut table = comfy_table::Table::new();
    table.load_style(comfy_table::presets::UTF8_FULL_CONDENSED);
    table.set_header(vec![
        "setup",
        "drones",
        "into",
        "median (s)",
        "p99 (s)",
        "speedup",
        "per drone",
        "vs reply",
        "start (s)",
        "study",
        "study (s)",
        "study speedup",
    ]);
    for r in &c.rows {
        table.add_row(vec![
            r.setup.clone(),
            r.drones.to_string(),
            r.into.map_or("-".into(), |d| d.name().to_string()),
            format!("{:.3}", r.median_s),
            format!("{:.3}", r.p99_s),
            format!("{:.2}", r.speedup),
            r.per_drone.map_or("-".into(), |p| format!("{p:.2}")),
            r.vs_reply.map_or("-".into(), |v| format!("{v:.3}")),
            format!("{:.3}", r.spawn_s),
            match r.study_drones {
                Some(0) => "single image".into(),
                Some(1) => "1 drone".into(),
                Some(d) => format!("{d} drones"),
                None => "-".into(),
            },
            r.study_s.map_or("-".into(), |s| format!("{s:.0}")),
            r.study_speedup.map_or("-".into(), |s| format!("{s:.2}")),
        ]);
    }
    println!("{table}");
    if c.rows.iter().any(|r| r.into == Some(Delivery::Shared)) {
        println!(
            "into: reply = each tile's counts sent back as an array; shared = written by the \
             drones into one shared matrix, only \"done\" sent back; vs reply = the reply \
             median of the same team / this median"
        );
    }
}

/// The 1-minute load average, where the system reports it in `/proc/loadavg`.
fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Median of `v` (mean of the middle two for an even count).
pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

/// Nearest-rank percentile `q` (0..=1) of `v`.
pub fn percentile(v: &[f64], q: f64) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    if s.is_empty() {
        return f64::NAN;
    }
    let rank = (q * s.len() as f64).ceil().max(1.0) as usize;
    s[rank.min(s.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_percentiles() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(percentile(&[1.0, 2.0, 3.0], 0.99), 3.0);
        assert_eq!(percentile(&[5.0], 0.5), 5.0);
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.99), 99.0);
    }
}
