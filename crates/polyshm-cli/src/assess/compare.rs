//! `polyshm assess --compare`: the study's section 2 table again — the same assessment
//! in one process, then with N drones over each transport at both granularities; every
//! run must give byte-for-byte the same XML export.
//!
//! Setups run round-robin, `--repeat` times each, so that a slow spell of the machine
//! falls on every setup alike. A run's time is the whole workload with the drones
//! already started: tasks, merge, duplicates and the XML export (the walk is done once,
//! before). The table quotes medians.

use std::time::Instant;

use anyhow::{bail, Result};

use super::runner::{peak_memory, Granularity, Runner};
use super::walk::Source;
use super::{merge, write_out, xml, AssessArgs};
use crate::fractal::compare::median;

/// One setup's times.
#[derive(Debug, serde::Serialize)]
pub struct Row {
    /// `one-process`, or `drones`.
    pub setup: String,
    /// The transport (none for one process).
    pub transport: Option<String>,
    /// The granularity (none for one process: no messages).
    pub granularity: Option<Granularity>,
    /// Drones (0: one process).
    pub drones: usize,
    /// Median time, seconds.
    pub seconds: f64,
    /// Every run's time, seconds, in run order.
    pub runs: Vec<f64>,
    /// Median time of one process / median time of this setup.
    pub speedup: f64,
    /// Result messages per run.
    pub messages: u64,
    /// Time to start the drones, seconds.
    pub spawn_seconds: f64,
}

/// The whole comparison.
#[derive(Debug, serde::Serialize)]
pub struct Comparison {
    /// Files assessed.
    pub files: u64,
    /// Lines in them.
    pub lines: u64,
    /// Functions found.
    pub functions: u64,
    /// CPUs on this machine.
    pub cpus: usize,
    /// Runs per setup.
    pub repeat: usize,
    /// Whether every run gave the one-process export (always true: a difference is an error).
    pub identical: bool,
    /// The master's peak resident memory, bytes, where the system reports it.
    pub master_peak_bytes: Option<u64>,
    /// The setups, one process first.
    pub rows: Vec<Row>,
}

/// Run the comparison, print its table (or write its JSON), write the export if asked.
pub fn run(args: &AssessArgs, sources: &[Source]) -> Result<()> {
    let cpus = polyshm::sys::cpu_count();
    let n = args.drones.unwrap_or(cpus).max(1);
    let names: Vec<String> = match &args.transport {
        Some(t) => vec![t.clone()],
        None => crate::fractal::render::transports(),
    };
    // one team per transport serves both granularities
    let mut setups = vec![Runner::start(0, None)?];
    let mut plan: Vec<(usize, Option<Granularity>)> = vec![(0, None)];
    for name in &names {
        setups.push(Runner::start(n, Some(name))?);
        let k = setups.len() - 1;
        plan.push((k, Some(Granularity::File)));
        plan.push((k, Some(Granularity::Item)));
    }
    let mut times = vec![Vec::with_capacity(args.repeat); plan.len()];
    let mut messages = vec![0; plan.len()];
    let mut reference: Option<(Vec<u8>, merge::Assessment)> = None;
    for rep in 0..args.repeat {
        for (k, &(runner, g)) in plan.iter().enumerate() {
            let runner = &setups[runner];
            let g = g.unwrap_or(Granularity::File);
            let start = Instant::now();
            let assessed = runner.assess(sources, g, &|_| {})?;
            let a = merge::merge(sources, &assessed.reports);
            let bytes = xml::to_xml(&a)?;
            let seconds = start.elapsed().as_secs_f64();
            eprintln!(
                "run {}/{}: {:<20} {} drones {:>4}  {seconds:.3} s, {} messages",
                rep + 1,
                args.repeat,
                runner.setup(),
                runner.drones(),
                if runner.drones() == 0 {
                    "-".into()
                } else {
                    g.to_string()
                },
                assessed.messages
            );
            match &reference {
                None => reference = Some((bytes, a)),
                Some((want, _)) if *want != bytes => bail!(
                    "{} with {} drones at granularity {g} gave another export than one \
                     process: a transport or merge bug",
                    runner.setup(),
                    runner.drones()
                ),
                Some(_) => {}
            }
            times[k].push(seconds);
            messages[k] = assessed.messages;
        }
    }
    let (bytes, a) = reference.expect("at least one run");
    let base = median(&times[0]);
    let rows = plan
        .iter()
        .zip(&times)
        .zip(&messages)
        .map(|((&(r, g), t), &m)| {
            let runner = &setups[r];
            let med = median(t);
            Row {
                setup: if runner.drones() == 0 {
                    "one-process".into()
                } else {
                    "drones".into()
                },
                transport: (runner.drones() > 0).then(|| runner.setup()),
                granularity: g,
                drones: runner.drones(),
                seconds: med,
                runs: t.clone(),
                speedup: base / med,
                messages: m,
                spawn_seconds: runner.spawn_time().as_secs_f64(),
            }
        })
        .collect();
    let cmp = Comparison {
        files: a.files,
        lines: a.lines,
        functions: a.functions,
        cpus,
        repeat: args.repeat,
        identical: true,
        master_peak_bytes: peak_memory(),
        rows,
    };
    if let Some(path) = &args.xml {
        write_out(path, &bytes)?;
    }
    if let Some(path) = &args.json {
        let mut out = serde_json::to_vec_pretty(&cmp)?;
        out.push(b'\n');
        write_out(path, &out)?;
    }
    let text = render(&cmp);
    if args.to_stdout() {
        eprint!("{text}");
    } else {
        print!("{text}");
    }
    Ok(())
}

fn render(c: &Comparison) -> String {
    let mut table = comfy_table::Table::new();
    table.load_style(comfy_table::presets::UTF8_FULL_CONDENSED);
    table.set_header(vec![
        "setup",
        "granularity",
        "drones",
        "messages",
        "median (s)",
        "speedup",
        "start (s)",
    ]);
    for r in &c.rows {
        table.add_row(vec![
            r.transport.clone().unwrap_or_else(|| r.setup.clone()),
            r.granularity.map_or("-".into(), |g| g.to_string()),
            r.drones.to_string(),
            r.messages.to_string(),
            format!("{:.3}", r.seconds),
            format!("{:.2}", r.speedup),
            format!("{:.3}", r.spawn_seconds),
        ]);
    }
    format!(
        "Assess: {} files, {} lines, {} functions; {} CPUs, {} run{} per setup (medians); \
         export identical in every run; master peak memory {}\n{table}\n",
        c.files,
        c.lines,
        c.functions,
        c.cpus,
        c.repeat,
        if c.repeat == 1 { "" } else { "s" },
        c.master_peak_bytes.map_or("unknown".into(), |m| format!(
            "{:.1} MiB",
            m as f64 / (1 << 20) as f64
        ))
    )
}
