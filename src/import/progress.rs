//! An import's progress: a bar per file on a terminal (rows, rows/s, how far through the file, the
//! time left), a plain line every few seconds otherwise (logs, CI).

use std::{
    io::IsTerminal,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::Counts;

pub struct Progress {
    bar: Option<ProgressBar>,
    started: Instant,
    last_line: Instant,
    name: String,
    /// How much there is (bytes of a file, entries of a list) and how far the reading got.
    size: u64,
    position: Arc<AtomicU64>,
    /// The kind's counts when this part began: each part reports its own.
    before: Counts,
}

/// Plain lines this often when stderr is not a terminal.
const EVERY: Duration = Duration::from_secs(5);

impl Progress {
    pub fn start(
        name: String,
        (size, position): (u64, Arc<AtomicU64>),
        dry_run: bool,
        before: Counts,
    ) -> Self {
        let name = format!("{name}{}", if dry_run { " (dry run)" } else { "" });
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar =
                ProgressBar::with_draw_target(Some(size), ProgressDrawTarget::stderr_with_hz(4));
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix} [{bar:30}] {percent:>3}% {msg} {elapsed_precise} (about {eta} left)",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_prefix(name.clone());
            bar
        });
        let now = Instant::now();
        Self {
            bar,
            started: now,
            last_line: now,
            name,
            size,
            position,
            before,
        }
    }

    fn rate(&self, rows: u64) -> f64 {
        rows as f64 / self.started.elapsed().as_secs_f64().max(1e-3)
    }

    pub fn update(&mut self, counts: &Counts) {
        let rows = counts.rows - self.before.rows;
        let read = self.position.load(Ordering::Relaxed).min(self.size);
        let rate = self.rate(rows);
        if let Some(bar) = &self.bar {
            bar.set_position(read);
            bar.set_message(format!("{rows} rows, {rate:.0} rows/s"));
        } else if self.last_line.elapsed() >= EVERY {
            self.last_line = Instant::now();
            let done = read as f64 / self.size.max(1) as f64;
            let left = self.started.elapsed().as_secs_f64() * (1.0 - done) / done.max(1e-6);
            eprintln!(
                "{}: {rows} rows, {:.0}% read, {rate:.0} rows/s, about {left:.0} s left",
                self.name,
                done * 100.0
            );
        }
    }

    pub fn finish(self, counts: &Counts) {
        let b = &self.before;
        let rows = counts.rows - b.rows;
        let line = format!(
            "{}: {rows} rows in {:.1} s ({:.0} rows/s): {} imported, {} updated, {} unchanged, {} kept, {} refused",
            self.name,
            self.started.elapsed().as_secs_f64(),
            self.rate(rows),
            counts.imported - b.imported,
            counts.updated - b.updated,
            counts.unchanged - b.unchanged,
            counts.kept - b.kept,
            counts.refused - b.refused,
        );
        if let Some(bar) = self.bar {
            bar.set_position(self.size);
            bar.finish_and_clear();
        }
        eprintln!("{line}");
    }
}
