//! When to try a request again, and how long to wait first.
//!
//! Connection failures, timeouts, `5xx` and bad pages are retried with exponential
//! backoff and jitter (so many sources that failed together do not retry together);
//! `429` and `503` wait what `Retry-After` says (seconds or an HTTP date). Vendor
//! rate-limit headers (`X-Rate-Limit-Remaining` / `X-Rate-Limit-Reset`, Okta's) pause
//! requests *before* the limit is hit. Every wait is capped so a hostile or confused
//! header cannot stall a source for days.

use reqwest::header::{HeaderMap, DATE, RETRY_AFTER};
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How often, and how patiently, a request is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries per request, the first included; then the request fails.
    pub max_attempts: u32,
    /// The first backoff; each later one doubles, up to `max_backoff`.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// The longest wait a `Retry-After` or rate-limit reset may impose.
    pub max_wait: Duration,
}

impl RetryPolicy {
    /// Production defaults; `max_attempts` comes from the component's attributes.
    pub fn new(max_attempts: u32) -> RetryPolicy {
        RetryPolicy {
            max_attempts,
            base_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(60),
            max_wait: Duration::from_secs(300),
        }
    }

    /// The wait before try `attempt + 1`, after `attempt` (1-based) failed: half the
    /// exponential step fixed, half random.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let step = self
            .base_backoff
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
            .min(self.max_backoff);
        let half = step / 2;
        half + half.mul_f64(unit_random())
    }

    /// Caps a server-imposed wait.
    pub fn cap(&self, wait: Duration) -> Duration {
        wait.min(self.max_wait)
    }
}

/// A number in `[0, 1)` from the standard library's randomly keyed hasher: plenty for
/// jitter, and no extra dependency.
fn unit_random() -> f64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// The server's clock: its `Date` header when it sent one, so waits until a reset
/// time are not skewed by our clock.
fn server_now(headers: &HeaderMap) -> SystemTime {
    headers
        .get(DATE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok())
        .unwrap_or_else(SystemTime::now)
}

/// The wait a `Retry-After` header asks for: delay-seconds or an HTTP date.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(text).ok()?;
    Some(
        at.duration_since(server_now(headers))
            .unwrap_or(Duration::ZERO),
    )
}

/// How long to pause before the next request because the vendor says no request is
/// left in the current window (`X-Rate-Limit-Remaining: 0`); the window ends at
/// `X-Rate-Limit-Reset` (Unix seconds, on the server's clock).
pub fn rate_limit_pause(headers: &HeaderMap) -> Option<Duration> {
    let number = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    if number("x-rate-limit-remaining")? > 0 {
        return None;
    }
    let reset = UNIX_EPOCH + Duration::from_secs(number("x-rate-limit-reset")?);
    // A reset already past still earns a second: the window may not have rolled yet.
    Some(
        reset
            .duration_since(server_now(headers))
            .unwrap_or(Duration::ZERO)
            .max(Duration::from_secs(1)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, String)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn backoff_grows_is_jittered_and_capped() {
        let policy = RetryPolicy {
            max_attempts: 5,
            base_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(500),
            max_wait: Duration::from_secs(1),
        };
        let first = policy.backoff(1);
        assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
        let third = policy.backoff(3);
        assert!(third >= Duration::from_millis(200) && third <= Duration::from_millis(400));
        assert!(policy.backoff(30) <= Duration::from_millis(500));
        assert_eq!(policy.cap(Duration::from_secs(9)), Duration::from_secs(1));
    }

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        assert_eq!(
            retry_after(&headers(&[("retry-after", "7".into())])),
            Some(Duration::from_secs(7))
        );
        let date = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(1_000_000));
        let later = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(1_000_030));
        assert_eq!(
            retry_after(&headers(&[("date", date), ("retry-after", later)])),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            retry_after(&headers(&[("retry-after", "soon".into())])),
            None
        );
    }

    #[test]
    fn okta_rate_limit_headers_pause_only_when_nothing_is_left() {
        let date = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(1_000_000));
        let left = headers(&[
            ("x-rate-limit-remaining", "3".into()),
            ("x-rate-limit-reset", "1000060".into()),
        ]);
        assert_eq!(rate_limit_pause(&left), None);
        let none_left = headers(&[
            ("date", date),
            ("x-rate-limit-remaining", "0".into()),
            ("x-rate-limit-reset", "1000060".into()),
        ]);
        assert_eq!(rate_limit_pause(&none_left), Some(Duration::from_secs(60)));
    }
}
