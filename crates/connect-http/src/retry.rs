//! The one retry loop: bounded retries with backoff, `Retry-After` as a
//! floor, and one re-authentication after a refused token.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// How the retry loop sees a failure. Each client's error type says it;
/// the loop decides what to do.
pub trait Failure: fmt::Display {
    /// `true` when the server refused the bearer token (HTTP 401 from the
    /// API, not from the token endpoint): the loop asks for a new token and
    /// tries once more, without spending a retry.
    fn is_unauthorized(&self) -> bool;

    /// `true` when trying the same request again may succeed. `idempotent`
    /// is `false` for writes, which a client retries only when the server
    /// surely did not apply them.
    fn is_transient(&self, idempotent: bool) -> bool;

    /// The delay the server asked for (`Retry-After`), if any.
    fn retry_hint(&self) -> Option<Duration>;
}

/// A call that failed for good: the last error and how many requests were
/// sent.
#[derive(Debug)]
pub struct Failed<E> {
    /// The last error.
    pub error: E,
    /// Attempts made, re-authentication included (at least 1).
    pub attempts: u32,
    /// `true` when a new token was obtained after a 401 during this call
    /// (a 401 as the last error then means the fresh token was refused).
    pub reauthenticated: bool,
}

/// The delay before retry number `n` (from 1), without a `Retry-After`.
type BackoffFn = dyn Fn(u32) -> Duration + Send + Sync;

/// Whether, when and how often a client tries a call again.
///
/// A failure is retried when [`Failure::is_transient`] says so, at most
/// `max_retries` times, after the backoff's delay or the server's
/// `Retry-After`, whichever is longer. A `Retry-After` longer than
/// `max_wait` is not waited for: the error is returned (it carries the
/// hint) so a runtime can reschedule the work instead of holding a worker.
///
/// ```
/// use std::time::Duration;
/// use connect_http::RetryPolicy;
///
/// let policy = RetryPolicy::new("example", 2, Duration::from_secs(10), |retry| {
///     Duration::from_millis(100) * retry
/// });
/// assert_eq!(policy.delay(1, None), Some(Duration::from_millis(100)));
/// assert_eq!(policy.delay(1, Some(Duration::from_secs(2))), Some(Duration::from_secs(2)));
/// assert_eq!(policy.delay(1, Some(Duration::from_secs(60))), None);
/// assert_eq!(policy.delay(3, None), None);
/// ```
#[derive(Clone)]
pub struct RetryPolicy {
    service: &'static str,
    max_retries: u32,
    max_wait: Duration,
    backoff: Arc<BackoffFn>,
}

impl fmt::Debug for RetryPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryPolicy")
            .field("service", &self.service)
            .field("max_retries", &self.max_retries)
            .field("max_wait", &self.max_wait)
            .finish_non_exhaustive()
    }
}

impl RetryPolicy {
    /// A policy for calls to `service` (named in logs, e.g. `Fluent`):
    /// `max_retries` retries after the first attempt, `backoff(n)` before
    /// retry `n` (from 1), `Retry-After` hints up to `max_wait` honoured.
    pub fn new(
        service: &'static str,
        max_retries: u32,
        max_wait: Duration,
        backoff: impl Fn(u32) -> Duration + Send + Sync + 'static,
    ) -> Self {
        Self {
            service,
            max_retries,
            max_wait,
            backoff: Arc::new(backoff),
        }
    }

    /// The delay before retry number `retry` (from 1), or `None` when no
    /// retry is left or the server asked for a longer wait than `max_wait`.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Option<Duration> {
        if retry == 0 || retry > self.max_retries {
            return None;
        }
        match retry_after {
            Some(hint) if hint > self.max_wait => None,
            Some(hint) => Some((self.backoff)(retry).max(hint)),
            None => Some((self.backoff)(retry)),
        }
    }

    /// Runs `attempt` until it succeeds, fails for good, or the retries run
    /// out. A failure that [`is_unauthorized`](Failure::is_unauthorized)
    /// is tried once more at once (the attempt is expected to get a new
    /// token, see [`TokenCache::with_token`](crate::TokenCache::with_token));
    /// a second one is returned.
    pub async fn run<T, E, F, Fut>(
        &self,
        operation: &str,
        idempotent: bool,
        mut attempt: F,
    ) -> Result<T, Failed<E>>
    where
        E: Failure,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut attempts = 0u32;
        let mut retries = 0u32;
        let mut reauthenticated = false;
        loop {
            attempts += 1;
            let error = match attempt().await {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            let delay = if error.is_unauthorized() {
                if reauthenticated {
                    None
                } else {
                    reauthenticated = true;
                    tracing::debug!(
                        service = self.service,
                        operation,
                        "token refused (401); re-authenticating once"
                    );
                    Some(Duration::ZERO)
                }
            } else if error.is_transient(idempotent) {
                retries += 1;
                self.delay(retries, error.retry_hint())
            } else {
                None
            };
            let Some(delay) = delay else {
                return Err(Failed {
                    error,
                    attempts,
                    reauthenticated,
                });
            };
            if !delay.is_zero() {
                tracing::warn!(
                    service = self.service,
                    operation,
                    attempt = attempts,
                    delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                    %error,
                    "{} call failed; retrying",
                    self.service
                );
                tokio::time::sleep(delay).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Fake {
        Unauthorized,
        Busy(Option<Duration>),
        Write,
        Bad,
    }

    impl fmt::Display for Fake {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{self:?}")
        }
    }

    impl Failure for Fake {
        fn is_unauthorized(&self) -> bool {
            *self == Fake::Unauthorized
        }
        fn is_transient(&self, idempotent: bool) -> bool {
            match self {
                Fake::Busy(_) => true,
                Fake::Write => idempotent,
                Fake::Unauthorized | Fake::Bad => false,
            }
        }
        fn retry_hint(&self) -> Option<Duration> {
            match self {
                Fake::Busy(hint) => *hint,
                _ => None,
            }
        }
    }

    fn policy(max_retries: u32) -> RetryPolicy {
        RetryPolicy::new("test", max_retries, Duration::from_secs(10), |n| {
            Duration::from_millis(10) * n
        })
    }

    /// Runs a call whose attempts fail with `script`, then succeed.
    async fn run(
        policy: &RetryPolicy,
        idempotent: bool,
        script: &[Fake],
    ) -> Result<u32, Failed<Fake>> {
        let calls = AtomicU32::new(0);
        policy
            .run("op", idempotent, || async {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                match script.get(n as usize) {
                    Some(error) => Err(*error),
                    None => Ok(n + 1),
                }
            })
            .await
    }

    #[test]
    fn delays_count_retries_from_one_and_honour_retry_after() {
        let policy = policy(3);
        assert_eq!(policy.delay(0, None), None);
        assert_eq!(policy.delay(1, None), Some(Duration::from_millis(10)));
        assert_eq!(policy.delay(3, None), Some(Duration::from_millis(30)));
        assert_eq!(policy.delay(4, None), None);
        assert_eq!(
            policy.delay(2, Some(Duration::from_millis(5))),
            Some(Duration::from_millis(20)),
            "the longer of backoff and hint"
        );
        assert_eq!(policy.delay(1, Some(Duration::from_secs(11))), None);
    }

    #[tokio::test(start_paused = true)]
    async fn transient_failures_are_retried_within_the_budget() {
        assert_eq!(
            run(&policy(2), true, &[Fake::Busy(None); 2]).await.ok(),
            Some(3)
        );
        let failed = run(&policy(2), true, &[Fake::Busy(None); 5]).await.err();
        assert_eq!(
            failed.map(|f| (f.error, f.attempts)),
            Some((Fake::Busy(None), 3))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_is_waited_for() {
        let started = tokio::time::Instant::now();
        let hint = Some(Duration::from_secs(2));
        assert_eq!(
            run(&policy(1), true, &[Fake::Busy(hint)]).await.ok(),
            Some(2)
        );
        assert!(started.elapsed() >= Duration::from_secs(2));
        let too_long = Some(Duration::from_secs(60));
        let failed = run(&policy(1), true, &[Fake::Busy(too_long)]).await.err();
        assert_eq!(failed.map(|f| f.attempts), Some(1));
    }

    #[tokio::test(start_paused = true)]
    async fn writes_and_final_errors_are_not_retried() {
        let failed = run(&policy(3), false, &[Fake::Write]).await.err();
        assert_eq!(failed.map(|f| f.attempts), Some(1));
        assert_eq!(run(&policy(3), true, &[Fake::Write]).await.ok(), Some(2));
        let failed = run(&policy(3), true, &[Fake::Bad]).await.err();
        assert_eq!(failed.map(|f| f.attempts), Some(1));
    }

    #[tokio::test(start_paused = true)]
    async fn one_reauthentication_then_the_401_is_returned() {
        // A 401 does not spend a retry.
        let done = run(&policy(0), true, &[Fake::Unauthorized]).await.ok();
        assert_eq!(done, Some(2));
        let failed = run(&policy(3), true, &[Fake::Unauthorized; 5]).await.err();
        assert_eq!(
            failed.map(|f| (f.error, f.attempts, f.reauthenticated)),
            Some((Fake::Unauthorized, 2, true))
        );
    }
}
