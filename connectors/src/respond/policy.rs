//! A responder's policy: its mode and its guard rails (protected entities, an hourly
//! limit), and the clock that decides when an action expires.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// How far a responder may go on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Write down what would be done; never call the provider.
    Observe,
    /// Queue the action for a person (`pipectl actions approve|deny`).
    Confirm,
    /// Act at once.
    Autonomous,
}

impl Mode {
    pub fn parse(text: &str) -> Option<Mode> {
        match text {
            "observe" => Some(Mode::Observe),
            "confirm" => Some(Mode::Confirm),
            "autonomous" => Some(Mode::Autonomous),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Observe => "observe",
            Mode::Confirm => "confirm",
            Mode::Autonomous => "autonomous",
        }
    }
}

/// A pattern of ids never touched: `*` matches any run of characters (including
/// none, and `/` or `:`), `?` one character; everything else literally, case-sensitive
/// (AWS names are).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob(String);

impl Glob {
    pub fn new(pattern: impl Into<String>) -> Glob {
        Glob(pattern.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn matches(&self, text: &str) -> bool {
        let p: Vec<char> = self.0.chars().collect();
        let t: Vec<char> = text.chars().collect();
        // Iterative matching with one backtrack point: linear in practice, never
        // exponential whatever the pattern.
        let (mut pi, mut ti) = (0usize, 0usize);
        let mut star: Option<(usize, usize)> = None;
        while ti < t.len() {
            match p.get(pi) {
                Some('*') => {
                    star = Some((pi, ti));
                    pi += 1;
                }
                Some(&c) if c == '?' || Some(&c) == t.get(ti) => {
                    pi += 1;
                    ti += 1;
                }
                _ => match star {
                    Some((sp, st)) => {
                        pi = sp + 1;
                        ti = st + 1;
                        star = Some((sp, st + 1));
                    }
                    None => return false,
                },
            }
        }
        p.get(pi..)
            .is_some_and(|rest| rest.iter().all(|c| *c == '*'))
    }
}

/// Where "now" comes from: the wall clock (live), the newest incident's event time
/// (replays: expiry follows the data), or a clock a test moves by hand.
#[derive(Debug, Clone)]
pub enum Clock {
    Wall,
    Event(Arc<AtomicI64>),
    Manual(Arc<AtomicI64>),
}

impl Clock {
    /// A clock following event time, starting at the epoch until an incident arrives.
    pub fn event() -> Clock {
        Clock::Event(Arc::new(AtomicI64::new(0)))
    }

    /// A clock set by hand (tests), at `ms` since the epoch; move it with the returned
    /// handle.
    pub fn manual(ms: i64) -> (Clock, Arc<AtomicI64>) {
        let handle = Arc::new(AtomicI64::new(ms));
        (Clock::Manual(Arc::clone(&handle)), handle)
    }

    /// Now, in milliseconds since the epoch.
    pub fn now_ms(&self) -> i64 {
        match self {
            Clock::Wall => pipectl_core::event::now_ns() / 1_000_000,
            Clock::Event(at) | Clock::Manual(at) => at.load(Ordering::SeqCst),
        }
    }

    /// An incident's event time was seen: an event clock moves forward to it.
    pub fn observe_event_time(&self, ms: i64) {
        if let Clock::Event(at) = self {
            at.fetch_max(ms, Ordering::SeqCst);
        }
    }
}

/// One hour, the window of `max_per_hour`.
pub const HOUR_MS: i64 = 3_600_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        let g = Glob::new("arn:aws:iam::*:user/break-glass*");
        assert!(g.matches("arn:aws:iam::123456789012:user/break-glass"));
        assert!(g.matches("arn:aws:iam::123456789012:user/break-glass-2"));
        assert!(!g.matches("arn:aws:iam::123456789012:user/alice"));
        assert!(Glob::new("prod-?").matches("prod-1"));
        assert!(!Glob::new("prod-?").matches("prod-12"));
        assert!(Glob::new("*").matches(""));
        assert!(Glob::new("a*b*c").matches("axxbyyc"));
        assert!(!Glob::new("a*b*c").matches("axxbyy"));
        assert!(Glob::new("exact").matches("exact"));
        assert!(!Glob::new("exact").matches("Exact"));
        // No blow-up on a hostile pattern.
        let long = "a".repeat(5000);
        assert!(!Glob::new("*a*a*a*a*a*a*a*a*b").matches(&long));
    }

    #[test]
    fn clocks() {
        let (clock, handle) = Clock::manual(5);
        assert_eq!(clock.now_ms(), 5);
        handle.store(9, Ordering::SeqCst);
        assert_eq!(clock.now_ms(), 9);
        let event = Clock::event();
        event.observe_event_time(100);
        event.observe_event_time(50);
        assert_eq!(event.now_ms(), 100);
        assert!(Clock::Wall.now_ms() > 1_700_000_000_000);
    }
}
