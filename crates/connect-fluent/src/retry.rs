//! The bounded retry policy of one Fluent call.

use std::time::Duration;

use connect_core::Retryability;
use connect_core::config::BackoffConfig;
use connect_core::runtime::Backoff;

use crate::Error;

/// The longest single backoff between two attempts of one call.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// A `Retry-After` longer than this is not waited for inside the call: the
/// error is returned (carrying the delay) so the runtime reschedules the
/// message instead of holding a worker.
pub(crate) const MAX_INLINE_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Decides whether and when to try a failed call again.
#[derive(Debug, Clone)]
pub(crate) struct RetryPolicy {
    max_retries: u32,
    backoff: Backoff,
}

impl RetryPolicy {
    pub(crate) fn new(max_retries: u32, initial: Duration) -> Self {
        Self {
            max_retries,
            backoff: Backoff::new(BackoffConfig {
                initial,
                max: MAX_BACKOFF,
                multiplier: 2.0,
                max_retry_after: MAX_INLINE_RETRY_AFTER,
            }),
        }
    }

    /// The delay before retrying after failed attempt `attempt` (from 1), or
    /// `None` when the error must be returned.
    pub(crate) fn next_delay(&self, attempt: u32, error: &Error) -> Option<Duration> {
        if attempt > self.max_retries || !is_retried_inline(error) {
            return None;
        }
        let hint = error.retry_after();
        if hint.is_some_and(|h| h > MAX_INLINE_RETRY_AFTER) {
            return None;
        }
        Some(self.backoff.delay(attempt, hint))
    }
}

/// Transport-level failures are retried inside the call. GraphQL `S....E` /
/// `T....E` errors are retryable for the runtime but not retried here: Fluent
/// answered, and the message-level retry re-reads the current state first.
fn is_retried_inline(error: &Error) -> bool {
    match error {
        Error::GraphQl { .. } => false,
        other => other.is_retryable(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_are_bounded_and_honour_retry_after() {
        let policy = RetryPolicy::new(2, Duration::from_millis(100));
        let busy = Error::Status {
            status: 503,
            body: String::new(),
            retry_after: None,
        };
        let first = policy.next_delay(1, &busy);
        assert!(
            first
                .is_some_and(|d| d >= Duration::from_millis(50) && d <= Duration::from_millis(100))
        );
        assert!(policy.next_delay(2, &busy).is_some());
        assert_eq!(policy.next_delay(3, &busy), None);

        let limited = Error::RateLimited {
            retry_after: Some(Duration::from_secs(2)),
        };
        assert!(
            policy
                .next_delay(1, &limited)
                .is_some_and(|d| d >= Duration::from_secs(2))
        );
        let too_long = Error::RateLimited {
            retry_after: Some(Duration::from_secs(600)),
        };
        assert_eq!(policy.next_delay(1, &too_long), None);
    }

    #[test]
    fn unprocessable_and_graphql_errors_are_not_retried_inline() {
        let policy = RetryPolicy::new(3, Duration::from_millis(1));
        assert_eq!(
            policy.next_delay(1, &Error::PayloadTooLarge { bytes: 1 }),
            None
        );
        let server = Error::graphql(vec![crate::GraphQlError::new("S0001E: down")]);
        assert!(server.is_retryable());
        assert_eq!(policy.next_delay(1, &server), None);
    }
}
