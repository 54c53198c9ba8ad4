//! `polyshm assess`: the study's code-assessment workload (section 2) over Rust code.
//!
//! The master walks the paths ([`walk`]), drones parse each file with `syn` and measure
//! its units ([`units`], [`metrics`], [`lines`]) and send the results back, one message
//! per file or per function ([`runner`]); the master merges them ([`merge`]), finds the
//! duplicates ([`duplicates`]) and writes XML ([`xml`]) and JSON. `--compare` times one
//! process against drones over every transport and both granularities ([`compare`]).

pub mod compare;
pub mod duplicates;
pub mod lines;
pub mod merge;
pub mod metrics;
#[cfg(test)]
mod metrics_tests;
pub mod runner;
pub mod units;
pub mod walk;
pub mod xml;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;

use merge::Assessment;
use runner::{Granularity, Runner};

/// Options of `polyshm assess`.
#[derive(Args, Debug)]
pub struct AssessArgs {
    /// Folders (or files) to assess: every `.rs` file below, `target/` and hidden
    /// folders skipped.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Number of drones; 0 assesses in this process alone (default: one per CPU).
    #[arg(long)]
    pub drones: Option<usize>,
    /// How tasks and results travel: socket (TCP), unix, hybrid, hybrid-unprotected, shm
    /// (default shm). With --compare: only this transport (default: every one).
    #[arg(long)]
    pub transport: Option<String>,
    /// One result message per function (item) or per file.
    #[arg(long, value_enum, default_value_t = Granularity::Item)]
    pub granularity: Granularity,
    /// Write the XML export here (`-`: standard output).
    #[arg(long, value_name = "OUT")]
    pub xml: Option<PathBuf>,
    /// Write the assessment as JSON here (with --compare: the comparison's rows); `-`:
    /// standard output.
    #[arg(long, value_name = "OUT")]
    pub json: Option<PathBuf>,
    /// Time one process, then N drones over each transport at both granularities; check
    /// that every run gives the same export; print the speedups.
    #[arg(long)]
    pub compare: bool,
    /// With --compare: runs of each setup (interleaved); medians are quoted.
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
    /// The drones are the ranks of the MPI job (`mpirun -n K polyshm assess --mpi …`;
    /// every rank but 0, --drones and --transport aside). Needs `--features mpi`.
    #[arg(long, conflicts_with = "compare")]
    pub mpi: bool,
}

impl AssessArgs {
    fn to_stdout(&self) -> bool {
        let dash = |p: &Option<PathBuf>| p.as_deref() == Some(Path::new("-"));
        dash(&self.xml) || dash(&self.json)
    }
}

/// Write `bytes` to `path` (`-`: standard output).
pub fn write_out(path: &Path, bytes: &[u8]) -> Result<()> {
    if path == Path::new("-") {
        let mut out = std::io::stdout().lock();
        out.write_all(bytes)?;
        return Ok(out.flush()?);
    }
    std::fs::write(path, bytes).with_context(|| format!("cannot write `{}`", path.display()))
}

/// Run `polyshm assess`.
pub fn run(args: AssessArgs) -> Result<()> {
    if args.repeat == 0 {
        bail!("--repeat 0: give at least one run per setup");
    }
    let sources = walk::sources(&args.paths)?;
    if args.compare {
        return compare::run(&args, &sources);
    }
    let runner = if args.mpi {
        Runner::start_mpi()?
    } else {
        let drones = args.drones.unwrap_or_else(polyshm::sys::cpu_count);
        Runner::start(drones, args.transport.as_deref())?
    };
    let bar = progress_bar(sources.len() as u64);
    let functions = std::sync::atomic::AtomicU64::new(0);
    let done = |n: u64| {
        let total = functions.fetch_add(n, std::sync::atomic::Ordering::Relaxed) + n;
        bar.inc(1);
        bar.set_message(format!("{total} functions"));
    };
    let assessed = runner.assess(&sources, args.granularity, &done)?;
    bar.finish_and_clear();
    let a = merge::merge(&sources, &assessed.reports);
    if let Some(path) = &args.xml {
        write_out(path, &xml::to_xml(&a)?)?;
    }
    if let Some(path) = &args.json {
        let mut bytes = serde_json::to_vec_pretty(&a)?;
        bytes.push(b'\n');
        write_out(path, &bytes)?;
    }
    let summary = Summary {
        runner: &runner,
        granularity: args.granularity,
        messages: assessed.messages,
        elapsed: assessed.elapsed,
    };
    let text = summary.render(&a);
    if args.to_stdout() {
        eprint!("{text}");
    } else {
        print!("{text}");
    }
    Ok(())
}

/// A progress bar on standard error, drawn only on a terminal: files, functions, rate.
fn progress_bar(files: u64) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(files);
    let style = indicatif::ProgressStyle::with_template(
        "{bar:30} {pos}/{len} files, {msg} ({per_sec}, {elapsed})",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

struct Summary<'a> {
    runner: &'a Runner,
    granularity: Granularity,
    messages: u64,
    elapsed: Duration,
}

impl Summary<'_> {
    fn render(&self, a: &Assessment) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let secs = self.elapsed.as_secs_f64();
        let who = if self.runner.drones() == 0 {
            "one process".to_string()
        } else {
            format!(
                "{} drone{} over {}, granularity {}, {} result messages",
                self.runner.drones(),
                if self.runner.drones() == 1 { "" } else { "s" },
                self.runner.setup(),
                self.granularity,
                self.messages
            )
        };
        let _ = writeln!(
            s,
            "assessed {} files in {secs:.3} s ({who}; {:.0} functions/s){}",
            a.files,
            a.functions as f64 / secs.max(1e-9),
            runner::peak_memory().map_or(String::new(), |m| format!(
                "; master peak memory {:.1} MiB",
                m as f64 / (1 << 20) as f64
            ))
        );
        let mut t = comfy_table::Table::new();
        t.load_style(comfy_table::presets::UTF8_FULL_CONDENSED);
        t.set_header(vec![
            "files",
            "lines",
            "code lines",
            "functions",
            "parse errors",
            "duplicate groups",
        ]);
        t.add_row(vec![
            a.files.to_string(),
            a.lines.to_string(),
            a.code_lines.to_string(),
            a.functions.to_string(),
            a.parse_errors.to_string(),
            a.duplicates.len().to_string(),
        ]);
        let _ = writeln!(s, "{t}");
        for m in a.crates.iter().flat_map(|c| &c.modules) {
            if let Some(e) = &m.error {
                let _ = writeln!(
                    s,
                    "parse error: {}:{}:{}: {}",
                    m.path, e.line, e.column, e.message
                );
            }
        }
        let top = merge::most_complex(a, 10);
        if !top.is_empty() {
            let mut t = comfy_table::Table::new();
            t.load_style(comfy_table::presets::UTF8_FULL_CONDENSED);
            t.set_header(vec!["complexity", "function", "where"]);
            for (c, file, line, name) in top {
                t.add_row(vec![c.to_string(), name, format!("{file}:{line}")]);
            }
            let _ = writeln!(s, "most complex functions\n{t}");
        }
        s
    }
}
