//! Exponential backoff with jitter, and which answers are worth retrying.
//!
//! The delay doubles from `initial` up to `max`; each wait is drawn uniformly from the
//! upper half of the current delay ("equal jitter"), so concurrent requests that failed
//! together do not retry in lockstep, yet every wait is at least half the nominal one.
//! A `Retry-After` from the server is honoured when it is longer (capped at `max`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Whether an HTTP status (of a whole request or of one bulk item) is transient:
/// 429 (rejected under load, or a disk watermark) and 5xx.
pub fn is_retryable(status: u16) -> bool {
    status == 429 || status >= 500
}

/// The backoff of one request across its attempts.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    failures: u32,
    rng: u64,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Backoff {
        static STREAMS: AtomicU64 = AtomicU64::new(0);
        let stream = STREAMS
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let seed = pipectl_core::event::now_ns() as u64 ^ stream;
        Backoff {
            initial,
            max: max.max(initial),
            failures: 0,
            rng: seed | 1,
        }
    }

    /// Failures so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Records a failure and returns how long to wait before the next attempt.
    pub fn next_delay(&mut self, retry_after: Option<Duration>) -> Duration {
        let exp = self.failures.min(30);
        self.failures = self.failures.saturating_add(1);
        let nominal = self
            .initial
            .checked_mul(1u32 << exp.min(20))
            .unwrap_or(self.max)
            .min(self.max);
        let half = nominal / 2;
        let spread = nominal.saturating_sub(half).as_nanos() as u64;
        let jitter = if spread == 0 {
            0
        } else {
            self.random() % spread
        };
        let delay = half + Duration::from_nanos(jitter);
        match retry_after {
            Some(hint) if hint > delay => hint.min(self.max),
            _ => delay,
        }
    }

    /// xorshift64*: enough to spread retries, no dependency needed.
    fn random(&mut self) -> u64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_within_jitter_up_to_the_cap() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let bounds = [
            (50, 100),
            (100, 200),
            (200, 400),
            (400, 800),
            (500, 1000),
            (500, 1000),
        ];
        for (lo, hi) in bounds {
            let d = b.next_delay(None).as_millis() as u64;
            assert!((lo..=hi).contains(&d), "{d} not in {lo}..={hi}");
        }
        assert_eq!(b.failures(), 6);
    }

    #[test]
    fn retry_after_is_honoured_up_to_the_cap() {
        let mut b = Backoff::new(Duration::from_millis(10), Duration::from_secs(5));
        assert_eq!(
            b.next_delay(Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        assert_eq!(
            b.next_delay(Some(Duration::from_secs(60))),
            Duration::from_secs(5)
        );
    }

    #[test]
    fn many_failures_do_not_overflow() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
        for _ in 0..100 {
            assert!(b.next_delay(None) <= Duration::from_secs(30));
        }
    }

    #[test]
    fn only_load_and_server_errors_are_retried() {
        assert!(is_retryable(429));
        assert!(is_retryable(503));
        assert!(!is_retryable(400));
        assert!(!is_retryable(409));
        assert!(!is_retryable(200));
    }
}
