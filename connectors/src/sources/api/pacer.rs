//! A client-side limit of N requests per window, for APIs that throttle hard and early
//! (Microsoft Graph's audit logs allow about 5 requests per 10 s per app and tenant):
//! staying under the limit is cheaper than being told off with `429`s.

use std::collections::VecDeque;
use std::time::Duration;
use tokio::time::Instant;

/// Spaces requests so that at most `limit` start within any `window`.
#[derive(Debug)]
pub(crate) struct Pacer {
    limit: usize,
    window: Duration,
    /// Start times of the most recent requests, oldest first (at most `limit`).
    recent: VecDeque<Instant>,
}

impl Pacer {
    /// `limit` is at least 1.
    pub fn new(limit: usize, window: Duration) -> Pacer {
        Pacer {
            limit: limit.max(1),
            window,
            recent: VecDeque::with_capacity(limit.max(1)),
        }
    }

    /// Waits until one more request fits, then counts it.
    pub async fn ready(&mut self) {
        if self.recent.len() >= self.limit {
            if let Some(oldest) = self.recent.pop_front() {
                tokio::time::sleep_until(oldest + self.window).await;
            }
        }
        self.recent.push_back(Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn at_most_limit_requests_per_window() {
        let mut pacer = Pacer::new(2, Duration::from_secs(10));
        let start = Instant::now();
        pacer.ready().await;
        pacer.ready().await;
        assert_eq!(start.elapsed(), Duration::ZERO);
        pacer.ready().await;
        assert_eq!(start.elapsed(), Duration::from_secs(10));
        pacer.ready().await;
        assert_eq!(start.elapsed(), Duration::from_secs(10));
        pacer.ready().await;
        assert_eq!(start.elapsed(), Duration::from_secs(20));
    }
}
