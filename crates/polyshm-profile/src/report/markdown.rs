//! `report.md`: every table with the study's figures and the factors beside ours,
//! the machine it ran on, and how to read it.

use super::format::{factor, micros, table_of};
use super::plots::PLOTS;
use crate::row::{Placement, Row, TableRef, Unit};
use crate::Outcome;
use std::fmt::Write;
use std::path::PathBuf;

/// The Markdown report of `outcome`; `plots` are the SVG files written beside it.
pub fn markdown(outcome: &Outcome, plots: &[PathBuf]) -> String {
    let m = &outcome.machine;
    let mut s = String::new();
    let kind = if outcome.quick {
        "a quick run (`--quick`): fewer repetitions, sizes up to 100,000"
    } else {
        "a full run"
    };
    let _ = writeln!(s, "# polyshm profile\n");
    let _ = writeln!(
        s,
        "The study's tables 1–10 measured again beside the study's own figures; {kind}.\n"
    );
    let load = |l: Option<f64>| l.map_or("unknown".to_string(), |l| format!("{l:.2}"));
    // The busiest table: a run can be quiet overall and disturbed for a while.
    let busiest = outcome
        .tables
        .iter()
        .filter_map(|t| Some((t, t.others_cpu?)))
        .max_by(|a, b| a.1.total_cmp(&b.1));
    let busy = m.was_busy() || busiest.is_some_and(|(_, f)| f > 0.10);
    let verdict = if busy {
        "busy: other work shared the CPUs, expect noisy figures; each table says how much"
    } else {
        "quiet"
    };
    let others = match (m.others_cpu, busiest) {
        (Some(all), Some((t, f))) => format!(
            "{:.0} % of all CPU time over the run, at most {:.0} % while `{}` was measured ({verdict})",
            all * 100.0,
            f * 100.0,
            t.id
        ),
        (Some(all), None) => format!("{:.0} % of all CPU time ({verdict})", all * 100.0),
        _ => format!("unknown ({verdict})"),
    };
    let placements: Vec<&str> = outcome.placements.iter().map(|p| p.as_str()).collect();
    let _ = writeln!(s, "| | |\n|---|---|");
    for (k, v) in [
        ("machine", m.host.clone()),
        ("CPU", format!("{} × {}", m.cpus, m.cpu_model)),
        ("kernel", m.kernel.clone()),
        ("compiler", m.rustc.clone()),
        ("commit", m.commit.clone()),
        ("started (UTC)", m.started.clone()),
        (
            "wall time",
            format!("{:.1} s", outcome.elapsed.as_secs_f64()),
        ),
        ("other processes during the run", others),
        (
            "1-minute load average",
            format!(
                "{} before, {} after on {} CPUs",
                load(m.load_before),
                load(m.load_after),
                m.cpus
            ),
        ),
        ("two-process placements", placements.join(", ")),
    ] {
        let _ = writeln!(s, "| {k} | {v} |");
    }
    s.push('\n');
    let glance = at_a_glance(outcome);
    if !glance.is_empty() {
        let _ = writeln!(s, "## At a glance (medians)\n\n{glance}");
    }
    s.push_str(HOW_TO_READ);
    s.push('\n');

    for t in &outcome.tables {
        let heading = match t.table {
            TableRef::Study(n) => format!("## Table {n}: {}", t.title),
            TableRef::Ref => format!("## Reference: {}", t.title),
        };
        let others = t.others_cpu.map_or(String::new(), |f| {
            format!(
                "; other processes used {:.0} % of the CPU time while it was measured",
                f * 100.0
            )
        });
        let _ = writeln!(s, "{heading}\n\nScenario family `{}`{others}.\n", t.id);
        if t.rows.is_empty() {
            let _ = writeln!(s, "No rows: the scenario failed (see Failures below).\n");
        } else {
            let _ = writeln!(s, "{}\n", table_of(&t.rows, true));
        }
    }

    if !plots.is_empty() {
        let _ = writeln!(s, "## Plots (the study's Images 1–4, redrawn)\n");
        for p in plots {
            let name = p
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            let title = PLOTS
                .iter()
                .find(|(f, _)| *f == name)
                .map_or(name.as_str(), |(_, t)| *t);
            let _ = writeln!(s, "### {title}\n\n![{title}]({name})\n");
        }
    }
    if !outcome.notes.is_empty() {
        let _ = writeln!(s, "## Notes\n");
        for n in &outcome.notes {
            let _ = writeln!(s, "- {n}");
        }
        s.push('\n');
    }
    if !outcome.failures.is_empty() {
        let _ = writeln!(s, "## Failures\n");
        for f in &outcome.failures {
            let _ = writeln!(s, "- `{}` ({}): {}", f.id, f.placement, f.error);
        }
        s.push('\n');
    }
    s
}

/// The headline figures of a run, one line per study table that has them, computed
/// from the rows (both placements, and the study's figure).
fn at_a_glance(outcome: &Outcome) -> String {
    let rows: Vec<&Row> = outcome.rows().collect();
    let find = |table: TableRef,
                scenario: &str,
                transport: &str,
                size: Option<(u64, Unit)>,
                p: Placement| {
        rows.iter().copied().find(|r| {
            r.table == table
                && r.scenario == scenario
                && r.transport == transport
                && r.size.zip(r.unit) == size
                && r.placement == p
        })
    };
    let placed = |table: TableRef, scenario: &str, transport: &str, size: Option<(u64, Unit)>| {
        let mut parts = Vec::new();
        let mut study = None;
        for p in [Placement::Same, Placement::Cross] {
            if let Some(r) = find(table, scenario, transport, size, p) {
                parts.push(format!("{} µs ({p})", micros(r.median_us)));
                study = study.or(r.study_us);
            }
        }
        (parts, study)
    };
    let mut out = String::new();
    for (label, table, scenario, transport, size) in [
        (
            "Table 1, mutex roundtrip",
            TableRef::Study(1),
            "mutex_roundtrip",
            "relay",
            None,
        ),
        (
            "Table 2, UDP roundtrip",
            TableRef::Study(2),
            "udp_roundtrip",
            "udp",
            None,
        ),
        (
            "Table 6, empty task over TCP",
            TableRef::Study(6),
            "socket_empty_task",
            "tcp",
            None,
        ),
        (
            "Table 7, 1,000 integers over TCP",
            TableRef::Study(7),
            "socket_request",
            "tcp",
            Some((1_000, Unit::Ints)),
        ),
        (
            "Table 10, 1,000 integers through shared memory",
            TableRef::Study(10),
            "shm_command",
            "shm",
            Some((1_000, Unit::Ints)),
        ),
    ] {
        let (parts, study) = placed(table, scenario, transport, size);
        if parts.is_empty() {
            continue;
        }
        let study = study.map_or(String::new(), |s| format!("; the study: {} µs", micros(s)));
        let _ = writeln!(out, "- {label}: {}{study}.", parts.join(", "));
    }
    for line in crate::scenario::structured::glance(&rows) {
        let _ = writeln!(out, "- {line}.");
    }
    // The factor range of table 10, per placement, beside the study's.
    let mut ranges = Vec::new();
    for p in [Placement::Same, Placement::Cross] {
        let f: Vec<f64> = rows
            .iter()
            .filter(|r| {
                r.table == TableRef::Study(10) && r.unit == Some(Unit::Ints) && r.placement == p
            })
            .filter_map(|r| r.factor_vs_socket)
            .collect();
        if let (Some(lo), Some(hi)) = (
            f.iter().copied().reduce(f64::min),
            f.iter().copied().reduce(f64::max),
        ) {
            ranges.push(format!("{}–{} ({p})", factor(Some(lo)), factor(Some(hi))));
        }
    }
    if !ranges.is_empty() {
        let study: Vec<f64> = crate::study::table(TableRef::Study(10))
            .filter_map(|f| f.study_factor)
            .collect();
        let lo = study.iter().copied().reduce(f64::min);
        let hi = study.iter().copied().reduce(f64::max);
        let _ = writeln!(
            out,
            "- Table 10, shared-memory command ÷ our TCP socket, integer arrays: {}; the study: {}–{}.",
            ranges.join(", "),
            factor(lo),
            factor(hi)
        );
    }
    out
}

const HOW_TO_READ: &str = "\
## How to read this report

- **median / p99 / min µs, n**: of `n` timed repetitions after a warm-up (the study took \
the mean of 10). Operations shorter than about 2 µs are timed in batches; a sample is then \
the mean of its batch (`batch` in `results.json`).
- **study µs**: the study's figure for the same point (VisualWorks on Windows, a \
different machine and more than a decade ago).
- **ours ÷ our tcp**: our median divided by our own TCP socket request (table 7, or table 6 \
for the empty task) of the same size, unit and placement, measured in this same run. This is \
the fair comparison, and the study's own factor (**study's factor**, its tables 8–10) is the \
same ratio on its machine: below 1 means faster than the socket.
- **ours ÷ study**: our median divided by the study's figure. It says how far the ground \
moved (machine, operating system, language, decade), not that one design beats the other.
- **placement**: `same` pins master and drone to one CPU; `cross` to two different CPUs; \
`single` is one process. On one CPU every hand-over is a plain context switch (a few µs). \
On two CPUs the peer's CPU is usually idle, and an idle (virtual) CPU halts: a blocking \
hand-over must wake it, which costs tens of µs on a VM, unless the waiter is still spinning \
when the reply arrives. Large payloads gain from two CPUs copying at once; small messages \
lose. Each row says which it is.
- Transports: `tcp` is the study's socket (Polycephaly); `unix` the same over a Unix socket \
(reference); `hybrid` a socket request with the result through shared memory guarded by a \
semaphore (table 8), `hybrid-unprotected` the same with the socket reply as the only guard \
(table 9); `shm` request and result both through shared memory (table 10). Payloads are \
echoed: they travel to the drone and back.
";

#[cfg(test)]
mod tests {
    use super::*;

    /// The placements a report explains (kept here so the text and the enum agree).
    const EXPLAINED: [Placement; 3] = [Placement::Same, Placement::Cross, Placement::Single];

    #[test]
    fn the_text_names_every_placement() {
        for p in EXPLAINED {
            assert!(HOW_TO_READ.contains(&format!("`{}`", p.as_str())));
        }
    }
}
