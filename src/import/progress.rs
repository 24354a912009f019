//! An import's progress: a bar per file on a terminal (rows, rows/s, how far through the file, the
//! time left), a plain line every few seconds otherwise (logs, CI).

use std::{
    io::IsTerminal,
    sync::atomic::Ordering,
    time::{Duration, Instant},
};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{Counts, source::Source};

pub struct Progress {
    bar: Option<ProgressBar>,
    started: Instant,
    last_line: Instant,
    name: String,
}

/// Plain lines this often when stderr is not a terminal.
const EVERY: Duration = Duration::from_secs(5);

impl Progress {
    pub fn start(source: &Source, dry_run: bool) -> Self {
        let name = format!(
            "{}{}",
            source.path.display(),
            if dry_run { " (dry run)" } else { "" }
        );
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(
                Some(source.size),
                ProgressDrawTarget::stderr_with_hz(4),
            );
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
        }
    }

    fn rate(&self, rows: u64) -> f64 {
        rows as f64 / self.started.elapsed().as_secs_f64().max(1e-3)
    }

    pub fn update(&mut self, source: &Source, rows: u64) {
        let read = source.bytes_read.load(Ordering::Relaxed);
        let rate = self.rate(rows);
        if let Some(bar) = &self.bar {
            bar.set_position(read.min(source.size));
            bar.set_message(format!("{rows} rows, {rate:.0} rows/s"));
        } else if self.last_line.elapsed() >= EVERY {
            self.last_line = Instant::now();
            let done = read as f64 / source.size.max(1) as f64;
            let left = self.started.elapsed().as_secs_f64() * (1.0 - done) / done.max(1e-6);
            eprintln!(
                "{}: {rows} rows, {:.0}% of the file, {rate:.0} rows/s, about {left:.0} s left",
                self.name,
                done * 100.0
            );
        }
    }

    pub fn finish(self, source: &Source, counts: &Counts) {
        let line = format!(
            "{}: {} rows in {:.1} s ({:.0} rows/s): {} imported, {} updated, {} unchanged, {} kept, {} refused",
            self.name,
            counts.rows,
            self.started.elapsed().as_secs_f64(),
            self.rate(counts.rows),
            counts.imported,
            counts.updated,
            counts.unchanged,
            counts.kept,
            counts.refused
        );
        match self.bar {
            Some(bar) => {
                bar.set_position(source.size);
                bar.finish_and_clear();
                eprintln!("{line}");
            }
            None => eprintln!("{line}"),
        }
    }
}
