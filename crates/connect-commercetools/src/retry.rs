//! Backoff between retries of transient failures.

use std::time::Duration;

use connect_core::config::BackoffConfig;
use connect_core::runtime::Backoff;

/// The longest backoff between two attempts, whatever the attempt number.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// The longest `Retry-After` the client waits for by itself; a longer one is
/// returned to the caller (see [`Error::retry_after`](crate::Error::retry_after))
/// so a runtime can reschedule the work instead of blocking a worker.
pub(crate) const MAX_IN_CLIENT_RETRY_AFTER: Duration = Duration::from_secs(10);

/// Exponential backoff with jitter (connect-core's [`Backoff`]), bounded by
/// `max_retries`.
#[derive(Debug, Clone)]
pub(crate) struct RetryPolicy {
    max_retries: u32,
    backoff: Backoff,
}

impl RetryPolicy {
    pub(crate) fn new(max_retries: u32, initial_backoff: Duration) -> Self {
        Self {
            max_retries,
            backoff: Backoff::new(BackoffConfig {
                initial: initial_backoff,
                max: MAX_BACKOFF,
                multiplier: 2.0,
                max_retry_after: MAX_IN_CLIENT_RETRY_AFTER,
            }),
        }
    }

    /// The delay before retry number `retry` (0-based), or `None` when the
    /// failure should not be retried here: no retries left, or a
    /// `Retry-After` longer than the client waits for.
    pub(crate) fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Option<Duration> {
        if retry >= self.max_retries || retry_after.is_some_and(|h| h > MAX_IN_CLIENT_RETRY_AFTER) {
            return None;
        }
        Some(self.backoff.delay(retry + 1, retry_after))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_is_bounded_and_honours_retry_after() {
        let policy = RetryPolicy::new(3, Duration::from_millis(100));
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
        let big = RetryPolicy::new(40, Duration::from_secs(1));
        assert!(big.delay(30, None).unwrap_or_default() <= MAX_BACKOFF);
    }
}
