//! Retry policy and the injectable sleeper that every wait goes through.
//!
//! The crate never calls a timer directly: throttling back-off, device-code polling and
//! replication waits all go through a [`Sleeper`]. Production code uses [`TokioSleeper`]; tests
//! use [`RecordingSleeper`], which returns at once and remembers what it was asked to wait, so a
//! test of a two-minute back-off runs in microseconds and can still check the durations.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A boxed future returned by a [`Sleeper`].
pub type SleepFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Waits for a duration.
pub trait Sleeper: Send + Sync + fmt::Debug {
    /// Returns a future that completes after `duration`.
    fn sleep(&self, duration: Duration) -> SleepFuture;
}

/// Sleeps on the tokio timer.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioSleeper;

impl Sleeper for TokioSleeper {
    fn sleep(&self, duration: Duration) -> SleepFuture {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// Returns at once and records every requested duration. For tests.
///
/// ```
/// use entra_appreg::retry::{RecordingSleeper, Sleeper};
/// # futures::executor::block_on(async {
/// let sleeper = RecordingSleeper::default();
/// sleeper.sleep(std::time::Duration::from_secs(120)).await;
/// assert_eq!(sleeper.total(), std::time::Duration::from_secs(120));
/// # });
/// ```
#[derive(Debug, Clone, Default)]
pub struct RecordingSleeper {
    slept: Arc<Mutex<Vec<Duration>>>,
}

impl RecordingSleeper {
    /// Every duration requested so far, in order.
    pub fn durations(&self) -> Vec<Duration> {
        self.slept.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// The sum of all requested durations.
    pub fn total(&self) -> Duration {
        self.durations().iter().sum()
    }
}

impl Sleeper for RecordingSleeper {
    fn sleep(&self, duration: Duration) -> SleepFuture {
        if let Ok(mut v) = self.slept.lock() {
            v.push(duration);
        }
        Box::pin(async {})
    }
}

/// How the Graph client retries throttling and transient failures.
///
/// Retried: 429 (after `Retry-After`, or back-off without it), 503 and 504 (back-off, or
/// `Retry-After` when given), and connection failures that happened before the request was sent.
/// Nothing else is retried at this layer: a 403 or a 400 is an answer, not a hiccup. A
/// [non-idempotent](crate::graph::GraphRequest::non_idempotent) request (`addPassword`) is not
/// retried after a 503 or 504 either: Graph may have carried it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 disables retries).
    pub max_attempts: u32,
    /// The first back-off delay.
    pub base_delay: Duration,
    /// The longest back-off delay.
    pub max_delay: Duration,
    /// The longest `Retry-After` honoured; a longer one is cut to this.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The back-off before retry number `retry` (1-based): capped exponential, with jitter in
    /// the upper half of the interval so waits never collapse to zero.
    pub fn backoff(&self, retry: u32) -> Duration {
        capped_backoff(self.base_delay, self.max_delay, retry)
    }

    /// The wait for a reply's `Retry-After`, bounded by [`RetryPolicy::max_retry_after`].
    pub fn retry_after(&self, retry_after: Duration) -> Duration {
        retry_after.min(self.max_retry_after)
    }
}

/// `min(max, base * 2^(n-1))`, scaled by a random factor in `[0.5, 1.0)`.
pub(crate) fn capped_backoff(base: Duration, max: Duration, n: u32) -> Duration {
    let exp = base.saturating_mul(1u32 << n.saturating_sub(1).min(20));
    let capped = exp.min(max);
    let factor = 0.5 + 0.5 * unit_random();
    capped.mul_f64(factor)
}

/// A random number in `[0, 1)`, good enough for jitter.
fn unit_random() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0),
    );
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// Parses `Retry-After` as delta-seconds (what Graph sends). HTTP dates are not used by Graph.
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    v.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0 && *s < 86_400.0)
        .map(Duration::from_secs_f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jittered_in_the_upper_half() {
        let p = RetryPolicy::default();
        for n in 1..30 {
            let d = p.backoff(n);
            let ceiling = p
                .base_delay
                .saturating_mul(1 << (n - 1).min(20))
                .min(p.max_delay);
            assert!(d <= ceiling, "{n}: {d:?} > {ceiling:?}");
            assert!(d >= ceiling / 2, "{n}: {d:?} < half of {ceiling:?}");
        }
        assert!(p.backoff(25) <= p.max_delay);
    }

    #[test]
    fn retry_after_parses_seconds_and_rejects_junk() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after(" 1.5 "),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("NaN"), None);
        let p = RetryPolicy::default();
        assert_eq!(
            p.retry_after(Duration::from_secs(100_000)),
            p.max_retry_after
        );
    }
}
