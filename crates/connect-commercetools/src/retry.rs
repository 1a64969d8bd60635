//! Backoff between retries of transient failures.

use std::time::Duration;

/// The longest backoff between two attempts, whatever the attempt number.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// The longest `Retry-After` the client waits for by itself; a longer one is
/// returned to the caller (see [`Error::retry_after`](crate::Error::retry_after))
/// so a runtime can reschedule the work instead of blocking a worker.
pub(crate) const MAX_IN_CLIENT_RETRY_AFTER: Duration = Duration::from_secs(10);

/// Exponential backoff with jitter, bounded by `max_retries`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RetryPolicy {
    pub(crate) max_retries: u32,
    pub(crate) initial_backoff: Duration,
}

impl RetryPolicy {
    /// The delay before retry number `retry` (0-based), or `None` when the
    /// failure should not be retried here: no retries left, or a
    /// `Retry-After` longer than the client waits for.
    pub(crate) fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Option<Duration> {
        if retry >= self.max_retries {
            return None;
        }
        if let Some(hint) = retry_after {
            return (hint <= MAX_IN_CLIENT_RETRY_AFTER).then_some(hint);
        }
        let base = self
            .initial_backoff
            .saturating_mul(2u32.saturating_pow(retry.min(16)))
            .min(MAX_BACKOFF);
        // "Equal jitter": half fixed, half random, so retries of concurrent
        // callers spread out but never collapse to zero.
        let half = base / 2;
        let jitter = half.mul_f64(fastrand::f64());
        Some(half + jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_is_bounded_and_honours_retry_after() {
        let policy = RetryPolicy {
            max_retries: 3,
            initial_backoff: Duration::from_millis(100),
        };
        let first = policy.delay(0, None).unwrap_or_default();
        assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
        let third = policy.delay(2, None).unwrap_or_default();
        assert!(third >= Duration::from_millis(200) && third <= Duration::from_millis(400));
        assert_eq!(policy.delay(3, None), None);
        assert_eq!(
            policy.delay(0, Some(Duration::from_secs(2))),
            Some(Duration::from_secs(2))
        );
        assert_eq!(policy.delay(0, Some(Duration::from_secs(60))), None);
        let big = RetryPolicy {
            max_retries: 40,
            initial_backoff: Duration::from_secs(1),
        };
        assert!(big.delay(30, None).unwrap_or_default() <= MAX_BACKOFF);
    }
}
