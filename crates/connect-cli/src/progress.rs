//! Progress of a backfill: an `indicatif` bar redrawn on a terminal, a plain
//! line every few seconds otherwise (for log files and CI).
//!
//! The labels are generic: messages handled, and each outcome label the
//! route's handler reported (`created`, `updated`, `done`, ...), so the bar
//! fits any route and any resource.

use std::time::{Duration, Instant};

use connect_runner::BackfillProgress;
use indicatif::{ProgressBar, ProgressStyle};

/// How often a plain progress line is written off a terminal.
const LINE_EVERY: Duration = Duration::from_secs(5);

/// The bar with a known total.
const BOUNDED: &str = "{prefix} [{bar:30}] {pos}/{len} messages  {msg}";
/// The bar when the total is unknown.
const UNBOUNDED: &str = "{prefix} {spinner} {pos} messages  {msg}";

/// Backfill progress, written to stderr so that stdout keeps the summary.
#[derive(Debug)]
pub(crate) struct Progress {
    /// `backfill` or another word naming the command.
    prefix: &'static str,
    /// The bar, on a terminal.
    bar: Option<ProgressBar>,
    /// When the last plain line was written, off a terminal.
    last_line: Option<Instant>,
}

impl Progress {
    /// A progress display for `prefix`; a bar when `terminal`.
    pub(crate) fn new(prefix: &'static str, terminal: bool) -> Self {
        let bar = terminal.then(|| {
            let bar = ProgressBar::no_length().with_prefix(prefix);
            bar.set_style(style(UNBOUNDED));
            bar
        });
        Self {
            prefix,
            bar,
            last_line: None,
        }
    }

    /// Shows `progress`.
    pub(crate) fn update(&mut self, progress: &BackfillProgress) {
        let done = progress.done();
        let rate = done as f64 / progress.elapsed.as_secs_f64().max(0.001);
        let counts = counts(progress);
        if let Some(bar) = &self.bar {
            if let Some(total) = progress.total.filter(|t| *t > 0)
                && bar.length() != Some(total)
            {
                bar.set_length(total);
                bar.set_style(style(BOUNDED));
            }
            bar.set_position(done);
            bar.set_message(format!("{} read  {counts}  {rate:.0}/s", progress.scanned));
        } else if self.last_line.is_none_or(|t| t.elapsed() >= LINE_EVERY) {
            self.last_line = Some(Instant::now());
            let total = progress
                .total
                .map_or_else(|| "?".to_owned(), |t| t.to_string());
            #[allow(clippy::print_stderr)]
            {
                eprintln!(
                    "{}: {done}/{total} messages handled, {} read; {counts}; {rate:.0}/s",
                    self.prefix, progress.scanned
                );
            }
        }
    }

    /// Leaves the last state of the bar on screen.
    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish();
        }
    }
}

/// `created 3 updated 1 failed 0`: every outcome label so far, then the
/// dead-lettered messages.
fn counts(progress: &BackfillProgress) -> String {
    let m = &progress.metrics;
    let mut text = String::new();
    for (label, count) in &m.outcomes {
        text.push_str(&format!("{label} {count} "));
    }
    text.push_str(&format!("failed {}", m.dead_lettered));
    text
}

/// A bar style from `template`; the default style should the template be
/// rejected (it is a constant, so only a change of `indicatif` could).
fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_name_every_outcome_label_of_the_route() {
        let mut progress = BackfillProgress {
            scanned: 3,
            total: Some(10),
            metrics: Default::default(),
            elapsed: Duration::from_secs(1),
        };
        progress.metrics.outcomes.insert("done".to_owned(), 2);
        progress.metrics.dead_lettered = 1;
        assert_eq!(counts(&progress), "done 2 failed 1");
        progress.metrics.outcomes.clear();
        assert_eq!(counts(&progress), "failed 1");
    }

    #[test]
    fn the_bar_templates_are_accepted() {
        assert!(ProgressStyle::with_template(BOUNDED).is_ok());
        assert!(ProgressStyle::with_template(UNBOUNDED).is_ok());
    }
}
