//! The replay's progress on standard error: a bar redrawn in place on a terminal, a
//! line every tenth of the way otherwise (CI logs, files), nothing with `--quiet`.

use pipectl_core::detect::sigma::time::format_rfc3339;
use std::io::Write;
use std::time::{Duration, Instant};

pub struct Progress {
    total: u64,
    done: u64,
    started: Instant,
    style: Style,
    last_draw: Option<Instant>,
    last_tenth: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Bar,
    Lines,
    Quiet,
}

const REDRAW: Duration = Duration::from_millis(100);
const WIDTH: u64 = 30;

impl Progress {
    pub fn new(total: u64, style: Style) -> Progress {
        Progress {
            total,
            done: 0,
            started: Instant::now(),
            style,
            last_draw: None,
            last_tenth: 0,
        }
    }

    /// Records `n` more events replayed, the last at event time `at` (ms).
    pub fn advance(&mut self, n: u64, at: i64) {
        self.done += n;
        match self.style {
            Style::Quiet => {}
            Style::Bar => {
                let due = self.last_draw.is_none_or(|t| t.elapsed() >= REDRAW);
                if due || self.done == self.total {
                    self.last_draw = Some(Instant::now());
                    eprint!("\r{}", self.line(at));
                    let _ = std::io::stderr().flush();
                }
            }
            Style::Lines => {
                let tenth = self.done * 10 / self.total.max(1);
                if tenth > self.last_tenth {
                    self.last_tenth = tenth;
                    eprintln!("{}", self.line(at));
                }
            }
        }
    }

    /// Ends the bar's line.
    pub fn finish(&self) {
        if self.style == Style::Bar && self.last_draw.is_some() {
            eprintln!();
        }
    }

    fn line(&self, at: i64) -> String {
        let filled = self.done * WIDTH / self.total.max(1);
        let rate = self.done as f64 / self.started.elapsed().as_secs_f64().max(1e-3);
        format!(
            "[{}{}] {:>3}% {}/{} events  event time {}  {:.0} ev/s",
            "#".repeat(filled as usize),
            ".".repeat((WIDTH - filled) as usize),
            self.done * 100 / self.total.max(1),
            self.done,
            self.total,
            format_rfc3339(at),
            rate
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_shows_the_share_done_and_the_event_time() {
        let mut progress = Progress::new(200, Style::Quiet);
        progress.advance(50, 0);
        let line = progress.line(0);
        assert!(
            line.starts_with("[#######......................."),
            "{line}"
        );
        assert!(line.contains(" 25% 50/200 events"), "{line}");
        assert!(line.contains("event time 1970-01-01T00:00:00"), "{line}");
    }
}
