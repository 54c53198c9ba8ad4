//! The terminal while a run measures: a progress bar on stderr, and each table on
//! stdout as soon as its scenario completes.

use super::format::table_of;
use crate::{Observer, TableResult};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Prints tables as they complete, with a progress bar (hidden when stderr is not a
/// terminal).
#[derive(Debug)]
pub struct Terminal {
    bar: ProgressBar,
}

impl Terminal {
    /// A reporter on stdout/stderr.
    pub fn new() -> Terminal {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} points  {wide_msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Terminal { bar }
    }
}

impl Default for Terminal {
    fn default() -> Self {
        Terminal::new()
    }
}

impl Observer for Terminal {
    fn start(&mut self, points: usize) {
        self.bar.set_length(points as u64);
        self.bar.set_position(0);
    }

    fn point(&mut self, label: &str) {
        self.bar.set_message(label.to_string());
        self.bar.inc(1);
    }

    fn table(&mut self, table: &TableResult) {
        let heading = match table.table {
            crate::TableRef::Study(n) => format!("Table {n}: {} [{}]", table.title, table.id),
            crate::TableRef::Ref => format!("Reference: {} [{}]", table.title, table.id),
        };
        let heading = match table.others_cpu {
            Some(f) if f > 0.10 => format!(
                "{heading} (busy: other processes used {:.0} % of the CPU time)",
                f * 100.0
            ),
            _ => heading,
        };
        let text = if table.rows.is_empty() {
            format!("\n{heading}\n(no rows: see the notes)")
        } else {
            format!("\n{heading}\n{}", table_of(&table.rows, false))
        };
        self.bar.suspend(|| println!("{text}"));
    }

    fn note(&mut self, note: &str) {
        self.bar.suspend(|| eprintln!("note: {note}"));
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}
