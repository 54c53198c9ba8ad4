//! `polyshm profile`: the study's tables 1–10 and Images 1–4 measured again, beside
//! the study's figures (see the README's "Profile" section).

use anyhow::{bail, Context, Result};
use clap::Args;
use polyshm_profile::placement::PlacementChoice;
use polyshm_profile::{report, Config};
use std::path::PathBuf;

/// Options of `polyshm profile`.
#[derive(Args, Debug)]
pub struct ProfileArgs {
    /// Fewer repetitions and sizes up to 100,000: well under a minute.
    #[arg(long)]
    quick: bool,
    /// Run only these scenarios: family ids (`raw`, `socket_request`, ...), row ids
    /// (`raw_read`, `hybrid_result`, ...), study table numbers (1-10) or `ref`.
    #[arg(long = "scenario", value_name = "ID", num_args = 1..)]
    scenarios: Vec<String>,
    /// Where master and drone run: the same CPU, different CPUs, or both.
    #[arg(long, value_name = "same|cross|both", default_value = "both")]
    placement: PlacementChoice,
    /// Folder for report.md, results.json, results.csv and the SVG plots.
    #[arg(long, value_name = "DIR", default_value = "report")]
    out: PathBuf,
    /// `window` also measures the study's window messages beside the semaphores (table
    /// 1's `window_*` rows, table 10's `shm+window`); Windows only.
    #[arg(long, value_name = "semaphore|window", default_value = "semaphore")]
    signal: polyshm::team::Signal,
}

/// Run the profile and write the report; fails if any scenario failed (after
/// writing what was measured).
pub fn run(args: ProfileArgs) -> Result<()> {
    if !args.signal.is_available() {
        bail!(
            "--signal {} needs Windows (this is {}): window messages exist only there; \
             leave --signal out to measure the semaphores",
            args.signal,
            polyshm::sys::PLATFORM
        );
    }
    let config = Config {
        quick: args.quick,
        scenarios: args.scenarios,
        placement: args.placement,
        out: args.out,
        program: None,
        signal: args.signal,
    };
    let outcome = {
        let mut terminal = report::Terminal::new();
        polyshm_profile::run(&config, &mut terminal)?
    };
    let written = report::write(&outcome, &config.out)
        .with_context(|| format!("writing the report into {}", config.out.display()))?;
    println!(
        "\nreport: {} ({} rows, {:.1} s)\n        {}\n        {}\n        {} plots in {}",
        written.markdown.display(),
        outcome.rows().count(),
        outcome.elapsed.as_secs_f64(),
        written.json.display(),
        written.csv.display(),
        written.plots.len(),
        config.out.display()
    );
    if !outcome.failures.is_empty() {
        let ids: Vec<String> = outcome
            .failures
            .iter()
            .map(|f| format!("{} ({})", f.id, f.placement))
            .collect();
        bail!(
            "{} scenario run(s) failed: {}; the report lists why",
            ids.len(),
            ids.join(", ")
        );
    }
    Ok(())
}
